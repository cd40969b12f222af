//! Configured field paths (`detections.bboxes`, `Class`, `image_points`,
//! ...) resolved against the synchronized table, and typed readers for what
//! they reach.
//!
//! A path is dotted and goes through Struct fields only. It is resolved and
//! type-checked once against the schema ([`FieldPath::resolve`], then one of
//! the `expect_*` checks), which turns it into child indices; the arrays are
//! then reached with [`FieldPath::follow`], once per batch, and read by row
//! or element index with no further lookups.
//!
//! Readers accept every Arrow type a decoded ROS message can hold for that
//! role, and a few more: lists are List, LargeList or FixedSizeList; strings
//! Utf8, LargeUtf8 or Utf8View; numbers any integer or float type, or
//! Decimal128 with its scale (the lake's `uint64` is Decimal128(20, 0)),
//! all read as f64.

use std::ops::Range;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float16Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type,
    UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{
    Array, ArrayRef, FixedSizeListArray, LargeListArray, LargeStringArray, ListArray, StringArray,
    StringViewArray, StructArray,
};
use arrow_buffer::NullBuffer;
use arrow_schema::{DataType, Fields};

use crate::detect::{Error, Result};

/// Separator of the segments of a configured path.
pub const PATH_SEPARATOR: char = '.';

const EXPECT_STRUCT: &str = "a struct";
const EXPECT_LIST: &str = "a list";
const EXPECT_STRING: &str = "a string";
const EXPECT_NUMBER: &str = "a number";

/// A configured path, resolved against a struct's fields.
#[derive(Debug, Clone)]
pub struct FieldPath {
    /// The config key it came from, e.g. `scenes.detections.boxes`.
    key: &'static str,
    /// The path as configured.
    path: String,
    /// The child index taken at each level.
    indices: Vec<usize>,
    /// The type the path ends at.
    data_type: DataType,
}

impl FieldPath {
    /// Resolves `path` (the value of config key `key`) through the struct
    /// fields `root`. `level` says what `root` is, for the error message
    /// (e.g. `one box of "detections.bboxes"`).
    ///
    /// Fails naming the key, the path, the segment that is missing and the
    /// fields that exist where it was looked up, or, when a segment is
    /// looked up in something that is not a struct, that thing's type.
    pub fn resolve(key: &'static str, path: &str, root: &Fields, level: &str) -> Result<Self> {
        let mut fields = root;
        let mut indices = Vec::new();
        let mut data_type: Option<&DataType> = None;
        let mut consumed = 0;
        for segment in path.split(PATH_SEPARATOR) {
            if let Some(dt) = data_type {
                match dt {
                    DataType::Struct(children) => fields = children,
                    other => {
                        return Err(Error::FieldType {
                            key,
                            path: path.to_string(),
                            at: path[..consumed - 1].to_string(),
                            expected: EXPECT_STRUCT,
                            actual: other.clone(),
                        });
                    }
                }
            }
            let Some((index, field)) = fields.find(segment) else {
                let prefix = &path[..consumed.saturating_sub(1)];
                return Err(Error::NoField {
                    key,
                    path: path.to_string(),
                    segment: segment.to_string(),
                    level: if prefix.is_empty() {
                        level.to_string()
                    } else {
                        format!("{prefix:?} of {level}")
                    },
                    existing: fields.iter().map(|f| f.name().clone()).collect(),
                });
            };
            indices.push(index);
            data_type = Some(field.data_type());
            consumed += segment.len() + 1;
        }
        Ok(FieldPath {
            key,
            path: path.to_string(),
            indices,
            // `split` yields at least one segment, so a field was found.
            data_type: data_type.cloned().unwrap_or(DataType::Null),
        })
    }

    /// The type the path ends at.
    pub fn data_type(&self) -> &DataType {
        &self.data_type
    }

    /// The path as configured.
    pub fn path(&self) -> &str {
        &self.path
    }

    fn wrong_type(&self, expected: &'static str) -> Error {
        Error::FieldType {
            key: self.key,
            path: self.path.clone(),
            at: self.path.clone(),
            expected,
            actual: self.data_type.clone(),
        }
    }

    /// Checks that the path ends at a list; returns the type of its items.
    pub fn expect_list(&self) -> Result<&DataType> {
        match &self.data_type {
            DataType::List(item) | DataType::LargeList(item) | DataType::FixedSizeList(item, _) => {
                Ok(item.data_type())
            }
            _ => Err(self.wrong_type(EXPECT_LIST)),
        }
    }

    /// Checks that the path ends at a string.
    pub fn expect_string(&self) -> Result<()> {
        match self.data_type {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Ok(()),
            _ => Err(self.wrong_type(EXPECT_STRING)),
        }
    }

    /// Checks that the path ends at a number [`Numbers`] can read.
    pub fn expect_number(&self) -> Result<()> {
        if is_number(&self.data_type) {
            Ok(())
        } else {
            Err(self.wrong_type(EXPECT_NUMBER))
        }
    }

    /// The array the path reaches from `root`, and the rows where it and
    /// every struct on the way (`root` included) are valid.
    ///
    /// `root` must have the fields the path was resolved against.
    pub fn follow<'a>(&self, root: &'a StructArray) -> (&'a ArrayRef, Validity) {
        let mut nulls = root.nulls().cloned();
        let mut parent = root;
        let mut array: Option<&'a ArrayRef> = None;
        for &index in &self.indices {
            if let Some(previous) = array {
                parent = previous.as_struct();
            }
            let child = parent.column(index);
            nulls = NullBuffer::union(nulls.as_ref(), child.nulls());
            array = Some(child);
        }
        // `resolve` found at least one field.
        let array = array.expect("a resolved path has at least one segment");
        (array, Validity(nulls))
    }
}

/// Checks that list items of type `item` are structs, so that paths
/// relative to one item can be resolved; returns their fields.
pub fn expect_struct_items<'a>(
    key: &'static str,
    list_path: &FieldPath,
    item: &'a DataType,
) -> Result<&'a Fields> {
    match item {
        DataType::Struct(fields) => Ok(fields),
        other => Err(Error::FieldType {
            key,
            path: list_path.path.clone(),
            at: format!("{} (one item)", list_path.path),
            expected: EXPECT_STRUCT,
            actual: other.clone(),
        }),
    }
}

/// The rows (or items) where a value and everything above it are valid.
#[derive(Debug, Clone)]
pub struct Validity(Option<NullBuffer>);

impl Validity {
    /// Whether index `i` holds a value.
    pub fn get(&self, i: usize) -> bool {
        self.0.as_ref().is_none_or(|nulls| nulls.is_valid(i))
    }
}

/// The lists a path ends at, read by offsets.
#[derive(Debug, Clone, Copy)]
pub enum Lists<'a> {
    List(&'a ListArray),
    Large(&'a LargeListArray),
    Fixed(&'a FixedSizeListArray),
}

impl<'a> Lists<'a> {
    /// Wraps `array`, or `None` when it is not a list.
    pub fn new(array: &'a dyn Array) -> Option<Self> {
        match array.data_type() {
            DataType::List(_) => Some(Lists::List(array.as_list())),
            DataType::LargeList(_) => Some(Lists::Large(array.as_list())),
            DataType::FixedSizeList(..) => Some(Lists::Fixed(array.as_fixed_size_list())),
            _ => None,
        }
    }

    /// The item indices (into [`Lists::values`]) of list `i`.
    pub fn range(&self, i: usize) -> Range<usize> {
        match self {
            Lists::List(a) => {
                let o = a.value_offsets();
                o[i] as usize..o[i + 1] as usize
            }
            Lists::Large(a) => {
                let o = a.value_offsets();
                o[i] as usize..o[i + 1] as usize
            }
            Lists::Fixed(a) => {
                let start = a.value_offset_at(i);
                start..start + a.value_length() as usize
            }
        }
    }

    /// The items of every list.
    pub fn values(&self) -> &'a ArrayRef {
        match self {
            Lists::List(a) => a.values(),
            Lists::Large(a) => a.values(),
            Lists::Fixed(a) => a.values(),
        }
    }
}

/// Strings a path ends at.
#[derive(Debug, Clone, Copy)]
pub enum Strings<'a> {
    Utf8(&'a StringArray),
    Large(&'a LargeStringArray),
    View(&'a StringViewArray),
}

impl<'a> Strings<'a> {
    /// Wraps `array`, or `None` when it is not a string array.
    pub fn new(array: &'a dyn Array) -> Option<Self> {
        match array.data_type() {
            DataType::Utf8 => Some(Strings::Utf8(array.as_string())),
            DataType::LargeUtf8 => Some(Strings::Large(array.as_string())),
            DataType::Utf8View => Some(Strings::View(array.as_string_view())),
            _ => None,
        }
    }

    /// The string at `i` (whatever it is when `i` is null).
    pub fn value(&self, i: usize) -> &'a str {
        match self {
            Strings::Utf8(a) => a.value(i),
            Strings::Large(a) => a.value(i),
            Strings::View(a) => a.value(i),
        }
    }
}

/// Whether [`Numbers::new`] reads arrays of this type.
pub fn is_number(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
            | DataType::Float16
            | DataType::Float32
            | DataType::Float64
            | DataType::Decimal128(..)
    )
}

/// Numbers of any numeric Arrow type, read as f64.
///
/// Integers wider than 53 bits and decimals lose precision, which image
/// coordinates and scores never need.
pub struct Numbers<'a>(Box<dyn Fn(usize) -> f64 + 'a>);

impl std::fmt::Debug for Numbers<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Numbers")
    }
}

impl<'a> Numbers<'a> {
    /// Wraps `array`, or `None` when its type is not one of [`is_number`].
    pub fn new(array: &'a dyn Array) -> Option<Self> {
        macro_rules! primitive {
            ($t:ty) => {{
                let a = array.as_primitive::<$t>();
                Numbers(Box::new(move |i| a.value(i) as f64))
            }};
        }
        let numbers = match array.data_type() {
            DataType::Int8 => primitive!(Int8Type),
            DataType::Int16 => primitive!(Int16Type),
            DataType::Int32 => primitive!(Int32Type),
            DataType::Int64 => primitive!(Int64Type),
            DataType::UInt8 => primitive!(UInt8Type),
            DataType::UInt16 => primitive!(UInt16Type),
            DataType::UInt32 => primitive!(UInt32Type),
            DataType::UInt64 => primitive!(UInt64Type),
            DataType::Float16 => {
                let a = array.as_primitive::<Float16Type>();
                Numbers(Box::new(move |i| a.value(i).to_f64()))
            }
            DataType::Float32 => primitive!(Float32Type),
            DataType::Float64 => primitive!(Float64Type),
            DataType::Decimal128(_, scale) => {
                let a = array.as_primitive::<arrow_array::types::Decimal128Type>();
                let unit = 10f64.powi(i32::from(*scale));
                Numbers(Box::new(move |i| a.value(i) as f64 / unit))
            }
            _ => return None,
        };
        Some(numbers)
    }

    /// The number at `i` (whatever it is when `i` is null).
    pub fn value(&self, i: usize) -> f64 {
        (self.0)(i)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{
        Decimal128Array, Float16Array, Float32Array, Float64Array, Int8Array, Int16Array,
        Int32Array, Int64Array, UInt8Array, UInt16Array, UInt32Array, UInt64Array,
    };
    use arrow_schema::Field;

    use super::*;

    #[test]
    fn every_numeric_type_reads_as_f64() {
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(Int8Array::from(vec![-3])),
            Arc::new(Int16Array::from(vec![-3])),
            Arc::new(Int32Array::from(vec![-3])),
            Arc::new(Int64Array::from(vec![-3])),
            Arc::new(Float16Array::from(vec![half_minus_three()])),
            Arc::new(Float32Array::from(vec![-3.0])),
            Arc::new(Float64Array::from(vec![-3.0])),
            Arc::new(
                Decimal128Array::from(vec![-300])
                    .with_precision_and_scale(20, 2)
                    .unwrap(),
            ),
        ];
        for array in &arrays {
            assert!(is_number(array.data_type()), "{}", array.data_type());
            let numbers = Numbers::new(array.as_ref()).unwrap();
            assert_eq!(numbers.value(0), -3.0, "{}", array.data_type());
        }
        let unsigned: Vec<ArrayRef> = vec![
            Arc::new(UInt8Array::from(vec![200])),
            Arc::new(UInt16Array::from(vec![200])),
            Arc::new(UInt32Array::from(vec![200])),
            Arc::new(UInt64Array::from(vec![200])),
            Arc::new(
                Decimal128Array::from(vec![200])
                    .with_precision_and_scale(20, 0)
                    .unwrap(),
            ),
        ];
        for array in &unsigned {
            assert!(is_number(array.data_type()), "{}", array.data_type());
            assert_eq!(Numbers::new(array.as_ref()).unwrap().value(0), 200.0);
        }
    }

    fn half_minus_three() -> <Float16Type as arrow_array::ArrowPrimitiveType>::Native {
        <Float16Type as arrow_array::ArrowPrimitiveType>::Native::from_f64(-3.0)
    }

    #[test]
    fn strings_and_booleans_are_not_numbers() {
        let strings: ArrayRef = Arc::new(StringArray::from(vec!["3"]));
        assert!(!is_number(strings.data_type()));
        assert!(Numbers::new(strings.as_ref()).is_none());
        assert!(!is_number(&DataType::Boolean));
    }

    #[test]
    fn path_through_a_scalar_names_its_type() {
        let fields = Fields::from(vec![Field::new("x", DataType::Int32, false)]);
        let err = FieldPath::resolve("scenes.lanes.x", "x.value", &fields, "one point")
            .unwrap_err()
            .to_string();
        assert!(err.contains("scenes.lanes.x"), "{err}");
        assert!(err.contains("\"x.value\""), "{err}");
        assert!(err.contains("Int32"), "{err}");
    }

    #[test]
    fn validity_includes_every_struct_on_the_way() {
        // root (row 1 null) -> inner (row 2 null) -> leaf (row 3 null).
        let leaf: ArrayRef = Arc::new(Int32Array::from(vec![Some(0), Some(1), Some(2), None]));
        let inner = StructArray::try_new(
            Fields::from(vec![Field::new("leaf", DataType::Int32, true)]),
            vec![leaf],
            Some(NullBuffer::from(vec![true, true, false, true])),
        )
        .unwrap();
        let root = StructArray::try_new(
            Fields::from(vec![Field::new("inner", inner.data_type().clone(), true)]),
            vec![Arc::new(inner)],
            Some(NullBuffer::from(vec![true, false, true, true])),
        )
        .unwrap();
        let DataType::Struct(fields) = root.data_type() else {
            unreachable!()
        };
        let path = FieldPath::resolve("k", "inner.leaf", fields, "root").unwrap();
        let (array, valid) = path.follow(&root);
        assert_eq!(array.data_type(), &DataType::Int32);
        assert_eq!(
            (0..4).map(|i| valid.get(i)).collect::<Vec<_>>(),
            [true, false, false, false]
        );
    }
}
