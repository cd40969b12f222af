//! Files that cannot be read in place: a whole-file `.zstd` (decompressed
//! first) and a sqlite3 database that is not a local file (SQLite reads
//! through its own file handle, not ranged reads). Each is streamed to a
//! temporary file in the temporary directory (`TMPDIR`), removed when the
//! bag is closed; nothing is written beside the bag.

use std::io::{self, Read, Write};
use std::path::Path;

use tempfile::TempPath;

use crate::error::{Error, Result};
use crate::source::{FileSource, ReadAt};

/// Bytes read from the source at a time.
const BLOCK: usize = 8 << 20;

/// A temporary copy, read like a local file and removed when dropped.
#[derive(Debug)]
pub struct Spooled {
    src: FileSource,
    path: TempPath,
}

impl Spooled {
    /// Where the copy is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl ReadAt for Spooled {
    fn len(&self) -> u64 {
        self.src.len()
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.src.read_exact_at(offset, buf)
    }

    fn local_path(&self) -> Option<&Path> {
        Some(&self.path)
    }
}

/// Reads a [`ReadAt`] front to back, in large blocks (ranged GETs on S3).
struct Reader<'a> {
    src: &'a dyn ReadAt,
    pos: u64,
}

impl Read for Reader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.src.len().saturating_sub(self.pos);
        let n = (buf.len() as u64).min(left).min(BLOCK as u64) as usize;
        if n == 0 {
            return Ok(0);
        }
        self.src.read_exact_at(self.pos, &mut buf[..n])?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// Streams `from` into a new temporary file.
fn spool(name: &str, what: &str, mut from: impl Read) -> Result<Spooled> {
    let tmp = tempfile::Builder::new()
        .prefix("bagpipe-")
        .tempfile()
        .map_err(|e| temp_error(name, what, e))?;
    let (file, path) = tmp.into_parts();
    let mut out = io::BufWriter::with_capacity(BLOCK, file);
    let mut buf = vec![0u8; BLOCK];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(Error::NotABag(format!("{what} {name} failed: {e}")));
            }
        };
        out.write_all(&buf[..n])
            .map_err(|e| temp_error(name, what, e))?;
    }
    out.flush().map_err(|e| temp_error(name, what, e))?;
    drop(out);
    let src = FileSource::open(&path).map_err(|e| temp_error(name, what, e))?;
    Ok(Spooled { src, path })
}

/// An I/O error writing the temporary copy, saying which and why (a full
/// temporary directory above all).
fn temp_error(name: &str, what: &str, e: io::Error) -> Error {
    let dir = std::env::temp_dir();
    let reason = if e.kind() == io::ErrorKind::StorageFull {
        format!(
            "not enough free space in the temporary directory {} for it (set TMPDIR elsewhere)",
            dir.display()
        )
    } else {
        format!("writing to the temporary directory {}: {e}", dir.display())
    };
    Error::Io {
        offset: 0,
        len: 0,
        source: io::Error::new(e.kind(), format!("{what} {name}: {reason}")),
    }
}

/// Copies a source to a temporary file (a sqlite3 database on S3).
pub fn copy(src: &dyn ReadAt, name: &str) -> Result<Spooled> {
    spool(name, "copying", Reader { src, pos: 0 })
}

/// Decompresses a whole-file zstd source to a temporary file. A stream cut
/// short keeps what decompressed (the reader then treats it as a truncated
/// file); a stream that is not zstd at all is an error.
pub fn decompress(src: &dyn ReadAt, name: &str) -> Result<Spooled> {
    let decoder = zstd::stream::read::Decoder::new(Reader { src, pos: 0 })
        .map_err(|e| Error::NotABag(format!("decompressing {name}: {e}")))?;
    spool(
        name,
        "decompressing",
        Lenient {
            inner: decoder,
            read_any: false,
        },
    )
}

/// Ends a stream quietly at its first error once some bytes came: the
/// longest prefix of a damaged `.zstd` file is kept.
struct Lenient<R> {
    inner: R,
    read_any: bool,
}

impl<R: Read> Read for Lenient<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.read_any |= n > 0;
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(_) if self.read_any => Ok(0),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decompresses_and_copies_to_files_that_go_away() {
        let data: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let z = zstd::encode_all(&data[..], 3).unwrap();
        let spooled = decompress(&z, "x.db3.zstd").unwrap();
        assert_eq!(spooled.len(), data.len() as u64);
        let mut back = vec![0u8; data.len()];
        spooled.read_exact_at(0, &mut back).unwrap();
        assert_eq!(back, data);
        let path = spooled.path().to_path_buf();
        assert!(path.exists());
        drop(spooled);
        assert!(!path.exists());
        // A cut stream keeps its longest prefix.
        let cut = decompress(&z[..z.len() / 2].to_vec(), "cut.zstd").unwrap();
        assert!(cut.len() > 0 && cut.len() < data.len() as u64);
        assert!(decompress(&b"not zstd".to_vec(), "x.zstd").is_err());
        let copied = copy(&data, "x.db3").unwrap();
        assert_eq!(copied.len(), data.len() as u64);
    }
}
