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

from gpubench.benchmarks import Param, register
from gpubench.benchmarks.models.nets import count_params
from gpubench.benchmarks.models.zoo import (
    MODEL_NAMES,
    MODELS,
    ModelDef,
    build_on,
    calibrate_batchnorm,
    count_flops,
    make_batch,
    make_normalize,
    quiet_warnings,
    require_half,
    size_params,
    sizes_of,
)
from gpubench.errors import Unsupported
from gpubench.records import Case, CheckResult, Work, Workload

PRECISIONS = ("fp32", "fp16", "bf16", "int8")
HALF = {"fp16": torch.float16, "bf16": torch.bfloat16}

# Relative error ||out - ref|| / ||ref|| of the outputs against a float64 CPU reference on a slice of the batch.
# fp32 stays well under what TF32 gives (~1e-3), so a TF32 flag leaking into an fp32 case is caught.
REL_TOL = {"fp32": 2e-4, "fp16": 2e-2, "bf16": 8e-2}
AGREEMENT_MIN = 0.95  # int8 top-1 predictions that must match fp32's
GAN_INT8_TOL = 0.1  # a generator has no top-1: relative error of the images against fp32 instead
CHECK_FLOPS = 20e9  # cost cap of the float64 CPU reference (forward FLOPs)
CALIBRATION_SAMPLES = 32  # BatchNorm statistics and int8 activation ranges come from this many samples
STATIC_INT8 = ("mnist_cnn", "resnet50", "dcgan_mnist", "dcgan64")  # convolutional: static quantization


def quantize_int8(defn: ModelDef, net: nn.Module, sample: torch.Tensor) -> tuple[nn.Module, str]:
    """int8 copy of `net` through torch.ao.quantization on the CPU.

    Convolutional nets: static post-training quantization in FX graph mode with the engine's default
    qconfig (x86 = fbgemm + oneDNN kernels on x86 CPUs), activation ranges calibrated on `sample`.
    RNNs and the transformer: dynamic quantization of nn.Linear and nn.LSTM (int8 weights, activations
    quantized per batch); nn.RNN has no quantized kernel and stays fp32, as do attention and LayerNorm.
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
        return tq.quantize_dynamic(copy.deepcopy(net), layers, dtype=torch.qint8), f"dynamic, Linear+LSTM, {engine} engine"


def _check_slice(defn: ModelDef, sizes: dict[str, int], batch: int, fwd_flops: float, int8: bool) -> tuple[int, int]:
    """(samples, tokens) of the batch the reference recomputes. Causal LMs check a prefix of the sequence:
    outputs at t depend only on tokens <= t, so the prefix of the timed output is comparable."""
    if defn.unit == "token":
        return 1 if not int8 else min(batch, 2), min(sizes["seq"], 64)
    per_sample = fwd_flops / batch
    cap = CHECK_FLOPS * (4 if int8 else 1)  # int8's reference runs in fp32: cheaper per FLOP than float64
    n = max(1, min(batch, int(cap // max(per_sample, 1.0))))
    return (min(n, 64), 0)


def _error(defn: ModelDef, precision: str, out: torch.Tensor, ref: torch.Tensor) -> tuple[float, float, str]:
    out, ref = out.detach().to("cpu", torch.float64), ref.detach().to("cpu", torch.float64)
    if precision == "int8" and defn.kind != "gan":
        agree = (out.argmax(-1) == ref.argmax(-1)).double().mean().item()
        n = out.argmax(-1).numel()
        return 1.0 - agree, 1.0 - AGREEMENT_MIN, f"int8 top-1 matches fp32 on {agree:.1%} of {n} predictions"
    err = (torch.linalg.vector_norm(out - ref) / torch.linalg.vector_norm(ref)).item()
    if precision == "int8":
        return err, GAN_INT8_TOL, "relative error of int8 generator images vs fp32"
    return err, REL_TOL[precision], f"relative error vs a float64 CPU reference on {ref.shape[0]} sample(s)"


_KEYS = ("model", "precision", "batch", "compile")
_normalize = make_normalize(_KEYS)


@register(
    "infer",
    version=1,
    description="Inference: one forward pass of a fixed batch under inference_mode; samples/s or tokens/s",
    params={
        "model": Param(str, choices=MODEL_NAMES, help="network: " + ", ".join(MODEL_NAMES)),
        "precision": Param(str, choices=PRECISIONS, help="fp32, fp16, bf16 (whole net cast) or int8 (CPU quantization)"),
        "batch": Param(int, default=0, minimum=0, help="samples (sequences) per step; 1 = latency (0 = model default)"),
        "compile": Param(bool, default=False, help="torch.compile the network"),
        **size_params(),
    },
    normalize=_normalize,
    tags=("model", "inference"),
)
def infer(case: Case, device: torch.device) -> Workload:
    params = _normalize(case.as_dict())
    model, precision, batch = str(params["model"]), str(params["precision"]), int(params["batch"])
    compile_ = bool(params["compile"])
    defn = MODELS[model]
    sizes = sizes_of(params)
    if precision == "int8":
        if device.type != "cpu":
            raise Unsupported(
                "PyTorch's int8 model kernels (torch.ao.quantization: fbgemm/oneDNN/qnnpack) run on the CPU only; "
                "GPU int8 inference needs torchao or TensorRT"
            )
        if compile_:
            raise Unsupported("int8 with compile needs the PT2E flow (torchao); eager int8 modules are not compiled here")
    elif precision in HALF and device.type == "cuda":
        require_half(HALF[precision], device)

    key = "G" if defn.kind == "gan" else "net"
    net = build_on(defn, sizes, device)[key]
    data = make_batch(defn, batch, sizes, device)
    x = data["z"] if defn.kind == "gan" else data["x"]
    calibrate_batchnorm(net, x[:CALIBRATION_SAMPLES])
    fwd_flops = count_flops(defn, sizes, batch, train=False)
    n_check, t_check = _check_slice(defn, sizes, batch, fwd_flops, precision == "int8")
    ref_net = copy.deepcopy(net).to("cpu")  # fp32 weights for the check, off the device
    ref_x = (x[:n_check, :t_check] if t_check else x[:n_check]).to("cpu")

    info: dict[str, Any] = {
        "model": model,
        "precision": precision,
        "compile": compile_,
        "params_count": count_params(net),
        "flops_per_step": fwd_flops,
        "channels_last": defn.channels_last,
    }
    if precision in HALF:
        net = net.to(HALF[precision])
        if x.is_floating_point():
            x = x.to(HALF[precision])
    elif precision == "int8":
        net, method = quantize_int8(defn, net, x[:CALIBRATION_SAMPLES])
        info["int8_method"] = method
    run = torch.compile(net) if compile_ else net

    def step() -> torch.Tensor:
        with torch.inference_mode():
            return run(x)

    try:
        step()  # compiles when compile=True (out of the warm-up) and finds dtypes the device lacks kernels for
    except (RuntimeError, NotImplementedError) as e:
        if "not implemented for" in str(e) or "Unsupported" in type(e).__name__:
            raise Unsupported(f"{model} has no {precision} kernels on {device.type}: {str(e).splitlines()[0]}") from None
        raise

    def check() -> CheckResult:
        out = step()
        got = out[:n_check, :t_check] if t_check else out[:n_check]
        with torch.no_grad():
            if precision == "int8":
                ref = ref_net(ref_x)
            else:
                ref_f64 = ref_net.double()  # in place: the reference is only used here
                ref = ref_f64(ref_x.double() if ref_x.is_floating_point() else ref_x)
        error, tol, detail = _error(defn, precision, got, ref)
        return CheckResult(error, tol, detail)

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
