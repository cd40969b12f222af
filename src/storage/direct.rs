//! Writing a large file around the page cache (`O_DIRECT`), for the local
//! lake's [`crate::storage::lake::Lake::create_large`]: scene clips, which
//! the run writes once and never reads back.
//!
//! Through the page cache every byte is copied into a page the kernel
//! takes for it, and on these machines a page not touched lately costs a
//! fault in the host on top (see `WRITE_BACK_BYTES` in `lake.rs`). With
//! `O_DIRECT` the disk reads the bytes from our buffer: one aligned buffer
//! per file, written out whenever it fills. The first [`BLOCK`] bytes are
//! gathered in an ordinary buffer, so a small file (a short clip) never
//! allocates the aligned one and is written the ordinary way at commit. The
//! tail that does not fill a block is written the ordinary way too (the
//! flag cleared), and so is everything after a write the filesystem
//! refuses (`EINVAL`: it wants another alignment, or no `O_DIRECT` at
//! all). Bytes and durability are those of any lake file: fsynced, then
//! renamed into place.
//!
//! Hand-written because no maintained crate writes a `Write` stream with
//! `O_DIRECT` (they leave the alignment to the caller); the flags come from
//! `rustix`, so no `unsafe` is needed.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use rustix::fs::OFlags;

/// Bytes written per `O_DIRECT` write, and the size below which a file is
/// written the ordinary way.
pub const BLOCK: usize = 4 << 20;

/// Alignment of the buffer, the writes' lengths and their offsets: the
/// largest logical block size of common disks.
const ALIGN: usize = 4096;

/// A file being written with `O_DIRECT` under a temporary name.
pub struct DirectFile {
    temp: PathBuf,
    target: PathBuf,
    /// `None` once committed.
    file: Option<fs::File>,
    /// Whether the file still has `O_DIRECT`.
    direct: bool,
    /// The first bytes, until they fill a block.
    head: Vec<u8>,
    /// The aligned buffer (`BLOCK + ALIGN` bytes, used from `start`) and
    /// the bytes in it, once the file has outgrown `head`.
    aligned: Vec<u8>,
    start: usize,
    len: usize,
}

impl DirectFile {
    /// Creates `temp` with `O_DIRECT`; `None` when the filesystem refuses
    /// the flag (the caller writes it the ordinary way).
    pub fn create(temp: PathBuf, target: PathBuf) -> io::Result<Option<DirectFile>> {
        let opened = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .custom_flags(OFlags::DIRECT.bits() as i32)
            .open(&temp);
        let file = match opened {
            Ok(file) => file,
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) => {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        Ok(Some(DirectFile {
            temp,
            target,
            file: Some(file),
            direct: true,
            head: Vec::new(),
            aligned: Vec::new(),
            start: 0,
            len: 0,
        }))
    }

    fn file(&self) -> io::Result<&fs::File> {
        self.file
            .as_ref()
            .ok_or_else(|| io::Error::other("file already committed"))
    }

    /// Clears `O_DIRECT`: what follows goes through the page cache.
    fn go_buffered(&mut self) -> io::Result<()> {
        if self.direct {
            let file = self.file()?;
            let flags = rustix::fs::fcntl_getfl(file)?;
            rustix::fs::fcntl_setfl(file, flags - OFlags::DIRECT)?;
            self.direct = false;
        }
        Ok(())
    }

    /// Writes `bytes` at the file's position: with `O_DIRECT` while the
    /// filesystem takes it, else the ordinary way.
    fn write_out(&mut self, bytes: std::ops::Range<usize>, from_aligned: bool) -> io::Result<()> {
        let mut done = bytes.start;
        while done < bytes.end {
            let buf = if from_aligned {
                &self.aligned[done..bytes.end]
            } else {
                &self.head[done..bytes.end]
            };
            match self.file()?.write(buf) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if self.direct
                        && e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) =>
                {
                    self.go_buffered()?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Writes the full aligned buffer out.
    fn write_block(&mut self) -> io::Result<()> {
        let range = self.start..self.start + self.len;
        self.write_out(range, true)?;
        self.len = 0;
        Ok(())
    }
}

impl Write for DirectFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.file()?;
        if self.aligned.is_empty() {
            let n = data.len().min(BLOCK - self.head.len());
            self.head.extend_from_slice(&data[..n]);
            if self.head.len() == BLOCK {
                // Outgrown: the head becomes the first aligned block.
                self.aligned = vec![0; BLOCK + ALIGN];
                self.start = self.aligned.as_ptr().align_offset(ALIGN).min(ALIGN);
                self.aligned[self.start..self.start + BLOCK].copy_from_slice(&self.head);
                self.head = Vec::new();
                self.len = BLOCK;
                self.write_block()?;
            }
            return Ok(n);
        }
        let n = data.len().min(BLOCK - self.len);
        let at = self.start + self.len;
        self.aligned[at..at + n].copy_from_slice(&data[..n]);
        self.len += n;
        if self.len == BLOCK {
            self.write_block()?;
        }
        Ok(n)
    }

    /// Bytes are held until a block fills or the commit.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl crate::storage::lake::LakeFile for DirectFile {
    fn commit(mut self: Box<Self>) -> io::Result<()> {
        // The tail (or a small file whole) the ordinary way: its length
        // need not be a multiple of a block.
        self.go_buffered()?;
        if self.aligned.is_empty() {
            let range = 0..self.head.len();
            self.write_out(range, false)?;
        } else {
            let range = self.start..self.start + self.len;
            self.write_out(range, true)?;
        }
        let file = self.file.take().expect("checked by go_buffered");
        file.sync_all()?;
        fs::rename(&self.temp, &self.target)
    }
}

impl Drop for DirectFile {
    fn drop(&mut self) {
        // Not committed: leave nothing behind.
        if self.file.is_some() {
            let _ = fs::remove_file(&self.temp);
        }
    }
}
