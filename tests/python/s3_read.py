"""Read one table of a lake on S3 the way an analyst's tool would: pyarrow
over the S3 API, Hive partitions, every partition's schema unified.

    python3 tests/python/s3_read.py ENDPOINT BUCKET PREFIX TABLE

prints {"rows": N, "columns": [...], "bag_files": [...]} as JSON.
Credentials are moto's test ones.
"""
import json
import sys
from urllib.parse import urlparse

import pyarrow.dataset as ds
import pyarrow.fs as pafs


def main() -> None:
    endpoint, bucket, prefix, table = sys.argv[1:5]
    url = urlparse(endpoint)
    fs = pafs.S3FileSystem(
        endpoint_override=url.netloc,
        scheme=url.scheme,
        access_key="test",
        secret_key="test",
        region="us-east-1",
    )
    path = f"{bucket}/{prefix}/{table}".replace("//", "/")
    data = ds.dataset(path, filesystem=fs, format="parquet", partitioning="hive")
    t = data.to_table()
    print(
        json.dumps(
            {
                "rows": t.num_rows,
                "columns": t.column_names,
                "bag_files": sorted(set(t.column("bag_file").to_pylist())),
            }
        )
    )


if __name__ == "__main__":
    main()
