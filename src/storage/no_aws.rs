//! S3 in a build without the `aws` feature: the same names as `s3.rs`,
//! each answering that this build cannot reach S3 (an `s3://` input or
//! output root is then an error that says how to get a build that can).
//! The local default needs none of the AWS SDK, which is most of what a
//! first build compiles.

use std::io;

use extractor::source::ReadAt;

pub use crate::storage::s3url::S3Url;

/// The error every S3 call gives in this build.
pub fn unsupported(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!(
            "{what}: this bagpipe was built without AWS support; build it with `cargo build --release --features aws`"
        ),
    )
}

/// Never made in this build.
#[derive(Debug)]
pub enum S3Source {}

impl S3Source {
    pub fn open(bucket: &str, key: &str) -> io::Result<S3Source> {
        Err(unsupported(&S3Url::url_of(bucket, key)))
    }
}

impl ReadAt for S3Source {
    fn len(&self) -> u64 {
        match *self {}
    }

    fn read_exact_at(&self, _: u64, _: &mut [u8]) -> io::Result<()> {
        match *self {}
    }
}

/// Never made in this build.
#[derive(Debug)]
pub enum S3Lake {}

impl S3Lake {
    pub fn new(bucket: &str, prefix: &str) -> io::Result<S3Lake> {
        Err(unsupported(&S3Url::url_of(bucket, prefix)))
    }
}

pub fn list_objects(bucket: &str, prefix: &str) -> io::Result<Vec<(String, u64)>> {
    Err(unsupported(&S3Url::url_of(bucket, prefix)))
}

pub fn get_object(bucket: &str, key: &str) -> io::Result<Vec<u8>> {
    Err(unsupported(&S3Url::url_of(bucket, key)))
}

pub fn exists(bucket: &str, key: &str) -> io::Result<bool> {
    Err(unsupported(&S3Url::url_of(bucket, key)))
}
