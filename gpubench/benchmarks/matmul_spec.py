"""Spec of `matmul` (workload: gpubench.benchmarks.matmul): dense GEMM per precision, 2*M*N*K per step."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gpubench.benchmarks.spec import BenchmarkSpec, Headline, Param, WorkloadRef, word
from gpubench.precisions import ELEMENT_BYTES, GEMM_DTYPES
from gpubench.records import ParamValue
from gpubench.schema import cols

DTYPES = GEMM_DTYPES


def normalize(params: dict[str, ParamValue]) -> dict[str, ParamValue]:
    """n and k default to m, so `m = [2048, 4096]` alone means squares."""
    m = params["m"]
    return {"dtype": params["dtype"], "m": m, "n": params.get("n") or m, "k": params.get("k") or m}


PLATEAU_FLOPS = 2.0 * 2048**3
"""Fewest FLOPs in one product for it to be the workload `matmul/<dtype>` (what MAMF and the published GEMM
figures measure: a large GPU at its best shapes). Below it a GPU's GEMM has not reached its plateau: on a
GPU that does ~1,000 TFLOP/s, 2 * 2048^3 FLOPs take ~17 us, several times a kernel launch and PyTorch's
dispatch of one op (a few us each), and a 2048 x 2048 output gives 256 output tiles of 128 x 128, about two
waves on a 132-SM H100; a 256^3 product is 4 tiles and ~0.03 us of work, so launch overhead and idle units,
not the matrix units, set its speed."""

PLATEAU_INTENSITY = 600.0
"""Fewest FLOPs per element of A, B and C (each moved once) for a product to be bound by the matrix units
rather than memory on a large GPU: the datasheet ridge point, H100 SXM 989 TFLOP/s bf16 over 3.35 TB/s = 295
FLOP per byte = 590 per 2-byte element (and about the same in fp8 and TF32). A thin product (16 x 65536 x
65536) has the FLOPs but reads its operands for ~32 FLOPs per element: it measures memory, not matmul."""


def dims(p: Mapping[str, Any]) -> tuple[int, int, int]:
    """(m, n, k) of a row; n and k default to m."""
    m = int(p.get("m") or 0)
    return m, int(p.get("n") or m), int(p.get("k") or m)


def shape_text(m: int, n: int, k: int) -> str:
    """256³ for a square, 128×256×256 (m×n×k) otherwise."""
    return f"{m}³" if m == n == k else f"{m}×{n}×{k}"


def at_plateau(m: int, n: int, k: int) -> bool:
    """Whether a product is large enough to stand for the precision's GEMM throughput (PLATEAU_FLOPS and
    PLATEAU_INTENSITY): the size a GPU's published best-shape figures are comparable with."""
    flops = 2.0 * m * n * k
    elements = m * k + k * n + m * n
    return flops >= PLATEAU_FLOPS and elements > 0 and flops / elements >= PLATEAU_INTENSITY


def workload(p: Mapping[str, Any]) -> WorkloadRef:
    """`matmul/<dtype>`: GEMM throughput in a precision, measured on a product large enough for a GPU's GEMM
    to reach its plateau (`at_plateau`; the headline keeps the best of those shapes). A smaller product is
    its own workload, `matmul[256³]/<dtype>` (reference False), compared only with estimates of the same
    shape: a 256³ product on a CPU is no measure of what a GPU does at its best shapes. Bytes per FLOP: A, B
    and C once each over 2*M*N*K."""
    dtype = str(p["dtype"])
    m, n, k = dims(p)
    elem = ELEMENT_BYTES[dtype]
    out = 4 if dtype == "int8" else 2 if dtype == "fp8" else elem  # int32 / bf16 outputs
    flops = 2.0 * m * n * k
    base = f"matmul/{dtype}"
    reference = m <= 0 or at_plateau(m, n, k)  # a row without sizes (hand-made, published) names the precision
    shape = shape_text(m, n, k)
    return WorkloadRef(
        key=base if reference else f"matmul[{shape}]/{dtype}",
        base=base,
        reference=reference,
        label=f"{dtype} matrix multiply" if reference else f"{dtype} matrix multiply, {shape} (a small size)",
        family="matmul",
        precision=dtype,
        item="flop",
        flops_per_item=1.0,
        bytes_per_item=(elem * (m * k + k * n) + out * m * n) / flops if flops else None,
        peak_key=dtype,
        items_per_step=flops or None,
        benchmark="matmul",
        words=(word("matmul", dtype=dtype),)
        if reference
        else (word("matmul_small", dtype=dtype, shape=shape, square=m == n == k),),
    )


SPEC = BenchmarkSpec(
    name="matmul",
    version=1,
    factory="gpubench.benchmarks.matmul:matmul",
    description="Dense GEMM C = A @ B per precision; TFLOP/s (TOP/s for int8) from 2*M*N*K over the median time",
    params={
        "dtype": Param(str, choices=DTYPES, help="precision; tf32 = fp32 inputs on TF32 tensor cores"),
        "m": Param(int, minimum=1, help="rows of A and C"),
        "n": Param(int, default=0, minimum=0, help="columns of B and C (default: m)"),
        "k": Param(int, default=0, minimum=0, help="inner dimension (default: m)"),
    },
    normalize=normalize,
    columns=cols(
        ("fp8_format", "str", "torch fp8 dtype used (fp8 cases)"),
        ("emulated", "bool", "no hardware for this precision: torch ran it in software"),
        ("emulation", "str", "how the precision was emulated"),
    ),
    headline=Headline(label="matmul {dtype}", group_by=("dtype",)),
    workload=workload,
    defines=("dtype",),
    peak="peak.{dtype}",
    roles={"compute_anchor": "matmul/{precision}"},
    section="matmul",
)
