"""Report figures read through plotly.py: `as_plotly` builds plotly's own graph object from a figure's JSON,
which validates every property name and value (a misspelt one raises) and gives tests attribute access."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from gpubench.report.plot import Plot


def as_plotly(fig: Plot) -> Any:
    return go.Figure(fig.to_dict())


_DTYPES = {"i1": "int8", "u1": "uint8", "i2": "int16", "u2": "uint16", "i4": "int32", "u4": "uint32"}
_DTYPES |= {"f4": "float32", "f8": "float64"}


def plain_json(node: Any) -> Any:
    """Parsed figure JSON with plotly.js typed arrays decoded to lists and NaN as None, so two writers of the
    same figure compare equal."""
    import base64
    import math

    import numpy as np

    if isinstance(node, dict):
        if set(node) >= {"dtype", "bdata"}:
            values = np.frombuffer(base64.b64decode(node["bdata"]), dtype=_DTYPES[node["dtype"]]).tolist()
            return [None if isinstance(v, float) and math.isnan(v) else v for v in values]
        return {k: plain_json(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain_json(v) for v in node]
    if isinstance(node, float) and math.isnan(node):
        return None
    return node
