"""Spec of `llm_capacity` (workload: gpubench.benchmarks.llm.capacity): the largest batch x context that fits."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gpubench.benchmarks.llm import workloads as W
from gpubench.benchmarks.llm.presets import PRECISIONS, PRESET_NAMES, validate
from gpubench.benchmarks.spec import BenchmarkSpec, Headline, Param, WorkloadRef
from gpubench.records import ParamValue
from gpubench.schema import cols

PARAMS = {
    "preset": Param(str, choices=PRESET_NAMES, help="decoder shapes: " + ", ".join(PRESET_NAMES)),
    "precision": Param(str, choices=PRECISIONS, help="bf16, fp16, fp32; int8 / fp8 weight quantization"),
    "context": Param(int, default=8192, minimum=1, help="tokens per sequence (prompt + generated)"),
    "layers": Param(int, default=0, minimum=0, help="layers of the timed decode step (0 = all)"),
    "timed_batch": Param(int, default=64, minimum=1, help="largest batch the timed decode step runs"),
}


def normalize(params: dict[str, ParamValue]) -> dict[str, ParamValue]:
    validate(params, tokens_keys=("context",), batch_key="timed_batch")
    return {k: params[k] for k in PARAMS}


def workload(p: Mapping[str, Any]) -> WorkloadRef:
    """`llm_capacity/<preset>/<precision>`: the capacity search; the timed step is a decode step at the batch
    found (at most timed_batch), costed here at timed_batch."""
    run, _, _ = W.shape(p)
    batch, context = int(p.get("timed_batch") or 64), int(p.get("context") or 8192)
    flops, moved = run.decode_work(batch, max(0, context - 1), *W.bytes_per(str(p["precision"])))
    return W.ref("llm_capacity", "llm_capacity", p, flops=flops, moved=moved, items=float(batch))


SPEC = BenchmarkSpec(
    name="llm_capacity",
    version=1,
    factory="gpubench.benchmarks.llm.capacity:llm_capacity",
    description="LLM capacity: largest batch x context that fits (allocated on GPUs, computed on CPUs)",
    params=PARAMS,
    normalize=normalize,
    tags=("llm", "inference"),
    columns=W.SERVING_COLUMNS
    + cols(
        ("capacity_memory_bytes", "int", "device memory the capacity is computed or searched in"),
        ("max_batch_computed", "int", "largest batch the shapes' arithmetic allows"),
        ("max_context_b1", "int", "longest context one sequence can hold"),
        ("largest_preset_fitting", "str", "the largest published preset that serves one sequence at this context"),
        ("memory_needed_b1_bytes", "float", "bytes to serve one sequence of this context"),
        ("capacity_method", "str", "allocation (GPU) or computed (CPU)"),
        ("max_batch", "int", "largest batch of context-token sequences that fits"),
        ("max_tokens_cached", "int", "max_batch x context"),
    ),
    headline=Headline(
        metric="max_batch",
        label="capacity {preset} {precision}",
        unit="sequences",
        group_by=("preset", "precision", "context"),
    ),
    workload=workload,
    defines=("preset", "precision", "layers"),
    section="llm",
)
