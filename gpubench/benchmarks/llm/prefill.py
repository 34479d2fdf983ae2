"""`llm_prefill`: B prompts of P tokens through the decoder in one forward that fills a static KV cache.

Compute-bound (every weight is used by B x P tokens): tokens/s and time to first token (the step time, as
llama-bench's pp512 and vLLM's TTFT measure it without queueing). Work is counted two ways: FLOPs and bytes
(weights read + KV cache written).
"""

from __future__ import annotations

import torch

from gpubench.benchmarks.llm import model as M
from gpubench.benchmarks.llm.presets import validate
from gpubench.records import Case, Workload


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
