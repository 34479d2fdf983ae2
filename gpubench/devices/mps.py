"""Apple silicon GPUs through Metal Performance Shaders (`torch.mps`): its own synchronize, events and memory
calls. Unified memory: the GPU shares the host's RAM, there is no PCIe link and no peak-memory counter."""

from __future__ import annotations

import platform
import subprocess
from typing import Any

import torch

from gpubench.devices.base import Device, DeviceInfo, Step, event_burst
from gpubench.devices.cpu import mem_total_bytes


def _chip_name() -> str:
    """ "Apple M2 Max" from sysctl; the machine type when sysctl does not answer."""
    try:
        out = subprocess.run(
            ["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True, timeout=5, check=False
        )
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return f"Apple {platform.machine()}"


class MpsDevice(Device):
    kind = "mps"
    torch_type = "mps"
    title = "Apple MPS GPU"
    indexed = False
    lacks = {
        "fp64": "Metal has no float64: MPS cannot hold fp64 tensors",
        "tf32": "TF32 is an NVIDIA/AMD tensor-core mode; Apple GPUs have none",
        "int8": "torch._int_mm has no MPS kernel",
        "fp8": "Apple GPUs have no fp8 matmul",
    }

    def __init__(self, index: int | None = None) -> None:
        super().__init__(None)
        self._peak = 0

    @classmethod
    def api(cls) -> Any:
        return torch.mps

    @classmethod
    def available(cls) -> bool:
        return bool(torch.backends.mps.is_available())

    def describe(self) -> DeviceInfo:
        mps = self.api()
        limit = getattr(mps, "recommended_max_memory", None)
        memory = int(limit()) if limit is not None else mem_total_bytes()
        return DeviceInfo(
            kind="gpu",
            device_kind=self.kind,
            torch_device="mps",
            index=None,
            name=_chip_name(),
            vendor="apple",
            memory_bytes=memory,
            extras={"macos": platform.mac_ver()[0] or None, "unified_memory": True},
        )

    def synchronize(self) -> None:
        self.api().synchronize()

    def burst(self, step: Step, n: int, reset: Step | None = None, clock: Any = None) -> list[float]:
        """torch.mps events: timestamps on the GPU's command queue, one synchronize per burst."""
        mps = self.api()
        times = event_burst(lambda: mps.Event(enable_timing=True), step, n, reset, self.synchronize)
        self._peak = max(self._peak, int(mps.current_allocated_memory()))
        return times

    def reset_peak_memory(self) -> None:
        self._peak = int(self.api().current_allocated_memory())

    def peak_memory_bytes(self) -> int | None:
        """Highest allocation seen at the end of a burst: MPS keeps no peak counter, so this is a lower bound."""
        return max(self._peak, int(self.api().current_allocated_memory()))

    def free_memory(self) -> None:
        super().free_memory()
        self.api().empty_cache()
