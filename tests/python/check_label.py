#!/usr/bin/env python3
"""Check a scene label (ASAM OpenLABEL 1.0.0 JSON) against the schema and the lake.

    python3 tests/python/check_label.py LABEL.json --lake LAKE --bag BAG_FILE \\
            --scene SCENE_ID [--interval-ms 100] [--max-mismatches N]

LAKE is bagpipe's output root (a local directory or `file://` URL),
BAG_FILE the bag's `bag_file`, SCENE_ID the scene's `scene_id`,
`--interval-ms` the `[sync] interval_ms` the lake was made with.
Install: `pip install -r tests/requirements.txt`.

1. Schema. The official OpenLABEL 1.0.0 JSON schema (draft-07) as shipped
   in `openlabel-checker` 0.1.0
   (`openlabel_checker/schema_data/openlabel_json_schema-v1.0.0.json`),
   validated with `jsonschema.Draft7Validator`: one mismatch per error.
   Then the package's own checker (`openlabel_checker.check_file`, the API
   behind its console script `openlabel-check`: the schema again plus its
   semantic checks: frame intervals, element references, geometry,
   timestamps, coordinate systems, data pointers, duplicate UIDs): every
   error or warning it reports is a mismatch; checks it skipped are listed.
2. Content, against the lake read with pyarrow (not with bagpipe):
   the scene's row in `LAKE/scenes/bag_file=BAG/*.parquet` (its
   `start_time_ns`, `end_time_ns`), `LAKE/scene_detections/bag_file=BAG/`
   (`objects_in_lane` per tick) and `LAKE/synchronized/bag_file=BAG/`
   (is an ego speed known?). The label is read as this shape, which the
   Rust side writes:

       {"openlabel": {
         "metadata": {"schema_version": "1.0.0", "name": SCENE_ID, ...},
         "ontologies": {"0": <ASAM scenario tags ontology>, "1": ..., ...},
         "frame_intervals": [{"frame_start": 0, "frame_end": N-1}],
         "frames": {"<i>": {"frame_properties": {"timestamp": <t_i / 1e9, a JSON number with 9 decimals>},
                            "objects": {"<uid>": {"object_data": {
                                "bbox": [{"name": "box", "val": [x, y, w, h]}],
                                "num": [{"name": "score", "val": score}]}}}}},   # num absent when score is null
         "objects": {"<uid>": {"name": ..., "type": <class>, "ontology_uid": "1",
                               "frame_intervals": [{"frame_start": i, "frame_end": i}]}},
         "actions": {"<uid>": {"name": ..., "type": "PersonInLane", "ontology_uid": ...,
                               "frame_intervals": [{"frame_start": 0, "frame_end": N-1}]}},
         "tags": {"<uid>": {"type": "HumanPedestrian", "ontology_uid": "0"},
                  "<uid>": {"type": "SubjectVehicleSpeed", "ontology_uid": "0",
                            "tag_data": {"vec": [{"type": "range", "val": [min, max]}]}}, ...}}}

   - ticks t_i = start + i * interval for start <= t_i < end, N of them;
     frame i for each (keys "0" .. "N-1", no other), timestamp exactly
     t_i / 1e9 written with 9 decimals (read as a decimal, not a float);
   - frame i's objects, ordered by uid as integers, equal the tick's
     `objects_in_lane` (row `time_ns == t_i`; null counts as empty) in list
     order: same count, and per object bbox `[x, y, width, height]`
     (floats, exactly), score (exactly; `num` absent when null), and the
     top-level object's `type` equal to the class; each top-level object is
     in exactly one frame and its `frame_intervals` is that frame alone;
   - exactly one action, of type `PersonInLane`, over all frames;
   - tags: `HumanPedestrian` (ontology "0"); when the synchronized table
     has an ego speed in the scene's ticks (a struct column with a numeric
     `speed` field, as `dbw_msgs/SteeringReport`, or `twist.linear.x`,
     `twist.twist.linear.x`), a `SubjectVehicleSpeed` tag whose
     `tag_data.vec[0]` is `{"type": "range", "val": [min, max]}` with
     min <= max (the numbers are not compared: the unit and the ticks they
     cover are not fixed; the speeds the lake gives are printed as a note);
   - every `ontology_uid` used is declared in `ontologies`, and ontology
     "0" is ASAM's scenario tag ontology
     (`.../openlabel_ontology_scenario_tags.ttl`).

Output: one `MISMATCH ...` line per problem, `note: ...` lines, then
`OK <label>: N frames, M objects` or `FAIL <label>: K mismatches`.
Exit status 0 when the label is right, 1 on any mismatch, 2 on a usage
error (a missing file, a lake without the bag's tables).
"""

from __future__ import annotations

import argparse
import decimal
import json
import math
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ASAM_TAGS_ONTOLOGY = "openlabel_ontology_scenario_tags.ttl"


def schema_path() -> Path:
    import openlabel_checker
    return Path(openlabel_checker.__file__).parent / "schema_data" / "openlabel_json_schema-v1.0.0.json"


class UsageError(Exception):
    pass


class Report:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0

    def bad(self, text: str) -> None:
        self.count += 1
        if self.count <= self.limit:
            print(f"MISMATCH {text}")

    @staticmethod
    def note(text: str) -> None:
        print(f"note: {text}")


# --------------------------------------------------------------------------
# The lake
# --------------------------------------------------------------------------

def read_partition(lake: Path, table: str, bag: str, required: bool = True) -> pa.Table | None:
    d = lake / table / f"bag_file={bag}"
    files = sorted(d.glob("*.parquet"))
    if not files:
        if required:
            raise UsageError(f"{d}: no Parquet files")
        return None
    # each file on its own, without Hive discovery (the partition column is
    # not in the files); columns a part lacks read as null
    tables = [pq.ParquetFile(f).read() for f in files]
    return pa.concat_tables(tables, promote_options="default")


def speed_columns(table: pa.Table) -> dict[str, pa.ChunkedArray]:
    """Ego speed candidates in the synchronized table: per struct column, a
    numeric `speed` field, or `twist.linear.x` / `twist.twist.linear.x`."""
    out = {}
    for name in table.column_names:
        col = table.column(name)
        if not pa.types.is_struct(col.type):
            continue
        for path in (("speed",), ("twist", "linear", "x"), ("twist", "twist", "linear", "x")):
            typ, arr, ok = col.type, col, True
            for part in path:
                if not pa.types.is_struct(typ) or typ.get_field_index(part) < 0:
                    ok = False
                    break
                arr = pa.chunked_array([c.field(part) for c in arr.chunks], type=typ.field(part).type)
                typ = typ.field(part).type
            if ok and (pa.types.is_floating(typ) or pa.types.is_integer(typ)):
                out[name + "." + ".".join(path)] = arr
                break
    return out


# --------------------------------------------------------------------------
# The label
# --------------------------------------------------------------------------

def uid_sort_key(uid: str):
    try:
        return (0, int(uid), uid)
    except ValueError:
        return (1, 0, uid)


def num_equal(a: Any, b: float) -> bool:
    if isinstance(a, bool) or not isinstance(a, (int, float)):
        return False
    if isinstance(b, float) and math.isnan(b):
        return isinstance(a, float) and math.isnan(a)
    return float(a) == b


def single_interval(fi: Any, start: int, end: int) -> bool:
    return fi == [{"frame_start": start, "frame_end": end}]


def check_schema(rep: Report, doc: Any, label: Path) -> None:
    schema = json.loads(schema_path().read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema)
    for err in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in err.absolute_path) or "(root)"
        rep.bad(f"schema: at {where}: {err.message[:300]}")
    # the package's own checker (schema again + semantic checks)
    from openlabel_checker import check_file
    report = check_file(str(label))
    for outcome in report.outcomes:
        if outcome.status != "completed":
            rep.note(f"openlabel-checker: {outcome.checker_id} {outcome.status}")
        for issue in outcome.issues:
            if outcome.checker_id == "check_json_schema" and issue.severity.value == "error":
                continue      # already reported by jsonschema above
            if issue.severity.value in ("error", "warning"):
                rep.bad(f"openlabel-checker {issue.checker_id} ({issue.severity.value}): {issue.message}"
                        + (f" at {issue.path}" if issue.path else ""))
            else:
                rep.note(f"openlabel-checker {issue.checker_id} (info): {issue.message}")


def check(args: argparse.Namespace) -> int:
    rep = Report(args.max_mismatches)
    label: Path = args.label
    raw = label.read_text(encoding="utf-8")
    try:
        doc = json.loads(raw)
        doc_dec = json.loads(raw, parse_float=decimal.Decimal)
    except json.JSONDecodeError as exc:
        rep.bad(f"not valid JSON: {exc}")
        return finish(rep, label, 0, 0)

    check_schema(rep, doc, label)

    lake: Path = args.lake
    interval = args.interval_ms * 1_000_000
    scenes = read_partition(lake, "scenes", args.bag)
    rows = [r for r in scenes.to_pylist() if r.get("scene_id") == args.scene]
    if len(rows) != 1:
        rep.bad(f"the lake has {len(rows)} scene records with scene_id {args.scene!r} in "
                f"scenes/bag_file={args.bag}")
        return finish(rep, label, 0, 0)
    start, end = rows[0]["start_time_ns"], rows[0]["end_time_ns"]
    ticks = list(range(start, end, interval))
    n = len(ticks)
    det = read_partition(lake, "scene_detections", args.bag)
    by_time = {r["time_ns"]: r for r in det.select(["time_ns", "objects_in_lane"]).to_pylist()}

    ol = doc.get("openlabel") if isinstance(doc, dict) else None
    ol_dec = doc_dec.get("openlabel") if isinstance(doc_dec, dict) else None
    if not isinstance(ol, dict):
        rep.bad("no root object 'openlabel'")
        return finish(rep, label, 0, 0)

    # ----- metadata
    md = ol.get("metadata") or {}
    if md.get("schema_version") != "1.0.0":
        rep.bad(f"metadata.schema_version {md.get('schema_version')!r}, expected '1.0.0'")
    if md.get("name") != args.scene:
        rep.bad(f"metadata.name {md.get('name')!r}, expected {args.scene!r}")

    # ----- ontologies
    onts = ol.get("ontologies") if isinstance(ol.get("ontologies"), dict) else {}
    used = set()
    for kind in ("objects", "actions", "tags"):
        for uid, el in (ol.get(kind) or {}).items():
            if isinstance(el, dict) and "ontology_uid" in el:
                used.add((kind, uid, el["ontology_uid"]))
    for kind, uid, ont in sorted(used):
        if ont not in onts:
            rep.bad(f"{kind}.{uid}: ontology_uid {ont!r} is not declared in openlabel.ontologies "
                    f"({sorted(onts)})")
    if "0" in onts:
        o0 = onts["0"]
        uri = o0 if isinstance(o0, str) else (o0.get("uri") if isinstance(o0, dict) else None)
        if not isinstance(uri, str) or not uri.endswith(ASAM_TAGS_ONTOLOGY):
            rep.bad(f"ontologies.0 is {uri!r}; the scenario tags (HumanPedestrian, SubjectVehicleSpeed) need "
                    f"ASAM's {ASAM_TAGS_ONTOLOGY}")

    # ----- frame intervals
    if n == 0:
        rep.bad(f"the scene [{start}, {end}) has no tick at interval {args.interval_ms} ms")
        return finish(rep, label, 0, 0)
    if not single_interval(ol.get("frame_intervals"), 0, n - 1):
        rep.bad(f"frame_intervals {ol.get('frame_intervals')!r}, expected [{{frame_start: 0, frame_end: {n - 1}}}]")

    # ----- frames
    frames = ol.get("frames") if isinstance(ol.get("frames"), dict) else {}
    frames_dec = (ol_dec or {}).get("frames") or {}
    want_keys = {str(i) for i in range(n)}
    for k in sorted(set(frames) - want_keys, key=uid_sort_key):
        rep.bad(f"frame {k!r} is not a tick of the scene (frames are '0'..'{n - 1}')")
    top_objects = ol.get("objects") if isinstance(ol.get("objects"), dict) else {}
    seen_in: dict[str, list[int]] = {}
    n_objects = 0
    for i, t in enumerate(ticks):
        key = str(i)
        if key not in frames:
            rep.bad(f"frame {i} (tick {t}) missing")
            continue
        fr = frames[key] if isinstance(frames[key], dict) else {}
        ts = ((frames_dec.get(key) or {}).get("frame_properties") or {}).get("timestamp")
        want_ts = decimal.Decimal(t).scaleb(-9)
        if not isinstance(ts, decimal.Decimal) or isinstance(ts, bool):
            rep.bad(f"frame {i}: timestamp {ts!r} is not a JSON number (expected {want_ts})")
        elif ts != want_ts or ts.as_tuple().exponent != -9:
            rep.bad(f"frame {i}: timestamp {ts}, expected {want_ts} (seconds, 9 decimals)")
        row = by_time.get(t)
        if row is None:
            rep.bad(f"frame {i}: the lake has no scene_detections row at time_ns={t}")
            continue
        want = row["objects_in_lane"] or []
        objs = fr.get("objects") or {}
        if not isinstance(objs, dict):
            rep.bad(f"frame {i}: objects is not an object")
            continue
        uids = sorted(objs, key=uid_sort_key)
        n_objects += len(uids)
        if len(uids) != len(want):
            rep.bad(f"frame {i} (tick {t}): {len(uids)} objects, the lake has {len(want)} in lane "
                    f"({[o['class'] for o in want]})")
        for j, (uid, w) in enumerate(zip(uids, want)):
            seen_in.setdefault(uid, []).append(i)
            where = f"frame {i} object {uid} (lake object {j}, {w['class']})"
            od = (objs[uid] or {}).get("object_data") if isinstance(objs[uid], dict) else None
            if not isinstance(od, dict):
                rep.bad(f"{where}: no object_data")
                continue
            extra = sorted(set(od) - {"bbox", "num"})
            if extra:
                rep.bad(f"{where}: object_data has {extra} besides bbox and num")
            want_box = [w["x"], w["y"], w["width"], w["height"]]
            bbox = od.get("bbox")
            if not (isinstance(bbox, list) and len(bbox) == 1 and isinstance(bbox[0], dict)
                    and bbox[0].get("name") == "box"):
                rep.bad(f"{where}: bbox {bbox!r}, expected [{{name: 'box', val: {want_box}}}]")
            else:
                val = bbox[0].get("val")
                if not (isinstance(val, list) and len(val) == 4 and all(num_equal(a, b) for a, b in zip(val, want_box))):
                    rep.bad(f"{where}: bbox val {val!r}, the lake has {want_box}")
            num = od.get("num")
            if w["score"] is None:
                if num is not None and any(isinstance(e, dict) and e.get("name") == "score" for e in num or []):
                    rep.bad(f"{where}: has a score {num!r}, the lake's score is null (num must be absent)")
                elif num is not None:
                    rep.bad(f"{where}: num {num!r} present, expected absent (score is null)")
            else:
                if not (isinstance(num, list) and len(num) == 1 and isinstance(num[0], dict)
                        and num[0].get("name") == "score" and num_equal(num[0].get("val"), w["score"])):
                    rep.bad(f"{where}: num {num!r}, expected [{{name: 'score', val: {w['score']!r}}}]")
            top = top_objects.get(uid)
            if not isinstance(top, dict):
                rep.bad(f"{where}: not declared in openlabel.objects")
                continue
            if top.get("type") != w["class"]:
                rep.bad(f"{where}: objects.{uid}.type {top.get('type')!r}, the lake's class is {w['class']!r}")
            if top.get("ontology_uid") != "1":
                rep.bad(f"objects.{uid}.ontology_uid {top.get('ontology_uid')!r}, expected '1'")
            if not isinstance(top.get("name"), str):
                rep.bad(f"objects.{uid}.name {top.get('name')!r} is not a string")
            if not single_interval(top.get("frame_intervals"), i, i):
                rep.bad(f"objects.{uid}.frame_intervals {top.get('frame_intervals')!r}, expected "
                        f"[{{frame_start: {i}, frame_end: {i}}}]")
        for uid in uids[len(want):]:
            seen_in.setdefault(uid, []).append(i)
    for uid, fs in seen_in.items():
        if len(fs) > 1:
            rep.bad(f"object {uid} is in frames {fs}; each object is one tick's detection (one frame)")
    for uid in sorted(set(top_objects) - set(seen_in), key=uid_sort_key):
        rep.bad(f"objects.{uid} is in no frame")

    # ----- actions
    actions = ol.get("actions") if isinstance(ol.get("actions"), dict) else {}
    pil = [(uid, a) for uid, a in actions.items() if isinstance(a, dict) and a.get("type") == "PersonInLane"]
    if len(actions) != 1 or len(pil) != 1:
        rep.bad(f"actions: expected exactly one action of type PersonInLane, got "
                f"{[(u, a.get('type') if isinstance(a, dict) else a) for u, a in actions.items()]}")
    for uid, a in pil:
        if not single_interval(a.get("frame_intervals"), 0, n - 1):
            rep.bad(f"actions.{uid}.frame_intervals {a.get('frame_intervals')!r}, expected "
                    f"[{{frame_start: 0, frame_end: {n - 1}}}]")

    # ----- tags
    tags = ol.get("tags") if isinstance(ol.get("tags"), dict) else {}
    by_type: dict[str, list] = {}
    for uid, tg in tags.items():
        if isinstance(tg, dict):
            by_type.setdefault(tg.get("type"), []).append((uid, tg))
    for typ, lst in by_type.items():
        if len(lst) > 1:
            rep.bad(f"tags: {typ!r} appears {len(lst)} times (a tag must not be repeated)")
    ped = by_type.get("HumanPedestrian", [])
    if not ped:
        rep.bad("tags: no HumanPedestrian tag")
    elif ped[0][1].get("ontology_uid") != "0":
        rep.bad(f"tags.{ped[0][0]} (HumanPedestrian): ontology_uid {ped[0][1].get('ontology_uid')!r}, expected '0'")
    sync = read_partition(lake, "synchronized", args.bag, required=False)
    speeds = {}
    if sync is not None:
        in_scene = pc.and_(pc.greater_equal(sync.column("time_ns"), start),
                                   pc.less(sync.column("time_ns"), end))
        for name, arr in speed_columns(sync).items():
            vals = [v for v in arr.filter(in_scene).to_pylist() if v is not None and not math.isnan(v)]
            if vals:
                speeds[name] = (min(vals), max(vals))
    svs = by_type.get("SubjectVehicleSpeed", [])
    if speeds:
        rep.note("ego speed in the scene's ticks: " + ", ".join(
            f"{k} {lo:.3f}..{hi:.3f} m/s ({lo * 3.6:.2f}..{hi * 3.6:.2f} km/h)" for k, (lo, hi) in speeds.items()))
        if not svs:
            rep.bad("tags: no SubjectVehicleSpeed tag, but the synchronized table has an ego speed "
                    f"({', '.join(speeds)})")
    for uid, tg in svs:
        if tg.get("ontology_uid") != "0":
            rep.bad(f"tags.{uid} (SubjectVehicleSpeed): ontology_uid {tg.get('ontology_uid')!r}, expected '0'")
        vec = ((tg.get("tag_data") or {}).get("vec") if isinstance(tg.get("tag_data"), dict) else None)
        v0 = vec[0] if isinstance(vec, list) and vec else None
        val = v0.get("val") if isinstance(v0, dict) else None
        if not (isinstance(v0, dict) and v0.get("type") == "range" and isinstance(val, list) and len(val) == 2
                and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in val) and val[0] <= val[1]):
            rep.bad(f"tags.{uid} (SubjectVehicleSpeed): tag_data {tg.get('tag_data')!r}, expected "
                    "{vec: [{type: 'range', val: [min, max]}]} with min <= max")
        else:
            rep.note(f"SubjectVehicleSpeed range in the label: {val}")
    return finish(rep, label, n, len(top_objects))


def finish(rep: Report, label: Path, frames: int, objects: int) -> int:
    if rep.count:
        if rep.count > rep.limit:
            print(f"... {rep.count - rep.limit} more mismatches not shown")
        print(f"FAIL {label}: {rep.count} mismatches")
        return 1
    print(f"OK {label}: {frames} frames, {objects} objects")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Check a bagpipe scene label (OpenLABEL 1.0.0) against the "
                                             "schema and the lake.")
    ap.add_argument("label", type=Path, metavar="LABEL.json")
    ap.add_argument("--lake", required=True, help="bagpipe output root (directory or file:// URL)")
    ap.add_argument("--bag", required=True, metavar="BAG_FILE", help="the bag's bag_file")
    ap.add_argument("--scene", required=True, metavar="SCENE_ID")
    ap.add_argument("--interval-ms", type=int, default=100, metavar="MS", help="[sync] interval_ms (default 100)")
    ap.add_argument("--max-mismatches", type=int, default=200, metavar="N")
    args = ap.parse_args(argv)
    args.lake = Path(args.lake.removeprefix("file://"))
    if not args.label.is_file():
        ap.error(f"{args.label}: no such file")
    if not args.lake.is_dir():
        ap.error(f"--lake {args.lake}: not a directory")
    if args.interval_ms <= 0:
        ap.error("--interval-ms must be positive")
    try:
        return check(args)
    except UsageError as exc:
        print(f"check_label: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
