"""`gpubench recommend`: which card to buy for a workload, ranked by cost of ownership (or another objective)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from gpubench.cli.common import JsonOpt, check_numbers, console, err_console, escape, fmt, handle_errors, json_value
from gpubench.errors import GpubenchError

RunsArg = Annotated[
    list[Path] | None,
    typer.Argument(help="run folders (or folders of run folders); none: the catalog alone"),
]
WorkloadOpt = Annotated[
    str | None, typer.Option("--workload", "-w", help="e.g. resnet50/amp_bf16, matmul/bf16, memory/d2d")
]
BudgetOpt = Annotated[float | None, typer.Option("--budget", help="most USD to spend per card")]
PricesOpt = Annotated[
    Path | None,
    typer.Option("--prices", help="CSV or TOML: device, new_usd, used_usd, cloud_usd_per_hour"),
]
KwhPriceOpt = Annotated[float, typer.Option("--kwh-price", help="electricity, USD per kWh")]
HoursPerDayOpt = Annotated[float, typer.Option("--hours-per-day", help="hours a day the card works")]
YearsOpt = Annotated[float, typer.Option("--years", help="lifetime in years")]
UsedOpt = Annotated[bool, typer.Option("--used", help="rank by the used prices in --prices")]
ObjectiveOpt = Annotated[str, typer.Option("--objective", "-o", help="tco, throughput, per-usd, per-watt, cloud")]
EstimatesOpt = Annotated[
    bool,
    typer.Option("--estimates/--no-estimates", help="add model estimates for devices nobody measured"),
]
ListOpt = Annotated[bool, typer.Option("--list", help="list the workload names")]


@handle_errors
def recommend(
    runs: RunsArg = None,
    workload: WorkloadOpt = None,
    budget: BudgetOpt = None,
    prices: PricesOpt = None,
    kwh_price: KwhPriceOpt = 0.15,
    hours_per_day: HoursPerDayOpt = 24.0,
    years: YearsOpt = 3.0,
    used: UsedOpt = False,
    objective: ObjectiveOpt = "tco",
    estimates: EstimatesOpt = True,
    list_workloads: ListOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Which card to buy for a workload: every catalog device ranked by cost of ownership per unit of work (or --objective)."""
    from gpubench.advisor import available_workloads, load_prices
    from gpubench.advisor import recommend as advise
    from gpubench.model import predictable_workloads

    df = None
    if runs:
        from gpubench import load_runs

        df = load_runs([str(p) for p in runs])
        if "status" not in df.columns or not df["status"].eq("ok").any():
            raise GpubenchError(
                f"no case succeeded in {', '.join(map(str, runs))} (every case failed or was skipped): nothing "
                "measured to rank; see the reasons with gpubench report, or leave the runs out to rank the catalog"
            )
    if list_workloads:
        names = list(dict.fromkeys([*(available_workloads(df) if df is not None else []), *predictable_workloads()]))
        print("\n".join(names))
        return
    if workload is None:
        raise GpubenchError("give --workload NAME (gpubench recommend --list shows the names)")
    check_numbers(kwh_price=kwh_price, hours_per_day=hours_per_day, years=years, budget=budget)
    price_table = load_prices(prices) if prices is not None else None
    out = advise(
        df,
        workload,
        budget_usd=budget,
        prices=price_table,
        kwh_price=kwh_price,
        hours_per_day=hours_per_day,
        years=years,
        price_kind="used" if used else "new",
        estimates=estimates,
        objective=objective,
    )
    if as_json:
        records = [{k: json_value(v) for k, v in r.items()} for r in out.to_dict(orient="records")]
        print(json.dumps({"inputs": {k: json_value(v) for k, v in out.attrs.items()}, "devices": records}, indent=2))
        return
    console.print(_ranking_table(out))
    _print_ranking_notes(out)


def _ranking_table(out: Any) -> Table:
    """One row per device, in rank order: the devices of your runs bold, the estimated ones dim."""
    a = out.attrs
    unit = next((u for u in out["work_unit"] if isinstance(u, str)), "unit")
    rate = next((u for u in out["throughput_unit"] if isinstance(u, str)), "")
    title = (
        f"{a['workload']} ranked by {a['objective']}: {a['hours_per_day']:g} h/day for {a['years']:g} years at "
        f"{a['kwh_price']:g} USD/kWh" + (f", budget {a['budget_usd']:,.0f} USD" if a["budget_usd"] is not None else "")
    )
    table = Table(title=escape(title), title_justify="left")
    heads = [
        "#",
        "device",
        "basis",
        rate,
        "range",
        "USD",
        "/1k USD",
        "W",
        "/W",
        f"USD/M {unit}",
        f"cloud USD/M {unit}",
        "buy after h",
        "fits",
        "notes",
    ]
    for h in heads:
        text = h in ("device", "basis", "notes")
        table.add_column(escape(h), justify="left" if text else "right", overflow="fold", min_width=10 if text else 3)
    for r in out.to_dict(orient="records"):
        table.add_row(
            *_ranking_cells(r), style="bold" if r["yours"] else ("dim" if r["basis"] == "estimated" else None)
        )
    return table


def _ranking_cells(r: dict[str, Any]) -> list[str]:
    """The cells of one device's row of the ranking table."""
    per_kusd = r["throughput_per_usd"] * 1000 if json_value(r["throughput_per_usd"]) is not None else None
    per_m = r["tco_per_unit_usd"] * 1e6 if json_value(r["tco_per_unit_usd"]) is not None else None
    cloud_m = r["cloud_usd_per_unit"] * 1e6 if json_value(r["cloud_usd_per_unit"]) is not None else None
    spread = "-" if r["basis"] == "measured" or json_value(r["low"]) is None else f"{fmt(r['low'])}-{fmt(r['high'])}"
    basis = r["basis"] if r["basis"] != "published" else f"published ({_source_name(r['basis_detail'])})"
    fits = {True: "yes", False: "NO"}.get(json_value(r["fits_memory"]), "-")
    if fits == "-" and json_value(r["required_memory_gb"]) is not None:
        fits = f">={r['required_memory_gb']:.1f} GB"
    if json_value(r["max_batch"]) is not None:
        fits += f" (batch <= {int(r['max_batch'])})"
    name = ("* " if r["yours"] else "") + str(r["device"])
    return [
        str(r["rank"]),
        escape(name),
        escape(basis),
        fmt(r["throughput"]),
        spread,
        fmt(json_value(r["price_usd"])),
        fmt(per_kusd),
        fmt(json_value(r["avg_power_w"])),
        fmt(json_value(r["throughput_per_w"])),
        fmt(per_m, 4),
        fmt(cloud_m, 4),
        fmt(json_value(r["breakeven_hours"])),
        fits,
        escape(r["notes"]),
    ]


def _print_ranking_notes(out: Any) -> None:
    """Below the table: an empty budget, prices that matched nothing, the legend, the advisor's warnings."""
    a = out.attrs
    if not (~out["yours"].astype(bool)).any() and a["budget_usd"] is not None:
        cheapest = a.get("cheapest")
        if cheapest:
            console.print(
                f"no device within the budget: the cheapest is {escape(cheapest['device'])} at "
                f"{cheapest['price_usd']:,.0f} USD ({escape(cheapest['source'])})",
                highlight=False,
            )
        else:
            console.print("no device has a known price: add prices with --prices FILE")
    if a.get("unused_prices"):
        err_console.print(f"prices matched no device: {escape(', '.join(a['unused_prices']))}", highlight=False)
    console.print(
        "* = a device in your runs. basis: measured (your run) / published (a primary source, gpubench specs) / "
        "estimated (performance model; range = its validation error). Launch prices are old list prices; cloud "
        f"prices are a default table dated {a['cloud_table_date']} unless --prices gives them. "
        "'buy after h': hours of use after which buying beats renting, electricity included.",
        highlight=False,
    )
    for warning in a.get("warnings", []):
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)


def _source_name(detail: str) -> str:
    """A short name for a published source URL (the repository or host)."""
    first = str(detail).split(";")[0].strip()
    parts = first.split("/")
    if "github.com" in first and len(parts) > 4:
        return parts[4]
    return parts[2] if len(parts) > 2 else first
