import pytest
import torch

from gpubench.benchmarks import load_all
from gpubench.errors import Unsupported
from gpubench.records import Case

MEMORY = load_all()["memory"]
CPU = torch.device("cpu")


def build(kind="d2d", size=1 << 20, pinned=False):
    return MEMORY.factory(
        Case.of("memory", MEMORY.normalize({"kind": kind, "size_bytes": size, "pinned": pinned})), CPU
    )


def test_cpu_copy_moves_every_byte_and_counts_read_plus_write():
    w = build(size=(1 << 20) + 4096 * 3)  # not a multiple of the per-thread chunk
    w.step()
    assert w.check().ok
    assert w.work.amount == 2 * ((1 << 20) + 4096 * 3)
    assert w.work.throughput_unit == "GB/s (read+write)"
    assert "memcpy" in w.info["method"]
    w.close()


def test_check_catches_a_bad_copy():
    w = build(size=1 << 16)
    w.step()
    assert w.check().ok
    first, second = [c.cell_contents for c in w.check.__closure__ if isinstance(c.cell_contents, torch.Tensor)]
    second[17] ^= 0xFF  # one flipped byte in either buffer breaks source == destination
    result = w.check()
    assert not result.ok and result.error == 1.0
    w.close()


def test_source_is_random_data():
    w = build(size=1 << 16)
    tensors = [c.cell_contents for c in w.check.__closure__ if isinstance(c.cell_contents, torch.Tensor)]
    src = max(tensors, key=lambda t: t.float().std())
    assert src.float().std() > 50  # uniform bytes: std ~74
    w.close()


@pytest.mark.parametrize("kind", ["h2d", "d2h"])
def test_host_links_skip_on_cpu(kind):
    with pytest.raises(Unsupported, match="host<->GPU"):
        build(kind)
