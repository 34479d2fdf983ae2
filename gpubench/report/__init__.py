"""HTML comparison reports and run-to-run comparison. Reads run folders through `gpubench.store`; never
imports torch, so results from any machine can be analysed on any laptop.

    path = render_report(["results/*"], baseline="results/2024..._a100")   # -> reports/<name>.html
    frame = compare_runs("results/before", "results/after", threshold_pct=5.0)
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path

from gpubench.report.compare import compare_runs, regressions
from gpubench.report.data import ReportData, load_report_data
from gpubench.report.sections import SECTIONS, Block, Section
from gpubench.store import atomic_write

DEFAULT_DIR = Path("reports")

PathLike = str | os.PathLike[str]


def build_sections(
    data: ReportData, sections: Sequence[Section] | None = None
) -> list[tuple[str, str, list[Block]]]:
    """Run every section builder; keep those with something to show: (key, title, blocks)."""
    out = []
    for section in SECTIONS if sections is None else sections:
        blocks = section.build(data)
        if blocks:
            out.append((section.key, section.title, blocks))
    return out


def _default_name(data: ReportData) -> str:
    if len(data.series) == 1:
        return data.series[0].run_id
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}_{len(data.series)}-runs"


def build_report(
    paths: Iterable[PathLike], baseline: PathLike | None = None, title: str | None = None
) -> str:
    """The report's HTML text for run folders (paths or globs), baseline defaulting to the first run."""
    data = load_report_data(paths, baseline)
    return _html(data, title)


def _html(data: ReportData, title: str | None) -> str:
    from gpubench.report.page import render_page

    devices = list(dict.fromkeys(s.device_name for s in data.series))
    title = title or ("gpubench: " + (" vs ".join(devices[:4]) + (" …" if len(devices) > 4 else "")))
    subtitle = f"{len(data.series)} run(s) · baseline {data.baseline.label}"
    return render_page(build_sections(data), title, subtitle)


def render_report(
    paths: Iterable[PathLike],
    out: PathLike | None = None,
    baseline: PathLike | None = None,
    title: str | None = None,
) -> Path:
    """Write one self-contained HTML report comparing run folders (paths and globs, any mix of machines).

    `out` defaults to reports/<run id or time_N-runs>.html; `baseline` (default: the first run) is what the
    scorecard's speed-ups are relative to. Returns the path written.
    """
    data = load_report_data(paths, baseline)
    text = _html(data, title)
    path = (
        Path(out)
        if out is not None
        else DEFAULT_DIR / f"{re.sub(r'[^A-Za-z0-9._-]+', '-', _default_name(data))}.html"
    )
    atomic_write(path, text.encode("utf-8"), make_parents=True)  # a bad -o path: one line naming it
    return path


__all__ = [
    "SECTIONS",
    "ReportData",
    "Section",
    "build_report",
    "build_sections",
    "compare_runs",
    "load_report_data",
    "regressions",
    "render_report",
]
