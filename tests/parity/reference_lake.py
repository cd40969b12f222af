#!/usr/bin/env python3
"""Build the topic tables and bag catalogue of a bagpipe lake in Python.

    python3 tests/parity/reference_lake.py --out LAKE_DIR BAG [BAG...]

A slow reference for debugging the Rust extractor: for each ROS1 bag that
rosbags can read it writes, per the contract,

    LAKE_DIR/topics/<table>/bag_file=<bag_file>/part-00000.parquet
    LAKE_DIR/dynamodb/bags.jsonl             (DynamoDB export format)

with the same mapping that `rosbags_parity.py` checks against (so a Rust
table can be diffed with `pyarrow` row by row). Table names follow the
contract's rules within this one run (first md5sum of a table keeps the
name, others get `__<md5[:8]>`; topics that sanitise to a taken name get
`__<md5(topic)[:8]>`); no `_schemas/` registry is written, so runs do not
remember each other. No synchronized table, scene detections or scenes.
It replaces LAKE_DIR's partitions of the bags it writes.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import shutil
import sys
import urllib.parse
from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rosbags_parity import (  # noqa: E402
    AnyReader, Mapping, bag_file_of, messages_in_bag_order, table_base, type_text,
)
from rosbags.typesys.msg import denormalize_msgtype  # noqa: E402


def to_dynamo(v):
    if isinstance(v, bool):
        return {"BOOL": v}
    if isinstance(v, int):
        return {"N": str(v)}
    if isinstance(v, str):
        return {"S": v}
    if isinstance(v, list):
        return {"L": [to_dynamo(x) for x in v]}
    if isinstance(v, dict):
        return {"M": {k: to_dynamo(x) for k, x in v.items()}}
    raise TypeError(type(v))


class Registry:
    """Table name -> md5sum, and table name -> topic, for this run."""

    def __init__(self) -> None:
        self.md5: dict[str, str] = {}
        self.topic: dict[str, str] = {}

    def table_for(self, topic: str, md5: str) -> str:
        base = table_base(topic)
        if self.topic.setdefault(base, topic) != topic:
            base = f"{base}__{hashlib.md5(topic.encode()).hexdigest()[:8]}"
            self.topic.setdefault(base, topic)
        if self.md5.setdefault(base, md5) == md5:
            return base
        name = f"{base}__{md5[:8]}"
        self.md5.setdefault(name, md5)
        return name


def write_bag(bag: Path, out: Path, registry: Registry) -> dict | None:
    bag_file = bag_file_of(bag)
    try:
        reader = AnyReader([bag])
        reader.open()
    except Exception as exc:
        print(f"rosbags cannot read {bag}: {exc}; skipped")
        return None
    try:
        mapping = Mapping(reader.typestore)
        topics: dict[str, dict] = {}
        tables: dict[tuple[str, str], str] = {}
        for c in reader.connections:
            entry = {"type": denormalize_msgtype(c.msgtype), "md5sum": c.digest, "message_count": 0}
            if c.topic not in topics:
                topics[c.topic] = entry
            elif topics[c.topic]["md5sum"] != c.digest and all(
                    v["md5sum"] != c.digest for v in topics[c.topic].get("variants", [])):
                topics[c.topic].setdefault("variants", []).append(entry)
            else:
                continue
            tables[(c.topic, c.digest)] = entry["table"] = registry.table_for(c.topic, c.digest)
        rows: dict[str, list[dict]] = defaultdict(list)
        types: dict[str, str] = {}
        total, first, last = 0, None, None
        for conn, t, raw in messages_in_bag_order(reader):
            total += 1
            first = t if first is None else first
            last = t
            e = topics[conn.topic]
            if e["md5sum"] != conn.digest:
                e = next(v for v in e["variants"] if v["md5sum"] == conn.digest)
            e["message_count"] += 1
            try:
                msg = reader.deserialize(raw, conn.msgtype)
            except Exception:
                continue
            table = tables[(conn.topic, conn.digest)]
            types[table] = conn.msgtype
            rows[table].append(mapping.row(msg, conn.msgtype, t))
        for table, msgtype in types.items():
            part = out / "topics" / table / f"bag_file={bag_file}"
            if part.exists():
                shutil.rmtree(part)
            part.mkdir(parents=True)
            schema = mapping.schema(msgtype)
            blobs = "binary" in type_text(pa.struct(list(schema)))
            pq.write_table(pa.Table.from_pylist(rows[table], schema=schema), part / "part-00000.parquet",
                           row_group_size=16 if blobs else 1 << 16)
        item = {
            "bag_file": bag_file,
            "source_url": "file://" + urllib.parse.quote(str(bag.resolve())),
            "size_bytes": bag.stat().st_size,
            "message_count": total,
            "topics": topics,
            "status": "DONE",
            "warnings": [] if total else ["bag has no messages"],
            "updated_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }
        if first is not None:
            item["start_time_ns"], item["end_time_ns"] = first, last
        print(f"{bag}: {total} messages, {len(types)} tables")
        return item
    finally:
        reader.close()


def main() -> int:
    ap = argparse.ArgumentParser(description="Write a reference lake (topic tables + catalogue) with rosbags.")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("bags", nargs="+", type=Path)
    args = ap.parse_args()
    registry = Registry()
    items = {}
    catalogue = args.out / "dynamodb" / "bags.jsonl"
    if catalogue.exists():
        for line in catalogue.read_text().splitlines():
            if line.strip():
                it = json.loads(line)["Item"]
                items[it["bag_file"]["S"]] = it
    for bag in args.bags:
        item = write_bag(bag, args.out, registry)
        if item is not None:
            items[item["bag_file"]] = {k: to_dynamo(v) for k, v in item.items()}
    catalogue.parent.mkdir(parents=True, exist_ok=True)
    tmp = catalogue.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps({"Item": it}, ensure_ascii=False) + "\n" for it in items.values()))
    tmp.replace(catalogue)
    return 0


if __name__ == "__main__":
    sys.exit(main())
