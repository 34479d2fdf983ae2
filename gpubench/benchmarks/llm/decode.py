"""`llm_decode`: B sequences each generate one token per step against a static KV cache holding C tokens.

Memory-bound: each step reads every weight once (shared by the batch) and each sequence's cached keys and
values, so tokens/s ~ bandwidth / bytes per step. Rows carry tokens/s total, per sequence (one user's speed)
and ms per token (TPOT), and the work as FLOPs and bytes read (weights + KV cache).

Serving scenarios (input I tokens, output O tokens): `context = I, output = O` puts the cache at the middle of
generation, I + O/2 tokens, whose step time is the mean TPOT over the O generated tokens (attention cost
grows linearly with the cache). The report pairs it with `llm_prefill` (TTFT) for the serving curve.
"""

from __future__ import annotations

import torch

from gpubench.benchmarks import Param, register
from gpubench.benchmarks.llm import model as M
from gpubench.benchmarks.llm.presets import PRECISIONS, PRESET_NAMES, serving_name, validate
from gpubench.records import Case, ParamValue, Work, Workload

PARAMS = {
    "preset": Param(str, choices=PRESET_NAMES, help="decoder shapes: " + ", ".join(PRESET_NAMES)),
    "precision": Param(str, choices=PRECISIONS, help="bf16, fp16, fp32; int8 / fp8 weight quantization"),
    "batch": Param(int, default=1, help="sequences decoded together"),
    "context": Param(
        int, default=1024, minimum=0, help="tokens already in each sequence's cache (C); input length"
    ),
    "output": Param(int, default=0, minimum=0, help="serving scenario: tokens generated (cache at C + O/2)"),
    "layers": Param(int, default=0, minimum=0, help="run only the first N layers (0 = all)"),
    "compile": Param(bool, default=False, help="torch.compile the step (CUDA graphs on GPUs)"),
}


def _normalize(params: dict[str, ParamValue]) -> dict[str, ParamValue]:
    validate(params, tokens_keys=("context", "output"))
    return {k: params[k] for k in PARAMS}


def cached_tokens(context: int, output: int) -> int:
    return context + output // 2


@register("llm_decode", version=1, params=PARAMS, normalize=_normalize, tags=("llm", "inference"),
          description="LLM decode: B sequences, one token each per step, static KV cache of C tokens; tokens/s")  # fmt: skip
def llm_decode(case: Case, device: torch.device) -> Workload:
    params = case.as_dict()
    p = validate(params, tokens_keys=("context", "output"))
    precision, batch = str(params["precision"]), int(params["batch"])
    context, output, compile_ = int(params["context"]), int(params["output"]), bool(params["compile"])
    cached = cached_tokens(context, output)
    model = M.build(p, precision, device)
    # Room for the check: it prefills CHECK_TOKENS + 1 positions even when the case caches fewer.
    cache = M.new_cache(p, batch, max(cached, M.CHECK_TOKENS) + 1, precision, device, fill=True)
    tokens = M.random_tokens(p, batch, 1, device)
    forward = M.compiled(model, device) if compile_ else model

    def step() -> torch.Tensor:
        with torch.inference_mode():
            return forward(tokens, cache, cached)  # same position every step: the cache stays C tokens long

    _, first_s = M.timed_first_call(step, f"{p.name} decode in {precision}", device)
    flops, moved = p.decode_work(batch, cached, *M.bytes_per(precision))
    info = {
        **M.common_info(p, precision, model),
        "workload": serving_name("llm_decode", p.name, precision),
        "cached_tokens": cached,
        "kv_cache_bytes": p.kv_bytes_per_token(M.bytes_per(precision)[1]) * batch * (cached + 1),
        ("compile_s" if compile_ else "first_call_s"): first_s,
    }

    def check():
        return M.cache_check(model, cache, precision, model, forward)

    def close() -> None:
        nonlocal model, cache, forward
        del model, cache, forward

    return Workload(step=step, work=Work(float(batch), "token", flops=flops, bytes=moved), check=check, info=info,
                    close=close)  # fmt: skip
