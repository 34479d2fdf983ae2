"""CPU reader over a fake sysfs/procfs tree: RAPL domains, wrap-around, clocks, utilization, temperatures."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
from fakes import sysfs

from gpubench.errors import BackendUnavailable
from gpubench.telemetry import open_reader
from gpubench.telemetry.cpu import CpuReader


class FakeClock:
    def __init__(self) -> None:
        self.t_ns = 5_000_000_000

    def __call__(self) -> int:
        return self.t_ns

    def advance(self, seconds: float) -> None:
        self.t_ns += int(seconds * 1e9)


@pytest.fixture
def tree(tmp_path):
    sys_root, proc_root = tmp_path / "sys", tmp_path / "proc"
    sysfs.rapl_domain(sys_root, "intel-rapl:0", "package-0", 1_000_000, limit_uw=150_000_000)
    sysfs.rapl_domain(sys_root, "intel-rapl:1", "package-1", 2_000_000, limit_uw=150_000_000)
    sysfs.rapl_domain(sys_root, "intel-rapl:0:0", "dram", 500_000)
    sysfs.rapl_domain(sys_root, "intel-rapl:0:1", "core", 400_000)  # inside package-0: not added
    sysfs.rapl_domain(sys_root, "intel-rapl:2", "psys", 9_000_000)  # whole platform: not added
    sysfs.rapl_domain(sys_root, "intel-rapl-mmio:0", "package-0", 1_000_000)  # duplicate of package-0
    sysfs.cpufreq(sys_root, [3_000_000, 2_000_000], max_khz=3_500_000)
    sysfs.hwmon(sys_root, 0, "acpitz", [90_000])  # not a CPU sensor
    sysfs.hwmon(sys_root, 1, "coretemp", [61_000, 58_000, 63_500])
    sysfs.proc_stat(proc_root, user=1000, system=500, idle=8500)
    sysfs.meminfo(proc_root, total_kb=16_000_000, available_kb=10_000_000)
    return sys_root, proc_root


def test_rapl_energy_sums_packages_and_dram_and_power_is_its_slope(tree):
    sys_root, proc_root = tree
    clock = FakeClock()
    reader = CpuReader(sys_root, proc_root, psutil=None, clock=clock)
    info = reader.static_info()
    assert reader.name == "rapl"
    assert info["rapl_domains"] == ["intel-rapl:0/package-0", "intel-rapl:0:0/dram", "intel-rapl:1/package-1"]
    assert info["power_limit_w"] == pytest.approx(300.0)
    assert info["has_energy_counter"] is True and info["reason"] is None

    clock.advance(1.0)
    sysfs.set_energy(sys_root, "intel-rapl:0", 1_000_000 + 60_000_000)  # +60 J
    sysfs.set_energy(sys_root, "intel-rapl:1", 2_000_000 + 50_000_000)  # +50 J
    sysfs.set_energy(sys_root, "intel-rapl:0:0", 500_000 + 10_000_000)  # +10 J
    sysfs.set_energy(sys_root, "intel-rapl:0:1", 999_999_999)  # core: ignored
    sysfs.set_energy(sys_root, "intel-rapl:2", 999_999_999)  # psys: ignored
    reading = reader.read()
    assert reading["energy_j"] == pytest.approx(120.0)
    assert reading["power_w"] == pytest.approx(120.0)  # 120 J over 1 s


def test_rapl_wrap_around_uses_max_energy_range(tmp_path):
    sys_root = tmp_path / "sys"
    max_range = 1_000_000_000
    sysfs.rapl_domain(sys_root, "intel-rapl:0", "package-0", max_range - 3_000_000, max_range_uj=max_range)
    clock = FakeClock()
    reader = CpuReader(sys_root, tmp_path / "proc", psutil=None, clock=clock)
    clock.advance(0.5)
    sysfs.set_energy(sys_root, "intel-rapl:0", 2_000_000)  # wrapped: 3 J to the top + 2 J after
    reading = reader.read()
    assert reading["energy_j"] == pytest.approx(5.0)
    assert reading["power_w"] == pytest.approx(10.0)
    clock.advance(0.5)
    sysfs.set_energy(sys_root, "intel-rapl:0", 7_000_000)
    assert reader.read()["energy_j"] == pytest.approx(10.0)


def test_clocks_utilization_temperature_memory(tree):
    sys_root, proc_root = tree
    reader = CpuReader(sys_root, proc_root, psutil=None, clock=FakeClock())
    sysfs.proc_stat(proc_root, user=1000 + 300, system=500 + 100, idle=8500 + 100)  # 400 busy of 500
    reading = reader.read()
    assert reading["sm_clock_mhz"] == pytest.approx(2500.0)  # mean of 3000 and 2000 MHz
    assert reader.static_info()["max_sm_clock_mhz"] == pytest.approx(3500.0)
    assert reading["util_pct"] == pytest.approx(80.0)
    assert reading["temp_c"] == pytest.approx(63.5)  # hottest coretemp sensor, not acpitz
    assert reading["mem_used_bytes"] == pytest.approx(6_000_000 * 1024)
    for key in ("power_avg_w", "mem_temp_c", "mem_clock_mhz", "mem_util_pct", "throttle_mask"):
        assert math.isnan(reading[key])


def test_without_rapl_the_reader_still_opens_and_says_why_energy_is_missing(tmp_path):
    sys_root, proc_root = tmp_path / "sys", tmp_path / "proc"
    sysfs.proc_stat(proc_root, user=1, system=1, idle=10)
    psutil = SimpleNamespace(cpu_freq=lambda: SimpleNamespace(current=2596.0, min=0.0, max=0.0))
    reader = CpuReader(sys_root, proc_root, psutil=psutil)
    reading = reader.read()
    info = reader.static_info()
    assert reader.name == "cpu"
    assert math.isnan(reading["energy_j"]) and math.isnan(reading["power_w"])
    assert reading["sm_clock_mhz"] == 2596.0  # psutil fallback when cpufreq is absent
    assert info["has_energy_counter"] is False and "no RAPL domains" in info["reason"]


def test_unreadable_energy_file_is_explained(tmp_path):
    sys_root = tmp_path / "sys"
    domain = sysfs.rapl_domain(sys_root, "intel-rapl:0", "package-0", 1)
    (domain / "energy_uj").unlink()
    (domain / "energy_uj").mkdir()  # reading it fails as an unreadable file would
    with pytest.raises(BackendUnavailable, match="cannot read .*energy_uj"):
        CpuReader(sys_root, tmp_path / "proc", psutil=None)  # nothing else readable either
    sysfs.proc_stat(tmp_path / "proc", user=1, system=1, idle=10)
    reader = CpuReader(sys_root, tmp_path / "proc", psutil=None)
    assert reader.name == "cpu"
    assert "cannot read" in reader.static_info()["reason"]


def test_nothing_readable_is_backend_unavailable(tmp_path):
    with pytest.raises(BackendUnavailable, match="no CPU telemetry readable"):
        CpuReader(tmp_path / "sys", tmp_path / "proc", psutil=None)


def test_open_reader_cpu_modes(tree, tmp_path):
    sys_root, proc_root = tree
    reader, reason = open_reader({"vendor": "cpu"}, sysfs_root=sys_root, procfs_root=proc_root)
    assert reader.name == "rapl" and reason is None

    bare_sys = tmp_path / "bare"
    reader, reason = open_reader({"vendor": "cpu"}, "auto", sysfs_root=bare_sys, procfs_root=proc_root)
    assert reader.name == "cpu" and reason is None  # a real reader, energy NaN, reason in static_info
    with pytest.raises(BackendUnavailable, match="no CPU energy telemetry: no RAPL domains"):
        open_reader({"vendor": "cpu"}, "required", sysfs_root=bare_sys, procfs_root=proc_root)


def test_root_only_energy_file_says_how_to_fix_it(tree, monkeypatch):
    import gpubench.telemetry.cpu as cpu_module

    real = cpu_module._read_text

    def deny_energy(path):
        if path.name == "energy_uj":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(cpu_module, "_read_text", deny_energy)
    sys_root, proc_root = tree
    reader = CpuReader(sys_root, proc_root, psutil=None)
    assert reader.name == "cpu"
    assert "root only" in reader.static_info()["reason"]


def test_psutil_clock_fallback_is_asked_at_most_once_a_second(tmp_path):
    proc_root = tmp_path / "proc"
    sysfs.proc_stat(proc_root, user=1, system=1, idle=10)
    calls = []

    def cpu_freq():
        calls.append(1)
        return SimpleNamespace(current=2000.0 + len(calls), min=0.0, max=0.0)

    clock = FakeClock()
    reader = CpuReader(tmp_path / "sys", proc_root, psutil=SimpleNamespace(cpu_freq=cpu_freq), clock=clock)
    before = len(calls)
    first = reader.read()["sm_clock_mhz"]
    clock.advance(0.3)
    assert reader.read()["sm_clock_mhz"] == first and len(calls) == before
    clock.advance(0.8)
    assert reader.read()["sm_clock_mhz"] > first and len(calls) == before + 1
