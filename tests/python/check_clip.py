#!/usr/bin/env python3
"""Check a scene clip (MCAP) against the bag it was cut from.

    python3 tests/python/check_clip.py --bag INPUT --clip CLIP.mcap \\
            --start NS --end NS --pad-ms MS [--topics T [T ...]] [--msg-path DIR]...
            [--max-mismatches N]

INPUT is the bag the clip was cut from: a ROS1 `.bag` (known by its
`#ROSBAG V2.0` magic), or a ROS 2 input (an `.mcap`, a rosbag2 sqlite3
`.db3`, either also as a whole-file `.zstd`, or a rosbag2 directory).
`--start`/`--end` are the scene's `start_time_ns`/`end_time_ns`,
`--pad-ms` is `[export] clip_pad_ms`, `--topics` is `[export] clip_topics`
(omitted or empty: every topic), `--msg-path` is `[extract] msg_paths`
(only used to tell which ROS 2 connections have a usable definition).
Install: `pip install -r tests/requirements.txt`.

What is checked (CONTRACT.md, "Scene exports and the bag report", "Clip";
design notes SCENE-EXPORT.md §2):

1. The clip as a file, read by the `mcap` package, not by bagpipe:
   - every record read with CRC validation (`StreamReader(validate_crcs=True)`
     over the whole file, and `make_reader(f, validate_crcs=True)`);
   - header profile `ros1` for a ROS1 bag (and for an MCAP input of profile
     `ros1`), `ros2` for the other ROS 2 inputs;
   - a summary with statistics (message count, per-channel counts, first
     and last log time, channel and schema counts, all equal to what the
     file holds) and chunk indexes; every chunk compressed with `zstd`, or
     every chunk stored uncompressed (bagpipe stores clips whose messages
     zstd hardly shrinks, such as JPEG frames); no message record outside a
     chunk.
2. Channels: ros1 ones have message encoding `ros1`, a `ros1msg` schema
   named as the bag's connection type (`sensor_msgs/Imu`), whose text is
   the connection's `message_definition` byte for byte, and metadata
   `md5sum`, `callerid` and `latching` (`true`/`false`, or the bag's raw
   `1`/`0`) equal to the connection header's. ros2 ones have message
   encoding `cdr` and a `ros2msg` or `ros2idl` schema named `pkg/msg/Type`
   (equal to the bag's embedded definition when the bag embeds one). Every
   channel matches a connection of the bag.
3. Every message decodes: with `mcap-ros1-support`
   (`mcap_ros1.decoder.DecoderFactory`) for ros1, `mcap-ros2-support`
   (`mcap_ros2.decoder.DecoderFactory`) for ros2. A failure is a mismatch,
   unless rosbags cannot decode the same bytes from the bag either (then it
   is a `note:`: the bag's fault, not the clip's).
4. Content, against the bag read independently with `rosbags` (ROS1:
   `rosbags.rosbag1.Reader`; ROS 2: `tests/parity/rosbags_parity.py`'s
   `load_ros2`, which reads storage files with rosbags and finds bag order
   with a raw scan): the clip holds exactly
   - every message of the selected topics whose log time t satisfies
     `start - pad <= t < end + pad` (ns, pad = pad_ms * 1e6), and
   - for each latched connection of those topics (ROS1: connection header
     `latching=1`; ROS 2: every QoS profile the connection offers, in the
     storage file's `offered_qos_profiles`, has durability
     `transient_local`, or `1` in the older numeric form), the latest
     message before `start - pad` (among equal times the last in bag
     order), if it has one, at its own log time;
   compared as multisets of (topic, log time, payload bytes, connection),
   so a message on the wrong channel counts too.
   Connections whose definition is unusable (it does not parse, names a
   type it does not define, or, for ROS1, is empty for any type but
   `std_msgs/Empty`, which viewers refuse; SCENE-EXPORT.md §1.4) must be
   left out; they are listed as `note:` lines.
5. Order: the clip's message records in file order are the latched
   messages first (in any order among themselves), then the window's
   messages in bag order (contract: storage files in order, then position
   in the file).

Output: one `MISMATCH ...` line per problem (at most --max-mismatches,
default 200, then a count of the rest), `note: ...` lines, and last either

    OK <clip>: N messages, M topics, L latched
    FAIL <clip>: K mismatches

Exit status: 0 when the clip is right, 1 on any mismatch, 2 on a usage
error or when the bag itself cannot be read by rosbags.

ROS 2 note: the sample drive `sample-bags/drive_0004_ros2` has a custom
type with a field named `Class`. mcap-ros2-support's vendored rosidl parser
refuses it by rosidl's naming rule (lower-case field names). This script
relaxes that one check at import time (see `_relax_ros2_field_names`);
everything else is decoded as the package decodes it.
"""

from __future__ import annotations

import argparse
import heapq
import re
import sys
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

# --------------------------------------------------------------------------
# mcap-ros2-support: accept upper-case field names (`string Class`).
#
# mcap_ros2 parses ros2msg schemas with a vendored copy of rosidl_adapter,
# whose Field() constructor calls `is_valid_field_name`, which requires
# rosidl's pattern `^(?!.*__)(?!.*_$)[a-z][a-z0-9_]*$`. Real ROS 2 bags
# (and our sample drive_0004_ros2, carried over from ROS1) have fields such
# as `Class`; rosidl itself keeps the relaxed ROS1-compatible pattern
# `^[A-Za-z][A-Za-z0-9_]*$` commented out right under the strict one. We
# patch ONLY this name check: a name passes if either pattern accepts it.
# Nothing else of the package is changed.
# --------------------------------------------------------------------------
import mcap_ros2._vendor.rosidl_adapter.parser as _rosidl_parser

_RELAXED_FIELD_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def _relax_ros2_field_names() -> None:
    strict = _rosidl_parser.is_valid_field_name
    if getattr(strict, "_bagpipe_relaxed", False):
        return

    def is_valid_field_name(name):
        return strict(name) or (isinstance(name, str) and _RELAXED_FIELD_NAME.fullmatch(name) is not None)

    is_valid_field_name._bagpipe_relaxed = True
    _rosidl_parser.is_valid_field_name = is_valid_field_name


_relax_ros2_field_names()

from mcap.reader import make_reader  # noqa: E402
from mcap.records import Channel, Chunk, Header, Message, Schema  # noqa: E402
from mcap.stream_reader import StreamReader  # noqa: E402
from mcap_ros1.decoder import DecoderFactory as Ros1DecoderFactory  # noqa: E402
from mcap_ros2.decoder import DecoderFactory as Ros2DecoderFactory  # noqa: E402

ROS1_MAGIC = b"#ROSBAG V2.0"
PARITY_DIR = Path(__file__).resolve().parents[1] / "parity"


def _parity():
    """tests/parity/rosbags_parity.py, imported (never edited). Importing it
    patches rosbags' string decoding to be lossy, which changes nothing
    here: payloads are compared as bytes."""
    if str(PARITY_DIR) not in sys.path:
        sys.path.insert(0, str(PARITY_DIR))
    import rosbags_parity
    return rosbags_parity


class UsageError(Exception):
    pass


# --------------------------------------------------------------------------
# The bag side
# --------------------------------------------------------------------------

@dataclass(eq=False)
class Conn:
    """One connection of the bag, as the clip must carry it."""
    topic: str
    schema_name: str          # ROS1: `pkg/Type`; ROS 2: `pkg/msg/Type`
    gen: int                  # 1: ros1 payloads, 2: cdr
    definition: str | None    # the text the clip's schema must hold (None: not compared)
    schema_encoding: str | None   # the bag's embedded schema encoding (ROS 2), when compared
    md5sum: str = ""
    callerid: str | None = None
    latched: bool = False
    problem: str | None = None    # why the definition is unusable (None: usable)
    typestore: Any = None
    typename: str | None = None
    other_name: str | None = None  # ROS 2: the bag's own spelling (`pkg/Type`), also accepted

    def named(self, name: str) -> bool:
        return name == self.schema_name or (self.other_name is not None and name == self.other_name)

    def signature(self) -> tuple:
        if self.gen == 1:
            return (self.schema_name, self.md5sum, self.callerid or "", self.latched)
        return (normalize_ros2_name(self.schema_name),)

    def rosbags_decodes(self, data: bytes) -> bool:
        if self.typestore is None:
            return False
        try:
            if self.gen == 1:
                self.typestore.deserialize_ros1(data, self.typename)
            else:
                self.typestore.deserialize_cdr(data, self.typename)
        except Exception:
            return False
        return True


@dataclass(eq=False)
class BagMsg:
    conn: Conn
    t: int
    data: bytes
    pos: tuple        # bag order

    def key(self) -> tuple:
        return (self.conn.topic, self.t, self.data, self.conn.signature())


@dataclass
class Bag:
    profile: str
    conns: list[Conn]
    messages: list[BagMsg]        # bag order
    notes: list[str]


def read_ros1(path: Path, lo: int, hi: int, topics: set[str] | None) -> Bag:
    """The bag's connections, and of the selected topics only the messages
    the clip needs: those in [lo, hi), and each latched connection's
    latest before lo (rosbags decompresses only the chunks those need)."""
    from rosbags.rosbag1 import Reader
    from rosbags.typesys.msg import denormalize_msgtype
    rp = _parity()
    types = rp.Ros2Types([])
    try:
        reader = Reader(path)
        reader.open()
    except Exception as exc:
        raise UsageError(f"rosbags cannot read {path}: {type(exc).__name__}: {exc}") from None
    try:
        conns: dict[int, Conn] = {}
        for c in reader.connections:
            raw_type = denormalize_msgtype(c.msgtype)
            text = c.msgdef.data
            res = types.resolve(raw_type, "ros1", "ros1msg", text, c.digest, "bag")
            problem = res.problem
            if problem is None and not text.strip() and raw_type != "std_msgs/Empty":
                problem = "empty message_definition"
            conns[c.id] = Conn(
                topic=c.topic, schema_name=raw_type, gen=1, definition=text, schema_encoding="ros1msg",
                md5sum=c.digest, callerid=c.ext.callerid, latched=bool(c.ext.latching), problem=problem,
                typestore=res.typestore, typename=res.typename)
        selected = [c for c in reader.connections if topics is None or c.topic in topics]
        latched = [c for c in selected if c.ext.latching]

        def read(cs, start, stop):
            """rosbags yields a heap merge of the per-connection indexes;
            the same merge over the same lists, cut the same way, gives each
            message's (chunk position, offset in chunk): bag order (contract,
            "Topic tables")."""
            if not cs:
                return
            entries = (e for e in heapq.merge(*[reader.indexes[c.id] for c in cs])
                       if (start is None or e.time >= start) and (stop is None or e.time < stop))
            for (c, t, raw), entry in zip(reader.messages(cs, start, stop), entries, strict=True):
                if entry.time != t:
                    raise UsageError(f"{path}: rosbags' index and messages disagree")
                yield BagMsg(conns[c.id], t, bytes(raw), (entry.chunk_pos, entry.offset))

        before: dict[int, BagMsg] = {}
        for m in read(latched, None, lo):
            prev = before.get(id(m.conn))
            if prev is None or (m.t, m.pos) >= (prev.t, prev.pos):
                before[id(m.conn)] = m
        msgs = list(before.values()) + list(read(selected, lo, hi))
    except UsageError:
        raise
    except Exception as exc:
        raise UsageError(f"rosbags cannot read {path}: {type(exc).__name__}: {exc}") from None
    finally:
        reader.close()
    msgs.sort(key=lambda m: m.pos)
    return Bag("ros1", list(conns.values()), msgs, [])


QOS_DURABILITY = re.compile(r"durability:\s*['\"]?([A-Za-z_0-9]+)")


def qos_latched(qos_text: str) -> bool:
    """True when every offered profile has durability transient_local (1 in
    the older numeric YAML); rosbag2's player offers transient_local only
    then."""
    values = QOS_DURABILITY.findall(qos_text or "")
    return bool(values) and all(v in ("1", "transient_local") for v in values)


def storage_channel_meta(fmt: str, path: Path) -> dict[int, dict[str, str]]:
    """Per connection id of one storage file: its metadata (MCAP channel
    metadata; sqlite3: `offered_qos_profiles` of the topics row)."""
    out: dict[int, dict[str, str]] = {}
    if fmt == "mcap":
        with path.open("rb") as f:
            for rec in StreamReader(f, validate_crcs=False).records:
                if isinstance(rec, Channel) and rec.id not in out:
                    out[rec.id] = dict(rec.metadata)
    else:
        import sqlite3
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
        try:
            cols = {r[1] for r in con.execute("PRAGMA table_info(topics)")}
            if "offered_qos_profiles" in cols:
                for tid, qos in con.execute("SELECT id, offered_qos_profiles FROM topics"):
                    out[tid] = {"offered_qos_profiles": qos or ""}
        finally:
            con.close()
    return out


def read_ros2(path: Path, msg_paths: list[Path], tmp: Path) -> Bag:
    rp = _parity()
    types = rp.Ros2Types(msg_paths)
    try:
        bagx = rp.load_ros2(path, tmp, types)
    except rp.CannotRead as exc:
        raise UsageError(f"rosbags cannot read {path}: {exc}") from None
    except Exception as exc:
        raise UsageError(f"rosbags cannot read {path}: {type(exc).__name__}: {exc}") from None

    def ident(rc) -> tuple:
        md5 = rc.md5sum if rc.encoding == "ros1" else ""
        return (rc.topic, rc.msgtype, rc.encoding, rc.schema_encoding, rc.msgdef, md5)

    # connection metadata of every storage file, by the same identity
    # load_ros2 merges connections with
    meta: dict[tuple, list[dict[str, str]]] = defaultdict(list)
    for st in bagx.storage:
        by_id = storage_channel_meta(st.fmt, st.path)
        if st.fmt == "mcap":
            _, rconns, _ = rp.scan_mcap(st.path)
        else:
            rconns, _, _ = rp.scan_sqlite(st.path)
        for rc in rconns:
            meta[ident(rc)].append(by_id.get(rc.cid, {}))

    conns: dict[int, Conn] = {}
    for lc in bagx.conns:
        rc, res = lc.raw, lc.res
        metas = meta.get(ident(rc), [])
        if res.gen == 1:
            latched = any(m.get("latching", "").strip().lower() in ("1", "true") for m in metas)
            callerid = next((m["callerid"] for m in metas if "callerid" in m), None)
            conns[id(lc)] = Conn(
                topic=lc.topic, schema_name=rc.msgtype, gen=1, definition=rc.msgdef, schema_encoding="ros1msg",
                md5sum=rc.md5sum, callerid=callerid, latched=latched,
                problem=res.problem if res.version else (res.problem or "unusable definition"),
                typestore=res.typestore, typename=res.typename)
            if conns[id(lc)].problem is None and not rc.msgdef.strip() and rc.msgtype != "std_msgs/Empty":
                conns[id(lc)].problem = "empty message_definition"
        else:
            embedded = rc.schema_encoding in ("ros2msg", "ros2idl") and rc.msgdef.strip() != ""
            conns[id(lc)] = Conn(
                topic=lc.topic, schema_name=rp.normalize_type(rc.msgtype) if rc.msgtype else "", gen=2,
                definition=rc.msgdef if embedded else None,
                schema_encoding=rc.schema_encoding if embedded else None,
                latched=any(qos_latched(m.get("offered_qos_profiles", "")) for m in metas),
                problem=res.problem if res.version else (res.problem or "unusable definition"),
                typestore=res.typestore, typename=res.typename, other_name=rc.msgtype or None)
    msgs = [BagMsg(conns[id(lc)], t, bytes(data), (n, pos)) for t, n, pos, lc, data in bagx.messages]
    msgs.sort(key=lambda m: m.pos)
    gens = {c.gen for c in conns.values() if c.problem is None}
    profile = "ros1" if gens == {1} else "ros2"
    return Bag(profile, list(conns.values()), msgs, [f"bag: {n}" for n in bagx.notes])


def read_bag(path: Path, msg_paths: list[Path], tmp: Path, lo: int, hi: int, topics: set[str] | None) -> Bag:
    if path.is_file():
        with path.open("rb") as f:
            head = f.read(len(ROS1_MAGIC))
        if head == ROS1_MAGIC:
            return read_ros1(path, lo, hi, topics)
    # rosbags_parity's load_ros2 reads every message of the storage files
    # into memory (fine for test bags)
    return read_ros2(path, msg_paths, tmp)


# --------------------------------------------------------------------------
# The clip side
# --------------------------------------------------------------------------

@dataclass
class ClipMsg:
    channel: Channel
    schema: Schema | None
    log_time: int
    publish_time: int
    data: bytes


def parse_latching(value: str | None) -> bool | None:
    v = (value or "").strip().lower()
    if v in ("1", "true"):
        return True
    if v in ("0", "false"):
        return False
    return None


def normalize_ros2_name(name: str) -> str:
    """`pkg/Type` -> `pkg/msg/Type` (ROS 2 names compare in that form)."""
    parts = name.split("/")
    return f"{parts[0]}/msg/{parts[1]}" if len(parts) == 2 else name


def channel_signature(ch: Channel, schema: Schema | None) -> tuple:
    name = schema.name if schema is not None else ""
    if ch.message_encoding == "ros1":
        latched = parse_latching(ch.metadata.get("latching"))
        return (name, ch.metadata.get("md5sum", ""), ch.metadata.get("callerid", ""), latched)
    return (normalize_ros2_name(name),)


class Checker:
    def __init__(self, clip: Path, limit: int) -> None:
        self.clip = clip
        self.limit = limit
        self.mismatches = 0
        self.notes: list[str] = []

    def bad(self, text: str) -> None:
        self.mismatches += 1
        if self.mismatches <= self.limit:
            print(f"MISMATCH {text}")

    def note(self, text: str) -> None:
        print(f"note: {text}")


def fmt_msg(topic: str, t: int, data: bytes) -> str:
    return f"topic={topic} log_time={t} ({len(data)} bytes)"


def check(args: argparse.Namespace) -> int:
    clip: Path = args.clip
    chk = Checker(clip, args.max_mismatches)
    pad = args.pad_ms * 1_000_000
    lo, hi = args.start - pad, args.end + pad
    topics = set(args.topics) if args.topics else None

    with tempfile.TemporaryDirectory(prefix="bagpipe-check-clip-") as tmp:
        bag = read_bag(args.bag, args.msg_path, Path(tmp), lo, hi, topics)
    for n in bag.notes:
        chk.note(n)
    if topics is not None:
        known = {c.topic for c in bag.conns}
        for t in sorted(topics - known):
            chk.note(f"--topics {t}: the bag has no such topic")

    # ----- expected content
    selected = [c for c in bag.conns if topics is None or c.topic in topics]
    usable = [c for c in selected if c.problem is None]
    for c in selected:
        if c.problem is not None:
            chk.note(f"{c.topic} ({c.schema_name}): unusable definition ({c.problem}); must be left out")
    usable_ids = {id(c) for c in usable}
    window = [m for m in bag.messages if id(m.conn) in usable_ids and lo <= m.t < hi]
    latest: dict[int, BagMsg] = {}
    for m in bag.messages:            # bag order: the last of equal times wins
        if id(m.conn) in usable_ids and m.conn.latched and m.t < lo:
            if id(m.conn) not in latest or m.t >= latest[id(m.conn)].t:
                latest[id(m.conn)] = m
    latched = list(latest.values())

    # ----- the clip as a file
    try:
        cl = read_clip(clip, chk)
    except Exception as exc:
        chk.bad(f"clip unreadable: {type(exc).__name__}: {exc}")
        return finish(chk, clip, 0, 0, 0)
    clip_msgs = cl.messages

    if cl.profile != bag.profile:
        chk.bad(f"header profile: expected {bag.profile!r}, got {cl.profile!r}")

    check_channels(chk, cl, usable, selected)
    decode_all(chk, clip_msgs, cl.profile, bag)

    # ----- content
    expected = Counter(m.key() for m in window) + Counter(m.key() for m in latched)
    got_keys = [(cm.channel.topic, cm.log_time, cm.data, channel_signature(cm.channel, cm.schema))
                for cm in clip_msgs]
    got = Counter(got_keys)
    missing = expected - got
    extra = got - expected
    latched_keys = Counter(m.key() for m in latched)
    unusable_pairs = {(c.topic, c.schema_name) for c in selected if c.problem is not None}
    extra_at: dict[tuple, list] = defaultdict(list)
    for k in extra:
        extra_at[(k[0], k[1])].append(k)
    missing_at = {(k[0], k[1]) for k in missing}
    for key, n in sorted(missing.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        why = "latched message before the window" if key in latched_keys else "message in the window"
        same = extra_at.get((key[0], key[1]), [])
        if same:
            k = same[0]
            if k[2] != key[2]:
                detail = f"the clip has a message at that time with different bytes ({len(k[2])} bytes)"
            else:
                detail = f"the clip has it on a channel {k[3]} instead of {key[3]}"
            chk.bad(f"{why} {fmt_msg(key[0], key[1], key[2])}: {detail}")
        else:
            chk.bad(f"missing {why}: {fmt_msg(key[0], key[1], key[2])}" + (f" x{n}" if n > 1 else ""))
    for key, n in sorted(extra.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        if (key[0], key[1]) in missing_at:
            continue      # reported above
        t = key[1]
        if (key[0], key[3][0]) in unusable_pairs:
            where = "on a connection with an unusable definition (it must be left out)"
        elif topics is not None and key[0] not in topics:
            where = "a topic not in --topics"
        elif not (lo <= t < hi):
            where = (f"outside the window [{lo}, {hi}) and not the latest message of a latched connection "
                     "before it")
        else:
            where = "not in the bag (or more copies than the bag has)"
        chk.bad(f"unexpected message {fmt_msg(key[0], t, key[2])}: {where}" + (f" x{n}" if n > 1 else ""))

    # ----- order: latched first (any order), then the window in bag order
    if not missing and not extra:
        k = len(latched)
        head = Counter(got_keys[:k])
        if head != latched_keys:
            chk.bad(f"order: the first {k} messages of the clip are not the {k} latched messages "
                    "(latched messages must come first)")
        else:
            want = [m.key() for m in window]
            rest = got_keys[k:]
            if rest != want:
                i = next(i for i, (a, b) in enumerate(zip(rest, want)) if a != b)
                by_time = sorted(window, key=lambda m: (m.t, m.pos))
                hint = (" (they are in log-time order, which differs from bag order here)"
                        if rest == [m.key() for m in by_time] else "")
                chk.bad(f"order: window message {i} is {fmt_msg(rest[i][0], rest[i][1], rest[i][2])}, "
                        f"expected in bag order {fmt_msg(want[i][0], want[i][1], want[i][2])}{hint}")

    n_topics = len({cm.channel.topic for cm in clip_msgs})
    return finish(chk, clip, len(clip_msgs), n_topics, len(latched))


def finish(chk: Checker, clip: Path, n: int, topics: int, latched: int) -> int:
    if chk.mismatches:
        if chk.mismatches > chk.limit:
            print(f"... {chk.mismatches - chk.limit} more mismatches not shown")
        print(f"FAIL {clip}: {chk.mismatches} mismatches")
        return 1
    print(f"OK {clip}: {n} messages, {topics} topics, {latched} latched")
    return 0


@dataclass
class Clip:
    profile: str
    schemas: dict[int, Schema]
    channels: dict[int, Channel]
    messages: list[ClipMsg]       # file order


def read_clip(clip: Path, chk: Checker) -> Clip:
    """Every record with CRCs validated; the summary and chunk checks."""
    profile = ""
    schemas: dict[int, Schema] = {}
    channels: dict[int, Channel] = {}
    msgs: list[ClipMsg] = []
    # pass 1: the whole record stream, chunks decompressed, every CRC checked
    with clip.open("rb") as f:
        for rec in StreamReader(f, validate_crcs=True).records:
            if isinstance(rec, Header):
                profile = rec.profile
            elif isinstance(rec, Schema):
                schemas.setdefault(rec.id, rec)
            elif isinstance(rec, Channel):
                channels.setdefault(rec.id, rec)
            elif isinstance(rec, Message):
                ch = channels.get(rec.channel_id)
                if ch is None:
                    chk.bad(f"message at log_time={rec.log_time} on channel {rec.channel_id}, "
                            "which has no channel record before it")
                    continue
                msgs.append(ClipMsg(ch, schemas.get(ch.schema_id), rec.log_time, rec.publish_time,
                                    bytes(rec.data)))
    # pass 2: chunks as stored
    chunks = 0
    codecs = set()
    with clip.open("rb") as f:
        for rec in StreamReader(f, validate_crcs=True, skip_magic=False, emit_chunks=True).records:
            if isinstance(rec, Chunk):
                chunks += 1
                codecs.add(rec.compression)
                if rec.compression not in ("zstd", ""):
                    chk.bad(f"chunk {chunks} (messages {rec.message_start_time}..{rec.message_end_time}) "
                            f"compression {rec.compression!r}, expected 'zstd' or none")
            elif isinstance(rec, Message):
                chk.bad(f"message at log_time={rec.log_time} outside a chunk (the clip must be chunked)")
    if len(codecs) > 1:
        chk.bad(f"chunks compressed in more than one way: {sorted(codecs)}")
    if msgs and not chunks:
        chk.bad("no chunk records")
    # pass 3: the indexed reader (summary, chunk indexes, CRCs of the chunks it reads)
    with clip.open("rb") as f:
        reader = make_reader(f, validate_crcs=True)
        summary = reader.get_summary()
        if summary is None:
            chk.bad("no summary section")
        else:
            st = summary.statistics
            if st is None:
                chk.bad("summary has no statistics record")
            else:
                if st.message_count != len(msgs):
                    chk.bad(f"statistics message_count {st.message_count}, the file holds {len(msgs)}")
                counts = Counter(m.channel.id for m in msgs)
                got_counts = {k: v for k, v in st.channel_message_counts.items() if v}
                if got_counts != dict(counts):
                    chk.bad(f"statistics channel_message_counts {dict(sorted(got_counts.items()))}, "
                            f"the file holds {dict(sorted(counts.items()))}")
                if msgs:
                    t0, t1 = min(m.log_time for m in msgs), max(m.log_time for m in msgs)
                    if (st.message_start_time, st.message_end_time) != (t0, t1):
                        chk.bad(f"statistics message_start/end_time {st.message_start_time}/"
                                f"{st.message_end_time}, the messages span {t0}/{t1}")
                if st.channel_count != len(summary.channels):
                    chk.bad(f"statistics channel_count {st.channel_count}, summary has {len(summary.channels)}")
                if st.schema_count != len(summary.schemas):
                    chk.bad(f"statistics schema_count {st.schema_count}, summary has {len(summary.schemas)}")
                if st.chunk_count != chunks:
                    chk.bad(f"statistics chunk_count {st.chunk_count}, the file holds {chunks} chunks")
            if msgs and not summary.chunk_indexes:
                chk.bad("summary has no chunk indexes")
            elif len(summary.chunk_indexes) != chunks:
                chk.bad(f"summary has {len(summary.chunk_indexes)} chunk indexes for {chunks} chunks")
            for cid in summary.channels:
                if cid not in channels:
                    chk.bad(f"summary names channel {cid}, which the data section never defines")
            for ci in summary.chunk_indexes:
                if ci.compression not in ("zstd", ""):
                    chk.bad(f"chunk index at offset {ci.chunk_start_offset}: compression {ci.compression!r}, "
                            "expected 'zstd' or none")
            n_indexed = sum(1 for _ in reader.iter_messages(log_time_order=False))
            if n_indexed != len(msgs):
                chk.bad(f"the indexed reader finds {n_indexed} messages, the record stream {len(msgs)}")
    return Clip(profile, schemas, channels, msgs)


def check_channels(chk: Checker, cl: Clip, usable: list[Conn], selected: list[Conn]) -> None:
    """Every channel of the clip, with or without messages."""
    unusable_topics = {(c.topic, n) for c in selected if c.problem is not None
                       for n in (c.schema_name, c.other_name) if n}
    for ch in cl.channels.values():
        schema = cl.schemas.get(ch.schema_id)
        where = f"channel {ch.id} ({ch.topic})"
        if schema is None:
            chk.bad(f"{where}: no schema")
            continue
        if (ch.topic, schema.name) in unusable_topics and not any(
                c.topic == ch.topic and c.named(schema.name) for c in usable):
            chk.bad(f"{where}: connection with an unusable definition must be left out")
            continue
        if ch.message_encoding == "ros1":
            if schema.encoding != "ros1msg":
                chk.bad(f"{where}: schema encoding {schema.encoding!r}, expected 'ros1msg'")
            for key in ("md5sum", "callerid", "latching"):
                if key not in ch.metadata:
                    chk.bad(f"{where}: channel metadata lacks {key!r} (has {sorted(ch.metadata)})")
            if "latching" in ch.metadata and parse_latching(ch.metadata["latching"]) is None:
                chk.bad(f"{where}: latching {ch.metadata['latching']!r} is not true/false (or 1/0)")
            cands = [c for c in usable if c.gen == 1 and c.topic == ch.topic]
            text = schema.data.decode("utf-8", "replace")
            match = [c for c in cands if c.schema_name == schema.name and c.md5sum == ch.metadata.get("md5sum")
                     and (c.callerid or "") == ch.metadata.get("callerid", "")
                     and c.latched == parse_latching(ch.metadata.get("latching"))
                     and c.definition == text]
            if not match:
                if not cands:
                    chk.bad(f"{where}: the bag has no usable ros1 connection on this topic")
                else:
                    c = cands[0]
                    diffs = []
                    if c.schema_name != schema.name:
                        diffs.append(f"schema name {schema.name!r} != {c.schema_name!r}")
                    if c.md5sum != ch.metadata.get("md5sum"):
                        diffs.append(f"md5sum {ch.metadata.get('md5sum')!r} != {c.md5sum!r}")
                    if (c.callerid or "") != ch.metadata.get("callerid", ""):
                        diffs.append(f"callerid {ch.metadata.get('callerid')!r} != {c.callerid!r}")
                    if c.latched != parse_latching(ch.metadata.get("latching")):
                        diffs.append(f"latching {ch.metadata.get('latching')!r} but the bag says {int(c.latched)}")
                    if c.definition != text:
                        diffs.append(f"schema text ({len(text)} chars) differs from the connection's "
                                     f"message_definition ({len(c.definition or '')} chars)")
                    chk.bad(f"{where}: matches no connection of the bag: " + "; ".join(diffs or ["?"]))
        elif ch.message_encoding == "cdr":
            if schema.encoding not in ("ros2msg", "ros2idl"):
                chk.bad(f"{where}: schema encoding {schema.encoding!r}, expected 'ros2msg' or 'ros2idl'")
            cands = [c for c in usable if c.gen == 2 and c.topic == ch.topic]
            match = [c for c in cands if c.named(schema.name)]
            if not match:
                chk.bad(f"{where}: schema name {schema.name!r} matches no usable connection of the bag on "
                        f"this topic ({sorted({c.schema_name for c in cands})})")
            elif all(c.definition is not None for c in match) and not any(
                    c.schema_encoding == schema.encoding and c.definition == schema.data.decode("utf-8", "replace")
                    for c in match):
                chk.bad(f"{where}: schema ({schema.encoding}, {len(schema.data)} bytes) differs from the "
                        "definition the bag embeds")
        else:
            chk.bad(f"{where}: message encoding {ch.message_encoding!r}, expected 'ros1' or 'cdr'")


def decode_all(chk: Checker, msgs: list[ClipMsg], profile: str, bag: Bag) -> None:
    factory = Ros1DecoderFactory() if profile == "ros1" else Ros2DecoderFactory()
    package = "mcap-ros1-support" if profile == "ros1" else "mcap-ros2-support"
    decoders: dict[int, Callable[[bytes], Any] | None] = {}
    failures: dict[int, list[tuple[ClipMsg, str]]] = defaultdict(list)
    totals: Counter = Counter()
    for m in msgs:
        cid = m.channel.id
        totals[cid] += 1
        if cid not in decoders:
            try:
                decoders[cid] = factory.decoder_for(m.channel.message_encoding, m.schema)
            except Exception as exc:
                decoders[cid] = None
                chk.bad(f"decode: channel {cid} ({m.channel.topic}): {package} cannot build a decoder "
                        f"from schema {m.schema.name if m.schema else None!r}: {type(exc).__name__}: {exc}")
                continue
            if decoders[cid] is None:
                chk.bad(f"decode: channel {cid} ({m.channel.topic}): {package} has no decoder for message "
                        f"encoding {m.channel.message_encoding!r} / schema encoding "
                        f"{m.schema.encoding if m.schema else None!r}")
        dec = decoders[cid]
        if dec is None:
            continue
        try:
            dec(m.data)
        except Exception as exc:
            failures[cid].append((m, f"{type(exc).__name__}: {exc}"))
    by_key: dict[tuple, BagMsg] = {}
    for bm in bag.messages:
        by_key.setdefault((bm.conn.topic, bm.t, bm.data), bm)
    for cid, fails in failures.items():
        inherited = [(m, e) for m, e in fails
                     if (bm := by_key.get((m.channel.topic, m.log_time, m.data))) is not None
                     and not bm.conn.rosbags_decodes(m.data)]
        own = [(m, e) for m, e in fails if all(m is not i for i, _ in inherited)]
        topic = fails[0][0].channel.topic
        if inherited:
            chk.note(f"decode: channel {cid} ({topic}): {len(inherited)} messages that rosbags cannot decode "
                     "from the bag either")
        if own:
            m, err = own[0]
            chk.bad(f"decode: channel {cid} ({topic}): {len(own)} of {totals[cid]} messages fail to decode "
                    f"with {package} (first at log_time={m.log_time}: {err})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Check a bagpipe scene clip (MCAP) against its bag, read independently with rosbags.")
    ap.add_argument("--bag", required=True, type=Path, metavar="INPUT",
                    help="the bag: ROS1 .bag, .mcap, .db3 (also .zstd) or a rosbag2 directory")
    ap.add_argument("--clip", required=True, type=Path, metavar="CLIP.mcap")
    ap.add_argument("--start", required=True, type=int, metavar="NS", help="scene start_time_ns")
    ap.add_argument("--end", required=True, type=int, metavar="NS", help="scene end_time_ns")
    ap.add_argument("--pad-ms", required=True, type=int, metavar="MS", help="[export] clip_pad_ms")
    ap.add_argument("--topics", nargs="*", default=None, metavar="T",
                    help="[export] clip_topics (none: every topic)")
    ap.add_argument("--msg-path", action="append", type=Path, default=[], metavar="DIR",
                    help="[extract] msg_paths directory (repeatable; ROS 2 inputs)")
    ap.add_argument("--max-mismatches", type=int, default=200, metavar="N")
    args = ap.parse_args(argv)
    if not (args.bag.is_file() or args.bag.is_dir()):
        ap.error(f"--bag {args.bag}: no such file or directory")
    if not args.clip.is_file():
        ap.error(f"--clip {args.clip}: no such file")
    if args.end < args.start:
        ap.error("--end is before --start")
    if args.pad_ms < 0:
        ap.error("--pad-ms is negative")
    try:
        return check(args)
    except UsageError as exc:
        print(f"check_clip: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
