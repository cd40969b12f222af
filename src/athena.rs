//! The lake as Athena tables, without a crawler.
//!
//! Every table of the lake is Hive-partitioned by `bag_file`. This module
//! turns an Arrow schema into Hive column types exactly (structs, arrays,
//! `decimal(20,0)`, `binary`), names the tables, reads a lake's tables and
//! partitions (schemas from the Parquet footers), and prints the
//! `CREATE EXTERNAL TABLE` / `ALTER TABLE ... ADD PARTITION` statements
//! (`bagpipe athena-ddl`). The [`TableCatalog`] trait is where a run
//! registers what it wrote; `glue.rs` implements it on the Glue Data
//! Catalog, the same definitions as the DDL.

use std::collections::BTreeMap;
use std::io;

use arrow_schema::{DataType, Field, Schema};

use crate::pipeline::TOPICS_DIR;
use crate::stages::{SCENE_DETECTIONS_DIR, SCENES_DIR, SYNCHRONIZED_DIR};
use crate::storage::lake::Lake;

/// The partition column of every table.
pub const PARTITION_KEY: &str = "bag_file";

/// The Hive (Athena, Glue) type of an Arrow type, as a Glue crawler writes
/// it (`struct<a:int,b:array<string>>`). `Err` names a type Hive cannot
/// hold (an empty struct, from a message type without fields).
pub fn hive_type(dt: &DataType) -> Result<String, String> {
    Ok(match dt {
        DataType::Boolean => "boolean".into(),
        DataType::Int8 => "tinyint".into(),
        DataType::Int16 => "smallint".into(),
        DataType::Int32 => "int".into(),
        DataType::Int64 => "bigint".into(),
        DataType::Float32 => "float".into(),
        DataType::Float64 => "double".into(),
        DataType::Utf8 | DataType::LargeUtf8 => "string".into(),
        DataType::Binary | DataType::LargeBinary | DataType::FixedSizeBinary(_) => "binary".into(),
        DataType::Decimal128(p, s) => format!("decimal({p},{s})"),
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            format!("array<{}>", hive_type(f.data_type())?)
        }
        DataType::Struct(fields) => {
            if fields.is_empty() {
                return Err("a struct without fields (a message type with no fields)".into());
            }
            let parts = fields
                .iter()
                .map(|f| Ok(format!("{}:{}", f.name(), hive_type(f.data_type())?)))
                .collect::<Result<Vec<_>, String>>()?;
            format!("struct<{}>", parts.join(","))
        }
        other => return Err(format!("Arrow type {other} has no Hive equivalent here")),
    })
}

/// A table as Athena and Glue see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDef {
    /// The Glue/Athena table name.
    pub name: String,
    /// The table's directory URL, ending in `/`.
    pub location: String,
    /// Column name and Hive type, in file order (the partition key apart).
    pub columns: Vec<(String, String)>,
    /// Columns left out, with why (a type Hive cannot hold).
    pub skipped: Vec<String>,
}

impl TableDef {
    /// The definition of a table from one of its Arrow schemas.
    pub fn new(name: &str, location: &str, schema: &Schema) -> TableDef {
        let mut def = TableDef {
            name: name.to_string(),
            location: location.to_string(),
            columns: Vec::new(),
            skipped: Vec::new(),
        };
        def.add_columns(schema);
        def
    }

    /// Adds the columns of `schema` this definition does not have yet, at
    /// the end; never drops or retypes one (a partition whose column has
    /// another type is reported in `skipped`).
    pub fn add_columns(&mut self, schema: &Schema) {
        for field in schema.fields() {
            self.add_field(field);
        }
    }

    fn add_field(&mut self, field: &Field) {
        if field.name() == PARTITION_KEY {
            return;
        }
        match hive_type(field.data_type()) {
            Ok(ty) => match self.columns.iter().find(|(n, _)| n == field.name()) {
                Some((_, existing)) if *existing != ty => self.skipped.push(format!(
                    "{}: {ty} in some partitions, {existing} in the table",
                    field.name()
                )),
                Some(_) => {}
                None => self.columns.push((field.name().clone(), ty)),
            },
            Err(why) => {
                let note = format!("{}: {why}", field.name());
                if !self.skipped.contains(&note) {
                    self.skipped.push(note);
                }
            }
        }
    }
}

/// The Glue/Athena name of the table stored under `dir` in the lake:
/// `topics/<table>` is `<table>`, the others their directory name. A topic
/// table whose name is one of theirs becomes `topics_<table>`.
pub fn table_name(dir: &str) -> String {
    match dir
        .strip_prefix(TOPICS_DIR)
        .and_then(|d| d.strip_prefix('/'))
    {
        Some(t) if [SYNCHRONIZED_DIR, SCENE_DETECTIONS_DIR, SCENES_DIR].contains(&t) => {
            format!("{TOPICS_DIR}_{t}")
        }
        Some(t) => t.to_string(),
        None => dir.to_string(),
    }
}

/// Where a run registers the tables it wrote.
pub trait TableCatalog: Send + Sync {
    /// Creates `table` if absent (else adds the columns it lacks, never
    /// dropping one), and adds the partition `bag_file` at
    /// `partition_location`.
    fn register(
        &self,
        table: &TableDef,
        bag_file: &str,
        partition_location: &str,
    ) -> io::Result<()>;
}

/// One table of a lake with its partitions.
#[derive(Debug, Clone)]
pub struct LakeTable {
    pub def: TableDef,
    /// `bag_file` → partition directory URL.
    pub partitions: BTreeMap<String, String>,
}

/// Every table of the lake under its root, with every partition; the
/// columns are the union over the partitions' Parquet footers (first
/// appearance first), read from each partition's first file.
pub fn lake_tables(lake: &dyn Lake) -> io::Result<Vec<LakeTable>> {
    let mut dirs: Vec<String> = lake
        .list_children(TOPICS_DIR)?
        .into_iter()
        .map(|t| format!("{TOPICS_DIR}/{t}"))
        .collect();
    for single in [SYNCHRONIZED_DIR, SCENE_DETECTIONS_DIR, SCENES_DIR] {
        if !lake.list_children(single)?.is_empty() {
            dirs.push(single.to_string());
        }
    }
    let mut tables = Vec::new();
    for dir in dirs {
        let mut def = TableDef {
            name: table_name(&dir),
            location: lake.url(&format!("{dir}/")),
            columns: Vec::new(),
            skipped: Vec::new(),
        };
        let mut partitions = BTreeMap::new();
        for child in lake.list_children(&dir)? {
            let Some(bag_file) = child.strip_prefix(&format!("{PARTITION_KEY}=")) else {
                continue;
            };
            let part_dir = format!("{dir}/{child}");
            let Some(first) = lake
                .list_children(&part_dir)?
                .into_iter()
                .find(|f| f.ends_with(".parquet") && !f.starts_with('.'))
            else {
                continue;
            };
            def.add_columns(&parquet_schema(lake, &format!("{part_dir}/{first}"))?);
            partitions.insert(bag_file.to_string(), lake.url(&format!("{part_dir}/")));
        }
        if !partitions.is_empty() {
            tables.push(LakeTable { def, partitions });
        }
    }
    Ok(tables)
}

/// The Arrow schema of a Parquet file, from its footer alone.
pub fn parquet_schema(lake: &dyn Lake, path: &str) -> io::Result<Schema> {
    let bad = |e: String| io::Error::new(io::ErrorKind::InvalidData, format!("{path}: {e}"));
    let len = lake.len(path)?;
    if len < 12 {
        return Err(bad(format!("{len} bytes is too short for Parquet")));
    }
    let tail = lake.get_range(path, len - 8, 8)?;
    if &tail[4..] != b"PAR1" {
        return Err(bad("no Parquet magic at the end".into()));
    }
    let meta_len = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if meta_len + 12 > len {
        return Err(bad(format!("footer of {meta_len} bytes does not fit")));
    }
    let footer = lake.get_range(path, len - 8 - meta_len, meta_len)?;
    let meta = parquet::file::metadata::ParquetMetaDataReader::decode_metadata(&footer)
        .map_err(|e| bad(e.to_string()))?;
    let file = meta.file_metadata();
    parquet::arrow::parquet_to_arrow_schema(file.schema_descr(), file.key_value_metadata())
        .map_err(|e| bad(e.to_string()))
}

/// A SQL string literal.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The statements that register `tables` in Athena: one `CREATE EXTERNAL
/// TABLE IF NOT EXISTS` per table and one `ALTER TABLE ... ADD IF NOT
/// EXISTS PARTITION` per partition. `rebase` replaces the lake's root URL
/// prefix (`from`, `to`), for a lake copied to S3 from a local directory.
pub fn ddl(tables: &[LakeTable], rebase: Option<(&str, &str)>) -> String {
    let at = |url: &str| match rebase {
        Some((from, to)) if url.starts_with(from) => format!("{to}{}", &url[from.len()..]),
        _ => url.to_string(),
    };
    let mut out = String::new();
    for t in tables {
        for s in &t.def.skipped {
            out.push_str(&format!("-- {}: column left out: {s}\n", t.def.name));
        }
        out.push_str(&format!(
            "CREATE EXTERNAL TABLE IF NOT EXISTS `{}` (\n",
            t.def.name
        ));
        let cols: Vec<String> = t
            .def
            .columns
            .iter()
            .map(|(n, ty)| format!("  `{n}` {ty}"))
            .collect();
        out.push_str(&cols.join(",\n"));
        out.push_str(&format!(
            "\n)\nPARTITIONED BY (`{PARTITION_KEY}` string)\nSTORED AS PARQUET\nLOCATION {};\n",
            quote(&at(&t.def.location))
        ));
        for (bag_file, location) in &t.partitions {
            out.push_str(&format!(
                "ALTER TABLE `{}` ADD IF NOT EXISTS PARTITION ({PARTITION_KEY}={}) LOCATION {};\n",
                t.def.name,
                quote(bag_file),
                quote(&at(location))
            ));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn hive_types_follow_the_arrow_schema_exactly() {
        let item = Arc::new(Field::new("item", DataType::Float64, true));
        let point = DataType::Struct(
            vec![
                Field::new("x", DataType::Float32, true),
                Field::new("label", DataType::Utf8, true),
            ]
            .into(),
        );
        let cases = [
            (DataType::Boolean, "boolean"),
            (DataType::Int8, "tinyint"),
            (DataType::Int16, "smallint"),
            (DataType::Int32, "int"),
            (DataType::Int64, "bigint"),
            (DataType::Float32, "float"),
            (DataType::Float64, "double"),
            (DataType::Utf8, "string"),
            (DataType::Binary, "binary"),
            (DataType::Decimal128(20, 0), "decimal(20,0)"),
            (DataType::List(item.clone()), "array<double>"),
            (
                DataType::List(Arc::new(Field::new("item", point.clone(), true))),
                "array<struct<x:float,label:string>>",
            ),
            (point, "struct<x:float,label:string>"),
        ];
        for (dt, want) in cases {
            assert_eq!(hive_type(&dt).unwrap(), want, "{dt}");
        }
        assert!(hive_type(&DataType::Struct(Vec::<Field>::new().into())).is_err());
    }

    #[test]
    fn columns_are_added_never_dropped_or_retyped() {
        let a = Schema::new(vec![
            Field::new("log_time_ns", DataType::Int64, false),
            Field::new("imu", DataType::Float64, true),
        ]);
        let b = Schema::new(vec![
            Field::new("log_time_ns", DataType::Int64, false),
            Field::new("gps", DataType::Utf8, true),
            Field::new("imu", DataType::Int32, true),
            Field::new("empty", DataType::Struct(Vec::<Field>::new().into()), true),
        ]);
        let mut def = TableDef::new("synchronized", "s3://l/synchronized/", &a);
        def.add_columns(&b);
        let names: Vec<_> = def
            .columns
            .iter()
            .map(|(n, t)| format!("{n} {t}"))
            .collect();
        assert_eq!(names, ["log_time_ns bigint", "imu double", "gps string"]);
        assert_eq!(def.skipped.len(), 2, "{:?}", def.skipped);
    }

    #[test]
    fn topic_tables_keep_their_name_unless_it_clashes() {
        assert_eq!(table_name("topics/imu_raw"), "imu_raw");
        assert_eq!(table_name("topics/scenes"), "topics_scenes");
        assert_eq!(table_name("synchronized"), "synchronized");
    }
}
