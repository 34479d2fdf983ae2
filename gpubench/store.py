"""Run folders <-> DataFrames. Never imports torch: results from any machine load on any laptop.

A run folder holds `run.json` (provenance), `measurements.parquet` (a row per case) and
`telemetry.parquet` (the sampled time series). Files are rewritten by atomic replace after every case, so a
crash or Ctrl-C keeps every finished case and never leaves a half-written file.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import math
import os
import re
import shutil
import socket
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from gpubench import __version__, views
from gpubench.benchmarks import BENCHMARKS
from gpubench.errors import ResultFormatError, StorageError
from gpubench.files import atomic_write, os_error_text
from gpubench.records import MIN_READABLE_SCHEMA, SCHEMA_VERSION
from gpubench.schema import columns_of_type

RUN_JSON = "run.json"
MEASUREMENTS = "measurements.parquet"
TELEMETRY = "telemetry.parquet"
LOCK = ".lock"  # held (flock) by the one process writing the folder; the kernel releases it when that process dies


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _slug(text: str, limit: int = 40) -> str:
    return re.sub(r"[^a-zA-Z0-9]+", "-", text).strip("-").lower()[:limit] or "x"


def new_run_folder(out_dir: Path, device_name: str, host: str | None = None) -> Path:
    """`<out>/<UTC time>_<host>_<device-slug>/`, created empty; a clash gets a numeric suffix, never reuse."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    base = f"{stamp}_{_slug(host or socket.gethostname(), 24)}_{_slug(device_name)}"
    if out_dir.exists() and not out_dir.is_dir():
        raise StorageError(f"{out_dir} is a file, not a folder: give --out a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StorageError(f"cannot create the output folder: {os_error_text(e, out_dir)}") from None
    for i in range(1, 1000):
        folder = out_dir / (base if i == 1 else f"{base}-{i}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
        except OSError as e:
            raise StorageError(f"cannot create a run folder: {os_error_text(e, folder)}") from None
    raise StorageError(f"cannot create a new run folder under {out_dir}")


def json_value(obj: Any) -> Any:
    """The strict-JSON form of a value: NaN, inf and pandas NA become null; numpy scalars and arrays become
    Python values; dicts and lists are converted all the way down."""
    if isinstance(obj, dict):
        return {k: json_value(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_value(v) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):
        return json_value(obj.tolist())  # numpy scalar or array
    if obj is pd.NA or obj is pd.NaT or (isinstance(obj, float) and not math.isfinite(obj)):
        return None
    if isinstance(obj, pd.Timestamp):
        return obj.isoformat()
    return obj


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    text = json.dumps(json_value(data), indent=2, sort_keys=True, default=str, allow_nan=False)
    atomic_write(path, text.encode())


# Integer columns that some rows lack (skipped cases have no timings): kept as nullable integers, not floats.
# Declared by the row schema and each benchmark's declaration (gpubench.schema).
INT_COLUMNS = columns_of_type("int", {name: declares for name, (_, declares) in BENCHMARKS.items()})


def rows_to_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows -> DataFrame with stable dtypes: integer parameters stay integers where some rows lack them."""
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


def write_frame(path: Path, frame: pd.DataFrame) -> None:
    """A DataFrame to Parquet by atomic replace."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    atomic_write(path, sink.getvalue().to_pybytes())


class RunStore:
    """One run folder, written incrementally. Rows are keyed by case id (a re-run case replaces its row)."""

    def __init__(
        self,
        folder: Path,
        meta: dict[str, Any],
        rows: list[dict[str, Any]] | None = None,
        lock: Any = None,
        telemetry: pd.DataFrame | None = None,
    ) -> None:
        self.folder = folder
        self.meta = meta
        self.rows: list[dict[str, Any]] = rows or []
        self._lock = lock
        self._telemetry_before = telemetry  # a resumed run's earlier samples: kept, the new ones appended

    @property
    def run_id(self) -> str:
        return self.meta["run_id"]

    @classmethod
    def create(cls, out_dir: Path, run_info: Mapping[str, Any]) -> RunStore:
        folder = new_run_folder(Path(out_dir), run_info["device"]["name"], run_info.get("host"))
        meta = {
            "schema_version": SCHEMA_VERSION,
            "gpubench_version": __version__,
            "run_id": folder.name,
            "started_utc": utc_now(),
            "finished_utc": None,
            "status": "running",
            **run_info,
        }
        try:
            store = cls(folder, meta, lock=lock_run_folder(folder))
            store.save_meta()
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)  # leave no empty run folder behind
            raise
        return store

    @classmethod
    def resume(cls, folder: Path) -> RunStore:
        """Open an existing run folder to add the cases it lacks. Holds its lock: a second writer is refused."""
        folder = Path(folder)
        meta = read_meta(folder)
        lock = lock_run_folder(folder)
        try:
            rows = []
            if (folder / MEASUREMENTS).exists():
                rows = check_measurements(folder / MEASUREMENTS, _read_parquet(folder / MEASUREMENTS)).to_dict(
                    "records"
                )
                rows = [{k: _from_parquet(v) for k, v in r.items()} for r in rows]
            telemetry = _read_parquet(folder / TELEMETRY) if (folder / TELEMETRY).exists() else None
            for tmp in folder.glob(".*.tmp"):
                tmp.unlink(missing_ok=True)  # a write interrupted before its atomic replace
        except BaseException:
            lock.close()
            raise
        meta["status"] = "running"
        meta["schema_version"] = SCHEMA_VERSION  # older rows read as the newer format (one round each)
        meta.setdefault("resumed_utc", []).append(utc_now())
        return cls(folder, meta, rows, lock=lock, telemetry=telemetry)

    def close(self) -> None:
        """Release the folder's lock (process exit releases it too)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def finished_case_ids(self, retry: tuple[str, ...] = ("failed", "skipped")) -> set[str]:
        """Cases a resumed run skips: every recorded one except those whose status is in `retry`. Skipped cases
        are retried too: their reason (a run without --nproc, a missing library) may no longer hold."""
        return {r["case_id"] for r in self.rows if r.get("status") not in retry}

    def save_meta(self) -> None:
        write_json(self.folder / RUN_JSON, self.meta)

    def add(self, row: dict[str, Any]) -> None:
        """Append (or replace by case id) one case's row and rewrite measurements.parquet atomically."""
        row = {"run_id": self.run_id, **row}
        self.rows = [r for r in self.rows if r.get("case_id") != row["case_id"]] + [row]
        write_frame(self.folder / MEASUREMENTS, rows_to_frame(self.rows))

    def write_telemetry(self, frame: pd.DataFrame | None) -> None:
        """Rewrite telemetry.parquet: the samples recorded before a resume, then `frame` (this process's)."""
        if frame is not None and not frame.empty:
            frame = frame.assign(run_id=self.run_id)
            if "device_name" not in frame.columns:
                frame = frame.assign(device_name=(self.meta.get("device") or {}).get("name"))
            if self._telemetry_before is not None and not self._telemetry_before.empty:
                frame = pd.concat([self._telemetry_before, frame], ignore_index=True, sort=False)
            write_frame(self.folder / TELEMETRY, frame)

    def finish(self, status: str, **extra: Any) -> None:
        self.meta.update(status=status, finished_utc=utc_now(), **extra)
        self.save_meta()


def lock_run_folder(folder: Path) -> Any:
    """An exclusive flock on `folder/.lock`, or StorageError naming the process that holds it. The open file is
    the lock: close it to release. A crashed or killed writer's lock goes with its process, never stale."""
    import fcntl

    path = Path(folder) / LOCK
    try:
        f = open(path, "a+")  # noqa: SIM115 - kept open for as long as the lock is held
    except OSError as e:
        raise StorageError(f"cannot lock the run folder: {os_error_text(e, path)}") from None
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        f.seek(0)
        holder = f.read().strip()
        f.close()
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            who = f" (pid {holder})" if holder.isdigit() else ""
            raise StorageError(
                f"{folder} is being written by another gpubench process{who}: wait for it to finish"
            ) from None
        raise StorageError(f"cannot lock the run folder: {os_error_text(e, path)}") from None
    with contextlib.suppress(OSError):  # who holds it, for the message above; the lock does not depend on it
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
    return f


def _from_parquet(value: Any) -> Any:
    """Parquet list columns come back as numpy arrays; pandas missing values as NA/NaT."""
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return value.tolist()
    if value is pd.NA:
        return None
    return value


def _read_parquet(path: Path, skip: Sequence[str] = ()) -> pd.DataFrame:
    try:
        if skip:
            names = pq.read_schema(path).names
            return pd.read_parquet(path, columns=[n for n in names if n not in skip])
        return pd.read_parquet(path)
    except Exception as e:  # noqa: BLE001 - pyarrow raises many types for a damaged file
        raise ResultFormatError(
            f"{path} is damaged and cannot be read ({type(e).__name__}: {e}); re-run the suite"
        ) from None


# Columns every reader relies on, and numeric ones that reports, compare and the advisor compute with.
_TEXT_COLUMNS = ("case_id", "status")
_NUMERIC_COLUMNS = (
    "median_s",
    "p10_s",
    "p90_s",
    "mean_s",
    "cov",
    "throughput",
    "throughput_p10",
    "throughput_p90",
    "pct_of_peak",
    "work_per_step",
    "n_reps",
    "energy_j",
    "avg_power_w",
    "peak_power_w",
)


def check_measurements(path: Path, frame: pd.DataFrame) -> pd.DataFrame:
    """The frame, if it has the shape gpubench writes; else ResultFormatError naming the file and the column
    (a measurements.parquet edited by hand or written by something else must not end in a traceback)."""
    if frame.empty:
        return frame
    for col in _TEXT_COLUMNS:
        if col not in frame.columns:
            raise ResultFormatError(f"{path}: no {col!r} column; it was not written by gpubench (or was edited)")
        if not frame[col].map(lambda v: isinstance(v, str)).all():
            raise ResultFormatError(f"{path}: column {col!r} must hold text in every row; the file was edited")
    for col in _NUMERIC_COLUMNS:
        if col in frame.columns and not (pd.api.types.is_numeric_dtype(frame[col]) or frame[col].isna().all()):
            raise ResultFormatError(
                f"{path}: column {col!r} holds {frame[col].dtype} values, not numbers; "
                "the file was edited or written by something else"
            )
    return frame


def read_meta(folder: Path) -> dict[str, Any]:
    """run.json of a run folder, with its schema version checked."""
    path = Path(folder) / RUN_JSON
    if not path.is_file():
        raise ResultFormatError(f"{folder} is not a gpubench run folder (no {RUN_JSON})")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ResultFormatError(f"{path} is damaged and cannot be read ({e})") from None
    if not isinstance(meta, dict):
        raise ResultFormatError(f"{path} is damaged: expected a JSON object")
    version = meta.get("schema_version")
    if not isinstance(version, int):
        raise ResultFormatError(f"{path} has no schema_version; it was not written by gpubench")
    if version > SCHEMA_VERSION:
        raise ResultFormatError(
            f"{folder} was written by a newer gpubench (results schema {version}; this one reads {SCHEMA_VERSION}): "
            "upgrade gpubench to read it"
        )
    if version < MIN_READABLE_SCHEMA:
        raise ResultFormatError(
            f"{folder} uses results schema {version}, too old for this gpubench (schema {SCHEMA_VERSION}): "
            f"read it with gpubench {meta.get('gpubench_version', 'of that time')} or re-run the suite"
        )
    return meta


Paths = Iterable[str | os.PathLike[str]] | str | os.PathLike[str]


def expand_paths(paths: Paths) -> list[Path]:
    """Run folders from a path or paths and globs; a folder holding run folders (like results/) stands for
    all of them."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    found: list[Path] = []
    for raw in paths:
        text = str(raw)
        matches = sorted(glob.glob(text)) if glob.has_magic(text) else [text]
        if not matches:
            raise ResultFormatError(f"no run folder matches {text!r}")
        for m in matches:
            p = Path(m)
            if (p / RUN_JSON).is_file():
                found.append(p)
            elif p.is_dir():
                subs = sorted(q.parent for q in p.glob(f"*/{RUN_JSON}"))
                subs += sorted(q.parent for q in p.glob(f"*/*/{RUN_JSON}") if q.parent.parent not in subs)
                if not subs and not glob.has_magic(text):
                    raise ResultFormatError(f"{p} is not a gpubench run folder and holds none")
                found.extend(subs)
            elif not glob.has_magic(text):
                raise ResultFormatError(f"run folder {p} not found")
    unique = list(dict.fromkeys(p.resolve() for p in found))
    if not unique:
        raise ResultFormatError("no run folders found in " + ", ".join(str(p) for p in paths))
    return unique


def _run_columns(meta: Mapping[str, Any]) -> dict[str, Any]:
    dev = meta.get("device", {}) or {}
    sw = meta.get("software", {}) or {}
    tel = meta.get("telemetry", {}) or {}
    suite = meta.get("suite", {}) or {}
    return {
        "run_id": meta.get("run_id"),
        "host": meta.get("host"),
        "run_started_utc": meta.get("started_utc"),
        "run_status": meta.get("status"),
        "suite": suite.get("name"),
        "gpubench_version": meta.get("gpubench_version"),
        "torch_version": sw.get("torch"),
        "cuda_version": sw.get("cuda"),
        "hip_version": sw.get("hip"),
        "driver_version": dev.get("driver"),
        "device_memory_bytes": dev.get("memory_bytes"),
        "device_multiprocessors": dev.get("multiprocessors"),
        "device_uuid": dev.get("uuid"),
        "compute_capability": dev.get("compute_capability") or dev.get("gcn_arch"),
        "power_limit_w": tel.get("power_limit_w"),
        "idle_power_w": tel.get("idle_power_w"),
        "telemetry_reader": tel.get("reader"),
    }


def load_runs(paths: Paths, skip_columns: Sequence[str] = (), view: str = "all") -> pd.DataFrame:
    """One DataFrame, a row per case of every run, with run metadata joined. Torch is never imported.

    `skip_columns` are not read at all (a report has no use for the raw `times_s` lists of 100 runs).
    `view`: "all" (every column; timestamps as UTC datetimes, one `precision` column for every benchmark) or
    "headline" (the tidy view for notebooks: run, device, case, workload, headline metric, value, unit, p10-p90).
    The column guide: `gpubench.views` (HEADLINE_COLUMNS) and docs of the run folder in the README."""
    frames = []
    for folder in expand_paths(paths):
        meta = read_meta(folder)
        mpath = folder / MEASUREMENTS
        frame = (
            check_measurements(mpath, _read_parquet(mpath, skip_columns))
            if mpath.exists()
            else pd.DataFrame({"case_id": pd.Series(dtype=str)})
        )
        dev = meta.get("device", {}) or {}
        extra = {col: value for col, value in _run_columns(meta).items() if col not in frame.columns or col == "run_id"}
        if "device_name" not in frame.columns:
            extra["device_name"] = dev.get("name")
        if "device_vendor" not in frame.columns:
            extra["device_vendor"] = dev.get("vendor")
        extra["run_folder"] = str(folder)
        # One concat, not a column at a time: each insert copies the frame's blocks.
        columns = pd.DataFrame({k: [v] * len(frame) for k, v in extra.items()}, index=frame.index)
        frame = pd.concat([frame.drop(columns=[c for c in extra if c in frame.columns]), columns], axis=1)
        frames.append(frame)
    return views.select(pd.concat(frames, ignore_index=True, sort=False) if frames else pd.DataFrame(), view)


def load_telemetry(paths: Paths) -> pd.DataFrame:
    """The telemetry time series of every run (empty frame when none was sampled)."""
    frames = []
    for folder in expand_paths(paths):
        meta = read_meta(folder)
        tpath = folder / TELEMETRY
        if tpath.exists():
            frame = _read_parquet(tpath)
            frame["run_id"] = meta.get("run_id")
            if "device_name" not in frame.columns:
                frame["device_name"] = (meta.get("device") or {}).get("name")
            frames.append(frame)
    return pd.concat(frames, ignore_index=True, sort=False) if frames else pd.DataFrame()


def load_meta(paths: Paths) -> list[dict[str, Any]]:
    """run.json of every run folder, in order."""
    return [read_meta(folder) for folder in expand_paths(paths)]
