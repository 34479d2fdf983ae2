"""The benchmark catalogue: one line per benchmark naming its torch-free spec module (which defines `SPEC`).

Adding a benchmark: its spec file (`<name>_spec.py`, a `BenchmarkSpec`), its workload file (the torch factory
the spec names), one line here, and a line in a suite. Everything torch-free asks the specs through this
module: `spec(name)`, `all_specs()`, `workload_of_row(benchmark, params)`, `by_role(role)`, `derive_row(...)`.
Importing it imports no torch; `BenchmarkSpec.load_factory()` does, when a case runs.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterable, Mapping
from typing import Any

from gpubench.benchmarks.spec import BenchmarkSpec, WorkloadRef, number
from gpubench.schema import ROW_COLUMNS, TELEMETRY_COLUMNS, Column

SPEC_MODULES: dict[str, str] = {
    "matmul": "gpubench.benchmarks.matmul_spec",
    "memory": "gpubench.benchmarks.memory_spec",
    "train": "gpubench.benchmarks.models.train_spec",
    "infer": "gpubench.benchmarks.models.infer_spec",
    "max_batch": "gpubench.benchmarks.models.max_batch_spec",
    "collective": "gpubench.benchmarks.collective_spec",
    "ddp_train": "gpubench.benchmarks.ddp_train_spec",
    "memory_stride": "gpubench.benchmarks.memory_stride_spec",
    "overlap": "gpubench.benchmarks.overlap_spec",
    "input_pipeline": "gpubench.benchmarks.input_pipeline_spec",
    "pipeline": "gpubench.benchmarks.pipeline_spec",
    "sustained": "gpubench.benchmarks.sustained_spec",
    "llm_prefill": "gpubench.benchmarks.llm.prefill_spec",
    "llm_decode": "gpubench.benchmarks.llm.decode_spec",
    "llm_capacity": "gpubench.benchmarks.llm.capacity_spec",
    "attention": "gpubench.benchmarks.llm.attention_spec",
    "llm_train": "gpubench.benchmarks.llm.train_spec",
}

NAMES = tuple(SPEC_MODULES)


@functools.cache
def spec(name: str) -> BenchmarkSpec:
    """The spec of a benchmark. Unknown name -> KeyError."""
    if name not in SPEC_MODULES:
        raise KeyError(f"unknown benchmark {name!r}; known: {', '.join(NAMES)}")
    found = importlib.import_module(SPEC_MODULES[name]).SPEC
    if found.name != name:
        raise ValueError(f"{SPEC_MODULES[name]} declares {found.name!r}, not {name!r}")
    return found


def find(name: Any) -> BenchmarkSpec | None:
    """The spec of `name`, or None when it names no benchmark (published figures, fakes in tests)."""
    return spec(name) if isinstance(name, str) and name in SPEC_MODULES else None


@functools.cache  # asked a million times per report by the model's roles: build the tuple once
def all_specs() -> tuple[BenchmarkSpec, ...]:
    """Every benchmark's spec, in catalogue order."""
    return tuple(spec(name) for name in NAMES)


def workload_of_row(benchmark: Any, params: Mapping[str, Any]) -> WorkloadRef | None:
    """The workload a result row measures (its benchmark's `identify`), or None: unknown benchmark, a benchmark
    that declares no workload (collective, ddp_train, max_batch ...), or a row without the defining params."""
    s = find(benchmark)
    return s.identify(params) if s is not None else None


def by_role(role: str) -> tuple[BenchmarkSpec, str] | None:
    """(spec, workload key template) of the benchmark that plays `role` ("compute_anchor", "memory_anchor")."""
    for s in all_specs():
        if role in s.roles:
            return s, s.roles[role]
    return None


def declared_columns() -> tuple[Column, ...]:
    """Every column a row may carry: the common ones (gpubench.schema), telemetry aggregates and each
    benchmark's parameters and own columns (a name two benchmarks share appears once per benchmark)."""
    return ROW_COLUMNS + TELEMETRY_COLUMNS + tuple(c for s in all_specs() for c in s.all_columns)


# --- derivations ----------------------------------------------------------------------------------------


def run_context(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Figures of one run that derivations of its rows need: `copy_bandwidth_gbps`, the memory anchor's
    throughput (its ok row with the largest buffer, beyond the caches; GB/s counting read + write)."""
    anchor = by_role("memory_anchor")
    if anchor is None:
        return {}
    mem, key = anchor
    copies = [
        r
        for r in rows
        if r.get("benchmark") == mem.name
        and r.get("status") == "ok"
        and number(r, "throughput") > 0
        and getattr(mem.identify(r), "key", None) == key
    ]
    if not copies:
        return {}
    best = max(copies, key=lambda r: number(r, "size_bytes") if number(r, "size_bytes") > 0 else 0.0)
    return {"copy_bandwidth_gbps": number(best, "throughput")}


def eager_twin_id(case_id: str) -> str | None:
    """The case id of a compiled case's eager twin (compile=true -> compile=false), None if not compiled."""
    return case_id.replace("compile=true", "compile=false") if "compile=true" in case_id else None


def common_derive(raw: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
    """Derived columns any benchmark's row may get from raw values: `achieved_gbps` (bytes one step needs over
    the median time) and its share of the run's copy bandwidth; `speedup_vs_eager` when the context carries the
    eager twin's median (`eager_median_s`)."""
    out: dict[str, Any] = {}
    moved, median = number(raw, "bytes_per_step"), number(raw, "median_s")
    if moved > 0 and median > 0:
        out["achieved_gbps"] = moved / median / 1e9
        copy = number(context, "copy_bandwidth_gbps")
        if copy > 0:
            out["copy_bandwidth_gbps"] = copy
            out["pct_of_copy_bw"] = 100.0 * out["achieved_gbps"] / copy
    eager = number(context, "eager_median_s")
    if eager > 0 and median > 0:
        out["speedup_vs_eager"] = eager / median
    return out


def derive_row(raw: Mapping[str, Any], context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every derived column of one raw row: the common ones and its benchmark's own (`BenchmarkSpec.derive`)."""
    ctx = context or {}
    out = common_derive(raw, ctx)
    s = find(raw.get("benchmark"))
    if s is not None:
        out.update(s.derive(raw, ctx))
    return out


def derive_rows(rows: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Derived columns of each row of one run (ok rows only), in order: `derive_row` with the run's context and
    each compiled row's eager twin."""
    base = run_context(rows)
    eager = {r.get("case_id"): r for r in rows if r.get("compile") in (False,) and r.get("status") == "ok"}
    out = []
    for r in rows:
        if r.get("status") != "ok":
            out.append({})
            continue
        ctx = dict(base)
        twin = eager.get(eager_twin_id(str(r.get("case_id") or "")))
        if twin is not None:
            ctx["eager_median_s"] = twin.get("median_s")
        out.append(derive_row(r, ctx))
    return out
