import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpubench import derive, stats


@given(st.lists(st.floats(min_value=1e-6, max_value=1e3), min_size=1, max_size=50), st.floats(0, 100))
def test_percentile_matches_numpy(values, q):
    assert stats.percentile(values, q) == pytest.approx(float(np.percentile(values, q)), rel=1e-9, abs=1e-12)


def test_summary_of_known_times():
    times = [1.0, 2.0, 3.0, 4.0, 5.0]
    s = stats.summarize(times)
    assert s.n == 5
    assert s.median_s == 3.0
    assert s.mean_s == 3.0
    assert s.min_s == 1.0
    assert s.std_s == pytest.approx(math.sqrt(2.5))
    assert s.cov == pytest.approx(math.sqrt(2.5) / 3)
    assert s.p10_s == pytest.approx(1.4)
    assert s.p90_s == pytest.approx(4.6)
    assert s.iqr_s == pytest.approx(2.0)
    assert s.noisy  # IQR/median = 0.67


def test_noise_flag_threshold():
    steady = [1.0] * 10 + [1.05] * 10  # IQR/median ~ 5%
    assert not stats.summarize(steady).noisy
    spread = [1.0] * 10 + [1.2] * 10  # IQR/median ~ 18%
    assert stats.summarize(spread).noisy


def test_empty_summary_is_nan_not_error():
    s = stats.summarize([])
    assert s.n == 0 and math.isnan(s.median_s) and not s.noisy


def test_settled_needs_two_agreeing_windows():
    ramp = [2.0, 1.8, 1.6, 1.4, 1.2, 1.0, 1.0, 1.0, 1.0, 1.0]
    assert not stats.settled(ramp)
    assert stats.settled(ramp + [1.0] * 5)
    assert not stats.settled([1.0] * 9)  # too few


def test_geomean_ignores_non_positive():
    assert stats.geomean([1.0, 4.0]) == pytest.approx(2.0)
    assert stats.geomean([2.0, 0.0, float("nan")]) == pytest.approx(2.0)
    assert math.isnan(stats.geomean([]))


def test_sweep_summary_best_and_geomean():
    rows = [
        {
            "benchmark": "matmul",
            "status": "ok",
            "device_name": "d",
            "dtype": "bf16",
            "n": 4096,
            "k": 4096,
            "m": m,
            "throughput": t,
            "throughput_unit": "TFLOP/s",
        }
        for m, t in ((1024, 100.0), (2048, 400.0), (3072, 200.0))
    ]
    rows.append({**rows[0], "m": 8192, "status": "failed", "throughput": 999.0})
    (s,) = derive.sweep_summary(rows)
    assert s["best_m"] == 2048 and s["best_throughput"] == 400.0
    assert s["geomean_throughput"] == pytest.approx(200.0)
    assert s["shapes"] == 3


@pytest.mark.parametrize(
    ("p", "df", "expected"),
    [
        (0.975, 1, 12.7062047),
        (0.975, 2, 4.3026527),
        (0.975, 4, 2.7764451),
        (0.975, 10, 2.2281389),
        (0.995, 30, 2.7499957),
        (0.975, 1e6, 1.9599640),
        (0.025, 4, -2.7764451),
        (0.5, 3, 0.0),
    ],
)
def test_t_quantile_matches_tables(p, df, expected):
    assert stats.t_quantile(p, df) == pytest.approx(expected, abs=1e-5)
    assert math.isnan(stats.t_quantile(1.0, 3)) and math.isnan(stats.t_quantile(0.9, 0))


def test_location_takes_its_noise_from_the_highest_level_with_repeats():
    one = stats.location([[[1.0, 1.1, 0.9]]])
    assert one.level == "" and math.isnan(one.var) and one.time_s == pytest.approx(1.0)
    rounds = stats.location([[[1.0], [2.0], [4.0]]])  # one run, three rounds: logs 0, ln2, ln4
    assert rounds.level == "rounds" and rounds.df == 2 and rounds.rounds == 3
    assert rounds.time_s == pytest.approx(2.0)
    assert rounds.var == pytest.approx(np.var(np.log([1, 2, 4]), ddof=1) / 3)
    # Two runs that differ far more than their rounds: the run means carry the noise (df = runs - 1).
    runs = stats.location([[[1.0], [1.01]], [[2.0], [2.02]]])
    assert runs.level == "runs" and runs.df == 1 and runs.runs == 2
    assert runs.var == pytest.approx(np.var([np.log([1.0, 1.01]).mean(), np.log([2.0, 2.02]).mean()], ddof=1) / 2)
    # Two runs whose means agree better than their rounds predict: every round counts.
    pooled = stats.location([[[1.0], [2.0]], [[2.0], [1.0]]])
    assert pooled.level == "rounds" and pooled.df == 3
    # Bad times are dropped, empty rounds and runs too.
    assert stats.location([[[0.0, math.nan], []], []]).runs == 0


def test_ratio_interval_covers_the_truth_at_its_confidence():
    rng = np.random.default_rng(3)
    hits, n = 0, 300
    for _ in range(n):
        a = [[list(1e-3 * np.exp(rng.normal(0, 0.04) + rng.normal(0, 0.05, 15))) for _ in range(4)]]
        b = [[list(1e-3 / 1.2 * np.exp(rng.normal(0, 0.04) + rng.normal(0, 0.05, 15))) for _ in range(4)]]
        iv = stats.ratio_interval(a, b)
        hits += iv.low <= 1.2 <= iv.high
    assert 0.90 <= hits / n <= 0.99
    iv = stats.ratio_interval([[[1.0, 1.0], [1.0]]], [[[1.0], [1.0]]], work_ratio=2.0)
    assert (iv.ratio, iv.low, iv.high) == (2.0, 2.0, 2.0) and iv.known
    iv = stats.ratio_interval([[[1.0, 1.2]]], [[[0.5], [0.5]]])
    assert iv.ratio == pytest.approx(1.1 / 0.5) and not iv.known  # A: one round, median 1.1


def test_round_times_split_a_row():
    row = {"times_s": [1.0, 2.0, 3.0, 4.0, 5.0], "round_sizes": [2, 3]}
    assert stats.round_times(row) == [[1.0, 2.0], [3.0, 4.0, 5.0]]
    assert stats.round_times({"times_s": np.array([1.0, 2.0])}) == [[1.0, 2.0]]  # no round info: one round
    assert stats.round_times({"times_s": [1.0, 2.0], "round_sizes": [3]}) == [[1.0, 2.0]]  # inconsistent: one
    assert stats.round_times({"times_s": math.nan}) == [] and stats.round_times({}) == []
