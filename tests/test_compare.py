"""`compare_runs` and `gpubench compare`: bootstrap interval of the throughput ratio, verdicts, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fixtures_runs import CaseSpec, write_run
from typer.testing import CliRunner

from gpubench.cli import app
from gpubench.errors import GpubenchError
from gpubench.report.compare import (
    FASTER,
    NOT_COMPARABLE,
    SAME,
    SLOWER,
    bootstrap_ratio_ci,
    compare_runs,
    regressions,
    verdict,
)


def _cases(n: int = 4) -> list[CaseSpec]:
    return [CaseSpec("matmul", {"dtype": "bf16", "m": 256 * (i + 1), "n": 256, "k": 256}, 50.0, "flop",
                     2.0 * 256 * (i + 1) * 256 * 256, 2.0 * 256 * (i + 1) * 256 * 256) for i in range(n)]  # fmt: skip


def test_bootstrap_ci_contains_the_true_ratio() -> None:
    """B's steps take 1/1.25 of A's (lognormal noise): throughput ratio B/A is 1.25."""
    hits = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        a = 1e-3 * np.exp(rng.normal(0, 0.05, 200))
        b = 1e-3 / 1.25 * np.exp(rng.normal(0, 0.05, 200))
        ratio, low, high = bootstrap_ratio_ci(a, b, resamples=2000, seed=0)
        assert low < ratio < high
        assert ratio == pytest.approx(1.25, rel=0.03)
        hits += low <= 1.25 <= high
    assert hits >= 17  # a 95% interval: about 19 of 20


def test_bootstrap_interval_narrows_with_more_samples_and_is_reproducible() -> None:
    rng = np.random.default_rng(7)
    a, b = 1e-3 * np.exp(rng.normal(0, 0.1, 1000)), 1e-3 * np.exp(rng.normal(0, 0.1, 1000))
    _, lo_small, hi_small = bootstrap_ratio_ci(a[:20], b[:20])
    _, lo_big, hi_big = bootstrap_ratio_ci(a, b)
    assert hi_big - lo_big < (hi_small - lo_small) / 2
    assert bootstrap_ratio_ci(a, b, seed=3) == bootstrap_ratio_ci(a, b, seed=3)


def test_bootstrap_work_ratio_and_degenerate_inputs() -> None:
    ratio, low, high = bootstrap_ratio_ci([1.0, 1.0, 1.0], [1.0, 1.0, 1.0], work_ratio=2.0)
    assert (ratio, low, high) == (2.0, 2.0, 2.0)
    ratio, low, high = bootstrap_ratio_ci([1.0], [0.5])
    assert ratio == 2.0 and np.isnan(low) and np.isnan(high)
    assert all(np.isnan(v) for v in bootstrap_ratio_ci([], [1.0]))


def test_verdicts() -> None:
    assert verdict(0.8, 0.78, 0.82, 5.0) == SLOWER
    assert verdict(1.2, 1.18, 1.22, 5.0) == FASTER
    assert verdict(1.0, 0.97, 1.03, 5.0) == SAME
    assert verdict(0.97, 0.96, 0.98, 5.0) == "within threshold"
    assert verdict(0.97, 0.96, 0.98, 1.0) == SLOWER
    assert verdict(1.0, float("nan"), float("nan"), 5.0) == "too few repetitions"


def test_slower_run_is_a_regression(tmp_path: Path) -> None:
    a = write_run(tmp_path, "4090", host="a", seed=1, telemetry=False, cases=_cases(), reps=40)
    b = write_run(tmp_path, "4090", host="b", seed=2, telemetry=False, cases=_cases(), reps=40, speed=0.8)
    frame = compare_runs(a, b)
    assert len(frame) == 4 and set(frame["verdict"]) == {SLOWER}
    assert frame["ratio"].to_numpy() == pytest.approx(0.8, rel=0.03)
    assert ((frame["ci_low"] <= 0.8) & (frame["ci_high"] >= 0.8)).mean() >= 0.75
    assert len(regressions(frame)) == 4
    assert frame.attrs["a_run_id"] == a.name and frame.attrs["b_run_id"] == b.name
    # Reversed, B is the faster one: no regression.
    back = compare_runs(b, a)
    assert set(back["verdict"]) == {FASTER} and regressions(back).empty


def test_same_speed_is_not_significant(tmp_path: Path) -> None:
    a = write_run(tmp_path, "4090", host="a", seed=1, telemetry=False, cases=_cases(), reps=40)
    b = write_run(tmp_path, "4090", host="b", seed=2, telemetry=False, cases=_cases(), reps=40)
    frame = compare_runs(a, b, threshold_pct=5.0)
    assert not set(frame["verdict"]) & {SLOWER, FASTER}
    assert regressions(frame).empty


def test_broken_case_and_method_change(tmp_path: Path) -> None:
    base = _cases(3)
    broken = [*base[:2], CaseSpec(base[2].benchmark, base[2].params, 0.0, "flop", 1.0, status="failed",
                                  reason="out of memory")]  # fmt: skip
    a = write_run(tmp_path, "4090", host="a", seed=1, telemetry=False, cases=base, reps=20)
    b = write_run(tmp_path, "4090", host="b", seed=2, telemetry=False, cases=broken, reps=20)
    frame = compare_runs(a, b).set_index("case_id")
    case = base[2]
    from gpubench.records import Case

    cid = Case.of(case.benchmark, case.params).id
    assert frame.loc[cid, "verdict"] == "now failed" and "out of memory" in frame.loc[cid, "note"]
    assert len(regressions(frame.reset_index())) == 1
    c = write_run(
        tmp_path, "4090", host="c", seed=3, telemetry=False, cases=base, reps=20, benchmark_version=2
    )
    other = compare_runs(a, c)
    assert set(other["verdict"]) == {NOT_COMPARABLE} and regressions(other).empty


def test_cases_only_in_one_run_are_listed(tmp_path: Path) -> None:
    a = write_run(tmp_path, "4090", host="a", seed=1, telemetry=False, cases=_cases(3), reps=10)
    b = write_run(tmp_path, "4090", host="b", seed=2, telemetry=False, cases=_cases(2), reps=10)
    frame = compare_runs(a, b)
    assert len(frame) == 2 and len(frame.attrs["only_in_a"]) == 1 and frame.attrs["only_in_b"] == []


def test_bad_inputs(tmp_path: Path) -> None:
    a = write_run(tmp_path, "4090", host="a", seed=1, telemetry=False, cases=_cases(1), reps=10)
    with pytest.raises(GpubenchError):
        compare_runs(a, a, threshold_pct=-1)
    with pytest.raises(GpubenchError):
        compare_runs(tmp_path, a)  # a folder of runs, not a run folder


def test_cli_exit_codes_and_json(tmp_path: Path) -> None:
    a = write_run(tmp_path, "4090", host="a", seed=1, telemetry=False, cases=_cases(), reps=30)
    slow = write_run(tmp_path, "4090", host="b", seed=2, telemetry=False, cases=_cases(), reps=30, speed=0.8)
    same = write_run(tmp_path, "4090", host="c", seed=3, telemetry=False, cases=_cases(), reps=30)
    runner = CliRunner()
    res = runner.invoke(app, ["compare", str(a), str(slow)])
    assert res.exit_code == 1, res.output
    assert "slower" in res.output
    res = runner.invoke(app, ["compare", str(a), str(same)])
    assert res.exit_code == 0, res.output
    # A 30% threshold forgives a 20% slowdown.
    res = runner.invoke(app, ["compare", str(a), str(slow), "--threshold", "30"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["compare", str(a), str(slow), "--json"])
    assert res.exit_code == 1
    out = json.loads(res.stdout)
    assert out["regressions"] == 4 and len(out["cases"]) == 4 and out["inputs"]["threshold_pct"] == 5.0
    assert all(c["verdict"] == "slower" for c in out["cases"])
    res = runner.invoke(app, ["compare", str(tmp_path), str(a)])
    assert res.exit_code == 2 and "not a gpubench run folder" in res.output
    res = runner.invoke(app, ["compare", str(a), str(same), "--threshold", "150"])
    assert res.exit_code == 2
