"""`gpubench fleet launch | check | baseline`: one suite on every GPU of a cluster through the scheduler it has,
then every GPU judged against its siblings and a baseline (exit 1 naming the failing ones)."""

from __future__ import annotations

import math
import shlex
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from gpubench.cli.common import JsonOpt, console, err_console, escape, handle_errors
from gpubench.errors import GpubenchError

app = typer.Typer(
    no_args_is_help=True,
    help="Fleet acceptance: run a suite on every GPU through Slurm, Kubernetes, ssh or local processes, then "
    "name the GPUs slower than their siblings or a baseline.",
)

_SLURM, _K8S, _SSH, _LOCAL = "Slurm", "Kubernetes", "ssh", "local"


def parse_threshold(text: str) -> float:
    """'5%', '5' (percent) or '0.05%' -> a fraction; GpubenchError when it is not a percentage in [0, 100)."""
    raw = text.strip().rstrip("%").strip()
    try:
        value = float(raw)
    except ValueError:
        raise GpubenchError(f"--threshold {text!r}: give a percentage, e.g. 5%") from None
    if not (math.isfinite(value) and 0 <= value < 100):
        raise GpubenchError(f"--threshold {text!r}: a percentage from 0 to below 100")
    return value / 100


# The options of `fleet launch`, by scheduler.
_Suite = Annotated[str, typer.Argument(help="suite name or TOML file, e.g. fleet (fleet-cpu on CPUs)")]
_Scheduler = Annotated[str, typer.Option("--scheduler", help="slurm, kubernetes, ssh or local")]
_Out = Annotated[Path, typer.Option("--out", help="SHARED_DIR: where every node writes (same path on all)")]
_Nodes = Annotated[int, typer.Option("--nodes", help="nodes to run on")]
_GpusPerNode = Annotated[int, typer.Option("--gpus-per-node", help="GPUs per node (one process each)")]
_Device = Annotated[str, typer.Option("--device", help="cuda (GPU i of a node: cuda:i) or cpu")]
_DryRun = Annotated[bool, typer.Option("--dry-run", help="print the script/manifest; submit nothing")]
_Gpubench = Annotated[
    str, typer.Option("--gpubench", help="the command that runs gpubench on the nodes (a venv path ...)")
]
_RunArg = Annotated[list[str] | None, typer.Option("--run-arg", help="one more `gpubench run` argument (repeatable)")]
_JobName = Annotated[str, typer.Option("--job-name", help="Slurm job / Kubernetes Job name")]
_Partition = Annotated[str | None, typer.Option("--partition", rich_help_panel=_SLURM)]
_Account = Annotated[str | None, typer.Option("--account", rich_help_panel=_SLURM)]
_TimeLimit = Annotated[str | None, typer.Option("--time", help="e.g. 0:30:00", rich_help_panel=_SLURM)]
_SbatchArg = Annotated[
    list[str] | None,
    typer.Option("--sbatch-arg", help="an extra #SBATCH line, e.g. --exclusive (repeatable)", rich_help_panel=_SLURM),
]
_Image = Annotated[str | None, typer.Option("--image", help="container image with gpubench", rich_help_panel=_K8S)]
_Namespace = Annotated[str | None, typer.Option("--namespace", rich_help_panel=_K8S)]
_Pvc = Annotated[
    str | None,
    typer.Option("--pvc", help="PersistentVolumeClaim mounted at SHARED_DIR (else a hostPath)", rich_help_panel=_K8S),
]
_Hosts = Annotated[
    str | None, typer.Option("--hosts", help="a file (one host a line) or h1,h2,...", rich_help_panel=_SSH)
]
_Gather = Annotated[
    bool,
    typer.Option(
        "--gather/--no-gather", help="scp each host's folder back (no shared filesystem)", rich_help_panel=_SSH
    ),
]
_Parallel = Annotated[
    int | None,
    typer.Option(
        "--parallel",
        help="processes at once (default: all, so every node meets the same load)",
        rich_help_panel=_LOCAL,
    ),
]


@app.command()
@handle_errors
def launch(
    suite: _Suite,
    scheduler: _Scheduler,
    out: _Out,
    nodes: _Nodes = 1,
    gpus_per_node: _GpusPerNode = 1,
    device: _Device = "cuda",
    dry_run: _DryRun = False,
    gpubench: _Gpubench = "gpubench",
    run_arg: _RunArg = None,
    job_name: _JobName = "gpubench-fleet",
    partition: _Partition = None,
    account: _Account = None,
    time_limit: _TimeLimit = None,
    sbatch_arg: _SbatchArg = None,
    image: _Image = None,
    namespace: _Namespace = None,
    pvc: _Pvc = None,
    hosts: _Hosts = None,
    gather: _Gather = False,
    parallel: _Parallel = None,
) -> None:
    """Write the scheduler's input (an sbatch script, an Indexed Job manifest, an ssh command per host, local
    processes) and SHARED_DIR/fleet.json (what is expected back), then submit it with the site's own sbatch,
    kubectl or ssh. Each GPU runs `gpubench run SUITE --device cuda:<i> --out SHARED_DIR/<node>/gpu<i>`; a
    node with 2+ GPUs then runs the suite's all_reduce across them. Judge with `gpubench fleet check`."""
    from gpubench.fleet import LaunchOptions, parse_hosts
    from gpubench.fleet import launch as do_launch

    opts = LaunchOptions(
        suite=suite,
        scheduler=scheduler,
        nodes=nodes,
        gpus_per_node=gpus_per_node,
        out=out,
        device=device,
        gpubench=gpubench,
        run_args=tuple(run_arg or ()),
        job_name=job_name,
        partition=partition,
        account=account,
        time_limit=time_limit,
        sbatch_args=tuple(sbatch_arg or ()),
        image=image,
        namespace=namespace,
        pvc=pvc,
        hosts=parse_hosts(hosts) if hosts else (),
        gather=gather,
        parallel=parallel,
    )

    result = do_launch(opts, dry_run=dry_run, on_event=_on_launch_event)
    if dry_run:
        print(result.text, end="")
        return
    _print_launched(result, scheduler)


def _on_launch_event(what: str, node: str, slot: str, value: int | None) -> None:
    """One line per finished process: exit 0 or 1 (a benchmark result) in green, anything else in red."""
    if what == "end":
        colour = "green" if value in (0, 1) else "bold red"
        err_console.print(f"{escape(node)}/{escape(slot)}: [{colour}]exit {value}[/]", highlight=False)


def _print_launched(result, scheduler: str) -> None:  # noqa: ANN001 - a LaunchResult (imported lazily)
    """Where the manifest and scheduler input went, what was submitted; exit 1 when a process or host broke."""
    console.print(f"manifest: {escape(result.manifest)}", highlight=False)
    if result.text_path is not None:
        console.print(f"scheduler input: {escape(result.text_path)}", highlight=False)
    if result.submitted and scheduler in ("slurm", "kubernetes"):
        console.print(f"submitted: {escape(shlex.join(result.submitted))} -> {escape(result.output)}", highlight=False)
    elif result.output:
        err_console.print(escape(result.output), highlight=False)
    # A benchmark that failed (exit 1) is in its run folder for the check; anything else means a process or
    # host never got as far as writing one.
    broken = {k: c for k, c in result.exit_codes.items() if c not in (0, 1)}
    console.print(f"next: gpubench fleet check {escape(shlex.quote(str(result.manifest.parent)))}", highlight=False)
    if broken:
        err_console.print(
            f"[bold red]{len(broken)} process(es) or host(s) did not finish:[/] "
            + escape(", ".join(f"{k} (exit {c})" for k, c in sorted(broken.items()))),
            highlight=False,
        )
        raise typer.Exit(1)


def _rules(baseline: Path | None, rules: Path | None, threshold: str | None, mad_z: float | None):  # noqa: ANN202
    from dataclasses import replace

    from gpubench.fleet import RuleSet, load_rules

    ruleset = RuleSet()
    for path in (baseline, rules):
        if path is not None:
            ruleset = ruleset.merged(load_rules(path))
    if threshold is not None:
        ruleset = replace(ruleset, threshold=parse_threshold(threshold))
    if mad_z is not None:
        if not (math.isfinite(mad_z) and mad_z > 0):
            raise GpubenchError(f"--mad-z {mad_z}: give a number above 0, e.g. 3.5")
        ruleset = replace(ruleset, mad_z=mad_z)
    return ruleset


def _pct(x: float) -> str:
    return "–" if not math.isfinite(x) else f"{100 * x:.1f}%"


ThresholdOpt = Annotated[
    str | None,
    typer.Option("--threshold", help="how far below the fleet median fails, e.g. 5% (default 5%, or the rules file's)"),
]


@app.command()
@handle_errors
def check(
    runs: Annotated[list[str], typer.Argument(help="SHARED_DIR (with fleet.json) or run folders, globs")],
    baseline: Annotated[Path | None, typer.Option("--baseline", help="rules from `gpubench fleet baseline`")] = None,
    rules: Annotated[Path | None, typer.Option("--rules", help="a rules file (TOML, SuperBench-style)")] = None,
    threshold: ThresholdOpt = None,
    mad_z: Annotated[
        float | None, typer.Option("--mad-z", help="robust outlier limit in scaled MADs (default 3.5)")
    ] = None,
    as_json: JsonOpt = False,
    fmt: Annotated[str, typer.Option("--format", help="table (default) or md")] = "table",
) -> None:
    """Per case and GPU: the ratio to the fleet median (GPUs of the same model) with a 95% interval from its
    rounds, a robust outlier rule (median absolute deviation), and the rules of --baseline/--rules. Failed or
    wrong cases, missing cases and nodes that never reported fail too. Exit 1 when any GPU fails, 0 when all
    pass, 2 for bad input."""
    from gpubench.fleet import check_fleet

    if fmt not in ("table", "md"):
        raise GpubenchError(f"--format {fmt!r}: table or md")
    result = check_fleet(runs, _rules(baseline, rules, threshold, mad_z))
    if as_json:
        print(result.to_json())
    elif fmt == "md":
        print(result.to_markdown(), end="")
    else:
        _print_check(result)
    if not result.passed:
        raise typer.Exit(1)


def _print_check(result) -> None:  # noqa: ANN001 - a FleetCheck (imported lazily)
    r = result.rules
    head = (
        f"{len(result.units)} run(s) of {result.expected} expected; threshold {100 * r.threshold:g}%, "
        f"outlier z < -{r.mad_z:g} (MAD), {len(r.rules)} rule(s)"
    )
    console.print(escape(head), highlight=False)
    if result.findings:
        table = Table(title=f"failing: {len(result.failing_units)} GPU(s)", title_justify="left")
        for col, just in (
            ("node", "left"),
            ("GPU", "left"),
            ("UUID", "left"),
            ("case", "left"),
            ("ratio", "right"),
            ("95% interval", "right"),
            ("rule", "left"),
        ):
            table.add_column(col, justify=just, overflow="fold")  # type: ignore[arg-type]
        for f in result.findings:
            interval = f"{_pct(f.low)}–{_pct(f.high)}" if math.isfinite(f.low) and math.isfinite(f.high) else "–"
            table.add_row(
                escape(f.node),
                escape(f.gpu),
                escape(f.uuid or "–"),
                escape(f.case),
                _pct(f.ratio),
                interval,
                f"{escape(f.rule)}: {escape(f.detail)}",
            )
        console.print(table)
    for note in result.notes:
        err_console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    verdict = "[bold green]PASS[/]" if result.passed else f"[bold red]FAIL[/] ({len(result.findings)} finding(s))"
    console.print(f"fleet check: {verdict}", highlight=False)


@app.command()
@handle_errors
def baseline(
    runs: Annotated[list[str], typer.Argument(help="a known-good fleet: SHARED_DIR or run folders")],
    out: Annotated[Path, typer.Option("--out", "-o", help="the rules file to write, e.g. baseline.toml")],
    threshold: ThresholdOpt = None,
    force: Annotated[bool, typer.Option("--force", help="write it even if the fleet fails its own check")] = False,
) -> None:
    """Derive rules from a known-good fleet: per device model and case, its median as the baseline (a GPU must
    reach 1 - threshold of it) and a spread limit. Use with `gpubench fleet check --baseline FILE`."""
    from gpubench.files import atomic_write_text
    from gpubench.fleet import check_fleet, derive_baseline, rules_toml
    from gpubench.store import utc_now

    ruleset = _rules(None, None, threshold, None)
    result = check_fleet(runs, ruleset)
    if not result.passed and not force:
        raise GpubenchError(
            f"the fleet fails its own check ({', '.join(result.failing_units[:5])}"
            f"{' ...' if len(result.failing_units) > 5 else ''}): a baseline from it would accept those GPUs; "
            "fix them, or pass --force"
        )
    derived = derive_baseline(result, threshold=ruleset.threshold)
    if not derived:
        raise GpubenchError("no case is ok on any GPU: nothing to derive a baseline from")
    header = [
        f"gpubench fleet baseline: {len(result.units)} run(s), {utc_now()}",
        f"from: {' '.join(str(r) for r in runs)}",
    ]
    atomic_write_text(out, rules_toml(derived, ruleset.threshold, ruleset.mad_z, header), make_parents=True)
    console.print(f"{len(derived)} rule(s) -> {escape(out)}", highlight=False)
