"""gpubench.columnar derives many runs at once, column by column; gpubench.derive (row by row) defines the result.

Every frame here is loaded both ways and must be equal value for value, dtype for dtype, column order included:
the committed runs (schema 1 and a real quick run of schema 3) and copies of the quick run edited the ways real
runs differ (a later round failing, rounds without a timed window or telemetry, a column one run lacks, missing
and NaN values, several runs at once, columns left out by the caller).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gpubench import columnar, derive, store
from gpubench.frame import Unhandled

DATA = Path(__file__).parent / "data"
QUICK = DATA / "run_schema3_quick_cpu"


def _both(paths: list[Path], skip: set[str] = frozenset()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(row by row, column by column) frames of the same run folders."""
    runs = []
    for folder in store.expand_paths(paths):
        table = store.inputs.read_table(folder / store.MEASUREMENTS, "measurements", skip=skip - derive.input_columns())
        runs.append((folder, store.read_meta(folder), table))
    rows = [
        r for folder, meta, table in runs for r in store._run_rows(folder, meta, table, set(skip), derive.Catalog())
    ]
    by_row = store.rows_to_frame(rows)
    by_column = store._load_by_column(runs, set(skip), derive.Catalog())
    return by_row, by_column


def _copy(src: Path, dst: Path, edit=None, run_id: str | None = None) -> Path:
    """A copy of run folder `src` with its measurements table passed through `edit` (table -> table)."""
    shutil.copytree(src, dst)
    if run_id:
        meta = json.loads((dst / "run.json").read_text())
        meta["run_id"] = run_id
        (dst / "run.json").write_text(json.dumps(meta))
    if edit is not None:
        table = pq.read_table(dst / "measurements.parquet")
        pq.write_table(edit(table), dst / "measurements.parquet")
    return dst


def _set(table: pa.Table, name: str, values: list) -> pa.Table:
    i = table.column_names.index(name)
    return table.set_column(i, table.field(i), pa.array(values, table.field(i).type))


def _fleet_skip() -> set[str]:
    """What the fleet check leaves out: columns derivation reads among them (work_unit, device_name ...)."""
    from gpubench.fleet import check

    return set(check._skip_columns({"run_id", "work_per_step", "throughput", *check._COLUMNS}))


@pytest.mark.parametrize("folder", [QUICK, DATA / "run_schema1_cpu"], ids=["schema3-quick", "schema1"])
@pytest.mark.parametrize(
    "skip",
    [set(), {"times_s"}, {"times_s", "label", "energy_j", "check_detail"}, _fleet_skip()],
    ids=["all", "no-times", "some", "fleet"],
)
def test_committed_runs_load_the_same_both_ways(folder, skip):
    by_row, by_column = _both([folder], skip)
    assert len(by_row) > 0
    pd.testing.assert_frame_equal(by_row, by_column, check_exact=True)


def _edited(table: pa.Table, seed: int) -> pa.Table:
    """The quick run's rounds edited at random, the ways real runs differ."""
    rng = np.random.default_rng(seed)
    n = table.num_rows
    pick = lambda share: rng.random(n) < share  # noqa: E731
    status = table.column("status").to_pylist()
    reason = table.column("reason").to_pylist()
    failed = pick(0.08)
    status = ["failed" if f else s for s, f in zip(status, failed, strict=True)]
    reason = ["boom" if f else r for r, f in zip(reason, failed, strict=True)]
    table = _set(table, "status", status)
    table = _set(table, "reason", reason)
    for name, share in (("start_ns", 0.1), ("telemetry_samples", 0.3), ("peak_memory_bytes", 0.3), ("label", 0.2)):
        values = table.column(name).to_pylist()
        table = _set(table, name, [None if m else v for v, m in zip(values, pick(share), strict=True)])
    for name in ("energy_j", "avg_power_w", "mean_sm_clock_mhz", "warmup_s", "held_s"):
        values = table.column(name).to_pylist()
        mask = pick(0.25)
        table = _set(
            table,
            name,
            [float("nan") if m else (v if v is not None else 1.5) for v, m in zip(values, mask, strict=True)],
        )
    times = table.column("times_s").to_pylist()
    table = _set(table, "times_s", [[] if m else t for t, m in zip(times, pick(0.05), strict=True)])
    # long rounds of random steps: a sum of squares computed differently (numpy's x * x for Python's x ** 2, or
    # pairwise for in-order sums) shows in the last bit of some case's deviation
    times = table.column("times_s").to_pylist()
    long = [list(rng.lognormal(-7, 0.4, 700)) if m and t else t for t, m in zip(times, pick(0.3), strict=True)]
    table = _set(table, "times_s", long)
    reached = table.column("min_reps_reached").to_pylist()
    table = _set(
        table,
        "min_reps_reached",
        [None if m else (not v if rng.random() < 0.3 else v) for v, m in zip(reached, pick(0.3), strict=True)],
    )
    reasons = table.column("throttle_reasons").to_pylist()
    table = _set(
        table,
        "throttle_reasons",
        ["power_cap,hw_slowdown" if m else r for r, m in zip(reasons, pick(0.2), strict=True)],
    )
    return table


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_edited_runs_load_the_same_both_ways(tmp_path, seed):
    """Failures in later rounds, rounds without a window, telemetry or times, NaN and missing values, a column
    one run lacks: three runs at once."""
    a = _copy(QUICK, tmp_path / "a", lambda t: _edited(t, seed), run_id="run-a")
    b = _copy(QUICK, tmp_path / "b", lambda t: _edited(t, seed + 10).drop_columns(["label", "held_s"]), run_id="run-b")
    c = _copy(QUICK, tmp_path / "c", run_id="run-c")
    for skip in (set(), {"times_s"}):
        by_row, by_column = _both([a, b, c], skip)
        assert set(by_row["run_id"]) == {"run-a", "run-b", "run-c"}
        pd.testing.assert_frame_equal(by_row, by_column, check_exact=True)


def test_load_runs_takes_the_column_path_for_a_quick_run(monkeypatch):
    """A run as `make run` writes it is derived column by column (the row path would also give the frame: this
    checks the fast path is not silently skipped)."""
    calls = []
    real = columnar.frame
    monkeypatch.setattr(columnar, "frame", lambda *a, **k: calls.append(1) or real(*a, **k))
    frame = store.load_runs([QUICK])
    assert calls == [1] and len(frame) == 43


def test_what_columns_cannot_derive_loads_row_by_row(tmp_path):
    """A schema-2 run (several rounds in one row) is not covered: load_runs derives it row by row, same frame."""
    folder = DATA / "run_schema2_cpu"
    table = pq.read_table(folder / "measurements.parquet")
    assert not columnar.covered(table)
    with pytest.raises(Unhandled):
        store._load_by_column([(folder, store.read_meta(folder), table)], set(), derive.Catalog())
    frame = store.load_runs([folder])
    rows = store._run_rows(folder, store.read_meta(folder), table, set(), derive.Catalog())
    pd.testing.assert_frame_equal(frame.reset_index(drop=True), store.views.select(store.rows_to_frame(rows), "all"))


def test_statistics_of_many_small_cases_are_derive_s_to_the_last_bit():
    """Thousands of cases of 2-4 random steps, several rounds each: median, percentiles, mean, deviation and the
    rounds' CoV as derive.summarize and derive._cov compute them, bit for bit (a deviation squared by numpy's
    pow instead of a multiplication, or summed in pairs, differs in the last bit of some of them)."""
    rng = np.random.default_rng(7)
    cases, rounds, times = [], [], []
    for c in range(4000):
        for r in range(int(rng.integers(1, 4))):
            cases.append(f"c{c}")
            rounds.append(r)
            times.append(list(rng.lognormal(-6, 0.5, int(rng.integers(1, 5)))))
    n = len(cases)
    table = pa.table(
        {
            "case_id": cases,
            "round": rounds,
            "status": ["ok"] * n,
            "times_s": pa.array(times, pa.list_(pa.float64())),
            "work_per_step": [1.0] * n,
            "work_unit": ["sample"] * n,
        }
    )
    found = columnar.Cases([table])
    _, out, _ = columnar.derive_cases(found, set())
    by_case: dict[str, list[dict]] = {}
    for row in table.to_pylist():
        by_case.setdefault(row["case_id"], []).append(row)
    for i, rows in enumerate(by_case.values()):
        want = derive.case_row(rows)
        for key in ("median_s", "p10_s", "p90_s", "mean_s", "std_s", "cov", "iqr_s", "round_cov", "throughput"):
            got, expected = out.values[key][i], want[key]
            assert got == expected or (got != got and expected != expected), (key, i, got, expected)


def test_a_lean_measurements_file_loads_to_the_same_frame(tmp_path):
    """measurements.parquet as this version writes it (store.write_table lean: no pandas metadata, no stored
    schema, statistics or dictionaries) is smaller and loads, both ways, to exactly the frame of the file as
    earlier versions wrote it."""
    old = tmp_path / "old"
    shutil.copytree(QUICK, old)
    lean = tmp_path / "lean"
    shutil.copytree(QUICK, lean)
    store.write_table(lean / "measurements.parquet", pq.read_table(old / "measurements.parquet"), lean=True)
    schema = pq.read_schema(lean / "measurements.parquet")
    assert schema.metadata is None or b"pandas" not in schema.metadata
    assert (lean / "measurements.parquet").stat().st_size < 0.8 * (old / "measurements.parquet").stat().st_size
    before = store.load_runs([old])
    after = store.load_runs([lean])
    pd.testing.assert_frame_equal(after.drop(columns="run_folder"), before.drop(columns="run_folder"), check_exact=True)
    by_row, by_column = _both([lean])
    pd.testing.assert_frame_equal(by_column, by_row, check_exact=True)
