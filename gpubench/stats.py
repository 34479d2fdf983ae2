"""Summary statistics over raw step times. Pure Python: the raw samples are what gets stored."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from gpubench.records import WORK_UNITS

NOISY_IQR_RATIO = 0.10
"""A case is `noisy` when IQR / median exceeds this (torch.utils.benchmark warns at the same point)."""


def to_float(value: Any) -> float:
    """A float from a result cell (None, pandas NA, numpy scalars, strings of numbers); NaN when it is none."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def finite_or_none(value: Any) -> float | None:
    """A usable number, or None for missing, NaN, inf and non-numbers."""
    out = to_float(value)
    return out if math.isfinite(out) else None


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default method), q in [0, 100]."""
    if not values:
        return math.nan
    data = sorted(values)
    if len(data) == 1:
        return float(data[0])
    pos = (len(data) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(data) - 1)
    frac = pos - lo
    return float(data[lo] + (data[hi] - data[lo]) * frac)


@dataclass(frozen=True)
class Summary:
    n: int
    median_s: float
    p10_s: float
    p90_s: float
    p99_s: float
    mean_s: float
    min_s: float
    std_s: float
    cov: float
    iqr_s: float
    noisy: bool

    def as_dict(self) -> dict[str, float | int | bool]:
        return asdict(self)


def summarize(times_s: Sequence[float]) -> Summary:
    """Median, p10/p90, mean, min, standard deviation, CoV, IQR and the noise flag of raw times."""
    n = len(times_s)
    if n == 0:
        nan = math.nan
        return Summary(0, nan, nan, nan, nan, nan, nan, nan, nan, nan, False)
    mean = sum(times_s) / n
    var = sum((t - mean) ** 2 for t in times_s) / (n - 1) if n > 1 else 0.0
    std = math.sqrt(var)
    median = percentile(times_s, 50)
    iqr = percentile(times_s, 75) - percentile(times_s, 25)
    return Summary(
        n=n,
        median_s=median,
        p10_s=percentile(times_s, 10),
        p90_s=percentile(times_s, 90),
        p99_s=percentile(times_s, 99),
        mean_s=mean,
        min_s=float(min(times_s)),
        std_s=std,
        cov=std / mean if mean > 0 else math.nan,
        iqr_s=iqr,
        noisy=bool(median > 0 and iqr / median > NOISY_IQR_RATIO),
    )


def settled(times_s: Sequence[float], window: int = 5, tolerance: float = 0.05) -> bool:
    """True when the medians of the last two windows of warm-up times agree within `tolerance`.

    Clocks ramp, caches fill and autotuners pick kernels during the first steps; timing starts only
    once consecutive windows agree.
    """
    if len(times_s) < 2 * window:
        return False
    last = percentile(times_s[-window:], 50)
    prev = percentile(times_s[-2 * window : -window], 50)
    return prev > 0 and abs(last - prev) / prev <= tolerance


def geomean(values: Sequence[float]) -> float:
    vals = [v for v in values if v is not None and math.isfinite(v) and v > 0]
    if not vals:
        return math.nan
    return math.exp(sum(math.log(v) for v in vals) / len(vals))


def sweep_summary(rows: Sequence[dict]) -> list[dict]:
    """MAMF-style summary of matmul shape sweeps: rows sharing dtype, n and k over at least three values
    of m form a sweep; report its best shape and the geometric mean of throughput across it."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        if r.get("benchmark") == "matmul" and r.get("status") == "ok":
            groups.setdefault((r.get("device_name"), r["dtype"], r["n"], r["k"]), []).append(r)
    out = []
    for (device, dtype, n, k), members in groups.items():
        if len({r["m"] for r in members}) < 3:
            continue
        best = max(members, key=lambda r: r["throughput"])
        out.append({
            "device_name": device, "dtype": dtype, "n": n, "k": k, "shapes": len(members),
            "best_throughput": best["throughput"], "best_m": best["m"], "unit": best["throughput_unit"],
            "geomean_throughput": geomean([r["throughput"] for r in members]),
        })  # fmt: skip
    return out


ENERGY_UNITS = {"flop": "J/TFLOP", "op": "J/TOP", "byte": "J/GB", "byte_rw": "J/GB", "sample": "J/sample",
                "token": "J/token"}  # fmt: skip


def add_efficiency_columns(row: dict[str, Any]) -> None:
    """J per unit of work and throughput per watt, from a row's throughput and measured average power."""
    power, throughput = to_float(row.get("avg_power_w")), to_float(row.get("throughput"))
    if power > 0 and throughput > 0 and row.get("work_unit") in ENERGY_UNITS:  # NaN compares False
        # J per unit of work = W / (units per second), in the throughput column's units.
        row["energy_per_work"] = power / throughput
        row["energy_per_work_unit"] = ENERGY_UNITS[row["work_unit"]]
        row["throughput_per_watt"] = throughput / power
        row["throughput_per_watt_unit"] = f"{WORK_UNITS[row['work_unit']][1]}/W"
        # The share above idle: what the work itself cost, not the machine being switched on.
        total, above = to_float(row.get("energy_j")), to_float(row.get("energy_above_idle_j"))
        if total > 0 and math.isfinite(above):
            row["energy_above_idle_per_work"] = row["energy_per_work"] * above / total


def per_sequence_columns(row: dict[str, Any]) -> None:
    """Token rows of batched generation: speed one sequence (one user) sees, and ms per generated token."""
    if row.get("benchmark") != "llm_decode" or not to_float(row.get("median_s")) > 0:
        return
    row["tokens_per_s_per_seq"] = 1.0 / row["median_s"]
    row["ms_per_token"] = 1e3 * row["median_s"]


def copy_bandwidth(rows: Sequence[dict[str, Any]]) -> float | None:
    """The run's measured device-copy bandwidth: the ok `memory` d2d row with the largest buffer (beyond the
    caches), in GB/s counting read + write. None when the run has none."""
    copies = [r for r in rows if r.get("benchmark") == "memory" and r.get("kind") == "d2d"
              and r.get("status") == "ok" and to_float(r.get("throughput")) > 0]  # fmt: skip
    return max(copies, key=lambda r: r.get("size_bytes") or 0)["throughput"] if copies else None


def relate_rows(rows: Sequence[dict[str, Any]]) -> None:
    """Columns that relate a row to others of the same run (in place): `pct_of_copy_bw` (achieved GB/s over
    the run's measured copy bandwidth) and `speedup_vs_eager` (compile = true row vs its eager twin)."""
    copy = copy_bandwidth(rows)
    eager = {r["case_id"]: r for r in rows if r.get("compile") in (False,) and r.get("status") == "ok"}
    for r in rows:
        if copy and to_float(r.get("achieved_gbps")) > 0:
            r["copy_bandwidth_gbps"] = copy
            r["pct_of_copy_bw"] = 100.0 * r["achieved_gbps"] / copy
        if r.get("compile") in (True,) and r.get("status") == "ok":
            twin = eager.get(str(r["case_id"]).replace("compile=true", "compile=false"))
            if twin is not None and to_float(r.get("median_s")) > 0:
                r["speedup_vs_eager"] = twin["median_s"] / r["median_s"]
