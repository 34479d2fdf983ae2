"""Raw rounds in, derivation once on load (gpubench.derive): run folders of schema 2 still load with the same
headline numbers, stored rounds hold nothing derived, and a catalog edit shows on the next load."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from fakebench import FAKES, suite_text
from fixtures_runs import write_run

from gpubench import derive, specs
from gpubench.benchmarks import load_all
from gpubench.errors import ResultFormatError
from gpubench.records import SCHEMA_VERSION
from gpubench.runner import RunOptions, run_suite
from gpubench.store import MEASUREMENTS, RunStore, load_runs, read_meta
from gpubench.suite import parse_suite

DATA = Path(__file__).parent / "data"
SCHEMA2 = ("run_schema2_cpu", "run_schema2_2rank", "run_schema2_h100")
# What gpubench of schema 2 loaded from these folders (tests/data/schema2_expected.json, written by that code).
EXPECTED = json.loads((DATA / "schema2_expected.json").read_text())


def _same(want, got) -> bool:
    if isinstance(want, (bool, str)):
        return got == want
    if isinstance(want, list):
        got = list(got)
        return len(got) == len(want) and all(math.isclose(a, b, rel_tol=1e-9) for a, b in zip(want, got, strict=True))
    return math.isclose(float(got), float(want), rel_tol=1e-9, abs_tol=1e-12)


@pytest.mark.parametrize("name", SCHEMA2)
def test_schema2_folders_load_with_the_same_headline_numbers(name):
    assert read_meta(DATA / name)["schema_version"] == 2 < SCHEMA_VERSION
    df = load_runs(DATA / name).set_index("case_id")
    expected = EXPECTED[name]
    assert set(df.index) == set(expected)
    wrong = [
        (cid, col, want, df.loc[cid, col])
        for cid, cols in expected.items()
        for col, want in cols.items()
        if not _same(want, df.loc[cid, col])
    ]
    assert not wrong, wrong[:5]


def test_the_fixtures_cover_rounds_ranks_and_the_catalog():
    """The schema-2 fixtures hold what the comparison above must cover."""
    cpu, ranks, h100 = (EXPECTED[n] for n in SCHEMA2)
    assert any(c.get("rounds_n") == 3 for c in cpu.values())
    assert any("busbw_gbps" in c for c in ranks.values()) and any("scaling_efficiency" in c for c in ranks.values())
    assert sum("pct_of_peak" in c for c in h100.values()) > 5 and any("energy_per_work" in c for c in h100.values())
    assert any(c.get("rounds_n") == 3 for c in h100.values())


def test_a_newer_schema_is_refused_with_what_to_do(tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(DATA / "run_schema2_cpu", folder)
    meta = json.loads((folder / "run.json").read_text())
    (folder / "run.json").write_text(json.dumps({**meta, "schema_version": SCHEMA_VERSION + 1}))
    with pytest.raises(ResultFormatError, match=r"newer gpubench .*upgrade gpubench to read it"):
        load_runs(folder)


def test_stored_rounds_are_raw_and_load_as_one_row_per_case(tmp_path):
    reg = {**load_all(), **FAKES}
    text = suite_text('benchmark = "t_ok"\nn = [1, 2]\nrounds = 3', 'benchmark = "t_fail"')
    out = run_suite(
        parse_suite(text, str(tmp_path / "t.toml"), reg),
        RunOptions(device="cpu", out_dir=tmp_path, telemetry="off"),
        registry=reg,
    )
    raw = pd.read_parquet(out.folder / MEASUREMENTS)
    assert len(raw) == 3 * 2 + 1  # a row per case and round; the failed case stopped after its first
    assert not derive.DERIVED_COLUMNS & set(raw.columns)
    assert sorted(raw.loc[raw.case_id == "t_ok[n=1]", "round"]) == [0, 1, 2]
    assert {"times_s", "start_ns", "end_ns", "steps_per_sample", "warmup_steps", "work_per_step"} <= set(raw.columns)
    df = load_runs(out.folder).set_index("case_id")
    assert len(df) == 3
    ok = df.loc["t_ok[n=1]"]
    times = [t for r in raw[raw.case_id == "t_ok[n=1]"].sort_values("round")["times_s"] for t in r]
    assert list(ok["times_s"]) == times and ok["rounds_n"] == 3 and ok["n_reps"] == len(times)
    assert ok["median_s"] == pytest.approx(float(pd.Series(times).median()))
    assert ok["throughput"] == pytest.approx(1000.0 / ok["median_s"]) and ok["throughput_unit"] == "samples/s"
    assert ok["check_detail"] == "exact"  # round 0's check stays the case's
    assert df.loc["t_fail[n=1]", "status"] == "failed"


def _edited_catalog(tmp_path: Path, slug: str, factor: float) -> dict:
    """A temporary copy of data/specs.toml with entry `slug`'s bf16 peak scaled by `factor`."""
    text = (Path(specs.__file__).parent / "data" / "specs.toml").read_text()
    head, sep, rest = text.partition(f"[{slug}.peak]\n")
    assert sep, slug
    old = float(re.search(r"^bf16 = ([0-9.]+)", rest, re.M).group(1))
    rest = re.sub(r"^bf16 = [0-9.]+", f"bf16 = {old * factor}", rest, count=1, flags=re.M)
    path = tmp_path / "specs.toml"
    path.write_text(head + sep + rest)
    return specs.load_catalog(path)


def test_a_catalog_edit_changes_pct_of_peak_on_the_next_load(tmp_path):
    folder = write_run(tmp_path / "runs", "h100", reps=10, case_s=0.2, hz=5)
    before = load_runs(folder).set_index("case_id")
    slug = specs.match_device("NVIDIA H100 80GB HBM3", 85_520_809_984, 700.0).slug
    after = load_runs(folder, catalog=_edited_catalog(tmp_path, slug, 2.0)).set_index("case_id")
    bf16 = [c for c in before.index if c.startswith("matmul[dtype=bf16")]
    assert bf16
    for cid in bf16:
        assert after.loc[cid, "pct_of_peak"] == pytest.approx(before.loc[cid, "pct_of_peak"] / 2)
        assert after.loc[cid, "throughput"] == before.loc[cid, "throughput"]
    fp32 = next(c for c in before.index if c.startswith("matmul[dtype=fp32"))
    assert after.loc[fp32, "pct_of_peak"] == pytest.approx(before.loc[fp32, "pct_of_peak"])  # only bf16 edited


def test_a_resumed_schema2_folder_keeps_its_rounds_and_drops_stale_figures(tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(DATA / "run_schema2_cpu", folder)
    store = RunStore.resume(folder)
    assert all(not derive.DERIVED_COLUMNS & set(r) for r in store.rows)
    case = next(r for r in store.rows if r["case_id"] == "matmul[dtype=fp32,m=64,n=64,k=64]")
    assert derive.rounds_in(case) == 3
    store.add({**case, "round": 3, "round_sizes": None, "round_start_ns": None, "round_end_ns": None})
    store.finish("complete")
    store.close()
    assert read_meta(folder)["schema_version"] == SCHEMA_VERSION
    row = load_runs(folder).set_index("case_id").loc["matmul[dtype=fp32,m=64,n=64,k=64]"]
    # Its three stored rounds, and the new one (here holding the same steps again).
    assert row["rounds_n"] == 4 and row["n_reps"] == 2 * len(case["times_s"])


@pytest.mark.parametrize("n", [1, 2, 5, 37, 400])
def test_one_sort_summary_matches_the_reference_statistics(n):
    import random

    from gpubench import stats

    rng = random.Random(n)
    times = [rng.lognormvariate(-7, 0.3) for _ in range(n)]
    want = stats.summarize(times).as_dict()
    got = derive.summarize(times)
    assert set(got) == set(want)
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-12), key
    assert derive.median(times) == pytest.approx(stats.percentile(times, 50), rel=1e-15)


def test_rounds_concatenate_then_compute():
    """Statistics over every step of every round (asv's concatenate-then-compute), not a mean of round figures;
    telemetry weighted by each round's window; the first round's check and warm-up; the first failure."""
    base = {"case_id": "c[x=1]", "benchmark": "t", "status": "ok", "reason": "", "work_per_step": 2.0}
    base["work_unit"] = "sample"
    r0 = {**base, "round": 0, "times_s": [1.0, 1.0, 1.0], "start_ns": 0, "end_ns": 3 * 10**9, "warmup_steps": 4}
    r0 |= {"check_error": 0.0, "energy_j": 30.0, "avg_power_w": 10.0, "telemetry_samples": 3, "peak_power_w": 12.0}
    r1 = {**base, "round": 1, "times_s": [3.0], "start_ns": 5 * 10**9, "end_ns": 6 * 10**9, "warmup_steps": 9}
    r1 |= {"energy_j": 40.0, "avg_power_w": 40.0, "telemetry_samples": 1, "peak_power_w": 45.0}
    row = derive.case_row([r1, r0])  # stored order does not matter: rounds sort by index
    assert row["times_s"] == [1.0, 1.0, 1.0, 3.0] and row["round_sizes"] == [3, 1] and row["rounds_n"] == 2
    assert row["median_s"] == 1.0 and row["round_medians_s"] == [1.0, 3.0] and row["round_cov"] > 0.5
    assert row["throughput"] == 2.0 and row["throughput_unit"] == "samples/s"
    assert row["round_start_ns"] == [0, 5 * 10**9] and (row["start_ns"], row["end_ns"]) == (5 * 10**9, 6 * 10**9)
    assert row["warmup_steps"] == 4 and row["check_error"] == 0.0
    assert row["energy_j"] == 70.0 and row["avg_power_w"] == pytest.approx(70.0 / 4) and row["peak_power_w"] == 45.0
    assert row["energy_per_work"] == pytest.approx((70.0 / 4) / 2.0)  # W / (samples/s)
    failed = derive.case_row([r0, {**base, "round": 1, "status": "failed", "reason": "round 2 of 2: boom"}])
    assert failed["status"] == "failed" and failed["reason"] == "round 2 of 2: boom" and failed["rounds_n"] == 1


def test_left_out_columns_still_feed_the_derivation():
    full = load_runs(DATA / "run_schema2_h100").set_index("case_id")
    lean = load_runs(DATA / "run_schema2_h100", skip_columns=("times_s", "energy_j", "device_name")).set_index(
        "case_id"
    )
    assert "times_s" not in lean and "energy_j" not in lean
    assert (lean["device_name"] == "NVIDIA H100 80GB HBM3").all()  # from run.json, as before
    ok = full["status"] == "ok"
    assert list(lean.loc[ok, "median_s"]) == list(full.loc[ok, "median_s"])
    assert list(lean.loc[ok, "energy_per_work"].fillna(-1)) == list(full.loc[ok, "energy_per_work"].fillna(-1))
