"""The report's Fleet section: the fleet check drawn. One dot per GPU per case against its fleet median and
the fleet's own spread, the failing GPUs named (in the chart and in a table, as `gpubench fleet check` lists
them), a baseline drawn where the fleet's SHARED_DIR holds one (`baseline.toml`, from `gpubench fleet baseline`).

The section runs the check itself (gpubench.fleet: the same collection, rules and statistics as the command),
over the SHARED_DIRs the report's run folders came from (their fleet.json names the GPUs that never
reported) or, for loose run folders, over the runs themselves. Shown when the runs hold 3 or more of one
device model, or come from a fleet launch.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gpubench.report import figures as F
from gpubench.report.blocks import Block, Cell, Details, Figure, Note, Table
from gpubench.report.data import ReportData, esc

BASELINE_FILE = "baseline.toml"  # in a fleet's SHARED_DIR: drawn and judged by the report
_MAX_ROWS = 200  # failing rows listed; the rest are counted (the JSON of `fleet check` has them all)
_MAX_LABELS = 40  # failing dots named in the chart
MAX_DOTS = 1200
"""Passing GPU-case dots drawn one by one (with a hover text each) up to this many; a larger fleet draws each
case's passing GPUs as one box (quartiles, whiskers from the slowest to the fastest passing GPU) with one
hover text, and only its failing GPUs as dots: 1,000 GPUs x 40 cases as dots is 8 MB of page and a chart
nobody can read dot by dot."""


def _roots_and_loose(folders: list[str]) -> tuple[list[Path], list[Path]]:
    """SHARED_DIRs (a fleet.json two levels above the run folder: <root>/<node>/<slot>/<run>) and the rest."""
    from gpubench.fleet.manifest import MANIFEST

    roots: dict[Path, None] = {}
    loose = []
    for f in folders:
        p = Path(f)
        root = p.parents[2] if len(p.parents) > 2 else None
        if root is not None and (root / MANIFEST).is_file():
            roots[root] = None
        else:
            loose.append(p)
    return list(roots), loose


def fleet_check(data: ReportData) -> Any:
    """The FleetCheck of the report's runs (memoised on `data`), or None when they are not a fleet."""
    if "fleet_check" in data.memo:
        return data.memo["fleet_check"]
    from gpubench.fleet.check import collect, judge
    from gpubench.fleet.rules import RuleSet, load_rules

    full = data.per_run
    result = None
    names = pd.Series([s.device_name for s in full.series])
    roots, loose = _roots_and_loose([s.folder for s in full.series])
    if roots or (len(names) and names.value_counts().max() >= 3):
        rules = RuleSet()
        for root in roots:
            if (root / BASELINE_FILE).is_file():
                rules = rules.merged(load_rules(root / BASELINE_FILE))
        # The rows the report loaded (without raw times: those are read only where an interval decides).
        result = judge(collect([*map(str, roots), *map(str, loose)]), rules, frame=full.runs)
    data.memo["fleet_check"] = result
    return result


def _label(case_id: str, device: str, several: bool) -> str:
    short = F.short_case(case_id)
    return f"{short} · {device}" if several else short


def _figure(data: ReportData, check: Any) -> Any:
    t = data.msg
    c = check.cases
    r = check.rules
    several = c["device_name"].nunique() > 1
    groups = c.groupby(["device_name", "case_id"], sort=True)
    keys = list(groups.groups)
    units = {u.key: u for u in check.units}
    height = 170 + 34 * len(keys)
    fig = F.new_figure(esc(t("fleet.check_title")), height=height, showlegend=True, xaxis_title=esc(t("fleet.check_x")))
    fig.update_layout(legend=dict(orientation="h", y=1.0, yanchor="bottom", x=1.0, xanchor="right"))
    baselines = {}
    for rule in r.rules:
        if rule.baseline is not None and not rule.fact:
            for k in keys:
                if rule.matches(str(k[1]), str(k[0])):
                    baselines.setdefault(k, (rule.baseline, rule.min_ratio_to_baseline))
    rng = np.random.default_rng(0)  # the jitter is fixed: the same runs draw the same picture
    xs, ys, hovers, fx, fy, fh, ftext = [], [], [], [], [], [], []
    who_of = {key: f"{u.node}/{u.slot}" for key, u in units.items()}
    uuid_of = {key: u.uuid for key, u in units.items()}
    host_of = {key: u.host for key, u in units.items()}
    bx, by, bh, mx, my = [], [], [], [], []
    boxes: dict[str, list[float]] = {"y": [], "q1": [], "median": [], "q3": [], "lowerfence": [], "upperfence": []}
    box_x, box_hover = [], []
    dots = len(c) - int(c["fail"].astype(bool).sum()) <= MAX_DOTS
    shapes = []
    # Plain columns, cut by position per group: a pandas .loc per group costs more than the whole drawing.
    col = {name: c[name].tolist() for name in ("unit", "case_id", "throughput", "rule", "mad", "median")}
    col_unit = c["throughput_unit"].tolist()
    ratios = c["ratio"].to_numpy(float)
    fails = c["fail"].to_numpy(bool)
    positions = groups.indices
    for i, k in enumerate(keys):
        at = positions[k]
        first = int(at[0])
        mad = float(col["mad"][first])
        med = float(col["median"][first])
        unit = str(col_unit[first] or "")
        spread = math.exp(r.mad_z * 1.4826 * mad)
        shapes.append(
            dict(
                type="rect",
                x0=100 / spread,
                x1=100 * spread,
                y0=i - 0.4,
                y1=i + 0.4,
                line_width=0,
                fillcolor="rgba(120,120,120,0.16)",
                layer="below",
            )
        )
        jitter = rng.uniform(-0.3, 0.3, len(at))
        ratio = ratios[at]
        fail = fails[at]

        def hover(j: int, at: np.ndarray = at, ratio: np.ndarray = ratio, unit: str = unit) -> str:
            row = int(at[j])
            k_ = col["unit"][row]
            return (
                f"<b>{esc(who_of.get(k_, str(k_)))}</b> {esc(uuid_of.get(k_, ''))}<br>{esc(col['case_id'][row])}"
                f"<br>{100 * ratio[j]:.1f}% of the median · {col['throughput'][row]:.4g} {esc(unit)}"
                f"<br>{esc(host_of.get(k_, ''))}"
            )

        for j in np.flatnonzero(fail):
            fx.append(100 * ratio[j])
            fy.append(i + jitter[j])
            fh.append(hover(j) + f"<br><b>{esc(col['rule'][int(at[j])])}</b>")
            k_ = col["unit"][int(at[j])]
            ftext.append(esc(who_of.get(k_, str(k_))))
        keep = np.flatnonzero(~fail)
        if dots:
            xs.extend((100 * ratio[keep]).tolist())
            ys.extend((i + jitter[keep]).tolist())
            hovers.extend(hover(j) for j in keep)
        elif len(keep):
            q = np.percentile(100 * ratio[keep], [0, 25, 50, 75, 100])
            for name, v in zip(("lowerfence", "q1", "median", "q3", "upperfence"), q, strict=True):
                boxes[name].append(round(float(v), 3))
            boxes["y"].append(i)
            box_x.append(round(float(q[2]), 3))
            box_hover.append(
                f"<b>{esc(_label(k[1], k[0], several))}</b><br>"
                + esc(
                    t(
                        "fleet.hover_spread",
                        n=len(keep),
                        low=t.fixed(q[0], 1),
                        q1=t.fixed(q[1], 1),
                        q3=t.fixed(q[3], 1),
                        high=t.fixed(q[4], 1),
                    )
                )
                + f"<br>{med:.4g} {esc(unit)}"
            )
        if k in baselines:
            base, min_ratio = baselines[k]
            bx.append(100 * base / med)
            by.append(i)
            bh.append(f"baseline {base:.4g} {esc(unit)} ({100 * base / med:.1f}% of this fleet's median)")
            if min_ratio is not None:
                mx.append(100 * base * min_ratio / med)
                my.append(i)
    if dots:
        marker = dict(size=5 if len(xs) > 300 else 8, color="#3a6ea5", opacity=0.5 if len(xs) > 300 else 0.8)
        fig.add_scatter(
            x=xs,
            y=ys,
            mode="markers",
            marker=marker,
            hovertext=hovers,
            hovertemplate=F.HOVER,
            name=esc(t("fleet.legend_pass")),
        )
    elif boxes["y"]:
        fig.add_box(
            orientation="h",
            **boxes,
            width=0.5,
            line=dict(color="#3a6ea5", width=1.5),
            fillcolor="rgba(58,110,165,0.25)",
            hoverinfo="skip",
            name=esc(t("fleet.legend_spread")),
        )
        # One hover text per case, on its median.
        fig.add_scatter(
            x=box_x,
            y=boxes["y"],
            mode="markers",
            marker=dict(size=6, color="#3a6ea5", symbol="line-ns", line=dict(width=2, color="#1d4f80")),
            hovertext=box_hover,
            hovertemplate=F.HOVER,
            showlegend=False,
        )
        xs = boxes["lowerfence"] + boxes["upperfence"]
    if fx:
        labelled = len(fx) <= _MAX_LABELS
        fig.add_scatter(
            x=fx,
            y=fy,
            mode="markers+text" if labelled else "markers",
            text=ftext if labelled else None,
            textposition="middle left",
            textfont=dict(size=10, color="#b00020"),
            marker=dict(size=9, color="#d62728", line=dict(width=1, color="#600")),
            hovertext=fh,
            hovertemplate=F.HOVER,
            name=esc(t("fleet.legend_fail")),
        )
    if bx:
        fig.add_scatter(
            x=bx,
            y=by,
            mode="markers",
            marker=dict(symbol="line-ns", size=22, line=dict(width=3, color="#e69f00")),
            hovertext=bh,
            hovertemplate=F.HOVER,
            name=esc(t("fleet.legend_baseline")),
        )
    if mx:
        fig.add_scatter(
            x=mx,
            y=my,
            mode="markers",
            marker=dict(symbol="line-ns", size=16, line=dict(width=2, color="#e69f00", dash="dot")),
            hoverinfo="skip",
            name=esc(t("fleet.legend_baseline_min")),
        )
    # Room on the left for the names of failing dots (they sit at the left end).
    everything = [*xs, *fx, *bx, *mx, 100 * (1 - r.threshold), 100.0]
    lo, hi = min(everything), max(everything)
    span = max(hi - lo, 1.0)
    left = lo - span * (0.12 if fx and len(fx) <= _MAX_LABELS else 0.03)
    fig.update_xaxes(range=[left, hi + span * 0.03])
    # The median and the threshold: the shapes add_vline makes, added with the bands in one assignment.
    for x, line in (
        (100, dict(color="#555", width=1)),
        (100 * (1 - r.threshold), dict(color="#d62728", dash="dash", width=1)),
    ):
        shapes.append(dict(type="line", x0=x, x1=x, xref="x", y0=0, y1=1, yref="y domain", line=line))
    fig.update_layout(shapes=shapes)
    fig.update_yaxes(
        tickmode="array",
        tickvals=list(range(len(keys))),
        ticktext=[esc(_label(k[1], k[0], several)) for k in keys],
        range=[len(keys) - 0.5, -0.5],
        automargin=True,
        showgrid=False,
    )
    caption_key = "fleet.check_caption" if dots else "fleet.check_caption_many"
    caption = t(caption_key, z=f"{r.mad_z:g}", threshold=f"{100 * r.threshold:g}")
    return Figure(fig, caption)


def _pct(x: float) -> str:
    return "–" if not math.isfinite(x) else f"{100 * x:.1f}%"


def build_fleet(data: ReportData) -> list[Block]:
    """The fleet check: verdict, the dot chart, the failing GPUs, every GPU one click away."""
    check = fleet_check(data)
    if check is None:
        return []
    t = data.msg
    blocks: list[Block] = []
    failing = check.failing_units
    if check.passed:
        blocks.append(Note(t("fleet.verdict_pass", n=len(check.units), threshold=f"{100 * check.rules.threshold:g}")))
    else:
        items = [t("fleet.missing", n=len(check.missing))] if check.missing else []
        blocks.append(Note(t("fleet.verdict_fail", n=len(failing), total=check.expected), "warn", items))
    if not check.cases.empty:
        blocks.append(_figure(data, check))
    if check.findings:
        header = [t(f"fleet.col.{k}") for k in ("node", "gpu", "uuid", "case", "ratio", "interval", "rule")]
        rows = []
        for f in check.findings[:_MAX_ROWS]:
            interval = f"{_pct(f.low)}–{_pct(f.high)}" if math.isfinite(f.low) and math.isfinite(f.high) else "–"
            rows.append(
                [
                    Cell(f.node, title=f.host),
                    Cell(f.gpu),
                    Cell(f.uuid or "–", title=f.serial),
                    Cell(F.short_case(f.case), cls="case", title=f.case),
                    Cell(_pct(f.ratio), cls="num down" if math.isfinite(f.ratio) else "num"),
                    Cell(interval, cls="num"),
                    Cell(f"{f.rule}: {f.detail}", cls="wrap"),
                ]
            )
        caption = t("fleet.table_fail_caption")
        if len(check.findings) > _MAX_ROWS:
            caption += " " + t("fleet.more", n=len(check.findings) - _MAX_ROWS)
        blocks.append(Table(header, rows, caption))
    if not check.cases.empty:
        worst = check.cases.sort_values("ratio").groupby("unit", sort=False).head(1).head(_MAX_ROWS)
        units = {u.key: u for u in check.units}
        header = [t(f"fleet.col.{k}") for k in ("node", "gpu", "uuid", "worst", "case")]
        rows = []
        for _, w in worst.iterrows():
            u = units[w["unit"]]
            rows.append(
                [
                    Cell(u.node, title=u.host),
                    Cell(u.slot),
                    Cell(u.uuid or "–", title=u.serial),
                    Cell(_pct(float(w["ratio"])), cls="num" + (" down diff" if bool(w["fail"]) else "")),
                    Cell(F.short_case(str(w["case_id"])), cls="case", title=str(w["case_id"])),
                ]
            )
        blocks.append(Details(t("fleet.details_all", n=len(worst)), [Table(header, rows)]))
    if check.notes:
        blocks.append(Note(t("fleet.notes"), "info", list(check.notes)))
    return blocks
