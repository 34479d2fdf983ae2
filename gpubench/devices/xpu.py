"""Intel GPUs (Arc, Data Center GPU Max) through torch's native `xpu` device (torch 2.5+): its events,
memory statistics and the XCCL backend for distributed runs."""

from __future__ import annotations

from typing import Any

import torch

from gpubench.devices.base import Device, DeviceInfo, Step, event_burst


class XpuDevice(Device):
    kind = "xpu"
    torch_type = "xpu"
    title = "Intel XPU GPU"
    memory_limited = True

    def __init__(self, index: int | None = None) -> None:
        super().__init__(index or 0)

    @classmethod
    def api(cls) -> Any:
        return getattr(torch, "xpu", None)

    @classmethod
    def available(cls) -> bool:
        xpu = cls.api()
        return xpu is not None and bool(xpu.is_available())

    @classmethod
    def count(cls) -> int:
        return int(cls.api().device_count()) if cls.available() else 0

    def props(self) -> Any:
        return self.api().get_device_properties(self.index)

    def describe(self) -> DeviceInfo:
        props = self.props()
        extras = {
            "driver": getattr(props, "driver_version", None),
            "eu_count": getattr(props, "gpu_eu_count", None),
            "has_fp64": getattr(props, "has_fp64", None),
            "platform": getattr(props, "platform_name", None),
        }
        units = getattr(props, "gpu_subslice_count", None)
        return DeviceInfo(kind="gpu", device_kind=self.kind, torch_device=f"xpu:{self.index}", index=self.index,
                          name=props.name, vendor="intel", memory_bytes=int(props.total_memory),
                          multiprocessors=int(units) if units else None, extras=extras)  # fmt: skip

    def synchronize(self) -> None:
        self.api().synchronize(self.torch)

    def burst(self, step: Step, n: int, reset: Step | None = None, clock: Any = None) -> list[float]:
        xpu = self.api()
        with xpu.device(self.torch):
            return event_burst(lambda: xpu.Event(enable_timing=True), step, n, reset, self.synchronize)

    def reset_peak_memory(self) -> None:
        self.api().reset_peak_memory_stats(self.torch)

    def peak_memory_bytes(self) -> int | None:
        return int(self.api().max_memory_allocated(self.torch))

    def free_memory(self) -> None:
        super().free_memory()
        self.api().empty_cache()

    def flush_bytes(self) -> int:
        # Data Center GPU Max 1550 carries 408 MB of L2 ("Rambo" cache); torch does not report its size.
        return 1 << 30

    def unsupported(self, precision: str) -> str | None:
        if precision == "fp64" and getattr(self.props(), "has_fp64", True) is False:
            return "this Intel GPU has no fp64 units (Arc parts lack them)"
        return {
            "tf32": "TF32 on XPU is set through oneDNN's fp32 math mode, which gpubench does not switch",
            "int8": "torch._int_mm has no XPU kernel in gpubench's method",
            "fp8": "fp8 matmul on XPU is not measured by gpubench",
        }.get(precision)

    def dist_backend(self) -> tuple[str, str]:
        from gpubench.errors import BackendUnavailable

        if not getattr(torch.distributed, "is_xccl_available", lambda: False)():
            raise BackendUnavailable(
                "this torch build has no XCCL backend for XPU (torch 2.8+ with XPU support)"
            )
        return "xccl", "xccl"

    def set_current(self) -> None:
        self.api().set_device(self.torch)

    def ddp_device_ids(self) -> list[int] | None:
        return [self.index]
