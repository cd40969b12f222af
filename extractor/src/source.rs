//! Random-access byte sources that a bag is read from.
//!
//! The bag reader never streams a file front to back: it reads the bag
//! header, then the index at the end, then each chunk by its offset. Those
//! reads go through [`ReadAt`], so the same reader works on a local file
//! ([`FileSource`], positioned reads), on bytes in memory (tests, fuzzing),
//! and on an S3 object (ranged GETs, in the `bagpipe` crate).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};

/// Random-access byte source: a local file, bytes in memory, or an S3
/// object read by ranged GETs.
///
/// `Send + Sync` because chunks are read and decompressed from several
/// threads at once.
pub trait ReadAt: Send + Sync {
    /// The total length of the source in bytes.
    fn len(&self) -> u64;

    /// Whether the source holds no bytes at all.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Fills `buf` with the bytes starting at `offset`; fails with
    /// `UnexpectedEof` when the source ends before `buf` is full.
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()>;

    /// A hint that the reader will soon read each of these `(offset, len)`
    /// ranges whole. A remote source starts fetching them in the
    /// background (a bounded number of bytes at once) so that network
    /// latency overlaps decoding; a local file ignores it.
    fn prefetch(&self, _ranges: &[(u64, u64)]) {}

    /// The local file behind the source, when there is one (a database is
    /// opened in place rather than copied).
    fn local_path(&self) -> Option<&Path> {
        None
    }
}

/// A local file read with positioned reads (`pread`), so that several
/// threads can read different chunks without sharing a cursor.
#[derive(Debug)]
pub struct FileSource {
    file: File,
    len: u64,
    path: std::path::PathBuf,
}

impl FileSource {
    /// Opens `path` for reading and takes its length once: a bag is not
    /// expected to grow while it is read.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        Ok(Self {
            file,
            len,
            path: path.to_path_buf(),
        })
    }
}

impl ReadAt for FileSource {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        FileExt::read_exact_at(&self.file, buf, offset)
    }

    fn local_path(&self) -> Option<&Path> {
        Some(&self.path)
    }
}

impl ReadAt for [u8] {
    fn len(&self) -> u64 {
        // usize is at most 64 bits on every target we build for.
        <[u8]>::len(self) as u64
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let start = usize::try_from(offset).ok();
        let range = start.and_then(|s| Some(s..s.checked_add(buf.len())?));
        match range.and_then(|r| self.get(r)) {
            Some(src) => {
                buf.copy_from_slice(src);
                Ok(())
            }
            None => Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "read of {} bytes at offset {offset} past the end of {} bytes in memory",
                    buf.len(),
                    <[u8]>::len(self)
                ),
            )),
        }
    }
}

/// A borrowed slice, for bytes that already live elsewhere (a fuzzer's
/// input, a memory map) and should not be copied to be read.
impl ReadAt for &[u8] {
    fn len(&self) -> u64 {
        ReadAt::len(*self)
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        (*self).read_exact_at(offset, buf)
    }
}

impl ReadAt for Vec<u8> {
    fn len(&self) -> u64 {
        ReadAt::len(self.as_slice())
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        self.as_slice().read_exact_at(offset, buf)
    }
}

impl ReadAt for Arc<[u8]> {
    fn len(&self) -> u64 {
        ReadAt::len(&**self)
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        (**self).read_exact_at(offset, buf)
    }
}

/// Reads `len` bytes at `offset` into a new vector.
///
/// `len` normally comes from the file itself, so it is checked against
/// `cap` (else [`Error::TooLarge`]) and against the end of the source (else
/// [`Error::Record`]) *before* anything is allocated: a lying length costs
/// an error, never memory. `what` names the thing read, for the message.
pub fn read_vec(
    src: &dyn ReadAt,
    offset: u64,
    len: u64,
    what: &'static str,
    cap: u64,
) -> Result<Vec<u8>> {
    if len > cap {
        return Err(Error::TooLarge {
            what,
            offset,
            len,
            cap,
        });
    }
    let file_len = src.len();
    if offset.checked_add(len).is_none_or(|end| end > file_len) {
        return Err(Error::Record {
            offset,
            reason: format!("{what} of {len} bytes runs past end of file ({file_len} bytes)"),
        });
    }
    let size = usize::try_from(len).map_err(|_| Error::TooLarge {
        what,
        offset,
        len,
        cap: usize::MAX as u64,
    })?;
    // Fallible, so that a process short of memory fails this read (a chunk
    // is then skipped with a warning) instead of aborting.
    let mut buf = Vec::new();
    buf.try_reserve_exact(size).map_err(|_| Error::Record {
        offset,
        reason: format!("no memory for the {len} bytes of {what}"),
    })?;
    buf.resize(size, 0);
    src.read_exact_at(offset, &mut buf)
        .map_err(|source| Error::Io {
            offset,
            len,
            source,
        })?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_reads_in_range_and_refuses_past_end() {
        let data: Vec<u8> = (0u8..10).collect();
        let mut buf = [0u8; 3];
        data.read_exact_at(7, &mut buf).unwrap();
        assert_eq!(buf, [7, 8, 9]);
        assert!(data.read_exact_at(8, &mut buf).is_err());
        assert!(data.read_exact_at(u64::MAX, &mut buf).is_err());
        let arc: Arc<[u8]> = data.clone().into();
        assert_eq!(ReadAt::len(&arc), 10);
        arc.read_exact_at(0, &mut buf).unwrap();
        assert_eq!(buf, [0, 1, 2]);
    }

    #[test]
    fn read_vec_checks_cap_and_end_before_allocating() {
        let data = vec![1u8; 16];
        assert_eq!(read_vec(&data, 4, 12, "thing", 100).unwrap().len(), 12);
        let err = read_vec(&data, 4, 13, "thing", 100).unwrap_err();
        assert!(matches!(err, Error::Record { offset: 4, .. }), "{err}");
        assert!(
            err.to_string().contains("runs past end of file (16 bytes)"),
            "{err}"
        );
        // A huge length is refused by the cap, not by a failed allocation.
        let err = read_vec(&data, 0, u64::MAX, "thing", 100).unwrap_err();
        assert!(
            matches!(
                err,
                Error::TooLarge {
                    len: u64::MAX,
                    cap: 100,
                    ..
                }
            ),
            "{err}"
        );
        let err = read_vec(&data, u64::MAX, 2, "thing", 100).unwrap_err();
        assert!(matches!(err, Error::Record { .. }), "{err}");
    }

    #[test]
    fn file_source_reads_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.bin");
        std::fs::write(&path, b"hello world").unwrap();
        let src = FileSource::open(&path).unwrap();
        assert_eq!(src.len(), 11);
        assert_eq!(read_vec(&src, 6, 5, "word", 64).unwrap(), b"world");
    }
}
