"""Table cells and row selections every section shares: a run's colour swatch, a case name, the rows of
one benchmark. Sections import these (and the blocks); nothing here imports a section."""

from __future__ import annotations

from typing import Any

import pandas as pd

from gpubench.benchmarks.catalog import all_specs
from gpubench.frame import frame_rows
from gpubench.report import figures as F
from gpubench.report.blocks import Cell
from gpubench.report.data import ReportData
from gpubench.report.workloads import benchmarks_with_role, workload_ref


def swatch(data: ReportData, run_id: str) -> Cell:
    """A run's label with its colour swatch (the run id on hover)."""
    s = data.by_run[run_id]
    return Cell(s.label, color=s.color, title=s.run_id)


def rows_of(data: ReportData, benchmark: str, frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """The ok rows (or rows of `frame`) of one benchmark."""
    rows = data.ok if frame is None else frame
    if "benchmark" not in rows:
        return rows.iloc[0:0]
    return rows[rows["benchmark"].astype("string") == benchmark]


def _benchmarks(data: ReportData) -> pd.Series:
    ok = data.ok
    return ok["benchmark"].astype(str) if "benchmark" in ok else pd.Series("", index=ok.index, dtype=object)


def rows_in_section(data: ReportData, section: str, frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """The ok rows (or rows of `frame`) of the benchmarks whose spec says they belong to `section` ("llm",
    "topics.stride" ...: `BenchmarkSpec.section`)."""
    rows = data.ok if frame is None else frame
    if "benchmark" not in rows:
        return rows.iloc[0:0]
    names = [s.name for s in all_specs() if s.section == section]
    return rows[rows["benchmark"].astype("string").isin(names)]


def rows_with_role(data: ReportData, role: str) -> pd.DataFrame:
    """The ok rows of the benchmark that plays `role` for the model ("compute_anchor": matrix math,
    "memory_anchor": memory bandwidth)."""
    return data.ok[_benchmarks(data).isin(benchmarks_with_role(role))]


def rows_tagged(data: ReportData, tag: str, without: tuple[str, ...] = ()) -> pd.DataFrame:
    """The ok rows of benchmarks whose spec carries `tag` and none of `without` ("model", "llm", ...)."""
    names = [s.name for s in all_specs() if tag in s.tags and not set(without) & set(s.tags)]
    return data.ok[_benchmarks(data).isin(names)]


def rows_of_family(data: ReportData, *families: str) -> pd.DataFrame:
    """The ok rows whose workload (their spec's identity) is of one of `families` (the spec's FAMILIES:
    "training", "inference", "llm_decode", "attention" ...)."""
    if "family" not in data.memo:
        data.memo["family"] = pd.Series(
            [getattr(workload_ref(r), "family", None) for r in frame_rows(data.ok)],
            index=data.ok.index,
            dtype=object,
        )
    return data.ok[data.memo["family"].isin(families)]


def case_cell(case_id: Any, cls: str = "") -> Cell:
    """A case name, shortened when long (the full name on hover)."""
    text = str(case_id)
    short = F.short_case(text)
    return Cell(short, cls=(cls + " case").strip(), title=text if short != text else "")


__all__ = ["case_cell", "rows_in_section", "rows_of", "rows_of_family", "rows_tagged", "rows_with_role", "swatch"]
