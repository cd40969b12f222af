"""Message bytes: the serialized payloads of every message, whatever the
container and its compression, for comparing a bag with its clips byte for
byte of what they carry.

    python3 bench/message_bytes.py PATH...

Each PATH is a ROS1 bag (read through rosbags), an MCAP file, or a
directory searched for `.mcap` files (read through the mcap reader, which
decompresses every chunk). Prints one line: the total, in bytes.
"""

import os
import sys


def ros1_bytes(path: str) -> int:
    from rosbags.rosbag1 import Reader

    with Reader(path) as reader:
        return sum(len(raw) for _, _, raw in reader.messages())


def mcap_bytes(path: str) -> int:
    from mcap.reader import make_reader

    with open(path, "rb") as f:
        return sum(len(m.data) for _, _, m in make_reader(f).iter_messages())


def main() -> None:
    total = 0
    for path in sys.argv[1:]:
        if os.path.isdir(path):
            for root, _, names in os.walk(path):
                total += sum(mcap_bytes(os.path.join(root, n)) for n in names if n.endswith(".mcap"))
        elif path.endswith(".mcap"):
            total += mcap_bytes(path)
        else:
            total += ros1_bytes(path)
    print(total)


if __name__ == "__main__":
    main()
