"""The model catalog: what each model is built from, its synthetic data, its loss, and shared helpers
(parameter normalisation, precision support, FLOP counting) for the train and infer benchmarks.

Synthetic data is learnable (labels are a function of the input) so a training check can demand that the
loss goes down, and it lives on the device before timing starts: no input pipeline in the timed step.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from gpubench import devices
from gpubench.benchmarks.models import nets
from gpubench.benchmarks.models.catalog import MODEL_NAMES, SIZE_KEYS, ModelInfo
from gpubench.benchmarks.models.catalog import MODELS as INFO
from gpubench.errors import Unsupported, first_line
from gpubench.records import ParamValue

Batch = dict[str, torch.Tensor]
Nets = dict[str, nn.Module]

SEED = 20240611
META = torch.device("meta")  # shapes only: FLOP counting builds the model here, without memory
CHAIN_CYCLE = 16  # synthetic token chains cycle through this many tokens (see _token_chains)


@dataclass(frozen=True)
class ModelDef:
    """One model: its catalog entry (gpubench.benchmarks.models.catalog: name, kind, unit, default batch,
    sizes) and how to build, feed and train it."""

    info: ModelInfo
    build: Callable[[Mapping[str, int]], Nets]
    data: Callable[[int, Mapping[str, int], torch.device, torch.Generator | None], Batch]
    optimizer: Callable[[list[nn.Parameter], bool], torch.optim.Optimizer]

    name = property(lambda self: self.info.name)
    kind = property(lambda self: self.info.kind)
    unit = property(lambda self: self.info.unit)
    default_batch = property(lambda self: self.info.default_batch)
    sizes = property(lambda self: self.info.sizes)
    channels_last = property(lambda self: self.info.channels_last)
    description = property(lambda self: self.info.description)


# --- synthetic data -------------------------------------------------------------------------------------


def _randn(shape: tuple[int, ...], device: torch.device, gen: torch.Generator | None) -> torch.Tensor:
    if device == META:
        return torch.empty(shape, device=device)
    return torch.randn(shape, device=device, generator=gen)


def _prototype_images(
    batch: int, classes: int, shape: tuple[int, int, int], device: torch.device, gen: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images = class prototype + noise; the label is the prototype's class, so it can be learnt."""
    if device == META:
        return torch.empty((batch, *shape), device=device), torch.empty(batch, dtype=torch.long, device=device)
    y = torch.randint(0, classes, (batch,), device=device, generator=gen)
    used, index = torch.unique(y, return_inverse=True)  # only the prototypes this batch uses
    protos = torch.randn((used.numel(), *shape), device=device, generator=gen)
    x = protos[index] + 0.5 * torch.randn((batch, *shape), device=device, generator=gen)
    return x, y


def _token_chains(
    batch: int, length: int, vocab: int, device: torch.device, gen: torch.Generator | None
) -> torch.Tensor:
    """Token chains that follow a fixed successor rule: a learnable next-token task.

    The successor permutation splits a random order of the vocabulary into cycles of CHAIN_CYCLE tokens,
    so a batch holds at most batch * CHAIN_CYCLE distinct tokens: even a big LM's loss drops clearly from
    ln(vocab) within a few dozen steps. Token ids still span the whole vocabulary; a step's cost does
    not depend on which ids it sees.
    """
    if device == META:
        return torch.empty((batch, length), dtype=torch.long, device=device)
    order = torch.randperm(vocab, device=device, generator=gen)
    pos = torch.arange(vocab, device=device)
    start = pos - pos % CHAIN_CYCLE
    cycle_len = torch.clamp(vocab - start, max=CHAIN_CYCLE)
    successor = torch.empty_like(order)
    successor[order] = order[start + (pos - start + 1) % cycle_len]
    tokens = torch.empty((batch, length), dtype=torch.long, device=device)
    tokens[:, 0] = torch.randint(0, vocab, (batch,), device=device, generator=gen)
    for t in range(1, length):
        tokens[:, t] = successor[tokens[:, t - 1]]
    return tokens


def _image_data(classes: int, shape: tuple[int, int, int]):
    def data(batch: int, sizes: Mapping[str, int], device: torch.device, gen: torch.Generator | None) -> Batch:
        x, y = _prototype_images(batch, classes, shape, device, gen)
        return {"x": x, "y": y}

    return data


def _char_data(batch: int, sizes: Mapping[str, int], device: torch.device, gen: torch.Generator | None) -> Batch:
    tokens = _token_chains(batch, sizes["seq"] + 1, sizes["vocab"], device, gen)
    return {"x": tokens[:, :-1], "y": tokens[:, -1]}  # the character after the sequence


def _lm_data(batch: int, sizes: Mapping[str, int], device: torch.device, gen: torch.Generator | None) -> Batch:
    tokens = _token_chains(batch, sizes["seq"] + 1, sizes["vocab"], device, gen)
    return {"x": tokens[:, :-1].contiguous(), "y": tokens[:, 1:].contiguous()}  # next token at every position


def _gan_data(shape: tuple[int, int, int], z_shape: tuple[int, ...]):
    def data(batch: int, sizes: Mapping[str, int], device: torch.device, gen: torch.Generator | None) -> Batch:
        x, _ = _prototype_images(batch, 10, shape, device, gen)
        real = x if device == META else torch.tanh(x)  # "real" images in the generator's range [-1, 1]
        return {
            "real": real,
            "z": _randn((batch, *z_shape), device, gen),
            "ones": torch.ones(batch, device=device),
            "zeros": torch.zeros(batch, device=device),
        }

    return data


# --- optimizers -----------------------------------------------------------------------------------------
# `fused` puts the whole update in a few kernels on GPUs, as NGC/Lambda training scripts do (apex/fused Adam).


def _sgd(lr: float):
    def make(params: list[nn.Parameter], fused: bool) -> torch.optim.Optimizer:
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=1e-4, fused=fused or None)

    return make


def _adam(lr: float, betas: tuple[float, float] = (0.9, 0.999), weight_decay: float = 0.0):
    def make(params: list[nn.Parameter], fused: bool) -> torch.optim.Optimizer:
        return torch.optim.AdamW(params, lr=lr, betas=betas, weight_decay=weight_decay, fused=fused or None)

    return make


# --- the catalog ----------------------------------------------------------------------------------------


def _gpt2(sizes: Mapping[str, int]) -> Nets:
    width = sizes["width"]
    heads = max(1, width // 64)  # GPT-2 keeps 64-wide heads: 12 heads at width 768
    if width % heads:
        raise Unsupported(f"gpt2 width {width} is not a multiple of its {heads} heads of 64")
    return {"net": nets.GPT2(sizes["vocab"], sizes["seq"], sizes["layers"], width, heads)}


MODELS: dict[str, ModelDef] = {
    d.name: d
    for d in (
        ModelDef(
            INFO["mnist_cnn"],
            build=lambda s: {"net": nets.MnistCNN()},
            data=_image_data(10, (1, 28, 28)),
            optimizer=_adam(1e-3),
        ),
        ModelDef(
            INFO["resnet50"],
            build=lambda s: {"net": nets.ResNet50()},
            # Labels from 100 of the 1000 classes: ~batch/100 images share a prototype, so the loss falls
            # clearly within the check's 30 steps even at the multi-thousand batches max_batch finds.
            data=_image_data(100, (3, 224, 224)),
            # 0.1 (ImageNet's rate, with warm-up) diverged on the fixed batch within the timed steps
            # (loss 7 -> 9.6 when compiled; fp16 steps skipped); 0.02 memorises it stably.
            optimizer=_sgd(0.02),
        ),
        ModelDef(
            INFO["char_rnn"],
            build=lambda s: {"net": nets.CharRNN(s["vocab"])},
            data=_char_data,
            optimizer=_adam(1e-2),
        ),
        ModelDef(
            INFO["lstm_lm"],
            build=lambda s: {"net": nets.LSTMLM(s["vocab"], s["width"], s["layers"])},
            data=_lm_data,
            optimizer=_adam(3e-3),
        ),
        ModelDef(
            INFO["dcgan_mnist"],
            build=lambda s: {"G": nets.MnistGenerator(), "D": nets.MnistDiscriminator()},
            data=_gan_data((1, 28, 28), (100,)),
            optimizer=_adam(1e-4, (0.5, 0.999)),
        ),
        ModelDef(
            INFO["dcgan64"],
            build=lambda s: {"G": nets.DCGAN64Generator(), "D": nets.DCGAN64Discriminator()},
            data=_gan_data((3, 64, 64), (100, 1, 1)),
            optimizer=_adam(2e-4, (0.5, 0.999)),
        ),
        ModelDef(
            INFO["gpt2"],
            build=_gpt2,
            data=_lm_data,
            optimizer=_adam(1e-3, (0.9, 0.95), weight_decay=0.1),
        ),
    )
}

if tuple(MODELS) != MODEL_NAMES:
    raise RuntimeError("zoo.MODELS and catalog.MODELS must list the same models in the same order")


def sizes_of(params: Mapping[str, ParamValue]) -> dict[str, int]:
    return {k: int(v) for k, v in params.items() if k in SIZE_KEYS}


# --- precision support ----------------------------------------------------------------------------------


def require_amp(precision: str, device: torch.device) -> None:
    """Raise Unsupported unless the device trains in `precision` (train's and ddp_train's names: fp32, tf32,
    amp_fp16, amp_bf16): TF32 needs tensor cores, AMP needs torch.autocast in that half type."""
    if precision == "tf32":
        devices.get(device).require("tf32")
    elif precision.startswith("amp_"):
        devices.get(device).require(precision.removeprefix("amp_"), autocast=True)


# --- losses, BatchNorm calibration, FLOPs ---------------------------------------------------------------


def classifier_loss(net: nn.Module, batch: Batch) -> torch.Tensor:
    """Mean cross-entropy; language models flatten (batch, seq, vocab) to tokens."""
    logits = net(batch["x"])
    return F.cross_entropy(logits.flatten(0, -2), batch["y"].flatten())


def gan_step(
    g: nn.Module,
    d: nn.Module,
    batch: Batch,
    amp: Callable[[], contextlib.AbstractContextManager[Any]],
    update_d: Callable[[torch.Tensor], None],
    update_g: Callable[[torch.Tensor], None],
) -> tuple[torch.Tensor, torch.Tensor]:
    """One DCGAN step: discriminator on real + generated images, then the generator through D."""
    bce = F.binary_cross_entropy_with_logits
    with amp():
        fake = g(batch["z"])
        # detach: the D step must not push gradients into G.
        loss_d = bce(d(batch["real"]), batch["ones"]) + bce(d(fake.detach()), batch["zeros"])
    update_d(loss_d)
    with amp():
        loss_g = bce(d(fake), batch["ones"])  # D after its update, as in the DCGAN reference loop
    update_g(loss_g)
    return loss_d.detach(), loss_g.detach()


def build_on(defn: ModelDef, sizes: Mapping[str, int], device: torch.device) -> Nets:
    """Build the model's networks on `device` with a fixed seed (the same weights on every kind of device)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        if device == META:
            with torch.device("meta"):
                built = defn.build(sizes)
        else:
            built = {k: v.to(device) for k, v in defn.build(sizes).items()}
    if defn.channels_last:
        built = {k: v.to(memory_format=torch.channels_last) for k, v in built.items()}
    return built


def make_batch(defn: ModelDef, batch: int, sizes: Mapping[str, int], device: torch.device) -> Batch:
    """The fixed synthetic batch, generated on the device (fast; reproducible per kind of device)."""
    gen = None if device == META else torch.Generator(device=device).manual_seed(SEED)
    data = defn.data(batch, sizes, device, gen)
    if defn.channels_last:
        data = {k: v.contiguous(memory_format=torch.channels_last) if v.dim() == 4 else v for k, v in data.items()}
    return data


def count_flops(defn: ModelDef, sizes: Mapping[str, int], batch: int, *, train: bool) -> float:
    """Model FLOPs of one step, counted on the meta device (no memory, no compute).

    Training counts forward + backward of every network the step runs (optimizer excluded); inference
    counts the forward. Counting on meta keeps the number independent of the device: on GPUs the fused
    cuDNN RNN kernels are invisible to FlopCounterMode, while on meta nn.RNN/LSTM decompose into matmuls.
    Counted once per model, sizes, batch and mode in a process (each round of a case builds its workload
    afresh; the count is the same)."""
    key = (id(defn), tuple(sorted(sizes.items())), int(batch), bool(train))
    if key not in _FLOPS:  # the entry holds `defn` itself, so its id cannot be reused while cached
        _FLOPS[key] = (defn, _count_flops(defn, sizes, batch, train=train))
    return _FLOPS[key][1]


_FLOPS: dict[tuple, tuple[ModelDef, float]] = {}


def _count_flops(defn: ModelDef, sizes: Mapping[str, int], batch: int, *, train: bool) -> float:
    meta = torch.device("meta")
    built = build_on(defn, sizes, meta)
    data = make_batch(defn, batch, sizes, meta)
    counter = FlopCounterMode(display=False)
    with counter:
        if not train:
            with torch.no_grad():
                if defn.kind == "gan":
                    built["G"](data["z"])
                else:
                    built["net"](data["x"])
        elif defn.kind == "gan":
            gan_step(built["G"], built["D"], data, contextlib.nullcontext, _backward, _backward)
        else:
            classifier_loss(built["net"], data).backward()
    return float(counter.get_total_flops())


def _backward(loss: torch.Tensor) -> None:
    loss.backward()


@torch.no_grad()
def calibrate_batchnorm(net: nn.Module, inputs: torch.Tensor) -> None:
    """Set BatchNorm running statistics from one train-mode pass, then leave the net in eval mode.

    Untrained running stats (mean 0, var 1) let activations of a random ResNet grow block after block in
    eval mode, enough to overflow fp16; real checkpoints have calibrated stats, so give ours some.
    """
    bns = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        net.eval()
        return
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average: one pass sets the stats exactly
    net.train()
    net(inputs)
    net.eval()
    for m, momentum in zip(bns, saved, strict=True):
        m.momentum = momentum


# Errors that mean "this device/dtype has no kernel for an op of this model", not a bug in the model.
_MISSING_KERNEL = (
    "not implemented for",
    "could not create a primitive",
    "Unsupported dtype",
    "does not support",
)


def first_call(step: Callable[[], Any], what: str, device: torch.device, allow_tf32: bool = False) -> Any:
    """Run the first step in the factory: it compiles (torch.compile) and lazily initialises kernels, which
    belongs out of the warm-up, and a missing kernel becomes Unsupported instead of a failed case."""
    try:
        with devices.precision_flags({"allow_tf32": allow_tf32}):
            return step()
    except (RuntimeError, NotImplementedError) as e:
        message = first_line(e)
        if any(m in str(e) for m in _MISSING_KERNEL):
            raise Unsupported(f"{what} has no kernel on {devices.get(device).kind}: {message[:200]}") from None
        raise


def cpu_state(modules: Nets) -> dict[str, dict[str, torch.Tensor]]:
    """A CPU copy of every network's state (not on the device: it would count towards peak memory)."""
    return {k: {n: t.detach().to("cpu", copy=True) for n, t in m.state_dict().items()} for k, m in modules.items()}


@contextlib.contextmanager
def quiet_warnings() -> Iterator[None]:
    """torch.ao.quantization warns on every call (deprecation, reduce_range); the CLI should not show it."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
