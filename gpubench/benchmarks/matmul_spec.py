"""Spec of `matmul` (workload: gpubench.benchmarks.matmul): dense GEMM per precision, 2*M*N*K per step."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gpubench.benchmarks.spec import BenchmarkSpec, Headline, Param, WorkloadRef
from gpubench.precisions import ELEMENT_BYTES, GEMM_DTYPES
from gpubench.records import ParamValue
from gpubench.schema import cols

DTYPES = GEMM_DTYPES


def normalize(params: dict[str, ParamValue]) -> dict[str, ParamValue]:
    """n and k default to m, so `m = [2048, 4096]` alone means squares."""
    m = params["m"]
    return {"dtype": params["dtype"], "m": m, "n": params.get("n") or m, "k": params.get("k") or m}


def workload(p: Mapping[str, Any]) -> WorkloadRef:
    """`matmul/<dtype>`: GEMM throughput in a precision; the shape is how it is measured (the headline keeps the
    best shape), not what defines it. Bytes per FLOP: A, B and C once each over 2*M*N*K."""
    dtype, m = str(p["dtype"]), int(p.get("m") or 0)
    n, k = int(p.get("n") or m), int(p.get("k") or m)
    elem = ELEMENT_BYTES[dtype]
    out = 4 if dtype == "int8" else 2 if dtype == "fp8" else elem  # int32 / bf16 outputs
    flops = 2.0 * m * n * k
    return WorkloadRef(
        key=f"matmul/{dtype}",
        base=f"matmul/{dtype}",
        reference=True,
        label=f"{dtype} matrix multiply",
        family="matmul",
        precision=dtype,
        item="flop",
        flops_per_item=1.0,
        bytes_per_item=(elem * (m * k + k * n) + out * m * n) / flops if flops else None,
        peak_key=dtype,
        items_per_step=flops or None,
        benchmark="matmul",
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
)
