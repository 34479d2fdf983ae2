"""`gpubench compare`: case by case B/A with a 95% interval over the repeats; exit 1 on a regression."""

from __future__ import annotations

import json
import math
from typing import Annotated, Any

import typer
from rich.table import Table

from gpubench.cli.common import JsonOpt, check_numbers, console, err_console, escape, fmt, handle_errors, json_value
from gpubench.errors import GpubenchError


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


def unique_sides(side_a: list[str], side_b: list[str]) -> tuple[list[str], list[str]]:
    """Each side's runs counted once by run_id (a folder named twice, or a copy of one, is one run: six copies
    of one run are not six independent repeats); a note says what was dropped."""
    from gpubench.inputs import unique_runs

    a, notes_a = unique_runs(side_a, "A: ")
    b, notes_b = unique_runs(side_b, "B: ")
    for note in notes_a + notes_b:
        err_console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    return [str(p) for p in a], [str(p) for p in b]


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
    as_json: JsonOpt = False,
) -> None:
    """Case by case: throughput ratio B/A with a 95% interval over the repeats (the rounds of each run, and
    the runs of each side); exit code 1 when a case got significantly slower than --threshold or broke (failed
    / wrong in B). A case measured in one round per side is "not enough repeats to tell"."""
    from gpubench.report.compare import compare_runs, regressions

    side_a, side_b = split_sides(runs)
    check_numbers(threshold=threshold)
    side_a, side_b = unique_sides(side_a, side_b)
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
        console.print(_comparison_table(frame, threshold))
        _print_comparison_notes(frame, side_a, side_b)
    if len(bad):
        raise typer.Exit(1)


def _comparison_table(frame: Any, threshold: float) -> Table:
    """One row per case: A, B, B/A with its interval, the repeats on each side, the verdict."""
    at = frame.attrs
    title = f"B/A: {at['b_run_id']} vs {at['a_run_id']} (threshold {threshold:g}%)"
    table = Table(title=escape(title), title_justify="left")
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
        ci = f"{fmt(r['ci_low'], 3)}-{fmt(r['ci_high'], 3)}" if json_value(r["ci_low"]) is not None else "-"
        colour = colours.get(r["verdict"], "white")
        table.add_row(
            escape(r["case_id"]),
            fmt(json_value(r["a"])),
            fmt(json_value(r["b"])),
            escape(r["unit"] or ""),
            fmt(json_value(r["ratio"]), 3),
            ci,
            _repeats(r),
            f"[{colour}]{escape(r['verdict'])}[/]",
            escape(r["note"] or ""),
        )
    return table


def _print_comparison_notes(frame: Any, side_a: list[str], side_b: list[str]) -> None:
    """Below the table: what differs between the runs, cases on one side only, a common shift, the counts."""
    at = frame.attrs
    for diff in at.get("differences", []):
        err_console.print(f"[yellow]differs:[/] {escape(diff)}", highlight=False)
    for side in ("a", "b"):
        only = at.get(f"only_in_{side}", [])
        if only:
            err_console.print(
                f"{len(only)} case(s) only in {side.upper()}: {escape(', '.join(only[:5]))}"
                + (" ..." if len(only) > 5 else ""),
                highlight=False,
            )
    if frame.empty:
        err_console.print("no case is ok in both runs: nothing to compare", highlight=False)
        return
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


def _repeats(row: dict[str, Any]) -> str:
    """`runs×rounds` per side, e.g. `1×3 / 2×6` (rounds summed over the runs)."""

    def side(s: str) -> str:
        runs, rounds = json_value(row[f"{s}_runs"]), json_value(row[f"{s}_rounds"])
        return f"{int(runs)}×{int(rounds)}" if runs is not None and rounds is not None else "-"

    return f"{side('a')} / {side('b')}"
