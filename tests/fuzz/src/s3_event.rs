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

use serde_json::Value;

use crate::lambda_events::{Delivery, Upload, parse};
use crate::samples::{
    eventbridge_event, object_created, sns_envelope, sns_event, sqs_event, sqs_record,
};

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

/// Every delivery shape of one upload, as the Lambda receives it.
pub fn shapes(bucket: &str, key: &str, size: u64) -> Vec<(Delivery, Value)> {
    let notification = object_created(bucket, key, size).to_string();
    let eventbridge = eventbridge_event("Object Created", bucket, key, size);
    let sqs = |body: &str| {
        sqs_event(vec![sqs_record(
            "059f36b4-87a3-44ab-83d2-661975830a7d",
            body,
        )])
    };
    vec![
        (Delivery::S3, object_created(bucket, key, size)),
        (Delivery::Sqs, sqs(&notification)),
        (Delivery::Sns, sns_event(&notification)),
        (Delivery::Sqs, sqs(&sns_envelope(&notification))),
        (Delivery::Sqs, sqs(&eventbridge.to_string())),
        (Delivery::EventBridge, eventbridge),
    ]
}
