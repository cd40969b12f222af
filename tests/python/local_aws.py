"""Set up a local S3 + DynamoDB server (moto) the way the README's AWS
example expects: buckets `ingest` and `lake`, tables `scenes` (bag_file,
scene_id) and `bags` (bag_file), and the bags of a directory uploaded under
s3://ingest/drives/: each `*.bag` as drives/<name>.bag, each rosbag2
directory (a subdirectory holding `metadata.yaml`) as drives/<dir>/<file>
for every file in it, metadata.yaml last. Or list what a run left in the
tables.

    python3 tests/python/local_aws.py setup sample-bags
    python3 tests/python/local_aws.py items bags

The endpoint and credentials come from the usual AWS environment
(AWS_ENDPOINT_URL etc.), as for bagpipe itself.
"""
import json
import pathlib
import sys

import boto3


def setup(bag_dir: str) -> None:
    s3 = boto3.client("s3")
    for bucket in ("ingest", "lake"):
        s3.create_bucket(Bucket=bucket)
    ddb = boto3.client("dynamodb")
    for name, keys in (("scenes", ["bag_file", "scene_id"]), ("bags", ["bag_file"])):
        ddb.create_table(
            TableName=name,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in keys],
            KeySchema=[
                {"AttributeName": k, "KeyType": "HASH" if i == 0 else "RANGE"}
                for i, k in enumerate(keys)
            ],
        )
    for bag in sorted(pathlib.Path(bag_dir).glob("*.bag")):
        s3.upload_file(str(bag), "ingest", f"drives/{bag.name}")
        print(f"uploaded s3://ingest/drives/{bag.name}")
    # rosbag2 directories (ROS 2 bags): drives/<dir>/<file> for each file.
    # metadata.yaml goes last: a run is started by its arrival (contract,
    # "On S3"), so the storage files must already be there.
    for bag in sorted(d for d in pathlib.Path(bag_dir).iterdir()
                      if d.is_dir() and (d / "metadata.yaml").is_file()):
        files = sorted((f for f in bag.iterdir() if f.is_file()),
                       key=lambda f: (f.name == "metadata.yaml", f.name))
        for f in files:
            key = f"drives/{bag.name}/{f.name}"
            s3.upload_file(str(f), "ingest", key)
            print(f"uploaded s3://ingest/{key}")


def items(table: str) -> None:
    ddb = boto3.client("dynamodb")
    for page in ddb.get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            print(json.dumps(item))


if __name__ == "__main__":
    {"setup": setup, "items": items}[sys.argv[1]](*sys.argv[2:])
