"""`gpubench compare`: case by case B/A with a 95% interval over the repeats; exit 1 on a regression."""

from __future__ import annotations

import json
import math
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gpubench.cli.common import (
    JsonOpt,
    check_numbers,
    console,
    err_console,
    escape,
    fmt,
    handle_errors,
    json_value,
    quiet_broken_pipe,
)
from gpubench.cli.layout import fold_id, readable_rate, table_width
from gpubench.errors import GpubenchError

if TYPE_CHECKING:
    from rich.table import Table

# Below this many columns A, B and the unit move under the case id: the ratio, its interval and the verdict
# keep their own columns, so an 80-column terminal reads the table without letter-by-letter wrapping.
_WIDE = 110


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
    from gpubench.store import unique_runs

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
    code = 1 if len(regressions(frame)) else 0
    try:
        if as_json:
            print(json.dumps(comparison_json(frame), indent=2))
        else:
            print_comparison(frame, threshold, side_a, side_b)
        sys.stdout.flush()
    except (BrokenPipeError, SystemExit):
        # `compare ... | head`: the reader has what it wanted. Not an error, and not exit 1 ("slower"), the code
        # rich's console exits with when its pipe closes (SystemExit(1) from Console.on_broken_pipe).
        quiet_broken_pipe()
    if code:
        raise typer.Exit(code)


def comparison_json(frame: Any) -> dict[str, Any]:
    from gpubench.report.compare import regressions

    rows = [{k: json_value(v) for k, v in r.items()} for r in frame.to_dict(orient="records")]
    inputs = {k: json_value(v) for k, v in frame.attrs.items()}
    return {"inputs": inputs, "cases": rows, "regressions": len(regressions(frame))}


def print_comparison(frame: Any, threshold: float, side_a: list[str], side_b: list[str]) -> None:
    """The table, then the hints (differences between the runs, cases on one side only, a common shift, the
    counts), all on stdout, at most MAX_TABLE_WIDTH columns wide."""
    width = table_width(console.width)
    console.print(comparison_table(frame, threshold, width), width=width)
    for line in comparison_notes(frame, side_a, side_b):
        console.print(line, highlight=False, width=width)


def comparison_table(frame: Any, threshold: float, width: int = 100) -> Table:
    """One row per case: B/A with its interval, the repeats on each side, the verdict; A, B and the unit in
    their own columns when `width` allows, else under the case id with the case's note."""
    from rich.table import Table

    at = frame.attrs
    wide = width >= _WIDE
    rows = [_cells(r) for r in frame.to_dict(orient="records")]
    for c in rows:  # a note every case has is said once, below the table (comparison_notes)
        c["note"] = "; ".join(n for n in c["note"].split("; ") if n and n not in shared_notes(frame))
    names = (["A", "B", "unit"] if wide else []) + ["B/A", "95% CI", "repeats A/B"]
    fixed = sum(max([len(n)] + [len(c[n]) for c in rows]) + 3 for n in names)
    verdict_w = max([len("verdict")] + [max(map(len, c["verdict"].split())) for c in rows])
    verdict_w = max(verdict_w, min(16, max([len(c["verdict"]) for c in rows] + [7])))
    case_w = max(14, width - fixed - verdict_w - 3 - 4)
    title = f"B/A: {at['b_run_id']} vs {at['a_run_id']} (threshold {threshold:g}%)"
    table = Table(title=escape(title), title_justify="left")  # wraps at its spaces
    table.add_column("case", no_wrap=True, max_width=case_w)
    for name in names:
        table.add_column(name, justify="left" if name == "unit" else "right", no_wrap=True)
    table.add_column("verdict", min_width=verdict_w, overflow="fold")
    colours = {"faster": "green", "slower": "bold red", "now failed": "bold red", "now wrong": "bold red"}
    for c in rows:
        case = escape(fold_id(c["case"], case_w))
        under = [] if wide else [f"{c['A']} -> {c['B']} {c['unit']}".strip()]
        under += [c["note"]] if c["note"] else []
        if under:
            case += "\n[dim]" + escape(_indent("; ".join(under), case_w)) + "[/]"
        colour = colours.get(c["verdict"], "default")
        table.add_row(case, *(escape(c[n]) for n in names), f"[{colour}]{escape(c['verdict'])}[/]")
    return table


def _indent(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, max(10, width), initial_indent="  ", subsequent_indent="  "))


def _cells(r: dict[str, Any]) -> dict[str, str]:
    """A comparison row as the text of its cells."""
    low, high = json_value(r["ci_low"]), json_value(r["ci_high"])
    ci = f"{_bound(low)}-{_bound(high)}" if low is not None and high is not None else "-"
    a, unit = readable_rate(json_value(r["a"]), str(r["unit"] or ""))
    b = readable_rate(json_value(r["b"]), str(r["unit"] or ""))[0] if unit != r["unit"] else json_value(r["b"])
    return {
        "case": str(r["case_id"]),
        "A": fmt(a),
        "B": fmt(b),
        "unit": unit,
        "B/A": fmt(json_value(r["ratio"]), 3),
        "95% CI": ci,
        "repeats A/B": _repeats(r),
        "verdict": str(r["verdict"]),
        "note": str(r["note"] or ""),
    }


def _bound(ratio: float) -> str:
    """An interval bound for the table: beyond 0.01 or 100 the interval says nothing more (--json has it)."""
    return "<0.01" if ratio < 0.01 else ">100" if ratio > 100 else f"{ratio:.3g}"


def comparison_notes(frame: Any, side_a: list[str], side_b: list[str]) -> list[str]:
    """Below the table (rich markup): what differs between the runs, cases on one side only, a common shift,
    what one run per side cannot tell, the counts."""
    at = frame.attrs
    out = [f"[yellow]differs:[/] {escape(diff)}" for diff in at.get("differences", [])]
    for side in ("a", "b"):
        only = at.get(f"only_in_{side}", [])
        if only:
            out.append(
                f"{len(only)} case(s) only in {side.upper()}: {escape(', '.join(only[:5]))}"
                + (" ..." if len(only) > 5 else "")
            )
    if frame.empty:
        return [*out, "no case is ok in both runs: nothing to compare"]
    shift = at.get("common_shift")
    if shift is not None and math.isfinite(shift):
        out.append(
            f"[yellow]every case moved together[/] (median B/A {shift:.3f}): other load on the machine, another "
            "clock or power state, or a change that slows or speeds up everything; repeat the runs on both sides "
            "to tell them apart"
        )
    if len(side_a) == 1 or len(side_b) == 1:
        out.append(
            "one run on a side: its interval holds the noise between rounds of that run, not between runs; pass "
            "several runs per side (A1 A2 --vs B1 B2) to include it"
        )
    out += [escape(f"every case: {note}") for note in shared_notes(frame)]
    counts = frame["verdict"].value_counts()
    out.append(escape(", ".join(f"{n} {v}" for v, n in counts.items())))
    return out


def shared_notes(frame: Any) -> list[str]:
    """The notes every compared case has (e.g. "one round per run: ..."), said once instead of per row."""
    notes = [set(filter(None, str(n or "").split("; "))) for n in frame["note"]] if len(frame) > 1 else []
    common = set.intersection(*notes) if notes else set()
    return sorted(common)


def _repeats(row: dict[str, Any]) -> str:
    """`runs×rounds` per side, e.g. `1×3 / 2×6` (rounds summed over the runs)."""

    def side(s: str) -> str:
        runs, rounds = json_value(row[f"{s}_runs"]), json_value(row[f"{s}_rounds"])
        return f"{int(runs)}×{int(rounds)}" if runs is not None and rounds is not None else "-"

    return f"{side('a')} / {side('b')}"
