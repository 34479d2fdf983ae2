"""What a result row is, asked of its benchmark's spec (gpubench.benchmarks): its headline (which column,
which direction is better, which rows compete) and its workload identity (the key the model and the
advisor join on, whether the row's sizes ARE that workload or a toy shape of it, a label for people).

The report never names a benchmark: it asks here, and here asks the spec.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class HeadlineView:
    """The part of a spec's headline the report reads (a benchmark without a spec gets the defaults)."""

    metric: str = "throughput"
    label: str = "{benchmark}"
    better: str = "higher"
    group_by: tuple[str, ...] = ()
    pick: str = "best"
    unit: str = ""
    unit_column: str = "throughput_unit"
    where: dict[str, Any] = field(default_factory=dict)


_DEFAULT = HeadlineView()


def spec_of(benchmark: str) -> Any:
    """The benchmark's spec, or None for a benchmark this version does not know (an old or newer run)."""
    return None


@lru_cache(maxsize=256)
def headline_of(benchmark: str) -> HeadlineView:
    """The benchmark's headline (defaults: best throughput)."""
    spec = spec_of(benchmark)
    head = getattr(spec, "headline", None)
    if head is None:
        return _DEFAULT
    return HeadlineView(
        metric=head.metric,
        label=head.label,
        better=head.better,
        group_by=tuple(head.group_by),
        pick=head.pick,
        unit=head.unit,
        unit_column=head.unit_column,
        where=dict(head.where),
    )


def params_of(row: dict[str, Any]) -> dict[str, Any]:
    """A row's parameters (its params_json, else its columns)."""
    try:
        params = json.loads(row.get("params_json") or "{}")
    except (TypeError, ValueError):
        params = {}
    return params if isinstance(params, dict) and params else dict(row)


def workload_ref(row: dict[str, Any]) -> Any:
    """The WorkloadRef of a result row (gpubench.benchmarks.workload_of_row), or None."""
    return None


BUYER_MIN_PARAMS = 1e6
"""A model below this many parameters is a toy (a 4,785-parameter char-RNN): no one buys a card for it."""


def buyer_workloads(ok: pd.DataFrame) -> list[tuple[str, str]]:
    """(workload key, label) of what a buyer of these runs' hardware cares about, in this order: full-size
    models measured (never a toy shape or a test-sized model), 16-bit matrix math (else fp32; never an
    emulated precision), memory bandwidth. Keys are those the model and the advisor take."""
    if ok.empty or "benchmark" not in ok:
        return []
    from gpubench.model import parse_workload, workload_column

    names = workload_column(ok)
    params = pd.to_numeric(ok["params_count"], errors="coerce") if "params_count" in ok else None
    toy_shape = pd.Series(False, index=ok.index)
    for col in ("layers", "width"):
        if col in ok:
            toy_shape |= pd.to_numeric(ok[col], errors="coerce").fillna(0) > 0
    emulated = ok["emulated"].map(lambda v: v is True) if "emulated" in ok else pd.Series(False, index=ok.index)
    models, matmul, memory = [], {}, []
    for name in dict.fromkeys(n for n in names if n):
        rows = names == name
        parsed = parse_workload(name)
        if parsed is None:
            continue
        if parsed.kind == "matmul":
            if not emulated[rows].any():
                matmul[parsed.precision] = name
        elif parsed.kind == "memory":
            memory.append(name)
        elif not toy_shape[rows].all() and (params is None or not (params[rows] < BUYER_MIN_PARAMS).all()):
            models.append(name)
    math16 = next((matmul[p] for p in ("bf16", "fp16", "fp32") if p in matmul), None)
    keys = [*sorted(models), *([math16] if math16 else []), *memory]
    return [(k, k) for k in keys]


__all__ = ["BUYER_MIN_PARAMS", "HeadlineView", "buyer_workloads", "headline_of", "params_of", "spec_of", "workload_ref"]
