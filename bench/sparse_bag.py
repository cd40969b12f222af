"""Write a sparse ROS1 bag of N chunks for planning benchmarks.

    python3 bench/sparse_bag.py OUT CHUNKS CHUNK_BYTES

One uncompressed chunk per camera frame of CHUNK_BYTES (a `uint32 seq`
and a `uint8[] data` message), frames 33 ms apart, with the bag's index
(one connection, a chunk-info record per chunk). The frame bytes are holes
of a sparse file: the disk holds only the record headers and the index, so
1 million chunks of 1 MiB make a 1 TB bag in a few hundred MB. Mirrors
`write_big_bag` of tests/limits.rs.
"""
import struct
import sys

MAGIC = b"#ROSBAG V2.0\n"
DEFINITION = b"uint32 seq\nuint8[] data\n"


def header(fields: list[tuple[bytes, bytes]]) -> bytes:
    out = bytearray()
    for name, value in fields:
        out += struct.pack("<I", len(name) + 1 + len(value)) + name + b"=" + value
    return bytes(out)


def record(hdr: bytes, data: bytes) -> bytes:
    return struct.pack("<I", len(hdr)) + hdr + struct.pack("<I", len(data)) + data


def ros_time(ns: int) -> bytes:
    return struct.pack("<II", ns // 1_000_000_000, ns % 1_000_000_000)


def bag_header(index_pos: int, conns: int, chunks: int) -> bytes:
    hdr = header([
        (b"chunk_count", struct.pack("<I", chunks)),
        (b"conn_count", struct.pack("<I", conns)),
        (b"index_pos", struct.pack("<Q", index_pos)),
        (b"op", b"\x03"),
    ])
    # Padded to 4096 bytes, as rosbag writes it, so it can be patched.
    return record(hdr, b" " * (4096 - len(hdr) - 8))


def connection() -> bytes:
    hdr = header([(b"conn", struct.pack("<I", 0)), (b"op", b"\x07"), (b"topic", b"/camera/image")])
    data = header([
        (b"topic", b"/camera/image"),
        (b"type", b"test_msgs/Frame"),
        (b"md5sum", b"0123456789abcdef0123456789abcdef"),
        (b"message_definition", DEFINITION),
    ])
    return record(hdr, data)


def main() -> None:
    out, chunks, frame_len = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    t0 = 1_700_000_000_000_000_000
    infos = []
    with open(out, "wb") as f:
        f.write(MAGIC + bag_header(0, 0, 0))
        for i in range(chunks):
            time = t0 + i * 33_000_000
            inner = connection() if i == 0 else b""
            msg_hdr = header([(b"conn", struct.pack("<I", 0)), (b"op", b"\x02"), (b"time", ros_time(time))])
            inner += struct.pack("<I", len(msg_hdr)) + msg_hdr
            inner += struct.pack("<III", 8 + frame_len, i, frame_len)
            size = len(inner) + frame_len
            chunk_hdr = header([(b"compression", b"none"), (b"op", b"\x05"), (b"size", struct.pack("<I", size))])
            infos.append((f.tell(), time))
            f.write(struct.pack("<I", len(chunk_hdr)) + chunk_hdr + struct.pack("<I", size) + inner)
            f.seek(frame_len, 1)
        index_pos = f.tell()
        index = bytearray(connection())
        for pos, time in infos:
            hdr = header([
                (b"chunk_pos", struct.pack("<Q", pos)),
                (b"count", struct.pack("<I", 1)),
                (b"end_time", ros_time(time)),
                (b"op", b"\x06"),
                (b"start_time", ros_time(time)),
                (b"ver", struct.pack("<I", 1)),
            ])
            index += record(hdr, struct.pack("<II", 0, 1))
        f.write(index)
        f.seek(len(MAGIC))
        f.write(bag_header(index_pos, 1, chunks))


if __name__ == "__main__":
    main()
