"""`gpubench run`: one process on one device, or ranks launched through torchrun; the summary tables."""

from __future__ import annotations

import contextlib
import shlex
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from gpubench.cli.common import (
    DeviceOpt,
    SigTerm,
    check_numbers,
    console,
    err_console,
    escape,
    fail,
    handle_errors,
)
from gpubench.errors import GpubenchError

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

SuiteArg = Annotated[str, typer.Argument(help="suite name (quick, standard, full, training ...) or a .toml path")]
OnlyOpt = Annotated[list[str] | None, typer.Option("--only", help="glob over case ids / benchmark names; repeatable")]
OutOpt = Annotated[Path, typer.Option("--out", help="folder that receives the new run folder")]
ResumeOpt = Annotated[Path | None, typer.Option("--resume", help="continue this run folder, skipping finished cases")]
RoundsOpt = Annotated[
    int | None,
    typer.Option(
        "--rounds",
        min=1,
        help="measure each case in N rounds, interleaved with the other cases (default: the suite's `rounds`)",
    ),
]
ForceResumeOpt = Annotated[
    bool,
    typer.Option(
        "--force-resume",
        help="with --resume: add to the run even if it was made on another host or device, with another "
        "version of the suite or another number of ranks (recorded in run.json)",
    ),
]
TelemetryOpt = Annotated[str, typer.Option("--telemetry", help="auto | required | off")]
SampleHzOpt = Annotated[float, typer.Option("--sample-hz", help="telemetry sampling rate")]
IdleSOpt = Annotated[float, typer.Option("--idle-s", help="seconds of idle sampling before the first case")]
ReportOpt = Annotated[bool, typer.Option("--report/--no-report", help="write an HTML report of the run at the end")]
NprocOpt = Annotated[
    int,
    typer.Option(
        "--nproc",
        min=0,
        help="ranks on this node, launched with torchrun (one per GPU); 0 = one process",
        rich_help_panel=_DIST,
    ),
]
NnodesOpt = Annotated[
    str | None,
    typer.Option("--nnodes", help="torchrun: number of nodes (or MIN:MAX)", rich_help_panel=_DIST),
]
NodeRankOpt = Annotated[
    int | None,
    typer.Option("--node-rank", help="torchrun: this node's rank (static rendezvous)", rich_help_panel=_DIST),
]
RdzvEndpointOpt = Annotated[
    str | None,
    typer.Option("--rdzv-endpoint", help="torchrun: HOST:PORT of the rendezvous", rich_help_panel=_DIST),
]
RdzvBackendOpt = Annotated[
    str | None,
    typer.Option(
        "--rdzv-backend",
        help="torchrun: rendezvous backend (c10d, static, etcd-v2)",
        rich_help_panel=_DIST,
    ),
]
RdzvIdOpt = Annotated[
    str | None,
    typer.Option("--rdzv-id", help="torchrun: job id, the same on every node", rich_help_panel=_DIST),
]
MasterAddrOpt = Annotated[
    str | None,
    typer.Option(
        "--master-addr",
        help="torchrun: address of the node of rank 0 (static rendezvous)",
        rich_help_panel=_DIST,
    ),
]
MasterPortOpt = Annotated[
    int | None,
    typer.Option(
        "--master-port",
        help="torchrun: port on the node of rank 0 (static rendezvous)",
        rich_help_panel=_DIST,
    ),
]
DistTimeoutOpt = Annotated[
    float,
    typer.Option(
        "--dist-timeout-s",
        min=1.0,
        help="seconds a rank waits for the others before the run stops, naming the missing rank",
        rich_help_panel=_DIST,
    ),
]


@handle_errors
def run(
    ctx: typer.Context,
    suite: SuiteArg = "quick",
    device: DeviceOpt = "auto",
    only: OnlyOpt = None,
    out: OutOpt = Path("results"),
    resume: ResumeOpt = None,
    rounds: RoundsOpt = None,
    force_resume: ForceResumeOpt = False,
    telemetry: TelemetryOpt = "auto",
    sample_hz: SampleHzOpt = 20.0,
    idle_s: IdleSOpt = 2.0,
    report: ReportOpt = False,
    nproc: NprocOpt = 0,
    nnodes: NnodesOpt = None,
    node_rank: NodeRankOpt = None,
    rdzv_endpoint: RdzvEndpointOpt = None,
    rdzv_backend: RdzvBackendOpt = None,
    rdzv_id: RdzvIdOpt = None,
    master_addr: MasterAddrOpt = None,
    master_port: MasterPortOpt = None,
    dist_timeout_s: DistTimeoutOpt = 600.0,
) -> None:
    """Run a suite on one device and write a run folder (run.json, measurements.parquet, telemetry.parquet).

    With --nproc N: N ranks through torchrun (more nodes with torchrun's rendezvous options), one run folder."""
    from gpubench.cli.progress import print_starting

    print_starting(suite)
    from gpubench.distributed.launch import CHILD_ENV
    from gpubench.inputs import rank_environment
    from gpubench.suite import load_suite

    _check_options(telemetry, sample_hz, idle_s, dist_timeout_s, resume)
    loaded = load_suite(suite)
    torchrun = _torchrun_options(nnodes, node_rank, rdzv_endpoint, rdzv_backend, rdzv_id, master_addr, master_port)
    in_rank, ignored = rank_environment(marker=CHILD_ENV)
    if ignored:
        err_console.print(f"[yellow]note:[/] {escape(ignored)}", highlight=False)
    if not in_rank and (nproc or any(v is not None for v in torchrun.values())):
        _note_ranks_measure_one_round(loaded, rounds)
        _launch_ranks(ctx, nproc, torchrun, report)
        return
    options = _run_options(
        in_rank,
        device=device,
        out=out,
        only=only,
        resume=resume,
        force_resume=force_resume,
        rounds=rounds,
        telemetry=telemetry,
        sample_hz=sample_hz,
        idle_s=idle_s,
    )
    outcome = _run_with_progress(loaded, options, in_rank, dist_timeout_s)
    if outcome is not None:  # None: a rank other than 0, rank 0 reports
        _report_outcome(outcome, in_rank, report)


def _check_options(telemetry: str, sample_hz: float, idle_s: float, dist_timeout_s: float, resume: Path | None) -> None:
    """The `run` option values that typer's own checks let through."""
    if telemetry not in ("auto", "required", "off"):
        raise GpubenchError(f"--telemetry {telemetry!r}: use auto, required or off")
    check_numbers(sample_hz=sample_hz, idle_s=idle_s, dist_timeout_s=dist_timeout_s)
    if resume is not None and not resume.is_dir():
        raise GpubenchError(f"--resume {resume}: no such run folder")


def _torchrun_options(
    nnodes: str | None,
    node_rank: int | None,
    rdzv_endpoint: str | None,
    rdzv_backend: str | None,
    rdzv_id: str | None,
    master_addr: str | None,
    master_port: int | None,
) -> dict[str, Any]:
    """torchrun's rendezvous options by their torchrun names (None: not given)."""
    return {
        "nnodes": nnodes,
        "node-rank": node_rank,
        "rdzv-endpoint": rdzv_endpoint,
        "rdzv-backend": rdzv_backend,
        "rdzv-id": rdzv_id,
        "master-addr": master_addr,
        "master-port": master_port,
    }


def _note_ranks_measure_one_round(loaded: Any, rounds: int | None) -> None:
    if rounds is not None and rounds > 1 or any(pc.timing.rounds > 1 for pc in loaded.cases):
        err_console.print(
            "[yellow]note:[/] runs with ranks measure one round per case (no rounds yet)", highlight=False
        )


def _run_options(
    in_rank: bool,
    *,
    device: str,
    out: Path,
    only: list[str] | None,
    resume: Path | None,
    force_resume: bool,
    rounds: int | None,
    telemetry: str,
    sample_hz: float,
    idle_s: float,
) -> Any:
    """The RunOptions of a single-process run or of one rank; --force-resume needs --resume."""
    from gpubench.distributed.launch import parent_command
    from gpubench.runner import RunOptions

    if force_resume and resume is None:
        raise GpubenchError("--force-resume goes with --resume FOLDER")
    return RunOptions(
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


def _run_with_progress(loaded: Any, options: Any, in_rank: bool, dist_timeout_s: float) -> Any:
    """Run the suite (or this rank's part of it) under a progress bar; the outcome, None on ranks other than 0."""
    from gpubench.cli.progress import RunDisplay
    from gpubench.runner import run_suite

    display = RunDisplay(loaded, in_rank=in_rank)
    events = display.events()
    try:
        if in_rank:
            outcome = _run_rank(loaded, options, events, dist_timeout_s)
            if outcome is None:  # ranks other than 0: rank 0 reports
                return None
        else:
            with _sigterm_as_interrupt():
                outcome = run_suite(loaded, options, events)
    finally:
        display.stop()
    return outcome


def _report_outcome(outcome: Any, in_rank: bool, report: bool) -> None:
    """The summary tables and the run folder; then the exit code (or, in a launched rank 0, the result file)."""
    from gpubench.cli.progress import print_summary
    from gpubench.distributed.launch import launched_by_gpubench, write_result

    print_summary(outcome.rows)
    console.print(f"results: {escape(outcome.folder)}", soft_wrap=True, highlight=False)
    if in_rank and launched_by_gpubench():
        # The launching `gpubench run --nproc` reports, renders and sets the exit code: a non-zero exit here
        # would make torchrun report rank 0 as crashed.
        write_result(
            outcome.folder, any_failed=outcome.any_failed, interrupted=outcome.interrupted, cases=len(outcome.rows)
        )
        return
    if outcome.interrupted:
        how, code = ("terminated (SIGTERM)", 143) if _TERMINATED.is_set() else ("interrupted", 130)
        kept = _cases_kept(outcome.folder, len(outcome.rows))
        raise fail(f"{how}: {kept} finished case(s) kept; continue with --resume {outcome.folder}", code)
    if report:
        from gpubench.report import render_report

        path = render_report([outcome.folder])
        console.print(f"report: {escape(path)}", soft_wrap=True, highlight=False)
    if outcome.any_failed:
        raise typer.Exit(1)


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


def _cases_kept(folder: Path | None, fallback: int) -> int:
    """Rows in the run folder's measurements.parquet: a resumed run keeps the cases of the runs before too."""
    if folder is None:
        return fallback
    try:
        import pyarrow.parquet as pq

        return pq.read_metadata(Path(folder) / "measurements.parquet").num_rows
    except Exception:  # noqa: BLE001 - no file yet, or one being replaced: the count this process knows
        return fallback


def _launch_ranks(ctx: typer.Context, nproc: int, torchrun: dict[str, Any], report: bool) -> None:
    """`gpubench run --nproc N`: check what can be checked, start the ranks through torchrun, forward signals
    to them and wait, then report like a single run."""
    from gpubench.distributed.launch import check_before_launch, launch
    from gpubench.suite import load_suite

    p = ctx.params
    check_before_launch(
        load_suite(p["suite"]),
        nproc=nproc,
        torchrun=torchrun,
        device=p["device"],
        only=tuple(p.get("only") or ()),
        out=Path(p["out"]),
        resume=p.get("resume"),
        force_resume=bool(p.get("force_resume")),
    )
    result = launch(_child_args(ctx), nproc, torchrun, command=shlex.join(sys.argv), log_dir=Path(p["out"]))
    folder = result.folder
    if result.interrupted:
        how = "terminated (SIGTERM)" if result.exit_code == 143 else "interrupted"
        kept = _cases_kept(folder, 0)
        where = f"; continue with --resume {folder}" if folder else ""
        raise fail(f"{how}: {kept} finished case(s) kept{where}", result.exit_code)
    failure = result.failure()
    if failure:
        # A rank that stopped on bad input exits 2, like a single process; anything else failed the run (1).
        raise fail(
            failure + (f"; finished cases are kept in {folder}" if folder else ""), 2 if result.user_error else 1
        )
    if report and folder is not None:
        from gpubench.report import render_report

        path = render_report([folder])
        console.print(f"report: {escape(path)}", soft_wrap=True, highlight=False)
    if result.result and result.result.get("any_failed"):
        raise typer.Exit(1)


_TERMINATED = threading.Event()


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Any:
    """While a single-process run goes, SIGTERM raises SigTerm: the case in flight is dropped, finished cases
    are kept, run.json says interrupted, and the exit code is 143 (128 + SIGTERM) instead of 130."""
    import signal

    def on_term(signum: int, frame: Any) -> None:
        _TERMINATED.set()
        raise SigTerm()

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
