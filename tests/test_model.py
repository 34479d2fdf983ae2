"""The performance model: published data, leave-one-out validation against the issue's targets, estimates."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from gpubench import model
from gpubench.errors import GpubenchError
from gpubench.specs import load_catalog


def test_every_published_figure_names_a_catalog_device_a_source_and_a_date():
    pub = model.load_published()
    catalog = load_catalog()
    assert len(pub) >= 30
    assert {p.file for p in pub} >= {"mamf.csv", "lambda.csv", "superbench.csv"}
    for p in pub:
        assert p.device in catalog and p.source.startswith("https://") and p.date[:4].isdigit()
        assert p.value > 0 and p.unit
    # Spot checks against the primary sources (MAMF table, SuperBench baseline, Lambda CSV).
    by = {(p.device, p.workload, p.file): p.value for p in pub}
    assert by[("h100-sxm", "matmul/bf16", "mamf.csv")] == 794.5
    assert by[("a100-sxm-80gb", "matmul/bf16", "superbench.csv")] == 261.2
    assert by[("rtx-4090", "resnet50/amp_fp16", "lambda.csv")] == 1301


def test_bad_published_rows_are_user_errors(tmp_path):
    (tmp_path / "x.csv").write_text(
        "device,workload,value,unit,conditions,source,date\nvoodoo-5,matmul/bf16,1,TFLOP/s,c,https://x,2026\n"
    )
    with pytest.raises(GpubenchError, match="not a catalog slug"):
        model.load_published(tmp_path)
    (tmp_path / "x.csv").write_text(
        "device,workload,value,unit,conditions,source,date\nh100-sxm,matmul/bf16,-1,TFLOP/s,c,https://x,2026\n"
    )
    with pytest.raises(GpubenchError, match="positive"):
        model.load_published(tmp_path)


def test_leave_one_out_validation_meets_the_targets_or_says_so():
    frame = model.validate()
    summary = model.validation_summary(frame).set_index("family")
    # Every held-out figure is predicted from the others: it never sees its own value.
    h100 = frame[(frame["device"] == "h100-sxm") & (frame["workload"] == "matmul/bf16")].iloc[0]
    assert h100["predicted"] != pytest.approx(794.5)
    for family in ("matmul", "training"):
        row = summary.loc[family]
        assert row["points"] >= 10 and row["predicted"] == row["points"]
        assert row["median_error"] <= model.TARGETS[family], family
        assert row["worst_error"] >= row["median_error"]
    # One published device-copy figure: nothing to predict it from, and the summary says so.
    assert summary.loc["memory", "predicted"] == 0 and summary.loc["memory", "meets_target"] is None
    est = model.estimate("memory/d2d", "h100-sxm")
    assert est is not None and "assumed" in est.warning


def test_estimates_carry_intervals_from_the_validation():
    summary = model.validation_summary().set_index("family")
    est = model.estimate("matmul/bf16", "rtx-4090")
    assert est is not None and est.basis == "estimated"
    width = summary.loc["matmul", "p80_error"]
    assert est.low == pytest.approx(est.value * (1 - width)) and est.high == pytest.approx(est.value * (1 + width))
    published = model.estimate("matmul/bf16", "a100-sxm-80gb")
    assert published.basis == "published" and (published.low, published.high) == (261.2, 271.2)
    assert model.estimate("matmul/bf16", "t4") is None  # no bf16 on a T4


def test_training_estimates_split_into_compute_and_memory_bounds():
    est = model.estimate("resnet50/amp_bf16", "rtx-5090")
    assert est is not None and est.unit == "samples/s" and "resnet50/amp_fp16" in est.source
    # More bandwidth and more compute on the same family never predicts less.
    assert est.value > model.estimate("resnet50/amp_bf16", "rtx-4090").value
    generic = model.estimate("gpt2/amp_bf16", "h100-sxm")
    assert generic is not None and generic.warning == "unvalidated estimate" and generic.unit == "tokens/s"


def test_runs_measure_and_calibrate(tmp_path):
    runs = pd.DataFrame(
        [
            {
                "run_id": "r1",
                "benchmark": "matmul",
                "dtype": "bf16",
                "status": "ok",
                "throughput": 100.0,
                "device_name": "NVIDIA GeForce RTX 3090",
                "device_memory_bytes": 25_438_126_080,
            },
        ]
    )
    mine = model.estimate("matmul/bf16", "rtx-3090", runs)
    assert mine.basis == "measured" and mine.value == 100.0 and mine.source == "run r1"
    before = model.estimate("matmul/bf16", "rtx-3080")
    after = model.estimate("matmul/bf16", "rtx-3080", runs)
    ratio = 100.0 / model.estimate("matmul/bf16", "rtx-3090").value
    assert after.value == pytest.approx(before.value * ratio) and "RTX 3090" in after.calibrated_by
    other = model.estimate("matmul/bf16", "rtx-4090", runs)
    assert other.value == pytest.approx(model.estimate("matmul/bf16", "rtx-4090").value)


def test_unknown_names_are_user_errors_with_suggestions():
    with pytest.raises(GpubenchError, match="closest: resnet50/amp_bf16"):
        model.estimate("resnet50/amp_bf61", "h100-sxm")
    with pytest.raises(GpubenchError, match="not a catalog slug"):
        model.estimate("matmul/bf16", "voodoo-5")
    assert "memory/d2d" in model.predictable_workloads()
    assert all(model.parse_workload(w) is not None for w in model.predictable_workloads())


def test_workload_costs_match_the_benchmarks_flop_counter():
    torch = pytest.importorskip("torch")
    from gpubench.benchmarks.models import zoo

    for name in ("resnet50", "mnist_cnn", "gpt2"):
        cost = model.workload_costs()[name]
        defn = zoo.MODELS[name]
        sizes = dict(defn.sizes or {})
        per_item = sizes.get("seq", 1) if cost["unit"] == "token" else 1
        built = zoo.build_on(defn, sizes, torch.device("meta"))
        assert sum(p.numel() for n in built.values() for p in n.parameters()) == cost["params"]
        assert zoo.count_flops(defn, sizes, 1, train=True) / per_item == pytest.approx(cost["train_flops"])


def test_model_never_imports_torch():
    code = "import sys, gpubench.model as m; m.estimate('resnet50/amp_bf16', 'b200'); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
