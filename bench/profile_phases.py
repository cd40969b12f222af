"""Splits a `perf script` dump (samples with call chains) into the phases
of extraction, each with the share of its samples the kernel spent
zeroing fresh pages for it (first touch of memory the allocator had
handed back or never used).

    perf script -i perf.data | python3 bench/profile_phases.py

A sample goes to the phase of the nearest frame (from the leaf up) that
names one; the patterns are the functions of bagpipe and of the crates it
calls (lz4_flex, parquet, zstd). perf cannot unwind out of some of libc's
string routines and of some kernel entry points; a sample none of whose
frames names a phase goes, by its leaf, to one of two rows of its own
(libc's copies, fills and compares; the kernel, here mostly page faults
and TLB flushes) rather than to "other".
"""
import collections
import re
import sys

PHASES = [
    ("zstd compression of Parquet pages", r"ZSTD_|zstd_codec|ZSTDCodec"),
    ("chunk decompression (lz4, bz2, zstd)", r"lz4_flex|BzDecoder|compression::decompress|ZSTD_decompress"),
    ("chunk reading (pread, ranged GETs)", r"read_vec|read_exact_at|pread|S3Source"),
    ("record parsing (chunks, headers)", r"ros1::read_unit|read_chunk|parse_header|read_record|mcap::read_unit"),
    ("message decoding into Arrow builders", r"extractor::decode|decode_unit|Col::"),
    ("Parquet statistics (min/max)", r"min_max|statistics"),
    ("Parquet encoding (levels, values, pages)", r"parquet::"),
    ("Arrow batches (finish, concat)", r"arrow_|arrow::|concat"),
    ("file writes and fsync", r"LocalFile|fsync|ksys_write|__libc_write|BufWriter"),
    ("ordering and batching", r"extract::|Merger|consume"),
]
ZEROING = re.compile(r"clear_page|folio_zero")
LIBC_MEM = re.compile(r"^__(memcpy|memmove|memset|memcmp)")
UNWOUND_LIBC = "memcpy, memset, memcmp (caller not unwound)"
UNWOUND_KERNEL = "kernel: faults, TLB (caller not unwound)"


def main() -> None:
    total = 0
    phase = collections.Counter()
    zeroing = collections.Counter()
    for sample in sys.stdin.read().split("\n\n"):
        lines = [line.strip() for line in sample.strip().split("\n")[1:] if line.strip()]
        if not lines:
            continue
        total += 1
        names = [re.sub(r"^[0-9a-f]+ ", "", line).split(" (")[0] for line in lines]
        found = "other"
        for name in names:
            hit = next((p for p, pattern in PHASES if re.search(pattern, name)), None)
            if hit:
                found = hit
                break
        else:
            if LIBC_MEM.search(names[0]):
                found = UNWOUND_LIBC
            elif "kernel.kallsyms" in lines[0]:
                found = UNWOUND_KERNEL
        phase[found] += 1
        if ZEROING.search(names[0]):
            zeroing[found] += 1
    print(f"{total} samples; share of all, and of it the kernel zeroing fresh pages")
    for name, n in phase.most_common():
        print(f"{100 * n / total:5.1f}%  {name:44s} {100 * zeroing[name] / total:5.1f}%")
    print(f"{100 * sum(zeroing.values()) / total:5.1f}%  {'all kernel page zeroing':44s}")


if __name__ == "__main__":
    main()
