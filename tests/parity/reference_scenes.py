#!/usr/bin/env python3
"""Compute the person-in-lane scenes the contract expects, from the bags.

    python3 tests/parity/reference_scenes.py [--config FILE] [--lake LAKE_DIR] [--ticks] INPUT [INPUT...]

A slow, independent reference for the synchronizer and the scene stage: it
decodes the bags with rosbags, builds the tick grid, takes the as-of
detections and lanes message at each tick, assigns boxes to lane regions
and folds the ticks into scenes (merge_gap_ms and min_scene_ms included),
exactly as CONTRACT.md describes. It prints one line per scene:

    <bag_file>  <start_time_ns>  <end_time_ns>  <scene_length_ms>  start=<n> max=<n>

With `--lake` it also compares them with `LAKE_DIR/dynamodb/scenes.jsonl`
(scene_id, times, length and counts; exit 1 on a difference). `--ticks`
prints every tick with a non-zero count. Only the keys of the Configuration
section are read from the config; everything else keeps its default.

INPUT is a ROS1 `.bag` (known by its `#ROSBAG V2.0` magic), read with
rosbags' AnyReader in bag order (`messages_in_bag_order`), or a ROS 2 input:
a rosbag2 directory, an `.mcap` or a `.db3` (also as whole-file `.zstd`),
read the way `rosbags_parity.py` reads it (`load_ros2`: storage files in
contract order, messages in log-time order with ties in bag order, the
embedded definitions, else `[extract] msg_paths` (relative to the config
file), else the built-in set) and mapped to the rows the lake holds
(`decode_expected`: `Mapping2`, so Time/Duration fields are ns). For ROS 2,
a message that does not decode, or a connection that cannot be decoded,
gives no row, so it is neither a tick-grid time nor an as-of candidate; a
synchronized topic is one whose type (per connection, under the ROS 2
mapping) has no Binary field. The field paths of the config are looked up
the same way in a ROS1 message object and in a ROS 2 row.
"""

from __future__ import annotations

import argparse
import bisect
import json
import dataclasses
import sys
import tempfile
import tomllib
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rosbags_parity import (  # noqa: E402
    AnyReader, BINARY_ELEMENTS, BINARY_ELEMENTS2, CannotRead, Mapping, Nodetype, Ros2Types, bag_file_of,
    decode_expected, from_dynamo, load_ros2, messages_in_bag_order,
)

ROS1_MAGIC = b"#ROSBAG V2.0"

DEFAULTS = {
    "extract": {"topics": []},
    "sync": {"interval_ms": 100, "topics": [], "max_age_ms": 0},
    "scenes": {"person_classes": ["person"], "min_scene_ms": 0, "merge_gap_ms": 0},
    "detections": {"topic": "/rgb_right_detections_only", "boxes": "detections.bboxes", "class": "Class",
                   "score": None, "x": "x", "y": "y", "width": "width", "height": "height"},
    "lanes": {"topic": "/post_process/lane_points/rgb_front_right", "lanes": "lanes",
              "points": "image_points", "x": "x", "y": "y"},
}


def load_config(path: Path | None) -> dict[str, dict]:
    cfg = {k: dict(v) for k, v in DEFAULTS.items()}
    if path is None:
        return cfg
    raw = tomllib.loads(path.read_text())
    for section in ("extract", "sync"):
        cfg[section].update(raw.get(section, {}))
    # msg_paths are relative to the configuration file (as bagpipe reads them)
    cfg["extract"]["msg_paths"] = [path.parent / p for p in cfg["extract"].get("msg_paths", [])]
    scenes = dict(raw.get("scenes", {}))
    det = scenes.pop("detections", {})
    lanes = scenes.pop("lanes", {})
    cfg["scenes"].update(scenes)
    if any(k in det for k in ("xmin", "ymin", "xmax", "ymax")):
        for k in ("x", "y", "width", "height"):
            cfg["detections"].pop(k)
    cfg["detections"].update(det)
    cfg["lanes"].update(lanes)
    return cfg


def get_path(obj: Any, path: str) -> Any:
    """A dotted field path in a rosbags message object (ROS1) or in a row of
    the contract's mapping (ROS 2: dicts keyed by field name)."""
    for part in path.split("."):
        obj = obj[part] if isinstance(obj, dict) else getattr(obj, part)
    return obj


# ----- geometry: geo's Covers on a polygon given as its ring of points

def on_segment(p, a, b) -> bool:
    cross = (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])
    return (cross == 0 and min(a[0], b[0]) <= p[0] <= max(a[0], b[0])
            and min(a[1], b[1]) <= p[1] <= max(a[1], b[1]))


def covers(ring, p) -> bool:
    n = len(ring)
    if any(on_segment(p, ring[i], ring[(i + 1) % n]) for i in range(n)):
        return True
    inside = False
    for i in range(n):
        (x1, y1), (x2, y2) = ring[i], ring[(i + 1) % n]
        if (y1 > p[1]) != (y2 > p[1]):
            if p[0] < x1 + (p[1] - y1) * (x2 - x1) / (y2 - y1):
                inside = not inside
    return inside


def lane_regions(lanes_msg: Any, cfg: dict) -> list[tuple[str, list]]:
    lanes = []
    for lane in get_path(lanes_msg, cfg["lanes"]):
        pts = [(float(get_path(p, cfg["x"])), float(get_path(p, cfg["y"])))
               for p in get_path(lane, cfg["points"])]
        if len(pts) >= 2:
            lanes.append(pts)
    lanes.sort(key=lambda pts: sum(p[0] for p in pts) / len(pts))   # stable
    out = []
    for i in range(len(lanes) - 1):
        ring = sorted(lanes[i], key=lambda p: p[1]) + sorted(lanes[i + 1], key=lambda p: p[1], reverse=True)
        out.append((f"between_{i}_and_{i + 1}", ring))
    return out


def box_of(box: Any, cfg: dict) -> tuple[float, float, float, float]:
    if "xmin" in cfg:
        x0, y0 = float(get_path(box, cfg["xmin"])), float(get_path(box, cfg["ymin"]))
        x1, y1 = float(get_path(box, cfg["xmax"])), float(get_path(box, cfg["ymax"]))
        return (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0
    return tuple(float(get_path(box, cfg[k])) for k in ("x", "y", "width", "height"))


def objects_in_lane(det_msg: Any, lanes_msg: Any, cfg: dict) -> list[dict]:
    dcfg = cfg["detections"]
    regs = lane_regions(lanes_msg, cfg["lanes"])
    out = []
    for box in get_path(det_msg, dcfg["boxes"]):
        x, y, w, h = box_of(box, dcfg)
        corners = [(x - w / 2, y - h / 2), (x + w / 2, y - h / 2), (x - w / 2, y + h / 2), (x + w / 2, y + h / 2)]
        hit, names = 0, []
        for c in corners:
            inside = [name for name, ring in regs if covers(ring, c)]
            if inside:
                hit += 1
            names += [n for n in inside if n not in names]
        if hit:
            out.append({"class": get_path(box, dcfg["class"]),
                        "score": float(get_path(box, dcfg["score"])) if dcfg.get("score") else None,
                        "x": x, "y": y, "width": w, "height": h, "corners_in_lane": hit, "lanes": names})
    return out


def has_binary(mapping: Mapping, desc_list, binary=BINARY_ELEMENTS) -> bool:
    """Whether a column of the type is Binary at any depth (`binary`: the
    element types of Binary arrays, BINARY_ELEMENTS2 under ROS 2)."""
    for _, _, desc in desc_list:
        d = desc
        while d[0] in (Nodetype.ARRAY, Nodetype.SEQUENCE):
            if d[1][0][0] == Nodetype.BASE and d[1][0][1][0] in binary:
                return True
            d = d[1][0]
        if d[0] == Nodetype.NAME and not d[1].startswith("builtin_interfaces/") \
                and has_binary(mapping, mapping.columns(d[1]), binary):
            return True
    return False


def is_ros1_bag(bag: Path) -> bool:
    if bag.is_dir():
        return False
    with bag.open("rb") as f:
        return f.read(len(ROS1_MAGIC)) == ROS1_MAGIC


def read_ros1(bag: Path, cfg: dict) -> tuple[dict[str, list[int]], dict[str, list]]:
    """Per synchronized topic, its log times in row order; for the
    detections and lanes topics also the messages (rosbags objects)."""
    reader = AnyReader([bag])
    reader.open()
    try:
        mapping = Mapping(reader.typestore)
        extract = set(cfg["extract"]["topics"])
        sync_topics = set(cfg["sync"]["topics"])
        times: dict[str, list[int]] = defaultdict(list)
        wanted = {cfg["detections"]["topic"], cfg["lanes"]["topic"]}
        msgs: dict[str, list] = defaultdict(list)
        for conn, t, raw in messages_in_bag_order(reader):
            if extract and conn.topic not in extract:
                continue
            if sync_topics:
                if conn.topic not in sync_topics:
                    continue
            elif has_binary(mapping, mapping.columns(conn.msgtype)):
                continue
            times[conn.topic].append(t)
            if conn.topic in wanted:
                msgs[conn.topic].append(reader.deserialize(raw, conn.msgtype))
    finally:
        reader.close()
    return times, msgs


def read_ros2(bag: Path, cfg: dict) -> tuple[dict[str, list[int]], dict[str, list]]:
    """The same for a ROS 2 input, through rosbags_parity's ROS 2 reader:
    the messages are the rows of the contract's ROS 2 mapping (dicts)."""
    types = Ros2Types(list(cfg["extract"].get("msg_paths", [])))
    with tempfile.TemporaryDirectory(prefix="bagpipe-scenes-") as tmp:
        try:
            bagx = load_ros2(bag, Path(tmp), types)
        except CannotRead as exc:
            raise SystemExit(f"rosbags cannot read {bag}: {exc}") from None
    extract = set(cfg["extract"]["topics"])
    sync_topics = set(cfg["sync"]["topics"])
    wanted = {cfg["detections"]["topic"], cfg["lanes"]["topic"]}
    synced: dict[int, bool] = {}     # per connection (id of its LConn)

    def is_synced(lc) -> bool:
        if id(lc) not in synced:
            res = lc.res
            if extract and lc.topic not in extract:
                ok = False
            elif not res.version:          # not decodable: no table
                ok = False
            elif sync_topics:
                ok = lc.topic in sync_topics
            else:
                binary = BINARY_ELEMENTS if res.gen == 1 else BINARY_ELEMENTS2
                ok = not has_binary(res.mapping, res.mapping.columns(res.typename), binary)
            synced[id(lc)] = ok
        return synced[id(lc)]

    bagx = dataclasses.replace(bagx, messages=[m for m in bagx.messages if is_synced(m[3])])
    times: dict[str, list[int]] = defaultdict(list)
    msgs: dict[str, list] = defaultdict(list)
    for lc, t, row, _why in decode_expected(bagx):
        if row is None:                    # skipped alone: no row
            continue
        times[lc.topic].append(t)
        if lc.topic in wanted:
            msgs[lc.topic].append(row)
    return times, msgs


def scenes_of(bag: Path, cfg: dict, print_ticks: bool) -> list[dict]:
    bag_file = bag_file_of(bag)
    times, msgs = (read_ros1 if is_ros1_bag(bag) else read_ros2)(bag, cfg)
    det_topic, lanes_topic = cfg["detections"]["topic"], cfg["lanes"]["topic"]
    if not times or det_topic not in times or lanes_topic not in times:
        return []
    interval = int(cfg["sync"]["interval_ms"]) * 1_000_000
    max_age = int(cfg["sync"]["max_age_ms"]) * 1_000_000
    t_min = min(ts[0] for ts in times.values())
    t_max = max(ts[-1] for ts in times.values())
    k0 = -(-t_min // interval)
    ticks = [k * interval for k in range(k0, t_max // interval + 1)]

    def as_of(topic: str, t: int):
        i = bisect.bisect_right(times[topic], t) - 1     # ties: the last in bag order
        if i < 0 or (max_age and t - times[topic][i] > max_age):
            return None
        return msgs[topic][i]

    persons = set(cfg["scenes"]["person_classes"])
    counts = []
    for t in ticks:
        det, lanes = as_of(det_topic, t), as_of(lanes_topic, t)
        n = 0
        if det is not None and lanes is not None:
            objs = objects_in_lane(det, lanes, cfg)
            n = sum(1 for o in objs if o["class"] in persons)
            if print_ticks and objs:
                print(f"  tick {t}: {n} people, in lane: " +
                      ", ".join(f"{o['class']}({o['corners_in_lane']} {'/'.join(o['lanes'])})" for o in objs))
        counts.append(n)

    # fold ticks into scenes: [start index, end time]
    raw_scenes = []
    start = None
    for i, n in enumerate(counts):
        if n >= 1 and start is None:
            start = i
        elif n == 0 and start is not None:
            raw_scenes.append([ticks[start], ticks[i]])
            start = None
    if start is not None:
        raw_scenes.append([ticks[start], ticks[-1] + interval])
    merge_gap = int(cfg["scenes"]["merge_gap_ms"]) * 1_000_000
    merged = []
    for s in raw_scenes:
        if merged and s[0] - merged[-1][1] < merge_gap:
            merged[-1][1] = s[1]
        else:
            merged.append(s)
    min_len = int(cfg["scenes"]["min_scene_ms"]) * 1_000_000
    out = []
    for s0, s1 in merged:
        if s1 - s0 < min_len:
            continue
        idx = [i for i, t in enumerate(ticks) if s0 <= t < s1]
        out.append({
            "bag_file": bag_file,
            "scene_id": f"{bag_file}_PersonInLane_{s0}",
            "start_time_ns": s0, "end_time_ns": s1, "scene_length_ms": (s1 - s0) / 1e6,
            "num_people_in_scene_start": counts[idx[0]],
            "max_people_in_lane": max(counts[i] for i in idx),
            "topics_analyzed": [det_topic, lanes_topic],
        })
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description="Expected person-in-lane scenes of ROS1 bags and ROS 2 inputs "
                                             "(reference).")
    ap.add_argument("--config", type=Path)
    ap.add_argument("--lake", type=Path, help="compare with LAKE/dynamodb/scenes.jsonl")
    ap.add_argument("--ticks", action="store_true", help="print the ticks with objects in lane")
    ap.add_argument("bags", nargs="+", type=Path, metavar="INPUT",
                    help="a ROS1 .bag, a rosbag2 directory, an .mcap or a .db3 (also .zstd)")
    args = ap.parse_args()
    cfg = load_config(args.config)
    expected = []
    for bag in args.bags:
        scenes = scenes_of(bag, cfg, args.ticks)
        for s in scenes:
            print(f"{s['bag_file']}  {s['start_time_ns']}  {s['end_time_ns']}  {s['scene_length_ms']:8.1f} ms"
                  f"  start={s['num_people_in_scene_start']} max={s['max_people_in_lane']}")
        expected += scenes
    if args.lake is None:
        return 0
    path = args.lake / "dynamodb" / "scenes.jsonl"
    got = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                item = {k: from_dynamo(v) for k, v in json.loads(line)["Item"].items()}
                got[(item["bag_file"], item["scene_id"])] = item
    bag_files = {bag_file_of(b) for b in args.bags}
    want = {(s["bag_file"], s["scene_id"]): s for s in expected}
    bad = 0
    for key in sorted(set(want) | {k for k in got if k[0] in bag_files}):
        w, g = want.get(key), got.get(key)
        if w is None or g is None:
            bad += 1
            print(f"MISMATCH scene {key[1]}: expected {'none' if w is None else 'a scene'}, "
                  f"got {'none' if g is None else 'a scene'}")
            continue
        for k in ("start_time_ns", "end_time_ns", "scene_length_ms", "num_people_in_scene_start",
                  "max_people_in_lane", "topics_analyzed", "scene_type"):
            wv = w.get(k, "PersonInLane" if k == "scene_type" else None)
            if g.get(k) != wv and not (k == "scene_length_ms" and float(g.get(k, "nan")) == wv):
                bad += 1
                print(f"MISMATCH scene {key[1]} {k}: expected {wv!r}, got {g.get(k)!r}")
    print(f"scenes: {len(want)} expected, {sum(1 for k in got if k[0] in bag_files)} in the lake, "
          f"{bad} mismatches")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
