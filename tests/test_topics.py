"""The article's optimisation topics: memory_stride, overlap, input_pipeline, pipeline, sustained, energy per
precision, the runner's summarize hook, and the report section. Tiny CPU sizes; no timing thresholds."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import psutil
import pytest
import torch
from fixtures_runs import write_fleet

from gpubench.benchmarks import Benchmark as Bench
from gpubench.benchmarks import Param, load_all
from gpubench.benchmarks.input_pipeline import SyntheticImages, input_pipeline
from gpubench.benchmarks.memory_stride import beyond_cache_bytes, memory_stride
from gpubench.benchmarks.overlap import overlap, summarize_overlap
from gpubench.benchmarks.pipeline import build_model, pipeline, stage_slice
from gpubench.benchmarks.sustained import summarize_sustained, sustained
from gpubench.devices import llc_bytes
from gpubench.errors import Unsupported
from gpubench.records import Case, CheckResult, Work, Workload
from gpubench.report import build_sections, load_report_data
from gpubench.report.topics import energy_table, pipeline_table
from gpubench.runner import RunOptions, run_suite
from gpubench.stats import add_efficiency_columns
from gpubench.suite import parse_suite
from gpubench.telemetry.base import THROTTLE_BITS

CPU = torch.device("cpu")
REG = load_all()


def _case(name: str, **params) -> Case:
    bench = REG[name]
    full = {k: p.default for k, p in bench.params.items() if p.default is not None} | params
    return Case.of(name, bench.normalize(full) if bench.normalize else full)


# ------------------------------------------------------------------------------------------ memory_stride


@pytest.mark.parametrize("dtype,elem", [("fp32", 4), ("bf16", 2)])
@pytest.mark.parametrize("stride", [1, 4, 64])
def test_stride_counts_only_the_bytes_requested(dtype, elem, stride):
    size = 1 << 20
    wl = memory_stride(_case("memory_stride", dtype=dtype, access="stride", stride=stride, size_bytes=size), CPU)
    n = size // elem
    assert wl.info["elements_read"] == math.ceil(n / stride)
    assert wl.work.amount == math.ceil(n / stride) * elem and wl.work.unit == "byte"
    result = wl.check()
    assert result.ok, result.detail


def test_gather_reads_one_element_in_sixteen_and_checks_its_sum():
    wl = memory_stride(_case("memory_stride", dtype="fp32", access="gather", size_bytes=1 << 20), CPU)
    assert wl.info["elements_read"] == (1 << 18) // 16 and wl.info["index_bytes"] == 4 * (1 << 14)
    assert wl.check().ok


def test_stride_check_catches_a_wrong_sum():
    wl = memory_stride(_case("memory_stride", dtype="fp32", access="stride", stride=2, size_bytes=1 << 16), CPU)
    right = wl.step
    wl.step = lambda: right() * 1.01  # a device that sums 1% off
    result = wl.check()
    assert not result.ok and result.error == pytest.approx(0.01, rel=1e-3)


def test_default_buffer_lies_beyond_the_cache():
    assert beyond_cache_bytes(CPU) == 4 * llc_bytes()


# ------------------------------------------------------------------------------------------------ overlap


def test_overlap_is_skipped_on_the_cpu_with_the_reason():
    with pytest.raises(Unsupported, match="no separate copy engine"):
        overlap(_case("overlap", size_bytes=4096, m=16), CPU)


def test_overlap_summary_pairs_times_with_the_order_each_step_ran():
    # Warm-up steps ran first (modes longer than times); the timed ones are the last len(times).
    modes = ["serial", "overlapped"] * 3 + ["serial", "overlapped", "serial", "overlapped"]
    times = [10.0, 6.0, 10.0, 6.0]
    out = summarize_overlap(times, modes)
    assert out["serial_s"] == 10.0 and out["overlapped_s"] == 6.0
    assert out["overlap_fraction"] == pytest.approx(0.4)
    assert out["serial_steps"] == out["overlapped_steps"] == 2


# ----------------------------------------------------------------------------------------- input_pipeline


def test_dataset_augments_deterministically_per_sample():
    ds = SyntheticImages(8)
    a, label, i = ds[3]
    b, _, _ = ds[3]
    assert a.shape == (1, 28, 28) and label == 3 and i == 3
    assert torch.equal(a, b) and not torch.equal(a, ds[4][0])
    assert float(a.std()) > 0.5  # random bytes, not zeros


@pytest.mark.parametrize("source,workers", [("device", 0), ("loader", 0), ("loader", 2)])
def test_every_sample_arrives_once_per_epoch_and_workers_end(source, workers):
    me = psutil.Process()
    before = {p.pid for p in me.children(recursive=True)}
    wl = input_pipeline(_case("input_pipeline", source=source, batch=4, samples=18, workers=workers), CPU)
    assert wl.work.amount == 4 and wl.work.unit == "sample"
    for _ in range(6):  # across an epoch boundary (16 samples = 4 steps)
        wl.step()
    if workers:
        assert len({p.pid for p in me.children(recursive=True)} - before) >= workers
    result = wl.check()
    assert result.ok, result.detail
    assert "16 samples delivered of 16" in result.detail  # 18 rounded down to whole batches
    wl.close()
    psutil.wait_procs([p for p in me.children(recursive=True) if p.pid not in before], timeout=20)
    assert {p.pid for p in me.children(recursive=True) if p.is_running()} - before == set()


def test_input_check_catches_a_loader_that_repeats_samples(monkeypatch):
    real = SyntheticImages.__getitem__
    monkeypatch.setattr(SyntheticImages, "__getitem__", lambda self, i: (*real(self, i)[:2], i // 2))
    wl = input_pipeline(_case("input_pipeline", source="loader", batch=4, samples=8), CPU)
    result = wl.check()
    assert not result.ok and "4 missing, 4 repeated" in result.detail


def test_pin_memory_is_skipped_on_the_cpu():
    with pytest.raises(Unsupported, match="pin_memory"):
        input_pipeline(_case("input_pipeline", source="loader", batch=4, samples=8, pin_memory=True), CPU)


# ----------------------------------------------------------------------------------------------- pipeline


def test_stages_split_the_model_evenly_and_cover_it():
    for n, p in [(9, 2), (9, 3), (5, 4)]:
        parts = [stage_slice(n, p, i) for i in range(p)]
        assert parts[0][0] == 0 and parts[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(parts, parts[1:], strict=False))
        sizes = [hi - lo for lo, hi in parts]
        assert max(sizes) - min(sizes) <= 1


def test_model_is_identical_on_every_rank():
    a, b = build_model(3, 8), build_model(3, 8)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))


def test_pipeline_needs_a_distributed_run():
    with pytest.raises(Unsupported, match="--nproc"):
        pipeline(_case("pipeline", schedule="gpipe", microbatches=2, batch=8, layers=2, width=8), CPU)


def test_pipeline_table_measures_the_bubble_against_one_device():
    base = {"run_id": "r", "batch": 8, "layers": 2, "width": 8}
    rows = pd.DataFrame(
        [
            {**base, "case_id": "single", "schedule": "single", "median_s": 1.0, "stages": 1, "microbatches": 1},
            {
                **base,
                "case_id": "g4",
                "schedule": "gpipe",
                "median_s": 0.8,
                "stages": 2,
                "microbatches": 4,
                "bubble_theory": 0.2,
            },
        ]
    )
    t = pipeline_table(rows)
    assert list(t["case_id"]) == ["g4"]
    assert t["speedup"].iloc[0] == pytest.approx(1.25)
    assert t["bubble_measured"].iloc[0] == pytest.approx(1 - 1.0 / (2 * 0.8))


# ---------------------------------------------------------------------------------------------- sustained


def test_sustained_reads_burst_sustained_and_the_first_throttle():
    # 1 s of 10 ms steps, then 3 s of 20 ms steps: throughput halves once the card heats up.
    times = [0.01] * 100 + [0.02] * 150
    work = Work(1e12, "flop")  # 1 TFLOP a step
    start = 10**12
    t_ns = start + (np.arange(0, 4.0, 0.05) * 1e9).astype(np.int64)
    mask = np.where(t_ns >= start + 1.5e9, THROTTLE_BITS["hw_thermal"], 0).astype(float)
    frame = pd.DataFrame(
        {
            "t_ns": t_ns,
            "power_w": np.where(t_ns < start + 1e9, 700.0, 600.0),
            "sm_clock_mhz": 1800.0,
            "temp_c": 70.0,
            "throttle_mask": mask,
        }
    )
    out = summarize_sustained(times, frame, start, start + 4 * 10**9, work, burst_s=1.0, bin_s=1.0)
    assert out["burst_throughput"] == pytest.approx(100.0)
    assert out["sustained_throughput"] == pytest.approx(50.0)
    assert out["sustained_over_burst"] == pytest.approx(0.5)
    assert out["per_second_throughput"] == pytest.approx([100.0, 50.0, 50.0, 50.0])
    assert out["per_second_power_w"] == pytest.approx([700.0, 600.0, 600.0, 600.0])
    assert out["first_throttle_s"] == pytest.approx(1.5)
    assert "hw_thermal" in out["throttle_reasons_seen"]


def test_sustained_without_telemetry_says_nothing_it_did_not_see():
    out = summarize_sustained([0.01] * 10, None, 0, 10**8, Work(1.0, "flop"), 5.0, 1.0)
    assert math.isnan(out["first_throttle_s"]) and out["throttle_reasons_seen"] == ""
    assert all(math.isnan(v) for v in out["per_second_power_w"])


def test_sustained_is_matmul_without_the_flush():
    wl = sustained(_case("sustained", dtype="fp32", m=32), CPU)
    assert wl.reset is None and wl.summarize is not None
    assert wl.work.amount == 2 * 32**3
    wl.step()
    assert wl.check().ok


# ------------------------------------------------------------------------------------- runner summarize hook


def test_runner_hands_summarize_the_raw_times_of_the_timed_window(tmp_path):
    seen: dict = {}

    def factory(case, device):
        def summarize(times, telemetry, start_ns, end_ns):
            seen.update(n=len(times), telemetry=telemetry, window=end_ns - start_ns)
            return {"summary_n": len(times)}

        return Workload(
            step=lambda: sum(range(100)),
            work=Work(1.0, "sample"),
            summarize=summarize,
            check=lambda: CheckResult(0.0, 0.0),
        )

    reg = {"t_sum": Bench("t_sum", 1, factory, {"n": Param(int, default=1)})}
    text = (
        'name = "t"\ndescription = "t"\n[defaults]\nmin_reps = 7\nmin_time_s = 0.0\nwarmup_s = 0.0\n'
        '[[benchmarks]]\nbenchmark = "t_sum"\n'
    )
    suite = parse_suite(text, "t.toml", reg)
    out = run_suite(suite, RunOptions(device="cpu", out_dir=tmp_path, telemetry="off"), registry=reg)
    row = out.rows[0]
    assert row["status"] == "ok" and row["summary_n"] == seen["n"] == row["n_reps"]
    assert seen["telemetry"] is None and seen["window"] > 0


# ------------------------------------------------------------------------------------------- energy, report


def test_energy_above_idle_per_unit_of_work():
    row = {
        "avg_power_w": 300.0,
        "throughput": 100.0,
        "work_unit": "flop",
        "energy_j": 30.0,
        "energy_above_idle_j": 20.0,
    }
    add_efficiency_columns(row)
    assert row["energy_per_work"] == pytest.approx(3.0)
    assert row["energy_above_idle_per_work"] == pytest.approx(2.0)


def test_energy_table_compares_each_precision_with_fp32_of_the_same_workload(tmp_path):
    folders = write_fleet(tmp_path)
    data = load_report_data(folders)
    table = energy_table(data.ok)
    assert not table.empty
    mm = table[table["benchmark"] == "matmul"]
    for r in mm.to_dict("records"):
        ref = mm[(mm["run_id"] == r["run_id"]) & (mm["workload"] == r["workload"]) & (mm["precision_name"] == "fp32")]
        if ref.empty:
            assert math.isnan(r["ratio_to_fp32"])
        else:
            assert r["ratio_to_fp32"] == pytest.approx(r["energy_per_work"] / ref["energy_per_work"].iloc[0])
    assert (table[table["precision_name"] == "fp32"]["ratio_to_fp32"].dropna() == 1.0).all()


TOPICS_SUITE = """name = "topics"
description = "t"
[defaults]
warmup_s = 0.0
min_warmup = 1
max_warmup_s = 0.2
min_reps = 3
min_time_s = 0.0
max_time_s = 1.0

[[benchmarks]]
benchmark = "memory_stride"
dtype = "fp32"
access = "stride"
stride = [1, 16]
size_bytes = 262144

[[benchmarks]]
benchmark = "memory_stride"
dtype = "fp32"
access = "gather"
size_bytes = 262144

[[benchmarks]]
benchmark = "overlap"
size_bytes = 4096
m = 16

[[benchmarks]]
benchmark = "input_pipeline"
source = ["device", "loader"]
batch = 4
samples = 8

[[benchmarks]]
benchmark = "sustained"
dtype = "fp32"
m = 32
burst_s = 0.1
bin_s = 0.1
min_time_s = 0.3

[[benchmarks]]
benchmark = "matmul"
dtype = ["fp32", "bf16"]
m = 32
"""


def test_report_section_shows_every_topic_the_run_holds(tmp_path):
    suite = parse_suite(TOPICS_SUITE, "topics.toml", REG)
    out = run_suite(suite, RunOptions(device="cpu", out_dir=tmp_path, telemetry="off"), registry=REG)
    status = {r["case_id"]: r["status"] for r in out.rows}
    assert status["overlap[size_bytes=4096,dtype=bf16,m=16]"] == "skipped"
    assert all(s == "ok" for c, s in status.items() if not c.startswith("overlap")), status
    sustained_row = next(r for r in out.rows if r["benchmark"] == "sustained")
    assert len(sustained_row["per_second_throughput"]) >= 3
    data = load_report_data([out.folder])
    sections = {key: blocks for key, _, blocks in build_sections(data)}
    text = " ".join(getattr(b, "text", "") or " ".join(getattr(b, "paragraphs", [])) for b in sections["topics"])
    for words in (
        "Access stride",
        "Overlap of transfer",
        "Not measured here: no separate copy engine",
        "Input pipeline",
        "Sustained vs burst",
        "Energy per precision",
        "energy unavailable (telemetry off (--telemetry off))",
    ):
        assert words in text, words
    tables = [b for b in sections["topics"] if hasattr(b, "header")]
    waiting = next(t for t in tables if "waiting for data" in t.header)
    loader_row = next(r for r in waiting.rows if r[1].text.startswith("DataLoader"))
    assert loader_row[4].text.endswith("%")


def test_rank_telemetry_of_a_skipped_case_is_tagged_with_no_case():
    from types import SimpleNamespace

    from gpubench.distributed.rank import _tagged

    frame = pd.DataFrame({"t_ns": [1, 2, 3], "temp_c": [40.0, 41.0, 42.0]})
    ctx = SimpleNamespace(rank=1, node="n")
    skipped = _tagged(frame, "pipeline[x]", {"status": "skipped"}, ctx)  # type: ignore[arg-type]
    assert skipped["case_id"].isna().all() and (skipped["rank"] == 1).all()
    timed = _tagged(frame, "pipeline[x]", {"start_ns": 2, "end_ns": 3}, ctx)  # type: ignore[arg-type]
    assert list(timed["case_id"]) == [None, "pipeline[x]", "pipeline[x]"]


def test_a_benchmark_joins_a_topic_by_its_specs_section_with_no_report_edit(tmp_path, monkeypatch):
    from dataclasses import replace

    from fixtures_runs import CaseSpec, write_run

    from gpubench.benchmarks import catalog
    from gpubench.report import cells

    cases = [
        CaseSpec(
            "stride_copy",
            {"dtype": "fp32", "access": "stride", "stride": s, "size_bytes": 1 << 20},
            10.0 / s,
            "byte",
            1e6,
        )
        for s in (1, 4)
    ]
    folder = write_run(tmp_path, "cpu", telemetry=False, cases=cases, reps=10)

    def topics() -> list:
        return {key: blocks for key, _, blocks in build_sections(load_report_data([folder]))}.get("topics", [])

    assert topics() == []  # a benchmark no spec places in a topic: in the every-case table only
    # Its spec says "topics.stride": the stride topic draws its rows, and nothing in the report names it.
    new = replace(catalog.spec("memory_stride"), name="stride_copy", section="topics.stride")
    monkeypatch.setattr(cells, "all_specs", lambda: (*catalog.all_specs(), new))
    tables = [b for b in topics() if hasattr(b, "header")]
    assert tables and len(tables[0].rows) == 2 and tables[0].rows[1][-1].text == "25%"
