"""The report's Value section: which card to buy for each workload these runs measured.

One ranked bar chart per workload over every catalog device (from `gpubench.advisor.recommend`, which takes
measured, published and estimated figures from `gpubench.model`), interval whiskers from the model's own
validation error, the devices of these runs highlighted, the basis shown by colour and pattern; a table
beneath with price, throughput per 1k USD, cost of ownership per unit and the buy-or-rent break-even.
"""

from __future__ import annotations

import math
from typing import Any

import plotly.graph_objects as go

from gpubench.report import figures as F
from gpubench.report.blocks import Block, Cell, Figure, Note, Table
from gpubench.report.data import ReportData, esc, is_num

_BASIS_STYLE = {  # colour and bar pattern per basis: measured solid, published hatched, estimated pale
    "measured": ("#d62728", ""),
    "published": ("#1f77b4", "/"),
    "estimated": ("#9ecae1", "."),
}
_PRIORITY = {"matmul/bf16": 1, "matmul/fp16": 2, "memory/d2d": 3}


def _priority(workload: str) -> tuple[int, str]:
    """Models first (what people buy cards for), then the headline precisions and bandwidth."""
    if not workload.startswith(("matmul/", "memory/")):
        return (0, workload)
    return (_PRIORITY.get(workload, 4), workload)


def value_figure(data: ReportData, ranked: Any, workload: str, top: int = 20) -> go.Figure:
    """Ranked horizontal bars (fastest on top) with interval whiskers; your devices outlined in black."""
    by_speed = ranked.sort_values("throughput", ascending=False)
    # Your own devices always show, however slow (a CPU next to GPUs): the rest is the fastest `top`.
    keep = by_speed.head(top).index.union(by_speed[by_speed["yours"].astype(bool)].index)
    frame = by_speed.loc[[i for i in by_speed.index if i in keep]].iloc[::-1]
    unit = next((u for u in frame["throughput_unit"] if isinstance(u, str)), "")
    t = data.msg
    fig = F.new_figure(esc(t("value.title", workload=workload)), height=120 + 26 * len(frame))
    for basis, (color, pattern) in _BASIS_STYLE.items():
        part = frame[frame["basis"] == basis]
        if part.empty:
            continue
        low = [max(0.0, r["throughput"] - r["low"]) if is_num(r["low"]) else 0 for r in part.to_dict("records")]
        high = [max(0.0, r["high"] - r["throughput"]) if is_num(r["high"]) else 0 for r in part.to_dict("records")]
        labels = [("★ " if y else "") + esc(str(d)) for d, y in zip(part["device"], part["yours"], strict=True)]
        hover = [
            f"{esc(str(r['device']))}<br>{data.msg.num(r['throughput'])} {esc(unit)} ({esc(basis)})"
            f"<br>{esc(str(r['basis_detail'])[:160])}"
            for r in part.to_dict("records")
        ]
        fig.add_trace(
            go.Bar(
                x=part["throughput"],
                y=labels,
                orientation="h",
                name=esc(t(f"basis.{basis}", default=basis)),
                marker=dict(
                    color=color,
                    pattern=dict(shape=pattern),
                    line=dict(
                        color=["black" if y else color for y in part["yours"]],
                        width=[2.5 if y else 0.5 for y in part["yours"]],
                    ),
                ),
                error_x=dict(type="data", symmetric=False, array=high, arrayminus=low, color="#444", thickness=1.2),
                hovertext=hover,
                hovertemplate="%{hovertext}<extra></extra>",
            )
        )
    order = [("★ " if y else "") + esc(str(d)) for d, y in zip(frame["device"], frame["yours"], strict=True)]
    values = [v for v in frame["throughput"] if is_num(v) and v > 0]
    # A CPU beside GPUs spans four orders of magnitude: a log axis keeps both readable.
    log = bool(values) and max(values) / min(values) > 100
    fig.update_layout(
        barmode="overlay",
        legend_title_text=esc(t("value.legend")),
        xaxis=dict(title=esc(t("value.x_log" if log else "value.x", unit=unit)), type="log" if log else "linear"),
        yaxis=dict(categoryorder="array", categoryarray=order),
    )
    return fig


def _money(value: Any) -> str:
    return f"${value:,.0f}" if is_num(value) else "–"


def _table(data: ReportData, ranked: Any, workload: str) -> Table:
    unit = next((u for u in ranked["work_unit"] if isinstance(u, str)), "unit")
    rows = []
    for r in ranked.to_dict("records"):
        spread = (
            ""
            if r["basis"] == "measured" or not is_num(r["low"])
            else f" ({data.msg.num(r['low'])}–{data.msg.num(r['high'])})"
        )
        per_k = r["throughput_per_usd"] * 1000 if is_num(r["throughput_per_usd"]) else None
        per_m = r["tco_per_unit_usd"] * 1e6 if is_num(r["tco_per_unit_usd"]) else None
        cloud = r["cloud_usd_per_unit"] * 1e6 if is_num(r["cloud_usd_per_unit"]) else None
        rows.append(
            [
                Cell(str(r["rank"])),
                Cell(("★ " if r["yours"] else "") + str(r["device"]), cls="diff" if r["yours"] else ""),
                Cell(data.msg(f"basis.{r['basis']}", default=str(r["basis"])), title=str(r["basis_detail"])),
                Cell(f"{data.msg.num(r['throughput'])}{spread}", cls="num"),
                Cell(_money(r["price_usd"]), cls="num", title=str(r["price_source"] or "")),
                Cell(data.msg.num(per_k), cls="num"),
                Cell(data.msg.num(r["avg_power_w"]), cls="num", title=str(r["power_source"] or "")),
                Cell(data.msg.num(per_m), cls="num"),
                Cell(data.msg.num(cloud), cls="num", title=str(r["cloud_source"] or "")),
                Cell(data.msg.num(r["breakeven_hours"]) if is_num(r["breakeven_hours"]) else "–", cls="num"),
            ]
        )
    t = data.msg
    header = [
        t(f"value.col.{c}", unit=unit)
        for c in ("rank", "device", "basis", "throughput", "price", "per_k", "watts", "tco", "cloud", "breakeven")
    ]
    return Table(header, rows, t("value.table_caption", workload=workload))


def build_value(data: ReportData, max_workloads: int = 4) -> list[Block]:
    """Purchase advice for each workload these runs measured, over every catalog device."""
    try:
        from gpubench import advisor
    except ImportError:
        return []
    from gpubench.errors import GpubenchError
    from gpubench.model import parse_workload

    ok = data.ok
    if ok.empty or "benchmark" not in ok:
        return []
    blocks: list[Block] = []
    measured = [w for w in advisor.available_workloads(ok) if parse_workload(w) is not None]
    for workload in sorted(measured, key=_priority)[:max_workloads]:
        try:
            ranked = advisor.recommend(ok, workload)
        except GpubenchError:
            continue
        if ranked.empty or not ranked["throughput"].map(lambda v: is_num(v) and math.isfinite(v)).any():
            continue
        blocks.append(Figure(value_figure(data, ranked, workload), data.msg("value.caption")))
        blocks.append(_table(data, ranked, workload))
        for warning in ranked.attrs.get("warnings", []):
            blocks.append(Note(warning, kind="warn"))
    return blocks
