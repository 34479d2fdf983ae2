"""The declared row schema and benchmark declarations; a committed run folder of schema 1 keeps loading."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from gpubench import advisor, specs
from gpubench.benchmarks import BENCHMARKS, declaration, load_all
from gpubench.frame import INT_COLUMNS, rows_to_frame
from gpubench.records import SCHEMA_VERSION
from gpubench.schema import ROW_COLUMNS, TYPES, Column, Declares
from gpubench.store import load_runs, read_meta

FIXTURE = Path(__file__).parent / "data" / "run_schema1_cpu"


def test_every_registered_benchmark_has_a_declaration_line():
    registry = load_all()
    assert set(registry) == set(BENCHMARKS)
    for name, bench in registry.items():
        assert bench.declares is BENCHMARKS[name][1]
        # the factory lives in the registering module or its package (gpubench.benchmarks.llm.*)
        assert bench.factory.__module__.split(".")[:3] == BENCHMARKS[name][0].split(".")[:3]


def test_columns_are_declared_once_with_a_known_type():
    names = [c.name for c in ROW_COLUMNS]
    assert len(names) == len(set(names))
    assert all(c.type in TYPES and c.meaning for c in ROW_COLUMNS)
    with pytest.raises(ValueError, match="type"):
        Column("x", "decimal", "not a type")


def test_declared_integer_columns_stay_integers_where_rows_lack_them():
    assert {"m", "size_bytes", "batch", "max_batch", "start_ns"} <= INT_COLUMNS
    frame = rows_to_frame([{"max_batch": 512.0, "m": 64}, {"max_batch": None, "m": None}])
    assert str(frame["max_batch"].dtype) == "Int64" and str(frame["m"].dtype) == "Int64"


def test_declarations_name_the_datasheet_figure_and_the_workload():
    assert declaration("matmul").peak_figure({"dtype": "bf16", "m": 8}) == "peak.bf16"
    assert declaration("memory").peak_figure({"kind": "d2d"}) == "memory_bandwidth_gbps"
    assert declaration("memory").peak_figure({"kind": "h2d"}) is None
    assert declaration("train").peak_figure({"model": "resnet50"}) is None
    assert declaration("infer").workload_name({"model": "gpt2", "precision": "bf16"}) == "gpt2/bf16/infer"
    assert declaration("ddp_train").workload_name({"model": "gpt2", "precision": "bf16"}) is None
    assert declaration("no_such_benchmark") == Declares()
    # A template whose parameter the row lacks gives no name rather than a wrong one.
    assert declaration("matmul").workload_name({"m": 8}) is None


def test_pct_of_peak_follows_the_declaration(monkeypatch):
    """specs names no benchmark: redeclare matmul's figure as the bandwidth and pct_of_peak follows."""
    h100 = ("NVIDIA H100 80GB HBM3", 80 * 2**30, 700.0)
    spec = specs.match_device(*h100)
    half_bf16, most_bw = spec.peak("bf16") / 2, spec.memory_bandwidth_gbps * 0.9
    assert specs.pct_of_peak(*h100, "matmul", {"dtype": "bf16"}, half_bf16) == pytest.approx(50.0)
    module, _ = BENCHMARKS["matmul"]
    monkeypatch.setitem(BENCHMARKS, "matmul", (module, Declares(peak="memory_bandwidth_gbps")))
    assert specs.pct_of_peak(*h100, "matmul", {"dtype": "bf16"}, most_bw) == pytest.approx(90.0)


def test_schema_1_fixture_loads_and_the_advisor_names_its_workloads():
    meta = read_meta(FIXTURE)
    assert meta["schema_version"] == 1 <= SCHEMA_VERSION
    df = load_runs(FIXTURE)
    assert list(df["status"]) == ["ok", "skipped", "ok", "ok"]
    assert df.loc[df["benchmark"] == "matmul", "m"].tolist() == [64, 64]
    assert str(df["m"].dtype) == "Int64"
    ok = df[df["status"] == "ok"]
    assert (ok["throughput"] > 0).all() and ok["times_s"].map(len).gt(0).all()
    assert "TF32" in df.loc[df["status"] == "skipped", "reason"].iloc[0]
    # A 64³ product is far below a GPU's GEMM plateau: its own workload, not the precision's best-shape figure.
    assert advisor.available_workloads(df) == ["matmul[64³]/fp32", "memory/d2d", "mnist_cnn/fp32/infer"]
    assert isinstance(df, pd.DataFrame) and df["device_vendor"].eq("cpu").all()


def test_store_and_declarations_import_without_torch():
    code = (
        "import sys, gpubench.schema, gpubench.benchmarks, gpubench.store, gpubench.specs, gpubench.advisor\n"
        f"gpubench.store.load_runs({str(FIXTURE)!r})\n"
        "gpubench.benchmarks.declaration('matmul')\n"
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
