"""Shareable summaries of a report: Markdown to paste into an issue or a forum post (the verdict, the
headline table, the environment) and CSV of the headline table. Same data and words as the HTML page."""

from __future__ import annotations

import io

from gpubench.output import csv_writer, markdown_prose, markdown_text
from gpubench.report.data import ReportData, fmt_num, headline_metrics, is_num, multiple_text, scorecard
from gpubench.report.verdict import comparison_rows, has_interval, trust_warnings, verdict_paragraphs

CSV_COLUMNS = ("series", "device", "vendor", "runs", "metric", "label", "value", "unit", "ratio_to_baseline", "case_id")
"""Columns of the CSV summary (stable English names: it is read by scripts)."""


def _md_cell(text: object) -> str:
    """Run data in a Markdown table cell or list item: one line, no link, image, HTML or pipe forms from it."""
    return markdown_text(text)


def _md_text(text: str) -> str:
    """Prose (gpubench's words around run data): `**bold**` stays, nothing else from run data is markup."""
    return markdown_prose(text)


def _headline(data: ReportData) -> tuple[list[str], list[tuple[str, list[str]]]]:
    metrics = headline_metrics(data)
    card = scorecard(data, metrics)
    keys = list(dict.fromkeys(m.key for m in metrics))
    label = {m.key: f"{m.label} ({m.unit})" for m in metrics}
    rows = []
    for s in data.series:
        mine = card[card["run_id"] == s.run_id].set_index("key") if not card.empty else card
        cells = []
        for k in keys:
            if k not in getattr(mine, "index", []):
                cells.append("–")
                continue
            r = mine.loc[k]
            text = fmt_num(r["value"])
            if s.run_id != data.baseline.run_id and is_num(r["ratio"]):
                text += f" ({multiple_text(r['ratio'])})"
            cells.append(text)
        rows.append((s.label, cells))
    return [label[k] for k in keys], rows


def _environment(data: ReportData) -> list[tuple[str, str]]:
    t = data.msg
    out = []
    for s in data.series:
        m = s.meta
        dev, sw = m.get("device") or {}, m.get("software") or {}
        parts = [
            f"{t('runs.col.host')}: {s.host}",
            f"torch {sw.get('torch') or '–'}",
        ]
        for key, name in (("cuda", "CUDA"), ("hip", "HIP")):
            value = sw.get(key) or dev.get(key)
            if value:
                parts.append(f"{name} {value}")
        if dev.get("driver"):
            parts.append(f"{t('runs.col.driver')} {dev['driver']}")
        parts.append(f"gpubench {m.get('gpubench_version') or '–'}")
        suite = (m.get("suite") or {}).get("name")
        if suite:
            parts.append(f"{t('runs.col.suite')} {suite}")
        started = str(m.get("started_utc") or "").replace("T", " ").rstrip("Z")[:16]
        if started:
            parts.append(f"{t('runs.col.started')} {started}")
        reader = (m.get("telemetry") or {}).get("reader")
        if reader:
            parts.append(f"{t('runs.col.telemetry')} {reader}")
        out.append((s.label, " · ".join(parts)))
    return out


def markdown_summary(data: ReportData, title: str | None = None) -> str:
    """The report as Markdown: verdict, warnings, comparison, headline table, environment."""
    t = data.msg
    devices = list(dict.fromkeys(s.device_name for s in data.series))
    lines = [f"## {_md_text(title or 'gpubench: ' + ' vs '.join(devices[:4]))}", ""]
    rows = comparison_rows(data)
    lines += [_md_text(p) + "\n" for p in verdict_paragraphs(data, rows)]
    warnings = trust_warnings(data)
    if warnings:
        lines.append(f"**{_md_text(t('verdict.warn_title'))}**\n")
        lines += [f"- {_md_text(w)}" for w in warnings]
        lines.append("")
    if rows:
        lines.append(f"### {_md_text(t('summary.comparison'))}\n")
        lines.append(
            f"| {t('summary.device')} | {t('summary.workload')} | {t('summary.value')} | "
            f"× {_md_cell(data.baseline.label)} | {t('summary.basis')} |"
        )
        lines.append("|---|---|---:|---:|---|")
        for r in rows:
            span = f" ({multiple_text(r.low)}–{multiple_text(r.high)})" if has_interval(r) else ""
            lines.append(
                f"| {_md_cell(r.device)} | {_md_cell(r.label)} | {fmt_num(r.value)} {_md_cell(r.unit)} | "
                f"{multiple_text(r.multiple)}{span} | {_md_cell(t(f'basis.{r.basis}', default=r.basis))} |"
            )
        lines.append("")
    header, table = _headline(data)
    if header:
        # A metric per row and a column per run: there are many metrics and few runs (a fleet is grouped),
        # and a table as wide as the metrics list does not fit a forum post.
        lines.append(f"### {_md_text(t('summary.headline'))}\n")
        lines.append("| " + " | ".join([t("summary.metric"), *(_md_cell(label) for label, _ in table)]) + " |")
        lines.append("|---|" + "---:|" * len(table))
        for i, metric in enumerate(header):
            lines.append("| " + " | ".join([_md_cell(metric), *(_md_cell(cells[i]) for _, cells in table)]) + " |")
        lines.append("")
    lines.append(f"### {_md_text(t('summary.environment'))}\n")
    lines += [f"- **{_md_cell(label)}**: {_md_cell(text)}" for label, text in _environment(data)]
    lines += ["", f"_{_md_text(t('summary.footer'))}_", ""]
    return "\n".join(lines)


def headline_csv(data: ReportData) -> str:
    """The headline table as CSV, one row per series and metric (columns: CSV_COLUMNS)."""
    metrics = headline_metrics(data)
    card = scorecard(data, metrics)
    buf = io.StringIO()
    writer = csv_writer(buf, lineterminator="\n")  # every cell neutralised: no formula, no control character
    writer.writerow(CSV_COLUMNS)
    ratios = {(r["run_id"], r["key"]): r["ratio"] for r in card.to_dict("records")} if not card.empty else {}
    for m in metrics:
        s = data.by_run[m.run_id]
        ratio = ratios.get((m.run_id, m.key))
        writer.writerow(
            [
                s.label,
                s.device_name,
                s.vendor,
                s.n_runs,
                m.key,
                m.label,
                f"{m.value:.6g}",
                m.unit,
                f"{ratio:.4g}" if is_num(ratio) else "",
                data.runs.at[m.row, "case_id"],
            ]
        )
    return buf.getvalue()


__all__ = ["CSV_COLUMNS", "headline_csv", "markdown_summary"]
