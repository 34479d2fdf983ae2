"""One field list for every case of every run, driving every output format (llama-bench's printers): the
HTML report's "Every case" table, `gpubench report --format csv|json` and the Markdown summary's case table.
A new benchmark shows in all of them the moment it writes rows, before it has a section of its own; a new
field is one more `Field` here.

Machine-readable formats (CSV, JSON) carry raw values under stable English names in the C locale; the HTML
and Markdown tables write numbers and headers in the report's language.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from gpubench.frame import frame_rows
from gpubench.output import csv_writer
from gpubench.report.data import ReportData, is_num
from gpubench.report.i18n import Messages
from gpubench.report.workloads import headline_of, workload_ref


@dataclass(frozen=True)
class Field:
    """One column of the case table. `name` is its CSV header and JSON key; `kind` says how people read it
    ("text", "num": a measured number, "int": a count, "flag": true/false); `get` reads it from a case."""

    name: str
    kind: str
    get: Callable[[dict[str, Any]], Any]


def _value(row: dict[str, Any], key: str) -> Any:
    value = row.get(key)
    if value is None or value is pd.NA or value == "" or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


FIELDS: tuple[Field, ...] = (
    Field("series", "text", lambda r: r["_series"]),
    Field("device", "text", lambda r: r["_device"]),
    Field("benchmark", "text", lambda r: _value(r, "benchmark")),
    Field("workload", "text", lambda r: r["_workload"]),
    Field("precision", "text", lambda r: _value(r, "precision") or _value(r, "dtype")),
    Field("status", "text", lambda r: _value(r, "status")),
    Field("noisy", "flag", lambda r: bool(r.get("noisy") is True)),
    Field("metric", "text", lambda r: r["_metric"]),
    Field("value", "num", lambda r: r["_value"]),
    Field("unit", "text", lambda r: r["_unit"]),
    Field("better", "text", lambda r: r["_better"]),
    Field("median_s", "num", lambda r: _value(r, "median_s")),
    Field("steps", "int", lambda r: _value(r, "n_reps")),
    Field("runs", "int", lambda r: _value(r, "n_runs") or 1),
    Field("reason", "text", lambda r: _value(r, "reason")),
    Field("case_id", "text", lambda r: _value(r, "case_id")),
    Field("run_id", "text", lambda r: _value(r, "run_id")),
)
"""Every format's columns, in order."""


def case_records(data: ReportData, fields: Sequence[Field] = FIELDS) -> list[dict[str, Any]]:
    """Every case of every shown series (a pooled fleet series: its medians), as raw values per field."""
    runs = data.runs
    if runs.empty:
        return []
    out = []
    for row in frame_rows(runs):
        s = data.by_run.get(str(row.get("run_id")))
        if s is None:
            continue
        bench = str(row.get("benchmark") or "")
        head = headline_of(bench)
        ref = workload_ref(row)
        value = row.get(head.metric) if row.get("status") == "ok" else None
        unit = head.unit or (row.get(head.unit_column) if head.unit_column else None)
        row.update(
            _series=s.label,
            _device=s.device_name,
            _workload=ref.label if ref is not None else None,
            _metric=head.metric,
            _value=float(value) if is_num(value) else None,
            _unit=str(unit) if isinstance(unit, str) else None,
            _better=head.better,
        )
        out.append({f.name: f.get(row) for f in fields})
    return out


def to_csv(records: list[dict[str, Any]], fields: Sequence[Field] = FIELDS) -> str:
    """CSV with stable English headers and C-locale numbers (repr precision), empty for missing."""
    buf = io.StringIO()
    writer = csv_writer(buf, lineterminator="\n")  # every cell neutralised: no formula, no control character
    writer.writerow([f.name for f in fields])
    for r in records:
        writer.writerow(["" if r[f.name] is None else _c_locale(r[f.name], f.kind) for f in fields])
    return buf.getvalue()


def _c_locale(value: Any, kind: str) -> Any:
    if kind == "num" and is_num(value):
        return f"{float(value):.6g}"
    if kind == "int" and is_num(value):
        return int(value)
    return value


def to_json(records: list[dict[str, Any]], fields: Sequence[Field] = FIELDS) -> str:
    """A JSON array of objects keyed by field name (numbers as numbers, missing as null)."""
    clean = [{f.name: _json_value(r[f.name], f.kind) for f in fields} for r in records]
    return json.dumps({"fields": [f.name for f in fields], "cases": clean}, indent=1, ensure_ascii=False) + "\n"


def _json_value(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "num":
        return float(value) if is_num(value) else None
    if kind == "int":
        return int(value) if is_num(value) else None
    return value if isinstance(value, (str, bool, int, float)) else str(value)


def display_value(msg: Messages, value: Any, field: Field) -> str:
    """A field's value for people, in the report's language."""
    if value is None:
        return "–"
    if field.name == "status":
        return msg(f"status.{value}", default=str(value))
    if field.name == "better":
        return msg(f"cases.better.{value}", default=str(value))
    if field.kind == "flag":
        return msg("cases.yes") if value else ""
    if field.name == "unit":
        return msg.unit(str(value))
    if field.kind == "num":
        return msg.num(value)
    if field.kind == "int":
        return msg.fixed(value, 0)
    return str(value)


DISPLAY = ("series", "benchmark", "workload", "precision", "status", "value", "unit", "steps", "runs", "case_id")
"""The fields the HTML and Markdown tables show (the rest are in CSV and JSON)."""


def display_fields() -> list[Field]:
    return [f for f in FIELDS if f.name in DISPLAY]


__all__ = ["DISPLAY", "FIELDS", "Field", "case_records", "display_fields", "display_value", "to_csv", "to_json"]
