"""Access stride: read bandwidth of a buffer beyond the last-level cache, every `stride`-th element, or a gather.

The article's lesson on memory coalescing: memory moves in lines (64 bytes on a CPU, 32-byte sectors and
128-byte lines on a GPU). Neighbouring threads that read neighbouring elements use every byte of each line;
a stride of s elements uses 1/s of it until one element per line is left, and a random gather also pays a
separate trip per element. Each step is a read-only reduction (a sum) over the strided view, so nothing is
written; the work is the bytes *requested* (elements read x element size), so bandwidth falls with the
stride although the memory system moves whole lines. The gather reads `buffer / 16` random elements (about
one per 64-byte line) through `embedding_bag(mode="sum")`, which gathers and sums in one kernel; its int32
indices are read contiguously too (`index_bytes` on the row) but not counted as requested data.
"""

from __future__ import annotations

import torch

from gpubench import devices
from gpubench.records import Case, CheckResult, Work, Workload

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
# Relative error of the sum against float64: fp32 accumulates in fp32 (pairwise), bf16 returns a bf16 sum.
TOLERANCE = {"fp32": 1e-4, "bf16": 1e-2}
GATHER_EVERY = 16  # the gather reads buffer elements / 16 at random


def beyond_cache_bytes(device: torch.device) -> int:
    """Buffer size that no cache holds: twice what matmul flushes (4x the CPU's LLC, 8x a GPU's L2)."""
    return 2 * devices.get(device).flush_bytes()


def memory_stride(case: Case, device: torch.device) -> Workload:
    dtype_name, access = case.param("dtype"), case.param("access")
    dtype = DTYPES[dtype_name]
    size = int(case.param("size_bytes")) or beyond_cache_bytes(device)
    elem = torch.empty((), dtype=dtype).element_size()
    n = size // elem
    gen = torch.Generator().manual_seed(n + 31)
    # Positive values: the sum stays far from zero, so its relative error is a fair check.
    buf = (torch.rand(n, generator=gen) + 0.5).to(device=device, dtype=dtype)
    info: dict[str, object] = {"buffer_bytes": n * elem}
    if access == "stride":
        stride = int(case.param("stride"))
        view = buf[::stride]
        count = view.numel()
        step = lambda: view.sum()  # noqa: E731 - a read-only reduction over the strided view

        def reference() -> float:
            return float(view.double().sum())
    else:
        count = max(1, n // GATHER_EVERY)
        idx = torch.randint(0, n, (count,), generator=gen, dtype=torch.int32).to(device)
        table = buf.view(n, 1)
        offsets = torch.zeros(1, dtype=torch.int32, device=device)
        step = lambda: torch.nn.functional.embedding_bag(idx, table, offsets, mode="sum")  # noqa: E731
        info["index_bytes"] = count * 4

        def reference() -> float:
            return float(buf.double()[idx.long()].sum())

    info["elements_read"] = count

    def check() -> CheckResult:
        got = float(workload.step().double().sum())  # what the timed step computes, vs float64
        ref = reference()
        err = abs(got - ref) / abs(ref)
        return CheckResult(err, TOLERANCE[dtype_name], f"relative error of the sum of {count} elements vs float64")

    def close() -> None:
        nonlocal buf
        del buf

    workload = Workload(step=step, work=Work(float(count * elem), "byte"), info=info, close=close)
    workload.check = check
    return workload
