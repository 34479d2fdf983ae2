"""Intel GPUs (Arc, Data Center GPU Max) through torch's native `xpu` device (torch 2.5+), whose module has
torch.cuda's shape: events, memory statistics, and the XCCL backend for distributed runs (torch 2.8+)."""

from __future__ import annotations

from typing import Any

import torch

from gpubench.devices.base import DeviceInfo, QueuedDevice


class XpuDevice(QueuedDevice):
    kind = "xpu"
    torch_type = "xpu"
    title = "Intel XPU GPU"
    lacks = {
        "tf32": "TF32 on XPU is set through oneDNN's fp32 math mode, which gpubench does not switch",
        "int8": "torch._int_mm has no XPU kernel in gpubench's method",
        "fp8": "fp8 matmul on XPU is not measured by gpubench",
    }

    @classmethod
    def api(cls) -> Any:
        return getattr(torch, "xpu", None)

    def describe(self) -> DeviceInfo:
        props = self.props()
        extras = {
            "driver": getattr(props, "driver_version", None),
            "eu_count": getattr(props, "gpu_eu_count", None),
            "has_fp64": getattr(props, "has_fp64", None),
            "platform": getattr(props, "platform_name", None),
        }
        units = getattr(props, "gpu_subslice_count", None)
        return DeviceInfo(
            kind="gpu",
            device_kind=self.kind,
            torch_device=f"xpu:{self.index}",
            index=self.index,
            name=props.name,
            vendor="intel",
            memory_bytes=int(props.total_memory),
            multiprocessors=int(units) if units else None,
            extras=extras,
        )

    def flush_bytes(self) -> int:
        # Data Center GPU Max 1550 carries 408 MB of L2 ("Rambo" cache); torch does not report its size.
        return 1 << 30

    def unsupported(self, precision: str) -> str | None:
        if precision == "fp64" and getattr(self.props(), "has_fp64", True) is False:
            return "this Intel GPU has no fp64 units (Arc parts lack them)"
        return super().unsupported(precision)

    def dist_backend(self) -> tuple[str, str]:
        from gpubench.errors import BackendUnavailable

        if not getattr(torch.distributed, "is_xccl_available", lambda: False)():
            raise BackendUnavailable("this torch build has no XCCL backend for XPU (torch 2.8+ with XPU support)")
        return "xccl", "xccl"
