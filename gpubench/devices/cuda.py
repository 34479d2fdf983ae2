"""NVIDIA GPUs through CUDA, and AMD GPUs under ROCm, which torch presents with the same `torch.cuda` API
(`torch.version.hip` is set on ROCm builds). CUDA events time the steps on both."""

from __future__ import annotations

import functools
import subprocess
from typing import Any

import torch

from gpubench.devices.base import DeviceInfo, QueuedDevice

# AMD architectures with TF32-like (xf32) and fp8 matmuls: MI300 (gfx942) and MI350 (gfx950).
_MI300_CLASS = ("gfx942", "gfx950")


@functools.cache
def nvidia_driver() -> str | None:
    """The NVIDIA driver version: NVML first, nvidia-smi as a fallback; None when neither answers. Looked up
    once per process."""
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
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None
    except (OSError, subprocess.SubprocessError):
        return None


def pci_bus_id(props: Any) -> str | None:
    """NVML's form of the PCI address: 8-hex-digit domain, bus, device, function 0."""
    bus = getattr(props, "pci_bus_id", None)
    if bus is None:
        return None
    domain = getattr(props, "pci_domain_id", 0) or 0
    dev = getattr(props, "pci_device_id", 0) or 0
    return f"{domain:08X}:{bus:02X}:{dev:02X}.0"


class CudaDevice(QueuedDevice):
    """CUDA events time the steps (they work under ROCm too), one synchronize per burst."""

    kind = "cuda"
    torch_type = "cuda"
    aliases = ("gpu", "rocm")
    title = "CUDA/ROCm GPU"
    fused_optimizer = True
    graphs = True

    @classmethod
    def api(cls) -> Any:
        return torch.cuda

    @classmethod
    def hip(cls) -> str | None:
        """The HIP version on ROCm builds of torch, else None."""
        return torch.version.hip

    @property
    def vendor(self) -> str:
        return "amd" if self.hip() else "nvidia"

    def describe(self) -> DeviceInfo:
        props = self.props()
        vendor = self.vendor
        uuid = getattr(props, "uuid", None)
        uuid_str = str(uuid) if uuid is not None else None
        if uuid_str and vendor == "nvidia" and not uuid_str.startswith("GPU-"):
            uuid_str = f"GPU-{uuid_str}"
        cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
        extras: dict[str, Any] = {"l2_bytes": int(getattr(props, "L2_cache_size", 0) or 0) or None}
        if vendor == "nvidia":
            extras.update(
                compute_capability=f"{props.major}.{props.minor}",
                sm_count=int(props.multi_processor_count),
                cuda=torch.version.cuda,
                cudnn=cudnn,
                driver=nvidia_driver(),
            )
        else:
            extras.update(
                hip=self.hip(),
                gcn_arch=getattr(props, "gcnArchName", None),
                cu_count=int(props.multi_processor_count),
                miopen=cudnn,
            )
        return DeviceInfo(
            kind="gpu",
            device_kind=self.kind,
            torch_device=f"cuda:{self.index}",
            index=self.index,
            name=props.name,
            vendor=vendor,
            memory_bytes=int(props.total_memory),
            multiprocessors=int(props.multi_processor_count),
            uuid=uuid_str,
            pci_bus_id=pci_bus_id(props),
            telemetry_reader="nvml" if vendor == "nvidia" else "amdsmi",
            extras=extras,
        )

    def flush_bytes(self) -> int:
        l2 = int(getattr(self.props(), "L2_cache_size", 0) or 0)
        # MI300X's 256 MB Infinity Cache is not in L2_cache_size: use more on AMD.
        floor = (512 << 20) if self.hip() else (256 << 20)
        return max(4 * l2, floor)

    def unsupported(self, precision: str) -> str | None:
        props = self.props()
        if self.hip():
            arch = getattr(props, "gcnArchName", "")
            if precision == "fp8" and not arch.startswith(_MI300_CLASS):
                return f"fp8 matmul needs MI300-class hardware (gfx942/gfx950); this is {arch}"
            if precision == "tf32" and not arch.startswith(_MI300_CLASS):
                return f"TF32 (xf32) needs MI300-class hardware (gfx942/gfx950); this is {arch}"
            return None
        cc = (props.major, props.minor)
        need = {
            "tf32": ((8, 0), "TF32 needs compute capability 8.0+ (Ampere)"),
            "bf16": ((8, 0), "bf16 tensor cores need compute capability 8.0+"),
            "fp8": ((8, 9), "fp8 matmul needs compute capability 8.9+ (Ada/Hopper)"),
            "int8": ((7, 5), "int8 torch._int_mm needs compute capability 7.5+"),
        }.get(precision)
        if need is not None and cc < need[0]:
            return f"{need[1]}; this device is {cc[0]}.{cc[1]}"
        return None

    def fp8_dtype(self) -> torch.dtype:
        if self.hip() and getattr(self.props(), "gcnArchName", "").startswith("gfx942"):
            return torch.float8_e4m3fnuz  # MI300 implements the fnuz variant
        return torch.float8_e4m3fn

    def dist_backend(self) -> tuple[str, str]:
        from gpubench.errors import BackendUnavailable

        if not torch.distributed.is_nccl_available():
            raise BackendUnavailable(
                "this torch build has no NCCL/RCCL: run the GPUs with --device cpu (gloo) or "
                "install a CUDA/ROCm build of torch"
            )
        return "nccl", "rccl" if self.hip() else "nccl"  # PyTorch calls RCCL "nccl" too

    def dist_init_kwargs(self) -> dict[str, Any]:
        return {"device_id": self.torch}
