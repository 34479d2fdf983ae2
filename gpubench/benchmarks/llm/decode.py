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

from gpubench.benchmarks.llm import model as M
from gpubench.benchmarks.llm.presets import validate
from gpubench.benchmarks.llm.workloads import cached_tokens
from gpubench.records import Case, Workload


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
    work = p.decode_work(batch, cached, *M.bytes_per(precision))
    return M.serving_workload(
        "llm_decode",
        p,
        precision,
        device,
        model,
        cache,
        tokens,
        cached,
        compile_,
        float(batch),
        work,
        {"cached_tokens": cached},
    )
