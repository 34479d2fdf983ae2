"""Spec of `memory` (workload: gpubench.benchmarks.memory): copy bandwidth, device copies and host links."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gpubench.benchmarks.spec import BenchmarkSpec, Headline, Param, WorkloadRef, word
from gpubench.records import ParamValue
from gpubench.schema import cols

KINDS = ("d2d", "h2d", "d2h")


def normalize(params: dict[str, ParamValue]) -> dict[str, ParamValue]:
    kind = params["kind"]
    size = int(params["size_bytes"])
    size -= size % 8  # whole int64 elements
    # `pinned` only means something for transfers that touch host memory through the link.
    pinned = bool(params.get("pinned", False)) if kind in ("h2d", "d2h") else False
    return {"kind": kind, "size_bytes": size, "pinned": pinned}


def workload(p: Mapping[str, Any]) -> WorkloadRef | None:
    """`memory/d2d`: device-memory copy bandwidth, bytes read + written. Host links are no workload."""
    if p.get("kind") != "d2d":
        return None
    size = p.get("size_bytes")
    return WorkloadRef(
        key="memory/d2d",
        base="memory/d2d",
        reference=True,
        label="device memory copy",
        family="memory",
        precision="",
        item="byte",
        flops_per_item=0.0,
        bytes_per_item=1.0,
        items_per_step=2.0 * float(size) if size else None,
        benchmark="memory",
        words=(word("memory_copy"),),
    )


SPEC = BenchmarkSpec(
    name="memory",
    version=1,
    factory="gpubench.benchmarks.memory:memory",
    description="Copy bandwidth: d2d counts bytes read + written; h2d/d2h count bytes over the link, pinned or pageable",
    params={
        "kind": Param(str, choices=KINDS, help="d2d (device copy; host memory on the CPU), h2d, d2h"),
        "size_bytes": Param(int, minimum=4096, help="bytes per buffer"),
        "pinned": Param(bool, default=False, help="page-locked host buffer (h2d/d2h only)"),
    },
    normalize=normalize,
    columns=cols(("method", "str", "how the copy is done")),
    headline=Headline(label="{kind} bandwidth", group_by=("kind",)),
    workload=workload,
    defines=("kind",),
    peak="memory_bandwidth_gbps",
    peak_when={"kind": "d2d"},
    roles={"memory_anchor": "memory/d2d"},
    section="memory",
)
