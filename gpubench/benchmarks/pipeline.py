"""Pipeline (model) parallelism with torch.distributed.pipelining: one model split into stages, one per rank.

A model too big for one device is cut into consecutive stages; a batch is cut into micro-batches that flow
through the stages like cars through a car wash. While the pipe fills and drains some stages wait: the
"bubble", (stages - 1) / (micro-batches + stages - 1) of the step for GPipe in theory. More micro-batches
shrink it; 1F1B (one forward, one backward, alternating) keeps fewer activations alive for the same bubble.

The model is an MLP of `layers` blocks (Linear + GELU) of `width` and a classifier head, split evenly over the
run's ranks, trained with SGD on a random batch. `schedule = "single"` is the same model and batch trained on
rank 0 alone (the other ranks sit the case out): the reference for speed-up and the measured bubble
1 - single / (stages x pipelined), which the report derives from the two rows; each pipelined row carries the
theoretical bubble. The schedules are PyTorch's own (ScheduleGPipe, Schedule1F1B). The check restores the
initial weights, runs one pipelined step and compares its loss (last stage) and every stage's gradients with
the unsplit model's on the full batch.

Needs a distributed run: `gpubench run SUITE --nproc 2` (two gloo ranks on a CPU with `--device cpu`).
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gpubench.benchmarks.collective import idle_workload, require_context
from gpubench.benchmarks.pipeline_spec import normalize
from gpubench.errors import Unsupported
from gpubench.records import Case, CheckResult, Work, Workload

CLASSES, SEED = 16, 9_001
TOLERANCE = 1e-4  # fp32: micro-batch sums in another order than the full batch


def build_model(layers: int, width: int) -> nn.Sequential:
    """The whole model, identical on every rank (seeded): `layers` blocks, then the classifier head."""
    torch.manual_seed(SEED)
    blocks: list[nn.Module] = [nn.Sequential(nn.Linear(width, width), nn.GELU()) for _ in range(layers)]
    return nn.Sequential(*blocks, nn.Linear(width, CLASSES))


def stage_slice(n_modules: int, stages: int, index: int) -> tuple[int, int]:
    """Modules [lo, hi) of stage `index`: an even split, the remainder to the first stages."""
    base, extra = divmod(n_modules, stages)
    lo = index * base + min(index, extra)
    return lo, lo + base + (1 if index < extra else 0)


def _batch(batch: int, width: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(SEED + batch)
    x = torch.randn(batch, width, generator=gen).to(device)
    y = torch.randint(0, CLASSES, (batch,), generator=gen).to(device)
    return x, y


def _grad_error(mine: nn.Module, reference: nn.Module) -> float:
    """Largest relative difference between this stage's gradients and the unsplit model's."""
    worst = 0.0
    for a, b in zip(mine.parameters(), reference.parameters(), strict=True):
        if a.grad is None or b.grad is None:
            return math.inf
        worst = max(worst, float((a.grad - b.grad).norm() / (b.grad.norm() + 1e-30)))
    return worst


def pipeline(case: Case, device: torch.device, ctx: Any = None) -> Workload:
    from torch.distributed.pipelining import PipelineStage, Schedule1F1B, ScheduleGPipe

    ctx = require_context("pipeline", ctx)
    p = normalize(case.as_dict())
    schedule, micro, batch = str(p["schedule"]), int(p["microbatches"]), int(p["batch"])
    layers, width = int(p["layers"]), int(p["width"])
    stages = ctx.world_size
    if schedule != "single" and stages < 2:
        raise Unsupported("a pipeline needs at least 2 ranks (stages)")
    if batch % micro:
        raise Unsupported(f"batch {batch} does not split into {micro} equal micro-batches")
    if schedule == "1f1b" and micro < stages:
        raise Unsupported(f"1F1B needs at least as many micro-batches as stages ({stages})")
    full = build_model(layers, width).to(device)
    x, y = _batch(batch, width, device)
    info: dict[str, Any] = {
        "stages": stages if schedule != "single" else 1,
        "dist_backend": ctx.library,
        "params_count": sum(q.numel() for q in full.parameters()),
    }
    work = Work(float(batch), "sample")
    if schedule == "single":
        if ctx.rank != 0:
            return idle_workload(1)
        opt = torch.optim.SGD(full.parameters(), lr=1e-3)
        initial = copy.deepcopy(full.state_dict())

        def step_single() -> None:
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(full(x), y).backward()
            opt.step()

        def check_single() -> CheckResult:
            full.load_state_dict(initial)
            loss = float(F.cross_entropy(full(x), y).detach())
            ok = math.isfinite(loss) and loss > 0
            return CheckResult(0.0 if ok else math.inf, 0.0, f"single-device loss {loss:.4g}")

        info["bubble_theory"] = 0.0
        return Workload(step=step_single, work=work, check=check_single, info=info)

    lo, hi = stage_slice(len(full), stages, ctx.rank)
    module = copy.deepcopy(full[lo:hi])
    first, last = ctx.rank == 0, ctx.rank == stages - 1
    stage = PipelineStage(module, ctx.rank, stages, device)
    cls = ScheduleGPipe if schedule == "gpipe" else Schedule1F1B
    sched = cls(stage, n_microbatches=micro, loss_fn=F.cross_entropy)
    opt = torch.optim.SGD(module.parameters(), lr=1e-3)
    initial = copy.deepcopy(module.state_dict())

    def run(losses: list[torch.Tensor] | None = None) -> None:
        if first:
            sched.step(x)
        elif last:
            sched.step(target=y, losses=losses)
        else:
            sched.step()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        run()
        opt.step()

    def check() -> CheckResult:
        module.load_state_dict(initial)
        opt.zero_grad(set_to_none=True)
        losses: list[torch.Tensor] = []
        run(losses)
        # The unsplit model on the full batch: its loss, and the gradients of this stage's modules.
        reference = build_model(layers, width).to(device)
        ref_loss = F.cross_entropy(reference(x), y)
        ref_loss.backward()
        err = _grad_error(module, reference[lo:hi])
        detail = f"stage {ctx.rank}: gradients differ by {err:.2g} (relative)"
        if last:
            pipe_loss = float(torch.stack([t.detach() for t in losses]).mean())
            ref = float(ref_loss.detach())
            err = max(err, abs(pipe_loss - ref) / abs(ref))
            detail += f"; pipelined loss {pipe_loss:.6g} vs single-device {ref:.6g}"
        opt.zero_grad(set_to_none=True)
        return CheckResult(err, TOLERANCE, detail)

    info.update(microbatches=micro, bubble_theory=(stages - 1) / (micro + stages - 1), stage_modules=f"{lo}-{hi - 1}")
    return Workload(step=step, work=work, check=check, info=info)
