"""The NVML reader on a real NVIDIA GPU (skipped without one): handle by UUID, live values, energy."""

from __future__ import annotations

import importlib.util
import math
import time

import pytest

torch = pytest.importorskip("torch")

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        not torch.cuda.is_available() or torch.version.hip is not None or importlib.util.find_spec("pynvml") is None,
        reason="needs an NVIDIA GPU and pynvml",
    ),
]


def torch_device_info(index: int = 0) -> dict:
    props = torch.cuda.get_device_properties(index)
    bus = f"{props.pci_domain_id:08X}:{props.pci_bus_id:02X}:{props.pci_device_id:02X}.0"
    return {"vendor": "nvidia", "uuid": str(props.uuid), "pci_bus_id": bus, "index": index}


def test_real_gpu_reads_power_clocks_and_energy_under_load():
    from gpubench.telemetry import Sampler, case_aggregates, open_reader

    reader, reason = open_reader(torch_device_info(0), "required")
    assert reason is None and reader.name == "nvml"
    info = reader.static_info()
    assert info["opened_by"] == "uuid"
    assert info["power_limit_w"] > 50
    first = reader.read()
    assert first["power_w"] > 1 and first["temp_c"] > 0 and first["sm_clock_mhz"] > 0
    assert first["mem_used_bytes"] > 0 and math.isfinite(first["throttle_mask"])

    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    with Sampler(reader, hz=20.0) as sampler:
        time.sleep(0.2)
        torch.cuda.synchronize()
        start_ns = time.monotonic_ns()
        deadline = time.perf_counter() + 3.0
        while time.perf_counter() < deadline:
            for _ in range(50):
                torch.mm(a, a)
            torch.cuda.synchronize()
        end_ns = time.monotonic_ns()
    reader.close()
    agg = case_aggregates(sampler.frame(), start_ns, end_ns)
    assert agg["telemetry_samples"] >= 20
    assert agg["avg_power_w"] > first["power_w"]  # a busy GPU draws more than an idle one
    assert agg["mean_util_pct"] > 50
    if info["has_energy_counter"]:
        # The counter and 20 Hz integrated power agree to a few % over seconds; loose on purpose.
        assert agg["energy_source"] == "counter"
        assert agg["energy_counter_j"] == pytest.approx(agg["energy_integrated_j"], rel=0.25)
