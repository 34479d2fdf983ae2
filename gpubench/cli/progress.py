"""What `gpubench run` shows while it runs and when it ends: the header, the progress, the summary tables.

On a terminal a live bar (case, count, elapsed, time left; the case id gives way first on a narrow terminal).
When the output is a file, a pipe or a CI log (stdout not a terminal) there is no bar to redraw: one line per
finished case round instead, with the count and the time left, so `nohup`, `tee` and CI show that it moves.
"""

from __future__ import annotations

import atexit
import os
import time
from typing import TYPE_CHECKING, Any

from gpubench.cli.common import console, err_console, escape, fmt
from gpubench.cli.layout import fold_id, readable_rate, table_width

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

# The fixed columns of the live bar: count, bar, elapsed, "eta", time left, and the gaps between them.
_BAR_WIDTH = 20
_FIXED = 9 + _BAR_WIDTH + 7 + 3 + 7 + 5


_starting: Any = None  # the status line of `print_starting` while it shows


def print_starting(suite: str) -> None:
    """On a terminal, at once: a status line while PyTorch and the device take their seconds to start. It goes
    away when the run's header prints, or when the command ends (a bad input then reads as its one error line).
    Not on ranks other than 0 of a distributed run (rank 0 speaks for them), not in a file or a CI log."""
    global _starting
    if os.environ.get("RANK", "0") != "0" or not err_console.is_terminal or _starting is not None:
        return
    _starting = err_console.status(f"gpubench run {escape(suite)}: starting PyTorch and the device ...")
    _starting.start()
    atexit.register(stop_starting)


def note_starting(suite: str) -> None:
    """In a file, a pipe or a CI log, where `print_starting` shows nothing: one plain line once the options and
    the suite have been checked (bad input stays one line), before PyTorch and the device take their seconds.
    Not on any rank of a distributed run (its launcher speaks for it)."""
    if "RANK" in os.environ or err_console.is_terminal:
        return
    err_console.print(
        escape(f"gpubench run {suite}: starting PyTorch and the device ..."), highlight=False, soft_wrap=True
    )


def stop_starting() -> None:
    global _starting
    if _starting is not None:
        _starting.stop()
        _starting = None


def clock(seconds: float) -> str:
    """`1:05` or `1:02:05`; `-:--` when not known yet."""
    if not (seconds >= 0) or seconds == float("inf"):
        return "-:--"
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class RunDisplay:
    """The RunEvents of one `run` (header, then a live bar or one line per case round) and its `stop()`.

    `live` None: a bar when both output streams are terminals, lines otherwise. `out` receives the lines, `err`
    the header and the bar. `in_rank`: rank 0 of a distributed run (its launcher learns the run folder)."""

    def __init__(
        self,
        loaded: Any,
        *,
        in_rank: bool = False,
        live: bool | None = None,
        out: Console | None = None,
        err: Console | None = None,
    ) -> None:
        self.loaded = loaded
        self.in_rank = in_rank
        self.live = console.is_terminal and err_console.is_terminal if live is None else live
        self.out = out or console
        self.err = err or err_console
        self.total = 0
        self.done = 0
        self.started = time.monotonic()
        self.current = ""
        self._progress: Any = None
        self._task: Any = None

    # --- RunEvents ------------------------------------------------------------------------------------------

    def events(self) -> Any:
        from gpubench.runner import RunEvents

        return RunEvents(self.on_start, self.on_case_start, self.on_case_end, self.on_rounds)

    def on_start(self, store: Any, todo: list[Any], done: int) -> None:
        stop_starting()
        if self.in_rank:
            from gpubench.distributed.launch import note_run_folder

            note_run_folder(store.folder)  # the launcher keeps torchrun's log there if the run fails
        print_run_header(self.loaded, store, todo, done, self.err)
        self.total = len(todo)
        self.started = time.monotonic()
        if self.live:
            self._progress = new_bar(self.err)
            self._task = self._progress.add_task("starting", total=self.total)
            self._progress.start()

    def on_rounds(self, total: int) -> None:
        self.total = total
        if self._progress is not None:
            self._progress.update(self._task, total=total)

    def on_case_start(self, planned: Any, i: int) -> None:
        self.current = planned.case.id
        if self._progress is not None:
            width = max(12, self.err.width - _FIXED)
            text = planned.case.id if len(planned.case.id) <= width else planned.case.id[: width - 1] + "…"
            self._progress.update(self._task, description=escape(text))

    def on_case_end(self, planned: Any, row: dict[str, Any]) -> None:
        self.done += 1
        if self._progress is not None:
            self._progress.advance(self._task)
            return
        self.out.print(self.line(planned, row), highlight=False, soft_wrap=True)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()

    # --- the line of a finished case round, when there is no bar ------------------------------------------

    def line(self, planned: Any, row: dict[str, Any]) -> str:
        """`[  7/127  0:41 left 3:12] ok  matmul[dtype=bf16,m=256,n=256,k=256] round 2/3  0.53 GFLOP/s`."""
        elapsed = time.monotonic() - self.started
        left = elapsed / self.done * (self.total - self.done) if self.done else float("inf")
        n = len(str(self.total))
        status = str(row.get("status", ""))
        rounds = planned.timing.rounds
        done_rounds = row.get("rounds_n")
        where = f" round {int(done_rounds)}/{rounds}" if rounds > 1 and isinstance(done_rounds, (int, float)) else ""
        figure = ""
        if status == "ok" and row.get("throughput") is not None:
            figure = f"  {fmt(row.get('throughput'))} {row.get('throughput_unit') or ''}".rstrip()
        elif status != "ok" and row.get("reason"):
            figure = f"  {_shorten(str(row['reason']), 100)}"
        return escape(
            f"[{self.done:>{n}}/{self.total} {clock(elapsed)} left {clock(left)}] {status:<7} "
            f"{planned.case.id}{where}{figure}"
        )


def new_bar(err: Console) -> Any:
    """The live bar on `err`: the description takes what is left and is cut with an ellipsis; count, elapsed
    and time left never shrink."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.table import Column

    return Progress(
        TextColumn(
            "[bold]{task.description}",
            table_column=Column(no_wrap=True, overflow="ellipsis", max_width=max(12, err.width - _FIXED)),
        ),
        BarColumn(bar_width=_BAR_WIDTH),
        MofNCompleteColumn(table_column=Column(no_wrap=True)),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )


def print_run_header(loaded: Any, store: Any, todo: list[Any], done: int, err: Console | None = None) -> None:
    """Device, suite, cases to run, the run folder, the ranks and the telemetry reader."""
    out = err or err_console
    dev = store.meta["device"]
    out.print(
        f"[bold]{escape(dev['name'])}[/] ({escape(dev['vendor'])}) - suite {escape(loaded.name)}: "
        f"{len(todo)} case(s) to run"
        + (f", {done} already done" if done else "")
        + f"\nrun folder: {escape(store.folder)}",
        soft_wrap=True,
        highlight=False,
    )
    dist_info = store.meta.get("distributed")
    if dist_info:
        out.print(
            escape(f"{dist_info['world_size']} ranks on {dist_info['n_nodes']} node(s), {dist_info['backend']}"),
            highlight=False,
        )
    tel = store.meta.get("telemetry", {})
    if tel.get("reason"):
        # Not an error: the run measures speed without power figures. One dim line, cut to the width.
        out.print(
            f"[dim]note: no power readings ({escape(tel['reason'])})[/]",
            highlight=False,
            no_wrap=True,
            overflow="ellipsis",
        )
    elif tel.get("reader"):
        out.print(
            escape(f"telemetry: {tel['reader']}, idle power {fmt(tel.get('idle_power_w'))} W"),
            highlight=False,
        )


def print_summary(rows: list[dict[str, Any]]) -> None:
    """The summary table and the matmul sweeps, each at most MAX_TABLE_WIDTH columns wide."""
    width = table_width(console.width)
    console.print(summary_table(rows, width), width=width)
    sweeps = sweep_table(rows)
    if sweeps is not None:
        console.print(sweeps, width=width)


def _notes(r: dict[str, Any]) -> list[str]:
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
        notes.append(_shorten(str(r["reason"]), 200))
    return notes


def summary_table(rows: list[dict[str, Any]], width: int) -> Table:
    """One row per case: status, throughput, unit, spread (half the p10-p90 range, in % of the throughput) and
    the columns someone measured (% of peak with a datasheet figure, W with power readings). The case id folds
    at its commas to the width left by the numbers, its notes below it, so the table fits `width`."""
    measured = [r for r in rows if r["status"] in ("ok", "wrong")]
    optional = [
        (name, key)
        for name, key in (("% peak", "pct_of_peak"), ("W", "avg_power_w"))
        if any(_finite(r.get(key)) for r in measured)
    ]
    cells = [_summary_cells(r, [key for _, key in optional]) for r in rows]
    names = ["status", "throughput", "unit", "spread"] + [name for name, _ in optional]
    fixed = sum(max([len(n)] + [len(c[i]) for c in cells]) + 3 for i, n in enumerate(names))
    case_w = max(20, width - fixed - 4)
    from rich.table import Table

    table = Table(title="summary", title_justify="left")
    table.add_column("case", no_wrap=True, max_width=case_w)
    for name in names:
        table.add_column(name, justify="left" if name in ("status", "unit") else "right", no_wrap=True)
    colours = {"ok": "green", "skipped": "yellow", "failed": "red", "wrong": "bold red"}
    for r, c in zip(rows, cells, strict=True):
        case = escape(fold_id(r["case_id"], case_w))
        notes = "; ".join(_notes(r))
        if notes:
            case += "\n[dim]" + escape(_wrap(notes, case_w - 2, "  ")) + "[/]"
        status = f"[{colours.get(r['status'], 'white')}]{escape(r['status'])}[/]"
        table.add_row(case, status, *map(escape, c[1:]))
    return table


def _wrap(text: str, width: int, indent: str) -> str:
    import textwrap

    return "\n".join(
        textwrap.wrap(text, max(10, width), initial_indent=indent, subsequent_indent=indent, break_on_hyphens=False)
    )


def _summary_cells(r: dict[str, Any], optional: list[str]) -> list[str]:
    """[status, throughput, unit, spread, *optional] as plain text."""
    measured = r["status"] in ("ok", "wrong")
    if not measured:
        return [str(r["status"]), "", "", ""] + [""] * len(optional)
    value, unit = readable_rate(r.get("throughput"), str(r.get("throughput_unit", "") or ""))
    lo, hi, mid = r.get("throughput_p10"), r.get("throughput_p90"), r.get("throughput")
    spread = f"±{50 * (hi - lo) / mid:.0f}%" if all(_finite(v) for v in (lo, hi, mid)) and mid else "-"
    out = [str(r["status"]), fmt(value), unit, spread]
    for key in optional:
        out.append(fmt(r.get(key), 3) if _finite(r.get(key)) else "-")
    return out


def _shorten(text: str, limit: int) -> str:
    """`text` cut at a word before `limit` characters, with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",;:") + " …"


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def sweep_table(rows: list[dict[str, Any]]) -> Table | None:
    from rich.table import Table

    from gpubench.derive import sweep_summary

    sweeps = sweep_summary(rows)
    if not sweeps:
        return None
    table = Table(title="matmul shape sweeps (M varied, N = K fixed)", title_justify="left")
    for col in ("dtype", "n=k", "shapes", "best", "at m", "geomean", "unit"):
        table.add_column(col)
    for s in sweeps:
        table.add_row(
            escape(s["dtype"]),
            str(s["n"]),
            str(s["shapes"]),
            fmt(s["best_throughput"]),
            str(s["best_m"]),
            fmt(s["geomean_throughput"]),
            s["unit"],
        )
    return table
