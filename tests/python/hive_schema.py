"""The Hive column types of every table of a local lake, worked out from the
Parquet files by pyarrow, independently of bagpipe's own mapping: the
reference the `athena-ddl` test compares the DDL with.

    python3 tests/python/hive_schema.py LAKE_DIR

prints {"<athena table>": [[column, hive type], ...], ...} as JSON, columns
in file order, unioned over the partitions (first appearance first).
"""
import json
import pathlib
import sys

import pyarrow as pa
import pyarrow.parquet as pq


def hive(t: pa.DataType) -> str:
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_int8(t):
        return "tinyint"
    if pa.types.is_int16(t):
        return "smallint"
    if pa.types.is_int32(t):
        return "int"
    if pa.types.is_int64(t):
        return "bigint"
    if pa.types.is_float32(t):
        return "float"
    if pa.types.is_float64(t):
        return "double"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return "binary"
    if pa.types.is_decimal(t):
        return f"decimal({t.precision},{t.scale})"
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return f"array<{hive(t.value_type)}>"
    if pa.types.is_struct(t):
        return "struct<" + ",".join(f"{f.name}:{hive(f.type)}" for f in t) + ">"
    raise ValueError(f"no Hive type for {t}")


def main() -> None:
    root = pathlib.Path(sys.argv[1])
    dirs = sorted(p for p in (root / "topics").iterdir() if p.is_dir())
    dirs += [root / d for d in ("synchronized", "scene_detections", "scenes") if (root / d).is_dir()]
    out = {}
    for d in dirs:
        name = d.name
        if d.parent.name == "topics" and name in ("synchronized", "scene_detections", "scenes"):
            name = "topics_" + name
        cols = []
        for part in sorted(d.glob("bag_file=*")):
            files = sorted(part.glob("*.parquet"))
            if not files:
                continue
            for field in pq.read_schema(files[0]):
                if field.name not in [c[0] for c in cols]:
                    cols.append([field.name, hive(field.type)])
        out[name] = cols
    print(json.dumps(out))


if __name__ == "__main__":
    main()
