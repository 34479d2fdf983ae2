"""LLM sizing arithmetic: memory, cards, work per step, energy and cost per token. No torch, no fitting.

Everything here follows from a decoder's shapes (`gpubench.benchmarks.llm.presets.Preset`, or a Hugging Face
config.json read by `load_config`) and the bytes each precision stores; the speed side (what fraction of the
datasheet bandwidth and GEMM rate a real engine reaches) is the performance model's (`gpubench.model`), and
the ranking over devices is the advisor's (`gpubench.advisor.recommend_llm`).

Conventions (docs/MODEL.md repeats them):
- GB here are decimal (1e9 bytes); a card's memory is as marketed, GiB-sized (an "80 GB" card holds 80 GiB),
  of which `presets.usable_bytes` leaves the model what the runtime (CUDA context, workspaces, fragmentation)
  does not take: that difference is the "runtime reserve" of the breakdown.
- Weights: every parameter at the precision's bytes (int4: 4 bits plus one 16-bit scale per group of 128).
  The KV cache stays 16-bit at every precision (what engines do by default; presets.KV_BYTES).
- Serving: the cache holds `users` sequences of `context` tokens (prompt + generated), the worst case.
- Training (lora, finetune): batch x seq tokens per step, gradient checkpointing on (each layer keeps its
  input; one layer's activations live at a time) unless `checkpointing=False`; AdamW with fp32 master
  weights, gradients and two moments (16 B per trained parameter, presets' convention); LoRA adapters of rank
  16 on q, k, v, o (presets.lora_params) over frozen base weights at the chosen precision (int4: QLoRA).
- Tensor parallel over `cards`: weights, KV cache and work split evenly (the KV cache only up to the number
  of KV heads: beyond that it is replicated); activations and the reserve are per card.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gpubench.benchmarks.llm import presets as P
from gpubench.errors import GpubenchError

PRECISIONS = ("bf16", "fp16", "fp8", "int8", "int4")
TASKS = ("serve", "decode", "prefill", "lora", "finetune")
TRAIN_TASKS = ("lora", "finetune")
WEIGHT_BYTES = {**{k: v for k, v in P.WEIGHT_BYTES.items() if k != "fp32"}, "int4": 0.5 + 2.0 / 128}
"""Bytes per stored weight: presets' table plus int4 (4 bits + a 16-bit scale per group of 128 weights)."""
KV_BYTES = {**{k: v for k, v in P.KV_BYTES.items() if k != "fp32"}, "int4": 2.0}
COMPUTE_PRECISION = {"bf16": "bf16", "fp16": "fp16", "fp8": "fp8", "int8": "int8", "int4": "bf16"}
"""Catalog precision whose GEMM rate bounds the compute: int4 weight-only kernels dequantize to 16-bit."""
LORA_RANK = 16
MAX_CARDS = 512


def check_precision(precision: str) -> str:
    key = precision.strip().lower()
    if key not in WEIGHT_BYTES:
        raise GpubenchError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    return key


def check_task(task: str) -> str:
    key = task.strip().lower()
    if key not in TASKS:
        raise GpubenchError(f"unknown task {task!r}; use one of {', '.join(TASKS)}")
    return key


# ------------------------------------------------------------------------------------------------ models


def load_config(path: str | Path) -> P.Preset:
    """A Preset from a Hugging Face config.json (Llama, Mistral, Qwen2 and alike dense decoders).

    Raises GpubenchError with a one-line reason for a missing, unreadable or unsupported file."""
    p = Path(path)
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GpubenchError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GpubenchError(f"{path}: cannot read the config: {exc}") from None
    except json.JSONDecodeError as exc:
        raise GpubenchError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(raw, dict):
        raise GpubenchError(f"{path}: a config.json is a JSON object, got {type(raw).__name__}")
    cfg = raw.get("text_config") if isinstance(raw.get("text_config"), dict) else raw
    if any(k in cfg for k in ("num_local_experts", "num_experts", "n_routed_experts")):
        raise GpubenchError(f"{path}: mixture-of-experts configs are not modelled (dense decoders only)")

    def need(key: str) -> int:
        value = cfg.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise GpubenchError(f"{path}: {key} must be a positive integer, got {value!r}")
        return value

    hidden, heads = need("hidden_size"), need("num_attention_heads")
    if hidden % heads:
        raise GpubenchError(f"{path}: hidden_size {hidden} is not a multiple of num_attention_heads {heads}")
    head_dim = cfg.get("head_dim")
    if isinstance(head_dim, int) and head_dim != hidden // heads:
        raise GpubenchError(f"{path}: head_dim {head_dim} != hidden_size / heads: such models are not modelled")
    kv_heads = cfg.get("num_key_value_heads") or heads
    if not isinstance(kv_heads, int) or kv_heads <= 0 or heads % kv_heads:
        raise GpubenchError(f"{path}: num_key_value_heads must divide num_attention_heads, got {kv_heads!r}")
    name = str(raw.get("_name_or_path") or p.parent.name or p.stem).strip() or "config"
    return P.Preset(
        name,
        hidden,
        need("intermediate_size"),
        need("num_hidden_layers"),
        heads,
        kv_heads,
        need("vocab_size"),
        float(cfg.get("rope_theta") or 10000.0),
        bool(cfg.get("tie_word_embeddings", False)),
        int(cfg.get("max_position_embeddings") or 4096),
        qkv_bias=bool(cfg.get("attention_bias", False)) or cfg.get("model_type") == "qwen2",
        source=str(p),
    )


def resolve_model(name: str | None, config: str | Path | None = None) -> P.Preset:
    """The preset named `name`, or the model of a config.json; one of the two must be given."""
    if config is not None:
        return load_config(config)
    if not name:
        raise GpubenchError("give --llm PRESET or --llm-config config.json")
    key = name.strip().lower()
    if key not in P.PRESETS or not P.PRESETS[key].published_params:
        known = ", ".join(n for n, p in P.PRESETS.items() if p.published_params)
        raise GpubenchError(f"unknown LLM {name!r}; presets: {known} (or --llm-config config.json)")
    return P.PRESETS[key]


# ------------------------------------------------------------------------------------------------ memory


@dataclass(frozen=True)
class Memory:
    """Bytes one task needs, per card at `cards`-way tensor parallelism, and whether it fits."""

    weights: float  # per card
    kv_cache: float  # per card
    activations: float  # per card
    training_state: float  # gradients + optimizer state (+ fp32 master weights), per card
    reserve: float  # what the runtime takes of the card
    capacity: float  # the card's memory
    cards: int

    @property
    def total(self) -> float:
        """Per card, reserve included."""
        return self.weights + self.kv_cache + self.activations + self.training_state + self.reserve

    @property
    def fits(self) -> bool:
        return self.total <= self.capacity

    def as_gb(self) -> dict[str, float]:
        names = ("weights", "kv_cache", "activations", "training_state", "reserve", "total", "capacity")
        return {n: getattr(self, n) / 1e9 for n in names}


def card_bytes(memory_gb: float) -> float:
    """A card's memory in bytes from its marketed GB (GiB-sized)."""
    return float(memory_gb) * 2**30


def reserve_bytes(capacity: float) -> float:
    """What the runtime keeps of a card (presets.usable_bytes' complement)."""
    return capacity - P.usable_bytes(capacity)


def kv_bytes_per_token(p: P.Preset, precision: str, kv_bytes: float | None = None) -> float:
    """2 x layers x kv_heads x head_dim x bytes: keys and values of one token, whole model (`kv_bytes` per
    element overrides the precision's 16-bit cache: 1 for an fp8 KV cache)."""
    return replace(p, layers=p.total_layers).kv_bytes_per_token(kv_bytes or KV_BYTES[precision])


def weights_bytes(p: P.Preset, precision: str) -> float:
    return p.full_params * WEIGHT_BYTES[precision]


def _kv_split(p: P.Preset, cards: int) -> int:
    return max(1, min(cards, p.kv_heads))


def serving_memory(
    p: P.Preset,
    precision: str,
    users: int,
    context: int,
    capacity: float,
    cards: int = 1,
    prefill_chunk: int = 2048,
    kv_bytes: float | None = None,
) -> Memory:
    """Serve `users` sequences of `context` tokens: weights + KV cache + the working memory of one step (the
    larger of a decode step over every user and a prefill chunk of `prefill_chunk` tokens)."""
    full = replace(p, layers=p.total_layers)
    act_bytes = 2.0
    working = P.decode_working_bytes(full, max(users, min(context, prefill_chunk)), act_bytes)
    return Memory(
        weights=weights_bytes(p, precision) / cards,
        kv_cache=kv_bytes_per_token(p, precision, kv_bytes) * users * context / _kv_split(p, cards),
        activations=working,
        training_state=0.0,
        reserve=reserve_bytes(capacity),
        capacity=capacity,
        cards=cards,
    )


def trained_params(p: P.Preset, task: str) -> float:
    return float(p.full_params) if task == "finetune" else float(P.lora_params(p, LORA_RANK))


def training_memory(
    p: P.Preset,
    task: str,
    precision: str,
    batch: int,
    seq: int,
    capacity: float,
    cards: int = 1,
    checkpointing: bool = True,
) -> Memory:
    """One training step of batch x seq tokens (see the module docstring for what is counted)."""
    full = replace(p, layers=p.total_layers)
    act = 2.0
    if task == "finetune":
        weights = 2.0 * full.full_params  # the 16-bit compute copy; the fp32 master is training state
        state = 16.0 * full.full_params
    else:
        weights = weights_bytes(p, precision)
        state = 16.0 * trained_params(p, task)
    layer_tokens = act * (6 * full.hidden + 2 * full.kv_dim + 4 * full.intermediate)  # one layer, one token
    tokens = batch * seq
    if checkpointing:
        acts = tokens * (full.total_layers * act * full.hidden + layer_tokens)
    else:
        acts = tokens * full.total_layers * layer_tokens
    acts += tokens * 3 * 4.0 * full.vocab  # fp32 logits, their softmax and gradient
    return Memory(
        weights=weights / cards,
        kv_cache=0.0,
        activations=acts / cards,
        training_state=state / cards,
        reserve=reserve_bytes(capacity),
        capacity=capacity,
        cards=cards,
    )


def card_counts(gpus_per_node: int, limit: int = MAX_CARDS) -> list[int]:
    """Tensor-parallel sizes tried, smallest first: powers of two up to a node, then whole nodes."""
    counts = [c for c in (1, 2, 4, 8, 16, 32, 64) if c <= gpus_per_node]
    if gpus_per_node not in counts:
        counts.append(gpus_per_node)
    n = 2
    while n * gpus_per_node <= limit:
        counts.append(n * gpus_per_node)
        n *= 2
    return sorted(set(counts))


def cards_needed(memory_at: Any, gpus_per_node: int = 8) -> int | None:
    """Smallest card count c (of `card_counts`) with memory_at(c).fits, or None."""
    for cards in card_counts(gpus_per_node):
        if memory_at(cards).fits:
            return cards
    return None


def max_users(
    p: P.Preset, precision: str, context: int, capacity: float, cards: int = 1, kv_bytes: float | None = None
) -> int:
    """Most sequences of `context` tokens whose cache fits on `cards` cards (0: not even one)."""
    if not serving_memory(p, precision, 1, context, capacity, cards, kv_bytes=kv_bytes).fits:
        return 0
    lo, hi = 1, 2
    while serving_memory(p, precision, hi, context, capacity, cards, kv_bytes=kv_bytes).fits:
        lo, hi = hi, hi * 2
        if hi > 1 << 24:
            return lo
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (
            (mid, hi)
            if serving_memory(p, precision, mid, context, capacity, cards, kv_bytes=kv_bytes).fits
            else (lo, mid)
        )
    return lo


# -------------------------------------------------------------------------------------------------- work


def decode_step(
    p: P.Preset, precision: str, batch: int, context: int, kv_bytes: float | None = None
) -> tuple[float, float]:
    """(FLOPs, bytes) of one decode step of the whole model: `batch` sequences with `context` cached tokens."""
    full = replace(p, layers=p.total_layers)
    return full.decode_work(batch, context, WEIGHT_BYTES[precision], kv_bytes or KV_BYTES[precision])


def prefill_step(
    p: P.Preset, precision: str, batch: int, prompt: int, kv_bytes: float | None = None
) -> tuple[float, float]:
    """(FLOPs, bytes) of one prefill of `batch` prompts of `prompt` tokens, whole model."""
    full = replace(p, layers=p.total_layers)
    return full.prefill_work(batch, prompt, WEIGHT_BYTES[precision], kv_bytes or KV_BYTES[precision])


def train_flops_per_token(p: P.Preset, task: str, seq: int, checkpointing: bool = True) -> float:
    """Training FLOPs per token: forward 2N (+ attention), backward 2N for the input gradients and, for a full
    fine-tune, 2N for the weight gradients (LoRA's adapters are negligible); checkpointing adds one forward."""
    full = replace(p, layers=p.total_layers)
    forward = full.matmul_flops_per_token() + full.attention_flops(1, seq, 0) / seq + 2.0 * full.hidden * full.vocab
    passes = 3.0 if task == "finetune" else 2.0
    return forward * (passes + (1.0 if checkpointing else 0.0))


def allreduce_bytes_per_step(p: P.Preset, tokens: int) -> float:
    """Bytes each tensor-parallel step all-reduces: two activations of `tokens` x hidden (16-bit) per layer."""
    return 2.0 * p.total_layers * tokens * p.hidden * 2.0


# -------------------------------------------------------------------------------------------------- cost


def usd_per_million(usd_per_hour: float | None, tokens_per_s: float | None) -> float | None:
    """USD per million tokens at `usd_per_hour` (all cards) and `tokens_per_s` (all cards)."""
    if usd_per_hour is None or not tokens_per_s or tokens_per_s <= 0 or not math.isfinite(tokens_per_s):
        return None
    return usd_per_hour / (tokens_per_s * 3600.0) * 1e6


def joules_per_token(watts: float | None, tokens_per_s: float | None) -> float | None:
    if watts is None or not tokens_per_s or tokens_per_s <= 0:
        return None
    return watts / tokens_per_s


def ownership_usd_per_hour(
    price_usd: float | None, watts: float | None, years: float, hours_per_day: float, kwh_price: float
) -> float | None:
    """One card's cost of ownership per busy hour: price over its busy lifetime + electricity (None: no price)."""
    if price_usd is None:
        return None
    hours = years * 365.0 * hours_per_day
    return price_usd / hours + (0.0 if watts is None else watts / 1000.0 * kwh_price)
