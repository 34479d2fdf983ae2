"""Training throughput: one optimizer step on a fixed synthetic batch per timed step (`train`), and the
largest batch that fits in GPU memory (`max_batch`).

Method as in Lambda's and NGC's training benchmarks: synthetic data already on the device, fixed seeds,
samples (or tokens) per second from the median step time, model FLOPs from FlopCounterMode for TFLOP/s.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from gpubench import devices
from gpubench.benchmarks.models.max_batch_spec import normalize as _normalize_max
from gpubench.benchmarks.models.nets import count_params
from gpubench.benchmarks.models.train_spec import normalize as _normalize_train
from gpubench.benchmarks.models.zoo import (
    MODELS,
    Batch,
    ModelDef,
    build_on,
    classifier_loss,
    count_flops,
    cpu_state,
    first_call,
    gan_step,
    make_batch,
    require_amp,
    sizes_of,
)
from gpubench.errors import Unsupported
from gpubench.records import Case, CheckResult, ParamValue, Work, Workload

AMP_DTYPES = {"amp_fp16": torch.float16, "amp_bf16": torch.bfloat16}

CHECK_STEPS = 30  # optimizer steps from the initial weights before the loss is compared
LOSS_RATIO_TOL = 0.9  # loss after CHECK_STEPS / loss before must be at most this
GAN_CHECK_STEPS = 2
# A loss scale this small means fp16 gradients kept overflowing and GradScaler skipped the updates: the timed
# steps were not training. Healthy runs stay near 2**10..2**16 (backoff halves it on each overflow).
MIN_LOSS_SCALE = 1.0

MAX_BATCH_LIMIT = 1 << 16  # stop doubling here: tiny models would otherwise fill 80 GB with one batch


class Trainer:
    """Model(s), optimizer(s), precision and the fixed batch of one training case. `step()` is one optimizer
    step (for a GAN: one discriminator step, then one generator step); it never synchronizes."""

    def __init__(self, defn: ModelDef, sizes: dict[str, int], precision: str, device: torch.device, compile_: bool):
        self.defn = defn
        self.sizes = sizes
        self.device = device
        self.amp_dtype = AMP_DTYPES.get(precision)
        self.nets = build_on(defn, sizes, device)
        for net in self.nets.values():
            net.train()
        self.dev = devices.get(device)
        fused = self.dev.fused_optimizer
        self.opts = {k: defn.optimizer(list(m.parameters()), fused) for k, m in self.nets.items()}
        self.run: dict[str, nn.Module] = {k: torch.compile(m) if compile_ else m for k, m in self.nets.items()}
        # fp16 gradients underflow without loss scaling; bf16 has fp32's exponent range and needs none.
        self.scaler = torch.amp.GradScaler(self.dev.autocast_type) if self.amp_dtype == torch.float16 else None
        self.scaler_state = self.scaler.state_dict() if self.scaler is not None else {}
        self.batch: Batch = {}

    def amp(self) -> contextlib.AbstractContextManager[Any]:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.dev.autocast_type, dtype=self.amp_dtype)

    def _update(self, opt: torch.optim.Optimizer) -> Callable[[torch.Tensor], None]:
        def apply(loss: torch.Tensor) -> None:
            if self.scaler is None:
                loss.backward()
                opt.step()
            else:
                self.scaler.scale(loss).backward()
                self.scaler.step(opt)  # skips the update when the scaled gradients overflowed

        return apply

    def step(self) -> Any:
        for opt in self.opts.values():
            opt.zero_grad(set_to_none=True)
        if self.defn.kind == "gan":
            out: Any = gan_step(
                self.run["G"],
                self.run["D"],
                self.batch,
                self.amp,
                self._update(self.opts["D"]),
                self._update(self.opts["G"]),
            )
        else:
            with self.amp():
                loss = classifier_loss(self.run["net"], self.batch)
            self._update(self.opts["net"])(loss)
            out = loss.detach()
        if self.scaler is not None:
            self.scaler.update()
        return out

    def restore(self, state: dict[str, dict[str, torch.Tensor]]) -> None:
        """Back to the initial weights with fresh optimizer state (in place: compiled graphs stay valid)."""
        for k, net in self.nets.items():
            net.load_state_dict(state[k])
        for opt in self.opts.values():
            opt.state.clear()
        if self.scaler is not None:
            self.scaler.load_state_dict(self.scaler_state)

    def unhealthy(self, losses: tuple[torch.Tensor, ...]) -> str | None:
        """Why the state the timed steps left is not training (diverged, or every update skipped), if so."""
        if not all(bool(torch.isfinite(t).all()) for t in losses):
            return "training diverged during the timed steps: loss " + ", ".join(f"{float(t):.4g}" for t in losses)
        if self.scaler is not None:
            scale = self.scaler.get_scale()
            if not scale >= MIN_LOSS_SCALE:  # also catches NaN
                return f"GradScaler's loss scale fell to {scale:.3g}: fp16 gradients kept overflowing, updates were skipped"
        return None

    def close(self) -> None:
        self.batch = {}
        self.nets, self.run, self.opts = {}, {}, {}


def _classifier_check(trainer: Trainer, initial: dict[str, dict[str, torch.Tensor]]) -> CheckResult:
    problem = trainer.unhealthy((trainer.step(),))  # one more step from where the timed steps left it
    if problem:
        return CheckResult(math.inf, LOSS_RATIO_TOL, problem)
    trainer.restore(initial)
    # Each step returns the loss before its update: the last one is the loss after CHECK_STEPS updates.
    losses = [float(trainer.step()) for _ in range(CHECK_STEPS + 1)]
    ratio = losses[-1] / losses[0] if losses[0] > 0 else float("nan")
    return CheckResult(
        ratio,
        LOSS_RATIO_TOL,
        f"loss {losses[0]:.4g} -> {losses[-1]:.4g} after {CHECK_STEPS} steps from the initial weights",
    )


def _gan_check(trainer: Trainer) -> CheckResult:
    problem = trainer.unhealthy(trainer.step())
    if problem:
        return CheckResult(math.inf, 0.0, problem)
    before = {k: [p.detach().clone() for p in net.parameters()] for k, net in trainer.nets.items()}
    losses = [trainer.step() for _ in range(GAN_CHECK_STEPS)]
    finite = all(bool(torch.isfinite(t).all()) for pair in losses for t in pair)
    changed = {
        k: any(not torch.equal(a, p.detach()) for a, p in zip(before[k], net.parameters(), strict=True))
        for k, net in trainer.nets.items()
    }
    failures = int(not finite) + sum(not c for c in changed.values())
    loss_d, loss_g = (float(t) for t in losses[-1])
    detail = (
        f"loss_d {loss_d:.4g}, loss_g {loss_g:.4g} ({'finite' if finite else 'NOT finite'}); "
        f"G {'changed' if changed['G'] else 'UNCHANGED'}, D {'changed' if changed['D'] else 'UNCHANGED'} "
        f"after {GAN_CHECK_STEPS} steps"
    )
    return CheckResult(float(failures), 0.0, detail)


def training_workload(
    params: dict[str, ParamValue], device: torch.device, extra_info: dict[str, Any] | None = None
) -> Workload:
    """The training Workload for normalized params (model, precision, batch, compile, sizes)."""
    model, precision, batch = str(params["model"]), str(params["precision"]), int(params["batch"])
    compile_ = bool(params.get("compile", False))
    defn = MODELS[model]
    sizes = sizes_of(params)
    require_amp(precision, device)
    trainer = Trainer(defn, sizes, precision, device, compile_)
    trainer.batch = make_batch(defn, batch, sizes, device)
    initial = cpu_state(trainer.nets) if defn.kind != "gan" else {}
    # The first step compiles (minutes for big models with compile=true), allocates optimizer state and
    # initialises kernels: here, not in the warm-up. A dtype with no kernel on this device -> Unsupported.
    first_call(trainer.step, f"{model} training in {precision}", device, allow_tf32=precision == "tf32")
    flops = count_flops(defn, sizes, batch, train=True)
    per_item = sizes["seq"] if defn.unit == "token" else 1
    info: dict[str, Any] = {
        "model": model,
        "precision": precision,
        "compile": compile_,
        "params_count": count_params(*trainer.nets.values()),
        "flops_per_step": flops,
        "optimizer": ", ".join(f"{k}: {type(o).__name__}" for k, o in trainer.opts.items()),
        "channels_last": defn.channels_last,
        "grad_scaler": trainer.scaler is not None,
        **{
            f"params_count_{k}": sum(p.numel() for p in net.parameters())
            for k, net in trainer.nets.items()
            if defn.kind == "gan"
        },
        **(extra_info or {}),
    }
    if defn.kind == "gan":
        check: Callable[[], CheckResult] = lambda: _gan_check(trainer)  # noqa: E731
    else:
        check = lambda: _classifier_check(trainer, initial)  # noqa: E731
    return Workload(
        step=trainer.step,
        work=Work(float(batch * per_item), defn.unit, flops=flops),
        check=check,
        flags={"allow_tf32": precision == "tf32"},
        info=info,
        close=trainer.close,
    )


def train(case: Case, device: torch.device) -> Workload:
    return training_workload(_normalize_train(case.as_dict()), device)


# --- max_batch ------------------------------------------------------------------------------------------

_OOM_MARKERS = (
    "out of memory",
    "CUDNN_STATUS_ALLOC_FAILED",
    "CUBLAS_STATUS_ALLOC_FAILED",
    "CUDNN_STATUS_NOT_SUPPORTED",  # cuDNN refuses some convolutions past a size limit: the batch cannot run
    "32-bit index math",
    "canUse32BitIndexMath",
)


def _is_oom(err: BaseException) -> bool:
    return isinstance(err, torch.OutOfMemoryError) or (
        isinstance(err, RuntimeError) and any(m in str(err) for m in _OOM_MARKERS)
    )


def _free(device: torch.device) -> None:
    dev = devices.get(device)
    dev.synchronize()
    dev.free_memory()  # collects garbage first: exception frames and closures keep activations alive


def find_max_batch(fits: Callable[[int], bool], limit: int = MAX_BATCH_LIMIT) -> int:
    """Largest batch b <= limit with fits(b), assuming fits is monotone: double, then bisect. 0 if none fits."""
    if not fits(1):
        return 0
    lo, hi = 1, None
    while hi is None:
        nxt = min(lo * 2, limit)
        if nxt == lo:
            return lo
        if fits(nxt):
            lo = nxt
        else:
            hi = nxt
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid
    return lo


def max_batch(case: Case, device: torch.device) -> Workload:
    params = _normalize_max(case.as_dict())
    if not devices.get(device).memory_limited:
        raise Unsupported("max_batch needs a GPU memory limit")
    model, precision = str(params["model"]), str(params["precision"])
    defn = MODELS[model]
    sizes = sizes_of(params)
    require_amp(precision, device)
    trainer = Trainer(defn, sizes, precision, device, compile_=False)

    def fits(batch: int) -> bool:
        ok = True
        try:
            trainer.batch = make_batch(defn, batch, sizes, device)
            # Two steps: the first allocates optimizer state, the second is the steady state.
            with devices.precision_flags({"allow_tf32": precision == "tf32"}):  # cuDNN picks workspaces per precision
                trainer.step()
                trainer.step()
            trainer.dev.synchronize()
        except Exception as e:
            if not _is_oom(e):
                raise
            ok = False
        trainer.batch = {}
        for opt in trainer.opts.values():
            opt.zero_grad(set_to_none=True)
        _free(device)
        return ok

    best = find_max_batch(fits)
    trainer.close()  # drops every tensor it holds before the final workload allocates its own
    _free(device)
    if best == 0:
        raise Unsupported(f"{model} does not fit in GPU memory even at batch 1 in {precision}")
    extra = {"max_batch": best, "max_batch_capped": best >= MAX_BATCH_LIMIT}
    return training_workload({**params, "batch": best, "compile": False}, device, extra)
