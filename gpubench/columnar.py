"""derive_run for many runs at once, column by column (gpubench.store.load_runs; gpubench.derive is the reference).

A report of a fleet loads 1,000 runs of ~40 cases, each case stored as a row per round with ~130 columns: millions
of cells. gpubench.derive works on rows as Python dicts, one case at a time. Here every run's table is
concatenated and each step of `derive.measured_row` is one vectorised operation over every case of every run:

- a case's rounds (sorted by round, as measured_row sorts them) combined by `derive._combine_rounds`' rules: a
  value from the last round that has one (else the first round's), the first round's for what only it measures
  (`derive.FIRST_ROUND`), the first failure's status and reason, the largest peak memory, whether every round
  that says so reached its minimum repeats;
- the statistics over every step of every round (`derive.summarize`: the same sorted-data percentiles, mean and
  deviation by `math.fsum`), each round's median, throughput and TFLOP/s, the rounds' windows;
- the telemetry of cases with several sampled rounds (`telemetry.aggregate.combine_aggregates`: sums in round
  order, time-weighted means).

What compares a case with the catalog and with its run's other cases (`derive.finish`, the specs' derivations,
scaling) still runs on dicts, one per case, of only the columns derivation reads (`derive.input_columns()`).
The result is the frame `rows_to_frame` makes of derive_run's rows, value for value (tests/test_columnar.py).

Runs this does not cover (distributed runs with ranks, schema-2 rows holding several rounds, a value the frame
rules leave to pandas) raise `frame.Unhandled`: the caller loads them row by row.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from gpubench import derive, stats
from gpubench.benchmarks import catalog as benchmark_catalog
from gpubench.frame import Unhandled, arrow_column
from gpubench.inputs import column_names
from gpubench.records import WORK_UNITS
from gpubench.telemetry.aggregate import AGGREGATE_COLUMNS, empty_aggregates

_ABSENT: Any = object()  # a case without the key (store's rows_to_frame: NaN there)

# Stored columns measured_row combines by rules of its own (the others: last round with a value).
_TIMING = ("times_s", "round_sizes", "round_start_ns", "round_end_ns", "start_ns", "end_ns")
_SPECIAL = frozenset({*_TIMING, "round", "status", "reason", "peak_memory_bytes", "min_reps_reached"})
_OUTPUT_ONLY = frozenset({"times_s", "round_sizes", "round_start_ns", "round_end_ns"})  # no derivation reads them
# Keys measured_row adds, in the order it adds them (a frame's column order follows the first row that has it).
_COMBINE_KEYS = ("status", "reason", "peak_memory_bytes", "min_reps_reached")
_WINDOW_KEYS = ("start_ns", "end_ns", "round_start_ns", "round_end_ns")
_STAT_KEYS = ("median_s", "p10_s", "p90_s", "p99_s", "mean_s", "min_s", "std_s", "cov", "iqr_s", "noisy")
_TIMING_KEYS = ("times_s", "n_reps", *_STAT_KEYS, "rounds_n", "round_sizes", "round_medians_s", "round_cov")
_THROUGHPUT_KEYS = ("throughput_unit", "throughput", "throughput_p10", "throughput_p90")
_SUMMED = ("energy_j", "energy_counter_j", "energy_integrated_j", "energy_above_idle_j")
_PEAKS = ("peak_power_w", "peak_temp_c")
_WEIGHTED = ("mean_sm_clock_mhz", "mean_mem_clock_mhz", "mean_util_pct", "throttled_pct")


def covered(table: pa.Table) -> bool:
    """Whether a run's measurements table is one this module derives (one round per stored row)."""
    names = column_names(table)
    if "case_id" not in names:
        return False
    for col in ("round_sizes", "round_start_ns", "round_end_ns"):  # schema 2: several rounds in one row
        if col in names and table.column(col).null_count != table.num_rows:
            return False
    if "times_s" in names:
        t = table.column("times_s").type
        if not (pa.types.is_null(t) or pa.types.is_list(t) or pa.types.is_large_list(t)):
            return False
    return True


class Cases:
    """Every case of every run: the stored rounds sorted as measured_row sorts them, grouped by case."""

    def __init__(self, tables: Sequence[pa.Table]) -> None:
        self.tables = tables
        self.stored = [set(column_names(t)) for t in tables]
        run_of_row = np.repeat(np.arange(len(tables)), [t.num_rows for t in tables])
        try:
            whole = pa.concat_tables(tables, promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as e:
            raise Unhandled(str(e)) from None
        case_ids = whole.column("case_id")
        if case_ids.null_count or not (pa.types.is_string(case_ids.type) or pa.types.is_large_string(case_ids.type)):
            raise Unhandled("case_id: missing or not text")
        case = pc.dictionary_encode(case_ids.combine_chunks()).indices.to_numpy(zero_copy_only=False).astype(np.int64)
        width = int(case.max()) + 1 if len(case) else 1
        group = pd.factorize(run_of_row.astype(np.int64) * width + case)[0]  # derive_run's order: run, first seen
        rounds = np.zeros(whole.num_rows)  # measured_row sorts by round, a missing one counting as 0
        if "round" in whole.column_names:
            column = whole.column("round")
            if not (
                pa.types.is_integer(column.type) or pa.types.is_floating(column.type) or pa.types.is_null(column.type)
            ):
                raise Unhandled(f"round: {column.type}")
            values = column.cast(pa.float64()).fill_null(0.0).to_numpy(zero_copy_only=False)
            rounds = np.where(np.isnan(values), 0.0, values)
        order = np.argsort(rounds, kind="stable")
        order = order[np.argsort(group[order], kind="stable")]
        self.whole, self.order = whole, order  # the rounds as stored; the sorted order, taken column by column
        self.names = set(whole.column_names)
        self.rows = whole.num_rows
        sorted_group = group[order]
        self.group_of_row = sorted_group
        self.starts = np.flatnonzero(np.r_[True, sorted_group[1:] != sorted_group[:-1]]) if self.rows else order
        self.counts = np.diff(np.r_[self.starts, self.rows])
        self.n = len(self.starts)
        self.run = run_of_row[order][self.starts] if self.rows else order

    def column(self, name: str) -> pa.Array:
        """A stored column over every sorted round (nulls where a run lacks it)."""
        if name not in self.names:
            return pa.nulls(self.rows)
        return self.whole.column(name).take(pa.array(self.order)).combine_chunks()

    def at(self, name: str, rows: np.ndarray) -> list[Any]:
        """A stored column's values at some sorted rounds, as Python values (None where a run lacks it)."""
        if name not in self.names:
            return [None] * len(rows)
        return self.whole.column(name).take(pa.array(self.order[rows])).to_pylist()

    def steps(self, name: str) -> tuple[np.ndarray, np.ndarray] | None:
        """A stored list column (a round's step times) over every sorted round: each round's length (0 where
        missing) and all its values as float64, round after round in sorted order; None where no run stored it.
        The values are gathered by numpy from the stored order: pyarrow's take would copy every list first."""
        if name not in self.names:
            return None
        column = self.whole.column(name)
        if pa.types.is_null(column.type):
            return None
        stored_lengths = pc.list_value_length(column).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
        values = pc.list_flatten(column)
        if values.null_count:
            raise Unhandled(f"{name}: a missing step time")
        stored = values.cast(pa.float64()).to_numpy(zero_copy_only=False)
        lengths = stored_lengths[self.order]
        stored_start = np.cumsum(stored_lengths) - stored_lengths
        sorted_start = np.cumsum(lengths) - lengths
        index = np.repeat(stored_start[self.order] - sorted_start, lengths) + np.arange(int(lengths.sum()))
        return lengths, stored[index]

    def absent(self, name: str) -> np.ndarray | None:
        """Cases whose run stored no such column (None: every run stored it)."""
        has = np.array([name in s for s in self.stored])
        return None if has.all() else ~has[self.run]

    def numbers(self, name: str) -> np.ndarray:
        """A stored numeric column as float64 (NaN where missing or not a number)."""
        column = self.column(name)
        if pa.types.is_null(column.type):
            return np.full(self.rows, math.nan)
        if not (
            pa.types.is_integer(column.type) or pa.types.is_floating(column.type) or pa.types.is_boolean(column.type)
        ):
            raise Unhandled(f"{name}: {column.type}")
        return column.cast(pa.float64()).fill_null(math.nan).to_numpy(zero_copy_only=False)

    def reduce(self, ufunc: np.ufunc, values: np.ndarray) -> np.ndarray:
        return ufunc.reduceat(values, self.starts) if self.n else values[:0]

    def combined(self, name: str) -> pa.Array:
        """The column, one value per case by _combine_rounds' rules (taken from the stored rounds directly)."""
        column = self.whole.column(name)
        if name in derive.FIRST_ROUND:
            picked = self.starts
        else:
            valid = _valid(column)[self.order]
            last = self.reduce(np.maximum, np.where(valid, np.arange(self.rows), -1))
            picked = np.where(last >= 0, last, self.starts)
        return column.take(pa.array(self.order[picked])).combine_chunks()


def _valid(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Not missing as derive counts it: neither null nor NaN."""
    valid = np.asarray(column.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    if pa.types.is_floating(column.type):
        valid &= ~np.isnan(column.to_numpy(zero_copy_only=False))
    return valid


def _seq_sum(values: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per group (`counts` values from `starts`), the values added one by one in order from 0.0, as
    stats.ordered_sum adds them (numpy's own sums pair values). Step k adds every group's k-th value at once;
    groups are taken longest first, so each step touches only the groups that still have values. Once fewer
    groups are left than steps (every run's one case of thousands of steps), each finishes on its own by a
    running sum (np.cumsum adds in order), not by thousands of steps of one value per group."""
    out = np.zeros(len(starts))
    if not len(starts):
        return out
    order = np.argsort(-counts, kind="stable")
    first, count = starts[order], counts[order]
    total = np.zeros(len(starts))
    active = len(count)
    for k in range(int(count[0])):
        while active and count[active - 1] <= k:
            active -= 1
        if active * 3 <= 2 * (int(count[0]) - k):  # fewer groups than steps left: each on its own
            for g in range(active):
                rest = values[first[g] + k : first[g] + count[g]]
                total[g] = np.cumsum(np.concatenate(([total[g]], rest)))[-1]
            break
        total[:active] += values[first[:active] + k]
    out[order] = total
    return out


def _at(data: np.ndarray, start: np.ndarray, n: np.ndarray, q: float) -> np.ndarray:
    """derive._at per group of sorted `data` (groups at `start`, `n` values each, n > 0)."""
    pos = (n - 1) * q / 100.0
    lo = pos.astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    a, b = data[start + lo], data[start + hi]
    return a + (b - a) * (pos - lo)


class Derived:
    """The per-case values measured_row would put on each case's row: `values[key]` a list (one per case,
    _ABSENT where the row has no such key) and `present[key]` which cases have it."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.values: dict[str, list[Any]] = {}
        self.present: dict[str, np.ndarray] = {}

    def set(self, key: str, values: list[Any], present: np.ndarray | None = None) -> None:
        self.values[key] = values
        if present is None:
            present = np.fromiter((v is not _ABSENT for v in values), dtype=bool, count=self.n)
        self.present[key] = present

    def put(self, key: str, where: np.ndarray, values: Sequence[Any], base: list[Any] | None = None) -> None:
        """`values` for the cases `where` says, over what the key holds (else `base`, else nothing)."""
        if key not in self.values:
            if base is None:
                self.set(key, [_ABSENT] * self.n, np.zeros(self.n, dtype=bool))
            else:
                self.set(key, list(base), self.present.get(key))
        column = self.values[key]
        for i, v in zip(np.flatnonzero(where).tolist(), values, strict=True):
            column[i] = v
        self.present[key] = self.present[key] | where


def derive_cases(cases: Cases, skip: set[str]) -> tuple[dict[str, Any], Derived, list[str]]:
    """measured_row over every case: the combined stored columns (pyarrow arrays, one value per case), what
    measured_row computes (Derived) and the stored columns in first-seen order."""
    names = cases.whole.column_names  # every run's columns, first seen first (the unified schema)
    combined = {
        n: cases.combined(n) for n in names if n not in _SPECIAL and n not in derive.DERIVED_COLUMNS and n != "run_id"
    }
    out = Derived(cases.n)
    for n in _SPECIAL - {"round"}:  # what measured_row keeps of the first round unless it computes it
        if n in names and not (n in skip and n in _OUTPUT_ONLY):  # a report's skipped step times stay in arrow
            values = cases.whole.column(n).take(pa.array(cases.order[cases.starts])).to_pylist()
            absent = cases.absent(n)
            if absent is None:
                out.set(n, values, np.ones(cases.n, dtype=bool))
            else:
                out.set(n, [_ABSENT if a else v for v, a in zip(values, absent, strict=True)], ~absent)
    _status(cases, out)
    _peak_memory(cases, out)
    _min_reps(cases, out, combined)
    windows = _windows(cases, out)
    _timing(cases, out, combined, skip)
    _telemetry(cases, out, combined, windows)
    return combined, out, names


def _status(cases: Cases, out: Derived) -> None:
    """The first failed round's status and reason, else the first round's."""
    ok = pc.equal(cases.column("status").cast(pa.string()), "ok").fill_null(False)
    bad = ~np.asarray(ok.to_numpy(zero_copy_only=False), dtype=bool)  # a missing status is not ok either
    worst = cases.reduce(np.minimum, np.where(bad, np.arange(cases.rows), cases.rows))
    has = worst < cases.rows
    picked = worst[has]
    out.put("status", has, cases.at("status", picked), out.values.get("status"))
    out.put("reason", has, cases.at("reason", picked), out.values.get("reason", [_ABSENT] * cases.n))


def _peak_memory(cases: Cases, out: Derived) -> None:
    values = cases.numbers("peak_memory_bytes")
    best = cases.reduce(np.maximum, np.where(np.isfinite(values), values, -np.inf))
    out.set("peak_memory_bytes", [int(v) if math.isfinite(v) else None for v in best.tolist()], np.ones(cases.n, bool))


def _min_reps(cases: Cases, out: Derived, combined: dict[str, Any]) -> None:
    if "min_reps_reached" not in cases.names:
        return
    column = cases.column("min_reps_reached")
    if not (pa.types.is_boolean(column.type) or pa.types.is_null(column.type)):
        raise Unhandled(f"min_reps_reached: {column.type}")
    valid = _valid(column)
    yes = valid & column.fill_null(False).to_numpy(zero_copy_only=False).astype(bool)
    said = cases.reduce(np.add, valid.astype(np.int64))
    agreed = cases.reduce(np.add, yes.astype(np.int64))
    has = said > 0
    out.put("min_reps_reached", has, (agreed[has] == said[has]).tolist(), out.values["min_reps_reached"])


def _windows(cases: Cases, out: Derived) -> np.ndarray:
    """Each round's timed window (round_windows: start and end through float, as stored rows are read), the
    case's last window and lists of them; returns each round's window length in ns (0 without one)."""
    lo, hi = cases.numbers("start_ns"), cases.numbers("end_ns")
    ok = np.isfinite(lo) & np.isfinite(hi)
    lo_i = np.where(ok, lo, 0).astype(np.int64)
    hi_i = np.where(ok, hi, 0).astype(np.int64)
    has = cases.reduce(np.add, ok.astype(np.int64)) > 0
    if has.any():
        last = cases.reduce(np.maximum, np.where(ok, np.arange(cases.rows), -1))[has]
        starts, ends = [], []
        lo_l, hi_l, ok_l = lo_i.tolist(), hi_i.tolist(), ok.tolist()
        for a, n in zip(cases.starts[has].tolist(), cases.counts[has].tolist(), strict=True):
            starts.append([lo_l[i] for i in range(a, a + n) if ok_l[i]])
            ends.append([hi_l[i] for i in range(a, a + n) if ok_l[i]])
        out.put("start_ns", has, lo_i[last].tolist(), out.values.get("start_ns", [_ABSENT] * cases.n))
        out.put("end_ns", has, hi_i[last].tolist(), out.values.get("end_ns", [_ABSENT] * cases.n))
        out.put("round_start_ns", has, starts, out.values.get("round_start_ns"))
        out.put("round_end_ns", has, ends, out.values.get("round_end_ns"))
    return np.where(ok, hi_i - lo_i, 0)


def _timing(cases: Cases, out: Derived, combined: dict[str, Any], skip: set[str]) -> None:
    """derive._timing over every case: statistics of all its steps, round medians, throughput, TFLOP/s."""
    steps = cases.steps("times_s")
    if steps is None:
        return
    lengths, flat = steps
    n = cases.reduce(np.add, lengths)
    has = n > 0
    if not has.any():
        return
    row_start = np.r_[0, np.cumsum(lengths)[:-1]]
    start = row_start[cases.starts]  # each case's steps are contiguous: its rounds are adjacent
    s, k = start[has], n[has]
    data = _sorted_segments(flat, s, k)
    p = {q: _at(data, s, k, q) for q in (10, 25, 50, 75, 90, 99)}
    # derive.summarize: the sorted steps summed in order, each deviation squared by a multiplication (exact in
    # IEEE arithmetic, so numpy's vector loops and Python agree on every CPU; a vector pow does not)
    mean = _seq_sum(data, s, k) / k
    squares = data - np.repeat(mean, k)
    np.multiply(squares, squares, out=squares)
    std = np.where(k > 1, np.sqrt(_seq_sum(squares, s, k) / np.maximum(k - 1, 1)), 0.0)
    del squares
    median = p[50]
    iqr = p[75] - p[25]
    # round medians: a case of one round with steps has its own median; the rounds of the others are sorted
    part = lengths > 0
    parts_all = cases.reduce(np.add, part.astype(np.int64))
    many = part & (parts_all > 1)[cases.group_of_row]
    by_round = _sorted_segments(flat, row_start[many], lengths[many])
    round_median = np.full(cases.rows, math.nan)
    round_median[many] = _at(by_round, row_start[many], lengths[many], 50)
    del by_round  # a fleet's report holds millions of steps: big temporaries go as soon as they are used
    alone = np.zeros(cases.n, dtype=bool)
    alone[np.flatnonzero(has)] = parts_all[has] == 1
    lone_round = part & alone[cases.group_of_row]
    case_median = np.full(cases.n, math.nan)
    case_median[has] = p[50]
    round_median[lone_round] = case_median[cases.group_of_row[lone_round]]
    # each case's rounds with steps, in round order: their sizes and medians
    parts = parts_all[has]
    first = np.r_[0, np.cumsum(parts)[:-1]].tolist()
    sizes_all, medians_all = lengths[part].tolist(), round_median[part].tolist()
    spans_p = [(a, a + c) for a, c in zip(first, parts.tolist(), strict=True)]
    sizes = [sizes_all[a:b] for a, b in spans_p]
    medians = [medians_all[a:b] for a, b in spans_p]
    covs = _round_cov(round_median[part], np.array(first, dtype=np.int64), parts).tolist()
    parts_n = parts.tolist()
    if "times_s" not in skip:
        out.put("times_s", has, _case_steps(flat, start[has], k), out.values["times_s"])
    cov = np.where(mean > 0, std / np.where(mean > 0, mean, 1.0), math.nan)
    noisy = (median > 0) & (iqr / np.where(median > 0, median, 1.0) > stats.NOISY_IQR_RATIO)
    out.put("n_reps", has, k.tolist())
    for key, v in (
        ("median_s", median),
        ("p10_s", p[10]),
        ("p90_s", p[90]),
        ("p99_s", p[99]),
        ("mean_s", mean),
        ("min_s", data[s]),
        ("std_s", std),
        ("cov", cov),
        ("iqr_s", iqr),
    ):
        out.put(key, has, v.tolist())
    out.put("noisy", has, noisy.tolist())
    out.put("rounds_n", has, parts_n)
    out.put("round_sizes", has, sizes, out.values.get("round_sizes"))
    out.put("round_medians_s", has, medians)
    out.put("round_cov", has, covs)
    _throughput(cases, out, combined, has, median, p[10], p[90])


def _round_cov(medians: np.ndarray, first: np.ndarray, parts: np.ndarray) -> np.ndarray:
    """derive._cov of each case's round medians (NaN for a case of one round)."""
    segment = np.repeat(np.arange(len(parts)), parts)
    data = medians[np.lexsort((medians, segment))]
    mean = _seq_sum(data, first, parts) / np.maximum(parts, 1)
    deviations = data - np.repeat(mean, parts)
    squares = deviations * deviations
    std = np.where(parts > 1, np.sqrt(_seq_sum(squares, first, parts) / np.maximum(parts - 1, 1)), 0.0)
    cov = np.where(mean > 0, std / np.where(mean > 0, mean, 1.0), math.nan)
    return np.where(parts > 1, cov, math.nan)


def _sorted_segments(values: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """A copy of `values` with each segment (`counts[i]` values from `starts[i]`; segments do not overlap)
    sorted ascending in place. Segments of one length are sorted together as the rows of one 2-D array: one
    direct sort per distinct length (at most about the square root of 2 x the values), no argsort of all
    values, which costs several times more for a fleet's millions of steps."""
    out = values.copy()
    long = counts > 1
    starts, counts = starts[long], counts[long]
    if not len(counts):
        return out
    order = np.argsort(counts, kind="stable")
    lengths = counts[order]
    for group in np.split(order, np.flatnonzero(np.diff(lengths)) + 1):
        where = starts[group][:, None] + np.arange(int(counts[group[0]]))
        out[where] = np.sort(values[where], axis=1)
    return out


def _case_steps(flat: np.ndarray, start: np.ndarray, n: np.ndarray) -> list[list[float]]:
    values = flat.tolist()
    return [values[a : a + c] for a, c in zip(start.tolist(), n.tolist(), strict=True)]


def _per_case_numbers(combined: dict[str, Any], name: str, n: int) -> np.ndarray:
    column = combined.get(name)
    if column is None or pa.types.is_null(column.type):
        return np.full(n, math.nan)
    return np.array([stats.to_float(v) for v in column.to_pylist()], dtype=np.float64)


def _throughput(
    cases: Cases,
    out: Derived,
    combined: dict[str, Any],
    has: np.ndarray,
    median: np.ndarray,
    p10: np.ndarray,
    p90: np.ndarray,
) -> None:
    unit_column = combined.get("work_unit")
    units = unit_column.to_pylist() if unit_column is not None else [None] * cases.n
    work = _per_case_numbers(combined, "work_per_step", cases.n)[has]
    flops = _per_case_numbers(combined, "flops_per_step", cases.n)[has]
    unit = [u for u, h in zip(units, has.tolist(), strict=True) if h]
    known = np.array([u in WORK_UNITS for u in unit], dtype=bool) & (work > 0)
    if known.any():
        div = np.array([WORK_UNITS[u][0] if u in WORK_UNITS else 1.0 for u in unit])
        where = np.zeros(cases.n, dtype=bool)
        where[np.flatnonzero(has)[known]] = True
        out.put("throughput_unit", where, [WORK_UNITS[u][1] for u, k in zip(unit, known.tolist(), strict=True) if k])
        out.put("throughput", where, (work / median / div)[known].tolist())
        out.put("throughput_p10", where, (work / p90 / div)[known].tolist())
        out.put("throughput_p90", where, (work / p10 / div)[known].tolist())
    positive = flops > 0
    if positive.any():
        where = np.zeros(cases.n, dtype=bool)
        where[np.flatnonzero(has)[positive]] = True
        out.put("tflops", where, (flops / median / 1e12)[positive].tolist())


def _telemetry(cases: Cases, out: Derived, combined: dict[str, Any], window_ns: np.ndarray) -> None:
    """derive._telemetry: cases with two or more sampled rounds get their rounds' aggregates combined."""
    sampled = np.isfinite(cases.numbers("telemetry_samples"))
    if not sampled.any():
        return
    many = cases.reduce(np.add, sampled.astype(np.int64)) >= 2
    if not many.any():
        return
    seconds = window_ns / 1e9
    part = sampled & (seconds > 0) & many[cases.group_of_row]
    positive = cases.reduce(np.add, part.astype(np.int64))
    result = {k: _combined_values(cases, combined, k) for k in AGGREGATE_COLUMNS}
    # No round with a window: empty aggregates. One: that round's aggregates as they are.
    empty = empty_aggregates()
    for i in np.flatnonzero(many & (positive == 0)).tolist():
        for k in AGGREGATE_COLUMNS:
            result[k][i] = empty[k]
    lone = np.flatnonzero(many & (positive == 1))
    if len(lone):
        lone_rows = cases.reduce(np.maximum, np.where(part, np.arange(cases.rows), -1))[lone]
        for k in AGGREGATE_COLUMNS:
            for i, v in zip(lone.tolist(), cases.at(k, lone_rows), strict=True):
                result[k][i] = v
    full = many & (positive >= 2)
    if full.any():
        _combine_windows(cases, part, seconds, full, result, empty)
    for k in AGGREGATE_COLUMNS:
        out.set(k, result[k])


def _combined_values(cases: Cases, combined: dict[str, Any], key: str) -> list[Any]:
    """A combined stored column as Python values, _ABSENT for cases whose run lacks it."""
    if key not in combined:
        return [_ABSENT] * cases.n
    values = combined[key].to_pylist()
    absent = cases.absent(key)
    return values if absent is None else [_ABSENT if a else v for v, a in zip(values, absent, strict=True)]


def _combine_windows(
    cases: Cases,
    part: np.ndarray,
    seconds: np.ndarray,
    full: np.ndarray,
    result: dict[str, list[Any]],
    empty: Mapping[str, Any],
) -> None:
    """combine_aggregates over the rounds with a window of cases with two or more of them."""
    rows = np.flatnonzero(part & full[cases.group_of_row])  # sorted: case by case, in round order
    group = cases.group_of_row[rows]
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    counts = np.diff(np.r_[starts, len(rows)])
    cases_at = group[starts].tolist()
    d = seconds[rows]
    total = _seq_sum(d, starts, counts)

    def numbers(key: str) -> np.ndarray:
        return cases.numbers(key)[rows]

    def each(key: str, values: Sequence[Any]) -> None:
        for i, v in zip(cases_at, values, strict=True):
            result[key][i] = v

    for key in AGGREGATE_COLUMNS:
        each(key, [empty[key]] * len(cases_at))
    for key in _SUMMED:
        v = numbers(key)
        ok = np.isfinite(v)
        complete = np.add.reduceat(ok.astype(np.int64), starts) == counts
        sums = _seq_sum(np.where(ok, v, 0.0), starts, counts)
        each(key, np.where(complete, sums, math.nan).tolist())
    sources = [str(v or "") for v in cases.at("energy_source", rows)]
    names = []
    for a, c in zip(starts.tolist(), counts.tolist(), strict=True):
        found = set(sources[a : a + c])
        names.append(found.pop() if len(found) == 1 else ("integrated" if "" not in found else ""))
    each("energy_source", names)
    energy = np.array([result["energy_j"][i] for i in cases_at], dtype=np.float64)
    each("avg_power_w", np.where(np.isfinite(energy), energy / total, math.nan).tolist())
    for key in _PEAKS:
        v = numbers(key)
        ok = np.isfinite(v)
        best = np.maximum.reduceat(np.where(ok, v, -np.inf), starts)
        each(key, np.where(np.isfinite(best), best, math.nan).tolist())
    for key in _WEIGHTED:
        v = numbers(key)
        ok = np.isfinite(v)
        num = _seq_sum(np.where(ok, v * d, 0.0), starts, counts)
        den = _seq_sum(np.where(ok, d, 0.0), starts, counts)
        got = np.add.reduceat(ok.astype(np.int64), starts) > 0
        each(key, np.where(got, num / np.where(got, den, 1.0), math.nan).tolist())
    reasons_at = [str(v or "") for v in cases.at("throttle_reasons", rows)]
    throttled_at = [isinstance(v, bool) and v for v in cases.at("throttled", rows)]
    reasons, throttled = [], []
    for a, c in zip(starts.tolist(), counts.tolist(), strict=True):
        reasons.append(",".join(sorted({x for text in reasons_at[a : a + c] for x in text.split(",") if x})))
        throttled.append(any(throttled_at[a : a + c]))
    each("throttle_reasons", reasons)
    each("throttled", throttled)
    v = numbers("telemetry_samples")
    ok = np.isfinite(v)
    each("telemetry_samples", [int(x) for x in _seq_sum(np.where(ok, v, 0.0), starts, counts).tolist()])


# ------------------------------------------------------------------------------------------- the frame


def frame(
    runs: Sequence[tuple[pa.Table, Mapping[str, Any]]],
    skip: set[str],
    catalog: derive.Catalog,
    extras: Sequence[Mapping[str, Any]],
) -> pd.DataFrame:
    """The frame store.load_runs makes of these runs (table, run extras: run.json's columns for rows that lack
    them) through derive_run and rows_to_frame, derived column by column. Raises Unhandled for what it does
    not cover."""
    if not all(covered(t) for t, _ in runs):
        raise Unhandled("a run this module does not derive")
    cases = Cases([t for t, _ in runs])
    combined, out, names = derive_cases(cases, skip)
    finished = _finish(cases, combined, out, catalog, runs)
    columns: dict[str, Any] = {}
    for name, column in combined.items():
        if name not in skip and name not in out.values:  # skipped: read for derivation only; else replaced below
            columns[name] = arrow_column(name, column, cases.absent(name))
    values = dict(out.values)
    for key in skip:
        values.pop(key, None)
    kept = {k: v for k, v in finished.values.items() if k not in skip}
    columns.update(_rows_frame({**values, **kept}, cases.n))
    # run.json's columns: typed over the runs (every run has a case: the same values, the same dtype), then
    # spread over each run's cases
    names_of_extras = list(dict.fromkeys(k for e in extras for k in e))
    per_run = _rows_frame({k: [e.get(k, _ABSENT) for e in extras] for k in names_of_extras}, len(extras))
    for key, column in per_run.items():
        columns[key] = (
            column.take(cases.run) if isinstance(column, pd.api.extensions.ExtensionArray) else column[cases.run]
        )
    order = _order(cases, names, out, finished, extras, skip)
    return pd.DataFrame({n: columns[n] for n in order if n in columns}, index=pd.RangeIndex(cases.n))


def _rows_frame(values: Mapping[str, list[Any]], n: int) -> dict[str, Any]:
    """Columns of Python values (_ABSENT where a case lacks the key) typed as rows_to_frame types them."""
    from gpubench import frame as frames

    out = {}
    for key, column in values.items():
        typed = frames._column(key, [frames._ABSENT if v is _ABSENT else v for v in column])
        if typed is None:
            raise Unhandled(f"{key}: a value rows_to_frame leaves to pandas")
        out[key] = typed
    return out


# What derive.finish, the specs' derivations (benchmarks.catalog.derive_rows) and scaling read of a row: loaded
# into each case's dict up front; any other column derivation may read is fetched when asked for (_Row).
_FINISH_READS = (
    "case_id",
    "benchmark",
    "status",
    "params_json",
    "compile",
    "work_unit",
    "bytes_per_step",
    "dp_ranks",
    "device_name",
    "device_memory_bytes",
    "power_limit_w",
    "device_multiprocessors",
    "avg_power_w",
    "energy_j",
    "energy_above_idle_j",
    "median_s",
    "throughput",
    "tflops",
)


class _Row(dict):
    """One case for derive.finish: a dict of the columns it reads (_FINISH_READS) that answers for any other
    column derivation may read (`derive.input_columns`) from the per-case columns, without holding it. What
    finish adds is stored in the dict itself, after the keys it was made with."""

    __slots__ = ("_at", "_columns")

    def __missing__(self, key: str) -> Any:
        column = self._columns.get(key)
        value = column[self._at] if column is not None else _ABSENT
        if value is _ABSENT:
            raise KeyError(key)
        return value

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        if dict.__contains__(self, key):
            return True
        column = self._columns.get(key) if isinstance(key, str) else None
        return column is not None and column[self._at] is not _ABSENT


class _Columns:
    """Per-case columns by name, each a list made from its array the first time a row asks for it (most columns
    derivation may read, no case of a run reads)."""

    def __init__(self, arrays: Mapping[str, pa.Array], lists: Mapping[str, list[Any]]) -> None:
        self._arrays = dict(arrays)
        self._lists = dict(lists)

    def get(self, key: str) -> list[Any] | None:
        found = self._lists.get(key)
        if found is None and key in self._arrays:
            found = self._lists[key] = self._arrays.pop(key).to_pylist()
        return found

    def __contains__(self, key: object) -> bool:
        return key in self._lists or key in self._arrays


def _finish(
    cases: Cases,
    combined: dict[str, Any],
    out: Derived,
    catalog: derive.Catalog,
    runs: Sequence[tuple[pa.Table, Mapping[str, Any]]],
) -> Derived:
    """derive_run's last steps: the specs' derived columns, the catalog's percentages, energy per work, scaling,
    on one dict per case (_Row). Returns the columns they add."""
    inputs = derive.input_columns()
    lists = {k: v for k, v in out.values.items() if k in inputs or k in derive.DERIVED_COLUMNS}
    arrays = {k: c for k, c in combined.items() if k in inputs and k not in lists}
    columns = _Columns(arrays, lists)
    loaded = [k for k in _FINISH_READS if k in columns]
    rows: list[_Row] = []
    for i, values in enumerate(zip(*(columns.get(k) for k in loaded), strict=True)):
        row = _Row(zip(loaded, values, strict=True))
        if _ABSENT in values:
            for k in [k for k, v in row.items() if v is _ABSENT]:
                del row[k]
        row._at, row._columns = i, columns
        rows.append(row)
    devices = _device_keys(columns, cases.n)
    added = Derived(cases.n)
    run_of = cases.run.tolist()
    start = 0
    while start < cases.n:
        end = start
        while end < cases.n and run_of[end] == run_of[start]:
            end += 1
        mine = rows[start:end]
        widths = [len(row) for row in mine]
        for i, (row, extra) in enumerate(zip(mine, benchmark_catalog.derive_rows(mine), strict=True)):
            derive.finish(row, extra, catalog, devices[start + i])
        for row in mine:
            derive.add_scaling_columns(row, mine)
        for i, (row, width) in enumerate(zip(mine, widths, strict=True)):
            if len(row) > width:
                for k in list(row)[width:]:  # finish only adds keys: they follow the ones the row was made with
                    if k not in added.values:
                        added.set(k, [_ABSENT] * cases.n, np.zeros(cases.n, dtype=bool))
                    added.values[k][start + i] = row[k]
                    added.present[k][start + i] = True
        start = end
    return added


def _device_keys(columns: _Columns, n: int) -> list[tuple[Any, ...]]:
    """derive.device_key of every case, each distinct combination worked out once."""
    names = ("device_name", "device_memory_bytes", "power_limit_w", "device_multiprocessors")
    lists = [columns.get(k) or [None] * n for k in names]
    known: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    out = []
    for values in zip(*lists, strict=True):
        raw = tuple(None if v is _ABSENT else v for v in values)
        try:
            key = known[raw]
        except (KeyError, TypeError):  # TypeError: an unhashable value; device_key decides
            key = derive.device_key(dict(zip(names, raw, strict=True)))
            with contextlib.suppress(TypeError):
                known[raw] = key
        out.append(key)
    return out


def _order(
    cases: Cases,
    names: list[str],
    out: Derived,
    finished: Derived,
    extras: Sequence[Mapping[str, Any]],
    skip: set[str],
) -> list[str]:
    """Columns in the order rows_to_frame gives derive_run's rows: each row's keys as inserted (its stored
    columns as stored, then what measured_row, finish and load_runs add), first seen first."""
    popped = derive.DERIVED_COLUMNS | {"round"} | skip
    schemas: dict[tuple[tuple[str, ...], tuple[str, ...]], int] = {}
    schema_of_run = []
    for table, extra in zip(cases.tables, extras, strict=True):
        key = (
            tuple(n for n in column_names(table) if n not in popped),
            tuple(extra),
        )  # joined after the skipped columns are left out
        schema_of_run.append(schemas.setdefault(key, len(schemas)))
    new_keys = [
        k
        for k in (*_COMBINE_KEYS, *_WINDOW_KEYS, *_TIMING_KEYS, *_THROUGHPUT_KEYS, "tflops", *AGGREGATE_COLUMNS)
        if k in out.present and k not in skip
    ]
    finished_keys = [k for k in finished.values if k not in skip]
    masks = [out.present[k] for k in new_keys] + [finished.present[k] for k in finished_keys]
    schema = np.array(schema_of_run, dtype=np.int64)[cases.run] if cases.n else np.zeros(0, np.int64)
    bits = np.packbits(np.stack(masks), axis=0) if masks else np.zeros((0, cases.n), np.uint8)
    signature = np.concatenate([schema.view(np.uint8).reshape(cases.n, 8), bits.T], axis=1)
    _, first = np.unique(signature, axis=0, return_index=True)
    layouts = list(schemas)
    order: dict[str, None] = {}
    for i in sorted(first.tolist()):
        stored, extra_keys = layouts[schema[i]]
        kept = set(stored)
        order.update(dict.fromkeys(stored))
        order.update(dict.fromkeys(k for k in new_keys if k not in kept and out.present[k][i]))
        order.update(dict.fromkeys(k for k in finished_keys if finished.present[k][i]))
        order.update(dict.fromkeys(extra_keys))
    return list(order)
