"""Inference throughput and latency: one forward pass over a fixed batch under torch.inference_mode().

Throughput at a large batch and latency at batch 1 are two cases of the same benchmark (the runner reports
the median and p99 of per-step times). fp16/bf16 cast the whole network (weights and activations), as
deployed half-precision models are; int8 uses PyTorch's CPU quantization (see `quantize_int8`).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from gpubench import devices
from gpubench.benchmarks.models.infer_spec import normalize as _normalize
from gpubench.benchmarks.models.nets import count_params
from gpubench.benchmarks.models.zoo import (
    MODELS,
    Batch,
    ModelDef,
    build_on,
    calibrate_batchnorm,
    classifier_loss,
    count_flops,
    first_call,
    make_batch,
    quiet_warnings,
    sizes_of,
)
from gpubench.errors import Unsupported
from gpubench.records import Case, CheckResult, Work, Workload

HALF = {"fp16": torch.float16, "bf16": torch.bfloat16}

# Relative error ||out - ref|| / ||ref|| of the outputs against a float64 CPU reference on a slice of the batch.
# fp32 stays well under what TF32 gives (~1e-3), so a TF32 flag leaking into an fp32 case is caught.
REL_TOL = {"fp32": 2e-4, "fp16": 2e-2, "bf16": 8e-2}
# Deep nets amplify half-precision rounding: an untrained, BatchNorm-calibrated ResNet-50 measured 0.031 (fp16)
# and 0.13-0.16 (bf16) on an H200; broken kernels give ~1.
REL_TOL_SCALE = {"resnet50": 4.0}
CHECK_FLOPS = 20e9  # cost cap of the float64 CPU reference (forward FLOPs)
CALIBRATION_FLOPS = 50e9  # cost cap of the pass that sets BatchNorm statistics and int8 activation ranges
CALIBRATION_SAMPLES = 32

# int8: top-1 predictions of an untrained network are decided by differences smaller than int8's rounding
# (a random ResNet-50 maps every input to nearly the same logits), so agreement with fp32 is meaningful only
# once the net has learnt something. The fp32 net is first fine-tuned on the check slice of the synthetic
# task (it memorises it: confident predictions), when that costs at most INT8_FINETUNE_FLOPS; otherwise
# (ResNet-50, full-size GPT-2) the check falls back to the relative error of the outputs.
AGREEMENT_MIN = 0.95
INT8_FINETUNE_STEPS = 30
INT8_FINETUNE_FLOPS = 1e12
INT8_REL_TOL = 0.35  # untrained ResNet-50 measures ~0.2, GPT-2 small ~0.07; broken kernels give ~1
CHECK_SAMPLES = 64  # most predictions the int8 agreement check compares
CHECK_TOKENS = 32  # LMs: prefix length per sequence in the int8 check (2 sequences)
STATIC_INT8 = ("mnist_cnn", "resnet50")  # convolutional: static quantization; the others dynamic


def quantize_int8(defn: ModelDef, net: nn.Module, sample: torch.Tensor) -> tuple[nn.Module, str]:
    """int8 copy of `net` through torch.ao.quantization on the CPU.

    CNNs: static post-training quantization in FX graph mode with the engine's default qconfig (x86 =
    fbgemm + oneDNN kernels), activation ranges calibrated on `sample`. RNNs and the transformer: dynamic
    quantization of nn.Linear and nn.LSTM (int8 weights, activations quantized per batch); nn.RNN has no
    quantized kernel and stays fp32, as do attention and LayerNorm.
    """
    engine = torch.backends.quantized.engine
    try:
        import torch.ao.quantization as tq
        from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
    except ImportError as e:  # announced for removal in favour of torchao
        raise Unsupported(f"int8 needs torch.ao.quantization, missing from this torch: {e}") from None
    with quiet_warnings(), torch.no_grad():
        if defn.name in STATIC_INT8:
            prepared = prepare_fx(copy.deepcopy(net), tq.get_default_qconfig_mapping(engine), (sample,))
            prepared(sample)  # observers record activation ranges
            return convert_fx(prepared), f"static PTQ, FX graph mode, {engine} engine"
        layers = {nn.Linear, nn.LSTM}
        return tq.quantize_dynamic(
            copy.deepcopy(net), layers, dtype=torch.qint8
        ), f"dynamic, Linear+LSTM, {engine} engine"


def _finetune(net: nn.Module, batch: Batch, steps: int) -> tuple[float, float]:
    """A few fp32 AdamW steps on `batch` (the int8 check slice); returns the loss before and after."""
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3)
    net.train()
    losses = []
    for _ in range(steps + 1):
        opt.zero_grad(set_to_none=True)
        loss = classifier_loss(net, batch)
        losses.append(loss.item())
        loss.backward()
        opt.step()
    net.eval()
    return losses[0], losses[-1]


def _check_slice(defn: ModelDef, sizes: dict[str, int], batch: int, fwd_flops: float, int8: bool) -> tuple[int, int]:
    """(samples, tokens) of the batch that the check recomputes (tokens 0 = whole samples).

    Causal LMs check a prefix of the sequence: outputs at t depend only on tokens <= t, so the prefix of the
    timed output is comparable with the reference on the prefix alone.
    """
    if defn.unit == "token":
        return (min(batch, 2), min(sizes["seq"], CHECK_TOKENS)) if int8 else (1, min(sizes["seq"], 64))
    cap = CHECK_FLOPS * (4 if int8 else 1)  # int8's reference runs in fp32: cheaper per FLOP than float64
    n = int(cap // max(fwd_flops / batch, 1.0))
    return max(1, min(batch, n, CHECK_SAMPLES)), 0


def _take(t: torch.Tensor, n: int, tokens: int) -> torch.Tensor:
    return t[:n, :tokens] if tokens else t[:n]


def _compare(precision: str, mode: str, out: torch.Tensor, ref: torch.Tensor, tol_scale: float = 1.0) -> CheckResult:
    out, ref = out.detach().to("cpu", torch.float64), ref.detach().to("cpu", torch.float64)
    if mode == "agreement":
        top_out, top_ref = out.argmax(-1), ref.argmax(-1)
        agree = (top_out == top_ref).double().mean().item()
        return CheckResult(
            1.0 - agree,
            1.0 - AGREEMENT_MIN,
            f"int8 top-1 matches fp32 on {agree:.1%} of {top_ref.numel()} predictions",
        )
    err = (torch.linalg.vector_norm(out - ref) / torch.linalg.vector_norm(ref)).item()
    if precision == "int8":
        return CheckResult(err, INT8_REL_TOL, "relative error vs fp32 (untrained weights; fine-tune too costly here)")
    return CheckResult(
        err,
        REL_TOL[precision] * tol_scale,
        f"relative error vs a float64 CPU reference on {ref.shape[0]} sample(s)",
    )


def infer(case: Case, device: torch.device) -> Workload:
    params = _normalize(case.as_dict())
    model, precision, batch = str(params["model"]), str(params["precision"]), int(params["batch"])
    compile_ = bool(params["compile"])
    defn = MODELS[model]
    sizes = sizes_of(params)
    int8 = precision == "int8"
    if int8:
        if not devices.get(device).is_host:
            raise Unsupported(
                "PyTorch's int8 model kernels (torch.ao.quantization: fbgemm/oneDNN/qnnpack) run on the CPU only; "
                "GPU int8 inference needs torchao or TensorRT"
            )
        if defn.kind == "gan":
            # Also: in torch 2.13 the x86 engine's quantized ConvTranspose2d returned wrong images (relative
            # error ~1.4 against fp32, where the fbgemm engine gave 0.03).
            raise Unsupported("int8 is checked by top-1 agreement, which a generator does not have")
        if compile_:
            raise Unsupported(
                "int8 with compile needs the PT2E flow (torchao); eager int8 modules are not compiled here"
            )
    elif precision in HALF:
        devices.get(device).require(precision)

    key = "G" if defn.kind == "gan" else "net"
    net = build_on(defn, sizes, device)[key]
    data = make_batch(defn, batch, sizes, device)
    x = data["z"] if defn.kind == "gan" else data["x"]
    fwd_flops = count_flops(defn, sizes, batch, train=False)
    n_check, t_check = _check_slice(defn, sizes, batch, fwd_flops, int8)
    info: dict[str, Any] = {
        "model": model,
        "precision": precision,
        "compile": compile_,
        "params_count": count_params(net),
        "flops_per_step": fwd_flops,
        "channels_last": defn.channels_last,
    }
    mode = "relative"
    if int8:
        part = {k: _take(v, n_check, t_check) for k, v in data.items()}
        part_sizes = {**sizes, "seq": t_check} if t_check else sizes
        if count_flops(defn, part_sizes, n_check, train=True) * INT8_FINETUNE_STEPS <= INT8_FINETUNE_FLOPS:
            before, after = _finetune(net, part, INT8_FINETUNE_STEPS)
            info["int8_finetune_loss"] = f"{before:.4g} -> {after:.4g}"
            mode = "agreement"
    n_calib = max(1, min(batch, CALIBRATION_SAMPLES, int(CALIBRATION_FLOPS // max(fwd_flops / batch, 1.0))))
    calibrate_batchnorm(net, x[:n_calib])
    ref_net = copy.deepcopy(net).to("cpu")  # fp32 weights for the check, off the device
    ref_x = _take(x, n_check, t_check).to("cpu")

    if precision in HALF:
        net = net.to(HALF[precision])
        if x.is_floating_point():
            x = x.to(HALF[precision])
    elif int8:
        net, info["int8_method"] = quantize_int8(defn, net, x[:n_calib])
    run = torch.compile(net) if compile_ else net

    def step() -> torch.Tensor:
        with torch.inference_mode():
            return run(x)

    # The first call compiles (when compile=True: keep that out of the warm-up) and finds missing kernels.
    first_call(step, f"{model} inference in {precision}", device)

    def check() -> CheckResult:
        got = _take(step(), n_check, t_check)
        with torch.no_grad():
            # .double() converts the check-only copy in place; int8 compares with the fp32 copy as it is.
            ref = ref_net(ref_x) if int8 else ref_net.double()(ref_x.double() if ref_x.is_floating_point() else ref_x)
        return _compare(precision, mode, got, ref, REL_TOL_SCALE.get(model, 1.0))

    def close() -> None:
        nonlocal net, run, x, ref_net
        del net, run, x, ref_net

    per_item = sizes["seq"] if defn.unit == "token" else 1
    return Workload(
        step=step,
        work=Work(float(batch * per_item), defn.unit, flops=fwd_flops),
        check=check,
        flags={"allow_tf32": False},
        info=info,
        close=close,
    )
