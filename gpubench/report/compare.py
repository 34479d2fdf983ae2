"""Compare two runs case by case: throughput ratio B/A with a bootstrap confidence interval over the raw
step times, and a verdict that can gate a driver or software update in CI.

The interval resamples each run's raw `times_s` with replacement (independently for A and B) and takes
the ratio of medians, the statistic throughput is computed from. A fixed seed makes the verdict
reproducible: the same two folders always give the same answer.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import pandas as pd

from gpubench.errors import GpubenchError
from gpubench.stats import to_float
from gpubench.store import load_runs, read_meta

FASTER, SLOWER = "faster", "slower"
WITHIN = "within threshold"  # the interval excludes 1 but the change is smaller than the threshold
SAME = "no significant difference"  # the interval includes 1
FEW = "too few repetitions"
NOT_COMPARABLE = "not comparable"
BROKEN_PREFIX = "now "  # "now failed" / "now wrong": ok in A, not in B

COLUMNS = ("case_id", "benchmark", "unit", "a", "b", "ratio", "ci_low", "ci_high", "a_reps", "b_reps", "a_cov",
           "b_cov", "verdict", "note")  # fmt: skip
"""Columns of the frame `compare_runs` returns."""

_CHUNK_ELEMENTS = 4_000_000  # resampled values held at once (32 MB of float64)


def _median_resamples(times: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Medians of `resamples` bootstrap resamples of `times` (with replacement, same size)."""
    n = len(times)
    out = np.empty(resamples)
    step = max(1, _CHUNK_ELEMENTS // max(1, n))
    for lo in range(0, resamples, step):
        hi = min(resamples, lo + step)
        idx = rng.integers(0, n, size=(hi - lo, n))
        out[lo:hi] = np.median(times[idx], axis=1)
    return out


def bootstrap_ratio_ci(
    times_a: Any,
    times_b: Any,
    work_ratio: float = 1.0,
    resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """(ratio, low, high): throughput ratio B/A = work_ratio * median(A) / median(B) and its percentile
    bootstrap interval. `work_ratio` is work per step of B over A (1 for the same case)."""
    a = np.asarray(times_a, dtype=float)
    b = np.asarray(times_b, dtype=float)
    a, b = a[np.isfinite(a) & (a > 0)], b[np.isfinite(b) & (b > 0)]
    if len(a) == 0 or len(b) == 0:
        return math.nan, math.nan, math.nan
    ratio = work_ratio * float(np.median(a)) / float(np.median(b))
    if len(a) < 2 or len(b) < 2:
        return ratio, math.nan, math.nan
    rng = np.random.default_rng(seed)
    boot = work_ratio * _median_resamples(a, resamples, rng) / _median_resamples(b, resamples, rng)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(boot, [alpha, 1.0 - alpha])
    return ratio, float(low), float(high)


def verdict(ratio: float, low: float, high: float, threshold_pct: float) -> str:
    """faster / slower when the whole interval lies beyond the threshold; otherwise whether it excludes 1."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return FEW
    t = threshold_pct / 100.0
    if high < 1.0 - t:
        return SLOWER
    if low > 1.0 + t:
        return FASTER
    if low > 1.0 or high < 1.0:
        return WITHIN
    return SAME


def _run_rows(folder: str | os.PathLike[str]) -> tuple[dict[str, Any], pd.DataFrame]:
    meta = read_meta(folder)  # a single run folder, not a folder of runs: refuse the latter clearly
    rows = load_runs([folder])
    if "case_id" not in rows:
        rows["case_id"] = pd.Series(dtype=object)
    return meta, rows.drop_duplicates("case_id", keep="last").set_index("case_id", drop=False)


def _times(value: Any) -> np.ndarray:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return np.empty(0)
    return np.asarray(list(value), dtype=float)


def _true(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_)) and bool(value)


def _num(row: pd.Series, col: str) -> float:
    return to_float(row.get(col) if col in row.index else None)


def compare_runs(
    a_dir: str | os.PathLike[str],
    b_dir: str | os.PathLike[str],
    threshold_pct: float = 5.0,
    resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Case-by-case comparison of run B against run A (both single run folders).

    One row per case that is ok in both runs (columns in `COLUMNS`): throughputs, ratio B/A, its bootstrap
    interval and a verdict; plus a row per case that was ok in A and failed or was wrong in B (verdict
    'now failed' / 'now wrong'). `attrs` holds run ids, devices, settings, the cases found in only one run
    and environment differences (torch/CUDA version, power limit, ...). See `regressions()` for the gate.
    """
    if not (0.0 <= threshold_pct < 100.0):
        raise GpubenchError(f"--threshold {threshold_pct}: must be a percentage in [0, 100)")
    if not (0.5 <= confidence < 1.0):
        raise GpubenchError(f"confidence {confidence}: must be in [0.5, 1)")
    if resamples < 100:
        raise GpubenchError(f"resamples {resamples}: use at least 100")
    meta_a, rows_a = _run_rows(a_dir)
    meta_b, rows_b = _run_rows(b_dir)
    ids_a, ids_b = list(rows_a.index), set(rows_b.index)
    common = [c for c in ids_a if c in ids_b]
    out: list[dict[str, Any]] = []
    for case_id in common:
        ra, rb = rows_a.loc[case_id], rows_b.loc[case_id]
        sa, sb = str(ra.get("status")), str(rb.get("status"))
        base = {"case_id": case_id, "benchmark": ra.get("benchmark"), "unit": ra.get("throughput_unit"),
                "a": _num(ra, "throughput"), "b": _num(rb, "throughput"), "a_reps": _num(ra, "n_reps"),
                "b_reps": _num(rb, "n_reps"), "a_cov": _num(ra, "cov"), "b_cov": _num(rb, "cov"), "note": ""}  # fmt: skip
        if sa != "ok":
            continue
        if sb in ("failed", "wrong"):
            reason = rb.get("reason")
            out.append({**base, "ratio": math.nan, "ci_low": math.nan, "ci_high": math.nan,
                        "verdict": BROKEN_PREFIX + sb, "note": "" if reason is None else str(reason)})  # fmt: skip
            continue
        if sb != "ok":
            continue
        va, vb = _num(ra, "benchmark_version"), _num(rb, "benchmark_version")
        if math.isfinite(va) and math.isfinite(vb) and va != vb:
            out.append({**base, "ratio": math.nan, "ci_low": math.nan, "ci_high": math.nan, "verdict": NOT_COMPARABLE,
                        "note": f"benchmark method version {int(va)} vs {int(vb)}"})  # fmt: skip
            continue
        wa, wb = _num(ra, "work_per_step"), _num(rb, "work_per_step")
        work_ratio = wb / wa if math.isfinite(wa) and math.isfinite(wb) and wa > 0 else 1.0
        ratio, low, high = bootstrap_ratio_ci(_times(ra.get("times_s")), _times(rb.get("times_s")), work_ratio,
                                              resamples, confidence, seed)  # fmt: skip
        if (
            not math.isfinite(ratio)
            and math.isfinite(base["a"])
            and math.isfinite(base["b"])
            and base["a"] > 0
        ):
            ratio = base["b"] / base["a"]  # no raw times stored: the point estimate still says something
        note = "noisy" if _true(ra.get("noisy")) or _true(rb.get("noisy")) else ""
        out.append({**base, "ratio": ratio, "ci_low": low, "ci_high": high,
                    "verdict": verdict(ratio, low, high, threshold_pct), "note": note})  # fmt: skip
    frame = pd.DataFrame(out, columns=list(COLUMNS))
    frame.attrs.update(
        a_run_id=meta_a.get("run_id"), b_run_id=meta_b.get("run_id"),
        a_device=(meta_a.get("device") or {}).get("name"), b_device=(meta_b.get("device") or {}).get("name"),
        threshold_pct=threshold_pct, confidence=confidence, resamples=resamples, seed=seed,
        only_in_a=[c for c in ids_a if c not in ids_b], only_in_b=[c for c in rows_b.index if c not in set(ids_a)],
        differences=_differences(a_dir, b_dir, meta_a, meta_b, rows_a, rows_b),
    )  # fmt: skip
    return frame


def regressions(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows that should fail a CI gate: significantly slower beyond the threshold, or broken in B."""
    v = frame["verdict"].astype(str)
    return frame[(v == SLOWER) | v.str.startswith(BROKEN_PREFIX)]


def _differences(a_dir: Any, b_dir: Any, meta_a: dict[str, Any], meta_b: dict[str, Any], rows_a: pd.DataFrame,
                 rows_b: pd.DataFrame) -> list[str]:  # fmt: skip
    from gpubench.report.data import ReportData, environment_differences, make_series

    series = make_series([meta_a, meta_b], [a_dir, b_dir])  # labels unique even for one device on one host
    runs = pd.concat(
        [rows_a.reset_index(drop=True), rows_b.reset_index(drop=True)], ignore_index=True, sort=False
    )
    data = ReportData(runs=runs, telemetry=pd.DataFrame(), series=series, baseline=series[0])
    return [d.message for d in environment_differences(data)]
