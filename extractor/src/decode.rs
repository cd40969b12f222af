//! The ROS-to-Arrow type mapping and the message decoder, for both wire
//! formats ([`Wire`]): ROS1 serialization (packed little-endian) and CDR
//! (XCDR1 as ROS 2 writes it: a 4-byte encapsulation header saying the
//! byte order, then every value aligned to its size counted from the byte
//! after that header, 8-byte values to 8).
//!
//! A [`Layout`] is compiled once per message definition and wire format:
//! the Arrow schema of the topic table and a template tree of column
//! buffers that mirrors it.
//! A [`MessageDecoder`] clones that template and decodes each message's
//! bytes straight into the buffers (no intermediate value tree), then
//! [`MessageDecoder::finish`] turns them into a [`RecordBatch`].
//!
//! The buffers are plain `Vec`s rather than Arrow builders because a message
//! that does not decode to exactly its length must be dropped alone after
//! some of its fields were already appended: every buffer here can be
//! truncated back to a row count, which Arrow's builders cannot.
//!
//! The mapping (see `CONTRACT.md`, "Topic tables"):
//!
//! | ROS | Arrow |
//! | --- | --- |
//! | bool | Boolean |
//! | int8/byte, int16, int32, int64 | Int8, Int16, Int32, Int64 |
//! | uint8/char, uint16, uint32 | Int16, Int32, Int64 (widened) |
//! | uint64 | Decimal128(20, 0) |
//! | float32, float64 | Float32, Float64 |
//! | string | Utf8 (invalid UTF-8 replaced by U+FFFD and counted) |
//! | time, duration | Int64 ns, `sec * 1e9 + nsec`, not normalised |
//! | nested message | Struct |
//! | `T[]`, `T[N]` | List<T> |
//! | `uint8[]`, `uint8[N]`, `char[]`, `char[N]` | Binary |
//!
//! ROS 2 adds: `byte` (octet) and `char` as Int16 (both unsigned); arrays of
//! `uint8`, `byte` or `char` of any kind (`[]`, `[N]`, `[<=N]`) as Binary;
//! bounded types as their unbounded form; and a field of type
//! `builtin_interfaces/msg/Time` or `Duration` (`int32 sec, uint32
//! nanosec`) as Int64 nanoseconds, `sec * 1e9 + nanosec`, so `header.stamp`
//! has one type in ROS1 and ROS 2 tables.
//!
//! Fields whose type is a message with no columns (like `std_msgs/Empty`),
//! and arrays of such messages, are left out of the schema; their bytes are
//! still walked on the wire (none in ROS1, one in CDR).

use std::sync::Arc;

use arrow_array::{
    ArrayRef, BinaryArray, BooleanArray, Decimal128Array, Float32Array, Float64Array, Int8Array,
    Int16Array, Int32Array, Int64Array, ListArray, RecordBatch, RecordBatchOptions, StringArray,
    StructArray,
};
use arrow_buffer::{Buffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, FieldRef, Fields, Schema, SchemaRef};

use crate::definition::{Arity, FieldType, MessageType, Primitive};
use crate::error::{Error, Result};

/// Name of the receive-time column that leads every topic table.
pub const LOG_TIME_COLUMN: &str = "log_time_ns";

/// Precision of the decimal that holds a `uint64` (20 digits hold 2^64 - 1).
pub const UINT64_PRECISION: u8 = 20;

/// Most array elements of no wire bytes one message may hold.
///
/// Every other array length is checked against the bytes left in the
/// message (`n * smallest element size`), so it cannot claim more than the
/// message holds. An element whose type has columns but no bytes (a message
/// whose only fields are `T[0]`) costs memory for each element without
/// consuming a byte: a length of 2^32, or fixed arrays of such arrays
/// nested, would otherwise run unbounded. Real messages hold none.
pub const MAX_EMPTY_ELEMENTS: usize = 1 << 16;

/// How message bytes are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Wire {
    /// ROS1 serialization: little-endian, packed, no header.
    Ros1,
    /// CDR (XCDR1, either byte order): ROS 2.
    Cdr,
}

/// A ROS 2 message with the layout of `builtin_interfaces/msg/Time`
/// (`int32 sec, uint32 nanosec`), mapped to Int64 nanoseconds.
pub fn is_ros2_stamp(msg: &MessageType) -> bool {
    matches!(
        msg.name.as_str(),
        "builtin_interfaces/msg/Time" | "builtin_interfaces/msg/Duration"
    ) && matches!(
        msg.fields.as_slice(),
        [s, n] if s.name == "sec"
            && s.ty == FieldType::Primitive(Primitive::Int32)
            && s.arity == Arity::Scalar
            && n.name == "nanosec"
            && n.ty == FieldType::Primitive(Primitive::UInt32)
            && n.arity == Arity::Scalar
    )
}

/// The Arrow type a ROS primitive maps to (scalar, not in an array).
pub fn primitive_type(p: Primitive) -> DataType {
    match p {
        Primitive::Bool => DataType::Boolean,
        Primitive::Int8 => DataType::Int8,
        Primitive::UInt8 | Primitive::Octet | Primitive::Int16 => DataType::Int16,
        Primitive::UInt16 | Primitive::Int32 => DataType::Int32,
        Primitive::UInt32 | Primitive::Int64 | Primitive::Time | Primitive::Duration => {
            DataType::Int64
        }
        Primitive::UInt64 => DataType::Decimal128(UINT64_PRECISION, 0),
        Primitive::Float32 => DataType::Float32,
        Primitive::Float64 => DataType::Float64,
        Primitive::String => DataType::Utf8,
    }
}

/// A compiled message layout: the table schema and the decoder template.
#[derive(Debug)]
pub struct Layout {
    datatype: String,
    wire: Wire,
    schema: SchemaRef,
    root: Col,
    root_min_size: usize,
}

impl Layout {
    /// Compiles the layout of a parsed message type for a wire format.
    pub fn new(msg: &MessageType, wire: Wire) -> Layout {
        let (fields, slots, min) = compile_struct(msg, wire);
        let mut schema_fields = vec![Arc::new(Field::new(
            LOG_TIME_COLUMN,
            DataType::Int64,
            false,
        ))];
        schema_fields.extend(fields.iter().cloned());
        Layout {
            datatype: msg.name.clone(),
            wire,
            schema: Arc::new(Schema::new(schema_fields)),
            root: Col::Struct {
                fields,
                slots,
                len: 0,
            },
            root_min_size: min,
        }
    }

    /// The schema of the topic table: `log_time_ns`, then one column per
    /// top-level field with columns.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The ROS type this layout decodes.
    pub fn datatype(&self) -> &str {
        &self.datatype
    }

    /// The wire format it decodes.
    pub fn wire(&self) -> Wire {
        self.wire
    }

    /// Whether any column, at any depth, is Binary (images, point clouds).
    pub fn has_binary(&self) -> bool {
        fn walk(dt: &DataType) -> bool {
            match dt {
                DataType::Binary => true,
                DataType::List(f) => walk(f.data_type()),
                DataType::Struct(fs) => fs.iter().any(|f| walk(f.data_type())),
                _ => false,
            }
        }
        self.schema.fields().iter().any(|f| walk(f.data_type()))
    }
}

/// Decodes messages of one layout into column buffers.
#[derive(Debug)]
pub struct MessageDecoder {
    layout: Arc<Layout>,
    times: Vec<i64>,
    root: Col,
    invalid_utf8: u64,
}

impl MessageDecoder {
    /// A decoder with empty buffers.
    pub fn new(layout: Arc<Layout>) -> MessageDecoder {
        MessageDecoder {
            root: layout.root.clone(),
            layout,
            times: Vec::new(),
            invalid_utf8: 0,
        }
    }

    /// A decoder whose buffers take `rows` rows without growing: the
    /// columns of one value per row, and fixed-size arrays while their
    /// least wire size for those rows stays within `bytes` (the bytes
    /// the rows come from). Other arrays grow as their elements come.
    pub fn with_capacity(layout: Arc<Layout>, rows: usize, bytes: usize) -> MessageDecoder {
        let mut decoder = MessageDecoder::new(layout);
        decoder.times.reserve(rows);
        decoder.root.reserve(rows, bytes);
        decoder
    }

    /// Rows decoded since the last [`finish`](Self::finish).
    pub fn len(&self) -> usize {
        self.times.len()
    }

    /// Whether no row was decoded since the last finish.
    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }

    /// Strings whose invalid UTF-8 was replaced, since the decoder was made.
    pub fn invalid_utf8(&self) -> u64 {
        self.invalid_utf8
    }

    /// Decodes one message as a row. On error nothing is appended: the
    /// message must decode to exactly its length (CDR: up to 3 bytes of
    /// final padding may follow the last field).
    pub fn decode(&mut self, log_time_ns: i64, bytes: &[u8]) -> Result<()> {
        let rows = self.times.len();
        let utf8_before = self.invalid_utf8;
        let outcome = self.decode_body(bytes);
        match outcome {
            Ok(()) => {
                self.times.push(log_time_ns);
                Ok(())
            }
            Err(reason) => {
                self.root.truncate(rows);
                self.invalid_utf8 = utf8_before;
                Err(Error::Decode {
                    reason: format!("{} message: {reason}", self.layout.datatype),
                })
            }
        }
    }

    fn decode_body(&mut self, bytes: &[u8]) -> DecodeResult {
        let (body, big, slack) = match self.layout.wire {
            Wire::Ros1 => (bytes, false, 0),
            Wire::Cdr => {
                let (big, body) = cdr_header(bytes)?;
                (body, big, CDR_MAX_PADDING)
            }
        };
        if body.len() < self.layout.root_min_size {
            return Err(format!(
                "{} bytes, but a {} needs at least {}",
                bytes.len(),
                self.layout.datatype,
                self.layout.root_min_size
            ));
        }
        let mut cur = Cursor {
            buf: body,
            pos: 0,
            empty_left: MAX_EMPTY_ELEMENTS,
            cdr: self.layout.wire == Wire::Cdr,
            big,
        };
        self.root.decode_one(&mut cur, &mut self.invalid_utf8)?;
        match cur.remaining() {
            left if left <= slack => Ok(()),
            left => Err(format!(
                "decoded {} of its {} bytes ({left} left over)",
                bytes.len() - left,
                bytes.len()
            )),
        }
    }

    /// Takes the decoded rows as a record batch and empties the buffers.
    pub fn finish(&mut self) -> RecordBatch {
        let times = std::mem::take(&mut self.times);
        let rows = times.len();
        let mut columns: Vec<ArrayRef> = vec![Arc::new(Int64Array::from(times))];
        let Col::Struct { slots, len, .. } = &mut self.root else {
            unreachable!("the root of a layout is a struct")
        };
        *len = 0;
        columns.extend(slots.iter_mut().filter_map(|s| match s {
            Slot::Col(c) => Some(c.finish()),
            Slot::Skip(_) => None,
        }));
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        RecordBatch::try_new_with_options(self.layout.schema.clone(), columns, &options)
            .expect("the decoder's columns match the schema it was compiled with")
    }
}

/// Bytes of final padding a CDR message may carry after its last field.
pub const CDR_MAX_PADDING: usize = 3;

/// Checks a CDR encapsulation header; returns whether the payload is
/// big-endian, and the payload after the header.
fn cdr_header(bytes: &[u8]) -> DecodeResult<(bool, &[u8])> {
    let Some((head, body)) = bytes.split_first_chunk::<4>() else {
        return Err(format!(
            "{} bytes: too short for a CDR encapsulation header",
            bytes.len()
        ));
    };
    match [head[0], head[1]] {
        [0, 0] => Ok((true, body)),
        [0, 1] => Ok((false, body)),
        kind => {
            let name = match kind {
                [0, 2] => "PL_CDR_BE",
                [0, 3] => "PL_CDR_LE",
                [0, 6] => "CDR2_BE",
                [0, 7] => "CDR2_LE",
                [0, 8] => "D_CDR2_BE",
                [0, 9] => "D_CDR2_LE",
                [0, 10] => "PL_CDR2_BE",
                [0, 11] => "PL_CDR2_LE",
                _ => "unknown",
            };
            Err(format!(
                "unsupported CDR encapsulation {:02x} {:02x} ({name}); only XCDR1 (CDR_LE, CDR_BE) is decoded",
                kind[0], kind[1]
            ))
        }
    }
}

/// A bounds-checked reader over one message's bytes, in either wire format.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Array elements of no bytes still allowed ([`MAX_EMPTY_ELEMENTS`]).
    empty_left: usize,
    /// CDR: values are aligned to their size from the start of `buf`.
    cdr: bool,
    /// CDR_BE: values are big-endian.
    big: bool,
}

type DecodeResult<T = ()> = std::result::Result<T, String>;

impl<'a> Cursor<'a> {
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    #[inline]
    fn take(&mut self, n: usize) -> DecodeResult<&'a [u8]> {
        match self.buf.get(self.pos..).and_then(|rest| rest.get(..n)) {
            Some(out) => {
                self.pos += n;
                Ok(out)
            }
            None => Err(self.short(n)),
        }
    }

    /// The error of a read of `n` bytes past the end (kept out of line:
    /// the reads above are inlined into every field's decoding).
    #[cold]
    #[inline(never)]
    fn short(&self, n: usize) -> String {
        format!(
            "needs {n} bytes at byte {}, only {} remain",
            self.pos,
            self.remaining()
        )
    }

    #[inline]
    fn array<const N: usize>(&mut self) -> DecodeResult<[u8; N]> {
        let bytes = self.take(N)?;
        Ok(*bytes.first_chunk().expect("take gives N bytes"))
    }

    /// Skips CDR padding up to a multiple of `n` (ROS1 has none).
    #[inline]
    fn align(&mut self, n: usize) -> DecodeResult {
        if self.cdr && n > 1 {
            let pad = (n - self.pos % n) % n;
            self.take(pad)?;
        }
        Ok(())
    }

    fn u32(&mut self) -> DecodeResult<u32> {
        self.align(4)?;
        let a = self.array()?;
        Ok(if self.big {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        })
    }

    /// A length prefix, checked against the bytes that remain: `n` elements
    /// of at least `min_size` bytes each must fit, so no array or string
    /// can claim more memory than the message holds.
    fn length(&mut self, min_size: usize) -> DecodeResult<usize> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_size) > self.remaining() {
            return Err(format!(
                "length {n} at byte {} needs at least {} bytes, only {} remain",
                self.pos - 4,
                n.saturating_mul(min_size),
                self.remaining()
            ));
        }
        Ok(n)
    }

    /// Counts `n` array elements that occupy no bytes against
    /// [`MAX_EMPTY_ELEMENTS`].
    fn empty_elements(&mut self, n: usize) -> DecodeResult {
        if n > self.empty_left {
            return Err(format!(
                "more than {MAX_EMPTY_ELEMENTS} array elements of no bytes at byte {}",
                self.pos
            ));
        }
        self.empty_left -= n;
        Ok(())
    }
}

/// A variable-length byte column (Utf8 or Binary): offsets and values.
#[derive(Debug, Clone)]
struct VarBytes {
    offsets: Vec<i32>,
    data: Vec<u8>,
}

impl VarBytes {
    fn new() -> VarBytes {
        VarBytes {
            offsets: vec![0],
            data: Vec::new(),
        }
    }

    fn push(&mut self, bytes: &[u8]) -> DecodeResult {
        self.data.extend_from_slice(bytes);
        let end = i32::try_from(self.data.len())
            .map_err(|_| "more than 2 GiB of string or binary data in one batch".to_string())?;
        self.offsets.push(end);
        Ok(())
    }

    fn truncate(&mut self, rows: usize) {
        self.offsets.truncate(rows + 1);
        self.data.truncate(self.offsets[rows] as usize);
    }

    fn take_parts(&mut self) -> (OffsetBuffer<i32>, Buffer) {
        let offsets = std::mem::replace(&mut self.offsets, vec![0]);
        let data = std::mem::take(&mut self.data);
        (
            OffsetBuffer::new(ScalarBuffer::from(offsets)),
            Buffer::from_vec(data),
        )
    }
}

/// One column's buffers, shaped like its Arrow type.
#[derive(Debug, Clone)]
enum Col {
    Bool(Vec<bool>),
    Int8(Vec<i8>),
    UInt8(Vec<i16>),
    Int16(Vec<i16>),
    UInt16(Vec<i32>),
    Int32(Vec<i32>),
    UInt32(Vec<i64>),
    Int64(Vec<i64>),
    UInt64(Vec<i128>),
    Float32(Vec<f32>),
    Float64(Vec<f64>),
    Time(Vec<i64>),
    Duration(Vec<i64>),
    /// ROS 2 `builtin_interfaces/msg/Time` or `Duration`: ns.
    Stamp(Vec<i64>),
    Utf8(VarBytes),
    /// `uint8[]`/`char[]` (ROS 2 also `byte[]`), of any arity.
    Binary(Arity, VarBytes),
    List {
        arity: Arity,
        offsets: Vec<i32>,
        item: FieldRef,
        child: Box<Col>,
        child_min: usize,
    },
    Struct {
        fields: Fields,
        slots: Vec<Slot>,
        len: usize,
    },
}

/// A field of a struct: a column, or bytes walked and dropped.
#[derive(Debug, Clone)]
enum Slot {
    Col(Col),
    Skip(Skip),
}

/// The wire shape of a field that has no column (empty messages).
#[derive(Debug, Clone)]
enum Skip {
    Fixed(usize),
    Array { arity: Arity, elem: Box<Skip> },
    Seq(Vec<Skip>),
}

impl Skip {
    fn walk(&self, cur: &mut Cursor) -> DecodeResult {
        match self {
            Skip::Fixed(n) => cur.take(*n).map(|_| ()),
            Skip::Seq(parts) => parts.iter().try_for_each(|p| p.walk(cur)),
            Skip::Array { arity, elem } => {
                let n = match arity {
                    Arity::Variable | Arity::Bounded(_) => cur.length(elem.min_size())?,
                    Arity::Fixed(n) => *n,
                    Arity::Scalar => 1,
                };
                // Elements of a fixed size are taken in one go (elements of
                // no bytes cost nothing, however many); the others each
                // hold a length, so each takes at least 4 bytes.
                match elem.fixed_size() {
                    Some(k) => cur.take(n.saturating_mul(k)).map(|_| ()),
                    None => (0..n).try_for_each(|_| elem.walk(cur)),
                }
            }
        }
    }

    /// The size on the wire when it is the same for every message: no
    /// variable-length array inside (a fixed array of none counts as 0).
    fn fixed_size(&self) -> Option<usize> {
        match self {
            Skip::Fixed(n) => Some(*n),
            Skip::Seq(parts) => parts
                .iter()
                .try_fold(0usize, |sum, p| Some(sum.saturating_add(p.fixed_size()?))),
            Skip::Array {
                arity: Arity::Variable | Arity::Bounded(_),
                ..
            } => None,
            Skip::Array {
                arity: Arity::Fixed(0),
                ..
            } => Some(0),
            Skip::Array {
                arity: Arity::Fixed(n),
                elem,
            } => Some(n.saturating_mul(elem.fixed_size()?)),
            Skip::Array { elem, .. } => elem.fixed_size(),
        }
    }

    fn min_size(&self) -> usize {
        match self {
            Skip::Fixed(n) => *n,
            Skip::Seq(parts) => parts.iter().map(Skip::min_size).sum(),
            Skip::Array {
                arity: Arity::Variable | Arity::Bounded(_),
                ..
            } => 4,
            Skip::Array {
                arity: Arity::Fixed(n),
                elem,
            } => n.saturating_mul(elem.min_size()),
            Skip::Array { elem, .. } => elem.min_size(),
        }
    }
}

/// The wire shape of a message type whose fields have no columns. In CDR
/// a message with no fields at all is one byte (rosidl gives it the member
/// `uint8 structure_needs_at_least_one_member`).
fn skip_of(msg: &MessageType, wire: Wire) -> Skip {
    if msg.fields.is_empty() && wire == Wire::Cdr {
        return Skip::Fixed(1);
    }
    Skip::Seq(
        msg.fields
            .iter()
            .map(|f| {
                let elem = match &f.ty {
                    FieldType::Primitive(p) => match p.fixed_size() {
                        Some(n) => Skip::Fixed(n),
                        None => Skip::Array {
                            arity: Arity::Variable,
                            elem: Box::new(Skip::Fixed(1)),
                        },
                    },
                    FieldType::Message(m) => skip_of(m, wire),
                };
                match f.arity {
                    Arity::Scalar => elem,
                    arity => Skip::Array {
                        arity,
                        elem: Box::new(elem),
                    },
                }
            })
            .collect(),
    )
}

/// Compiles a message type into its struct fields, slots and minimum wire
/// size. The fields are empty when the type has no columns.
fn compile_struct(msg: &MessageType, wire: Wire) -> (Fields, Vec<Slot>, usize) {
    let mut fields = Vec::new();
    let mut slots = Vec::new();
    let mut min = 0usize;
    for f in &msg.fields {
        let (slot, size) = compile_field(&f.ty, f.arity, wire);
        min = min.saturating_add(size);
        if let Slot::Col(col) = &slot {
            fields.push(Arc::new(Field::new(&f.name, col.data_type(), true)));
        }
        slots.push(slot);
    }
    (Fields::from(fields), slots, min)
}

/// Compiles one field into a column or a skip, with its minimum wire size.
fn compile_field(ty: &FieldType, arity: Arity, wire: Wire) -> (Slot, usize) {
    let (elem, elem_min): (Option<Col>, usize) = match ty {
        FieldType::Primitive(p) if p.is_byte() && arity != Arity::Scalar => {
            let min = match arity {
                Arity::Fixed(n) => n,
                _ => 4,
            };
            return (Slot::Col(Col::Binary(arity, VarBytes::new())), min);
        }
        FieldType::Primitive(p) => (Some(Col::primitive(*p)), p.fixed_size().unwrap_or(4)),
        FieldType::Message(m) if wire == Wire::Cdr && is_ros2_stamp(m) => {
            (Some(Col::Stamp(Vec::new())), 8)
        }
        FieldType::Message(m) => {
            let (fields, slots, min) = compile_struct(m, wire);
            if fields.is_empty() {
                // No columns: walk its bytes, keep nothing.
                let skip = skip_of(m, wire);
                let slot = match arity {
                    Arity::Scalar => Slot::Skip(skip),
                    arity => Slot::Skip(Skip::Array {
                        arity,
                        elem: Box::new(skip),
                    }),
                };
                let size = match &slot {
                    Slot::Skip(s) => s.min_size(),
                    Slot::Col(_) => unreachable!(),
                };
                return (slot, size);
            }
            (
                Some(Col::Struct {
                    fields,
                    slots,
                    len: 0,
                }),
                min,
            )
        }
    };
    let elem = elem.expect("every branch that reaches here has a column");
    match arity {
        Arity::Scalar => (Slot::Col(elem), elem_min),
        Arity::Variable | Arity::Fixed(_) | Arity::Bounded(_) => {
            let item = Arc::new(Field::new("item", elem.data_type(), true));
            let min = match arity {
                Arity::Fixed(n) => n.saturating_mul(elem_min),
                _ => 4,
            };
            let list = Col::List {
                arity,
                offsets: vec![0],
                item,
                child: Box::new(elem),
                child_min: elem_min,
            };
            (Slot::Col(list), min)
        }
    }
}

/// Reads one fixed-size value: CDR aligns it to `align`, and reads it
/// big-endian with `be`.
#[inline(always)]
fn push_prim<const N: usize, T>(
    out: &mut Vec<T>,
    cur: &mut Cursor,
    align: usize,
    le: impl Fn([u8; N]) -> T,
    be: impl Fn([u8; N]) -> T,
) -> DecodeResult {
    cur.align(align)?;
    let a = cur.array::<N>()?;
    out.push(if cur.big { be(a) } else { le(a) });
    Ok(())
}

/// Reads `n` fixed-size values in one go: CDR aligns the first to `align`
/// (the rest follow packed), and reads big-endian values with `be`.
#[inline(always)]
fn extend_prim<const N: usize, T>(
    out: &mut Vec<T>,
    cur: &mut Cursor,
    n: usize,
    align: usize,
    le: impl Fn([u8; N]) -> T,
    be: impl Fn([u8; N]) -> T,
) -> DecodeResult {
    if n == 0 {
        // An empty sequence does not align its element type.
        return Ok(());
    }
    if n == 1 {
        // A scalar field, the common case: one push, no iterator.
        return push_prim(out, cur, align, le, be);
    }
    cur.align(align)?;
    let bytes = cur.take(n.saturating_mul(N))?;
    let chunks = bytes.chunks_exact(N).map(|c| {
        let mut a = [0u8; N];
        a.copy_from_slice(c);
        a
    });
    if cur.big {
        out.extend(chunks.map(be));
    } else {
        out.extend(chunks.map(le));
    }
    Ok(())
}

fn time_ns(a: [u8; 8]) -> i64 {
    let sec = u32::from_le_bytes([a[0], a[1], a[2], a[3]]);
    let nsec = u32::from_le_bytes([a[4], a[5], a[6], a[7]]);
    i64::from(sec) * 1_000_000_000 + i64::from(nsec)
}

fn duration_ns(a: [u8; 8]) -> i64 {
    let sec = i32::from_le_bytes([a[0], a[1], a[2], a[3]]);
    let nsec = i32::from_le_bytes([a[4], a[5], a[6], a[7]]);
    i64::from(sec) * 1_000_000_000 + i64::from(nsec)
}

/// ROS 2 Time/Duration: `int32 sec`, then `uint32 nanosec`.
fn stamp_ns_le(a: [u8; 8]) -> i64 {
    let sec = i32::from_le_bytes([a[0], a[1], a[2], a[3]]);
    let nsec = u32::from_le_bytes([a[4], a[5], a[6], a[7]]);
    i64::from(sec) * 1_000_000_000 + i64::from(nsec)
}

fn stamp_ns_be(a: [u8; 8]) -> i64 {
    let sec = i32::from_be_bytes([a[0], a[1], a[2], a[3]]);
    let nsec = u32::from_be_bytes([a[4], a[5], a[6], a[7]]);
    i64::from(sec) * 1_000_000_000 + i64::from(nsec)
}

fn push_utf8(col: &mut VarBytes, bytes: &[u8], invalid: &mut u64) -> DecodeResult {
    match std::str::from_utf8(bytes) {
        Ok(_) => col.push(bytes),
        Err(_) => {
            *invalid += 1;
            col.push(String::from_utf8_lossy(bytes).as_bytes())
        }
    }
}

impl Col {
    fn primitive(p: Primitive) -> Col {
        match p {
            Primitive::Bool => Col::Bool(Vec::new()),
            Primitive::Int8 => Col::Int8(Vec::new()),
            Primitive::UInt8 | Primitive::Octet => Col::UInt8(Vec::new()),
            Primitive::Int16 => Col::Int16(Vec::new()),
            Primitive::UInt16 => Col::UInt16(Vec::new()),
            Primitive::Int32 => Col::Int32(Vec::new()),
            Primitive::UInt32 => Col::UInt32(Vec::new()),
            Primitive::Int64 => Col::Int64(Vec::new()),
            Primitive::UInt64 => Col::UInt64(Vec::new()),
            Primitive::Float32 => Col::Float32(Vec::new()),
            Primitive::Float64 => Col::Float64(Vec::new()),
            Primitive::String => Col::Utf8(VarBytes::new()),
            Primitive::Time => Col::Time(Vec::new()),
            Primitive::Duration => Col::Duration(Vec::new()),
        }
    }

    fn data_type(&self) -> DataType {
        match self {
            Col::Bool(_) => DataType::Boolean,
            Col::Int8(_) => DataType::Int8,
            Col::UInt8(_) | Col::Int16(_) => DataType::Int16,
            Col::UInt16(_) | Col::Int32(_) => DataType::Int32,
            Col::UInt32(_) | Col::Int64(_) | Col::Time(_) | Col::Duration(_) | Col::Stamp(_) => {
                DataType::Int64
            }
            Col::UInt64(_) => DataType::Decimal128(UINT64_PRECISION, 0),
            Col::Float32(_) => DataType::Float32,
            Col::Float64(_) => DataType::Float64,
            Col::Utf8(_) => DataType::Utf8,
            Col::Binary(..) => DataType::Binary,
            Col::List { item, .. } => DataType::List(item.clone()),
            Col::Struct { fields, .. } => DataType::Struct(fields.clone()),
        }
    }

    /// Appends one value read from the cursor.
    fn decode_one(&mut self, cur: &mut Cursor, invalid: &mut u64) -> DecodeResult {
        self.decode_many(cur, 1, invalid)
    }

    /// Appends `n` values of a primitive column; `None`: not a primitive
    /// column. Inlined where it is called, so a struct's loop over its
    /// fields decodes a scalar without a call (a call of
    /// [`Col::decode_many`] per field cost more than the field: callgrind
    /// counted a fifth of the decoding in its entry and exit).
    #[inline(always)]
    fn decode_prims(&mut self, cur: &mut Cursor, n: usize) -> Option<DecodeResult> {
        Some(match self {
            Col::Bool(v) => extend_prim(v, cur, n, 1, |[b]: [u8; 1]| b != 0, |[b]| b != 0),
            Col::Int8(v) => extend_prim(v, cur, n, 1, i8::from_le_bytes, i8::from_be_bytes),
            Col::UInt8(v) => extend_prim(
                v,
                cur,
                n,
                1,
                |[b]: [u8; 1]| i16::from(b),
                |[b]| i16::from(b),
            ),
            Col::Int16(v) => extend_prim(v, cur, n, 2, i16::from_le_bytes, i16::from_be_bytes),
            Col::UInt16(v) => extend_prim(
                v,
                cur,
                n,
                2,
                |a| i32::from(u16::from_le_bytes(a)),
                |a| i32::from(u16::from_be_bytes(a)),
            ),
            Col::Int32(v) => extend_prim(v, cur, n, 4, i32::from_le_bytes, i32::from_be_bytes),
            Col::UInt32(v) => extend_prim(
                v,
                cur,
                n,
                4,
                |a| i64::from(u32::from_le_bytes(a)),
                |a| i64::from(u32::from_be_bytes(a)),
            ),
            Col::Int64(v) => extend_prim(v, cur, n, 8, i64::from_le_bytes, i64::from_be_bytes),
            Col::UInt64(v) => extend_prim(
                v,
                cur,
                n,
                8,
                |a| i128::from(u64::from_le_bytes(a)),
                |a| i128::from(u64::from_be_bytes(a)),
            ),
            Col::Float32(v) => extend_prim(v, cur, n, 4, f32::from_le_bytes, f32::from_be_bytes),
            Col::Float64(v) => extend_prim(v, cur, n, 8, f64::from_le_bytes, f64::from_be_bytes),
            // ROS1 only: never aligned, never big-endian.
            Col::Time(v) => extend_prim(v, cur, n, 1, time_ns, time_ns),
            Col::Duration(v) => extend_prim(v, cur, n, 1, duration_ns, duration_ns),
            Col::Stamp(v) => extend_prim(v, cur, n, 4, stamp_ns_le, stamp_ns_be),
            _ => return None,
        })
    }

    /// Appends `n` consecutive values; primitives are read in bulk.
    fn decode_many(&mut self, cur: &mut Cursor, n: usize, invalid: &mut u64) -> DecodeResult {
        match self {
            Col::Utf8(s) => (0..n).try_for_each(|_| {
                let len = cur.length(1)?;
                let mut bytes = cur.take(len)?;
                if cur.cdr {
                    // CDR counts the terminating NUL; a writer that wrote
                    // length 0 for "" is read as "".
                    if let [rest @ .., 0] = bytes {
                        bytes = rest;
                    }
                }
                push_utf8(s, bytes, invalid)
            }),
            Col::Binary(arity, b) => (0..n).try_for_each(|_| {
                let len = match arity {
                    Arity::Fixed(k) => *k,
                    _ => cur.length(1)?,
                };
                b.push(cur.take(len)?)
            }),
            Col::List {
                arity,
                offsets,
                child,
                child_min,
                ..
            } => (0..n).try_for_each(|_| {
                let len = match arity {
                    Arity::Fixed(k) => *k,
                    _ => cur.length(*child_min)?,
                };
                if *child_min == 0 {
                    cur.empty_elements(len)?;
                }
                child.decode_many(cur, len, invalid)?;
                let last = *offsets.last().expect("offsets start with 0");
                let end = i32::try_from(len)
                    .ok()
                    .and_then(|l| last.checked_add(l))
                    .ok_or_else(|| "more than 2^31 array elements in one batch".to_string())?;
                offsets.push(end);
                Ok(())
            }),
            Col::Struct { slots, len, .. } => (0..n).try_for_each(|_| {
                for slot in slots.iter_mut() {
                    match slot {
                        Slot::Col(c) => match c.decode_prims(cur, 1) {
                            Some(done) => done?,
                            None => c.decode_one(cur, invalid)?,
                        },
                        Slot::Skip(s) => s.walk(cur)?,
                    }
                }
                *len += 1;
                Ok(())
            }),
            prim => prim
                .decode_prims(cur, n)
                .expect("every other column is a primitive"),
        }
    }

    /// Reserves room for `n` more values (see
    /// [`MessageDecoder::with_capacity`]).
    fn reserve(&mut self, n: usize, bytes: usize) {
        match self {
            Col::Bool(v) => v.reserve(n),
            Col::Int8(v) => v.reserve(n),
            Col::UInt8(v) | Col::Int16(v) => v.reserve(n),
            Col::UInt16(v) | Col::Int32(v) => v.reserve(n),
            Col::UInt32(v) | Col::Int64(v) | Col::Time(v) | Col::Duration(v) | Col::Stamp(v) => {
                v.reserve(n)
            }
            Col::UInt64(v) => v.reserve(n),
            Col::Float32(v) => v.reserve(n),
            Col::Float64(v) => v.reserve(n),
            Col::Utf8(s) | Col::Binary(_, s) => s.offsets.reserve(n),
            Col::List {
                arity,
                offsets,
                child,
                child_min,
                ..
            } => {
                offsets.reserve(n);
                if let Arity::Fixed(k) = arity {
                    let elements = n.saturating_mul(*k);
                    if *child_min > 0 && elements.saturating_mul(*child_min) <= bytes {
                        child.reserve(elements, bytes);
                    }
                }
            }
            Col::Struct { slots, .. } => {
                for slot in slots.iter_mut() {
                    if let Slot::Col(c) = slot {
                        c.reserve(n, bytes);
                    }
                }
            }
        }
    }

    /// Drops every value past the first `rows` (undoing a failed message).
    fn truncate(&mut self, rows: usize) {
        match self {
            Col::Bool(v) => v.truncate(rows),
            Col::Int8(v) => v.truncate(rows),
            Col::UInt8(v) | Col::Int16(v) => v.truncate(rows),
            Col::UInt16(v) | Col::Int32(v) => v.truncate(rows),
            Col::UInt32(v) | Col::Int64(v) | Col::Time(v) | Col::Duration(v) | Col::Stamp(v) => {
                v.truncate(rows)
            }
            Col::UInt64(v) => v.truncate(rows),
            Col::Float32(v) => v.truncate(rows),
            Col::Float64(v) => v.truncate(rows),
            Col::Utf8(s) | Col::Binary(_, s) => s.truncate(rows),
            Col::List { offsets, child, .. } => {
                offsets.truncate(rows + 1);
                child.truncate(offsets[rows] as usize);
            }
            Col::Struct { slots, len, .. } => {
                *len = rows.min(*len);
                for slot in slots.iter_mut() {
                    if let Slot::Col(c) = slot {
                        c.truncate(rows);
                    }
                }
            }
        }
    }

    /// Moves the buffers out as an Arrow array, leaving the column empty.
    fn finish(&mut self) -> ArrayRef {
        match self {
            Col::Bool(v) => Arc::new(BooleanArray::from(std::mem::take(v))),
            Col::Int8(v) => Arc::new(Int8Array::from(std::mem::take(v))),
            Col::UInt8(v) | Col::Int16(v) => Arc::new(Int16Array::from(std::mem::take(v))),
            Col::UInt16(v) | Col::Int32(v) => Arc::new(Int32Array::from(std::mem::take(v))),
            Col::UInt32(v) | Col::Int64(v) | Col::Time(v) | Col::Duration(v) | Col::Stamp(v) => {
                Arc::new(Int64Array::from(std::mem::take(v)))
            }
            Col::UInt64(v) => Arc::new(
                Decimal128Array::from(std::mem::take(v))
                    .with_precision_and_scale(UINT64_PRECISION, 0)
                    .expect("20 digits, scale 0 is a valid decimal"),
            ),
            Col::Float32(v) => Arc::new(Float32Array::from(std::mem::take(v))),
            Col::Float64(v) => Arc::new(Float64Array::from(std::mem::take(v))),
            Col::Utf8(s) => {
                let (offsets, data) = s.take_parts();
                Arc::new(StringArray::new(offsets, data, None))
            }
            Col::Binary(_, s) => {
                let (offsets, data) = s.take_parts();
                Arc::new(BinaryArray::new(offsets, data, None))
            }
            Col::List {
                offsets,
                item,
                child,
                ..
            } => {
                let offsets = std::mem::replace(offsets, vec![0]);
                Arc::new(ListArray::new(
                    item.clone(),
                    OffsetBuffer::new(ScalarBuffer::from(offsets)),
                    child.finish(),
                    None,
                ))
            }
            Col::Struct { fields, slots, len } => {
                let rows = std::mem::take(len);
                let arrays: Vec<ArrayRef> = slots
                    .iter_mut()
                    .filter_map(|s| match s {
                        Slot::Col(c) => Some(c.finish()),
                        Slot::Skip(_) => None,
                    })
                    .collect();
                Arc::new(
                    StructArray::try_new_with_length(fields.clone(), arrays, None, rows)
                        .expect("every child holds one value per struct row"),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definition::ros1;

    fn list_child_capacity(decoder: &MessageDecoder) -> usize {
        let Col::Struct { slots, .. } = &decoder.root else {
            unreachable!()
        };
        match &slots[1] {
            Slot::Col(Col::List { child, .. }) => match child.as_ref() {
                Col::Float64(v) => v.capacity(),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn decoders_are_sized_only_as_far_as_the_bytes_allow() {
        let msg = ros1::parse("t/Big", "int32 a\nfloat64[100000] big\n").unwrap();
        let layout = Arc::new(Layout::new(&msg, Wire::Ros1));
        // Ten rows of 800,004 bytes each would fit: reserved.
        let roomy = MessageDecoder::with_capacity(layout.clone(), 10, 10 * 800_004);
        assert!(list_child_capacity(&roomy) >= 1_000_000);
        // Ten short messages claiming the type: nothing reserved for the
        // array, whatever its declared size.
        let short = MessageDecoder::with_capacity(layout.clone(), 10, 100);
        assert_eq!(list_child_capacity(&short), 0);
        // Sized or not, a decoder gives the same rows.
        let mut row = 7i32.to_le_bytes().to_vec();
        row.extend((0..100_000).flat_map(|i| f64::from(i).to_le_bytes()));
        let mut a = MessageDecoder::new(layout.clone());
        let mut b = MessageDecoder::with_capacity(layout, 2, 2 * row.len());
        for d in [&mut a, &mut b] {
            d.decode(1, &row).unwrap();
            assert!(d.decode(2, &row[..row.len() - 1]).is_err());
            d.decode(3, &row).unwrap();
        }
        assert_eq!(a.finish(), b.finish());
    }
}
