"""The article's optimisation topics, one block group each: access stride, transfer/compute overlap, input
pipeline, pipeline parallelism, sustained vs burst, energy per precision. Each topic opens with a short
plain-words note and shows only when the runs hold its rows. Derived figures that pair two rows of one run
(waiting for data, the measured bubble, the ratio to fp32) are computed here, from the stored rows.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from gpubench.report import figures as F
from gpubench.report.data import ReportData, Series, esc, fmt_num, is_num
from gpubench.report.sections import Block, Cell, Figure, Note, Table, _bench, _swatch

EXPLAIN = {
    "memory_stride": (
        "Access stride (memory coalescing). Memory is fetched in whole lines (64 bytes on a CPU, 32-128 bytes "
        "on a GPU). Reading neighbouring elements uses every byte fetched; reading every s-th element wastes the "
        "rest, so useful bandwidth falls about s-fold until one element per line is left, and a random gather "
        "is worse still. Bandwidth here counts only the bytes asked for."
    ),
    "overlap": (
        "Overlap of transfer and compute. A GPU copies host memory with separate copy engines, so the next "
        "batch can travel while this one computes, if the host memory is pinned and the copy is on its own "
        "stream. Overlap fraction = 1 - overlapped time / serial time: 0 means nothing was hidden."
    ),
    "input_pipeline": (
        "Input pipeline. The same training step fed from data already on the device, or by a DataLoader that "
        "decodes and augments each sample on the host. Waiting for data = 1 - (device-fed step time / "
        "loader-fed step time): the share of each step the device sat idle. More workers hide the host work."
    ),
    "pipeline": (
        "Pipeline parallelism. A model split into stages on different devices; the batch flows through in "
        "micro-batches. While the pipe fills and drains some stages wait (the bubble): in theory "
        "(stages - 1) / (micro-batches + stages - 1). Measured bubble = 1 - single-device time / (stages x "
        "pipelined time); on a CPU the stages share cores and talk through gloo, so it is large."
    ),
    "sustained": (
        "Sustained vs burst. A short benchmark on a cool card runs at boost clocks; held for a minute the card "
        "heats up, hits its power or thermal limit and slows down (mamf-finder: H200 bf16 828 TFLOP/s burst, "
        "703 sustained). Burst = the first seconds, sustained = the last half of the hold."
    ),
    "energy": (
        "Energy per precision. Lower precision moves fewer bytes and uses cheaper arithmetic, so the same work "
        "should cost fewer joules. Joules per unit of work = average power / throughput, from the energy "
        "counter where the device has one (else integrated power samples); above idle subtracts what the "
        "device draws doing nothing."
    ),
}


def _params(row: dict[str, Any]) -> dict[str, Any]:
    try:
        return json.loads(row.get("params_json") or "{}")
    except (TypeError, ValueError):
        return {}


def _pct(value: Any) -> str:
    return f"{100 * float(value):.0f}%" if is_num(value) else "–"


def _groups(data: ReportData, rows: pd.DataFrame, by: str) -> Iterator[tuple[Series, Any, pd.DataFrame]]:
    """(series, group value, rows) for each run in the report and each value of column `by`."""
    for run_id, mine in rows.groupby("run_id", sort=False):
        s = data.by_run.get(run_id)
        if s is not None:
            for value, part in mine.groupby(by, sort=False):
                yield s, value, part


def _line(fig: Any, s: Series, part: pd.DataFrame, x: str, name: str, dash: str) -> None:
    """One run's throughput against column `x`, in the run's colour."""
    part = part.sort_values(x)
    hover = [f"<b>{esc(s.label)}</b><br>{esc(r['case_id'])}<br>{fmt_num(r['throughput'])} "
             f"{esc(r.get('throughput_unit') or '')}" for r in part.to_dict("records")]  # fmt: skip
    fig.add_scatter(x=part[x].astype(float).to_numpy(), y=part["throughput"].astype(float).to_numpy(),
                    mode="lines+markers", name=esc(f"{s.label} · {name}"), legendgroup=s.run_id,
                    line=dict(color=s.color, dash=dash), hovertext=hover, hovertemplate=F.HOVER)  # fmt: skip


def _stride(data: ReportData) -> list[Block]:
    rows = _bench(data, "memory_stride")
    if rows.empty or "access" not in rows:
        return []
    fig = F.new_figure("Read bandwidth by access stride (bytes requested)", xaxis_title="stride (elements)",
                       yaxis_title="GB/s requested")  # fmt: skip
    dashes = {"fp32": "solid", "bf16": "dash"}
    table = []
    for s, dtype, part in _groups(data, rows, "dtype"):
        run_id = s.run_id
        strided = part[part["access"] == "stride"]
        gather = part[part["access"] == "gather"]
        if not strided.empty:
            _line(fig, s, strided, "stride", str(dtype), dashes.get(str(dtype), "dot"))
        if not gather.empty:
            g = float(gather["throughput"].iloc[0])
            fig.add_hline(y=g, line_dash="dot", line_color=s.color,
                          annotation_text=esc(f"{s.label}: random gather {dtype}, {fmt_num(g)} GB/s"),
                          annotation_position="top left" if dtype == "fp32" else "bottom left")  # fmt: skip
        unit = strided[strided["stride"] == 1]["throughput"]
        base = float(unit.iloc[0]) if len(unit) else math.nan
        for r in part.sort_values(["access", "stride"], ascending=[False, True]).to_dict("records"):
            what = f"stride {int(r['stride'])}" if r["access"] == "stride" else "random gather"
            table.append([_swatch(data, run_id), Cell(str(dtype)), Cell(what),
                          Cell(fmt_num(r["throughput"]), cls="num"),
                          Cell(_pct(float(r["throughput"]) / base) if base > 0 else "–", cls="num")])  # fmt: skip
    fig.update_xaxes(
        type="log", tickvals=[1, 2, 4, 8, 16, 32, 64], ticktext=["1", "2", "4", "8", "16", "32", "64"]
    )
    return [Note(EXPLAIN["memory_stride"]), Figure(fig),
            Table(["run", "dtype", "access", "GB/s requested", "of stride 1"], table)]  # fmt: skip


def _overlap(data: ReportData) -> list[Block]:
    rows = _bench(data, "overlap")
    if rows.empty or "overlap_fraction" not in rows:
        skipped = data.runs[(data.runs.get("benchmark") == "overlap")] if "benchmark" in data.runs else rows
        if skipped.empty:
            return []
        reasons = (
            sorted({str(r) for r in skipped["reason"].dropna() if str(r)}) if "reason" in skipped else []
        )
        return (
            [Note(EXPLAIN["overlap"]), Note("Not measured here: " + "; ".join(reasons), "warn")]
            if reasons
            else []
        )
    table = [[_swatch(data, r["run_id"]), Cell(str(r["case_id"])), Cell(fmt_num(1e3 * r["serial_s"]), cls="num"),
              Cell(fmt_num(1e3 * r["overlapped_s"]), cls="num"), Cell(_pct(r["overlap_fraction"]), cls="num")]
             for r in rows.to_dict("records") if r["run_id"] in data.by_run]  # fmt: skip
    return [Note(EXPLAIN["overlap"]),
            Table(["run", "case", "serial (ms)", "overlapped (ms)", "overlap fraction"], table)]  # fmt: skip


def _input_pipeline(data: ReportData) -> list[Block]:
    rows = _bench(data, "input_pipeline")
    if rows.empty or "source" not in rows:
        return []
    table = []
    for r in rows.to_dict("records"):
        if r["run_id"] not in data.by_run:
            continue
        same = rows[(rows["run_id"] == r["run_id"]) & (rows["source"] == "device") & (rows["batch"] == r["batch"])
                    & (rows["samples"] == r["samples"])]  # fmt: skip
        wait = math.nan
        if r["source"] == "loader" and not same.empty and float(r["median_s"]) > 0:
            wait = max(0.0, 1.0 - float(same["median_s"].iloc[0]) / float(r["median_s"]))
        feed = (
            "on the device"
            if r["source"] == "device"
            else (
                f"DataLoader, {int(r['workers'])} workers"
                + (", pinned" if F.is_true(r.get("pin_memory")) else "")
            )
        )
        table.append([_swatch(data, r["run_id"]), Cell(feed), Cell(fmt_num(r["batch"]), cls="num"),
                      Cell(fmt_num(r["throughput"]), cls="num"),
                      Cell(_pct(wait) if r["source"] == "loader" else "–", cls="num")])  # fmt: skip
    return [Note(EXPLAIN["input_pipeline"]),
            Table(["run", "fed from", "batch", "samples/s", "waiting for data"], table)]  # fmt: skip


def pipeline_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Pipelined rows with speed-up over the single-device row of the same run, model and batch, and the
    measured bubble 1 - single / (stages x pipelined)."""
    out = []
    for r in rows.to_dict("records"):
        if r.get("schedule") in (None, "single"):
            continue
        ref = rows[(rows["run_id"] == r["run_id"]) & (rows["schedule"] == "single") & (rows["batch"] == r["batch"])
                   & (rows["layers"] == r["layers"]) & (rows["width"] == r["width"])]  # fmt: skip
        single = float(ref["median_s"].iloc[0]) if not ref.empty else math.nan
        stages = float(r.get("stages") or math.nan)
        t = float(r["median_s"])
        out.append({**r, "speedup": single / t, "bubble_measured": 1.0 - single / (stages * t)})
    return pd.DataFrame(out)


def _pipeline(data: ReportData) -> list[Block]:
    rows = _bench(data, "pipeline")
    if rows.empty or "schedule" not in rows:
        return []
    table = pipeline_table(rows)
    if table.empty:
        return []
    fig = F.new_figure("Pipeline parallelism: throughput by micro-batch count", xaxis_title="micro-batches",
                       yaxis_title="samples/s")  # fmt: skip
    rows_out = []
    for s, schedule, part in _groups(data, table, "schedule"):
        run_id = s.run_id
        part = part.sort_values("microbatches")
        _line(fig, s, part, "microbatches", str(schedule), "solid" if schedule == "gpipe" else "dash")
        for r in part.to_dict("records"):
            rows_out.append([_swatch(data, run_id), Cell(str(schedule)), Cell(f"{int(r['microbatches'])}", cls="num"),
                             Cell(fmt_num(r["throughput"]), cls="num"), Cell(fmt_num(r["speedup"]), cls="num"),
                             Cell(_pct(r.get("bubble_theory")), cls="num"),
                             Cell(_pct(r["bubble_measured"]), cls="num")])  # fmt: skip
    for s, _, single in _groups(data, rows[rows["schedule"] == "single"], "schedule"):
        fig.add_hline(y=float(single["throughput"].iloc[0]), line_dash="dot", line_color=s.color,
                      annotation_text=esc(f"{s.label}: one device"))  # fmt: skip
    return [Note(EXPLAIN["pipeline"]), Figure(fig),
            Table(["run", "schedule", "micro-batches", "samples/s", "speed-up vs one device", "bubble (theory)",
                   "bubble (measured)"], rows_out)]  # fmt: skip


def _series(value: Any) -> np.ndarray:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return np.empty(0)
    return np.asarray(list(value), dtype=np.float64)


def _sustained(data: ReportData) -> list[Block]:
    rows = _bench(data, "sustained")
    if rows.empty or "per_second_throughput" not in rows:
        return []
    blocks: list[Block] = [Note(EXPLAIN["sustained"])]
    table = []
    for r in rows.to_dict("records"):
        s = data.by_run.get(r["run_id"])
        if s is None:
            continue
        thr, power = _series(r.get("per_second_throughput")), _series(r.get("per_second_power_w"))
        bin_s = float(r.get("bin_s") or 1.0)
        x = (np.arange(len(thr)) + 0.5) * bin_s
        fig = F.new_figure(esc(f"{s.label}: {r['case_id']} over time"), xaxis_title="seconds into the hold",
                           yaxis_title=esc(str(r.get("throughput_unit") or "")),
                           yaxis2=dict(title="power (W)", overlaying="y", side="right", showgrid=False))  # fmt: skip
        fig.add_scatter(x=x, y=thr, mode="lines+markers", name="throughput", line=dict(color=s.color))
        if len(power) and np.isfinite(power).any():
            fig.add_scatter(
                x=x, y=power, mode="lines", name="power (W)", yaxis="y2", line=dict(color="#888", dash="dot")
            )
        blocks.append(Figure(fig))
        table.append([_swatch(data, r["run_id"]), Cell(str(r["case_id"])),
                      Cell(fmt_num(r.get("burst_throughput")), cls="num"),
                      Cell(fmt_num(r.get("sustained_throughput")), cls="num"),
                      Cell(_pct(r.get("sustained_over_burst")), cls="num"),
                      Cell(fmt_num(r.get("held_s")), cls="num"),
                      Cell(fmt_num(r.get("first_throttle_s")) if is_num(r.get("first_throttle_s")) else "none seen",
                           cls="num"),
                      Cell(str(r.get("throttle_reasons_seen") or "–"))])  # fmt: skip
    blocks.append(Table(["run", "case", "burst", "sustained", "sustained / burst", "held (s)", "first throttle (s)",
                         "reasons seen"], table, "Throughput in the case's unit (TFLOP/s)."))  # fmt: skip
    return blocks


_PRECISION_PARAM = re.compile(r"(dtype|precision)=[^,\]]+,?")
ENERGY_BENCHMARKS = ("matmul", "train", "infer")


def energy_table(rows: pd.DataFrame) -> pd.DataFrame:
    """GEMM, training and inference rows with J per unit of work and the ratio to fp32 of the same workload
    (same run, same parameters but the precision)."""
    if rows.empty or "energy_per_work" not in rows:
        return pd.DataFrame()
    rows = rows[
        rows["benchmark"].isin(ENERGY_BENCHMARKS)
        & pd.to_numeric(rows["energy_per_work"], errors="coerce").notna()
    ]
    out = []
    for r in rows.to_dict("records"):
        params = _params(r)
        precision = params.get("dtype") or params.get("precision")
        workload = _PRECISION_PARAM.sub("", str(r["case_id"])).replace(",]", "]")
        out.append({**r, "precision_name": precision, "workload": workload})
    table = pd.DataFrame(out)
    if table.empty:
        return table
    fp32 = table[table["precision_name"] == "fp32"].set_index(["run_id", "workload"])["energy_per_work"]
    table["ratio_to_fp32"] = [
        float(r["energy_per_work"]) / float(fp32[(r["run_id"], r["workload"])])
        if (r["run_id"], r["workload"]) in fp32.index
        else math.nan
        for r in table.to_dict("records")
    ]
    return table


def _energy(data: ReportData) -> list[Block]:
    candidates = data.ok[data.ok["benchmark"].isin(ENERGY_BENCHMARKS)] if "benchmark" in data.ok else data.ok
    if candidates.empty:
        return []
    blocks: list[Block] = [Note(EXPLAIN["energy"])]
    table = energy_table(candidates)
    measured = set() if table.empty else set(table["run_id"])
    missing = [s for s in data.series if s.run_id in set(candidates["run_id"]) and s.run_id not in measured]
    for s in missing:
        tel = s.meta.get("telemetry") or {}
        why = tel.get("reason") or "the telemetry reader gave no power or energy for these cases"
        blocks.append(Note(f"{s.label}: energy unavailable ({why}).", "warn"))
    if table.empty:
        return blocks
    rows = []
    for r in table.sort_values(["run_id", "workload"]).to_dict("records"):
        if r["run_id"] not in data.by_run:
            continue
        unit = str(r.get("energy_per_work_unit") or "")
        rows.append([_swatch(data, r["run_id"]), Cell(str(r["workload"])), Cell(str(r["precision_name"])),
                     Cell(f"{fmt_num(r['energy_per_work'])} {unit}", cls="num"),
                     Cell(f"{fmt_num(r.get('energy_above_idle_per_work'))} {unit}", cls="num"),
                     Cell(fmt_num(r["ratio_to_fp32"]), cls="num"), Cell(str(r.get("energy_source") or "–"))])  # fmt: skip
    blocks.append(Table(["run", "workload", "precision", "energy per unit (total)", "above idle", "ratio to fp32",
                         "source"], rows, "source: counter = the device's energy counter; integrated = power "
                                          "samples integrated over the case."))  # fmt: skip
    return blocks


def build_topics(data: ReportData) -> list[Block]:
    """Every optimisation topic the runs hold rows for, in the article's order."""
    blocks: list[Block] = []
    for build in (_stride, _overlap, _input_pipeline, _pipeline, _sustained, _energy):
        blocks += build(data)
    return blocks
