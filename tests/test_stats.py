import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpubench import stats


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
        {"benchmark": "matmul", "status": "ok", "device_name": "d", "dtype": "bf16", "n": 4096, "k": 4096,
         "m": m, "throughput": t, "throughput_unit": "TFLOP/s"}
        for m, t in ((1024, 100.0), (2048, 400.0), (3072, 200.0))
    ]  # fmt: skip
    rows.append({**rows[0], "m": 8192, "status": "failed", "throughput": 999.0})
    (s,) = stats.sweep_summary(rows)
    assert s["best_m"] == 2048 and s["best_throughput"] == 400.0
    assert s["geomean_throughput"] == pytest.approx(200.0)
    assert s["shapes"] == 3
