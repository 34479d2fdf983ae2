"""What a report section is made of: figures, tables, notes, plain-words text and collapsed detail.
Text in blocks is raw: the page escapes it (Plotly text inside figures is escaped by the figure's builder)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gpubench.report.data import ReportData
    from gpubench.report.plot import Plot


@dataclass
class Figure:
    figure: Plot
    caption: str = ""


@dataclass
class Cell:
    """A table cell. `text` and `title` are raw (the page escapes them); `cls` adds CSS classes
    ('diff' highlights a value that differs between runs); `color` draws a run's colour swatch."""

    text: str
    cls: str = ""
    title: str = ""
    color: str = ""


@dataclass
class Table:
    header: list[str]
    rows: list[list[Cell]]
    caption: str = ""


@dataclass
class Note:
    text: str
    kind: str = "info"  # info | warn
    items: list[str] = field(default_factory=list)


@dataclass
class Prose:
    """Plain-words paragraphs (raw text; `**bold**` marks emphasis, the page escapes the rest)."""

    paragraphs: list[str]
    kind: str = "explain"  # explain | verdict


@dataclass
class Details:
    """Blocks one click away: a collapsed <details> with a summary line."""

    summary: str
    blocks: list[Any]


Block = Figure | Table | Note | Prose | Details


@dataclass(frozen=True)
class Section:
    """A report section: `build(data)` returns its blocks (empty: the section is left out). The heading is
    the catalogue's `section.<key>.title` where there is one, else `title`."""

    key: str
    title: str
    build: Callable[[ReportData], list[Block]]


__all__ = ["Block", "Cell", "Details", "Figure", "Note", "Prose", "Section", "Table"]
