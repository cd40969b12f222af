//! Setting up and reading S3 state through moto with plain, unsigned HTTP
//! requests (moto checks no signatures), path-style: `{endpoint}/{bucket}/{key}`.
//!
//! moto answers an anonymous GET of an object `403` with an empty body (the
//! object is not public), so every request carries [`S3_AUTHORIZATION`], a
//! dummy SigV4-shaped header for us-east-1. A PUT carries
//! `Content-Type: application/octet-stream`: werkzeug, under moto, would
//! swallow a body sent as `application/x-www-form-urlencoded` and store an
//! empty object.
//!
//! Every helper panics with the server's answer on an unexpected status, so
//! a test fails where its set-up went wrong.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::agent;

/// Characters escaped in a key in the URL path: everything but the
/// unreserved characters and `/` (as the AWS SDKs do). A space becomes `%20`
/// and `+` becomes `%2B`, so neither can be read back as the other.
const PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');
/// Characters escaped in a query value: everything but the unreserved ones.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A dummy `Authorization` header (SigV4 shape, us-east-1, service s3) that
/// moto takes as an authenticated request; the signature is not checked.
pub const S3_AUTHORIZATION: &str = "AWS4-HMAC-SHA256 \
    Credential=test/20240101/us-east-1/s3/aws4_request, \
    SignedHeaders=host;x-amz-content-sha256;x-amz-date, \
    Signature=0000000000000000000000000000000000000000000000000000000000000000";

/// The URL of an object, its key percent-encoded.
pub fn object_url(endpoint: &str, bucket: &str, key: &str) -> String {
    format!(
        "{}/{}/{}",
        endpoint.trim_end_matches('/'),
        bucket,
        utf8_percent_encode(key, PATH)
    )
}

fn text(response: ureq::http::Response<ureq::Body>) -> (u16, String) {
    let status = response.status().as_u16();
    let body = response.into_body().read_to_string().unwrap_or_default();
    (status, body)
}

/// Creates a bucket (in us-east-1).
pub fn create_bucket(endpoint: &str, bucket: &str) {
    let url = format!("{}/{bucket}", endpoint.trim_end_matches('/'));
    let response = agent()
        .put(&url)
        .header("Authorization", S3_AUTHORIZATION)
        .send_empty()
        .unwrap_or_else(|e| panic!("PUT {url}: {e}"));
    let (status, body) = text(response);
    assert_eq!(status, 200, "create bucket {bucket}: {body}");
}

/// Puts an object.
pub fn put_object(endpoint: &str, bucket: &str, key: &str, bytes: &[u8]) {
    let url = object_url(endpoint, bucket, key);
    let response = agent()
        .put(&url)
        .header("Authorization", S3_AUTHORIZATION)
        .header("Content-Type", "application/octet-stream")
        .send(bytes)
        .unwrap_or_else(|e| panic!("PUT {url}: {e}"));
    let (status, body) = text(response);
    assert_eq!(status, 200, "put s3://{bucket}/{key}: {body}");
}

/// Gets an object: `None` if there is no such key.
pub fn get_object(endpoint: &str, bucket: &str, key: &str) -> Option<Vec<u8>> {
    let url = object_url(endpoint, bucket, key);
    let response = agent()
        .get(&url)
        .header("Authorization", S3_AUTHORIZATION)
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    match response.status().as_u16() {
        200 => Some(
            response
                .into_body()
                .with_config()
                .limit(u64::MAX)
                .read_to_vec()
                .unwrap_or_else(|e| panic!("GET {url}: {e}")),
        ),
        404 => None,
        _ => {
            let (status, body) = text(response);
            panic!("get s3://{bucket}/{key}: {status} {body}")
        }
    }
}

/// Every object under `prefix` (recursively, no delimiter) as `(key, size)`,
/// in key order, following continuation tokens.
pub fn list_objects(endpoint: &str, bucket: &str, prefix: &str) -> Vec<(String, u64)> {
    list_objects_paged(endpoint, bucket, prefix, 1000)
}

/// [`list_objects`] asking for at most `max_keys` keys per page.
pub fn list_objects_paged(
    endpoint: &str,
    bucket: &str,
    prefix: &str,
    max_keys: u32,
) -> Vec<(String, u64)> {
    let mut objects = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut url = format!(
            "{}/{bucket}?list-type=2&max-keys={max_keys}&prefix={}",
            endpoint.trim_end_matches('/'),
            utf8_percent_encode(prefix, QUERY)
        );
        if let Some(token) = &token {
            url.push_str(&format!(
                "&continuation-token={}",
                utf8_percent_encode(token, QUERY)
            ));
        }
        let response = agent()
            .get(&url)
            .header("Authorization", S3_AUTHORIZATION)
            .call()
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let (status, xml) = text(response);
        assert_eq!(status, 200, "list s3://{bucket}/{prefix}: {xml}");
        for contents in elements(&xml, "Contents") {
            let key = elements(contents, "Key")
                .first()
                .map(|k| unescape(k))
                .expect("Contents without Key");
            let size = elements(contents, "Size")
                .first()
                .and_then(|s| s.trim().parse().ok())
                .expect("Contents without Size");
            objects.push((key, size));
        }
        let truncated = elements(&xml, "IsTruncated")
            .first()
            .is_some_and(|t| t.trim() == "true");
        token = elements(&xml, "NextContinuationToken")
            .first()
            .map(|t| unescape(t));
        if !truncated || token.is_none() {
            return objects;
        }
    }
}

/// The inner text of every `<tag>...</tag>` in `xml` (not nested in itself).
fn elements<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut found = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        found.push(&after[..end]);
        rest = &after[end + close.len()..];
    }
    found
}

/// Undoes XML escaping: the five named entities and numeric references.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let Some(semi) = rest.find(';') else { break };
        let entity = &rest[1..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|dec| dec.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_entities() {
        assert_eq!(
            unescape("a &amp; b &lt;c&gt; &#233;&#xE9; &bogus; &"),
            "a & b <c> éé &bogus; &"
        );
    }

    #[test]
    fn encodes_keys() {
        assert_eq!(
            object_url("http://h:1/", "b", "dir/a b+c é?#%.txt"),
            "http://h:1/b/dir/a%20b%2Bc%20%C3%A9%3F%23%25.txt"
        );
    }
}
