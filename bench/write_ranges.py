#!/usr/bin/env python3
"""What writing a big file costs through the page cache, two ways.

Writes SIZE_MIB (default 745, about the camera bag's clips) of random bytes into a
file in DIR, in 1 MiB writes, as the local lake writes its files: every
8 MiB, `posix_fadvise(DONTNEED)` on the range just written (which starts its
write-back); then `fsync`. Two ways, alternately, ROUNDS times each:

  kept:    as above: the file's pages stay in the page cache until the
           kernel evicts them;
  dropped: at each 8 MiB the range handed over the time before (written to
           the disk by then) is advised again, which drops its now clean
           pages: the file takes a few ranges of page cache, and each range
           reuses the pages the one before freed.

Before each write the script waits PAUSE seconds (default 6) after removing
the last file: on a virtual machine whose host takes back the memory its
guest leaves free (virtio-balloon free page reporting, reported after about
2 s), the pages freed are then gone from the host, and a write into a page
the guest has not touched lately costs a fault in the host. Prints the wall
and system seconds of each write, fsync included.

Usage: bench/write_ranges.py [DIR] [SIZE_MIB] [ROUNDS] [PAUSE]
"""

import os
import sys
import time

RANGE = 8 << 20


def write(path, size, drop):
    buf = os.urandom(1 << 20)
    start, cpu = time.perf_counter(), os.times()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        off = 0
        while off < size:
            os.write(fd, buf)
            off += len(buf)
            if off % RANGE == 0:
                os.posix_fadvise(fd, off - RANGE, RANGE, os.POSIX_FADV_DONTNEED)
                if drop and off >= 2 * RANGE:
                    os.posix_fadvise(fd, off - 2 * RANGE, RANGE, os.POSIX_FADV_DONTNEED)
        os.fsync(fd)
    finally:
        os.close(fd)
    end = os.times()
    return time.perf_counter() - start, end.system - cpu.system


def main():
    directory = sys.argv[1] if len(sys.argv) > 1 else "bench/out"
    size = int(sys.argv[2] if len(sys.argv) > 2 else 745) << 20
    rounds = int(sys.argv[3] if len(sys.argv) > 3 else 3)
    pause = float(sys.argv[4] if len(sys.argv) > 4 else 6)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "write_ranges.tmp")
    try:
        for r in range(rounds):
            for name, drop in (("kept", False), ("dropped", True)):
                if os.path.exists(path):
                    os.remove(path)
                os.sync()
                time.sleep(pause)
                wall, system = write(path, size, drop)
                print(f"round {r + 1} {name:8} {size >> 20} MiB: {wall:.2f} s wall, {system:.2f} s system")
    finally:
        if os.path.exists(path):
            os.remove(path)


if __name__ == "__main__":
    main()
