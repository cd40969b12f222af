"""The disk's part of the floor: how long this machine's disk takes to take
BYTES and make them durable, the least any extraction writing that many
bytes of tables can spend, however little CPU it uses.

    python3 bench/write_floor.py DIR BYTES

Writes BYTES of random data (incompressible, like JPEG frames) to a new
file in DIR (on the lake's filesystem) the fastest way measured on these
machines: O_DIRECT, 8 MiB aligned writes, two threads writing at once (the
virtio disk took 1.4 to 1.8 GB/s however it was asked), then fsync; the
page cache is not involved, so nothing is left for the kernel to write
after. Falls back to ordinary writes where O_DIRECT is refused (tmpfs).
Removes the file. Prints one line:

    disk write floor: 998.0 MB in 0.612 s (1631 MB/s, O_DIRECT)
"""

import mmap
import os
import sys
import threading
import time

CHUNK = 8 << 20
THREADS = 2


def main() -> None:
    directory, total = sys.argv[1], int(sys.argv[2])
    path = os.path.join(directory, f".write_floor.{os.getpid()}")
    # mmap gives page-aligned buffers, as O_DIRECT needs.
    buffers = []
    for _ in range(THREADS):
        buf = mmap.mmap(-1, CHUNK)
        buf.write(os.urandom(CHUNK))
        buffers.append(buf)
    chunks = (total + CHUNK - 1) // CHUNK
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_DIRECT, 0o644)
        how = "O_DIRECT"
    except OSError:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        how = "buffered, O_DIRECT refused"
    try:
        start = time.perf_counter()

        def write(k: int) -> None:
            for i in range(k, chunks, THREADS):
                os.pwrite(fd, buffers[k], i * CHUNK)

        workers = [threading.Thread(target=write, args=(k,)) for k in range(THREADS)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        os.fsync(fd)
        seconds = time.perf_counter() - start
    finally:
        os.close(fd)
        # Cut to nothing before removing: the freed blocks are not left
        # for the next timed run's writes to wait behind.
        os.truncate(path, 0)
        os.unlink(path)
    written = chunks * CHUNK
    print(
        f"disk write floor: {written / 1e6:.1f} MB in {seconds:.3f} s "
        f"({written / 1e6 / seconds:.0f} MB/s, {how})"
    )


if __name__ == "__main__":
    main()
