"""Everything derived from stored rounds, computed once, when runs load. Never imports torch.

A run folder stores raw rounds (gpubench.store): per case and round, the step times, how they were taken
(steps per sample, warm-up, the timed window), the round's telemetry aggregates and the case's metadata; a
distributed run also stores every rank's own round in ranks.parquet. Nothing here is stored: the statistics
over all rounds (median, percentiles, CoV, noise, round medians and their spread), throughput and its
percentiles, % of datasheet peak and MFU (from the catalog in gpubench.specs, so editing data/specs.toml
changes every loaded run), energy per unit of work, the merge of ranks (the devices' telemetry, the slowest
rank, algbw/busbw), the relations between rows of one run (copy bandwidth, eager twin, 1-rank baseline).

The model is pyperf's immutable Run and asv's concatenate-then-compute: rounds are concatenated, then the
statistics are computed once over them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from gpubench import stats
from gpubench.benchmarks import catalog as benchmark_catalog
from gpubench.records import WORK_UNITS

# Columns computed here. A row stored by an older gpubench (schema < 3) carries them, computed at the time it
# was measured: they are dropped on load and derived again, so they follow today's catalog and methods.
DERIVED_COLUMNS = frozenset(
    {
        "n_reps",
        "rounds_n",
        "round_medians_s",
        "round_cov",
        "median_s",
        "p10_s",
        "p90_s",
        "p99_s",
        "mean_s",
        "min_s",
        "std_s",
        "cov",
        "iqr_s",
        "noisy",
        "throughput",
        "throughput_unit",
        "throughput_p10",
        "throughput_p90",
        "tflops",
        "achieved_gbps",
        "pct_of_peak",
        "mfu",
        "pct_of_datasheet_bw",
        "energy_per_work",
        "energy_per_work_unit",
        "throughput_per_watt",
        "throughput_per_watt_unit",
        "energy_above_idle_per_work",
        "copy_bandwidth_gbps",
        "pct_of_copy_bw",
        "speedup_vs_eager",
        "tokens_per_s_per_seq",
        "ms_per_token",
        "algbw_gbps",
        "busbw_gbps",
        "rank_median_s",
        "slowest_rank",
        "rank_spread",
        "speedup",
        "scaling_efficiency",
        "telemetry_devices",
    }
)

# Stored columns derivation reads (besides every benchmark's parameters and the telemetry aggregates): a load
# that leaves columns out of its frame still reads these.
_INPUTS = (
    "case_id",
    "round",
    "benchmark",
    "status",
    "reason",
    "params_json",
    "times_s",
    "round_sizes",
    "round_start_ns",
    "round_end_ns",
    "start_ns",
    "end_ns",
    "work_per_step",
    "work_unit",
    "flops_per_step",
    "bytes_per_step",
    "device_name",
    "device_memory_bytes",
    "power_limit_w",
    "device_multiprocessors",
    "dp_ranks",
    "ranks_active",
    "world_size",
    "busbw_factor",
    "compile",
)


@lru_cache(maxsize=1)
def input_columns() -> frozenset[str]:
    """Every stored column derivation may read: its own inputs, every benchmark's parameters (the specs'
    derivations identify rows by them) and the telemetry aggregates."""
    from gpubench.telemetry.aggregate import AGGREGATE_COLUMNS

    params = {name for spec in benchmark_catalog.all_specs() for name in spec.params}
    return frozenset({*_INPUTS, *params, *AGGREGATE_COLUMNS})


# Facts of a case that only its first round measures (a check is run once; warm-up is reported for the first).
FIRST_ROUND = ("started_utc", "warmup_steps", "warmup_s", "check_error", "check_tolerance", "check_detail")
# Raw columns whose per-round values are combined by a rule of their own below.
_COMBINED = frozenset(
    {
        "times_s",
        "round",
        "round_sizes",
        "round_start_ns",
        "round_end_ns",
        "start_ns",
        "end_ns",
        "status",
        "reason",
        "min_reps_reached",
        "peak_memory_bytes",
        *FIRST_ROUND,
    }
)
_STATUS_ORDER = {"failed": 0, "wrong": 1, "skipped": 2, "ok": 3}


def _missing(value: Any) -> bool:
    if value is None:
        return True
    kind = value.__class__
    if kind in _NEVER_MISSING:  # what Parquet cells mostly are: decided without a comparison
        return False
    if kind is float:
        return value != value
    try:
        return bool(value != value)  # NaN, pandas NA
    except (TypeError, ValueError):  # an array
        return False


_NEVER_MISSING = frozenset({str, int, bool, list})


def _floats(value: Any) -> list[float]:
    """A stored list cell (a list, a numpy array, or a missing scalar) as a list of floats."""
    if value is None or isinstance(value, (str, bytes, float, int)):
        return []
    try:
        return list(map(float, value))
    except (TypeError, ValueError):
        return []


def round_windows(row: Mapping[str, Any]) -> list[tuple[int, int]]:
    """A stored row's timed windows: one per round it holds (a schema-2 row may hold several)."""
    starts, ends = _floats(row.get("round_start_ns")), _floats(row.get("round_end_ns"))
    if starts and len(starts) == len(ends):
        return [(int(a), int(b)) for a, b in zip(starts, ends, strict=True)]
    lo, hi = stats.finite_or_none(row.get("start_ns")), stats.finite_or_none(row.get("end_ns"))
    return [(int(lo), int(hi))] if lo is not None and hi is not None else []


def rounds_in(row: Mapping[str, Any]) -> int:
    """Rounds one stored row holds: 1, or a schema-2 row's `round_sizes` count."""
    return max(1, len(stats.round_times(row)))


def _at(data: Sequence[float], q: float) -> float:
    """Linear-interpolation percentile of sorted `data` (numpy's default method, as stats.percentile)."""
    pos = (len(data) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def median(values: Sequence[float]) -> float:
    return _at(sorted(values), 50) if values else math.nan


def summarize(times: Sequence[float]) -> dict[str, Any]:
    """stats.summarize's figures from one sort: thousands of cases are summarised on every load."""
    n = len(times)
    if n == 0:
        return stats.summarize([]).as_dict()
    data = sorted(times)  # summed smallest first: the order of the steps never matters
    mean, std = _mean_std(data)
    p50 = _at(data, 50)
    iqr = _at(data, 75) - _at(data, 25)
    return {
        "n": n,
        "median_s": p50,
        "p10_s": _at(data, 10),
        "p90_s": _at(data, 90),
        "p99_s": _at(data, 99),
        "mean_s": mean,
        "min_s": data[0],
        "std_s": std,
        "cov": std / mean if mean > 0 else math.nan,
        "iqr_s": iqr,
        "noisy": bool(p50 > 0 and iqr / p50 > stats.NOISY_IQR_RATIO),
    }


# ------------------------------------------------------------------------------------------- one case


def _combine_rounds(rounds: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One case's stored rounds (in order) as one row of raw facts: metadata from the first round, later rounds'
    values where they have one, times and windows concatenated, the first failure's status."""
    first = rounds[0]
    row = dict(first)
    for later in rounds[1:]:
        for k, v in later.items():
            if v is not None and k not in _COMBINED and not _missing(v):
                row[k] = v
    bad = [r for r in rounds if r.get("status") != "ok"]
    if bad:
        worst = bad[0]
        row["status"], row["reason"] = worst.get("status"), worst.get("reason")
    memory = [v for v in (stats.finite_or_none(r.get("peak_memory_bytes")) for r in rounds) if v is not None]
    row["peak_memory_bytes"] = int(max(memory)) if memory else None
    reached = [r.get("min_reps_reached") for r in rounds if not _missing(r.get("min_reps_reached"))]
    if reached:
        row["min_reps_reached"] = all(bool(v) for v in reached)
    return row


def _cov(values: Sequence[float]) -> float:
    """summarize(values)["cov"] without the percentiles (summed sorted: the order of the values never matters)."""
    n = len(values)
    if n == 0:
        return stats.summarize([]).cov
    mean, std = _mean_std(sorted(values))
    return std / mean if mean > 0 else math.nan


def _mean_std(data: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation of sorted values, summed in order and each deviation squared by a
    multiplication: exact in IEEE arithmetic, so gpubench.columnar's numpy arrives at the same bits on any CPU."""
    n = len(data)
    mean = stats.ordered_sum(data) / n
    if n < 2:
        return mean, 0.0
    return mean, math.sqrt(stats.ordered_sum([d * d for d in [t - mean for t in data]]) / (n - 1))


def _timing(
    row: dict[str, Any], rounds: Sequence[Mapping[str, Any]], round_wins: Sequence[list[tuple[int, int]]]
) -> None:
    parts = [p for r in rounds for p in stats.round_times(r)]
    windows = [w for ws in round_wins for w in ws]
    if windows:
        row["start_ns"], row["end_ns"] = windows[-1]
        row["round_start_ns"], row["round_end_ns"] = [w[0] for w in windows], [w[1] for w in windows]
    if not parts:
        return  # skipped, or failed before a step was timed
    times = [t for p in parts for t in p]
    s = summarize(times)
    n = s.pop("n")
    medians = [median(p) for p in parts] if len(parts) > 1 else [s["median_s"]]
    row.update(
        times_s=times,
        n_reps=n,
        **s,
        rounds_n=len(parts),
        round_sizes=[len(p) for p in parts],
        round_medians_s=medians,
        round_cov=_cov(medians) if len(parts) > 1 else math.nan,
    )
    unit = row.get("work_unit")
    work = stats.to_float(row.get("work_per_step"))
    if unit in WORK_UNITS and work > 0:
        div = WORK_UNITS[unit][0]
        row["throughput_unit"] = WORK_UNITS[unit][1]
        row["throughput"] = work / s["median_s"] / div
        row["throughput_p10"] = work / s["p90_s"] / div
        row["throughput_p90"] = work / s["p10_s"] / div
    flops = stats.to_float(row.get("flops_per_step"))
    if flops > 0:
        row["tflops"] = flops / s["median_s"] / 1e12


def _has_telemetry(row: Mapping[str, Any]) -> bool:
    return stats.finite_or_none(row.get("telemetry_samples")) is not None


def _telemetry(
    row: dict[str, Any], rounds: Sequence[Mapping[str, Any]], round_wins: Sequence[list[tuple[int, int]]]
) -> None:
    """The case's telemetry over all its rounds: each round's aggregates weighted by its window's length."""
    parts = [(r, ws) for r, ws in zip(rounds, round_wins, strict=True) if _has_telemetry(r)]
    if len(parts) < 2:
        return  # one round (or none): its aggregates are the case's, already on the row
    from gpubench.telemetry.aggregate import AGGREGATE_COLUMNS, combine_aggregates

    weighted = [(r, sum(hi - lo for lo, hi in ws) / 1e9) for r, ws in parts]
    if sum(1 for _, d in weighted if d > 0) < 2:
        # combine_aggregates returns a lone window's aggregates as they are: only the aggregates, not the round.
        weighted = [({k: r.get(k) for k in AGGREGATE_COLUMNS}, d) for r, d in weighted]
    # Otherwise it reads each round's aggregate columns by name: the rounds themselves, not copies.
    row.update(combine_aggregates(weighted))


# ------------------------------------------------------------------------------------------- ranks

# Telemetry of a distributed case: energy and power add up over devices, temperatures take the hottest,
# clocks the mean. Only ranks that sampled a device count (CPU ranks of one node share one package).
_RANK_SUM = (
    "energy_j",
    "energy_counter_j",
    "energy_integrated_j",
    "energy_above_idle_j",
    "avg_power_w",
    "peak_power_w",  # the sum of each device's peak: an upper bound of the simultaneous peak
    "telemetry_samples",
)
_RANK_MAX = ("peak_temp_c", "throttled_pct")
_RANK_MEAN = ("mean_sm_clock_mhz", "mean_mem_clock_mhz", "mean_util_pct")


def _finite(values: Iterable[Any]) -> list[float]:
    return [v for v in (stats.to_float(x) for x in values) if math.isfinite(v)]


def merge_rank_telemetry(rank_rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The whole-run telemetry of one case from its ranks' own aggregates (empty when no rank sampled)."""
    sampled = [r for r in rank_rows if _has_telemetry(r)]
    if not sampled:
        return {}
    out: dict[str, Any] = {}
    for key in _RANK_SUM:
        values = [stats.to_float(r.get(key)) for r in sampled]
        # A sum over devices is only meaningful when every device measured it.
        out[key] = sum(values) if all(math.isfinite(v) for v in values) else math.nan
    for key in _RANK_MAX:
        values = _finite(r.get(key) for r in sampled)
        out[key] = max(values) if values else math.nan
    for key in _RANK_MEAN:
        values = _finite(r.get(key) for r in sampled)
        out[key] = sum(values) / len(values) if values else math.nan
    out["throttled"] = any(not _missing(r.get("throttled")) and bool(r.get("throttled")) for r in sampled)
    reasons = sorted({x for r in sampled for x in str(r.get("throttle_reasons") or "").split(",") if x})
    out["throttle_reasons"] = ",".join(reasons)
    sources = {str(r.get("energy_source") or "") for r in sampled}
    out["energy_source"] = sources.pop() if len(sources) == 1 else "mixed"
    out["telemetry_devices"] = len(sampled)
    return out


def _ranks(row: dict[str, Any], rank_rows: Sequence[Mapping[str, Any]]) -> None:
    """Each active rank's own median, the slowest rank and the spread; the devices' telemetry (when the stored
    row has none of its own: a row of schema 2 kept the merge made at the time)."""
    if not rank_rows:
        return
    rank_rows = sorted(rank_rows, key=lambda r: stats.to_float(r.get("rank")))
    active = [r for r in rank_rows if _missing(r.get("rank_active")) or bool(r.get("rank_active"))]
    medians = [(median(_floats(r.get("times_s"))), r) for r in active]
    finite = [(m, int(stats.to_float(r.get("rank")))) for m, r in medians if math.isfinite(m)]
    if finite:
        row["rank_median_s"] = [m for m, _ in medians]
        row["slowest_rank"] = max(finite)[1]
        lo = min(m for m, _ in finite)
        row["rank_spread"] = max(m for m, _ in finite) / lo - 1.0 if lo > 0 else math.nan
    if not _has_telemetry(row):
        row.update(merge_rank_telemetry(rank_rows))
    elif any(_has_telemetry(r) for r in rank_rows):
        row["telemetry_devices"] = sum(1 for r in rank_rows if _has_telemetry(r))


# ------------------------------------------------------------------------------------------- catalog


@lru_cache(maxsize=4096)
def _params(params_json: str) -> dict[str, Any]:
    try:
        value = json.loads(params_json)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def device_key(row: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(
        stats.finite_or_none(row.get(k)) if k != "device_name" else row.get(k)
        for k in ("device_name", "device_memory_bytes", "power_limit_w", "device_multiprocessors")
    )


class Catalog:
    """The datasheet catalog (gpubench.specs), each device and figure looked up once per load.

    The percentages are linear in what they compare, so a lookup asks specs for the percentage of one unit
    (what % of this device's figure 1 TFLOP/s or 1 GB/s is) and a row scales it by its own throughput: the
    catalog is matched once per device, parameters and precision, not once per row."""

    def __init__(self, entries: Mapping[str, Any] | None = None) -> None:
        from gpubench import specs

        self.specs = specs
        self.entries = entries if entries is not None else specs.load_catalog()
        self._found: dict[tuple[Any, ...], dict[str, Any] | None] = {}
        self._unit: dict[tuple[Any, ...], float | None] = {}

    def entry(self, device: tuple[Any, ...]) -> dict[str, Any] | None:
        """A one-entry catalog holding the device (None when the catalog lacks it or is ambiguous)."""
        if device not in self._found:
            name, memory, limit, units = device
            spec = (
                self.specs.match_device(name, memory, limit, compute_units=units, catalog=self.entries)
                if isinstance(name, str)
                else None
            )
            self._found[device] = {spec.slug: spec} if spec is not None else None
        return self._found[device]

    def _per_unit(self, what: str, device: tuple[Any, ...], *key: Any) -> float | None:
        """% of the device's datasheet figure that one unit of `what` is ("peak": the benchmark's declared
        figure for these parameters; "mfu": the precision's peak; "bw": the memory bandwidth)."""
        cache_key = (what, device, *key)
        if cache_key not in self._unit:
            one = self.entry(device)
            name, memory, limit, units = device
            value = None
            if one is not None and what == "peak":
                benchmark, params_json = key
                value = self.specs.pct_of_peak(
                    name, memory, limit, benchmark, _params(params_json), 1.0, compute_units=units, catalog=one
                )
            elif one is not None and what == "mfu":
                value = self.specs.mfu(name, memory, limit, key[0], 1.0, compute_units=units, catalog=one)
            elif one is not None and what == "bw":
                value = self.specs.pct_of_bandwidth(name, memory, limit, 1.0, compute_units=units, catalog=one)
            self._unit[cache_key] = value
        return self._unit[cache_key]

    def add_columns(self, row: dict[str, Any], device: tuple[Any, ...] | None = None) -> None:
        """% of datasheet peak, MFU (per device: a data-parallel row's tflops covers `dp_ranks` devices) and %
        of datasheet bandwidth, where the device is in the catalog. `device`: the row's `device_key` when the
        caller has it."""
        device = device_key(row) if device is None else device
        if self.entry(device) is None:
            return
        params_json = str(row.get("params_json") or "{}")
        throughput = stats.finite_or_none(row.get("throughput"))
        if throughput is not None and throughput > 0:
            unit = self._per_unit("peak", device, str(row.get("benchmark")), params_json)
            row["pct_of_peak"] = None if unit is None else unit * throughput
        tflops = stats.finite_or_none(row.get("tflops"))
        precision = _params(params_json).get("precision")
        if tflops is not None and tflops > 0 and precision:
            dp = stats.to_float(row.get("dp_ranks"))
            unit = self._per_unit("mfu", device, precision)
            row["mfu"] = None if unit is None else unit * (tflops / dp if dp > 1 else tflops)
        gbps = stats.finite_or_none(row.get("achieved_gbps"))
        if gbps is not None and gbps > 0:
            unit = self._per_unit("bw", device)
            row["pct_of_datasheet_bw"] = None if unit is None else unit * gbps


# ------------------------------------------------------------------------------------------- relations


def scaling_efficiency(throughput_n: float, ranks: int, throughput_1: float) -> float:
    """Throughput at `ranks` ranks / (ranks x throughput at 1 rank); 1.0 is perfect linear scaling."""
    if ranks < 1 or not (throughput_1 > 0) or not math.isfinite(throughput_n):
        return math.nan
    return throughput_n / (ranks * throughput_1)


def scaling_config(row: Mapping[str, Any]) -> str:
    """The case's parameters without the rank count: cases that differ only in ranks scale together."""
    params = dict(_params(str(row.get("params_json") or "{}")))
    params.pop("ranks", None)
    return json.dumps({"benchmark": row.get("benchmark"), **params}, sort_keys=True)


def ranks_of(row: Mapping[str, Any]) -> float:
    for key in ("dp_ranks", "ranks_active", "world_size"):
        value = stats.to_float(row.get(key))
        if math.isfinite(value) and value >= 1:
            return value
    return math.nan


def add_scaling_columns(row: dict[str, Any], others: Iterable[Mapping[str, Any]]) -> None:
    """`speedup` and `scaling_efficiency` of a data-parallel row against the 1-rank case of the same
    configuration among `others` (ok and measured)."""
    if _missing(row.get("dp_ranks")):
        return
    ranks = ranks_of(row)
    if not math.isfinite(ranks):
        return
    key = scaling_config(row)
    base = next(
        (
            p
            for p in others
            if p is not row
            and p.get("status") == "ok"
            and ranks_of(p) == 1
            and not _missing(p.get("dp_ranks"))
            and scaling_config(p) == key
        ),
        None,
    )
    if base is None:
        return
    t1, tn = stats.to_float(base.get("throughput")), stats.to_float(row.get("throughput"))
    row["speedup"] = tn / t1 if t1 > 0 else math.nan
    row["scaling_efficiency"] = scaling_efficiency(tn, int(ranks), t1)


# ------------------------------------------------------------------------------------------- runs


def measured_row(rounds: Sequence[Mapping[str, Any]], rank_rows: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """One case of one run from its stored rounds (any order) and, when distributed, its ranks' own rounds: raw
    facts combined, statistics over every step of every round, throughput, telemetry over the rounds' windows,
    the ranks merged. What compares it with the catalog or other rows is `finish`'s."""
    rounds = sorted(rounds, key=lambda r: stats.to_float(r.get("round")) if not _missing(r.get("round")) else 0.0)
    row = _combine_rounds(rounds)
    for key in DERIVED_COLUMNS:
        row.pop(key, None)
    windows = [round_windows(r) for r in rounds]  # read once: timing and telemetry both weigh by them
    _timing(row, rounds, windows)
    _telemetry(row, rounds, windows)
    _ranks(row, rank_rows)
    row.pop("round", None)
    return row


def finish(
    row: dict[str, Any], extra: Mapping[str, Any], catalog: Catalog, device: tuple[Any, ...] | None = None
) -> dict[str, Any]:
    """A measured row with its benchmark's own derived columns (`extra`, from its spec), its datasheet
    percentages and its energy per unit of work (`device`: the row's device_key, when the caller has it)."""
    row.update(extra)
    catalog.add_columns(row, device)
    stats.add_efficiency_columns(row)
    return row


def case_row(
    rounds: Sequence[Mapping[str, Any]],
    rank_rows: Sequence[Mapping[str, Any]] = (),
    catalog: Catalog | None = None,
) -> dict[str, Any]:
    """One case derived on its own (the run's progress display, tests): as in `derive_run`, without the
    figures that relate it to the run's other cases."""
    row = measured_row(rounds, rank_rows)
    extra = benchmark_catalog.derive_row(row) if row.get("status") == "ok" else {}
    return finish(row, extra, catalog or Catalog())


def derive_run(
    rows: Sequence[Mapping[str, Any]],
    rank_rows: Sequence[Mapping[str, Any]] = (),
    catalog: Catalog | None = None,
) -> list[dict[str, Any]]:
    """The derived rows of one run, one per case in the order cases first appear, from its stored rows (rounds of
    schema 3, or one row per case of schema 1-2) and its ranks' rows (ranks.parquet) when distributed.

    Each benchmark's own columns come from its spec (`gpubench.benchmarks.catalog.derive_rows`: the run's copy
    bandwidth, compiled cases' eager twins, algbw/busbw, ms per token ...); scaling against the run's 1-rank
    case of the same configuration is added last."""
    catalog = catalog or Catalog()
    by_case: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:
        by_case.setdefault(str(r.get("case_id")), []).append(r)
    ranks_by_case: dict[str, list[Mapping[str, Any]]] = {}
    for r in rank_rows:
        ranks_by_case.setdefault(str(r.get("case_id")), []).append(r)
    measured = [measured_row(group, ranks_by_case.get(cid, ())) for cid, group in by_case.items()]
    out = [
        finish(row, extra, catalog)
        for row, extra in zip(measured, benchmark_catalog.derive_rows(measured), strict=True)
    ]
    for row in out:
        add_scaling_columns(row, out)
    return out


def sweep_summary(rows: Sequence[dict]) -> list[dict]:
    """MAMF-style summary of GEMM shape sweeps (the rows of the benchmark that anchors the compute roofline):
    rows sharing dtype, n and k over at least three values of m form a sweep; report its best shape and the
    geometric mean of throughput across it."""
    anchor = benchmark_catalog.by_role("compute_anchor")
    gemm = anchor[0].name if anchor is not None else None
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        if r.get("benchmark") == gemm and r.get("status") == "ok":
            groups.setdefault((r.get("device_name"), r["dtype"], r["n"], r["k"]), []).append(r)
    out = []
    for (device, dtype, n, k), members in groups.items():
        if len({r["m"] for r in members}) < 3:
            continue
        best = max(members, key=lambda r: r["throughput"])
        out.append(
            {
                "device_name": device,
                "dtype": dtype,
                "n": n,
                "k": k,
                "shapes": len(members),
                "best_throughput": best["throughput"],
                "best_m": best["m"],
                "unit": best["throughput_unit"],
                "geomean_throughput": stats.geomean([r["throughput"] for r in members]),
            }
        )
    return out
