"""Spec of `memory_stride` (workload: gpubench.benchmarks.memory_stride): read bandwidth at strides and a gather."""

from __future__ import annotations

from gpubench.benchmarks.spec import BenchmarkSpec, Headline, Param
from gpubench.records import ParamValue
from gpubench.schema import cols

DTYPES = ("fp32", "bf16")
ACCESS = ("stride", "gather")


def normalize(params: dict[str, ParamValue]) -> dict[str, ParamValue]:
    access = params["access"]
    return {
        "dtype": params["dtype"],
        "access": access,
        "stride": int(params.get("stride") or 1) if access == "stride" else 0,
        "size_bytes": int(params.get("size_bytes") or 0),
    }


SPEC = BenchmarkSpec(
    name="memory_stride",
    version=1,
    factory="gpubench.benchmarks.memory_stride:memory_stride",
    description="Read bandwidth beyond the last-level cache at element strides and a random gather; "
    "GB/s of bytes requested",
    params={
        "dtype": Param(str, choices=DTYPES, help="element type"),
        "access": Param(str, choices=ACCESS, help="stride: every stride-th element; gather: random elements"),
        "stride": Param(int, default=1, minimum=1, help="elements between two reads (access = stride)"),
        "size_bytes": Param(int, default=0, minimum=0, help="buffer bytes (0 = beyond the last-level cache)"),
    },
    normalize=normalize,
    columns=cols(
        ("buffer_bytes", "int", "bytes of the buffer read"),
        ("index_bytes", "int", "bytes of the gather's int32 indices (read, not counted as requested)"),
        ("elements_read", "int", "elements one step reads"),
    ),
    headline=Headline(label="{access} read bandwidth ({dtype})", group_by=("dtype", "access", "stride")),
    section="topics.stride",
)
