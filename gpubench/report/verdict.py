"""The verdict at the top of the report: how fast the measured device is at deep-learning work, how it
compares with a handful of reference devices, what its work costs in energy, and whether the run can be
trusted (throttled, noisy, wrong results).

Reference devices' figures come from one function, `reference_value`, which asks the performance model
(gpubench.model); each figure says what it rests on (measured, published, estimated with an interval, or a
datasheet peak where the model has nothing).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from gpubench.benchmarks.spec import WorkloadRef
from gpubench.errors import GpubenchError
from gpubench.model import Estimate, estimate_all
from gpubench.report import figures as F
from gpubench.report.blocks import Block, Figure, Note, Prose
from gpubench.report.data import (
    Metric,
    ReportData,
    Series,
    device_spec,
    esc,
    headline_metrics,
    is_num,
    multiple_text,
    workload_rows,
)
from gpubench.report.workloads import is_full_size, role_of

REFERENCE_DEVICES = ("rtx-4090", "a100-sxm-80gb", "h100-sxm", "mi300x")
"""Catalog slugs every verdict compares with (plus those measured and those `--against` names)."""

MAX_WORKLOADS = 5

BASES = ("measured", "published", "estimated", "datasheet")


# ----------------------------------------------------------------------------------------- workloads


def _slot(metric: Metric) -> tuple[int, str] | None:
    """(order, slot) of a headline metric in the verdict, asked of its workload: one training workload, one
    inference workload, 16-bit matrix math, fp32 matrix math, memory bandwidth. None: not a verdict figure
    (no workload, energy, an emulated precision: software speed never headlines a comparison)."""
    ref = metric.workload
    if ref is None or metric.emulated or metric.key.startswith("energy/"):
        return None
    role = role_of(ref.benchmark)
    if role == "compute_anchor":
        if ref.precision in ("bf16", "fp16"):
            return 2, "matmul16"
        return (3, "matmul32") if ref.precision == "fp32" else None
    if role == "memory_anchor":
        return 4, "bandwidth"
    if ref.family == "training":
        return 0, "training"
    if ref.family == "inference":
        return 1, "inference"
    return None


def verdict_metrics(data: ReportData, series: Series) -> list[Metric]:
    """The headline metrics the verdict compares on for one series: the fastest training and inference
    configuration, bf16 (else fp16) and fp32 matrix math, memory bandwidth (at most MAX_WORKLOADS, in that
    order). In a slot the full-size workload beats a toy shape, then the fastest wins (a CPU's fp32 training
    beats its bf16)."""
    best: dict[str, Metric] = {}
    for m in headline_metrics(data):
        slot = _slot(m) if m.run_id == series.run_id else None
        if slot is None:
            continue
        current = best.get(slot[1])
        if current is None or _better_candidate(m, current):
            best[slot[1]] = m
    return sorted(best.values(), key=lambda m: _slot(m) or (9, ""))[:MAX_WORKLOADS]


def _better_candidate(m: Metric, current: Metric) -> bool:
    full, held = is_full_size(m.workload), is_full_size(current.workload)
    if full != held:
        return full
    size, held_size = (x.workload.params_count or 0 if x.workload else 0 for x in (m, current))
    if size != held_size:
        return size > held_size  # the bigger model says more about the device than a teaching example
    product, held_product = _product_size(m), _product_size(current)
    if product != held_product:
        return product > held_product  # small matrix products: the largest square a run measured
    if m.workload and current.workload and {m.workload.precision, current.workload.precision} == {"bf16", "fp16"}:
        return m.workload.precision == "bf16"  # bf16 is what training runs in
    return m.value > current.value


def _product_size(m: Metric) -> tuple[bool, float]:
    """(a square, FLOPs per product) of a small matrix product's metric; (False, 0) for anything else (the
    products at the GPU plateau share one workload per precision and compete on throughput)."""
    ref = m.workload
    if ref is None or ref.reference or not _matmul_precision(m):
        return False, 0.0
    square = dict(next((f for k, f in ref.words if k == "matmul_small"), ())).get("square") is True
    return square, float(ref.items_per_step or 0.0)


# ---------------------------------------------------------------------------------- reference figures


def reference_value(
    workload: str,
    spec: Any,
    runs: pd.DataFrame | None = None,
    estimates: dict[str, Estimate] | None = None,
    ref: WorkloadRef | None = None,
) -> Estimate | None:
    """A catalog device's figure on a workload: the performance model's (measured, published or estimated
    with an interval) where it has one, else the datasheet peak for matrix math and memory bandwidth (an
    upper bound, basis "datasheet"; `ref` says which role the workload plays), else None. `estimates`
    ({slug: Estimate}, from `model_estimates`) saves asking the model once per device. A toy shape has its
    own key: it gets an estimate of the same shape, or nothing, never the full model's."""
    est = (estimates if estimates is not None else model_estimates(workload, runs)).get(spec.slug)
    if est is not None and is_num(est.value) and float(est.value) > 0:
        return est
    # A datasheet peak bounds the workload at its defining sizes only: never a small product's.
    role = role_of(ref.benchmark) if ref is not None and ref.reference else None
    if role == "compute_anchor":
        precision = ref.precision
        peak = spec.peak(precision)
        figure = f"peak.{precision}"
        unit = "TOP/s" if precision == "int8" else "TFLOP/s"
    elif role == "memory_anchor":
        peak, figure, unit = spec.memory_bandwidth_gbps, "memory_bandwidth_gbps", "GB/s"
    else:
        return None
    if not is_num(peak) or float(peak) <= 0:
        return None
    return Estimate(workload, spec.slug, float(peak), math.nan, float(peak), unit, "datasheet", spec.source(figure))


def model_estimates(workload: str, runs: pd.DataFrame | None, only: Sequence[str] | None = None) -> dict[str, Estimate]:
    """{catalog slug: Estimate} from the performance model, calibrated by `runs` (`only`: of those devices);
    empty when the model cannot predict the workload."""
    try:
        return dict(estimate_all(workload, runs, only=only))
    except GpubenchError:
        return {}


def reference_specs(data: ReportData) -> list[Any]:
    """Catalog entries to compare with: the defaults and `--against`, minus devices that were measured."""
    try:
        from gpubench.specs import load_catalog
    except ImportError:
        return []
    catalog = load_catalog()
    measured = {getattr(device_spec(s), "slug", None) for s in data.series}
    out = []
    for slug in (*REFERENCE_DEVICES, *data.against):
        spec = catalog.get(slug)
        if spec is not None and spec.slug not in measured and spec not in out:
            out.append(spec)
    return out


def resolve_against(names: Sequence[str]) -> list[str]:
    """Catalog slugs for `--against` names (slug or device name, any case); a GpubenchError for unknown ones."""
    if not names:
        return []
    from gpubench.specs import load_catalog, normalize_device_name

    catalog = load_catalog()
    out = []
    for name in names:
        key = normalize_device_name(name)
        hit = catalog.get(name.lower()) or next(
            (s for s in catalog.values() if normalize_device_name(s.name) == key or s.matches_name(name)),
            None,
        )
        if hit is None:
            close = [s.slug for s in catalog.values() if key.replace(" ", "") in s.slug.replace("-", "")][:5]
            hint = f"; did you mean {', '.join(close)}?" if close else "; see `gpubench specs`"
            raise GpubenchError(f"--against {name!r}: not a catalog device{hint}")
        out.append(hit.slug)
    return out


# --------------------------------------------------------------------------------------------- verdict


@dataclass(frozen=True)
class Row:
    """One device on one workload as a multiple of the verdict's subject."""

    device: str
    workload: str
    label: str
    value: float
    unit: str
    multiple: float
    low: float  # multiple's interval; NaN when unknown
    high: float
    basis: str
    source: str
    color: str
    matmul_precision: str = ""  # the precision, where the workload is matrix math (the compute anchor)


def _matmul_precision(m: Metric) -> str:
    ref = m.workload
    return ref.precision if ref is not None and role_of(ref.benchmark) == "compute_anchor" else ""


def comparison_rows(data: ReportData) -> list[Row]:
    """Every measured series and reference device on the subject's verdict workloads, as multiples."""
    subject = data.baseline
    metrics = verdict_metrics(data, subject)
    if not metrics:
        return []
    everyone = {(m.run_id, m.key): m for m in headline_metrics(data)}
    refs = reference_specs(data)
    out: list[Row] = []
    for m in metrics:
        label = m.label
        workload = m.key
        for s in data.series:
            other = everyone.get((s.run_id, m.key))
            if other is None or other.value <= 0:
                continue
            low = high = math.nan
            if s.members:  # a fleet group: the slowest and fastest run bound it
                lo_v, hi_v = (
                    data.runs.at[other.row, "throughput_p10"],
                    data.runs.at[other.row, "throughput_p90"],
                )
                if is_num(lo_v) and is_num(hi_v):
                    low, high = float(lo_v) / m.value, float(hi_v) / m.value
            out.append(
                Row(
                    s.label,
                    m.key,
                    label,
                    other.value,
                    other.unit,
                    other.value / m.value,
                    low,
                    high,
                    "measured",
                    s.run_id,
                    s.color,
                    _matmul_precision(m),
                )
            )
        mine = workload_rows(data, workload)
        estimates = model_estimates(workload, mine, [spec.slug for spec in refs]) if refs else {}
        for spec in refs:
            ref = reference_value(workload, spec, mine, estimates, m.workload)
            if ref is None or ref.value <= 0:
                continue
            low = ref.low / m.value if is_num(ref.low) else math.nan
            high = ref.high / m.value if is_num(ref.high) else math.nan
            basis = ref.basis if ref.basis in BASES else "estimated"
            out.append(
                Row(
                    spec.name,
                    m.key,
                    label,
                    ref.value,
                    ref.unit,
                    ref.value / m.value,
                    low,
                    high,
                    basis,
                    ref.source,
                    _BASIS_COLORS.get(basis, "#999999"),
                    _matmul_precision(m),
                )
            )
    return out


_BASIS_COLORS = {
    "measured": "#555555",
    "published": "#6b6b6b",
    "estimated": "#a8a8a8",
    "datasheet": "#d0d0d0",
}


def _energy_sentence(data: ReportData, subject: Series, metrics: list[Metric]) -> str:
    t = data.msg
    row = None
    for m in metrics:
        epw = data.runs.at[m.row, "energy_per_work"] if "energy_per_work" in data.runs else None
        if is_num(epw) and float(epw) > 0:
            row = m
            break
    if row is None:
        tel = subject.meta.get("telemetry") or {}
        reason = tel.get("reason") or tel.get("reader") or ""
        return (
            t("verdict.energy_none", reason=t.said(str(reason).rstrip(".")))
            if reason
            else t("verdict.energy_none_plain")
        )
    unit = data.runs.at[row.row, "energy_per_work_unit"] if "energy_per_work_unit" in data.runs else ""
    watts = data.runs.at[row.row, "avg_power_w"] if "avg_power_w" in data.runs else None
    return t(
        "verdict.energy",
        value=data.msg.num(data.runs.at[row.row, "energy_per_work"]),
        unit=unit,
        workload=row.label,
        watts=data.msg.num(watts),
    )


def trust_warnings(data: ReportData) -> list[str]:
    """Why the numbers may mislead: wrong results, failures, throttling, noise, unfair differences."""
    from gpubench.report.data import environment_differences

    t = data.msg
    runs = data.per_run.runs
    if runs.empty or "status" not in runs:
        return []
    status = runs["status"].astype(str)
    out = []
    wrong = int((status == "wrong").sum())
    if wrong:
        out.append(t("verdict.warn_wrong", n=wrong))
    failed = int((status == "failed").sum())
    if failed:
        out.append(t("verdict.warn_failed", n=failed))
    if "throttled" in runs:
        throttled = int(runs["throttled"].map(F.is_true).sum())
        if throttled:
            out.append(t("verdict.warn_throttled", n=throttled))
    if "noisy" in runs:
        noisy = int((runs["noisy"].map(F.is_true) & (status == "ok")).sum())
        if noisy:
            out.append(t("verdict.warn_noisy", n=noisy, total=int((status == "ok").sum())))
    diffs = environment_differences(data.per_run)
    if diffs:
        out.append(t("verdict.warn_differences", n=len(diffs)))
    out += [t("verdict.warn_busy", run=s.label, share=t.pct(share)) for s, share in busy_runs(data)]
    return out


BUSY_SHARE = 0.10  # other programs' share of the processor above which a run's numbers are flagged


def busy_runs(data: ReportData) -> list[tuple[Any, float]]:
    """(series, share) for each run during which other programs took more than BUSY_SHARE of the machine's
    processor time (run.json host_cpu, from gpubench.telemetry.host): its figures are below what it can do."""
    out = []
    for s in data.series:
        share = ((s.meta or {}).get("host_cpu") or {}).get("others_share")
        if isinstance(share, (int, float)) and share > BUSY_SHARE:
            out.append((s, float(share)))
    return out


def verdict_paragraphs(data: ReportData, rows: list[Row] | None = None) -> list[str]:
    """The verdict in sentences (raw text, `**` marks emphasis): what ran, how fast, against whom, energy."""
    t = data.msg
    subject = data.baseline
    rows = comparison_rows(data) if rows is None else rows
    metrics = verdict_metrics(data, subject)
    runs = data.per_run.runs
    status = runs["status"].astype(str) if "status" in runs else pd.Series(dtype=str)
    kind = t("verdict.kind_cpu") if subject.vendor.lower() == "cpu" else t("verdict.kind_gpu")
    n_runs = len(data.per_run.series)
    first = t(
        "verdict.subject" if n_runs == 1 else "verdict.subject_runs",
        device=subject.device_name,
        kind=kind,
        ok=int((status == "ok").sum()),
        n=len(status),
        runs=n_runs,
    )
    paragraphs = [first]
    if not metrics:
        paragraphs.append(t("verdict.nothing"))
        return paragraphs
    measured = [f"{m.label} **{data.msg.num(m.value)} {t.unit(m.unit)}**" for m in metrics]
    paragraphs.append(t("verdict.measured", list="; ".join(measured)))
    # The comparison on the most telling workload that has references.
    for m in metrics:
        others = [r for r in rows if r.workload == m.key and r.device != subject.label]
        if not others:
            continue
        parts = []
        for r in sorted(others, key=lambda r: r.multiple):
            basis = t(f"basis.{r.basis}", default=r.basis)
            span = f", {data.msg.multiple(r.low)}–{data.msg.multiple(r.high)}" if has_interval(r) else ""
            parts.append(f"{r.device} **{data.msg.multiple(r.multiple)}** ({basis}{span})")
        paragraphs.append(t("verdict.against", workload=m.label, device=subject.label, list="; ".join(parts)))
        faster = [r for r in others if r.multiple > 1.05]
        if subject.vendor.lower() == "cpu" and faster:
            best = _cpu_meaning(data, rows, metrics) if _matmul_precision(m) else None
            if best is None:  # the most modest GPU on the workload itself: no overstatement
                ref = min(faster, key=lambda r: r.multiple)
                best = t(
                    "verdict.cpu_meaning",
                    device=ref.device,
                    times=data.msg.multiple(ref.multiple),
                    workload=m.label,
                    basis=t(f"basis.{ref.basis}", default=ref.basis),
                )
            paragraphs.append(best)
        elif faster and len(faster) < len(others):
            slower = [r for r in others if r.multiple < 0.95]
            paragraphs.append(
                t(
                    "verdict.position",
                    faster=", ".join(r.device for r in faster),
                    slower=", ".join(r.device for r in slower) or "–",
                )
            )
        break
    if any(r.basis == "datasheet" for r in rows):
        paragraphs.append(t("verdict.datasheet_note"))
    paragraphs.append(_energy_sentence(data, subject, metrics))
    return [_capitalized(p) for p in paragraphs]


def _capitalized(text: str) -> str:
    """A sentence that starts with a filled-in field ('mátrixszorzás …') still starts with a capital."""
    i = 2 if text.startswith("**") else 0
    return text[:i] + text[i : i + 1].upper() + text[i + 1 :]


def has_interval(r: Row) -> bool:
    """Whether a row's interval says something (known, not a datasheet bound, not a single point)."""
    known = is_num(r.low) and is_num(r.high) and r.basis != "datasheet"
    return known and multiple_text(r.low) != multiple_text(r.high)


def _cpu_meaning(data: ReportData, rows: list[Row], metrics: list[Metric]) -> str | None:
    """For a CPU: a GPU's 16-bit matrix math against the CPU's own best precision (a CPU is used in fp32,
    a GPU in bf16: comparing each at its best is the fair question), both at the size where a GPU's GEMM
    reaches its plateau; None when the run has no such pair (a small product compares only with itself)."""
    t = data.msg
    own = [m for m in metrics if _matmul_precision(m) and m.workload is not None and m.workload.reference]
    at_plateau = {m.key for m in own}
    gpu = [
        r for r in rows if r.basis != "measured" and r.matmul_precision in ("bf16", "fp16") and r.workload in at_plateau
    ]
    if not own or not gpu:
        return None
    mine = max(own, key=lambda m: m.value)
    ref = min(gpu, key=lambda r: r.value)  # the most modest reference: no overstatement
    return t(
        "verdict.cpu_meaning_best",
        device=ref.device,
        times=data.msg.multiple(ref.value / mine.value),
        gpu_dtype=ref.matmul_precision,
        cpu_dtype=_matmul_precision(mine),
        basis=t(f"basis.{ref.basis}", default=ref.basis),
    )


def short_device(name: str) -> str:
    """A device name for a chart label: without the vendor word and the marketing ones a label can spare."""
    text = str(name)
    for word in ("NVIDIA ", "AMD ", "GeForce ", "Instinct ", " Processor"):
        text = text.replace(word, "")
    return text


def verdict_figure(data: ReportData, rows: list[Row]) -> Any:
    """One panel per workload: every device's multiple of the subject (log x), bars coloured by basis."""
    t = data.msg
    # A panel holding only the subject (1×) compares nothing: left out.
    workloads = [w for w in dict.fromkeys(r.workload for r in rows) if sum(r.workload == w for r in rows) > 1]
    rows = [r for r in rows if r.workload in workloads]
    if not workloads:
        return None
    labels = {r.workload: r.label for r in rows}
    devices = list(dict.fromkeys(r.device for r in sorted(rows, key=lambda r: r.basis != "measured")))
    per_panel = [len({r.device for r in rows if r.workload == w}) for w in workloads]
    titles = [F.esc_wrapped(labels[w], 40) for w in workloads]
    chart_title = F.esc_wrapped(t("verdict.chart_title", device=data.baseline.label), 38)
    # Room in pixels for what sits above each panel: the chart's title and the first panel's title (up to three
    # lines each) in the top margin, the next panels' titles in the gaps; never drawn over one another.
    lines = [x.count("<br>") + 1 for x in titles]
    top = 42 + 20 * (chart_title.count("<br>") + 1) + 16 * lines[0] + 10  # 42: below Plotly's toolbar
    gap = 16 * max(lines[1:], default=1) + 24
    bottom = 90
    plot = 34 * sum(per_panel) + 20 * len(workloads) + gap * (len(workloads) - 1)
    # Panels as tall as their bars, so a bar is as thick in a panel of 2 devices as in one of 6.
    fig = F.subplots(
        rows=len(workloads),
        cols=1,
        shared_xaxes=True,
        row_heights=per_panel,
        vertical_spacing=gap / plot if len(workloads) > 1 else 0.0,
        subplot_titles=titles,
    )
    fig.update_layout(
        height=top + plot + bottom,
        showlegend=True,
        bargap=0.22,
        margin=dict(l=10, r=20, t=top, b=bottom),
        title=dict(
            text=chart_title,
            x=0.01,
            xanchor="left",
            yref="container",
            y=1,
            yanchor="top",
            pad=dict(t=40),
            font=dict(size=15),
        ),
        legend=dict(orientation="h", yref="container", yanchor="bottom", y=0, x=0),
    )
    # The multiple is written in the device's tick label, not on the bar: a whisker never crosses it.
    mult = {(r.workload, r.device): r.multiple for r in rows}

    def tick(device: str, multiple: float) -> str:
        return F.esc_wrapped(short_device(device)) + " · " + esc(t.multiple(multiple))

    shown: set[str] = set()
    for i, w in enumerate(workloads, start=1):
        for basis in BASES:
            part = [r for r in rows if r.workload == w and r.basis == basis]
            if not part:
                continue
            plus = [max(0.0, r.high - r.multiple) if is_num(r.high) and basis != "datasheet" else 0.0 for r in part]
            minus = [max(0.0, r.multiple - r.low) if is_num(r.low) else 0.0 for r in part]
            hover = [
                f"<b>{esc(r.device)}</b><br>{esc(r.label)}: {data.msg.num(r.value, 4)} {esc(t.unit(r.unit))}<br>"
                f"{esc(data.msg.multiple(r.multiple))} {esc(t('verdict.of_subject', device=data.baseline.label))}"
                + (
                    f" ({esc(data.msg.multiple(r.low))}–{esc(data.msg.multiple(r.high))})"
                    if is_num(r.low) and is_num(r.high)
                    else ""
                )
                + f"<br>{esc(t(f'basis.{r.basis}', default=r.basis))}: {esc(t.said(r.source))}"
                for r in part
            ]
            fig.add_bar(
                x=[r.multiple for r in part],
                y=[tick(r.device, r.multiple) for r in part],
                orientation="h",
                marker=dict(
                    color=[r.color for r in part],
                    line=dict(color="#444", width=0.6),
                    pattern=dict(
                        shape="/" if basis == "estimated" else ("." if basis == "datasheet" else ""),
                        fgcolor="#777",
                        size=6,
                    ),
                ),
                error_x=dict(
                    type="data", symmetric=False, array=plus, arrayminus=minus, color="#333", thickness=1.2, width=3
                )
                if any(plus) or any(minus)
                else None,
                name=esc(t(f"basis.{basis}", default=basis)),
                legendgroup=basis,
                showlegend=basis not in shown,
                hovertext=hover,
                hovertemplate=F.HOVER,
                row=i,
                col=1,
            )
            shown.add(basis)
        fig.update_yaxes(
            type="category",
            categoryorder="array",
            tickfont=dict(size=11),
            row=i,
            col=1,
            automargin=True,
            categoryarray=[tick(d, mult[(w, d)]) for d in reversed(devices) if (w, d) in mult],
        )
    lo = min(r.multiple for r in rows)
    hi = max(max(r.multiple, r.high if is_num(r.high) else 0) for r in rows)
    fig.update_xaxes(type="log", range=[math.log10(lo) - 0.3, math.log10(hi) + 0.6], dtick=1)
    fig.update_xaxes(
        title_text=F.esc_wrapped(t("verdict.chart_x", device=data.baseline.label), 30),
        row=len(workloads),
        col=1,
    )
    for i in range(1, len(workloads) + 1):  # the "1x" line of every panel
        fig.add_vline(1.0, row=i, col=1, line=dict(color="#999", dash="dot", width=1))
    # Panel titles start where the device names do (not where the bars do), so a title wrapped at 40
    # characters fits a phone's width: the shift is the longest tick line at ~5.5 px per 11 px character (an
    # underestimate, so a title never starts left of the figure).
    widest = max(len(re.sub(r"&[#\w]+;", "x", line)) for r in rows for line in tick(r.device, r.multiple).split("<br>"))
    fig.update_annotations(
        font=dict(size=12), x=0, xanchor="left", xref="paper", align="left", xshift=-int(5.5 * widest)
    )
    return fig


def build_verdict(data: ReportData) -> list[Block]:
    """The section: the verdict paragraphs, warnings, and the comparison chart."""
    t = data.msg
    rows = comparison_rows(data)
    blocks: list[Block] = [Prose(verdict_paragraphs(data, rows), kind="verdict")]
    if data.pooling:  # never pooled silently: the page says which runs are drawn as one series
        blocks.append(Note(t("fleet.pooling_title"), "info", list(data.pooling)))
    warnings = trust_warnings(data)
    if warnings:
        blocks.append(Note(t("verdict.warn_title"), "warn", warnings))
    fig = verdict_figure(data, rows)
    if fig is not None:
        blocks.append(Figure(fig, t("verdict.chart_caption")))
    return blocks


__all__ = [
    "REFERENCE_DEVICES",
    "model_estimates",
    "build_verdict",
    "comparison_rows",
    "reference_value",
    "resolve_against",
    "trust_warnings",
    "verdict_paragraphs",
    "verdict_metrics",
]
