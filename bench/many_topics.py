"""Writes a ROS1 bag of N topics with one small message each (issue 12's
catalogue case: a 2.4 MB bag of 4,000 topics), with the Python `rosbags`
library, for bench/topics.sh.

    python3 bench/many_topics.py OUT.bag [--topics 4000] [--messages 1]

Each topic `/topic_NNNN` carries `std_msgs/String` messages (`--messages`
of them, 10 ms apart), lz4 chunks, the definition embedded as a recorder
writes it.
"""
import argparse
from pathlib import Path

from rosbags.rosbag1 import Writer
from rosbags.typesys import Stores, get_typestore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--topics", type=int, default=4000)
    parser.add_argument("--messages", type=int, default=1)
    args = parser.parse_args()
    store = get_typestore(Stores.ROS1_NOETIC)
    String = store.types["std_msgs/msg/String"]
    args.out.unlink(missing_ok=True)
    writer = Writer(args.out)
    writer.set_compression(Writer.CompressionFormat.LZ4)
    with writer:
        conns = [
            writer.add_connection(f"/topic_{i:04}", String.__msgtype__, typestore=store)
            for i in range(args.topics)
        ]
        start = 1_700_000_000_000_000_000
        for m in range(args.messages):
            for i, conn in enumerate(conns):
                data = store.serialize_ros1(String(data=f"hello {i} {m}"), String.__msgtype__)
                writer.write(conn, start + m * 10_000_000 + i * 1000, data)


if __name__ == "__main__":
    main()
