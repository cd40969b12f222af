#!/usr/bin/env python3
"""Check a bagpipe lake against an independent decoder (`rosbags` 0.11.9).

    python3 tests/parity/rosbags_parity.py --lake LAKE_DIR [--max-mismatches N]
            [--msg-path DIR]... INPUT [INPUT...]
    python3 tests/parity/rosbags_parity.py --expected-only [--msg-path DIR]... INPUT...

INPUT is a ROS1 `.bag`, or a ROS 2 input (contract, "ROS 2 input"): an
`.mcap` or rosbag2 sqlite3 `.db3` file, either as a whole-file `.zstd`, or a
rosbag2 directory (with or without `metadata.yaml`). `--msg-path` gives the
same directories as bagpipe's `[extract] msg_paths`. `--expected-only`
reads no lake: it prints, per input, what the lake must hold (catalogue
facts, per-topic message and row counts, a digest of the expected rows and
of the Arrow schema), so inputs holding the same messages can be compared;
see "ROS 2 input" below. Install: `pip install -r tests/requirements.txt`.

For each bag: its `bag_file` (contract, "Identity of a bag"), its catalogue
item in `LAKE_DIR/dynamodb/bags.jsonl` (which table each topic, and each
extra type of a topic, went to), then every message decoded by rosbags and
compared with the rows of `LAKE_DIR/topics/<table>/bag_file=<bag_file>/
part-*.parquet`, read in part order:

- the same number of rows per table, in log-time order with ties in bag order
  (chunk position, then record offset inside the chunk: both come from the
  bag's index, so the order is exact, not compared as a multiset);
- `log_time_ns` equal to the record time, then every field under the
  contract's type mapping (`expected_row`), and the table's Arrow schema;
- the catalogue's topics, types, md5sums and counts, the bag's message count
  and first/last times;
- partitions holding only `part-NNNNN.parquet` files numbered from 00000,
  and no partition of this bag in a table the catalogue does not name.

Mismatches are printed as

    MISMATCH bag=<bag> topic=<topic> table=<table> row=<n> field=<path> expected=<v> got=<v>

(`row=-` for schema, catalogue and layout checks), at most --max-mismatches
per bag, then one line per bag:

    OK   <bag> (bag_file=<bf>): <t> topics, <n> tables, <r> rows compared
    FAIL <bag> (bag_file=<bf>): <t> topics, <n> tables, <r> rows compared, <m> mismatches

A bag that rosbags itself cannot open or read is reported as
`rosbags cannot read <bag>: <error>; skipped` and is not a failure. A single
message that rosbags cannot decode is expected to be skipped by bagpipe too
(contract: "skipped alone"); those are counted in a `note:` line.

ROS 2 input is checked the same way, under the contract's ROS 2 rules:

- the storage files are read in contract order (a directory's files in
  `metadata.yaml` `relative_file_paths` order, or `<dir>_<N>.<ext>` by N
  without it; `.zstd` files decompressed to a temporary file first), each
  by rosbags' storage reader (`rosbags.rosbag2.Reader` on the bare file),
  and, for bag order, by a raw scan of the same file (the `mcap` library's
  record stream; sqlite3 `messages.id` order). Rows are in log-time order,
  ties in bag order (file, then record position); rosbags' own order for
  ties is by connection, not position, so the scan's position re-sorts
  them. If rosbags and the scan do not find the same messages, the input
  counts as one rosbags cannot read;
- definitions: the embedded one (MCAP schema, sqlite3
  `message_definitions`, which database schemas 1 to 3 lack), else
  `--msg-path` `<dir>/<pkg>/msg/<Type>.msg`, else the contract's built-in
  packages (rosbags' ROS2_HUMBLE store, plus `service_msgs` from
  ROS2_JAZZY); parsed and decoded by rosbags: `ros2msg` text, `ros2idl`
  text (the `IDL:` sections of rosidl's .idl files), and a service event's
  `.srv` text (plain, or rosbag2's newer `SRV: pkg/srv/X` section followed
  by `MSG:` sections), from which the event type is built. A channel whose
  message encoding is not `cdr` (or, for MCAP, whose schema encoding is
  not `ros2msg`/`ros2idl`), or whose definition is missing, does not
  parse, or names a type it does not define, is counted but has no rows
  and no table (and, when no definition exists at all, no `type_hash` and
  no `definition_source` in the catalogue);
- the catalogue: `format` (`mcap`/`sqlite3`), `storage_files` and
  `size_bytes` (their sum) for a directory, `size_bytes` for a file,
  `ros_distro` for a bare db3 (its `schema` table's, absent without one), per
  topic `type` (normalised `pkg/msg/Type`), `type_hash` (RIHS01 of the
  definition decoded with; no `md5sum`), `definition_source` (`embedded`,
  `msg_paths`, `builtin`), `message_count` and `variants`; the bag's
  message count and first/last log time (min/max over every message of the
  storage files, never metadata.yaml);
- rows under the ROS 2 mapping (`Mapping2`): `byte`/`char` Int16 0..255,
  arrays of `uint8`/`byte`/`char` Binary, `builtin_interfaces/msg/Time` and
  `Duration` fields (layout `int32 sec, uint32 nanosec`) Int64
  `sec * 1e9 + nanosec` (a topic whose own type is Time keeps its two
  columns), fields of empty types left out, uint64 Decimal(20, 0);
- an MCAP of profile `ros1` (which rosbags cannot open) is read with the
  `mcap` library and each payload decoded by rosbags' ROS1 deserializer,
  catalogued like a ROS1 bag (`md5sum` from the channel metadata).

Where rosbags 0.11.9 is known to differ from the contract (design note
ROS2.md, 7.1), the checker follows the contract and says so where it does:
`byte` decoded signed (compared as `v & 0xFF`), `char` hashed as CHAR
(hashes are computed with `char` as UINT8, as rosidl does for `.msg`),
directory reads of metadata v4 yielding nothing and directory start/end
taken from metadata.yaml (storage files are always read bare), `.srv`
service-event definitions it cannot parse (the event type is built from
the `.srv` halves as rosidl does), `pkg/Type` names (normalised before
decoding), CDR strings of length 0 (accepted as ""), invalid UTF-8
(replaced), MCAP message encodings it does not check (checked here),
`#include` lines of `ros2idl` sections, which its IDL grammar rejects
(blanked: the included types are sections of their own),
schema encodings it does not know (KeyError: treated as no definition),
per-message zstd blobs without metadata.yaml (decompressed by magic).

Exit status: 0 when everything is equal, 1 on any mismatch, 2 on usage errors.
"""

from __future__ import annotations

import argparse
import decimal
import hashlib
import heapq
import json
import math
import re
import sqlite3
import sys
import tempfile
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

import rosbags.rosbag2.storage_mcap as _storage_mcap
import rosbags.serde.cdr as _cdr
import rosbags.serde.ros1 as _ros1
import rosbags.typesys.store as _store
from rosbags.highlevel import AnyReader
from rosbags.interfaces import MessageDefinition, MessageDefinitionFormat, Nodetype
from rosbags.rosbag2 import Reader as Rosbag2Reader
from rosbags.typesys import Stores, get_types_from_idl, get_types_from_msg, get_typestore
from rosbags.typesys.base import normalize_fieldname
from rosbags.typesys.msg import denormalize_msgtype

# rosbags decodes strings strictly and fails the whole message on invalid
# UTF-8; the contract keeps the message and replaces the bad bytes with
# U+FFFD (Python's "replace" substitutes maximal subparts, like Rust's
# String::from_utf8_lossy). Patch the generated ROS1 decoders before any
# is compiled.
_compile_lines = _ros1.compile_lines


def _compile_lossy(lines: list[str]):
    return _compile_lines([line.replace(".decode()", ".decode('utf-8', 'replace')") for line in lines])


_ros1.compile_lines = _compile_lossy

# The same for CDR (ROS 2), plus one more difference: rosbags rejects a CDR
# string whose length field is 0 (no NUL); the contract reads it as ""
# (design note ROS2.md, 2.3 and 7.2 check 15). A length of 0 skips the
# terminator check; any other length is checked as rosbags does.
_cdr_compile_lines = _cdr.compile_lines


def _compile_cdr_lenient(lines: list[str]):
    return _cdr_compile_lines([
        line.replace(".decode()", ".decode('utf-8', 'replace')")
            .replace("check_string(rawdata, pos, length, cdr=True)",
                     "check_string(rawdata, pos, length, cdr=length > 0)")
        for line in lines])


_cdr.compile_lines = _compile_cdr_lenient

# rosbags' MCAP reader raises KeyError on a schema encoding it does not know
# (`jsonschema`, `protobuf`, ...), so one foreign channel would make the
# whole file unreadable. The contract counts such a channel and decodes the
# rest, so an unknown encoding is read as "no definition" here (this checker
# takes definitions from its own scan of the file; see Ros2Types).
_get_msgdef = _storage_mcap.get_msgdef


def _get_msgdef_tolerant(schema):
    if schema is not None and schema.encoding not in ("ros2msg", "ros2idl", "omgidl", ""):
        return MessageDefinition(MessageDefinitionFormat.NONE, "")
    return _get_msgdef(schema)


_storage_mcap.get_msgdef = _get_msgdef_tolerant

TIME = "builtin_interfaces/msg/Time"
DURATION = "builtin_interfaces/msg/Duration"
BINARY_ELEMENTS = ("uint8", "char")

# ROS primitive -> Arrow type (contract, "Topic tables")
PRIMITIVES: dict[str, pa.DataType] = {
    "bool": pa.bool_(),
    "int8": pa.int8(), "byte": pa.int8(), "int16": pa.int16(), "int32": pa.int32(), "int64": pa.int64(),
    "uint8": pa.int16(), "char": pa.int16(), "uint16": pa.int32(), "uint32": pa.int64(),
    "uint64": pa.decimal128(20, 0),
    "float32": pa.float32(), "float64": pa.float64(),
    "string": pa.string(),
}


# --------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------

def bag_file_of(path: str | Path) -> str:
    """The input's file name without directory and extension (`.bag`,
    `.mcap`, `.db3`, each optionally followed by `.zstd`), or a rosbag2
    directory's own name; sanitised."""
    name = Path(str(path)).name
    if not Path(str(path)).is_dir():
        name = re.sub(r"\.(bag|mcap|db3)(\.zstd)?$", "", name)
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def table_base(topic: str) -> str:
    """Table name of a topic before any collision suffix."""
    return re.sub(r"[^a-z0-9_]", "_", topic.removeprefix("/").lower())


# --------------------------------------------------------------------------
# The type mapping (the reference implementation of it)
# --------------------------------------------------------------------------

class Mapping:
    """Turns rosbags message objects into the row the contract expects, and
    gives each message type's Arrow schema."""

    def __init__(self, typestore) -> None:
        self.ts = typestore
        self._columns: dict[str, list[tuple[str, str, tuple]]] = {}

    def columns(self, msgtype: str) -> list[tuple[str, str, tuple]]:
        """(column name, python attribute, field description) of the fields
        that become columns: constants are not fields in rosbags; fields of
        an empty message type (and arrays of them) are left out."""
        if msgtype not in self._columns:
            cols = []
            for name, desc in self.ts.fielddefs[msgtype][1]:
                if name == "structure_needs_at_least_one_member":
                    continue
                if self._is_empty(desc):
                    continue
                cols.append((name, normalize_fieldname(name), desc))
            self._columns[msgtype] = cols
        return self._columns[msgtype]

    def _is_empty(self, desc: tuple) -> bool:
        kind = desc[0]
        if kind == Nodetype.NAME:
            # a struct with no columns left cannot be stored either
            return desc[1] not in (TIME, DURATION) and not self.columns(desc[1])
        if kind in (Nodetype.ARRAY, Nodetype.SEQUENCE):
            return self._is_empty(desc[1][0])
        return False

    # ----- schema

    def arrow_type(self, desc: tuple) -> pa.DataType:
        kind = desc[0]
        if kind == Nodetype.BASE:
            return PRIMITIVES[desc[1][0]]
        if kind == Nodetype.NAME:
            if desc[1] in (TIME, DURATION):
                return pa.int64()
            return pa.struct([pa.field(n, self.arrow_type(d)) for n, _, d in self.columns(desc[1])])
        sub = desc[1][0]
        if sub[0] == Nodetype.BASE and sub[1][0] in BINARY_ELEMENTS:
            return pa.binary()
        return pa.list_(self.arrow_type(sub))

    def schema(self, msgtype: str) -> pa.Schema:
        return pa.schema([pa.field("log_time_ns", pa.int64(), nullable=False)]
                         + [pa.field(n, self.arrow_type(d)) for n, _, d in self.columns(msgtype)])

    # ----- values

    def row(self, msg: Any, msgtype: str, log_time_ns: int) -> dict[str, Any]:
        out = {"log_time_ns": log_time_ns}
        for name, attr, desc in self.columns(msgtype):
            out[name] = self.value(getattr(msg, attr), desc)
        return out

    def value(self, val: Any, desc: tuple) -> Any:
        kind = desc[0]
        if kind == Nodetype.BASE:
            typ = desc[1][0]
            if typ == "bool":
                return bool(val)
            if typ in ("float32", "float64"):
                return float(val)
            if typ == "string":
                return val
            return int(val)
        if kind == Nodetype.NAME:
            if desc[1] == TIME:       # ROS1 time: uint32 sec, uint32 nsec
                return (int(val.sec) & 0xFFFFFFFF) * 1_000_000_000 + (int(val.nanosec) & 0xFFFFFFFF)
            if desc[1] == DURATION:   # ROS1 duration: int32 sec, int32 nsec
                nsec = int(val.nanosec) & 0xFFFFFFFF
                nsec = nsec - (1 << 32) if nsec >= 1 << 31 else nsec
                return int(val.sec) * 1_000_000_000 + nsec
            return {n: self.value(getattr(val, a), d) for n, a, d in self.columns(desc[1])}
        sub = desc[1][0]
        if sub[0] == Nodetype.BASE:
            if sub[1][0] in BINARY_ELEMENTS:
                return bytes(memoryview(val).cast("B")) if not isinstance(val, bytes) else val
            if sub[1][0] == "string":
                return list(val)
            typ = sub[1][0]
            items = val.tolist() if hasattr(val, "tolist") else list(val)
            if typ == "bool":
                return [bool(x) for x in items]
            if typ in ("float32", "float64"):
                return [float(x) for x in items]
            return [int(x) for x in items]
        return [self.value(x, sub) for x in val]


# --------------------------------------------------------------------------
# Reading the bag in contract order
# --------------------------------------------------------------------------

def messages_in_bag_order(reader: AnyReader) -> Iterator[tuple[Any, int, bytes]]:
    """(connection, log_time_ns, raw) in log-time order, ties in bag order.

    rosbags yields a heap merge of per-connection indexes: time order, but
    ties go by connection, not by position in the file. The same merge over
    the same index lists gives each message's (chunk position, offset in
    chunk); each group of equal times is re-sorted by that."""
    (bag,) = reader.readers
    entries = heapq.merge(*[bag.indexes[c.id] for c in bag.connections])
    group: list[tuple[int, int, Any, int, bytes]] = []
    for (conn, t, raw), entry in zip(bag.messages(), entries, strict=True):
        assert entry.time == t
        if group and group[0][3] != t:
            group.sort(key=lambda g: (g[0], g[1]))
            for g in group:
                yield g[2], g[3], g[4]
            group = []
        group.append((entry.chunk_pos, entry.offset, conn, t, raw))
    group.sort(key=lambda g: (g[0], g[1]))
    for g in group:
        yield g[2], g[3], g[4]


# --------------------------------------------------------------------------
# The lake side
# --------------------------------------------------------------------------

def from_dynamo(v: dict) -> Any:
    """One DynamoDB-JSON attribute value to Python."""
    ((tag, val),) = v.items()
    if tag == "S":
        return val
    if tag == "N":
        d = decimal.Decimal(val)
        return int(d) if d == d.to_integral_value() else d
    if tag == "BOOL":
        return bool(val)
    if tag == "NULL":
        return None
    if tag == "M":
        return {k: from_dynamo(x) for k, x in val.items()}
    if tag == "L":
        return [from_dynamo(x) for x in val]
    if tag in ("SS", "BS"):
        return list(val)
    if tag == "NS":
        return [from_dynamo({"N": x}) for x in val]
    raise ValueError(f"unknown DynamoDB type {tag!r}")


def load_catalogue(lake: Path) -> dict[str, dict]:
    path = lake / "dynamodb" / "bags.jsonl"
    items: dict[str, dict] = {}
    if not path.exists():
        return items
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        item = {k: from_dynamo(v) for k, v in json.loads(line)["Item"].items()}
        items[item["bag_file"]] = item
    return items


PART_RE = re.compile(r"^part-(\d{5})\.parquet$")


def partition_files(lake: Path, table: str, bag_file: str) -> tuple[list[Path], list[str]]:
    """The part files of a partition in part order, and layout problems."""
    part_dir = lake / "topics" / table / f"bag_file={bag_file}"
    if not part_dir.is_dir():
        return [], []
    problems, parts = [], []
    for p in sorted(part_dir.iterdir()):
        m = PART_RE.match(p.name)
        if not m or not p.is_file():
            problems.append(f"unexpected entry {p.name!r}")
        else:
            parts.append(p)
    numbers = [int(PART_RE.match(p.name).group(1)) for p in parts]
    if numbers != list(range(len(numbers))):
        problems.append(f"part numbers {numbers} are not 0..{len(numbers) - 1}")
    return parts, problems


def lake_rows(parts: list[Path], batch_rows: int) -> Iterator[dict[str, Any]]:
    for p in parts:
        # no pre-buffering: blob tables (images) would read a whole row
        # group's column chunk at once
        f = pq.ParquetFile(p, pre_buffer=False, buffer_size=1 << 20)
        for batch in f.iter_batches(batch_size=batch_rows, use_threads=False):
            yield from batch.to_pylist()


def type_text(t: pa.DataType) -> str:
    """A type's text without list item names (they vary between writers)."""
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        prefix = "large_list" if pa.types.is_large_list(t) else "list"
        return f"{prefix}<{type_text(t.value_type)}>"
    if pa.types.is_struct(t):
        return "struct<" + ", ".join(f"{f.name}: {type_text(f.type)}" for f in t) + ">"
    return str(t)


# --------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------

def short(v: Any, limit: int = 160) -> str:
    if isinstance(v, (bytes, bytearray)):
        text = f"<{len(v)} bytes {bytes(v[:16]).hex()}{'…' if len(v) > 16 else ''}>"
    else:
        text = repr(v)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def float_equal(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def diff(exp: Any, got: Any, path: str) -> tuple[str, str, str] | None:
    """The first difference as (path, expected, got), or None."""
    if isinstance(exp, dict):
        if not isinstance(got, dict):
            return path, short(exp), short(got)
        for k in exp:
            if k not in got:
                return f"{path}.{k}".lstrip("."), short(exp[k]), "<missing>"
            d = diff(exp[k], got[k], f"{path}.{k}".lstrip("."))
            if d:
                return d
        extra = [k for k in got if k not in exp]
        if extra:
            return f"{path}.{extra[0]}".lstrip("."), "<no such field>", short(got[extra[0]])
        return None
    if isinstance(exp, list):
        if not isinstance(got, list):
            return path, short(exp), short(got)
        if len(exp) != len(got):
            return f"{path}.len", str(len(exp)), str(len(got))
        for i, (e, g) in enumerate(zip(exp, got)):
            d = diff(e, g, f"{path}[{i}]")
            if d:
                return d
        return None
    if isinstance(exp, bytes):
        if not isinstance(got, (bytes, bytearray)):
            return path, short(exp), short(got)
        if exp != got:
            if len(exp) != len(got):
                return f"{path}.len", str(len(exp)), str(len(got))
            at = next(i for i, (a, b) in enumerate(zip(exp, got)) if a != b)
            return f"{path}[byte {at}]", str(exp[at]), str(got[at])
        return None
    if isinstance(exp, bool):
        return None if isinstance(got, bool) and got == exp else (path, short(exp), short(got))
    if isinstance(exp, float):
        if isinstance(got, float) and float_equal(exp, got):
            return None
        return path, short(exp), short(got)
    if isinstance(exp, int):
        if isinstance(got, decimal.Decimal) and got == got.to_integral_value() and int(got) == exp:
            return None
        if isinstance(got, int) and not isinstance(got, bool) and got == exp:
            return None
        return path, short(exp), short(got)
    if exp != got or type(exp) is not type(got):
        return path, short(exp), short(got)
    return None


@dataclass
class Report:
    bag: str
    limit: int
    mismatches: int = 0
    printed: int = 0

    def mismatch(self, topic: str, table: str, row: Any, field: str, expected: Any, got: Any,
                 always: bool = False) -> None:
        self.mismatches += 1
        if self.mismatches <= self.limit or always:
            self.printed += 1
            print(f"MISMATCH bag={self.bag} topic={topic} table={table} row={row} "
                  f"field={field} expected={expected} got={got}")


@dataclass
class TableState:
    table: str
    topic: str
    msgtype: str
    rows: Iterator[dict[str, Any]]
    lake_rows: int
    compared: int = 0
    broken: bool = False   # stop comparing rows after a row-count problem


def check_bag(bag: Path, lake: Path, catalogue: dict[str, dict], limit: int) -> tuple[str, int]:
    """Returns ("ok" | "fail" | "skipped", rows compared)."""
    bag_file = bag_file_of(bag)
    rep = Report(bag.name, limit)
    if bag.suffix != ".bag":
        return check_ros2(bag, lake, catalogue, limit)
    try:
        reader = AnyReader([bag])
        reader.open()
    except Exception as exc:  # rosbags refuses the file
        print(f"rosbags cannot read {bag}: {exc}; skipped")
        return "skipped", 0

    try:
        return _check_open_bag(bag, bag_file, reader, lake, catalogue, rep)
    except _RosbagsFailed as exc:
        print(f"rosbags cannot read {bag}: {exc.__cause__}; skipped")
        return "skipped", 0
    finally:
        reader.close()


class _RosbagsFailed(Exception):
    pass


def rosbags_guard(stream: Iterator) -> Iterator:
    """Re-raise what rosbags raises while reading as _RosbagsFailed (and
    nothing that this script's own code raises)."""
    while True:
        try:
            item = next(stream)
        except StopIteration:
            return
        except Exception as exc:
            raise _RosbagsFailed() from exc
        yield item


def _check_open_bag(bag: Path, bag_file: str, reader: AnyReader, lake: Path,
                    catalogue: dict[str, dict], rep: Report) -> tuple[str, int]:
    mapping = Mapping(reader.typestore)
    conns = reader.connections

    # --- which table each (topic, md5sum) goes to, from the catalogue
    item = catalogue.get(bag_file)
    # topic -> md5sum -> type names, in connection-record order
    topic_types: dict[str, dict[str, list[str]]] = defaultdict(dict)
    for c in conns:
        names = topic_types[c.topic].setdefault(c.digest, [])
        if c.msgtype not in names:
            names.append(c.msgtype)
    tables: dict[tuple[str, str], str | None] = {}
    if item is None:
        rep.mismatch("-", "-", "-", "catalogue", f"an item for bag_file={bag_file}", "<none>")
        for topic, types in topic_types.items():   # guess the names, to compare rows anyway
            for i, md5 in enumerate(types):
                tables[(topic, md5)] = table_base(topic) + ("" if i == 0 else f"__{md5[:8]}")
    else:
        if item.get("status") == "FAILED":
            rep.mismatch("-", "-", "-", "catalogue.status", "not FAILED", f"FAILED ({item.get('error')})")
        cat_topics: dict[str, dict] = item.get("topics") or {}
        for topic in cat_topics:
            if topic not in topic_types:
                rep.mismatch(topic, "-", "-", "catalogue.topics", "<topic not in bag>", short(cat_topics[topic]))
        for topic, types in topic_types.items():
            entry = cat_topics.get(topic)
            if entry is None:
                rep.mismatch(topic, "-", "-", "catalogue.topics", "<topic>", "<missing>")
                continue
            entries = [entry] + list(entry.get("variants") or [])
            for md5, names in types.items():
                match = [e for e in entries if e.get("md5sum") == md5]
                if not match:
                    rep.mismatch(topic, "-", "-", "catalogue.topics.md5sum", md5,
                                 [e.get("md5sum") for e in entries])
                    continue
                e = match[0]
                allowed = [denormalize_msgtype(n) for n in names]
                if e.get("type") not in allowed + names:
                    rep.mismatch(topic, "-", "-", "catalogue.topics.type", " or ".join(allowed), e.get("type"))
                tables[(topic, md5)] = e.get("table")
                table = e.get("table")
                if table is not None and not re.fullmatch(
                        re.escape(table_base(topic)) + r"(__[0-9a-f]{8})?", table):
                    rep.mismatch(topic, table, "-", "catalogue.topics.table",
                                 f"{table_base(topic)}[__xxxxxxxx]", table)
            if [e.get("md5sum") for e in entries] != list(types):
                rep.mismatch(topic, "-", "-", "catalogue.topics (+ variants) md5sums",
                             list(types), [e.get("md5sum") for e in entries])

    # --- the per-table row streams
    states: dict[str, TableState] = {}
    for (topic, md5), table in tables.items():
        if table is None:
            continue                       # topic not extracted
        if table in states:
            rep.mismatch(topic, table, "-", "catalogue.topics.table",
                         "one table per (topic, type)", f"shared with {states[table].topic}")
            continue
        msgtype = next(c.msgtype for c in conns if c.topic == topic and c.digest == md5)
        parts, problems = partition_files(lake, table, bag_file)
        for p in problems:
            rep.mismatch(topic, table, "-", "partition", "only part-NNNNN.parquet from 00000", p)
        expected_schema = mapping.schema(msgtype)
        has_binary = "binary" in type_text(pa.struct(list(expected_schema)))
        if parts:
            got_schema = pq.read_schema(parts[0])
            check_schema(rep, topic, table, expected_schema, got_schema)
            for p in parts[1:]:
                other = pq.read_schema(p)
                if not other.equals(got_schema):
                    rep.mismatch(topic, table, "-", f"schema of {p.name}", "same as part-00000", str(other))
        n_rows = sum(pq.ParquetFile(p).metadata.num_rows for p in parts)
        states[table] = TableState(table, topic, msgtype, lake_rows(parts, 8 if has_binary else 1024), n_rows)

    # partitions of this bag in tables the catalogue does not name
    known = set(states)
    topics_dir = lake / "topics"
    if topics_dir.is_dir():
        for tdir in sorted(topics_dir.iterdir()):
            if (tdir / f"bag_file={bag_file}").exists() and tdir.name not in known:
                rep.mismatch("-", tdir.name, "-", "partition", "<no partition: table not in catalogue>",
                             f"topics/{tdir.name}/bag_file={bag_file}")

    # --- rows
    undecodable: dict[str, list] = defaultdict(lambda: [0, ""])
    counts: dict[tuple[str, str], int] = defaultdict(int)
    total, first, last = 0, None, None
    for conn, t, raw in rosbags_guard(messages_in_bag_order(reader)):
        total += 1
        first = t if first is None else first
        last = t
        counts[(conn.topic, conn.digest)] += 1
        table = tables.get((conn.topic, conn.digest))
        if table is None or table not in states:
            continue
        st = states[table]
        try:
            msg = reader.deserialize(raw, conn.msgtype)
        except Exception as exc:  # the contract skips such a message alone
            u = undecodable[conn.topic]
            u[0] += 1
            u[1] = u[1] or str(exc)
            continue
        expected = mapping.row(msg, conn.msgtype, t)
        if st.broken:
            st.compared += 1
            continue
        got = next(st.rows, None)
        if got is None:
            st.broken = True
            st.compared += 1
            continue
        d = diff(expected, got, "")
        if d:
            rep.mismatch(st.topic, table, st.compared, d[0] or "<row>", d[1], d[2])
        st.compared += 1

    compared = 0
    for st in states.values():
        if st.lake_rows != st.compared:   # printed even past --max-mismatches
            rep.mismatch(st.topic, st.table, "-", "<row count>", st.compared, st.lake_rows, always=True)
        compared += st.compared

    # --- catalogue counts and times
    if item is not None:
        cat_topics = item.get("topics") or {}
        for topic, types in topic_types.items():
            entry = cat_topics.get(topic)
            if entry is None:
                continue
            for e in [entry] + list(entry.get("variants") or []):
                want = counts.get((topic, e.get("md5sum")), 0)
                if e.get("message_count") != want:
                    rep.mismatch(topic, e.get("table") or "-", "-", "catalogue.topics.message_count",
                                 want, e.get("message_count"))
        for key, want in (("message_count", total), ("start_time_ns", first), ("end_time_ns", last)):
            if want is not None and item.get(key) != want:
                rep.mismatch("-", "-", "-", f"catalogue.{key}", want, item.get(key))

    for topic, (n, err) in undecodable.items():
        print(f"note: {bag.name}: rosbags could not decode {n} message(s) of {topic} "
              f"(first: {err}); expected them to be skipped")

    n_topics = len(topic_types)
    summary = f"{bag.name} (bag_file={bag_file}): {n_topics} topics, {len(states)} tables, {compared} rows compared"
    if rep.mismatches:
        print(f"FAIL {summary}, {rep.mismatches} mismatches" +
              (f" ({rep.printed} printed)" if rep.printed < rep.mismatches else ""))
        return "fail", compared
    print(f"OK   {summary}")
    return "ok", compared


def check_schema(rep: Report, topic: str, table: str, expected: pa.Schema, got: pa.Schema) -> None:
    exp_names, got_names = expected.names, got.names
    if exp_names != got_names:
        rep.mismatch(topic, table, "-", "<schema>.columns", exp_names, got_names)
    got_by_name = {f.name: f for f in got}
    for f in expected:
        g = got_by_name.get(f.name)
        if g is None:
            continue
        if type_text(f.type) != type_text(g.type):
            rep.mismatch(topic, table, "-", f"<schema>.{f.name}", type_text(f.type), type_text(g.type))
    lt = got_by_name.get("log_time_ns")
    if lt is not None and lt.nullable:
        rep.mismatch(topic, table, "-", "<schema>.log_time_ns.nullable", False, True)


# --------------------------------------------------------------------------
# ROS 2 input: MCAP, rosbag2 sqlite3, whole-file zstd, rosbag2 directories
# --------------------------------------------------------------------------

MCAP_MAGIC = b"\x89MCAP0\r\n"
SQLITE_MAGIC = b"SQLite format 3\x00"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
SECTION_SEP = "=" * 80 + "\n"

# contract, "ROS 2 input" / "Definitions": the packages of the built-in set
BUILTIN_PACKAGES = {
    "builtin_interfaces", "std_msgs", "geometry_msgs", "sensor_msgs", "nav_msgs", "tf2_msgs",
    "diagnostic_msgs", "visualization_msgs", "rcl_interfaces", "rosgraph_msgs", "shape_msgs",
    "stereo_msgs", "trajectory_msgs", "actionlib_msgs", "lifecycle_msgs", "statistics_msgs",
    "service_msgs", "unique_identifier_msgs",
}

# ROS 2 primitive -> Arrow type (contract, "ROS 2 input", "CDR and types")
PRIMITIVES2: dict[str, pa.DataType] = dict(PRIMITIVES, byte=pa.int16(), char=pa.int16())
BINARY_ELEMENTS2 = ("uint8", "byte", "char")
TIME_LAYOUT = [("sec", (Nodetype.BASE, ("int32", 0))), ("nanosec", (Nodetype.BASE, ("uint32", 0)))]


class CannotRead(Exception):
    """rosbags (or the raw scan beside it) cannot read this input."""


def normalize_type(name: str) -> str:
    """`pkg/Type` -> `pkg/msg/Type`; `pkg/msg/Type`, `pkg/srv/T` unchanged.
    (rosbags does not normalise a connection's type name: deserializing
    with `test_msgs/BasicTypes` raises KeyError, ROS2.md 7.1 item 6.)"""
    parts = name.split("/")
    if len(parts) == 2 and all(parts):
        return f"{parts[0]}/msg/{parts[1]}"
    return name


class Mapping2(Mapping):
    """The contract's ROS 2 mapping of rosbags' CDR message objects."""

    def is_time(self, name: str) -> bool:
        return name in (TIME, DURATION) and list(self.ts.fielddefs[name][1]) == TIME_LAYOUT

    def arrow_type(self, desc: tuple) -> pa.DataType:
        kind = desc[0]
        if kind == Nodetype.BASE:
            return PRIMITIVES2[desc[1][0]]
        if kind == Nodetype.NAME:
            if self.is_time(desc[1]):
                return pa.int64()
            return pa.struct([pa.field(n, self.arrow_type(d)) for n, _, d in self.columns(desc[1])])
        sub = desc[1][0]
        if sub[0] == Nodetype.BASE and sub[1][0] in BINARY_ELEMENTS2:
            return pa.binary()
        return pa.list_(self.arrow_type(sub))

    def value(self, val: Any, desc: tuple) -> Any:
        kind = desc[0]
        if kind == Nodetype.BASE and desc[1][0] in ("byte", "char"):
            # rosbags decodes ROS 2 `byte` as signed int8 (255 -> -1; ROS2.md
            # 7.1 item 1); the contract's byte and char are unsigned 0..255
            return int(val) & 0xFF
        if kind == Nodetype.NAME:
            if self.is_time(desc[1]):   # signed, not normalised
                return int(val.sec) * 1_000_000_000 + int(val.nanosec)
            return {n: self.value(getattr(val, a), d) for n, a, d in self.columns(desc[1])}
        if kind in (Nodetype.ARRAY, Nodetype.SEQUENCE):
            sub = desc[1][0]
            if sub[0] == Nodetype.BASE and sub[1][0] in BINARY_ELEMENTS2:
                return val if isinstance(val, bytes) else bytes(memoryview(val).cast("B"))
        return super().value(val, desc)


def referenced_types(fields: list) -> Iterator[str]:
    for _, desc in fields:
        if desc[0] in (Nodetype.ARRAY, Nodetype.SEQUENCE):
            desc = desc[1][0]
        if desc[0] == Nodetype.NAME:
            yield desc[1]


def rename_types(typs: dict, renames: dict[str, str]) -> dict:
    """A Typesdict with type names replaced (in keys and in references)."""
    def fix(desc):
        if desc[0] == Nodetype.NAME:
            return (Nodetype.NAME, renames.get(desc[1], desc[1]))
        if desc[0] in (Nodetype.ARRAY, Nodetype.SEQUENCE):
            return (desc[0], (fix(desc[1][0]), desc[1][1]))
        return desc
    return {renames.get(k, k): (consts, [(n, fix(d)) for n, d in fields])
            for k, (consts, fields) in typs.items()}


PREPROCESSOR_LINE = re.compile(r"(?m)^[ \t]*#.*$")


def parse_ros2idl(text: str) -> dict:
    """The types of a `ros2idl` definition (contract, "Definitions"; design
    ROS2.md 1.1): sections after the 80-`=` line and `IDL: pkg/msg/Type`,
    each the .idl file rosidl generates (or a bare IDL text without
    sections), parsed by rosbags' IDL parser. rosidl's files open with
    `#include "pkg/msg/Type.idl"` lines naming the other sections; rosbags'
    IDL grammar has no preprocessor lines (it fails on the first
    `#include`), so lines starting with `#` are blanked first: the types
    they name come from their own sections, as for rosbag2's readers."""
    typs: dict = {}
    if text.startswith(SECTION_SEP + "IDL: "):
        sections = [section.split("\n", 1)[1] for section in text.split(SECTION_SEP)[1:]]
    else:
        sections = [text]
    for idl in sections:
        typs.update(get_types_from_idl(PREPROCESSOR_LINE.sub("", idl)))
    return typs


@dataclass
class Resolved:
    """How one connection is decoded: generation 1 (ROS1 payloads) or 2
    (CDR), with which typestore and type name, and its catalogue facts.
    `version` (RIHS01 type hash, or ROS1 md5sum) is None when the
    connection is not decodable; `problem` then says why."""
    gen: int
    cat_type: str
    typestore: Any = None
    typename: str | None = None
    version: str | None = None
    source: str | None = None
    problem: str | None = None
    _mapping: Any = None

    @property
    def mapping(self) -> Mapping:
        if self._mapping is None:
            self._mapping = (Mapping if self.gen == 1 else Mapping2)(self.typestore)
        return self._mapping


class Ros2Types:
    """Definitions for ROS 2 connections, in contract order: embedded, then
    `--msg-path` directories, then the built-in packages."""

    def __init__(self, msg_paths: list[Path]) -> None:
        self.msg_paths = msg_paths
        humble = get_typestore(Stores.ROS2_HUMBLE)
        jazzy = get_typestore(Stores.ROS2_JAZZY)
        self.builtin = {k: v for k, v in humble.fielddefs.items() if k.split("/")[0] in BUILTIN_PACKAGES}
        # service_msgs, which Humble lacks, as in Jazzy
        self.builtin.update({k: v for k, v in jazzy.fielddefs.items() if k.startswith("service_msgs/")})
        self.cache: dict[tuple, Resolved] = {}

    # ----- hashing

    @staticmethod
    def rihs01(ts, name: str, msg_syntax: bool) -> str:
        """REP 2011 type hash. rosidl hashes a `.msg` `char` as UINT8 (it
        becomes IDL uint8); rosbags' hash_rihs01 uses CHAR (13), ROS2.md 7.1
        item 2. For `.msg` definitions the map is switched for the call."""
        old = _store.TIDMAP["char"]
        if msg_syntax:
            _store.TIDMAP["char"] = _store.TIDMAP["uint8"]
        try:
            return ts.hash_rihs01(name)
        finally:
            _store.TIDMAP["char"] = old

    # ----- resolution

    def resolve(self, msgtype: str, encoding: str, schema_encoding: str, msgdef: str,
                md5sum: str, storage: str) -> Resolved:
        key = (msgtype, encoding, schema_encoding, msgdef, md5sum, storage)
        if key not in self.cache:
            try:
                self.cache[key] = self._resolve(*key)
            except Exception as exc:   # a definition rosbags cannot parse or register
                gen = 1 if encoding == "ros1" else 2
                name = msgtype if gen == 1 else normalize_type(msgtype)
                self.cache[key] = Resolved(gen, name, problem=f"definition of {name} unusable: {exc}")
        return self.cache[key]

    def _resolve(self, msgtype, encoding, schema_encoding, msgdef, md5sum, storage) -> Resolved:
        if encoding == "ros1" or schema_encoding == "ros1msg":
            return self._resolve_ros1(msgtype, encoding, schema_encoding, msgdef, md5sum)
        name = normalize_type(msgtype)
        if encoding != "cdr":
            # rosbags' MCAP reader decodes any channel as CDR whatever its
            # message encoding says (ROS2.md 7.1 item 8); the contract counts
            # such messages and decodes none of them
            return Resolved(2, name, problem=f"message encoding {encoding!r} is not cdr")
        if storage == "mcap" and schema_encoding not in ("ros2msg", "ros2idl", ""):
            return Resolved(2, name, problem=f"schema encoding {schema_encoding!r} is not ros2msg/ros2idl")
        if not msgtype:
            return Resolved(2, "", problem="channel without a schema (no type name)")
        if schema_encoding in ("ros2msg", "ros2idl") and not msgdef.strip():
            # An empty embedded text: bagpipe looks the type up like a bag
            # with no definition (msg_paths, then the built-in set) and
            # takes it as a message with no fields only when neither has it
            # (std_msgs/msg/Empty, as rosbag2 and rosbags write it, is
            # found built in).
            typs, sources = {}, {}
            if not self._gather(name, typs, sources):
                ts = get_typestore(Stores.EMPTY)
                ts.register(typs)
                return Resolved(2, name, ts, name, self.rihs01(ts, name, True), sources[name])
        if schema_encoding in ("ros2msg", "ros2idl"):
            # embedded (an empty text is a message with no fields)
            typs = self._parse_embedded(name, schema_encoding, msgdef)
            if (missing := self._missing(typs, name)):
                return Resolved(2, name, problem=f"definition of {name} names undefined type {missing}")
            source = "embedded"
        else:
            typs, sources = {}, {}
            if (missing := self._gather(name, typs, sources)):
                return Resolved(2, name, problem=f"no definition for {missing} (not embedded, "
                                                 "not in --msg-path, not built in)")
            source = sources[name]
        ts = get_typestore(Stores.EMPTY)
        ts.register(typs)
        msg_syntax = schema_encoding != "ros2idl"
        return Resolved(2, name, ts, name, self.rihs01(ts, name, msg_syntax), source)

    def _resolve_ros1(self, msgtype, encoding, schema_encoding, msgdef, md5sum) -> Resolved:
        if encoding != "ros1" or schema_encoding != "ros1msg":
            return Resolved(1, msgtype, problem=f"encodings {encoding!r}/{schema_encoding!r} do not match")
        name = normalize_type(msgtype)
        ts = get_typestore(Stores.EMPTY)
        typs = get_types_from_msg(msgdef, name)
        # ROS1 `time` and `duration` are primitives (rosbags names them
        # builtin_interfaces/msg/Time, Duration): always defined
        typs.setdefault(TIME, ts.fielddefs[TIME])
        typs.setdefault(DURATION, ts.fielddefs[DURATION])
        if (missing := self._missing(typs, name)):
            return Resolved(1, msgtype, problem=f"definition of {msgtype} names undefined type {missing}")
        ts.register(typs)
        md5 = md5sum or ts.generate_msgdef(name)[1]
        return Resolved(1, msgtype, ts, name, md5, "embedded")

    @staticmethod
    def _missing(typs: dict, name: str) -> str | None:
        seen, todo = set(), [name]
        while todo:
            t = todo.pop()
            if t in seen:
                continue
            seen.add(t)
            if t not in typs:
                return t
            todo.extend(referenced_types(typs[t][1]))
        return None

    def _parse_embedded(self, name: str, fmt: str, text: str) -> dict:
        if fmt == "ros2idl":
            return parse_ros2idl(text)
        m = re.fullmatch(r"([A-Za-z0-9_]+)/srv/([A-Za-z0-9_]+)_Event", name)
        if m:
            return self._service_event(m.group(1), m.group(2), text)
        return get_types_from_msg(text, name)

    def _service_event(self, pkg: str, srv: str, text: str) -> dict:
        """rosbags cannot parse a service event's embedded definition (the
        `.srv` text, with `---`; ROS2.md 7.1 item 5, it fails the whole
        bag). The event type is built as rosidl builds it:
        `{service_msgs/msg/ServiceEventInfo info, X_Request[<=1] request,
        X_Response[<=1] response}` (ROS2.md 5(h); contract, "Service
        events")."""
        sections = text.split(SECTION_SEP)
        srv_text, deps = sections[0], []
        for sec in sections[1:]:
            head, _, body = sec.partition("\n")
            if head.startswith("SRV: "):
                srv_text = body
            elif head.startswith("MSG: "):
                deps.append((head[5:].strip(), body))
        lines = srv_text.split("\n")
        cut = next((i for i, line in enumerate(lines) if line.strip() == "---"), None)
        if cut is None:
            raise ValueError(f"{pkg}/srv/{srv}_Event: no '---' in the service definition")
        request, response = "\n".join(lines[:cut]) + "\n", "\n".join(lines[cut + 1:]) + "\n"
        # rosbags' parser files any name under <pkg>/msg/: parse as
        # <pkg>/msg/<X>_Request etc., then rename to <pkg>/srv/<X>_Request
        tmp = f"{pkg}/msg/{srv}_"
        event = (f"service_msgs/msg/ServiceEventInfo info\n{tmp}Request[<=1] request\n"
                 f"{tmp}Response[<=1] response\n")
        typs: dict = {}
        for dep_name, body in deps:
            typs.update(get_types_from_msg(body, normalize_type(dep_name)))
        typs.update(get_types_from_msg(request, tmp + "Request"))
        typs.update(get_types_from_msg(response, tmp + "Response"))
        typs.update(get_types_from_msg(event, tmp + "Event"))
        typs = rename_types(typs, {tmp + x: f"{pkg}/srv/{srv}_{x}" for x in ("Request", "Response", "Event")})
        # ServiceEventInfo (and its Time) from the built-in set when the bag
        # does not define them
        for dep in ("service_msgs/msg/ServiceEventInfo", TIME):
            typs.setdefault(dep, self.builtin[dep])
        return typs

    def _gather(self, name: str, typs: dict, sources: dict) -> str | None:
        if name in typs:
            return None
        parts = name.split("/")
        found = None
        if len(parts) == 3:
            for d in self.msg_paths:
                f = d / parts[0] / "msg" / f"{parts[2]}.msg"
                if f.is_file():
                    parsed = get_types_from_msg(f.read_text(), name)
                    found, sources[name] = parsed[name], "msg_paths"
                    break
        if found is None and name in self.builtin:
            found, sources[name] = self.builtin[name], "builtin"
        if found is None:
            return name
        typs[name] = found
        for dep in referenced_types(found[1]):
            if (missing := self._gather(dep, typs, sources)):
                return missing
        return None


# ----- storage files

@dataclass
class RawConn:
    """One connection of one storage file (an MCAP channel, a sqlite3
    topics row), as the file's own records give it."""
    cid: int
    topic: str
    msgtype: str
    encoding: str
    schema_encoding: str
    msgdef: str
    md5sum: str = ""
    recorded_hash: str = ""


@dataclass
class Storage:
    name: str          # as in the directory (or the bare file's name)
    size: int          # bytes on disk
    path: Path         # the readable (decompressed) file
    fmt: str           # "mcap" | "sqlite3"


@dataclass(eq=False)
class LConn:
    """A connection of the bag: the same (topic, type, encodings,
    definition) in several storage files is one."""
    topic: str
    raw: RawConn
    res: Resolved

    @property
    def key(self) -> tuple[str, str]:
        return (self.topic, self.res.version if self.res.version else "unusable:" + self.res.cat_type)


@dataclass
class Ros2Bag:
    path: Path
    bag_file: str
    fmt: str
    is_dir: bool
    storage: list[Storage]
    conns: list[LConn]                                   # first-appearance order
    messages: list[tuple[int, int, int, LConn, bytes]]   # (t, file, position, conn, data), sorted
    notes: list[str] = field(default_factory=list)
    # a bare db3: the `ros_distro` its `schema` table names (None: no such
    # table, schema versions 1 and 2), which the catalogue must repeat;
    # not checked for other inputs
    ros_distro: tuple[str | None] | None = None


def rosbag2_parts(d: Path) -> tuple[list[Path], list[str]]:
    """The storage files of a rosbag2 directory in reading order, and notes."""
    notes: list[str] = []
    meta = d / "metadata.yaml"
    if meta.is_file():
        from ruamel.yaml import YAML
        try:
            info = YAML(typ="safe").load(meta.read_text())["rosbag2_bagfile_information"]
            names = [PurePath(str(x)).name for x in info["relative_file_paths"]]
        except Exception as exc:
            notes.append(f"metadata.yaml unreadable ({exc}); reading the <dir>_<N> files")
        else:
            missing = [n for n in names if not (d / n).is_file()]
            if missing:
                notes.append(f"metadata.yaml lists missing storage files {missing}")
            return [d / n for n in names if (d / n).is_file()], notes
    else:
        notes.append("no metadata.yaml: the <dir>_<N> files are read in N order")
    pat = re.compile(re.escape(d.name) + r"_(\d+)\.(mcap|db3)(\.zstd)?")
    parts = sorted((int(m.group(1)), p.name, p) for p in d.iterdir()
                   if p.is_file() and (m := pat.fullmatch(p.name)))
    return [p for _, _, p in parts], notes


def open_storage(src: Path, tmp: Path, n: int) -> Storage:
    """Detects the format from the leading bytes; a whole-file zstd is
    decompressed into `tmp` first. rosbags picks its storage plugin by file
    suffix (and refuses `.zstd`: "Unrecognized storage format"), so the file
    it is given carries the suffix of its real format."""
    with src.open("rb") as f:
        head = f.read(16)
    path = src
    if head.startswith(ZSTD_MAGIC):
        import zstandard
        path = tmp / f"{n}_{src.name.removesuffix('.zstd')}"
        try:
            with src.open("rb") as fin, path.open("wb") as fout:
                zstandard.ZstdDecompressor().copy_stream(fin, fout)
        except zstandard.ZstdError as exc:
            raise CannotRead(f"{src.name}: zstd: {exc}") from None
        with path.open("rb") as f:
            head = f.read(16)
    if head.startswith(MCAP_MAGIC):
        fmt, suffix = "mcap", ".mcap"
    elif head.startswith(SQLITE_MAGIC):
        fmt, suffix = "sqlite3", ".db3"
    else:
        what = "an empty file" if not head else f"leading bytes {head[:8].hex(' ')}"
        raise CannotRead(f"{src.name}: not an MCAP or sqlite3 file ({what})")
    if path.suffix != suffix:
        link = tmp / f"{n}_{path.name}{suffix}"
        link.symlink_to(path.resolve())
        path = link
    return Storage(src.name, src.stat().st_size, path, fmt)


def scan_mcap(path: Path) -> tuple[str, list[RawConn], list[tuple[int, int, bytes]]]:
    """The `mcap` library's record stream: profile, channels in the order
    their records first appear, messages in file order (chunks in file
    order, records in chunk order)."""
    from mcap.records import Channel, Header, Message, Schema
    from mcap.stream_reader import StreamReader
    profile, schemas, conns, msgs = "", {}, {}, []
    with path.open("rb") as f:
        for rec in StreamReader(f, validate_crcs=True).records:
            if isinstance(rec, Header):
                profile = rec.profile
            elif isinstance(rec, Schema):
                schemas.setdefault(rec.id, rec)
            elif isinstance(rec, Channel):
                if rec.id not in conns:
                    s = schemas.get(rec.schema_id)
                    conns[rec.id] = RawConn(
                        rec.id, rec.topic, s.name if s else "", rec.message_encoding,
                        s.encoding if s else "", bytes(s.data).decode("utf-8", "replace") if s else "",
                        rec.metadata.get("md5sum", ""), rec.metadata.get("topic_type_hash", ""))
            elif isinstance(rec, Message):
                msgs.append((rec.channel_id, rec.log_time, bytes(rec.data)))
    return profile, list(conns.values()), msgs


def scan_sqlite(path: Path) -> tuple[list[RawConn], list[tuple[int, int, bytes]], str | None]:
    """The rosbag2 tables read with the stdlib sqlite3 (read-only and
    immutable: nothing is written beside the file, WAL mode or not):
    topics in id order, messages in `messages.id` order, and the
    `schema` table's ros_distro. Database schema versions 1 to 4 (design
    ROS2.md 1.2): `message_definitions` only in 4 (else every connection
    has no embedded definition), `topics.type_description_hash` only in 4,
    `schema` from 3 on."""
    con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
    try:
        cols = {r[1] for r in con.execute("PRAGMA table_info(topics)")}
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        defs: dict[str, tuple[str, str]] = {}
        if "message_definitions" in tables:
            for t, enc, text in con.execute("SELECT topic_type, encoding, encoded_message_definition "
                                            "FROM message_definitions ORDER BY id"):
                defs.setdefault(t, (enc, text))
        hash_col = "type_description_hash" if "type_description_hash" in cols else "''"
        conns = []
        for cid, name, typ, ser, h in con.execute(
                f"SELECT id, name, type, serialization_format, {hash_col} FROM topics ORDER BY id"):
            enc, text = defs.get(typ, ("", ""))
            if enc not in ("ros2msg", "ros2idl"):
                enc, text = "", ""     # `unknown` (no definition found by the recorder)
            conns.append(RawConn(cid, name, typ, ser, enc, text, "", h or ""))
        msgs = [(tid, t, bytes(d)) for tid, t, d in
                con.execute("SELECT topic_id, timestamp, data FROM messages ORDER BY id")]
        distro = None
        if "schema" in tables:
            row = con.execute("SELECT ros_distro FROM schema").fetchone()
            distro = row[0] if row else None
    finally:
        con.close()
    return conns, msgs, distro


def rosbags_messages(path: Path) -> list[tuple[int, int, bytes]]:
    """What rosbags' storage reader yields for one bare storage file."""
    reader = Rosbag2Reader(path)
    try:
        reader.open()
    except Exception as exc:
        raise CannotRead(f"{path.name}: {exc}") from None
    try:
        return [(c.id, t, bytes(d)) for c, t, d in reader.messages()]
    except Exception as exc:
        raise CannotRead(f"{path.name}: {type(exc).__name__}: {exc}") from None
    finally:
        reader.close()


def load_ros2(bag: Path, tmp: Path, types: Ros2Types) -> Ros2Bag:
    notes: list[str] = []
    if bag.is_dir():
        # Storage files are read one by one as bare files, never through
        # rosbags' directory reader: it yields nothing for metadata v4 QoS
        # strings, refuses a `serialization_format` other than cdr, and
        # takes start/end from metadata.yaml (ROS2.md 7.1 items 3, 4). The
        # contract reads metadata.yaml only for the file list.
        sources, notes = rosbag2_parts(bag)
        if not sources:
            raise CannotRead("no storage files")
    else:
        sources = [bag]
    storage: list[Storage] = []
    lconns: dict[tuple, LConn] = {}
    messages = []
    ros_distro = None
    for n, src in enumerate(sources):
        st = open_storage(src, tmp, n)
        storage.append(st)
        try:
            if st.fmt == "mcap":
                profile, rconns, raw = scan_mcap(st.path)
            else:
                rconns, raw, distro = scan_sqlite(st.path)
                profile = ""
                if not bag.is_dir():
                    ros_distro = (distro,)
        except Exception as exc:
            raise CannotRead(f"{src.name}: the raw {st.fmt} scan failed: {type(exc).__name__}: {exc}") from None
        if st.fmt == "mcap" and profile == "ros1":
            # rosbags opens MCAP of profile ros2 only ("Profile is not ros2"):
            # here the records come from the mcap library alone; payloads are
            # still decoded by rosbags (deserialize_ros1)
            notes.append(("" if src == bag else f"{src.name}: ") +
                         "MCAP profile ros1: rosbags cannot open it; records read with the mcap "
                         "library, payloads decoded by rosbags' ROS1 deserializer")
            order = list(range(len(raw)))
        else:
            order = match_positions(raw, rosbags_messages(st.path), src.name, st.fmt)
        by_cid = {}
        for rc in rconns:
            md5 = rc.md5sum if rc.encoding == "ros1" else ""
            ident = (rc.topic, rc.msgtype, rc.encoding, rc.schema_encoding, rc.msgdef, md5)
            if ident not in lconns:
                res = types.resolve(rc.msgtype, rc.encoding, rc.schema_encoding, rc.msgdef, md5, st.fmt)
                lconns[ident] = LConn(rc.topic, rc, res)
                if (res.gen == 2 and res.version and rc.recorded_hash.startswith("RIHS01_")
                        and rc.recorded_hash != res.version):
                    notes.append(f"{rc.topic}: recorded type hash {rc.recorded_hash} differs from the "
                                 f"computed {res.version} (bagpipe warns)")
            by_cid[rc.cid] = lconns[ident]
        for pos in order:
            cid, t, data = raw[pos]
            if cid not in by_cid:
                raise CannotRead(f"{src.name}: a message on channel {cid}, which has no channel record")
            messages.append((t, n, pos, by_cid[cid], data))
    messages.sort(key=lambda m: (m[0], m[1], m[2]))
    return Ros2Bag(bag, bag_file_of(bag), storage[0].fmt, bag.is_dir(), storage,
                   list(lconns.values()), messages, notes, ros_distro)


def match_positions(raw: list[tuple[int, int, bytes]], ros: list[tuple[int, int, bytes]],
                    name: str, fmt: str) -> list[int]:
    """The raw-scan positions of the messages rosbags yields (identical
    messages are interchangeable). rosbags must yield exactly the scan's
    messages; otherwise the input counts as one it cannot read."""
    where: dict[tuple[int, int, bytes], deque] = defaultdict(deque)
    for pos, m in enumerate(raw):
        where[m].append(pos)
    order = []
    for m in ros:
        q = where.get(m)
        if not q:
            raise CannotRead(f"{name}: rosbags yields a message (channel {m[0]}, t={m[1]}) that the "
                             f"raw {fmt} scan does not find")
        order.append(q.popleft())
    if len(order) != len(raw):
        raise CannotRead(f"{name}: rosbags yields {len(order)} messages, the raw {fmt} scan finds {len(raw)}")
    return order


# ----- expected rows

def decode_expected(bagx: Ros2Bag) -> Iterator[tuple[LConn, int, dict | None, str | None]]:
    """(connection, log time, expected row or None, why not) in row order."""
    for t, _, _, lc, data in bagx.messages:
        res = lc.res
        if not res.version:
            yield lc, t, None, res.problem
            continue
        try:
            if res.gen == 1:
                msg = res.typestore.deserialize_ros1(data, res.typename)
            else:
                if bagx.fmt == "sqlite3" and data.startswith(ZSTD_MAGIC):
                    # per-message compression, recognised by the zstd magic
                    # (contract); rosbags decompresses only when a directory's
                    # metadata.yaml says compression_mode: message
                    import zstandard
                    data = zstandard.ZstdDecompressor().decompressobj().decompress(data)
                msg = res.typestore.deserialize_cdr(data, res.typename)
        except Exception as exc:   # the contract skips such a message alone
            yield lc, t, None, f"{type(exc).__name__}: {exc}"
            continue
        yield lc, t, res.mapping.row(msg, res.typename, t), None


def canonical(v: Any) -> Any:
    """A JSON-able form of a row value, exact for floats and bytes."""
    if isinstance(v, dict):
        return {k: canonical(x) for k, x in v.items()}
    if isinstance(v, list):
        return [canonical(x) for x in v]
    if isinstance(v, bytes):
        return "b:" + v.hex()
    if isinstance(v, float):
        return "f:" + (v.hex() if not math.isnan(v) else "nan")
    return v


def guess_tables(bagx: Ros2Bag) -> dict[tuple[str, str], str]:
    """Table names as a lake with no earlier bags would give them."""
    out: dict[tuple[str, str], str] = {}
    taken: dict[str, str] = {}
    firsts: dict[str, str] = {}
    for lc in bagx.conns:
        k = lc.key
        if k in out or not lc.res.version:
            continue
        base = table_base(lc.topic)
        if taken.setdefault(base, lc.topic) != lc.topic:
            base += "__" + hashlib.md5(lc.topic.encode()).hexdigest()[:8]
        first = firsts.setdefault(lc.topic, lc.res.version)
        suffix = "" if first == lc.res.version else "__" + lc.res.version.removeprefix("RIHS01_")[:8]
        out[k] = base + suffix
    return out


def print_expected(bagx: Ros2Bag) -> tuple[str, int]:
    counts: dict[tuple, int] = defaultdict(int)
    rows: dict[tuple, int] = defaultdict(int)
    digests: dict[tuple, Any] = defaultdict(hashlib.sha256)
    undecodable: dict[str, list] = defaultdict(lambda: [0, ""])
    first = {}
    for lc, t, row, why in decode_expected(bagx):
        counts[lc.key] += 1
        first.setdefault(lc.key, lc)
        if row is None:
            if lc.res.version:
                u = undecodable[lc.topic]
                u[0] += 1
                u[1] = u[1] or why
            continue
        rows[lc.key] += 1
        digests[lc.key].update(json.dumps(canonical(row), sort_keys=False).encode() + b"\n")
    tables = guess_tables(bagx)
    times = [m[0] for m in bagx.messages]
    span = f"start_time_ns={min(times)} end_time_ns={max(times)}" if times else "no messages"
    store = ""
    if bagx.is_dir:
        store = " storage_files=" + ",".join(f"{s.name}:{s.size}" for s in bagx.storage)
    if bagx.ros_distro is not None:
        store += f" ros_distro={bagx.ros_distro[0] or '-'}"
    print(f"EXPECT {bagx.path.name} (bag_file={bagx.bag_file}): format={bagx.fmt} "
          f"{len(bagx.messages)} messages {span}{store}")
    seen = set()
    total = 0
    for lc in bagx.conns:
        k = lc.key
        if k in seen:
            continue
        seen.add(k)
        res = lc.res
        if res.version:
            schema = hashlib.sha256(type_text(pa.struct(list(res.mapping.schema(res.typename)))).encode())
            vkey = "md5sum" if res.gen == 1 else "type_hash"
            print(f"  {lc.topic} type={res.cat_type} {vkey}={res.version} source={res.source} "
                  f"messages={counts[k]} rows={rows[k]} table={tables.get(k) if rows[k] else '-'} "
                  f"schema={schema.hexdigest()[:12]} rows_sha256={digests[k].hexdigest()[:16]}")
        else:
            print(f"  {lc.topic} type={res.cat_type or '-'} messages={counts[k]} rows=0 "
                  f"table=- not decoded: {res.problem}")
        total += rows[k]
    for note in bagx.notes:
        print(f"note: {bagx.path.name}: {note}")
    for topic, (n, err) in undecodable.items():
        print(f"note: {bagx.path.name}: rosbags could not decode {n} message(s) of {topic} "
              f"(first: {err}); expected them to be skipped")
    return "expected", total


# ----- comparison with the lake

def check_ros2(bag: Path, lake: Path | None, catalogue: dict[str, dict], limit: int,
               types: Ros2Types | None = None) -> tuple[str, int]:
    types = types or _TYPES.get()
    with tempfile.TemporaryDirectory(prefix="bagpipe-parity-") as tmp:
        try:
            bagx = load_ros2(bag, Path(tmp), types)
        except CannotRead as exc:
            print(f"rosbags cannot read {bag}: {exc}; skipped")
            return "skipped", 0
        if lake is None:
            return print_expected(bagx)
        return _check_ros2(bagx, lake, catalogue, Report(bag.name, limit))


class _TypesHolder:
    """One Ros2Types per run (`--msg-path` is given once)."""

    def __init__(self) -> None:
        self.msg_paths: list[Path] = []
        self._types: Ros2Types | None = None

    def get(self) -> Ros2Types:
        if self._types is None:
            self._types = Ros2Types(self.msg_paths)
        return self._types


_TYPES = _TypesHolder()


def _check_ros2(bagx: Ros2Bag, lake: Path, catalogue: dict[str, dict], rep: Report) -> tuple[str, int]:
    bag_file = bagx.bag_file
    item = catalogue.get(bag_file)
    topic_keys: dict[str, list[tuple[str, str]]] = defaultdict(list)
    key_conn: dict[tuple[str, str], LConn] = {}
    for lc in bagx.conns:
        if lc.key not in key_conn:
            key_conn[lc.key] = lc
            topic_keys[lc.topic].append(lc.key)

    def vfield(res: Resolved) -> str:
        return "md5sum" if res.gen == 1 else "type_hash"

    tables: dict[tuple[str, str], str | None] = {}
    matched: dict[tuple[str, str], dict] = {}
    if item is None:
        rep.mismatch("-", "-", "-", "catalogue", f"an item for bag_file={bag_file}", "<none>")
        tables.update(guess_tables(bagx))
    else:
        if item.get("status") == "FAILED":
            rep.mismatch("-", "-", "-", "catalogue.status", "not FAILED", f"FAILED ({item.get('error')})")
        if item.get("format") != bagx.fmt:
            rep.mismatch("-", "-", "-", "catalogue.format", bagx.fmt, item.get("format"))
        size = sum(s.size for s in bagx.storage)
        if bagx.is_dir:
            want = [{"name": s.name, "size_bytes": s.size} for s in bagx.storage]
            if item.get("storage_files") != want:
                rep.mismatch("-", "-", "-", "catalogue.storage_files", short(want), short(item.get("storage_files")))
        if item.get("size_bytes") != size:
            rep.mismatch("-", "-", "-", "catalogue.size_bytes", size, item.get("size_bytes"))
        if bagx.ros_distro is not None and item.get("ros_distro") != bagx.ros_distro[0]:
            rep.mismatch("-", "-", "-", "catalogue.ros_distro",
                         bagx.ros_distro[0] or "<absent: no schema table>", item.get("ros_distro"))
        cat_topics: dict[str, dict] = item.get("topics") or {}
        for topic in cat_topics:
            if topic not in topic_keys:
                rep.mismatch(topic, "-", "-", "catalogue.topics", "<topic not in bag>", short(cat_topics[topic]))
        for topic, keys in topic_keys.items():
            entry = cat_topics.get(topic)
            if entry is None:
                rep.mismatch(topic, "-", "-", "catalogue.topics", "<topic>", "<missing>")
                continue
            entries = [entry] + list(entry.get("variants") or [])
            used: list[int] = []
            for k in keys:
                res = key_conn[k].res
                if res.version:
                    cands = [e for e in entries if e.get(vfield(res)) == res.version and id(e) not in used]
                else:   # not decodable: no version to match, so by type name
                    cands = [e for e in entries if e.get("type") == res.cat_type and id(e) not in used
                             and not any(e.get(vfield(key_conn[o].res)) == key_conn[o].res.version
                                         for o in keys if key_conn[o].res.version)]
                if not cands:
                    rep.mismatch(topic, "-", "-", f"catalogue.topics.{vfield(res)}",
                                 res.version or f"an entry of type {res.cat_type}",
                                 [e.get(vfield(res)) for e in entries])
                    continue
                e = cands[0]
                used.append(id(e))
                matched[k] = e
                if res.gen == 1:
                    allowed = [denormalize_msgtype(res.typename), res.cat_type] if res.typename else [res.cat_type]
                    if e.get("type") not in allowed:
                        rep.mismatch(topic, "-", "-", "catalogue.topics.type", " or ".join(allowed), e.get("type"))
                else:
                    if res.cat_type and e.get("type") != res.cat_type:
                        rep.mismatch(topic, "-", "-", "catalogue.topics.type", res.cat_type, e.get("type"))
                    if "md5sum" in e:
                        rep.mismatch(topic, "-", "-", "catalogue.topics.md5sum", "<absent on ROS 2 topics>",
                                     e.get("md5sum"))
                    if res.version and e.get("definition_source") != res.source:
                        rep.mismatch(topic, "-", "-", "catalogue.topics.definition_source", res.source,
                                     e.get("definition_source"))
                    if not res.version and (res.problem or "").startswith("no definition for"):
                        # defined nowhere (e.g. a custom type in a db3 of schema <= 3):
                        # no definition to hash, none to name the source of
                        for key in ("type_hash", "definition_source"):
                            if e.get(key) is not None:
                                rep.mismatch(topic, "-", "-", f"catalogue.topics.{key}",
                                             "<absent: no definition>", e.get(key))
                table = e.get("table")
                if res.version:
                    tables[k] = table
                elif table is not None:
                    rep.mismatch(topic, table, "-", "catalogue.topics.table",
                                 f"<none: not decoded ({res.problem})>", table)
                if table is not None and not re.fullmatch(
                        re.escape(table_base(topic)) + r"(__[0-9a-f]{8})?", table):
                    rep.mismatch(topic, table, "-", "catalogue.topics.table",
                                 f"{table_base(topic)}[__xxxxxxxx]", table)
            order = [next((k for k in keys if matched.get(k) is e), None) for e in entries]
            if order != keys:
                rep.mismatch(topic, "-", "-", "catalogue.topics (+ variants) order",
                             [k[1] for k in keys], [k[1] if k else None for k in order])

    # --- the per-table row streams
    states: dict[str, TableState] = {}
    for k, table in tables.items():
        if table is None:
            continue                       # topic not extracted
        lc = key_conn[k]
        if table in states:
            rep.mismatch(lc.topic, table, "-", "catalogue.topics.table",
                         "one table per (topic, type)", f"shared with {states[table].topic}")
            continue
        parts, problems = partition_files(lake, table, bag_file)
        for p in problems:
            rep.mismatch(lc.topic, table, "-", "partition", "only part-NNNNN.parquet from 00000", p)
        expected_schema = lc.res.mapping.schema(lc.res.typename)
        has_binary = "binary" in type_text(pa.struct(list(expected_schema)))
        if parts:
            got_schema = pq.read_schema(parts[0])
            check_schema(rep, lc.topic, table, expected_schema, got_schema)
            for p in parts[1:]:
                other = pq.read_schema(p)
                if not other.equals(got_schema):
                    rep.mismatch(lc.topic, table, "-", f"schema of {p.name}", "same as part-00000", str(other))
        n_rows = sum(pq.ParquetFile(p).metadata.num_rows for p in parts)
        states[table] = TableState(table, lc.topic, lc.res.typename, lake_rows(parts, 8 if has_binary else 1024),
                                   n_rows)
    table_of = {k: t for k, t in tables.items() if t in states}

    known = set(states)
    topics_dir = lake / "topics"
    if topics_dir.is_dir():
        for tdir in sorted(topics_dir.iterdir()):
            if (tdir / f"bag_file={bag_file}").exists() and tdir.name not in known:
                rep.mismatch("-", tdir.name, "-", "partition", "<no partition: table not in catalogue>",
                             f"topics/{tdir.name}/bag_file={bag_file}")

    # --- rows
    undecodable: dict[str, list] = defaultdict(lambda: [0, ""])
    counts: dict[tuple[str, str], int] = defaultdict(int)
    expected_rows: dict[tuple[str, str], int] = defaultdict(int)
    for lc, t, expected, why in decode_expected(bagx):
        counts[lc.key] += 1
        if expected is None:
            if lc.res.version:
                u = undecodable[lc.topic]
                u[0] += 1
                u[1] = u[1] or why
            continue
        expected_rows[lc.key] += 1
        table = table_of.get(lc.key)
        if table is None:
            continue
        st = states[table]
        if st.broken:
            st.compared += 1
            continue
        got = next(st.rows, None)
        if got is None:
            st.broken = True
            st.compared += 1
            continue
        d = diff(expected, got, "")
        if d:
            rep.mismatch(st.topic, table, st.compared, d[0] or "<row>", d[1], d[2])
        st.compared += 1

    compared = 0
    for st in states.values():
        if st.lake_rows != st.compared:   # printed even past --max-mismatches
            rep.mismatch(st.topic, st.table, "-", "<row count>", st.compared, st.lake_rows, always=True)
        compared += st.compared

    # --- catalogue counts and times
    if item is not None:
        for k, e in matched.items():
            if e.get("message_count") != counts.get(k, 0):
                rep.mismatch(k[0], e.get("table") or "-", "-", "catalogue.topics.message_count",
                             counts.get(k, 0), e.get("message_count"))
            if e.get("table") is not None and not expected_rows.get(k):
                # contract: a topic gets a table only when the bag writes a row to it
                rep.mismatch(k[0], e.get("table"), "-", "catalogue.topics.table",
                             "<none: no row decodes>", e.get("table"))
        times = [m[0] for m in bagx.messages]
        want_times = (min(times), max(times)) if times else (None, None)
        for key, want in (("message_count", len(bagx.messages)), ("start_time_ns", want_times[0]),
                          ("end_time_ns", want_times[1])):
            if want is not None and item.get(key) != want:
                rep.mismatch("-", "-", "-", f"catalogue.{key}", want, item.get(key))

    for note in bagx.notes:
        print(f"note: {bagx.path.name}: {note}")
    for k, lc in key_conn.items():
        if not lc.res.version and counts.get(k):
            print(f"note: {bagx.path.name}: {lc.topic}: {counts[k]} message(s) counted, not decoded "
                  f"({lc.res.problem})")
    for topic, (n, err) in undecodable.items():
        print(f"note: {bagx.path.name}: rosbags could not decode {n} message(s) of {topic} "
              f"(first: {err}); expected them to be skipped")

    summary = (f"{bagx.path.name} (bag_file={bag_file}): {len(topic_keys)} topics, {len(states)} tables, "
               f"{compared} rows compared")
    if rep.mismatches:
        print(f"FAIL {summary}, {rep.mismatches} mismatches" +
              (f" ({rep.printed} printed)" if rep.printed < rep.mismatches else ""))
        return "fail", compared
    print(f"OK   {summary}")
    return "ok", compared


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Compare a bagpipe lake with what rosbags decodes from the same ROS1 bags "
                    "and ROS 2 inputs (MCAP, rosbag2 sqlite3, .zstd, rosbag2 directories).")
    ap.add_argument("--lake", help="bagpipe output root (a local directory or file:// URL)")
    ap.add_argument("--expected-only", action="store_true",
                    help="read no lake: print what it must hold for each ROS 2 input")
    ap.add_argument("--msg-path", action="append", type=Path, default=[], metavar="DIR",
                    help="a directory of <pkg>/msg/<Type>.msg files, as [extract] msg_paths "
                         "(repeatable)")
    ap.add_argument("--max-mismatches", type=int, default=20, metavar="N",
                    help="mismatches printed per bag (default 20)")
    ap.add_argument("bags", nargs="+", type=Path, metavar="INPUT")
    args = ap.parse_args(argv)
    _TYPES.msg_paths = list(args.msg_path)
    if args.expected_only:
        lake = None
        catalogue: dict[str, dict] = {}
    else:
        if not args.lake:
            ap.error("--lake is required (or --expected-only)")
        lake = Path(args.lake.removeprefix("file://"))
        if not lake.is_dir():
            ap.error(f"--lake {args.lake}: not a directory")
        catalogue = load_catalogue(lake)
    results = defaultdict(int)
    rows = 0
    for bag in args.bags:
        if not (bag.is_file() or bag.is_dir()):
            ap.error(f"{bag}: not a file or directory")
        if lake is None and bag.suffix == ".bag":
            print(f"{bag}: --expected-only covers ROS 2 inputs; skipped")
            results["skipped"] += 1
            continue
        outcome, n = check_bag(bag, lake, catalogue, args.max_mismatches)
        results[outcome] += 1
        rows += n
    if lake is None:
        print(f"parity (expected only): {results['expected']} inputs read, {results['skipped']} skipped, "
              f"{rows} rows expected")
        return 0
    print(f"parity: {results['ok']} ok, {results['fail']} failed, {results['skipped']} skipped, "
          f"{rows} rows compared")
    return 1 if results["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
