//! The events through which an S3 upload reaches the Lambda, turned into the
//! list of uploaded objects they name.
//!
//! An upload arrives in one of four shapes:
//!
//! 1. a direct S3 event notification (`Records[].eventSource == "aws:s3"`);
//! 2. SQS messages (`Records[].eventSource == "aws:sqs"`) whose `body` is an
//!    S3 notification, an SNS envelope around one (SNS→SQS fan-out), or an
//!    EventBridge event (EventBridge→SQS); each message is parsed on its own,
//!    so one bad message does not fail the others;
//! 3. SNS (`Records[].EventSource == "aws:sns"`) whose `Sns.Message` is an S3
//!    notification;
//! 4. an EventBridge event (`"source": "aws.s3"`, `"detail-type": "Object Created"`).
//!
//! The `s3:TestEvent` message S3 sends when a notification is configured, and
//! events other than object creation (e.g. `ObjectRemoved:*`), name no upload:
//! they give zero uploads, not an error.
//!
//! Everything here is pure: no I/O, no AWS calls. What a key is to the
//! pipeline (a bag, a rosbag2 directory's `metadata.yaml`, a part of a
//! directory, or nothing) is the caller's decision; [`classify_key`] is the
//! rule it should use.

use extractor::container::is_bag_name;
use extractor::container::rosbag2::{METADATA_FILE, part_number};
use percent_encoding::percent_decode_str;
use serde_json::Value;

/// One uploaded object an event names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub bucket: String,
    /// The object key, URL-decoded.
    pub key: String,
    /// The size the event reports, if any.
    pub size: Option<u64>,
}

/// How the event reached the function; decides how failures are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    S3,
    Sqs,
    Sns,
    EventBridge,
}

/// One message of the event: for SQS one per SQS record (with its messageId),
/// otherwise one for the whole event (id None).
///
/// An SQS record without a `messageId` also has `id: None`; if its `uploads`
/// is an `Err`, it cannot be named in a partial batch failure answer, so the
/// handler has to fail the whole batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: Option<String>,
    pub uploads: Result<Vec<Upload>, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub delivery: Delivery,
    pub messages: Vec<Message>,
}

/// Parses an event; `Err` only when the event as a whole has none of the
/// four shapes (the message names what was seen, e.g. the top-level keys).
pub fn parse(event: &Value) -> Result<Parsed, String> {
    if !event.is_object() {
        return Err(format!(
            "unrecognised event: expected a JSON object, found {}",
            describe(event)
        ));
    }
    if let Some(records) = event.get("Records") {
        return parse_records(records);
    }
    if is_eventbridge(event) {
        return Ok(single(Delivery::EventBridge, eventbridge_uploads(event)));
    }
    if is_test_event(event) {
        // S3 only sends its test event to SQS and SNS, but should one reach
        // the function directly it still names no upload.
        return Ok(single(Delivery::S3, Ok(Vec::new())));
    }
    Err(format!(
        "unrecognised event: not an S3, SQS, SNS or EventBridge event; top-level keys: {}",
        keys(event)
    ))
}

/// `+` is a space, then percent-decoding (invalid sequences kept as they are).
///
/// S3 notifications encode keys as an HTML form would (`application/x-www-form-urlencoded`):
/// a space is `+`, a `+` is `%2B`, non-ASCII is UTF-8 bytes as `%XX`. A `%`
/// not followed by two hex digits stays literally. S3 keys are UTF-8, so the
/// decoded bytes always are in a genuine notification; if they are not, the
/// percent sequences are left undecoded rather than replaced by U+FFFD.
pub fn decode_key(raw: &str) -> String {
    let spaced = raw.replace('+', " ");
    match percent_decode_str(&spaced).decode_utf8() {
        Ok(decoded) => decoded.into_owned(),
        Err(_) => spaced,
    }
}

/// What an uploaded key is to the pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyKind {
    /// A bag file: `.bag`, `.mcap` or `.db3`, each optionally `.zstd`.
    Bag,
    /// The `metadata.yaml` of a rosbag2 directory: the directory (its
    /// prefix, ending in `/`) is the bag.
    Directory(String),
    /// A storage file named `<directory>_<N>.<ext>` inside that directory:
    /// part of a rosbag2 directory, run when its `metadata.yaml` arrives.
    Part,
    /// Anything else.
    Other,
}

/// Classifies an uploaded key, by its name alone. (A storage file beside
/// an existing `metadata.yaml` is also part of a directory; telling that
/// takes a look at the bucket, which the caller does.)
///
/// The bag-name rule is the CLI's: `run.bag` and `run.mcap.zstd` are bags;
/// `run.BAG`, `run.bag.gz`, a bare `.bag` and a "directory" key `run.bag/`
/// are not.
pub fn classify_key(key: &str) -> KeyKind {
    let (dir, name) = key.rsplit_once('/').unwrap_or(("", key));
    if name == METADATA_FILE {
        return KeyKind::Directory(format!("{dir}/").trim_start_matches('/').to_string());
    }
    if !is_bag_name(name) {
        return KeyKind::Other;
    }
    let dir_name = dir.rsplit('/').next().unwrap_or(dir);
    if !dir_name.is_empty() && part_number(dir_name, name).is_some() {
        return KeyKind::Part;
    }
    KeyKind::Bag
}

/// The event has a top-level `Records` array: S3, SQS or SNS, told apart by
/// the first record's event source.
fn parse_records(records: &Value) -> Result<Parsed, String> {
    let Some(records) = records.as_array() else {
        return Err(format!(
            "unrecognised event: Records is {}, expected an array",
            describe(records)
        ));
    };
    let Some(first) = records.first() else {
        return Err(
            "unrecognised event: Records is empty, so it says neither how it was delivered nor what was uploaded"
                .to_owned(),
        );
    };
    // S3 and SQS records spell it `eventSource`, SNS records `EventSource`.
    let source = first
        .get("eventSource")
        .or_else(|| first.get("EventSource"))
        .and_then(Value::as_str);
    match source {
        Some("aws:s3") => Ok(single(Delivery::S3, s3_records_uploads(records))),
        Some("aws:sqs") => Ok(Parsed {
            delivery: Delivery::Sqs,
            messages: records
                .iter()
                .enumerate()
                .map(|(index, record)| Message {
                    id: record
                        .get("messageId")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    uploads: sqs_record_uploads(index, record),
                })
                .collect(),
        }),
        Some("aws:sns") => Ok(single(Delivery::Sns, sns_records_uploads(records))),
        Some(other) => Err(format!(
            "unrecognised event: Records[0] has event source {other:?}, expected \"aws:s3\", \"aws:sqs\" or \"aws:sns\""
        )),
        None => Err(format!(
            "unrecognised event: Records[0] has no string eventSource or EventSource; its keys: {}",
            keys(first)
        )),
    }
}

/// The uploads of one SQS record, whose body is the JSON text of an S3
/// notification, an S3 test event, an SNS envelope or an EventBridge event.
fn sqs_record_uploads(index: usize, record: &Value) -> Result<Vec<Upload>, String> {
    let at = format!("Records[{index}]");
    let source = lookup_str(record, &at, &["eventSource"])?;
    if source != "aws:sqs" {
        return Err(format!(
            "{at}.eventSource is {source:?}, expected \"aws:sqs\" like Records[0]"
        ));
    }
    let body = lookup_str(record, &at, &["body"])?;
    let payload = parse_json(body, &format!("{at}.body"))?;
    payload_uploads(&payload, true).map_err(|error| format!("{at}.body: {error}"))
}

/// The uploads of SNS records, each with an S3 notification as `Sns.Message`.
fn sns_records_uploads(records: &[Value]) -> Result<Vec<Upload>, String> {
    let mut uploads = Vec::new();
    for (index, record) in records.iter().enumerate() {
        let at = format!("Records[{index}]");
        let source = lookup_str(record, &at, &["EventSource"])?;
        if source != "aws:sns" {
            return Err(format!(
                "{at}.EventSource is {source:?}, expected \"aws:sns\" like Records[0]"
            ));
        }
        let message = lookup_str(record, &at, &["Sns", "Message"])?;
        let payload = parse_json(message, &format!("{at}.Sns.Message"))?;
        let found = payload_uploads(&payload, false)
            .map_err(|error| format!("{at}.Sns.Message: {error}"))?;
        uploads.extend(found);
    }
    Ok(uploads)
}

/// The uploads of a message carried inside SQS or SNS. An SNS envelope is only
/// accepted when `sns_envelope_allowed` (inside SQS), and only one deep.
fn payload_uploads(payload: &Value, sns_envelope_allowed: bool) -> Result<Vec<Upload>, String> {
    if !payload.is_object() {
        return Err(format!(
            "expected a JSON object, found {}",
            describe(payload)
        ));
    }
    if payload.get("Records").is_some() {
        let records = lookup(payload, "", &["Records"])?;
        let records = records
            .as_array()
            .ok_or_else(|| format!("Records is {}, expected an array", describe(records)))?;
        return s3_records_uploads(records);
    }
    if is_test_event(payload) {
        return Ok(Vec::new());
    }
    if is_eventbridge(payload) {
        return eventbridge_uploads(payload);
    }
    if sns_envelope_allowed && payload.get("Type").and_then(Value::as_str) == Some("Notification") {
        let message = lookup_str(payload, "", &["Message"])?;
        let inner = parse_json(message, "Message")?;
        return payload_uploads(&inner, false).map_err(|error| format!("Message: {error}"));
    }
    let expected = if sns_envelope_allowed {
        "an S3 notification, an S3 test event, an SNS notification or an EventBridge event"
    } else {
        "an S3 notification, an S3 test event or an EventBridge event"
    };
    Err(format!("not {expected}; its keys: {}", keys(payload)))
}

/// The uploads of the records of an S3 notification: one per `ObjectCreated:*`
/// record, in order; other event names are skipped.
fn s3_records_uploads(records: &[Value]) -> Result<Vec<Upload>, String> {
    let mut uploads = Vec::new();
    for (index, record) in records.iter().enumerate() {
        let at = format!("Records[{index}]");
        let source = lookup_str(record, &at, &["eventSource"])?;
        if source != "aws:s3" {
            return Err(format!(
                "{at}.eventSource is {source:?}, expected \"aws:s3\""
            ));
        }
        let event_name = lookup_str(record, &at, &["eventName"])?;
        if !is_object_created(event_name) {
            continue;
        }
        let bucket = lookup_str(record, &at, &["s3", "bucket", "name"])?;
        let key = lookup_str(record, &at, &["s3", "object", "key"])?;
        let size = lookup_size(record, &at, &["s3", "object"])?;
        uploads.push(Upload {
            bucket: bucket.to_owned(),
            // S3 notifications URL-encode the key (form encoding, `+` for a
            // space): "The object key name value is URL encoded", per
            // https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html
            key: decode_key(key),
            size,
        });
    }
    Ok(uploads)
}

/// S3 notifications name events without the `s3:` prefix the notification
/// configuration uses (`ObjectCreated:Put`); the prefixed form is accepted too.
fn is_object_created(event_name: &str) -> bool {
    event_name
        .strip_prefix("s3:")
        .unwrap_or(event_name)
        .starts_with("ObjectCreated:")
}

/// The upload of an S3 EventBridge event: one for "Object Created", none for
/// the other detail types ("Object Deleted", "Object Restore Completed", ...).
fn eventbridge_uploads(event: &Value) -> Result<Vec<Upload>, String> {
    let source = lookup_str(event, "", &["source"])?;
    if source != "aws.s3" {
        return Err(format!(
            "EventBridge event from source {source:?}, expected \"aws.s3\""
        ));
    }
    let detail_type = lookup_str(event, "", &["detail-type"])?;
    if detail_type != "Object Created" {
        return Ok(Vec::new());
    }
    let bucket = lookup_str(event, "", &["detail", "bucket", "name"])?;
    let key = lookup_str(event, "", &["detail", "object", "key"])?;
    let size = lookup_size(event, "", &["detail", "object"])?;
    Ok(vec![Upload {
        bucket: bucket.to_owned(),
        // Not URL-decoded: EventBridge carries the key as it is. AWS documents
        // the URL encoding only for S3 event notifications
        // (notification-content-structure.html); its EventBridge page
        // (https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html)
        // says nothing of it. A real "Object Created" event (gist
        // vincentclaes/7a5eb53acc05b316c86769fed25d4e1a) shows the key
        // "raw/health-check/2023-08-08T14:03:40.532432.zip" with its colons
        // raw, where an S3 notification sends ":" as "%3A" (aws/aws-sdk-js#837);
        // and aws-solutions-library-samples/guidance-for-medialake-on-aws#21
        // fixed keys such as "test+b.png" by no longer decoding EventBridge
        // keys while keeping unquote_plus for S3 notifications. Decoding here
        // would turn a real "+" into a space and a literal "%2B" into "+".
        key: key.to_owned(),
        size,
    }])
}

/// An EventBridge event has `source` and `detail-type` at the top level.
fn is_eventbridge(value: &Value) -> bool {
    value.get("source").is_some() && value.get("detail-type").is_some()
}

/// `{"Service":"Amazon S3","Event":"s3:TestEvent",...}`, sent by S3 when a
/// notification to SQS or SNS is configured.
fn is_test_event(value: &Value) -> bool {
    value.get("Event").and_then(Value::as_str) == Some("s3:TestEvent")
}

fn single(delivery: Delivery, uploads: Result<Vec<Upload>, String>) -> Parsed {
    Parsed {
        delivery,
        messages: vec![Message { id: None, uploads }],
    }
}

fn parse_json(text: &str, at: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|error| format!("{at} is not valid JSON ({error})"))
}

/// Follows `path` from `value`, which sits at `at` in the event ("" for the
/// top); errors name the full path of the field that is missing or not an object.
fn lookup<'a>(value: &'a Value, at: &str, path: &[&str]) -> Result<&'a Value, String> {
    let mut current = value;
    let mut here = at.to_owned();
    for name in path {
        let Some(fields) = current.as_object() else {
            let here = if here.is_empty() {
                "the message"
            } else {
                &here
            };
            return Err(format!(
                "{here} is {}, expected an object",
                describe(current)
            ));
        };
        here = join(&here, name);
        current = fields
            .get(*name)
            .ok_or_else(|| format!("{here} is missing"))?;
    }
    Ok(current)
}

fn lookup_str<'a>(value: &'a Value, at: &str, path: &[&str]) -> Result<&'a str, String> {
    let found = lookup(value, at, path)?;
    found.as_str().ok_or_else(|| {
        format!(
            "{} is {}, expected a string",
            join(at, &path.join(".")),
            describe(found)
        )
    })
}

/// The optional `size` of the object at `object_path`: absent or null is
/// `None`; anything but a non-negative integer is an error.
fn lookup_size(value: &Value, at: &str, object_path: &[&str]) -> Result<Option<u64>, String> {
    let object = lookup(value, at, object_path)?;
    match object.get("size") {
        None | Some(Value::Null) => Ok(None),
        Some(size) => size.as_u64().map(Some).ok_or_else(|| {
            format!(
                "{}.size is {}, expected a non-negative integer",
                join(at, &object_path.join(".")),
                describe(size)
            )
        }),
    }
}

fn join(at: &str, name: &str) -> String {
    if at.is_empty() {
        name.to_owned()
    } else {
        format!("{at}.{name}")
    }
}

/// A short description of a JSON value for error messages.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) if s.chars().count() > 40 => {
            let start: String = s.chars().take(40).collect();
            format!("the string {start:?}...")
        }
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(items) => format!("an array of {} items", items.len()),
        Value::Object(_) => "an object".to_owned(),
    }
}

/// The keys of a JSON object, sorted, as `[a, b, c]`, for error messages
/// (sorted here so the text does not depend on serde_json's `preserve_order`).
fn keys(value: &Value) -> String {
    match value.as_object() {
        Some(fields) => {
            let mut names: Vec<&str> = fields.keys().map(String::as_str).collect();
            names.sort_unstable();
            format!("[{}]", names.join(", "))
        }
        None => describe(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samples::*;
    use serde_json::json;

    fn upload(bucket: &str, key: &str, size: Option<u64>) -> Upload {
        Upload {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            size,
        }
    }

    /// The uploads of the single message of a non-SQS event.
    fn only_message(parsed: &Parsed) -> &Result<Vec<Upload>, String> {
        assert_eq!(parsed.messages.len(), 1, "{parsed:?}");
        assert_eq!(parsed.messages[0].id, None);
        &parsed.messages[0].uploads
    }

    fn error_of(uploads: &Result<Vec<Upload>, String>) -> &str {
        match uploads {
            Ok(found) => panic!("expected an error, got uploads {found:?}"),
            Err(error) => error,
        }
    }

    // ---- direct S3 notifications ----

    #[test]
    fn s3_documented_sample_gives_its_object() {
        // The Lambda documentation's sample, verbatim in its fields.
        let event = json!({
            "Records": [{
                "eventVersion": "2.0",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": "1970-01-01T00:00:00.000Z",
                "eventName": "ObjectCreated:Put",
                "userIdentity": { "principalId": "EXAMPLE" },
                "requestParameters": { "sourceIPAddress": "127.0.0.1" },
                "responseElements": {
                    "x-amz-request-id": "EXAMPLE123456789",
                    "x-amz-id-2": "EXAMPLE123/5678abcdefghijklambdaisawesome/mnopqrstuvwxyzABCDEFGH"
                },
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "testConfigRule",
                    "bucket": {
                        "name": "example-bucket",
                        "ownerIdentity": { "principalId": "EXAMPLE" },
                        "arn": "arn:aws:s3:::example-bucket"
                    },
                    "object": {
                        "key": "test%2Fkey",
                        "size": 1024,
                        "eTag": "0123456789abcdef0123456789abcdef",
                        "sequencer": "0A1B2C3D4E5F678901"
                    }
                }
            }]
        });
        let parsed = parse(&event).unwrap();
        assert_eq!(parsed.delivery, Delivery::S3);
        assert_eq!(
            only_message(&parsed),
            &Ok(vec![upload("example-bucket", "test/key", Some(1024))])
        );
    }

    #[test]
    fn s3_keys_with_spaces_plus_and_unicode_are_decoded() {
        let event = s3_notification(vec![
            s3_record("ObjectCreated:Put", "raw", "drive+4/run%2B1.bag", Some(7)),
            s3_record(
                "ObjectCreated:Put",
                "raw",
                "caf%C3%A9/m%C3%BCnchen+%E2%9C%93.bag",
                Some(8),
            ),
        ]);
        let parsed = parse(&event).unwrap();
        assert_eq!(
            only_message(&parsed),
            &Ok(vec![
                upload("raw", "drive 4/run+1.bag", Some(7)),
                upload("raw", "café/münchen ✓.bag", Some(8)),
            ])
        );
    }

    #[test]
    fn s3_notification_with_several_records_keeps_them_all_in_order() {
        let event = s3_notification(vec![
            s3_record("ObjectCreated:Put", "raw", "a.bag", Some(1)),
            s3_record(
                "ObjectCreated:CompleteMultipartUpload",
                "raw",
                "b.bag",
                Some(2),
            ),
            s3_record("ObjectCreated:Copy", "other", "notes.txt", Some(3)),
        ]);
        let parsed = parse(&event).unwrap();
        assert_eq!(parsed.delivery, Delivery::S3);
        assert_eq!(
            only_message(&parsed),
            &Ok(vec![
                upload("raw", "a.bag", Some(1)),
                upload("raw", "b.bag", Some(2)),
                // Not a bag, but filtering is the caller's business.
                upload("other", "notes.txt", Some(3)),
            ])
        );
    }

    #[test]
    fn s3_object_removed_gives_no_upload() {
        let event = s3_notification(vec![s3_record(
            "ObjectRemoved:Delete",
            "raw",
            "a.bag",
            None,
        )]);
        let parsed = parse(&event).unwrap();
        assert_eq!(parsed.delivery, Delivery::S3);
        assert_eq!(only_message(&parsed), &Ok(vec![]));
    }

    #[test]
    fn s3_only_created_records_among_others_are_uploads() {
        let event = s3_notification(vec![
            s3_record("ObjectRemoved:DeleteMarkerCreated", "raw", "old.bag", None),
            s3_record("ObjectCreated:Post", "raw", "new.bag", Some(10)),
            s3_record("ObjectRestore:Completed", "raw", "cold.bag", Some(11)),
            s3_record("s3:ObjectCreated:Put", "raw", "prefixed.bag", Some(12)),
        ]);
        let parsed = parse(&event).unwrap();
        assert_eq!(
            only_message(&parsed),
            &Ok(vec![
                upload("raw", "new.bag", Some(10)),
                upload("raw", "prefixed.bag", Some(12)),
            ])
        );
    }

    #[test]
    fn s3_size_absent_or_null_is_none_and_a_bad_size_is_an_error() {
        let mut no_size = s3_record("ObjectCreated:Put", "raw", "a.bag", None);
        let mut null_size = s3_record("ObjectCreated:Put", "raw", "b.bag", None);
        null_size["s3"]["object"]["size"] = Value::Null;
        let parsed = parse(&s3_notification(vec![no_size.clone(), null_size])).unwrap();
        assert_eq!(
            only_message(&parsed),
            &Ok(vec![
                upload("raw", "a.bag", None),
                upload("raw", "b.bag", None)
            ])
        );

        no_size["s3"]["object"]["size"] = json!("1024");
        let parsed = parse(&s3_notification(vec![no_size])).unwrap();
        assert_eq!(
            error_of(only_message(&parsed)),
            "Records[0].s3.object.size is the string \"1024\", expected a non-negative integer"
        );
    }

    #[test]
    fn s3_record_missing_its_key_fails_the_message_naming_the_record() {
        let mut broken = s3_record("ObjectCreated:Put", "raw", "b.bag", Some(2));
        broken["s3"]["object"]
            .as_object_mut()
            .unwrap()
            .remove("key");
        let event = s3_notification(vec![
            s3_record("ObjectCreated:Put", "raw", "a.bag", Some(1)),
            broken,
        ]);
        let parsed = parse(&event).unwrap();
        assert_eq!(parsed.delivery, Delivery::S3);
        assert_eq!(
            error_of(only_message(&parsed)),
            "Records[1].s3.object.key is missing"
        );
    }

    #[test]
    fn s3_record_with_wrong_types_names_the_field() {
        let mut record = s3_record("ObjectCreated:Put", "raw", "a.bag", Some(1));
        record["s3"]["bucket"] = json!("raw");
        let parsed = parse(&s3_notification(vec![record])).unwrap();
        assert_eq!(
            error_of(only_message(&parsed)),
            "Records[0].s3.bucket is the string \"raw\", expected an object"
        );

        let mut record = s3_record("ObjectCreated:Put", "raw", "a.bag", Some(1));
        record["eventName"] = json!(5);
        let parsed = parse(&s3_notification(vec![record])).unwrap();
        assert_eq!(
            error_of(only_message(&parsed)),
            "Records[0].eventName is the number 5, expected a string"
        );
    }

    #[test]
    fn top_level_test_event_gives_no_upload() {
        let parsed = parse(&test_event()).unwrap();
        assert_eq!(parsed.delivery, Delivery::S3);
        assert_eq!(only_message(&parsed), &Ok(vec![]));
    }

    // ---- SQS ----

    #[test]
    fn sqs_message_with_an_s3_notification_body() {
        let body = s3_notification(vec![s3_record(
            "ObjectCreated:Put",
            "raw",
            "drive+4/run%2B1.bag",
            Some(4096),
        )])
        .to_string();
        let event = sqs_event(vec![sqs_record(
            "059f36b4-87a3-44ab-83d2-661975830a7d",
            &body,
        )]);
        let parsed = parse(&event).unwrap();
        assert_eq!(parsed.delivery, Delivery::Sqs);
        assert_eq!(
            parsed.messages,
            vec![Message {
                id: Some("059f36b4-87a3-44ab-83d2-661975830a7d".to_owned()),
                uploads: Ok(vec![upload("raw", "drive 4/run+1.bag", Some(4096))]),
            }]
        );
    }

    #[test]
    fn sqs_batch_with_one_malformed_body_keeps_the_good_messages() {
        let good = |key: &str| {
            s3_notification(vec![s3_record("ObjectCreated:Put", "raw", key, Some(1))]).to_string()
        };
        let event = sqs_event(vec![
            sqs_record("m-1", &good("a.bag")),
            sqs_record("m-2", "{\"Records\": [ this is not json"),
            sqs_record("m-3", &good("c.bag")),
        ]);
        let parsed = parse(&event).unwrap();
        assert_eq!(parsed.delivery, Delivery::Sqs);
        assert_eq!(parsed.messages.len(), 3);

        assert_eq!(parsed.messages[0].id.as_deref(), Some("m-1"));
        assert_eq!(
            parsed.messages[0].uploads,
            Ok(vec![upload("raw", "a.bag", Some(1))])
        );

        assert_eq!(parsed.messages[1].id.as_deref(), Some("m-2"));
        let error = error_of(&parsed.messages[1].uploads);
        assert!(
            error.starts_with("Records[1].body is not valid JSON ("),
            "{error}"
        );

        assert_eq!(parsed.messages[2].id.as_deref(), Some("m-3"));
        assert_eq!(
            parsed.messages[2].uploads,
            Ok(vec![upload("raw", "c.bag", Some(1))])
        );
    }

    #[test]
    fn sqs_body_of_an_unknown_shape_is_an_error_for_that_message_only() {
        let event = sqs_event(vec![
            sqs_record("m-1", r#"{"hello": "world", "n": 1}"#),
            sqs_record("m-2", "42"),
            sqs_record("m-3", &test_event().to_string()),
        ]);
        let parsed = parse(&event).unwrap();
        assert_eq!(
            error_of(&parsed.messages[0].uploads),
            "Records[0].body: not an S3 notification, an S3 test event, an SNS notification \
             or an EventBridge event; its keys: [hello, n]"
        );
        assert_eq!(
            error_of(&parsed.messages[1].uploads),
            "Records[1].body: expected a JSON object, found the number 42"
        );
        assert_eq!(parsed.messages[2].uploads, Ok(vec![]));
    }

    #[test]
    fn sqs_body_with_a_bad_s3_record_names_the_record_inside_the_body() {
        let mut record = s3_record("ObjectCreated:Put", "raw", "a.bag", Some(1));
        record["s3"]["bucket"]
            .as_object_mut()
            .unwrap()
            .remove("name");
        let body = s3_notification(vec![record]).to_string();
        let parsed = parse(&sqs_event(vec![sqs_record("m-1", &body)])).unwrap();
        assert_eq!(parsed.messages[0].id.as_deref(), Some("m-1"));
        assert_eq!(
            error_of(&parsed.messages[0].uploads),
            "Records[0].body: Records[0].s3.bucket.name is missing"
        );
    }

    #[test]
    fn sqs_test_event_gives_no_upload() {
        let event = sqs_event(vec![sqs_record("m-1", &test_event().to_string())]);
        let parsed = parse(&event).unwrap();
        assert_eq!(parsed.delivery, Delivery::Sqs);
        assert_eq!(
            parsed.messages,
            vec![Message {
                id: Some("m-1".to_owned()),
                uploads: Ok(vec![])
            }]
        );
    }

    #[test]
    fn sqs_object_removed_gives_no_upload() {
        let body = s3_notification(vec![s3_record(
            "ObjectRemoved:Delete",
            "raw",
            "a.bag",
            None,
        )])
        .to_string();
        let parsed = parse(&sqs_event(vec![sqs_record("m-1", &body)])).unwrap();
        assert_eq!(parsed.messages[0].uploads, Ok(vec![]));
    }

    #[test]
    fn sqs_with_sns_envelope_fan_out() {
        let notification = s3_notification(vec![
            s3_record(
                "ObjectCreated:Put",
                "raw",
                "fleet/drive+7/%C3%A9t%C3%A9.bag",
                Some(5),
            ),
            s3_record("ObjectCreated:Put", "raw", "fleet/c%2B%2B.bag", Some(6)),
        ])
        .to_string();
        let event = sqs_event(vec![
            sqs_record("m-1", &sns_envelope(&notification)),
            sqs_record("m-2", &sns_envelope(&test_event().to_string())),
            sqs_record("m-3", &sns_envelope("not json at all")),
        ]);
        let parsed = parse(&event).unwrap();
        assert_eq!(parsed.delivery, Delivery::Sqs);
        assert_eq!(
            parsed.messages[0].uploads,
            Ok(vec![
                upload("raw", "fleet/drive 7/été.bag", Some(5)),
                upload("raw", "fleet/c++.bag", Some(6)),
            ])
        );
        assert_eq!(parsed.messages[1].uploads, Ok(vec![]));
        assert_eq!(parsed.messages[2].id.as_deref(), Some("m-3"));
        let error = error_of(&parsed.messages[2].uploads);
        assert!(
            error.starts_with("Records[2].body: Message is not valid JSON ("),
            "{error}"
        );
    }

    #[test]
    fn sns_envelope_inside_an_sns_envelope_is_rejected() {
        let inner = sns_envelope(&test_event().to_string());
        let event = sqs_event(vec![sqs_record("m-1", &sns_envelope(&inner))]);
        let parsed = parse(&event).unwrap();
        let error = error_of(&parsed.messages[0].uploads);
        assert!(
            error.starts_with(
                "Records[0].body: Message: not an S3 notification, an S3 test event or an EventBridge event"
            ),
            "{error}"
        );
    }

    #[test]
    fn sqs_with_eventbridge_body_keeps_the_key_as_it_is() {
        let body = eventbridge_event("Object Created", "raw", "drive 4/run+1.bag", 99).to_string();
        let parsed = parse(&sqs_event(vec![sqs_record("m-1", &body)])).unwrap();
        assert_eq!(parsed.delivery, Delivery::Sqs);
        assert_eq!(
            parsed.messages[0].uploads,
            Ok(vec![upload("raw", "drive 4/run+1.bag", Some(99))])
        );
    }

    #[test]
    fn sqs_record_without_message_id_still_parses_with_id_none() {
        let body = s3_notification(vec![s3_record(
            "ObjectCreated:Put",
            "raw",
            "a.bag",
            Some(1),
        )])
        .to_string();
        let mut record = sqs_record("unused", &body);
        record.as_object_mut().unwrap().remove("messageId");
        let parsed = parse(&sqs_event(vec![record])).unwrap();
        assert_eq!(
            parsed.messages,
            vec![Message {
                id: None,
                uploads: Ok(vec![upload("raw", "a.bag", Some(1))])
            }]
        );
    }

    #[test]
    fn sqs_record_without_body_or_from_another_source_fails_alone() {
        let good = s3_notification(vec![s3_record(
            "ObjectCreated:Put",
            "raw",
            "a.bag",
            Some(1),
        )])
        .to_string();
        let mut no_body = sqs_record("m-2", "");
        no_body.as_object_mut().unwrap().remove("body");
        let mut foreign = sqs_record("m-3", &good);
        foreign["eventSource"] = json!("aws:kinesis");
        let parsed = parse(&sqs_event(vec![sqs_record("m-1", &good), no_body, foreign])).unwrap();
        assert_eq!(
            parsed.messages[0].uploads,
            Ok(vec![upload("raw", "a.bag", Some(1))])
        );
        assert_eq!(
            error_of(&parsed.messages[1].uploads),
            "Records[1].body is missing"
        );
        assert_eq!(
            error_of(&parsed.messages[2].uploads),
            "Records[2].eventSource is \"aws:kinesis\", expected \"aws:sqs\" like Records[0]"
        );
        assert_eq!(parsed.messages[2].id.as_deref(), Some("m-3"));
    }

    // ---- SNS ----

    #[test]
    fn sns_with_an_s3_notification_message() {
        let notification = s3_notification(vec![s3_record(
            "ObjectCreated:Put",
            "raw",
            "drive+4/run%2B1.bag",
            Some(123),
        )])
        .to_string();
        let parsed = parse(&sns_event(&notification)).unwrap();
        assert_eq!(parsed.delivery, Delivery::Sns);
        assert_eq!(
            only_message(&parsed),
            &Ok(vec![upload("raw", "drive 4/run+1.bag", Some(123))])
        );
    }

    #[test]
    fn sns_test_event_gives_no_upload() {
        let parsed = parse(&sns_event(&test_event().to_string())).unwrap();
        assert_eq!(parsed.delivery, Delivery::Sns);
        assert_eq!(only_message(&parsed), &Ok(vec![]));
    }

    #[test]
    fn sns_documented_hello_message_is_an_error_for_the_message() {
        // The Lambda documentation's SNS sample carries "Hello from SNS!".
        let parsed = parse(&sns_event("Hello from SNS!")).unwrap();
        assert_eq!(parsed.delivery, Delivery::Sns);
        let error = error_of(only_message(&parsed));
        assert!(
            error.starts_with("Records[0].Sns.Message is not valid JSON ("),
            "{error}"
        );
    }

    // ---- EventBridge ----

    #[test]
    fn eventbridge_documented_object_created_sample() {
        let event = eventbridge_event("Object Created", "amzn-s3-demo-bucket1", "example-key", 5);
        let parsed = parse(&event).unwrap();
        assert_eq!(parsed.delivery, Delivery::EventBridge);
        assert_eq!(
            only_message(&parsed),
            &Ok(vec![upload("amzn-s3-demo-bucket1", "example-key", Some(5))])
        );
    }

    #[test]
    fn eventbridge_key_is_not_url_decoded() {
        // EventBridge carries the real key: `+` and `%2B` are literal here.
        let event = eventbridge_event("Object Created", "raw", "drive 4/run+1%2B é.bag", 5);
        let parsed = parse(&event).unwrap();
        assert_eq!(
            only_message(&parsed),
            &Ok(vec![upload("raw", "drive 4/run+1%2B é.bag", Some(5))])
        );
    }

    #[test]
    fn eventbridge_other_detail_types_give_no_upload() {
        for detail_type in [
            "Object Deleted",
            "Object Restore Completed",
            "Object Tags Added",
        ] {
            let parsed = parse(&eventbridge_event(detail_type, "raw", "a.bag", 5)).unwrap();
            assert_eq!(parsed.delivery, Delivery::EventBridge);
            assert_eq!(only_message(&parsed), &Ok(vec![]), "{detail_type}");
        }
    }

    #[test]
    fn eventbridge_from_another_source_is_an_error() {
        let event = json!({
            "version": "0",
            "id": "7bf73129-1428-4cd3-a780-95db273d1602",
            "detail-type": "EC2 Instance State-change Notification",
            "source": "aws.ec2",
            "account": "123456789012",
            "time": "2015-11-11T21:29:54Z",
            "region": "us-east-1",
            "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],
            "detail": { "instance-id": "i-abcd1111", "state": "pending" }
        });
        let parsed = parse(&event).unwrap();
        assert_eq!(parsed.delivery, Delivery::EventBridge);
        assert_eq!(
            error_of(only_message(&parsed)),
            "EventBridge event from source \"aws.ec2\", expected \"aws.s3\""
        );
    }

    #[test]
    fn eventbridge_missing_fields_are_named() {
        let mut event = eventbridge_event("Object Created", "raw", "a.bag", 5);
        event["detail"]["bucket"]
            .as_object_mut()
            .unwrap()
            .remove("name");
        let parsed = parse(&event).unwrap();
        assert_eq!(
            error_of(only_message(&parsed)),
            "detail.bucket.name is missing"
        );

        let mut event = eventbridge_event("Object Created", "raw", "a.bag", 5);
        event["detail"]["object"]["size"] = json!(-5);
        let parsed = parse(&event).unwrap();
        assert_eq!(
            error_of(only_message(&parsed)),
            "detail.object.size is the number -5, expected a non-negative integer"
        );

        let mut event = eventbridge_event("Object Created", "raw", "a.bag", 5);
        event.as_object_mut().unwrap().remove("detail");
        let parsed = parse(&event).unwrap();
        assert_eq!(error_of(only_message(&parsed)), "detail is missing");
    }

    // ---- not one of the four shapes ----

    #[test]
    fn unknown_event_is_an_error_naming_its_top_level_keys() {
        let event = json!({ "httpMethod": "GET", "path": "/", "body": null });
        let error = parse(&event).unwrap_err();
        assert_eq!(
            error,
            "unrecognised event: not an S3, SQS, SNS or EventBridge event; \
             top-level keys: [body, httpMethod, path]"
        );
    }

    #[test]
    fn non_object_events_are_errors() {
        assert_eq!(
            parse(&json!([1, 2])).unwrap_err(),
            "unrecognised event: expected a JSON object, found an array of 2 items"
        );
        assert_eq!(
            parse(&json!("s3://raw/a.bag")).unwrap_err(),
            "unrecognised event: expected a JSON object, found the string \"s3://raw/a.bag\""
        );
    }

    #[test]
    fn records_of_an_unknown_source_are_an_error_naming_it() {
        let event = json!({
            "Records": [{
                "eventSource": "aws:kinesis",
                "eventID": "shardId-000000000006:49590338271490256608559692538361571095921575989136588898",
                "kinesis": { "data": "SGVsbG8=" }
            }]
        });
        assert_eq!(
            parse(&event).unwrap_err(),
            "unrecognised event: Records[0] has event source \"aws:kinesis\", \
             expected \"aws:s3\", \"aws:sqs\" or \"aws:sns\""
        );

        let event = json!({ "Records": [{ "foo": 1 }] });
        assert_eq!(
            parse(&event).unwrap_err(),
            "unrecognised event: Records[0] has no string eventSource or EventSource; its keys: [foo]"
        );
    }

    #[test]
    fn empty_or_non_array_records_are_errors() {
        let error = parse(&json!({ "Records": [] })).unwrap_err();
        assert!(
            error.starts_with("unrecognised event: Records is empty"),
            "{error}"
        );
        assert_eq!(
            parse(&json!({ "Records": {} })).unwrap_err(),
            "unrecognised event: Records is an object, expected an array"
        );
    }

    // ---- decode_key ----

    #[test]
    fn decode_key_turns_plus_into_space_then_percent_decodes() {
        assert_eq!(decode_key("drive+4/run%2B1.bag"), "drive 4/run+1.bag");
        assert_eq!(decode_key("caf%C3%A9.bag"), "café.bag");
        assert_eq!(decode_key("%E2%9C%93+%F0%9F%9A%97.bag"), "✓ 🚗.bag");
        assert_eq!(decode_key("a%20b%3A00%2Fc"), "a b:00/c");
        assert_eq!(decode_key("plain/key-1_2.bag"), "plain/key-1_2.bag");
        assert_eq!(decode_key("%2B%2B+"), "++ ");
        assert_eq!(decode_key(""), "");
    }

    #[test]
    fn decode_key_keeps_invalid_sequences_literally() {
        assert_eq!(decode_key("100%"), "100%");
        assert_eq!(decode_key("a%zzb"), "a%zzb");
        assert_eq!(decode_key("a%4"), "a%4");
        assert_eq!(decode_key("50%+off%21"), "50% off!");
        // Bytes that are not UTF-8 once decoded: sequences left undecoded,
        // `+` still a space.
        assert_eq!(decode_key("bad%FF+%41.bag"), "bad%FF %41.bag");
    }

    // ---- classify_key ----

    #[test]
    fn classify_key_follows_the_cli_rules() {
        for bag in [
            "run.bag",
            "drive 4/run+1.bag",
            "a/b/c/été.bag",
            "a/..bag",
            "x.mcap",
            "x.db3.zstd",
            "d/other_3.mcap",
        ] {
            assert_eq!(classify_key(bag), KeyKind::Bag, "{bag}");
        }
        for other in [
            "run.BAG",
            "run.Bag",
            "run.bag.gz",
            "run.bagx",
            "runbag",
            ".bag",
            "dir/.bag",
            "run.bag/",
            "",
            "x.zstd",
            "d/metadata.yml",
        ] {
            assert_eq!(classify_key(other), KeyKind::Other, "{other}");
        }
        assert_eq!(
            classify_key("drives/run_7/metadata.yaml"),
            KeyKind::Directory("drives/run_7/".into())
        );
        assert_eq!(
            classify_key("metadata.yaml"),
            KeyKind::Directory(String::new())
        );
        assert_eq!(classify_key("drives/run_7/run_7_0.mcap"), KeyKind::Part);
        assert_eq!(
            classify_key("drives/run_7/run_7_12.db3.zstd"),
            KeyKind::Part
        );
    }
}
