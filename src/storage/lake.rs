//! Storage of the lake behind one small trait, so the local directory and
//! object stores share every line of logic above it.
//!
//! Paths are `/`-separated and relative to the output root. Files appear
//! whole or not at all: [`Lake::create`] hands out a writer whose bytes
//! become visible only on [`LakeFile::commit`] (locally a hidden temporary
//! name renamed into place; dropped without commit, it is removed).

use std::collections::HashSet;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Prefix of temporary files in the lake. Hive readers (Athena, Glue,
/// DuckDB) skip names starting with `.` or `_`, so a crash never exposes one,
/// and a re-run removes any it finds in the partitions it rewrites.
pub const TEMP_PREFIX: &str = ".tmp-";

/// A file being written into the lake.
pub trait LakeFile: Write + Send {
    /// Makes the file visible under its final name, whole.
    fn commit(self: Box<Self>) -> io::Result<()>;
}

/// The output root: a local directory (later also `s3://bucket/prefix`).
pub trait Lake: Send + Sync {
    /// The URL of `path` under the root (`file:///...` locally).
    fn url(&self, path: &str) -> String;
    /// Starts writing `path`; it appears on commit, replacing any old file.
    fn create(&self, path: &str) -> io::Result<Box<dyn LakeFile>>;
    /// [`Lake::create`] for a large file the run writes once and does not
    /// read back (a scene clip): a local lake writes it around the page
    /// cache where the filesystem allows. By default, `create`.
    fn create_large(&self, path: &str) -> io::Result<Box<dyn LakeFile>> {
        self.create(path)
    }
    /// Writes `bytes` to `path` only if nothing is there; `false` if
    /// something was (a conditional create, so concurrent runs agree).
    fn put_if_absent(&self, path: &str, bytes: &[u8]) -> io::Result<bool>;
    /// Reads a whole (small) file; `None` if absent.
    fn get(&self, path: &str) -> io::Result<Option<Vec<u8>>>;
    /// Names of the entries directly under the directory `prefix`.
    fn list_children(&self, prefix: &str) -> io::Result<Vec<String>>;
    /// Removes a file; absent is fine.
    fn delete(&self, path: &str) -> io::Result<()>;
    /// The size of a file in bytes.
    fn len(&self, path: &str) -> io::Result<u64>;
    /// `len` bytes of a file from `offset` (a Parquet footer, say).
    fn get_range(&self, path: &str, offset: u64, len: u64) -> io::Result<Vec<u8>>;

    /// Removes, from the directory `dir`, the temporary files of processes
    /// that no longer run (a run killed mid-write leaves its
    /// `.tmp-<pid>-...` files behind); returns how many. A live process's
    /// files are kept, so a concurrent run is not disturbed. By default
    /// there are none: only a local lake writes through temporary files
    /// (an S3 object appears whole).
    fn remove_dead_temps(&self, dir: &str) -> io::Result<usize> {
        let _ = dir;
        Ok(0)
    }

    /// Writes a whole file at once.
    fn put(&self, path: &str, bytes: &[u8]) -> io::Result<()> {
        let mut f = self.create(path)?;
        f.write_all(bytes)?;
        f.commit()
    }
}

/// Commits finished files on a few threads of their own. A commit waits
/// for the disk (fsync) or the network (S3); a bag's exports committed one
/// after another waited 1.4 s for the disk on a 2,175-scene bag (4,350
/// files, 0.33 ms a fsync). [`Committer::finish`] returns once every file
/// handed over is committed, with the first that failed; dropped
/// unfinished, it still waits for them.
pub struct Committer {
    send: Option<std::sync::mpsc::SyncSender<(String, Box<dyn LakeFile>)>>,
    threads: Vec<std::thread::JoinHandle<Result<(), (String, io::Error)>>>,
}

impl Committer {
    /// `threads` committers, each holding at most two files waiting.
    pub fn new(threads: usize) -> Committer {
        let threads = threads.max(1);
        let (send, receive) = std::sync::mpsc::sync_channel(threads * 2);
        let receive = Arc::new(Mutex::new(receive));
        let threads = (0..threads)
            .map(|_| {
                let receive = Arc::clone(&receive);
                std::thread::spawn(move || {
                    let mut first = Ok(());
                    loop {
                        let next = receive.lock().expect("committer queue").recv();
                        let Ok((path, file)): Result<(String, Box<dyn LakeFile>), _> = next else {
                            return first;
                        };
                        if let Err(e) = file.commit()
                            && first.is_ok()
                        {
                            first = Err((path, e));
                        }
                    }
                })
            })
            .collect();
        Committer {
            send: Some(send),
            threads,
        }
    }

    /// Hands `file`, written to `path`, over to be committed.
    pub fn commit(&self, path: &str, file: Box<dyn LakeFile>) -> io::Result<()> {
        self.send
            .as_ref()
            .and_then(|s| s.send((path.to_string(), file)).ok())
            .ok_or_else(|| io::Error::other(format!("{path}: the committers stopped")))
    }

    /// Writes `bytes` to `path` and hands the file over.
    pub fn put(&self, lake: &dyn Lake, path: &str, bytes: &[u8]) -> io::Result<()> {
        let mut file = lake.create(path)?;
        file.write_all(bytes)?;
        self.commit(path, file)
    }

    /// Waits until every file handed over is committed; the first failure
    /// with its path.
    pub fn finish(mut self) -> Result<(), (String, io::Error)> {
        self.join()
    }

    fn join(&mut self) -> Result<(), (String, io::Error)> {
        drop(self.send.take());
        let mut first = Ok(());
        for thread in self.threads.drain(..) {
            let done = thread
                .join()
                .unwrap_or_else(|_| Err((String::new(), io::Error::other("a committer panicked"))));
            if first.is_ok() {
                first = done;
            }
        }
        first
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        let _ = self.join();
    }
}

/// The lake in a local directory.
#[derive(Debug, Clone)]
pub struct LocalLake {
    root: PathBuf,
    /// Directories known to exist, so writing thousands of files into a
    /// few directories does not ask for each one again.
    made: Arc<Mutex<HashSet<PathBuf>>>,
}

impl LocalLake {
    /// A lake rooted at `root` (created if missing).
    pub fn new(root: &Path) -> io::Result<LocalLake> {
        fs::create_dir_all(root)?;
        Ok(LocalLake {
            root: fs::canonicalize(root)?,
            made: Arc::new(Mutex::new(HashSet::new())),
        })
    }

    /// The directory of the lake.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `open` of a new temporary name beside `target`, and that name. If
    /// its directory went away since it was made, it is made again.
    fn with_temp<T>(
        &self,
        target: &Path,
        open: impl Fn(&Path) -> io::Result<T>,
    ) -> io::Result<(PathBuf, T)> {
        let temp = temp_path(target, &self.made)?;
        match open(&temp) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.made.lock().expect("directory cache").clear();
                let temp = temp_path(target, &self.made)?;
                let opened = open(&temp)?;
                Ok((temp, opened))
            }
            other => Ok((temp, other?)),
        }
    }

    fn path(&self, path: &str) -> PathBuf {
        self.root.join(path)
    }
}

/// Whether a process of this id runs on this machine. Where `/proc` is not
/// there to tell, every process is taken to be alive (nothing is removed).
fn process_alive(pid: u32) -> bool {
    pid == std::process::id()
        || !Path::new("/proc/self").exists()
        || Path::new("/proc").join(pid.to_string()).exists()
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Bytes buffered per file being written: Parquet hands over whole pages,
/// so a small buffer costs nothing, and thousands of small tables written
/// at once do not each hold a large one.
const WRITE_BUFFER: usize = 128 << 10;

/// A unique hidden name beside `target`, its directory created.
fn temp_path(target: &Path, made: &Mutex<HashSet<PathBuf>>) -> io::Result<PathBuf> {
    let dir = target
        .parent()
        .ok_or_else(|| io::Error::other(format!("{} has no directory", target.display())))?;
    let mut made = made.lock().expect("directory cache");
    if !made.contains(dir) {
        fs::create_dir_all(dir)?;
        made.insert(dir.to_path_buf());
    }
    let name = target
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("file");
    Ok(dir.join(format!(
        "{TEMP_PREFIX}{}-{}-{name}",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    )))
}

struct LocalFile {
    temp: PathBuf,
    target: PathBuf,
    file: Option<io::BufWriter<fs::File>>,
    /// Bytes written, and bytes handed to the disk's write-back so far.
    written: u64,
    flushed: u64,
    /// The range last handed to write-back (offset, length), dropped from
    /// the page cache at the next hand-over.
    handed: Option<(u64, u64)>,
}

/// Bytes after which a file being written is handed to the disk: the
/// kernel would otherwise hold a run's output in the page cache until the
/// commit's fsync, and the run would wait for the disk at its very end
/// (0.34 s for the 1 GB table of a JPEG camera bag) instead of while it
/// computes.
///
/// At each hand-over the range handed over the time before, written to
/// the disk by then (the disk stores 8 MiB in a few milliseconds, a run
/// makes it in tens), is dropped from the page cache. A big file (a clip,
/// a camera table) then takes a few ranges' worth of page cache, not its
/// size, and the pages each range frees are the ones the next range
/// takes. That matters more than it seems: on a virtual machine whose host
/// reclaims the memory its guest leaves free (virtio-balloon free page
/// reporting, as on these machines and Firecracker's), a page the kernel
/// has not touched lately costs a fault in the host when written into.
/// Writing 745 MiB into a file took 0.9-1.6 s of system time with its
/// pages kept, 0.2-0.3 s with its ranges dropped (bench/write_ranges.py);
/// the camera bag's export stage fell from 2.1-2.3 s to 1.5-1.6 s when its
/// clips were written this way (they now go around the page cache, see
/// [`Lake::create_large`]). Files of under two ranges (every table of a small bag, most structured
/// tables) stay cached whole for the stages that read them back.
const WRITE_BACK_BYTES: u64 = 8 << 20;

impl Write for LocalFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(f) = &mut self.file else {
            return Err(io::Error::other("file already committed"));
        };
        let n = f.write(buf)?;
        self.written += n as u64;
        if self.written - self.flushed >= WRITE_BACK_BYTES {
            f.flush()?;
            let range = (self.flushed, self.written - self.flushed);
            advise_dont_need(f.get_ref(), range);
            if let Some(before) = self.handed.replace(range) {
                advise_dont_need(f.get_ref(), before);
            }
            self.flushed = self.written;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.file {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl LakeFile for LocalFile {
    fn commit(mut self: Box<Self>) -> io::Result<()> {
        if let Some(f) = self.file.take() {
            let file = f.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
        }
        fs::rename(&self.temp, &self.target)
    }
}

/// `posix_fadvise(DONTNEED)` on `len` bytes of `file` from `offset`:
/// Linux starts write-back of the range's dirty pages, without waiting,
/// and drops the pages already clean. Given a range just written, it
/// starts its write-back; given one whose write-back has ended, it frees
/// its pages (a page still being written stays). (`sync_file_range` says
/// the first more directly, but no safe binding of it exists.) Failing to
/// advise changes nothing but timing.
fn advise_dont_need(file: &fs::File, (offset, len): (u64, u64)) {
    #[cfg(target_os = "linux")]
    {
        let _ = rustix::fs::fadvise(
            file,
            offset,
            std::num::NonZeroU64::new(len),
            rustix::fs::Advice::DontNeed,
        );
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, offset, len);
}

impl Drop for LocalFile {
    fn drop(&mut self) {
        // Not committed: leave nothing behind.
        if self.file.is_some() {
            let _ = fs::remove_file(&self.temp);
        }
    }
}

impl Lake for LocalLake {
    /// Partitions need no sweep: a run removes everything it did not write
    /// from the partitions it rewrites.
    fn remove_dead_temps(&self, dir: &str) -> io::Result<usize> {
        let mut removed = 0;
        for name in self.list_children(dir)? {
            let pid = name
                .strip_prefix(TEMP_PREFIX)
                .and_then(|rest| rest.split('-').next())
                .and_then(|pid| pid.parse::<u32>().ok());
            if pid.is_some_and(|pid| !process_alive(pid)) {
                match fs::remove_file(self.path(dir).join(&name)) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(removed)
    }

    fn url(&self, path: &str) -> String {
        file_url(&self.path(path), path.ends_with('/') || path.is_empty())
    }

    fn create(&self, path: &str) -> io::Result<Box<dyn LakeFile>> {
        let target = self.path(path);
        let (temp, file) = self.with_temp(&target, |temp| fs::File::create(temp))?;
        Ok(Box::new(LocalFile {
            temp,
            target,
            file: Some(io::BufWriter::with_capacity(WRITE_BUFFER, file)),
            written: 0,
            flushed: 0,
            handed: None,
        }))
    }

    #[cfg(target_os = "linux")]
    fn create_large(&self, path: &str) -> io::Result<Box<dyn LakeFile>> {
        let target = self.path(path);
        let (temp, direct) = self.with_temp(&target, |temp| {
            super::direct::DirectFile::create(temp.to_path_buf(), target.clone())
        })?;
        match direct {
            Some(file) => Ok(Box::new(file)),
            None => {
                // The filesystem refuses O_DIRECT: the ordinary way.
                let _ = fs::remove_file(&temp);
                self.create(path)
            }
        }
    }

    fn put_if_absent(&self, path: &str, bytes: &[u8]) -> io::Result<bool> {
        let target = self.path(path);
        // Write a temporary file, then hard-link it into place: the link
        // fails if the name exists, so two runs cannot both create it, and
        // the file is whole when it appears.
        let temp = temp_path(&target, &self.made)?;
        let written = fs::File::create(&temp).and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        });
        let linked = written.and_then(|()| fs::hard_link(&temp, &target));
        let _ = fs::remove_file(&temp);
        match linked {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn get(&self, path: &str) -> io::Result<Option<Vec<u8>>> {
        match fs::read(self.path(path)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn list_children(&self, prefix: &str) -> io::Result<Vec<String>> {
        let dir = self.path(prefix);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut names = Vec::new();
        for entry in entries {
            if let Some(name) = entry?.file_name().to_str() {
                names.push(name.to_string());
            }
        }
        names.sort();
        Ok(names)
    }

    fn len(&self, path: &str) -> io::Result<u64> {
        Ok(fs::metadata(self.path(path))?.len())
    }

    fn get_range(&self, path: &str, offset: u64, len: u64) -> io::Result<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        let file = fs::File::open(self.path(path))?;
        let mut buf = vec![0; usize::try_from(len).map_err(io::Error::other)?];
        file.read_exact_at(&mut buf, offset)?;
        Ok(buf)
    }

    fn delete(&self, path: &str) -> io::Result<()> {
        let target = self.path(path);
        let result = if target.is_dir() {
            fs::remove_dir_all(&target)
        } else {
            fs::remove_file(&target)
        };
        match result {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        // Drop directories left empty, so no empty partition remains.
        let mut dir = target.parent().map(Path::to_path_buf);
        while let Some(d) = dir {
            if d == self.root || fs::remove_dir(&d).is_err() {
                break;
            }
            dir = d.parent().map(Path::to_path_buf);
        }
        Ok(())
    }
}

/// `file://` URL of an absolute path, percent-encoded as URLs are.
pub fn file_url(path: &Path, trailing_slash: bool) -> String {
    let mut s = String::from("file://");
    s.push_str(&encode_path(&path.to_string_lossy()));
    if trailing_slash && !s.ends_with('/') {
        s.push('/');
    }
    s
}

/// Characters escaped in the path of a URL (RFC 3986 path, `/` kept).
const PATH_SET: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'[')
    .add(b']')
    .add(b'\\')
    .add(b'^')
    .add(b'|');

/// Percent-encodes a path for a URL, keeping `/`.
pub fn encode_path(path: &str) -> String {
    percent_encoding::utf8_percent_encode(path, PATH_SET).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_files_are_all_in_place_when_the_committer_finishes() {
        let dir = tempfile::tempdir().unwrap();
        let lake = LocalLake::new(dir.path()).unwrap();
        let committer = Committer::new(3);
        for i in 0..40 {
            committer
                .put(
                    &lake,
                    &format!("exports/b/{i}.json"),
                    i.to_string().as_bytes(),
                )
                .unwrap();
        }
        committer.finish().unwrap();
        let mut names = lake.list_children("exports/b").unwrap();
        names.sort();
        let mut want: Vec<String> = (0..40).map(|i| format!("{i}.json")).collect();
        want.sort();
        assert_eq!(names, want, "every file in place, no temporary left");
        for i in 0..40 {
            let got = lake.get(&format!("exports/b/{i}.json")).unwrap().unwrap();
            assert_eq!(got, i.to_string().as_bytes());
        }
    }

    #[test]
    fn a_file_of_many_write_back_ranges_is_committed_whole() {
        // Over five ranges, in pieces that straddle their ends: each range
        // is handed to the disk and dropped from the page cache on the way,
        // and what lands is every byte, in order.
        let dir = tempfile::tempdir().unwrap();
        let lake = LocalLake::new(dir.path()).unwrap();
        let bytes: Vec<u8> = (0..5 * WRITE_BACK_BYTES + 12_345)
            .map(|i| (i % 251) as u8)
            .collect();
        let mut file = lake.create("exports/b/big.mcap").unwrap();
        for piece in bytes.chunks(1_000_003) {
            file.write_all(piece).unwrap();
        }
        file.commit().unwrap();
        let got = lake.get("exports/b/big.mcap").unwrap().unwrap();
        assert_eq!(got.len(), bytes.len());
        assert!(got == bytes, "the file reads back as written");
    }

    #[test]
    fn large_files_are_committed_whole_and_uncommitted_ones_leave_nothing() {
        // Written around the page cache where the filesystem allows: a file
        // of several blocks and a tail, in pieces that straddle the blocks;
        // one smaller than a block; one empty; one dropped unfinished.
        let dir = tempfile::tempdir().unwrap();
        let lake = LocalLake::new(dir.path()).unwrap();
        let block = 2 << 20;
        for (name, size) in [
            ("big.mcap", 3 * block + 4_097),
            ("blocks.mcap", 2 * block),
            ("small.mcap", 100_000),
            ("empty.mcap", 0),
        ] {
            let bytes: Vec<u8> = (0..size).map(|i| (i % 253) as u8).collect();
            let mut file = lake.create_large(&format!("exports/b/{name}")).unwrap();
            for piece in bytes.chunks(777_777) {
                file.write_all(piece).unwrap();
            }
            file.commit().unwrap();
            let got = lake.get(&format!("exports/b/{name}")).unwrap().unwrap();
            assert_eq!(got.len(), bytes.len(), "{name}");
            assert!(got == bytes, "{name} reads back as written");
        }
        let mut lost = lake.create_large("exports/b/lost.mcap").unwrap();
        lost.write_all(&vec![7; block + 1]).unwrap();
        drop(lost);
        assert_eq!(
            lake.list_children("exports/b").unwrap(),
            ["big.mcap", "blocks.mcap", "empty.mcap", "small.mcap"],
            "no temporary file left, nothing of the dropped one"
        );
    }

    #[test]
    fn a_commit_that_fails_is_reported_by_finish_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let lake = LocalLake::new(dir.path()).unwrap();
        let committer = Committer::new(2);
        committer.put(&lake, "a/ok.json", b"1").unwrap();
        let mut doomed = lake.create("b/lost.json").unwrap();
        doomed.write_all(b"2").unwrap();
        // Its directory goes before the commit: the rename must fail.
        fs::remove_dir_all(dir.path().join("b")).unwrap();
        committer.commit("b/lost.json", doomed).unwrap();
        let (path, _) = committer.finish().unwrap_err();
        assert_eq!(path, "b/lost.json");
        assert_eq!(lake.get("a/ok.json").unwrap().unwrap(), b"1");
    }

    #[test]
    fn temporary_files_of_dead_processes_are_removed_and_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let lake = LocalLake::new(dir.path()).unwrap();
        // A process that has exited: its pid names no running process.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let own = std::process::id();
        let schemas = dir.path().join("_schemas");
        fs::create_dir_all(&schemas).unwrap();
        for name in [
            format!("{TEMP_PREFIX}{dead}-0-a.json"),
            format!("{TEMP_PREFIX}{own}-7-b.json"),
            "a.json".to_string(),
            format!("{TEMP_PREFIX}not-a-pid"),
        ] {
            fs::write(schemas.join(name), b"{}").unwrap();
        }
        assert_eq!(lake.remove_dead_temps("_schemas").unwrap(), 1);
        assert_eq!(
            lake.list_children("_schemas").unwrap(),
            [
                format!("{TEMP_PREFIX}{own}-7-b.json"),
                format!("{TEMP_PREFIX}not-a-pid"),
                "a.json".to_string()
            ]
        );
        assert_eq!(lake.remove_dead_temps("absent").unwrap(), 0);
    }
}
