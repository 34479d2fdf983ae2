"""The `gpubench` command. The only module that prints, exits, or knows exit codes.

Exit codes: 0 all ok (or skipped); 1 a benchmark failed or computed a wrong result (compare: a case got
significantly slower); 2 bad input, a bad path or a full disk (one red line, no traceback); 130 interrupted by
Ctrl-C, 143 stopped by SIGTERM (finished cases kept in both).
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import re
import shlex
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from gpubench.errors import GpubenchError, first_line

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Benchmark accelerators for deep-learning work: speed, power, and which card to buy.",
    pretty_exceptions_enable=False,
)
# Piped into a file or a CI log there is no terminal width to fit: use a wide page rather than rich's 80 columns.
_WIDTH = None if sys.stdout.isatty() or "COLUMNS" in os.environ else 200
console = Console(width=_WIDTH)
err_console = Console(stderr=True, width=_WIDTH)

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print `message` (plain text: escaped here, never read as markup) as one red line; the Exit to raise."""
    err_console.print(f"[bold red]error:[/] {_escape(message)}", highlight=False, markup=True, soft_wrap=True)
    return typer.Exit(code)


def _os_error_message(e: OSError) -> str:
    """One line naming the path and what is wrong with it; a full disk says so."""
    import errno

    where = " -> ".join(str(f) for f in (e.filename, e.filename2) if f is not None) or "a file"
    if e.errno == errno.ENOSPC:
        return f"the disk is full (writing {where})"
    return f"{where}: {e.strerror or type(e).__name__}"


def handle_errors(fn: F) -> F:
    """A GpubenchError (bad input, missing hardware, damaged file) becomes one red line and exit code 2; so does
    a file-system error that reaches this far (a path that cannot be created, read or written)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except GpubenchError as e:
            raise fail(first_line(e)) from None
        except OSError as e:
            raise fail(_os_error_message(e)) from None

    return wrapper  # type: ignore[return-value]


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, float):
        if value == 0:
            return "0"
        mag = abs(value)
        return f"{value:.{digits}g}" if mag < 10**digits else f"{value:,.0f}"
    return str(value)


# C0 and C1 control characters (ESC, BEL, CSI ...), except tab and newline: printed raw, a name read from a
# run folder could clear the screen or retitle the window. They are shown as visible \xNN escapes instead.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _escape(text: Any) -> str:
    """User- or file-supplied text made safe to print through rich: control characters shown as `\\xNN`,
    `[...]` shown as written rather than read as markup."""
    from rich.markup import escape

    return escape(_CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text)))


def json_value(value: Any) -> Any:
    """store.json_value, imported on first use: `gpubench --help` should not pay for pandas."""
    from gpubench.store import json_value as convert

    return convert(value)


DeviceOpt = Annotated[
    str,
    typer.Option("--device", "-d", help="auto (first accelerator, else CPU), cpu, cuda[:N], xpu[:N], mps, xla[:N]"),
]


@app.command()
@handle_errors
def devices(as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False) -> None:
    """List every device torch can use: GPUs (NVIDIA, AMD under ROCm, Intel XPU, Apple MPS), XLA devices, the CPU."""
    from gpubench.devices import describe_devices

    found = describe_devices()
    if as_json:
        print(json.dumps(found, indent=2, default=str))
        return
    for d in found:
        table = Table(title=f"{d['torch_device']}: {_escape(d['name'])}", show_header=False, title_justify="left")
        for key, value in d.items():
            if key in ("name", "torch_device") or value in (None, [], ""):
                continue
            if key.endswith("_bytes") and isinstance(value, int):
                value = f"{value / 2**30:.1f} GiB"
            table.add_row(key, _escape(", ".join(value) if isinstance(value, list) else value))
        console.print(table)


@app.command("list")
@handle_errors
def list_(as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False) -> None:
    """Show benchmarks, their parameters, and the suites."""
    from gpubench.benchmarks import load_all
    from gpubench.suite import available_suites, load_suite

    registry = load_all()
    suites = {}
    for name in available_suites():
        s = load_suite(name, registry)
        suites[name] = {"description": s.description, "cases": len(s.cases)}
    if as_json:
        benches = {
            b.name: {
                "version": b.version,
                "description": b.description,
                "params": {
                    p: {
                        "type": s.type.__name__,
                        "default": s.default,
                        "choices": list(s.choices) if s.choices else None,
                        "help": s.help,
                    }
                    for p, s in b.params.items()
                },
            }
            for b in registry.values()
        }
        print(json.dumps({"benchmarks": benches, "suites": suites}, indent=2))
        return
    table = Table(title="benchmarks", title_justify="left")
    for col in ("name", "v", "parameters", "description"):
        table.add_column(col)
    for b in registry.values():
        params = "\n".join(
            f"{p}: {'|'.join(map(str, s.choices)) if s.choices else s.type.__name__}"
            + (f" = {s.default}" if s.default is not None else "")
            for p, s in b.params.items()
        )
        table.add_row(b.name, str(b.version), params, b.description)
    console.print(table)
    st = Table(title="suites", title_justify="left")
    for col in ("suite", "cases", "description"):
        st.add_column(col)
    for name, s in suites.items():
        st.add_row(_escape(name), str(s["cases"]), _escape(s["description"]))
    console.print(st)


def _summary_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="summary", title_justify="left")
    # Numbers never wrap or shrink away; the case id folds and the notes wrap when the terminal is narrow.
    table.add_column("case", overflow="fold", min_width=28)
    for col, just, width in (
        ("status", "left", 7),
        ("throughput", "right", 10),
        ("unit", "left", 9),
        ("p10-p90", "right", 11),
        ("% peak", "right", 6),
        ("W", "right", 5),
    ):
        table.add_column(col, justify=just, min_width=width, no_wrap=col != "unit")  # type: ignore[arg-type]
    table.add_column("notes", overflow="fold", min_width=8)
    colours = {"ok": "green", "skipped": "yellow", "failed": "red", "wrong": "bold red"}
    for r in rows:
        notes = []
        if r.get("noisy"):
            notes.append("noisy")
        if r.get("emulated"):
            notes.append("emulated in software")
        if r.get("min_reps_reached") is False:
            notes.append(f"only {r.get('n_reps')} rep(s) within max_time_s")
        if r.get("throttled"):
            notes.append(f"throttled ({r.get('throttle_reasons', '')})")
        round_cov = r.get("round_cov")
        if isinstance(round_cov, float) and round_cov > 0.05:  # NaN compares False
            notes.append(f"rounds differ ±{100 * round_cov:.0f}%")
        if r["status"] != "ok" and r.get("reason"):
            notes.append(str(r["reason"])[:90])
        spread = (
            f"{_fmt(r.get('throughput_p10'))}-{_fmt(r.get('throughput_p90'))}" if r["status"] in ("ok", "wrong") else ""
        )
        pct = r.get("pct_of_peak")
        table.add_row(
            _escape(r["case_id"]),
            f"[{colours.get(r['status'], 'white')}]{r['status']}[/]",
            _fmt(r.get("throughput")) if r["status"] in ("ok", "wrong") else "",
            _escape(r.get("throughput_unit", "") or ""),
            spread,
            _fmt(pct, 3) if pct is not None else "-",
            _fmt(r.get("avg_power_w")),
            _escape("; ".join(notes)),
        )
    return table


def _sweep_table(rows: list[dict[str, Any]]) -> Table | None:
    from gpubench.stats import sweep_summary

    sweeps = sweep_summary(rows)
    if not sweeps:
        return None
    table = Table(title="matmul shape sweeps (M varied, N = K fixed)", title_justify="left")
    for col in ("dtype", "n=k", "shapes", "best", "at m", "geomean", "unit"):
        table.add_column(col)
    for s in sweeps:
        table.add_row(
            _escape(s["dtype"]),
            str(s["n"]),
            str(s["shapes"]),
            _fmt(s["best_throughput"]),
            str(s["best_m"]),
            _fmt(s["geomean_throughput"]),
            s["unit"],
        )
    return table


_DIST = "Distributed (torchrun)"
# `run` options that belong to the launching process, not to the ranks it starts.
_LAUNCHER_PARAMS = {
    "nproc",
    "nnodes",
    "node_rank",
    "rdzv_endpoint",
    "rdzv_backend",
    "rdzv_id",
    "master_addr",
    "master_port",
    "report",
}


def _child_args(ctx: typer.Context) -> list[str]:
    """The `run` command line again, from its parsed parameters, without the launcher's own options."""
    positional, options = [], []
    for param in ctx.command.params:
        value = ctx.params.get(param.name or "")
        if param.name in _LAUNCHER_PARAMS or value is None:
            continue
        if param.param_type_name == "argument":
            positional.append(str(value))
        elif param.param_type_name == "option":
            flag = max(param.opts, key=len)
            if getattr(param, "is_flag", False):
                if param.secondary_opts:
                    options.append(flag if value else max(param.secondary_opts, key=len))
                elif value:
                    options.append(flag)
            elif param.multiple:
                for v in value:
                    options += [flag, str(v)]
            else:
                options += [flag, str(value)]
    return [ctx.info_name or "run", *positional, *options]


def _launch_ranks(ctx: typer.Context, nproc: int, torchrun: dict[str, Any], report: bool) -> None:
    """`gpubench run --nproc N`: start the ranks through torchrun, wait, then report like a single run."""
    from gpubench.distributed.launch import launch

    if nproc < 1:
        raise GpubenchError("torchrun options need --nproc N, the number of ranks on this node")
    result = launch(_child_args(ctx), nproc, torchrun, command=shlex.join(sys.argv))
    folder = result.folder
    if result.interrupted:
        where = f"; continue with --resume {folder}" if folder else ""
        raise fail(f"interrupted: finished cases kept{where}", 130)
    failure = result.failure()
    if failure:
        raise fail(failure + (f"; finished cases are kept in {folder}" if folder else ""), 1)
    if report and folder is not None:
        from gpubench.report import render_report

        path = render_report([folder])
        console.print(f"report: {_escape(path)}", soft_wrap=True, highlight=False)
    if result.result and result.result.get("any_failed"):
        raise typer.Exit(1)


class _SigTerm(KeyboardInterrupt):
    """SIGTERM (`timeout`, Slurm, `docker stop`) in a single-process run: stops it exactly like Ctrl-C."""


_TERMINATED = threading.Event()


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Any:
    """While a single-process run goes, SIGTERM raises _SigTerm: the case in flight is dropped, finished cases
    are kept, run.json says interrupted, and the exit code is 143 (128 + SIGTERM) instead of 130."""
    import signal

    def on_term(signum: int, frame: Any) -> None:
        _TERMINATED.set()
        raise _SigTerm()

    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only (CliRunner in a worker thread, say)
        return
    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_rank(loaded: Any, options: Any, events: Any, timeout_s: float) -> Any:
    """One rank of a distributed run (started by torchrun): rank 0 returns the outcome, the others None."""
    from gpubench.distributed.rank import RankStopped, run_as_rank
    from gpubench.errors import RankLost

    try:
        return run_as_rank(loaded, options, events, timeout_s)
    except (RankStopped, RankLost) as e:
        raise fail(str(e), 1) from None


@app.command()
@handle_errors
def run(
    ctx: typer.Context,
    suite: Annotated[
        str, typer.Argument(help="suite name (quick, standard, full, training ...) or a .toml path")
    ] = "quick",
    device: DeviceOpt = "auto",
    only: Annotated[
        list[str] | None, typer.Option("--only", help="glob over case ids / benchmark names; repeatable")
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="folder that receives the new run folder")] = Path("results"),
    resume: Annotated[
        Path | None, typer.Option("--resume", help="continue this run folder, skipping finished cases")
    ] = None,
    rounds: Annotated[
        int | None,
        typer.Option(
            "--rounds",
            min=1,
            help="measure each case in N rounds, interleaved with the other cases (default: the suite's `rounds`)",
        ),
    ] = None,
    force_resume: Annotated[
        bool,
        typer.Option(
            "--force-resume",
            help="with --resume: add to the run even if it was made on another host or device, with another "
            "version of the suite or another number of ranks (recorded in run.json)",
        ),
    ] = False,
    telemetry: Annotated[str, typer.Option("--telemetry", help="auto | required | off")] = "auto",
    sample_hz: Annotated[float, typer.Option("--sample-hz", help="telemetry sampling rate")] = 20.0,
    idle_s: Annotated[float, typer.Option("--idle-s", help="seconds of idle sampling before the first case")] = 2.0,
    report: Annotated[
        bool, typer.Option("--report/--no-report", help="write an HTML report of the run at the end")
    ] = False,
    nproc: Annotated[
        int,
        typer.Option(
            "--nproc",
            min=0,
            help="ranks on this node, launched with torchrun (one per GPU); 0 = one process",
            rich_help_panel=_DIST,
        ),
    ] = 0,
    nnodes: Annotated[
        str | None,
        typer.Option("--nnodes", help="torchrun: number of nodes (or MIN:MAX)", rich_help_panel=_DIST),
    ] = None,
    node_rank: Annotated[
        int | None,
        typer.Option("--node-rank", help="torchrun: this node's rank (static rendezvous)", rich_help_panel=_DIST),
    ] = None,
    rdzv_endpoint: Annotated[
        str | None,
        typer.Option("--rdzv-endpoint", help="torchrun: HOST:PORT of the rendezvous", rich_help_panel=_DIST),
    ] = None,
    rdzv_backend: Annotated[
        str | None,
        typer.Option(
            "--rdzv-backend",
            help="torchrun: rendezvous backend (c10d, static, etcd-v2)",
            rich_help_panel=_DIST,
        ),
    ] = None,
    rdzv_id: Annotated[
        str | None,
        typer.Option("--rdzv-id", help="torchrun: job id, the same on every node", rich_help_panel=_DIST),
    ] = None,
    master_addr: Annotated[
        str | None,
        typer.Option(
            "--master-addr",
            help="torchrun: address of the node of rank 0 (static rendezvous)",
            rich_help_panel=_DIST,
        ),
    ] = None,
    master_port: Annotated[
        int | None,
        typer.Option(
            "--master-port",
            help="torchrun: port on the node of rank 0 (static rendezvous)",
            rich_help_panel=_DIST,
        ),
    ] = None,
    dist_timeout_s: Annotated[
        float,
        typer.Option(
            "--dist-timeout-s",
            min=1.0,
            help="seconds a rank waits for the others before the run stops, naming the missing rank",
            rich_help_panel=_DIST,
        ),
    ] = 600.0,
) -> None:
    """Run a suite on one device and write a run folder (run.json, measurements.parquet, telemetry.parquet).

    With --nproc N: N ranks through torchrun (more nodes with torchrun's rendezvous options), one run folder."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from gpubench.runner import RunEvents, RunOptions, run_suite
    from gpubench.suite import load_suite

    if telemetry not in ("auto", "required", "off"):
        raise GpubenchError(f"--telemetry {telemetry!r}: use auto, required or off")
    if not (0 < sample_hz <= 1000):
        raise GpubenchError(f"--sample-hz {sample_hz}: must be in (0, 1000]")
    if not (math.isfinite(idle_s) and idle_s >= 0):
        raise GpubenchError(f"--idle-s {idle_s}: must be a number of seconds >= 0")
    if not math.isfinite(dist_timeout_s):
        raise GpubenchError(f"--dist-timeout-s {dist_timeout_s}: must be a finite number of seconds")
    if resume is not None and not resume.is_dir():
        raise GpubenchError(f"--resume {resume}: no such run folder")
    loaded = load_suite(suite)
    from gpubench.distributed.launch import (
        is_rank_process,
        launched_by_gpubench,
        parent_command,
        write_result,
    )

    torchrun = {
        "nnodes": nnodes,
        "node-rank": node_rank,
        "rdzv-endpoint": rdzv_endpoint,
        "rdzv-backend": rdzv_backend,
        "rdzv-id": rdzv_id,
        "master-addr": master_addr,
        "master-port": master_port,
    }
    in_rank = is_rank_process()
    if not in_rank and (nproc or any(v is not None for v in torchrun.values())):
        if rounds is not None and rounds > 1 or any(pc.timing.rounds > 1 for pc in loaded.cases):
            err_console.print(
                "[yellow]note:[/] runs with ranks measure one round per case (no rounds yet)", highlight=False
            )
        _launch_ranks(ctx, nproc, torchrun, report)
        return
    if force_resume and resume is None:
        raise GpubenchError("--force-resume goes with --resume FOLDER")
    options = RunOptions(
        device=device,
        out_dir=out,
        only=tuple(only or ()),
        resume=resume,
        force_resume=force_resume,
        rounds=rounds,
        telemetry=telemetry,
        sample_hz=sample_hz,
        idle_s=idle_s,
        command=(in_rank and parent_command()) or shlex.join(sys.argv),
    )
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    )
    task = None

    def on_start(store: Any, todo: list[Any], done: int) -> None:
        nonlocal task
        dev = store.meta["device"]
        err_console.print(
            f"[bold]{_escape(dev['name'])}[/] ({_escape(dev['vendor'])}) - suite {_escape(loaded.name)}: "
            f"{len(todo)} case(s) to run"
            + (f", {done} already done" if done else "")
            + f"\nrun folder: {_escape(store.folder)}",
            soft_wrap=True,
            highlight=False,
        )
        dist_info = store.meta.get("distributed")
        if dist_info:
            err_console.print(
                _escape(f"{dist_info['world_size']} ranks on {dist_info['n_nodes']} node(s), {dist_info['backend']}"),
                highlight=False,
            )
        tel = store.meta.get("telemetry", {})
        if tel.get("reason"):
            err_console.print(f"[yellow]telemetry: {_escape(tel['reason'])}[/]")
        elif tel.get("reader"):
            err_console.print(
                _escape(f"telemetry: {tel['reader']}, idle power {_fmt(tel.get('idle_power_w'))} W"),
                highlight=False,
            )
        task = progress.add_task("starting", total=len(todo))
        progress.start()

    def on_rounds(total: int) -> None:
        progress.update(task, total=total)

    def on_case_start(planned: Any, i: int) -> None:
        progress.update(task, description=_escape(planned.case.id))

    def on_case_end(planned: Any, row: dict[str, Any]) -> None:
        progress.advance(task)

    events = RunEvents(on_start, on_case_start, on_case_end, on_rounds)
    try:
        if in_rank:
            outcome = _run_rank(loaded, options, events, dist_timeout_s)
            if outcome is None:  # ranks other than 0: rank 0 reports
                return
        else:
            with _sigterm_as_interrupt():
                outcome = run_suite(loaded, options, events)
    finally:
        progress.stop()
    console.print(_summary_table(outcome.rows))
    sweeps = _sweep_table(outcome.rows)
    if sweeps is not None:
        console.print(sweeps)
    console.print(f"results: {_escape(outcome.folder)}", soft_wrap=True, highlight=False)
    if in_rank and launched_by_gpubench():
        # The launching `gpubench run --nproc` reports, renders and sets the exit code: a non-zero exit here
        # would make torchrun report rank 0 as crashed.
        write_result(
            outcome.folder, any_failed=outcome.any_failed, interrupted=outcome.interrupted, cases=len(outcome.rows)
        )
        return
    if outcome.interrupted:
        how, code = ("terminated (SIGTERM)", 143) if _TERMINATED.is_set() else ("interrupted", 130)
        raise fail(f"{how}: {len(outcome.rows)} finished case(s) kept; continue with --resume {outcome.folder}", code)
    if report:
        from gpubench.report import render_report

        path = render_report([outcome.folder])
        console.print(f"report: {_escape(path)}", soft_wrap=True, highlight=False)
    if outcome.any_failed:
        raise typer.Exit(1)


@app.command()
@handle_errors
def monitor(
    device: DeviceOpt = "auto",
    seconds: Annotated[float, typer.Option("--seconds", help="stop after this long (0 = until Ctrl-C)")] = 0.0,
    hz: Annotated[float, typer.Option("--hz", help="readings per second")] = 1.0,
) -> None:
    """A live table of power, energy, temperature, clocks and throttle reasons (like `nvidia-smi dmon`)."""
    from gpubench.devices import describe, resolve_device
    from gpubench.telemetry import decode_throttle, open_reader
    from gpubench.telemetry import monitor as monitor_readings

    if not (0 < hz <= 100):
        raise GpubenchError(f"--hz {hz}: must be in (0, 100]")
    if not (math.isfinite(seconds) and seconds >= 0):
        raise GpubenchError(f"--seconds {seconds}: must be a number of seconds >= 0 (0 = until Ctrl-C)")
    # "auto": a CPU without RAPL still shows clocks and memory; only no reader at all is an error.
    reader, reason = open_reader(describe(resolve_device(device)), "auto")
    if reason is not None:
        raise GpubenchError(f"no telemetry for this device: {reason}")
    cols = (
        "time_s",
        "power_w",
        "energy_j",
        "temp_c",
        "mem_temp_c",
        "sm_clock_mhz",
        "mem_clock_mhz",
        "util_pct",
        "mem_used_gib",
        "throttle",
    )
    console.print(
        _escape(
            f"reader: {reader.name}  "
            + "  ".join(f"{k}={_fmt(v)}" for k, v in reader.static_info().items() if k != "reader")
        ),
        highlight=False,
    )
    console.print(" ".join(f"{c:>13}" for c in cols))
    try:
        for reading in monitor_readings(reader, seconds=seconds, hz=hz):
            mask = reading.get("throttle_mask", math.nan)
            throttle = ",".join(decode_throttle(int(mask))) if isinstance(mask, float) and math.isfinite(mask) else "-"
            used = reading.get("mem_used_bytes", math.nan)
            values = [
                round(reading.get("time_s", math.nan), 1),
                reading.get("power_w"),
                reading.get("energy_j"),
                reading.get("temp_c"),
                reading.get("mem_temp_c"),
                reading.get("sm_clock_mhz"),
                reading.get("mem_clock_mhz"),
                reading.get("util_pct"),
                used / 2**30 if used == used else math.nan,
            ]
            console.print(" ".join(f"{_fmt(v):>13}" for v in values) + f" {throttle:>13}", highlight=False)
    except KeyboardInterrupt:
        pass
    finally:
        reader.close()


@app.command()
@handle_errors
def specs(
    match: Annotated[str | None, typer.Option("--match", help="show the entry a torch device name matches")] = None,
    memory_gib: Annotated[float | None, typer.Option("--memory-gib", help="with --match: device memory")] = None,
    power_limit_w: Annotated[float | None, typer.Option("--power-limit-w", help="with --match: power limit")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """The datasheet catalog: dense peaks per precision (TFLOP/s, TOP/s for int8), bandwidth, memory, TDP, price."""
    from gpubench.model import load_published
    from gpubench.specs import PRECISIONS, catalog_table, load_catalog, match_device

    catalog = load_catalog()
    if match is not None:
        memory = None if memory_gib is None else memory_gib * 2**30
        spec = match_device(match, memory, power_limit_w, catalog=catalog)
        if spec is None:
            raise GpubenchError(f"{match!r} matches no catalog entry (or several that the hints cannot tell apart)")
        if as_json:
            figures = {k: {"value": v, "source": spec.source(k)} for k, v in spec.figures().items()}
            print(json.dumps({"slug": spec.slug, "name": spec.name, "figures": figures, "notes": spec.notes}, indent=2))
            return
        table = Table(title=f"{_escape(match)} -> {spec.slug} ({_escape(spec.name)})", title_justify="left")
        for col in ("figure", "value", "source"):
            table.add_column(col)
        for key, value in spec.figures().items():
            table.add_row(key, _fmt(value, 6), _escape(spec.source(key)))
        console.print(table)
        if spec.notes:
            console.print(_escape(spec.notes), highlight=False)
        mine = [p for p in load_published() if p.device == spec.slug]
        if mine:
            pub = Table(title="Published results", title_justify="left")
            for col in ("workload", "value", "conditions", "source", "date"):
                pub.add_column(col, overflow="fold")
            for p in mine:
                pub.add_row(p.workload, f"{_fmt(p.value, 6)} {p.unit}", _escape(p.conditions), p.source, p.date)
            console.print(pub)
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
        table.add_row(*(_fmt(v, 4) for v in values))
    console.print(table)
    console.print("Per torch device (MI250X/MI250: one GCD). Sources: gpubench specs --match NAME", highlight=False)
    pub = Table(title="Published results the model is fitted on (gpubench/data/published/)", title_justify="left")
    for col in ("slug", "workloads", "files"):
        pub.add_column(col, overflow="fold")
    for slug, items in by_device.items():
        works = ", ".join(f"{p.workload} {_fmt(p.value, 4)}" for p in items)
        pub.add_row(slug, works, ", ".join(sorted({p.file for p in items})))
    console.print(pub)
    missing = [r["slug"] for r in rows if r["slug"] not in by_device]
    console.print(f"No published result yet (estimated from datasheets): {', '.join(missing)}", highlight=False)


@app.command()
@handle_errors
def recommend(
    runs: Annotated[
        list[Path] | None,
        typer.Argument(help="run folders (or folders of run folders); none: the catalog alone"),
    ] = None,
    workload: Annotated[
        str | None, typer.Option("--workload", "-w", help="e.g. resnet50/amp_bf16, matmul/bf16, memory/d2d")
    ] = None,
    budget: Annotated[float | None, typer.Option("--budget", help="most USD to spend per card")] = None,
    prices: Annotated[
        Path | None,
        typer.Option("--prices", help="CSV or TOML: device, new_usd, used_usd, cloud_usd_per_hour"),
    ] = None,
    kwh_price: Annotated[float, typer.Option("--kwh-price", help="electricity, USD per kWh")] = 0.15,
    hours_per_day: Annotated[float, typer.Option("--hours-per-day", help="hours a day the card works")] = 24.0,
    years: Annotated[float, typer.Option("--years", help="lifetime in years")] = 3.0,
    used: Annotated[bool, typer.Option("--used", help="rank by the used prices in --prices")] = False,
    objective: Annotated[
        str, typer.Option("--objective", "-o", help="tco, throughput, per-usd, per-watt, cloud")
    ] = "tco",
    estimates: Annotated[
        bool,
        typer.Option("--estimates/--no-estimates", help="add model estimates for devices nobody measured"),
    ] = True,
    list_workloads: Annotated[bool, typer.Option("--list", help="list the workload names")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Which card to buy for a workload: every catalog device ranked by cost of ownership per unit of work (or --objective)."""
    from gpubench.advisor import available_workloads, load_prices
    from gpubench.advisor import recommend as advise
    from gpubench.model import predictable_workloads

    df = None
    if runs:
        from gpubench import load_runs

        df = load_runs([str(p) for p in runs])
    if list_workloads:
        names = list(dict.fromkeys([*(available_workloads(df) if df is not None else []), *predictable_workloads()]))
        print("\n".join(names))
        return
    if workload is None:
        raise GpubenchError("give --workload NAME (gpubench recommend --list shows the names)")
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
    a = out.attrs
    unit = next((u for u in out["work_unit"] if isinstance(u, str)), "unit")
    rate = next((u for u in out["throughput_unit"] if isinstance(u, str)), "")
    title = (
        f"{a['workload']} ranked by {a['objective']}: {a['hours_per_day']:g} h/day for {a['years']:g} years at "
        f"{a['kwh_price']:g} USD/kWh" + (f", budget {a['budget_usd']:,.0f} USD" if a["budget_usd"] is not None else "")
    )
    table = Table(title=_escape(title), title_justify="left")
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
        table.add_column(_escape(h), justify="left" if text else "right", overflow="fold", min_width=10 if text else 3)
    for r in out.to_dict(orient="records"):
        per_kusd = r["throughput_per_usd"] * 1000 if json_value(r["throughput_per_usd"]) is not None else None
        per_m = r["tco_per_unit_usd"] * 1e6 if json_value(r["tco_per_unit_usd"]) is not None else None
        cloud_m = r["cloud_usd_per_unit"] * 1e6 if json_value(r["cloud_usd_per_unit"]) is not None else None
        spread = (
            "-" if r["basis"] == "measured" or json_value(r["low"]) is None else f"{_fmt(r['low'])}-{_fmt(r['high'])}"
        )
        basis = r["basis"] if r["basis"] != "published" else f"published ({_source_name(r['basis_detail'])})"
        fits = {True: "yes", False: "NO"}.get(json_value(r["fits_memory"]), "-")
        if fits == "-" and json_value(r["required_memory_gb"]) is not None:
            fits = f">={r['required_memory_gb']:.1f} GB"
        if json_value(r["max_batch"]) is not None:
            fits += f" (batch <= {int(r['max_batch'])})"
        name = ("* " if r["yours"] else "") + str(r["device"])
        cells = [
            str(r["rank"]),
            _escape(name),
            _escape(basis),
            _fmt(r["throughput"]),
            spread,
            _fmt(json_value(r["price_usd"])),
            _fmt(per_kusd),
            _fmt(json_value(r["avg_power_w"])),
            _fmt(json_value(r["throughput_per_w"])),
            _fmt(per_m, 4),
            _fmt(cloud_m, 4),
            _fmt(json_value(r["breakeven_hours"])),
            fits,
            _escape(r["notes"]),
        ]
        table.add_row(*cells, style="bold" if r["yours"] else ("dim" if r["basis"] == "estimated" else None))
    console.print(table)
    if not (~out["yours"].astype(bool)).any() and a["budget_usd"] is not None:
        cheapest = a.get("cheapest")
        if cheapest:
            console.print(
                f"no device within the budget: the cheapest is {_escape(cheapest['device'])} at "
                f"{cheapest['price_usd']:,.0f} USD ({_escape(cheapest['source'])})",
                highlight=False,
            )
        else:
            console.print("no device has a known price: add prices with --prices FILE")
    if a.get("unused_prices"):
        err_console.print(f"prices matched no device: {_escape(', '.join(a['unused_prices']))}", highlight=False)
    console.print(
        "* = a device in your runs. basis: measured (your run) / published (a primary source, gpubench specs) / "
        "estimated (performance model; range = its validation error). Launch prices are old list prices; cloud "
        f"prices are a default table dated {a['cloud_table_date']} unless --prices gives them. "
        "'buy after h': hours of use after which buying beats renting, electricity included.",
        highlight=False,
    )
    for warning in a.get("warnings", []):
        err_console.print(f"[yellow]warning:[/] {_escape(warning)}", highlight=False)


def _source_name(detail: str) -> str:
    """A short name for a published source URL (the repository or host)."""
    first = str(detail).split(";")[0].strip()
    parts = first.split("/")
    if "github.com" in first and len(parts) > 4:
        return parts[4]
    return parts[2] if len(parts) > 2 else first


@app.command()
@handle_errors
def report(
    runs: Annotated[list[str], typer.Argument(help="run folders, globs (results/*) or folders of run folders")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="file to write (default reports/<name>.<format>)")
    ] = None,
    baseline: Annotated[
        Path | None,
        typer.Option("--baseline", help="run folder the speed-ups are relative to (default: the first)"),
    ] = None,
    title: Annotated[str | None, typer.Option("--title", help="page title")] = None,
    lang: Annotated[str, typer.Option("--lang", help="language of the texts: en or hu")] = "en",
    fmt: Annotated[
        str,
        typer.Option("--format", help="html (default, self-contained), md (summary to paste) or csv (headline table)"),
    ] = "html",
    against: Annotated[
        list[str] | None,
        typer.Option("--against", help="catalog device to compare with in the verdict (repeatable), e.g. l40s"),
    ] = None,
) -> None:
    """Write one report (self-contained HTML that works offline, or a Markdown / CSV summary) comparing
    runs from any machines."""
    from gpubench.report import render_report

    path = render_report(runs, out=out, baseline=baseline, title=title, lang=lang, fmt=fmt, against=against or [])
    console.print(f"report: {_escape(path)}", highlight=False)


def split_sides(runs: list[str]) -> tuple[list[str], list[str]]:
    """`A B` or `A1 A2 ... --vs B1 B2 ...` -> (A folders, B folders)."""
    if "--vs" in runs:
        i = runs.index("--vs")
        side_a, side_b = runs[:i], runs[i + 1 :]
        if not side_a or not side_b or "--vs" in side_b:
            raise GpubenchError("compare A1 [A2 ...] --vs B1 [B2 ...]: each side needs at least one run folder")
    elif len(runs) == 2:
        side_a, side_b = runs[:1], runs[1:]
    else:
        raise GpubenchError(
            f"compare takes two run folders (A B), or several per side separated by --vs; got {len(runs)}"
        )
    for item in side_a + side_b:
        if item.startswith("--"):
            raise GpubenchError(f"compare: unknown option {item!r}")
    return side_a, side_b


@app.command(context_settings={"ignore_unknown_options": True})
@handle_errors
def compare(
    runs: Annotated[
        list[str],
        typer.Argument(
            help="A B (run folders before / after), or several runs per side: A1 A2 ... --vs B1 B2 ...",
            metavar="A [A2 ...] [--vs] B [B2 ...]",
        ),
    ],
    threshold: Annotated[
        float, typer.Option("--threshold", help="percent change that counts (exit 1 if B is slower by more)")
    ] = 5.0,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Case by case: throughput ratio B/A with a 95% interval over the repeats (the rounds of each run, and
    the runs of each side); exit code 1 when a case got significantly slower than --threshold or broke (failed
    / wrong in B). A case measured in one round per side is "not enough repeats to tell"."""
    from gpubench.report.compare import compare_runs, regressions

    side_a, side_b = split_sides(runs)
    frame = compare_runs(side_a, side_b, threshold_pct=threshold)
    bad = regressions(frame)
    if as_json:
        rows = [{k: json_value(v) for k, v in r.items()} for r in frame.to_dict(orient="records")]
        print(
            json.dumps(
                {"inputs": {k: json_value(v) for k, v in frame.attrs.items()}, "cases": rows, "regressions": len(bad)},
                indent=2,
            )
        )
    else:
        at = frame.attrs
        title = f"B/A: {at['b_run_id']} vs {at['a_run_id']} (threshold {threshold:g}%)"
        table = Table(title=_escape(title), title_justify="left")
        for col, just in (
            ("case", "left"),
            ("A", "right"),
            ("B", "right"),
            ("unit", "left"),
            ("B/A", "right"),
            ("95% CI", "right"),
            ("repeats A/B", "right"),
            ("verdict", "left"),
            ("note", "left"),
        ):
            table.add_column(col, justify=just, overflow="fold")  # type: ignore[arg-type]
        colours = {"faster": "green", "slower": "bold red", "now failed": "bold red", "now wrong": "bold red"}
        for r in frame.to_dict(orient="records"):
            ci = f"{_fmt(r['ci_low'], 3)}-{_fmt(r['ci_high'], 3)}" if json_value(r["ci_low"]) is not None else "-"
            colour = colours.get(r["verdict"], "white")
            table.add_row(
                _escape(r["case_id"]),
                _fmt(json_value(r["a"])),
                _fmt(json_value(r["b"])),
                _escape(r["unit"] or ""),
                _fmt(json_value(r["ratio"]), 3),
                ci,
                _repeats(r),
                f"[{colour}]{_escape(r['verdict'])}[/]",
                _escape(r["note"] or ""),
            )
        console.print(table)
        for diff in at.get("differences", []):
            err_console.print(f"[yellow]differs:[/] {_escape(diff)}", highlight=False)
        for side in ("a", "b"):
            only = at.get(f"only_in_{side}", [])
            if only:
                err_console.print(
                    f"{len(only)} case(s) only in {side.upper()}: {_escape(', '.join(only[:5]))}"
                    + (" ..." if len(only) > 5 else ""),
                    highlight=False,
                )
        if frame.empty:
            err_console.print("no case is ok in both runs: nothing to compare", highlight=False)
        else:
            shift = at.get("common_shift")
            if shift is not None and math.isfinite(shift):
                err_console.print(
                    f"[yellow]every case moved together[/] (median B/A {shift:.3f}): other load on the "
                    "machine, another clock or power state, or a change that slows or speeds up "
                    "everything; repeat the runs on both sides to tell them apart",
                    highlight=False,
                )
            if len(side_a) == 1 or len(side_b) == 1:
                err_console.print(
                    "one run on a side: its interval holds the noise between rounds of that run, "
                    "not between runs; pass several runs per side (A1 A2 --vs B1 B2) to include "
                    "it",
                    highlight=False,
                )
            counts = frame["verdict"].value_counts()
            console.print(", ".join(f"{n} {v}" for v, n in counts.items()), highlight=False)
    if len(bad):
        raise typer.Exit(1)


def _repeats(row: dict[str, Any]) -> str:
    """`runs×rounds` per side, e.g. `1×3 / 2×6` (rounds summed over the runs)."""

    def side(s: str) -> str:
        runs, rounds = json_value(row[f"{s}_runs"]), json_value(row[f"{s}_rounds"])
        return f"{int(runs)}×{int(rounds)}" if runs is not None and rounds is not None else "-"

    return f"{side('a')} / {side('b')}"


def main() -> None:
    try:
        app()
    except KeyboardInterrupt as e:
        # Ctrl-C outside a run's case loop (while torch imports, say): nothing to keep, no traceback.
        term = isinstance(e, _SigTerm)
        err_console.print("[bold red]terminated (SIGTERM)[/]" if term else "[bold red]interrupted[/]")
        raise SystemExit(143 if term else 130) from None


if __name__ == "__main__":
    main()
