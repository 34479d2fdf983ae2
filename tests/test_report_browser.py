"""The report in a real browser: headless Chromium loads the file offline, every figure draws, no JS error.

Needs Debian's `chromium` (apt-get install -y chromium); skipped without it. The screenshot lands in
test-artifacts/ (gitignored) for a human to look at.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from fixtures_runs import write_fleet, write_run

from gpubench.report import render_report

pytestmark = pytest.mark.browser

CHROMIUM = next(
    (
        p
        for p in (shutil.which("chromium"), shutil.which("chromium-browser"), "/usr/bin/chromium")
        if p and Path(p).exists()
    ),
    None,
)
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def _chromium(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    args = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=10000",
        *extra,
        page.resolve().as_uri(),
    ]
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (apt-get install -y chromium)")
def test_report_renders_in_chromium(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    folders = write_fleet(runs, hostile=True)
    folders.append(write_run(runs, "4090", host="workstation-2", seed=9, speed=1.05))  # two runs of one device
    page = render_report(folders, out=tmp_path / "report.html")

    dom = _chromium(page, tmp_path / "profile", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", dom.stdout)
    assert body is not None, dom.stdout[:500]
    attrs = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', body.group(1)))
    errors = re.search(r'id="gb-errors"[^>]*>([^<]*)<', dom.stdout)
    assert attrs.get("errors") == "0", errors.group(1) if errors else attrs
    assert attrs.get("done") == "1", "the renderer did not finish within the virtual time budget"
    assert int(attrs["figures"]) >= 10
    assert attrs.get("rendered") == attrs["figures"], attrs  # every figure produced Plotly's SVG
    assert "pwned" not in attrs  # nothing from a results file ran as code
    assert dom.stdout.count('class="main-svg"') >= int(attrs["figures"])

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)
    res = _chromium(page, tmp_path / "profile2", "--hide-scrollbars", "--window-size=1400,9000", f"--screenshot={shot}")
    assert res.returncode == 0 and shot.is_file() and shot.stat().st_size > 50_000, res.stderr[-2000:]
    shutil.copy(page, ARTIFACTS / "report.html")
