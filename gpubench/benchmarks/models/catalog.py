"""The model catalog as data (no torch): names, units, default sizes, parameters shared by the model
benchmarks (train, infer, max_batch, ddp_train), and what one item of each model costs at any size.

`zoo` adds how to build, feed and train each model (torch). Costs: the fixed-shape models (CNNs, GANs) use
the shipped per-model counts in gpubench/data/workloads.toml (counted with torch's FlopCounterMode); the
models with size parameters (gpt2, lstm_lm, char_rnn) use closed formulas that reproduce FlopCounterMode's
count at every size (tests/test_benchmark_specs.py recounts a few shapes), so a 2-layer "gpt2" costs what a
2-layer gpt2 costs, not GPT-2 small.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from gpubench.benchmarks.spec import Param, Word, WorkloadRef, millions, shape_key, word
from gpubench.errors import SuiteError
from gpubench.files import tomllib
from gpubench.precisions import PEAK_KEY, is_half
from gpubench.records import ParamValue

SIZE_KEYS = ("seq", "vocab", "layers", "width")


@dataclass(frozen=True)
class ModelInfo:
    """One model, torch-free. kind: "classifier" or "gan"; unit: what one batch element counts as ("sample",
    or "token": batch * seq tokens per step); sizes: its size parameters and their defaults (GPT-2 small's, the
    LSTM LM's ...): a row at exactly these sizes IS the named workload; label: its name for people."""

    name: str
    kind: str
    unit: str
    default_batch: int
    label: str
    description: str = ""
    sizes: Mapping[str, int] = field(default_factory=dict)
    channels_last: bool = False


MODELS: dict[str, ModelInfo] = {
    m.name: m
    for m in (
        ModelInfo(
            "mnist_cnn", "classifier", "sample", 128, "MNIST CNN", "Keras/TF tutorial CNN on 28x28x1 (93k params)"
        ),
        ModelInfo(
            "resnet50",
            "classifier",
            "sample",
            64,
            "ResNet-50",
            "ResNet-50 v1.5 at 224x224, channels_last (25.6M params)",
            channels_last=True,
        ),
        ModelInfo(
            "char_rnn",
            "classifier",
            "sample",
            64,
            "char-RNN",
            "Embedding(16) -> SimpleRNN(32) -> Dense(vocab), next character after the sequence",
            sizes={"seq": 100, "vocab": 65},
        ),
        ModelInfo(
            "lstm_lm",
            "classifier",
            "token",
            32,
            "LSTM LM (2 x 1024)",
            "2-layer LSTM language model, hidden 1024, vocab 10k (37M params)",
            sizes={"seq": 128, "vocab": 10000, "layers": 2, "width": 1024},
        ),
        ModelInfo(
            "dcgan_mnist",
            "gan",
            "sample",
            128,
            "DCGAN (MNIST)",
            "TF tutorial DCGAN on 28x28x1; a step = D on real + fake, then G",
        ),
        ModelInfo("dcgan64", "gan", "sample", 128, "DCGAN 64x64", "Radford et al. DCGAN, 64x64x3, nz=100, ngf=ndf=64"),
        ModelInfo(
            "gpt2",
            "classifier",
            "token",
            8,
            "GPT-2 small",
            "GPT-2-style decoder (small: 12 x 768, seq 1024), causal LM with SDPA",
            sizes={"seq": 1024, "vocab": 50257, "layers": 12, "width": 768},
        ),
    )
}
MODEL_NAMES = tuple(MODELS)


# --- parameters -----------------------------------------------------------------------------------------


def size_params() -> dict[str, Param]:
    """The size parameters shared by train/infer/max_batch; 0 means the model's own default."""
    users = {key: [d.name for d in MODELS.values() if key in d.sizes] for key in SIZE_KEYS}
    what = {"seq": "sequence length", "vocab": "vocabulary size", "layers": "layers", "width": "hidden width"}
    return {
        key: Param(int, default=0, minimum=0, help=f"{what[key]} for {', '.join(users[key])} (0 = model default)")
        for key in SIZE_KEYS
    }


def model_params(
    models: tuple[str, ...],
    precisions: tuple[str, ...],
    precision_help: str,
    *,
    batch_help: str | None = "samples (sequences) per step (0 = model default)",
    compile_help: str | None = "torch.compile the network(s)",
) -> dict[str, Param]:
    """The parameters every model benchmark (train, infer, max_batch, ddp_train) takes: model, precision,
    batch and compile (a None help leaves that one out), then the size parameters."""
    params = {
        "model": Param(str, choices=models, help="network: " + ", ".join(models)),
        "precision": Param(str, choices=precisions, help=precision_help),
    }
    if batch_help is not None:
        params["batch"] = Param(int, default=0, minimum=0, help=batch_help)
    if compile_help is not None:
        params["compile"] = Param(bool, default=False, help=compile_help)
    return {**params, **size_params()}


def make_normalize(keys: tuple[str, ...]) -> Callable[[dict[str, ParamValue]], dict[str, ParamValue]]:
    """Build a normalize hook: fill per-model defaults (batch 0, sizes 0) and keep only the sizes the
    model takes, so case ids read `train[model=gpt2,...,seq=1024]` and not `seq=0` on a CNN."""

    def normalize(params: dict[str, ParamValue]) -> dict[str, ParamValue]:
        model = params.get("model")
        if model not in MODELS:
            raise SuiteError(f"model: {model!r} is not one of {', '.join(MODEL_NAMES)}")
        d = MODELS[str(model)]
        out: dict[str, ParamValue] = {}
        for key in keys:
            value = params.get(key)
            if key == "batch":
                out[key] = int(value or d.default_batch)
            elif key == "compile":
                out[key] = bool(value)
            else:
                out[key] = value  # type: ignore[assignment]
        for key in SIZE_KEYS:
            value = int(params.get(key) or 0)
            if key in d.sizes:
                out[key] = value or d.sizes[key]
            elif value:
                takes = ", ".join(d.sizes) or "no size parameters"
                raise SuiteError(f"{key}: model {model} does not take {key!r} (it takes {takes})")
        return out

    return normalize


def sizes_of(model: str, params: Mapping[str, Any]) -> dict[str, int]:
    """The model's sizes for a row: its own defaults where the row gives none (or 0)."""
    d = MODELS[model]
    return {k: int(params.get(k) or v) for k, v in d.sizes.items()}


# --- costs ----------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def shipped_costs() -> dict[str, dict[str, Any]]:
    """data/workloads.toml: FLOPs per item (train, infer) and parameters of each model at its default sizes."""
    with (resources.files("gpubench") / "data" / "workloads.toml").open("rb") as fh:
        return tomllib.load(fh)


def _gpt2(s: Mapping[str, int]) -> tuple[float, float, float]:
    """GPT-2 (tied head, 4x MLP, learned positions): FLOPs per token as FlopCounterMode counts them (2 per
    multiply-add, full S x S attention scores and values) and the parameter count."""
    w, n, v, seq = s["width"], s["layers"], s["vocab"], s["seq"]
    params = v * w + seq * w + n * (12 * w * w + 13 * w) + 2 * w
    fwd = 2.0 * (n * 12 * w * w + v * w) + 4.0 * n * seq * w
    return 3.0 * fwd, fwd, float(params)


def _lstm_lm(s: Mapping[str, int]) -> tuple[float, float, float]:
    """LSTM LM: 4 gates of (input + hidden) x hidden per layer and token, then the vocabulary head. Training
    skips the gradient into the initial (zero) state: one hidden x 4 hidden product per layer and sequence."""
    w, n, v, seq = s["width"], s["layers"], s["vocab"], s["seq"]
    params = v * w + n * (8 * w * w + 8 * w) + w * v + v
    fwd = 16.0 * n * w * w + 2.0 * w * v
    return 3.0 * fwd - 8.0 * n * w * w / seq, fwd, float(params)


def _char_rnn(s: Mapping[str, int]) -> tuple[float, float, float]:
    """char-RNN: Embedding(16) -> RNN(32) over seq characters -> Dense(vocab) on the last one, per sample."""
    e, h, v, seq = 16, 32, s["vocab"], s["seq"]
    params = v * e + (e * h + h * h + 2 * h) + h * v + v
    fwd = seq * 2.0 * (e * h + h * h) + 2.0 * h * v
    return 3.0 * fwd - 2.0 * h * h, fwd, float(params)


_FORMULAS: dict[str, Callable[[Mapping[str, int]], tuple[float, float, float]]] = {
    "gpt2": _gpt2,
    "lstm_lm": _lstm_lm,
    "char_rnn": _char_rnn,
}


def costs(model: str, sizes: Mapping[str, int]) -> tuple[float, float, float]:
    """(training FLOPs per item, inference FLOPs per item, parameters) of `model` at `sizes`."""
    if model in _FORMULAS:
        return _FORMULAS[model](sizes_of(model, sizes))
    c = shipped_costs()[model]
    return float(c["train_flops"]), float(c["infer_flops"]), float(c["params"])


# --- identity -------------------------------------------------------------------------------------------


def identify(params: Mapping[str, Any], *, mode: str, benchmark: str) -> WorkloadRef:
    """The workload of a train (mode "train") or infer (mode "infer") row: `<model>/<precision>[/infer]` at
    the model's own sizes, `<model>[layers=2,...]/<precision>[/infer]` at any other."""
    model, precision = str(params["model"]), str(params["precision"])
    suffix = "/infer" if mode == "infer" else ""
    family = "training" if mode == "train" else "inference"
    if model not in MODELS:
        # A model this version does not know (a newer version's rows, hand-made rows): named as given, no costs.
        key = f"{model}/{precision}{suffix}"
        return WorkloadRef(key, key, True, model, family, precision, "sample", benchmark=benchmark)
    info = MODELS[model]
    sizes = sizes_of(model, params)
    changed = {k: v for k, v in sizes.items() if v != info.sizes[k]}
    key = f"{shape_key(model, changed)}/{precision}{suffix}"
    train_flops, infer_flops, count = costs(model, sizes)
    per_item = sizes["seq"] if info.unit == "token" else 1
    batch = int(params.get("batch") or info.default_batch)
    # Weights are read once per step and shared by the batch: forward; training reads them again in the
    # backward and writes their gradients (optimizer state and activations are not counted).
    weight_bytes = count * (2.0 if is_half(precision) else 4.0) * (3.0 if mode == "train" else 1.0)
    words: tuple[Word, ...] = ()
    if changed:
        shown = " · ".join(f"{v} {k}" if k == "layers" else f"{k} {v}" for k, v in changed.items())
        label = f"{model} · {shown} · {millions(count)} params"
        words = (word("name", name=model), *(word(k, n=v) for k, v in changed.items()), word("params", params=count))
    else:
        label = info.label
    return WorkloadRef(
        key=key,
        base=f"{model}/{precision}{suffix}",
        reference=not changed,
        label=label,
        family=family,
        precision=precision,
        item=info.unit,
        flops_per_item=train_flops if mode == "train" else infer_flops,
        bytes_per_item=weight_bytes / (batch * per_item),
        params_count=count,
        peak_key=PEAK_KEY.get(precision),
        items_per_step=float(batch * per_item),
        benchmark=benchmark,
        words=words,
    )
