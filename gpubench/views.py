"""Views of loaded runs for people and notebooks: `load_runs(paths, view=...)` (gpubench.store) ends here.

`view="all"` (the default): every column, typed for analysis: the times (`started_utc`, `run_started_utc`,
`run_finished_utc`) as UTC timestamps, and one `precision` column for every benchmark (matmul, memory_stride,
sustained and collective name theirs `dtype`, a parameter that stays as it is, since it is part of the case id).

`view="headline"`: the tidy view, one row per case of every run with one figure each (see HEADLINE_COLUMNS);
each benchmark's spec says which figure is its headline, which direction is better, and which workload the row
measures (gpubench.benchmarks.catalog), so a toy model is never mistaken for the real one. Pandas and the
standard library only: no torch.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from gpubench.errors import GpubenchError

VIEWS = ("all", "headline")

DATETIME_COLUMNS = ("started_utc", "run_started_utc", "run_finished_utc")
"""Columns stored as ISO 8601 text (`2026-12-06T12:09:27Z`) that load as timezone-aware UTC timestamps."""

HEADLINE_COLUMNS: dict[str, str] = {
    "run_id": "the run (its folder name)",
    "run_started_utc": "when the run started (UTC timestamp)",
    "device_name": "the device measured",
    "host": "the machine",
    "case_id": "the case: benchmark and parameters, e.g. matmul[dtype=bf16,m=256,n=256,k=256]",
    "benchmark": "matmul, memory, train, infer, llm_decode ...",
    "precision": "fp32, bf16, amp_bf16, int8 ... (a matmul's dtype); empty where a benchmark has none",
    "workload": "workload key the model and advisor join on (matmul/bf16, gpt2[layers=2,width=64]/fp32, ...); "
    "empty where the benchmark names none",
    "workload_label": "the workload for people (ResNet-50, gpt2 · 2 layers · width 64 · 0.14 M params)",
    "reference_size": "True when the row's sizes are the workload's own (a full-size model), False for a toy or "
    "resized shape, empty where unknown",
    "metric": "the column the value comes from (throughput unless the spec says otherwise)",
    "value": "the headline figure (median over the case's steps and rounds)",
    "unit": "its unit (TFLOP/s, GB/s (read+write), samples/s, tokens/s, ...)",
    "better": "higher or lower",
    "low": "p10 of the figure over the timed steps (NaN without one)",
    "high": "p90 of the figure over the timed steps (NaN without one)",
    "status": "ok, skipped, failed or wrong (value is NaN unless ok or wrong)",
    "emulated": "True when the device only emulates the precision in software (the figure is the fallback's)",
}
"""The columns of `load_runs(paths, view="headline")` and what each holds."""


def select(frame: pd.DataFrame, view: str = "all") -> pd.DataFrame:
    """The view `view` names of a frame that `load_runs` built; GpubenchError for an unknown view."""
    if view not in VIEWS:
        raise GpubenchError(f"load_runs view={view!r}: use one of {', '.join(VIEWS)}")
    frame = typed(frame)
    return headline(frame) if view == "headline" else frame


def typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Timestamps as UTC datetimes and one `precision` column (from `dtype` where a benchmark names it so)."""
    if frame.empty and not len(frame.columns):
        return frame
    out = frame.copy(deep=False)
    for col in DATETIME_COLUMNS:
        if col in out and not pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = pd.to_datetime(out[col], utc=True, errors="coerce", format="ISO8601")
    if "dtype" in out:
        precision = out["precision"] if "precision" in out else pd.Series(None, index=out.index, dtype=object)
        out["precision"] = precision.astype(object).where(precision.notna(), out["dtype"].astype(object))
    return out


_ROW_COLUMNS = (
    *("run_id", "run_started_utc", "device_name", "host", "case_id", "benchmark", "precision", "status", "emulated"),
    *("throughput", "throughput_unit", "throughput_p10", "throughput_p90"),
)  # what a headline row reads besides its spec's parameters and figures


def headline(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per case of every run with its headline figure (HEADLINE_COLUMNS), from the benchmarks' specs."""
    from gpubench.benchmarks import catalog

    # Only the columns a headline reads (the specs' parameters and headline figures): a thousand runs are tens of
    # thousands of rows of some 170 columns.
    wanted = dict.fromkeys(_ROW_COLUMNS)
    for name in frame["benchmark"].dropna().unique() if "benchmark" in frame else ():
        spec = catalog.find(name)
        if spec is not None:
            h = spec.headline
            wanted.update(dict.fromkeys((*spec.params, h.metric, f"{h.metric}_p10", f"{h.metric}_p90", h.unit_column)))
    records = []
    for row in _records(frame, [c for c in wanted if c in frame.columns]):
        spec = catalog.find(row.get("benchmark"))
        records.append(_headline_row(row, spec))
    return pd.DataFrame(records, columns=list(HEADLINE_COLUMNS))


def _records(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    """frame[columns].to_dict(orient="records"), column by column: the same Python values (numbers as Python
    numbers, a missing value of a nullable column as None) without pandas' per-row work."""
    values = []
    for col in columns:
        series = frame[col]
        items = series.tolist()
        if series.dtype == object or isinstance(series.dtype, pd.api.extensions.ExtensionDtype):
            items = [_native(v) for v in items]
        values.append(items)
    return [dict(zip(columns, row, strict=True)) for row in zip(*values, strict=True)] if columns else []


def _native(value: Any) -> Any:
    if value is pd.NA:
        return None
    if isinstance(value, (np.datetime64, np.timedelta64)):
        return pd.Timestamp(value) if isinstance(value, np.datetime64) else pd.Timedelta(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def _headline_row(row: dict[str, Any], spec: Any) -> dict[str, Any]:
    metric, unit, better = "throughput", _text(row.get("throughput_unit")), "higher"
    ref = None
    if spec is not None:
        h = spec.headline
        metric, better = h.metric, h.better
        unit = h.unit or _text(row.get(h.unit_column))
        ref = spec.identify(row)
    value = _number(row.get(metric))
    low, high = _number(row.get(f"{metric}_p10")), _number(row.get(f"{metric}_p90"))
    if better == "lower" and math.isfinite(low) and math.isfinite(high):
        low, high = min(low, high), max(low, high)
    measured = row.get("status") in ("ok", "wrong")
    emulated = row.get("emulated")
    return {
        "run_id": row.get("run_id"),
        "run_started_utc": row.get("run_started_utc"),
        "device_name": row.get("device_name"),
        "host": row.get("host"),
        "case_id": row.get("case_id"),
        "benchmark": row.get("benchmark"),
        "precision": (ref.precision if ref is not None else None) or _text(row.get("precision")),
        "workload": ref.key if ref is not None else None,
        "workload_label": ref.label if ref is not None else None,
        "reference_size": ref.reference if ref is not None else None,
        "metric": metric,
        "value": value if measured else math.nan,
        "unit": unit,
        "better": better,
        "low": low if measured else math.nan,
        "high": high if measured else math.nan,
        "status": row.get("status"),
        "emulated": str(emulated) == "True",  # bool, numpy bool or pandas' nullable boolean
    }


def _number(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out if math.isfinite(out) else math.nan


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return str(value) or None
