"""The comparison path of the benchmark: the same bag through the Python
`rosbags` library and `pyarrow`, one Parquet file per topic.

This is what a team without bagpipe would write: deserialize every message
with rosbags, turn it into plain Python values (numpy arrays of bytes become
`bytes`, other arrays lists, nested messages dicts), and write batches of
rows with pyarrow's ParquetWriter (zstd), the same codec bagpipe uses.

BAG is a ROS1 bag (`.bag`) or ROS 2: an MCAP file (`.mcap`, as
`generate.py --big --ros2` writes), a `.db3` or a rosbag2 directory.
rosbags' AnyReader reads each with the types embedded in it (ROS1 message
definitions, ROS 2 `ros2msg` schemas) and deserializes ROS1 or CDR; the
values are mapped to rows the same way for both, so a ROS1 bag and its ROS 2
twin cost the same Python work per field (a ROS 2 Header has no seq).

Usage: python3 bench/rosbags_pyarrow.py BAG OUT_DIR
"""
import re
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from rosbags.highlevel import AnyReader

BATCH_ROWS = 64


def plain(value):
    """A rosbags value as plain Python: dicts, lists, bytes, numbers."""
    if isinstance(value, np.ndarray):
        if value.dtype == np.uint8:
            return value.tobytes()
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        if hasattr(value, "sec") and hasattr(value, "nanosec") and len(value.__dataclass_fields__) == 2:
            return value.sec * 1_000_000_000 + value.nanosec
        return {k: plain(getattr(value, k)) for k in value.__dataclass_fields__ if k != "__msgtype__"}
    return value


def main() -> None:
    bag, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    writers: dict[str, pq.ParquetWriter] = {}
    pending: dict[str, list] = {}

    def flush(topic: str) -> None:
        rows = pending.pop(topic, [])
        if not rows:
            return
        table = pa.Table.from_pylist(rows)
        if topic not in writers:
            name = re.sub(r"[^a-z0-9_]", "_", topic.lstrip("/").lower())
            writers[topic] = pq.ParquetWriter(out / f"{name}.parquet", table.schema, compression="zstd")
        writers[topic].write_table(table.cast(writers[topic].schema))

    rows = 0
    with AnyReader([bag]) as reader:
        for conn, timestamp, raw in reader.messages():
            msg = reader.deserialize(raw, conn.msgtype)
            row = {"log_time_ns": timestamp, **plain(msg)}
            pending.setdefault(conn.topic, []).append(row)
            rows += 1
            if len(pending[conn.topic]) >= BATCH_ROWS:
                flush(conn.topic)
    for topic in list(pending):
        flush(topic)
    for w in writers.values():
        w.close()
    print(f"{rows} rows, {len(writers)} tables")


if __name__ == "__main__":
    main()
