//! Setting up and reading DynamoDB state through moto with plain HTTP
//! requests in DynamoDB's JSON protocol (`POST /`, `X-Amz-Target:
//! DynamoDB_20120810.<Operation>`, `Content-Type: application/x-amz-json-1.0`).
//!
//! moto checks no signatures, but picks the region of a request from its
//! `Authorization` header (falling back to us-east-1 without one), so the
//! requests carry a dummy SigV4-shaped header naming us-east-1: the region
//! that [`crate::aws_env`] gives the code under test.

use serde_json::{Value, json};

use crate::agent;

const AUTHORIZATION: &str = "AWS4-HMAC-SHA256 \
    Credential=test/20240101/us-east-1/dynamodb/aws4_request, \
    SignedHeaders=content-type;host;x-amz-date;x-amz-target, \
    Signature=0000000000000000000000000000000000000000000000000000000000000000";

/// Calls a DynamoDB operation (`"PutItem"`, `"Query"`, ...) and returns the
/// JSON answer, or `Err((status, answer))` for an error answer.
pub fn dynamodb_call(
    endpoint: &str,
    operation: &str,
    request: &Value,
) -> Result<Value, (u16, Value)> {
    let response = agent()
        .post(endpoint)
        .header("X-Amz-Target", format!("DynamoDB_20120810.{operation}"))
        .header("Content-Type", "application/x-amz-json-1.0")
        .header("X-Amz-Date", "20240101T000000Z")
        .header("Authorization", AUTHORIZATION)
        .send(request.to_string().as_bytes())
        .unwrap_or_else(|e| panic!("DynamoDB {operation} at {endpoint}: {e}"));
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .with_config()
        .limit(u64::MAX)
        .read_to_vec()
        .unwrap_or_else(|e| panic!("DynamoDB {operation}: {e}"));
    let value: Value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    if status == 200 {
        Ok(value)
    } else {
        Err((status, value))
    }
}

/// [`dynamodb_call`], panicking on an error answer.
pub fn dynamodb(endpoint: &str, operation: &str, request: &Value) -> Value {
    dynamodb_call(endpoint, operation, request)
        .unwrap_or_else(|(status, answer)| panic!("DynamoDB {operation}: {status} {answer}"))
}

/// Creates an on-demand table with string keys (moto makes it ACTIVE at once).
pub fn create_table(endpoint: &str, name: &str, partition_key: &str, sort_key: Option<&str>) {
    let mut attributes = vec![json!({"AttributeName": partition_key, "AttributeType": "S"})];
    let mut schema = vec![json!({"AttributeName": partition_key, "KeyType": "HASH"})];
    if let Some(sort_key) = sort_key {
        attributes.push(json!({"AttributeName": sort_key, "AttributeType": "S"}));
        schema.push(json!({"AttributeName": sort_key, "KeyType": "RANGE"}));
    }
    dynamodb(
        endpoint,
        "CreateTable",
        &json!({
            "TableName": name,
            "AttributeDefinitions": attributes,
            "KeySchema": schema,
            "BillingMode": "PAY_PER_REQUEST",
        }),
    );
}

/// Every item of a table, in DynamoDB JSON (`{"pk": {"S": "..."}, ...}`),
/// following `LastEvaluatedKey`.
pub fn scan_table(endpoint: &str, name: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut start: Option<Value> = None;
    loop {
        let mut request = json!({"TableName": name});
        if let Some(start) = start.take() {
            request["ExclusiveStartKey"] = start;
        }
        let mut answer = dynamodb(endpoint, "Scan", &request);
        if let Some(Value::Array(page)) = answer.get_mut("Items").map(Value::take) {
            items.extend(page);
        }
        match answer.get_mut("LastEvaluatedKey").map(Value::take) {
            Some(key) if !key.is_null() => start = Some(key),
            _ => return items,
        }
    }
}
