"""HTML comparison reports and run-to-run comparison. Reads run folders through `gpubench.store`; never
imports torch, so results from any machine can be analysed on any laptop.

    path = render_report(["results/*"], baseline="results/2024..._a100")   # -> reports/<name>.html
    path = render_report(["results/*"], lang="hu", fmt="md")                 # a Markdown summary in Hungarian
    frame = compare_runs("results/before", "results/after", threshold_pct=5.0)
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path

from gpubench.errors import GpubenchError
from gpubench.output import write_output
from gpubench.report.blocks import Block, Prose, Section
from gpubench.report.compare import compare_runs, regressions
from gpubench.report.data import ReportData, load_report_data
from gpubench.report.explain import explanation
from gpubench.report.fields import case_records, to_csv, to_json
from gpubench.report.i18n import languages, load_messages
from gpubench.report.sections import SECTIONS
from gpubench.report.summary import markdown_summary
from gpubench.report.verdict import resolve_against

DEFAULT_DIR = Path("reports")

PathLike = str | os.PathLike[str]


def build_sections(data: ReportData, sections: Sequence[Section] | None = None) -> list[tuple[str, str, list[Block]]]:
    """Run every section builder; keep those with something to show: (key, title, blocks). A section's
    heading and its plain-words explanation (first block) come from the report's message catalogue."""
    out = []
    for section in SECTIONS if sections is None else sections:
        blocks = section.build(data)
        if not blocks:
            continue
        paragraphs = explanation(data, section.key)
        if paragraphs:
            blocks = [Prose(paragraphs), *blocks]
        out.append((section.key, data.msg(f"section.{section.key}.title", default=section.title), blocks))
    return out


def _default_name(data: ReportData) -> str:
    if len(data.per_run.series) == 1:
        return data.series[0].run_id
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}_{len(data.per_run.series)}-runs"


def _load(
    paths: Iterable[PathLike],
    baseline: PathLike | None,
    lang: str,
    against: Sequence[str],
    fleet: bool | None = None,
    labels: Sequence[str] = (),
) -> ReportData:
    load_messages(lang)  # a bad --lang fails before any folder is read
    return load_report_data(paths, baseline, lang=lang, against=resolve_against(against), fleet=fleet, labels=labels)


def build_report(
    paths: Iterable[PathLike],
    baseline: PathLike | None = None,
    title: str | None = None,
    lang: str = "en",
    against: Sequence[str] = (),
) -> str:
    """The report's HTML text for run folders (paths or globs), baseline defaulting to the first run."""
    return _html(_load(paths, baseline, lang, against), title)


def _html(data: ReportData, title: str | None) -> str:
    from gpubench.report.page import render_page

    t = data.msg
    devices = list(dict.fromkeys(s.device_name for s in data.series))
    title = title or ("gpubench: " + (" vs ".join(devices[:4]) + (" …" if len(devices) > 4 else "")))
    subtitle = t("page.subtitle", n=len(data.per_run.series), baseline=data.baseline.label)
    return render_page(build_sections(data), title, subtitle, t)


FORMATS = ("html", "md", "csv", "json")


def render_report(
    paths: Iterable[PathLike],
    out: PathLike | None = None,
    baseline: PathLike | None = None,
    title: str | None = None,
    lang: str = "en",
    fmt: str = "html",
    against: Sequence[str] = (),
    fleet: bool | None = None,
    labels: Sequence[str] = (),
) -> Path:
    """Write one report comparing run folders (paths and globs, any mix of machines).

    `fmt`: html (self-contained, works offline), md (a Markdown summary to paste: verdict, headline table,
    every case, environment), csv or json (every case, one field list: gpubench.report.fields.FIELDS). `out` defaults to reports/<run id or time_N-runs>.<fmt>;
    `baseline` (default: the first run) is what speed-ups are relative to; `lang` picks the catalogue
    (en, hu, ...); `against` adds catalog devices to the verdict; `fleet` pools runs of one device model
    that measured the same cases (None: from 4 such runs, True: from 2, False: never); `labels` name the runs
    in order. Returns the path written.
    """
    if fmt not in FORMATS:
        raise GpubenchError(f"--format {fmt!r}: not one of {', '.join(FORMATS)}")
    data = _load(paths, baseline, lang, against, fleet, labels)
    if fmt == "html":
        text = _html(data, title)
    elif fmt == "md":
        text = markdown_summary(data, title)
    else:
        records = case_records(data)
        text = to_csv(records) if fmt == "csv" else to_json(records)
    path = (
        os.fspath(out)
        if out is not None
        else DEFAULT_DIR / f"{re.sub(r'[^A-Za-z0-9._-]+', '-', _default_name(data))}.{fmt}"
    )
    write_output(path, text)  # `-`, devices, pipes and symlinks as the user meant them; a bad path: one line
    return Path(path)


__all__ = [
    "FORMATS",
    "SECTIONS",
    "ReportData",
    "Section",
    "build_report",
    "build_sections",
    "compare_runs",
    "languages",
    "load_report_data",
    "regressions",
    "render_report",
]
