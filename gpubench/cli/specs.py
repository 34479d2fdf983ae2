"""`gpubench specs`: the datasheet catalog, and the published results the performance model is fitted on."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from gpubench.cli.common import JsonOpt, check_numbers, console, escape, fmt, handle_errors, json_value
from gpubench.errors import GpubenchError


@handle_errors
def specs(
    match: Annotated[str | None, typer.Option("--match", help="show the entry a torch device name matches")] = None,
    memory_gib: Annotated[float | None, typer.Option("--memory-gib", help="with --match: device memory")] = None,
    power_limit_w: Annotated[float | None, typer.Option("--power-limit-w", help="with --match: power limit")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The datasheet catalog: dense peaks per precision (TFLOP/s, TOP/s for int8), bandwidth, memory, TDP, price."""
    from gpubench.model import load_published
    from gpubench.specs import catalog_table, load_catalog, match_device

    catalog = load_catalog()
    if match is not None:
        check_numbers(memory_gib=memory_gib, power_limit_w=power_limit_w)
        memory = None if memory_gib is None else memory_gib * 2**30
        spec = match_device(match, memory, power_limit_w, catalog=catalog)
        if spec is None:
            raise GpubenchError(f"{match!r} matches no catalog entry (or several that the hints cannot tell apart)")
        if as_json:
            figures = {k: {"value": v, "source": spec.source(k)} for k, v in spec.figures().items()}
            print(json.dumps({"slug": spec.slug, "name": spec.name, "figures": figures, "notes": spec.notes}, indent=2))
            return
        _print_match(match, spec)
        return
    rows = catalog_table(catalog)
    published = load_published()
    by_device: dict[str, list[Any]] = {}
    for p in published:
        by_device.setdefault(p.device, []).append(p)
    if as_json:
        for r in rows:
            r["published"] = [
                {"workload": p.workload, "value": p.value, "unit": p.unit, "source": p.source, "date": p.date}
                for p in by_device.get(r["slug"], [])
            ]
        print(json.dumps([{k: json_value(v) for k, v in r.items()} for r in rows], indent=2))
        return
    _print_catalog(rows, by_device)


def _print_match(match: str, spec: Any) -> None:
    """The catalog entry `match` names: its figures with their sources, its notes, its published results."""
    from gpubench.model import load_published

    table = Table(title=f"{escape(match)} -> {spec.slug} ({escape(spec.name)})", title_justify="left")
    for col in ("figure", "value", "source"):
        table.add_column(col)
    for key, value in spec.figures().items():
        table.add_row(key, fmt(value, 6), escape(spec.source(key)))
    console.print(table)
    if spec.notes:
        console.print(escape(spec.notes), highlight=False)
    mine = [p for p in load_published() if p.device == spec.slug]
    if mine:
        pub = Table(title="Published results", title_justify="left")
        for col in ("workload", "value", "conditions", "source", "date"):
            pub.add_column(col, overflow="fold")
        for p in mine:
            pub.add_row(p.workload, f"{fmt(p.value, 6)} {p.unit}", escape(p.conditions), p.source, p.date)
        console.print(pub)


def _print_catalog(rows: list[dict[str, Any]], by_device: dict[str, list[Any]]) -> None:
    """The peaks of every catalog device, then which of them have published results."""
    from gpubench.specs import PRECISIONS

    table = Table(title="Datasheet peaks (dense; fp16/bf16/fp8 with FP32 accumulate)", title_justify="left")
    cols = ("slug", *PRECISIONS, "GB/s", "GB", "W", "USD", "year")
    for col in cols:
        table.add_column(col, justify="left" if col == "slug" else "right")
    for r in rows:
        values = [
            r["slug"],
            *(r[p] for p in PRECISIONS),
            r["memory_bandwidth_gbps"],
            r["memory_gb"],
            r["tdp_w"],
            r["launch_price_usd"],
            r["year"],
        ]
        table.add_row(*(fmt(v, 4) for v in values))
    console.print(table)
    console.print("Per torch device (MI250X/MI250: one GCD). Sources: gpubench specs --match NAME", highlight=False)
    pub = Table(title="Published results the model is fitted on (gpubench/data/published/)", title_justify="left")
    for col in ("slug", "workloads", "files"):
        pub.add_column(col, overflow="fold")
    for slug, items in by_device.items():
        works = ", ".join(f"{p.workload} {fmt(p.value, 4)}" for p in items)
        pub.add_row(slug, works, ", ".join(sorted({p.file for p in items})))
    console.print(pub)
    missing = [r["slug"] for r in rows if r["slug"] not in by_device]
    console.print(f"No published result yet (estimated from datasheets): {', '.join(missing)}", highlight=False)
