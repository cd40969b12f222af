"""Run one DuckDB SQL query and print the rows as JSON (one list per row).

Used by the Rust integration tests to read the lake the way an analyst
would: `python3 tests/python/query.py "SELECT ... FROM read_parquet(...)"`.
"""
import json
import sys

import duckdb


def main() -> None:
    rows = duckdb.sql(sys.argv[1]).fetchall()
    print(json.dumps([list(r) for r in rows], default=str))


if __name__ == "__main__":
    main()
