"""The report's sections, in order. Each is a `Section(key, title, build)`; `build(data)` returns the blocks
to show (figures, tables, notes) or an empty list when the runs lack the data, and the section is left out.

To add a section (scaling, a new benchmark), write a builder and insert a `Section` into `SECTIONS`;
nothing else changes. Table text is raw (the page escapes it); Plotly text must be escaped by the builder
(see `esc`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from gpubench.report import figures as F
from gpubench.report.data import (
    ReportData,
    device_spec,
    environment_differences,
    esc,
    fmt_num,
    headline_metrics,
    is_num,
    scorecard,
)
from gpubench.stats import sweep_summary

# ------------------------------------------------------------------------------------------------- blocks


@dataclass
class Figure:
    figure: go.Figure
    caption: str = ""


@dataclass
class Cell:
    """A table cell. `text` and `title` are raw (the page escapes them); `cls` adds CSS classes
    ('diff' highlights a value that differs between runs); `color` draws a run's colour swatch."""

    text: str
    cls: str = ""
    title: str = ""
    color: str = ""


@dataclass
class Table:
    header: list[str]
    rows: list[list[Cell]]
    caption: str = ""


@dataclass
class Note:
    text: str
    kind: str = "info"  # info | warn
    items: list[str] = field(default_factory=list)


Block = Figure | Table | Note


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    build: Callable[[ReportData], list[Block]]


def _swatch(data: ReportData, run_id: str) -> Cell:
    s = data.by_run[run_id]
    return Cell(s.label, color=s.color, title=s.run_id)


def _bench(data: ReportData, name: str) -> pd.DataFrame:
    ok = data.ok
    if "benchmark" not in ok:
        return ok.iloc[0:0]
    return ok[ok["benchmark"].astype("string") == name]


# --------------------------------------------------------------------------------------------------- runs


def build_runs(data: ReportData) -> list[Block]:
    """Provenance of each run, with differences that make comparisons unfair highlighted."""
    diffs = environment_differences(data)
    flagged = {d.field for d in diffs}
    runs = data.runs
    header = ["run", "device", "vendor", "host", "driver", "CUDA", "HIP", "torch", "gpubench", "started (UTC)",
              "suite", "power limit", "TF32 cases", "methods", "cases ok", "telemetry"]  # fmt: skip
    fields = [None, None, None, None, None, "cuda", "hip", "torch", None, None, None, "power_limit", "tf32",
              "versions", None, None]  # fmt: skip
    rows = []
    for s in data.series:
        m = s.meta
        dev, sw, tel = m.get("device") or {}, m.get("software") or {}, m.get("telemetry") or {}
        mine = runs[runs["run_id"] == s.run_id] if "run_id" in runs else runs.iloc[0:0]
        tf32 = int(mine["tf32"].fillna(False).astype(bool).sum()) if "tf32" in mine else 0
        versions = ""
        if {"benchmark", "benchmark_version"} <= set(mine.columns):
            v = mine[mine["benchmark_version"].notna()].groupby("benchmark")["benchmark_version"].first()
            versions = ", ".join(f"{b} v{int(x)}" for b, x in v.items())
        status = mine["status"].astype("string").fillna("") if "status" in mine else pd.Series(dtype="string")
        limit = tel.get("power_limit_w")
        reader = tel.get("reader") or "–"
        if tel.get("reason"):
            reader = f"{reader}: {tel['reason']}"
        values = [
            None, dev.get("name"), dev.get("vendor"), m.get("host"), dev.get("driver"), sw.get("cuda") or dev.get("cuda"),
            sw.get("hip") or dev.get("hip"), sw.get("torch"), m.get("gpubench_version"),
            str(m.get("started_utc") or "").replace("T", " ").rstrip("Z"), (m.get("suite") or {}).get("name"),
            f"{float(limit):g} W" if is_num(limit) else "–", str(tf32), versions,
            f"{int((status == 'ok').sum())} / {len(mine)}", reader,
        ]  # fmt: skip
        cells = [_swatch(data, s.run_id)]
        for value, fld in zip(values[1:], fields[1:], strict=True):
            cells.append(
                Cell("–" if value in (None, "") else str(value), cls="diff" if fld in flagged else "")
            )
        rows.append(cells)
    blocks: list[Block] = [Table(header, rows)]
    if diffs:
        blocks.insert(0, Note("Differences that can make these comparisons unfair (highlighted below):", "warn",
                              [d.message for d in diffs]))  # fmt: skip
    if data.notes:
        blocks.append(Note("Notes:", "info", list(data.notes)))
    return blocks


# ---------------------------------------------------------------------------------------------- scorecard


def build_scorecard(data: ReportData) -> list[Block]:
    """Headline figures per run and speed-up over the baseline, with a geometric-mean score."""
    metrics = headline_metrics(data)
    if not metrics:
        return []
    card = scorecard(data, metrics)
    keys = list(dict.fromkeys(m.key for m in metrics))
    label = {m.key: m.label for m in metrics}
    unit = {m.key: m.unit for m in metrics}
    header = ["run", "score"] + [f"{label[k]} ({unit[k]})" for k in keys]
    rows = []
    for s in data.series:
        mine = card[card["run_id"] == s.run_id].set_index("key")
        if mine.empty:
            continue
        score = mine["score"].iloc[0]
        n = int(mine["score_n"].iloc[0])
        cells = [_swatch(data, s.run_id),
                 Cell(f"{score:.2f}×" if is_num(score) else "–", cls="num score",
                      title=f"geometric mean over {n} metric(s) shared with the baseline")]  # fmt: skip
        for k in keys:
            if k not in mine.index:
                cells.append(Cell("–", cls="num"))
                continue
            r = mine.loc[k]
            ratio = r["ratio"]
            text = fmt_num(r["value"])
            cls = "num"
            if s.run_id != data.baseline.run_id and is_num(ratio):
                text += f"  ({ratio:.2f}×)"
                cls += " up" if ratio > 1.02 else (" down" if ratio < 0.98 else "")
            cells.append(Cell(text, cls=cls, title=f"case {data.runs.at[int(r['row']), 'case_id']}"))
        rows.append(cells)
    caption = (f"Best case of each kind per run; (n×) is the speed-up over the baseline, {data.baseline.label} "
               "(energy: lower is better, so the ratio is inverted). Score: geometric mean of the speed-ups over "
               "the metrics a run shares with the baseline.")  # fmt: skip
    blocks: list[Block] = [Table(header, rows, caption)]
    if len(data.series) > 1 and card["score"].notna().any():
        blocks.append(Figure(F.score_bars(data, card.drop_duplicates("run_id"))))
    return blocks


# ------------------------------------------------------------------------------------------------- matmul


def build_matmul(data: ReportData) -> list[Block]:
    ok = _bench(data, "matmul")
    if ok.empty or "dtype" not in ok:
        return []
    blocks: list[Block] = [Figure(F.matmul_by_precision(data, ok),
                                  "Best shape per precision; bars show that case's p10–p90.")]  # fmt: skip
    if {"m", "n", "k"} <= set(ok.columns):
        found = []
        cols = [c for c in ("benchmark", "status", "device_name", "dtype", "m", "n", "k", "throughput",
                            "throughput_unit") if c in ok]  # fmt: skip
        for run_id, mine in F.by_run(ok).items():
            for sw in sweep_summary(mine[cols].to_dict("records")):
                found.append({"run_id": run_id, **sw})
        if found:
            sweeps = pd.DataFrame(found)
            blocks.append(Figure(F.matmul_sweeps(data, sweeps, ok),
                                 "The MAMF method: the best shape of a sweep is the achievable peak."))  # fmt: skip
            rows = [[_swatch(data, r["run_id"]), Cell(str(r["dtype"])), Cell(f"{r['n']} × {r['k']}"),
                     Cell(str(r["shapes"]), cls="num"), Cell(fmt_num(r["best_throughput"]), cls="num"),
                     Cell(str(r["best_m"]), cls="num"), Cell(fmt_num(r["geomean_throughput"]), cls="num"),
                     Cell(str(r["unit"]))] for r in found]  # fmt: skip
            blocks.append(Table(["run", "dtype", "N × K", "shapes", "best", "at M", "geomean", "unit"], rows))
    pct = F.matmul_pct_of_peak(data, ok)
    if pct is not None:
        blocks.append(
            Figure(
                pct, "Dense datasheet peaks from the gpubench catalog; GeForce boost clocks can pass 100%."
            )
        )
    return blocks


# ------------------------------------------------------------------------------------------------- memory


def build_memory(data: ReportData) -> list[Block]:
    ok = _bench(data, "memory")
    if ok.empty or "kind" not in ok or "size_bytes" not in ok:
        return []
    return [Figure(F.memory_bandwidth(data, ok),
                   "D2D counts bytes read + written; H2D/D2H count bytes once. Solid: pinned host memory, "
                   "dashed: pageable.")]  # fmt: skip


# ---------------------------------------------------------------------------------- training and inference


def build_models(data: ReportData) -> list[Block]:
    blocks: list[Block] = []
    for name in ("train", "infer"):
        ok = _bench(data, name)
        if not ok.empty and "throughput" in ok:
            # samples/s and tokens/s never share an axis: one figure per unit.
            units = ok["throughput_unit"].astype("string").fillna("")
            for unit in sorted(units.unique()):
                blocks.append(Figure(F.model_throughput(data, ok[units == unit], name)))
    infer = _bench(data, "infer")
    if not infer.empty and "batch" in infer and "median_s" in infer:
        b1 = infer[pd.to_numeric(infer["batch"], errors="coerce") == 1]
        if not b1.empty:
            blocks.append(Figure(F.inference_latency(data, b1)))
    return blocks


# ------------------------------------------------------------------------------------ power and thermals


def build_power(data: ReportData) -> list[Block]:
    blocks: list[Block] = []
    tel = data.telemetry
    if not tel.empty and "run_id" in tel and "t_ns" in tel:
        for s in data.series:
            mine = tel[tel["run_id"] == s.run_id]
            if "rank" in mine:  # distributed run: rank 0's device (the case windows are on its clock)
                mine = mine[mine["rank"].isna() | (mine["rank"] == 0)]
            if mine.empty:
                continue
            cases = data.runs[data.runs["run_id"] == s.run_id]
            fig = F.telemetry_timeline(s, mine, cases)
            if fig is not None:
                blocks.append(Figure(fig))
    if data.has("energy_j", data.ok):
        rows = data.ok[pd.to_numeric(data.ok["energy_j"], errors="coerce").notna()]
        blocks.append(Figure(F.energy_per_case(data, rows)))
    if data.has("throttled"):
        hit = data.runs[data.runs["throttled"].fillna(False).astype(bool)]
        if not hit.empty:
            rows = [[_swatch(data, r["run_id"]), Cell(str(r["case_id"])), Cell(str(r.get("throttle_reasons") or "")),
                     Cell(f"{float(r['throttled_pct']):.0f}%" if is_num(r.get("throttled_pct")) else "–", cls="num"),
                     Cell(fmt_num(r.get("mean_sm_clock_mhz")), cls="num")] for r in hit.to_dict("records")]  # fmt: skip
            blocks.append(Table(["run", "throttled case", "reasons", "samples throttled", "mean SM clock (MHz)"], rows,
                                "A throttled case ran slower than the card can: power cap or heat."))  # fmt: skip
    return blocks


# ------------------------------------------------------------------------------------------------ efficiency


def build_efficiency(data: ReportData) -> list[Block]:
    metrics = [m for m in headline_metrics(data) if m.higher_is_better]
    blocks: list[Block] = []
    if data.has("throughput_per_watt", data.ok):
        per_watt = {}
        for m in metrics:
            v = data.runs.at[m.row, "throughput_per_watt"]
            if is_num(v):
                per_watt[id(m)] = float(v)
        extra = {id(m): f"avg power {fmt_num(data.runs.at[m.row, 'avg_power_w'])} W" for m in metrics
                 if "avg_power_w" in data.runs}  # fmt: skip
        fig = F.metric_facets(data, metrics, per_watt, "Throughput per watt (measured average power of the case)",
                              {m.key: f"{m.unit}/W" for m in metrics}, extra)  # fmt: skip
        if fig is not None:
            blocks.append(Figure(fig, "Best case of each kind; power measured by the run's telemetry reader "
                                      "(the card only, not the host)."))  # fmt: skip
    prices = {}
    for s in data.series:
        spec = device_spec(s)
        price = getattr(spec, "launch_price_usd", None) if spec is not None else None
        if is_num(price) and float(price) > 0:
            prices[s.run_id] = float(price)
    if prices:
        per_k = {id(m): m.value / prices[m.run_id] * 1000 for m in metrics if m.run_id in prices}
        extra = {id(m): f"launch price ${prices[m.run_id]:,.0f}" for m in metrics if m.run_id in prices}
        fig = F.metric_facets(data, metrics, per_k, "Throughput per $1,000 of launch price",
                              {m.key: f"{m.unit} per $1k" for m in metrics}, extra)  # fmt: skip
        if fig is not None:
            blocks.append(Figure(fig, "Launch list prices from the gpubench catalog; street and used prices differ "
                                      "(see `gpubench recommend --prices`)."))  # fmt: skip
    elif blocks and _specs_missing():
        blocks.append(Note("Per-dollar figures need gpubench.specs (the datasheet catalog), missing here."))
    return blocks


def _specs_missing() -> bool:
    try:
        import gpubench.specs  # noqa: F401
    except ImportError:
        return True
    return False


# ---------------------------------------------------------------------------------------------- roofline


def build_roofline(data: ReportData) -> list[Block]:
    ok = data.ok
    if "benchmark" not in ok:
        return []
    fig = F.roofline(data, ok)
    if fig is None:
        return []
    return [Figure(fig, "Ceilings are this run's own best results: best matmul per precision (dotted) and best "
                        "device copy (solid slope, bytes read + written). A GEMM moves at least A, B and C once.")]  # fmt: skip


# ------------------------------------------------------------------------------------------- collectives


def build_collectives(data: ReportData) -> list[Block]:
    rows = _bench(data, "collective")
    if rows.empty or "size_bytes" not in rows:
        return []
    blocks: list[Block] = [
        Figure(F.collectives(data, rows),
               "algbw = message bytes / the slowest rank's median time; busbw = algbw × 2(n−1)/n for all_reduce, "
               "× (n−1)/n for all_gather, reduce_scatter and all_to_all, × 1 for broadcast and send/recv "
               "(nccl-tests convention): compare busbw with the link's unidirectional bandwidth.")
    ]  # fmt: skip
    if "busbw_gbps" in rows and "op" in rows and rows["busbw_gbps"].notna().any():
        measured = rows[rows["busbw_gbps"].notna()].sort_values("busbw_gbps")
        best = measured.groupby(["run_id", "op"], sort=False).tail(1)
        table = []
        for r in best.sort_values(["run_id", "op"]).to_dict("records"):
            if r["run_id"] not in data.by_run:
                continue
            table.append([_swatch(data, r["run_id"]), Cell(str(r["op"])), Cell(str(r.get("dtype") or "")),
                          Cell(fmt_num(r.get("world_size")), cls="num"), Cell(str(r.get("dist_backend") or "")),
                          Cell(fmt_num(r["busbw_gbps"]), cls="num"), Cell(fmt_num(r.get("algbw_gbps")), cls="num"),
                          Cell(fmt_num(r.get("size_bytes")), cls="num")])  # fmt: skip
        blocks.append(Table(["run", "op", "dtype", "ranks", "backend", "peak busbw (GB/s)", "algbw (GB/s)",
                             "at size (bytes)"], table, "Best message size of each collective."))  # fmt: skip
    return blocks


# ------------------------------------------------------------------------------------------------ scaling


def build_scaling(data: ReportData) -> list[Block]:
    """Data-parallel scaling (ddp_train): efficiency = throughput at N ranks / (N × throughput at 1 rank)."""
    from gpubench.dist.results import scaling_table  # torch-free

    table = scaling_table(data.ok)
    if table.empty:
        return []
    fig = F.new_figure("Data-parallel scaling efficiency", xaxis_title="ranks (devices)",
                       yaxis_title="throughput at N / (N × at 1)")  # fmt: skip
    dashes = ["solid", "dash", "dot", "dashdot", "longdash"]
    configs = list(dict.fromkeys(zip(table["model"], table["precision"], table["batch"], strict=True)))
    rows = []
    for s in data.series:
        mine = table[table["run_id"] == s.run_id]
        for i, config in enumerate(configs):
            keys = zip(mine["model"], mine["precision"], mine["batch"], strict=True)
            part = mine[[c == config for c in keys]].sort_values("ranks")
            if part.empty:
                continue
            hover = [f"<b>{esc(s.label)}</b><br>{esc(r['case_id'])}<br>{int(r['ranks'])} ranks: "
                     f"{fmt_num(r['throughput'])} {esc(r['throughput_unit'] or '')}<br>speed-up "
                     f"{fmt_num(r['speedup'])}×, efficiency {fmt_num(r['scaling_efficiency'])}"
                     for r in part.to_dict("records")]  # fmt: skip
            fig.add_scatter(x=part["ranks"].astype(float).to_numpy(), y=part["scaling_efficiency"].astype(float).to_numpy(),
                            mode="lines+markers", line=dict(color=s.color, dash=dashes[i % len(dashes)]),
                            name=esc(f"{s.label} · {config[0]} {config[1]} ×{config[2]}"), legendgroup=s.run_id,
                            hovertext=hover, hovertemplate=F.HOVER)  # fmt: skip
            for r in part.to_dict("records"):
                other = r["baseline_run_id"] not in (None, r["run_id"])
                rows.append([_swatch(data, s.run_id), Cell(str(r["model"])), Cell(str(r["precision"])),
                             Cell(fmt_num(r["batch"]), cls="num"), Cell(f"{int(r['ranks'])}", cls="num"),
                             Cell(f"{fmt_num(r['throughput'])} {r['throughput_unit'] or ''}", cls="num"),
                             Cell(fmt_num(r["speedup"]), cls="num"),
                             Cell(f"{100 * r['scaling_efficiency']:.0f}%" if is_num(r["scaling_efficiency"]) else "–",
                                  cls="num", title=f"1 rank from {r['baseline_run_id']}" if other else ""),
                             Cell("other run" if other else ("this run" if r["baseline_run_id"] else "none"))])  # fmt: skip
    fig.add_hline(y=1.0, line_dash="dot", line_color="#888")
    ticks = sorted({float(x) for x in table["ranks"] if is_num(x)})
    fig.update_xaxes(type="log", tickvals=ticks, ticktext=[f"{int(t)}" for t in ticks])
    caption = ("Weak scaling under DistributedDataParallel: each rank trains on its own batch; throughput counts "
               "every rank's samples. Efficiency 100% = perfectly linear.")  # fmt: skip
    header = ["run", "model", "precision", "batch / rank", "ranks", "throughput", "speed-up", "efficiency",
              "1-rank baseline"]  # fmt: skip
    return [Figure(fig, caption), Table(header, rows)]


# ---------------------------------------------------------------------------------------------- problems


def build_problems(data: ReportData) -> list[Block]:
    runs = data.runs
    if runs.empty or "status" not in runs:
        return []
    status = runs["status"].astype("string").fillna("")
    noisy = (
        runs["noisy"].fillna(False).astype(bool) if "noisy" in runs else pd.Series(False, index=runs.index)
    )
    rows = []
    order = {"failed": 0, "wrong": 1, "skipped": 2, "ok": 3}
    problem = runs[(status != "ok") | noisy]
    for r in sorted(problem.to_dict("records"), key=lambda row: order.get(str(row["status"]), 9)):
        st = str(r["status"])
        reason = str(r.get("reason") or "") if not _missing(r.get("reason")) else ""
        if st == "ok" and F.is_true(r.get("noisy")):
            st = "noisy"
            iqr = r.get("iqr_s")
            med = r.get("median_s")
            detail = (
                f"IQR/median {100 * float(iqr) / float(med):.0f}%"
                if is_num(iqr) and is_num(med) and float(med) > 0
                else ""
            )
            cov = r.get("cov")
            reason = "; ".join(x for x in (detail, f"CoV {100 * float(cov):.0f}%" if is_num(cov) else "",
                                           f"{int(r['n_reps'])} reps" if is_num(r.get("n_reps")) else "") if x)  # fmt: skip
        elif st == "wrong" and is_num(r.get("check_error")):
            reason = (
                reason
                or f"error {float(r['check_error']):.3g} > {float(r.get('check_tolerance', math.nan)):.3g}"
            )
        rows.append(
            [_swatch(data, r["run_id"]), Cell(str(r.get("case_id"))), Cell(st, cls=f"st-{st}"), Cell(reason)]
        )
    if not rows:
        return [Note("No failed, skipped, wrong or noisy cases.")]
    return [Table(["run", "case", "status", "reason"], rows,
                  "wrong: the result failed its correctness check (fast but wrong counts for nothing); noisy: "
                  "IQR/median above 10%.")]  # fmt: skip


def _value_section(data: ReportData) -> list[Block]:
    from gpubench.report.value import build_value  # value.py imports this module's blocks: import on use

    return build_value(data)


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


from gpubench.report.llm import build_llm  # noqa: E402  (it builds with the block types above)
from gpubench.report.topics import build_topics  # noqa: E402 - topics builds on the blocks above

SECTIONS: list[Section] = [
    Section("runs", "Runs", build_runs),
    Section("scorecard", "Scorecard", build_scorecard),
    Section("matmul", "Matmul", build_matmul),
    Section("memory", "Memory", build_memory),
    Section("models", "Training and inference", build_models),
    Section("llm", "Language models", build_llm),
    Section("collectives", "Collectives", build_collectives),
    Section("scaling", "Scaling", build_scaling),
    Section("topics", "Optimisation topics", build_topics),
    Section("power", "Power and thermals", build_power),
    Section("efficiency", "Efficiency", build_efficiency),
    Section("roofline", "Roofline", build_roofline),
    Section("value", "Value", lambda data: _value_section(data)),
    Section("problems", "Problems", build_problems),
]
"""Sections in page order. A 'scaling' section (multi-GPU runs) slots in after 'collectives'."""


__all__ = ["SECTIONS", "Block", "Cell", "Figure", "Note", "Section", "Table", "esc"]
