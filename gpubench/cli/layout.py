"""Fitting terminal tables to the width there is: case ids folded at their commas, a cap on table width."""

from __future__ import annotations

import math
from typing import Any

MAX_TABLE_WIDTH = 100
"""Tables never grow wider than this, even when the output is a file or a CI log with no width of its own."""


def table_width(console_width: int) -> int:
    """The width a table may take on a console of `console_width` columns."""
    return max(40, min(console_width, MAX_TABLE_WIDTH))


def fold_id(case_id: str, width: int) -> str:
    """A case id broken into lines of at most `width` characters, at its commas (`matmul[dtype=bf16,` /
    `  m=512,n=256]`), so it never wraps letter by letter; continuation lines are indented by two spaces. A
    single part longer than the width is cut where it must be."""
    width = max(8, width)
    if len(case_id) <= width:
        return case_id
    parts = _parts(case_id)
    lines: list[str] = []
    line = ""
    for part in parts:
        limit = width if not lines else width - 2
        if line and len(line) + len(part) > limit:
            lines.append(line)
            line = ""
        line += part
        while len(line) > (width if not lines else width - 2):
            cut = width if not lines else width - 2
            lines.append(line[:cut])
            line = line[cut:]
    if line:
        lines.append(line)
    return "\n".join(lines[:1] + ["  " + rest for rest in lines[1:]])


def _parts(case_id: str) -> list[str]:
    """`bench[a=1,b=2]` -> [`bench[`, `a=1,`, `b=2]`]: the pieces a fold may break between."""
    head, bracket, rest = case_id.partition("[")
    if not bracket:
        return [piece + "," for piece in case_id.split(",")[:-1]] + [case_id.split(",")[-1]]
    pieces = rest.split(",")
    return [head + "["] + [p + "," for p in pieces[:-1]] + [pieces[-1]]


def readable_rate(value: Any, unit: str) -> tuple[Any, str]:
    """Tera-rates below 1 read better as giga-rates on a terminal (0.000271 TFLOP/s -> 0.271 GFLOP/s)."""
    finite = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if finite and unit in ("TFLOP/s", "TOP/s") and abs(value) < 1:
        return value * 1000, "G" + unit[1:]
    return value, unit
