"""The device interface: the CPU for real, and CUDA-under-ROCm, XPU, MPS and XLA through fakes of their torch
modules (tests/fakes/fake_accelerators.py). No test here times real work."""

from __future__ import annotations

import pytest
import torch

from gpubench import devices
from gpubench.devices.cuda import CudaDevice
from gpubench.devices.mps import MpsDevice
from gpubench.devices.xla import XlaDevice
from gpubench.devices.xpu import XpuDevice
from gpubench.errors import BackendUnavailable, GpubenchError, Unsupported
from tests.fakes.fake_accelerators import (
    FakeGpuModule,
    fake_mps,
    fake_xla,
    fake_xpu,
    rocm_props,
    xpu_props,
)


@pytest.fixture(autouse=True)
def _fresh_cache(monkeypatch):
    # get() keeps one object per device; fakes must not leak objects into other tests.
    monkeypatch.setattr(devices, "_CACHE", {})


def _durations(module_clock, seconds):
    """A step that takes the next scripted time on the device."""
    todo = list(seconds)
    return lambda: module_clock.run(todo.pop(0))


# --- registry -------------------------------------------------------------------------------------------


def test_every_kind_is_registered_once_in_auto_order_with_cpu_last():
    assert list(devices.kinds()) == ["cuda", "xpu", "mps", "xla", "cpu"]
    assert {cls.kind for cls in devices.kinds().values()} == set(devices.kinds())


def test_cpu_resolves_and_describes_with_the_schema_1_keys():
    dev = devices.resolve("cpu")
    assert dev.torch == torch.device("cpu") and dev.is_host
    info = devices.describe(dev.torch)
    for key in (
        "kind",
        "torch_device",
        "index",
        "name",
        "vendor",
        "memory_bytes",
        "uuid",
        "pci_bus_id",
        "cores",
        "threads",
        "isa",
        "llc_bytes",
    ):
        assert key in info
    assert info["kind"] == "cpu" and info["vendor"] == "cpu" and info["telemetry_reader"] == "cpu"
    assert devices.get(torch.device("cpu")) is devices.get("cpu")  # one object per device


def test_unknown_and_unreachable_devices_are_clear_errors():
    with pytest.raises(GpubenchError, match="unknown device 'tpu'"):
        devices.resolve("tpu")
    with pytest.raises(GpubenchError, match="unknown device 'cpu:1'"):
        devices.resolve("cpu:1")  # the CPU has no index
    with pytest.raises(BackendUnavailable, match="no Intel XPU GPU"):
        devices.resolve("xpu")


def test_cpu_answers_precisions_and_distributed_backend():
    cpu = devices.get("cpu")
    assert "TF32" in cpu.unsupported("tf32")
    assert cpu.unsupported("fp32") is None and cpu.unsupported("bf16") is None
    with pytest.raises(Unsupported, match="TF32"):
        cpu.require("tf32")
    assert cpu.dist_backend() == ("gloo", "gloo")
    assert cpu.ddp_device_ids() is None and cpu.telemetry_shared_by_node
    assert cpu.flush_bytes() == 2 * devices.llc_bytes()


def test_cpu_timer_uses_the_given_clock_and_never_times_the_reset():
    now = [0]
    resets = []

    def clock():
        return now[0]

    def step():
        now[0] += 3_000_000

    def reset():
        resets.append(1)
        now[0] += 10**9

    assert devices.StepTimer(torch.device("cpu"), clock=clock).burst(step, 2, reset) == [0.003, 0.003]
    assert len(resets) == 2


def test_cpu_peak_memory_is_rss_growth_since_reset(monkeypatch):
    from gpubench.devices import cpu as cpu_mod

    rss = iter([100 << 20, 164 << 20])
    monkeypatch.setattr(cpu_mod, "rss_bytes", lambda: next(rss))
    dev = devices.get("cpu")
    dev.reset_peak_memory()
    assert dev.peak_memory_bytes() == 64 << 20


# --- XPU (fake torch.xpu) -------------------------------------------------------------------------------


def test_xpu_discovery_resolution_and_description(monkeypatch):
    fake_xpu(monkeypatch, xpu_props(), xpu_props("Intel(R) Arc(TM) A770 Graphics", has_fp64=False))
    monkeypatch.setattr(CudaDevice, "available", classmethod(lambda cls: False))
    assert isinstance(devices.resolve("auto"), XpuDevice)  # first accelerator found
    dev = devices.resolve("xpu:1")
    assert dev.torch == torch.device("xpu", 1)
    info = dev.describe().as_dict()
    assert info["name"].startswith("Intel(R) Arc") and info["vendor"] == "intel" and info["kind"] == "gpu"
    assert info["torch_device"] == "xpu:1" and info["memory_bytes"] == 64 << 30 and info["has_fp64"] is False
    listed = [d["torch_device"] for d in devices.describe_devices()]
    assert listed == ["xpu:0", "xpu:1", "cpu"]
    with pytest.raises(GpubenchError, match=r"xpu:0..xpu:1"):
        devices.resolve("xpu:2")


def test_xpu_event_timer_reads_device_time_with_one_sync_per_burst(monkeypatch):
    xpu = fake_xpu(monkeypatch)
    dev = devices.get("xpu:0")
    times = dev.burst(_durations(xpu.clock, [0.002, 0.004, 0.001]), 3, reset=lambda: xpu.clock.run(5.0))
    assert times == pytest.approx([0.002, 0.004, 0.001])  # the 5 s resets fall outside the event pairs
    assert xpu.clock.syncs == 1


def test_xpu_memory_precisions_and_backend(monkeypatch):
    xpu = fake_xpu(monkeypatch, xpu_props(has_fp64=False))
    dev = devices.get("xpu:0")
    xpu.allocate(3 << 30)
    dev.reset_peak_memory()
    xpu.allocate(2 << 30)
    xpu.allocated -= 4 << 30
    assert dev.peak_memory_bytes() == 5 << 30
    dev.free_memory()
    assert xpu.emptied == 1
    assert "fp64" in dev.unsupported("fp64") and dev.unsupported("bf16") is None
    assert dev.unsupported("tf32")
    monkeypatch.setattr(torch.distributed, "is_xccl_available", lambda: True, raising=False)
    assert dev.dist_backend() == ("xccl", "xccl") and dev.ddp_device_ids() == [0]
    monkeypatch.setattr(torch.distributed, "is_xccl_available", lambda: False, raising=False)
    with pytest.raises(BackendUnavailable, match="XCCL"):
        dev.dist_backend()


def test_streams_exist_on_queued_kinds_only(monkeypatch):
    fake_xpu(monkeypatch)
    dev = devices.get("xpu:0")
    side = dev.new_stream()
    assert dev.current_stream() == "default"
    with dev.on_stream(side):
        assert dev.current_stream() is side  # work issued here goes to the side stream
    assert dev.current_stream() == "default"
    with pytest.raises(Unsupported, match="no separate streams"):
        devices.get("cpu").new_stream()


# --- MPS (fake torch.mps) -------------------------------------------------------------------------------


def test_mps_resolves_times_with_events_and_refuses_fp64(monkeypatch):
    mps = fake_mps(monkeypatch)
    dev = devices.resolve("mps")
    assert isinstance(dev, MpsDevice) and dev.torch == torch.device("mps")
    info = dev.describe().as_dict()
    assert info["vendor"] == "apple" and info["memory_bytes"] == 48 << 30 and info["unified_memory"] is True
    assert dev.burst(_durations(mps.clock, [0.010, 0.020]), 2) == pytest.approx([0.010, 0.020])
    assert mps.clock.syncs == 1
    assert "float64" in dev.unsupported("fp64") and dev.unsupported("fp16") is None
    with pytest.raises(BackendUnavailable):
        dev.dist_backend()  # MPS has no torch.distributed backend


def test_mps_peak_memory_is_the_highest_allocation_seen(monkeypatch):
    mps = fake_mps(monkeypatch)
    dev = devices.get("mps")
    dev.reset_peak_memory()

    def step():
        mps.allocate(1 << 20)

    dev.burst(step, 4)
    mps.allocated = 0
    assert dev.peak_memory_bytes() == 4 << 20


# --- XLA (fake torch_xla) -------------------------------------------------------------------------------


def test_xla_timing_cuts_the_graph_and_waits_for_the_device(monkeypatch):
    xm = fake_xla(monkeypatch)
    dev = devices.resolve("xla")
    assert isinstance(dev, XlaDevice) and dev.torch == torch.device("xla", 0)
    seconds = [0.25, 0.5]

    def step():
        xm.lazy_op(seconds.pop(0))  # recorded only: without mark_step + wait_device_ops nothing runs

    times = devices.StepTimer(dev, clock=lambda: xm.clock.now_ns).burst(step, 2)
    assert times == pytest.approx([0.25, 0.5])
    assert xm.marks >= 2 and xm.clock.syncs >= 2


def test_xla_description_memory_and_backend(monkeypatch):
    fake_xla(monkeypatch)
    dev = devices.get("xla:0")
    info = dev.describe().as_dict()
    assert info["name"] == "XLA TPU" and info["vendor"] == "google" and info["memory_bytes"] == 16 << 30
    assert dev.peak_memory_bytes() == 3 << 30
    assert dev.dist_backend() == ("xla", "xla")
    assert dev.unsupported("tf32") and dev.unsupported("bf16") is None


# --- CUDA: ROCm facts through a fake torch.cuda ---------------------------------------------------------


def _fake_cuda(monkeypatch, props, hip="6.2.41133"):
    cuda = FakeGpuModule(props=[props])
    monkeypatch.setattr(CudaDevice, "api", classmethod(lambda cls: cuda))
    monkeypatch.setattr(CudaDevice, "hip", classmethod(lambda cls: hip))
    return cuda


def test_rocm_mi300_facts(monkeypatch):
    cuda = _fake_cuda(monkeypatch, rocm_props())
    dev = devices.resolve("rocm")
    info = dev.describe().as_dict()
    assert info["vendor"] == "amd" and info["hip"] == "6.2.41133" and info["gcn_arch"].startswith("gfx942")
    assert info["telemetry_reader"] == "amdsmi" and info["pci_bus_id"] == "00000000:0C:00.0"
    assert dev.fp8_dtype() == torch.float8_e4m3fnuz  # MI300 implements the fnuz variant
    assert dev.unsupported("fp8") is None and dev.unsupported("tf32") is None
    assert dev.flush_bytes() == 512 << 20  # Infinity Cache is not in L2_cache_size
    monkeypatch.setattr(torch.distributed, "is_nccl_available", lambda: True)
    assert dev.dist_backend() == ("nccl", "rccl")
    times = dev.burst(_durations(cuda.clock, [0.003]), 1)
    assert times == pytest.approx([0.003])


def test_rocm_mi250_lacks_fp8_and_tf32(monkeypatch):
    _fake_cuda(monkeypatch, rocm_props("gfx90a:sramecc+:xnack-", "AMD Instinct MI250X"))
    dev = devices.get("cuda:0")
    assert "MI300-class" in dev.unsupported("fp8") and "MI300-class" in dev.unsupported("tf32")
    assert dev.fp8_dtype() == torch.float8_e4m3fn


def test_nvidia_compute_capability_gates_precisions(monkeypatch):
    from types import SimpleNamespace

    props = SimpleNamespace(
        name="Tesla V100-SXM2-16GB",
        total_memory=16 << 30,
        multi_processor_count=80,
        L2_cache_size=6 << 20,
        major=7,
        minor=0,
        uuid="abc",
        pci_bus_id=1,
    )
    _fake_cuda(monkeypatch, props, hip=None)
    dev = devices.get("cuda:0")
    assert "8.0" in dev.unsupported("tf32") and "7.5" in dev.unsupported("int8")
    assert dev.unsupported("fp16") is None
    assert dev.describe().as_dict()["uuid"] == "GPU-abc"
    assert dev.flush_bytes() == 256 << 20


def test_benchmarks_ask_the_device(monkeypatch):
    """matmul asks the device object, so a fake ROCm MI250X skips fp8 with the device's reason."""
    from gpubench.benchmarks import get as get_bench
    from gpubench.records import Case

    _fake_cuda(monkeypatch, rocm_props("gfx90a", "AMD Instinct MI250X"))
    bench = get_bench("matmul")
    case = Case.of("matmul", bench.normalize({"dtype": "fp8", "m": 64}))
    with pytest.raises(Unsupported, match="MI300-class"):
        bench.factory(case, torch.device("cuda", 0))


def test_cpu_says_which_precisions_it_only_emulates() -> None:
    from gpubench.devices.cpu import emulation_reason

    avx2 = {"avx2", "fma"}
    assert emulation_reason("fp32", avx2) is None and emulation_reason("int8", avx2) is None
    assert "avx512_bf16" in (emulation_reason("bf16", avx2) or "")
    assert emulation_reason("bf16", avx2 | {"amx_bf16"}) is None
    assert emulation_reason("fp16", avx2 | {"avx512_fp16"}) is None
    assert "no CPU has fp8" in (emulation_reason("fp8", avx2 | {"amx_bf16", "amx_fp16"}) or "")
    assert CudaDevice.emulation(object.__new__(CudaDevice), "bf16") is None  # GPUs answer per precision too


def test_an_emulated_precision_too_large_to_finish_is_skipped_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    from gpubench.benchmarks import load_all
    from gpubench.devices.cpu import CpuDevice
    from gpubench.records import Case

    monkeypatch.setattr(
        CpuDevice, "emulation", lambda self, p: "bf16 emulated in software: test" if p == "bf16" else None
    )
    matmul = load_all()["matmul"]
    big = Case.of("matmul", {"dtype": "bf16", "m": 2048, "n": 2048, "k": 2048})
    with pytest.raises(Unsupported, match="bf16 emulated in software: test.*2048x2048x2048"):
        matmul.build(big, torch.device("cpu"))
    small = matmul.build(Case.of("matmul", {"dtype": "bf16", "m": 64, "n": 64, "k": 64}), torch.device("cpu"))
    try:
        assert small.info["emulated"] is True and small.info["emulation"] == "bf16 emulated in software: test"
    finally:
        if small.close is not None:
            small.close()
    fp32 = matmul.build(Case.of("matmul", {"dtype": "fp32", "m": 64, "n": 64, "k": 64}), torch.device("cpu"))
    assert "emulated" not in fp32.info
