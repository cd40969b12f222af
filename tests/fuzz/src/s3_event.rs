//! Target `s3_event`: the Lambda's event parser (`lambda/src/events.rs`).
//!
//! Input: any bytes, used twice: as a JSON event, and as an object key.
//!
//! Properties: any JSON value parses to uploads or to an error, never a
//! panic, with one message per SQS record (so a failure can be answered
//! for each) and one for every other shape; a key, whatever its
//! characters, comes out exactly as uploaded from each delivery shape: an
//! S3 notification (key form-encoded, as S3 sends it), the same inside SQS,
//! inside SNS, inside SNS inside SQS, and EventBridge (key as it is).

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

use crate::lambda_events::{Delivery, Upload, parse};

pub fn check(input: &[u8]) {
    if let Ok(event) = serde_json::from_slice::<Value>(input)
        && let Ok(parsed) = parse(&event)
    {
        let expected = match parsed.delivery {
            Delivery::Sqs => event["Records"].as_array().map_or(0, Vec::len),
            _ => 1,
        };
        assert_eq!(parsed.messages.len(), expected, "{:?}", parsed.delivery);
    }
    let key = String::from_utf8_lossy(input).into_owned();
    let expected = Upload {
        bucket: "ingest-bucket".to_string(),
        key: key.clone(),
        size: Some(input.len() as u64),
    };
    for (delivery, event) in shapes("ingest-bucket", &key, input.len() as u64) {
        let parsed = parse(&event).unwrap_or_else(|e| panic!("{delivery:?}: {e}"));
        assert_eq!(parsed.delivery, delivery);
        let uploads: Vec<&Upload> = parsed
            .messages
            .iter()
            .flat_map(|m| m.uploads.as_ref().expect("uploads"))
            .collect();
        assert_eq!(uploads, [&expected], "{delivery:?} lost the key {key:?}");
    }
}

/// A key as S3 notifications send it: `application/x-www-form-urlencoded`.
pub fn form_encode(key: &str) -> String {
    utf8_percent_encode(key, NON_ALPHANUMERIC)
        .to_string()
        .replace("%20", "+")
}

/// The S3 notification of one upload, its key form-encoded.
pub fn s3_notification(bucket: &str, key: &str, size: u64) -> Value {
    json!({"Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "eu-west-1",
        "eventTime": "2026-11-22T10:00:00.000Z",
        "eventName": "ObjectCreated:Put",
        "s3": {
            "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
            "object": {"key": form_encode(key), "size": size, "eTag": "0123456789abcdef"}
        }
    }]})
}

/// The EventBridge "Object Created" event of one upload (key as it is).
pub fn eventbridge(bucket: &str, key: &str, size: u64) -> Value {
    json!({
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2026-11-22T10:00:00Z",
        "region": "eu-west-1",
        "resources": [format!("arn:aws:s3:::{bucket}")],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": key, "size": size, "etag": "0123456789abcdef"},
            "reason": "PutObject"
        }
    })
}

fn sns_envelope(message: &Value) -> Value {
    json!({
        "Type": "Notification",
        "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
        "TopicArn": "arn:aws:sns:eu-west-1:123456789012:uploads",
        "Message": message.to_string(),
    })
}

fn sqs(body: &Value) -> Value {
    json!({"Records": [{
        "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
        "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
        "body": body.to_string(),
        "attributes": {"ApproximateReceiveCount": "1"},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:uploads",
        "awsRegion": "eu-west-1"
    }]})
}

fn sns(message: &Value) -> Value {
    json!({"Records": [{
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "Sns": sns_envelope(message)
    }]})
}

/// Every delivery shape of one upload, as the Lambda receives it.
pub fn shapes(bucket: &str, key: &str, size: u64) -> Vec<(Delivery, Value)> {
    let notification = s3_notification(bucket, key, size);
    vec![
        (Delivery::S3, notification.clone()),
        (Delivery::Sqs, sqs(&notification)),
        (Delivery::Sns, sns(&notification)),
        (Delivery::Sqs, sqs(&sns_envelope(&notification))),
        (Delivery::EventBridge, eventbridge(bucket, key, size)),
        (Delivery::Sqs, sqs(&eventbridge(bucket, key, size))),
    ]
}
