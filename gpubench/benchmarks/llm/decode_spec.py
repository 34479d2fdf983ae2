"""Spec of `llm_decode` (workload: gpubench.benchmarks.llm.decode): one token per sequence per step."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gpubench.benchmarks.llm import workloads as W
from gpubench.benchmarks.llm.presets import PRECISIONS, PRESET_NAMES, validate
from gpubench.benchmarks.spec import BenchmarkSpec, Headline, Param, WorkloadRef, number
from gpubench.records import ParamValue
from gpubench.schema import cols

PARAMS = {
    "preset": Param(str, choices=PRESET_NAMES, help="decoder shapes: " + ", ".join(PRESET_NAMES)),
    "precision": Param(str, choices=PRECISIONS, help="bf16, fp16, fp32; int8 / fp8 weight quantization"),
    "batch": Param(int, default=1, help="sequences decoded together"),
    "context": Param(int, default=1024, minimum=0, help="tokens already in each sequence's cache (C); input length"),
    "output": Param(int, default=0, minimum=0, help="serving scenario: tokens generated (cache at C + O/2)"),
    "layers": Param(int, default=0, minimum=0, help="run only the first N layers (0 = all)"),
    "compile": Param(bool, default=False, help="torch.compile the step (CUDA graphs on GPUs)"),
}


def normalize(params: dict[str, ParamValue]) -> dict[str, ParamValue]:
    validate(params, tokens_keys=("context", "output"))
    return {k: params[k] for k in PARAMS}


def workload(p: Mapping[str, Any]) -> WorkloadRef:
    """`llm_decode/<preset>/<precision>`; per token: FLOPs and bytes read (weights once per step, shared by the
    batch, plus each sequence's KV cache) at the row's batch and cache length."""
    run, _, _ = W.shape(p)
    batch = int(p.get("batch") or 1)
    cached = W.cached_tokens(int(p.get("context") or 0), int(p.get("output") or 0))
    flops, moved = run.decode_work(batch, cached, *W.bytes_per(str(p["precision"])))
    return W.ref("llm_decode", "llm_decode", p, flops=flops, moved=moved, items=float(batch))


def derive(raw: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
    """What one sequence (one user) sees: tokens/s and ms per generated token (TPOT); bandwidth achieved."""
    out: dict[str, Any] = {}
    median = number(raw, "median_s")
    if median > 0:
        out["tokens_per_s_per_seq"] = 1.0 / median
        out["ms_per_token"] = 1e3 * median
    return out


SPEC = BenchmarkSpec(
    name="llm_decode",
    version=1,
    factory="gpubench.benchmarks.llm.decode:llm_decode",
    description="LLM decode: B sequences, one token each per step, static KV cache of C tokens; tokens/s",
    params=PARAMS,
    normalize=normalize,
    tags=("llm", "inference"),
    columns=W.SERVING_COLUMNS
    + cols(
        ("cached_tokens", "int", "tokens in each sequence's cache during the timed steps (C + O/2)"),
        ("tokens_per_s_per_seq", "float", "tokens/s one sequence (one user) sees: 1 / median step time"),
        ("ms_per_token", "float", "time per output token (TPOT), ms"),
    ),
    headline=Headline(label="decode {workload}", group_by=("preset", "precision", "layers", "batch")),
    workload=workload,
    defines=("preset", "precision", "layers"),
    derive_fn=derive,
    section="llm",
)
