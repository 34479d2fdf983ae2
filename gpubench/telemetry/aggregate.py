"""Joining telemetry samples to a case's time window: energy, power, temperature, clocks, throttling."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from gpubench.stats import ordered_sum
from gpubench.telemetry.base import POWER_THERMAL_MASK, decode_throttle

if TYPE_CHECKING:
    import pandas as pd

AGGREGATE_COLUMNS: tuple[str, ...] = (
    "energy_j",
    "energy_source",
    "energy_counter_j",
    "energy_integrated_j",
    "energy_above_idle_j",
    "avg_power_w",
    "peak_power_w",
    "peak_temp_c",
    "mean_sm_clock_mhz",
    "mean_mem_clock_mhz",
    "mean_util_pct",
    "throttle_reasons",
    "throttled_pct",
    "throttled",
    "telemetry_samples",
)
"""Keys of `case_aggregates()`; `energy_source` is "counter", "integrated" or "" (no energy)."""

# A counter that disagrees with integrated power by more than this factor over a long enough window is
# broken (stuck, or counting something else), and integration is used instead.
_COUNTER_MAX_RATIO = 5.0
_COUNTER_CHECK_MIN_S = 1.0


def empty_aggregates() -> dict[str, Any]:
    """Aggregates for a case with no telemetry."""
    out: dict[str, Any] = dict.fromkeys(AGGREGATE_COLUMNS, math.nan)
    out.update(energy_source="", throttle_reasons="", throttled=False, telemetry_samples=0)
    return out


def _default_max_gap_ns(t_ns: np.ndarray) -> int:
    """How far a window edge may lie beyond the nearest sample: two typical sampling intervals."""
    if len(t_ns) < 2:
        return 0
    return int(2 * np.median(np.diff(t_ns)))


def _window_series(
    t_ns: np.ndarray, values: np.ndarray, start_ns: int, end_ns: int, max_gap_ns: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """The metric over [start, end]: samples inside plus values at both edges interpolated from the
    neighbouring samples. None when fewer than 2 samples cover the window, or an edge lies more than
    `max_gap_ns` beyond the nearest sample (the sampler was not running there)."""
    ok = np.isfinite(values)
    t, v = t_ns[ok], values[ok]
    n = len(t)
    if n < 2:
        return None
    first = int(np.searchsorted(t, start_ns, side="left"))
    last = int(np.searchsorted(t, end_ns, side="right"))  # exclusive
    lo, hi = max(first - 1, 0), min(last + 1, n)
    support_t = t[lo:hi]
    if len(support_t) < 2:
        return None
    if support_t[0] - start_ns > max_gap_ns or end_ns - support_t[-1] > max_gap_ns:
        return None
    support_v = v[lo:hi]
    # np.interp interpolates between the neighbours, and holds the nearest value within max_gap_ns.
    edge_start, edge_end = np.interp([start_ns, end_ns], support_t, support_v)
    inner = (t[first:last] > start_ns) & (t[first:last] < end_ns)
    ts = np.concatenate(([start_ns], t[first:last][inner], [end_ns])).astype(np.float64)
    vs = np.concatenate(([edge_start], v[first:last][inner], [edge_end]))
    return ts, vs


def _integral(series: tuple[np.ndarray, np.ndarray]) -> float:
    """Trapezoidal integral over time, in value-seconds."""
    ts, vs = series
    return float(np.sum((vs[1:] + vs[:-1]) * np.diff(ts)) / 2.0 / 1e9)


def _counter_delta(t_ns: np.ndarray, counter: np.ndarray, start_ns: int, end_ns: int, max_gap_ns: int) -> float:
    """Counter(end) - counter(start), both interpolated; NaN unless it covers the window and only rises."""
    series = _window_series(t_ns, counter, start_ns, end_ns, max_gap_ns)
    if series is None:
        return math.nan
    ok = np.isfinite(counter)
    t, c = t_ns[ok], counter[ok]
    lo = max(int(np.searchsorted(t, start_ns, side="left")) - 1, 0)
    hi = int(np.searchsorted(t, end_ns, side="right")) + 1
    if np.any(np.diff(c[lo:hi]) < 0):  # went backwards inside the window: not an energy counter
        return math.nan
    delta = float(series[1][-1] - series[1][0])
    return delta if delta >= 0 else math.nan


def case_aggregates(
    frame: pd.DataFrame | None,
    start_ns: int,
    end_ns: int,
    idle_power_w: float = math.nan,
    max_gap_ns: int | None = None,
) -> dict[str, Any]:
    """Telemetry columns for one case that ran from `start_ns` to `end_ns` (same clock as the samples).

    energy_j is the hardware counter's delta where the counter exists and is sane, else power_w
    integrated (trapezoids) over the window; both are kept where both exist. Values at the window
    edges are interpolated from the neighbouring samples, so a window shorter than the sampling
    interval still gets a sensible value; with fewer than 2 samples covering it, energies are NaN.
    """
    if end_ns < start_ns:
        raise ValueError(f"case window ends before it starts ({start_ns} > {end_ns})")
    out = empty_aggregates()
    if frame is None or len(frame) == 0 or "t_ns" not in frame:
        return out
    frame = frame.sort_values("t_ns", kind="stable")
    t = frame["t_ns"].to_numpy(dtype=np.int64)
    gap = _default_max_gap_ns(t) if max_gap_ns is None else int(max_gap_ns)
    duration_s = (end_ns - start_ns) / 1e9
    inside = (t >= start_ns) & (t <= end_ns)
    out["telemetry_samples"] = int(inside.sum())

    def column(name: str) -> np.ndarray | None:
        return frame[name].to_numpy(dtype=np.float64) if name in frame else None

    def series(name: str) -> tuple[np.ndarray, np.ndarray] | None:
        values = column(name)
        if values is None or duration_s <= 0:
            return None
        return _window_series(t, values, start_ns, end_ns, gap)

    def inside_values(name: str) -> np.ndarray:
        values = column(name)
        if values is None:
            return np.empty(0)
        values = values[inside]
        return values[np.isfinite(values)]

    def peak(name: str) -> float:
        s = series(name)
        values = s[1] if s is not None else inside_values(name)
        return float(np.max(values)) if len(values) else math.nan

    def mean(name: str) -> float:
        s = series(name)
        if s is not None:
            return float(_integral(s) / duration_s)  # time-weighted: uneven sampling does not bias it
        values = inside_values(name)
        return float(np.mean(values)) if len(values) else math.nan

    # -- energy --
    power = series("power_w")
    integrated = _integral(power) if power is not None else math.nan
    counter_values = column("energy_j")
    counter = math.nan
    if counter_values is not None and duration_s > 0:
        counter = _counter_delta(t, counter_values, start_ns, end_ns, gap)
    out["energy_counter_j"] = counter
    out["energy_integrated_j"] = integrated
    counter_ok = math.isfinite(counter)
    if counter_ok and math.isfinite(integrated) and integrated > 0 and duration_s >= _COUNTER_CHECK_MIN_S:
        ratio = counter / integrated
        counter_ok = 1 / _COUNTER_MAX_RATIO <= ratio <= _COUNTER_MAX_RATIO
    if counter_ok:
        out["energy_j"], out["energy_source"] = counter, "counter"
    elif math.isfinite(integrated):
        out["energy_j"], out["energy_source"] = integrated, "integrated"
    energy = out["energy_j"]
    if math.isfinite(energy) and duration_s > 0:
        out["avg_power_w"] = energy / duration_s
        if math.isfinite(idle_power_w):
            out["energy_above_idle_j"] = energy - idle_power_w * duration_s

    # -- power, temperature, clocks --
    out["peak_power_w"] = peak("power_w")
    out["peak_temp_c"] = peak("temp_c")
    out["mean_sm_clock_mhz"] = mean("sm_clock_mhz")
    out["mean_mem_clock_mhz"] = mean("mem_clock_mhz")
    out["mean_util_pct"] = mean("util_pct")

    # -- throttling: the samples inside the window, or its two neighbours when none fell inside --
    masks_all = column("throttle_mask")
    if masks_all is not None:
        masks = masks_all[inside]
        if not len(masks):
            before = np.nonzero(t < start_ns)[0]
            after = np.nonzero(t > end_ns)[0]
            picks = ([before[-1]] if len(before) else []) + ([after[0]] if len(after) else [])
            masks = masks_all[picks]
        masks = masks[np.isfinite(masks)].astype(np.int64)
        if len(masks):
            seen = int(np.bitwise_or.reduce(masks))
            out["throttle_reasons"] = ",".join(sorted(decode_throttle(seen)))
            hit = (masks & POWER_THERMAL_MASK) != 0
            out["throttled_pct"] = float(100.0 * hit.mean())
            out["throttled"] = bool(hit.any())
    return out


def combine_aggregates(parts: list[tuple[dict[str, Any], float]]) -> dict[str, Any]:
    """The aggregates of one case measured in several windows (its rounds), from each window's aggregates and
    duration in seconds: energies add up, average power is total energy over total time, peaks are the
    highest, means are time-weighted, throttle reasons are the union."""
    parts = [(agg, d) for agg, d in parts if d > 0]
    if not parts:
        return empty_aggregates()
    if len(parts) == 1:
        return dict(parts[0][0])
    out = empty_aggregates()
    total_s = ordered_sum(d for _, d in parts)

    def values(key: str) -> list[tuple[float, float]]:
        got = []
        for agg, d in parts:
            v = agg.get(key)
            if v is None:  # a metric this device lacks (most are, on a CPU): no exception to raise and catch
                continue
            try:
                v = float(v)
            except (TypeError, ValueError):
                continue
            if math.isfinite(v):
                got.append((v, d))
        return got

    for key in ("energy_j", "energy_counter_j", "energy_integrated_j", "energy_above_idle_j"):
        got = values(key)
        if len(got) == len(parts):  # a window without it would make the sum too small
            out[key] = ordered_sum(v for v, _ in got)
    sources = {str(agg.get("energy_source") or "") for agg, _ in parts}
    out["energy_source"] = sources.pop() if len(sources) == 1 else ("integrated" if "" not in sources else "")
    if math.isfinite(out["energy_j"]):
        out["avg_power_w"] = out["energy_j"] / total_s
    for key in ("peak_power_w", "peak_temp_c"):
        got = values(key)
        out[key] = max(v for v, _ in got) if got else math.nan
    for key in ("mean_sm_clock_mhz", "mean_mem_clock_mhz", "mean_util_pct", "throttled_pct"):
        got = values(key)
        out[key] = ordered_sum(v * d for v, d in got) / ordered_sum(d for _, d in got) if got else math.nan
    reasons = {r for agg, _ in parts for r in str(agg.get("throttle_reasons") or "").split(",") if r}
    out["throttle_reasons"] = ",".join(sorted(reasons))
    out["throttled"] = any(
        isinstance(agg.get("throttled"), (bool, np.bool_)) and bool(agg["throttled"]) for agg, _ in parts
    )
    out["telemetry_samples"] = int(ordered_sum(v for v, _ in values("telemetry_samples")))
    return out
