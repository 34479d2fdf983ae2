"""Stand-ins for the torch modules of accelerators this machine lacks: `torch.xpu`, `torch.mps`, `torch.cuda`
(for ROCm facts) and `torch_xla`. Each keeps a device clock in nanoseconds that a step advances, so an event
timer reads device time the way real events would, and counts synchronizations.

They model the documented behaviour gpubench relies on, nothing more: events record the device clock when the
queue reaches them (here: at once), elapsed_time is in milliseconds, memory counters are in bytes.
"""

from __future__ import annotations

import contextlib
import sys
import types
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any


@dataclass
class DeviceClock:
    """The device's own time; `run(seconds)` is a kernel taking that long."""

    now_ns: int = 0
    syncs: int = 0

    def run(self, seconds: float) -> None:
        self.now_ns += int(seconds * 1e9)


class FakeEvent:
    def __init__(self, clock: DeviceClock, enable_timing: bool = False) -> None:
        assert enable_timing, "gpubench must ask for timing events"
        self.clock = clock
        self.t_ns: int | None = None

    def record(self, stream: Any = None) -> None:
        self.t_ns = self.clock.now_ns

    def elapsed_time(self, end: FakeEvent) -> float:
        assert self.t_ns is not None and end.t_ns is not None, "event not recorded"
        return (end.t_ns - self.t_ns) / 1e6


@dataclass
class FakeGpuModule:
    """Enough of torch.xpu / torch.cuda / torch.mps for gpubench.devices."""

    props: list[Any] = field(default_factory=list)
    clock: DeviceClock = field(default_factory=DeviceClock)
    allocated: int = 0
    peak: int = 0
    emptied: int = 0
    current: Any = None
    current_queue: Any = "default"

    def is_available(self) -> bool:
        return bool(self.props)

    def device_count(self) -> int:
        return len(self.props)

    def get_device_properties(self, index: Any) -> Any:
        return self.props[index if isinstance(index, int) else (index.index or 0)]

    def synchronize(self, device: Any = None) -> None:
        self.clock.syncs += 1

    def Event(self, enable_timing: bool = False) -> FakeEvent:  # noqa: N802 - torch's name
        return FakeEvent(self.clock, enable_timing)

    def reset_peak_memory_stats(self, device: Any = None) -> None:
        self.peak = self.allocated

    def max_memory_allocated(self, device: Any = None) -> int:
        return self.peak

    def current_allocated_memory(self) -> int:
        return self.allocated

    def allocate(self, n: int) -> None:
        self.allocated += n
        self.peak = max(self.peak, self.allocated)

    def empty_cache(self) -> None:
        self.emptied += 1

    def set_device(self, device: Any) -> None:
        self.current = device

    @contextlib.contextmanager
    def device(self, device: Any):
        yield

    def Stream(self, device: Any = None) -> Any:  # noqa: N802 - torch's name
        return SimpleNamespace(device=device, name=f"side-{id(self)}")

    def current_stream(self, device: Any = None) -> Any:
        return self.current_queue

    @contextlib.contextmanager
    def stream(self, stream: Any):
        saved, self.current_queue = self.current_queue, stream
        try:
            yield
        finally:
            self.current_queue = saved


def xpu_props(name: str = "Intel(R) Data Center GPU Max 1550", has_fp64: bool = True) -> Any:
    return SimpleNamespace(
        name=name,
        total_memory=64 << 30,
        driver_version="1.3.29735",
        gpu_eu_count=448,
        gpu_subslice_count=56,
        has_fp64=has_fp64,
        platform_name="Intel(R) oneAPI Unified Runtime",
    )


def rocm_props(arch: str = "gfx942:sramecc+:xnack-", name: str = "AMD Instinct MI300X") -> Any:
    return SimpleNamespace(
        name=name,
        total_memory=192 << 30,
        multi_processor_count=304,
        L2_cache_size=4 << 20,
        gcnArchName=arch,
        major=9,
        minor=4,
        uuid="58ff",
        pci_bus_id=0x0C,
        pci_domain_id=0,
        pci_device_id=0,
    )


def fake_mps(monkeypatch: Any, recommended: int = 48 << 30) -> FakeGpuModule:
    """Install a fake torch.mps and make torch.backends.mps report an available GPU."""
    import torch

    mps = FakeGpuModule(props=[SimpleNamespace()])
    mps.recommended_max_memory = lambda: recommended  # type: ignore[attr-defined]
    monkeypatch.setattr(torch, "mps", mps)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    return mps


def fake_xpu(monkeypatch: Any, *props: Any) -> FakeGpuModule:
    import torch

    xpu = FakeGpuModule(props=list(props) or [xpu_props()])
    monkeypatch.setattr(torch, "xpu", xpu)
    return xpu


@dataclass
class FakeXlaModel:
    """torch_xla.core.xla_model: operations queue lazily until mark_step; wait_device_ops runs them."""

    devices: list[str] = field(default_factory=lambda: ["xla:0"])
    hw: str = "TPU"
    clock: DeviceClock = field(default_factory=DeviceClock)
    pending_s: float = 0.0  # recorded by the step, not yet cut into a graph
    graphs_s: list[float] = field(default_factory=list)  # cut by mark_step, not yet executed
    marks: int = 0

    def get_xla_supported_devices(self) -> list[str]:
        return list(self.devices)

    def xla_device_hw(self, device: Any) -> str:
        return self.hw

    def get_memory_info(self, device: Any) -> dict[str, int]:
        return {"bytes_limit": 16 << 30, "bytes_used": 1 << 30, "peak_bytes_used": 3 << 30}

    def lazy_op(self, seconds: float) -> None:
        """What a step does on XLA: record work; nothing runs yet."""
        self.pending_s += seconds

    def mark_step(self) -> None:
        self.marks += 1
        if self.pending_s:
            self.graphs_s.append(self.pending_s)
            self.pending_s = 0.0

    def wait_device_ops(self) -> None:
        for seconds in self.graphs_s:
            self.clock.run(seconds)
        self.graphs_s.clear()
        self.clock.syncs += 1


def fake_xla(monkeypatch: Any, xm: FakeXlaModel | None = None) -> FakeXlaModel:
    """Install torch_xla, torch_xla.core.xla_model and torch_xla.distributed.xla_backend as fakes."""
    xm = xm or FakeXlaModel()
    root = types.ModuleType("torch_xla")
    root.__version__ = "2.9.0"  # type: ignore[attr-defined]
    root.__spec__ = SimpleNamespace(name="torch_xla")  # type: ignore[assignment]
    core = types.ModuleType("torch_xla.core")
    model = types.ModuleType("torch_xla.core.xla_model")
    for name in (
        "get_xla_supported_devices",
        "xla_device_hw",
        "get_memory_info",
        "mark_step",
        "wait_device_ops",
    ):
        setattr(model, name, getattr(xm, name))
    distributed = types.ModuleType("torch_xla.distributed")
    backend = types.ModuleType("torch_xla.distributed.xla_backend")
    for mod in (root, core, model, distributed, backend):
        monkeypatch.setitem(sys.modules, mod.__name__, mod)
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: root.__spec__ if name == "torch_xla" else real_find_spec(name, *a),
    )
    return xm
