"""What `gpubench run` shows: a line per case round without a terminal, a bar that keeps count and time left
at 80 columns, the missing-power note as one dim line, summary tables that fit their width."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from rich.console import Console

from gpubench.cli import progress
from gpubench.records import Case
from gpubench.suite import Timing

LONG = Case.of(
    "llm_decode",
    {"preset": "tiny", "precision": "bf16", "batch": 2, "context": 64, "output": 64, "layers": 0, "compile": False},
)
SHORT = Case.of("matmul", {"dtype": "fp32", "m": 256, "n": 256, "k": 256})


@dataclass
class Planned:
    case: Case
    timing: Timing = field(default_factory=lambda: Timing(rounds=3))


def _console(width: int, terminal: bool = False) -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, width=width, force_terminal=terminal, color_system="standard" if terminal else None), buf


def _store(reason: str | None = None) -> Any:
    telemetry = {"reason": reason} if reason else {"reader": "nvml", "idle_power_w": 50.0}
    meta = {"device": {"name": "AMD EPYC", "vendor": "cpu"}, "telemetry": telemetry}
    return SimpleNamespace(meta=meta, folder="results/run-1")


def _row(case: Case, status: str = "ok", rounds_n: int = 1, **kw: Any) -> dict[str, Any]:
    return {"case_id": case.id, "status": status, "rounds_n": rounds_n, **kw}


def test_without_a_terminal_each_finished_round_prints_a_line_with_count_and_time_left() -> None:
    out, buf = _console(200)
    err, _ = _console(200)
    display = progress.RunDisplay(SimpleNamespace(name="quick"), live=False, out=out, err=err)
    display.on_start(_store(), [Planned(SHORT), Planned(LONG)], 0)
    display.on_rounds(6)
    display.on_case_start(Planned(SHORT), 0)
    display.on_case_end(Planned(SHORT), _row(SHORT, throughput=0.5, throughput_unit="TFLOP/s"))
    display.on_case_end(Planned(LONG), _row(LONG, status="skipped", reason="no such thing here"))
    display.stop()
    lines = buf.getvalue().splitlines()
    assert len(lines) == 2
    assert re.match(r"\[1/6 \d+:\d\d left \d+:\d\d\] ok +matmul\[dtype=fp32,m=256,n=256,k=256\] round 1/3", lines[0])
    assert lines[0].endswith("0.5 TFLOP/s")
    assert lines[1].startswith("[2/6 ") and "skipped" in lines[1] and lines[1].endswith("no such thing here")


def test_the_bar_keeps_count_and_eta_at_80_columns() -> None:
    err, buf = _console(80, terminal=True)
    bar = progress.new_bar(err)
    task = bar.add_task(progress.escape(LONG.id), total=127)
    bar.advance(task, 12)
    text = "".join(seg.text for seg in err.render(bar.get_renderable()))
    line = [ln for ln in text.splitlines() if ln.strip()][0]
    assert len(line) <= 80
    assert "12/127" in line and "eta" in line and re.search(r"\d:\d\d:\d\d eta", line)
    assert "…" in line  # the case id gave way, not the count


def test_missing_power_readings_are_one_dim_line_not_a_warning() -> None:
    err, buf = _console(80, terminal=True)
    reason = "no RAPL domains under /sys/class/powercap (not Linux, not exposed in this VM, or no driver)"
    progress.print_run_header(SimpleNamespace(name="quick"), _store(reason), [Planned(SHORT)], 0, err)
    text = buf.getvalue()
    note = [ln for ln in text.splitlines() if "no power readings" in ln]
    assert len(note) == 1 and "\x1b[2m" in note[0]  # dim
    assert "\x1b[33m" not in text  # no yellow
    assert len(re.sub(r"\x1b\[[0-9;]*m", "", note[0])) <= 80


def test_summary_fits_its_width_and_folds_ids_at_commas() -> None:
    rows = [
        _row(SHORT, throughput=0.000271, throughput_unit="TFLOP/s", throughput_p10=0.0002, throughput_p90=0.0003),
        _row(LONG, throughput=12.2, throughput_unit="tokens/s", noisy=True, emulated=True),
        _row(
            Case.of("memory", {"kind": "h2d", "size_bytes": 67108864, "pinned": True}),
            status="skipped",
            reason="h2d measures a host<->GPU link; the CPU device has none",
        ),
    ]
    for width in (80, 100):
        out, buf = _console(width)
        out.print(progress.summary_table(rows, width))
        lines = buf.getvalue().splitlines()
        assert max(map(len, lines)) <= width
        text = buf.getvalue()
        # whole parameters and words, never cut letter by letter
        assert "precision=bf16," in text and "compile=false]" in text
        assert all(
            word in text
            for word in ["h2d", "measures", "a", "host<->GPU", "link;", "the", "CPU", "device", "has", "none"]
        )
        assert "0.271" in text and "GFLOP/s" in text  # a sub-tera rate reads as giga
        assert "W" not in re.findall(r"┃ ([^┃]+?) +┃", lines[1])  # no power column when nothing was measured


def test_the_starting_line_shows_on_a_terminal_only_and_not_on_other_ranks(monkeypatch: Any) -> None:
    err, buf = _console(80, terminal=True)
    monkeypatch.setattr(progress, "err_console", err)
    monkeypatch.setenv("RANK", "1")
    progress.print_starting("quick")
    assert progress._starting is None
    monkeypatch.setenv("RANK", "0")
    progress.print_starting("quick")
    try:
        assert progress._starting is not None
    finally:
        progress.stop_starting()
    assert progress._starting is None and "gpubench run quick: starting" in buf.getvalue()
    plain, buf = _console(80)
    monkeypatch.setattr(progress, "err_console", plain)
    progress.print_starting("quick")  # a file or a CI log: bad input must stay one line there
    assert progress._starting is None and buf.getvalue() == ""


def test_clock() -> None:
    assert progress.clock(65) == "1:05" and progress.clock(3725) == "1:02:05" and progress.clock(float("inf")) == "-:--"


def test_the_starting_note_shows_in_a_log_only_and_not_on_ranks(monkeypatch: Any) -> None:
    """Not a terminal (a file, a pipe, CI): one plain line, the run's first output; on a terminal the status line
    of print_starting says it instead; a rank of a distributed run says nothing."""
    plain, buf = _console(80)
    monkeypatch.setattr(progress, "err_console", plain)
    monkeypatch.delenv("RANK", raising=False)
    progress.note_starting("quick")
    assert buf.getvalue() == "gpubench run quick: starting PyTorch and the device ...\n"
    monkeypatch.setenv("RANK", "0")
    progress.note_starting("quick")
    assert buf.getvalue().count("\n") == 1
    term, tbuf = _console(80, terminal=True)
    monkeypatch.setattr(progress, "err_console", term)
    monkeypatch.delenv("RANK")
    progress.note_starting("quick")
    assert tbuf.getvalue() == ""
