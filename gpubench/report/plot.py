"""Plotly figures as the JSON plotly.js draws: `data` (a list of trace dicts) and `layout` (a dict).

The page needs nothing but that JSON. plotly.py's graph objects build it too, but validate and wrap every
property as it is set: a third of a report's section time and a tenth of a second of imports, for figures the
browser validates again anyway. `Plot` keeps plotly.py's names and meaning for what the report uses, so a
figure still reads as plotly code:

    fig = Plot(layout=dict(title=dict(text="TFLOP/s"), height=420))
    fig.add_bar(x=["fp32", "bf16"], y=[1.2, 9.8], marker_color="#1f77b4", error_y=None)
    fig.update_xaxes(type="category")
    grid = Plot.subplots(rows=2, cols=1, shared_xaxes=True, subplot_titles=["power", "clock"])
    grid.add_scatter(x=t, y=watts, row=1, col=1)

- a keyword's underscores walk into nested properties (`marker_color` is `marker.color`, `title_text` is
  `title.text`; `error_y`, `paper_bgcolor` and the like are names of their own), a dict merges into what is there, None removes;
- `subplots` lays out the grid as plotly.subplots.make_subplots does (the same domains, anchors, shared axes
  and title annotations; tests compare the two), and `row`/`col` put a trace or an axis update in a cell;
- `to_json` writes numeric numpy arrays as plotly.js typed arrays (base64, as plotly.py does), NaN as null.

Tests check every figure of real reports against plotly.py's own validators, so a misspelt property still
fails a test, not a reader's browser.
"""

from __future__ import annotations

import base64
import importlib.util
import pkgutil
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson

_OWN_NAMES = ("error_x", "error_y", "error_z", "paper_bgcolor", "plot_bgcolor", "copy_ystyle", "copy_zstyle")
"""Every property name of plotly.js's schema that contains an underscore (every other underscore in a keyword
nests); a test reads plotly's schema to keep this list whole."""


def _path(key: str) -> list[str]:
    parts = key.split("_")
    out: list[str] = []
    i = 0
    while i < len(parts):
        if i + 1 < len(parts) and f"{parts[i]}_{parts[i + 1]}" in _OWN_NAMES:
            out.append(f"{parts[i]}_{parts[i + 1]}")
            i += 2
        else:
            out.append(parts[i])
            i += 1
    return out


def merge(target: dict[str, Any], props: Mapping[str, Any]) -> dict[str, Any]:
    """plotly.py's `update` on plain dicts: keywords with underscores walk into nested properties, a dict merges
    into the dict already there (dicts in a list, such as shapes, get the same reading), None removes the
    property, anything else replaces it. A title given as text
    becomes {"text": ...} (plotly.js 3 reads no other form). Returns `target`."""
    for key, value in props.items():
        *head, last = _path(key)
        node: dict[str, Any] | None = target
        for part in head:
            child = node.get(part)
            if not isinstance(child, dict):
                if value is None:  # removing what is not there: nothing to make on the way
                    node = None
                    break
                child = node[part] = {}
            node = child
        if node is None:
            continue
        if value is None:
            node.pop(last, None)
        elif isinstance(value, Mapping):
            child = node.get(last)
            if not isinstance(child, dict):
                child = node[last] = {}
            merge(child, value)
        elif last == "title" and isinstance(value, str):
            merge(node, {"title": {"text": value}})
        elif isinstance(value, (list, tuple)) and value and isinstance(value[0], Mapping):
            node[last] = [merge({}, v) if isinstance(v, Mapping) else v for v in value]  # shapes, annotations
        else:
            node[last] = value
    return target


class Plot:
    """A figure: traces in `data`, everything else in `layout` (see the module docstring)."""

    def __init__(self, layout: Mapping[str, Any] | None = None) -> None:
        self.data: list[dict[str, Any]] = []
        self.layout: dict[str, Any] = {}
        self._grid: list[list[tuple[str, str]]] | None = None  # (x axis id, y axis id) per row and column
        if layout:
            merge(self.layout, layout)

    # ------------------------------------------------------------------------------------------ traces

    def add_trace(self, trace: Mapping[str, Any], row: int | None = None, col: int | None = None) -> dict[str, Any]:
        """Add a trace (a dict with its `type`); in a grid, in the cell at `row`, `col` (counted from 1)."""
        if "type" not in trace:
            raise ValueError("a trace needs its type")
        out = merge({}, trace)
        if row is not None or col is not None:
            x, y = self._cell(row or 1, col or 1)
            out["xaxis"], out["yaxis"] = x, y
        self.data.append(out)
        return out

    def add_scatter(self, row: int | None = None, col: int | None = None, **props: Any) -> dict[str, Any]:
        return self.add_trace({"type": "scatter", **props}, row, col)

    def add_bar(self, row: int | None = None, col: int | None = None, **props: Any) -> dict[str, Any]:
        return self.add_trace({"type": "bar", **props}, row, col)

    def add_box(self, row: int | None = None, col: int | None = None, **props: Any) -> dict[str, Any]:
        return self.add_trace({"type": "box", **props}, row, col)

    # ------------------------------------------------------------------------------------------ layout

    def update_layout(self, props: Mapping[str, Any] | None = None, **more: Any) -> Plot:
        merge(self.layout, {**(props or {}), **more})
        return self

    def update_xaxes(self, row: int | None = None, col: int | None = None, **props: Any) -> Plot:
        return self._update_axes("x", row, col, props)

    def update_yaxes(self, row: int | None = None, col: int | None = None, **props: Any) -> Plot:
        return self._update_axes("y", row, col, props)

    def _update_axes(self, letter: str, row: int | None, col: int | None, props: Mapping[str, Any]) -> Plot:
        for name in self._axes(letter, row, col):
            merge(self.layout.setdefault(name, {}), props)
        return self

    def add_hline(self, y: float, **props: Any) -> Plot:
        """A horizontal line across the plot at `y` (the shape plotly.py's add_hline draws in a plain figure)."""
        line = {"type": "line", "x0": 0, "x1": 1, "xref": "x domain", "y0": y, "y1": y, "yref": "y"}
        self.layout.setdefault("shapes", []).append(merge(line, props))
        return self

    def add_vline(self, x: float, row: int | None = None, col: int | None = None, **props: Any) -> Plot:
        """A vertical line at `x` from the bottom to the top of the plot, or of the cell at `row`, `col`."""
        x_id, y_id = self._cell(row or 1, col or 1) if self._grid is not None else ("x", "y")
        line = {"type": "line", "x0": x, "x1": x, "xref": x_id, "y0": 0, "y1": 1, "yref": f"{y_id} domain"}
        self.layout.setdefault("shapes", []).append(merge(line, props))
        return self

    def add_annotation(self, **props: Any) -> Plot:
        self.layout.setdefault("annotations", []).append(merge({}, props))
        return self

    def update_annotations(self, **props: Any) -> Plot:
        """Every annotation (a grid's cell titles among them) updated as update_layout updates the layout."""
        for annotation in self.layout.get("annotations", ()):
            merge(annotation, props)
        return self

    def _axes(self, letter: str, row: int | None, col: int | None) -> list[str]:
        """Layout keys of the x or y axes in the chosen cells (every row or column where not chosen)."""
        if self._grid is None:
            names = [k for k in self.layout if k == f"{letter}axis" or (k[:5] == f"{letter}axis" and k[5:].isdigit())]
            return names or [f"{letter}axis"]
        index = 0 if letter == "x" else 1
        return [
            _axis_key(cell[index])
            for r, cells in enumerate(self._grid, start=1)
            for c, cell in enumerate(cells, start=1)
            if (row is None or r == row) and (col is None or c == col)
        ]

    def _cell(self, row: int, col: int) -> tuple[str, str]:
        if self._grid is None:
            raise ValueError("row and col need a figure made by Plot.subplots")
        if not (1 <= row <= len(self._grid) and 1 <= col <= len(self._grid[0])):
            raise ValueError(f"no cell ({row}, {col}) in a {len(self._grid)} x {len(self._grid[0])} grid")
        return self._grid[row - 1][col - 1]

    # ------------------------------------------------------------------------------------------ grid

    @classmethod
    def subplots(
        cls,
        rows: int = 1,
        cols: int = 1,
        shared_xaxes: bool = False,
        row_heights: Sequence[float] | None = None,
        horizontal_spacing: float | None = None,
        vertical_spacing: float | None = None,
        subplot_titles: Sequence[str | None] | None = None,
        layout: Mapping[str, Any] | None = None,
    ) -> Plot:
        """A grid of x-y cells, first row at the top, laid out as plotly.subplots.make_subplots lays out the
        same arguments: equal column widths, rows of `row_heights` (relative, top first), the spacings as
        fractions of the figure, one x and one y axis per cell numbered row by row, titles centred above the
        cells (with titles the default rows are further apart); `shared_xaxes` makes every column's x axes follow
        its bottom one, tick labels only there."""
        if rows < 1 or cols < 1:
            raise ValueError("a grid needs at least one row and one column")
        hs = 0.2 / cols if horizontal_spacing is None else horizontal_spacing
        vs = (0.3 if subplot_titles is None else 0.5) / rows if vertical_spacing is None else vertical_spacing
        for n, spacing, what in ((cols, hs, "horizontal"), (rows, vs, "vertical")):
            if not 0.0 <= spacing <= (1.0 / (n - 1) if n > 1 else 1.0):
                raise ValueError(f"{what}_spacing {spacing}: more than the {n} cells leave room for")
        titles_given = list(subplot_titles or ())
        width = (1.0 - hs * (cols - 1)) / cols
        if row_heights is None:
            heights = [(1.0 - vs * (rows - 1)) / rows] * rows
        else:
            if len(row_heights) != rows:
                raise ValueError(f"row_heights: {len(row_heights)} values for {rows} rows")
            total = float(sum(row_heights))
            heights = [(1.0 - vs * (rows - 1)) * (h / total) for h in row_heights]
        bottom_up = heights[::-1]  # the y domains are counted from the bottom row up
        fig = cls(layout)
        fig._grid = []
        titles: list[dict[str, Any]] = []
        n = 0
        for r in range(rows):
            k = rows - 1 - r  # this row's place counted from the bottom
            y0 = _unit(sum(bottom_up[:k]) + k * vs)
            y1 = _unit(sum(bottom_up[:k]) + k * vs + heights[r])
            cells = []
            for c in range(cols):
                n += 1
                x0 = sum([width] * c) + c * hs
                x1 = x0 + width
                x_id, y_id = ("x", "y") if n == 1 else (f"x{n}", f"y{n}")
                fig.layout[_axis_key(x_id)] = {"anchor": y_id, "domain": [max(0.0, x0), min(1.0, x1)]}
                fig.layout[_axis_key(y_id)] = {"anchor": x_id, "domain": [max(0.0, y0), min(1.0, y1)]}
                cells.append((x_id, y_id))
                if n <= len(titles_given) and titles_given[n - 1]:
                    titles.append(
                        {
                            "font": {"size": 16},
                            "showarrow": False,
                            "text": titles_given[n - 1],
                            "x": (x0 + x1) / 2.0,
                            "xanchor": "center",
                            "xref": "paper",
                            "y": y1,
                            "yanchor": "bottom",
                            "yref": "paper",
                        }
                    )
            fig._grid.append(cells)
        if shared_xaxes and rows > 1:
            for c in range(cols):
                bottom = fig._grid[-1][c][0]
                for r in range(rows - 1):
                    axis = fig.layout[_axis_key(fig._grid[r][c][0])]
                    axis["matches"] = bottom
                    axis["showticklabels"] = False
        if titles:
            fig.layout["annotations"] = titles
        return fig

    # ------------------------------------------------------------------------------------------ output

    def to_dict(self) -> dict[str, Any]:
        return {"data": self.data, "layout": self.layout}

    def to_json(self) -> str:
        """The figure as JSON for Plotly.newPlot: numeric numpy arrays as typed arrays, NaN and NA as null."""
        return orjson.dumps(_typed(self.to_dict()), default=_plain, option=orjson.OPT_SERIALIZE_NUMPY).decode()


def _axis_key(axis_id: str) -> str:
    """'x2' -> 'xaxis2' (the layout key of an axis id)."""
    return f"{axis_id[0]}axis{axis_id[1:]}"


def _unit(value: float) -> float:
    """A grid coordinate within a rounding error of the figure's edge put on it (make_subplots does so)."""
    if -0.01 < value < 0.0:
        return 0.0
    if 1.0 < value < 1.01:
        return 1.0
    return value


_TYPED = {"int8": "i1", "uint8": "u1", "int16": "i2", "uint16": "u2", "int32": "i4", "uint32": "u4"}
_TYPED |= {"float32": "f4", "float64": "f8"}
_UNTYPED_KEYS = frozenset({"range", "geojson", "layer", "layers"})
"""Properties plotly.js reads as plain lists only."""


def _typed_array(values: np.ndarray) -> Any:
    """A numeric array as plotly.js's typed-array spec (64-bit integers narrowed to the smallest type that holds
    them, as plotly.js has no 64-bit integer arrays); anything else as a list."""
    if values.size and values.dtype.kind in "iu" and values.dtype.itemsize == 8:
        lo, hi = int(values.min()), int(values.max())
        for name in ("int8", "int16", "int32") if values.dtype.kind == "i" else ("uint8", "uint16", "uint32"):
            info = np.iinfo(name)
            if info.min <= lo and hi <= info.max:
                values = values.astype(name)
                break
    code = _TYPED.get(str(values.dtype))
    if code is None or not values.size:
        return values.tolist()
    spec = {"dtype": code, "bdata": base64.b64encode(np.ascontiguousarray(values)).decode("ascii")}
    if values.ndim > 1:
        spec["shape"] = ", ".join(str(d) for d in values.shape)
    return spec


def _typed(node: Any) -> Any:
    """A copy of `node` in which every numpy array (or pandas column) a dict holds is a typed array. The figure
    itself is left as it was; lists of numbers are shared, not copied."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key in _UNTYPED_KEYS:
                out[key] = value
            elif isinstance(value, np.ndarray):
                out[key] = _typed_array(value)
            elif hasattr(value, "to_numpy") and hasattr(value, "dtype"):  # a pandas column or index
                out[key] = _typed_array(np.asarray(value.to_numpy()))
            else:
                out[key] = _typed(value)
        return out
    if isinstance(node, (list, tuple)) and node and isinstance(node[0], (dict, list, tuple)):
        return [_typed(value) for value in node]
    return node


def _plain(value: Any) -> Any:
    """What orjson cannot write itself: pandas' missing value and objects, numpy arrays orjson refuses
    (not contiguous, or of objects), datetimes of subclasses, other iterables."""
    import pandas as pd  # imported already wherever figures are built

    if value is pd.NA:
        return None
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if hasattr(value, "to_numpy"):
        return value.to_numpy().tolist()
    if isinstance(value, (set, frozenset, Iterator)):
        return list(value)
    raise TypeError(f"not a figure value: {type(value).__name__}")


def plotly_js() -> str:
    """plotly.js as the installed plotly package ships it, read without importing plotly.py."""
    spec = importlib.util.find_spec("plotly")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "package_data" / "plotly.min.js"
        if path.is_file():
            return path.read_text(encoding="utf-8")
    data = pkgutil.get_data("plotly", "package_data/plotly.min.js")  # a zipped install
    if data is None:
        raise FileNotFoundError("plotly.min.js: not in the installed plotly package")
    return data.decode("utf-8")


__all__ = ["Plot", "merge", "plotly_js"]
