//! Upload events as AWS delivers them to the Lambda, after AWS's documented
//! samples: an S3 notification, an SQS record, an SNS envelope and event,
//! an EventBridge event, S3's test event. Parameterised by what a test
//! varies (event name, bucket, key, size, message id, body).
//!
//! For tests: the parser's unit tests ([`crate::events`]), the real
//! runtime loop (`lambda/tests/runtime.rs`) and the `s3_event` fuzz
//! property (`tests/fuzz`, which includes this file by path, as it does
//! `events.rs`); so it depends on nothing but serde_json and
//! percent-encoding.

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

/// A key as S3 notifications carry it (`application/x-www-form-urlencoded`:
/// a space is `+`, every other non-alphanumeric byte `%XX`).
pub fn form_encode(key: &str) -> String {
    utf8_percent_encode(key, NON_ALPHANUMERIC)
        .to_string()
        .replace("%20", "+")
}

/// The S3 notification of one `ObjectCreated:Put`, the key form-encoded.
pub fn object_created(bucket: &str, key: &str, size: u64) -> Value {
    s3_notification(vec![s3_record(
        "ObjectCreated:Put",
        bucket,
        &form_encode(key),
        Some(size),
    )])
}

/// One record of an S3 event notification, as in the sample of
/// https://docs.aws.amazon.com/lambda/latest/dg/with-s3.html
/// (`size` is left out when `None`, as S3 does for removals).
pub fn s3_record(event_name: &str, bucket: &str, key: &str, size: Option<u64>) -> Value {
    let mut object = json!({
        "key": key,
        "eTag": "0123456789abcdef0123456789abcdef",
        "sequencer": "0A1B2C3D4E5F678901"
    });
    if let Some(size) = size {
        object["size"] = json!(size);
    }
    json!({
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": "2024-05-01T12:00:00.000Z",
        "eventName": event_name,
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
                "name": bucket,
                "ownerIdentity": { "principalId": "EXAMPLE" },
                "arn": format!("arn:aws:s3:::{bucket}")
            },
            "object": object
        }
    })
}

/// An S3 event notification of these records.
pub fn s3_notification(records: Vec<Value>) -> Value {
    json!({ "Records": records })
}

/// One SQS record, as in the sample of
/// https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html
pub fn sqs_record(message_id: &str, body: &str) -> Value {
    json!({
        "messageId": message_id,
        "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1545082649183",
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": "1545082649185"
        },
        "messageAttributes": {},
        "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-2:123456789012:bag-uploads",
        "awsRegion": "us-east-2"
    })
}

/// An SQS event: a batch of these records.
pub fn sqs_event(records: Vec<Value>) -> Value {
    json!({ "Records": records })
}

/// The SNS envelope an SQS queue subscribed to a topic receives as body
/// (raw message delivery off).
pub fn sns_envelope(message: &str) -> String {
    json!({
        "Type": "Notification",
        "MessageId": "ac7d6e1c-3b36-5d2c-9a5c-2b1fcfd2a0a1",
        "TopicArn": "arn:aws:sns:us-east-2:123456789012:bag-uploads",
        "Subject": "Amazon S3 Notification",
        "Message": message,
        "Timestamp": "2024-05-01T12:00:01.000Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLEpH+..",
        "SigningCertURL": "https://sns.us-east-2.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem",
        "UnsubscribeURL": "https://sns.us-east-2.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-east-2:123456789012:bag-uploads:0000"
    })
    .to_string()
}

/// An SNS event, as in the sample of
/// https://docs.aws.amazon.com/lambda/latest/dg/with-sns.html
pub fn sns_event(message: &str) -> Value {
    json!({
        "Records": [{
            "EventVersion": "1.0",
            "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:sns-lambda:21be56ed-a058-49f5-8c98-aedd2564c486",
            "EventSource": "aws:sns",
            "Sns": {
                "SignatureVersion": "1",
                "Timestamp": "2019-01-02T12:45:07.000Z",
                "Signature": "tcc6faL2yUC6dgZdmrwh1Y4cGa/ebXEkAi6RibDsvpi+tE/1+82j...65r==",
                "SigningCertUrl": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-ac565b8b1a6c5d002d285f9598aa1d9b.pem",
                "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
                "Message": message,
                "MessageAttributes": {},
                "Type": "Notification",
                "UnsubscribeUrl": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&amp;SubscriptionArn=arn:aws:sns:us-east-1:123456789012:test-lambda:21be56ed-a058-49f5-8c98-aedd2564c486",
                "TopicArn": "arn:aws:sns:us-east-1:123456789012:sns-lambda",
                "Subject": "Amazon S3 Notification"
            }
        }]
    })
}

/// An EventBridge event from S3, as in the "Object created" sample of
/// https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html
pub fn eventbridge_event(detail_type: &str, bucket: &str, key: &str, size: u64) -> Value {
    json!({
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": detail_type,
        "source": "aws.s3",
        "account": "111122223333",
        "time": "2021-11-12T00:00:00Z",
        "region": "ca-central-1",
        "resources": [format!("arn:aws:s3:::{bucket}")],
        "detail": {
            "version": "0",
            "bucket": { "name": bucket },
            "object": {
                "key": key,
                "size": size,
                "etag": "b1946ac92492d2347c6235b4d2611184",
                "version-id": "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
                "sequencer": "617f08299329d189"
            },
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": "123456789012",
            "source-ip-address": "1.2.3.4",
            "reason": "PutObject"
        }
    })
}

/// The message S3 sends to a queue or topic when a notification is configured.
pub fn test_event() -> Value {
    json!({
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": "2014-10-13T15:57:02.089Z",
        "Bucket": "amzn-s3-demo-bucket",
        "RequestId": "5582815E1AEA5ADF",
        "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE"
    })
}
