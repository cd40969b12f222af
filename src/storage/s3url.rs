//! `s3://bucket/key` URLs, split and made: pure, so a build without the
//! AWS back-ends still recognises them (and says it cannot reach them).

use crate::storage::lake::encode_path;

/// `s3://bucket/key`, split. The key is taken literally (no percent
/// decoding), as the AWS CLI does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Url {
    pub bucket: String,
    pub key: String,
}

impl S3Url {
    /// Parses `s3://bucket[/key]`; `None` if `url` is not an `s3://` URL.
    pub fn parse(url: &str) -> Option<Result<S3Url, String>> {
        let rest = url.strip_prefix("s3://")?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Some(Err(format!("{url}: no bucket name")));
        }
        Some(Ok(S3Url {
            bucket: bucket.to_string(),
            key: key.to_string(),
        }))
    }

    /// The URL of `key` in `bucket`, percent-encoded as URLs are.
    pub fn url_of(bucket: &str, key: &str) -> String {
        format!("s3://{bucket}/{}", encode_path(key))
    }
}
