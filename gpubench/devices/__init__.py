"""Accelerators as objects: one `Device` class per kind (gpubench.devices.base holds the interface).

A kind is one module here plus one line in DEVICE_MODULES. The rest of gpubench asks the device object
(`get(torch_device).synchronize()`, `.burst(...)`, `.unsupported("bf16")`, `.dist_backend()` ...) and never
tests `device.type`. Benchmark factories still receive a `torch.device` (what tensors need); `get()` turns it
into its Device.

Which kinds have run on real hardware: CPU (every test and suite run), CUDA on NVIDIA (an H200, through
scripts/gpu_check.sh). ROCm, MPS, XPU and XLA have run only against fakes of their torch modules
(tests/test_devices.py): their code follows the documented torch APIs but no such machine has run it yet.
"""

from __future__ import annotations

import functools
import importlib
import os
import platform
import re
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

from gpubench import __version__
from gpubench.devices.base import PRECISIONS, Device, DeviceInfo
from gpubench.devices.cpu import CpuDevice, llc_bytes
from gpubench.errors import BackendUnavailable, GpubenchError

# One line per kind, in the order `auto` prefers them (the CPU last). Each module defines one Device subclass.
DEVICE_MODULES = (
    "gpubench.devices.cuda",
    "gpubench.devices.xpu",
    "gpubench.devices.mps",
    "gpubench.devices.xla",
    "gpubench.devices.cpu",
)


@functools.cache
def kinds() -> dict[str, type[Device]]:
    """Every registered kind by name, in `auto`'s order of preference."""
    found: dict[str, type[Device]] = {}
    for name in DEVICE_MODULES:
        module = importlib.import_module(name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, Device)
                and value is not Device
                and value.__module__ == name
            ):
                found[value.kind] = value
    return found


_CACHE: dict[tuple[str, int | None], Device] = {}


def get(device: torch.device | Device | str) -> Device:
    """The Device object for a torch device (or a spelling like "cuda:1"); one object per device."""
    if isinstance(device, Device):
        return device
    device = torch.device(device)
    key = (device.type, device.index)
    if key not in _CACHE:
        for cls in kinds().values():
            if cls.torch_type == device.type:
                _CACHE[key] = cls(device.index)
                break
        else:
            raise GpubenchError(f"gpubench has no device kind for torch device type {device.type!r}")
    return _CACHE[key]


def _spellings() -> str:
    return ", ".join(["auto", *(f"{k}[:N]" if c.indexed else k for k, c in kinds().items())])


def resolve(spec: str = "auto") -> Device:
    """`auto` = the first accelerator torch reaches (CUDA/ROCm, XPU, MPS, XLA), else the CPU; or a kind by
    name with an optional index (`cuda:1`; ROCm devices are `cuda:N` in torch, `gpu`/`rocm` also work)."""
    spec = (spec or "auto").strip().lower()
    table = kinds()
    if spec == "auto":
        for cls in table.values():
            if cls.available():
                return get(cls(0).torch)
        return get("cpu")  # pragma: no cover - the CPU is always available
    m = re.fullmatch(r"([a-z]+)(?::(\d+))?", spec)
    names = {alias: cls for cls in table.values() for alias in (cls.kind, *cls.aliases)}
    cls = names.get(m.group(1)) if m else None
    if cls is None or (m.group(2) is not None and not cls.indexed):
        raise GpubenchError(f"unknown device {spec!r}; use {_spellings()}")
    if not cls.available():
        raise BackendUnavailable(f"device {spec!r} asked for, but torch sees no {cls.title} here")
    index = int(m.group(2) or 0)
    count = cls.count()
    if index >= count:
        raise GpubenchError(
            f"device {spec!r} does not exist: torch sees {count} {cls.kind} device(s), "
            f"{cls.kind}:0..{cls.kind}:{count - 1}"
        )
    return get(cls(index).torch)


def resolve_device(spec: str = "auto") -> torch.device:
    """The torch.device of `resolve(spec)`."""
    return resolve(spec).torch


def describe(device: torch.device | Device) -> dict[str, Any]:
    """run.json's description of one device (DeviceInfo.as_dict())."""
    return get(device).describe().as_dict()


def describe_devices() -> list[dict[str, Any]]:
    """Every device torch can use here, accelerators first, the CPU last."""
    found = []
    for cls in kinds().values():
        for i in range(cls.count() if cls.available() else 0):
            found.append(describe(cls(i).torch))
    return found


class StepTimer:
    """Times bursts of steps on one device the way its kind times them (events on GPUs, the host clock on the
    CPU, mark_step + wait_device_ops on XLA). Returns one time in seconds per step."""

    groups_steps = True  # a timed sample may hold several short steps (gpubench.distributed's DistTimer: no)

    def __init__(self, device: torch.device | Device, clock: Callable[[], int] = time.perf_counter_ns) -> None:
        self.device = get(device)
        self.clock = clock  # host-timed kinds only; tests pass a fake

    def burst(self, step: Callable[[], Any], n: int, reset: Callable[[], Any] | None = None) -> list[float]:
        return self.device.burst(step, n, reset, self.clock)


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
    from gpubench.devices.cuda import CudaDevice

    return {
        "gpubench": __version__,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "hip": CudaDevice.hip(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch_threads": torch.get_num_threads(),
        "env": {k: os.environ[k] for k in env_keys if k in os.environ},
    }


def collect_run_info(device: torch.device | Device) -> dict[str, Any]:
    """The environment of a run: host, device description, software versions."""
    return {"host": socket.gethostname(), "device": describe(device), "software": software_info()}


__all__ = [
    "DEVICE_MODULES",
    "PRECISIONS",
    "CpuDevice",
    "Device",
    "DeviceInfo",
    "StepTimer",
    "collect_run_info",
    "describe",
    "describe_devices",
    "get",
    "kinds",
    "llc_bytes",
    "precision_flags",
    "resolve",
    "resolve_device",
    "software_info",
    "synchronize",
]
