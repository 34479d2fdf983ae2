"""Training and inference workloads on the CPU at tiny sizes: architectures, FLOP counts, checks, suites."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from gpubench.benchmarks import load_all
from gpubench.benchmarks.models import infer as infer_mod
from gpubench.benchmarks.models import nets, zoo
from gpubench.benchmarks.models.train import MAX_BATCH_LIMIT, Trainer, _is_oom, find_max_batch
from gpubench.errors import SuiteError, Unsupported
from gpubench.records import Case, Workload
from gpubench.suite import load_suite, parse_suite

REGISTRY = load_all()
CPU = torch.device("cpu")
SUITES = Path(__file__).resolve().parent.parent / "gpubench" / "suites"

# Seed-sized configurations: every model at a size a 2-core CPU runs in well under a second per step.
TINY: dict[str, dict[str, int]] = {
    "mnist_cnn": {"batch": 8},
    "char_rnn": {"batch": 8, "seq": 20},
    "lstm_lm": {"batch": 2, "seq": 16, "vocab": 300, "layers": 1, "width": 32},
    "gpt2": {"batch": 2, "seq": 16, "vocab": 300, "layers": 2, "width": 32},
    "dcgan_mnist": {"batch": 4},
    "dcgan64": {"batch": 2},
    "resnet50": {"batch": 1},
}
SMALL = ("mnist_cnn", "char_rnn", "lstm_lm", "gpt2", "dcgan_mnist")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # Many tiny ops (RNN time steps, small convs): with 2 threads OpenMP's spinning barriers make these
    # tests 10x slower whenever another process shares the cores; one thread is steady.
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


def build(bench: str, model: str, precision: str, **overrides: int | bool) -> Workload:
    params = {"model": model, "precision": precision, **TINY[model], **overrides}
    return REGISTRY[bench].factory(Case.of(bench, params), CPU)


def trainer_of(workload: Workload) -> Trainer:
    return workload.step.__self__  # the step is the Trainer's bound method


# --- architectures --------------------------------------------------------------------------------------


def _conv(cin: int, cout: int, k: int, bias: bool = True) -> int:
    return cin * cout * k * k + (cout if bias else 0)


def test_parameter_counts_match_hand_counts_and_published_figures():
    with torch.device("meta"):
        mnist = nets.MnistCNN()
        resnet = nets.ResNet50()
        gpt2 = nets.GPT2()
        g64, d64 = nets.DCGAN64Generator(), nets.DCGAN64Discriminator()
        char = nets.CharRNN(65)
        lstm = nets.LSTMLM(10000, 1024, 2)
    # Conv(1->32) + Conv(32->64) + Conv(64->64) + Dense(576->64) + Dense(64->10)
    convs = _conv(1, 32, 3) + _conv(32, 64, 3) + _conv(64, 64, 3)
    assert nets.count_params(mnist) == convs + 576 * 64 + 64 + 64 * 10 + 10
    assert nets.count_params(mnist) == 93_322  # the Keras tutorial's model.summary()
    assert nets.count_params(resnet) == 25_557_032  # torchvision resnet50
    assert nets.count_params(gpt2) == 124_439_808  # GPT-2 small, LM head tied to the token embedding
    bn = 2 * (512 + 256 + 128 + 64)
    assert nets.count_params(g64) == (100 * 512 + 512 * 256 + 256 * 128 + 128 * 64 + 64 * 3) * 16 + bn
    d_bn = 2 * (128 + 256 + 512)
    assert nets.count_params(d64) == (3 * 64 + 64 * 128 + 128 * 256 + 256 * 512 + 512) * 16 + d_bn
    assert nets.count_params(char) == 65 * 16 + (16 * 32 + 32 * 32 + 2 * 32) + 32 * 65 + 65
    per_layer = 4 * 1024 * (1024 + 1024) + 8 * 1024
    assert nets.count_params(lstm) == 10000 * 1024 + 2 * per_layer + 1024 * 10000 + 10000


def test_output_shapes():
    x = torch.randn(2, 1, 28, 28)
    assert nets.MnistCNN()(x).shape == (2, 10)
    assert nets.MnistGenerator()(torch.randn(2, 100)).shape == (2, 1, 28, 28)
    assert nets.MnistDiscriminator()(x).shape == (2,)
    with torch.device("meta"):
        assert nets.ResNet50()(torch.empty(2, 3, 224, 224)).shape == (2, 1000)
        assert nets.DCGAN64Generator()(torch.empty(2, 100, 1, 1)).shape == (2, 3, 64, 64)
        assert nets.DCGAN64Discriminator()(torch.empty(2, 3, 64, 64)).shape == (2,)
    tokens = torch.randint(0, 50, (2, 12))
    assert nets.GPT2(50, 12, 2, 32, 1)(tokens).shape == (2, 12, 50)
    assert nets.LSTMLM(50, 16, 1)(tokens).shape == (2, 12, 50)
    assert nets.CharRNN(50)(tokens).shape == (2, 50)


def test_gpt2_is_causal():
    torch.manual_seed(0)
    net = nets.GPT2(50, 12, 2, 32, 1).eval()
    a = torch.randint(0, 50, (1, 12))
    b = a.clone()
    b[0, 8:] = (b[0, 8:] + 1) % 50  # change only the future of position 7
    with torch.no_grad():
        torch.testing.assert_close(net(a)[:, :8], net(b)[:, :8])
        assert not torch.allclose(net(a)[:, 8:], net(b)[:, 8:])


# --- FLOPs ----------------------------------------------------------------------------------------------


def test_mnist_cnn_flops_match_a_hand_count():
    batch = 8
    # Multiply-adds per sample: output elements x (input channels x kernel area), and Dense in x out.
    conv1 = 26 * 26 * 32 * (1 * 9)
    conv2 = 11 * 11 * 64 * (32 * 9)
    conv3 = 3 * 3 * 64 * (64 * 9)
    dense = 576 * 64 + 64 * 10
    forward = 2 * batch * (conv1 + conv2 + conv3 + dense)
    defn = zoo.MODELS["mnist_cnn"]
    assert zoo.count_flops(defn, {}, batch, train=False) == forward
    # Backward: weight gradient + input gradient for each layer (each as costly as the forward), except
    # the first conv, whose input (the data) needs no gradient.
    train = 3 * forward - 2 * batch * conv1
    assert zoo.count_flops(defn, {}, batch, train=True) == train
    w = build("train", "mnist_cnn", "fp32")
    assert w.work.flops == train
    assert w.info["flops_per_step"] == train
    assert build("infer", "mnist_cnn", "fp32").work.flops == forward


def test_gpt2_flops_scale_with_tokens_and_cover_attention():
    defn = zoo.MODELS["gpt2"]
    sizes = {"seq": 64, "vocab": 300, "layers": 2, "width": 64}
    one = zoo.count_flops(defn, sizes, 1, train=False)
    assert zoo.count_flops(defn, sizes, 4, train=False) == pytest.approx(4 * one)
    n_matmul = 2 * (12 * 64 * 64) + 64 * 300  # per token: 12 d^2 per layer (qkv, proj, mlp) + the LM head
    attention = 2 * 2 * 64 * 64  # per layer: QK^T and AV over all 64 positions (the counter ignores the mask)
    assert one == pytest.approx(64 * 2 * n_matmul + 2 * attention * 64, rel=1e-9)


def test_rnn_flops_are_counted_on_meta_where_the_recurrence_is_visible():
    sizes = {"seq": 10, "vocab": 65}
    flops = zoo.count_flops(zoo.MODELS["char_rnn"], sizes, 4, train=False)
    # nn.RNN: per step input (16x32) and hidden (32x32) projections; then the head on the last state.
    assert flops == 2 * 4 * (10 * (16 * 32 + 32 * 32) + 32 * 65)


# --- training -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", SMALL)
@pytest.mark.parametrize("precision", ["fp32", "amp_bf16", "amp_fp16"])
def test_training_step_runs_in_each_cpu_precision(model, precision):
    try:
        w = build("train", model, precision)
    except Unsupported as e:
        # Only known CPU gaps may skip, with a reason: oneDNN has no fp16 LSTM, and on some CPUs (AMX) no
        # bf16 LSTM backward primitive either.
        assert model == "lstm_lm" and precision in ("amp_fp16", "amp_bf16"), e
        assert "no kernel on cpu" in str(e)
        return
    out = w.step()
    losses = out if isinstance(out, tuple) else (out,)
    assert all(math.isfinite(float(v)) for v in losses)
    assert w.flags == {"allow_tf32": False}
    assert trainer_of(w).scaler is not None if precision == "amp_fp16" else trainer_of(w).scaler is None
    for key in ("params_count", "flops_per_step", "model", "compile"):
        assert key in w.info
    assert w.info["compile"] is False and w.info["flops_per_step"] > 0


@pytest.mark.parametrize("model", ["resnet50", "dcgan64"])
def test_full_size_cnns_train_one_step(model):
    w = build("train", model, "fp32")
    out = w.step()
    assert all(math.isfinite(float(v)) for v in (out if isinstance(out, tuple) else (out,)))
    if model == "resnet50":
        net = trainer_of(w).nets["net"]
        assert net.stem[0].weight.is_contiguous(memory_format=torch.channels_last)
        assert w.info["params_count"] == 25_557_032


@pytest.mark.parametrize("model", ["resnet50", "dcgan64"])
def test_full_size_cnns_backward_under_bf16_autocast(model):
    # The factory path is covered in fp32 above; here the autocast path, ResNet-50 at 64x64 to stay fast.
    defn = zoo.MODELS[model]
    built = zoo.build_on(defn, {}, CPU)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        if model == "resnet50":
            x = torch.randn(2, 3, 64, 64).contiguous(memory_format=torch.channels_last)
            loss = torch.nn.functional.cross_entropy(built["net"](x), torch.tensor([1, 2]))
        else:
            loss = built["D"](built["G"](torch.randn(2, 100, 1, 1))).float().mean()
    loss.backward()
    grads = [p.grad for net in built.values() for p in net.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_tf32_is_unsupported_on_the_cpu():
    with pytest.raises(Unsupported, match="TF32"):
        build("train", "mnist_cnn", "tf32")


def test_work_units():
    w = build("train", "gpt2", "fp32")
    assert (w.work.unit, w.work.amount) == ("token", 2 * 16)
    w = build("train", "char_rnn", "fp32")
    assert (w.work.unit, w.work.amount) == ("sample", 8)  # a sequence classifier: one prediction per sequence
    w = build("train", "dcgan_mnist", "fp32")
    assert (w.work.unit, w.work.amount) == ("sample", 4)
    assert w.info["params_count"] == w.info["params_count_G"] + w.info["params_count_D"]


@pytest.mark.parametrize("model", ["mnist_cnn", "char_rnn", "lstm_lm", "gpt2"])
def test_loss_goes_down_from_the_initial_weights(model):
    w = build("train", model, "fp32")
    for _ in range(3):
        w.step()  # the check restores the initial weights first: timed steps do not help it
    result = w.check()
    assert result.ok, result
    assert result.error < 0.8, result  # clearly learning, not noise just under the 0.9 tolerance


def test_loss_check_fails_when_the_optimizer_does_not_update():
    w = build("train", "mnist_cnn", "fp32")
    for group in trainer_of(w).opts["net"].param_groups:
        group["lr"] = 0.0
    result = w.check()
    assert not result.ok
    assert result.error == pytest.approx(1.0, abs=1e-3)


def test_check_flags_training_that_diverged_during_timing():
    w = build("train", "mnist_cnn", "fp32")
    with torch.no_grad():
        trainer_of(w).nets["net"].head[1].weight.fill_(float("nan"))  # as if the timed steps had blown up
    result = w.check()
    assert not result.ok
    assert "diverged" in result.detail


def test_check_flags_fp16_steps_that_gradscaler_skipped():
    w = build("train", "mnist_cnn", "amp_fp16")
    trainer_of(w).scaler._scale.fill_(float("nan"))  # every later update is skipped, the loss never moves
    result = w.check()
    assert not result.ok
    assert "GradScaler" in result.detail


def test_gan_step_updates_both_networks():
    w = build("train", "dcgan_mnist", "fp32")
    result = w.check()
    assert result.ok, result
    assert "G changed" in result.detail and "D changed" in result.detail


def test_gan_check_catches_a_frozen_discriminator():
    w = build("train", "dcgan_mnist", "fp32")
    for group in trainer_of(w).opts["D"].param_groups:
        group["lr"] = 0.0
        group["weight_decay"] = 0.0
    result = w.check()
    assert not result.ok
    assert "D UNCHANGED" in result.detail


def test_synthetic_labels_are_a_function_of_the_input():
    data = zoo.make_batch(zoo.MODELS["gpt2"], 4, {"seq": 64, "vocab": 1000}, CPU)
    x, y = data["x"].flatten(), data["y"].flatten()
    successor: dict[int, int] = {}
    for a, b in zip(x.tolist(), y.tolist(), strict=True):
        assert successor.setdefault(a, b) == b  # the same token is always followed by the same token
    assert len(set(x.tolist())) <= 4 * zoo.CHAIN_CYCLE
    images = zoo.make_batch(zoo.MODELS["mnist_cnn"], 64, {}, CPU)
    same = images["y"] == images["y"][0]
    # Images of one class share their prototype: closer to each other than to other classes.
    centre = images["x"][same].mean(0)
    d_same = (images["x"][same] - centre).flatten(1).norm(dim=1).mean()
    d_other = (images["x"][~same] - centre).flatten(1).norm(dim=1).mean()
    assert d_same < 0.8 * d_other


# --- inference ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", SMALL)
@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_inference_in_each_cpu_precision_matches_float64(model, precision):
    w = build("infer", model, precision)
    out = w.step()
    assert torch.isfinite(out.float()).all()
    assert out.is_inference()  # ran under torch.inference_mode()
    result = w.check()
    assert result.ok, result
    assert result.tolerance == infer_mod.REL_TOL[precision]


@pytest.mark.parametrize("model", ["mnist_cnn", "char_rnn", "lstm_lm", "gpt2"])
def test_int8_agrees_with_fp32_on_top1(model):
    w = build("infer", model, "int8")
    w.step()
    result = w.check()
    assert result.ok, result
    assert "top-1" in result.detail
    assert result.tolerance == pytest.approx(1 - infer_mod.AGREEMENT_MIN)
    assert "int8_method" in w.info and "int8_finetune_loss" in w.info


def test_int8_uses_real_quantized_modules():
    w = build("infer", "mnist_cnn", "int8")
    assert "static" in w.info["int8_method"]
    run = next(c.cell_contents for c in w.step.__closure__ if isinstance(c.cell_contents, torch.nn.Module))
    kinds = {type(m).__name__ for m in run.modules()}
    assert "ConvReLU2d" in kinds and "Conv2d" not in kinds  # conv + relu fused and quantized
    w = build("infer", "gpt2", "int8")
    assert "dynamic" in w.info["int8_method"]
    run = next(c.cell_contents for c in w.step.__closure__ if isinstance(c.cell_contents, torch.nn.Module))
    quantized = [m for m in run.modules() if "quantized.dynamic" in type(m).__module__]
    assert len(quantized) == 2 * 4 + 1  # qkv, proj, fc, out per block + the LM head


def test_check_comparisons_catch_wrong_outputs():
    ref = torch.randn(64, 10)
    assert infer_mod._compare("fp32", "relative", ref * (1 + 1e-6), ref).ok
    assert not infer_mod._compare("fp32", "relative", ref + 1e-2 * ref.std(), ref).ok
    assert not infer_mod._compare("bf16", "relative", ref.flip(0), ref).ok
    assert infer_mod._compare("int8", "agreement", ref + 1e-4, ref).ok
    shuffled = ref[torch.randperm(64)]
    assert not infer_mod._compare("int8", "agreement", shuffled, ref).ok


def test_int8_gan_and_int8_compile_are_unsupported_with_reasons():
    with pytest.raises(Unsupported, match="generator"):
        build("infer", "dcgan_mnist", "int8")
    with pytest.raises(Unsupported, match="compile"):
        build("infer", "mnist_cnn", "int8", compile=True)


def test_batchnorm_calibration_sets_running_stats():
    net = nets.MnistGenerator()
    z = torch.randn(16, 100)
    zoo.calibrate_batchnorm(net, z)
    assert not net.training
    bn = net.fc[1]
    with torch.no_grad():
        h = net.fc[0](z)
    torch.testing.assert_close(bn.running_mean, h.mean(0), rtol=1e-4, atol=1e-5)
    assert bn.momentum == 0.1  # restored


# --- max_batch ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("limit_fit", [1, 2, 37, 64, 1000])
def test_find_max_batch_doubles_then_bisects(limit_fit):
    tried = []

    def fits(b):
        tried.append(b)
        return b <= limit_fit

    assert find_max_batch(fits) == limit_fit
    assert len(tried) <= 2 * math.log2(limit_fit) + 3


def test_find_max_batch_edges():
    assert find_max_batch(lambda b: False) == 0
    assert find_max_batch(lambda b: True) == MAX_BATCH_LIMIT
    assert find_max_batch(lambda b: b <= 300, limit=100) == 100


def test_oom_classification():
    assert _is_oom(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"))
    assert _is_oom(RuntimeError("cuDNN error: CUDNN_STATUS_ALLOC_FAILED"))
    assert not _is_oom(RuntimeError("shape mismatch"))
    assert not _is_oom(ValueError("out of memory"))


def test_max_batch_needs_a_gpu():
    with pytest.raises(Unsupported, match="GPU memory limit"):
        REGISTRY["max_batch"].factory(Case.of("max_batch", {"model": "mnist_cnn", "precision": "fp32"}), CPU)


# --- parameters and suites ------------------------------------------------------------------------------


def test_case_ids_carry_only_the_sizes_a_model_takes():
    text = """
name = "t"
[[benchmarks]]
benchmark = "train"
model = ["mnist_cnn", "gpt2"]
precision = "fp32"
batch = 4
[[benchmarks]]
benchmark = "infer"
model = "gpt2"
precision = "bf16"
layers = 2
"""
    ids = [pc.case.id for pc in parse_suite(text, "t.toml", REGISTRY).cases]
    assert ids == [
        "train[model=mnist_cnn,precision=fp32,batch=4,compile=false]",
        "train[model=gpt2,precision=fp32,batch=4,compile=false,seq=1024,vocab=50257,layers=12,width=768]",
        "infer[model=gpt2,precision=bf16,batch=8,compile=false,seq=1024,vocab=50257,layers=2,width=768]",
    ]


def test_a_size_the_model_does_not_take_is_a_suite_error():
    text = '[[benchmarks]]\nbenchmark = "train"\nmodel = "resnet50"\nprecision = "fp32"\nseq = 128\n'
    with pytest.raises(SuiteError, match="resnet50 does not take 'seq'"):
        parse_suite(text, "t.toml", REGISTRY)


@pytest.mark.parametrize("name", ["training", "quick", "standard", "full"])
def test_suites_with_model_entries_load(name):
    if not (SUITES / f"{name}.toml").exists():
        pytest.skip(f"suites/{name}.toml not written yet")
    suite = load_suite(str(SUITES / f"{name}.toml"), REGISTRY)
    models = [pc.case for pc in suite.cases if pc.case.benchmark in ("train", "infer", "max_batch")]
    if name == "training":
        ids = {c.id for c in models}
        assert "train[model=resnet50,precision=amp_bf16,batch=256,compile=false]" in ids
        assert {c.param("model") for c in models} == set(zoo.MODEL_NAMES)


# --- GPU ------------------------------------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["fp32", "tf32", "amp_fp16", "amp_bf16"])
def test_gpu_training_step_and_check(precision):
    gpu = torch.device("cuda")
    params = {"model": "mnist_cnn", "precision": precision, "batch": 64}
    try:
        w = REGISTRY["train"].factory(Case.of("train", params), gpu)
    except Unsupported:
        pytest.skip(f"{precision} unsupported on this GPU")
    assert w.check().ok


@pytest.mark.gpu
def test_gpu_max_batch_finds_a_batch():
    gpu = torch.device("cuda")
    case = Case.of("max_batch", {"model": "char_rnn", "precision": "amp_bf16", "seq": 8, "vocab": 65})
    try:
        w = REGISTRY["max_batch"].factory(case, gpu)
    except Unsupported:
        pytest.skip("bf16 unsupported on this GPU")
    assert w.info["max_batch"] >= 1024
    assert w.work.amount == w.info["max_batch"]


@pytest.mark.gpu
def test_gpu_int8_is_unsupported():
    with pytest.raises(Unsupported, match="CPU only"):
        REGISTRY["infer"].factory(Case.of("infer", {"model": "mnist_cnn", "precision": "int8"}), torch.device("cuda"))


def test_flops_are_counted_once_per_model_sizes_batch_and_mode(monkeypatch):
    """Each round builds its workload afresh: the meta-device count runs once, and a different batch, size or
    mode is counted on its own."""
    calls = []
    real = zoo._count_flops

    def counting(*args, **kwargs):
        calls.append(args[1:3])
        return real(*args, **kwargs)

    monkeypatch.setattr(zoo, "_count_flops", counting)
    monkeypatch.setattr(zoo, "_FLOPS", {})
    defn = zoo.MODELS["mnist_cnn"]
    first = zoo.count_flops(defn, {}, 4, train=True)
    assert zoo.count_flops(defn, {}, 4, train=True) == first and len(calls) == 1
    assert zoo.count_flops(defn, {}, 8, train=True) == pytest.approx(2 * first, rel=1e-9) and len(calls) == 2
    assert zoo.count_flops(defn, {}, 4, train=False) < first and len(calls) == 3
