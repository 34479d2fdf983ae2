"""Spec of `collective` (workload: gpubench.benchmarks.collective): collectives between ranks, nccl-tests' way."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gpubench.benchmarks.spec import BenchmarkSpec, Headline, Param, number
from gpubench.schema import cols

OPS = ("all_reduce", "all_gather", "reduce_scatter", "broadcast", "all_to_all", "sendrecv")
DTYPES = ("fp32", "bf16", "fp16")
# Algorithm bandwidth -> bus bandwidth, as nccl-tests reports it: busbw is comparable with the link's
# unidirectional speed whatever the op and rank count. n = ranks taking part.
BUSBW_OPS = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "broadcast", "reduce", "sendrecv")


def busbw_factor(op: str, world_size: int) -> float:
    """busbw / algbw for `op` over `world_size` ranks: all_reduce 2(n-1)/n; all_gather, reduce_scatter and
    all_to_all (n-1)/n; broadcast, reduce and send/recv 1."""
    n = int(world_size)
    if n < 1:
        raise ValueError(f"world size must be >= 1, got {world_size}")
    if op == "all_reduce":
        return 2.0 * (n - 1) / n
    if op in ("all_gather", "reduce_scatter", "all_to_all"):
        return (n - 1) / n
    if op in ("broadcast", "reduce", "sendrecv"):
        return 1.0
    raise ValueError(f"unknown collective {op!r}; expected one of {', '.join(BUSBW_OPS)}")


def derive(raw: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
    """algbw (the throughput: message bytes / the slowest rank's median time) and busbw = algbw x factor."""
    throughput, factor = number(raw, "throughput"), number(raw, "busbw_factor")
    if throughput != throughput or factor != factor:  # NaN: a rank row, or no throughput
        return {}
    return {"algbw_gbps": throughput, "busbw_gbps": throughput * factor}


SPEC = BenchmarkSpec(
    name="collective",
    version=1,
    factory="gpubench.benchmarks.collective:collective",
    description="Collectives between ranks (nccl-tests method): algbw = bytes / slowest rank's time; busbw column",
    params={
        "op": Param(str, choices=OPS, help="all_reduce, all_gather, reduce_scatter, broadcast, all_to_all, sendrecv"),
        "size_bytes": Param(int, minimum=1, help="message size in bytes (nccl-tests' size: the whole buffer)"),
        "dtype": Param(str, default="fp32", choices=DTYPES, help="element type"),
    },
    tags=("distributed",),
    columns=cols(
        ("msg_bytes", "int", "bytes actually moved (whole elements per rank)"),
        ("busbw_factor", "float", "nccl-tests bus-bandwidth factor"),
        ("elements_per_rank", "int", "elements in one rank's chunk"),
        ("algbw_gbps", "float", "algorithm bandwidth: message bytes / the slowest rank's median time"),
        ("busbw_gbps", "float", "bus bandwidth: algbw_gbps x busbw_factor (comparable with the link speed)"),
    ),
    headline=Headline(metric="busbw_gbps", label="{op} bus bandwidth", unit="GB/s", group_by=("op",)),
    derive_fn=derive,
    needs_context=True,
    section="collectives",
)
