"""`compare_runs` and `gpubench compare`: the interval over rounds and runs, verdicts, several runs per side,
exit codes."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from fixtures_runs import CaseSpec, write_run
from typer.testing import CliRunner

from gpubench.cli import app
from gpubench.errors import GpubenchError
from gpubench.records import Case
from gpubench.report.compare import (
    FASTER,
    FEW,
    NOT_COMPARABLE,
    SAME,
    SLOWER,
    compare_runs,
    regressions,
    verdict,
)


def _cases(n: int = 4) -> list[CaseSpec]:
    return [
        CaseSpec(
            "matmul",
            {"dtype": "bf16", "m": 256 * (i + 1), "n": 256, "k": 256},
            50.0,
            "flop",
            2.0 * 256 * (i + 1) * 256 * 256,
            2.0 * 256 * (i + 1) * 256 * 256,
        )
        for i in range(n)
    ]


def _run(tmp_path: Path, host: str, seed: int, **kw) -> Path:
    kw.setdefault("cases", _cases())
    kw.setdefault("reps", 30)
    kw.setdefault("rounds", 3)
    kw.setdefault("round_sigma", 0.01)
    return write_run(tmp_path, "4090", host=host, seed=seed, telemetry=False, **kw)


def test_verdicts() -> None:
    assert verdict(0.8, 0.78, 0.82, 5.0) == SLOWER
    assert verdict(1.2, 1.18, 1.22, 5.0) == FASTER
    assert verdict(1.0, 0.97, 1.03, 5.0) == SAME
    assert verdict(0.97, 0.96, 0.98, 5.0) == "within threshold"
    assert verdict(0.97, 0.96, 0.98, 1.0) == SLOWER
    assert verdict(1.0, float("nan"), float("nan"), 5.0) == FEW == "not enough repeats to tell"


def test_slower_run_is_a_regression(tmp_path: Path) -> None:
    a = _run(tmp_path, "a", 1)
    b = _run(tmp_path, "b", 2, speed=0.8)
    frame = compare_runs(a, b)
    assert len(frame) == 4 and set(frame["verdict"]) == {SLOWER}
    assert frame["ratio"].to_numpy() == pytest.approx(0.8, rel=0.03)
    assert ((frame["ci_low"] <= 0.8) & (frame["ci_high"] >= 0.8)).mean() >= 0.75
    assert set(frame["noise_from"]) == {"rounds"} and set(frame["a_rounds"]) == {3} and set(frame["a_runs"]) == {1}
    assert len(regressions(frame)) == 4
    assert frame.attrs["common_shift"] == pytest.approx(0.8, rel=0.03)  # every case moved together
    assert math.isnan(compare_runs(a, _run(tmp_path, "c", 3)).attrs["common_shift"])
    assert frame.attrs["a_run_id"] == a.name and frame.attrs["b_run_id"] == b.name
    back = compare_runs(b, a)  # reversed, B is the faster one: no regression
    assert set(back["verdict"]) == {FASTER} and regressions(back).empty


def test_between_round_noise_widens_the_interval_so_identical_code_is_not_called_slower(
    tmp_path: Path,
) -> None:
    """Rounds that drift by 5 % while steps jitter by 2 %: an interval from the steps alone would call many
    cases faster or slower; the interval over rounds calls (almost) none, yet still covers the truth."""
    calls, widths = 0, []
    for i in range(6):
        a = _run(tmp_path, f"a{i}", 10 + i, reps=60, rounds=5, round_sigma=0.05)
        b = _run(tmp_path, f"b{i}", 20 + i, reps=60, rounds=5, round_sigma=0.05)
        frame = compare_runs(a, b, threshold_pct=0.0)
        calls += int(frame["verdict"].isin([FASTER, SLOWER]).sum())
        widths += list(np.log(frame["ci_high"] / frame["ci_low"]))
    assert calls <= 2  # of 24 A/A cases at threshold 0 (95 % intervals: about 1 expected)
    # The step jitter alone (2 %, 60 steps) would give a log-width near 2 * 1.96 * 1.25 * 0.02 / sqrt(60) = 0.013.
    assert np.median(widths) > 0.05


def test_one_round_per_side_is_not_enough_to_tell(tmp_path: Path) -> None:
    a = _run(tmp_path, "a", 1, rounds=None)  # a run without round information: one round
    b = _run(tmp_path, "b", 2, rounds=None, speed=0.5)
    frame = compare_runs(a, b)
    assert set(frame["verdict"]) == {FEW} and regressions(frame).empty
    assert frame["ratio"].to_numpy() == pytest.approx(0.5, rel=0.03)  # the point estimate is still shown
    assert frame["ci_low"].isna().all() and "--rounds" in frame["note"].iloc[0]
    mixed = compare_runs(_run(tmp_path, "c", 3), b)  # rounds on one side only: still nothing to say of B
    assert set(mixed["verdict"]) == {FEW}


def test_several_runs_per_side_use_the_between_run_spread(tmp_path: Path) -> None:
    # Runs that differ by 8 % from one another (say, the boost state of each start), rounds by 0.5 %.
    a = [_run(tmp_path, f"a{i}", i, speed=s, round_sigma=0.005) for i, s in enumerate((1.0, 1.08, 0.93))]
    b = [_run(tmp_path, f"b{i}", 10 + i, speed=s, round_sigma=0.005) for i, s in enumerate((1.05, 0.95, 1.0))]
    single = compare_runs(a[1], b[1], threshold_pct=5.0)  # one run each: 0.95 / 1.08 looks like a real slowdown
    assert set(single["verdict"]) == {SLOWER}
    frame = compare_runs(a, b, threshold_pct=5.0)
    assert set(frame["verdict"]) == {SAME} and regressions(frame).empty
    assert set(frame["noise_from"]) == {"runs"} and set(frame["a_runs"]) == {3} and set(frame["b_rounds"]) == {9}
    assert frame.attrs["a_run_ids"] == [p.name for p in a]
    # A real 25 % slowdown of every B run still shows through the between-run noise.
    slow = [_run(tmp_path, f"s{i}", 20 + i, speed=0.75 * s, round_sigma=0.005) for i, s in enumerate((1.02, 0.98, 1.0))]
    assert set(compare_runs(a, slow)["verdict"]) == {SLOWER}


def test_runs_that_agree_pool_their_rounds(tmp_path: Path) -> None:
    """No between-run spread beyond the rounds': all rounds of a side count, so two runs of three rounds
    give a tighter interval than one run of three."""
    a = [_run(tmp_path, f"a{i}", i, round_sigma=0.03) for i in range(2)]
    b = [_run(tmp_path, f"b{i}", 10 + i, round_sigma=0.03) for i in range(2)]
    frame = compare_runs(a, b)
    pooled = frame[frame["noise_from"] == "rounds"]
    assert len(pooled) >= 1 and set(pooled["a_rounds"]) == {6}


def test_broken_case_and_method_change(tmp_path: Path) -> None:
    base = _cases(3)
    broken = [
        *base[:2],
        CaseSpec(base[2].benchmark, base[2].params, 0.0, "flop", 1.0, status="failed", reason="out of memory"),
    ]
    a = _run(tmp_path, "a", 1, cases=base)
    b = _run(tmp_path, "b", 2, cases=broken)
    frame = compare_runs(a, b).set_index("case_id")
    cid = Case.of(base[2].benchmark, base[2].params).id
    assert frame.loc[cid, "verdict"] == "now failed" and "out of memory" in frame.loc[cid, "note"]
    assert len(regressions(frame.reset_index())) == 1
    # Broken in one of two B runs is still a regression.
    two = compare_runs(a, [_run(tmp_path, "b2", 3, cases=base), b]).set_index("case_id")
    assert two.loc[cid, "verdict"] == "now failed"
    c = _run(tmp_path, "c", 3, cases=base, benchmark_version=2)
    other = compare_runs(a, c)
    assert set(other["verdict"]) == {NOT_COMPARABLE} and regressions(other).empty


def test_cases_only_in_one_run_are_listed(tmp_path: Path) -> None:
    a = _run(tmp_path, "a", 1, cases=_cases(3), reps=10)
    b = _run(tmp_path, "b", 2, cases=_cases(2), reps=10)
    frame = compare_runs(a, b)
    assert len(frame) == 2 and len(frame.attrs["only_in_a"]) == 1 and frame.attrs["only_in_b"] == []


def test_bad_inputs(tmp_path: Path) -> None:
    a = _run(tmp_path, "a", 1, cases=_cases(1), reps=10)
    with pytest.raises(GpubenchError):
        compare_runs(a, a, threshold_pct=-1)
    with pytest.raises(GpubenchError):
        compare_runs(tmp_path, a)  # a folder of runs, not a run folder
    with pytest.raises(GpubenchError, match="no run folder"):
        compare_runs([], a)


def test_cli_exit_codes_and_json(tmp_path: Path) -> None:
    a = _run(tmp_path, "a", 1)
    slow = _run(tmp_path, "b", 2, speed=0.8)
    same = _run(tmp_path, "c", 3)
    runner = CliRunner()
    res = runner.invoke(app, ["compare", str(a), str(slow)])
    assert res.exit_code == 1, res.output
    assert "slower" in res.output and "1×3 / 1×3" in res.output and "every case moved together" in res.output
    res = runner.invoke(app, ["compare", str(a), str(same)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["compare", str(a), str(slow), "--threshold", "30"])  # forgives a 20 % slowdown
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["compare", str(a), str(slow), "--json"])
    assert res.exit_code == 1
    out = json.loads(res.stdout)
    assert out["regressions"] == 4 and len(out["cases"]) == 4 and out["inputs"]["threshold_pct"] == 5.0
    assert all(c["verdict"] == "slower" and c["noise_from"] == "rounds" for c in out["cases"])
    res = runner.invoke(app, ["compare", str(tmp_path), str(a)])
    assert res.exit_code == 2 and "not a gpubench run folder" in res.output
    res = runner.invoke(app, ["compare", str(a), str(same), "--threshold", "150"])
    assert res.exit_code == 2


def test_cli_several_runs_per_side(tmp_path: Path) -> None:
    a1, a2 = _run(tmp_path, "a1", 1), _run(tmp_path, "a2", 2)
    b1, b2 = _run(tmp_path, "b1", 3, speed=0.8), _run(tmp_path, "b2", 4, speed=0.8)
    runner = CliRunner()
    res = runner.invoke(app, ["compare", str(a1), str(a2), "--vs", str(b1), str(b2), "--json"])
    assert res.exit_code == 1, res.output
    out = json.loads(res.stdout)
    assert out["inputs"]["a_run_ids"] == [a1.name, a2.name] and out["inputs"]["b_run_ids"] == [
        b1.name,
        b2.name,
    ]
    assert all(c["a_runs"] == 2 and c["b_runs"] == 2 for c in out["cases"])
    res = runner.invoke(app, ["compare", str(a1), "--threshold", "30", "--vs", str(b1), str(b2)])
    assert res.exit_code == 0, res.output  # options anywhere
    for bad in (
        [str(a1), str(a2), str(b1)],
        [str(a1), "--vs"],
        ["--vs", str(b1)],
        [str(a1), "--bogus", str(b1)],
    ):
        res = runner.invoke(app, ["compare", *bad])
        assert res.exit_code == 2, (bad, res.output)
        assert "Traceback" not in res.output


def test_rows_interval_is_the_one_entry_point(tmp_path: Path) -> None:
    """The interval compare shows is `stats.rows_ratio_interval` over the rows; `rows_throughput_interval` is
    one side's throughput on the same footing (what the report and advisor call)."""
    from gpubench import stats
    from gpubench.store import load_runs

    a, b = _run(tmp_path, "a", 1), _run(tmp_path, "b", 2, speed=0.8)
    frame = compare_runs(a, b).set_index("case_id")
    rows_a = load_runs(a).set_index("case_id")
    rows_b = load_runs(b).set_index("case_id")
    cid = frame.index[0]
    iv = stats.rows_ratio_interval([rows_a.loc[cid].to_dict()], [rows_b.loc[cid].to_dict()])
    assert (iv.ratio, iv.low, iv.high) == pytest.approx(tuple(frame.loc[cid, ["ratio", "ci_low", "ci_high"]]))
    thr, low, high = stats.rows_throughput_interval([rows_a.loc[cid].to_dict()])
    assert low < thr < high and thr == pytest.approx(frame.loc[cid, "a"])
    assert thr == pytest.approx(rows_a.loc[cid, "throughput"], rel=0.02)
    assert not math.isnan(frame.loc[cid, "a_sem"]) and frame.loc[cid, "a_sem"] > 0


def _long_cases() -> list[CaseSpec]:
    return [
        CaseSpec(
            "llm_decode",
            {"preset": "tiny", "precision": p, "batch": 2, "context": 64, "output": 64, "layers": 0, "compile": False},
            50.0,
            "token",
            1.0,
            1.0,
        )
        for p in ("bf16", "int8")
    ] + _cases(2)


def test_table_at_80_columns_folds_ids_and_keeps_every_figure(tmp_path: Path) -> None:
    from rich.console import Console

    from gpubench.cli.compare import comparison_notes, comparison_table

    a = _run(tmp_path, "a", 1, cases=_long_cases())
    b = _run(tmp_path, "b", 2, cases=_long_cases(), speed=0.02)  # a 98 % drop
    frame = compare_runs(a, b)
    for width in (80, 120):
        buf = io.StringIO()
        con = Console(file=buf, width=width)
        con.print(comparison_table(frame, 5.0, width))
        for line in comparison_notes(frame, [str(a)], [str(b)]):
            con.print(line)
        text = buf.getvalue()
        assert max(len(line) for line in text.splitlines()) <= width
        assert "precision=int8," in text and "compile=false]" in text  # folded at commas, parameters whole
        assert text.count("slower") == 4 + 1  # every case, and the counts line
        assert "0.02" in text and "1×3 / 1×3" in text
        narrow_header = [ln for ln in text.splitlines() if "verdict" in ln][0]
        assert (" A " in narrow_header) == (width >= 110)  # A and B move under the id on a narrow terminal


def test_hints_go_to_stdout_with_the_table(tmp_path: Path) -> None:
    a = _run(tmp_path, "a", 1)
    slow = _run(tmp_path, "b", 2, speed=0.8)
    res = CliRunner().invoke(app, ["compare", str(a), str(slow)])
    assert res.exit_code == 1
    assert "every case moved together" in res.stdout and "one run on a side" in res.stdout


def test_a_closed_pipe_is_not_a_regression(tmp_path: Path) -> None:
    """`compare A B | head`: the reader leaves early; the exit code stays the comparison's (0 here), not 1."""
    import os
    import subprocess
    import sys

    a = _run(tmp_path, "a", 1)
    same = _run(tmp_path, "c", 3)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "gpubench.cli", "compare", str(a), str(same)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the first line is written
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err
