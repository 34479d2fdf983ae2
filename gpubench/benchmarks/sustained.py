"""Sustained vs burst: one GEMM held for the whole timed window, throughput, power, clocks and heat per second.

mamf-finder's lesson (stas00/ml-engineering, MSMF): a short burst on a cool card runs at boost clocks and
overstates what a long training run gets (H200 bf16: 828 TFLOP/s burst, 703 sustained). The case is the matmul
benchmark's GEMM without the cache flush (a hot loop, like training); how long it is held is the case's timing
(`min_time_s`/`max_time_s` in the suite: 60 s in `standard`, seconds in `quick`) and its warm-up should be
short, so the first seconds are the burst. The runner times every step; `summarize` only bins those raw times
and the telemetry samples of the window into seconds and reads off:

- burst: throughput over the first `burst_s` seconds; sustained: over the last half of the window;
- per-second throughput, power, SM clock and temperature (list columns, for the report's time plot);
- the time to the first power/thermal throttle sample and every reason seen.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import torch

from gpubench.benchmarks.matmul import matmul
from gpubench.records import Case, Work, Workload
from gpubench.telemetry.base import POWER_THERMAL_MASK, decode_throttle


def _bins(positions_s: np.ndarray, values: np.ndarray, bin_s: float, n_bins: int) -> list[float]:
    """Mean of `values` per `bin_s`-wide bin of `positions_s` (NaN for an empty bin)."""
    index = np.minimum((positions_s / bin_s).astype(np.int64), n_bins - 1)
    out = []
    for b in range(n_bins):
        chosen = values[index == b]
        chosen = chosen[np.isfinite(chosen)]
        out.append(float(chosen.mean()) if len(chosen) else math.nan)
    return out


def summarize_sustained(
    times_s: list[float], telemetry: Any, start_ns: int, end_ns: int, work: Work, burst_s: float, bin_s: float
) -> dict[str, Any]:
    """Burst and sustained throughput, per-second series and the first throttle event, from raw step times.

    Steps are placed on the window's clock by their cumulative time, stretched to span [start, end] (the gaps
    between the runner's bursts are spread evenly); throughput in a span = work / mean step time there.
    """
    t = np.asarray(times_s, dtype=np.float64)
    window_s = max((end_ns - start_ns) / 1e9, float(t.sum()))
    ends = np.cumsum(t)
    positions = (ends - t / 2) * (window_s / ends[-1])  # each step at its middle
    n_bins = max(1, int(window_s // bin_s))  # a last partial bin joins the one before it

    def rate(mask: np.ndarray) -> float:
        return work.throughput(float(t[mask].mean())) if mask.any() else math.nan

    burst_mask = positions < min(burst_s, window_s / 2)
    if not burst_mask.any():
        burst_mask[0] = True
    sustained = rate(positions >= window_s / 2)
    burst = rate(burst_mask)
    index = np.minimum((positions / bin_s).astype(np.int64), n_bins - 1)
    per_bin = [work.throughput(float(t[index == b].mean())) if (index == b).any() else math.nan for b in range(n_bins)]
    out: dict[str, Any] = {
        "burst_throughput": burst,
        "sustained_throughput": sustained,
        "sustained_over_burst": sustained / burst if burst > 0 else math.nan,
        "held_s": window_s,
        "bin_s": bin_s,
        "per_second_throughput": per_bin,
        "per_second_power_w": [math.nan] * n_bins,
        "per_second_sm_clock_mhz": [math.nan] * n_bins,
        "per_second_temp_c": [math.nan] * n_bins,
        "first_throttle_s": math.nan,
        "throttle_reasons_seen": "",
    }
    if telemetry is None or len(telemetry) == 0 or "t_ns" not in telemetry:
        return out
    rel = (telemetry["t_ns"].to_numpy(dtype=np.float64) - start_ns) / 1e9
    for column, key in (
        ("power_w", "per_second_power_w"),
        ("sm_clock_mhz", "per_second_sm_clock_mhz"),
        ("temp_c", "per_second_temp_c"),
    ):
        if column in telemetry:
            out[key] = _bins(rel, telemetry[column].to_numpy(dtype=np.float64), bin_s, n_bins)
    if "throttle_mask" in telemetry:
        masks = telemetry["throttle_mask"].to_numpy(dtype=np.float64)
        ok = np.isfinite(masks)
        ints = masks[ok].astype(np.int64)
        if len(ints):
            out["throttle_reasons_seen"] = ",".join(sorted(decode_throttle(int(np.bitwise_or.reduce(ints)))))
            hit = np.nonzero(ints & POWER_THERMAL_MASK)[0]
            if len(hit):
                out["first_throttle_s"] = float(rel[ok][hit[0]])
    return out


def sustained(case: Case, device: torch.device) -> Workload:
    m = int(case.param("m"))
    burst_s, bin_s = float(case.param("burst_s")), float(case.param("bin_s"))
    base = matmul(Case.of("matmul", {"dtype": case.param("dtype"), "m": m, "n": m, "k": m}), device)

    def summarize(times_s: list[float], telemetry: Any, start_ns: int, end_ns: int) -> dict[str, Any]:
        return summarize_sustained(times_s, telemetry, start_ns, end_ns, base.work, burst_s, bin_s)

    # No cache flush between steps: a held GEMM is a hot loop, as in training.
    return dataclasses.replace(base, reset=None, summarize=summarize, info={**base.info, "held_gemm": f"{m}^3"})
