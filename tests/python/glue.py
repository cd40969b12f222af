"""Glue Data Catalog helpers for the tests (boto3; endpoint and credentials
from the usual AWS environment, i.e. the test's moto server).

    python3 tests/python/glue.py create-db NAME
    python3 tests/python/glue.py dump NAME

`dump` prints {"<table>": {"columns": [[name, type], ...], "partition_keys":
[...], "location": ..., "created": ..., "partitions": {"<bag_file>":
location}}} as JSON.
"""
import json
import sys

import boto3


def create_db(name: str) -> None:
    boto3.client("glue").create_database(DatabaseInput={"Name": name})


def dump(name: str) -> None:
    glue = boto3.client("glue")
    out = {}
    for page in glue.get_paginator("get_tables").paginate(DatabaseName=name):
        for t in page["TableList"]:
            sd = t["StorageDescriptor"]
            parts = {}
            for pp in glue.get_paginator("get_partitions").paginate(
                DatabaseName=name, TableName=t["Name"]
            ):
                for p in pp["Partitions"]:
                    parts[p["Values"][0]] = p["StorageDescriptor"]["Location"]
            out[t["Name"]] = {
                "columns": [[c["Name"], c["Type"]] for c in sd["Columns"]],
                "partition_keys": [[c["Name"], c["Type"]] for c in t["PartitionKeys"]],
                "location": sd["Location"],
                "serde": sd["SerdeInfo"]["SerializationLibrary"],
                "created": str(t.get("CreateTime")),
                "partitions": parts,
            }
    print(json.dumps(out))


if __name__ == "__main__":
    {"create-db": create_db, "dump": dump}[sys.argv[1]](*sys.argv[2:])
