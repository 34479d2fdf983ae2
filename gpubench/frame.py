"""Result rows as pandas columns, with the dtypes gpubench's frames have always had (store, columnar, distributed).

From Python values (`rows_to_frame`: rows as dicts) or from pyarrow arrays of the same values (`arrow_column`), the
same rules: a column of booleans is bool, of integers int64, of numbers float64, of text pandas' string dtype; a
declared integer column (INT_COLUMNS) with missing values stays a nullable integer. Decided in plain Python or
numpy, not by pandas' per-column inference: a run rewrites its file after every round, and a report loads
thousands of cases.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from gpubench.benchmarks import BENCHMARKS
from gpubench.schema import columns_of_type

# Integer columns that some rows lack (skipped cases have no timings): kept as nullable integers, not floats.
# Declared by the row schema and each benchmark's declaration (gpubench.schema).
INT_COLUMNS = columns_of_type("int", {name: declares for name, (_, declares) in BENCHMARKS.items()})


def rows_to_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows -> DataFrame with stable dtypes: integer parameters stay integers where some rows lack them.

    A column of booleans is bool (boolean where some rows lack it), of integers int64 (Int64 where some rows
    lack it and the column is a declared integer, INT_COLUMNS; float64 otherwise), of numbers float64 (Int64 for
    a declared integer column whose numbers are all whole), of text pandas' string dtype, of anything else
    Python objects; a row without the column has NaN there. Decided per column from the values in plain
    Python: a run rewrites its file after every round, and pandas' per-column conversions over 100+ columns
    cost more than the measuring. A value of another type (a numpy scalar, a datetime) leaves the whole frame
    to pandas' own inference (`_inferred_frame`), which gives the same dtypes more slowly."""
    names = list(dict.fromkeys(name for row in rows for name in row))
    columns = {}
    for name in names:
        column = _column(name, [row.get(name, _ABSENT) for row in rows])
        if column is None:
            return _inferred_frame(rows)
        columns[name] = column
    return pd.DataFrame(columns, index=pd.RangeIndex(len(rows))) if columns else pd.DataFrame(rows)


_ABSENT: Any = object()  # a row without the column
_PLAIN = frozenset({bool, int, float, str, list, dict, tuple})
_INT64 = (-(2**63), 2**63 - 1)


def _column(name: str, values: list[Any]) -> Any:
    """One column's array with the dtype `rows_to_frame` gives it, or None when a value needs pandas.

    Decided from the set of the values' types (one pass in C), converted by numpy where the values are numbers:
    only a column with missing values is walked in Python. Missing: absent from the row, None, or a float NaN."""
    types = set(map(type, values))
    nulls = bool(types & _NULL_TYPES)
    kinds = types - _NULL_TYPES
    if float in kinds and not kinds <= {int, float} and all(v != v for v in values if type(v) is float):
        kinds.discard(float)  # NaN among other values: missing, as None is
        nulls = True
    if not kinds:  # missing in every row (a time to throttling that never came, a power limit no one knows)
        return _all_missing(name, len(values), _AbsentType not in types and all(v is None for v in values))
    if not kinds <= _PLAIN:
        return None
    if kinds == {bool}:
        if nulls:
            return pd.array([v if v is True or v is False else None for v in values], dtype=_BOOLEAN)
        return np.array(values, dtype=bool)
    if kinds <= {int, float}:
        return _numbers(name, values, kinds, nulls)
    if kinds == {str}:
        return pd.array([v if type(v) is str else None for v in values] if nulls else values, dtype=_TEXT)
    array = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        array[i] = math.nan if v is _ABSENT else v
    return array


def _all_missing(name: str, n: int, only_none: bool) -> Any:
    """A column missing in every row: the Nones themselves when that is all it holds (pandas keeps them), else
    missing numbers (nullable integers for a declared integer column)."""
    if only_none:
        return np.full(n, None, dtype=object)
    if name in INT_COLUMNS:
        return pd.array([None] * n, dtype=_NULLABLE_INT)
    return np.full(n, math.nan)


def _numbers(name: str, values: list[Any], kinds: set[type], nulls: bool) -> Any:
    """A column of ints and floats (and missing values): int64, Int64 or float64 as `_column` decides."""
    if int in kinds:  # an integer beyond int64: pandas decides
        ints = [v for v in values if type(v) is int] if nulls or float in kinds else values
        if ints and not (_INT64[0] <= min(ints) and max(ints) <= _INT64[1]):
            return None
    if kinds == {int} and not nulls:
        return np.array(values, dtype=np.int64)
    numbers = np.array([math.nan if v is None or v is _ABSENT else v for v in values] if nulls else values, np.float64)
    exact = None
    if kinds == {int} and name in INT_COLUMNS:  # exactly, not through float64
        exact = np.array([v if type(v) is int else 0 for v in values], dtype=np.int64)
    return _typed_numbers(name, numbers, np.isnan(numbers), exact)


def _typed_numbers(name: str, numbers: np.ndarray, missing: np.ndarray, exact: np.ndarray | None) -> Any:
    """The rules for numbers, from either side: `numbers` as float64 (anything where `missing`), `exact` the
    int64 values when every present value is an integer (None: some are fractions, or it does not matter).
    int64 for integers without gaps, Int64 for a declared integer column of whole numbers, else float64 with NaN
    for the missing; None for what pandas decides (an infinity, a whole number beyond int64)."""
    kept = numbers[~missing]
    if not len(kept):
        return _all_missing(name, len(numbers), False)
    if np.isinf(kept).any():
        return None
    gaps = bool(missing.any())
    if name in INT_COLUMNS and (gaps or exact is None) and (kept == np.round(kept)).all():
        if exact is None:
            if (np.abs(kept) >= 2.0**63).any():
                return None
            exact = np.where(missing, 0, numbers).astype(np.int64)
        return pd.arrays.IntegerArray(np.where(missing, 0, exact), missing)
    if exact is not None and not gaps:
        return exact
    return np.where(missing, math.nan, numbers)


_NULL_TYPES = frozenset({type(None), type(_ABSENT)})
_AbsentType = type(_ABSENT)


_TEXT = pd.Series(["text"]).dtype  # what pandas makes of a column of strings: "str" (pandas 3) or object
_BOOLEAN = pd.BooleanDtype()
_NULLABLE_INT = pd.Int64Dtype()


def _inferred_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """`rows_to_frame` by pandas' own inference, for values of types it does not know."""
    frame = pd.DataFrame(rows)
    for col in frame.columns:
        series = frame[col]
        non_null = series.dropna()
        if non_null.empty or series.dtype != object:
            if col in INT_COLUMNS and series.dtype == float and (non_null == non_null.round()).all():
                frame[col] = series.astype("Int64")
            continue
        kinds = {type(v) for v in non_null}
        if kinds <= {bool}:
            frame[col] = series.astype("boolean")
        elif kinds <= {int}:
            frame[col] = series.astype("Int64")
        elif kinds <= {int, float}:
            frame[col] = series.astype("float64")
    return frame


class Unhandled(Exception):  # noqa: N818 - a signal to the caller, not an error a user sees
    """Values these rules leave to pandas (an infinity, an integer beyond int64, a type they do not know): the
    caller builds the frame from rows instead (`rows_to_frame` hands such a frame to pandas' inference)."""


def arrow_column(name: str, column: Any, absent: np.ndarray | None = None) -> Any:
    """The array `rows_to_frame` makes of the values of a pyarrow array (`absent`: a mask of rows that lack
    the column altogether, as a run whose file has no such column; None: every row has it)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = column.type
    n = len(column)
    null = column.is_null().to_numpy(zero_copy_only=False)
    floating = pa.types.is_floating(t)
    numbers = column.to_numpy(zero_copy_only=False).astype(np.float64) if floating else None
    missing = null | np.isnan(numbers) if floating else null.copy()
    if absent is not None:
        missing |= absent
    if missing.all():  # missing in every row
        return _all_missing(name, n, bool(null.all()) and (absent is None or not absent.any()))
    if pa.types.is_boolean(t):
        values = column.fill_null(False).to_numpy(zero_copy_only=False).astype(bool)
        return pd.arrays.BooleanArray(values, missing) if missing.any() else values
    if pa.types.is_integer(t) or floating:
        if pa.types.is_uint64(t) and pc.max(column).as_py() > _INT64[1]:
            raise Unhandled(f"{name}: beyond int64")
        exact = None if floating else column.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
        typed = _typed_numbers(name, numbers if exact is None else exact.astype(np.float64), missing, exact)
        if typed is None:
            raise Unhandled(f"{name}: a value pandas decides (an infinity, a whole number beyond int64)")
        return typed
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        values = column.to_numpy(zero_copy_only=False).astype(object)
        values[missing] = None
        return pd.array(values, dtype=_TEXT)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return object_column(column.to_pylist(), absent)
    raise Unhandled(f"{name}: {t}")


def object_column(values: list[Any], absent: np.ndarray | None = None) -> np.ndarray:
    """Python values (lists, mostly) as an object array; NaN where `absent`."""
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        out[i] = v
    if absent is not None:
        out[absent] = math.nan
    return out


def frame_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of a frame as dicts, value for value what `frame.to_dict("records")` gives (a missing value of a
    nullable column is None, numpy scalars in object columns are Python values), three times faster on the
    report's frames of 170 columns: pandas builds a Series per column and walks them row by row; this converts
    each block to Python objects once."""
    columns = frame.columns.tolist()
    rows = frame.to_numpy(dtype=object).tolist()
    boxed = [
        i
        for i, dtype in enumerate(frame.dtypes.values)
        if dtype == np.dtype(object) or isinstance(dtype, pd.api.extensions.ExtensionDtype)
    ]
    if boxed:
        for row in rows:
            for i in boxed:
                value = row[i]
                if value is pd.NA:
                    row[i] = None
                elif isinstance(value, np.generic):
                    row[i] = _native(value)
    return [dict(zip(columns, row, strict=True)) for row in rows]


def _native(value: np.generic) -> Any:
    """A numpy scalar as pandas' to_dict gives it: a Python number or bool, a Timestamp or Timedelta."""
    if isinstance(value, np.datetime64):
        return pd.Timestamp(value)
    if isinstance(value, np.timedelta64):
        return pd.Timedelta(value)
    return value.item()
