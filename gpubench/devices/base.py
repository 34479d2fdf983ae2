"""The interface every accelerator kind implements, and the typed description of one device.

Code outside `gpubench.devices` asks a `Device` (`synchronize()`, `burst()`, `unsupported("bf16")`,
`peak_memory_bytes()`, `dist_backend()`, ...) and never tests `device.type` or calls `torch.cuda`: a new kind
of accelerator is one module here plus one line in `DEVICE_MODULES` (gpubench/devices/__init__.py).

Each kind reaches its torch module (`torch.cuda`, `torch.mps`, `torch.xpu`, `torch_xla`) through `api()`, so
tests replace that module with a fake (tests/fakes/fake_accelerators.py) the way telemetry tests fake pynvml.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from gpubench.errors import Unsupported

Step = Callable[[], Any]
Clock = Callable[[], int]

# Every precision a benchmark may ask about; a kind answers for each (None = supported).
PRECISIONS = ("fp64", "fp32", "tf32", "fp16", "bf16", "int8", "fp8")


@dataclass
class DeviceInfo:
    """What run.json records about the device of a run. `as_dict()` gives the keys run.json has always had
    (kind, torch_device, index, name, vendor, memory_bytes, uuid, pci_bus_id, ...); what only one vendor
    has (compute capability, HIP version, gcn_arch, CPU ISA flags ...) sits in `extras`."""

    kind: str  # "gpu" or "cpu": the run.json key of schema 1 (the accelerator kind is `device_kind`)
    device_kind: str  # the Device kind: cpu, cuda, mps, xpu, xla
    torch_device: str
    index: int | None
    name: str
    vendor: str
    memory_bytes: int | None = None
    multiprocessors: int | None = None
    uuid: str | None = None
    pci_bus_id: str | None = None
    telemetry_reader: str = "null"  # the gpubench.telemetry reader that serves this device
    extras: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        core = {
            "kind": self.kind,
            "device_kind": self.device_kind,
            "torch_device": self.torch_device,
            "index": self.index,
            "name": self.name,
            "vendor": self.vendor,
            "memory_bytes": self.memory_bytes,
            "multiprocessors": self.multiprocessors,
            "uuid": self.uuid,
            "pci_bus_id": self.pci_bus_id,
            "telemetry_reader": self.telemetry_reader,
        }
        return {**core, **self.extras}


def wall_burst(step: Step, n: int, reset: Step | None, clock: Clock, sync: Callable[[], None] | None) -> list[float]:
    """Time each step on a host clock (ns), synchronizing the device before reading it; reset is untimed.
    `sync` None: the device runs on the host (the CPU) and the timed region holds the step alone."""
    times = []
    for _ in range(n):
        if reset is not None:
            reset()
            if sync is not None:
                sync()
        t0 = clock()
        step()
        if sync is not None:
            sync()
        times.append((clock() - t0) / 1e9)
    return times


def event_burst(
    new_event: Callable[[], Any], step: Step, n: int, reset: Step | None, sync: Callable[[], None]
) -> list[float]:
    """Time each step between a pair of device events, one synchronize for the whole burst.

    Events are recorded on the device's queue, so the time is device time, not the host's launch time."""
    pairs = [(new_event(), new_event()) for _ in range(n)]
    for start, end in pairs:
        if reset is not None:
            reset()  # outside the event pair: not timed
        start.record()
        step()
        end.record()
    sync()
    return [start.elapsed_time(end) / 1e3 for start, end in pairs]  # elapsed_time is in ms


class Device:
    """One accelerator (or the CPU) as the rest of gpubench sees it. Subclasses set the class attributes and
    override what differs; the defaults describe a device that lacks the feature."""

    kind: ClassVar[str]  # registry key and the --device spelling (cpu, cuda, mps, xpu, xla)
    torch_type: ClassVar[str]  # torch's device type for tensors on it
    aliases: ClassVar[tuple[str, ...]] = ()  # other --device spellings
    title: ClassVar[str] = "device"  # what messages call it: "CUDA/ROCm GPU"
    indexed: ClassVar[bool] = True  # `kind:N` selects one of several devices
    is_host: ClassVar[bool] = False  # tensors live in host memory (no host<->device link to measure)
    memory_limited: ClassVar[bool] = False  # allocation fails with OutOfMemoryError at a device limit
    fused_optimizer: ClassVar[bool] = False  # torch's fused AdamW kernels are used on it
    graphs: ClassVar[bool] = False  # torch.compile's "reduce-overhead" (CUDA graphs) works on it
    # Precisions the kind never computes in, with the reason (kinds whose answer depends on the model of
    # device override `unsupported`).
    lacks: ClassVar[Mapping[str, str]] = {}

    def __init__(self, index: int | None = None) -> None:
        self.index = index if self.indexed else None

    # --- discovery ---------------------------------------------------------------------------------
    @classmethod
    def api(cls) -> Any:
        """The torch module of this kind (torch.cuda, torch.xpu ...); tests replace it with a fake."""
        return None

    @classmethod
    def available(cls) -> bool:
        return False

    @classmethod
    def count(cls) -> int:
        return 1 if cls.available() else 0

    @property
    def torch(self) -> torch.device:
        return torch.device(self.torch_type, self.index) if self.index is not None else torch.device(self.torch_type)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.torch})"

    def describe(self) -> DeviceInfo:
        raise NotImplementedError

    # --- timing ------------------------------------------------------------------------------------
    def synchronize(self) -> None:
        """Wait until every queued operation on the device has finished."""

    def burst(self, step: Step, n: int, reset: Step | None = None, clock: Clock = time.perf_counter_ns) -> list[float]:
        """Run `step` n times and return one time in seconds per step; `reset` runs between steps, untimed.
        `clock` is the host clock (ns) for kinds timed on the host; tests pass a fake."""
        # A kind that keeps the base class's no-op synchronize has nothing to wait for inside the timed region.
        sync = None if type(self).synchronize is Device.synchronize else self.synchronize
        return wall_burst(step, n, reset, clock, sync)

    # --- memory ------------------------------------------------------------------------------------
    def reset_peak_memory(self) -> None:
        """Start a new peak-memory window (before a case builds its workload)."""

    def peak_memory_bytes(self) -> int | None:
        """Most memory the case held since `reset_peak_memory`, or None when the device cannot say."""
        return None

    def free_memory(self) -> None:
        """Give back what the finished case left (Python garbage first: frames keep tensors alive)."""
        gc.collect()

    def flush_bytes(self) -> int:
        """Bytes to overwrite between timed steps so operands are not served from the last-level cache."""
        return 256 << 20

    # --- precisions --------------------------------------------------------------------------------
    def unsupported(self, precision: str) -> str | None:
        """Why this device cannot compute in `precision` (one of PRECISIONS), or None when it can."""
        return self.lacks.get(precision)

    def emulation(self, precision: str) -> str | None:
        """How this device computes `precision` when it has no hardware for it (torch converts and multiplies in
        a wider type, in software), or None when the precision runs natively. Such a figure measures the fallback,
        not the precision: rows mark it, and suites size those cases for it."""
        return None

    def autocast_unsupported(self, precision: str) -> str | None:
        """Why torch.autocast cannot run in `precision` (fp16/bf16) here, or None. Defaults to `unsupported`."""
        return self.unsupported(precision)

    def require(self, precision: str, *, autocast: bool = False) -> None:
        """Raise Unsupported (a skipped row with the reason) unless the device computes in `precision`."""
        reason = self.autocast_unsupported(precision) if autocast else self.unsupported(precision)
        if reason:
            raise Unsupported(reason)

    def fp8_dtype(self) -> torch.dtype:
        """The fp8 format its matmuls take (e4m3fn; MI300 uses the fnuz variant)."""
        return torch.float8_e4m3fn

    @property
    def autocast_type(self) -> str:
        """The device_type torch.autocast and GradScaler take."""
        return self.torch_type

    # --- streams -----------------------------------------------------------------------------------
    has_streams: ClassVar[bool] = False  # separate queues (and a copy engine) that can overlap work

    def new_stream(self) -> Any:
        """A queue of its own, e.g. for a copy that overlaps compute. Kinds without one raise Unsupported."""
        raise Unsupported(f"the {self.title} has no separate streams: the same units would copy and compute")

    def current_stream(self) -> Any:
        """The queue work goes to now (the one the runner's timing events are recorded on)."""
        raise Unsupported(f"the {self.title} has no separate streams")

    def on_stream(self, stream: Any) -> Any:
        """A context manager sending work issued inside it to `stream`."""
        raise Unsupported(f"the {self.title} has no separate streams")

    # --- distributed -------------------------------------------------------------------------------
    def dist_backend(self) -> tuple[str, str]:
        """(torch.distributed backend, the library doing the work), e.g. ("nccl", "rccl"). Raises
        BackendUnavailable when the kind has none."""
        from gpubench.errors import BackendUnavailable

        raise BackendUnavailable(f"{self.kind} devices have no torch.distributed backend in gpubench")

    def set_current(self) -> None:
        """Make this the current device of the process (a distributed rank owns one)."""

    def dist_init_kwargs(self) -> dict[str, Any]:
        """Extra init_process_group arguments (CUDA binds the group to the device eagerly)."""
        return {}

    def ddp_device_ids(self) -> list[int] | None:
        """DistributedDataParallel's device_ids for a module on this device."""
        return None

    @property
    def telemetry_shared_by_node(self) -> bool:
        """Whether every local rank would read the same counters (the CPU package): then one rank samples."""
        return self.is_host


class QueuedDevice(Device):
    """A GPU kind whose torch module has torch.cuda's shape (torch.cuda, torch.xpu): numbered devices,
    properties, timing events on the device's queue, an allocator with peak statistics and a cache to empty."""

    memory_limited = True

    def __init__(self, index: int | None = None) -> None:
        super().__init__(index or 0)

    @classmethod
    def available(cls) -> bool:
        api = cls.api()
        return api is not None and bool(api.is_available())

    @classmethod
    def count(cls) -> int:
        return int(cls.api().device_count()) if cls.available() else 0

    def props(self) -> Any:
        return self.api().get_device_properties(self.index)

    def synchronize(self) -> None:
        self.api().synchronize(self.torch)

    def burst(self, step: Step, n: int, reset: Step | None = None, clock: Clock | None = None) -> list[float]:
        """Event pairs around each step, one synchronize per burst."""
        api = self.api()
        with api.device(self.torch):
            return event_burst(lambda: api.Event(enable_timing=True), step, n, reset, self.synchronize)

    def reset_peak_memory(self) -> None:
        self.api().reset_peak_memory_stats(self.torch)

    def peak_memory_bytes(self) -> int | None:
        return int(self.api().max_memory_allocated(self.torch))

    def free_memory(self) -> None:
        super().free_memory()
        self.api().empty_cache()

    has_streams = True

    def new_stream(self) -> Any:
        return self.api().Stream(self.torch)

    def current_stream(self) -> Any:
        return self.api().current_stream(self.torch)

    def on_stream(self, stream: Any) -> Any:
        return self.api().stream(stream)

    def set_current(self) -> None:
        self.api().set_device(self.torch)

    def ddp_device_ids(self) -> list[int] | None:
        return [self.index]
