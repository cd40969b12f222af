"""Time DuckDB computing a bag's synchronized table with ASOF JOIN over the
topic Parquet of a bagpipe lake (bench/sync.sql), for bench/extract.sh.

Usage: python3 bench/sync_duckdb.py LAKE BAG_FILE TABLE [TABLE ...]
Prints: `duckdb asof: <seconds> s, <ticks> ticks`.
"""
import sys
import time
from pathlib import Path

import duckdb


def main() -> None:
    lake, bag, tables = sys.argv[1], sys.argv[2], sys.argv[3:]
    interval = 100_000_000
    src = {t: f"read_parquet('{lake}/topics/{t}/bag_file={bag}/*.parquet')" for t in tables}
    union_all = " UNION ALL ".join(f"SELECT log_time_ns FROM {s}" for s in src.values())
    columns = ", ".join(f'"{t}"' for t in tables)
    joins = "\n".join(
        f'ASOF LEFT JOIN {s} AS "{t}" ON ticks.time_ns >= "{t}".log_time_ns' for t, s in src.items()
    )
    out = Path(lake) / "duckdb_synchronized.parquet"
    sql = Path(__file__).with_name("sync.sql").read_text().format(
        union_all=union_all, interval=interval, columns=columns, joins=joins, out=out
    )
    con = duckdb.connect()
    start = time.perf_counter()
    con.execute(sql)
    took = time.perf_counter() - start
    ticks = con.execute(f"SELECT count(*) FROM read_parquet('{out}')").fetchone()[0]
    print(f"duckdb asof: {took:.2f} s, {ticks} ticks")


if __name__ == "__main__":
    main()
