//! The ROS-to-Arrow type mapping as a table, and decoding of every kind of
//! field from bytes serialized here by hand (ROS1 wire format: little
//! endian, `uint32` length before strings and variable arrays).

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type,
};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use extractor::decode::{self, Layout, MessageDecoder, primitive_type};
use extractor::definition::{Primitive, ros1 as msgdef};

const DEFINITION: &str = "\
# every primitive
bool a_bool
int8 a_int8
byte a_byte
uint8 a_uint8
char a_char
int16 a_int16
uint16 a_uint16
int32 a_int32
uint32 a_uint32
int64 a_int64
uint64 a_uint64
float32 a_float32
float64 a_float64
string a_string
time a_time
duration a_duration
int32 CONSTANT=7
string S_CONSTANT=value # with a hash
float64[3] fixed_f64
int16[] var_i16
uint8[] blob
uint8[4] fixed_blob
char[] chars
int8[] bytes_list
string[] strings
pkg/Point[] points
pkg/Point[2] fixed_points
pkg/Point[] no_points
std_msgs/Empty nothing
std_msgs/Empty[] nothings
Header header
================================================================================
MSG: pkg/Point
float64 x
float64 y
================================================================================
MSG: std_msgs/Empty
================================================================================
MSG: std_msgs/Header
uint32 seq
time stamp
string frame_id
";

/// A tiny ROS1 serializer for the test message.
#[derive(Default)]
struct Wire(Vec<u8>);

impl Wire {
    fn raw(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }
    fn u32(&mut self, v: u32) -> &mut Self {
        self.raw(&v.to_le_bytes())
    }
    fn string(&mut self, s: &[u8]) -> &mut Self {
        self.u32(s.len() as u32).raw(s)
    }
    fn f64(&mut self, v: f64) -> &mut Self {
        self.raw(&v.to_le_bytes())
    }
}

fn message(string: &[u8], points: &[(f64, f64)]) -> Vec<u8> {
    let mut w = Wire::default();
    w.raw(&[1]) // bool
        .raw(&(-5i8).to_le_bytes())
        .raw(&(-6i8).to_le_bytes())
        .raw(&[250]) // uint8
        .raw(b"A") // char
        .raw(&(-300i16).to_le_bytes())
        .raw(&65000u16.to_le_bytes())
        .raw(&(-70000i32).to_le_bytes())
        .raw(&4_000_000_000u32.to_le_bytes())
        .raw(&(-9_000_000_000i64).to_le_bytes())
        .raw(&u64::MAX.to_le_bytes())
        .raw(&1.5f32.to_le_bytes())
        .f64(-2.25)
        .string(string)
        .u32(4_000_000_000) // time: unsigned seconds
        .u32(999_999_999)
        .raw(&(-2i32).to_le_bytes()) // duration: signed, not normalised
        .raw(&500_000_000i32.to_le_bytes())
        .f64(1.0)
        .f64(2.0)
        .f64(3.0) // float64[3]
        .u32(2)
        .raw(&7i16.to_le_bytes())
        .raw(&(-8i16).to_le_bytes()) // int16[]
        .string(&[0, 1, 2, 255]) // uint8[]
        .raw(&[9, 8, 7, 6]) // uint8[4]
        .string(b"xyz") // char[]
        .u32(2)
        .raw(&[0xFF, 0x01]) // int8[] -> List<Int8>
        .u32(2)
        .string(b"one")
        .string(b"") // string[]
        .u32(points.len() as u32);
    for &(x, y) in points {
        w.f64(x).f64(y);
    }
    w.f64(10.0)
        .f64(11.0)
        .f64(12.0)
        .f64(13.0) // Point[2]
        .u32(0) // no_points: empty
        // std_msgs/Empty: no bytes
        .u32(3) // Empty[]: three elements of no bytes
        .u32(42)
        .u32(100)
        .u32(5)
        .string(b"base_link");
    w.0
}

fn layout() -> Arc<Layout> {
    let t = msgdef::parse("pkg/Everything", DEFINITION).unwrap();
    Arc::new(Layout::new(&t, decode::Wire::Ros1))
}

#[test]
fn primitive_mapping_table() {
    let table = [
        (Primitive::Bool, DataType::Boolean),
        (Primitive::Int8, DataType::Int8),
        (Primitive::UInt8, DataType::Int16),
        (Primitive::Int16, DataType::Int16),
        (Primitive::UInt16, DataType::Int32),
        (Primitive::Int32, DataType::Int32),
        (Primitive::UInt32, DataType::Int64),
        (Primitive::Int64, DataType::Int64),
        (Primitive::UInt64, DataType::Decimal128(20, 0)),
        (Primitive::Float32, DataType::Float32),
        (Primitive::Float64, DataType::Float64),
        (Primitive::String, DataType::Utf8),
        (Primitive::Time, DataType::Int64),
        (Primitive::Duration, DataType::Int64),
    ];
    for (p, dt) in table {
        assert_eq!(primitive_type(p), dt, "{p:?}");
    }
    assert_eq!(msgdef::primitive("byte"), Some(Primitive::Int8));
    assert_eq!(msgdef::primitive("char"), Some(Primitive::UInt8));
}

#[test]
fn schema_follows_the_contract() {
    let layout = layout();
    let schema = layout.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        names,
        [
            "log_time_ns",
            "a_bool",
            "a_int8",
            "a_byte",
            "a_uint8",
            "a_char",
            "a_int16",
            "a_uint16",
            "a_int32",
            "a_uint32",
            "a_int64",
            "a_uint64",
            "a_float32",
            "a_float64",
            "a_string",
            "a_time",
            "a_duration",
            "fixed_f64",
            "var_i16",
            "blob",
            "fixed_blob",
            "chars",
            "bytes_list",
            "strings",
            "points",
            "fixed_points",
            "no_points",
            "header",
        ],
        "constants and empty-message fields are not columns"
    );
    let ty = |n: &str| schema.field_with_name(n).unwrap().data_type().clone();
    assert!(!schema.field(0).is_nullable());
    assert_eq!(ty("log_time_ns"), DataType::Int64);
    assert_eq!(ty("a_char"), DataType::Int16);
    assert_eq!(ty("a_byte"), DataType::Int8);
    assert_eq!(ty("blob"), DataType::Binary);
    assert_eq!(ty("fixed_blob"), DataType::Binary);
    assert_eq!(ty("chars"), DataType::Binary);
    let DataType::List(item) = ty("bytes_list") else {
        panic!("int8[] is a list")
    };
    assert_eq!(item.data_type(), &DataType::Int8);
    let DataType::List(item) = ty("fixed_f64") else {
        panic!("T[N] is a list")
    };
    assert_eq!(item.data_type(), &DataType::Float64);
    let DataType::List(item) = ty("points") else {
        panic!()
    };
    let DataType::Struct(fields) = item.data_type() else {
        panic!("Point[] holds structs")
    };
    assert_eq!(
        fields.iter().map(|f| f.name().as_str()).collect::<Vec<_>>(),
        ["x", "y"]
    );
    let DataType::Struct(fields) = ty("header") else {
        panic!()
    };
    let types: Vec<_> = fields.iter().map(|f| f.data_type().clone()).collect();
    assert_eq!(types, [DataType::Int64, DataType::Int64, DataType::Utf8]);
    assert!(layout.has_binary());
}

fn decode(msgs: &[(i64, Vec<u8>)]) -> (RecordBatch, Vec<String>, u64) {
    let mut d = MessageDecoder::new(layout());
    let mut errors = Vec::new();
    for (t, bytes) in msgs {
        if let Err(e) = d.decode(*t, bytes) {
            errors.push(e.to_string());
        }
    }
    let invalid = d.invalid_utf8();
    (d.finish(), errors, invalid)
}

#[test]
fn decodes_every_kind_of_field() {
    let (batch, errors, invalid) = decode(&[(17, message(b"hello", &[(1.0, 2.0), (3.0, 4.0)]))]);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(invalid, 0);
    assert_eq!(batch.num_rows(), 1);
    let col = |n: &str| batch.column_by_name(n).unwrap().clone();
    assert_eq!(col("log_time_ns").as_primitive::<Int64Type>().value(0), 17);
    assert!(col("a_bool").as_boolean().value(0));
    assert_eq!(col("a_int8").as_primitive::<Int8Type>().value(0), -5);
    assert_eq!(col("a_byte").as_primitive::<Int8Type>().value(0), -6);
    assert_eq!(col("a_uint8").as_primitive::<Int16Type>().value(0), 250);
    assert_eq!(col("a_char").as_primitive::<Int16Type>().value(0), 65);
    assert_eq!(col("a_int16").as_primitive::<Int16Type>().value(0), -300);
    assert_eq!(col("a_uint16").as_primitive::<Int32Type>().value(0), 65000);
    assert_eq!(col("a_int32").as_primitive::<Int32Type>().value(0), -70000);
    assert_eq!(
        col("a_uint32").as_primitive::<Int64Type>().value(0),
        4_000_000_000
    );
    assert_eq!(
        col("a_int64").as_primitive::<Int64Type>().value(0),
        -9_000_000_000
    );
    assert_eq!(
        col("a_uint64").as_primitive::<Decimal128Type>().value(0),
        i128::from(u64::MAX)
    );
    assert_eq!(col("a_float32").as_primitive::<Float32Type>().value(0), 1.5);
    assert_eq!(
        col("a_float64").as_primitive::<Float64Type>().value(0),
        -2.25
    );
    assert_eq!(col("a_string").as_string::<i32>().value(0), "hello");
    assert_eq!(
        col("a_time").as_primitive::<Int64Type>().value(0),
        4_000_000_000 * 1_000_000_000 + 999_999_999
    );
    assert_eq!(
        col("a_duration").as_primitive::<Int64Type>().value(0),
        -2_000_000_000 + 500_000_000
    );
    let fixed = col("fixed_f64");
    let fixed = fixed.as_list::<i32>().value(0);
    assert_eq!(
        fixed.as_primitive::<Float64Type>().values(),
        &[1.0, 2.0, 3.0]
    );
    let var = col("var_i16");
    assert_eq!(
        var.as_list::<i32>()
            .value(0)
            .as_primitive::<Int16Type>()
            .values(),
        &[7, -8]
    );
    assert_eq!(col("blob").as_binary::<i32>().value(0), &[0, 1, 2, 255]);
    assert_eq!(col("fixed_blob").as_binary::<i32>().value(0), &[9, 8, 7, 6]);
    assert_eq!(col("chars").as_binary::<i32>().value(0), b"xyz");
    let bl = col("bytes_list");
    assert_eq!(
        bl.as_list::<i32>()
            .value(0)
            .as_primitive::<Int8Type>()
            .values(),
        &[-1, 1]
    );
    let strings = col("strings");
    let strings = strings.as_list::<i32>().value(0);
    let strings = strings.as_string::<i32>();
    assert_eq!((strings.value(0), strings.value(1)), ("one", ""));
    let points = col("points");
    let points = points.as_list::<i32>().value(0);
    let points = points.as_struct();
    let xs = points
        .column_by_name("x")
        .unwrap()
        .as_primitive::<Float64Type>();
    let ys = points
        .column_by_name("y")
        .unwrap()
        .as_primitive::<Float64Type>();
    assert_eq!(
        (xs.values().as_ref(), ys.values().as_ref()),
        (&[1.0, 3.0][..], &[2.0, 4.0][..])
    );
    assert_eq!(col("fixed_points").as_list::<i32>().value(0).len(), 2);
    let empty = col("no_points");
    assert_eq!(empty.as_list::<i32>().value(0).len(), 0, "empty list");
    assert!(
        empty.is_valid(0),
        "an empty array is an empty list, never null"
    );
    let header = col("header");
    let header = header.as_struct();
    assert_eq!(header.column(0).as_primitive::<Int64Type>().value(0), 42);
    assert_eq!(
        header.column(1).as_primitive::<Int64Type>().value(0),
        100_000_000_005
    );
    assert_eq!(header.column(2).as_string::<i32>().value(0), "base_link");
}

#[test]
fn a_bad_message_is_dropped_alone_and_invalid_utf8_is_replaced() {
    let good = message(b"ok", &[(1.0, 2.0)]);
    let mut short = good.clone();
    short.truncate(good.len() - 3);
    let mut long = good.clone();
    long.push(0);
    // A points array claiming more elements than bytes remain.
    let mut lying = message(b"ok", &[]);
    let at = lying.len() - (4 + 4 * 8 + 4 + 4 + 4 + 4 + 4 + 4 + 9);
    lying[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    let (batch, errors, invalid) = decode(&[
        (1, good.clone()),
        (2, short),
        (
            3,
            message(b"caf\xe9", &[(5.0, 6.0), (7.0, 8.0), (9.0, 10.0)]),
        ),
        (4, long),
        (5, lying),
        (6, good),
    ]);
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors[0].contains("pkg/Everything"), "{}", errors[0]);
    assert!(errors[1].contains("left over"), "{}", errors[1]);
    assert_eq!(invalid, 1);
    let times = batch
        .column(0)
        .as_primitive::<Int64Type>()
        .values()
        .to_vec();
    assert_eq!(times, [1, 3, 6]);
    assert_eq!(
        batch
            .column_by_name("a_string")
            .unwrap()
            .as_string::<i32>()
            .value(1),
        "caf\u{FFFD}"
    );
    // The rolled-back rows left no trace in nested columns.
    let points = batch.column_by_name("points").unwrap();
    let lens: Vec<usize> = (0..3)
        .map(|i| points.as_list::<i32>().value(i).len())
        .collect();
    assert_eq!(lens, [1, 3, 1]);
    assert!(
        batch
            .column_by_name("points")
            .unwrap()
            .to_data()
            .validate_full()
            .is_ok()
    );
}

#[test]
fn message_with_no_fields_gives_only_log_time() {
    let t = msgdef::parse("std_msgs/Empty", "").unwrap();
    let mut d = MessageDecoder::new(Arc::new(Layout::new(&t, decode::Wire::Ros1)));
    d.decode(5, &[]).unwrap();
    assert!(d.decode(6, &[1]).is_err());
    let batch = d.finish();
    assert_eq!(batch.num_columns(), 1);
    assert_eq!(batch.num_rows(), 1);
}

/// A decoder for `text` as the type `a/M`.
fn decoder_for(text: &str) -> MessageDecoder {
    let t = msgdef::parse("a/M", text).unwrap();
    MessageDecoder::new(Arc::new(Layout::new(&t, decode::Wire::Ros1)))
}

#[test]
fn elements_of_no_bytes_are_capped_per_message() {
    use extractor::decode::MAX_EMPTY_ELEMENTS;
    // `Z` has a column (`v`, a list) but occupies no bytes on the wire, so
    // a length prefix cannot be checked against the bytes left.
    let text = "a/Z[] zs\n===\nMSG: a/Z\nint32[0] v\n";
    let mut d = decoder_for(text);
    d.decode(1, &3u32.to_le_bytes()).unwrap();
    d.decode(2, &(MAX_EMPTY_ELEMENTS as u32).to_le_bytes())
        .unwrap();
    let e = d
        .decode(3, &(MAX_EMPTY_ELEMENTS as u32 + 1).to_le_bytes())
        .unwrap_err()
        .to_string();
    assert!(e.contains("no bytes"), "{e}");
    // A length of 2^32 - 1 is refused at once, not walked.
    assert!(d.decode(4, &u32::MAX.to_le_bytes()).is_err());
    let batch = d.finish();
    assert_eq!(batch.num_rows(), 2);
    let zs = batch.column_by_name("zs").unwrap().as_list::<i32>();
    assert_eq!(zs.value_length(0), 3);
    assert_eq!(zs.value_length(1), MAX_EMPTY_ELEMENTS as i32);

    // Fixed arrays of them, nested, count every element: 2^24 * 2^24
    // elements from an empty message are refused, not looped over.
    let nested = "a/Y[16777216] ys\n===\nMSG: a/Y\na/Z[16777216] zs\n===\nMSG: a/Z\nint32[0] v\n";
    let mut d = decoder_for(nested);
    assert!(d.decode(1, &[]).is_err());
    assert_eq!(d.finish().num_rows(), 0);
}

#[test]
fn skipped_arrays_of_no_bytes_cost_nothing_however_nested() {
    // `E` has no columns and no bytes: arrays of arrays of it are walked as
    // zero bytes, not element by element (2^48 steps).
    let text = "a/F[16777216] fs\nint32 x\n===\nMSG: a/F\na/E[16777216] es\n===\nMSG: a/E\n";
    let mut d = decoder_for(text);
    d.decode(1, &7i32.to_le_bytes()).unwrap();
    let batch = d.finish();
    assert_eq!(batch.num_columns(), 2, "log time and x only");
    assert_eq!(
        batch
            .column_by_name("x")
            .unwrap()
            .as_primitive::<Int32Type>()
            .value(0),
        7
    );
}
