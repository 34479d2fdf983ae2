"""Decoder presets with the published shapes, and the arithmetic on them (no torch).

Every preset copies the fields of the model's config.json on the Hugging Face hub (source URL per preset).
Parameter counts, FLOPs, bytes read per step and memory capacity are computed from the shapes alone, so they
hold for any device, including catalog devices nobody here owns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from gpubench import precisions as _P
from gpubench.errors import SuiteError

CONFIGS_CHECKED = "2026-12-02"  # date the config.json fields below were compared with their sources


@dataclass(frozen=True)
class Preset:
    """One decoder's shapes, as its config.json gives them."""

    name: str
    hidden: int  # hidden_size
    intermediate: int  # intermediate_size (SwiGLU: gate, up and down projections)
    layers: int  # num_hidden_layers
    heads: int  # num_attention_heads
    kv_heads: int  # num_key_value_heads (grouped-query attention)
    vocab: int  # vocab_size
    rope_theta: float
    tied: bool  # tie_word_embeddings: the output projection reuses the embedding matrix
    max_position: int  # max_position_embeddings
    qkv_bias: bool = False  # Qwen2 has biases on the q, k and v projections
    rms_eps: float = 1e-5
    published_params: float | None = None  # the count the model card / release states
    source: str = ""
    total_layers: int = 0  # the full model's layer count when `layers` is a slice of it

    def __post_init__(self) -> None:
        if not self.total_layers:
            object.__setattr__(self, "total_layers", self.layers)

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    @property
    def sliced(self) -> bool:
        return self.layers < self.total_layers

    def with_layers(self, layers: int) -> Preset:
        """The same shapes with only the first `layers` decoder layers (0 = all)."""
        if layers <= 0 or layers == self.layers:
            return self
        return replace(self, layers=layers, total_layers=self.total_layers)

    @property
    def layers_text(self) -> str:
        return f"{self.layers} of {self.total_layers} layers"

    # --- parameters --------------------------------------------------------------------------------------

    @property
    def layer_params(self) -> int:
        """Weights of one decoder layer: q, k, v, o projections, SwiGLU MLP, two RMSNorm gains."""
        d, kv = self.hidden, self.kv_dim
        attn = d * d + 2 * d * kv + d * d + (d + 2 * kv if self.qkv_bias else 0)
        return attn + 3 * d * self.intermediate + 2 * d

    @property
    def embedding_params(self) -> int:
        return self.vocab * self.hidden

    @property
    def head_params(self) -> int:
        """Output projection (0 when tied to the embedding) plus the final RMSNorm."""
        return (0 if self.tied else self.vocab * self.hidden) + self.hidden

    @property
    def params(self) -> int:
        return self.embedding_params + self.head_params + self.layers * self.layer_params

    @property
    def full_params(self) -> int:
        """Parameters of the whole model, whatever slice of layers this preset holds."""
        return self.embedding_params + self.head_params + self.total_layers * self.layer_params

    # --- work per step -----------------------------------------------------------------------------------

    def kv_bytes_per_token(self, kv_bytes: float) -> float:
        """KV cache bytes one token occupies across this preset's layers (keys + values)."""
        return 2.0 * self.layers * self.kv_dim * kv_bytes

    def matmul_flops_per_token(self) -> float:
        """2 x weights touched per token by the decoder layers (the output projection counted apart)."""
        return 2.0 * self.layers * (self.layer_params - 2 * self.hidden)

    def attention_flops(self, batch: int, queries: int, keys_before: int) -> float:
        """QK^T and AV of `queries` new tokens per sequence against `keys_before` cached ones, causal.

        Query i sees keys_before + i + 1 keys; only the causal part is counted (the half a causal kernel
        skips is not work done)."""
        seen = queries * keys_before + queries * (queries + 1) / 2
        return 4.0 * batch * self.layers * self.heads * self.head_dim * seen

    def weight_bytes(self, weight_bytes: float) -> float:
        """Bytes of the weights one forward step reads: every layer, the final norm and the output projection
        (the embedding lookup reads only one row per token)."""
        return weight_bytes * (self.layers * self.layer_params + self.vocab * self.hidden + self.hidden)

    def prefill_work(self, batch: int, prompt: int, weight_bytes: float, kv_bytes: float) -> tuple[float, float]:
        """(FLOPs, bytes) of one prefill: B prompts of P tokens, logits for the last token of each."""
        tokens = batch * prompt
        flops = self.matmul_flops_per_token() * tokens + self.attention_flops(batch, prompt, 0)
        flops += 2.0 * batch * self.hidden * self.vocab
        moved = self.weight_bytes(weight_bytes) + self.kv_bytes_per_token(kv_bytes) * tokens  # cache written
        return flops, moved

    def decode_work(self, batch: int, context: int, weight_bytes: float, kv_bytes: float) -> tuple[float, float]:
        """(FLOPs, bytes) of one decode step: B sequences, one new token each, `context` tokens cached."""
        flops = self.matmul_flops_per_token() * batch + self.attention_flops(batch, 1, context)
        flops += 2.0 * batch * self.hidden * self.vocab
        # Weights once per step (shared by the batch) + every cached token's keys and values + the new ones.
        moved = self.weight_bytes(weight_bytes) + self.kv_bytes_per_token(kv_bytes) * batch * (context + 1)
        return flops, moved


_HF = "https://huggingface.co/{}/blob/main/config.json"

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "llama-3.2-1b",
            2048,
            8192,
            16,
            32,
            8,
            128256,
            500000.0,
            True,
            131072,
            published_params=1.24e9,
            source=_HF.format("meta-llama/Llama-3.2-1B"),
        ),
        Preset(
            "llama-3.1-8b",
            4096,
            14336,
            32,
            32,
            8,
            128256,
            500000.0,
            False,
            131072,
            published_params=8.03e9,
            source=_HF.format("meta-llama/Llama-3.1-8B"),
        ),
        Preset(
            "llama-3.1-70b",
            8192,
            28672,
            80,
            64,
            8,
            128256,
            500000.0,
            False,
            131072,
            published_params=70.6e9,
            source=_HF.format("meta-llama/Llama-3.1-70B"),
        ),
        Preset(
            "qwen2.5-7b",
            3584,
            18944,
            28,
            28,
            4,
            152064,
            1000000.0,
            False,
            131072,
            qkv_bias=True,
            rms_eps=1e-6,
            published_params=7.62e9,
            source=_HF.format("Qwen/Qwen2.5-7B"),
        ),
        Preset(
            "mistral-7b",
            4096,
            14336,
            32,
            32,
            8,
            32000,
            10000.0,
            False,
            32768,
            published_params=7.24e9,
            source=_HF.format("mistralai/Mistral-7B-v0.1"),
        ),
        # Not a published model: the shapes of the others at toy size, for tests and the quick suite.
        Preset("tiny", 128, 384, 2, 4, 2, 512, 10000.0, False, 4096, source="gpubench (test preset)"),
    )
}
PRESET_NAMES = tuple(PRESETS)

# Bytes per stored weight and per KV-cache element (gpubench.precisions; int4 too, for sizing questions).
# Weight-only int8/fp8 keep 16-bit activations and KV cache. The benchmarks run LLM_PRECISIONS.
WEIGHT_BYTES = _P.WEIGHT_BYTES
KV_BYTES = _P.KV_BYTES
PRECISIONS = _P.LLM_PRECISIONS


def preset(name: str, layers: int = 0) -> Preset:
    """The named preset, optionally cut to its first `layers` layers. Unknown name -> SuiteError."""
    if name not in PRESETS:
        raise SuiteError(f"unknown LLM preset {name!r}; known: {', '.join(PRESET_NAMES)}")
    p = PRESETS[name]
    if layers > p.layers:
        raise SuiteError(f"layers = {layers}: {name} has only {p.layers} layers")
    return p.with_layers(layers)


def validate(params: dict, *, tokens_keys: tuple[str, ...], batch_key: str | None = "batch") -> Preset:
    """Check an LLM case's parameters at suite validation: preset known, contexts within the preset's
    maximum, batch >= 1. Returns the (possibly sliced) preset; raises SuiteError with a one-line reason."""
    p = preset(str(params["preset"]), int(params.get("layers", 0) or 0))
    if batch_key is not None and int(params[batch_key]) < 1:
        raise SuiteError(f"{batch_key} = {params[batch_key]}: needs at least one sequence")
    total = sum(int(params.get(k, 0) or 0) for k in tokens_keys)
    if total > p.max_position:
        keys = " + ".join(tokens_keys)
        raise SuiteError(f"{keys} = {total} tokens is beyond {p.name}'s maximum context of {p.max_position}")
    return p


# --- capacity ---------------------------------------------------------------------------------------------

RESERVE_BYTES = 1 << 30  # CUDA context, cuBLAS workspaces, allocator slack: not available to the model
RESERVE_FRACTION = 0.05


def usable_bytes(memory_bytes: float) -> float:
    """Memory a model may use on a device of `memory_bytes`: minus a fixed reserve and 5 % fragmentation."""
    return max(0.0, memory_bytes * (1 - RESERVE_FRACTION) - RESERVE_BYTES)


def decode_working_bytes(p: Preset, batch: int, act_bytes: float) -> float:
    """Transient memory of one decode step: the widest activations (SwiGLU's gate and up) and fp32 logits."""
    return batch * (act_bytes * (4 * p.hidden + 3 * p.intermediate) + 4.0 * p.vocab)


def memory_needed(p: Preset, precision: str, batch: int, context: int) -> float:
    """Bytes to serve `batch` sequences of `context` tokens: full-model weights + KV cache + working memory."""
    full = replace(p, layers=p.total_layers)
    weights = full.full_params * WEIGHT_BYTES[precision]
    kv = full.kv_bytes_per_token(KV_BYTES[precision]) * batch * context
    return weights + kv + decode_working_bytes(full, batch, KV_BYTES[precision])


def max_batch(p: Preset, precision: str, context: int, memory_bytes: float) -> int:
    """Largest batch of `context`-token sequences whose weights + KV cache + working memory fit (0: none)."""
    budget = usable_bytes(memory_bytes)
    if memory_needed(p, precision, 1, context) > budget:
        return 0
    lo, hi = 1, 2
    while memory_needed(p, precision, hi, context) <= budget:
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if memory_needed(p, precision, mid, context) <= budget else (lo, mid)
    return lo


def max_context(p: Preset, precision: str, memory_bytes: float, batch: int = 1) -> int:
    """Longest context (capped at the preset's maximum) that `batch` sequences can hold (0: none)."""
    budget = usable_bytes(memory_bytes)
    if memory_needed(p, precision, batch, 1) > budget:
        return 0
    per_token = memory_needed(p, precision, batch, 2) - memory_needed(p, precision, batch, 1)
    room = budget - memory_needed(p, precision, batch, 1)
    return int(min(p.max_position, 1 + math.floor(room / per_token)))


def largest_fitting(precision: str, memory_bytes: float, context: int = 8192) -> str | None:
    """The preset with the most parameters that serves one sequence of `context` tokens, or None."""
    fitting = [
        p
        for p in PRESETS.values()
        if p.published_params and context <= p.max_position and max_batch(p, precision, context, memory_bytes) >= 1
    ]
    return max(fitting, key=lambda p: p.full_params).name if fitting else None


def capacity_rows(
    memory_gb: list[float],
    precisions: tuple[str, ...] = ("bf16", "fp8"),
    contexts: tuple[int, ...] = (1024, 8192, 32768, 131072),
) -> list[dict]:
    """Computed capacity of every published preset on cards of `memory_gb` (GiB-sized, as marketed)."""
    rows = []
    for gb in memory_gb:
        for precision in precisions:
            for p in PRESETS.values():
                if not p.published_params:
                    continue
                row = {
                    "memory_gb": gb,
                    "precision": precision,
                    "preset": p.name,
                    "weights_gb": p.full_params * WEIGHT_BYTES[precision] / 1e9,
                    "max_context_b1": max_context(p, precision, gb * 2**30),
                }
                for c in contexts:
                    row[f"max_batch_{c}"] = max_batch(p, precision, c, gb * 2**30) if c <= p.max_position else 0
                rows.append(row)
    return rows


def serving_name(benchmark: str, preset_name: str, precision: str) -> str:
    """The workload name users type (`llm_decode/llama-3.1-8b/bf16`), as the advisor joins rows on it."""
    return f"{benchmark}/{preset_name}/{precision}"


# --- fine-tuning memory -----------------------------------------------------------------------------------

LORA_TARGETS = ("q", "k", "v", "o")  # adapters on the attention projections


def lora_params(p: Preset, rank: int) -> int:
    """Adapter parameters: rank x (in + out) per attention projection per layer (whole model)."""
    d, kv = p.hidden, p.kv_dim
    return p.total_layers * rank * ((d + d) + (d + kv) + (d + kv) + (d + d))


def train_memory_needed(p: Preset, mode: str, batch: int, seq: int, precision: str) -> float:
    """Bytes of one training step of the whole model, no activation checkpointing.

    full: fp32 weights, gradients and AdamW's two moments (16 B/param) + a 16-bit copy under autocast;
    lora: base weights frozen in the compute dtype, adapters with the same 16 B/param. Activations: the
    tensors autograd keeps per token and layer (norm inputs, q/k/v, attention output, SwiGLU's gate, up and
    product, in 2 bytes; fused SDPA keeps no S x S matrix) plus fp32 logits and their gradient."""
    act = 2.0 if precision != "fp32" else 4.0
    full = replace(p, layers=p.total_layers)
    if mode == "full":
        state = 16.0 * full.full_params + (2.0 * full.full_params if precision != "fp32" else 0.0)
    else:
        state = act * full.full_params + 16.0 * lora_params(full, 16)
    per_token = full.total_layers * act * (6 * full.hidden + 2 * full.kv_dim + 4 * full.intermediate)
    logits = 3 * 4.0 * full.vocab
    return state + batch * seq * (per_token + logits)
