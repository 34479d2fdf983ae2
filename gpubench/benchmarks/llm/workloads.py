"""Workload identity, costs and derived columns of the LLM benchmarks (no torch), shared by their specs.

A row IS `llm_decode/llama-3.1-8b/bf16` only when it runs every layer of a published preset; a preset cut to
fewer layers is its own shape (`llm_decode/llama-3.1-8b[layers=2]/bf16`, reference False) and the `tiny`
preset is a toy. Costs per item (token) come from the presets' arithmetic at the row's batch and lengths.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gpubench.benchmarks.llm.presets import KV_BYTES, PRESETS, WEIGHT_BYTES, Preset, preset
from gpubench.benchmarks.spec import Word, WorkloadRef, millions, shape_key, word
from gpubench.schema import cols

# Weight-only int8 multiplies in 16-bit (torch._weight_int8pack_mm); fp8 runs torch._scaled_mm on fp8 units.
PEAK_KEY = {"fp32": "fp32", "bf16": "bf16", "fp16": "fp16", "int8": "bf16", "fp8": "fp8"}

COMMON_COLUMNS = cols(
    ("layers_run", "int", "decoder layers the case ran"),
    ("layers_total", "int", "decoder layers of the whole preset"),
    ("layers_note", "str", "'N of M layers'"),
    ("params_count", "int", "parameters of the layers run (embedding and head included)"),
    ("params_full", "int", "parameters of the whole preset"),
    ("weight_bytes_per_param", "float", "bytes per stored weight at the case's precision"),
    ("preset_source", "str", "where the preset's shapes come from (config.json URL)"),
    ("quant_method", "str", "how int8 / fp8 weights are stored and multiplied"),
)
SERVING_COLUMNS = COMMON_COLUMNS + cols(
    ("workload", "str", "the workload name users type (llm_decode/<preset>/<precision>)"),
    ("kv_cache_bytes", "float", "bytes of the preallocated KV cache"),
    ("compile_s", "float", "seconds the first (compiling) call took"),
    ("first_call_s", "float", "seconds the first call took (kernel initialisation)"),
)


def shape(params: Mapping[str, Any]) -> tuple[Preset, bool, str]:
    """(preset as run, reference?, name with the cut): `llama-3.1-8b`, `llama-3.1-8b[layers=2]`, `tiny`."""
    p = preset(str(params["preset"]), int(params.get("layers") or 0))
    published = PRESETS[p.name].published_params is not None
    cut = {"layers": p.layers} if p.sliced else {}
    return p, published and not p.sliced, shape_key(p.name, cut)


def _label(p: Preset, reference: bool) -> str:
    if reference:
        return p.name
    toy = " (toy)" if PRESETS[p.name].published_params is None else ""
    return f"{p.name}{toy} · {p.layers} of {p.total_layers} layers · {millions(p.params)} params"


def _words(p: Preset, reference: bool) -> tuple[Word, ...]:
    """The label's parts as message keys (see WorkloadRef.words); a published preset is a name."""
    if reference:
        return ()
    name = word("toy", name=p.name) if PRESETS[p.name].published_params is None else word("name", name=p.name)
    return name, word("layers_of", n=p.layers, total=p.total_layers), word("params", params=p.params)


def ref(
    benchmark: str, family: str, params: Mapping[str, Any], *, flops: float, moved: float | None, items: float
) -> WorkloadRef:
    """A WorkloadRef of an LLM row: key `<family>/<preset>[cut]/<precision>`, costs per token."""
    p, reference, name = shape(params)
    precision = str(params["precision"])
    return WorkloadRef(
        key=f"{family}/{name}/{precision}",
        base=f"{family}/{p.name}/{precision}",
        reference=reference,
        label=_label(p, reference),
        family=family,
        precision=precision,
        item="token",
        flops_per_item=flops / items,
        bytes_per_item=None if moved is None else moved / items,
        params_count=float(p.params),
        peak_key=PEAK_KEY.get(precision),
        items_per_step=items,
        benchmark=benchmark,
        words=_words(p, reference),
    )


def bytes_per(precision: str) -> tuple[float, float]:
    return WEIGHT_BYTES[precision], KV_BYTES[precision]


def cached_tokens(context: int, output: int) -> int:
    """Decode's cache length for a serving scenario: the middle of generation (mean TPOT over the output)."""
    return context + output // 2
