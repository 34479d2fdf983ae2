"""The report's sections, in order. Each is a `Section(key, title, build)`; `build(data)` returns the blocks
to show (figures, tables, notes) or an empty list when the runs lack the data, and the section is left out.

To add a section (scaling, a new benchmark), write a builder and insert a `Section` into `SECTIONS`;
nothing else changes. Its heading and its plain-words explanation come from the message catalogues
(`section.<key>.title`, `section.<key>.explain` in gpubench/report/messages/*.toml; `title` here is the
fallback; gpubench/report/explain.py adapts the explanation to the runs), and every text a builder shows
comes from `data.msg`. Table text is raw (the page escapes it); Plotly text must be escaped by the builder
(see `esc`).
"""

from __future__ import annotations

import math
import re
from typing import Any

import pandas as pd

from gpubench.derive import sweep_summary
from gpubench.frame import frame_rows
from gpubench.report import figures as F
from gpubench.report.blocks import Block, Cell, Details, Figure, Note, Prose, Section, Table
from gpubench.report.cells import case_cell, rows_of_family, rows_tagged, rows_with_role, swatch
from gpubench.report.data import (
    ReportData,
    RunCases,
    comparable_metrics,
    device_spec,
    environment_differences,
    esc,
    headline_metrics,
    is_num,
    run_cases,
    scorecard,
)
from gpubench.report.fields import case_records, display_fields, display_value
from gpubench.report.fleet import build_fleet
from gpubench.report.llm import build_llm
from gpubench.report.topics import build_topics
from gpubench.report.value import build_value
from gpubench.report.verdict import build_verdict
from gpubench.report.workloads import case_labels

# --------------------------------------------------------------------------------------------------- runs


def _software(m: dict[str, Any]) -> str:
    dev, sw = m.get("device") or {}, m.get("software") or {}
    parts = [f"torch {sw['torch']}" if sw.get("torch") else ""]
    for key, name in (("cuda", "CUDA"), ("hip", "HIP")):
        value = sw.get(key) or dev.get(key)
        parts.append(f"{name} {value}" if value else "")
    parts.append(f"driver {dev['driver']}" if dev.get("driver") else "")
    parts.append(f"gpubench {m['gpubench_version']}" if m.get("gpubench_version") else "")
    return " · ".join(p for p in parts if p)


_SOFTWARE_FIELDS = {"torch", "cuda", "hip"}


def build_runs(data: ReportData) -> list[Block]:
    """Provenance of each run, with differences that make comparisons unfair highlighted. The table fits a
    page: software versions share one wrapping cell, method versions are on hover, empty columns are left out."""
    t = data.msg
    full = data.per_run
    diffs = environment_differences(full)
    flagged = {d.field for d in diffs}
    cases = run_cases(full)  # counted in one pass: a fleet has a thousand runs
    rows: list[dict[str, Cell]] = []
    for s in full.series:
        m = s.meta
        tel = m.get("telemetry") or {}
        mine = cases.get(s.run_id, RunCases())
        tf32, versions = mine.tf32, mine.versions
        limit = tel.get("power_limit_w")
        reader = tel.get("reader") or "–"
        device = s.device_name + (
            f" ({s.vendor})" if s.vendor and s.vendor.lower() not in s.device_name.lower() else ""
        )
        rows.append(
            {
                "run": swatch(full, s.run_id),
                "device": Cell(device, cls="wrap"),
                "host": Cell(s.host or "–"),
                "started": Cell(str(m.get("started_utc") or "–").replace("T", " ").rstrip("Z")[:19]),
                "suite": Cell(
                    str((m.get("suite") or {}).get("name") or "–"),
                    cls="diff" if "versions" in flagged else "",
                    title=t("runs.methods", versions=versions) if versions else "",
                ),
                "software": Cell(_software(m) or "–", cls="wrap" + (" diff" if flagged & _SOFTWARE_FIELDS else "")),
                "power_limit": Cell(
                    f"{t.num(limit)} W" if is_num(limit) else "–",
                    cls="num" + (" diff" if "power_limit" in flagged else ""),
                ),
                "tf32": Cell(str(tf32), cls="num" + (" diff" if "tf32" in flagged else "")),
                "cases_ok": Cell(f"{mine.ok} / {mine.total}", cls="num"),
                "telemetry": Cell(f"{reader} ⓘ", cls="wrap", title=t.said(tel["reason"]))
                if tel.get("reason")
                else Cell(reader),
            }
        )
    names = list(rows[0]) if rows else []
    # A column that says nothing in any run (no power limit on a CPU, no TF32 case) is left out.
    names = [n for n in names if n in ("run", "device") or any(r[n].text not in ("–", "0") for r in rows)]
    table = Table([t(f"runs.col.{n}") for n in names], [[r[n] for n in names] for r in rows])
    blocks: list[Block] = [table]
    if len(full.series) > 8:  # a fleet: the long table is one click away
        blocks = [Details(t("runs.details", n=len(full.series)), [table])]
    if diffs:
        blocks.insert(0, Note(t("runs.differences"), "warn", [d.message for d in diffs]))
    if full.notes:
        blocks.append(Note(t("runs.notes"), "info", list(full.notes)))
    return blocks


# ---------------------------------------------------------------------------------------------- scorecard


def build_scorecard(data: ReportData) -> list[Block]:
    """Headline figures per run and speed-up over the baseline, with a geometric-mean score."""
    t = data.msg
    metrics = comparable_metrics(data)
    if not metrics:
        return []
    card = scorecard(data, metrics)
    keys = list(dict.fromkeys(m.key for m in metrics))
    label = {m.key: m.label for m in metrics}
    unit = {m.key: t.unit(m.unit) for m in metrics}
    header = [t("table.run"), t("scorecard.score")] + [f"{label[k]} ({unit[k]})" for k in keys]
    rows = []
    for s in data.series:
        mine = card[card["run_id"] == s.run_id].set_index("key")
        if mine.empty:
            continue
        score = mine["score"].iloc[0]
        n = int(mine["score_n"].iloc[0])
        cells = [
            swatch(data, s.run_id),
            Cell(
                t.fixed(score, 2) + "×" if is_num(score) else "–",
                cls="num score",
                title=t("scorecard.score_hover", n=n),
            ),
        ]
        for k in keys:
            if k not in mine.index:
                cells.append(Cell(t("table.not_measured"), cls="num st-skipped"))
                continue
            r = mine.loc[k]
            ratio = r["ratio"]
            text = data.msg.num(r["value"])
            cls = "num"
            if s.run_id != data.baseline.run_id and is_num(ratio):
                text += f"  ({data.msg.multiple(ratio)})"
                cls += " up" if ratio > 1.02 else (" down" if ratio < 0.98 else "")
            cells.append(Cell(text, cls=cls, title=str(data.runs.at[int(r["row"]), "case_id"])))
        rows.append(cells)
    blocks: list[Block] = [Table(header, rows, t("scorecard.caption", baseline=data.baseline.label))]
    if len(data.series) > 1 and card["score"].notna().any():
        blocks.append(Figure(F.score_bars(data, card.drop_duplicates("run_id"))))
    return blocks


# ------------------------------------------------------------------------------------------------- matmul


def build_matmul(data: ReportData) -> list[Block]:
    t = data.msg
    ok = rows_with_role(data, "compute_anchor")
    if ok.empty or "dtype" not in ok:
        return []
    blocks: list[Block] = [Figure(F.matmul_by_precision(data, ok), t("matmul.caption_best"))]
    if {"m", "n", "k"} <= set(ok.columns):
        found = []
        cols = [
            c
            for c in ("benchmark", "status", "device_name", "dtype", "m", "n", "k", "throughput", "throughput_unit")
            if c in ok
        ]
        for run_id, mine in F.by_run(ok).items():
            for sw in sweep_summary(frame_rows(mine[cols])):
                found.append({"run_id": run_id, **sw})
        if found:
            sweeps = pd.DataFrame(found)
            blocks.append(Figure(F.matmul_sweeps(data, sweeps, ok), t("matmul.caption_sweep")))
            rows = [
                [
                    swatch(data, r["run_id"]),
                    Cell(str(r["dtype"])),
                    Cell(f"{r['n']} × {r['k']}"),
                    Cell(str(r["shapes"]), cls="num"),
                    Cell(data.msg.num(r["best_throughput"]), cls="num"),
                    Cell(str(r["best_m"]), cls="num"),
                    Cell(data.msg.num(r["geomean_throughput"]), cls="num"),
                    Cell(t.unit(str(r["unit"]))),
                ]
                for r in found
            ]
            header = [t(f"matmul.col.{c}") for c in ("run", "dtype", "nk", "shapes", "best", "at_m", "geomean", "unit")]
            blocks.append(Table(header, rows))
    pct = F.matmul_pct_of_peak(data, ok)
    if pct is not None:
        blocks.append(Figure(pct, t("matmul.caption_peak")))
    return blocks


# ------------------------------------------------------------------------------------------------- memory


def build_memory(data: ReportData) -> list[Block]:
    ok = rows_with_role(data, "memory_anchor")
    if ok.empty or "kind" not in ok or "size_bytes" not in ok:
        return []
    return [Figure(F.memory_bandwidth(data, ok), data.msg("memory.caption"))]


# ---------------------------------------------------------------------------------- training and inference


def build_models(data: ReportData) -> list[Block]:
    blocks: list[Block] = []
    for family, kind in (("training", "train"), ("inference", "infer")):
        ok = rows_of_family(data, family)
        ok = ok[ok.index.isin(rows_tagged(data, "model", without=("llm", "distributed")).index)]
        if not ok.empty and "throughput" in ok:
            # samples/s and tokens/s never share an axis: one figure per unit.
            units = ok["throughput_unit"].astype("string").fillna("")
            for unit in sorted(units.unique()):
                blocks.append(Figure(F.model_throughput(data, ok[units == unit], kind)))
    infer = rows_of_family(data, "inference")
    infer = infer[infer.index.isin(rows_tagged(data, "model", without=("llm",)).index)]
    if not infer.empty and "batch" in infer and "median_s" in infer:
        b1 = infer[pd.to_numeric(infer["batch"], errors="coerce") == 1]
        if not b1.empty:
            blocks.append(Figure(F.inference_latency(data, b1), data.msg("models.caption_latency")))
    return blocks


# ------------------------------------------------------------------------------------ power and thermals


def build_power(data: ReportData) -> list[Block]:
    t = data.msg
    blocks: list[Block] = []
    tel = data.telemetry
    if not tel.empty and "run_id" in tel and "t_ns" in tel:
        parts = F.by_run(tel)
        cases_of = F.by_run(data.per_run.runs)
        for s in data.series:
            mine = parts.get(s.run_id)
            if mine is None:
                continue
            if "rank" in mine:  # distributed run: rank 0's device (the case windows are on its clock)
                mine = mine[mine["rank"].isna() | (mine["rank"] == 0)]
            if mine.empty:
                continue
            cases = cases_of.get(s.representative or s.run_id, data.runs.iloc[0:0])
            fig = F.telemetry_timeline(data, s, mine, cases)
            if fig is not None:
                blocks.append(Figure(fig, t("power.caption_timeline_fleet", n=s.n_runs) if s.members else ""))
    if data.has("energy_j", data.ok):
        rows = data.ok[pd.to_numeric(data.ok["energy_j"], errors="coerce").notna()]
        blocks.append(Figure(F.energy_per_case(data, rows), t("power.caption_energy")))
    if data.has("throttled"):
        hit = data.runs[data.runs["throttled"].fillna(False).astype(bool)]
        if not hit.empty:
            rows = [
                [
                    swatch(data, r["run_id"]),
                    case_cell(r["case_id"]),
                    Cell(str(r.get("throttle_reasons") or "")),
                    Cell(t.fixed(r.get("throttled_pct")) + "%" if is_num(r.get("throttled_pct")) else "–", cls="num"),
                    Cell(data.msg.num(r.get("mean_sm_clock_mhz")), cls="num"),
                ]
                for r in frame_rows(hit)
            ]
            header = [t(f"power.col.{c}") for c in ("run", "case", "reasons", "samples", "clock")]
            blocks.append(Table(header, rows, t("power.caption_throttled")))
    return blocks


# ------------------------------------------------------------------------------------------------ efficiency


def build_efficiency(data: ReportData) -> list[Block]:
    t = data.msg
    metrics = [m for m in headline_metrics(data) if m.higher_is_better]
    blocks: list[Block] = []
    if data.has("throughput_per_watt", data.ok):
        per_watt = {}
        for m in metrics:
            v = data.runs.at[m.row, "throughput_per_watt"]
            if is_num(v):
                per_watt[id(m)] = float(v)
        extra = {
            id(m): t("efficiency.avg_power", watts=data.msg.num(data.runs.at[m.row, "avg_power_w"]))
            for m in metrics
            if "avg_power_w" in data.runs
        }
        fig = F.metric_facets(
            data,
            metrics,
            per_watt,
            esc(t("efficiency.per_watt_title")),
            {m.key: t("efficiency.unit_per_watt", unit=t.unit(m.unit)) for m in metrics},
            extra,
        )
        if fig is not None:
            blocks.append(Figure(fig, t("efficiency.caption_watt")))
    prices = {}
    for s in data.series:
        spec = device_spec(s)
        price = getattr(spec, "launch_price_usd", None) if spec is not None else None
        if is_num(price) and float(price) > 0:
            prices[s.run_id] = float(price)
    if prices:
        per_k = {id(m): m.value / prices[m.run_id] * 1000 for m in metrics if m.run_id in prices}
        extra = {
            id(m): t("efficiency.launch_price", price=t.money(prices[m.run_id])) for m in metrics if m.run_id in prices
        }
        fig = F.metric_facets(
            data,
            metrics,
            per_k,
            esc(t("efficiency.per_dollar_title")),
            {m.key: t("efficiency.unit_per_k", unit=t.unit(m.unit)) for m in metrics},
            extra,
        )
        if fig is not None:
            blocks.append(Figure(fig, t("efficiency.caption_dollar")))
    return blocks


# ---------------------------------------------------------------------------------------------- roofline


def build_roofline(data: ReportData) -> list[Block]:
    ok = data.ok
    if "benchmark" not in ok:
        return []
    fig = F.roofline(data, ok)
    if fig is None:
        return []
    return [Figure(fig, data.msg("roofline.caption"))]


# ------------------------------------------------------------------------------------------- collectives


def build_collectives(data: ReportData) -> list[Block]:
    t = data.msg
    rows = rows_tagged(data, "distributed", without=("training",))
    if rows.empty or "size_bytes" not in rows:
        return []
    blocks: list[Block] = [Figure(F.collectives(data, rows), t("collectives.caption"))]
    if "busbw_gbps" in rows and "op" in rows and rows["busbw_gbps"].notna().any():
        measured = rows[rows["busbw_gbps"].notna()].sort_values("busbw_gbps")
        best = measured.groupby(["run_id", "op"], sort=False).tail(1)
        table = []
        for r in frame_rows(best.sort_values(["run_id", "op"])):
            if r["run_id"] not in data.by_run:
                continue
            table.append(
                [
                    swatch(data, r["run_id"]),
                    Cell(str(r["op"])),
                    Cell(str(r.get("dtype") or "")),
                    Cell(data.msg.num(r.get("world_size")), cls="num"),
                    Cell(str(r.get("dist_backend") or "")),
                    Cell(data.msg.num(r["busbw_gbps"]), cls="num"),
                    Cell(data.msg.num(r.get("algbw_gbps")), cls="num"),
                    Cell(data.msg.num(r.get("size_bytes")), cls="num"),
                ]
            )
        header = [
            t(f"collectives.col.{c}") for c in ("run", "op", "dtype", "ranks", "backend", "busbw", "algbw", "size")
        ]
        blocks.append(Table(header, table, t("collectives.caption_table")))
    return blocks


# ------------------------------------------------------------------------------------------------ scaling


def build_scaling(data: ReportData) -> list[Block]:
    """Data-parallel scaling (ddp_train): efficiency = throughput at N ranks / (N × throughput at 1 rank)."""
    from gpubench.distributed.results import scaling_table  # torch-free

    t = data.msg
    table = scaling_table(data.ok)
    if table.empty:
        return []
    fig = F.new_figure(esc(t("scaling.title")), xaxis_title=esc(t("scaling.x")), yaxis_title=esc(t("scaling.y")))
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
            hover = [
                f"<b>{esc(s.label)}</b><br>{esc(r['case_id'])}<br>{int(r['ranks'])} ranks: "
                f"{data.msg.num(r['throughput'])} {esc(r['throughput_unit'] or '')}<br>speed-up "
                f"{data.msg.num(r['speedup'])}×, efficiency {data.msg.num(r['scaling_efficiency'])}"
                for r in frame_rows(part)
            ]
            fig.add_scatter(
                x=part["ranks"].astype(float).to_numpy(),
                y=part["scaling_efficiency"].astype(float).to_numpy(),
                mode="lines+markers",
                line=dict(color=s.color, dash=dashes[i % len(dashes)]),
                name=esc(f"{s.label} · {config[0]} {config[1]} ×{config[2]}"),
                legendgroup=s.run_id,
                hovertext=hover,
                hovertemplate=F.HOVER,
            )
            for r in frame_rows(part):
                other = r["baseline_run_id"] not in (None, r["run_id"])
                rows.append(
                    [
                        swatch(data, s.run_id),
                        Cell(str(r["model"])),
                        Cell(str(r["precision"])),
                        Cell(data.msg.num(r["batch"]), cls="num"),
                        Cell(f"{int(r['ranks'])}", cls="num"),
                        Cell(f"{data.msg.num(r['throughput'])} {r['throughput_unit'] or ''}", cls="num"),
                        Cell(data.msg.num(r["speedup"]), cls="num"),
                        Cell(
                            t.pct(r["scaling_efficiency"]),
                            cls="num",
                            title=f"1 rank: {r['baseline_run_id']}" if other else "",
                        ),
                        Cell(
                            t("scaling.other_run")
                            if other
                            else (t("scaling.this_run") if r["baseline_run_id"] else t("scaling.none"))
                        ),
                    ]
                )
    fig.add_hline(y=1.0, line_dash="dot", line_color="#888")
    ticks = sorted({float(x) for x in table["ranks"] if is_num(x)})
    fig.update_xaxes(type="log", tickvals=ticks, ticktext=[f"{int(t)}" for t in ticks])
    header = [
        t(f"scaling.col.{c}")
        for c in ("run", "model", "precision", "batch", "ranks", "throughput", "speedup", "efficiency", "baseline")
    ]
    return [Figure(fig, t("scaling.caption")), Table(header, rows)]


# ---------------------------------------------------------------------------------------------- problems


_BYTES = re.compile(r"\b(\d{5,})\s*(?:bytes|B)\b")


def readable_bytes(text: str, msg: Any) -> str:
    """Raw byte counts in a reason ('needs 12884901888 bytes') written as people read them ('12.9 GB')."""

    def one(m: re.Match[str]) -> str:
        n = float(m.group(1))
        for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
            if n >= size:
                return f"{msg.num(n / size)} {unit}"
        return m.group(0)

    return _BYTES.sub(one, text)


PROBLEM_COLUMNS = (
    "run_id",
    "case_id",
    "status",
    "reason",
    "noisy",
    "iqr_s",
    "median_s",
    "n_reps",
    "check_error",
    "check_tolerance",
)
"""The columns `_problem_reason` reads (and the table names): only these are taken out of the frame (a fleet
has tens of thousands of problem rows; tests/test_report_scale.py fails when a reason reads another column)."""


def _problem_reason(data: ReportData, r: dict[str, Any]) -> tuple[str, str]:
    """(status, reason) for a problem row in plain words: noisy cases say by how much their step times
    varied, wrong ones by how much the result was off."""
    t = data.msg
    st = str(r["status"])
    reason = t.said(r.get("reason")) if not _missing(r.get("reason")) else ""
    if st == "ok" and F.is_true(r.get("noisy")):
        st = "noisy"
        iqr, med = r.get("iqr_s"), r.get("median_s")
        spread = float(iqr) / float(med) if is_num(iqr) and is_num(med) and float(med) > 0 else None
        reason = (
            t("problems.noisy_by", pct=t.pct(spread), n=int(r["n_reps"]) if is_num(r.get("n_reps")) else "?")
            if spread is not None
            else t("problems.noisy_runs")
        )
    elif st == "wrong" and is_num(r.get("check_error")):
        reason = reason or t(
            "problems.wrong_by", error=t.num(r["check_error"]), tolerance=t.num(r.get("check_tolerance"))
        )
    return st, readable_bytes(reason, t)


def build_cases(data: ReportData) -> list[Block]:
    """Every case of every run in one generic table driven by the field list (gpubench.report.fields): a
    new benchmark is visible here before it has a section; long tables are one click away."""
    t = data.msg
    fields = display_fields()
    records = case_records(data)
    if not records:
        return []
    labels = case_labels(t, data.runs)  # the records carry the spec's English label, for CSV and JSON
    rows = []
    for r in records:
        cells = []
        for f in fields:
            text = display_value(t, r[f.name], f)
            if f.name == "workload":
                text = labels.get(str(r["case_id"]), text)
            if f.name == "series":
                cells.append(swatch(data, r["run_id"]))
            elif f.name == "case_id":
                cells.append(case_cell(r[f.name]))
            elif f.name == "status":
                cells.append(Cell(text, cls=f"st-{r[f.name]}", title=t.said(r.get("reason") or "")))
            else:
                cells.append(Cell(text, cls="num" if f.kind in ("num", "int") else ""))
        rows.append(cells)
    table = Table([t(f"cases.col.{f.name}", default=f.name) for f in fields], rows, t("cases.caption"))
    if len(rows) > 80:
        return [Details(t("cases.details", n=len(rows)), [table])]
    return [table]


def build_problems(data: ReportData) -> list[Block]:
    t = data.msg
    full = data.per_run
    runs = full.runs
    if runs.empty or "status" not in runs:
        return []
    status = runs["status"].astype("string").fillna("")
    noisy = runs["noisy"].fillna(False).astype(bool) if "noisy" in runs else pd.Series(False, index=runs.index)
    order = {"failed": 0, "wrong": 1, "skipped": 2, "noisy": 3}
    problem = runs[(status != "ok") | noisy]
    found = []
    fleet = data.detail is not None
    for r in F.records(problem, *PROBLEM_COLUMNS):  # the columns a reason reads: a fleet has thousands of rows
        if fleet and str(r["status"]) == "ok":  # noisy: a fleet row counts the runs, it does not say by how much
            found.append((r["run_id"], str(r.get("case_id")), "noisy", ""))
            continue
        st, reason = _problem_reason(data, r)
        found.append((r["run_id"], str(r.get("case_id")), st, reason))
    if not found:
        return [Note(t("problems.none"))]
    rows = []
    if not fleet:
        for run_id, case_id, st, reason in sorted(found, key=lambda f: order.get(f[2], 9)):
            rows.append(
                [
                    swatch(full, run_id),
                    case_cell(case_id),
                    Cell(t(f"status.{st}", default=st), cls=f"st-{st}"),
                    Cell(reason, cls="wrap"),
                ]
            )
        header = [t("table.run"), t("table.case"), t("table.status"), t("table.reason")]
    else:
        # A fleet: one row per series, case and status, counting the runs it happened in.
        group_of = {m: s.run_id for s in data.series for m in (s.members or (s.run_id,))}
        counts: dict[tuple[str, str, str], list[str]] = {}
        for run_id, case_id, st, reason in found:
            counts.setdefault((group_of.get(run_id, run_id), case_id, st), []).append(reason)
        for (sid, case_id, st), reasons in sorted(counts.items(), key=lambda kv: (order.get(kv[0][2], 9), kv[0])):
            n = data.by_run[sid].n_runs
            reason = reasons[0] if st != "noisy" else t("problems.noisy_runs")
            rows.append(
                [
                    swatch(data, sid),
                    case_cell(case_id),
                    Cell(t(f"status.{st}", default=st), cls=f"st-{st}"),
                    Cell(t("problems.in_runs", k=len(reasons), n=n), cls="num"),
                    Cell(reason, cls="wrap"),
                ]
            )
        header = [
            t("table.series"),
            t("table.case"),
            t("table.status"),
            t("problems.runs"),
            t("table.reason"),
        ]
    return [Table(header, rows, t("problems.caption"))]


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


SECTIONS: list[Section] = [
    Section("verdict", "Verdict", build_verdict),
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
    Section("value", "Value", build_value),
    Section("fleet", "Fleet", build_fleet),
    Section("cases", "Every case", build_cases),
    Section("problems", "Problems", build_problems),
    Section("runs", "Runs", build_runs),
]
"""Sections in page order: the verdict first (what a beginner came for), the provenance last."""


__all__ = [
    "SECTIONS",
    "Block",
    "Cell",
    "Details",
    "Figure",
    "Note",
    "Prose",
    "Section",
    "Table",
    "case_cell",
    "esc",
]
