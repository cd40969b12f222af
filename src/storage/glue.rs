//! The Glue Data Catalog as the [`TableCatalog`] a run registers its
//! tables in, so Athena sees a bag as soon as it is done, without a
//! crawler.
//!
//! A table is created if absent (external, Parquet, partitioned by
//! `bag_file`, columns from the Arrow schema the bag was written with,
//! which is the Parquet files' schema); when it exists, the columns it
//! lacks are added at the end and none is dropped or retyped. The bag's
//! partition is then created, or its location and columns refreshed if it
//! exists. Two runs racing to create a table both end with it: the loser's
//! `AlreadyExists` turns into the update path.

use std::io;
use std::sync::OnceLock;

use aws_sdk_glue::Client;
use aws_sdk_glue::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_glue::types::{Column, PartitionInput, SerDeInfo, StorageDescriptor, TableInput};

use crate::athena::{PARTITION_KEY, TableCatalog, TableDef};
use crate::storage::aws::block_on;

const INPUT_FORMAT: &str = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat";
const OUTPUT_FORMAT: &str = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat";
const SERDE: &str = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe";

/// The Glue client, configured once from the standard AWS environment.
pub fn client() -> Client {
    static CLIENT: OnceLock<Client> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            let config = aws_sdk_glue::config::Builder::from(crate::storage::aws::sdk_config())
                .interceptor(crate::storage::aws::LogFailedAttempts)
                .build();
            Client::from_conf(config)
        })
        .clone()
}

/// One Glue database.
pub struct GlueCatalog {
    client: Client,
    database: String,
}

impl GlueCatalog {
    pub fn new(database: &str) -> GlueCatalog {
        GlueCatalog {
            client: client(),
            database: database.to_string(),
        }
    }

    fn error<E>(&self, action: &str, what: &str, e: SdkError<E>) -> io::Error
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        io::Error::other(format!(
            "Glue {action} {}.{what}: {}",
            self.database,
            DisplayErrorContext(&e)
        ))
    }
}

fn is_code<E: ProvideErrorMetadata>(e: &SdkError<E>, code: &str) -> bool {
    matches!(e, SdkError::ServiceError(s) if s.err().code() == Some(code))
}

fn columns(def: &TableDef) -> Vec<Column> {
    def.columns
        .iter()
        .map(|(name, ty)| {
            Column::builder()
                .name(name)
                .r#type(ty)
                .build()
                .expect("name is set")
        })
        .collect()
}

fn storage(columns: Vec<Column>, location: &str) -> StorageDescriptor {
    StorageDescriptor::builder()
        .set_columns(Some(columns))
        .location(location)
        .input_format(INPUT_FORMAT)
        .output_format(OUTPUT_FORMAT)
        .serde_info(
            SerDeInfo::builder()
                .serialization_library(SERDE)
                .parameters("serialization.format", "1")
                .build(),
        )
        .build()
}

fn table_input(name: &str, columns: Vec<Column>, location: &str) -> TableInput {
    TableInput::builder()
        .name(name)
        .table_type("EXTERNAL_TABLE")
        .parameters("classification", "parquet")
        .parameters("EXTERNAL", "TRUE")
        .parameters("parquet.compression", "ZSTD")
        .partition_keys(
            Column::builder()
                .name(PARTITION_KEY)
                .r#type("string")
                .build()
                .expect("name is set"),
        )
        .storage_descriptor(storage(columns, location))
        .build()
        .expect("name is set")
}

impl GlueCatalog {
    /// The table's columns after registering `def`: created, or extended.
    async fn ensure_table(&self, def: &TableDef) -> io::Result<Vec<Column>> {
        let got = self
            .client
            .get_table()
            .database_name(&self.database)
            .name(&def.name)
            .send()
            .await;
        let existing = match got {
            Ok(out) => out.table,
            Err(e) if is_code(&e, "EntityNotFoundException") => None,
            Err(e) => return Err(self.error("GetTable", &def.name, e)),
        };
        let Some(table) = existing else {
            let cols = columns(def);
            let created = self
                .client
                .create_table()
                .database_name(&self.database)
                .table_input(table_input(&def.name, cols.clone(), &def.location))
                .send()
                .await;
            return match created {
                Ok(_) => Ok(cols),
                // Another run created it first: extend theirs.
                Err(e) if is_code(&e, "AlreadyExistsException") => {
                    Box::pin(self.ensure_table(def)).await
                }
                Err(e) => Err(self.error("CreateTable", &def.name, e)),
            };
        };
        let mut cols: Vec<Column> = table
            .storage_descriptor()
            .map(|sd| sd.columns().to_vec())
            .unwrap_or_default();
        let mut added = Vec::new();
        for c in columns(def) {
            if !cols.iter().any(|e| e.name().eq_ignore_ascii_case(c.name())) {
                added.push(c.name().to_string());
                cols.push(c);
            }
        }
        if !added.is_empty() {
            let location = table
                .storage_descriptor()
                .and_then(|sd| sd.location())
                .unwrap_or(&def.location)
                .to_string();
            self.client
                .update_table()
                .database_name(&self.database)
                .table_input(table_input(&def.name, cols.clone(), &location))
                .send()
                .await
                .map_err(|e| self.error("UpdateTable", &def.name, e))?;
            tracing::info!(table = %def.name, added = ?added, "Glue table columns added");
        }
        Ok(cols)
    }
}

impl TableCatalog for GlueCatalog {
    fn register(&self, def: &TableDef, bag_file: &str, partition_location: &str) -> io::Result<()> {
        block_on(async {
            let cols = self.ensure_table(def).await?;
            let partition = PartitionInput::builder()
                .values(bag_file)
                .storage_descriptor(storage(cols, partition_location))
                .build();
            let created = self
                .client
                .create_partition()
                .database_name(&self.database)
                .table_name(&def.name)
                .partition_input(partition.clone())
                .send()
                .await;
            match created {
                Ok(_) => Ok(()),
                Err(e) if is_code(&e, "AlreadyExistsException") => self
                    .client
                    .update_partition()
                    .database_name(&self.database)
                    .table_name(&def.name)
                    .partition_value_list(bag_file)
                    .partition_input(partition)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| self.error("UpdatePartition", &def.name, e)),
                Err(e) => Err(self.error("CreatePartition", &def.name, e)),
            }
        })
    }
}
