"""Plotly figures from ReportData. A run keeps its colour in every figure; every string that came from a
results file goes through `esc` (Plotly renders a subset of HTML in names, ticks and hover text)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from gpubench.frame import frame_rows
from gpubench.precisions import GEMM_DTYPES
from gpubench.report.data import (
    Metric,
    ReportData,
    Series,
    downsample_minmax,
    esc,
    is_num,
    matmul_bytes,
)
from gpubench.report.plot import Plot
from gpubench.report.workloads import benchmarks_with_role, workload_ref

TELEMETRY_POINTS = 1200
"""Points per telemetry trace after downsampling (display only)."""

TEMPLATE = {
    "layout": dict(
        font=dict(
            family="system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif", size=12, color="#222"
        ),
        paper_bgcolor="white",
        plot_bgcolor="white",
        xaxis=dict(gridcolor="#e5e5e5", zerolinecolor="#ccc", linecolor="#999", ticks="outside", automargin=True),
        # A linear axis starts at zero, so a 2% difference never looks like a cliff; a chart that must not
        # (a log axis, a zoomed telemetry panel) says so in its axis title.
        yaxis=dict(
            gridcolor="#e5e5e5",
            zerolinecolor="#ccc",
            linecolor="#999",
            ticks="outside",
            automargin=True,
            rangemode="tozero",
        ),
        hoverlabel=dict(align="left"),
        margin=dict(l=70, r=20, t=50, b=60),
        # Below the plot, not beside it: on a phone-width screen a side legend leaves no room for the plot.
        legend=dict(font=dict(size=11), orientation="h", yref="container", yanchor="bottom", y=0, x=0),
    )
}
HOVER = "%{hovertext}<extra></extra>"


def subplots(**grid: Any) -> Plot:
    """A grid of panels (Plot.subplots: make_subplots' layout) with the report's look."""
    return Plot.subplots(**grid, layout=dict(template=TEMPLATE))


def new_figure(title: str, height: int = 420, **layout: Any) -> Plot:
    """An empty figure with the report's look. `title` must already be escaped."""
    return Plot(
        layout=dict(template=TEMPLATE, title=dict(text=title, x=0.01, font=dict(size=15)), height=height, **layout)
    )


_HOVER_COLS = (
    "case_id",
    "throughput",
    "throughput_unit",
    "throughput_p10",
    "throughput_p90",
    "n_reps",
    "cov",
    "noisy",
    "n_runs",
)


def reference_lines(fig: Plot, lines: Sequence[Mapping[str, Any]]) -> None:
    """Dotted horizontal lines across the plot, each with its note at the left (dicts of y, color, text and
    optionally below=True)."""
    for line in lines:
        y = float(line["y"])
        fig.add_hline(y, line=dict(color=line.get("color", "#888"), dash="dot"))
        if line.get("text"):
            below = bool(line.get("below"))
            fig.add_annotation(
                xref="x domain",
                x=0,
                yref="y",
                y=y,
                text=line["text"],
                showarrow=False,
                xanchor="left",
                yanchor="top" if below else "bottom",
            )


def is_true(value: Any) -> bool:
    """True for a real boolean True (not NA, not NaN, which `bool()` would call true)."""
    return isinstance(value, (bool, np.bool_)) and bool(value)


def records(frame: pd.DataFrame, *extra: str) -> list[dict[str, Any]]:
    """Rows as dicts, only the columns hover text needs (iterrows or to_dict on a wide frame is slow)."""
    cols = list(dict.fromkeys(c for c in (*_HOVER_COLS, *extra) if c in frame.columns))
    values = [frame[c].tolist() for c in cols]
    return [dict(zip(cols, row, strict=True)) for row in zip(*values, strict=True)]


def by_run(frame: pd.DataFrame) -> Mapping[str, pd.DataFrame]:
    """Rows per run id (in order of first appearance), each run's rows cut from the frame the first time they
    are asked for: a fleet's Runs table reads every run, its telemetry panel one run of a thousand."""
    if frame.empty or "run_id" not in frame:
        return {}
    return _RunParts(frame)


class _RunParts(Mapping[str, pd.DataFrame]):
    def __init__(self, frame: pd.DataFrame) -> None:
        self._frame = frame
        self._rows = {str(k): v for k, v in frame.groupby("run_id", sort=False).indices.items()}
        self._cut: dict[str, pd.DataFrame] = {}

    def __getitem__(self, run_id: str) -> pd.DataFrame:
        if run_id not in self._cut:
            self._cut[run_id] = self._frame.iloc[self._rows[run_id]]
        return self._cut[run_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)


def _row_value(row: Mapping[str, Any], name: str) -> Any:
    return row.get(name)


def wrap_label(text: str, width: int = 20) -> str:
    """A long name on several lines at word boundaries (Plotly breaks lines at <br>; the caller escapes)."""
    words, lines, line = str(text).split(" "), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    return "\n".join(lines)


def esc_wrapped(text: str, width: int = 20) -> str:
    """`text` escaped for Plotly and wrapped onto lines of about `width` characters."""
    return esc(wrap_label(text, width)).replace("\n", "<br>")


def short_case(case_id: str, limit: int = 44) -> str:
    """A case id short enough for a tick or a table cell: parameter names dropped
    ('matmul[dtype=bf16,m=4096,...]' -> 'matmul[bf16,4096,...]'), then cut in the middle with '…'."""
    text = str(case_id)
    if len(text) <= limit:
        return text
    head, _, rest = text.partition("[")
    if rest:
        values = [part.split("=", 1)[-1] for part in rest.rstrip("]").split(",")]
        text = f"{head}[{','.join(values)}]"
    if len(text) <= limit:
        return text
    keep = limit - 1
    return text[: keep - keep // 3] + "…" + text[len(text) - keep // 3 :]


def row_hover(
    data: ReportData, series: Series, row: Mapping[str, Any], value_col: str = "throughput", unit: str | None = None
) -> str:
    """Hover text for one measured case: value, spread, repetitions, run id (all escaped, in the report's
    language)."""
    t = data.msg
    unit = t.unit(unit if unit is not None else str(_row_value(row, "throughput_unit") or ""))
    parts = [f"<b>{esc(series.label)}</b>", esc(_row_value(row, "case_id"))]
    value = _row_value(row, value_col)
    line = f"{t.num(value, 4)} {esc(unit)}"
    lo, hi = _row_value(row, "throughput_p10"), _row_value(row, "throughput_p90")
    if value_col == "throughput" and is_num(lo) and is_num(hi):
        line += " " + esc(t("fig.hover.spread", low=t.num(lo, 4), high=t.num(hi, 4)))
    parts.append(line)
    n = _row_value(row, "n_reps")
    stats = []
    runs = _row_value(row, "n_runs")
    if series.members and is_num(runs):
        # A fleet group: the value is the median run, the bars span slowest to fastest run.
        parts[-1] = f"{t.num(value, 4)} {esc(unit)} " + esc(
            t("fig.hover.fleet", n=int(runs), low=t.num(lo, 4), high=t.num(hi, 4))
        )
        n = None
    if is_num(n):
        stats.append(esc(t("fig.hover.reps", n=int(n))))
    if is_true(_row_value(row, "noisy")):
        stats.append(esc(t("status.noisy")))
    if stats:
        parts.append(" · ".join(stats))
    parts.append(esc(t("fig.hover.run", run=series.run_id)))
    return "<br>".join(parts)


def _spread(frame: pd.DataFrame) -> dict[str, Any] | None:
    """Asymmetric p10-p90 error bars of throughput (visible only where both are known)."""
    if "throughput_p10" not in frame or "throughput_p90" not in frame:
        return None
    thr = pd.to_numeric(frame["throughput"], errors="coerce").to_numpy(float)
    lo = pd.to_numeric(frame["throughput_p10"], errors="coerce").to_numpy(float)
    hi = pd.to_numeric(frame["throughput_p90"], errors="coerce").to_numpy(float)
    plus, minus = np.clip(hi - thr, 0, None), np.clip(thr - lo, 0, None)
    if not np.isfinite(plus).any():
        return None
    return dict(
        type="data",
        symmetric=False,
        array=np.nan_to_num(plus),
        arrayminus=np.nan_to_num(minus),
        thickness=1.2,
        width=3,
        color="#444",
    )


def _best_rows(frame: pd.DataFrame, by: Sequence[str], value: str = "throughput") -> pd.DataFrame:
    if frame.empty or any(c not in frame for c in by):
        return frame.iloc[0:0]
    vals = pd.to_numeric(frame[value], errors="coerce")
    frame = frame[vals.notna()]
    if frame.empty:
        return frame
    idx = pd.to_numeric(frame[value], errors="coerce").groupby([frame[c] for c in by], dropna=True).idxmax()
    return frame.loc[idx.to_numpy()]


def grouped_bars(
    data: ReportData,
    frame: pd.DataFrame,
    category: pd.Series,
    title: str,
    y_title: str,
    value: str = "throughput",
    order: Sequence[str] | None = None,
    error: bool = True,
    unit: str | None = None,
    height: int = 420,
) -> Plot:
    """One bar per run and category (categories escaped), hover with value, spread, reps and run id."""
    fig = new_figure(title, height=height, barmode="group", yaxis_title=y_title, bargap=0.2)
    cats = [str(c) for c in (order if order is not None else sorted(category.dropna().astype(str).unique()))]
    present = set(category.dropna().astype(str))
    cats = [c for c in cats if c in present]
    parts = by_run(frame)
    for s in data.series:
        part = parts.get(s.run_id)
        if part is None:
            continue
        cat = category.loc[part.index].astype(str)
        part = part.assign(_cat=pd.Categorical(cat, categories=cats, ordered=True)).sort_values("_cat")
        fig.add_bar(
            name=esc(s.label),
            legendgroup=s.run_id,
            marker_color=s.color,
            x=[esc(c) for c in part["_cat"].astype(str)],
            y=pd.to_numeric(part[value], errors="coerce").to_numpy(float),
            error_y=_spread(part) if error else None,
            hovertext=[row_hover(data, s, r, value, unit) for r in records(part, value)],
            hovertemplate=HOVER,
        )
    fig.update_xaxes(categoryorder="array", categoryarray=[esc(c) for c in cats], type="category")
    return fig


# ------------------------------------------------------------------------------------------------- matmul


def matmul_by_precision(data: ReportData, ok: pd.DataFrame) -> Plot:
    """Best TFLOP/s (TOP/s for int8) per precision per run, with p10-p90 of that case."""
    best = _best_rows(ok, ["run_id", "dtype"])
    emulated = best["emulated"].map(is_true) if "emulated" in best else pd.Series(False, index=best.index)
    # A precision the device has no hardware for is marked on the axis: its speed is software's, not the chip's.
    label = data.msg("fig.emulated_tick", dtype="{dtype}")
    category = pd.Series(
        [label.format(dtype=d) if e else str(d) for d, e in zip(best["dtype"], emulated, strict=True)],
        index=best.index,
    )
    order = [x for d in GEMM_DTYPES for x in (d, label.format(dtype=d))]
    return grouped_bars(
        data,
        best,
        category,
        esc(data.msg("fig.matmul_best")),
        esc(data.msg("fig.matmul_best_y")),
        order=order,
    )


def matmul_pct_of_peak(data: ReportData, ok: pd.DataFrame) -> Plot | None:
    """Best % of datasheet peak per precision per run, where the catalog knows the device."""
    if "pct_of_peak" not in ok:
        return None
    rows = ok[pd.to_numeric(ok["pct_of_peak"], errors="coerce").notna()]
    if rows.empty:
        return None
    best = _best_rows(rows, ["run_id", "dtype"], "pct_of_peak")
    pct = esc(data.msg("fig.pct_of_peak"))
    fig = grouped_bars(
        data,
        best,
        best["dtype"],
        esc(data.msg("fig.matmul_peak")),
        pct,
        value="pct_of_peak",
        order=GEMM_DTYPES,
        error=False,
        unit=pct,
    )
    fig.add_hline(y=100, line=dict(color="#999", dash="dot", width=1))
    return fig


def matmul_sweeps(data: ReportData, sweeps: pd.DataFrame, ok: pd.DataFrame) -> Plot:
    """TFLOP/s against M for each sweep (same dtype, n, k; several m): the MAMF method's search."""
    fig = new_figure(esc(data.msg("fig.matmul_sweep")), xaxis_title="M", yaxis_title="TFLOP/s")
    dashes = ["solid", "dash", "dot", "dashdot", "longdash"]
    dtype_dash = {d: dashes[i % len(dashes)] for i, d in enumerate(sorted(set(sweeps["dtype"].astype(str))))}
    parts = by_run(ok)
    for s in data.series:
        mine = sweeps[sweeps["run_id"] == s.run_id]
        for sw in frame_rows(mine):
            run = parts[s.run_id]
            part = run[
                (run["dtype"].astype(str) == str(sw["dtype"])) & (run["n"] == sw["n"]) & (run["k"] == sw["k"])
            ].sort_values("m")
            fig.add_scatter(
                x=part["m"].astype(float).to_numpy(),
                y=part["throughput"].astype(float).to_numpy(),
                mode="lines+markers",
                line=dict(color=s.color, dash=dtype_dash[str(sw["dtype"])]),
                name=esc(f"{s.label} · {sw['dtype']} n={sw['n']} k={sw['k']}"),
                legendgroup=s.run_id,
                hovertext=[row_hover(data, s, r) for r in records(part)],
                hovertemplate=HOVER,
            )
    return fig


# ------------------------------------------------------------------------------------------------- memory


def memory_bandwidth(data: ReportData, ok: pd.DataFrame) -> Plot:
    """GB/s against buffer size (log x), a panel per copy kind; pinned solid, pageable dashed."""
    kinds = [k for k in ("d2d", "h2d", "d2h") if (ok["kind"].astype(str) == k).any()]
    kinds += sorted(set(ok["kind"].dropna().astype(str)) - set(kinds))
    units = {k: data.msg.unit(str(ok.loc[ok["kind"].astype(str) == k, "throughput_unit"].iloc[0])) for k in kinds}
    fig = subplots(
        rows=1,
        cols=len(kinds),
        subplot_titles=[esc(f"{k.upper()} · {units[k]}") for k in kinds],
        horizontal_spacing=0.06,
    )
    fig.update_layout(height=450, title=dict(text=esc(data.msg("fig.memory")), x=0.01), margin=dict(t=90))
    pinned_col = ok["pinned"] if "pinned" in ok else pd.Series(pd.NA, index=ok.index)
    shown: set[str] = set()
    parts = by_run(ok)
    for col, kind in enumerate(kinds, start=1):
        for s in data.series:
            run = parts.get(s.run_id)
            part = run[run["kind"].astype(str) == kind] if run is not None else ok.iloc[0:0]
            if part.empty:
                continue
            pin = pinned_col.loc[part.index]
            for pinned in (True, False):
                sel = part[(pin.fillna(False).astype(bool) == pinned)].sort_values("size_bytes")
                if sel.empty:
                    continue
                host_link = kind in ("h2d", "d2h")
                suffix = (" · pinned" if pinned else " · pageable") if host_link else ""
                fig.add_scatter(
                    x=sel["size_bytes"].astype(float).to_numpy(),
                    y=sel["throughput"].astype(float).to_numpy(),
                    mode="lines+markers",
                    name=esc(s.label),
                    legendgroup=s.run_id,
                    showlegend=s.run_id not in shown,
                    line=dict(color=s.color, dash="dash" if host_link and not pinned else "solid"),
                    marker=dict(symbol="circle" if pinned or not host_link else "circle-open"),
                    hovertext=[row_hover(data, s, r) + esc(suffix) for r in records(sel)],
                    hovertemplate=HOVER,
                    row=1,
                    col=col,
                )
                shown.add(s.run_id)
        fig.update_xaxes(type="log", title_text=esc(data.msg("fig.buffer_size")), exponentformat="SI", row=1, col=col)
    fig.update_yaxes(title_text="GB/s", row=1, col=1)
    return fig


# ------------------------------------------------------------------------------------------ train / infer


def workload_label(frame: pd.DataFrame, compiled: str = "compiled") -> pd.Series:
    """'model · precision · b64' (+ ' · compiled', the word in the report's language) per training / inference row."""

    def part(col: str) -> pd.Series:
        return frame[col].astype("string").fillna("?") if col in frame else pd.Series("?", index=frame.index)

    label = part("model") + " · " + part("precision")
    if "batch" in frame:
        label = label + " · b" + frame["batch"].astype("string").fillna("?")
    if "compile" in frame:
        label = label + frame["compile"].map(lambda c: f" · {compiled}" if c is True else "").astype("string")
    return label


def model_throughput(data: ReportData, ok: pd.DataFrame, benchmark: str) -> Plot:
    """Throughput per workload (model, precision, batch) per run, with p10-p90 error bars."""
    label = workload_label(ok, data.msg("fig.compiled"))
    unit = str(ok["throughput_unit"].dropna().iloc[0]) if ok["throughput_unit"].notna().any() else ""
    title = data.msg(f"fig.{benchmark}_throughput", default=benchmark, unit=data.msg.unit(unit))
    fig = grouped_bars(data, ok, label, esc(title), esc(data.msg.unit(unit)), height=460)
    fig.update_xaxes(tickangle=-30)
    return fig


def inference_latency(data: ReportData, rows: pd.DataFrame) -> Plot:
    """Batch-1 latency: median bar, whisker up to p99 (ms)."""
    rows = rows.assign(
        median_ms=pd.to_numeric(rows["median_s"], errors="coerce") * 1e3,
        p99_ms=pd.to_numeric(rows.get("p99_s", rows["median_s"]), errors="coerce") * 1e3,
    )
    label = workload_label(rows, data.msg("fig.compiled"))
    fig = new_figure(esc(data.msg("fig.latency")), barmode="group", yaxis_title=esc(data.msg("fig.latency_y")))
    cats = sorted(label.unique())
    parts = by_run(rows)
    for s in data.series:
        part = parts.get(s.run_id)
        if part is None:
            continue
        hover = [
            f"<b>{esc(s.label)}</b><br>{esc(r['case_id'])}<br>median {data.msg.num(r['median_ms'], 4)} ms · "
            f"p99 {data.msg.num(r['p99_ms'], 4)} ms<br>{int(r['n_reps']) if is_num(r.get('n_reps')) else '?'} reps"
            f"<br>run {esc(s.run_id)}"
            for r in records(part, "median_ms", "p99_ms")
        ]
        fig.add_bar(
            name=esc(s.label),
            legendgroup=s.run_id,
            marker_color=s.color,
            x=[esc(c) for c in label.loc[part.index]],
            y=part["median_ms"].to_numpy(float),
            error_y=dict(
                type="data",
                symmetric=False,
                array=np.nan_to_num(np.clip((part["p99_ms"] - part["median_ms"]).to_numpy(float), 0, None)),
                arrayminus=np.zeros(len(part)),
                thickness=1.2,
                width=3,
                color="#444",
            ),
            hovertext=hover,
            hovertemplate=HOVER,
        )
    fig.update_xaxes(categoryorder="array", categoryarray=[esc(c) for c in cats], tickangle=-30)
    return fig


# ------------------------------------------------------------------------------------ power and thermals

_TELEMETRY_ROWS = (
    ("power_w", "power (W)"),
    ("temp_c", "temperature (°C)"),
    ("sm_clock_mhz", "SM clock (MHz)"),
)


def _rects(windows: list[tuple[float, float]], y0: float, y1: float) -> tuple[list[float | None], list[float | None]]:
    """Closed rectangles for a filled scatter trace, separated by None."""
    xs: list[float | None] = []
    ys: list[float | None] = []
    for x0, x1 in windows:
        xs += [x0, x1, x1, x0, x0, None]
        ys += [y0, y0, y1, y1, y0, None]
    return xs, ys


def telemetry_timeline(data: ReportData, series: Series, tel: pd.DataFrame, cases: pd.DataFrame) -> Plot | None:
    """Power, temperature and SM clock over the run; each case's timed window shaded (red: throttled).
    For a fleet group `tel` and `cases` are its representative run's."""
    tel = tel.sort_values("t_ns")
    cpu = series.vendor.lower() == "cpu"
    metrics = [
        # A CPU has no SM: its clock is the cores' clock.
        (c, data.msg(f"fig.tel_cpu_{c}" if cpu and c == "sm_clock_mhz" else f"fig.tel_{c}", default=t))
        for c, t in _TELEMETRY_ROWS
        if c in tel and np.isfinite(tel[c].to_numpy(float)).any() and np.nanmax(tel[c].to_numpy(float)) > 0
    ]
    if not metrics or tel.empty:
        return None
    t0 = int(tel["t_ns"].iloc[0])
    t_s = (tel["t_ns"].to_numpy(np.int64) - t0) / 1e9
    fig = subplots(rows=len(metrics), cols=1, shared_xaxes=True, vertical_spacing=0.04)
    fig.update_layout(
        height=170 * len(metrics) + 90,
        showlegend=False,
        title=dict(text=esc(data.msg("fig.timeline", run=series.label)), x=0.01, font=dict(size=14)),
    )
    # Case windows: (x0, x1) in seconds, split by shade. Filled traces, not layout shapes: hundreds of
    # shapes make building and drawing the figure slow.
    shades: dict[str, list[tuple[float, float]]] = {
        "rgba(0,0,0,0.11)": [],
        "rgba(0,0,0,0.05)": [],
        "rgba(214,39,40,0.25)": [],
    }
    mids, texts, colors = [], [], []
    if {"start_ns", "end_ns"} <= set(cases.columns):
        windows = cases[pd.to_numeric(cases["start_ns"], errors="coerce").notna()]
        cols = ("start_ns", "end_ns", "status", "energy_j", "avg_power_w", "throttled", "throttle_reasons")
        for j, r in enumerate(records(windows, *(c for c in cols if c in windows))):
            x0, x1 = (float(r["start_ns"]) - t0) / 1e9, (float(r["end_ns"]) - t0) / 1e9
            throttled = is_true(r.get("throttled"))
            fill = "rgba(214,39,40,0.25)" if throttled else ("rgba(0,0,0,0.05)" if j % 2 else "rgba(0,0,0,0.11)")
            shades[fill].append((x0, x1))
            mids.append((x0 + x1) / 2)
            status = str(r.get("status"))
            tip = f"{esc(r['case_id'])}<br>{esc(data.msg(f'status.{status}', default=status))}"
            if is_num(r.get("energy_j")):
                avg = data.msg("fig.avg")
                tip += f" · {data.msg.num(r['energy_j'])} J · {avg} {data.msg.num(r.get('avg_power_w'))} W"
            if throttled:
                tip += "<br>" + esc(data.msg("fig.throttled", reasons=r.get("throttle_reasons")))
            texts.append(tip)
            colors.append("#d62728" if throttled else "#666")
    for i, (col, title) in enumerate(metrics, start=1):
        y = tel[col].to_numpy(float)
        lo, hi = float(np.nanmin(y)), float(np.nanmax(y))
        pad = (hi - lo) * 0.08 or max(abs(hi) * 0.05, 1.0)
        pad = max(pad, 0.05 * abs(hi))
        # From zero: a flat line must look flat (room for the case markers on top of the first panel).
        y_lo, y_hi = min(0.0, lo - pad), hi + pad * (2.5 if i == 1 and mids else 1)
        for fill, spans in shades.items():
            if spans:
                xs, ys = _rects(spans, y_lo, y_hi)
                fig.add_scatter(x=xs, y=ys, fill="toself", fillcolor=fill, mode="none", hoverinfo="skip", row=i, col=1)
        keep = downsample_minmax(t_s, y, TELEMETRY_POINTS)
        fig.add_scatter(
            x=t_s[keep].astype(np.float32),
            y=y[keep].astype(np.float32),
            mode="lines",
            line=dict(color=series.color, width=1.2),
            name=esc(title),
            hovertemplate=esc(data.msg("fig.tel_hover")) + f"<extra>{esc(title)}</extra>",
            row=i,
            col=1,
        )
        fig.update_yaxes(title_text=esc(title), range=[y_lo, y_hi], row=i, col=1)
        if i == 1 and mids:
            # One marker per case on the top panel: hovering it names the case.
            fig.add_scatter(
                x=mids,
                y=[hi + pad * 1.4] * len(mids),
                mode="markers",
                hovertext=texts,
                hovertemplate=HOVER,
                marker=dict(symbol="triangle-down", size=7, color=colors),
                name="cases",
                row=1,
                col=1,
            )
    fig.update_xaxes(title_text=esc(data.msg("fig.timeline_x")), row=len(metrics), col=1)
    return fig


def energy_per_case(data: ReportData, rows: pd.DataFrame) -> Plot:
    """Energy of each case's timed window per run; throttled cases hatched."""
    fig = new_figure(esc(data.msg("fig.energy")), height=560, barmode="group", yaxis_title="J")
    cats = list(dict.fromkeys(rows["case_id"].astype(str)))
    parts = by_run(rows)
    extra = (
        "energy_j",
        "avg_power_w",
        "peak_power_w",
        "peak_temp_c",
        "energy_per_work",
        "energy_per_work_unit",
        "throttled",
        "throttle_reasons",
    )
    for s in data.series:
        part = parts.get(s.run_id)
        if part is None:
            continue
        throttled = (
            part["throttled"].fillna(False).astype(bool) if "throttled" in part else pd.Series(False, index=part.index)
        )
        hover = []
        for r in records(part, *extra):
            tip = (
                f"<b>{esc(s.label)}</b><br>{esc(r['case_id'])}<br>{data.msg.num(r['energy_j'], 4)} J · "
                f"{data.msg('fig.avg')} {data.msg.num(r.get('avg_power_w'))} W · "
                f"{data.msg('fig.peak')} {data.msg.num(r.get('peak_power_w'))} W"
            )
            if is_num(r.get("peak_temp_c")):
                tip += f" · {data.msg.num(r['peak_temp_c'])} °C"
            if is_num(r.get("energy_per_work")):
                tip += f"<br>{data.msg.num(r['energy_per_work'], 4)} {esc(r.get('energy_per_work_unit'))}"
            if is_true(r.get("throttled")):
                tip += "<br>" + esc(data.msg("fig.throttled", reasons=r.get("throttle_reasons")))
            hover.append(tip + "<br>" + esc(data.msg("fig.hover.run", run=s.run_id)))
        fig.add_bar(
            name=esc(s.label),
            legendgroup=s.run_id,
            x=[esc(c) for c in part["case_id"]],
            y=pd.to_numeric(part["energy_j"], errors="coerce").to_numpy(float),
            marker=dict(color=s.color, pattern=dict(shape=["x" if t else "" for t in throttled], fgcolor="#d62728")),
            hovertext=hover,
            hovertemplate=HOVER,
        )
    # Long case names: short tick labels, the full name in the hover text.
    fig.update_xaxes(
        categoryorder="array",
        categoryarray=[esc(c) for c in cats],
        tickangle=-40,
        tickfont=dict(size=9),
        tickvals=[esc(c) for c in cats],
        ticktext=[esc(short_case(c, 32)) for c in cats],
    )
    return fig


# ------------------------------------------------------------------------------------------- efficiency


def metric_facets(
    data: ReportData,
    metrics: list[Metric],
    values: dict[int, float],
    title: str,
    unit_of: dict[str, str],
    hover_extra: dict[int, str] | None = None,
) -> Plot | None:
    """A small bar panel per metric key (own y axis and unit), a bar per run. `values` maps
    id(metric) -> value to draw."""
    keys = list(dict.fromkeys(m.key for m in metrics if id(m) in values))
    if not keys:
        return None
    cols = min(3, len(keys))
    nrows = math.ceil(len(keys) / cols)
    labels = {m.key: m.label for m in metrics}
    fig = subplots(
        rows=nrows,
        cols=cols,
        subplot_titles=[esc(f"{labels[k]} · {unit_of[k]}") for k in keys],
        horizontal_spacing=0.07,
        vertical_spacing=0.22 / max(1, nrows - 1) if nrows > 1 else 0.1,
    )
    fig.update_layout(height=240 * nrows + 120, title=dict(text=title, x=0.01), bargap=0.15, margin=dict(t=90))
    # One trace per panel (a bar per run, coloured by run) and one legend-only entry per run: a trace per
    # run and panel would be hundreds of traces for a big fleet.
    for i, key in enumerate(keys):
        r, c = i // cols + 1, i % cols + 1
        xs, ys, colors, tips = [], [], [], []
        for s in data.series:
            m = next((m for m in metrics if m.key == key and m.run_id == s.run_id and id(m) in values), None)
            if m is None:
                continue
            tip = f"<b>{esc(s.label)}</b><br>{esc(m.label)}: {data.msg.num(values[id(m)], 4)} {esc(unit_of[key])}"
            if hover_extra and id(m) in hover_extra:
                tip += "<br>" + hover_extra[id(m)]
            xs.append(esc(s.label))
            ys.append(values[id(m)])
            colors.append(s.color)
            tips.append(tip + f"<br>run {esc(s.run_id)}")
        fig.add_bar(
            x=xs, y=ys, marker_color=colors, showlegend=False, hovertext=tips, hovertemplate=HOVER, row=r, col=c
        )
    for s in data.series:
        if any(m.run_id == s.run_id and id(m) in values for m in metrics):
            fig.add_bar(x=[None], y=[None], name=esc(s.label), marker_color=s.color, showlegend=True, row=1, col=1)
    fig.update_xaxes(showticklabels=False)
    fig.update_annotations(font=dict(size=10))
    return fig


# ---------------------------------------------------------------------------------------------- roofline


def roofline(data: ReportData, ok: pd.DataFrame) -> Plot | None:
    """Per run: measured ceilings (best matmul throughput per precision, best device-copy bandwidth) and
    each matmul case placed at its arithmetic intensity (FLOP per byte moved)."""
    bench = ok["benchmark"].astype(str)
    mm = ok[bench.isin(benchmarks_with_role("compute_anchor"))]
    if mm.empty or not {"dtype", "m", "n", "k"} <= set(mm.columns):
        return None
    mm = mm.assign(
        _bytes=[matmul_bytes(d, m, n, k) for d, m, n, k in zip(mm["dtype"], mm["m"], mm["n"], mm["k"], strict=True)]
    )
    flops = pd.to_numeric(mm["flops_per_step"] if "flops_per_step" in mm else mm["work_per_step"], errors="coerce")
    mm = mm.assign(_ai=flops / mm["_bytes"])
    mm = mm[np.isfinite(mm["_ai"].astype(float))]
    copies = ok[bench.isin(benchmarks_with_role("memory_anchor"))]
    # The device copy is the memory rows that are a workload (host links are not).
    d2d = copies[np.array([workload_ref(r) is not None for r in frame_rows(copies)], dtype=bool)]
    parts = by_run(mm)
    shown = [s for s in data.series if s.run_id in parts]
    if not shown:
        return None
    cols = min(3, len(shown))
    nrows = math.ceil(len(shown) / cols)
    fig = subplots(
        rows=nrows,
        cols=cols,
        subplot_titles=[esc(s.label) for s in shown],
        horizontal_spacing=0.07,
        vertical_spacing=0.25 / nrows,
    )
    fig.update_layout(
        height=330 * nrows + 100,
        showlegend=False,
        title=dict(text=esc(data.msg("fig.roofline")), x=0.01),
    )
    shapes = ("square", "circle", "diamond", "triangle-up", "star", "hexagon", "cross")
    symbols = dict(zip(GEMM_DTYPES, shapes, strict=True))
    for i, s in enumerate(shown):
        r, c = i // cols + 1, i % cols + 1
        mine = parts[s.run_id]
        bw_rows = d2d[d2d["run_id"] == s.run_id]
        bw = float(pd.to_numeric(bw_rows["throughput"], errors="coerce").max()) if not bw_rows.empty else math.nan
        ai = mine["_ai"].astype(float)
        lowest = float(mine["throughput"].astype(float).min())
        # Start the slope left of both the cases and the lowest ridge point, so every ceiling meets it.
        first_ridge = lowest * 1e3 / bw if math.isfinite(bw) and bw > 0 else float(ai.min())
        x_lo, x_hi = max(1e-3, min(float(ai.min()), first_ridge) / 4), float(ai.max()) * 4
        # One trace for all ceilings and one for all cases of a run (None breaks the line): hundreds of
        # traces make Plotly slow to build and to draw.
        cx: list[float | None] = []
        cy: list[float | None] = []
        ctext: list[str] = []
        for dtype, g in mine.groupby(mine["dtype"].astype(str)):
            peak = float(g["throughput"].astype(float).max())
            ridge = peak * 1e3 / bw if math.isfinite(bw) and bw > 0 else x_lo
            cx += [max(ridge, x_lo), x_hi, None]
            cy += [peak, peak, None]
            ctext += ["", esc(f"{dtype} {data.msg.num(peak)}"), ""]
        fig.add_scatter(
            x=cx,
            y=cy,
            mode="lines+text",
            text=ctext,
            textposition="top left",
            textfont=dict(size=9, color="#555"),
            line=dict(color="#777", dash="dot", width=1),
            hoverinfo="skip",
            row=r,
            col=c,
        )
        fig.add_scatter(
            x=mine["_ai"].astype(float).to_numpy(),
            y=mine["throughput"].astype(float).to_numpy(),
            mode="markers",
            marker=dict(
                color=s.color,
                size=8,
                line=dict(width=0.5, color="#222"),
                symbol=[symbols.get(str(d), "circle") for d in mine["dtype"]],
            ),
            hovertext=[
                row_hover(data, s, rr) + f"<br>{data.msg.num(rr['_ai'])} FLOP/byte" for rr in records(mine, "_ai")
            ],
            hovertemplate=HOVER,
            row=r,
            col=c,
        )
        if math.isfinite(bw) and bw > 0:
            top = float(mine["throughput"].astype(float).max())
            ridge = top * 1e3 / bw
            # GB/s x FLOP/byte = GFLOP/s; / 1e3 -> TFLOP/s.
            fig.add_scatter(
                x=[x_lo, ridge],
                y=[bw * x_lo / 1e3, top],
                mode="lines",
                line=dict(color=s.color, width=2),
                hovertext=[esc(data.msg("fig.device_copy", gbps=data.msg.num(bw)))] * 2,
                hovertemplate=HOVER,
                row=r,
                col=c,
            )
        fig.update_xaxes(type="log", title_text="FLOP / byte", row=r, col=c)
        fig.update_yaxes(type="log", title_text="TFLOP/s" if c == 1 else None, row=r, col=c)
    fig.update_annotations(font=dict(size=12))
    return fig


# ----------------------------------------------------------------------------------------------- others


def score_bars(data: ReportData, scores: pd.DataFrame) -> Plot:
    """Geometric-mean speed-up over the baseline per run."""
    fig = new_figure(
        esc(data.msg("fig.score", baseline=data.baseline.label)),
        height=360,
        yaxis_title=esc(data.msg("fig.score_y")),
        showlegend=False,
    )
    for s in data.series:
        row = scores[scores["run_id"] == s.run_id]
        if row.empty or not is_num(row["score"].iloc[0]):
            continue
        score, n = float(row["score"].iloc[0]), int(row["score_n"].iloc[0])
        fig.add_bar(
            x=[esc(s.label)],
            y=[score],
            marker_color=s.color,
            name=esc(s.label),
            hovertext=[
                f"<b>{esc(s.label)}</b><br>"
                + esc(data.msg("fig.score_hover", score=data.msg.fixed(score, 2), n=n))
                + "<br>"
                + esc(data.msg("fig.hover.run", run=s.run_id))
            ],
            hovertemplate=HOVER,
            text=[data.msg.fixed(score, 2) + "×"],
            textposition="outside",
        )
    fig.add_hline(y=1.0, line=dict(color="#999", dash="dot", width=1))
    return fig


def collectives(data: ReportData, rows: pd.DataFrame) -> Plot:
    """Bus bandwidth against message size per collective op (nccl-tests' busbw), per run."""
    ycol = next(
        (c for c in ("busbw_gbps", "busbw", "throughput") if c in rows and rows[c].notna().any()),
        "throughput",
    )
    op = rows["op"].astype(str) if "op" in rows else rows["benchmark"].astype(str)
    fig = new_figure(
        esc(data.msg("fig.collectives")),
        xaxis_title=esc(data.msg("fig.message_size")),
        yaxis_title=esc(data.msg("fig.busbw_y")),
    )
    dashes = ["solid", "dash", "dot", "dashdot", "longdash"]
    op_dash = {o: dashes[i % len(dashes)] for i, o in enumerate(sorted(op.unique()))}
    for s in data.series:
        for o in op_dash:
            part = rows[(rows["run_id"] == s.run_id) & (op == o)].sort_values("size_bytes")
            if part.empty:
                continue
            fig.add_scatter(
                x=part["size_bytes"].astype(float).to_numpy(),
                y=part[ycol].astype(float).to_numpy(),
                mode="lines+markers",
                line=dict(color=s.color, dash=op_dash[o]),
                name=esc(f"{s.label} · {o}"),
                legendgroup=s.run_id,
                hovertext=[row_hover(data, s, r, ycol, "GB/s") for r in records(part, ycol)],
                hovertemplate=HOVER,
            )
    fig.update_xaxes(type="log", exponentformat="SI")
    return fig
