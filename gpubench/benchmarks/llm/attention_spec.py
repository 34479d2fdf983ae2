"""Spec of `attention` (workload: gpubench.benchmarks.llm.attention): causal SDPA per backend."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gpubench.benchmarks.llm import workloads as W
from gpubench.benchmarks.llm.presets import PRESET_NAMES, PRESETS, validate
from gpubench.benchmarks.spec import BenchmarkSpec, Headline, Param, WorkloadRef, word
from gpubench.precisions import ELEMENT_BYTES
from gpubench.records import ParamValue
from gpubench.schema import cols

BACKENDS = ("flash", "efficient", "cudnn", "math")
PRECISIONS = ("bf16", "fp16", "fp32")
PARAMS = {
    "preset": Param(str, choices=PRESET_NAMES, help="heads, kv heads and head_dim from this preset"),
    "precision": Param(str, choices=PRECISIONS, help="bf16, fp16, fp32"),
    "backend": Param(str, choices=BACKENDS, help="SDPA backend forced for the case"),
    "context": Param(int, default=4096, minimum=1, help="sequence length S (queries = keys)"),
    "batch": Param(int, default=1, help="sequences"),
}


def normalize(params: dict[str, ParamValue]) -> dict[str, ParamValue]:
    validate(params, tokens_keys=("context",))
    return {k: params[k] for k in PARAMS}


def flops(heads: int, head_dim: int, batch: int, context: int) -> float:
    """QK^T and AV over the causal half: 4 * B * H * S^2 * head_dim / 2."""
    return 2.0 * batch * heads * context * context * head_dim


def workload(p: Mapping[str, Any]) -> WorkloadRef:
    """`attention/<preset>/<precision>`: the preset's causal attention; item = FLOP. Bytes: Q, K, V read and the
    output written once (what a fused kernel must move at least)."""
    run = PRESETS[str(p["preset"])]
    precision, batch, s = str(p["precision"]), int(p.get("batch") or 1), int(p.get("context") or 4096)
    f = flops(run.heads, run.head_dim, batch, s)
    moved = ELEMENT_BYTES[precision] * batch * s * run.head_dim * (2 * run.heads + 2 * run.kv_heads)
    reference = run.published_params is not None
    return WorkloadRef(
        key=f"attention/{run.name}/{precision}",
        base=f"attention/{run.name}/{precision}",
        reference=reference,
        label=f"{run.name} attention" + ("" if reference else " (toy)"),
        family="attention",
        precision=precision,
        item="flop",
        flops_per_item=1.0,
        bytes_per_item=moved / f,
        peak_key=W.PEAK_KEY[precision],
        items_per_step=f,
        benchmark="attention",
        words=(word("attention" if reference else "attention_toy", name=run.name),),
    )


SPEC = BenchmarkSpec(
    name="attention",
    version=1,
    factory="gpubench.benchmarks.llm.attention:attention",
    description="Causal SDPA per backend with a preset's heads; TFLOP/s counting the causal half",
    params=PARAMS,
    normalize=normalize,
    tags=("llm",),
    columns=cols(
        ("heads", "int", "query heads"),
        ("kv_heads", "int", "key/value heads (grouped-query attention)"),
        ("head_dim", "int", "features per head"),
        ("sdpa_backend", "str", "the SDPA backend that ran"),
        ("gqa", "str", "native grouped-query support, or K/V repeated per head"),
    ),
    headline=Headline(label="attention {preset} {precision}", group_by=("preset", "precision", "backend")),
    workload=workload,
    defines=("preset", "precision"),
    section="llm",
)
