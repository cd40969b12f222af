#!/usr/bin/env python3
"""Check a bag report (self-contained HTML) in a real headless browser.

    python3 tests/python/check_report.py REPORT.html --scenes N --topics M
            [--screenshot OUT.png] [--max-seconds S] [--allow-link PREFIX ...]
            [--browser PATH]

Needs Debian's `chromium` (`apt-get install -y chromium`; `--browser`
names another binary). The browser is run as the tests run (root), with
`--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
--disable-background-networking --disable-component-update --disable-sync
--user-data-dir=<fresh temporary directory> --window-size=1200,2000`:
a screenshot of a blank page (to time the browser's own start and
exit), then with `--screenshot=OUT.png` on the report (each of these two
`--repeat` times, default 2, the fastest counting), then with
`--dump-dom`.

Checks (CONTRACT.md, "Scene exports and the bag report", "Report"; design
notes SCENE-EXPORT.md §3):

- the screenshot exists, is a 1200x2000 PNG, and is not blank (more than
  8 distinct colours; read with Pillow);
- the rendered DOM (what `--dump-dom` prints, i.e. after the browser
  parsed it) has exactly N elements with class `scene-bar` (one per scene
  in the timeline), N with class `scene-card` and M with class
  `topic-row`;
- nothing needs the network or a script: no `<script>` element, no
  `on*=` event attribute, no `javascript:` URL; every `src`, and every
  `href` that is not on an `<a>` (SVG `<image>`, `<use>`, `<link>`), is a
  `data:` URI or an in-page `#fragment`; an `<a href>` is an in-page
  `#fragment` or a relative link to a clip, label, scenario or report
  (`.mcap`, `.openlabel.json`, `.xosc`, `.html`), never `http:`/`https:`
  (nor any other scheme) unless it starts with an `--allow-link` prefix;
  no CSS `url(...)` other than `data:`/`#` and no `@import`; `srcset`,
  `poster`, `<object data>`, `<iframe>`, `<embed>`, `<base>` are refused;
- the render time is printed: `rendered in X s`, X being the report
  screenshot run's wall time minus the blank-page screenshot run's (the
  browser's start and exit, about 1 s here); `--max-seconds S` makes X > S a mismatch (the Rust side's target:
  a report of 100 scenes renders in under a second).

Output: `MISMATCH ...` lines, `rendered in X s (...)`, then
`OK <report>: N scene bars, N cards, M topic rows` or
`FAIL <report>: K mismatches`.
Exit status: 0 on success, 1 on any mismatch, 2 on a usage error (a
missing file, no browser).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

WIDTH, HEIGHT = 1200, 2000
MIN_COLOURS = 8
BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--window-size={WIDTH},{HEIGHT}"]
LINK_SUFFIXES = (".mcap", ".openlabel.json", ".xosc", ".html")
URL_ATTRS = ("src", "href", "xlink:href", "action", "formaction", "data", "poster", "srcset", "background",
             "ping", "manifest", "longdesc", "cite")
CSS_URL = re.compile(r"url\(\s*(['\"]?)(.*?)\1\s*\)", re.I | re.S)


class UsageError(Exception):
    pass


class Report:
    def __init__(self) -> None:
        self.count = 0

    def bad(self, text: str) -> None:
        self.count += 1
        print(f"MISMATCH {text}")


# --------------------------------------------------------------------------
# The browser
# --------------------------------------------------------------------------

def find_browser(name: str | None) -> str:
    for cand in ([name] if name else ["chromium", "chromium-browser"]):
        path = shutil.which(cand) or (cand if Path(cand).is_file() else None)
        if path:
            return path
    raise UsageError("no chromium found: apt-get install -y chromium (or give --browser PATH)")


def run_browser(browser: str, extra: list[str], url: str, timeout: float) -> tuple[float, subprocess.CompletedProcess]:
    with tempfile.TemporaryDirectory(prefix="bagpipe-chromium-") as profile:
        cmd = [browser, *BROWSER_FLAGS, f"--user-data-dir={profile}", *extra, url]
        t0 = time.monotonic()
        p = subprocess.run(cmd, capture_output=True, timeout=timeout)
        return time.monotonic() - t0, p


def stderr_tail(p: subprocess.CompletedProcess) -> str:
    lines = [l for l in p.stderr.decode("utf-8", "replace").splitlines()
             if "dbus" not in l and "unexpected operator" not in l]
    return " | ".join(lines[-4:])


# --------------------------------------------------------------------------
# The DOM
# --------------------------------------------------------------------------

class DomScan(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.classes: Counter = Counter()
        self.tags: Counter = Counter()
        self.urls: list[tuple[str, str, str]] = []        # (tag, attribute, value)
        self.events: list[tuple[str, str]] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        self.tags[tag] += 1
        for name, value in attrs:
            value = value or ""
            if name == "class":
                for c in value.split():
                    self.classes[c] += 1
            elif name.startswith("on"):
                self.events.append((tag, name))
            elif name == "style":
                self.styles.append(value)
            elif name in URL_ATTRS:
                self.urls.append((tag, name, value.strip()))
        if tag == "style":
            self._in_style = True

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.styles.append(data)


def is_relative_link(url: str) -> bool:
    if url.startswith("//") or re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", url):
        return False
    path = url.split("#", 1)[0].split("?", 1)[0]
    return path.endswith(LINK_SUFFIXES)


def check_dom(rep: Report, dom: str, scenes: int, topics: int, allow: list[str]) -> None:
    scan = DomScan()
    scan.feed(dom)
    scan.close()
    for cls, want in (("scene-bar", scenes), ("scene-card", scenes), ("topic-row", topics)):
        if scan.classes[cls] != want:
            rep.bad(f"{scan.classes[cls]} elements with class {cls!r}, expected {want}")
    if scan.tags["script"]:
        rep.bad(f"{scan.tags['script']} <script> elements (the report must need no script)")
    for tag in ("iframe", "embed", "object", "base", "frame"):
        if scan.tags[tag]:
            rep.bad(f"{scan.tags[tag]} <{tag}> elements")
    for tag, name in scan.events:
        rep.bad(f"<{tag} {name}=...>: event handler attribute (a script)")
    for tag, name, url in scan.urls:
        low = url.lower()
        if low.startswith("javascript:"):
            rep.bad(f"<{tag} {name}={url[:80]!r}>: javascript URL")
        elif any(url.startswith(p) for p in allow):
            continue
        elif tag == "a" and name in ("href", "xlink:href"):
            if not (url.startswith("#") or is_relative_link(url)):
                rep.bad(f"<a href={url[:120]!r}>: links must be in-page (#...) or relative to a clip, label, "
                        f"scenario or report ({', '.join(LINK_SUFFIXES)})")
        elif name in ("src", "href", "xlink:href", "data", "poster", "background"):
            if not (low.startswith("data:") or url.startswith("#")):
                rep.bad(f"<{tag} {name}={url[:120]!r}>: not a data: URI (images and resources must be inline)")
        elif name == "srcset":
            if any(not part.strip().lower().startswith("data:") for part in url.split(",") if part.strip()):
                rep.bad(f"<{tag} srcset={url[:120]!r}>: not data: URIs")
        else:
            rep.bad(f"<{tag} {name}={url[:120]!r}>: a URL attribute the report has no use for")
    for css in scan.styles:
        if re.search(r"@import", css, re.I):
            rep.bad("CSS @import (a network fetch)")
        for _, u in CSS_URL.findall(css):
            u = u.strip()
            if not (u.lower().startswith("data:") or u.startswith("#")):
                rep.bad(f"CSS url({u[:120]}): not a data: URI")
    return scan


def count_colours(png: Path) -> tuple[tuple[int, int], int]:
    from PIL import Image
    with Image.open(png) as im:
        im.load()
        size = im.size
        colours = im.convert("RGB").getcolors(maxcolors=1 << 24)
    return size, len(colours or [])


# --------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Render a bagpipe bag report in headless Chromium and check it.")
    ap.add_argument("report", type=Path, metavar="REPORT.html")
    ap.add_argument("--scenes", type=int, required=True, metavar="N", help="scenes of the bag (scene bars and cards)")
    ap.add_argument("--topics", type=int, required=True, metavar="M", help="topics of the bag (topic rows)")
    ap.add_argument("--screenshot", type=Path, metavar="OUT.png", help="keep the screenshot here")
    ap.add_argument("--max-seconds", type=float, metavar="S", help="fail when the render takes longer")
    ap.add_argument("--allow-link", action="append", default=[], metavar="PREFIX",
                    help="also accept URLs starting with PREFIX (e.g. a viewer's https URL)")
    ap.add_argument("--browser", help="browser binary (default: chromium on PATH)")
    ap.add_argument("--timeout", type=float, default=120, help="seconds per browser run (default 120)")
    ap.add_argument("--repeat", type=int, default=2, metavar="K",
                    help="timed runs (blank page, report screenshot) K times each, the fastest counts (default 2)")
    args = ap.parse_args(argv)
    if not args.report.is_file():
        ap.error(f"{args.report}: no such file")
    if args.scenes < 0 or args.topics < 0:
        ap.error("--scenes and --topics are counts")
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    try:
        browser = find_browser(args.browser)
    except UsageError as exc:
        print(f"check_report: {exc}", file=sys.stderr)
        return 2
    rep = Report()
    url = args.report.resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="bagpipe-check-report-") as tmp:
        png = args.screenshot.resolve() if args.screenshot else Path(tmp) / "report.png"
        png.parent.mkdir(parents=True, exist_ok=True)
        if png.exists():
            png.unlink()
        blank_png = Path(tmp) / "blank.png"
        try:
            # each timed run twice, the faster counts: a browser start varies by
            # a few hundred ms from run to run
            t_blank, pb = min((run_browser(browser, [f"--screenshot={blank_png}"], "about:blank", args.timeout)
                               for _ in range(args.repeat)), key=lambda r: r[0])
            t_shot, ps = min((run_browser(browser, [f"--screenshot={png}"], url, args.timeout)
                              for _ in range(args.repeat)), key=lambda r: r[0])
            t_dom, pd = run_browser(browser, ["--dump-dom"], url, args.timeout)
        except subprocess.TimeoutExpired as exc:
            rep.bad(f"the browser did not finish in {args.timeout} s: {exc.cmd[-2:]}")
            print(f"FAIL {args.report}: {rep.count} mismatches")
            return 1
        except OSError as exc:
            print(f"check_report: cannot run {browser}: {exc}", file=sys.stderr)
            return 2
        if pb.returncode != 0:
            print(f"check_report: {browser} fails on a blank page (exit {pb.returncode}): {stderr_tail(pb)}",
                  file=sys.stderr)
            return 2
        render = max(0.0, t_shot - t_blank)
        print(f"rendered in {render:.2f} s (report screenshot run {t_shot:.2f} s minus blank-page screenshot run "
              f"{t_blank:.2f} s, fastest of {args.repeat} each; DOM dump run {t_dom:.2f} s)")
        if args.max_seconds is not None and render > args.max_seconds:
            rep.bad(f"rendering took {render:.2f} s, more than --max-seconds {args.max_seconds}")

        # ----- screenshot
        if ps.returncode != 0:
            rep.bad(f"screenshot run exited {ps.returncode}: {stderr_tail(ps)}")
        if not png.is_file():
            rep.bad(f"no screenshot written ({png})")
        else:
            try:
                size, colours = count_colours(png)
            except Exception as exc:
                rep.bad(f"screenshot unreadable as PNG: {type(exc).__name__}: {exc}")
            else:
                if size != (WIDTH, HEIGHT):
                    rep.bad(f"screenshot is {size[0]}x{size[1]}, expected {WIDTH}x{HEIGHT}")
                if colours <= MIN_COLOURS:
                    rep.bad(f"screenshot has {colours} distinct colours: blank (expected more than {MIN_COLOURS})")
                else:
                    print(f"screenshot {png.name if not args.screenshot else png}: {size[0]}x{size[1]}, "
                          f"{colours} colours")

        # ----- DOM
        if pd.returncode != 0:
            rep.bad(f"DOM dump run exited {pd.returncode}: {stderr_tail(pd)}")
        dom = pd.stdout.decode("utf-8", "replace")
        if "<html" not in dom.lower():
            rep.bad(f"the DOM dump is not an HTML document ({len(dom)} characters)")
        else:
            check_dom(rep, dom, args.scenes, args.topics, args.allow_link)
    if rep.count:
        print(f"FAIL {args.report}: {rep.count} mismatches")
        return 1
    print(f"OK {args.report}: {args.scenes} scene bars, {args.scenes} cards, {args.topics} topic rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
