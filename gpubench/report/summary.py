"""A shareable summary of a report: Markdown to paste into an issue or a forum post (the verdict, the
headline table, every case, the environment), in the report's language. Same data and words as the HTML
page; its case table comes from the one field list (gpubench.report.fields) that CSV and JSON share."""

from __future__ import annotations

from gpubench.output import markdown_prose, markdown_text
from gpubench.report.data import ReportData, comparable_metrics, is_num, scorecard
from gpubench.report.fields import case_records, display_fields, display_value
from gpubench.report.verdict import comparison_rows, has_interval, trust_warnings, verdict_paragraphs
from gpubench.report.workloads import case_labels


def _md_cell(text: object) -> str:
    """Run data in a Markdown table cell or list item: one line, no link, image, HTML or pipe forms from it."""
    return markdown_text(text)


def _md_text(text: str) -> str:
    """Prose (gpubench's words around run data): `**bold**` stays, nothing else from run data is markup."""
    return markdown_prose(text)


def _headline(data: ReportData) -> tuple[list[str], list[tuple[str, list[str]]]]:
    metrics = comparable_metrics(data)
    card = scorecard(data, metrics)
    keys = list(dict.fromkeys(m.key for m in metrics))
    label = {m.key: f"{m.label} ({data.msg.unit(m.unit)})" for m in metrics}
    rows = []
    for s in data.series:
        mine = card[card["run_id"] == s.run_id].set_index("key") if not card.empty else card
        cells = []
        for k in keys:
            if k not in getattr(mine, "index", []):
                cells.append("–")
                continue
            r = mine.loc[k]
            text = data.msg.num(r["value"])
            if s.run_id != data.baseline.run_id and is_num(r["ratio"]):
                text += f" ({data.msg.multiple(r['ratio'])})"
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
            span = f" ({data.msg.multiple(r.low)}–{data.msg.multiple(r.high)})" if has_interval(r) else ""
            lines.append(
                f"| {_md_cell(r.device)} | {_md_cell(r.label)} | {data.msg.num(r.value)} {_md_cell(data.msg.unit(r.unit))} | "
                f"{data.msg.multiple(r.multiple)}{span} | {_md_cell(t(f'basis.{r.basis}', default=r.basis))} |"
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
    records = case_records(data)
    if records:
        fields = display_fields()
        lines.append(f"### {_md_text(t('section.cases.title'))}\n")
        lines.append("| " + " | ".join(_md_cell(t(f"cases.col.{f.name}", default=f.name)) for f in fields) + " |")
        lines.append("|" + "|".join("---:" if f.kind in ("num", "int") else "---" for f in fields) + "|")
        labels = case_labels(t, data.runs)  # the workload in the report's language
        for r in records:
            cells = [
                labels.get(str(r["case_id"]), "") or display_value(t, r[f.name], f)
                if f.name == "workload"
                else display_value(t, r[f.name], f)
                for f in fields
            ]
            lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
        lines.append("")
    lines.append(f"### {_md_text(t('summary.environment'))}\n")
    lines += [f"- **{_md_cell(label)}**: {_md_cell(text)}" for label, text in _environment(data)]
    lines += ["", f"_{_md_text(t('summary.footer'))}_", ""]
    return "\n".join(lines)


__all__ = ["markdown_summary"]
