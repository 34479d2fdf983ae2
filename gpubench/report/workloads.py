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


__all__ = ["HeadlineView", "headline_of", "params_of", "spec_of", "workload_ref"]
