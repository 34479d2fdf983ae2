"""Compare runs case by case: throughput ratio B/A with a confidence interval over the repeats (rounds of each
run, and runs of each side), and a verdict that can gate a driver or software update in CI.

The interval is `gpubench.stats.rows_ratio_interval`: each round of a case is summarised by its median step
time, and the noise comes from the spread between rounds (one run per side) or between runs (several runs per
side: `compare_runs([a1, a2], [b1, b2])`), never from the jitter of the steps of one stretch of time alone,
which calls identical code faster or slower on a shared machine. A case measured in one round on either side
gives "not enough repeats to tell".
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from gpubench.errors import GpubenchError
from gpubench.stats import geomean, rows_ratio_interval, rows_throughput_interval, to_float
from gpubench.store import load_runs, read_meta

FASTER, SLOWER = "faster", "slower"
WITHIN = "within threshold"  # the interval excludes 1 but the change is smaller than the threshold
SAME = "no significant difference"  # the interval includes 1
FEW = "not enough repeats to tell"  # one round of one run on a side: no estimate of the noise
NOT_COMPARABLE = "not comparable"
BROKEN_PREFIX = "now "  # "now failed" / "now wrong": ok in A, not in B

COLUMNS = (
    "case_id",
    "benchmark",
    "unit",
    "a",
    "b",
    "ratio",
    "ci_low",
    "ci_high",
    "a_reps",
    "b_reps",
    "a_cov",
    "b_cov",
    "a_runs",
    "b_runs",
    "a_rounds",
    "b_rounds",
    "a_sem",
    "b_sem",
    "noise_from",
    "verdict",
    "note",
)
"""Columns of the frame `compare_runs` returns. `*_reps`: timed steps (all runs); `*_cov`: step CoV (mean over
runs); `*_runs`, `*_rounds`: repeats; `*_sem`: relative standard error of the side's typical time (from its
rounds or runs); `noise_from`: the levels the interval's noise came from ("rounds", "runs", "rounds/runs")."""

Dirs = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


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


def _true(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_)) and bool(value)


def _status(row: dict[str, Any]) -> str:
    return str(row.get("status"))


def _folders(dirs: Dirs, side: str) -> list[str | os.PathLike[str]]:
    folders = [dirs] if isinstance(dirs, (str, os.PathLike)) else list(dirs)
    if not folders:
        raise GpubenchError(f"side {side} has no run folder")
    return folders


def _side(
    folders: list[str | os.PathLike[str]],
) -> tuple[list[dict[str, Any]], list[pd.DataFrame], list[str]]:
    metas, frames = [], []
    for folder in folders:
        meta, rows = _run_rows(folder)
        metas.append(meta)
        frames.append(rows)
    ids = list(dict.fromkeys(c for f in frames for c in f.index))
    return metas, frames, ids


def _mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan


def _case_row(
    case_id: str, rows_a: list[dict[str, Any]], rows_b: list[dict[str, Any]], threshold_pct: float, confidence: float
) -> dict[str, Any] | None:
    """The comparison of one case, each side given as its rows (one per run that has the case)."""
    ok_a = [r for r in rows_a if _status(r) == "ok"]
    ok_b = [r for r in rows_b if _status(r) == "ok"]
    broken_b = [r for r in rows_b if _status(r) in ("failed", "wrong")]
    if not ok_a:
        return None
    first = ok_a[0]
    base: dict[str, Any] = {
        "case_id": case_id,
        "benchmark": first.get("benchmark"),
        "unit": first.get("throughput_unit"),
        "a": geomean([to_float(r.get("throughput")) for r in ok_a]),
        "b": geomean([to_float(r.get("throughput")) for r in ok_b]),
        "a_reps": sum(to_float(r.get("n_reps")) for r in ok_a),
        "b_reps": sum(to_float(r.get("n_reps")) for r in ok_b),
        "a_cov": _mean([to_float(r.get("cov")) for r in ok_a]),
        "b_cov": _mean([to_float(r.get("cov")) for r in ok_b]),
        "a_runs": len(ok_a),
        "b_runs": len(ok_b),
        "ratio": math.nan,
        "ci_low": math.nan,
        "ci_high": math.nan,
        "a_rounds": math.nan,
        "b_rounds": math.nan,
        "a_sem": math.nan,
        "b_sem": math.nan,
        "noise_from": "",
        "note": "",
    }
    if broken_b:
        reason = broken_b[0].get("reason")
        return {
            **base,
            "verdict": BROKEN_PREFIX + _status(broken_b[0]),
            "note": reason if isinstance(reason, str) else "",
        }
    if not ok_b:
        return None
    versions = {v for v in (to_float(r.get("benchmark_version")) for r in ok_a + ok_b) if math.isfinite(v)}
    if len(versions) > 1:
        return {
            **base,
            "verdict": NOT_COMPARABLE,
            "note": "benchmark method versions " + " vs ".join(str(int(v)) for v in sorted(versions)),
        }
    iv = rows_ratio_interval(ok_a, ok_b, confidence)
    a_thr, b_thr = rows_throughput_interval(ok_a)[0], rows_throughput_interval(ok_b)[0]
    ratio = iv.ratio
    if not math.isfinite(ratio) and math.isfinite(base["a"]) and math.isfinite(base["b"]) and base["a"] > 0:
        ratio = base["b"] / base["a"]  # no raw times stored: the point estimate still says something
    levels = "/".join(dict.fromkeys(lv for lv in (iv.a.level, iv.b.level) if lv))
    notes = []
    if _true(first.get("noisy")) or any(_true(r.get("noisy")) for r in ok_a[1:] + ok_b):
        notes.append("noisy")
    if not iv.known and math.isfinite(ratio):
        notes.append("one round per run: re-run with --rounds 3, or compare several runs")
    return {
        **base,
        "a": a_thr if math.isfinite(a_thr) else base["a"],
        "b": b_thr if math.isfinite(b_thr) else base["b"],
        "ratio": ratio,
        "ci_low": iv.low,
        "ci_high": iv.high,
        "a_rounds": iv.a.rounds,
        "b_rounds": iv.b.rounds,
        "a_sem": math.sqrt(iv.a.var) if iv.a.level else math.nan,
        "b_sem": math.sqrt(iv.b.var) if iv.b.level else math.nan,
        "noise_from": levels,
        "verdict": verdict(ratio, iv.low, iv.high, threshold_pct),
        "note": "; ".join(notes),
    }


def compare_runs(a_dirs: Dirs, b_dirs: Dirs, threshold_pct: float = 5.0, confidence: float = 0.95) -> pd.DataFrame:
    """Case-by-case comparison of side B against side A; each side is one run folder or several (repeats of the
    same experiment, e.g. `gpubench run` twice before and twice after a driver update).

    One row per case that is ok in both sides (columns in `COLUMNS`): throughputs, ratio B/A, its interval over
    rounds and runs (`gpubench.stats.rows_ratio_interval`) and a verdict; plus a row per case that was ok in A
    and failed or was wrong in a run of B (verdict 'now failed' / 'now wrong'). `attrs` holds run ids,
    devices, settings, the cases found in only one side and environment differences (torch/CUDA version,
    power limit, ...). See `regressions()` for the gate.
    """
    if not (0.0 <= threshold_pct < 100.0):
        raise GpubenchError(f"--threshold {threshold_pct}: must be a percentage in [0, 100)")
    if not (0.5 <= confidence < 1.0):
        raise GpubenchError(f"confidence {confidence}: must be in [0.5, 1)")
    folders_a, folders_b = _folders(a_dirs, "A"), _folders(b_dirs, "B")
    metas_a, frames_a, ids_a = _side(folders_a)
    metas_b, frames_b, ids_b = _side(folders_b)
    in_b = set(ids_b)
    out = []
    for case_id in (c for c in ids_a if c in in_b):
        rows_a = [f.loc[case_id].to_dict() for f in frames_a if case_id in f.index]
        rows_b = [f.loc[case_id].to_dict() for f in frames_b if case_id in f.index]
        row = _case_row(case_id, rows_a, rows_b, threshold_pct, confidence)
        if row is not None:
            out.append(row)
    frame = pd.DataFrame(out, columns=list(COLUMNS))
    in_a = set(ids_a)
    frame.attrs.update(
        a_run_id=" + ".join(str(m.get("run_id")) for m in metas_a),
        b_run_id=" + ".join(str(m.get("run_id")) for m in metas_b),
        a_run_ids=[m.get("run_id") for m in metas_a],
        b_run_ids=[m.get("run_id") for m in metas_b],
        a_device=(metas_a[0].get("device") or {}).get("name"),
        b_device=(metas_b[0].get("device") or {}).get("name"),
        threshold_pct=threshold_pct,
        confidence=confidence,
        only_in_a=[c for c in ids_a if c not in in_b],
        only_in_b=[c for c in ids_b if c not in in_a],
        differences=_differences(folders_a + folders_b, metas_a + metas_b, frames_a + frames_b),
        common_shift=common_shift(frame, threshold_pct),
    )
    return frame


def common_shift(frame: pd.DataFrame, threshold_pct: float) -> float:
    """The median ratio B/A when (nearly) every case moved the same way by more than the threshold, else NaN.

    Other load on the machine, another clock or power state, or a change that slows everything (a driver)
    moves every case together; with one run per side these look alike, and only repeated runs tell them apart.
    """
    ratios = pd.to_numeric(frame["ratio"], errors="coerce") if "ratio" in frame else pd.Series(dtype=float)
    logs = np.log(ratios[(ratios > 0) & np.isfinite(ratios)])
    if len(logs) < 3:
        return math.nan
    median, t = float(np.median(logs)), math.log1p(threshold_pct / 100.0)
    same_way = float((np.sign(logs) == np.sign(median)).mean())
    return math.exp(median) if abs(median) > t and same_way >= 0.8 else math.nan


def regressions(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows that should fail a CI gate: significantly slower beyond the threshold, or broken in B."""
    v = frame["verdict"].astype(str)
    return frame[(v == SLOWER) | v.str.startswith(BROKEN_PREFIX)]


def _differences(folders: list[Any], metas: list[dict[str, Any]], frames: list[pd.DataFrame]) -> list[str]:
    from gpubench.report.data import ReportData, environment_differences, make_series

    series = make_series(metas, folders)  # labels unique even for one device on one host
    runs = pd.concat([f.reset_index(drop=True) for f in frames], ignore_index=True, sort=False)
    data = ReportData(runs=runs, telemetry=pd.DataFrame(), series=series, baseline=series[0])
    return [d.message for d in environment_differences(data)]
