"""The process group of one rank: which rank, which device, which backend. Started by torchrun.

NCCL on NVIDIA GPUs, RCCL on AMD GPUs (PyTorch calls both "nccl"), gloo on the CPU. Beside the benchmark's
group every rank also joins a gloo group for control messages (barriers that name a missing rank, rank 0's
clock, gathering rows), so control traffic never queues behind a benchmark's collectives on the GPU.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import socket
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist

from gpubench import devices
from gpubench.errors import BackendUnavailable, GpubenchError

_CURRENT: DistContext | None = None


@dataclass
class DistContext:
    rank: int
    world_size: int
    local_rank: int
    local_world_size: int
    node: str
    backend: str  # torch's name: "nccl" (also RCCL on ROCm), "gloo", "xccl", "xla"
    library: str  # what does the work: nccl, rccl or gloo
    device: torch.device
    timeout_s: float
    control: Any = None  # gloo ProcessGroup for control messages
    _subgroups: dict[int, Any] = field(default_factory=dict)

    def subgroup(self, ranks: int) -> Any:
        """The process group of ranks 0..ranks-1 (None = the whole world). Every rank must call this for the
        same `ranks` in the same order (torch creates groups collectively); groups are kept for the run."""
        if not 1 <= ranks <= self.world_size:
            raise ValueError(f"ranks must be in 1..{self.world_size}, got {ranks}")
        if ranks == self.world_size:
            return None
        if ranks not in self._subgroups:
            self._subgroups[ranks] = dist.new_group(list(range(ranks)), timeout=self.timeout, backend=self.backend)
        return self._subgroups[ranks]

    @property
    def timeout(self) -> datetime.timedelta:
        return datetime.timedelta(seconds=self.timeout_s)


def env_ranks(env: dict[str, str] | None = None) -> tuple[int, int, int, int]:
    """(rank, world size, local rank, local world size) from torchrun's environment."""
    env = dict(os.environ) if env is None else env
    try:
        rank, world = int(env["RANK"]), int(env["WORLD_SIZE"])
        local = int(env.get("LOCAL_RANK", rank))
        local_world = int(env.get("LOCAL_WORLD_SIZE", world))
    except (KeyError, ValueError):
        raise GpubenchError("not started by torchrun: RANK and WORLD_SIZE are not set") from None
    return rank, world, local, local_world


def rank_device(spec: str, local_rank: int) -> devices.Device:
    """This rank's device: device number LOCAL_RANK of the asked kind (`auto`: the first accelerator torch
    reaches, else the CPU); kinds without an index (the CPU, MPS) are shared by every rank of the node."""
    spec = (spec or "auto").strip().lower()
    if ":" in spec:
        raise GpubenchError(
            f"--device {spec!r} with --nproc: name a kind without an index (auto, cuda, cpu ...); "
            "rank r takes device LOCAL_RANK"
        )
    first = devices.resolve(spec)
    if not first.indexed:
        return first
    kind = type(first)
    count = kind.count()
    if local_rank >= count:
        raise BackendUnavailable(
            f"local rank {local_rank} on {socket.gethostname()} has no {kind.kind} device: torch "
            f"sees {count}; use --nproc {count} or fewer on this node"
        )
    return devices.get(kind(local_rank).torch)


def init_rank(device_spec: str = "auto", timeout_s: float = 600.0) -> DistContext:
    """Join the process group torchrun set up: pick the device and backend, create the control group.

    `timeout_s` bounds every wait on another rank: a rank that dies or hangs ends the run after at most that.
    """
    global _CURRENT
    rank, world, local, local_world = env_ranks()
    dev = rank_device(device_spec, local)
    dev.set_current()
    backend, library = dev.dist_backend()
    timeout = datetime.timedelta(seconds=timeout_s)
    if not dist.is_initialized():
        dist.init_process_group(backend, timeout=timeout, **dev.dist_init_kwargs())
    control = dist.new_group(backend="gloo", timeout=timeout)
    _CURRENT = DistContext(
        rank, world, local, local_world, socket.gethostname(), backend, library, dev.torch, float(timeout_s), control
    )
    return _CURRENT


def current() -> DistContext | None:
    """The context of this rank, or None outside a distributed run. Benchmarks ask for it."""
    return _CURRENT


def shutdown() -> None:
    """Leave the process group (best effort: after a lost rank, destroying it may fail)."""
    global _CURRENT
    _CURRENT = None
    if dist.is_initialized():
        with contextlib.suppress(Exception):  # after a lost rank this may fail; nothing left to save
            dist.destroy_process_group()
