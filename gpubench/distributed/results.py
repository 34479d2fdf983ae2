"""The arithmetic and files of distributed runs. Never imports torch (reports and laptops use it).

- nccl-tests' bus-bandwidth factors (NVIDIA/nccl-tests doc/PERFORMANCE.md);
- merging every rank's row of a case into the run's one row: the slowest rank counts;
- data-parallel scaling efficiency = throughput at N ranks / (N x throughput at 1 rank);
- `ranks.parquet`: every rank's own row of every case (a `rank` column), next to measurements.parquet.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from gpubench import inputs, stats
from gpubench.store import Paths, expand_paths, read_meta, rows_to_frame, write_frame

RANKS = "ranks.parquet"

# Algorithm bandwidth -> bus bandwidth, as nccl-tests reports it: busbw is comparable with the link's
# unidirectional speed whatever the op and rank count. n = ranks taking part.
BUSBW_OPS = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "broadcast", "reduce", "sendrecv")


def busbw_factor(op: str, world_size: int) -> float:
    """busbw / algbw for `op` over `world_size` ranks: all_reduce 2(n-1)/n; all_gather, reduce_scatter and
    all_to_all (n-1)/n; broadcast, reduce and send/recv 1."""
    n = int(world_size)
    if n < 1:
        raise ValueError(f"world size must be >= 1, got {world_size}")
    if op == "all_reduce":
        return 2.0 * (n - 1) / n
    if op in ("all_gather", "reduce_scatter", "all_to_all"):
        return (n - 1) / n
    if op in ("broadcast", "reduce", "sendrecv"):
        return 1.0
    raise ValueError(f"unknown collective {op!r}; expected one of {', '.join(BUSBW_OPS)}")


def scaling_efficiency(throughput_n: float, ranks: int, throughput_1: float) -> float:
    """Throughput at `ranks` ranks / (ranks x throughput at 1 rank); 1.0 is perfect linear scaling."""
    if ranks < 1 or not (throughput_1 > 0) or not math.isfinite(throughput_n):
        return math.nan
    return throughput_n / (ranks * throughput_1)


# ------------------------------------------------------------------------------------------------ merging

# Columns that describe one rank, not the case: they go to ranks.parquet, never onto the merged row.
RANK_KEYS = ("rank", "local_rank", "node", "rank_active")
# Per-rank columns kept in ranks.parquet (besides RANK_KEYS and the telemetry aggregates).
_RANK_ROW_KEYS = (
    "case_id",
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
_TELEMETRY_SUM = (
    "energy_j",
    "energy_counter_j",
    "energy_integrated_j",
    "energy_above_idle_j",
    "avg_power_w",
    "peak_power_w",
    "telemetry_samples",
)
_TELEMETRY_MAX = ("peak_temp_c", "throttled_pct")
_TELEMETRY_MEAN = ("mean_sm_clock_mhz", "mean_mem_clock_mhz", "mean_util_pct")
_STATUS_ORDER = {"failed": 0, "wrong": 1, "skipped": 2, "ok": 3}
_RANK_FAILED = "RankFailed: "  # the runner's reason for a case that failed because another rank's did


def _finite(values: Iterable[Any]) -> list[float]:
    return [v for v in (stats.to_float(x) for x in values) if math.isfinite(v)]


def _merge_telemetry(merged: dict[str, Any], rows: Sequence[Mapping[str, Any]]) -> None:
    """Whole-run telemetry of the case: energy and power add up over devices, temperatures take the hottest,
    clocks the mean. Only ranks that sampled a device count (CPU ranks of one node share one package)."""
    sampled = [r for r in rows if "telemetry_samples" in r]
    if not sampled:
        return
    for key in _TELEMETRY_SUM:
        values = [stats.to_float(r.get(key)) for r in sampled]
        # A sum over devices is only meaningful when every device measured it.
        merged[key] = sum(values) if values and all(math.isfinite(v) for v in values) else math.nan
    # Sum of each device's peak: an upper bound of the simultaneous peak (the peaks need not coincide).
    for key in _TELEMETRY_MAX:
        values = _finite(r.get(key) for r in sampled)
        merged[key] = max(values) if values else math.nan
    for key in _TELEMETRY_MEAN:
        values = _finite(r.get(key) for r in sampled)
        merged[key] = sum(values) / len(values) if values else math.nan
    merged["throttled"] = any(bool(r.get("throttled")) for r in sampled)
    reasons = sorted({x for r in sampled for x in str(r.get("throttle_reasons") or "").split(",") if x})
    merged["throttle_reasons"] = ",".join(reasons)
    sources = {str(r.get("energy_source") or "") for r in sampled}
    merged["energy_source"] = sources.pop() if len(sources) == 1 else "mixed"
    merged["telemetry_devices"] = len(sampled)
    # The rank rows' efficiency columns are per device; recompute from the summed power, as the runner does.
    for key in ("energy_per_work", "throughput_per_watt"):
        merged.pop(key, None)
    stats.add_efficiency_columns(merged)


def merge_rank_rows(
    rows: Sequence[Mapping[str, Any]], rank_times: Sequence[Sequence[float]], *, backend: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One case's row for measurements.parquet from every rank's row, and each rank's own row for ranks.parquet.

    `rows[r]` is rank r's runner row (its `times_s` already the per-step maximum over the active ranks);
    `rank_times[r]` its own raw step times of the measurement. Ranks that sat a case out (`rank_active`
    False, e.g. the idle ranks of a 2-rank case in an 8-rank run) neither set its status nor its times.
    """
    if not rows:
        raise ValueError("no rank rows to merge")
    world = len(rows)
    active = [r for r in range(world) if rows[r].get("rank_active", True) is not False]
    lead = active[0] if active else 0
    merged = {k: v for k, v in rows[lead].items() if k not in RANK_KEYS}
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

    # Each rank's own median, and who was slowest: one slow device (a 5% spread within a node is usual)
    # sets the pace of every collective.
    medians = [stats.percentile(list(rank_times[r]), 50) if len(rank_times[r]) else math.nan for r in active]
    if any(math.isfinite(m) for m in medians):
        merged["rank_median_s"] = [float(m) for m in medians]
        finite = [(m, r) for m, r in zip(medians, active, strict=True) if math.isfinite(m)]
        merged["slowest_rank"] = max(finite)[1]
        lo = min(m for m, _ in finite)
        merged["rank_spread"] = max(m for m, _ in finite) / lo - 1.0 if lo > 0 else math.nan

    factor = merged.get("busbw_factor")
    throughput = stats.to_float(merged.get("throughput"))
    if factor is not None and math.isfinite(throughput):
        # throughput of a collective is algbw (message bytes / slowest rank's median time), in GB/s.
        merged["algbw_gbps"] = throughput
        merged["busbw_gbps"] = throughput * float(factor)
    dp = stats.to_float(merged.get("dp_ranks"))
    if dp > 1 and math.isfinite(stats.to_float(merged.get("mfu"))):
        merged["mfu"] = stats.to_float(merged["mfu"]) / dp  # tflops covers every device; MFU is per device
    _merge_telemetry(merged, [rows[r] for r in range(world)])

    rank_rows = []
    for r, row in enumerate(rows):
        own = list(rank_times[r]) if r < len(rank_times) else []
        out = {k: row[k] for k in (*_RANK_ROW_KEYS, *RANK_KEYS) if k in row}
        out.setdefault("rank", r)
        out["times_s"] = [float(t) for t in own]
        out["median_s"] = stats.percentile(own, 50) if own else math.nan
        out.update({k: row[k] for k in row if k in _TELEMETRY_SUM + _TELEMETRY_MAX + _TELEMETRY_MEAN})
        rank_rows.append(out)
    return merged, rank_rows


# ------------------------------------------------------------------------------------------------ scaling


def _config(row: Mapping[str, Any]) -> str:
    """The case's parameters without the rank count: cases that differ only in ranks scale together."""
    try:
        params = json.loads(str(row.get("params_json") or "{}"))
    except json.JSONDecodeError:
        params = {}
    params.pop("ranks", None)
    return json.dumps({"benchmark": row.get("benchmark"), **params}, sort_keys=True)


def _ranks_of(row: Mapping[str, Any]) -> float:
    for key in ("dp_ranks", "ranks_active", "world_size"):
        value = stats.to_float(row.get(key))
        if math.isfinite(value) and value >= 1:
            return value
    return math.nan


def add_scaling_columns(row: dict[str, Any], previous: Iterable[Mapping[str, Any]]) -> None:
    """Add `speedup` and `scaling_efficiency` to a data-parallel row when the run already holds the 1-rank
    case of the same configuration (ok and measured)."""
    ranks = _ranks_of(row)
    if "dp_ranks" not in row or not math.isfinite(ranks):
        return
    key = _config(row)
    base = next(
        (
            p
            for p in previous
            if p.get("status") == "ok" and _ranks_of(p) == 1 and "dp_ranks" in p and _config(p) == key
        ),
        None,
    )
    if base is None:
        return
    t1, tn = stats.to_float(base.get("throughput")), stats.to_float(row.get("throughput"))
    row["speedup"] = tn / t1 if t1 > 0 else math.nan
    row["scaling_efficiency"] = scaling_efficiency(tn, int(ranks), t1)


def scaling_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Data-parallel scaling of every ok `ddp_train` row: ranks, throughput, speed-up and efficiency against
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
    rows = frame[(frame["benchmark"].astype("string") == "ddp_train") & (frame["status"].astype("string") == "ok")]
    records = rows.to_dict("records")
    for r in records:
        r["_config"], r["_ranks"] = _config(r), _ranks_of(r)
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
