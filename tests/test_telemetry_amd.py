"""amdsmi reader against a fake amdsmi: BDF lookup, units, N/A, and the implausible-counter fallback."""

from __future__ import annotations

import importlib.util
import math

import pandas as pd
import pytest
from fakes.fake_amdsmi import AmdSmiRetCode, FakeAmdGpu, FakeAmdSmi

from gpubench.errors import BackendUnavailable
from gpubench.telemetry import case_aggregates, open_reader
from gpubench.telemetry.amd import AmdSmiReader, EnergyCounterCheck, normalize_bdf


class FakeClock:
    def __init__(self) -> None:
        self.t_ns = 1_000_000_000

    def __call__(self) -> int:
        return self.t_ns

    def advance(self, seconds: float) -> None:
        self.t_ns += int(seconds * 1e9)


def fake() -> FakeAmdSmi:
    return FakeAmdSmi([FakeAmdGpu("0000:83:00.0", socket_power_w=120.0), FakeAmdGpu("0000:c1:00.0")])


def test_normalize_bdf_accepts_nvml_and_amdsmi_styles():
    assert normalize_bdf("00000000:C1:00.0") == "0000:c1:00.0"
    assert normalize_bdf("0000:c1:00.0") == "0000:c1:00.0"
    assert normalize_bdf("c1:00.0") == "0000:c1:00.0"
    assert normalize_bdf("garbage") is None
    assert normalize_bdf(None) is None


def test_opens_by_bdf_and_reads_in_gpubench_units():
    smi = fake()
    reader = AmdSmiReader({"vendor": "amd", "pci_bus_id": "00000000:C1:00.0", "index": 0}, amdsmi=smi)
    reading = reader.read()
    info = reader.static_info()
    reader.close()
    assert reading["power_w"] == 500.0  # GPU at c1, not the first handle (120 W)
    assert reading["power_avg_w"] == 480.0
    assert reading["temp_c"] == 70.0  # hotspot
    assert reading["mem_temp_c"] == 65.0
    assert reading["sm_clock_mhz"] == 2100.0
    assert reading["mem_clock_mhz"] == 1300.0  # read through the older 'cur_clk' name
    assert reading["util_pct"] == 99.0 and reading["mem_util_pct"] == 45.0
    assert reading["mem_used_bytes"] == 2048 * 1024 * 1024  # MiB -> bytes
    assert math.isnan(reading["throttle_mask"])
    assert info["power_limit_w"] == pytest.approx(750.0)  # uW -> W
    assert info["max_sm_clock_mhz"] == 2100 and info["pci_bus_id"] == "0000:c1:00.0"
    assert info["has_energy_counter"] is True
    assert smi.open == 0


def test_sane_energy_counter_is_kept():
    smi, clock = fake(), FakeClock()
    gpu = smi.gpus[1]
    reader = AmdSmiReader({"pci_bus_id": "0000:c1:00.0"}, amdsmi=smi, clock=clock)
    for _ in range(30):  # 3 s at 500 W
        clock.advance(0.1)
        gpu.energy_ticks += round(500.0 * 0.1 * 1e6 / gpu.resolution_uj)
        last = reader.read()
    assert last["energy_j"] == pytest.approx(1500.0, rel=1e-3)
    assert reader.static_info()["has_energy_counter"] is True
    reader.close()


def test_counter_going_backwards_is_dropped():
    smi, clock = fake(), FakeClock()
    gpu = smi.gpus[1]
    reader = AmdSmiReader({"pci_bus_id": "0000:c1:00.0"}, amdsmi=smi, clock=clock)
    clock.advance(0.1)
    gpu.energy_ticks += 1000
    assert math.isfinite(reader.read()["energy_j"])
    clock.advance(0.1)
    gpu.energy_ticks -= 5000
    assert math.isnan(reader.read()["energy_j"])
    clock.advance(0.1)
    gpu.energy_ticks += 10_000
    assert math.isnan(reader.read()["energy_j"])  # dropped for good
    info = reader.static_info()
    assert info["has_energy_counter"] is False
    assert "backwards" in info["energy_counter_problem"]
    reader.close()


def _impossible_run(reader: AmdSmiReader, gpu: FakeAmdGpu, clock: FakeClock) -> pd.DataFrame:
    rows = []
    for _ in range(40):  # 4 s; the counter claims 10 kW while power reads 500 W
        clock.advance(0.1)
        gpu.energy_ticks += round(10_000.0 * 0.1 * 1e6 / gpu.resolution_uj)
        rows.append({"t_ns": clock(), **reader.read()})
    return pd.DataFrame(rows)


def test_counter_implying_far_more_than_the_power_limit_falls_back_to_integrated_power():
    smi, clock = fake(), FakeClock()
    gpu = smi.gpus[1]
    reader = AmdSmiReader({"pci_bus_id": "0000:c1:00.0"}, amdsmi=smi, clock=clock)
    frame = _impossible_run(reader, gpu, clock)
    info = reader.static_info()
    reader.close()
    assert info["has_energy_counter"] is False
    assert "power limit" in info["energy_counter_problem"]
    # From the check onwards the counter is NaN; a case after that integrates power: 500 W x 2 s.
    start, end = int(frame.t_ns.iloc[15]), int(frame.t_ns.iloc[35])
    agg = case_aggregates(frame, start, end)
    assert agg["energy_source"] == "integrated"
    assert agg["energy_j"] == pytest.approx(1000.0, rel=0.01)


def test_stuck_counter_under_load_is_dropped():
    check = EnergyCounterCheck(power_limit_w=750.0)
    t = 0
    problems = []
    for _ in range(30):
        t += 100_000_000
        problems.append(check.check(t, 42.0, 500.0))  # counter never moves while 500 W is drawn
    assert any(p and "power sensor" in p for p in problems)
    idle = EnergyCounterCheck(power_limit_w=750.0)
    assert all(idle.check(i * 100_000_000, 42.0, 5.0) is None for i in range(30))  # idle: too coarse to judge


def test_na_and_not_supported_metrics_are_nan_and_not_asked_again():
    smi = fake()
    gpu = smi.gpus[1]
    gpu.unsupported.add("amdsmi_get_gpu_activity")
    gpu.vram_c = "N/A"
    reader = AmdSmiReader({"pci_bus_id": "0000:c1:00.0"}, amdsmi=smi)
    readings = [reader.read() for _ in range(3)]
    assert all(math.isnan(r["util_pct"]) and math.isnan(r["mem_temp_c"]) for r in readings)
    assert all(r["temp_c"] == 70.0 for r in readings)
    assert smi.calls["amdsmi_get_gpu_activity"] == 1
    assert {"util", "mem_temp_c"} <= set(reader.static_info()["unsupported"])
    reader.close()


def test_edge_temperature_is_the_fallback_when_hotspot_is_na():
    smi = fake()
    smi.gpus[1].hotspot_c = "N/A"
    smi.gpus[1].edge_c = 48.0
    reader = AmdSmiReader({"pci_bus_id": "0000:c1:00.0"}, amdsmi=smi)
    assert reader.read()["temp_c"] == 48.0
    assert reader.read()["temp_c"] == 48.0
    reader.close()


def test_unknown_bdf_or_failed_init_is_backend_unavailable():
    with pytest.raises(BackendUnavailable, match="no GPU at PCI bus id 0000:01:00.0"):
        AmdSmiReader({"pci_bus_id": "0000:01:00.0"}, amdsmi=fake())
    with pytest.raises(BackendUnavailable, match="refusing to guess"):
        AmdSmiReader({"pci_bus_id": None}, amdsmi=fake())
    broken = FakeAmdSmi([], init_error=AmdSmiRetCode.STATUS_DRIVER_NOT_LOADED)
    reader, reason = open_reader({"vendor": "amd", "pci_bus_id": "0000:c1:00.0"}, amdsmi=broken)
    assert reader.name == "null" and "amdsmi could not start" in reason
    reader, reason = open_reader({"vendor": "amd", "pci_bus_id": "0000:c1:00.0"}, amdsmi=fake())
    assert reader.name == "amdsmi" and reason is None
    reader.close()


@pytest.mark.skipif(importlib.util.find_spec("amdsmi") is not None, reason="amdsmi is installed here")
def test_missing_amdsmi_module_is_a_one_line_reason():
    reader, reason = open_reader({"vendor": "amd", "pci_bus_id": "0000:c1:00.0"})
    assert reader.name == "null"
    assert "amdsmi is not importable" in reason and "\n" not in reason
