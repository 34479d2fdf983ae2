"""`llm_train`: one fine-tuning step of the decoder on a fixed synthetic batch: full (AdamW on every weight)
or LoRA (rank-r adapters on the attention projections, base weights frozen).

tokens/s, TFLOP/s and MFU from analytic FLOPs (full: 3 x forward, as forward + activation gradients + weight
gradients; LoRA: 2 x forward, no weight gradients for the frozen base), peak memory as measured, and the
memory the whole model would need (for presets run as a slice, or too big for the card).
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import torch
import torch.nn.functional as F

from gpubench import devices
from gpubench.benchmarks.llm import model as M
from gpubench.benchmarks.llm.presets import lora_params, train_memory_needed, validate
from gpubench.benchmarks.llm.train_spec import train_flops
from gpubench.benchmarks.models.zoo import first_call
from gpubench.records import Case, CheckResult, Work, Workload

CHECK_STEPS = 30
LOSS_RATIO_TOL = 0.9  # memorising the fixed batch: loss after CHECK_STEPS / before must be at most this
LR = {"full": 3e-3, "lora": 1e-2}


def llm_train(case: Case, device: torch.device) -> Workload:
    params = case.as_dict()
    p = validate(params, tokens_keys=("seq",))
    precision, mode = str(params["precision"]), str(params["mode"])
    batch, seq, rank = int(params["batch"]), int(params["seq"]), int(params["lora_rank"])
    M.require_precision(precision, device)
    amp = precision == "bf16"
    # full: fp32 master weights; LoRA: the frozen base in the compute dtype, adapters in fp32.
    model = M.Decoder(p, device, torch.bfloat16 if (mode == "lora" and amp) else torch.float32)
    if mode == "full":
        trainable = list(model.parameters())
        for t in trainable:
            t.requires_grad_(True)
    else:
        gen = torch.Generator(device=device).manual_seed(M.SEED + 3)
        for layer in model.layers:
            for proj in (layer.q, layer.k, layer.v, layer.o):
                proj.add_lora(rank, gen)
        trainable = [t for layer in model.layers for proj in (layer.q, layer.k, layer.v, layer.o) for t in proj.lora]
    fused = devices.get(device).fused_optimizer
    opt = torch.optim.AdamW(trainable, lr=LR[mode], fused=fused)
    data = M.random_tokens(p, batch, seq + 1, device)
    x, y = data[:, :-1], data[:, 1:]
    initial = [t.detach().clone() for t in trainable]

    def autocast() -> contextlib.AbstractContextManager[Any]:
        return (
            torch.autocast(devices.get(device).autocast_type, dtype=torch.bfloat16) if amp else contextlib.nullcontext()
        )

    def step() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        with autocast():
            logits = model(x, every_position=True)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
        loss.backward()
        opt.step()
        return loss.detach()

    first_call(step, f"{p.name} {mode} fine-tuning in {precision}", device)

    def check() -> CheckResult:
        last = step()
        if not bool(torch.isfinite(last)):
            return CheckResult(
                math.inf, LOSS_RATIO_TOL, f"training diverged during the timed steps: loss {float(last):.4g}"
            )
        with torch.no_grad():
            for t, t0 in zip(trainable, initial, strict=True):
                t.copy_(t0)
        opt.state.clear()
        losses = [float(step()) for _ in range(CHECK_STEPS + 1)]
        ratio = losses[-1] / losses[0] if losses[0] > 0 else float("nan")
        return CheckResult(
            ratio,
            LOSS_RATIO_TOL,
            f"loss {losses[0]:.4g} -> {losses[-1]:.4g} after {CHECK_STEPS} steps on the fixed batch",
        )

    flops = train_flops(p, mode, batch, seq)
    info = {
        **M.common_info(p, precision),
        "mode": mode,
        "trainable_params": sum(t.numel() for t in trainable),
        "lora_params_full": lora_params(p, rank) if mode == "lora" else 0,
        "memory_needed_full_bytes": train_memory_needed(p, mode, batch, seq, precision),
        "optimizer": "AdamW" + (" (fused)" if fused else ""),
    }

    def close() -> None:
        nonlocal model, opt, trainable, initial
        del model, opt, trainable, initial

    return Workload(step=step, work=Work(float(batch * seq), "token", flops=flops), check=check, info=info, close=close)
