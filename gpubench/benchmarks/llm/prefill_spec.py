"""Spec of `llm_prefill` (workload: gpubench.benchmarks.llm.prefill): B prompts of P tokens in one forward."""

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
    "batch": Param(int, default=1, help="prompts per step"),
    "prompt": Param(int, default=512, minimum=1, help="tokens per prompt (P)"),
    "layers": Param(int, default=0, minimum=0, help="run only the first N layers (0 = all)"),
    "compile": Param(bool, default=False, help="torch.compile the forward (CUDA graphs on GPUs)"),
}


def normalize(params: dict[str, ParamValue]) -> dict[str, ParamValue]:
    validate(params, tokens_keys=("prompt",))
    return {k: params[k] for k in PARAMS}


def workload(p: Mapping[str, Any]) -> WorkloadRef:
    """`llm_prefill/<preset>/<precision>`; per prompt token at the row's batch and prompt length."""
    run, _, _ = W.shape(p)
    batch, prompt = int(p.get("batch") or 1), int(p.get("prompt") or 512)
    flops, moved = run.prefill_work(batch, prompt, *W.bytes_per(str(p["precision"])))
    return W.ref("llm_prefill", "llm_prefill", p, flops=flops, moved=moved, items=float(batch * prompt))


SPEC = BenchmarkSpec(
    name="llm_prefill",
    version=1,
    factory="gpubench.benchmarks.llm.prefill:llm_prefill",
    description="LLM prefill: B prompts of P tokens in one forward filling the KV cache; tokens/s, TTFT",
    params=PARAMS,
    normalize=normalize,
    tags=("llm", "inference"),
    columns=W.SERVING_COLUMNS + cols(("tokens_per_step", "int", "prompt tokens one step processes (B x P)")),
    headline=Headline(label="prefill {workload}", group_by=("preset", "precision", "layers", "prompt")),
    workload=workload,
    defines=("preset", "precision", "layers"),
    section="llm",
)
