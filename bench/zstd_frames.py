"""The zstd part of the raw-frame target: how long zstd alone takes to
compress a camera bag's frames, on every core, at the level bagpipe's
Parquet writer uses (1).

    python3 bench/zstd_frames.py BAG [LEVEL]

Reads every sensor_msgs Image or CompressedImage message of BAG (a ROS1
bag through rosbags, an MCAP file through the mcap reader) into memory as
its serialized bytes (the frame and its few header bytes), then times
compressing each message on its own (Parquet compresses each page, and a
frame is at least a page) on a pool of one thread per core; the zstandard
module releases the GIL while it compresses, so the threads run at once.
Prints one line:

    zstd-1 of the frames alone: 3776 frames, 1043.5 MB, 2 threads: 1.234 s
"""

import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import zstandard

IMAGE_TYPES = ("Image", "CompressedImage")


def is_image(msgtype: str) -> bool:
    return msgtype.startswith("sensor_msgs/") and msgtype.rsplit("/", 1)[-1] in IMAGE_TYPES


def ros1_frames(path):
    from rosbags.rosbag1 import Reader

    with Reader(path) as reader:
        conns = [c for c in reader.connections if is_image(c.msgtype)]
        return [raw for _, _, raw in reader.messages(connections=conns)] if conns else []


def mcap_frames(path):
    from mcap.reader import make_reader

    out = []
    with open(path, "rb") as f:
        for schema, _, message in make_reader(f).iter_messages():
            if schema is not None and is_image(schema.name):
                out.append(message.data)
    return out


def main() -> None:
    bag = sys.argv[1]
    level = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    frames = mcap_frames(bag) if bag.endswith(".mcap") else ros1_frames(bag)
    threads = os.cpu_count() or 1
    # One compressor per thread: a ZstdCompressor is not shared across threads.
    compressors = {}

    def compress(data: bytes) -> int:
        c = compressors.setdefault(threading.get_ident(), zstandard.ZstdCompressor(level=level))
        return len(c.compress(data))

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        packed = sum(pool.map(compress, frames, chunksize=4))
    seconds = time.perf_counter() - start
    raw = sum(len(f) for f in frames)
    print(
        f"zstd-{level} of the frames alone: {len(frames)} frames, {raw / 1e6:.1f} MB "
        f"(to {packed / 1e6:.1f} MB), {threads} threads: {seconds:.3f} s"
    )


if __name__ == "__main__":
    main()
