"""The host CPU as a device: perf_counter timing, RSS for memory, gloo for distributed runs, RAPL telemetry."""

from __future__ import annotations

import os
import platform
import re
from typing import Any

import torch

from gpubench.devices.base import Device, DeviceInfo

CPU_FEATURES = (
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "avx_vnni",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
    "amx_fp16",
)


def read_text(path: str) -> str:
    """A small system file's text, or "" when it cannot be read (missing sysfs/procfs entries are normal)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def _cpu_model() -> str:
    for line in read_text("/proc/cpuinfo").splitlines():
        if line.lower().startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _cpu_flags() -> set[str]:
    for line in read_text("/proc/cpuinfo").splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def _physical_cores() -> int | None:
    cores = set()
    phys = core = None
    for line in read_text("/proc/cpuinfo").splitlines():
        if line.startswith("physical id"):
            phys = line.split(":")[1].strip()
        elif line.startswith("core id"):
            core = line.split(":")[1].strip()
            cores.add((phys, core))
    return len(cores) or None


def mem_total_bytes() -> int | None:
    """Installed host memory (MemTotal), or None off Linux."""
    m = re.search(r"MemTotal:\s+(\d+) kB", read_text("/proc/meminfo"))
    return int(m.group(1)) * 1024 if m else None


def llc_bytes() -> int:
    """Size of the CPU's last-level cache (for buffers that must not fit in it); 32 MiB if unknown."""
    best = 0
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        entries = os.listdir(base)
    except OSError:
        entries = []
    for entry in entries:
        size = read_text(f"{base}/{entry}/size").strip()
        m = re.fullmatch(r"(\d+)([KMG]?)", size)
        if m:
            best = max(best, int(m.group(1)) * {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[m.group(2)])
    return best or 32 << 20


def rss_bytes() -> int | None:
    """Resident memory of this process (Linux), or None."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


# The CPU features that give a precision matrix hardware (AVX-512 / AMX instructions); without them torch
# converts the operands and computes in fp32, in software, tens to hundreds of times slower.
NATIVE_FEATURES = {
    "bf16": ("amx_bf16", "avx512_bf16"),
    "fp16": ("amx_fp16", "avx512_fp16"),
    "fp8": (),  # no CPU has fp8 matrix units
}


def emulation_reason(precision: str, flags: set[str]) -> str | None:
    """Why `precision` is emulated on a CPU with these /proc/cpuinfo flags, or None when it runs natively."""
    needs = NATIVE_FEATURES.get(precision)
    if needs is None or any(f in flags for f in needs):
        return None
    if not needs:
        return f"{precision} emulated in software: no CPU has {precision} hardware"
    return f"{precision} emulated in software: this CPU has no {' or '.join(needs)}"


def _autocast_reason(precision: str) -> str | None:
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}[precision]
    try:
        a = torch.ones(4, 4)
        with torch.autocast("cpu", dtype=dtype):
            ok = torch.mm(a, a).dtype == dtype
    except (RuntimeError, AssertionError) as e:  # older torch: "CPU autocast only supports bfloat16"
        return f"this torch has no CPU autocast for {precision}: {e}"
    return None if ok else f"this torch's CPU autocast does not run matmuls in {precision}"


class CpuDevice(Device):
    kind = "cpu"
    torch_type = "cpu"
    title = "CPU"
    indexed = False
    is_host = True

    def __init__(self, index: int | None = None) -> None:
        super().__init__(None)
        self._rss0: int | None = None

    @classmethod
    def available(cls) -> bool:
        return True

    def describe(self) -> DeviceInfo:
        flags = _cpu_flags()
        extras: dict[str, Any] = {
            "cores": _physical_cores(),
            "threads": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "isa": [f for f in CPU_FEATURES if f in flags],
            "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "llc_bytes": llc_bytes(),
        }
        return DeviceInfo(
            kind="cpu",
            device_kind=self.kind,
            torch_device="cpu",
            index=None,
            name=_cpu_model(),
            vendor="cpu",
            memory_bytes=mem_total_bytes(),
            telemetry_reader="cpu",
            extras=extras,
        )

    def reset_peak_memory(self) -> None:
        self._rss0 = rss_bytes()  # the previous case freed its memory in its `finally`

    def peak_memory_bytes(self) -> int | None:
        """RSS growth since `reset_peak_memory`: the CPU allocator has no peak counter."""
        rss1 = rss_bytes()
        return max(0, rss1 - self._rss0) if self._rss0 is not None and rss1 is not None else None

    def flush_bytes(self) -> int:
        return 2 * llc_bytes()

    def unsupported(self, precision: str) -> str | None:
        if precision == "tf32":
            return "TF32 is a GPU tensor-core mode; the CPU has no TF32 matmul"
        return None

    def emulation(self, precision: str) -> str | None:
        return emulation_reason(precision, _cpu_flags())

    def autocast_unsupported(self, precision: str) -> str | None:
        if precision in ("fp16", "bf16"):
            return _autocast_reason(precision)
        return self.unsupported(precision)

    def dist_backend(self) -> tuple[str, str]:
        return "gloo", "gloo"
