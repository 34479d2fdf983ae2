"""`attention`: causal scaled-dot-product attention per SDPA backend (flash, memory-efficient, cuDNN, math)
with the heads and head_dim of a preset, one backend forced per case so the row names the kernel that ran.

FLOPs count the causal half only (QK^T and AV: 4 * B * H * S^2 * head_dim / 2), as FlashAttention's
papers do. A backend this device / torch cannot run for these shapes is skipped with torch's reason.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from gpubench.benchmarks.llm import model as M
from gpubench.benchmarks.llm.attention_spec import flops as attention_flops
from gpubench.benchmarks.llm.presets import validate
from gpubench.errors import Unsupported
from gpubench.records import Case, CheckResult, Work, Workload

BACKENDS = {
    "flash": SDPBackend.FLASH_ATTENTION,
    "efficient": SDPBackend.EFFICIENT_ATTENTION,
    "cudnn": SDPBackend.CUDNN_ATTENTION,
    "math": SDPBackend.MATH,
}
TOL = {"fp32": 1e-4, "bf16": 2e-2, "fp16": 5e-3}  # relative error vs a float64 reference on one head
CHECK_ROWS = 256  # query rows of the reference (the last ones: they see the most keys)


def attention(case: Case, device: torch.device) -> Workload:
    params = case.as_dict()
    p = validate(params, tokens_keys=("context",))
    precision, name, s, b = (
        str(params["precision"]),
        str(params["backend"]),
        int(params["context"]),
        int(params["batch"]),
    )
    M.require_precision(precision, device)
    dtype = M.DTYPES[precision]
    gen = torch.Generator(device=device).manual_seed(M.SEED)
    q = torch.randn(b, p.heads, s, p.head_dim, device=device, dtype=dtype, generator=gen)
    k = torch.randn(b, p.kv_heads, s, p.head_dim, device=device, dtype=dtype, generator=gen)
    v = torch.randn(b, p.kv_heads, s, p.head_dim, device=device, dtype=dtype, generator=gen)
    gqa = "native"
    backend = BACKENDS[name]

    def run(kk: torch.Tensor, vv: torch.Tensor, enable_gqa: bool) -> torch.Tensor:
        with sdpa_kernel([backend]):
            return F.scaled_dot_product_attention(q, kk, vv, is_causal=True, enable_gqa=enable_gqa)

    try:
        run(k, v, p.kv_heads != p.heads)
    except RuntimeError as first:
        if p.kv_heads == p.heads:
            raise Unsupported(f"SDPA backend {name} cannot run here: {str(first).splitlines()[0][:200]}") from None
        # Some backends lack grouped-query support: give them K/V repeated to every head (outside the timing).
        group = p.heads // p.kv_heads
        k, v = k.repeat_interleave(group, 1), v.repeat_interleave(group, 1)
        try:
            run(k, v, False)
        except RuntimeError as e:
            raise Unsupported(f"SDPA backend {name} cannot run here: {str(e).splitlines()[0][:200]}") from None
        gqa = "K/V repeated per head (backend lacks GQA)"
    enable = gqa == "native" and p.kv_heads != p.heads
    out: dict[str, torch.Tensor] = {}

    def step() -> None:
        out["o"] = run(k, v, enable)

    def check() -> CheckResult:
        step()
        rows = min(CHECK_ROWS, s)
        qh = q[0, 0, s - rows :].double().cpu()
        kh = k[0, 0].double().cpu()
        vh = v[0, 0].double().cpu()
        scores = qh @ kh.T / p.head_dim**0.5
        mask = torch.ones(rows, s, dtype=torch.bool).tril(s - rows)
        ref = torch.softmax(scores.masked_fill(~mask, float("-inf")), -1) @ vh
        got = out["o"][0, 0, s - rows :].double().cpu()
        err = (torch.linalg.vector_norm(got - ref) / torch.linalg.vector_norm(ref)).item()
        return CheckResult(err, TOL[precision], f"relative error vs float64 on the last {rows} queries of one head")

    flops = attention_flops(p.heads, p.head_dim, b, s)
    info = {
        "preset": p.name,
        "heads": p.heads,
        "kv_heads": p.kv_heads,
        "head_dim": p.head_dim,
        "sdpa_backend": backend.name,
        "gqa": gqa,
    }
    return Workload(step=step, work=Work(flops, "flop", flops=flops), check=check, info=info)
