//! The lake and the bags on S3, through `object_store`.
//!
//! - [`S3Source`] reads a bag by ranged GETs: the header and index first,
//!   then the chunks, fetched ahead a bounded number of bytes at a time
//!   (the extractor's prefetch hint), never the whole object into memory
//!   or onto disk. Small reads (record headers during a recovery scan) go
//!   through a one-block read-ahead, so a scan streams the object.
//! - [`S3Lake`] is the [`Lake`] on `s3://bucket/prefix`: files go up by a
//!   single PUT when small and by multipart upload when large (parts sent
//!   while the writer goes on, a bounded number in flight); either way the
//!   object appears whole when committed. `put_if_absent` is a conditional
//!   create (`PutMode::Create`, `If-None-Match: *`).
//!
//! The pipeline above is synchronous (rayon); every call here blocks on
//! one shared tokio runtime. Endpoint, region and credentials come from the
//! standard AWS environment (`AWS_ENDPOINT_URL` included), so the same
//! binary talks to AWS or to a local server.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};
use std::ops::Range;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use extractor::source::ReadAt;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{
    ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, RetryConfig, WriteMultipart,
};
use tokio::task::JoinHandle;

use crate::storage::aws::{block_on, install_crypto, runtime};
use crate::storage::lake::{Lake, LakeFile};

/// Size of one multipart-upload part. Files smaller than this go up in one
/// PUT. S3 allows 10,000 parts, so a file can reach 80 GB; the writer rolls
/// over to a new file at 1 GiB.
pub const PART_BYTES: usize = 8 << 20;
/// Parts of one file uploading at once.
pub const PARTS_IN_FLIGHT: usize = 4;
/// Bytes of a bag fetched ahead of the reader at most.
pub const PREFETCH_BYTES: u64 = 96 << 20;
/// Ranges fetched ahead at most, whatever their size (each is a task until
/// it is read).
pub const PREFETCH_RANGES: usize = 4096;
/// Prefetching ranged GETs of one bag in flight at once.
pub const GETS_IN_FLIGHT: usize = 16;
/// Ranges hinted together that lie close enough are fetched by one GET of
/// up to this many bytes (AWS suggests 8 or 16 MiB range requests): a bag
/// of 768 KiB chunks would otherwise make over a thousand GETs a second per
/// worker, and S3 serves about 5,500 a second per prefix.
pub const COALESCE_BYTES: u64 = 16 << 20;
/// Bytes between two hinted ranges that one GET fetches rather than
/// starting another (a ROS1 chunk's index records before the next chunk).
pub const COALESCE_GAP: u64 = 64 << 10;
/// Reads smaller than this are served from a read-ahead block.
const SMALL_READ: usize = 64 << 10;
/// Size of the read-ahead block.
const READAHEAD_BYTES: u64 = 1 << 20;
/// Attempts of a ranged GET (object_store retries failed requests itself;
/// this also covers a connection dropped while the body streams).
const GET_ATTEMPTS: u32 = 4;

pub use crate::storage::s3url::S3Url;

/// The object store of a bucket, made once per bucket and shared.
pub fn store(bucket: &str) -> io::Result<Arc<dyn ObjectStore>> {
    static STORES: OnceLock<Mutex<HashMap<String, Arc<dyn ObjectStore>>>> = OnceLock::new();
    let mut stores = STORES
        .get_or_init(Default::default)
        .lock()
        .expect("store cache");
    if let Some(s) = stores.get(bucket) {
        return Ok(s.clone());
    }
    install_crypto();
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_retry(RetryConfig {
            max_retries: 6,
            retry_timeout: Duration::from_secs(120),
            ..RetryConfig::default()
        });
    let endpoint = std::env::var("AWS_ENDPOINT_URL_S3")
        .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
        .unwrap_or_default();
    if !endpoint.is_empty() {
        // object_store reads AWS_ENDPOINT_URL itself, not the S3-only
        // variable the AWS SDKs also accept: give it whichever is set.
        builder = builder.with_endpoint(&endpoint);
    }
    if endpoint.starts_with("http://") {
        builder = builder.with_allow_http(true);
    }
    let s3 = builder
        .build()
        .map_err(|e| io::Error::other(format!("configuring S3 for bucket {bucket}: {e}")))?;
    let s3: Arc<dyn ObjectStore> = Arc::new(s3);
    stores.insert(bucket.to_string(), s3.clone());
    Ok(s3)
}

/// An object store error as an I/O error naming `url`, keeping the kinds
/// callers act on (not found, already exists).
fn io_error(url: &str, e: object_store::Error) -> io::Error {
    let kind = match &e {
        object_store::Error::NotFound { .. } => io::ErrorKind::NotFound,
        object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. } => {
            io::ErrorKind::AlreadyExists
        }
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, format!("{url}: {e}"))
}

/// An object key as an object_store path, refused when S3 could hold it
/// but object_store cannot name it (an empty segment, `.` or `..`).
fn object_path(bucket: &str, key: &str) -> io::Result<Path> {
    Path::parse(key).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{}: unsupported object key: {e}",
                S3Url::url_of(bucket, key)
            ),
        )
    })
}

/// A ranged GET, retried a few times with backoff when the transfer fails
/// (object_store retries the request itself; a body cut short surfaces
/// here).
async fn get_range(
    store: &dyn ObjectStore,
    path: &Path,
    url: &str,
    range: Range<u64>,
) -> io::Result<Bytes> {
    let mut attempt = 1;
    loop {
        match store.get_range(path, range.clone()).await {
            Ok(bytes) if bytes.len() as u64 == range.end - range.start => return Ok(bytes),
            Ok(bytes) => {
                if attempt >= GET_ATTEMPTS {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!(
                            "{url}: GET of bytes {}..{} returned {} bytes",
                            range.start,
                            range.end,
                            bytes.len()
                        ),
                    ));
                }
            }
            Err(
                e @ (object_store::Error::NotFound { .. }
                | object_store::Error::Precondition { .. }),
            ) => {
                return Err(io_error(url, e));
            }
            Err(e) => {
                if attempt >= GET_ATTEMPTS {
                    return Err(io_error(url, e));
                }
                tracing::warn!(
                    url,
                    attempt,
                    start = range.start,
                    end = range.end,
                    error = %e,
                    "ranged GET failed; retrying"
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
        attempt += 1;
    }
}

/// A bag on S3, read by ranged GETs.
pub struct S3Source {
    store: Arc<dyn ObjectStore>,
    path: Path,
    url: String,
    len: u64,
    ahead: Mutex<Ahead>,
    block: Mutex<Option<(u64, Bytes)>>,
    /// Bounds the prefetches in flight.
    slots: Arc<tokio::sync::Semaphore>,
}

/// Ranges being fetched ahead of the reader, by offset.
#[derive(Default)]
struct Ahead {
    pending: BTreeMap<u64, Fetch>,
    bytes: u64,
    generation: u64,
}

/// One hinted range, served from the GET of its group.
struct Fetch {
    len: u64,
    generation: u64,
    group: Arc<Group>,
}

/// One ranged GET in the background, for one or more hinted ranges.
struct Group {
    start: u64,
    task: Mutex<Option<JoinHandle<io::Result<Bytes>>>>,
    /// Its bytes, once one of its ranges waited for them.
    done: OnceLock<Result<Bytes, String>>,
}

impl Group {
    /// The group's bytes, waiting for its GET if nobody has yet.
    fn bytes(&self, url: &str) -> Result<Bytes, String> {
        let mut task = self.task.lock().expect("prefetch group");
        if let Some(handle) = task.take() {
            let result = match block_on(handle) {
                Ok(Ok(bytes)) => Ok(bytes),
                Ok(Err(e)) => Err(e.to_string()),
                Err(e) => Err(format!("{url}: prefetch task: {e}")),
            };
            let _ = self.done.set(result);
        }
        drop(task);
        self.done
            .get()
            .cloned()
            .unwrap_or_else(|| Err(format!("{url}: prefetch abandoned")))
    }
}

impl S3Source {
    /// Opens `s3://bucket/key` (one HEAD for its size).
    pub fn open(bucket: &str, key: &str) -> io::Result<S3Source> {
        let store = store(bucket)?;
        let url = S3Url::url_of(bucket, key);
        let path = object_path(bucket, key)?;
        let meta = block_on(store.head(&path)).map_err(|e| io_error(&url, e))?;
        Ok(S3Source {
            store,
            path,
            url,
            len: meta.size,
            ahead: Mutex::new(Ahead::default()),
            block: Mutex::new(None),
            slots: Arc::new(tokio::sync::Semaphore::new(GETS_IN_FLIGHT)),
        })
    }

    fn fetch(&self, range: Range<u64>) -> io::Result<Bytes> {
        block_on(get_range(self.store.as_ref(), &self.path, &self.url, range))
    }

    /// The bytes of a prefetched range, if exactly this range was asked for.
    fn take_prefetched(&self, offset: u64, len: u64) -> Option<io::Result<Bytes>> {
        let fetch = {
            let mut ahead = self.ahead.lock().expect("prefetch state");
            if ahead.pending.get(&offset).is_none_or(|f| f.len != len) {
                return None;
            }
            let fetch = ahead.pending.remove(&offset)?;
            ahead.bytes -= fetch.len;
            fetch
        };
        let at = (offset - fetch.group.start) as usize;
        Some(
            fetch
                .group
                .bytes(&self.url)
                .and_then(|bytes| {
                    bytes
                        .get(at..at + len as usize)
                        .map(|_| bytes.slice(at..at + len as usize))
                        .ok_or_else(|| format!("{}: a short prefetch", self.url))
                })
                .map_err(io::Error::other),
        )
    }

    /// A small read, from the read-ahead block (fetched on a miss).
    fn read_small(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let end = offset + buf.len() as u64;
        let mut block = self.block.lock().expect("read-ahead block");
        let hit = block
            .as_ref()
            .is_some_and(|(start, bytes)| *start <= offset && end <= start + bytes.len() as u64);
        if !hit {
            let block_end = (offset + READAHEAD_BYTES).min(self.len).max(end);
            *block = Some((offset, self.fetch(offset..block_end)?));
        }
        let (start, bytes) = block.as_ref().expect("block just read");
        let at = (offset - start) as usize;
        buf.copy_from_slice(&bytes[at..at + buf.len()]);
        Ok(())
    }
}

impl ReadAt for S3Source {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let len = buf.len() as u64;
        if offset.checked_add(len).is_none_or(|end| end > self.len) {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "{}: read of {len} bytes at offset {offset} past the end of {} bytes",
                    self.url, self.len
                ),
            ));
        }
        if len == 0 {
            return Ok(());
        }
        let bytes = match self.take_prefetched(offset, len) {
            Some(Ok(bytes)) => bytes,
            // A failed prefetch is tried again, in the reader's own time.
            Some(Err(_)) | None if buf.len() < SMALL_READ => return self.read_small(offset, buf),
            Some(Err(_)) | None => self.fetch(offset..offset + len)?,
        };
        buf.copy_from_slice(&bytes);
        Ok(())
    }

    fn prefetch(&self, ranges: &[(u64, u64)]) {
        let mut ahead = self.ahead.lock().expect("prefetch state");
        // Ranges hinted two calls ago were either read or never will be.
        ahead.generation += 1;
        let keep_from = ahead.generation.saturating_sub(1);
        let stale: Vec<u64> = ahead
            .pending
            .iter()
            .filter(|(_, f)| f.generation < keep_from)
            .map(|(o, _)| *o)
            .collect();
        for offset in stale {
            if let Some(f) = ahead.pending.remove(&offset) {
                ahead.bytes -= f.len;
                // The last range of its group: nobody will read the GET.
                if Arc::strong_count(&f.group) == 1
                    && let Some(task) = f.group.task.lock().expect("prefetch group").take()
                {
                    task.abort();
                }
            }
        }
        // The ranges to fetch, in the order hinted, cut into groups of
        // neighbours that one GET serves.
        let mut groups: Vec<Vec<(u64, u64)>> = Vec::new();
        let mut planned_bytes = 0;
        let mut planned_ranges = 0;
        for &(offset, len) in ranges {
            if len == 0
                || offset.checked_add(len).is_none_or(|e| e > self.len)
                || ahead.pending.contains_key(&offset)
                || ahead.bytes + planned_bytes + len > PREFETCH_BYTES
                || ahead.pending.len() + planned_ranges >= PREFETCH_RANGES
            {
                continue;
            }
            planned_bytes += len;
            planned_ranges += 1;
            match groups.last_mut() {
                Some(group)
                    if {
                        let (first, _) = group[0];
                        let (last, last_len) = group[group.len() - 1];
                        let end = last + last_len;
                        offset >= end
                            && offset - end <= COALESCE_GAP
                            && offset + len - first <= COALESCE_BYTES
                    } =>
                {
                    group.push((offset, len));
                }
                _ => groups.push(vec![(offset, len)]),
            }
        }
        for members in groups {
            let start = members[0].0;
            let (last, last_len) = members[members.len() - 1];
            let end = last + last_len;
            let store = self.store.clone();
            let path = self.path.clone();
            let url = self.url.clone();
            let slots = self.slots.clone();
            let task = runtime().spawn(async move {
                let _slot = slots.acquire_owned().await;
                get_range(store.as_ref(), &path, &url, start..end).await
            });
            let group = Arc::new(Group {
                start,
                task: Mutex::new(Some(task)),
                done: OnceLock::new(),
            });
            let generation = ahead.generation;
            for (offset, len) in members {
                ahead.bytes += len;
                ahead.pending.insert(
                    offset,
                    Fetch {
                        len,
                        generation,
                        group: group.clone(),
                    },
                );
            }
        }
    }
}

impl Drop for S3Source {
    fn drop(&mut self) {
        if let Ok(ahead) = self.ahead.get_mut() {
            for f in ahead.pending.values() {
                if let Some(task) = f.group.task.lock().expect("prefetch group").take() {
                    task.abort();
                }
            }
        }
    }
}

/// Every object under `s3://bucket/prefix`, in byte order of the
/// key, with its size.
pub fn list_objects(bucket: &str, prefix: &str) -> io::Result<Vec<(String, u64)>> {
    let store = store(bucket)?;
    let url = S3Url::url_of(bucket, prefix);
    let trimmed = prefix.trim_end_matches('/');
    let location = if trimmed.is_empty() {
        None
    } else {
        Some(object_path(bucket, trimmed)?)
    };
    let objects: Vec<_> = block_on(store.list(location.as_ref()).try_collect())
        .map_err(|e: object_store::Error| io_error(&url, e))?;
    let mut keys: Vec<(String, u64)> = objects
        .into_iter()
        .map(|m| (m.location.to_string(), m.size))
        .collect();
    keys.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    Ok(keys)
}

/// Whether an object exists (a HEAD request).
pub fn exists(bucket: &str, key: &str) -> io::Result<bool> {
    let store = store(bucket)?;
    let path = object_path(bucket, key)?;
    match block_on(store.head(&path)) {
        Ok(_) => Ok(true),
        Err(object_store::Error::NotFound { .. }) => Ok(false),
        Err(e) => Err(io_error(&S3Url::url_of(bucket, key), e)),
    }
}

/// An object's size and ETag (a HEAD request).
pub fn head(bucket: &str, key: &str) -> io::Result<(u64, String)> {
    let store = store(bucket)?;
    let path = object_path(bucket, key)?;
    match block_on(store.head(&path)) {
        Ok(meta) => Ok((meta.size, meta.e_tag.unwrap_or_default())),
        Err(e) => Err(io_error(&S3Url::url_of(bucket, key), e)),
    }
}

/// A whole (small) object, e.g. a configuration file: the bucket read as
/// a lake with an empty prefix.
pub fn get_object(bucket: &str, key: &str) -> io::Result<Vec<u8>> {
    S3Lake::new(bucket, "")?.get(key)?.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("{}: no such object", S3Url::url_of(bucket, key)),
        )
    })
}

/// Tries of a conditional create that S3 answers with 409 (a conflicting
/// write in flight) while the object does not exist.
const CREATE_CONFLICT_RETRIES: u32 = 8;

/// The lake under `s3://bucket/prefix`.
pub struct S3Lake {
    store: Arc<dyn ObjectStore>,
    bucket: String,
    prefix: String,
}

impl S3Lake {
    /// The lake at `s3://bucket/prefix` (the prefix may be empty).
    pub fn new(bucket: &str, prefix: &str) -> io::Result<S3Lake> {
        Ok(S3Lake {
            store: store(bucket)?,
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
        })
    }

    fn key(&self, path: &str) -> String {
        let path = path.trim_matches('/');
        match (self.prefix.is_empty(), path.is_empty()) {
            (true, _) => path.to_string(),
            (false, true) => self.prefix.clone(),
            (false, false) => format!("{}/{path}", self.prefix),
        }
    }

    fn location(&self, path: &str) -> io::Result<Path> {
        object_path(&self.bucket, &self.key(path))
    }

    fn object_url(&self, path: &str) -> String {
        S3Url::url_of(&self.bucket, &self.key(path))
    }
}

impl Lake for S3Lake {
    fn url(&self, path: &str) -> String {
        let mut url = self.object_url(path);
        if (path.ends_with('/') || path.is_empty()) && !url.ends_with('/') {
            url.push('/');
        }
        url
    }

    fn create(&self, path: &str) -> io::Result<Box<dyn LakeFile>> {
        Ok(Box::new(S3File {
            store: self.store.clone(),
            path: self.location(path)?,
            url: self.object_url(path),
            state: Upload::Buffer(Vec::new()),
        }))
    }

    fn put_if_absent(&self, path: &str, bytes: &[u8]) -> io::Result<bool> {
        let url = self.object_url(path);
        let location = self.location(path)?;
        let mut attempt = 0;
        loop {
            let put = self.store.put_opts(
                &location,
                PutPayload::from(bytes.to_vec()),
                PutOptions::from(PutMode::Create),
            );
            match block_on(put) {
                Ok(_) => return Ok(true),
                Err(object_store::Error::Precondition { .. }) => return Ok(false),
                // object_store reads S3's 409 ConditionalRequestConflict (a
                // conflicting write still in flight: "retry the request") as
                // AlreadyExists, and does not retry it. The object is there
                // when it really exists; when it is not, the create is tried
                // again, a bounded number of times.
                Err(object_store::Error::AlreadyExists { .. }) => {
                    match block_on(self.store.head(&location)) {
                        Ok(_) => return Ok(false),
                        Err(object_store::Error::NotFound { .. })
                            if attempt < CREATE_CONFLICT_RETRIES =>
                        {
                            attempt += 1;
                            tracing::info!(url = %url, attempt, "conditional create in conflict with one in flight; trying again");
                            std::thread::sleep(Duration::from_millis(50 << attempt.min(6)));
                        }
                        Err(object_store::Error::NotFound { .. }) => {
                            return Err(io::Error::other(format!(
                                "{url}: conditional create still in conflict after {CREATE_CONFLICT_RETRIES} tries"
                            )));
                        }
                        Err(e) => return Err(io_error(&url, e)),
                    }
                }
                Err(e) => return Err(io_error(&url, e)),
            }
        }
    }

    fn get(&self, path: &str) -> io::Result<Option<Vec<u8>>> {
        let url = self.object_url(path);
        let location = self.location(path)?;
        let got = block_on(async {
            let result = self.store.get(&location).await?;
            result.bytes().await
        });
        match got {
            Ok(bytes) => Ok(Some(bytes.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(io_error(&url, e)),
        }
    }

    fn list_children(&self, prefix: &str) -> io::Result<Vec<String>> {
        let url = self.url(prefix);
        let key = self.key(prefix);
        let location = if key.is_empty() {
            None
        } else {
            Some(object_path(&self.bucket, &key)?)
        };
        let listed = block_on(self.store.list_with_delimiter(location.as_ref()))
            .map_err(|e| io_error(&url, e))?;
        let mut names: Vec<String> = listed
            .common_prefixes
            .iter()
            .chain(listed.objects.iter().map(|o| &o.location))
            .filter_map(|p| p.filename().map(str::to_string))
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn len(&self, path: &str) -> io::Result<u64> {
        let url = self.object_url(path);
        let location = self.location(path)?;
        block_on(self.store.head(&location))
            .map(|m| m.size)
            .map_err(|e| io_error(&url, e))
    }

    fn get_range(&self, path: &str, offset: u64, len: u64) -> io::Result<Vec<u8>> {
        let url = self.object_url(path);
        let location = self.location(path)?;
        let end = offset
            .checked_add(len)
            .ok_or_else(|| io::Error::other("range overflows"))?;
        block_on(get_range(self.store.as_ref(), &location, &url, offset..end)).map(|b| b.to_vec())
    }

    fn delete(&self, path: &str) -> io::Result<()> {
        let url = self.url(path);
        let location = self.location(path)?;
        block_on(async {
            // The object itself, then everything under it as a directory.
            match self.store.delete(&location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
            let under: Vec<_> = self.store.list(Some(&location)).try_collect().await?;
            for meta in under {
                match self.store.delete(&meta.location).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        })
        .map_err(|e| io_error(&url, e))
    }
}

/// A file being written to S3.
struct S3File {
    store: Arc<dyn ObjectStore>,
    path: Path,
    url: String,
    state: Upload,
}

enum Upload {
    /// Not yet one part's worth: kept for a single PUT.
    Buffer(Vec<u8>),
    /// A multipart upload under way.
    Multipart(WriteMultipart),
    /// Committed or failed.
    Done,
}

impl Write for S3File {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.state {
            Upload::Buffer(pending) if pending.len() + buf.len() < PART_BYTES => {
                pending.extend_from_slice(buf);
            }
            Upload::Buffer(pending) => {
                let pending = std::mem::take(pending);
                let upload = block_on(self.store.put_multipart(&self.path))
                    .map_err(|e| io_error(&self.url, e))?;
                let mut parts = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
                {
                    let _rt = runtime().enter();
                    parts.write(&pending);
                    parts.write(buf);
                }
                self.state = Upload::Multipart(parts);
                self.wait_for_capacity()?;
            }
            Upload::Multipart(parts) => {
                {
                    let _rt = runtime().enter();
                    parts.write(buf);
                }
                self.wait_for_capacity()?;
            }
            Upload::Done => {
                return Err(io::Error::other(format!("{}: already committed", self.url)));
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl S3File {
    /// Blocks while too many parts are uploading (back pressure on the
    /// writer, so memory stays bounded).
    fn wait_for_capacity(&mut self) -> io::Result<()> {
        if let Upload::Multipart(parts) = &mut self.state {
            let waited = block_on(parts.wait_for_capacity(PARTS_IN_FLIGHT));
            if let Err(e) = waited {
                // The upload is broken: abort it so no parts linger.
                if let Upload::Multipart(parts) = std::mem::replace(&mut self.state, Upload::Done) {
                    let _ = block_on(parts.abort());
                }
                return Err(io_error(&self.url, e));
            }
        }
        Ok(())
    }
}

impl LakeFile for S3File {
    fn commit(mut self: Box<Self>) -> io::Result<()> {
        match std::mem::replace(&mut self.state, Upload::Done) {
            Upload::Buffer(bytes) => {
                block_on(self.store.put(&self.path, PutPayload::from(bytes)))
                    .map_err(|e| io_error(&self.url, e))?;
            }
            Upload::Multipart(parts) => {
                block_on(parts.finish()).map_err(|e| io_error(&self.url, e))?;
            }
            Upload::Done => {
                return Err(io::Error::other(format!("{}: already committed", self.url)));
            }
        }
        Ok(())
    }
}

impl Drop for S3File {
    fn drop(&mut self) {
        // Not committed: abort the upload, so nothing appears and no parts
        // are left to pay for.
        if let Upload::Multipart(parts) = std::mem::replace(&mut self.state, Upload::Done) {
            let _ = block_on(parts.abort());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_split_into_bucket_and_literal_key() {
        assert_eq!(
            S3Url::parse("s3://ingest/drive 4/run_0012.bag"),
            Some(Ok(S3Url {
                bucket: "ingest".into(),
                key: "drive 4/run_0012.bag".into()
            }))
        );
        assert_eq!(
            S3Url::parse("s3://lake"),
            Some(Ok(S3Url {
                bucket: "lake".into(),
                key: String::new()
            }))
        );
        assert!(matches!(S3Url::parse("s3:///key"), Some(Err(_))));
        assert_eq!(S3Url::parse("/tmp/x.bag"), None);
        assert_eq!(
            S3Url::url_of("ingest", "drive 4/run+1.bag"),
            "s3://ingest/drive%204/run+1.bag"
        );
    }
}
