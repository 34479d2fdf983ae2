"""`llm_capacity`: the largest batch of C-token sequences whose weights + KV cache + working memory fit.

On a GPU it is found by allocation (doubling, then bisection, as `max_batch` does for training) of the
whole model's weight bytes, its KV cache and a decode step's working memory, so the CUDA context and the
allocator's real limits count. On the CPU it is computed from the shapes and the machine's memory (the same
arithmetic the report applies to catalog devices); the row says which. The timed step is then one decode
step at that batch (at most `timed_batch`), over `layers` layers.
"""

from __future__ import annotations

from typing import Any

import torch

from gpubench import devices
from gpubench.benchmarks.llm import model as M
from gpubench.benchmarks.llm import presets as P
from gpubench.benchmarks.models.train import MAX_BATCH_LIMIT, _is_oom, find_max_batch
from gpubench.errors import Unsupported
from gpubench.records import Case, Workload


def device_memory_bytes(device: torch.device) -> int:
    return int(devices.get(device).describe().memory_bytes or 0)


def _allocation_search(p: P.Preset, precision: str, context: int, device: torch.device) -> int:
    """Largest batch for which the whole model's weights, KV cache and step memory can be allocated."""
    full = P.PRESETS[p.name]
    weights = int(full.full_params * P.WEIGHT_BYTES[precision])
    per_seq = int(full.kv_bytes_per_token(P.KV_BYTES[precision]) * context)
    held: list[torch.Tensor] = []

    def fits(batch: int) -> bool:
        try:
            held.append(torch.empty(weights, dtype=torch.uint8, device=device))
            held.append(torch.empty(per_seq * batch, dtype=torch.uint8, device=device))
            held.append(
                torch.empty(
                    int(P.decode_working_bytes(full, batch, P.KV_BYTES[precision])), dtype=torch.uint8, device=device
                )
            )
            devices.get(device).synchronize()
            return True
        except Exception as e:
            if not _is_oom(e):
                raise
            return False
        finally:
            held.clear()
            devices.get(device).free_memory()  # collects garbage first

    return find_max_batch(fits, MAX_BATCH_LIMIT)


def llm_capacity(case: Case, device: torch.device) -> Workload:
    params = case.as_dict()
    run = P.validate(params, tokens_keys=("context",), batch_key="timed_batch")
    full = P.PRESETS[run.name]
    precision, context = str(params["precision"]), int(params["context"])
    M.require_precision(precision, device)
    memory = device_memory_bytes(device)
    computed = P.max_batch(full, precision, context, memory)
    info: dict[str, Any] = {
        "capacity_memory_bytes": memory,
        "max_batch_computed": computed,
        "max_context_b1": P.max_context(full, precision, memory),
        "largest_preset_fitting": P.largest_fitting(precision, memory, context) or "none",
        "memory_needed_b1_bytes": P.memory_needed(full, precision, 1, context),
    }
    if devices.get(device).memory_limited:
        best, info["capacity_method"] = _allocation_search(full, precision, context, device), "allocation"
    else:
        best, info["capacity_method"] = computed, "computed"
    info["max_batch"] = best
    info["max_tokens_cached"] = best * context
    if best == 0:
        raise Unsupported(
            f"{full.name} in {precision} does not fit one {context}-token sequence in "
            f"{memory / 2**30:.1f} GiB ({info['capacity_method']})"
        )
    batch = min(best, int(params["timed_batch"]))
    info["timed_batch"] = batch
    model = M.build(run, precision, device)
    cache = M.new_cache(run, batch, context, precision, device, fill=True)
    tokens = M.random_tokens(run, batch, 1, device)

    work = run.decode_work(batch, context - 1, *M.bytes_per(precision))
    return M.serving_workload(
        "llm_capacity", run, precision, device, model, cache, tokens, context - 1, False, float(batch), work, info
    )
