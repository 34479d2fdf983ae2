"""Run folders <-> DataFrames. Never imports torch: results from any machine load on any laptop.

A run folder holds `run.json` (provenance), `measurements.parquet` (raw rounds: a row per case and round, its
step times, timed window, telemetry aggregates and metadata; nothing derived) and `telemetry.parquet` (the
sampled time series); a distributed run also `ranks.parquet` (every rank's own round of every case). Files are
rewritten by atomic replace after every round, so a crash or Ctrl-C keeps every finished round and never leaves
a half-written file. Loading derives everything else once (gpubench.derive): a loaded frame has a row per case.
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
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from gpubench import __version__, derive, inputs, views
from gpubench.errors import ResultFormatError, StorageError
from gpubench.files import atomic_write, os_error_text
from gpubench.frame import Unhandled, rows_to_frame
from gpubench.records import MIN_READABLE_SCHEMA, SCHEMA_VERSION

RUN_JSON = "run.json"
MEASUREMENTS = "measurements.parquet"
TELEMETRY = "telemetry.parquet"
RANKS = "ranks.parquet"
LOCK = ".lock"  # held (flock) by the one process writing the folder; the kernel releases it when that process dies


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _slug(text: str, limit: int = 40) -> str:
    return re.sub(r"[^a-zA-Z0-9]+", "-", text).strip("-").lower()[:limit] or "x"


def new_run_folder(out_dir: Path, device_name: str, host: str | None = None, index: int | None = None) -> Path:
    """`<out>/<UTC time>_<host>_<device-slug>[-<index>]/`, created empty; a clash gets a numeric suffix, never reuse.

    The folder's name is the run id that reports and compare join on, so runs started together must not share
    it even when they write to different folders: a fleet starts one run per GPU of a node in the same second
    (the device index tells them apart) and several processes on one host (milliseconds in the time)."""
    now = datetime.now(timezone.utc)
    stamp = now.strftime("%Y%m%dT%H%M%S") + f".{now.microsecond // 1000:03d}Z"
    device = _slug(device_name) + (f"-{index}" if index is not None else "")
    base = f"{stamp}_{_slug(host or socket.gethostname(), 24)}_{device}"
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


def write_frame(path: Path, frame: pd.DataFrame, lean: bool = False) -> None:
    """A DataFrame to Parquet by atomic replace (`lean`: see write_table)."""
    import pyarrow as pa

    write_table(path, pa.Table.from_pandas(frame, preserve_index=False), lean)


# measurements.parquet is read by pyarrow alone (inputs.read_table: the frame's dtypes come from gpubench.frame's
# rules, not from pandas' metadata) and a fleet's report reads a thousand of them: without pandas' metadata, the
# stored Arrow schema (text then reads back as string, not large_string), min/max statistics nothing filters on and
# dictionary pages, a quick run's file is 40 % smaller (148 -> 88 kB) and reads 20-25 % faster.
_LEAN = {"store_schema": False, "write_statistics": False, "use_dictionary": False}


def write_table(path: Path, table: Any, lean: bool = False) -> None:
    """A pyarrow table to Parquet by atomic replace. `lean` for files only gpubench's pyarrow reader reads
    (measurements): no pandas metadata, no stored schema, statistics or dictionaries."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    if lean:
        pq.write_table(table.replace_schema_metadata(None), sink, **_LEAN)
    else:
        pq.write_table(table, sink)
    atomic_write(path, sink.getvalue().to_pybytes())


def _key(row: Mapping[str, Any]) -> tuple[str, int]:
    value = row.get("round")
    return str(row.get("case_id")), 0 if value is None or value != value else int(value)


class RunStore:
    """One run folder, written incrementally. `rows` are raw rounds keyed by (case id, round): a re-run round
    replaces its row; `cases()` derives the row per case."""

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
        device = run_info["device"]
        index = device.get("index") if device.get("kind", "cpu") != "cpu" else None
        folder = new_run_folder(Path(out_dir), device["name"], run_info.get("host"), index)
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
                # A row stored before schema 3 holds a case's every round and figures derived when it was
                # measured: those are dropped (derived again on load) and it counts as the case's round 0.
                rows = [
                    {"round": 0, **{k: v for k, v in r.items() if k not in derive.DERIVED_COLUMNS}}
                    for r in read_rows(folder / MEASUREMENTS)
                ]
            telemetry = _read_parquet(folder / TELEMETRY) if (folder / TELEMETRY).exists() else None
            for tmp in folder.glob(".*.tmp"):
                tmp.unlink(missing_ok=True)  # a write interrupted before its atomic replace
        except BaseException:
            lock.close()
            raise
        meta["status"] = "running"
        meta.pop("error", None)  # the last attempt's error (a full disk) no longer describes the run
        meta["schema_version"] = SCHEMA_VERSION  # older rows read as the newer format (see above)
        meta.setdefault("resumed_utc", []).append(utc_now())
        return cls(folder, meta, rows, lock=lock, telemetry=telemetry)

    def close(self) -> None:
        """Release the folder's lock (process exit releases it too)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def cases(self) -> list[dict[str, Any]]:
        """The run's rows as they load: one per case, derived from its rounds (gpubench.derive)."""
        return derive.derive_run(self.rows)

    def finished_case_ids(self, retry: tuple[str, ...] = ("failed", "skipped")) -> set[str]:
        """Cases a resumed run skips: every recorded one except those whose status is in `retry`. Skipped cases
        are retried too: their reason (a run without --nproc, a missing library) may no longer hold."""
        return {r["case_id"] for r in self.cases() if r.get("status") not in retry}

    def save_meta(self) -> None:
        write_json(self.folder / RUN_JSON, self.meta)

    def add(self, row: dict[str, Any]) -> None:
        """Append (or replace by case id and round) one round's row and rewrite measurements.parquet atomically."""
        row = {"run_id": self.run_id, **row}
        key = _key(row)
        self.rows = [r for r in self.rows if _key(r) != key] + [row]
        write_frame(self.folder / MEASUREMENTS, rows_to_frame(self.rows), lean=True)

    def drop_case(self, case_id: str) -> None:
        """Forget every stored round of a case that starts over (written with the next `add`)."""
        self.rows = [r for r in self.rows if r.get("case_id") != case_id]

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


def _read_parquet(path: Path, skip: Sequence[str] = (), kind: inputs.ParquetKind = "telemetry") -> pd.DataFrame:
    return inputs.read_parquet(path, kind, skip)  # a regular file, its columns of their declared types


def read_rows(
    path: Path, skip: Collection[str] = (), kind: inputs.ParquetKind = "measurements"
) -> list[dict[str, Any]]:
    """The rows of a Parquet file gpubench wrote, as plain Python values (lists, None for missing), checked;
    columns in `skip` are not read. Read by pyarrow alone: a pandas frame per run would cost more than deriving
    its every statistic."""
    return _pyrows(inputs.read_table(path, kind, skip=skip))  # a regular file, columns of declared types


def read_meta(folder: Path) -> dict[str, Any]:
    """run.json of a run folder, with its shape and schema version checked (gpubench.inputs)."""
    return inputs.run_meta(folder, SCHEMA_VERSION, MIN_READABLE_SCHEMA, RUN_JSON)


def unique_runs(paths: Sequence[str | os.PathLike[str]], side: str = "") -> tuple[list[Path], list[str]]:
    """The given run folders with each run (by run_id) counted once: a folder named twice, or a copy of one, is
    one run. Paths that are not run folders pass unchanged (their reader says what is wrong with them).
    Returns the folders and a note per dropped duplicate."""
    seen: dict[str, Path] = {}
    kept: list[Path] = []
    notes = []
    for raw in paths:
        folder = Path(raw)
        if not (folder / RUN_JSON).is_file():
            kept.append(folder)
            continue
        run_id = str(read_meta(folder).get("run_id"))
        if run_id in seen:
            same = "named twice" if seen[run_id].resolve() == folder.resolve() else f"a copy of {seen[run_id]}"
            notes.append(f"{side}{folder} is {same} (run {run_id}): counted once")
            continue
        seen[run_id] = folder
        kept.append(folder)
    return kept, notes


Paths = Iterable[str | os.PathLike[str]] | str | os.PathLike[str]


def expand_paths(paths: Paths) -> list[Path]:
    """Run folders from a path or paths and globs; a folder holding run folders (like results/) stands for
    all of them."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    found: list[Path] = []
    for raw in paths:
        text = str(raw)
        is_glob = glob.has_magic(text) and not os.path.lexists(text)  # a folder named `h100 [old]` is a path
        matches = sorted(glob.glob(text)) if is_glob else [text]
        if not matches:
            raise ResultFormatError(f"no run folder matches {text!r}")
        for m in matches:
            p = Path(m)
            if (p / RUN_JSON).is_file():
                found.append(p)
            elif p.is_dir():
                subs = sorted(q.parent for q in p.glob(f"*/{RUN_JSON}"))
                subs += sorted(q.parent for q in p.glob(f"*/*/{RUN_JSON}") if q.parent.parent not in subs)
                if not subs and not is_glob:
                    raise ResultFormatError(f"{p} is not a gpubench run folder and holds none")
                found.extend(subs)
            elif not is_glob:
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


def _rank_rows(folder: Path) -> list[dict[str, Any]]:
    """A distributed run's ranks.parquet: every rank's own round of every case (empty for other runs)."""
    path = folder / RANKS
    return read_rows(path, kind="ranks") if path.exists() else []


def load_runs(
    paths: Paths, skip_columns: Sequence[str] = (), catalog: Mapping[str, Any] | None = None, view: str = "all"
) -> pd.DataFrame:
    """One DataFrame, a row per case of every run, derived from the stored rounds (gpubench.derive), with run
    metadata joined. Torch is never imported.

    `skip_columns` are left out of the frame (a report has no use for the raw `times_s` lists of 100 runs); those
    derivation needs (`times_s`: every statistic derives from them) are still read, the others are not. `catalog` is the datasheet catalog pct_of_peak and mfu
    compare with (gpubench.specs.load_catalog(path)); the packaged data/specs.toml by default.
    `view`: "all" (every column; timestamps as UTC datetimes, one `precision` column for every benchmark) or
    "headline" (the tidy view for notebooks: run, device, case, workload, headline metric, value, unit, p10-p90);
    the column guide is `gpubench.views`.

    Derivation reads rows as dicts of the columns it needs; the other stored columns are combined column by
    column over every run at once (gpubench.columnar): the same frame as deriving whole rows, several times
    faster for a fleet."""
    cat = derive.Catalog(catalog)
    skip = set(skip_columns)
    unread = skip - derive.input_columns()  # what derivation needs is read, then left out
    runs = []
    for folder in expand_paths(paths):
        mpath = folder / MEASUREMENTS
        table = inputs.read_table(mpath, "measurements", skip=unread) if mpath.exists() else None
        runs.append((folder, read_meta(folder), table))
    frame = None
    if runs and not any((folder / RANKS).exists() for folder, _, _ in runs):
        try:  # every case of every run at once, column by column: the same frame, several times faster
            frame = _load_by_column(runs, skip, cat)
        except Unhandled:  # a run or value the column rules do not cover: row by row, as derive_run defines it
            frame = None
    if frame is None:
        records = [row for folder, meta, table in runs for row in _run_rows(folder, meta, table, skip, cat)]
        frame = rows_to_frame(records) if records else None
    if frame is None:
        names = ["case_id", *_run_columns({}), "device_name", "device_vendor", "run_folder"] if runs else []
        return views.select(pd.DataFrame({c: pd.Series(dtype=object) for c in names}), view)
    return views.select(inputs.no_infinities(frame), view)  # an infinite throughput is never a value


def _extras(folder: Path, meta: Mapping[str, Any], present: set[str]) -> dict[str, Any]:
    """run.json's columns for a run's rows: those the rows lack (`present`: the columns they have), and run_id."""
    dev = meta.get("device", {}) or {}
    extra = {col: value for col, value in _run_columns(meta).items() if col not in present or col == "run_id"}
    if "device_name" not in present:
        extra["device_name"] = dev.get("name")
    if "device_vendor" not in present:
        extra["device_vendor"] = dev.get("vendor")
    extra["run_folder"] = str(folder)
    return extra


def _run_rows(
    folder: Path, meta: Mapping[str, Any], table: Any, skip: set[str], cat: derive.Catalog
) -> list[dict[str, Any]]:
    """One run's derived rows (derive.derive_run) from its table, run.json's columns joined where they lack them."""
    raw = _pyrows(table) if table is not None and table.num_rows else []
    rows = derive.derive_run(raw, _rank_rows(folder), cat) if raw else []
    extra = _extras(folder, meta, set().union(*rows) - skip)  # a column left out comes from run.json
    for row in rows:
        for col in skip:
            row.pop(col, None)
        row.update(extra)
    return rows


def _load_by_column(runs: Sequence[tuple[Path, Mapping[str, Any], Any]], skip: set[str], cat: derive.Catalog) -> Any:
    """The frame of `runs` (folder, run.json, table) by gpubench.columnar; None when no run has a case."""
    from gpubench import columnar

    measured = [(folder, meta, table) for folder, meta, table in runs if table is not None and table.num_rows]
    if not measured:
        return None
    extras = [_extras(folder, meta, set(inputs.column_names(table)) - skip) for folder, meta, table in measured]
    return columnar.frame([(table, meta) for _, meta, table in measured], skip, cat, extras)


def load_telemetry(paths: Paths) -> pd.DataFrame:
    """The telemetry time series of every run (empty frame when none was sampled)."""
    frames = []
    for folder in expand_paths(paths):
        meta = read_meta(folder)
        tpath = folder / TELEMETRY
        if tpath.exists():
            frame = _read_parquet(tpath, kind="telemetry")
            frame["run_id"] = meta.get("run_id")
            if "device_name" not in frame.columns:
                frame["device_name"] = (meta.get("device") or {}).get("name")
            frames.append(frame)
    return pd.concat(frames, ignore_index=True, sort=False) if frames else pd.DataFrame()


def load_meta(paths: Paths) -> list[dict[str, Any]]:
    """run.json of every run folder, in order."""
    return [read_meta(folder) for folder in expand_paths(paths)]


def _pyrows(table: Any) -> list[dict[str, Any]]:
    """A pyarrow table's rows as dicts of plain Python values (lists, None for missing)."""
    columns = table.to_pydict()
    names = list(columns)
    return [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]
