//! Writing a large file around the page cache (`O_DIRECT`), for the local
//! lake's [`crate::storage::lake::Lake::create_large`]: scene clips, which
//! the run writes once and never reads back.
//!
//! Through the page cache every byte is copied into a page the kernel
//! takes for it, and on these machines a page not touched lately costs a
//! fault in the host on top (see `WRITE_BACK_BYTES` in `lake.rs`). With
//! `O_DIRECT` the disk reads the bytes from our buffers: aligned blocks of
//! [`BLOCK`] bytes, filled by the caller and written by a thread of the
//! file's own, [`BUFFERS`] blocks taking turns, so the caller goes on while
//! the disk writes (written by the caller itself, a clip of JPEG frames,
//! which costs little CPU, waited for the disk block by block: its export
//! stage 0.9-1.2 s became 1.2-1.6 s).
//!
//! The first [`BLOCK`] bytes are gathered in an ordinary buffer, so a small
//! file (a short clip) has no thread and no aligned block and is written
//! the ordinary way at commit. The tail that does not fill a block is
//! written the ordinary way too (the flag cleared), and so is everything
//! after a write the filesystem refuses (`EINVAL`: it wants another
//! alignment, or no `O_DIRECT` at all). Bytes and durability are those of
//! any lake file: fsynced, then renamed into place.
//!
//! Hand-written because no maintained crate writes a `Write` stream with
//! `O_DIRECT` (they leave the alignment to the caller); the flags come from
//! `rustix`, so no `unsafe` is needed.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender};
use std::thread::JoinHandle;

use rustix::fs::OFlags;

/// Bytes written per `O_DIRECT` write, and the size below which a file is
/// written the ordinary way.
pub const BLOCK: usize = 2 << 20;

/// Aligned blocks per file: one being filled while the other is written.
/// With the block's size this is what an open clip holds (4 MiB); a bag
/// of dense scenes has a few dozen clips open at once.
const BUFFERS: usize = 2;

/// Alignment of the blocks, the writes' lengths and their offsets: the
/// largest logical block size of common disks.
const ALIGN: usize = 4096;

/// An aligned block: `BLOCK + ALIGN` bytes, used from `start`.
struct Block {
    bytes: Vec<u8>,
    start: usize,
}

/// Blocks no file is using, kept for the next files: a bag's clips come
/// one after another, and a block taken again is neither zeroed nor
/// faulted in again (64 clips of JPEG frames, three 4 MiB blocks each,
/// made 768 MiB of fresh zeroed memory without it).
static SPARE: std::sync::Mutex<Vec<Block>> = std::sync::Mutex::new(Vec::new());

/// Spare blocks kept at most (32 MiB).
const SPARE_MAX: usize = 16;

impl Block {
    /// A spare block, or a new one.
    fn take() -> Block {
        let spare = SPARE.lock().map(|mut s| s.pop()).unwrap_or(None);
        spare.unwrap_or_else(|| {
            let bytes = vec![0; BLOCK + ALIGN];
            let start = bytes.as_ptr().align_offset(ALIGN).min(ALIGN);
            Block { bytes, start }
        })
    }

    /// Keeps the block for another file (or frees it, past [`SPARE_MAX`]).
    fn give_back(self) {
        if let Ok(mut spare) = SPARE.lock()
            && spare.len() < SPARE_MAX
        {
            spare.push(self);
        }
    }

    fn data(&self, len: usize) -> &[u8] {
        &self.bytes[self.start..self.start + len]
    }
}

/// The file's writer thread: full blocks in, empty ones back.
struct Writer {
    full: SyncSender<(u64, Block)>,
    empty: Receiver<Block>,
    thread: JoinHandle<io::Result<()>>,
    /// Blocks made so far (at most [`BUFFERS`]).
    made: usize,
}

/// A file being written with `O_DIRECT` under a temporary name.
pub struct DirectFile {
    temp: PathBuf,
    target: PathBuf,
    /// `None` once committed.
    file: Option<fs::File>,
    /// The first bytes, until they fill a block.
    head: Vec<u8>,
    /// Once the file has outgrown `head`: the block being filled, the
    /// bytes in it, and the writer of the full ones.
    block: Option<Block>,
    len: usize,
    writer: Option<Writer>,
    /// Bytes handed to the writer (the offset of `block`).
    handed: u64,
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
            Err(e) if is_inval(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(Some(DirectFile {
            temp,
            target,
            file: Some(file),
            head: Vec::new(),
            block: None,
            len: 0,
            writer: None,
            handed: 0,
        }))
    }

    fn file(&self) -> io::Result<&fs::File> {
        self.file
            .as_ref()
            .ok_or_else(|| io::Error::other("file already committed"))
    }

    /// Hands the full block to the writer and takes an empty one.
    fn hand_over(&mut self) -> io::Result<()> {
        if self.writer.is_none() {
            let file = self.file()?.try_clone()?;
            let (full, to_write) = std::sync::mpsc::sync_channel::<(u64, Block)>(BUFFERS - 1);
            let (written, empty) = std::sync::mpsc::channel();
            let thread = std::thread::Builder::new()
                .name("bagpipe-direct".into())
                .spawn(move || -> io::Result<()> {
                    for (offset, block) in to_write {
                        write_all_at(&file, block.data(BLOCK), offset)?;
                        let _ = written.send(block);
                    }
                    Ok(())
                })?;
            self.writer = Some(Writer {
                full,
                empty,
                thread,
                made: 1,
            });
        }
        let writer = self.writer.as_mut().expect("made above");
        let block = self.block.take().expect("a block is being filled");
        let offset = self.handed;
        // A closed channel means the thread stopped on an error: the
        // commit (or the next write) reports it.
        let sent = writer.full.send((offset, block)).is_ok();
        self.handed += BLOCK as u64;
        self.len = 0;
        let next = match writer.empty.try_recv() {
            Ok(block) => Some(block),
            Err(_) if writer.made < BUFFERS => {
                writer.made += 1;
                Some(Block::take())
            }
            Err(_) if sent => writer.empty.recv().ok(),
            Err(_) => None,
        };
        match next {
            Some(block) => {
                self.block = Some(block);
                Ok(())
            }
            None => self
                .stop_writer()
                .and(Err(io::Error::other("the file's writer thread stopped"))),
        }
    }

    /// Waits for the writer thread to write every block handed over.
    fn stop_writer(&mut self) -> io::Result<()> {
        match self.writer.take() {
            Some(Writer {
                full,
                empty,
                thread,
                ..
            }) => {
                drop(full);
                let done = thread
                    .join()
                    .unwrap_or_else(|_| Err(io::Error::other("the file's writer thread panicked")));
                empty.try_iter().for_each(Block::give_back);
                done
            }
            None => Ok(()),
        }
    }
}

/// Whether `e` is `EINVAL`: what a filesystem says to an `O_DIRECT` it does
/// not take (or not with this alignment).
fn is_inval(e: &io::Error) -> bool {
    e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error())
}

/// Clears `O_DIRECT` on `file` (and every handle of it): what follows goes
/// through the page cache.
fn go_buffered(file: &fs::File) -> io::Result<()> {
    let flags = rustix::fs::fcntl_getfl(file)?;
    if flags.contains(OFlags::DIRECT) {
        rustix::fs::fcntl_setfl(file, flags - OFlags::DIRECT)?;
    }
    Ok(())
}

/// Writes `bytes` at `offset`: with `O_DIRECT` while the filesystem takes
/// it, else the ordinary way.
fn write_all_at(file: &fs::File, bytes: &[u8], offset: u64) -> io::Result<()> {
    let mut done = 0;
    while done < bytes.len() {
        match file.write_at(&bytes[done..], offset + done as u64) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if is_inval(&e) && rustix::fs::fcntl_getfl(file)?.contains(OFlags::DIRECT) => {
                go_buffered(file)?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl Write for DirectFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.file()?;
        let Some(block) = &mut self.block else {
            let n = data.len().min(BLOCK - self.head.len());
            self.head.extend_from_slice(&data[..n]);
            if self.head.len() == BLOCK {
                // Outgrown: the head becomes the first aligned block.
                let mut block = Block::take();
                let start = block.start;
                block.bytes[start..start + BLOCK].copy_from_slice(&self.head);
                self.head = Vec::new();
                self.block = Some(block);
                self.hand_over()?;
            }
            return Ok(n);
        };
        let n = data.len().min(BLOCK - self.len);
        let at = block.start + self.len;
        block.bytes[at..at + n].copy_from_slice(&data[..n]);
        self.len += n;
        if self.len == BLOCK {
            self.hand_over()?;
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
        self.stop_writer()?;
        // The tail (or a small file whole) the ordinary way: its length
        // need not be a multiple of a block.
        let file = self.file()?;
        go_buffered(file)?;
        match &self.block {
            Some(block) => write_all_at(file, block.data(self.len), self.handed)?,
            None => write_all_at(file, &self.head, 0)?,
        }
        file.sync_all()?;
        fs::rename(&self.temp, &self.target)?;
        self.file = None;
        Ok(())
    }
}

impl Drop for DirectFile {
    fn drop(&mut self) {
        let _ = self.stop_writer();
        if let Some(block) = self.block.take() {
            block.give_back();
        }
        // Not committed: leave nothing behind.
        if self.file.is_some() {
            let _ = fs::remove_file(&self.temp);
        }
    }
}
