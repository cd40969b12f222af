//! The CDR wire format, from bytes written by hand here (a small CDR
//! encoder that aligns as XCDR1 does: from the byte after the 4-byte
//! encapsulation header, every value to its own size, 8-byte values to 8):
//! alignment traps, both byte orders, final padding, encapsulations this
//! version refuses, empty messages, ROS 2 times, bounded types.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int16Type, Int64Type};
use arrow_array::{Array, RecordBatch};
use extractor::decode::{Layout, MessageDecoder, Wire};
use extractor::definition::ros2;

/// Writes CDR with XCDR1 alignment, in either byte order.
struct Cdr {
    body: Vec<u8>,
    big: bool,
}

impl Cdr {
    fn new(big: bool) -> Cdr {
        Cdr {
            body: Vec::new(),
            big,
        }
    }

    fn align(&mut self, n: usize) -> &mut Self {
        while !self.body.len().is_multiple_of(n) {
            self.body.push(0);
        }
        self
    }

    fn bytes(&mut self, le: &[u8]) -> &mut Self {
        self.align(le.len());
        if self.big {
            self.body.extend(le.iter().rev());
        } else {
            self.body.extend_from_slice(le);
        }
        self
    }

    fn u8(&mut self, v: u8) -> &mut Self {
        self.body.push(v);
        self
    }

    fn u32(&mut self, v: u32) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }

    fn i32(&mut self, v: i32) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }

    fn f64(&mut self, v: f64) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }

    fn string(&mut self, s: &str) -> &mut Self {
        self.u32(s.len() as u32 + 1);
        self.body.extend_from_slice(s.as_bytes());
        self.body.push(0);
        self
    }

    fn message(&self) -> Vec<u8> {
        let mut out = vec![0, if self.big { 0 } else { 1 }, 0, 0];
        out.extend_from_slice(&self.body);
        out
    }
}

fn decoder(datatype: &str, text: &str) -> MessageDecoder {
    let none = |_: &str| None;
    let t = ros2::parse(datatype, text, &none).unwrap();
    MessageDecoder::new(Arc::new(Layout::new(&t, Wire::Cdr)))
}

fn decode(d: &mut MessageDecoder, bytes: &[u8]) -> RecordBatch {
    d.decode(7, bytes).unwrap();
    d.finish()
}

#[test]
fn an_empty_sequence_does_not_align_its_elements() {
    // uint8; float64[] (empty); uint8: 13 bytes as rosidl writes it.
    let mut d = decoder("p/msg/T", "uint8 a\nfloat64[] b\nuint8 c\n");
    let mut w = Cdr::new(false);
    w.u8(1).u32(0).u8(2);
    assert_eq!(w.message().len(), 13);
    let b = decode(&mut d, &w.message());
    assert_eq!(b.column(1).as_primitive::<Int16Type>().value(0), 1);
    assert_eq!(b.column(3).as_primitive::<Int16Type>().value(0), 2);
    // With two elements the doubles align to 8 from the body's start.
    let mut w = Cdr::new(false);
    w.u8(1).u32(2).f64(1.5).f64(-2.0).u8(3);
    assert_eq!(w.body.len(), 8 + 16 + 1);
    let b = decode(&mut d, &w.message());
    let list = b.column(2).as_list::<i32>();
    assert_eq!(
        list.value(0).as_primitive::<Float64Type>().values(),
        &[1.5, -2.0]
    );
}

#[test]
fn eight_byte_values_align_to_eight_from_the_body_start() {
    // string "abcd" (4 + 5 bytes), then a float64 at 16, not at 12.
    let mut d = decoder("p/msg/T", "string s\nfloat64 d\n");
    let mut w = Cdr::new(false);
    w.string("abcd").f64(6.25);
    assert_eq!(w.body.len(), 24);
    let b = decode(&mut d, &w.message());
    assert_eq!(b.column(1).as_string::<i32>().value(0), "abcd");
    assert_eq!(b.column(2).as_primitive::<Float64Type>().value(0), 6.25);
    // Aligned to 4 (the mistake of some decoders), it does not decode.
    let mut wrong = vec![0, 1, 0, 0];
    wrong.extend_from_slice(&w.body[..9]);
    wrong.extend_from_slice(&[0; 3]);
    wrong.extend_from_slice(&6.25f64.to_le_bytes());
    assert!(d.decode(7, &wrong).is_err());
}

const PROBE: &str = "\
byte b
char c
uint8[] raw
byte[<=4] small
builtin_interfaces/Time t
builtin_interfaces/Duration[] ds
std_msgs/Empty e
std_msgs/Empty[] es
int32[<=3] bounded
string<=8 name
uint64 big
================================================================================
MSG: builtin_interfaces/Time
int32 sec
uint32 nanosec
================================================================================
MSG: builtin_interfaces/Duration
int32 sec
uint32 nanosec
================================================================================
MSG: std_msgs/Empty
";

fn probe(big: bool, name: &str) -> Vec<u8> {
    let mut w = Cdr::new(big);
    w.u8(255).u8(200);
    w.u32(3).u8(1).u8(2).u8(3); // raw
    w.u32(2).u8(9).u8(8); // small
    w.i32(-2).u32(5); // t: -2 s + 5 ns
    w.u32(2).i32(1).u32(500).i32(-1).u32(0); // ds
    w.u8(0); // e: one byte
    w.u32(2).u8(0).u8(0); // es
    w.u32(1).i32(-7); // bounded
    w.string(name);
    w.bytes(&u64::MAX.to_le_bytes());
    w.message()
}

#[test]
fn ros2_types_map_as_the_contract_says_in_both_byte_orders() {
    let mut d = decoder("p/msg/Probe", PROBE);
    let little = decode(&mut d, &probe(false, "héllo"));
    let big = decode(&mut d, &probe(true, "héllo"));
    assert_eq!(little, big);
    let schema = little.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    // Fields of an empty message type have no column.
    assert_eq!(
        names,
        [
            "log_time_ns",
            "b",
            "c",
            "raw",
            "small",
            "t",
            "ds",
            "bounded",
            "name",
            "big"
        ]
    );
    assert_eq!(little.column(1).as_primitive::<Int16Type>().value(0), 255);
    assert_eq!(little.column(2).as_primitive::<Int16Type>().value(0), 200);
    assert_eq!(little.column(3).as_binary::<i32>().value(0), &[1, 2, 3]);
    assert_eq!(little.column(4).as_binary::<i32>().value(0), &[9, 8]);
    assert_eq!(
        little.column(5).as_primitive::<Int64Type>().value(0),
        -2_000_000_000 + 5
    );
    let ds = little.column(6).as_list::<i32>().value(0);
    assert_eq!(
        ds.as_primitive::<Int64Type>().values(),
        &[1_000_000_500, -1_000_000_000]
    );
    assert_eq!(little.column(8).as_string::<i32>().value(0), "héllo");
    assert!(little.column(9).is_valid(0));
}

#[test]
fn up_to_three_bytes_of_final_padding_and_no_more() {
    let mut d = decoder("std_msgs/msg/String", "string data\n");
    let mut w = Cdr::new(false);
    w.string("Hello, world! 4203");
    for pad in 0..=3 {
        let mut m = w.message();
        m.extend(std::iter::repeat_n(0xEE, pad));
        assert!(d.decode(1, &m).is_ok(), "{pad} bytes of padding");
    }
    let mut m = w.message();
    m.extend([0xDE, 0xAD, 0xBE, 0xEF]);
    let e = d.decode(1, &m).unwrap_err().to_string();
    assert!(e.contains("4 left over"), "{e}");
    // Cut short: refused, nothing appended.
    assert!(d.decode(1, &w.message()[..10]).is_err());
    assert_eq!(d.finish().num_rows(), 4);
}

#[test]
fn other_encapsulations_are_refused_by_name() {
    let mut d = decoder("std_msgs/msg/String", "string data\n");
    let mut w = Cdr::new(false);
    w.string("x");
    let mut m = w.message();
    m[1] = 3;
    let e = d.decode(1, &m).unwrap_err().to_string();
    assert!(e.contains("00 03") && e.contains("PL_CDR_LE"), "{e}");
    m[1] = 7;
    let e = d.decode(1, &m).unwrap_err().to_string();
    assert!(e.contains("CDR2_LE"), "{e}");
    assert!(d.decode(1, &[0, 1]).is_err());
}

#[test]
fn a_zero_length_string_and_an_empty_message() {
    let mut d = decoder("std_msgs/msg/String", "string data\n");
    let b = decode(&mut d, &[0, 1, 0, 0, 0, 0, 0, 0]);
    assert_eq!(b.column(1).as_string::<i32>().value(0), "");
    // std_msgs/Empty on its own: the header and one byte, only a time column.
    let mut e = decoder("std_msgs/msg/Empty", "");
    let b = decode(&mut e, &[0, 1, 0, 0, 0]);
    assert_eq!(b.num_columns(), 1);
    assert_eq!(b.num_rows(), 1);
}
