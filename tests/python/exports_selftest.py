#!/usr/bin/env python3
"""Self-test of the scene-export checkers: each one must pass its good
fixtures and fail its broken ones.

    python3 tests/python/exports_selftest.py [-k SUBSTRING] [-v]

Runs, as subprocesses (exactly as the Rust tests call them):

- check_clip.py on clips this script cuts itself with the Python `mcap`
  writer (raw bytes copied from the bag read with `rosbags`, zstd chunks,
  summary): `sample-bags/drive_0001_raw.bag` for a 2-second window (1 s
  scene, 500 ms pad), the same with `--topics`, a small ROS1 bag written
  here with a latched connection, and `sample-bags/drive_0004_ros2` (its
  `/driver/annotation` is transient_local); and broken clips that must
  fail: one message missing, the latched message missing or written last,
  two messages swapped, a changed payload, a flipped byte (CRC), lz4
  chunks, a wrong `latching` flag, a message exactly at `start - pad`
  left out and one exactly at `end + pad` let in;
- check_label.py on `fixtures/label_sample.openlabel.json` against a tiny
  lake written here with pyarrow (`write_tiny_lake`: scenes,
  scene_detections, synchronized), and on broken copies (a box value off
  by 1e-7, a score added, removed or rounded, objects swapped, a class, a
  timestamp 1 ns off, with 3 decimals or as a string, a frame missing,
  the schema version, no action, no speed tag or not a range, an
  undeclared ontology, an object in two frames). `make_label` writes a
  label in the shape check_label.py reads from any lake (it made the
  fixture, and was run on the lake bagpipe writes for the sample bags);
- check_xosc.py on `fixtures/example.xosc` (passes) and
  `fixtures/example_bad_entityref.xosc` (must fail in qc_openscenario),
  and on variants (revMinor 3, a missing `priority`, no pedestrian, a
  vertex without time, vertex times going back);
- check_report.py on `fixtures/report_sample.html` (2 scene bars, 2 cards,
  3 topic rows, inline SVG, an inline PNG) and on broken variants (wrong
  counts, a script, an external image, an https link, a CSS url, an
  onclick, a blank page). Skipped, and said so, when no `chromium` is
  installed (`apt-get install -y chromium`).

About 100 s on this machine (the report cases, 3 to 4 browser runs each,
take about 60 s).

Prints one line per case and then `N passed, N failed` (`, N skipped`).
Exit status 0 when every case behaved as expected, 1 otherwise, 2 on a
usage error.
"""

from __future__ import annotations

import argparse
import heapq
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
FIX = HERE / "fixtures"
SAMPLES = REPO / "sample-bags"
DRIVE1 = SAMPLES / "drive_0001_raw.bag"
DRIVE4 = SAMPLES / "drive_0004_ros2"

# drive_0001's first scene (README: drive_0001_raw_PersonInLane_1715679070700000000)
SCENE_START = 1715679070700000000


# --------------------------------------------------------------------------
# A reference clip cutter (test fixture only; bagpipe's is in Rust)
# --------------------------------------------------------------------------

def ros1_messages(bag: Path):
    """(connections, messages in bag order) of a ROS1 bag, with rosbags."""
    from rosbags.rosbag1 import Reader
    with Reader(bag) as r:
        conns = list(r.connections)
        entries = heapq.merge(*[r.indexes[c.id] for c in conns])
        msgs = [(e.chunk_pos, e.offset, c, t, bytes(raw)) for (c, t, raw), e in zip(r.messages(), entries, strict=True)]
    msgs.sort(key=lambda m: (m[0], m[1]))
    return conns, [(c, t, raw) for _, _, c, t, raw in msgs]


def ros2_messages(bag_dir: Path):
    """(channels, schemas, messages in file order) of a one-file rosbag2
    MCAP directory, with the mcap library."""
    from mcap.records import Channel, Message, Schema
    from mcap.stream_reader import StreamReader
    (path,) = sorted(bag_dir.glob("*.mcap"))
    schemas, channels, msgs = {}, {}, []
    with path.open("rb") as f:
        for rec in StreamReader(f).records:
            if isinstance(rec, Schema):
                schemas.setdefault(rec.id, rec)
            elif isinstance(rec, Channel):
                channels.setdefault(rec.id, rec)
            elif isinstance(rec, Message):
                msgs.append((channels[rec.channel_id], rec.log_time, bytes(rec.data)))
    return channels, schemas, msgs


def latched_qos(text: str) -> bool:
    vals = re.findall(r"durability:\s*(\S+)", text or "")
    return bool(vals) and all(v in ("1", "transient_local") for v in vals)


def cut_clip(bag: Path, out: Path, lo: int, hi: int, topics: set[str] | None = None,
             edit: Callable[[list], list] | None = None, compression: str = "zstd",
             latching_text: Callable[[bool], str] = lambda b: "true" if b else "false") -> int:
    """Writes the clip of [lo, hi): latched messages first, then the window
    in bag order. `edit` may change the (key, log_time, data) list before it
    is written (to make broken clips). Returns the number of messages."""
    from mcap.writer import CompressionType, Writer
    from rosbags.typesys.msg import denormalize_msgtype
    chans: dict = {}
    plan: list = []            # (channel key, log_time, data)
    if bag.is_file():
        profile = "ros1"
        conns, msgs = ros1_messages(bag)
        for c in conns:
            chans[c.id] = dict(schema=(denormalize_msgtype(c.msgtype), "ros1msg", c.msgdef.data.encode()),
                               topic=c.topic, enc="ros1",
                               meta={"md5sum": c.digest, "callerid": c.ext.callerid or "",
                                     "latching": latching_text(bool(c.ext.latching))},
                               latched=bool(c.ext.latching))
        keyed = [(c.id, t, d) for c, t, d in msgs]
    else:
        profile = "ros2"
        channels, schemas, msgs = ros2_messages(bag)
        for ch in channels.values():
            s = schemas[ch.schema_id]
            chans[ch.id] = dict(schema=(s.name, s.encoding, bytes(s.data)), topic=ch.topic, enc=ch.message_encoding,
                                meta=dict(ch.metadata), latched=latched_qos(ch.metadata.get("offered_qos_profiles", "")))
        keyed = [(ch.id, t, d) for ch, t, d in msgs]
    keyed = [k for k in keyed if topics is None or chans[k[0]]["topic"] in topics]
    latest: dict = {}
    for k in keyed:
        if chans[k[0]]["latched"] and k[1] < lo:
            latest[k[0]] = k
    plan = list(latest.values()) + [k for k in keyed if lo <= k[1] < hi]
    if edit:
        plan = edit(plan)
    comp = {"zstd": CompressionType.ZSTD, "lz4": CompressionType.LZ4, "none": CompressionType.NONE}[compression]
    with out.open("wb") as f:
        w = Writer(f, compression=comp, chunk_size=256 * 1024)
        w.start(profile=profile, library="bagpipe exports_selftest")
        schema_ids, channel_ids = {}, {}
        for key, t, data in plan:
            if key not in channel_ids:
                c = chans[key]
                if c["schema"] not in schema_ids:
                    schema_ids[c["schema"]] = w.register_schema(*c["schema"])
                channel_ids[key] = w.register_channel(c["topic"], c["enc"], schema_ids[c["schema"]], c["meta"])
            w.add_message(channel_ids[key], t, data, t)
        w.finish()
    return len(plan)


def write_latched_ros1_bag(path: Path) -> tuple[int, int]:
    """A small ROS1 bag: /chatter (std_msgs/String) at 10 Hz for 10 s, a
    latched /map_info (std_msgs/String, latching=1) published at 0.5 s,
    1.5 s and 8 s, a latched /calib published once at 9 s (after any
    window tested), and /count (std_msgs/Int32) at 2 Hz. Returns (t0, t_end)."""
    from rosbags.rosbag1 import Writer
    from rosbags.typesys import Stores, get_typestore
    ts = get_typestore(Stores.ROS1_NOETIC)
    String = ts.types["std_msgs/msg/String"]
    Int32 = ts.types["std_msgs/msg/Int32"]
    t0 = 1_700_000_000_000_000_000
    with Writer(path) as w:
        chatter = w.add_connection("/chatter", "std_msgs/msg/String", typestore=ts, callerid="/talker", latching=0)
        info = w.add_connection("/map_info", "std_msgs/msg/String", typestore=ts, callerid="/map_server", latching=1)
        calib = w.add_connection("/calib", "std_msgs/msg/String", typestore=ts, callerid="/calib_pub", latching=1)
        count = w.add_connection("/count", "std_msgs/msg/Int32", typestore=ts, callerid="/counter", latching=0)
        events = []
        for i in range(100):
            events.append((t0 + i * 100_000_000, chatter, ts.serialize_ros1(String(data=f"hello {i}"), "std_msgs/msg/String")))
        for i, sec in enumerate((0.5, 1.5, 8.0)):
            events.append((t0 + int(sec * 1e9), info, ts.serialize_ros1(String(data=f"map v{i}"), "std_msgs/msg/String")))
        events.append((t0 + 9_000_000_000, calib, ts.serialize_ros1(String(data="calib"), "std_msgs/msg/String")))
        for i in range(20):
            events.append((t0 + i * 500_000_000 + 1, count, ts.serialize_ros1(Int32(data=i), "std_msgs/msg/Int32")))
        for t, conn, data in sorted(events, key=lambda e: e[0]):
            w.write(conn, t, data)
    return t0, t0 + 10_000_000_000


# --------------------------------------------------------------------------
# A reference label writer and a tiny lake (test fixtures only)
# --------------------------------------------------------------------------

ASAM_TAGS = "https://openlabel.asam.net/V1-0-0/ontologies/openlabel_ontology_scenario_tags.ttl"
BAGPIPE_ONTOLOGY = "https://github.com/bagpipe/ontology/person_in_lane"


def _partition(lake: Path, table: str, bag: str):
    import pyarrow as pa
    import pyarrow.parquet as pq
    files = sorted((lake / table / f"bag_file={bag}").glob("*.parquet"))
    return pa.concat_tables([pq.ParquetFile(f).read() for f in files], promote_options="default") if files else None


def make_label(lake: Path, bag: str, scene_id: str, interval_ms: int = 100) -> str:
    """The label text in the shape check_label.py reads (its docstring)."""
    import pyarrow.compute as pc
    scene = next(r for r in _partition(lake, "scenes", bag).to_pylist() if r["scene_id"] == scene_id)
    start, end, step = scene["start_time_ns"], scene["end_time_ns"], interval_ms * 1_000_000
    rows = {r["time_ns"]: r["objects_in_lane"] or []
            for r in _partition(lake, "scene_detections", bag).select(["time_ns", "objects_in_lane"]).to_pylist()}
    ticks = list(range(start, end, step))
    frames, objects, uid = {}, {}, 0
    for i, t in enumerate(ticks):
        fobjs = {}
        for o in rows[t]:
            od = {"bbox": [{"name": "box", "val": [o["x"], o["y"], o["width"], o["height"]]}]}
            if o["score"] is not None:
                od["num"] = [{"name": "score", "val": o["score"]}]
            fobjs[str(uid)] = {"object_data": od}
            objects[str(uid)] = {"name": f"{o['class']}_{uid}", "type": o["class"], "ontology_uid": "1",
                                 "frame_intervals": [{"frame_start": i, "frame_end": i}]}
            uid += 1
        frame = {"frame_properties": {"timestamp": f"@@{t // 10**9}.{t % 10**9:09d}@@"}}
        if fobjs:
            frame["objects"] = fobjs
        frames[str(i)] = frame
    tags = {"0": {"type": "HumanPedestrian", "ontology_uid": "0"}}
    sync = _partition(lake, "synchronized", bag)
    steer = [c for c in (sync.column_names if sync is not None else []) if c.startswith("vehicle_steering_report")]
    if steer:
        sel = pc.and_(pc.greater_equal(sync["time_ns"], start), pc.less(sync["time_ns"], end))
        speeds = [r["speed"] for r in sync.filter(sel)[steer[0]].to_pylist() if r and r["speed"] is not None]
        if speeds:
            tags["1"] = {"type": "SubjectVehicleSpeed", "ontology_uid": "0",
                         "tag_data": {"vec": [{"type": "range",
                                               "val": [round(min(speeds) * 3.6, 2), round(max(speeds) * 3.6, 2)]}]}}
    doc = {"openlabel": {
        "metadata": {"schema_version": "1.0.0", "name": scene_id, "annotator": "bagpipe exports_selftest",
                     "tagged_file": f"{scene_id}.mcap"},
        "ontologies": {"0": {"uri": ASAM_TAGS, "boundary_list": ["HumanPedestrian", "SubjectVehicleSpeed"],
                             "boundary_mode": "include"},
                       "1": BAGPIPE_ONTOLOGY},
        "tags": tags,
        "frame_intervals": [{"frame_start": 0, "frame_end": len(ticks) - 1}],
        "frames": frames,
        "objects": objects,
        "actions": {"0": {"name": scene_id, "type": "PersonInLane", "ontology_uid": "1",
                          "frame_intervals": [{"frame_start": 0, "frame_end": len(ticks) - 1}]}},
    }}
    text = json.dumps(doc, indent=1)
    return re.sub(r'"@@([0-9.]+)@@"', r"\1", text) + "\n"


TINY_BAG = "tiny_drive"
TINY_START = 1715679070700000000


def write_tiny_lake(lake: Path) -> str:
    """scenes, scene_detections and synchronized partitions of one bag with
    one 4-tick scene (the lake check_label.py's fixture label describes).
    Returns the scene_id."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    step = 100_000_000
    scene_id = f"{TINY_BAG}_PersonInLane_{TINY_START}"
    obj = pa.struct([pa.field("class", pa.string(), False), pa.field("score", pa.float64()),
                     pa.field("x", pa.float64(), False), pa.field("y", pa.float64(), False),
                     pa.field("width", pa.float64(), False), pa.field("height", pa.float64(), False),
                     pa.field("corners_in_lane", pa.int32(), False),
                     pa.field("lanes", pa.list_(pa.field("item", pa.string(), False)), False)])

    def o(cls, score, x, y, w, h):
        return {"class": cls, "score": score, "x": x, "y": y, "width": w, "height": h,
                "corners_in_lane": 2, "lanes": ["between_1_and_2"]}
    ticks = [TINY_START + k * step for k in range(-2, 6)]
    objects = [
        [],                                                   # before the scene
        [o("car", 0.8872, 970.0, 641.0, 96.0, 80.0)],
        [o("person", 0.9511, 1081.0, 643.0, 48.0, 116.0), o("car", None, 970.5, 641.25, 96.0, 80.0)],
        [o("person", 0.9426, 1082.0, 642.0, 48.0, 118.0)],
        [o("truck", 0.8409, 749.0, 594.0, 146.0, 186.0), o("person", 0.9, 1083.0, 641.0, 50.0, 118.0),
         o("person", 0.1 + 0.2, 400.0, 650.0, 30.0, 60.0)],
        [o("person", None, 1084.0, 640.0, 50.0, 120.0)],
        [],                                                   # the scene has ended
        None,                                                 # lanes missing
    ]
    people = [sum(1 for x in (objs or []) if x["class"] == "person") for objs in objects]
    det = pa.table({"time_ns": pa.array(ticks, pa.int64()), "num_people_in_lane": pa.array(people, pa.int32()),
                    "objects_in_lane": pa.array(objects, pa.list_(pa.field("item", obj, False)))})
    scenes = pa.table({
        "scene_id": [scene_id], "scene_type": ["PersonInLane"],
        "start_time_ns": pa.array([TINY_START], pa.int64()), "end_time_ns": pa.array([TINY_START + 4 * step], pa.int64()),
        "scene_length_ms": [400.0], "num_people_in_scene_start": pa.array([1], pa.int64()),
        "max_people_in_lane": pa.array([2], pa.int64()),
        "topics_analyzed": [["/rgb_right_detections_only", "/post_process/lane_points/rgb_front_right"]],
        "bag_file_bucket": [""], "bag_file_prefix": ["/data/tiny_drive.bag"],
        "synchronized_path": [f"file://{lake}/synchronized/bag_file={TINY_BAG}/"],
        "detections_path": [f"file://{lake}/scene_detections/bag_file={TINY_BAG}/"]})
    steer = pa.struct([pa.field("log_time_ns", pa.int64()), pa.field("speed", pa.float32())])
    sync = pa.table({"time_ns": pa.array(ticks, pa.int64()),
                     "vehicle_steering_report": pa.array(
                         [{"log_time_ns": t - 3_000_000, "speed": 8.0 + 0.25 * k} for k, t in enumerate(ticks)], steer)})
    for table, t in (("scenes", scenes), ("scene_detections", det), ("synchronized", sync)):
        d = lake / table / f"bag_file={TINY_BAG}"
        d.mkdir(parents=True, exist_ok=True)
        pq.write_table(t, d / "part-00000.parquet")
    return scene_id


# --------------------------------------------------------------------------
# Running cases
# --------------------------------------------------------------------------

class Runner:
    def __init__(self, verbose: bool, only: str | None) -> None:
        self.verbose = verbose
        self.only = only
        self.passed = self.failed = self.skipped = 0

    def case(self, name: str, cmd: list[str], want_rc: int, want_text: str | None = None) -> None:
        if self.only and self.only not in name:
            return
        p = subprocess.run([sys.executable, *cmd], capture_output=True, text=True, cwd=REPO)
        out = p.stdout + p.stderr
        ok = p.returncode == want_rc and (want_text is None or want_text in out)
        if ok:
            self.passed += 1
            print(f"PASS {name} (exit {p.returncode})")
        else:
            self.failed += 1
            print(f"FAIL {name}: exit {p.returncode}, expected {want_rc}"
                  + (f" with {want_text!r} in the output" if want_text else ""))
        if self.verbose or not ok:
            for line in out.splitlines()[-25:]:
                print(f"    | {line}")

    def skip(self, name: str, why: str) -> None:
        if self.only and self.only not in name:
            return
        self.skipped += 1
        print(f"SKIP {name}: {why}")


def clip_cases(r: Runner, tmp: Path) -> None:
    check = str(HERE / "check_clip.py")
    start, end, pad = SCENE_START, SCENE_START + 1_000_000_000, 500
    lo, hi = start - pad * 1_000_000, end + pad * 1_000_000
    base = ["--start", str(start), "--end", str(end), "--pad-ms", str(pad)]

    good = tmp / "drive1_good.mcap"
    n = cut_clip(DRIVE1, good, lo, hi)
    r.case(f"clip drive_0001 2 s window ({n} messages)", [check, "--bag", str(DRIVE1), "--clip", str(good), *base],
           0, "OK ")

    topics = ["/gps", "/vehicle/steering_report"]
    sub = tmp / "drive1_topics.mcap"
    cut_clip(DRIVE1, sub, lo, hi, topics=set(topics))
    r.case("clip drive_0001 --topics", [check, "--bag", str(DRIVE1), "--clip", str(sub), *base, "--topics", *topics],
           0, "2 topics")
    r.case("clip drive_0001 --topics, checked against every topic (must fail)",
           [check, "--bag", str(DRIVE1), "--clip", str(sub), *base], 1, "missing message in the window")

    missing = tmp / "drive1_missing.mcap"
    cut_clip(DRIVE1, missing, lo, hi, edit=lambda p: p[:100] + p[101:])
    r.case("clip drive_0001 missing one message (must fail)",
           [check, "--bag", str(DRIVE1), "--clip", str(missing), *base], 1, "missing message in the window")

    swapped = tmp / "drive1_swapped.mcap"
    cut_clip(DRIVE1, swapped, lo, hi, edit=lambda p: p[:10] + [p[11], p[10]] + p[12:])
    r.case("clip drive_0001 two messages swapped (must fail)",
           [check, "--bag", str(DRIVE1), "--clip", str(swapped), *base], 1, "order:")

    changed = tmp / "drive1_changed.mcap"
    cut_clip(DRIVE1, changed, lo, hi, edit=lambda p: p[:5] + [(p[5][0], p[5][1], p[5][2][:-1] + b"\x01")] + p[6:])
    r.case("clip drive_0001 one payload changed (must fail)",
           [check, "--bag", str(DRIVE1), "--clip", str(changed), *base], 1, "different bytes")

    corrupt = tmp / "drive1_corrupt.mcap"
    data = bytearray(good.read_bytes())
    data[len(data) // 3] ^= 0x55          # inside the chunk's compressed records
    corrupt.write_bytes(bytes(data))
    r.case("clip drive_0001 one byte flipped (must fail)",
           [check, "--bag", str(DRIVE1), "--clip", str(corrupt), *base], 1, "MISMATCH")

    lz4 = tmp / "drive1_lz4.mcap"
    cut_clip(DRIVE1, lz4, lo, hi, compression="lz4")
    r.case("clip drive_0001 lz4 chunks (must fail)", [check, "--bag", str(DRIVE1), "--clip", str(lz4), *base],
           1, "expected 'zstd' or none")
    stored = tmp / "drive1_stored.mcap"
    cut_clip(DRIVE1, stored, lo, hi, compression="none")
    r.case("clip drive_0001 uncompressed chunks (must pass)",
           [check, "--bag", str(DRIVE1), "--clip", str(stored), *base], 0, "OK")

    # the window's edges: a message exactly at start - pad is in, one exactly at end + pad is out
    _, msgs = ros1_messages(DRIVE1)
    times = sorted({t for _, t, _ in msgs})
    t_lo = next(t for t in times if t > SCENE_START)
    t_hi = next(t for t in times if t > t_lo + 1_500_000_000)
    ebase = ["--start", str(t_lo + 500_000_000), "--end", str(t_hi - 500_000_000), "--pad-ms", "500"]
    edge = tmp / "drive1_edges.mcap"
    cut_clip(DRIVE1, edge, t_lo, t_hi)
    r.case("clip drive_0001 window edges exact", [check, "--bag", str(DRIVE1), "--clip", str(edge), *ebase], 0, "OK ")
    late = tmp / "drive1_edge_lo.mcap"
    cut_clip(DRIVE1, late, t_lo + 1, t_hi)
    r.case("clip drive_0001 without the message at start - pad (must fail)",
           [check, "--bag", str(DRIVE1), "--clip", str(late), *ebase], 1, "missing message in the window")
    over = tmp / "drive1_edge_hi.mcap"
    cut_clip(DRIVE1, over, t_lo, t_hi + 1)
    r.case("clip drive_0001 with the message at end + pad (must fail)",
           [check, "--bag", str(DRIVE1), "--clip", str(over), *ebase], 1, "outside the window")

    # latched connections (ROS1)
    lbag = tmp / "latched.bag"
    t0, _ = write_latched_ros1_bag(lbag)
    s2, e2 = t0 + 3_000_000_000, t0 + 4_000_000_000
    lbase = ["--start", str(s2), "--end", str(e2), "--pad-ms", "1000"]
    lgood = tmp / "latched_good.mcap"
    cut_clip(lbag, lgood, s2 - 10**9, e2 + 10**9)
    r.case("clip latched ROS1 bag", [check, "--bag", str(lbag), "--clip", str(lgood), *lbase], 0, "1 latched")
    lraw = tmp / "latched_raw_flag.mcap"
    cut_clip(lbag, lraw, s2 - 10**9, e2 + 10**9, latching_text=lambda b: "1" if b else "0")
    r.case("clip latched ROS1 bag, latching written as 1/0", [check, "--bag", str(lbag), "--clip", str(lraw), *lbase],
           0, "1 latched")
    lmiss = tmp / "latched_missing.mcap"
    cut_clip(lbag, lmiss, s2 - 10**9, e2 + 10**9, edit=lambda p: p[1:])
    r.case("clip latched ROS1 bag without the latched message (must fail)",
           [check, "--bag", str(lbag), "--clip", str(lmiss), *lbase], 1, "missing latched message")
    lflag = tmp / "latched_flag.mcap"
    cut_clip(lbag, lflag, s2 - 10**9, e2 + 10**9, latching_text=lambda b: "false")
    r.case("clip latched ROS1 bag, latching metadata wrong (must fail)",
           [check, "--bag", str(lbag), "--clip", str(lflag), *lbase], 1, "latching")
    llate = tmp / "latched_last.mcap"
    cut_clip(lbag, llate, s2 - 10**9, e2 + 10**9, edit=lambda p: p[1:] + p[:1])
    r.case("clip latched ROS1 bag, latched message written last (must fail)",
           [check, "--bag", str(lbag), "--clip", str(llate), *lbase], 1, "order:")

    # ROS 2 (drive_0004: same content as drive_0001; /driver/annotation is transient_local)
    r2 = tmp / "drive4_good.mcap"
    s4, e4 = SCENE_START + 5_800_000_000, SCENE_START + 7_300_000_000
    n4 = cut_clip(DRIVE4, r2, s4 - 500_000_000, e4 + 500_000_000)
    base4 = ["--start", str(s4), "--end", str(e4), "--pad-ms", "500"]
    r.case(f"clip drive_0004_ros2 ({n4} messages, Class field, latched annotation)",
           [check, "--bag", str(DRIVE4), "--clip", str(r2), *base4], 0, "1 latched")
    r2m = tmp / "drive4_nolatch.mcap"
    cut_clip(DRIVE4, r2m, s4 - 500_000_000, e4 + 500_000_000, edit=lambda p: p[1:])
    r.case("clip drive_0004_ros2 without its latched message (must fail)",
           [check, "--bag", str(DRIVE4), "--clip", str(r2m), *base4], 1, "missing latched message")


def edit_label(text: str, fn: Callable[[dict], None]) -> str:
    """A copy of the label text changed by fn(openlabel), keeping each
    frame's timestamp digits exactly (fn may set a timestamp to a string
    "@@<digits>@@" to write a raw number)."""
    import decimal
    doc = json.loads(text)
    dec = json.loads(text, parse_float=decimal.Decimal)
    for k, fr in dec["openlabel"]["frames"].items():
        ts = fr["frame_properties"]["timestamp"]
        doc["openlabel"]["frames"][k]["frame_properties"]["timestamp"] = f"@@{ts}@@"
    fn(doc["openlabel"])
    return re.sub(r'"@@([0-9.eE+-]+)@@"', r"\1", json.dumps(doc, indent=1)) + "\n"


def label_cases(r: Runner, tmp: Path) -> None:
    check = str(HERE / "check_label.py")
    lake = tmp / "lake"
    scene = write_tiny_lake(lake)
    fixture = FIX / "label_sample.openlabel.json"
    text = fixture.read_text(encoding="utf-8")
    args = ["--lake", str(lake), "--bag", TINY_BAG, "--scene", scene, "--interval-ms", "100"]
    r.case("label fixture", [check, str(fixture), *args], 0, "OK ")
    r.case("label fixture, file:// lake URL", [check, str(fixture), *args[:0], "--lake", lake.as_uri(),
                                               "--bag", TINY_BAG, "--scene", scene], 0, "OK ")
    r.case("label fixture against another scene id (must fail)",
           [check, str(fixture), "--lake", str(lake), "--bag", TINY_BAG, "--scene", scene + "0"], 1, "scene records")

    def frame_obj(ol, frame, k):
        objs = ol["frames"][str(frame)]["objects"]
        return objs[sorted(objs, key=int)[k]]

    def swap_frame0(ol):
        objs = ol["frames"]["0"]["objects"]
        a, b = sorted(objs, key=int)[:2]
        objs[a], objs[b] = objs[b], objs[a]

    def drop_num(ol):
        del frame_obj(ol, 0, 0)["object_data"]["num"]

    def drop_frame(ol):
        for uid in list(ol["frames"]["3"].get("objects", {})):
            del ol["objects"][uid]
        del ol["frames"]["3"]

    broken = {
        "a box value off by 1e-7": lambda ol: frame_obj(ol, 0, 1)["object_data"]["bbox"][0].__setitem__(
            "val", [970.5000001, 641.25, 96.0, 80.0]),
        "a score for a null-score object": lambda ol: frame_obj(ol, 0, 1)["object_data"].__setitem__(
            "num", [{"name": "score", "val": 0.5}]),
        "a score missing": drop_num,
        "0.30000000000000004 written as 0.3": lambda ol: frame_obj(ol, 2, 2)["object_data"]["num"][0].__setitem__(
            "val", 0.3),
        "two objects of a frame swapped": swap_frame0,
        "a class wrong": lambda ol: ol["objects"]["3"].__setitem__("type", "car"),
        "a timestamp 1 ns off": lambda ol: ol["frames"]["1"]["frame_properties"].__setitem__(
            "timestamp", "@@1715679070.800000001@@"),
        "a timestamp with 3 decimals": lambda ol: ol["frames"]["1"]["frame_properties"].__setitem__(
            "timestamp", "@@1715679070.800@@"),
        "a timestamp as a string": lambda ol: ol["frames"]["1"]["frame_properties"].__setitem__(
            "timestamp", "1715679070.800000000"),
        "the last frame missing": drop_frame,
        "schema_version 1.1.0": lambda ol: ol["metadata"].__setitem__("schema_version", "1.1.0"),
        "no action": lambda ol: ol.pop("actions"),
        "no SubjectVehicleSpeed tag": lambda ol: ol["tags"].pop("1"),
        "a speed tag that is not a range": lambda ol: ol["tags"]["1"]["tag_data"]["vec"][0].__setitem__(
            "type", "values"),
        "ontology 1 undeclared": lambda ol: ol["ontologies"].pop("1"),
        "an object in two frames": lambda ol: ol["frames"]["1"]["objects"].__setitem__(
            "0", ol["frames"]["0"]["objects"]["0"]),
    }
    for name, fn in broken.items():
        path = tmp / ("label_" + re.sub(r"[^a-z0-9]+", "_", name.lower()) + ".json")
        path.write_text(edit_label(text, fn), encoding="utf-8")
        r.case(f"label with {name} (must fail)", [check, str(path), *args], 1, "MISMATCH")
    same = tmp / "label_roundtrip.json"
    same.write_text(edit_label(text, lambda ol: None), encoding="utf-8")
    r.case("label fixture re-serialized unchanged", [check, str(same), *args], 0, "OK ")


def xosc_cases(r: Runner, tmp: Path) -> None:
    check = str(HERE / "check_xosc.py")
    good, bad = FIX / "example.xosc", FIX / "example_bad_entityref.xosc"
    r.case("xosc example", [check, str(good)], 0, "OK ")
    r.case("xosc wrong entityRef (must fail: qc_openscenario)", [check, str(bad)], 1,
           "check_asam_xosc_reference_control_resolvable_entity_references")
    text = good.read_text(encoding="utf-8")
    variants = {
        "revMinor 3": text.replace('revMinor="2"', 'revMinor="3"'),
        "no priority (XSD)": text.replace(' priority="overwrite"', "", 1),
        "no pedestrian": text.replace('<ScenarioObject name="Pedestrian1">', '<ScenarioObject name="Other1">')
                             .replace('<Pedestrian name="person" model="person" mass="80" pedestrianCategory="pedestrian">',
                                      '<MiscObject name="box" mass="80" miscObjectCategory="obstacle">')
                             .replace("</Pedestrian>", "</MiscObject>")
                             .replace('<EntityRef entityRef="Pedestrian1"/>', '<EntityRef entityRef="Other1"/>'),
        "a vertex without time": text.replace('<Vertex time="0.200">', "<Vertex>"),
        "vertex times going back": text.replace('<Vertex time="0.300">', '<Vertex time="0.150">'),
    }
    for name, body in variants.items():
        path = tmp / ("xosc_" + re.sub(r"[^a-z0-9]+", "_", name.lower()) + ".xosc")
        path.write_text(body, encoding="utf-8")
        r.case(f"xosc with {name} (must fail)", [check, str(path)], 1, "MISMATCH")
    r.case("xosc two files, one bad (must fail)", [check, str(good), str(bad)], 1, "OK ")


def report_cases(r: Runner, tmp: Path) -> None:
    check = str(HERE / "check_report.py")
    sample = FIX / "report_sample.html"
    if shutil.which("chromium") is None:
        r.skip("report cases", "no chromium (apt-get install -y chromium)")
        return
    shot = tmp / "report.png"
    r.case("report sample", [check, str(sample), "--scenes", "2", "--topics", "3", "--screenshot", str(shot)],
           0, "rendered in ")
    r.case("report sample, wrong scene count (must fail)", [check, str(sample), "--scenes", "3", "--topics", "3",
                                                            "--repeat", "1"], 1, "'scene-bar'")
    r.case("report sample, wrong topic count (must fail)", [check, str(sample), "--scenes", "2", "--topics", "4",
                                                            "--repeat", "1"], 1, "'topic-row'")
    text = sample.read_text(encoding="utf-8")
    variants = {
        "a script": text.replace("</body>", "<script>document.title = 'x'</script></body>"),
        "an external image": text.replace('<img alt="camera frame at the scene start" src="data:image/png;base64,',
                                          '<img alt="x" src="https://example.invalid/a.png"><img alt="y" src="data:image/png;base64,'),
        "an https link": text.replace('">label</a></p>\n</div>\n<div class="scene-card" id="scene-2">',
                                      '">label</a> <a href="https://app.foxglove.dev/?ds=remote-file">view</a></p>\n</div>\n'
                                      '<div class="scene-card" id="scene-2">'),
        "a CSS url": text.replace("body { font-family", "body { background: url(http://example.invalid/bg.png); font-family"),
        "an onclick": text.replace('<div class="scene-card" id="scene-1">', '<div class="scene-card" id="scene-1" onclick="x()">'),
        "a blank page": "<!DOCTYPE html><html><head><title>x</title></head><body></body></html>\n",
    }
    for name, body in variants.items():
        path = tmp / ("report_" + re.sub(r"[^a-z0-9]+", "_", name.lower()) + ".html")
        path.write_text(body, encoding="utf-8")
        counts = ["--scenes", "0", "--topics", "0"] if name == "a blank page" else ["--scenes", "2", "--topics", "3"]
        want = "blank" if name == "a blank page" else "MISMATCH"
        r.case(f"report with {name} (must fail)", [check, str(path), *counts, "--repeat", "1"], 1, want)
    allowed = tmp / "report_an_https_link.html"
    r.case("report with an https link allowed by --allow-link",
           [check, str(allowed), "--scenes", "2", "--topics", "3", "--repeat", "1",
            "--allow-link", "https://app.foxglove.dev/"], 0, "OK ")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Self-test of the scene-export checkers.")
    ap.add_argument("-k", dest="only", help="run only the cases whose name contains this")
    ap.add_argument("-v", "--verbose", action="store_true", help="show each checker's output")
    args = ap.parse_args(argv)
    r = Runner(args.verbose, args.only)
    with tempfile.TemporaryDirectory(prefix="bagpipe-exports-selftest-") as tmp:
        clip_cases(r, Path(tmp))
        label_cases(r, Path(tmp))
        xosc_cases(r, Path(tmp))
        report_cases(r, Path(tmp))
    line = f"{r.passed} passed, {r.failed} failed"
    if r.skipped:
        line += f", {r.skipped} skipped"
    print(line)
    return 1 if r.failed else 0


if __name__ == "__main__":
    sys.exit(main())
