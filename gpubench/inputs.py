"""The one validation boundary: everything gpubench reads from outside passes through here before any other
module looks at it — suite TOML, run.json, the Parquet files of a run folder, prices files, numbers given on
the command line, and the environment a command starts in.

Each input has a declared model (pydantic models for documents, in gpubench.documents, imported when one is
checked; the result schema of `gpubench.schema` for Parquet columns; the `NUMBERS` table for command-line
numbers); the limits on depth, size and magnitude are declared once, in `LIMITS`. Every violation becomes a
GpubenchError (a subclass the caller names) whose message is one line naming the file and the field:
`results/x/run.json: device.power_limit_w: not a number`. The CLI turns it into one red line and exit code 2.
Only regular files are opened as data: a FIFO, a device or a folder named where a file belongs is refused
before it is opened for reading (it could block forever).

Never imports torch; pandas and pyarrow only inside the functions that read Parquet, pydantic only inside those
that validate a document.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import os
import stat
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from gpubench import run_shape
from gpubench.errors import GpubenchError, ResultFormatError, SuiteError
from gpubench.files import tomllib
from gpubench.limits import LIMITS, Limits

if TYPE_CHECKING:
    import pandas as pd
    from pydantic import BaseModel, ValidationError

PathLike = str | os.PathLike[str]
ErrorType = type[GpubenchError]


# ------------------------------------------------------------------------------------------------- files


def _describe_mode(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def os_error_line(path: PathLike, e: OSError) -> str:
    """`path: what is wrong` for an OSError met while reading: a permission problem is named as one, never as
    a damaged file."""
    import errno

    if e.errno in (errno.EACCES, errno.EPERM):
        return f"{path}: permission denied (check the file's owner and mode)"
    if e.errno == errno.ENOENT:
        return f"{path}: not found"
    if e.errno == errno.EISDIR:
        return f"{path}: is a folder, not a file"
    return f"{path}: cannot read: {e.strerror or type(e).__name__}"


def regular_file(path: PathLike, error: ErrorType = GpubenchError, *, limit: int | None = None) -> os.stat_result:
    """The stat of `path` if it is a regular file (symlinks followed) no larger than `limit` bytes; else `error`."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise error(os_error_line(path, e)) from None
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{path}: {_describe_mode(st.st_mode)}, not a regular file; only files are read as data")
    if limit is not None and st.st_size > limit:
        raise error(f"{path}: {st.st_size:,} bytes, more than the {limit:,} such a file may hold")
    return st


def read_bytes(path: PathLike, limit: int, error: ErrorType = GpubenchError) -> bytes:
    """The bytes of a regular file of at most `limit` bytes. Opened non-blocking and checked on the open
    descriptor, so a FIFO swapped in after a check cannot hang the read."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise error(os_error_line(path, e)) from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{path}: {_describe_mode(st.st_mode)}, not a regular file; only files are read as data")
        try:
            data = f.read(limit + 1)
        except OSError as e:
            raise error(os_error_line(path, e)) from None
    if len(data) > limit:
        raise error(f"{path}: more than the {limit:,} bytes such a file may hold")
    return data


def read_text(path: PathLike, limit: int, error: ErrorType = GpubenchError) -> str:
    """UTF-8 text of a regular file (a BOM is dropped); a wrong encoding names the byte."""
    data = read_bytes(path, limit, error)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise error(f"{path}: not UTF-8 text (byte {e.start}); save it as UTF-8") from None


# --------------------------------------------------------------------------------- documents (TOML, JSON)


def _key_path(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def check_tree(data: Any, where: str, error: ErrorType, limits: Limits = LIMITS) -> None:
    """Depth, integer and float magnitude and string length of a parsed document, without recursion."""
    stack: list[tuple[Any, tuple[Any, ...]]] = [(data, ())]
    while stack:
        value, loc = stack.pop()
        if len(loc) > limits.depth:
            raise error(f"{where}: {_key_path(loc[: limits.depth])}: nested deeper than {limits.depth} levels")
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int):
            if abs(value) > limits.int_abs:
                raise error(f"{where}: {_key_path(loc)}: {value} does not fit in a 64-bit integer")
        elif isinstance(value, float):
            if math.isfinite(value) and abs(value) > limits.float_abs:
                raise error(f"{where}: {_key_path(loc)}: {value:g} is beyond {limits.float_abs:g}")
        elif isinstance(value, str):
            if len(value) > limits.text_chars:
                raise error(
                    f"{where}: {_key_path(loc)}: a text of {len(value):,} characters (at most {limits.text_chars:,})"
                )
        elif isinstance(value, dict):
            for k, v in value.items():
                stack.append((v, (*loc, k)))
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                stack.append((v, (*loc, i)))


def parse_toml(text: str, where: str, error: ErrorType = GpubenchError) -> dict[str, Any]:
    """TOML text -> dict, within LIMITS (a deeply nested document is refused, never a RecursionError)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise error(f"{where}: not valid TOML: {e}") from None
    except RecursionError:
        raise error(f"{where}: nested deeper than {LIMITS.depth} levels") from None
    check_tree(data, where, error)
    return data


def parse_json(text: str | bytes, where: str, error: ErrorType = GpubenchError) -> Any:
    """JSON text -> value, within LIMITS."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise error(f"{where}: nested deeper than {LIMITS.depth} levels") from None
    except (UnicodeDecodeError, ValueError) as e:
        raise error(f"{where}: not valid JSON ({e})") from None
    check_tree(data, where, error)
    return data


_MESSAGES = {
    "int_type": "not an integer",
    "int_from_float": "not an integer",
    "float_type": "not a number",
    "finite_number": "not a finite number",
    "string_type": "not a text",
    "bool_type": "not true or false",
    "dict_type": "not a table / object",
    "model_type": "not a table / object",
    "list_type": "not a list",
    "missing": "missing",
    "extra_forbidden": "unknown key",
    "greater_than": "too small",
    "greater_than_equal": "too small",
    "less_than_equal": "too large",
    "literal_error": "not an accepted value",
    "too_short": "needs at least one entry",
    "string_too_short": "empty",
    "value_error": "",
}


def _clean_loc(loc: Iterable[Any]) -> list[Any]:
    # Drop pydantic's union-branch markers ('str', 'int', 'list[...]', '_Range') from a location.
    return [p for p in loc if isinstance(p, int) or not (any(c in str(p) for c in "[]'") or p in _BRANCHES)]


def validation_line(where: str, e: ValidationError) -> str:
    """The first violation of a pydantic ValidationError as `where: field.path: what is wrong (got X)`."""
    errors = e.errors(include_url=False)
    # A branch of a union that matched the shape and failed on a value says the most.
    err = next((x for x in errors if x["type"] == "value_error"), errors[0])
    loc = _clean_loc(err["loc"])
    what = _MESSAGES.get(err["type"]) or err["msg"].removeprefix("Value error, ")
    if err["type"] != "value_error" and len([x for x in errors if _clean_loc(x["loc"]) == loc]) > 1:
        # every branch of a union failed
        what = "wrong type"
        if "benchmarks" in loc:
            shape = (
                "a table value must be" if isinstance(err.get("input"), dict) else "not a value, a list of values or"
            )
            what = f"{shape} {{range = [start, stop, step]}}"
    if err["type"] in ("greater_than", "greater_than_equal", "less_than_equal"):
        what = err["msg"].replace("Input should be", "must be")
    got = err.get("input")
    shown = "" if err["type"] == "missing" or isinstance(got, (dict, list)) else f" (got {_short(got)})"
    return f"{where}: {_key_path(loc)}: {what}{shown}"


_BRANCHES = {"str", "int", "float", "bool", "list", "dict", "function-after", "constrained-str", "none", "_Range"}


def _short(value: Any, n: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= n else text[: n - 1] + "…"


def _validate(model: type[BaseModel], data: Any, where: str, error: ErrorType) -> BaseModel:
    from pydantic import ValidationError

    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise error(validation_line(where, e)) from None


# ------------------------------------------------------------------------------------------------ suites


def suite_document(text: str, where: str) -> dict[str, Any]:
    """A suite's TOML, parsed and checked for shape (types, depth, magnitude); SuiteError naming the key."""
    from gpubench.documents import SuiteDocument

    data = parse_toml(text, where, SuiteError)
    _validate(SuiteDocument, data, where, SuiteError)
    return data


# --------------------------------------------------------------------------------------------- run.json


def run_meta(folder: PathLike, current: int, oldest: int, name: str = "run.json") -> dict[str, Any]:
    """run.json of a run folder, checked: a regular file within LIMITS, the declared types, a schema version
    this gpubench reads. Returns the document as written (unknown keys kept)."""
    folder = Path(folder)
    path = folder / name
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ResultFormatError(f"{folder} is not a gpubench run folder (no {name})") from None
    except OSError as e:
        raise ResultFormatError(os_error_line(path, e)) from None
    if stat.S_ISDIR(st.st_mode):
        raise ResultFormatError(f"{folder} is not a gpubench run folder ({name} is a folder)")
    raw = read_bytes(path, LIMITS.json_bytes, ResultFormatError)
    key = (str(path), current, oldest)
    if _RUN_META_CHECKED.get(key) == raw:  # a report reads each of a thousand runs' several times
        return json.loads(raw)  # the same bytes passed every check below: a fresh copy is all that is left
    data = parse_json(raw, str(path), ResultFormatError)
    if not isinstance(data, dict):
        raise ResultFormatError(f"{path}: not a gpubench run.json (expected a JSON object)")
    version = data.get("schema_version")
    if "schema_version" not in data:
        raise ResultFormatError(f"{path}: no schema_version; it was not written by gpubench")
    if isinstance(version, bool) or not isinstance(version, int):
        raise ResultFormatError(f"{path}: schema_version: not an integer (got {_short(version)}); the file was edited")
    if version > current:
        raise ResultFormatError(
            f"{folder} was written by a newer gpubench (results schema {version}; this one reads {current}): "
            "upgrade gpubench to read it"
        )
    if version < oldest:
        raise ResultFormatError(
            f"{folder} uses results schema {version}, too old for this gpubench (schema {current}): "
            f"read it with gpubench {data.get('gpubench_version', 'of that time')} or re-run the suite"
        )
    if not run_shape.fits(data):  # what gpubench writes passes here; anything else goes to the model
        from gpubench.documents import RunMeta

        _validate(RunMeta, data, str(path), ResultFormatError)
    if len(_RUN_META_CHECKED) >= 4096:
        _RUN_META_CHECKED.clear()
    _RUN_META_CHECKED[key] = raw
    return data


# (run.json path, schema versions read) -> the bytes last found to pass every check of run_meta
_RUN_META_CHECKED: dict[tuple[str, int, int], bytes] = {}


# --------------------------------------------------------------------------------------- Parquet columns

ParquetKind = Literal["measurements", "telemetry", "ranks"]
# Columns a reader cannot do without, per file, and columns whose values must not be negative.
REQUIRED: Mapping[str, tuple[str, ...]] = {
    "measurements": ("case_id", "status"),
    "ranks": ("case_id", "rank"),
    "telemetry": ("t_ns",),
}
NON_NEGATIVE = frozenset(
    {
        "throughput",
        "throughput_p10",
        "throughput_p90",
        "median_s",
        "p10_s",
        "p90_s",
        "mean_s",
        "min_s",
        "work_per_step",
        "n_reps",
        "energy_j",
        "avg_power_w",
        "peak_power_w",
        "power_w",
        "rounds_n",
        "world_size",
        "rank",
    }
)
STATUSES = frozenset({"ok", "skipped", "failed", "wrong"})


@functools.lru_cache(maxsize=1)
def declared_column_types() -> dict[str, str]:
    """Column -> declared type (int, float, str, bool, list[float]) over the row schema, every benchmark's
    declaration, the telemetry aggregates and the telemetry samples."""
    from gpubench import schema
    from gpubench.telemetry.aggregate import AGGREGATE_COLUMNS
    from gpubench.telemetry.base import METRICS

    types: dict[str, str] = {"t_ns": "int", "rank": "int", "local_rank": "int", "node": "str", "run_id": "str"}
    types.update(dict.fromkeys(METRICS, "float"))
    types.update(dict.fromkeys(AGGREGATE_COLUMNS, "float"))
    types.update(energy_source="str", throttle_reasons="str", throttled="bool", telemetry_samples="int")
    for col in getattr(schema, "ROW_COLUMNS", ()):
        types[col.name] = col.type
    try:  # each benchmark spec's parameters and extra columns (gpubench.benchmarks.catalog)
        from gpubench.benchmarks import catalog

        seen: dict[str, set[str]] = {}
        for spec in catalog.all_specs():
            columns = spec.all_columns() if callable(spec.all_columns) else spec.all_columns
            for col in columns:
                seen.setdefault(col.name, set()).add(col.type)
        # A parameter two benchmarks type differently holds both in one column: only agreed types are checked.
        types.update({name: kinds.pop() for name, kinds in seen.items() if len(kinds) == 1 and name not in types})
    except (ImportError, AttributeError, TypeError, ValueError):
        pass  # the catalogue's shape is being reworked: the row schema alone still applies
    return types


def _column_problem(series: pd.Series, kind: str) -> str | None:
    """What is wrong with a column's values for its declared type, or None."""
    import pandas as pd

    values = series.dropna()
    if values.empty:
        return None
    if kind in ("int", "float"):
        if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
            bad = next((v for v in values if isinstance(v, (str, bytes, bool)) or not _is_number(v)), values.iloc[0])
            return f"holds {type(bad).__name__} values, not numbers (e.g. {_short(bad, 24)})"
        if kind == "int" and pd.api.types.is_float_dtype(series):
            finite = values[values.map(math.isfinite)]
            if not (finite == finite.round()).all():
                return "holds fractions where whole numbers belong"
        return None
    if kind == "str":
        bad = next((v for v in values if not isinstance(v, str)), None)
        return None if bad is None else f"holds {type(bad).__name__} values, not text"
    if kind == "bool":
        if pd.api.types.is_bool_dtype(series):
            return None
        bad = next((v for v in values if not isinstance(v, (bool, int)) or v not in (0, 1)), None)
        return None if bad is None else f"holds {type(bad).__name__} values, not true/false"
    if kind == "list[float]":
        bad = next((v for v in values if isinstance(v, (str, bytes, int, float))), None)
        return None if bad is None else f"holds {type(bad).__name__} values, not lists of numbers"
    return None


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return not isinstance(value, (str, bytes))


def check_frame(path: PathLike, frame: pd.DataFrame, kind: ParquetKind) -> pd.DataFrame:
    """A Parquet file's frame, checked against the declared columns: required columns present, each declared
    column of its type, no negative time / throughput / power, statuses known. Infinite values in float
    columns (a zero time divides to infinity) become missing: an infinity is never a measurement.
    Raises ResultFormatError naming the file and the column."""
    import numpy as np
    import pandas as pd

    if frame.empty and len(frame.columns) == 0:
        return frame
    for col in REQUIRED[kind]:
        if col not in frame.columns:
            raise ResultFormatError(
                f"{path}: {col}: missing column; the file was not written by gpubench or was edited"
            )
    if kind == "measurements":
        ok = frame["status"].astype(str).eq("ok") if "status" in frame.columns else pd.Series(False, index=frame.index)
        if ok.any() and "throughput" not in frame.columns:
            raise ResultFormatError(f"{path}: throughput: missing column, but rows have status ok")
    types = declared_column_types()
    for col in frame.columns:
        kind_of = types.get(str(col))
        if kind_of is None:
            continue
        problem = _column_problem(frame[col], kind_of)
        if problem:
            raise ResultFormatError(f"{path}: {col}: {problem}; the file was edited or written by something else")
    if "status" in frame.columns and kind != "telemetry":
        unknown = sorted(set(frame["status"].dropna()) - STATUSES)
        if unknown:
            raise ResultFormatError(f"{path}: status: {_short(unknown[0])} is not one of {', '.join(sorted(STATUSES))}")
    for col in frame.columns:
        if types.get(str(col)) not in ("float", "int") or not pd.api.types.is_numeric_dtype(frame[col]):
            continue
        if pd.api.types.is_bool_dtype(frame[col]):
            continue
        values = frame[col].astype("float64")
        if col in NON_NEGATIVE and (values < 0).any():
            row = int(np.flatnonzero((values < 0).to_numpy())[0])
            raise ResultFormatError(f"{path}: {col}: negative value {values.iloc[row]:g} in row {row}")
        if pd.api.types.is_float_dtype(frame[col]) and np.isinf(values.to_numpy()).any():
            frame[col] = frame[col].where(~np.isinf(values), np.nan)
    return frame


def read_parquet(path: PathLike, kind: ParquetKind, skip: Sequence[str] = ()) -> pd.DataFrame:
    """A run folder's Parquet file, read and checked (`check_frame`). A file that is not a regular file, not
    readable, or not Parquet is a ResultFormatError saying which of these it is."""
    import pandas as pd
    import pyarrow.parquet as pq

    regular_file(path, ResultFormatError, limit=LIMITS.parquet_bytes)
    try:
        columns = None
        if skip:
            columns = [n for n in pq.read_schema(path).names if n not in skip]
        frame = pd.read_parquet(path, columns=columns)
    except PermissionError as e:
        raise ResultFormatError(os_error_line(path, e)) from None
    except RecursionError:
        raise ResultFormatError(f"{path}: nested deeper than gpubench writes; the file was edited") from None
    except Exception as e:  # noqa: BLE001 - pyarrow raises many types for a damaged file
        raise ResultFormatError(
            f"{path} is damaged and cannot be read ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
            "re-run the suite"
        ) from None
    return check_frame(path, frame, kind)


def _arrow_problem(column: Any, kind: str) -> str | None:
    """What is wrong with a pyarrow column for its declared type, or None."""
    import pyarrow as pa

    t = column.type
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_null(t) or column.null_count == len(column):
        return None
    numeric = pa.types.is_integer(t) or pa.types.is_floating(t)
    if kind == "int":
        if pa.types.is_integer(t):
            return None
        if pa.types.is_floating(t):
            values = [v for v in column.to_pylist() if v is not None and math.isfinite(v)]
            return None if all(v == round(v) for v in values) else "holds fractions where whole numbers belong"
    elif (
        kind == "float"
        and numeric
        or kind == "str"
        and (pa.types.is_string(t) or pa.types.is_large_string(t))
        or kind == "bool"
        and (pa.types.is_boolean(t) or pa.types.is_integer(t))
    ):
        return None
    elif kind == "list[float]" and (pa.types.is_list(t) or pa.types.is_large_list(t)):
        inner = t.value_type
        if pa.types.is_integer(inner) or pa.types.is_floating(inner) or pa.types.is_null(inner):
            return None
        return f"holds lists of {inner}, not lists of numbers"
    shown = "str" if pa.types.is_string(t) or pa.types.is_large_string(t) else str(t)
    wanted = {"int": "whole numbers", "float": "numbers", "str": "text", "bool": "true/false"}.get(kind, kind)
    return f"holds {shown} values, not {wanted}"


class _SchemaFacts:
    """What is known of one arrow schema: its column names, and its declared columns whose type has not yet been
    found to fit their declaration (None until the first table of the schema is checked)."""

    __slots__ = ("names", "pending")

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.pending: list[str] | None = None


_SCHEMAS: list[tuple[Any, _SchemaFacts]] = []  # the arrow schemas seen, most often one per gpubench version


def _schema_facts(schema: Any) -> _SchemaFacts:
    """The memo entry of an arrow schema. Schemas are compared, not hashed (hashing one of 130 columns costs
    0.1 ms, comparing a microsecond)."""
    for known, facts in _SCHEMAS:
        if known.equals(schema):
            return facts
    if len(_SCHEMAS) >= 64:
        _SCHEMAS.clear()
    facts = _SchemaFacts(tuple(schema.names))
    _SCHEMAS.append((schema, facts))
    return facts


def column_names(table: Any) -> tuple[str, ...]:
    """The column names of a pyarrow table (or schema). pyarrow builds them afresh as Python strings on every
    `column_names` call (0.1 ms for a run's 130 columns), and a report of a thousand runs asks several times
    per file: the names of a schema seen before come from a memo."""
    return _schema_facts(getattr(table, "schema", table)).names


def check_table(path: PathLike, table: Any, kind: ParquetKind) -> Any:
    """A pyarrow table of a run folder's Parquet file, checked against the declared columns as `check_frame`
    checks a DataFrame: required columns, declared types, known statuses, no negative times, counts or power.
    Returns the table; ResultFormatError naming the file and the column."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if table.num_rows == 0:
        return table
    facts = _schema_facts(table.schema)
    names = facts.names
    for col in REQUIRED[kind]:
        if col not in names:
            raise ResultFormatError(
                f"{path}: {col}: missing column; the file was not written by gpubench or was edited"
            )
    statuses = []
    if kind != "telemetry" and "status" in names:
        statuses = pc.unique(table.column("status").cast(pa.string())).to_pylist()
    if kind == "measurements" and "ok" in statuses:
        for col in ("times_s", "work_per_step"):  # what every derived figure of an ok row comes from
            if col not in names:
                raise ResultFormatError(f"{path}: {col}: missing column, but rows have status ok")
    types = declared_column_types()
    # A report reads a thousand files of one schema: the columns whose type alone fits are known after the first,
    # and only the others (all missing so far, or whole numbers stored as floats) are looked at again.
    if facts.pending is None:
        facts.pending = [col for col in names if col in types]
    pending = facts.pending
    for col in list(pending):
        kind_of = types[col]
        column = table.column(col)
        problem = _arrow_problem(column, kind_of)
        if problem:
            raise ResultFormatError(f"{path}: {col}: {problem}; the file was edited or written by something else")
        if column.null_count < len(column) and not (kind_of == "int" and pa.types.is_floating(column.type)):
            pending.remove(col)  # decided by the type alone (an all-null column fits any type; fractions are values)
    unknown = sorted(str(v) for v in statuses if v not in STATUSES)
    if unknown:
        raise ResultFormatError(f"{path}: status: {_short(unknown[0])} is not one of {', '.join(sorted(STATUSES))}")
    for col in [c for c in names if c in NON_NEGATIVE or c == "times_s"]:
        column = table.column(col)
        if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
            column = pc.list_flatten(column)
        if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)) or column.null_count == len(
            column
        ):
            continue
        low = pc.min(column).as_py()
        if low is not None and low < 0:
            raise ResultFormatError(f"{path}: {col}: negative value {low:g}; the file was edited")
    return table


def read_table(path: PathLike, kind: ParquetKind, skip: Iterable[str] = ()) -> Any:
    """A run folder's Parquet file as a checked pyarrow table (`check_table`): only a regular file is opened,
    a permission problem is named as one, anything pyarrow cannot read is damaged."""
    import pyarrow.parquet as pq

    regular_file(path, ResultFormatError, limit=LIMITS.parquet_bytes)
    try:
        skip = set(skip)
        # One open and one footer parse; no dataset layer and no threads: a run's file is a few hundred rows,
        # and a report reads a thousand of them.
        with pq.ParquetFile(path) as parquet:
            columns = [n for n in column_names(parquet.schema_arrow) if n not in skip] if skip else None
            table = parquet.read(columns=columns, use_threads=False)
    except PermissionError as e:
        raise ResultFormatError(os_error_line(path, e)) from None
    except RecursionError:
        raise ResultFormatError(f"{path}: nested deeper than gpubench writes; the file was edited") from None
    except Exception as e:  # noqa: BLE001 - pyarrow raises many types for a damaged file
        first = str(e).splitlines()[0] if str(e) else ""
        raise ResultFormatError(
            f"{path} is damaged and cannot be read ({type(e).__name__}: {first}); re-run the suite"
        ) from None
    return check_table(path, table, kind)


def no_infinities(frame: pd.DataFrame) -> pd.DataFrame:
    """Infinite values in float columns become missing: a zero time divided into work is not a measurement,
    and never the headline."""
    import numpy as np
    import pandas as pd

    for col in frame.columns:
        series = frame[col]
        if pd.api.types.is_float_dtype(series) and np.isinf(series.to_numpy(dtype="float64", na_value=np.nan)).any():
            frame[col] = series.where(~np.isinf(series.astype("float64")), np.nan)
    return frame


# ------------------------------------------------------------------------------------------------ prices


def prices_document(path: PathLike) -> tuple[str, Any]:
    """A prices file, read within LIMITS: ("csv", rows as dicts with their line numbers) or ("toml", dict).
    The interpretation of the prices is gpubench.advisor's."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".csv", ".toml"):
        raise GpubenchError(f"{path}: prices file must be .csv or .toml")
    if suffix == ".toml":
        return "toml", parse_toml(read_text(p, LIMITS.toml_bytes), str(path))
    text = read_text(p, LIMITS.prices_bytes)
    rows: list[tuple[int, dict[str | None, Any]]] = []
    reader = csv.DictReader(io.StringIO(text, newline=""))
    limit = csv.field_size_limit()
    try:
        csv.field_size_limit(LIMITS.csv_field_bytes)
        header = reader.fieldnames
        for row in reader:
            rows.append((reader.line_num, row))
    except csv.Error as e:
        raise GpubenchError(
            f"{path}: line {reader.line_num}: {e} (at most {LIMITS.csv_field_bytes:,} bytes a field)"
        ) from None
    finally:
        csv.field_size_limit(limit)
    return "csv", (list(header or []), rows)


# ------------------------------------------------------------------------------------- command-line numbers


@dataclass(frozen=True)
class Bounds:
    """The accepted range of a numeric option: low <= value <= high (low excluded when `open_low`)."""

    low: float
    high: float
    open_low: bool = False
    meaning: str = ""

    def check(self, option: str, value: float) -> float:
        ok = isinstance(value, (int, float)) and math.isfinite(value)
        ok = ok and (value > self.low if self.open_low else value >= self.low) and value <= self.high
        if not ok:
            low = f"above {self.low:g}" if self.open_low else f"at least {self.low:g}"
            raise GpubenchError(f"{option} {value:g}: must be {low} and at most {self.high:g}{self.meaning}")
        return value


NUMBERS: Mapping[str, Bounds] = {
    "--sample-hz": Bounds(0.1, 1000, meaning=" samples a second"),
    "--idle-s": Bounds(0, 3600, meaning=" seconds"),
    "--hz": Bounds(0.01, 100, meaning=" readings a second"),
    "--seconds": Bounds(0, 366 * 86400, meaning=" seconds (0 = until Ctrl-C)"),
    "--dist-timeout-s": Bounds(1, 7 * 86400, meaning=" seconds"),
    "--kwh-price": Bounds(0, 100, meaning=" USD per kWh"),
    "--hours-per-day": Bounds(0, 24, open_low=True, meaning=" hours"),
    "--years": Bounds(0, 100, open_low=True, meaning=" years"),
    "--budget": Bounds(0, 1e9, open_low=True, meaning=" USD"),
    "--threshold": Bounds(0, 1e6, meaning=" percent"),
    "--memory-gib": Bounds(0, 1e6, open_low=True, meaning=" GiB"),
    "--power-limit-w": Bounds(0, 1e6, open_low=True, meaning=" W"),
}


def check_numbers(**values: float | None) -> None:
    """Check command-line numbers against NUMBERS: `check_numbers(sample_hz=20.0, idle_s=2.0)`; None is skipped."""
    for key, value in values.items():
        if value is None:
            continue
        option = "--" + key.replace("_", "-")
        NUMBERS[option].check(option, value)


def nnodes(value: str | None) -> str | None:
    """torchrun's --nnodes: N or MIN:MAX, whole numbers from 1 to 100,000."""
    if value is None:
        return None
    parts = value.split(":")
    if len(parts) > 2 or not all(p.isdigit() and 1 <= int(p) <= 100_000 for p in parts):
        raise GpubenchError(f"--nnodes {value!r}: must be a number of nodes (N) or a range (MIN:MAX), N >= 1")
    if len(parts) == 2 and int(parts[0]) > int(parts[1]):
        raise GpubenchError(f"--nnodes {value!r}: MIN is above MAX")
    return value


def port(option: str, value: int | None) -> int | None:
    if value is not None and not 0 < value < 65536:
        raise GpubenchError(f"{option} {value}: not a TCP port (1 to 65535)")
    return value


# ---------------------------------------------------------------------------------------- the environment

TORCHRUN_VARIABLES = ("TORCHELASTIC_RUN_ID", "RANK", "WORLD_SIZE")


def _parent_is_torchrun(ppid: int) -> bool | None:
    """Whether the parent process runs torchrun (`torch.distributed.run`); None where /proc cannot tell."""
    try:
        cmdline = Path(f"/proc/{ppid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    return any(a.endswith(b"torchrun") or a == b"torch.distributed.run" for a in cmdline)


def rank_environment(
    env: Mapping[str, str] | None = None,
    marker: str = "GPUBENCH_DIST_CHILD",
    parent_check: Callable[[int], bool | None] = _parent_is_torchrun,
) -> tuple[bool, str | None]:
    """(is this process a rank of a distributed run, why torchrun variables were ignored or None).

    A rank is a process torchrun started: torchrun's variables are set AND its parent process is torchrun.
    Variables left in a shell (an `export RANK=0` from another job) do not make a plain run act as a rank; the
    second value says so, for a note. Where /proc cannot tell (not Linux), the launcher's marker or torchrun's
    own TORCHELASTIC_USE_AGENT_STORE decides."""
    env = os.environ if env is None else env
    has_vars = all(k in env for k in TORCHRUN_VARIABLES)
    marked = env.get(marker) == "1"
    if not has_vars and not marked:
        return False, None
    parent = parent_check(os.getppid())
    if parent is None:
        parent = marked or "TORCHELASTIC_USE_AGENT_STORE" in env
    if parent and has_vars:
        return True, None
    names = [k for k in (*TORCHRUN_VARIABLES, marker) if k in env]
    return False, f"{', '.join(names)} set in the environment but this process was not started by torchrun: ignored"


def terminal_columns(env: Mapping[str, str] | None = None) -> int | None:
    """COLUMNS when it is a usable width (20 to 10,000), else None (0, negative, text: as if unset)."""
    env = os.environ if env is None else env
    raw = env.get("COLUMNS")
    if raw is None:
        return None
    try:
        value = int(raw.strip())
    except ValueError:
        return None
    return value if 20 <= value <= 10_000 else None


__all__ = [
    "LIMITS",
    "NUMBERS",
    "Bounds",
    "Limits",
    "check_frame",
    "check_table",
    "check_numbers",
    "check_tree",
    "nnodes",
    "os_error_line",
    "parse_json",
    "parse_toml",
    "port",
    "prices_document",
    "rank_environment",
    "read_bytes",
    "no_infinities",
    "read_parquet",
    "read_table",
    "read_text",
    "regular_file",
    "run_meta",
    "suite_document",
    "terminal_columns",
]
