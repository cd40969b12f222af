#!/usr/bin/env python3
"""Check a bagpipe lake against an independent ROS1 decoder (`rosbags`).

    python3 tests/parity/rosbags_parity.py --lake LAKE_DIR [--max-mismatches N] BAG [BAG...]

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

Exit status: 0 when everything is equal, 1 on any mismatch, 2 on usage errors.
"""

from __future__ import annotations

import argparse
import decimal
import heapq
import json
import math
import re
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

import rosbags.serde.ros1 as _ros1
from rosbags.highlevel import AnyReader
from rosbags.interfaces import Nodetype
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

BAG_EXTENSIONS = (".bag", ".mcap", ".db3")
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
    """The input's file name without directory and extension, sanitised."""
    name = Path(str(path)).name
    for ext in BAG_EXTENSIONS:
        if name.endswith(ext):
            name = name[: -len(ext)]
            break
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
        print(f"rosbags cannot read {bag}: not a ROS1 .bag (this checker reads ROS1 only); skipped")
        return "skipped", 0
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Compare a bagpipe lake with what rosbags decodes from the same ROS1 bags.")
    ap.add_argument("--lake", required=True, help="bagpipe output root (a local directory or file:// URL)")
    ap.add_argument("--max-mismatches", type=int, default=20, metavar="N",
                    help="mismatches printed per bag (default 20)")
    ap.add_argument("bags", nargs="+", type=Path, metavar="BAG")
    args = ap.parse_args(argv)
    lake = Path(args.lake.removeprefix("file://"))
    if not lake.is_dir():
        ap.error(f"--lake {args.lake}: not a directory")
    catalogue = load_catalogue(lake)
    results = defaultdict(int)
    rows = 0
    for bag in args.bags:
        if not bag.is_file():
            ap.error(f"{bag}: not a file")
        outcome, n = check_bag(bag, lake, catalogue, args.max_mismatches)
        results[outcome] += 1
        rows += n
    print(f"parity: {results['ok']} ok, {results['fail']} failed, {results['skipped']} skipped, "
          f"{rows} rows compared")
    return 1 if results["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
