"""Overlap of transfer and compute: a pinned host-to-device copy on its own stream while a GEMM runs.

A GPU has copy engines beside its compute units: a copy from page-locked (pinned) host memory issued on a second
stream proceeds while kernels run, so a training loop can load the next batch during this one's compute. Steps
alternate between the two orders, and the runner times each one:

- serial: the copy, then the GEMM, on the current stream;
- overlapped: the copy on a side stream and the GEMM on the current stream at once; the side stream first waits
  for the current one (so the copy starts after the runner's start event) and the current stream then waits
  for the side one (so the runner's end event encloses both).

The row carries both median times and overlap_fraction = 1 - overlapped / serial (0: nothing hidden; the most
possible is min(copy, GEMM) / serial). A no-op `reset` keeps every step timed on its own (the runner groups
very short steps otherwise), so the alternation lines up with the raw times. The CPU has no separate copy
engine: the same cores would copy and compute, and the benchmark is skipped there.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from gpubench import devices, stats
from gpubench.benchmarks.matmul import matmul
from gpubench.errors import Unsupported
from gpubench.records import Case, CheckResult, Work, Workload

MODES = ("serial", "overlapped")


def summarize_overlap(times_s: list[float], modes: list[str]) -> dict[str, Any]:
    """Median serial and overlapped step times and the overlap fraction; `modes[i]` is step i's order
    (the last len(times_s) steps run are the timed ones)."""
    timed = modes[-len(times_s) :] if times_s else []
    serial = [t for t, m in zip(times_s, timed, strict=True) if m == "serial"]
    overlapped = [t for t, m in zip(times_s, timed, strict=True) if m == "overlapped"]
    s = stats.percentile(serial, 50) if serial else math.nan
    o = stats.percentile(overlapped, 50) if overlapped else math.nan
    return {
        "serial_s": s,
        "overlapped_s": o,
        "overlap_fraction": 1.0 - o / s if s > 0 else math.nan,
        "serial_steps": len(serial),
        "overlapped_steps": len(overlapped),
    }


def overlap(case: Case, device: torch.device) -> Workload:
    dev = devices.get(device)
    if not dev.has_streams or dev.is_host:  # needs streams and a copy engine
        raise Unsupported(f"no separate copy engine: on the {dev.title} the same units would copy and compute")
    size, m = int(case.param("size_bytes")), int(case.param("m"))
    gemm = matmul(Case.of("matmul", {"dtype": case.param("dtype"), "m": m, "n": m, "k": m}), device)
    gen = torch.Generator().manual_seed(size)
    host = torch.empty(size // 8, dtype=torch.int64, pin_memory=True)
    host.random_(generator=gen)
    dst = torch.empty_like(host, device=device)
    side = dev.new_stream()
    modes: list[str] = []

    def step() -> None:
        current = dev.current_stream()  # the stream the runner's events are on
        if len(modes) % 2 == 0:
            modes.append("serial")
            dst.copy_(host, non_blocking=True)
            gemm.step()
            return
        modes.append("overlapped")
        side.wait_stream(current)
        with dev.on_stream(side):
            dst.copy_(host, non_blocking=True)
        gemm.step()
        current.wait_stream(side)  # join: the end event waits for the copy too

    def check() -> CheckResult:
        dev.synchronize()
        differ = int((dst.cpu() != host).sum())
        if differ:
            return CheckResult(float(differ), 0.0, f"{differ} of {host.numel()} copied words differ")
        assert gemm.check is not None
        return gemm.check()

    def close() -> None:
        nonlocal host, dst
        del host, dst
        if gemm.close is not None:
            gemm.close()

    gemm_flops = 2.0 * m**3
    return Workload(
        step=step,
        # One step is one copy and one GEMM; throughput counts the copy's bytes, the GEMM is on the row.
        work=Work(float(size), "byte"),
        check=check,
        reset=lambda: None,
        flags=gemm.flags,
        info={"gemm_flops": gemm_flops, "copy_bytes": size},
        close=close,
        summarize=lambda times, telemetry, start_ns, end_ns: summarize_overlap(times, modes),
    )
