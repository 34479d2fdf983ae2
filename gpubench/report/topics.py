"""The article's optimisation topics, one block group each: access stride, transfer/compute overlap, input
pipeline, pipeline parallelism, sustained vs burst, energy per precision. Each topic opens with a short
plain-words note and shows only when the runs hold its rows. Derived figures that pair two rows of one run
(waiting for data, the measured bubble, the ratio to fp32) are computed here, from the stored rows.
Every text is in the message catalogues (`topics.*`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from gpubench.benchmarks.catalog import all_specs
from gpubench.frame import frame_rows
from gpubench.report import figures as F
from gpubench.report.blocks import Block, Cell, Figure, Note, Prose, Table
from gpubench.report.cells import rows_in_section, swatch
from gpubench.report.data import ReportData, Series, esc, is_num
from gpubench.report.workloads import benchmarks_with_role


def _params(row: dict[str, Any]) -> dict[str, Any]:
    try:
        return json.loads(row.get("params_json") or "{}")
    except (TypeError, ValueError):
        return {}


def _pct(data: ReportData, value: Any) -> str:
    return data.msg.pct(value)


def _groups(data: ReportData, rows: pd.DataFrame, by: str) -> Iterator[tuple[Series, Any, pd.DataFrame]]:
    """(series, group value, rows) for each run in the report and each value of column `by`."""
    for run_id, mine in rows.groupby("run_id", sort=False):
        s = data.by_run.get(run_id)
        if s is not None:
            for value, part in mine.groupby(by, sort=False):
                yield s, value, part


def _line(data: ReportData, fig: Any, s: Series, part: pd.DataFrame, x: str, name: str, dash: str) -> None:
    """One run's throughput against column `x`, in the run's colour."""
    part = part.sort_values(x)
    hover = [
        f"<b>{esc(s.label)}</b><br>{esc(r['case_id'])}<br>{data.msg.num(r['throughput'])} "
        f"{esc(r.get('throughput_unit') or '')}"
        for r in frame_rows(part)
    ]
    fig.add_scatter(
        x=part[x].astype(float).to_numpy(),
        y=part["throughput"].astype(float).to_numpy(),
        mode="lines+markers",
        name=esc(f"{s.label} · {name}"),
        legendgroup=s.run_id,
        line=dict(color=s.color, dash=dash),
        hovertext=hover,
        hovertemplate=F.HOVER,
    )


def _stride(data: ReportData, section: str) -> list[Block]:
    rows = rows_in_section(data, section)
    if rows.empty or "access" not in rows:
        return []
    # Only the columns drawn and tabled: a report of many runs copies this frame per run and group.
    wanted = ("run_id", "case_id", "dtype", "access", "stride", "throughput", "throughput_unit")
    rows = rows[[c for c in wanted if c in rows.columns]]
    t = data.msg
    fig = F.new_figure(
        esc(t("topics.stride.title")), xaxis_title=esc(t("topics.stride.x")), yaxis_title=esc(t("topics.stride.y"))
    )
    dashes = {"fp32": "solid", "bf16": "dash"}
    table, lines = [], []
    for s, dtype, part in _groups(data, rows, "dtype"):
        run_id = s.run_id
        strided = part[part["access"] == "stride"]
        gather = part[part["access"] == "gather"]
        if not strided.empty:
            _line(data, fig, s, strided, "stride", str(dtype), dashes.get(str(dtype), "dot"))
        if not gather.empty:
            g = float(gather["throughput"].iloc[0])
            note = esc(t("topics.stride.gather_note", run=s.label, dtype=dtype, value=data.msg.num(g)))
            lines.append(dict(y=g, color=s.color, text=note, below=dtype != "fp32"))
        unit = strided[strided["stride"] == 1]["throughput"]
        base = float(unit.iloc[0]) if len(unit) else math.nan
        for r in frame_rows(part.sort_values(["access", "stride"], ascending=[False, True])):
            what = (
                t("topics.stride.stride", n=int(r["stride"])) if r["access"] == "stride" else t("topics.stride.gather")
            )
            table.append(
                [
                    swatch(data, run_id),
                    Cell(str(dtype)),
                    Cell(what),
                    Cell(data.msg.num(r["throughput"]), cls="num"),
                    Cell(_pct(data, float(r["throughput"]) / base) if base > 0 else "–", cls="num"),
                ]
            )
    F.reference_lines(fig, lines)
    fig.update_xaxes(type="log", tickvals=[1, 2, 4, 8, 16, 32, 64], ticktext=["1", "2", "4", "8", "16", "32", "64"])
    header = [t(f"topics.stride.col.{c}") for c in ("run", "dtype", "access", "gbps", "of_1")]
    return [Prose(t.paragraphs("topics.stride.explain")), Figure(fig), Table(header, table)]


def _overlap(data: ReportData, section: str) -> list[Block]:
    t = data.msg
    rows = rows_in_section(data, section)
    if rows.empty or "overlap_fraction" not in rows:
        skipped = rows_in_section(data, section, data.runs)
        if skipped.empty:
            return []
        reasons = sorted({t.said(r) for r in skipped["reason"].dropna() if str(r)}) if "reason" in skipped else []
        return (
            [
                Prose(t.paragraphs("topics.overlap.explain")),
                Note(t("topics.overlap.not_measured", reasons="; ".join(reasons)), "warn"),
            ]
            if reasons
            else []
        )
    table = [
        [
            swatch(data, r["run_id"]),
            Cell(str(r["case_id"])),
            Cell(data.msg.num(1e3 * r["serial_s"]), cls="num"),
            Cell(data.msg.num(1e3 * r["overlapped_s"]), cls="num"),
            Cell(_pct(data, r["overlap_fraction"]), cls="num"),
        ]
        for r in frame_rows(rows)
        if r["run_id"] in data.by_run
    ]
    header = [t(f"topics.overlap.col.{c}") for c in ("run", "case", "serial", "overlapped", "fraction")]
    return [Prose(t.paragraphs("topics.overlap.explain")), Table(header, table)]


def _input_pipeline(data: ReportData, section: str) -> list[Block]:
    t = data.msg
    rows = rows_in_section(data, section)
    if rows.empty or "source" not in rows:
        return []
    table = []
    for r in frame_rows(rows):
        if r["run_id"] not in data.by_run:
            continue
        same = rows[
            (rows["run_id"] == r["run_id"])
            & (rows["source"] == "device")
            & (rows["batch"] == r["batch"])
            & (rows["samples"] == r["samples"])
        ]
        wait = math.nan
        if r["source"] == "loader" and not same.empty and float(r["median_s"]) > 0:
            wait = max(0.0, 1.0 - float(same["median_s"].iloc[0]) / float(r["median_s"]))
        feed = (
            t("topics.input.on_device")
            if r["source"] == "device"
            else t(
                "topics.input.pinned" if F.is_true(r.get("pin_memory")) else "topics.input.loader",
                workers=int(r["workers"]),
            )
        )
        table.append(
            [
                swatch(data, r["run_id"]),
                Cell(feed),
                Cell(data.msg.num(r["batch"]), cls="num"),
                Cell(data.msg.num(r["throughput"]), cls="num"),
                Cell(_pct(data, wait) if r["source"] == "loader" else "–", cls="num"),
            ]
        )
    header = [t(f"topics.input.col.{c}") for c in ("run", "fed", "batch", "sps", "waiting")]
    return [Prose(t.paragraphs("topics.input.explain")), Table(header, table)]


def pipeline_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Pipelined rows with speed-up over the single-device row of the same run, model and batch, and the
    measured bubble 1 - single / (stages x pipelined)."""
    out = []
    for r in frame_rows(rows):
        if r.get("schedule") in (None, "single"):
            continue
        ref = rows[
            (rows["run_id"] == r["run_id"])
            & (rows["schedule"] == "single")
            & (rows["batch"] == r["batch"])
            & (rows["layers"] == r["layers"])
            & (rows["width"] == r["width"])
        ]
        single = float(ref["median_s"].iloc[0]) if not ref.empty else math.nan
        stages = float(r.get("stages") or math.nan)
        t = float(r["median_s"])
        out.append({**r, "speedup": single / t, "bubble_measured": 1.0 - single / (stages * t)})
    return pd.DataFrame(out)


def _pipeline(data: ReportData, section: str) -> list[Block]:
    rows = rows_in_section(data, section)
    if rows.empty or "schedule" not in rows:
        return []
    table = pipeline_table(rows)
    if table.empty:
        return []
    t = data.msg
    fig = F.new_figure(
        esc(t("topics.pipeline.title")), xaxis_title=esc(t("topics.pipeline.x")), yaxis_title=esc(t.unit("samples/s"))
    )
    rows_out = []
    for s, schedule, part in _groups(data, table, "schedule"):
        run_id = s.run_id
        part = part.sort_values("microbatches")
        _line(data, fig, s, part, "microbatches", str(schedule), "solid" if schedule == "gpipe" else "dash")
        for r in frame_rows(part):
            rows_out.append(
                [
                    swatch(data, run_id),
                    Cell(str(schedule)),
                    Cell(f"{int(r['microbatches'])}", cls="num"),
                    Cell(data.msg.num(r["throughput"]), cls="num"),
                    Cell(data.msg.num(r["speedup"]), cls="num"),
                    Cell(_pct(data, r.get("bubble_theory")), cls="num"),
                    Cell(_pct(data, r["bubble_measured"]), cls="num"),
                ]
            )
    singles = _groups(data, rows[rows["schedule"] == "single"], "schedule")
    F.reference_lines(
        fig,
        [
            dict(
                y=float(one["throughput"].iloc[0]),
                color=s.color,
                text=esc(t("topics.pipeline.one_device", run=s.label)),
            )
            for s, _, one in singles
        ],
    )
    header = [
        t(f"topics.pipeline.col.{c}") for c in ("run", "schedule", "micro", "sps", "speedup", "theory", "measured")
    ]
    return [Prose(t.paragraphs("topics.pipeline.explain")), Figure(fig), Table(header, rows_out)]


def _series(value: Any) -> np.ndarray:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return np.empty(0)
    return np.asarray(list(value), dtype=np.float64)


def _sustained(data: ReportData, section: str) -> list[Block]:
    rows = rows_in_section(data, section)
    if rows.empty or "per_second_throughput" not in rows:
        return []
    t = data.msg
    blocks: list[Block] = [Prose(t.paragraphs("topics.sustained.explain"))]
    table = []
    short = []
    for r in frame_rows(rows):
        s = data.by_run.get(r["run_id"])
        if s is None:
            continue
        held = r.get("held_s")
        if not is_num(held) or float(held) < MIN_HOLD_S:
            # A hold of a few seconds says nothing about heat or power limits: no chart, no verdict on it.
            short.append(t("topics.sustained.too_short", run=s.label, held=t.num(held), need=t.num(MIN_HOLD_S)))
            continue
        thr, power = _series(r.get("per_second_throughput")), _series(r.get("per_second_power_w"))
        bin_s = float(r.get("bin_s") or 1.0)
        x = (np.arange(len(thr)) + 0.5) * bin_s
        power_title = esc(t("fig.tel_power_w"))
        fig = F.new_figure(
            esc(t("topics.sustained.title_words", run=s.label, what=_what(t, r), held=t.num(held))),
            xaxis_title=esc(t("topics.sustained.x")),
            yaxis_title=esc(str(r.get("throughput_unit") or "")),
            yaxis2=dict(title=power_title, overlaying="y", side="right", showgrid=False),
        )
        fig.add_scatter(
            x=x, y=thr, mode="lines+markers", name=esc(t("topics.sustained.throughput")), line=dict(color=s.color)
        )
        if len(power) and np.isfinite(power).any():
            fig.add_scatter(
                x=x, y=power, mode="lines", name=power_title, yaxis="y2", line=dict(color="#888", dash="dot")
            )
        blocks.append(Figure(fig))
        table.append(
            [
                swatch(data, r["run_id"]),
                Cell(str(r["case_id"])),
                Cell(data.msg.num(r.get("burst_throughput")), cls="num"),
                Cell(data.msg.num(r.get("sustained_throughput")), cls="num"),
                Cell(_pct(data, r.get("sustained_over_burst")), cls="num"),
                Cell(data.msg.num(r.get("held_s")), cls="num"),
                Cell(
                    data.msg.num(r.get("first_throttle_s"))
                    if is_num(r.get("first_throttle_s"))
                    else t("topics.sustained.none_seen"),
                    cls="num",
                ),
                Cell(str(r.get("throttle_reasons_seen") or "–")),
            ]
        )
    if short:
        blocks.append(Note(t("topics.sustained.too_short_title"), "info", short))
    if not table:
        return blocks
    header = [
        t(f"topics.sustained.col.{c}")
        for c in ("run", "case", "burst", "held_rate", "ratio", "held", "first", "reasons")
    ]
    blocks.append(Table(header, table, t("topics.sustained.caption")))
    return blocks


MIN_HOLD_S = 60.0
"""Shortest hold that can show sustained behaviour: a GPU takes tens of seconds to heat to its limit."""


def _what(t: Any, row: dict[str, Any]) -> str:
    """A held workload in words: 'matrix multiplication fp32, 4096³' rather than its case id."""
    params = _params(row)
    size = params.get("m")
    what = t("topics.sustained.what", dtype=params.get("dtype") or "")
    return what + (f", {size}³" if size else "")


_PRECISION_PARAM = re.compile(r"(dtype|precision)=[^,\]]+,?")


def energy_benchmarks() -> list[str]:
    """Benchmarks whose energy per precision the topic compares: matrix math (the compute anchor) and the
    single-device model benchmarks (training, inference), asked of the specs."""
    models = [s.name for s in all_specs() if "model" in s.tags and not {"llm", "distributed"} & set(s.tags)]
    return [*benchmarks_with_role("compute_anchor"), *models]


def energy_table(rows: pd.DataFrame) -> pd.DataFrame:
    """GEMM, training and inference rows with J per unit of work and the ratio to fp32 of the same workload
    (same run, same parameters but the precision)."""
    if rows.empty or "energy_per_work" not in rows:
        return pd.DataFrame()
    rows = rows[
        rows["benchmark"].isin(energy_benchmarks()) & pd.to_numeric(rows["energy_per_work"], errors="coerce").notna()
    ]
    out = []
    for r in frame_rows(rows):
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
        for r in frame_rows(table)
    ]
    return table


def _energy(data: ReportData) -> list[Block]:
    candidates = data.ok[data.ok["benchmark"].isin(energy_benchmarks())] if "benchmark" in data.ok else data.ok
    if candidates.empty:
        return []
    t = data.msg
    blocks: list[Block] = [Prose(t.paragraphs("topics.energy.explain"))]
    table = energy_table(candidates)
    measured = set() if table.empty else set(table["run_id"])
    missing = [s for s in data.series if s.run_id in set(candidates["run_id"]) and s.run_id not in measured]
    for s in missing:
        tel = s.meta.get("telemetry") or {}
        why = t.said(tel.get("reason")) or t("topics.energy.no_reading")
        blocks.append(Note(t("topics.energy.unavailable", run=s.label, why=why), "warn"))
    if table.empty:
        return blocks
    rows = []
    for r in frame_rows(table.sort_values(["run_id", "workload"])):
        if r["run_id"] not in data.by_run:
            continue
        unit = str(r.get("energy_per_work_unit") or "")
        rows.append(
            [
                swatch(data, r["run_id"]),
                Cell(str(r["workload"])),
                Cell(str(r["precision_name"])),
                Cell(f"{data.msg.num(r['energy_per_work'])} {unit}", cls="num"),
                Cell(f"{data.msg.num(r.get('energy_above_idle_per_work'))} {unit}", cls="num"),
                Cell(data.msg.num(r["ratio_to_fp32"]), cls="num"),
                Cell(str(r.get("energy_source") or "–")),
            ]
        )
    header = [
        t(f"topics.energy.col.{c}") for c in ("run", "workload", "precision", "total", "above_idle", "ratio", "source")
    ]
    blocks.append(Table(header, rows, t("topics.energy.caption")))
    return blocks


TOPICS = (
    ("topics.stride", _stride),
    ("topics.overlap", _overlap),
    ("topics.input", _input_pipeline),
    ("topics.pipeline", _pipeline),
    ("topics.sustained", _sustained),
)
"""The topics drawn from the rows of their own benchmarks, in the article's order: (section, builder). A
benchmark joins a topic by saying `section="topics.<name>"` in its spec (`rows_in_section`); the builder gets
the section's name and reads its rows from there. Energy per precision follows them; it reads the compute
anchor's and the model benchmarks' rows."""


def build_topics(data: ReportData) -> list[Block]:
    """Every optimisation topic the runs hold rows for, in the article's order."""
    blocks: list[Block] = []
    for section, build in TOPICS:
        blocks += build(data, section)
    blocks += _energy(data)
    return blocks
