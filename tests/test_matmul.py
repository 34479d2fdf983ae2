import pytest
import torch

from gpubench.benchmarks import load_all
from gpubench.errors import Unsupported
from gpubench.records import Case

MATMUL = load_all()["matmul"]
CPU = torch.device("cpu")


def build(dtype, m=64, n=48, k=32, device=CPU):
    return MATMUL.factory(Case.of("matmul", MATMUL.normalize({"dtype": dtype, "m": m, "n": n, "k": k})), device)


@pytest.mark.parametrize("dtype", ["fp64", "fp32", "fp16", "bf16", "int8", "fp8"])
def test_each_cpu_precision_runs_and_checks(dtype):
    w = build(dtype)
    w.reset()
    w.step()
    result = w.check()
    assert result.ok, result
    assert w.work.amount == 2 * 64 * 48 * 32
    assert w.work.unit == ("op" if dtype == "int8" else "flop")
    assert w.flags["allow_tf32"] is False


def test_tf32_skipped_on_cpu_with_reason():
    with pytest.raises(Unsupported, match="TF32"):
        build("tf32")


@pytest.mark.parametrize("dtype", ["fp32", "bf16", "int8"])
def test_planted_wrong_result_is_caught(dtype):
    w = build(dtype)
    w.step()
    out = w.step.__closure__  # the product writes into a preallocated output; find it and corrupt one column
    tensors = [c.cell_contents for c in out if isinstance(c.cell_contents, torch.Tensor)]
    (c,) = [t for t in tensors if t.shape == (64, 48)]
    c[:, 5] += 100 if dtype == "int8" else 3.0 * c.abs().max()
    result = w.check()
    assert not result.ok
    assert result.error > result.tolerance


def test_fp32_tolerance_catches_tf32_level_error():
    # TF32 keeps 10 mantissa bits: an fp32 case silently running in TF32 must fail its check.
    w = build("fp32", 128, 128, 512)
    w.step()
    cells = [c.cell_contents for c in w.step.__closure__ if isinstance(c.cell_contents, torch.Tensor)]
    tensors = {tuple(t.shape): t for t in cells}
    a, b, out = tensors[(128, 512)], tensors[(512, 128)], tensors[(128, 128)]

    def tf32(x):
        return (x.view(torch.int32) & ~0x1FFF).view(torch.float32)  # truncate to 10 mantissa bits

    out.copy_(tf32(a) @ tf32(b))
    assert not w.check().ok


def test_inputs_are_random_not_zero():
    w = build("fp32")
    cells = [c.cell_contents for c in w.step.__closure__ if isinstance(c.cell_contents, torch.Tensor)]
    a = next(t for t in cells if t.shape == (64, 32))
    # Zeros, a constant or uninitialised memory would fail one of these: nearly every element non-zero, nearly
    # all distinct, spread like a standard normal.
    assert (a != 0).float().mean() > 0.99
    assert a.unique().numel() > 0.99 * a.numel()
    assert a.std() > 0.5
