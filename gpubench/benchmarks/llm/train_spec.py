"""Spec of `llm_train` (workload: gpubench.benchmarks.llm.train): one fine-tuning step, full or LoRA."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gpubench.benchmarks.llm import workloads as W
from gpubench.benchmarks.llm.presets import PRESET_NAMES, Preset, validate
from gpubench.benchmarks.spec import BenchmarkSpec, Headline, Param, WorkloadRef
from gpubench.records import ParamValue
from gpubench.schema import cols

PRECISIONS = ("bf16", "fp32")  # bf16 = autocast with fp32 master weights (the usual mixed precision)
MODES = ("full", "lora")
PARAMS = {
    "preset": Param(str, choices=PRESET_NAMES, help="decoder shapes: " + ", ".join(PRESET_NAMES)),
    "precision": Param(str, choices=PRECISIONS, help="bf16 (autocast, fp32 master weights) or fp32"),
    "mode": Param(str, default="full", choices=MODES, help="full fine-tune or LoRA on q/k/v/o"),
    "batch": Param(int, default=1, help="sequences per step"),
    "seq": Param(int, default=1024, minimum=2, help="tokens per sequence"),
    "layers": Param(int, default=0, minimum=0, help="train only the first N layers (0 = all)"),
    "lora_rank": Param(int, default=16, minimum=1, help="adapter rank (mode = lora)"),
}


def normalize(params: dict[str, ParamValue]) -> dict[str, ParamValue]:
    validate(params, tokens_keys=("seq",))
    out = {k: params[k] for k in PARAMS}
    if out["mode"] == "full":
        out["lora_rank"] = 0  # meaningless for a full fine-tune: keep it out of the case id's variants
    return out


def train_flops(p: Preset, mode: str, batch: int, seq: int) -> float:
    """Model FLOPs of one step: full = 3 x forward (activation and weight gradients); LoRA = 2 x forward (no
    weight gradients for the frozen base; the adapters' own are negligible)."""
    fwd = p.matmul_flops_per_token() * batch * seq + p.attention_flops(batch, seq, 0)
    fwd += 2.0 * batch * seq * p.hidden * p.vocab
    return (3.0 if mode == "full" else 2.0) * fwd


def workload(p: Mapping[str, Any]) -> WorkloadRef:
    """`llm_lora/<preset>/<precision>` or `llm_finetune/<preset>/<precision>`, per trained token."""
    run, _, _ = W.shape(p)
    mode = str(p.get("mode") or "full")
    batch, seq = int(p.get("batch") or 1), int(p.get("seq") or 1024)
    family = "llm_lora" if mode == "lora" else "llm_finetune"
    flops = train_flops(run, mode, batch, seq)
    return W.ref("llm_train", family, p, flops=flops, moved=None, items=float(batch * seq))


SPEC = BenchmarkSpec(
    name="llm_train",
    version=1,
    factory="gpubench.benchmarks.llm.train:llm_train",
    description="LLM fine-tuning step: full (AdamW) or LoRA on attention; tokens/s, MFU, peak memory",
    params=PARAMS,
    normalize=normalize,
    tags=("llm", "training"),
    columns=W.COMMON_COLUMNS
    + cols(
        ("trainable_params", "int", "parameters the optimizer updates"),
        ("lora_params_full", "int", "adapter parameters of the whole model (mode = lora)"),
        ("memory_needed_full_bytes", "float", "bytes a step of the whole model needs (no checkpointing)"),
        ("optimizer", "str", "optimizer"),
    ),
    headline=Headline(label="fine-tune {workload}", group_by=("preset", "precision", "mode", "layers")),
    workload=workload,
    defines=("preset", "precision", "mode", "layers"),
    section="llm",
)
