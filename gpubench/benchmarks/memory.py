"""Memory bandwidth: device copies over a size sweep, and host <-> device transfers.

Conventions differ between tools (bandwidthTest counts a device copy as read + write, nvbandwidth once);
here a device copy counts bytes read + bytes written (unit "GB/s (read+write)"), and a host<->device
transfer counts the bytes that cross the link once (unit "GB/s").
"""

from __future__ import annotations

import ctypes
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch

from gpubench import devices
from gpubench.errors import Unsupported
from gpubench.records import Case, CheckResult, Work, Workload

ALIGN = 4096


def _random_bytes(n_bytes: int, device: torch.device, gen: torch.Generator, pinned: bool = False) -> torch.Tensor:
    """A uint8 view of random int64 words: never time copies of zeros or uninitialised memory."""
    words = torch.empty(n_bytes // 8, dtype=torch.int64, pin_memory=pinned)
    words.random_(generator=gen)
    return words.view(torch.uint8) if devices.get(device).is_host else words.to(device).view(torch.uint8)


class _ThreadedMemcpy:
    """Host copy split into one contiguous chunk per thread, each through libc memcpy.

    torch's CPU copy_ kernel uses ordinary stores, so every destination line is first read for ownership and
    the copy reaches only ~70% of what the memory system delivers; glibc's memcpy switches to non-temporal
    stores for large blocks, like STREAM built for bandwidth. ctypes releases the GIL during the call, so the
    threads copy in parallel.
    """

    def __init__(self, dst: torch.Tensor, src: torch.Tensor, threads: int) -> None:
        n = src.numel()
        threads = max(1, min(threads, n // ALIGN or 1))
        chunk = -(-n // threads)
        chunk += -chunk % ALIGN
        self.parts = [(dst.data_ptr() + lo, src.data_ptr() + lo, min(chunk, n - lo)) for lo in range(0, n, chunk)]
        self.pool = ThreadPoolExecutor(max_workers=len(self.parts), thread_name_prefix="gpubench-memcpy")

    def __call__(self) -> None:
        futures = [self.pool.submit(ctypes.memmove, d, s, size) for d, s, size in self.parts[1:]]
        d, s, size = self.parts[0]
        ctypes.memmove(d, s, size)  # the calling thread takes the first chunk
        for f in futures:
            f.result()

    def close(self) -> None:
        self.pool.shutdown(wait=True)


def memory(case: Case, device: torch.device) -> Workload:
    kind, size, pinned = case.param("kind"), case.param("size_bytes"), case.param("pinned")
    dev = devices.get(device)
    if kind != "d2d" and dev.is_host:
        raise Unsupported(f"{kind} measures a host<->GPU link; the CPU device has none")
    gen = torch.Generator().manual_seed(size)
    info: dict[str, Any] = {}
    close_extra = None
    if kind == "d2d":
        src = _random_bytes(size, device, gen)
        dst = torch.empty_like(src)
        if dev.is_host:
            copier = _ThreadedMemcpy(dst, src, torch.get_num_threads())
            step, close_extra = copier, copier.close
            info["method"] = f"libc memcpy x{len(copier.parts)} threads"
        else:
            step = lambda: dst.copy_(src)  # noqa: E731 - cudaMemcpyAsync device-to-device
            info["method"] = "torch copy_ (device memcpy)"
        work = Work(2.0 * size, "byte_rw")
    elif kind == "h2d":
        src = _random_bytes(size, torch.device("cpu"), gen, pinned=pinned)
        dst = torch.empty(size, dtype=torch.uint8, device=device)
        # Pageable copies are staged through a driver buffer and block the host; pinned ones are DMA.
        step = lambda: dst.copy_(src, non_blocking=pinned)  # noqa: E731
        work = Work(float(size), "byte")
        info["method"] = "torch copy_ " + ("pinned, non_blocking" if pinned else "pageable")
    else:
        src = _random_bytes(size, device, gen)
        dst = torch.empty(size, dtype=torch.uint8, pin_memory=pinned)
        step = lambda: dst.copy_(src, non_blocking=pinned)  # noqa: E731
        work = Work(float(size), "byte")
        info["method"] = "torch copy_ " + ("pinned, non_blocking" if pinned else "pageable")

    def check() -> CheckResult:
        dev.synchronize()
        got = dst.to(src.device) if dst.device != src.device else dst
        differ = int((got != src).sum())
        return CheckResult(float(differ), 0.0, f"{differ} of {size} bytes differ after the copy")

    def close() -> None:
        nonlocal src, dst
        if close_extra is not None:
            close_extra()
        del src, dst

    return Workload(step=step, work=work, check=check, info=info, close=close)
