"""The report's Value section: which card to buy for the work these runs measured.

Only workloads a buyer buys a card for: full-size models the runs measured (never a toy shape or a
test-sized model), matrix math and memory bandwidth (the model's two roofline anchors), and language models
when the runs have them. For each, the advisor (`gpubench.advisor.recommend`: measured, published and
estimated figures from `gpubench.model`) ranks every catalog device by cost of ownership per unit of work;
the chart ranks exactly the rows the table ranks, in the same order; devices without a known price are
listed apart (they cannot be ranked on cost); money is written in readable units.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from gpubench.frame import frame_rows
from gpubench.report import figures as F
from gpubench.report.blocks import Block, Cell, Details, Figure, Note, Table
from gpubench.report.data import ReportData, esc, is_num, workload_rows
from gpubench.report.plot import Plot
from gpubench.report.verdict import short_device
from gpubench.report.workloads import buyer_workloads, workload_words

_BASIS_STYLE = {  # colour and bar pattern per basis: measured solid, published hatched, estimated pale
    "measured": ("#d62728", ""),
    "published": ("#1f77b4", "/"),
    "estimated": ("#9ecae1", "."),
}
RANKED_ROWS = 12
"""Priced devices shown per workload (the chart and the table show the same ones), plus your own."""

SCALES = (("thousand", 1e3), ("million", 1e6), ("billion", 1e9), ("trillion", 1e12))
"""Cost is given per thousand, million, ... units of work, whichever makes the cheapest device cost at least
a cent: a cost per single sample ($0.0000016) is unreadable."""


def cost_scale(ranked: pd.DataFrame) -> tuple[str, float]:
    """(scale name, units) for a workload's costs."""
    costs = [float(v) for v in ranked["tco_per_unit_usd"] if is_num(v) and float(v) > 0]
    low = min(costs) if costs else 1.0
    return next(((name, n) for name, n in SCALES if low * n >= 0.01), SCALES[-1])


def _priced(ranked: pd.DataFrame) -> pd.Series:
    return ranked["tco_per_unit_usd"].map(lambda v: is_num(v) and float(v) > 0)


def shown_rows(ranked: pd.DataFrame, top: int = RANKED_ROWS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(ranked rows to show, devices without a price): the first `top` priced devices in the advisor's
    rank order plus your own devices wherever they rank; the unpriced ones apart."""
    priced = _priced(ranked) & ranked["throughput"].map(is_num)
    yours = ranked["yours"].astype(bool)
    ranked_part = ranked[priced]
    keep = ranked_part.head(top).index.union(ranked_part[yours[priced]].index)
    unpriced = ranked[~priced]
    # Your own device first among the unpriced: it is what the reader compares with.
    unpriced = pd.concat([unpriced[yours[~priced]], unpriced[~yours[~priced]]])
    return ranked.loc[[i for i in ranked.index if i in keep]], unpriced


def _label(row: dict[str, Any], rank: int) -> str:
    """A chart's row label: rank and the device's short name ("4. RTX 4070 Ti SUPER"), so the bars keep their
    width on a phone (the table beside it has the full name)."""
    return f"{rank}. " + ("★ " if row["yours"] else "") + short_device(str(row["device"]))


def _per(data: ReportData, shown: pd.DataFrame, scale: str) -> str:
    """'million samples': the scale and the unit of work in words."""
    unit = next((u for u in shown["work_unit"] if isinstance(u, str)), "unit")
    return data.msg(f"value.scale.{scale}", unit=data.msg.unit(unit))


def value_figure(data: ReportData, shown: pd.DataFrame, workload: str, scale: tuple[str, float]) -> Plot:
    """Cost per `scale` units of work, one bar per ranked device, in the table's order (first on top)."""
    t = data.msg
    per, units = _per(data, shown, scale[0]), scale[1]
    rows = frame_rows(shown)
    title = F.esc_wrapped(t("value.title_cost", workload=workload, per=per), 38)
    top = 42 + 20 * (title.count("<br>") + 1) + 14  # the title below Plotly's toolbar, wrapped for a phone
    fig = F.new_figure(title, height=110 + top + 30 * len(rows))
    fig.update_layout(title=dict(xanchor="left", yref="container", y=1, yanchor="top", pad=dict(t=40)))
    order = [esc(_label(r, i)) for i, r in enumerate(rows, start=1)]
    for basis, (color, pattern) in _BASIS_STYLE.items():
        idx = [i for i, r in enumerate(rows) if r["basis"] == basis]
        if not idx:
            continue
        part = [rows[i] for i in idx]
        cost = [float(r["tco_per_unit_usd"]) * units for r in part]
        hover = [
            f"<b>{esc(r['device'])}</b><br>{esc(t.money(c))} {esc(t('value.per', per=per))}<br>"
            f"{t.num(r['throughput'])} {esc(t.unit(str(r['throughput_unit'])))} ({esc(t(f'basis.{basis}'))})"
            f"<br>{esc(t('value.col.price'))}: {esc(t.money(r['price_usd']))}"
            for r, c in zip(part, cost, strict=True)
        ]
        fig.add_bar(
            x=cost,
            y=[order[i] for i in idx],
            orientation="h",
            name=esc(t(f"basis.{basis}", default=basis)),
            marker=dict(
                color=color,
                pattern=dict(shape=pattern),
                line=dict(
                    color=["black" if r["yours"] else color for r in part],
                    width=[2.5 if r["yours"] else 0.5 for r in part],
                ),
            ),
            text=[esc(t.money(c)) for c in cost],
            textposition="outside",
            cliponaxis=False,
            hovertext=hover,
            hovertemplate=F.HOVER,
        )
    costs = [float(r["tco_per_unit_usd"]) * units for r in rows]
    # A CPU beside GPUs can cost a thousand times more per unit: a log axis keeps both readable, and says so.
    log = bool(costs) and max(costs) / min(costs) > 100
    fig.update_layout(
        barmode="overlay",
        legend_title_text=esc(t("value.legend")),
        xaxis=dict(
            title=F.esc_wrapped(t("value.x_cost_log" if log else "value.x_cost", per=per), 36),
            type="log" if log else "linear",
        ),
        yaxis=dict(categoryorder="array", categoryarray=list(reversed(order)), automargin=True),
        margin=dict(r=70, t=top),
    )
    return fig


def _table(data: ReportData, shown: pd.DataFrame, workload: str, scale: tuple[str, float]) -> Table:
    t = data.msg
    per, units = _per(data, shown, scale[0]), scale[1]
    rows = []
    for i, r in enumerate(frame_rows(shown), start=1):
        spread = "" if r["basis"] == "measured" or not is_num(r["low"]) else f" ({t.num(r['low'])}–{t.num(r['high'])})"
        per_k = r["throughput_per_usd"] * 1000 if is_num(r["throughput_per_usd"]) else None
        cost = r["tco_per_unit_usd"] * units if is_num(r["tco_per_unit_usd"]) else None
        cloud = r["cloud_usd_per_unit"] * units if is_num(r["cloud_usd_per_unit"]) else None
        rows.append(
            [
                Cell(str(i), cls="num"),
                Cell(("★ " if r["yours"] else "") + str(r["device"]), cls="diff" if r["yours"] else ""),
                Cell(t(f"basis.{r['basis']}", default=str(r["basis"])), title=t.said(r["basis_detail"])),
                Cell(f"{t.num(r['throughput'])}{spread}", cls="num"),
                Cell(t.money(r["price_usd"]), cls="num", title=t.said(r["price_source"] or "")),
                Cell(t.num(per_k), cls="num"),
                Cell(t.num(r["avg_power_w"]), cls="num", title=t.said(r["power_source"] or "")),
                Cell(t.money(cost), cls="num"),
                Cell(t.money(cloud), cls="num", title=t.said(r["cloud_source"] or "")),
                Cell(t.num(r["breakeven_hours"]), cls="num"),
            ]
        )
    cols = ["rank", "device", "basis", "throughput", "price", "per_k", "watts", "tco", "cloud", "breakeven"]
    # Columns no device has a figure for (no cloud prices, no break-even) are left out: the table fits a page.
    keep = [i for i, c in enumerate(cols) if i < 5 or any(r[i].text != "–" for r in rows)]
    header = [t(f"value.col.{cols[i]}", per=per) for i in keep]
    return Table(header, [[r[i] for i in keep] for r in rows], t("value.table_caption", workload=workload, per=per))


def _unpriced(data: ReportData, rows: pd.DataFrame) -> Block:
    t = data.msg
    items = []
    for r in frame_rows(rows):
        if is_num(r["throughput"]):
            basis = t(f"basis.{r['basis']}", default=str(r["basis"]))
            star = "★ " if r["yours"] else ""
            items.append(f"{star}{r['device']}: {t.num(r['throughput'])} {t.unit(str(r['throughput_unit']))} ({basis})")
    return Details(t("value.unpriced", n=len(items)), [Note(t("value.unpriced_why"), "info", items)])


def build_value(data: ReportData) -> list[Block]:
    """Purchase advice for each buyer's workload these runs measured, over every catalog device."""
    from gpubench import advisor
    from gpubench.errors import GpubenchError

    ok = data.ok
    if ok.empty or "benchmark" not in ok:
        return []
    blocks: list[Block] = []
    for ref in buyer_workloads(ok):
        workload, label = ref.key, workload_words(data.msg, ref)
        try:
            ranked = advisor.recommend(workload_rows(data, workload), workload)
        except GpubenchError:
            continue
        if ranked.empty or not ranked["throughput"].map(lambda v: is_num(v) and math.isfinite(v)).any():
            continue
        shown, unpriced = shown_rows(ranked)
        if shown.empty:
            continue
        scale = cost_scale(shown)
        blocks.append(Figure(value_figure(data, shown, label, scale), data.msg("value.caption")))
        blocks.append(_table(data, shown, label, scale))
        if not unpriced.empty:
            blocks.append(_unpriced(data, unpriced))
        for warning in ranked.attrs.get("warnings", []):
            # Under its table, and naming the workload: a bare "unvalidated estimate" between charts says not which.
            blocks.append(Note(data.msg("value.note", workload=label, text=data.msg.said(warning)), kind="warn"))
    return blocks
