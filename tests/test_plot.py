"""gpubench.report.plot: figures as plain JSON, read the way plotly.py reads the same calls."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import pytest
from figure_check import plain_json
from plotly.subplots import make_subplots

from gpubench.report import plot as P
from gpubench.report.plot import Plot, merge, plotly_js


def _plotly(fig: go.Figure) -> dict[str, Any]:
    spec = plain_json(json.loads(pio.to_json(fig, validate=False)))
    spec["layout"].pop("template", None)
    return spec


def _ours(fig: Plot) -> dict[str, Any]:
    return plain_json(json.loads(fig.to_json()))


GRIDS = [
    dict(rows=1, cols=3, subplot_titles=["a", "b", "c"], horizontal_spacing=0.06),
    dict(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.04),
    dict(
        rows=4, cols=1, shared_xaxes=True, row_heights=[2, 5, 1, 3], vertical_spacing=0.07, subplot_titles=list("abcd")
    ),
    dict(rows=2, cols=3, subplot_titles=["a", "b", "c", "d"], horizontal_spacing=0.07, vertical_spacing=0.22),
    dict(rows=1, cols=1, shared_xaxes=True, row_heights=[1], vertical_spacing=0.0, subplot_titles=["only"]),
    dict(rows=3, cols=3),
    dict(rows=5, cols=2, shared_xaxes=True, subplot_titles=["", "b", None, "d"]),
]


@pytest.mark.parametrize("grid", GRIDS, ids=lambda g: f"{g['rows']}x{g['cols']}")
def test_a_grid_is_laid_out_as_make_subplots_lays_it_out(grid: dict[str, Any]) -> None:
    theirs = make_subplots(**grid)
    ours = Plot.subplots(**grid)
    for r in range(1, grid["rows"] + 1):
        for c in range(1, grid["cols"] + 1):
            theirs.add_scatter(x=[r, c], y=[1.5, 2.5], name=f"{r},{c}", row=r, col=c)
            ours.add_scatter(x=[r, c], y=[1.5, 2.5], name=f"{r},{c}", row=r, col=c)
    theirs.update_xaxes(type="log", row=grid["rows"], col=1)
    ours.update_xaxes(type="log", row=grid["rows"], col=1)
    theirs.update_yaxes(title_text="y", row=1)
    ours.update_yaxes(title_text="y", row=1)
    theirs.update_xaxes(showgrid=False)
    ours.update_xaxes(showgrid=False)
    for r in range(1, grid["rows"] + 1):
        theirs.add_vline(x=1.0, row=r, col=grid["cols"], line=dict(color="#999", dash="dot"))
        ours.add_vline(1.0, row=r, col=grid["cols"], line=dict(color="#999", dash="dot"))
    theirs.update_annotations(font=dict(size=12), x=0, xanchor="left")
    ours.update_annotations(font=dict(size=12), x=0, xanchor="left")
    assert _ours(ours) == _plotly(theirs)


def test_a_cell_outside_the_grid_or_a_plain_figure_is_refused() -> None:
    with pytest.raises(ValueError, match="no cell"):
        Plot.subplots(rows=2, cols=1).add_bar(x=[1], y=[1], row=3, col=1)
    with pytest.raises(ValueError, match="subplots"):
        Plot().add_bar(x=[1], y=[1], row=1, col=1)
    with pytest.raises(ValueError, match="row_heights"):
        Plot.subplots(rows=2, cols=1, row_heights=[1])


def test_calls_mean_what_they_mean_in_plotly() -> None:
    """The same calls on plotly's Figure and on Plot give the same JSON: magic underscores, names that hold an
    underscore themselves, None removing, dicts merging, lists replacing, a title given as text, add_hline."""

    def draw(fig: Any) -> None:
        fig.update_layout(
            title=dict(text="t", x=0.01),
            paper_bgcolor="white",
            legend_title_text="L",
            xaxis=dict(title="as text", type="log"),
            height=300,
        )
        fig.update_layout(title_font_size=15, height=None, shapes=[dict(type="rect", x0=0, x1=1, y0=0, y1=1)])
        fig.add_bar(x=["a", "b"], y=np.array([1.0, math.nan]), marker_color="#123456", error_y=None, name="bars")
        fig.add_scatter(
            x=np.arange(3, dtype=np.int64) * 100_000,
            y=pd.Series([1.5, 2.5, np.nan]),
            error_y=dict(type="data", array=np.array([0.1, 0.2, 0.3], dtype=np.float32)),
            line=dict(color="#f00", dash="dot"),
            line_width=2,
            mode="lines",
        )
        fig.add_hline(y=1.0, line_dash="dot", line_color="#888")
        fig.add_vline(x=2.0, line=dict(color="#999", width=1))
        fig.add_annotation(x=0, y=1.0, xref="x domain", text="note", showarrow=False, font_size=9)
        fig.update_yaxes(rangemode="tozero", title_text="y")
        fig.update_layout(shapes=[*fig.layout["shapes"], dict(type="line", line_width=0, x0=0, x1=1, y0=2, y1=2)])

    theirs, ours = go.Figure(), Plot()
    draw(_LayoutAsDict(theirs))
    draw(ours)
    ours.add_vline(3.0)  # positional, as the report calls it
    theirs.add_vline(x=3.0)
    assert _ours(ours) == _plotly(theirs)
    assert "height" not in ours.layout and ours.layout["title"] == {"text": "t", "x": 0.01, "font": {"size": 15}}


class _LayoutAsDict:
    """plotly's Figure with `layout["shapes"]` readable as Plot's layout is (the one read `draw` does)."""

    def __init__(self, fig: go.Figure) -> None:
        self._fig = fig

    def __getattr__(self, name: str) -> Any:
        if name == "layout":
            return {"shapes": [s.to_plotly_json() for s in self._fig.layout.shapes]}
        return getattr(self._fig, name)


def test_merge_reads_underscores_and_none_and_leaves_lists_whole() -> None:
    target: dict[str, Any] = {"marker": {"color": "red", "size": 3}, "x": [1, 2]}
    merge(target, dict(marker_size=None, marker_line_width=2, x=[3], error_y=dict(array=[1]), plot_bgcolor="w"))
    merge(target, dict(title_text=None, line=None))  # removing what is not there leaves nothing behind
    assert target == {
        "marker": {"color": "red", "line": {"width": 2}},
        "x": [3],
        "error_y": {"array": [1]},
        "plot_bgcolor": "w",
    }


def test_every_underscored_property_name_of_plotly_is_known() -> None:
    """_OWN_NAMES holds every property name of plotly's schema with an underscore in it (any other underscore
    in a keyword nests, so a missing name would silently draw the wrong property)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("plotly")
    schema = Path(next(iter(spec.submodule_search_locations))) / "validators" / "_validators.json"
    if not schema.is_file():
        pytest.skip("this plotly keeps its validators as modules, not one schema file")
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            name = node.get("params", {}).get("plotly_name") if isinstance(node.get("params"), dict) else None
            if isinstance(name, str) and "_" in name:
                names.add(name)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(schema.read_text()))
    assert {"error_y", "paper_bgcolor"} <= names
    assert names <= set(P._OWN_NAMES)


def test_to_json_writes_typed_arrays_and_leaves_the_figure_alone() -> None:
    fig = Plot()
    ints, floats = np.array([1, 300, -5], dtype=np.int64), np.array([0.5, np.nan], dtype=np.float64)
    fig.add_scatter(x=ints, y=floats, text=["a", None], customdata=np.array(["x", "y"], dtype=object))
    fig.update_xaxes(range=np.array([0.0, 2.0]))
    spec = json.loads(fig.to_json())
    trace = spec["data"][0]
    assert trace["x"]["dtype"] == "i2"  # int64 narrowed to the smallest type holding it (plotly.js has no int64)
    assert np.frombuffer(__import__("base64").b64decode(trace["x"]["bdata"]), np.int16).tolist() == [1, 300, -5]
    assert trace["y"]["dtype"] == "f8" and plain_json(trace["y"]) == [0.5, None]
    assert trace["text"] == ["a", None] and trace["customdata"] == ["x", "y"]
    assert spec["layout"]["xaxis"]["range"] == [0.0, 2.0]  # plotly.js reads a range as a plain list only
    assert fig.data[0]["x"] is ints  # the figure keeps its arrays
    assert json.loads(fig.to_json()) == spec
    na = Plot()
    na.add_bar(x=pd.array([1, None], dtype="Int64"), y=[pd.NA, 2.0])
    assert plain_json(json.loads(na.to_json()))["data"][0] == {"type": "bar", "x": [1, None], "y": [None, 2.0]}


def test_plotly_js_is_the_installed_plotly_library() -> None:
    from plotly.offline import get_plotlyjs

    assert plotly_js() == get_plotlyjs()
