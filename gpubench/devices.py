"""Find and describe devices (CUDA, ROCm, CPU), time steps on them, and capture the run's environment."""

from __future__ import annotations

import os
import platform
import re
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

from gpubench import __version__
from gpubench.errors import BackendUnavailable, GpubenchError

CPU_FEATURES = (
    "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16",
    "avx_vnni", "amx_tile", "amx_bf16", "amx_int8", "amx_fp16",
)  # fmt: skip


def gpu_vendor() -> str | None:
    """'nvidia' or 'amd' when torch sees a GPU, else None. ROCm builds reuse the torch.cuda API."""
    if not torch.cuda.is_available():
        return None
    return "amd" if torch.version.hip else "nvidia"


def resolve_device(spec: str = "auto") -> torch.device:
    """`auto` = first GPU, else CPU; also `cpu`, `cuda`, `cuda:N` (ROCm devices are `cuda:N` in torch)."""
    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        return torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
    if spec == "cpu":
        return torch.device("cpu")
    m = re.fullmatch(r"(cuda|gpu|rocm)(?::(\d+))?", spec)
    if not m:
        raise GpubenchError(f"unknown device {spec!r}; use auto, cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise BackendUnavailable(f"device {spec!r} asked for, but torch sees no CUDA/ROCm GPU here")
    index = int(m.group(2) or 0)
    count = torch.cuda.device_count()
    if index >= count:
        raise GpubenchError(
            f"device {spec!r} does not exist: torch sees {count} GPU(s), cuda:0..cuda:{count - 1}"
        )
    return torch.device("cuda", index)


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def _cpu_model() -> str:
    for line in _read("/proc/cpuinfo").splitlines():
        if line.lower().startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _cpu_flags() -> set[str]:
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def _physical_cores() -> int | None:
    cores = set()
    phys = core = None
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("physical id"):
            phys = line.split(":")[1].strip()
        elif line.startswith("core id"):
            core = line.split(":")[1].strip()
            cores.add((phys, core))
    return len(cores) or None


def _mem_total_bytes() -> int | None:
    m = re.search(r"MemTotal:\s+(\d+) kB", _read("/proc/meminfo"))
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
        size = _read(f"{base}/{entry}/size").strip()
        m = re.fullmatch(r"(\d+)([KMG]?)", size)
        if m:
            best = max(best, int(m.group(1)) * {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[m.group(2)])
    return best or 32 << 20


def describe_cpu() -> dict[str, Any]:
    flags = _cpu_flags()
    return {
        "kind": "cpu",
        "torch_device": "cpu",
        "index": None,
        "name": _cpu_model(),
        "vendor": "cpu",
        "cores": _physical_cores(),
        "threads": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "isa": [f for f in CPU_FEATURES if f in flags],
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "memory_bytes": _mem_total_bytes(),
        "llc_bytes": llc_bytes(),
        "uuid": None,
        "pci_bus_id": None,
    }


def _nvidia_driver() -> str | None:
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            v = pynvml.nvmlSystemGetDriverVersion()
            return v.decode() if isinstance(v, bytes) else v
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # noqa: BLE001 - any NVML failure means "unknown", never a crash
        pass
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=10, check=False,
        )  # fmt: skip
        return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None
    except (OSError, subprocess.SubprocessError):
        return None


def _pci_bus_id(props: Any) -> str | None:
    bus = getattr(props, "pci_bus_id", None)
    if bus is None:
        return None
    domain = getattr(props, "pci_domain_id", 0) or 0
    dev = getattr(props, "pci_device_id", 0) or 0
    # NVML's form: 8-hex-digit domain, bus, device, function 0.
    return f"{domain:08X}:{bus:02X}:{dev:02X}.0"


def describe_gpu(index: int) -> dict[str, Any]:
    props = torch.cuda.get_device_properties(index)
    vendor = gpu_vendor()
    uuid = getattr(props, "uuid", None)
    uuid_str = str(uuid) if uuid is not None else None
    if uuid_str and vendor == "nvidia" and not uuid_str.startswith("GPU-"):
        uuid_str = f"GPU-{uuid_str}"
    info: dict[str, Any] = {
        "kind": "gpu",
        "torch_device": f"cuda:{index}",
        "index": index,
        "name": props.name,
        "vendor": vendor,
        "memory_bytes": int(props.total_memory),
        "multiprocessors": int(props.multi_processor_count),
        "l2_bytes": int(getattr(props, "L2_cache_size", 0) or 0) or None,
        "uuid": uuid_str,
        "pci_bus_id": _pci_bus_id(props),
    }
    if vendor == "nvidia":
        info.update(
            compute_capability=f"{props.major}.{props.minor}",
            sm_count=int(props.multi_processor_count),
            cuda=torch.version.cuda,
            cudnn=torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        )
    else:
        info.update(
            hip=torch.version.hip,
            gcn_arch=getattr(props, "gcnArchName", None),
            cu_count=int(props.multi_processor_count),
            miopen=torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        )
    return info


def describe_devices() -> list[dict[str, Any]]:
    """Every device torch can use here: GPUs first, then the CPU. Driver looked up once."""
    gpus = [describe_gpu(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    if gpus and gpus[0]["vendor"] == "nvidia":
        driver = _nvidia_driver()
        for g in gpus:
            g["driver"] = driver
    return [*gpus, describe_cpu()]


def describe(device: torch.device) -> dict[str, Any]:
    if device.type == "cpu":
        return describe_cpu()
    info = describe_gpu(device.index or 0)
    if info["vendor"] == "nvidia":
        info["driver"] = _nvidia_driver()
    return info


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class StepTimer:
    """Times bursts of steps on one device: CUDA events on GPUs (they work under ROCm too), one
    synchronize per burst; `perf_counter_ns` on the CPU. Returns one time in seconds per step."""

    def __init__(self, device: torch.device, clock: Callable[[], int] = time.perf_counter_ns) -> None:
        self.device = device
        self.clock = clock  # CPU only; tests pass a fake

    def burst(self, step: Callable[[], Any], n: int, reset: Callable[[], Any] | None = None) -> list[float]:
        if self.device.type == "cuda":
            return self._burst_cuda(step, n, reset)
        return self._burst_cpu(step, n, reset, self.clock)

    def _burst_cuda(self, step: Callable[[], Any], n: int, reset: Callable[[], Any] | None) -> list[float]:
        with torch.cuda.device(self.device):
            stream = torch.cuda.current_stream(self.device)
            pairs = [
                (torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(n)
            ]
            for start, end in pairs:
                if reset is not None:
                    reset()  # outside the event pair: not timed
                start.record(stream)
                step()
                end.record(stream)
            torch.cuda.synchronize(self.device)
            return [start.elapsed_time(end) / 1e3 for start, end in pairs]

    @staticmethod
    def _burst_cpu(
        step: Callable[[], Any], n: int, reset: Callable[[], Any] | None, clock: Callable[[], int]
    ) -> list[float]:
        times = []
        for _ in range(n):
            if reset is not None:
                reset()
            t0 = clock()
            step()
            times.append((clock() - t0) / 1e9)
        return times


@contextmanager
def precision_flags(flags: dict[str, Any]) -> Iterator[None]:
    """Apply a case's precision flags and restore the previous global state afterwards.

    TF32 is set explicitly for every case (default off) so nothing leaks in from global state or a previous case.
    """
    allow = bool(flags.get("allow_tf32", False))
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = allow
    torch.backends.cudnn.allow_tf32 = allow
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def software_info() -> dict[str, Any]:
    env_keys = ("CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "PYTORCH_TUNABLEOP_ENABLED", "OMP_NUM_THREADS")
    return {
        "gpubench": __version__,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "hip": torch.version.hip,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch_threads": torch.get_num_threads(),
        "env": {k: os.environ[k] for k in env_keys if k in os.environ},
    }


def collect_run_info(device: torch.device) -> dict[str, Any]:
    """The environment of a run: host, device description, software versions."""
    return {"host": socket.gethostname(), "device": describe(device), "software": software_info()}
