"""case_aggregates on scripted sample frames: counter vs integration, edges, window join, throttling."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from gpubench.telemetry import AGGREGATE_COLUMNS, THROTTLE_BITS, case_aggregates

S = 1_000_000_000  # ns per second


def frame_from(t_s: np.ndarray, power_w, energy_j=None, **extra) -> pd.DataFrame:
    data = {
        "t_ns": (np.asarray(t_s) * S).round().astype(np.int64),
        "power_w": np.asarray(power_w, dtype=float),
    }
    if energy_j is not None:
        data["energy_j"] = np.asarray(energy_j, dtype=float)
    for key, values in extra.items():
        data[key] = np.asarray(values, dtype=float)
    return pd.DataFrame(data)


def constant_100w() -> pd.DataFrame:
    t = np.arange(0, 3.0001, 0.05)  # 20 Hz for 3 s
    return frame_from(t, np.full_like(t, 100.0), energy_j=1000.0 + 100.0 * t)


def test_constant_100w_for_2s_is_200j_from_counter_and_from_integration():
    start, end = int(0.512 * S), int(2.512 * S)  # edges fall between samples
    agg = case_aggregates(constant_100w(), start, end, idle_power_w=40.0)
    assert set(agg) == set(AGGREGATE_COLUMNS)
    assert agg["energy_counter_j"] == pytest.approx(200.0, rel=0.01)
    assert agg["energy_integrated_j"] == pytest.approx(200.0, rel=0.01)
    assert agg["energy_j"] == agg["energy_counter_j"] and agg["energy_source"] == "counter"
    assert agg["avg_power_w"] == pytest.approx(100.0, rel=0.01)
    assert agg["energy_above_idle_j"] == pytest.approx(200.0 - 40.0 * 2.0, rel=0.01)
    assert agg["peak_power_w"] == 100.0
    assert agg["telemetry_samples"] == 40


def test_ramp_matches_the_analytic_energy_both_ways():
    t = np.arange(0, 3.0001, 0.05)
    power = 100.0 + 50.0 * t
    counter = 100.0 * t + 25.0 * t**2  # the integral of power
    agg = case_aggregates(frame_from(t, power, counter), int(0.33 * S), int(1.77 * S))
    expected = (100 * 1.77 + 25 * 1.77**2) - (100 * 0.33 + 25 * 0.33**2)
    assert agg["energy_counter_j"] == pytest.approx(expected, rel=0.01)
    assert agg["energy_integrated_j"] == pytest.approx(expected, rel=0.01)
    assert agg["peak_power_w"] == pytest.approx(100 + 50 * 1.77, rel=1e-6)  # interpolated at the edge


def test_window_join_gives_each_case_its_own_power():
    t = np.arange(0, 6.0001, 0.05)
    power = np.select([t < 2, t < 4], [100.0, 300.0], 50.0)
    frame = frame_from(t, power, sm_clock_mhz=np.select([t < 2, t < 4], [1000.0, 1900.0], 1500.0))
    cases = [(0.2, 1.8, 100.0, 1000.0), (2.2, 3.8, 300.0, 1900.0), (4.2, 5.8, 50.0, 1500.0)]
    for start_s, end_s, watts, mhz in cases:
        agg = case_aggregates(frame, int(start_s * S), int(end_s * S))
        assert agg["avg_power_w"] == pytest.approx(watts, rel=1e-6)
        assert agg["energy_j"] == pytest.approx(watts * 1.6, rel=1e-6)
        assert agg["energy_source"] == "integrated"  # no counter column
        assert agg["mean_sm_clock_mhz"] == pytest.approx(mhz)


def test_window_shorter_than_the_sampling_interval_is_interpolated():
    t = np.array([0.0, 0.05, 0.10, 0.15])
    power = np.array([100.0, 100.0, 200.0, 200.0])
    agg = case_aggregates(frame_from(t, power, energy_j=[0, 5, 12.5, 22.5]), int(0.06 * S), int(0.07 * S))
    assert agg["telemetry_samples"] == 0
    # Power rises linearly from 100 W at 50 ms to 200 W at 100 ms: 120 W at 60 ms, 140 W at 70 ms.
    assert agg["energy_integrated_j"] == pytest.approx(130.0 * 0.01)
    assert agg["energy_counter_j"] == pytest.approx(7.5 * 0.2)  # 7.5 J over those 50 ms; 10 ms is 1/5
    assert agg["peak_power_w"] == pytest.approx(140.0)


def test_fewer_than_two_samples_or_an_uncovered_edge_gives_nan_energy():
    one = frame_from(np.array([1.0]), [100.0], energy_j=[5.0])
    agg = case_aggregates(one, int(0.9 * S), int(1.1 * S))
    assert math.isnan(agg["energy_j"]) and math.isnan(agg["energy_integrated_j"])
    assert agg["energy_source"] == "" and agg["telemetry_samples"] == 1
    assert agg["peak_power_w"] == 100.0  # the sample that is inside still counts for the peak

    t = np.arange(0, 1.0001, 0.05)
    covered_until_1s = frame_from(t, np.full_like(t, 100.0))
    agg = case_aggregates(covered_until_1s, int(0.5 * S), int(3.0 * S))  # sampler gone after 1 s
    assert math.isnan(agg["energy_j"])


def test_counter_going_backwards_or_stuck_falls_back_to_integration():
    t = np.arange(0, 3.0001, 0.05)
    counter = 100.0 * t
    counter[30] = 0.0  # reset in the middle of the window
    agg = case_aggregates(frame_from(t, np.full_like(t, 100.0), counter), int(0.5 * S), int(2.5 * S))
    assert math.isnan(agg["energy_counter_j"])
    assert agg["energy_source"] == "integrated" and agg["energy_j"] == pytest.approx(200.0, rel=0.01)

    stuck = np.full_like(t, 42.0)
    stuck[-1] = 42.001
    agg = case_aggregates(frame_from(t, np.full_like(t, 300.0), stuck), int(0.5 * S), int(2.5 * S))
    assert agg["energy_counter_j"] == pytest.approx(0.0, abs=0.01)  # kept for inspection
    assert agg["energy_source"] == "integrated" and agg["energy_j"] == pytest.approx(600.0, rel=0.01)


def test_nan_counter_column_means_integration():
    t = np.arange(0, 3.0001, 0.05)
    agg = case_aggregates(frame_from(t, np.full_like(t, 100.0), np.full_like(t, np.nan)), S // 2, 5 * S // 2)
    assert agg["energy_source"] == "integrated" and math.isnan(agg["energy_counter_j"])


def test_throttle_reasons_and_share_of_throttled_samples():
    t = np.arange(0, 1.0001, 0.1)  # 11 samples
    masks = np.zeros_like(t)
    masks[2:5] = THROTTLE_BITS["sw_power_cap"]
    masks[7] = THROTTLE_BITS["hw_thermal"] | THROTTLE_BITS["sync_boost"]
    masks[9] = THROTTLE_BITS["gpu_idle"]  # not a penalty
    masks[10] = np.nan
    frame = frame_from(t, np.full_like(t, 300.0), throttle_mask=masks, temp_c=np.linspace(60, 80, len(t)))
    agg = case_aggregates(frame, 0, S)
    assert agg["throttle_reasons"] == "gpu_idle,hw_thermal,sw_power_cap,sync_boost"
    assert agg["throttled"] is True
    assert agg["throttled_pct"] == pytest.approx(100.0 * 4 / 10)  # the NaN sample is not counted
    assert agg["peak_temp_c"] == pytest.approx(80.0)

    calm = frame_from(t, np.full_like(t, 300.0), throttle_mask=np.full_like(t, THROTTLE_BITS["gpu_idle"]))
    agg = case_aggregates(calm, 0, S)
    assert agg["throttled"] is False and agg["throttled_pct"] == 0.0 and agg["throttle_reasons"] == "gpu_idle"


def test_no_telemetry_gives_the_empty_row_and_a_reversed_window_is_an_error():
    agg = case_aggregates(pd.DataFrame({"t_ns": pd.Series([], dtype="int64")}), 0, S)
    assert agg["telemetry_samples"] == 0 and agg["throttled"] is False and agg["throttle_reasons"] == ""
    assert math.isnan(agg["energy_j"]) and math.isnan(agg["avg_power_w"])
    assert case_aggregates(None, 0, S)["energy_source"] == ""
    with pytest.raises(ValueError):
        case_aggregates(constant_100w(), 2 * S, S)


def test_rounds_combine_into_one_case_aggregate():
    """A case measured in two windows (its rounds) with another case between them: the combination equals the
    aggregate of each window added up, not of the span that holds the other case too."""
    from gpubench.telemetry import combine_aggregates

    t = np.arange(0, 6.0001, 0.05)
    power = np.where((t >= 2) & (t < 4), 300.0, 100.0)  # the other case draws 300 W in the middle
    temp = np.where(t > 5, 80.0, 60.0)
    mask = np.where((t > 5) & (t < 5.5), THROTTLE_BITS["sw_power_cap"], 0)
    frame = frame_from(
        t,
        power,
        energy_j=np.cumsum(power * 0.05),
        temp_c=temp,
        sm_clock_mhz=np.where(t < 2, 1000.0, 2000.0),
        throttle_mask=mask,
    )
    first = case_aggregates(frame, 0, 1 * S)
    second = case_aggregates(frame, 5 * S, 6 * S)
    both = combine_aggregates([(first, 1.0), (second, 1.0)])
    assert both["energy_j"] == pytest.approx(first["energy_j"] + second["energy_j"])
    assert both["energy_j"] == pytest.approx(200.0, rel=0.05)  # 100 W for 2 s, not the 300 W in between
    assert both["avg_power_w"] == pytest.approx(100.0, rel=0.05)
    assert both["peak_temp_c"] == 80.0 and both["throttled"] and "sw_power_cap" in both["throttle_reasons"]
    assert both["mean_sm_clock_mhz"] == pytest.approx(1500.0, rel=0.02)  # 1 s at 1000, 1 s at 2000
    assert both["telemetry_samples"] == first["telemetry_samples"] + second["telemetry_samples"]
    assert combine_aggregates([(first, 1.0)]) == first
    assert math.isnan(combine_aggregates([])["energy_j"])
    # A window without energy leaves the total unknown rather than too small.
    assert math.isnan(combine_aggregates([(first, 1.0), (case_aggregates(None, 0, S), 1.0)])["energy_j"])
