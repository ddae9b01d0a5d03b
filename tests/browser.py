"""Load a page qtrade wrote in headless Chromium, as a reader's browser would, and report what went wrong there.

:func:`load_page` copies the page beside itself with a probe script at the top of its ``<head>`` and opens the copy
with ``--dump-dom``. The probe records every console error, uncaught exception, unhandled rejection and resource
that failed to load, and, once the page has loaded, whether each chart is drawn: an ``<img>`` with pixels
(``naturalWidth`` > 0) or an ``<svg>`` whose drawing has an area. Chromium writes a NetLog of every request; a
request the page made (one with an initiator: the browser's own background calls have none) to anything but a
local file is a request leaving the machine. The host resolver maps every name to nothing, so none really leaves.

Chromium is found on the PATH. Where it is not, :func:`require_chromium` skips the test, saying so; with
``QTRADE_CI=1`` (set by ``.ci/run``) the conftest turns that skip into a failure that names chromium.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["PageLoad", "load_page", "require_chromium"]

_PROBE = """<script>(function () {
  var errors = [], error = console.error;
  console.error = function () {
    errors.push("console.error: " + Array.prototype.map.call(arguments, String).join(" "));
    return error.apply(console, arguments);
  };
  window.addEventListener("error", function (e) {
    var t = e.target;
    if (t && t !== window && (t.src || t.href)) { errors.push("failed to load " + (t.src || t.href)); }
    else { errors.push("uncaught: " + e.message); }
  }, true);
  window.addEventListener("unhandledrejection", function (e) { errors.push("unhandled rejection: " + e.reason); });
  function drawn(el) {
    if (el.tagName.toLowerCase() === "img") {
      return {kind: "img", name: (el.getAttribute("src") || "").slice(0, 80), ok: el.complete && el.naturalWidth > 0
              && el.naturalHeight > 0};
    }
    var box = null;
    try { box = el.getBBox(); } catch (err) { box = null; }
    var marks = el.querySelectorAll("path,rect,line,polyline,polygon,circle,ellipse,use,image,text").length;
    return {kind: "svg", name: el.id || el.getAttribute("class") || "", marks: marks,
            ok: marks > 0 && box !== null && box.width > 0 && box.height > 0};
  }
  window.addEventListener("load", function () {
    setTimeout(function () {
      var charts = [];
      document.querySelectorAll("img, svg").forEach(function (el) {
        if (el.tagName.toLowerCase() === "svg" && el.parentElement && el.parentElement.closest("svg")) { return; }
        charts.push(drawn(el));
      });
      document.documentElement.setAttribute("data-qtrade-probe", JSON.stringify({errors: errors, charts: charts}));
    }, 0);
  });
})();</script>"""

_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--disable-default-apps",
    "--enable-logging=stderr",
    "--v=0",
    "--virtual-time-budget=15000",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--dump-dom",
]


@dataclass(frozen=True)
class PageLoad:
    """What happened when a page loaded: errors (console, script, resources), requests that left the machine,
    and each chart (``kind``, ``name``, ``ok``: drawn with an area)."""

    errors: list[str]
    outside_requests: list[str]
    charts: list[dict[str, object]]

    @property
    def blank_charts(self) -> list[dict[str, object]]:
        return [c for c in self.charts if not c["ok"]]


def require_chromium() -> str:
    """The path of Chromium; skips the test (a failure in CI, through the conftest) when there is none."""
    path = shutil.which("chromium")
    if path is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium): pages are not loaded in a browser")
    return path


def load_page(page: Path, *, timeout: float = 120.0) -> PageLoad:
    """Open ``page`` in headless Chromium and report its errors, outside requests and charts."""
    chromium = require_chromium()
    html = page.read_text(encoding="utf-8")
    head = html.lower().find("<head>")
    at = head + len("<head>") if head >= 0 else html.lower().find("<html>") + len("<html>")
    copy = page.with_name(f".probe-{os.getpid()}-{page.name}")  # beside it: relative image paths still resolve
    copy.write_text(html[:at] + _PROBE + html[at:], encoding="utf-8")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            netlog = Path(tmp) / "net.json"
            run = subprocess.run(
                [
                    chromium,
                    *_FLAGS,
                    f"--user-data-dir={tmp}/profile",
                    f"--log-net-log={netlog}",
                    copy.resolve().as_uri(),
                ],
                capture_output=True,
                text=True,
                timeout=timeout,
            )
            requests = _page_requests(netlog)
    finally:
        copy.unlink(missing_ok=True)
    dom = run.stdout
    marker = 'data-qtrade-probe="'
    if marker not in dom:
        raise AssertionError(f"the page did not finish loading in Chromium: {run.stderr[-2000:]}")
    raw = dom[dom.index(marker) + len(marker) :]
    probe = json.loads(_unescape(raw[: raw.index('"')]))
    uncaught = [line for line in run.stderr.splitlines() if ":CONSOLE" in line and "Uncaught" in line]
    outside = [u for u in requests if not u.startswith(("file:", "data:", "blob:", "about:"))]
    return PageLoad(list(probe["errors"]) + uncaught, outside, list(probe["charts"]))


def _unescape(text: str) -> str:
    return (
        text.replace("&quot;", '"')
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
    )


def _page_requests(netlog: Path) -> list[str]:
    """URLs of the requests the page made (those with an initiator), from Chromium's NetLog."""
    try:
        log = json.loads(netlog.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # Chromium ends the file when it exits; a cut file still lists its events
        text = netlog.read_text(encoding="utf-8").rstrip().rstrip(",")
        log = json.loads(text + "]}")
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [
        e["params"]["url"]
        for e in log["events"]
        if e["type"] == start and e.get("params", {}).get("initiator", "not an origin") != "not an origin"
    ]
