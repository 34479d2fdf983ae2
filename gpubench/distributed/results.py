"""The arithmetic and files of distributed runs. Never imports torch (reports and laptops use it).

- nccl-tests' bus-bandwidth factors (NVIDIA/nccl-tests doc/PERFORMANCE.md);
- the raw round of a case from every rank's round: the lockstep step times (the slowest active rank counts) and
  the worst status; each rank's own round goes to `ranks.parquet`, next to measurements.parquet. What derives
  from them (each rank's median, the slowest rank, the devices' telemetry summed, algbw/busbw, MFU per device,
  scaling) is gpubench.derive's, on load;
- the data-parallel scaling table over loaded runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from gpubench import inputs, stats
from gpubench.benchmarks.collective_spec import busbw_factor
from gpubench.derive import add_scaling_columns, ranks_of, scaling_config, scaling_efficiency
from gpubench.frame import frame_rows, rows_to_frame
from gpubench.store import RANKS, Paths, expand_paths, read_meta, write_frame
from gpubench.telemetry.aggregate import AGGREGATE_COLUMNS

__all__ = ["RANKS", "add_scaling_columns", "busbw_factor", "merge_rank_rows", "scaling_efficiency", "scaling_table"]

# busbw_factor lives with the collective benchmark's spec (torch-free); re-exported here for old imports.


# ------------------------------------------------------------------------------------------------ merging

# Columns that describe one rank, not the case: they go to ranks.parquet, never onto the case's row.
RANK_KEYS = ("rank", "local_rank", "node", "rank_active")
# Per-rank columns kept in ranks.parquet (besides RANK_KEYS, the rank's own step times and its telemetry).
_RANK_ROW_KEYS = (
    "case_id",
    "round",
    "benchmark",
    "status",
    "reason",
    "device_name",
    "device_vendor",
    "device_uuid",
    "check_error",
    "check_tolerance",
    "check_detail",
    "peak_memory_bytes",
    "start_ns",
    "end_ns",
    "warmup_steps",
)
_STATUS_ORDER = {"failed": 0, "wrong": 1, "skipped": 2, "ok": 3}
_RANK_FAILED = "RankFailed: "  # the runner's reason for a case that failed because another rank's did


def merge_rank_rows(
    rows: Sequence[Mapping[str, Any]], rank_times: Sequence[Sequence[float]], *, backend: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One case's raw round for measurements.parquet from every rank's round, and each rank's own round for
    ranks.parquet.

    `rows[r]` is rank r's runner row (its `times_s` already the per-step maximum over the active ranks: the
    lockstep time, which is what the case's row keeps); `rank_times[r]` its own raw step times. Ranks that sat a
    case out (`rank_active` False, e.g. the idle ranks of a 2-rank case in an 8-rank run) neither set its status
    nor its times. Telemetry stays on the ranks' rows: the devices' sum is derived on load.
    """
    if not rows:
        raise ValueError("no rank rows to merge")
    world = len(rows)
    active = [r for r in range(world) if rows[r].get("rank_active", True) is not False]
    lead = active[0] if active else 0
    drop = {*RANK_KEYS, *AGGREGATE_COLUMNS}
    merged = {k: v for k, v in rows[lead].items() if k not in drop}
    nodes = list(dict.fromkeys(str(r.get("node", "")) for r in rows))
    merged.update(
        world_size=world, ranks_active=len(active), dist_backend=backend, nodes=",".join(nodes), n_nodes=len(nodes)
    )

    # Status: the worst over the active ranks, with the rank named when the ranks disagree.
    worst = min(active or [lead], key=lambda r: _STATUS_ORDER.get(str(rows[r].get("status")), 9))
    statuses = {str(rows[r].get("status")) for r in active}
    if rows[worst].get("status") != merged.get("status") or len(statuses) > 1:
        merged["status"] = rows[worst].get("status")
        merged["reason"] = f"rank {worst}: {rows[worst].get('reason') or rows[worst].get('status')}"
        for key in ("check_error", "check_tolerance", "check_detail"):
            if key in rows[worst]:
                merged[key] = rows[worst][key]
    elif statuses == {"failed"}:
        # Every rank failed the case because one did: its own error is the reason (the others name it).
        own = next((r for r in active if not str(rows[r].get("reason") or "").startswith(_RANK_FAILED)), None)
        reason = str(rows[lead].get("reason") or "")
        merged["reason"] = (
            f"rank {own}: {rows[own].get('reason')}" if own is not None else reason.removeprefix(_RANK_FAILED)
        )

    rank_rows = []
    for r, row in enumerate(rows):
        out = {k: row[k] for k in (*_RANK_ROW_KEYS, *RANK_KEYS, *AGGREGATE_COLUMNS) if k in row}
        out.setdefault("rank", r)
        out["times_s"] = [float(t) for t in (rank_times[r] if r < len(rank_times) else [])]
        rank_rows.append(out)
    return merged, rank_rows


# ------------------------------------------------------------------------------------------------ scaling


def scaling_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Data-parallel scaling of every ok data-parallel row (one with `dp_ranks`): ranks, throughput, speed-up and efficiency against
    the 1-rank case of the same configuration: from the same run, else from a run on the same device model
    (e.g. `--nproc 1` and `--nproc 8` launched separately)."""
    cols = [
        "run_id",
        "case_id",
        "device_name",
        "model",
        "precision",
        "batch",
        "ranks",
        "world_size",
        "throughput",
        "throughput_unit",
        "baseline_throughput",
        "baseline_run_id",
        "speedup",
        "scaling_efficiency",
    ]
    if frame.empty or "benchmark" not in frame or "status" not in frame:
        return pd.DataFrame(columns=cols)
    if "dp_ranks" not in frame:
        return pd.DataFrame(columns=cols)
    rows = frame[frame["dp_ranks"].notna() & (frame["status"].astype("string") == "ok")]
    records = frame_rows(rows)
    for r in records:
        r["_config"], r["_ranks"] = scaling_config(r), ranks_of(r)
    ones = [r for r in records if r["_ranks"] == 1]
    out = []
    for r in records:
        same_run = [b for b in ones if b["_config"] == r["_config"] and b.get("run_id") == r.get("run_id")]
        same_device = [b for b in ones if b["_config"] == r["_config"] and b.get("device_name") == r.get("device_name")]
        base = (same_run or same_device or [None])[0]
        t1 = stats.to_float(base.get("throughput")) if base else math.nan
        tn = stats.to_float(r.get("throughput"))
        out.append(
            {
                "run_id": r.get("run_id"),
                "case_id": r.get("case_id"),
                "device_name": r.get("device_name"),
                "model": r.get("model"),
                "precision": r.get("precision"),
                "batch": r.get("batch"),
                "ranks": r["_ranks"],
                "world_size": r.get("world_size"),
                "throughput": tn,
                "throughput_unit": r.get("throughput_unit"),
                "baseline_throughput": t1,
                "baseline_run_id": base.get("run_id") if base else None,
                "speedup": tn / t1 if t1 > 0 else math.nan,
                "scaling_efficiency": scaling_efficiency(tn, int(r["_ranks"]), t1)
                if math.isfinite(r["_ranks"])
                else math.nan,
            }
        )
    return pd.DataFrame(out, columns=cols)


# ---------------------------------------------------------------------------------------------- ranks.parquet


def write_rank_rows(folder: Path, rows: list[dict[str, Any]], run_id: str) -> None:
    """Rewrite `<run folder>/ranks.parquet` atomically (written by rank 0 after every case)."""
    frame = rows_to_frame([{"run_id": run_id, **r} for r in rows])
    write_frame(Path(folder) / RANKS, frame)


def load_rank_rows(paths: Paths) -> pd.DataFrame:
    """Every rank's own row of every case of the given distributed runs (empty frame for other runs)."""
    frames = []
    for folder in expand_paths(paths):
        read_meta(folder)  # schema check
        path = folder / RANKS
        if path.exists():
            frames.append(inputs.read_parquet(path, "ranks"))  # a truncated or edited file: one line
    return pd.concat(frames, ignore_index=True, sort=False) if frames else pd.DataFrame()
