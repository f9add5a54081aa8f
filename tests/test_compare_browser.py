"""The comparison report in a real browser: headless Chromium renders it to a non-blank
screenshot, and the page loads no external resource (static scan, rendered DOM, network log).

Skipped only when Chromium is absent outside CI; ``.ci/run`` installs Debian's chromium, and
with ``CI=true`` a missing browser fails the test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from simulator.compare import compare
from tests.test_compare import impact_scenario

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str:
    found = shutil.which("chromium") or (
        "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None
    )
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium is missing in CI: .ci/run must install Debian's chromium")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    return found


def browse(page: Path, work: Path, *extra: str) -> subprocess.CompletedProcess:
    """Run headless Chromium on ``page`` with a fresh profile directory."""
    profile = work / f"profile-{len(list(work.glob('profile-*')))}"
    return subprocess.run(
        [chromium(), *FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def page_requests(net_log: Path) -> list[str]:
    """URLs of the requests that the *page* started (the browser's own background requests have
    no page origin as initiator)."""
    log = json.loads(net_log.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for event in log["events"]:
        params = event.get("params", {})
        if event["type"] == start and params.get("initiator", "not an origin") != "not an origin":
            urls.append(params["url"])
    return urls


def external(urls: list[str]) -> list[str]:
    return [u for u in urls if not u.startswith(("data:", "file:"))]


def test_report_renders_in_chromium_and_loads_nothing_external(tmp_path):
    report = tmp_path / "report"
    compare(impact_scenario(), paths=16).write(report)
    page = report / "report.html"
    text = page.read_text()
    # static scan: every resource is inline
    assert not re.search(r"https?://|<script|<link|@import|url\(", text, re.IGNORECASE)
    sources = re.findall(r'\b(?:src|href)="([^"]*)"', text)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)

    shot, net = tmp_path / "shot.png", tmp_path / "net.json"
    run = browse(
        page, tmp_path, f"--screenshot={shot}", "--window-size=1280,1400", f"--log-net-log={net}"
    )
    assert shot.exists(), run.stderr[-2000:]
    pixels = imread(shot)[..., :3]
    assert pixels.shape[0] >= 1000 and pixels.shape[1] == 1280
    not_white = np.any(pixels < 0.95, axis=-1).mean()
    assert not_white > 0.02  # text, tables and figures, not a blank page
    assert external(page_requests(net)) == []

    dom = browse(page, tmp_path, "--dump-dom")
    assert "marketgame compare" in dom.stdout and "<img" in dom.stdout
    assert not re.search(r"https?://", dom.stdout)


def test_the_network_check_sees_an_external_resource(tmp_path):
    # Control: a page with an external image and stylesheet is caught by the same check.
    page = tmp_path / "external.html"
    page.write_text(
        '<html><body><p>x</p><img src="http://127.0.0.1:9/x.png">'
        '<link rel="stylesheet" href="https://example.invalid/a.css"></body></html>'
    )
    net = tmp_path / "net.json"
    browse(page, tmp_path, f"--screenshot={tmp_path / 'x.png'}", f"--log-net-log={net}")
    assert set(external(page_requests(net))) == {
        "http://127.0.0.1:9/x.png",
        "https://example.invalid/a.css",
    }
