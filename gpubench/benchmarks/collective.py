"""Distributed benchmarks: collectives between ranks (`collective`) and data-parallel training (`ddp_train`).

Both need a distributed run (`gpubench run SUITE --nproc N`); in a single process they are skipped.

collective: one collective per step on the whole world, method after NVIDIA's nccl-tests: sizes doubling, the
slowest rank's time counts (the runner gathers every rank's times), algorithm bandwidth = message bytes / time
(the row's throughput, GB/s) and bus bandwidth = algbw x the nccl-tests factor (doc/PERFORMANCE.md), which
compares with the link's unidirectional bandwidth. `size_bytes` is nccl-tests' size: the whole buffer, i.e. for
all_gather the gathered output, for reduce_scatter the input that is scattered, for all_to_all what each rank
sends; for send/recv what each rank sends to the next rank in a ring. Every rank's inputs are small random
integers drawn from a seed per rank, so each rank recomputes the expected result on its own and checks it.

ddp_train: the `train` workload under DistributedDataParallel on ranks 0..ranks-1 (the others sit the case out),
each rank on its own batch of `batch` samples: weak scaling, throughput = ranks x batch / step time. Scaling
efficiency = throughput at N / (N x throughput at 1) comes from comparing cases that differ only in `ranks`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist

from gpubench import devices
from gpubench.benchmarks.collective_spec import busbw_factor
from gpubench.benchmarks.ddp_train_spec import normalize as _normalize_ddp
from gpubench.benchmarks.models.train import CHECK_STEPS, LOSS_RATIO_TOL, Trainer
from gpubench.benchmarks.models.zoo import (
    MODELS,
    count_flops,
    cpu_state,
    first_call,
    make_batch,
    require_amp,
    sizes_of,
)
from gpubench.errors import Unsupported
from gpubench.records import Case, CheckResult, Work, Workload

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
# Largest integer each dtype holds exactly: sums of the check's small integers stay exact below it.
EXACT_INT = {"fp32": 2**24, "bf16": 2**8, "fp16": 2**11}
DATA_MAX = 3  # inputs are random integers in [-3, 3]
SEED = 7_340_033
# gloo on the CPU moves a few GB/s at best: bigger messages take seconds a step and are left to GPUs.
CPU_MAX_BYTES = 64 << 20

_CHUNKED = ("all_gather", "reduce_scatter", "all_to_all")  # size_bytes covers one chunk per rank


def require_context(benchmark: str, ctx: Any) -> Any:
    """The distributed context the runner passed (gpubench.distributed.context.DistContext); None outside a
    distributed run, where the benchmark is skipped."""
    if ctx is None:
        raise Unsupported(f"{benchmark} needs a distributed run: gpubench run SUITE --nproc N")
    return ctx


def _rank_data(rank: int, numel: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Rank `rank`'s input: random integers from a seed per rank, so any rank can recompute any other's."""
    gen = torch.Generator(device=device).manual_seed(SEED + 7919 * rank + numel)
    ints = torch.randint(-DATA_MAX, DATA_MAX + 1, (numel,), generator=gen, device=device, dtype=torch.int32)
    return ints.to(dtype)


def _gather_single(out: torch.Tensor, inp: torch.Tensor, group: Any) -> Any:
    fn = getattr(dist, "all_gather_single", None) or dist.all_gather_into_tensor  # renamed in torch 2.13
    return fn(out, inp, group=group)


def _reduce_scatter_single(out: torch.Tensor, inp: torch.Tensor, group: Any) -> Any:
    fn = getattr(dist, "reduce_scatter_single", None) or dist.reduce_scatter_tensor
    return fn(out, inp, group=group)


def _plan(op: str, r: int, n: int, c: int, dtype: torch.dtype, device: torch.device, group: Any):
    """(step, reset, output, expected()) for one op; c = elements per chunk."""
    sentinel = 2.0 * DATA_MAX * n + 7  # no correct result holds it: unwritten output shows up in the check

    def data(q: int, numel: int) -> torch.Tensor:
        return _rank_data(q, numel, dtype, device)

    reset: Callable[[], Any] | None = None
    if op == "all_reduce":
        src = data(r, c)
        buf = src.clone()

        def reset() -> None:
            buf.copy_(src)  # all_reduce is in place: restore the input, or values grow n-fold each step

        def expected() -> torch.Tensor:
            total = torch.zeros(c, dtype=torch.float64, device=device)
            for q in range(n):
                total += data(q, c).double()
            return total

        return (lambda: dist.all_reduce(buf, group=group)), reset, buf, expected
    if op == "broadcast":
        buf = data(r, c)  # non-root ranks start from their own data: a broadcast that did nothing fails the check
        return (lambda: dist.broadcast(buf, 0, group=group)), None, buf, (lambda: data(0, c).double())
    if op == "all_gather":
        src = data(r, c)
        out = torch.full((n * c,), sentinel, dtype=dtype, device=device)
        return (
            (lambda: _gather_single(out, src, group)),
            None,
            out,
            (lambda: torch.cat([data(q, c) for q in range(n)]).double()),
        )
    if op == "reduce_scatter":
        src = data(r, n * c)
        out = torch.full((c,), sentinel, dtype=dtype, device=device)

        def expected_rs() -> torch.Tensor:
            total = torch.zeros(c, dtype=torch.float64, device=device)
            for q in range(n):
                total += data(q, n * c)[r * c : (r + 1) * c].double()
            return total

        return (lambda: _reduce_scatter_single(out, src, group)), None, out, expected_rs
    if op == "all_to_all":
        src = data(r, n * c)
        out = torch.full((n * c,), sentinel, dtype=dtype, device=device)
        return (
            (lambda: dist.all_to_all_single(out, src, group=group)),
            None,
            out,
            (lambda: torch.cat([data(q, n * c)[r * c : (r + 1) * c] for q in range(n)]).double()),
        )
    if op == "sendrecv":
        src = data(r, c)
        out = torch.full((c,), sentinel, dtype=dtype, device=device)

        def step() -> None:
            # A ring: send to the next rank, receive from the previous one, both in flight at once.
            ops = [
                dist.P2POp(dist.isend, src, (r + 1) % n, group=group),
                dist.P2POp(dist.irecv, out, (r - 1) % n, group=group),
            ]
            for work in dist.batch_isend_irecv(ops):
                work.wait()

        return step, None, out, (lambda: data((r - 1) % n, c).double())
    raise ValueError(f"unknown op {op!r}")


def collective(case: Case, device: torch.device, ctx: Any = None) -> Workload:
    ctx = require_context("collective", ctx)
    op, size, dtype_name = case.param("op"), int(case.param("size_bytes")), case.param("dtype")
    n, r = ctx.world_size, ctx.rank
    if op == "sendrecv" and n < 2:
        raise Unsupported("send/recv needs at least 2 ranks")
    if ctx.backend == "gloo" and size > CPU_MAX_BYTES:
        raise Unsupported(
            f"messages above {CPU_MAX_BYTES >> 20} MiB are left to GPUs (gloo on the CPU: seconds a step)"
        )
    dtype = DTYPES[dtype_name]
    elem = torch.empty((), dtype=dtype).element_size()
    chunks = n if op in _CHUNKED else 1
    c = size // (elem * chunks)
    if c < 1:
        raise Unsupported(f"{size} bytes do not hold one {dtype_name} element per rank for {n} ranks")
    msg_bytes = c * chunks * elem
    step, reset, out, expected = _plan(op, r, n, c, dtype, device, None)
    step()  # the first call sets up the communicator and its buffers: here, not in the warm-up
    if reset is not None:
        reset()
    # Small integers sum exactly while |sum| stays below the dtype's exact-integer range; past it, rounding.
    bound = DATA_MAX * n
    tolerance = 0.0 if bound <= EXACT_INT[dtype_name] else bound * 2.0 ** -(8 if dtype_name == "bf16" else 11)

    def check() -> CheckResult:
        got = out.double()
        err = float((got - expected()).abs().max()) if got.numel() else 0.0
        return CheckResult(
            err, tolerance, f"max |error| of {got.numel()} {dtype_name} outputs on rank {r} against the recomputed {op}"
        )

    def close() -> None:
        nonlocal step, reset, out
        step = reset = out = None  # type: ignore[assignment]

    info = {
        "op": op,
        "world_size": n,
        "msg_bytes": msg_bytes,
        "busbw_factor": busbw_factor(op, n),
        "dist_backend": ctx.library,
        "elements_per_rank": c,
    }
    return Workload(
        step=lambda: step(), work=Work(float(msg_bytes), "byte"), check=check, reset=reset, info=info, close=close
    )


# --------------------------------------------------------------------------------------------- ddp_train

REPLICA_TOL = 1e-6  # DDP replicas apply the same averaged gradients: their weights must agree to rounding


def idle_workload(ranks: int) -> Workload:
    """What a rank outside ranks 0..ranks-1 runs: nothing, in step with the others (its times are not counted)."""
    return Workload(step=lambda: None, work=Work(1.0, "sample"), info={"rank_active": False, "dp_ranks": ranks})


def _replica_spread(net: torch.nn.Module, group: Any) -> float:
    """Largest relative difference between ranks of per-tensor weight sums (0 when every replica agrees)."""
    sums = torch.stack([p.detach().double().sum() for p in net.parameters()])
    if dist.get_backend(group) == "gloo":
        sums = sums.cpu()
    hi, lo = sums.clone(), sums.clone()
    dist.all_reduce(hi, dist.ReduceOp.MAX, group=group)
    dist.all_reduce(lo, dist.ReduceOp.MIN, group=group)
    return float(((hi - lo).abs() / (hi.abs() + 1e-12)).max())


def ddp_train(case: Case, device: torch.device, ctx: Any = None) -> Workload:
    from torch.nn.parallel import DistributedDataParallel

    params = _normalize_ddp(case.as_dict())
    ctx = require_context("ddp_train", ctx)
    model, precision, batch = str(params["model"]), str(params["precision"]), int(params["batch"])
    compile_ = bool(params["compile"])
    ranks = int(params["ranks"]) or ctx.world_size
    if ranks > ctx.world_size:
        raise Unsupported(f"needs {ranks} ranks; this run has {ctx.world_size}")
    defn = MODELS[model]
    if defn.kind != "classifier":
        raise Unsupported(f"{model} is a GAN (two networks, two optimizers): DDP training covers single networks")
    require_amp(precision, device)
    # Every rank creates the group (collectively, in case order), even those that sit the case out.
    group = ctx.subgroup(ranks)
    if ctx.rank >= ranks:
        return idle_workload(ranks)
    sizes = sizes_of(params)
    trainer = Trainer(defn, sizes, precision, device, compile_=False)
    net = trainer.nets["net"]
    # DDP broadcasts rank 0's weights to the others and all-reduces gradients during backward.
    ddp = DistributedDataParallel(net, device_ids=devices.get(device).ddp_device_ids(), process_group=group)
    trainer.run["net"] = torch.compile(ddp) if compile_ else ddp
    # Every rank trains on the same synthetic batch: the step's cost does not depend on the values.
    trainer.batch = make_batch(defn, batch, sizes, device)
    initial = cpu_state(trainer.nets)
    first_call(trainer.step, f"{model} DDP training in {precision}", device, allow_tf32=precision == "tf32")
    flops = count_flops(defn, sizes, batch, train=True)
    per_item = sizes["seq"] if defn.unit == "token" else 1

    def check() -> CheckResult:
        trainer.restore(initial)
        losses = [float(trainer.step()) for _ in range(CHECK_STEPS + 1)]
        ratio = losses[-1] / losses[0] if losses[0] > 0 else float("nan")
        spread = _replica_spread(net, group)
        detail = (
            f"loss {losses[0]:.4g} -> {losses[-1]:.4g} after {CHECK_STEPS} DDP steps; replicas differ by {spread:.2g}"
        )
        if spread > REPLICA_TOL:
            return CheckResult(float("inf"), LOSS_RATIO_TOL, f"replicas diverged (gradients not averaged): {detail}")
        return CheckResult(ratio, LOSS_RATIO_TOL, detail)

    info: dict[str, Any] = {
        "model": model,
        "precision": precision,
        "params_count": sum(p.numel() for p in net.parameters()),
        "flops_per_step": flops * ranks,
        "optimizer": type(trainer.opts["net"]).__name__,
        "dp_ranks": ranks,
        "batch_per_rank": batch,
        "global_batch": batch * ranks,
        "dist_backend": ctx.library,
        "grad_scaler": trainer.scaler is not None,
    }
    return Workload(
        step=trainer.step,
        work=Work(float(batch * per_item * ranks), defn.unit, flops=flops * ranks),
        check=check,
        flags={"allow_tf32": precision == "tf32"},
        info=info,
        close=trainer.close,
    )
