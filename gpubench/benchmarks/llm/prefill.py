"""`llm_prefill`: B prompts of P tokens through the decoder in one forward that fills a static KV cache.

Compute-bound (every weight is used by B x P tokens): tokens/s and time to first token (the step time, as
llama-bench's pp512 and vLLM's TTFT measure it without queueing). Work is counted two ways: FLOPs and bytes
(weights read + KV cache written).
"""

from __future__ import annotations

import torch

from gpubench.benchmarks import Param, register
from gpubench.benchmarks.llm import model as M
from gpubench.benchmarks.llm.presets import PRECISIONS, PRESET_NAMES, validate
from gpubench.records import Case, ParamValue, Workload

PARAMS = {
    "preset": Param(str, choices=PRESET_NAMES, help="decoder shapes: " + ", ".join(PRESET_NAMES)),
    "precision": Param(str, choices=PRECISIONS, help="bf16, fp16, fp32; int8 / fp8 weight quantization"),
    "batch": Param(int, default=1, help="prompts per step"),
    "prompt": Param(int, default=512, minimum=1, help="tokens per prompt (P)"),
    "layers": Param(int, default=0, minimum=0, help="run only the first N layers (0 = all)"),
    "compile": Param(bool, default=False, help="torch.compile the forward (CUDA graphs on GPUs)"),
}


def _normalize(params: dict[str, ParamValue]) -> dict[str, ParamValue]:
    validate(params, tokens_keys=("prompt",))
    return {k: params[k] for k in PARAMS}


@register(
    "llm_prefill",
    version=1,
    params=PARAMS,
    normalize=_normalize,
    tags=("llm", "inference"),
    description="LLM prefill: B prompts of P tokens in one forward filling the KV cache; tokens/s, TTFT",
)
def llm_prefill(case: Case, device: torch.device) -> Workload:
    params = case.as_dict()
    p = validate(params, tokens_keys=("prompt",))
    precision, batch, prompt = str(params["precision"]), int(params["batch"]), int(params["prompt"])
    compile_ = bool(params["compile"])
    model = M.build(p, precision, device)
    cache = M.new_cache(p, batch, prompt + 1, precision, device, fill=False)  # +1: room for the check's token
    tokens = M.random_tokens(p, batch, prompt, device)
    work = p.prefill_work(batch, prompt, *M.bytes_per(precision))
    return M.serving_workload(
        "llm_prefill",
        p,
        precision,
        device,
        model,
        cache,
        tokens,
        0,
        compile_,
        float(batch * prompt),
        work,
        {"tokens_per_step": batch * prompt},
    )
