//! The scene store and the bag catalogue in DynamoDB, behind the same
//! [`ItemStore`] trait as the local JSONL store.
//!
//! - Reads are strongly consistent (`GetItem`, paginated `Query`), so a
//!   re-run sees what the previous run wrote.
//! - A partition is replaced exactly: query the partition's keys, delete
//!   those not in the new set, put the new items; in `BatchWriteItem`
//!   requests of at most 25 writes (DynamoDB's limit, enforced here since
//!   local servers do not), resending unprocessed items with exponential
//!   backoff, a bounded number of times.
//! - The catalogue's conflict rule is a conditional `PutItem`
//!   (`attribute_not_exists(pk) OR owner = :owner`).
//!
//! Throttling (`ProvisionedThroughputExceededException` and friends) is
//! retried by the SDK's standard retry policy with backoff; what still
//! fails is an error the caller reports as retryable.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::sync::OnceLock;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, PutRequest, ReturnValuesOnConditionCheckFailure, WriteRequest,
};

use crate::storage::aws::block_on;
use crate::storage::catalog::{Attr, Item, ItemStore};

/// Writes per `BatchWriteItem` request: DynamoDB's limit.
pub const BATCH_WRITE_LIMIT: usize = 25;
/// Times a batch's unprocessed items are sent again before giving up.
const BATCH_ATTEMPTS: u32 = 10;

/// The DynamoDB client, configured once from the standard AWS environment
/// (region, credentials, `AWS_ENDPOINT_URL`).
pub fn client() -> Client {
    static CLIENT: OnceLock<Client> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            let config = aws_sdk_dynamodb::config::Builder::from(crate::storage::aws::sdk_config())
                .interceptor(crate::storage::aws::LogFailedAttempts)
                .build();
            Client::from_conf(config)
        })
        .clone()
}

/// A DynamoDB table as an item store.
pub struct DynamoStore {
    client: Client,
    table: String,
    partition_key: &'static str,
    sort_key: Option<&'static str>,
}

impl DynamoStore {
    /// The table `table`, keyed by `partition_key` (and `sort_key`).
    pub fn new(
        table: &str,
        partition_key: &'static str,
        sort_key: Option<&'static str>,
    ) -> DynamoStore {
        DynamoStore {
            client: client(),
            table: table.to_string(),
            partition_key,
            sort_key,
        }
    }

    fn error<E>(&self, action: &str, e: SdkError<E>) -> io::Error
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        io::Error::other(format!(
            "DynamoDB {action} on table {}: {}",
            self.table,
            DisplayErrorContext(&e)
        ))
    }

    /// The key attributes of `item`.
    fn key_of(&self, item: &Item) -> io::Result<HashMap<String, AttributeValue>> {
        let mut key = HashMap::new();
        for name in std::iter::once(self.partition_key).chain(self.sort_key) {
            let value = item.get(name).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "an item for table {} has no key attribute {name}",
                        self.table
                    ),
                )
            })?;
            key.insert(name.to_string(), to_attribute(value));
        }
        Ok(key)
    }

    /// Sends `writes` in batches of 25, resending unprocessed items.
    async fn batch_write(&self, writes: Vec<WriteRequest>) -> io::Result<()> {
        for batch in writes.chunks(BATCH_WRITE_LIMIT) {
            let mut pending = batch.to_vec();
            let mut attempt = 0;
            while !pending.is_empty() {
                attempt += 1;
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, pending.clone())
                    .send()
                    .await
                    .map_err(|e| self.error("BatchWriteItem", e))?;
                pending = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.table))
                    .unwrap_or_default();
                if pending.is_empty() {
                    break;
                }
                if attempt >= BATCH_ATTEMPTS {
                    return Err(io::Error::other(format!(
                        "DynamoDB BatchWriteItem on table {}: {} items still unprocessed after {attempt} attempts",
                        self.table,
                        pending.len()
                    )));
                }
                let wait = Duration::from_millis((50u64 << attempt).min(5_000));
                tracing::warn!(
                    table = %self.table,
                    unprocessed = pending.len(),
                    attempt,
                    wait_ms = wait.as_millis() as u64,
                    "BatchWriteItem left items unprocessed; resending"
                );
                tokio::time::sleep(wait).await;
            }
        }
        Ok(())
    }
}

impl ItemStore for DynamoStore {
    fn get(&self, partition: &str, sort: Option<&str>) -> io::Result<Option<Item>> {
        let mut request = self
            .client
            .get_item()
            .table_name(&self.table)
            .consistent_read(true)
            .key(self.partition_key, AttributeValue::S(partition.to_string()));
        if let (Some(name), Some(value)) = (self.sort_key, sort) {
            request = request.key(name, AttributeValue::S(value.to_string()));
        }
        let out = block_on(request.send()).map_err(|e| self.error("GetItem", e))?;
        out.item.map(|i| from_item(&i)).transpose()
    }

    fn query(&self, partition: &str) -> io::Result<Vec<Item>> {
        block_on(async {
            let mut items = Vec::new();
            let mut pages = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", self.partition_key)
                .expression_attribute_values(":pk", AttributeValue::S(partition.to_string()))
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| self.error("Query", e))?;
                for item in page.items.unwrap_or_default() {
                    items.push(from_item(&item)?);
                }
            }
            Ok(items)
        })
    }

    fn scan(&self, attributes: &[&str]) -> io::Result<Vec<Item>> {
        block_on(async {
            let mut items = Vec::new();
            let projection: Vec<String> = (0..attributes.len()).map(|i| format!("#a{i}")).collect();
            let mut request = self
                .client
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .projection_expression(projection.join(", "));
            for (i, name) in attributes.iter().enumerate() {
                request = request.expression_attribute_names(format!("#a{i}"), *name);
            }
            let mut pages = request.into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| self.error("Scan", e))?;
                for item in page.items.unwrap_or_default() {
                    items.push(from_item(&item)?);
                }
            }
            Ok(items)
        })
    }

    fn replace_partition(&self, partition: &str, items: Vec<Item>) -> io::Result<()> {
        let existing = self.query(partition)?;
        let mut new_keys = HashSet::new();
        let mut writes = Vec::new();
        for item in &items {
            let key = self.key_of(item)?;
            new_keys.insert(key_string(&key));
            let put = PutRequest::builder()
                .set_item(Some(to_item(item)))
                .build()
                .map_err(io::Error::other)?;
            writes.push(WriteRequest::builder().put_request(put).build());
        }
        for item in &existing {
            let key = self.key_of(item)?;
            if new_keys.contains(&key_string(&key)) {
                continue;
            }
            let delete = DeleteRequest::builder()
                .set_key(Some(key))
                .build()
                .map_err(io::Error::other)?;
            writes.push(WriteRequest::builder().delete_request(delete).build());
        }
        block_on(self.batch_write(writes))
    }

    fn put(&self, item: Item) -> io::Result<()> {
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(&item)));
        block_on(request.send()).map_err(|e| self.error("PutItem", e))?;
        Ok(())
    }

    fn put_if_owner(&self, item: Item, owner: &str) -> io::Result<Option<Item>> {
        let owner_value = item.get(owner).map(to_attribute).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the item has no {owner} attribute to guard on"),
            )
        })?;
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(&item)))
            .condition_expression(
                "attribute_not_exists(#pk) OR (#owner = :owner AND (attribute_not_exists(#lease) OR #lease <= :now OR #run = :run))",
            )
            .expression_attribute_names("#pk", self.partition_key)
            .expression_attribute_names("#owner", owner)
            .expression_attribute_names("#lease", crate::storage::catalog::LEASE_UNTIL)
            .expression_attribute_names("#run", crate::storage::catalog::RUN_ID)
            .expression_attribute_values(":owner", owner_value)
            .expression_attribute_values(":now", AttributeValue::N(crate::storage::catalog::now_ms().to_string()))
            .expression_attribute_values(
                ":run",
                AttributeValue::S(
                    item.get(crate::storage::catalog::RUN_ID)
                        .and_then(Attr::as_s)
                        .unwrap_or_default()
                        .to_string(),
                ),
            )
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        match block_on(request.send()) {
            Ok(_) => Ok(None),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), PutItemError::ConditionalCheckFailedException(_)) =>
            {
                let PutItemError::ConditionalCheckFailedException(failed) = e.into_err() else {
                    unreachable!("matched above")
                };
                match failed.item {
                    Some(old) => Ok(Some(from_item(&old)?)),
                    // A server that does not return the old item: read it.
                    None => {
                        let partition = item
                            .get(self.partition_key)
                            .and_then(Attr::as_s)
                            .unwrap_or_default();
                        let sort = self.sort_key.and_then(|k| item.get(k)).and_then(Attr::as_s);
                        Ok(Some(self.get(partition, sort)?.unwrap_or_default()))
                    }
                }
            }
            Err(e) => Err(self.error("PutItem", e)),
        }
    }
}

/// A key as one comparable string.
fn key_string(key: &HashMap<String, AttributeValue>) -> String {
    let sorted: BTreeMap<_, _> = key.iter().collect();
    format!("{sorted:?}")
}

/// Our attribute as the SDK's.
pub fn to_attribute(a: &Attr) -> AttributeValue {
    match a {
        Attr::S(s) => AttributeValue::S(s.clone()),
        Attr::N(n) => AttributeValue::N(n.clone()),
        Attr::Bool(b) => AttributeValue::Bool(*b),
        Attr::L(l) => AttributeValue::L(l.iter().map(to_attribute).collect()),
        Attr::M(m) => AttributeValue::M(to_item(m)),
    }
}

/// Our item as the SDK's.
pub fn to_item(item: &Item) -> HashMap<String, AttributeValue> {
    item.iter()
        .map(|(k, v)| (k.clone(), to_attribute(v)))
        .collect()
}

/// The SDK's attribute as ours; types the pipeline never writes are an
/// error naming them.
pub fn from_attribute(a: &AttributeValue) -> io::Result<Attr> {
    Ok(match a {
        AttributeValue::S(s) => Attr::S(s.clone()),
        AttributeValue::N(n) => Attr::N(n.clone()),
        AttributeValue::Bool(b) => Attr::Bool(*b),
        AttributeValue::L(l) => Attr::L(l.iter().map(from_attribute).collect::<io::Result<_>>()?),
        AttributeValue::M(m) => Attr::M(from_item(m)?),
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unsupported DynamoDB attribute type {other:?}"),
            ));
        }
    })
}

/// The SDK's item as ours.
pub fn from_item(item: &HashMap<String, AttributeValue>) -> io::Result<Item> {
    item.iter()
        .map(|(k, v)| Ok((k.clone(), from_attribute(v)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_convert_both_ways() {
        let mut m = Item::new();
        m.insert("s".into(), Attr::s("x"));
        m.insert("n".into(), Attr::n(-3));
        m.insert("b".into(), Attr::Bool(true));
        m.insert("l".into(), Attr::L(vec![Attr::s("a"), Attr::n(1.5)]));
        let mut outer = Item::new();
        outer.insert("m".into(), Attr::M(m));
        assert_eq!(from_item(&to_item(&outer)).unwrap(), outer);
        assert!(from_attribute(&AttributeValue::Null(true)).is_err());
    }
}
