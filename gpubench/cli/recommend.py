"""`gpubench recommend`: which card to buy for a workload, ranked by cost of ownership (or another objective);
for every workload a run measured; or for an LLM task (--llm / --llm-config: memory, cards, speed, USD per
million tokens)."""

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
LlmOpt = Annotated[
    str | None, typer.Option("--llm", help="LLM preset to size (llama-3.1-8b, llama-3.1-70b, qwen2.5-7b, ...)")
]
LlmConfigOpt = Annotated[Path | None, typer.Option("--llm-config", help="a Hugging Face config.json to size")]
TaskOpt = Annotated[str, typer.Option("--task", help="serve, decode, prefill, lora, finetune")]
PrecisionOpt = Annotated[str, typer.Option("--precision", help="weights: bf16, fp16, fp8, int8, int4")]
ContextOpt = Annotated[
    int | None, typer.Option("--context", help="tokens per sequence (serve: prompt + output; lora: sequence)")
]
UsersOpt = Annotated[int, typer.Option("--users", help="sequences served at once")]
MinTpsOpt = Annotated[float | None, typer.Option("--min-tokens-per-user", help="decode tokens/s each user needs")]
TtftOpt = Annotated[float | None, typer.Option("--max-ttft-ms", help="longest time to first token (full prompt)")]
GpusPerNodeOpt = Annotated[int, typer.Option("--gpus-per-node", help="tensor parallel within a node up to this")]
GpuHourOpt = Annotated[
    float | None, typer.Option("--usd-per-gpu-hour", help="rent price per GPU-hour (else cost of ownership)")
]
EngineOpt = Annotated[
    str, typer.Option("--engine", help="whose fitted efficiencies: serving (vLLM, TensorRT-LLM) or llama.cpp")
]
TopOpt = Annotated[int, typer.Option("--top", help="devices shown per workload (RUN without --workload)")]


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
    llm: LlmOpt = None,
    llm_config: LlmConfigOpt = None,
    task: TaskOpt = "serve",
    precision: PrecisionOpt = "bf16",
    context: ContextOpt = None,
    users: UsersOpt = 1,
    min_tokens_per_user: MinTpsOpt = None,
    max_ttft_ms: TtftOpt = None,
    gpus_per_node: GpusPerNodeOpt = 8,
    usd_per_gpu_hour: GpuHourOpt = None,
    engine: EngineOpt = "serving",
    top: TopOpt = 5,
    as_json: JsonOpt = False,
) -> None:
    """Which card to buy for a workload: every catalog device ranked by cost of ownership per unit of work (or --objective).

    RUN folders without --workload: a ranking for each workload they measured, with the speed-up over your
    device. --llm PRESET (or --llm-config config.json) --task serve|decode|prefill|lora|finetune: per device,
    whether it fits (weights, KV cache, activations, optimizer state, runtime reserve), cards needed, users,
    tokens/s, time to first token and USD per million tokens."""
    df = _load_measured(runs)
    if list_workloads:
        from gpubench.advisor import available_workloads
        from gpubench.model import predictable_workloads

        names = list(dict.fromkeys([*(available_workloads(df) if df is not None else []), *predictable_workloads()]))
        print("\n".join(names))
        return
    check_numbers(kwh_price=kwh_price, hours_per_day=hours_per_day, years=years, budget=budget)
    common = {
        "budget_usd": budget,
        "prices": _load_prices(prices),
        "kwh_price": kwh_price,
        "hours_per_day": hours_per_day,
        "years": years,
        "price_kind": "used" if used else "new",
    }
    if llm is not None or llm_config is not None:
        asked = {"context": context, "users": users, "min_tokens_per_user": min_tokens_per_user}
        asked.update(max_ttft_ms=max_ttft_ms, gpus_per_node=gpus_per_node, usd_per_gpu_hour=usd_per_gpu_hour)
        _recommend_llm(llm, llm_config, task, precision, engine, {**asked, **common}, df, as_json)
    elif workload is None:
        if df is None:
            raise GpubenchError("give --workload NAME, RUN folders, or --llm PRESET (gpubench recommend --list)")
        _recommend_measured(df, {**common, "estimates": estimates, "objective": objective}, top, as_json)
    else:
        _recommend_one(df, workload, {**common, "estimates": estimates, "objective": objective}, as_json)


def _load_measured(runs: list[Path] | None) -> Any:
    """The runs' cases as one frame (None without runs); a clear error when none of them succeeded."""
    if not runs:
        return None
    from gpubench import load_runs

    df = load_runs([str(p) for p in runs])
    if "status" not in df.columns or not df["status"].eq("ok").any():
        raise GpubenchError(
            f"no case succeeded in {', '.join(map(str, runs))} (every case failed or was skipped): nothing "
            "measured to rank; see the reasons with gpubench report, or leave the runs out to rank the catalog"
        )
    return df


def _load_prices(path: Path | None) -> Any:
    if path is None:
        return None
    from gpubench.advisor import load_prices

    return load_prices(path)


def _recommend_one(df: Any, workload: str, common: dict[str, Any], as_json: bool) -> None:
    """Every catalog device ranked for one workload, with the price columns."""
    from gpubench.advisor import recommend as advise

    out = advise(df, workload, **common)
    if as_json:
        _print_json(out)
        return
    console.print(_ranking_table(out))
    _print_ranking_notes(out)


def _json_records(out: Any) -> list[dict[str, Any]]:
    return [{k: json_value(v) for k, v in r.items()} for r in out.to_dict(orient="records")]


def _print_json(out: Any) -> None:
    """A ranking as JSON: its inputs (the frame's attrs) and one record per device."""
    inputs = {k: json_value(v) for k, v in out.attrs.items()}
    print(json.dumps({"inputs": inputs, "devices": _json_records(out)}, indent=2))


def _recommend_measured(df: Any, common: dict[str, Any], top: int, as_json: bool) -> None:
    """One ranking per workload the runs measured (top N and your devices), the toy ones listed apart."""
    from gpubench.advisor import recommend_measured

    if top < 1:
        raise GpubenchError(f"--top must be at least 1, got {top}")
    rankings, apart = recommend_measured(df, **common)
    if as_json:
        payload = {
            "workloads": {w: _json_records(out) for w, out in rankings.items()},
            "not_comparable": apart,
        }
        print(json.dumps(payload, indent=2))
        return
    if not rankings and not apart:
        raise GpubenchError("the runs measured no workload the advisor knows (gpubench recommend --list)")
    for out in rankings.values():
        keep = out[(out["rank"].fillna(top + 1) <= top).astype(bool) | out["yours"].astype(bool)]
        keep.attrs.update(out.attrs)
        console.print(_ranking_table(keep, short=True))
    if apart:
        console.print(
            "not comparable with other devices (resized or toy shapes no other device ran; the model is asked only "
            f"at a workload's defining sizes): {escape(', '.join(apart))}",
            highlight=False,
        )
    console.print(
        "x yours = throughput / your device's measured throughput. * = a device in your runs. "
        "gpubench recommend RUN -w NAME shows every device and the price columns.",
        highlight=False,
    )
    warnings = sorted({w for out in rankings.values() for w in out.attrs.get("warnings", [])})
    for warning in warnings:
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)


def _recommend_llm(
    llm: str | None,
    llm_config: Path | None,
    task: str,
    precision: str,
    engine: str,
    asked: dict[str, Any],
    df: Any,
    as_json: bool,
) -> None:
    """Per device: whether the LLM fits, cards needed, users, tokens/s, time to first token, USD per M tokens.
    `asked` holds recommend_llm's keyword arguments (context, users, limits, prices, the cost inputs)."""
    from gpubench import llm_sizing
    from gpubench.advisor import recommend_llm

    if llm is not None and llm_config is not None:
        raise GpubenchError("give --llm or --llm-config, not both")
    preset = llm_sizing.resolve_model(llm, llm_config)
    task = llm_sizing.check_task(task)
    if asked.get("context") is None:
        asked = {**asked, "context": 2048 if task in llm_sizing.TRAIN_TASKS else 4096}
    out = recommend_llm(preset, task, precision, runs=df, engine=engine, **asked)
    if as_json:
        _print_json(out)
        return
    console.print(_llm_table(out))
    _print_llm_notes(out)


def _llm_table(out: Any) -> Table:
    a = out.attrs
    training = a["task"] in ("lora", "finetune")
    what = (
        f"{a['batch']} x {a['context']} tokens per step"
        if training
        else f"{a['users']} user(s) x {a['context']} tokens"
        + (f", >= {a['min_tokens_per_user']:g} tok/s each" if a["min_tokens_per_user"] else "")
        + (f", TTFT <= {a['max_ttft_ms']:g} ms" if a["max_ttft_ms"] else "")
    )
    title = f"{a['model']} ({a['params'] / 1e9:.2f} B params) {a['task']} at {a['precision']}: {what}"
    if a["budget_usd"] is not None:
        title += f"; budget {a['budget_usd']:,.0f} USD"
    table = Table(title=escape(title), title_justify="left")
    heads = ["#", "device", "cards", "ok", "GB/card: weights+KV+act+state+reserve = total / has"]
    heads += (
        ["train tok/s", "USD/M tok"]
        if training
        else [
            "max users",
            "tok/s/user",
            "tok/s total",
            "prefill tok/s",
            "TTFT ms",
            "MBU",
            "J/tok out",
            "USD/M in",
            "USD/M out",
        ]
    )
    heads += ["cards USD", "notes"]
    for h in heads:
        text = h in ("device", "notes") or h.startswith("GB")
        table.add_column(escape(h), justify="left" if text else "right", overflow="fold")
    for r in out.to_dict(orient="records"):
        mem = "+".join(
            fmt(json_value(r[k]), 2)
            for k in ("weights_gb", "kv_cache_gb", "activations_gb", "training_state_gb", "reserve_gb")
        )
        mem += f" = {fmt(json_value(r['total_gb']))} / {fmt(json_value(r['capacity_gb']))}"
        ok = "yes" if r["meets"] else "NO"
        notes = "; ".join(n for n in (json_value(r["why_not"]), json_value(r["notes"])) if n)
        cells = [str(r["rank"]) if json_value(r["rank"]) is not None else "-", escape(r["device"])]
        cells += [fmt(json_value(r["cards"])), ok, mem]
        if training:
            cells += [fmt(json_value(r["train_tps"])), fmt(json_value(r["usd_per_m_train"]), 3)]
        else:
            users_cell = fmt(json_value(r["max_users"]))
            if json_value(r["users_meeting_speed"]) is not None:
                users_cell += f" ({fmt(json_value(r['users_meeting_speed']))} at speed)"
            mbu = json_value(r["mbu"])
            cells += [
                users_cell,
                fmt(json_value(r["decode_tps_user"])),
                fmt(json_value(r["decode_tps_total"])),
                fmt(json_value(r["prefill_tps"])),
                fmt(json_value(r["ttft_ms"])),
                "-" if mbu is None else f"{mbu:.0%}",
                fmt(json_value(r["j_per_output_token"])),
                fmt(json_value(r["usd_per_m_input"]), 3),
                fmt(json_value(r["usd_per_m_output"]), 3),
            ]
        cells += [fmt(json_value(r["price_usd"])), escape(notes)]
        table.add_row(*cells, style=None if r["meets"] else "dim")
    return table


def _print_llm_notes(out: Any) -> None:
    a = out.attrs
    unpriced = out[out["rank"].isna()]
    if len(unpriced):
        console.print(
            f"listed apart, not ranked (no price known, no --usd-per-gpu-hour): {len(unpriced)} device(s), '-' in #",
            highlight=False,
        )
    dec, pre = a["llm_parameters"]["decode"], a["llm_parameters"]["prefill"]

    def fitted(p: dict[str, Any]) -> str:
        engines = p["borrowed_from"] or a["engine"]
        if not p["fitted"]:
            return "assumed (no published figure)"
        return f"fitted on {p['points']} published {engines} figures" + (
            f" (none of {a['engine']} engines)" if p["borrowed_from"] else ""
        )

    if a["task"] in ("lora", "finetune"):
        console.print(
            "Memory per card in GB (1e9 B): weights + activations (gradient checkpointing) + gradients and AdamW "
            "state of the trained parameters (LoRA rank 16 on q, k, v, o) + what the runtime keeps. Cards: tensor "
            "parallel until it fits. Speed: training FLOPs per token at an assumed 40 % of the achievable GEMM "
            "rate (no published fine-tuning figure: unvalidated). USD per million tokens trained from the cost "
            "of ownership or --usd-per-gpu-hour.",
            highlight=False,
        )
        for warning in a.get("warnings", []):
            err_console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
        return
    console.print(
        "Memory per card in GB (1e9 B): 16-bit KV cache of every user at the full context; reserve = what the "
        "runtime keeps. Cards: tensor parallel, grown until it fits and meets the targets. Speeds: roofline "
        f"per step of {a['engine']} engines: decode MBU {dec['mbu']:.0%} ({fitted(dec)}), prefill MFU "
        f"{pre['mfu']:.0%} ({fitted(pre)}); docs/MODEL.md. TTFT for a prompt of the full context. USD per million tokens: input and output apart, each as if the cards did "
        "only that, from --usd-per-gpu-hour or the cost of ownership (price over the lifetime + electricity at "
        "TDP; a cloud price where no purchase price is known).",
        highlight=False,
    )
    for warning in a.get("warnings", []):
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)


def _ranking_table(out: Any, short: bool = False) -> Table:
    """One row per device, in rank order: the devices of your runs bold, the estimated ones dim. `short`: the
    speed columns only (one of several workloads)."""
    a = out.attrs
    unit = next((u for u in out["work_unit"] if isinstance(u, str)), "unit")
    rate = next((u for u in out["throughput_unit"] if isinstance(u, str)), "")
    title = (
        f"{a['workload']} ranked by {a['objective']}: {a['hours_per_day']:g} h/day for {a['years']:g} years at "
        f"{a['kwh_price']:g} USD/kWh" + (f", budget {a['budget_usd']:,.0f} USD" if a["budget_usd"] is not None else "")
    )
    table = Table(title=escape(title), title_justify="left")
    reference = a.get("speedup_over")
    if short:
        table = Table(title=escape(f"{a['workload']} ({a['objective']} order)"), title_justify="left")
        for h in ("#", "device", "basis", rate, "range", "x yours", "notes"):
            text = h in ("device", "basis", "notes")
            table.add_column(escape(h), justify="left" if text else "right", overflow="fold")
        for r in out.to_dict(orient="records"):
            cells = _ranking_cells(r)
            row = [*cells[:5], fmt(json_value(r["speedup"])), cells[-1]]
            table.add_row(*row, style="bold" if r["yours"] else ("dim" if r["basis"] == "estimated" else None))
        return table
    heads = [
        "#",
        "device",
        "basis",
        rate,
        "range",
        *(["x yours"] if reference else []),
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
        cells = _ranking_cells(r)
        if reference:
            cells.insert(5, fmt(json_value(r["speedup"])))
        table.add_row(*cells, style="bold" if r["yours"] else ("dim" if r["basis"] == "estimated" else None))
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
        str(r["rank"]) if json_value(r["rank"]) is not None else "-",
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
    unranked = out[~out["ranked"].astype(bool)] if "ranked" in out.columns else out.iloc[0:0]
    if len(unranked) and a.get("unranked_reason"):
        console.print(
            f"listed apart, after the ranked ones ('-' in #): {len(unranked)} device(s) with {a['unranked_reason']}",
            highlight=False,
        )
    if a.get("speedup_over"):
        console.print(
            f"x yours = throughput / {escape(a['speedup_over']['device'])}'s measured "
            f"{fmt(a['speedup_over']['throughput'])}",
            highlight=False,
        )
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
