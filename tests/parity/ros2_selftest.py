#!/usr/bin/env python3
"""Self-test of the ROS 2 half of the parity tests; needs no bagpipe.

    pip install -r tests/requirements.txt
    python3 tests/parity/ros2_selftest.py [--real DIR] [--keep DIR]

1. Runs ros2_bags.py twice into temporary directories: the same files with
   the same bytes; the db3 files edited to schema versions 3, 2 and 1 have
   those versions' tables and columns, the WAL copy says WAL (header bytes
   18/19 = 2) and no -wal/-shm file is beside it.
2. Opens every generated input with rosbags' AnyReader (a `.zstd` file
   decompressed first; `default_typestore` Humble where the input has no
   definitions) and deserializes every message; prints what plain rosbags
   0.11.9 makes of it and checks that against what is known of it.
3. Reads every generated MCAP with the `mcap` reader, decodes every `cdr`
   message with mcap-ros2-support (a second CDR decoder) and compares each
   value with the message the generator serialized.
4. Runs `rosbags_parity.py --expected-only` over every generated input and
   every ROS 2 input of the real-bag set (DIR, default ../shared/bags/real
   beside the repository: its README sections C and D), prints the per-topic
   counts, and checks: no crash; every input holding the standard message
   set gives the same expected tables (rows, order, schemas, type hashes);
   db3 schemas 3, 2 and 1 give the schema-4 tables with built-in
   definitions and /probe (a custom type) counted, not decoded; the
   ros2idl inputs give the same tables and type hashes as the ros2msg twin;
   the service-event inputs decode through the event type with the
   generator's type hashes; the real files give the counts and times of
   design/ROS2.md 7.3.
5. Exercises the lake-comparing half without bagpipe: builds a lake in
   Python from those expectations (topic tables, `dynamodb/bags.jsonl`),
   checks that `rosbags_parity.py --lake` finds it equal, then spoils it
   one way at a time (a value, the order of two tied rows, an extra row, a
   column type, a type hash, the format, a table for a topic that has no
   rows, a stray partition, ros_distro, a service event's response) and
   checks that each is reported.

Ends with "N passed, M failed"; exit status 1 when anything failed.
"""

from __future__ import annotations

import argparse
import filecmp
import math
import re
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict, deque
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))

RESULTS = {"passed": 0, "failed": 0}


def check(ok: bool, what: str) -> bool:
    RESULTS["passed" if ok else "failed"] += 1
    print(f"{'ok  ' if ok else 'FAIL'} {what}")
    return ok


# --------------------------------------------------------------------------
# 1. determinism
# --------------------------------------------------------------------------

def generate(out: Path) -> list[str]:
    p = subprocess.run([sys.executable, str(HERE / "ros2_bags.py"), str(out)], capture_output=True, text=True)
    if p.returncode != 0:
        print(p.stdout, p.stderr)
        raise SystemExit("ros2_bags.py failed")
    return [line.split("\t")[0] for line in p.stdout.splitlines() if line.strip()]


def same_tree(a: Path, b: Path) -> bool:
    cmp = filecmp.dircmp(a, b)
    if cmp.left_only or cmp.right_only or cmp.funny_files:
        return False
    _, mismatch, errors = filecmp.cmpfiles(a, b, cmp.common_files, shallow=False)
    return not mismatch and not errors and all(same_tree(a / d, b / d) for d in cmp.common_dirs)


# --------------------------------------------------------------------------
# 2. plain rosbags
# --------------------------------------------------------------------------

# What plain rosbags 0.11.9 does with each generated input (AnyReader):
# "ok" = opens, and decodes all but the messages it rejects on purpose
# (/padded: 4 trailing bytes, cut short; /text_edge: invalid UTF-8, a
# length-0 string); otherwise the start of the error it raises.
ROSBAGS_KNOWN = {
    "ros2_db3_msgzstd_bare.db3": "all fail",   # zstd blobs without metadata.yaml
    "ros2_split_nometa/": "Expected metadata file",
    "ros2_split_missing/": "Some database files are missing",
    "ros2_mcap_mixed_json.mcap": "KeyError",     # schema encoding jsonschema
    "ros1_profile.mcap": "Profile is not ros2",
}
for _v in (3, 2, 1):
    # no definitions: read with default_typestore Humble, which lacks bp_msgs
    ROSBAGS_KNOWN[f"ros2_db3_schema{_v}.db3"] = "32 messages, not decoded: {'/padded': 2, '/probe': 3, '/text_edge': 2}"
ROSBAGS_KNOWN.update({
    # rosbags' IDL grammar has no #include (rosbags_parity.py blanks them)
    "ros2_idl.mcap": "AnyReaderError: Could not parse",
    "ros2_idl_db3.db3": "AnyReaderError: Could not parse",
    # .srv text in a ros2msg definition (ROS2.md 7.1 item 5)
    "ros2_srv_events_mcap.mcap": "AnyReaderError: Could not parse",
    "ros2_srv_events_db3.db3": "AnyReaderError: Could not parse",
})
REJECTED = {"/padded": 2, "/text_edge": 2}
# inputs without /padded and /text_edge: every message decodes
REJECTS_NOTHING = ("ros2_idl_as_msg.mcap",)


def rosbags_read(path: Path, tmp: Path) -> str:
    from rosbags.highlevel import AnyReader
    from rosbags.typesys import Stores, get_typestore
    if path.name.endswith(".zstd"):
        import zstandard
        plain = tmp / path.name.removesuffix(".zstd")
        with path.open("rb") as fin, plain.open("wb") as fout:
            zstandard.ZstdDecompressor().copy_stream(fin, fout)
        path = plain
    for default in (None, get_typestore(Stores.ROS2_HUMBLE)):
        try:
            reader = AnyReader([path], default_typestore=default)
            reader.open()
        except Exception as exc:
            if default is None and "no type definitions" in str(exc):
                continue
            return f"{type(exc).__name__}: {exc}"
        break
    bad: dict[str, int] = defaultdict(int)
    n = 0
    try:
        for conn, _, raw in reader.messages():
            n += 1
            try:
                reader.deserialize(raw, conn.msgtype)
            except Exception:
                bad[conn.topic] += 1
    finally:
        reader.close()
    if n and sum(bad.values()) == n:
        return f"all fail ({n} messages)"
    if dict(bad) == REJECTED:
        return f"ok ({n} messages, the {sum(REJECTED.values())} rejected on purpose not decoded)"
    if not bad and path.name in REJECTS_NOTHING:
        return f"ok ({n} messages, all decoded)"
    return f"{n} messages, not decoded: {dict(sorted(bad.items()))}"


# --------------------------------------------------------------------------
# 3. mcap + mcap-ros2-support against the generator's messages
# --------------------------------------------------------------------------

def norm(ts, v, desc):
    """A comparable form of a field value, rosbags object or mcap-ros2 one."""
    from rosbags.interfaces import Nodetype
    kind = desc[0]
    if kind == Nodetype.BASE:
        typ = desc[1][0]
        if isinstance(v, (bytes, bytearray)):
            v = v[0]
        if typ in ("byte", "char", "uint8", "int8") and not isinstance(v, str):
            v = int(v) & 0xFF if typ in ("byte", "char") else int(v)
        if isinstance(v, (float, np.floating)):
            v = float(v)
            return "nan" if math.isnan(v) else (v, math.copysign(1, v))
        if isinstance(v, (np.integer, np.bool_)):
            return v.item()
        return v
    if kind == Nodetype.NAME:
        return {n: norm(ts, getattr(v, n), d) for n, d in ts.fielddefs[desc[1]][1]
                if n != "structure_needs_at_least_one_member"}
    sub = desc[1][0]
    if isinstance(v, (bytes, bytearray)):
        v = list(v)
    elif hasattr(v, "tolist"):
        v = v.tolist()
    return [norm(ts, x, sub) for x in v]


def mcap_files(root: Path, tmp: Path) -> list[tuple[str, list[Path]]]:
    """(input name, its MCAP storage files, decompressed) for every input."""
    import zstandard
    out = []
    for p in sorted(root.iterdir()):
        files = sorted(p.iterdir(), key=lambda f: [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", f.name)]) \
            if p.is_dir() else [p]
        mc = []
        for f in files:
            if f.name.endswith(".mcap.zstd"):
                plain = tmp / f.name.removesuffix(".zstd")
                with f.open("rb") as fin, plain.open("wb") as fout:
                    zstandard.ZstdDecompressor().copy_stream(fin, fout)
                mc.append(plain)
            elif f.name.endswith(".mcap"):
                mc.append(f)
        if mc:
            out.append((p.name + ("/" if p.is_dir() else ""), mc))
    return out


MCAP_ROS2_REFUSES = {"ros2_mcap_nosummary.mcap",
                     "ros2_srv_events_mcap.mcap",   # a .srv text: it fails on `---`
                     "ros2_idl.mcap"}               # ros2idl: it has no decoder for it


def generated_messages(ts, name: str) -> list:
    """The generator's (connection, log time, message, edit) list that the
    input `name` holds."""
    import ros2_bags as gen
    std = gen.standard_messages(ts)
    if name.startswith("ros2_idl"):
        return gen.idl_messages(ts, std)
    if name.startswith("ros2_srv_events"):
        return gen.service_messages(ts)
    if name.startswith("ros2_db3_schema"):
        return gen.legacy_messages(ts, std)
    return std


def mcap_check(name: str, files: list[Path]) -> None:
    import ros2_bags as gen
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory
    from rosbags.interfaces import Nodetype

    ts = gen.make_typestore()
    source: dict[tuple[str, int], deque] = defaultdict(deque)
    topics = {c[0]: c[1] for c in gen.STANDARD_CONNS + gen.LEGACY_CONNS + gen.IDL_CONNS + gen.SRV_CONNS}
    for conn, t, msg, edit in generated_messages(ts, name):
        source[(topics[conn], t)].append((gen.CONN_TYPE[conn], msg, edit))
    n = compared = 0
    mismatches, cannot = [], defaultdict(int)
    profile = ""
    for f in files:
        with f.open("rb") as fh:
            reader = make_reader(fh)
            profile = reader.get_header().profile
            decoders = {}
            factory = DecoderFactory()   # it caches decoders by schema id, which is per file
            for schema, channel, message in reader.iter_messages(log_time_order=False):
                n += 1
                if channel.message_encoding != "cdr":
                    continue
                if channel.id not in decoders:
                    try:
                        decoders[channel.id] = factory.decoder_for(channel.message_encoding, schema)
                        if decoders[channel.id] is None:   # an encoding it does not decode
                            cannot[("schema " + schema.name, f"no decoder for {schema.encoding}")] += 1
                    except Exception as exc:
                        decoders[channel.id] = None
                        cannot[("schema " + schema.name, type(exc).__name__)] += 1
                if decoders[channel.id] is None:
                    continue
                q = source.get((channel.topic, message.log_time))
                if not q:
                    mismatches.append(f"{channel.topic}@{message.log_time}: not a generated message")
                    continue
                msgtype, msg, edit = q.popleft()
                try:
                    got = decoders[channel.id](message.data)
                except Exception as exc:
                    cannot[(channel.topic, edit or type(exc).__name__)] += 1
                    continue
                if edit in ("invalid_utf8", "length0", "pad4", "cut"):
                    continue          # decoded anyway by mcap-ros2-support; not a value to compare
                desc = (Nodetype.NAME, msgtype)
                want, have = norm(ts, msg, desc), norm(ts, got, desc)
                compared += 1
                if want != have:
                    mismatches.append(f"{channel.topic}@{message.log_time}: {str(want)[:200]} != {str(have)[:200]}")
    if profile == "ros1":
        check(n == 6, f"mcap reader: {name}: profile ros1, {n} messages (no ROS1 decoder here)")
        return
    extra = f"; mcap-ros2-support could not decode: {dict(cannot)}" if cannot else ""
    # the vendored rosidl parser of mcap-ros2-support refuses field types
    # spelled pkg/msg/Type (InvalidResourceName); rosidl's own .msg syntax
    # is pkg/Type, the contract accepts both
    schema_refused = name in MCAP_ROS2_REFUSES
    check(not mismatches and (compared > 0 or schema_refused)
          and schema_refused == any(k[0].startswith("schema ") for k in cannot),
          f"mcap reader: {name}: profile {profile}, {n} messages, {compared} decoded by mcap-ros2-support "
          f"equal to the generator's messages{extra}" + (f"; MISMATCH {mismatches[:3]}" if mismatches else ""))


# --------------------------------------------------------------------------
# 4. the checker's expected rows
# --------------------------------------------------------------------------

HEAD = re.compile(r"^EXPECT (\S+) \(bag_file=(\S+)\): format=(\S+) (\d+) messages "
                  r"(?:start_time_ns=(\d+) end_time_ns=(\d+)|no messages)")
TOPIC = re.compile(r"^  (\S+) type=(\S+) (.*)$")


def expected_only(inputs: list[Path], cwd: Path) -> tuple[str, dict[str, dict]]:
    p = subprocess.run([sys.executable, str(HERE / "rosbags_parity.py"), "--expected-only",
                        *[str(x) for x in inputs]], capture_output=True, text=True, cwd=cwd)
    check(p.returncode == 0 and "Traceback" not in p.stderr + p.stdout,
          f"rosbags_parity.py --expected-only over {len(inputs)} inputs exits 0 without a traceback"
          + (f"\n{p.stderr}" if p.returncode else ""))
    bags: dict[str, dict] = {}
    cur = None
    for line in p.stdout.splitlines():
        if m := HEAD.match(line):
            distro = re.search(r" ros_distro=(\S+)", line)
            cur = bags[m.group(1)] = {"messages": int(m.group(4)), "start": m.group(5) and int(m.group(5)),
                                      "end": m.group(6) and int(m.group(6)), "format": m.group(3),
                                      "topics": [], "rows": defaultdict(int), "msgs": defaultdict(int),
                                      "ros_distro": distro and distro.group(1)}
        elif cur is not None and (m := TOPIC.match(line)):
            rest = m.group(3)
            cur["topics"].append((m.group(1), m.group(2), rest))
            cur["rows"][m.group(1)] += int(re.search(r"rows=(\d+)", rest).group(1))
            cur["msgs"][m.group(1)] += int(re.search(r"messages=(\d+)", rest).group(1))
        elif line.startswith("rosbags cannot read "):
            name = Path(line.removeprefix("rosbags cannot read ").split(":")[0]).name
            bags[name] = {"skipped": line}
    return p.stdout, bags


# inputs holding another message set than the standard one (ros2_bags.py)
OTHER_SETS = ("ros2_db3_schema", "ros2_idl", "ros2_srv_events")


def unsourced(rest: str) -> str:
    return re.sub(r"source=\S+ ", "", rest)


def other_set_checks(bags: dict[str, dict], out: str) -> None:
    """The expectations for the inputs of the other message sets."""
    import ros2_bags as gen
    ref = {(t[0], t[1]): t[2] for t in bags["ros2_mcap_zstd"]["topics"]}

    # db3 schema versions: the schema-4 file's tables; 3 and below take
    # every standard type from the built-in set, /probe is defined nowhere
    v4 = bags["ros2_db3_schema4.db3"]
    v4t = {(t[0], t[1]): t[2] for t in v4["topics"]}
    imu = ("/imu", "sensor_msgs/msg/Imu")
    kept = set(ref) - {("/align", "bp_msgs/msg/AlignTrap")}
    check(set(v4t) == kept | {imu} and all(v4t[k] == ref[k] for k in kept)
          and "source=embedded messages=3 rows=3 " in v4t[imu] and v4["ros_distro"] == "rosbags",
          "ros2_db3_schema4.db3: the standard tables (without /align) plus /imu 3 rows; ros_distro rosbags")
    for version, distro in ((3, "humble"), (2, "-"), (1, "-")):
        b = bags[f"ros2_db3_schema{version}.db3"]
        bt = {(t[0], t[1]): t[2] for t in b["topics"]}
        same = all(unsourced(bt[k]) == unsourced(v4t[k]) and "source=builtin " in bt[k]
                   for k in v4t if k[0] != "/probe")
        probe = bt.get(("/probe", "bp_msgs/msg/Probe"), "")
        check(same and set(bt) == set(v4t) and b["messages"] == v4["messages"]
              and probe.startswith("messages=3 rows=0 table=- not decoded: no definition")
              and b["ros_distro"] == distro,
              f"ros2_db3_schema{version}.db3: schema 4's tables from built-in definitions (source=builtin), "
              f"/probe 3 messages counted, none decoded; ros_distro {distro}")

    # ros2idl and its ros2msg twin: same rows, same type hashes
    ts = gen.make_typestore()
    idl = bags["ros2_idl.mcap"]["topics"]
    obstacle = next((t for t in idl if t[0] == "/obstacle"), ("", "", ""))
    want = gen.rihs01(ts, "bp_idl_msgs/msg/Obstacle")
    check(idl == bags["ros2_idl_as_msg.mcap"]["topics"] == bags["ros2_idl_db3.db3"]["topics"]
          and f"type_hash={want} source=embedded messages=4 rows=4 " in obstacle[2]
          and next(t[2] for t in idl if t[0] == "/pose") == ref[("/pose", "geometry_msgs/msg/PoseStamped")],
          f"ros2_idl.mcap, ros2_idl_as_msg.mcap, ros2_idl_db3.db3: the same expected tables; /obstacle "
          f"{want}; /pose as in the standard set")

    # service events: decoded through the event type, the generator's hashes
    mc, db = bags["ros2_srv_events_mcap.mcap"], bags["ros2_srv_events_db3.db3"]
    hashes = {t[0]: re.search(r"type_hash=(\S+)", t[2]) for t in mc["topics"]}
    want = {f"/{x.split('/')[-1].lower()}/_service_event": gen.rihs01(ts, f"{x}_Event") for x in gen.SERVICES}
    check(mc["topics"] == db["topics"] and dict(mc["rows"]) == dict(mc["msgs"])
          and all(hashes[k] and hashes[k].group(1) == v for k, v in want.items())
          and "recorded type hash" not in out.split("EXPECT ros2_srv_events_mcap.mcap")[1].split("EXPECT")[0],
          f"ros2_srv_events_mcap.mcap, ros2_srv_events_db3.db3: every message decoded "
          f"({dict(mc['rows'])}), type hashes as recorded")
    import rosbags_parity as rp
    with tempfile.TemporaryDirectory() as t:
        bagx = rp.load_ros2(GEN[0] / "ros2_srv_events_mcap.mcap", Path(t), rp.Ros2Types([]))
    cols = {lc.topic: lc.res.mapping.schema(lc.res.typename).names for lc in bagx.conns}
    check(cols["/lookup/_service_event"] == ["log_time_ns", "info", "request", "response"]
          and cols["/trigger/_service_event"] == ["log_time_ns", "info", "response"],
          f"service events: columns info, request, response; an empty request type has no column "
          f"(/trigger: {cols['/trigger/_service_event']})")


GEN: list[Path] = []


def storage_checks(gen: Path) -> None:
    """The sqlite3 edits: the schema versions' tables and columns; the WAL
    copy's header; no side files."""
    import sqlite3
    GEN[:] = [gen]
    want = {
        4: ({"schema", "metadata", "topics", "message_definitions", "messages"},
            ["id", "name", "type", "serialization_format", "offered_qos_profiles", "type_description_hash"]),
        3: ({"schema", "metadata", "topics", "messages"},
            ["id", "name", "type", "serialization_format", "offered_qos_profiles"]),
        2: ({"topics", "messages"}, ["id", "name", "type", "serialization_format", "offered_qos_profiles"]),
        1: ({"topics", "messages"}, ["id", "name", "type", "serialization_format"]),
    }
    for version, (tables, cols) in want.items():
        path = gen / f"ros2_db3_schema{version}.db3"
        con = sqlite3.connect(f"{path.as_uri()}?mode=ro&immutable=1", uri=True)
        try:
            have_tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            have_cols = [r[1] for r in con.execute("PRAGMA table_info(topics)")]
            schema = (con.execute("SELECT schema_version, ros_distro FROM schema").fetchall()
                      if "schema" in have_tables else None)
        finally:
            con.close()
        want_schema = {4: [(4, "rosbags")], 3: [(3, "humble")]}.get(version)
        check(have_tables == tables and have_cols == cols and schema == want_schema,
              f"ros2_db3_schema{version}.db3: tables {sorted(have_tables)}, topics{tuple(have_cols)}, "
              f"schema {schema}")
    head = (gen / "ros2_db3_wal.db3").read_bytes()[:20]
    side = sorted(p.name for p in gen.iterdir() if p.name.endswith(("-wal", "-shm", "-journal")))
    check(head[18:20] == b"\x02\x02" and not side,
          f"ros2_db3_wal.db3: header bytes 18/19 = {head[18]}/{head[19]} (WAL), no side files {side}")


def msg_paths_check(bag: Path, tmp: Path) -> None:
    """--msg-path supplies a definition the bag lacks (ROS2.md 4): the
    fiducial message decodes with the older FiducialTransform, and with
    the newer one (`bool detected` added) it reads past its end."""
    for variant, rows in (("", 1), ("bool detected\n", 0)):
        d = tmp / f"msg_paths{len(variant)}" / "fiducial_msgs" / "msg"
        d.mkdir(parents=True)
        (d / "FiducialTransformArray.msg").write_text(
            "std_msgs/Header header\nint32 image_seq\nFiducialTransform[] transforms\n")
        (d / "FiducialTransform.msg").write_text(
            "int32 fiducial_id\ngeometry_msgs/Transform transform\nfloat64 image_error\n"
            f"float64 object_error\nfloat64 fiducial_area\n{variant}")
        p = subprocess.run([sys.executable, str(HERE / "rosbags_parity.py"), "--expected-only",
                            "--msg-path", str(d.parent.parent), str(bag)], capture_output=True, text=True)
        ok = p.returncode == 0 and f"source=msg_paths messages=1 rows={rows} " in p.stdout
        check(ok, f"--msg-path: {bag.name} with FiducialTransform{' + bool detected' if variant else ''}: "
              f"{rows} row(s)")


# design/ROS2.md 7.3: (messages, start, end, {topic: rows})
REAL_73 = {
    "nav2_turtlebot_zstd.mcap": (8197, 1778234353382747000, 1778234450738043000,
                                 {"/odom": 2639, "/tf": 5422, "/tf_static": 1, "/amcl_pose": 135}),
    "evo_tf_example_db3": (518, 1714741164111822142, 1714741215796545476, {"/tf": 517, "/tf_static": 1}),
    "rosbag2_cdr_test_mcap": (7, 1586406456763032325, 1586406456914169506, {"/test_topic": 3, "/array_topic": 4}),
    "rosbag2_cdr_test_sqlite3": (7, 1586406456763032325, 1586406456914169506,
                                 {"/test_topic": 3, "/array_topic": 4}),
    "rosbag2_talker_mcap": (20, None, None, {"/topic": 10, "/rosout": 10, "/parameter_events": 0}),
    "rosbag2_talker_sqlite3": (20, None, None, {"/topic": 10, "/rosout": 0, "/parameter_events": 0}),
    "rosbag2_service_events_mcap": (10, 1699345836270074454, 1699345836340728398,
                                    {"/test_topic1": 1, "/test_topic2": 1, "/test_service1/_service_event": 4,
                                     "/test_service2/_service_event": 4, "/events/write_split": 0}),
    "rosbag2_wrong_serialization_mcap": (7, 1586406456763032325, 1586406456914169506,
                                         {"/test_topic": 0, "/array_topic": 0}),
    "rosbag2_old_typename_mcap": (5, 1000000000, 1400000000, {"topic1": 5}),
    "rosbag2_empty_bag_sqlite3": (0, None, None, {"/rosout": 0, "/parameter_events": 0}),
    "rosbag2_split_5files_mcap": (6074, 1000, 2998, {"AAA": 804, "BBB": 742, "CCC": 742, "DDD": 753, "EEE": 804,
                                                     "FFF": 772, "GGG": 731, "HHH": 726}),
    "rosbag2_per_message_zstd.db3": (380, 1604581357697556242, 1604581417570143847,
                                     {"/topic": 120, "/rosout": 260, "/parameter_events": 0}),
    "rosbag2_file_compressed.db3.zstd": (249, 1604356909418673946, 1604356968928849657,
                                         {"/rosout": 129, "/topic": 120, "/parameter_events": 0}),
    "fiducial_transforms_no_msgdefs.db3": (1, None, None, {"/fiducial_transforms": 0}),
    "chatter_no_msgdefs.db3": (7, 1643320500876453120, 1643320506873265956, {"/chatter": 7}),
    "autoware_ego_odometry_humble.db3": (2130, 1746721937599626818, 1746721990824595166,
                                         {"/localization/kinematic_state": 2130}),
}
REAL_SKIPPED = ["mcap_conformance_unchunked_nosummary.mcap", "mcap_conformance_allfeatures.mcap",
                "mcap_conformance_stats_summary.mcap", "mcap_schema_encoding_cdr.mcap",
                "mcap_crlf_mangled_nonros.mcap"]


# --------------------------------------------------------------------------
# 5. the lake-comparing half
# --------------------------------------------------------------------------

def arrow_value(v, t):
    import decimal
    import pyarrow as pa
    if v is None:
        return None
    if pa.types.is_decimal(t):
        return decimal.Decimal(v)
    if pa.types.is_struct(t):
        return {f.name: arrow_value(v[f.name], f.type) for f in t}
    if pa.types.is_list(t):
        return [arrow_value(x, t.value_type) for x in v]
    return v


def to_dynamo(v):
    if isinstance(v, bool):
        return {"BOOL": v}
    if isinstance(v, int):
        return {"N": str(v)}
    if isinstance(v, str):
        return {"S": v}
    if isinstance(v, list):
        return {"L": [to_dynamo(x) for x in v]}
    if isinstance(v, dict):
        return {"M": {k: to_dynamo(x) for k, x in v.items()}}
    raise TypeError(type(v))


def build_lake(inputs: list[Path], lake: Path) -> dict[str, dict]:
    """A lake as the contract describes it for these inputs, from the
    checker's own expectations (one part file per partition)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import rosbags_parity as rp

    types = rp.Ros2Types([])
    items = {}
    for inp in inputs:
        with tempfile.TemporaryDirectory() as t:
            try:
                bagx = rp.load_ros2(inp, Path(t), types)
            except rp.CannotRead:
                continue
            guessed = rp.guess_tables(bagx)
            rows, counts, first = defaultdict(list), defaultdict(int), {}
            for lc, tns, row, _ in rp.decode_expected(bagx):
                counts[lc.key] += 1
                first.setdefault(lc.key, lc)
                if row is not None:
                    rows[lc.key].append(row)
            topics: dict[str, dict] = {}
            for lc in bagx.conns:
                k = lc.key
                if k in first and first[k] is not lc:
                    continue
                first[k] = lc
                res = lc.res
                e = {"type": res.cat_type, "message_count": counts[k]}
                if res.version:
                    e["md5sum" if res.gen == 1 else "type_hash"] = res.version
                    if res.gen == 2:
                        e["definition_source"] = res.source
                if rows[k]:
                    e["table"] = guessed[k]
                    schema = res.mapping.schema(res.typename)
                    part = lake / "topics" / guessed[k] / f"bag_file={bagx.bag_file}"
                    part.mkdir(parents=True, exist_ok=True)
                    data = [{f.name: arrow_value(r[f.name], f.type) for f in schema} for r in rows[k]]
                    pq.write_table(pa.Table.from_pylist(data, schema=schema), part / "part-00000.parquet")
                if lc.topic in topics:
                    topics[lc.topic].setdefault("variants", []).append(e)
                else:
                    topics[lc.topic] = e
            times = [m[0] for m in bagx.messages]
            item = {"bag_file": bagx.bag_file, "format": bagx.fmt, "status": "DONE",
                    "size_bytes": sum(s.size for s in bagx.storage), "message_count": len(times),
                    "topics": topics, "warnings": []}
            if bagx.is_dir:
                item["storage_files"] = [{"name": s.name, "size_bytes": s.size} for s in bagx.storage]
            if bagx.ros_distro is not None and bagx.ros_distro[0]:
                item["ros_distro"] = bagx.ros_distro[0]
            if times:
                item["start_time_ns"], item["end_time_ns"] = min(times), max(times)
            items[bagx.bag_file] = item
    write_catalogue(lake, items)
    return items


def write_catalogue(lake: Path, items: dict[str, dict]) -> None:
    import json
    path = lake / "dynamodb" / "bags.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"Item": {k: to_dynamo(v) for k, v in it.items()}}) + "\n"
                            for it in items.values()))


def run_lake(lake: Path, inputs: list[Path]) -> tuple[int, str]:
    p = subprocess.run([sys.executable, str(HERE / "rosbags_parity.py"), "--lake", str(lake),
                        *[str(x) for x in inputs]], capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


def lake_checks(inputs: list[Path], lake: Path) -> None:
    import copy
    import rosbags_parity as rp
    import pyarrow as pa
    import pyarrow.parquet as pq

    items = build_lake(inputs, lake)
    rc, out = run_lake(lake, inputs)
    summary = [line for line in out.splitlines() if line.startswith("parity:")]
    check(rc == 0 and "Traceback" not in out and "FAIL" not in out,
          f"--lake over {len(inputs)} inputs, a lake that matches: {summary}"
          + ("" if rc == 0 else "\n" + "\n".join(x for x in out.splitlines() if "MISMATCH" in x)[:3000]))
    print("\n".join("   " + line for line in out.splitlines() if line.startswith(("OK", "FAIL", "rosbags"))))

    gen = inputs[0].parent
    one = gen / "ros2_mcap_lz4.mcap"
    bf = "ros2_mcap_lz4"

    def table_file(table: str) -> Path:
        return lake / "topics" / table / f"bag_file={bf}" / "part-00000.parquet"

    def spoil(what: str, expect: str, edit, bag: Path = one) -> None:
        bf = rp.bag_file_of(bag)
        saved = {p: p.read_bytes() for p in (lake / "topics").rglob(f"bag_file={bf}/*")}
        saved_items = copy.deepcopy(items)
        edit()
        rc, out = run_lake(lake, [bag])
        found = [line for line in out.splitlines() if line.startswith("MISMATCH") and expect in line]
        check(rc == 1 and bool(found), f"spoiled lake ({what}) reported: {found[:1] or out[-400:]}")
        # undo
        for p in list((lake / "topics").rglob(f"bag_file={bf}/*")):
            if p not in saved:
                p.unlink()
        for p, b in saved.items():
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(b)
        for d in (lake / "topics").iterdir():
            part = d / f"bag_file={bf}"
            if part.is_dir() and not any(part.iterdir()):
                part.rmdir()
        items.clear()
        items.update(saved_items)
        write_catalogue(lake, items)

    def rewrite(table: str, change) -> None:
        t = pq.read_table(table_file(table))
        rows = t.to_pylist()
        rows, schema = change(rows, t.schema)
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), table_file(table))

    def value(rows, schema):
        rows[1]["by"] = 127
        return rows, schema

    def swap(rows, schema):
        rows[0], rows[1] = rows[1], rows[0]     # "hello" and "from b": same log time
        return rows, schema

    def extra(rows, schema):
        return rows + [dict(rows[-1])], schema

    def int8(rows, schema):
        i = schema.get_field_index("by")
        return rows, schema.set(i, pa.field("by", pa.int8()))

    def catalogue(change):
        return catalogue_of(bf, change)

    def catalogue_of(bag_file: str, change):
        def run():
            change(items[bag_file])
            write_catalogue(lake, items)
        return run

    def rewrite_of(table: str, bag_file: str, change) -> None:
        path = lake / "topics" / table / f"bag_file={bag_file}" / "part-00000.parquet"
        t = pq.read_table(path)
        rows, schema = change(t.to_pylist(), t.schema)
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)

    def stray():
        d = lake / "topics" / "no_such_topic" / f"bag_file={bf}"
        d.mkdir(parents=True)
        (d / "part-00000.parquet").write_bytes(table_file("text").read_bytes())

    def json_table():
        items["ros2_mcap_mixed_json"]["topics"]["/diagnostics_json"]["table"] = "diagnostics_json"
        write_catalogue(lake, items)

    spoil("a value", "field=by", lambda: rewrite("probe", value))
    spoil("two tied rows swapped", "table=text row=0 field=data", lambda: rewrite("text", swap))
    spoil("an extra row", "field=<row count>", lambda: rewrite("padded", extra))
    spoil("a column type", "field=<schema>.by", lambda: rewrite("probe", lambda r, s: (r[:0], int8(r, s)[1])))
    spoil("a type hash", "catalogue.topics.type_hash",
          catalogue(lambda it: it["topics"]["/pose"].update(type_hash="RIHS01_" + "0" * 64)))
    spoil("the format", "catalogue.format", catalogue(lambda it: it.update(format="sqlite3")))
    spoil("definition_source", "catalogue.topics.definition_source",
          catalogue(lambda it: it["topics"]["/probe"].update(definition_source="builtin")))
    spoil("an md5sum on a ROS 2 topic", "catalogue.topics.md5sum",
          catalogue(lambda it: it["topics"]["/probe"].update(md5sum="0" * 32)))
    spoil("the end time", "catalogue.end_time_ns", catalogue(lambda it: it.update(end_time_ns=1)))
    spoil("a variant's count", "catalogue.topics.message_count",
          catalogue(lambda it: it["topics"]["/multi"]["variants"][0].update(message_count=3)))
    spoil("a table for a channel that is not decoded", "field=catalogue.topics.table", json_table,
          gen / "ros2_mcap_mixed_json.mcap")
    spoil("a stray partition", "field=partition", stray)

    # the other message sets
    schema3 = gen / "ros2_db3_schema3.db3"
    spoil("ros_distro of a schema-3 db3", "catalogue.ros_distro",
          catalogue_of("ros2_db3_schema3", lambda it: it.update(ros_distro="rosbags")), schema3)
    spoil("ros_distro on a schema-2 db3 (no schema table)", "catalogue.ros_distro",
          catalogue_of("ros2_db3_schema2", lambda it: it.update(ros_distro="humble")), gen / "ros2_db3_schema2.db3")
    spoil("/probe of a schema-1 db3 given a type hash (it has no definition)", "catalogue.topics",
          catalogue_of("ros2_db3_schema1", lambda it: it["topics"]["/probe"].update(
              type_hash="RIHS01_" + "0" * 64, definition_source="builtin")), gen / "ros2_db3_schema1.db3")
    spoil("definition_source embedded on a schema-3 db3", "catalogue.topics.definition_source",
          catalogue_of("ros2_db3_schema3", lambda it: it["topics"]["/imu"].update(definition_source="embedded")),
          schema3)
    srv = gen / "ros2_srv_events_mcap.mcap"
    spoil("a service event's response emptied", "field=response.len",
          lambda: rewrite_of("lookup__service_event", "ros2_srv_events_mcap", lambda rows, schema: (
              [dict(r, response=[]) for r in rows], schema)), srv)
    spoil("the ros2idl /obstacle type hash", "catalogue.topics.type_hash",
          catalogue_of("ros2_idl", lambda it: it["topics"]["/obstacle"].update(
              type_hash="RIHS01_" + "1" * 64)), gen / "ros2_idl.mcap")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--real", type=Path, default=REPO.parent / "shared" / "bags" / "real")
    ap.add_argument("--keep", type=Path, help="also leave the generated inputs here")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="ros2-selftest-") as tmpd:
        tmp = Path(tmpd)
        print("== 1. generator: deterministic")
        names = generate(tmp / "a")
        generate(tmp / "b")
        check(same_tree(tmp / "a", tmp / "b"), f"two runs of ros2_bags.py wrote the same {len(names)} inputs "
              "byte for byte")
        gen = tmp / "a"
        storage_checks(gen)
        if args.keep:
            shutil.copytree(gen, args.keep, dirs_exist_ok=True)

        print("== 2. plain rosbags (AnyReader)")
        for name in names:
            work = tmp / "w2"
            work.mkdir()
            got = rosbags_read(gen / name.rstrip("/"), work)
            shutil.rmtree(work)
            known = ROSBAGS_KNOWN.get(name, "ok")
            check(got.startswith(known) or (known != "ok" and known in got),
                  f"rosbags: {name}: {got}")

        print("== 3. mcap reader + mcap-ros2-support")
        work = tmp / "w3"
        work.mkdir()
        for name, files in mcap_files(gen, work):
            mcap_check(name, files)

        print("== 4. rosbags_parity.py --expected-only: generated inputs")
        out, bags = expected_only([gen / n.rstrip("/") for n in names], gen)
        print("\n".join("   " + line for line in out.splitlines()))
        ref = bags["ros2_mcap_zstd"]["topics"]
        for name in names:
            key = name.rstrip("/")
            b = bags.get(key)
            if key in ("ros1_profile.mcap", "ros2_split_missing") or key.startswith(OTHER_SETS):
                continue
            topics = [t for t in b["topics"] if t[0] != "/diagnostics_json"]
            check(topics == ref, f"{name}: the same expected tables as ros2_mcap_zstd/ "
                  f"({sum(b['rows'].values())} rows, {len(topics)} topic/type pairs)")
        mj = bags["ros2_mcap_mixed_json.mcap"]
        check(mj["msgs"].get("/diagnostics_json", 0) > 0 and mj["rows"].get("/diagnostics_json", 1) == 0,
              "ros2_mcap_mixed_json.mcap: /diagnostics_json counted, no rows")
        sm = bags["ros2_split_missing"]
        check(0 < sum(sm["rows"].values()) < sum(bags["ros2_mcap_zstd"]["rows"].values()),
              "ros2_split_missing/: the rows of the parts present only")
        r1 = bags["ros1_profile.mcap"]
        check(dict(r1["rows"]) == {"/chatter": 3, "/probe1": 2, "/empty1": 1}
              and all("md5sum=" in t[2] for t in r1["topics"]),
              "ros1_profile.mcap: decoded as ROS1 (md5sum), /chatter 3, /probe1 2, /empty1 1")
        other_set_checks(bags, out)

        if args.real.is_dir():
            print(f"== 4. rosbags_parity.py --expected-only: ROS 2 inputs of {args.real}")
            real = [args.real / n for n in [*REAL_73, *REAL_SKIPPED]]
            out, bags = expected_only([p for p in real if p.exists()], args.real)
            print("\n".join("   " + line for line in out.splitlines()))
            for name, (n, start, end, rows) in REAL_73.items():
                b = bags.get(name)
                if b is None or "skipped" in b:
                    check(False, f"{name}: expected rows ({b and b['skipped']})")
                    continue
                ok = b["messages"] == n and dict(b["rows"]) == rows
                if start is not None:
                    ok = ok and (b["start"], b["end"]) == (start, end)
                check(ok, f"{name}: {b['messages']} messages, rows {dict(b['rows'])} (ROS2.md 7.3)")
            for name in REAL_SKIPPED:
                check("skipped" in bags.get(name, {}), f"{name}: rosbags cannot read it; skipped")
            twins = [("rosbag2_cdr_test_mcap", "rosbag2_cdr_test_sqlite3")]
            for a, b in twins:
                check(bags[a]["topics"] == bags[b]["topics"], f"{a} and {b}: the same expected tables")
            msg_paths_check(args.real / "fiducial_transforms_no_msgdefs.db3", tmp)
        else:
            print(f"(no {args.real}: real files not checked)")

        print("== 5. rosbags_parity.py --lake against a lake built from the expectations")
        inputs = [gen / n.rstrip("/") for n in names]
        if args.real.is_dir():
            inputs += [args.real / n for n in REAL_73]
        lake_checks(inputs, tmp / "lake")
        side = sorted(p.name for p in gen.iterdir() if p.name.endswith(("-wal", "-shm", "-journal")))
        check(not side, f"after every read: no sqlite side file beside the generated inputs {side}")

    print(f"ros2 self-test: {RESULTS['passed']} passed, {RESULTS['failed']} failed")
    return 1 if RESULTS["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
