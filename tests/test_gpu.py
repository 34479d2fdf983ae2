"""GPU paths: skipped without a CUDA/ROCm device; `scripts/gpu_check.sh` runs them on a GPU machine."""

import math

import pytest
import torch

from gpubench import devices
from gpubench.benchmarks import load_all
from gpubench.records import Case
from gpubench.runner import RunOptions, run_suite
from gpubench.suite import parse_suite

pytestmark = pytest.mark.gpu
REG = load_all()
GPU = torch.device("cuda", 0)


def test_describe_gpu_has_identity_and_versions():
    info = devices.describe(GPU)
    assert info["memory_bytes"] > 1 << 30 and info["multiprocessors"] > 0
    assert info["pci_bus_id"] and ":" in info["pci_bus_id"]
    if info["vendor"] == "nvidia":
        assert info["uuid"].startswith("GPU-")
        assert info["compute_capability"] and info["cuda"] and info["driver"]
    else:
        assert info["hip"] and info["gcn_arch"]


def test_event_timer_measures_device_time_not_launch_time():
    timer = devices.StepTimer(GPU)
    a = torch.randn(4096, 4096, device=GPU)
    times = timer.burst(lambda: a @ a, 5)
    assert len(times) == 5 and all(t > 0 for t in times)
    # 2*4096^3 FLOPs cannot finish in under 10 us on any GPU that exists; a host-side timer of an async
    # launch would report about that.
    assert min(times) > 1e-5


@pytest.mark.parametrize("dtype", ["fp64", "fp32", "tf32", "fp16", "bf16", "int8", "fp8"])
def test_matmul_every_precision_checks_on_gpu(dtype):
    bench = REG["matmul"]
    case = Case.of("matmul", bench.normalize({"dtype": dtype, "m": 1024}))
    try:
        w = bench.factory(case, GPU)
    except Exception as e:  # noqa: BLE001
        from gpubench.errors import Unsupported

        assert isinstance(e, Unsupported), e
        pytest.skip(str(e))
    with devices.precision_flags(w.flags):
        assert torch.backends.cuda.matmul.allow_tf32 == (dtype == "tf32")
        w.reset()
        w.step()
        result = w.check()
    assert result.ok, result
    assert torch.backends.cuda.matmul.allow_tf32 is False or dtype != "tf32"


@pytest.mark.parametrize("kind, pinned", [("d2d", False), ("h2d", True), ("h2d", False), ("d2h", True), ("d2h", False)])
def test_memory_paths_copy_correctly(kind, pinned):
    bench = REG["memory"]
    w = bench.factory(Case.of("memory", bench.normalize({"kind": kind, "size_bytes": 8 << 20, "pinned": pinned})), GPU)
    times = devices.StepTimer(GPU).burst(w.step, 3)
    assert all(t > 0 for t in times)
    assert w.check().ok
    w.close()


def test_runner_on_gpu_with_telemetry(tmp_path):
    text = (
        'name = "g"\n[defaults]\nwarmup_s = 0.2\nmin_reps = 10\nmin_time_s = 1.0\nmax_time_s = 5\n'
        '[[benchmarks]]\nbenchmark = "matmul"\ndtype = ["bf16"]\nm = 4096\n'
        '[[benchmarks]]\nbenchmark = "memory"\nkind = "d2d"\nsize_bytes = 268435456\n'
    )
    suite = parse_suite(text, "g.toml", REG)
    out = run_suite(suite, RunOptions(device="cuda", out_dir=tmp_path, telemetry="required", idle_s=1.0), registry=REG)
    assert [r["status"] for r in out.rows] == ["ok", "ok"]
    for row in out.rows:
        assert row["energy_j"] > 0 and math.isfinite(row["avg_power_w"])
        assert row["telemetry_samples"] >= 5
        assert row["peak_memory_bytes"] > 0
