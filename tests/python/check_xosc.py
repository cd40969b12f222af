#!/usr/bin/env python3
"""Check scenario skeletons (ASAM OpenSCENARIO XML 1.2) with ASAM's own tools.

    python3 tests/python/check_xosc.py FILE.xosc [FILE.xosc ...] [--keep-reports DIR]

For each file (CONTRACT.md, "Scene exports and the bag report", "Scenario
skeleton"; design notes SCENE-EXPORT.md §1.1 and §5):

1. XSD: valid against the OpenSCENARIO 1.2 schema shipped in
   `asam-qc-openscenarioxml` 1.0.0 (`qc_openscenario/schema/1.2.0/
   OpenSCENARIO.xsd`), validated with lxml; one mismatch per schema error.
2. ASAM's checker bundle: `qc_openscenario -c config.xml` (the package's
   console script) is run with a config written to a temporary directory;
   its `.xqar` report is parsed. Every issue (any level) is a mismatch, a
   checker that ended in error or without a status is a mismatch, and the
   checkers it skipped are listed as `note:` lines (without an OpenDRIVE
   file the traffic-signal checks skip: "Cannot read xodr file").
   `--keep-reports DIR` keeps each `.xqar` there.
3. Content: `FileHeader` revMajor 1, revMinor 2; a `ScenarioObject` named
   `Ego` holding a `Vehicle`; at least one `ScenarioObject` holding a
   `Pedestrian`; a `FollowTrajectoryAction` whose trajectory shape is a
   `Polyline` of at least 2 `Vertex`es, each with a numeric `time`
   (a `$Parameter` is resolved through `ParameterDeclarations`), the times
   non-decreasing, in a ManeuverGroup whose actors include `Ego`.

Output: `MISMATCH <file>: ...` lines, `note: <file>: ...` lines, then one
line per file, `OK <file>: N vertices, S checks skipped` or
`FAIL <file>: K mismatches`.
Exit status: 0 when every file passes, 1 on any mismatch, 2 on a usage
error (a missing file, no `qc_openscenario` on PATH).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from xml.sax.saxutils import quoteattr

from lxml import etree


def xsd_path() -> Path:
    import qc_openscenario
    return Path(qc_openscenario.__file__).parent / "schema" / "1.2.0" / "OpenSCENARIO.xsd"


class UsageError(Exception):
    pass


class FileReport:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0

    def bad(self, text: str) -> None:
        self.count += 1
        print(f"MISMATCH {self.path}: {text}")

    def note(self, text: str) -> None:
        print(f"note: {self.path}: {text}")


def qc_command() -> list[str]:
    exe = shutil.which("qc_openscenario")
    if exe is None:
        # the console script lives beside this interpreter when installed with pip
        cand = Path(sys.executable).parent / "qc_openscenario"
        if cand.exists():
            exe = str(cand)
    if exe is None:
        raise UsageError("qc_openscenario not found (pip install -r tests/requirements.txt)")
    return [exe]


def run_qc(rep: FileReport, path: Path, keep: Path | None) -> int:
    """Runs ASAM's checker bundle; returns the number of skipped checks."""
    with tempfile.TemporaryDirectory(prefix="bagpipe-check-xosc-") as tmp:
        tmpd = Path(tmp)
        result = tmpd / (path.stem + ".xqar")
        config = tmpd / "config.xml"
        config.write_text(
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            "<Config>\n"
            f'  <Param name="InputFile" value={quoteattr(str(path.resolve()))}/>\n'
            '  <CheckerBundle application="xoscBundle">\n'
            f'    <Param name="resultFile" value={quoteattr(str(result))}/>\n'
            "  </CheckerBundle>\n"
            "</Config>\n", encoding="utf-8")
        p = subprocess.run([*qc_command(), "-c", str(config)], capture_output=True, text=True, cwd=tmpd,
                           timeout=300)
        if p.returncode != 0 or not result.is_file():
            tail = " | ".join((p.stdout + p.stderr).strip().splitlines()[-5:])
            rep.bad(f"qc_openscenario failed (exit {p.returncode}, report {'written' if result.is_file() else 'missing'}): {tail}")
            return 0
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(result, keep / result.name)
        root = etree.parse(str(result)).getroot()
    skipped = 0
    checkers = root.findall(".//Checker")
    if not checkers:
        rep.bad("qc_openscenario report lists no checker")
    for ch in checkers:
        cid = ch.get("checkerId")
        status = ch.get("status")
        if status == "skipped":
            skipped += 1
            rep.note(f"qc_openscenario skipped {cid}: {ch.get('summary')}")
        elif status != "completed":
            rep.bad(f"qc_openscenario checker {cid} status {status!r}: {ch.get('summary')}")
        for issue in ch.findall("Issue"):
            locs = [loc.get("description") or "" for loc in issue.findall("Locations")]
            xp = [x.get("xpath") for x in issue.iter("XMLLocation")]
            rep.bad(f"qc_openscenario {cid} (level {issue.get('level')}): {issue.get('description')}"
                    + (f" [{'; '.join(l.strip() for l in locs if l.strip())}]" if any(locs) else "")
                    + (f" at {', '.join(xp)}" if xp and not any(locs) else ""))
    return skipped


def param_value(root, value: str | None) -> str | None:
    if value is None or not value.startswith("$"):
        return value
    name = value[1:]
    for decl in root.iter("ParameterDeclaration"):
        if decl.get("name") == name:
            return decl.get("value")
    return None


def check_content(rep: FileReport, doc) -> int:
    root = doc.getroot()
    if root.tag != "OpenSCENARIO":
        rep.bad(f"root element {root.tag!r}, expected OpenSCENARIO")
        return 0
    fh = root.find("FileHeader")
    if fh is None:
        rep.bad("no FileHeader")
    elif (fh.get("revMajor"), fh.get("revMinor")) != ("1", "2"):
        rep.bad(f"FileHeader revMajor={fh.get('revMajor')!r} revMinor={fh.get('revMinor')!r}, expected 1 and 2")
    objects = root.findall("./Entities/ScenarioObject")
    ego = [o for o in objects if o.get("name") == "Ego"]
    if not ego:
        rep.bad(f"no ScenarioObject named 'Ego' (entities: {[o.get('name') for o in objects]})")
    elif ego[0].find("Vehicle") is None:
        rep.bad("ScenarioObject 'Ego' is not a Vehicle")
    if not any(o.find("Pedestrian") is not None for o in objects):
        rep.bad("no ScenarioObject holding a Pedestrian")
    ftas = list(root.iter("FollowTrajectoryAction"))
    if not ftas:
        rep.bad("no FollowTrajectoryAction")
        return 0
    vertices_total = 0
    for k, fta in enumerate(ftas):
        where = f"FollowTrajectoryAction {k + 1}"
        mg = next((a for a in fta.iterancestors("ManeuverGroup")), None)
        actors = [e.get("entityRef") for e in mg.findall("./Actors/EntityRef")] if mg is not None else []
        if "Ego" not in actors:
            rep.bad(f"{where}: its ManeuverGroup's actors are {actors}, expected to include 'Ego'")
        poly = fta.find("./Trajectory/Shape/Polyline")
        if poly is None:
            # 1.2 also allows TrajectoryRef to a catalog; the skeleton embeds its trajectory
            rep.bad(f"{where}: no Trajectory/Shape/Polyline")
            continue
        vertices = poly.findall("Vertex")
        vertices_total += len(vertices)
        if len(vertices) < 2:
            rep.bad(f"{where}: polyline has {len(vertices)} vertices, expected at least 2")
        times = []
        for i, v in enumerate(vertices):
            raw = v.get("time")
            val = param_value(root, raw)
            try:
                times.append(float(val))
            except (TypeError, ValueError):
                rep.bad(f"{where}: vertex {i} time {raw!r} is not a number")
        for i in range(1, len(times)):
            if times[i] < times[i - 1]:
                rep.bad(f"{where}: vertex {i} time {times[i]} is before vertex {i - 1} ({times[i - 1]})")
                break
        if fta.find("TimeReference/Timing") is None:
            rep.note(f"{where}: TimeReference has no Timing (the vertex times are ignored)")
    return vertices_total


def check_file(path: Path, keep: Path | None) -> int:
    rep = FileReport(path)
    try:
        doc = etree.parse(str(path))
    except etree.XMLSyntaxError as exc:
        rep.bad(f"not well-formed XML: {exc}")
        print(f"FAIL {path}: {rep.count} mismatches")
        return 1
    schema = etree.XMLSchema(etree.parse(str(xsd_path())))
    if not schema.validate(doc):
        for err in schema.error_log:
            rep.bad(f"XSD 1.2 line {err.line}: {err.message}")
    skipped = run_qc(rep, path, keep)
    vertices = check_content(rep, doc)
    if rep.count:
        print(f"FAIL {path}: {rep.count} mismatches")
        return 1
    print(f"OK {path}: {vertices} vertices, {skipped} checks skipped")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Check OpenSCENARIO 1.2 skeletons with the 1.2 XSD and ASAM's "
                                             "qc_openscenario.")
    ap.add_argument("files", nargs="+", type=Path, metavar="FILE.xosc")
    ap.add_argument("--keep-reports", type=Path, metavar="DIR", help="keep each .xqar report in DIR")
    args = ap.parse_args(argv)
    for f in args.files:
        if not f.is_file():
            ap.error(f"{f}: no such file")
    try:
        qc_command()
        failed = sum(check_file(f, args.keep_reports) for f in args.files)
    except UsageError as exc:
        print(f"check_xosc: {exc}", file=sys.stderr)
        return 2
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
