"""Dense matrix multiply per precision: C = A @ B with 2*M*N*K FLOPs per step.

Method after stas00's mamf-finder: random inputs, one product per timed step, the L2 (or last-level
cache) flushed between steps so repeated products do not read operands from cache, and a float64
reference on a sample of rows so a device that computes wrong answers fast shows up as wrong.
"""

from __future__ import annotations

from typing import Any

import torch

from gpubench import devices
from gpubench.benchmarks.matmul_spec import DTYPES  # noqa: F401  (what the workload runs)
from gpubench.errors import Unsupported
from gpubench.records import Case, CheckResult, Work, Workload

# Relative error ||C - C_ref|| / ||C_ref|| allowed per precision, on sampled rows against float64.
# fp32 must stay well under what TF32 gives (~3e-4), so a TF32 flag leaking into an fp32 case is caught.
TOLERANCE = {
    "fp64": 1e-12,
    "fp32": 5e-5,
    "tf32": 3e-3,
    "fp16": 3e-3,
    "bf16": 1.5e-2,
    "fp8": 1.5e-2,  # operands already fp8 in the reference too; the error is the bf16 output rounding
    "int8": 0.0,  # int32 accumulation is exact
}

CHECK_ROWS = 32

# Largest product (FLOPs) timed in a precision the device only emulates (Device.emulation): a 2048^3 bf16 product
# takes about a minute on a 2-core AVX2 CPU, so a suite sized for bf16 hardware would run for hours. Larger
# cases are skipped with the reason; a suite lists smaller sizes for the fallback.
EMULATED_MAX_FLOP = 2.0 * 1024**3


def _operands(dtype: str, m: int, n: int, k: int, device: torch.device, gen: torch.Generator):
    """Random A (m x k) and B (k x n) in the case's dtype. Never zeros: they draw less power and run faster."""
    if dtype == "int8":
        a = torch.randint(-127, 128, (m, k), dtype=torch.int8, generator=gen).to(device)
        b = torch.randint(-127, 128, (k, n), dtype=torch.int8, generator=gen).to(device)
        return a, b
    a32 = torch.randn(m, k, generator=gen)
    b32 = torch.randn(k, n, generator=gen)
    if dtype == "fp8":
        f8 = devices.get(device).fp8_dtype()
        a = a32.to(device).to(f8)
        # _scaled_mm wants B column-major: allocate B^T (n x k) row-major and pass its transpose.
        b = b32.t().contiguous().to(device).to(f8).t()
        return a, b
    torch_dtype = {
        "fp64": torch.float64,
        "fp32": torch.float32,
        "tf32": torch.float32,
        "fp16": torch.float16,
        "bf16": torch.bfloat16,
    }[dtype]
    return a32.to(device=device, dtype=torch_dtype), b32.to(device=device, dtype=torch_dtype)


def _product(dtype: str, a: torch.Tensor, b: torch.Tensor, device: torch.device):
    """Return (step, out): `step()` computes A @ B into `out` without allocating."""
    m, n = a.shape[0], b.shape[1]
    if dtype == "int8":
        out = torch.empty(m, n, dtype=torch.int32, device=device)
        return (lambda: torch._int_mm(a, b, out=out)), out
    if dtype == "fp8":
        one = torch.ones((), dtype=torch.float32, device=device)
        out = torch.empty(m, n, dtype=torch.bfloat16, device=device)
        return (lambda: torch._scaled_mm(a, b, one, one, out_dtype=torch.bfloat16, out=out)), out
    out = torch.empty(m, n, dtype=a.dtype, device=device)
    return (lambda: torch.mm(a, b, out=out)), out


def matmul(case: Case, device: torch.device) -> Workload:
    dtype, m, n, k = case.param("dtype"), case.param("m"), case.param("n"), case.param("k")
    dev = devices.get(device)
    dev.require(dtype)
    emulated = dev.emulation(dtype)
    if emulated and 2.0 * m * n * k > EMULATED_MAX_FLOP:
        raise Unsupported(
            f"{emulated}: a {m}x{n}x{k} product would take minutes per step here; "
            f"sized for {dtype} hardware (emulated {dtype} runs up to {EMULATED_MAX_FLOP / 1e9:.1f} GFLOP per product)"
        )
    if dtype == "int8" and not dev.is_host and (m <= 16 or k % 8 or n % 8):
        raise Unsupported("torch._int_mm on GPUs needs m > 16 and k, n multiples of 8")
    gen = torch.Generator().manual_seed(1234 + m + 7 * n + 13 * k)
    a, b = _operands(dtype, m, n, k, device, gen)
    step, out = _product(dtype, a, b, device)
    flush = torch.empty(dev.flush_bytes() // 4, dtype=torch.float32, device=device)

    def reset() -> None:
        # Overwrite a buffer larger than the cache, or repeated products read A and B from it.
        flush.zero_()

    def check() -> CheckResult:
        rows = torch.randperm(m, generator=gen)[: min(CHECK_ROWS, m)].to(device)
        if dtype == "int8":
            # float64 holds every int8 dot product exactly (|sum| <= 127^2 * k << 2^53); CUDA has no int64 matmul.
            ref = a.index_select(0, rows).to(torch.float64) @ b.to(torch.float64)
            got = out.index_select(0, rows).to(torch.float64)
            wrong = int((got != ref).sum())
            return CheckResult(float(wrong), 0.0, f"{wrong} of {got.numel()} sampled int32 outputs differ")
        ref = a.index_select(0, rows).to(torch.float64) @ b.to(torch.float64)
        got = out.index_select(0, rows).to(torch.float64)
        err = float(torch.linalg.vector_norm(got - ref) / torch.linalg.vector_norm(ref))
        return CheckResult(err, TOLERANCE[dtype], f"relative error on {rows.numel()} sampled rows vs float64")

    def close() -> None:
        nonlocal a, b, out, flush
        del a, b, out, flush

    info: dict[str, Any] = {"tf32": dtype == "tf32", "flops_per_step": 2.0 * m * n * k}
    if dtype == "fp8":
        info["fp8_format"] = str(dev.fp8_dtype()).removeprefix("torch.")
    if emulated:
        # The figure says how fast the software fallback is, not what the precision's hardware does.
        info["emulated"] = True
        info["emulation"] = emulated
    return Workload(
        step=step,
        work=Work(2.0 * m * n * k, "op" if dtype == "int8" else "flop"),
        check=check,
        reset=reset,
        flags={"allow_tf32": dtype == "tf32"},
        info=info,
        close=close,
    )
