"""TPUs (and other XLA devices) through torch_xla. XLA records operations lazily into a graph; nothing runs
until `xm.mark_step()` cuts the graph and the device executes it, and `xm.wait_device_ops()` blocks until
it has. So a timed step is: step, mark_step, wait_device_ops, read the host clock. Events do not exist."""

from __future__ import annotations

import importlib
import importlib.util
import time
from typing import Any

from gpubench.devices.base import Device, DeviceInfo, Step, wall_burst


class XlaDevice(Device):
    kind = "xla"
    torch_type = "xla"
    title = "XLA device (torch_xla)"
    lacks = {
        "tf32": "TF32 is an NVIDIA/AMD tensor-core mode; XLA picks matmul precision itself",
        "int8": "torch._int_mm has no XLA lowering in gpubench's method",
        "fp8": "fp8 matmul on XLA is not measured by gpubench",
    }

    def __init__(self, index: int | None = None) -> None:
        super().__init__(index or 0)

    @classmethod
    def api(cls) -> Any:
        """torch_xla.core.xla_model (`xm`); import it only when asked: it initialises the runtime."""
        return importlib.import_module("torch_xla.core.xla_model")

    @classmethod
    def available(cls) -> bool:
        try:
            if importlib.util.find_spec("torch_xla") is None:
                return False
        except (ImportError, ValueError):
            return False
        try:
            return len(cls.api().get_xla_supported_devices()) > 0
        except Exception:  # noqa: BLE001 - a broken runtime means "not here", never a crash
            return False

    @classmethod
    def count(cls) -> int:
        return len(cls.api().get_xla_supported_devices()) if cls.available() else 0

    def memory_info(self) -> dict[str, Any]:
        try:
            return dict(self.api().get_memory_info(self.torch))
        except Exception:  # noqa: BLE001 - not every runtime reports memory
            return {}

    def describe(self) -> DeviceInfo:
        xm = self.api()
        hw = str(xm.xla_device_hw(self.torch))
        mem = self.memory_info()
        total = mem.get("bytes_limit") or (mem["kb_total"] * 1024 if "kb_total" in mem else None)
        torch_xla = importlib.import_module("torch_xla")
        return DeviceInfo(
            kind="gpu",
            device_kind=self.kind,
            torch_device=f"xla:{self.index}",
            index=self.index,
            name=f"XLA {hw}",
            vendor="google" if hw == "TPU" else hw.lower(),
            memory_bytes=int(total) if total else None,
            extras={"xla_hw": hw, "torch_xla": getattr(torch_xla, "__version__", None)},
        )

    def synchronize(self) -> None:
        xm = self.api()
        xm.mark_step()
        xm.wait_device_ops()

    def burst(self, step: Step, n: int, reset: Step | None = None, clock: Any = None) -> list[float]:
        """Host clock around step + mark_step + wait_device_ops: the graph runs inside the timed window."""
        return wall_burst(step, n, reset, clock or time.perf_counter_ns, self.synchronize)

    def peak_memory_bytes(self) -> int | None:
        peak = self.memory_info().get("peak_bytes_used")
        return int(peak) if peak is not None else None

    def dist_backend(self) -> tuple[str, str]:
        importlib.import_module("torch_xla.distributed.xla_backend")  # registers the "xla" backend
        return "xla", "xla"
