"""Table cells and row selections every section shares: a run's colour swatch, a case name, the rows of
one benchmark. Sections import these (and the blocks); nothing here imports a section."""

from __future__ import annotations

from typing import Any

import pandas as pd

from gpubench.report import figures as F
from gpubench.report.blocks import Cell
from gpubench.report.data import ReportData


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


def case_cell(case_id: Any, cls: str = "") -> Cell:
    """A case name, shortened when long (the full name on hover)."""
    text = str(case_id)
    short = F.short_case(text)
    return Cell(short, cls=(cls + " case").strip(), title=text if short != text else "")


__all__ = ["case_cell", "rows_of", "swatch"]
