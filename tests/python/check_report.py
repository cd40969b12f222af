#!/usr/bin/env python3
"""Check a bag report (self-contained HTML) in a real headless browser.

    python3 tests/python/check_report.py REPORT.html --scenes N --topics M
            [--screenshot OUT.png] [--max-seconds S] [--allow-link PREFIX ...]
            [--repeat K] [--timeout S] [--browser PATH]

Needs Debian's `chromium` (`apt-get install -y chromium`; `--browser`
names another binary). The browser is run as the tests run (root), with
`--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
--disable-background-networking --disable-component-update --disable-sync
--user-data-dir=<fresh temporary directory> --window-size=1200,2000`
(plus `--host-resolver-rules=MAP * ~NOTFOUND`, so nothing a report names
is fetched): once with `--screenshot=OUT.png` and once with `--dump-dom`; and, to
time the render, `--repeat` times (default 2; the fastest counts) with
`--remote-debugging-pipe`, driven over the DevTools protocol on fds 3/4
by this script (no extra package).

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
- the render time is printed: `rendered in X s`, X being the time from
  `Page.navigate` until a screenshot of the laid-out, painted viewport is
  captured (the browser's start and exit, about 1 s of wall time here and
  noisy, are not counted; the load event and first contentful paint are
  printed too); `--max-seconds S` makes X > S a mismatch (the Rust
  side's target: a report of 100 scenes renders in under a second; a
  synthetic 100-scene, 0.9 MB report took about 0.5 s here).

Output: `MISMATCH ...` lines, `rendered in X s (...)`, then
`OK <report>: N scene bars, N cards, M topic rows` or
`FAIL <report>: K mismatches`.
Exit status: 0 on success, 1 on any mismatch, 2 on a usage error (a
missing file, no browser).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import select
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


def set_height(height: int) -> None:
    """Use a taller (or shorter) window than the default."""
    global HEIGHT
    HEIGHT = height
    BROWSER_FLAGS[:] = [f"--window-size={WIDTH},{HEIGHT}" if f.startswith("--window-size=") else f
                        for f in BROWSER_FLAGS]

BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--window-size={WIDTH},{HEIGHT}",
                 # beyond the flags above: resolve no host name, so a report that
                 # names a URL fails the DOM check below without any traffic
                 "--host-resolver-rules=MAP * ~NOTFOUND"]
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


def _cdp_child_fds(read_fd: int, write_fd: int):
    """In the child: the DevTools pipe on fds 3 (commands in) and 4
    (replies out), as `--remote-debugging-pipe` expects."""
    def setup() -> None:
        r, w = os.dup2(read_fd, 100), os.dup2(write_fd, 101)
        os.dup2(r, 3)
        os.dup2(w, 4)
    return setup


def timed_render(browser: str, url: str, timeout: float) -> dict:
    """Loads the page once in a browser driven over the DevTools protocol
    (`--remote-debugging-pipe`, no extra package), with the same flags, and
    measures from `Page.navigate` to the load event and to a captured
    screenshot of the viewport (laid out and painted). The browser's own
    start and exit are not counted. Returns seconds and the page's paint
    timings (ms)."""
    cmd_r, cmd_w = os.pipe()
    out_r, out_w = os.pipe()
    with tempfile.TemporaryDirectory(prefix="bagpipe-chromium-") as profile:
        proc = subprocess.Popen([browser, *BROWSER_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe",
                                 "about:blank"], preexec_fn=_cdp_child_fds(cmd_r, out_w), pass_fds=(3, 4),
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(cmd_r)
        os.close(out_w)
        buf = b""
        next_id = 0
        deadline = time.monotonic() + timeout

        def send(method: str, params: dict | None = None, session: str | None = None) -> int:
            nonlocal next_id
            next_id += 1
            msg = {"id": next_id, "method": method, "params": params or {}}
            if session:
                msg["sessionId"] = session
            os.write(cmd_w, json.dumps(msg).encode() + b"\0")
            return next_id

        def wait(pred) -> dict:
            nonlocal buf
            while True:
                while b"\0" in buf:
                    raw, buf = buf.split(b"\0", 1)
                    msg = json.loads(raw)
                    if pred(msg):
                        if "error" in msg:
                            raise RuntimeError(f"DevTools error: {msg['error']}")
                        return msg
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no answer from the browser in {timeout} s")
                ready, _, _ = select.select([out_r], [], [], left)
                if ready:
                    chunk = os.read(out_r, 1 << 20)
                    if not chunk:
                        raise EOFError("the browser closed the DevTools pipe")
                    buf += chunk

        def call(method: str, params: dict | None = None, session: str | None = None) -> dict:
            i = send(method, params, session)
            return wait(lambda m: m.get("id") == i)

        try:
            targets = call("Target.getTargets")["result"]["targetInfos"]
            target = next(t["targetId"] for t in targets if t["type"] == "page")
            sid = call("Target.attachToTarget", {"targetId": target, "flatten": True})["result"]["sessionId"]
            call("Page.enable", session=sid)
            t0 = time.monotonic()
            call("Page.navigate", {"url": url}, session=sid)
            wait(lambda m: m.get("method") == "Page.loadEventFired" and m.get("sessionId") == sid)
            t_load = time.monotonic() - t0
            call("Page.captureScreenshot", {"format": "png"}, session=sid)
            t_shot = time.monotonic() - t0
            expr = "JSON.stringify(performance.getEntriesByType('paint').map(p => [p.name, p.startTime]))"
            res = call("Runtime.evaluate", {"expression": expr, "returnByValue": True}, session=sid)
            paints = dict(json.loads(res["result"]["result"].get("value") or "[]"))
            try:
                send("Browser.close")
            except OSError:
                pass
        finally:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            os.close(cmd_w)
            os.close(out_r)
    return {"load": t_load, "painted": t_shot, "paints": paints}


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
    ap.add_argument("--height", type=int, default=HEIGHT, metavar="PX",
                    help=f"browser window (and screenshot) height, default {HEIGHT}")
    ap.add_argument("--max-seconds", type=float, metavar="S", help="fail when the render takes longer")
    ap.add_argument("--allow-link", action="append", default=[], metavar="PREFIX",
                    help="also accept URLs starting with PREFIX (e.g. a viewer's https URL)")
    ap.add_argument("--browser", help="browser binary (default: chromium on PATH)")
    ap.add_argument("--timeout", type=float, default=120, help="seconds per browser run (default 120)")
    ap.add_argument("--repeat", type=int, default=2, metavar="K",
                    help="timed (DevTools) loads of the report, the fastest counts (default 2)")
    args = ap.parse_args(argv)
    if args.height != HEIGHT:
        set_height(args.height)
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
        try:
            timing, timing_error = None, None
            for _ in range(args.repeat):
                try:
                    t = timed_render(browser, url, args.timeout)
                except Exception as exc:
                    timing_error = f"{type(exc).__name__}: {exc}"
                    continue
                if timing is None or t["painted"] < timing["painted"]:
                    timing = t
            t_shot, ps = run_browser(browser, [f"--screenshot={png}"], url, args.timeout)
            t_dom, pd = run_browser(browser, ["--dump-dom"], url, args.timeout)
        except subprocess.TimeoutExpired as exc:
            rep.bad(f"the browser did not finish in {args.timeout} s: {exc.cmd[-2:]}")
            print(f"FAIL {args.report}: {rep.count} mismatches")
            return 1
        except OSError as exc:
            print(f"check_report: cannot run {browser}: {exc}", file=sys.stderr)
            return 2
        if timing is None:
            msg = f"render time unknown: the DevTools run failed ({timing_error})"
            if args.max_seconds is not None:
                rep.bad(msg)
            else:
                print(f"note: {msg}")
        else:
            fcp = timing["paints"].get("first-contentful-paint")
            print(f"rendered in {timing['painted']:.2f} s (navigation to a captured screenshot; load event at "
                  f"{timing['load']:.2f} s" + (f", first contentful paint at {fcp / 1000:.2f} s" if fcp else "")
                  + f"; fastest of {args.repeat}; whole browser runs: --screenshot {t_shot:.2f} s, "
                  f"--dump-dom {t_dom:.2f} s)")
            if args.max_seconds is not None and timing["painted"] > args.max_seconds:
                rep.bad(f"rendering took {timing['painted']:.2f} s, more than --max-seconds {args.max_seconds}")

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
                    print(f"screenshot{' ' + str(png) if args.screenshot else ''}: {size[0]}x{size[1]}, "
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
