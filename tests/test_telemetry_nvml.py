"""NVML reader against a fake pynvml: units, per-metric NaN, handle by UUID, throttle reasons."""

from __future__ import annotations

import math

import pytest
from fakes.fake_pynvml import (
    NVML_ERROR_FUNCTION_NOT_FOUND,
    NVML_ERROR_LIBRARY_NOT_FOUND,
    NVML_ERROR_NOT_SUPPORTED,
    FakeGpu,
    FakeNvml,
)

from gpubench.errors import BackendUnavailable
from gpubench.telemetry import METRICS, THROTTLE_BITS, decode_throttle, open_reader
from gpubench.telemetry.nvml import NvmlReader, normalize_uuid

UUID_A = "GPU-aaaaaaaa-0000-0000-0000-000000000000"
UUID_B = "GPU-bbbbbbbb-0000-0000-0000-000000000000"


def two_gpus() -> FakeNvml:
    return FakeNvml(
        [
            FakeGpu(UUID_A, "00000000:1B:00.0", name="NVIDIA A100", power_mw=90_000, power_limit_mw=400_000),
            FakeGpu(UUID_B, "00000000:9C:00.0", name="NVIDIA H100", power_mw=650_000, power_limit_mw=700_000),
        ]
    )


def test_reads_every_metric_in_gpubench_units():
    nvml = two_gpus()
    gpu = nvml.gpus[1]
    gpu.throttle_mask = THROTTLE_BITS["sw_power_cap"]
    reader = NvmlReader({"vendor": "nvidia", "uuid": UUID_B}, nvml=nvml)
    first = reader.read()
    gpu.energy_mj += 650_000  # 650 J later
    second = reader.read()
    reader.close()

    assert set(first) == set(METRICS)
    assert first["power_w"] == pytest.approx(650.0)  # mW -> W
    assert first["power_avg_w"] == pytest.approx(240.0)
    assert first["mem_temp_c"] == 60.0
    assert first["temp_c"] == 55.0
    assert first["sm_clock_mhz"] == 1980.0
    assert first["mem_clock_mhz"] == 2619.0
    assert first["util_pct"] == 97.0 and first["mem_util_pct"] == 40.0
    assert first["mem_used_bytes"] == float(10 * 1024**3)
    assert first["throttle_mask"] == 4.0
    # The counter reads from when the reader opened, in joules.
    assert first["energy_j"] == pytest.approx(0.0)
    assert second["energy_j"] == pytest.approx(650.0)


def test_static_info_converts_limits_and_says_counter_exists():
    reader = NvmlReader({"vendor": "nvidia", "uuid": UUID_B}, nvml=two_gpus())
    info = reader.static_info()
    reader.close()
    assert info["reader"] == "nvml"
    assert info["power_limit_w"] == pytest.approx(700.0)
    assert info["max_sm_clock_mhz"] == 1980 and info["max_mem_clock_mhz"] == 2619
    assert info["has_energy_counter"] is True
    assert info["device_name"] == "NVIDIA H100"
    assert info["opened_by"] == "uuid"
    assert info["reason"] is None


def test_reordered_cuda_visible_devices_reads_the_gpu_with_the_uuid_not_the_index():
    # CUDA_VISIBLE_DEVICES=1,0: torch's cuda:0 is NVML device 1. devices.py passes torch's UUID.
    nvml = two_gpus()
    reader = NvmlReader({"vendor": "nvidia", "uuid": UUID_B, "pci_bus_id": None, "index": 0}, nvml=nvml)
    reading = reader.read()
    reader.close()
    assert reading["power_w"] == pytest.approx(650.0)  # GPU B, not NVML index 0 (90 W)
    assert nvml.calls["nvmlDeviceGetHandleByIndex"] == 0
    assert nvml.calls["nvmlDeviceGetHandleByUUID"] == 1


def test_torch_style_bare_uuid_gets_the_nvml_prefix():
    assert normalize_uuid("bbbbbbbb-0000-0000-0000-000000000000") == UUID_B
    assert normalize_uuid(UUID_B) == UUID_B
    assert normalize_uuid("MIG-1234") == "MIG-1234"
    assert normalize_uuid(None) is None
    reader = NvmlReader({"vendor": "nvidia", "uuid": UUID_B[4:], "index": 0}, nvml=two_gpus())
    assert reader.read()["power_w"] == pytest.approx(650.0)
    reader.close()


def test_pci_bus_id_when_no_uuid():
    nvml = two_gpus()
    reader = NvmlReader({"vendor": "nvidia", "uuid": None, "pci_bus_id": "00000000:1B:00.0", "index": 1}, nvml=nvml)
    assert reader.read()["power_w"] == pytest.approx(90.0)
    assert reader.static_info()["opened_by"] == "pci_bus_id"
    assert nvml.calls["nvmlDeviceGetHandleByIndex"] == 0
    reader.close()


def test_no_identity_refuses_to_guess_among_several_gpus_but_takes_the_only_one():
    with pytest.raises(BackendUnavailable, match="refusing to guess"):
        NvmlReader({"vendor": "nvidia", "index": 0}, nvml=two_gpus())
    single = FakeNvml([FakeGpu(UUID_A, "00000000:1B:00.0", power_mw=123_000)])
    reader = NvmlReader({"vendor": "nvidia", "index": 0}, nvml=single)
    assert reader.read()["power_w"] == pytest.approx(123.0)
    reader.close()


def test_unknown_uuid_is_backend_unavailable_and_releases_nvml():
    nvml = two_gpus()
    with pytest.raises(BackendUnavailable, match="no GPU with UUID GPU-cccc"):
        NvmlReader({"vendor": "nvidia", "uuid": "GPU-cccc"}, nvml=nvml)
    assert nvml.initialized == 0  # nvmlShutdown balanced the nvmlInit


def test_unsupported_metric_is_nan_and_never_asked_again():
    nvml = two_gpus()
    nvml.gpus[1].unsupported["nvmlDeviceGetTemperature"] = NVML_ERROR_NOT_SUPPORTED
    reader = NvmlReader({"vendor": "nvidia", "uuid": UUID_B}, nvml=nvml)
    readings = [reader.read() for _ in range(3)]
    assert all(math.isnan(r["temp_c"]) for r in readings)
    assert all(r["power_w"] == pytest.approx(650.0) for r in readings)  # the rest still reads
    assert nvml.calls["nvmlDeviceGetTemperature"] == 1
    assert "temp_c" in reader.static_info()["unsupported"]
    reader.close()


def test_transient_error_is_nan_once_but_asked_again():
    nvml = two_gpus()
    nvml.gpus[1].unsupported["nvmlDeviceGetClockInfo"] = 999  # unknown error: maybe temporary
    reader = NvmlReader({"vendor": "nvidia", "uuid": UUID_B}, nvml=nvml)
    assert math.isnan(reader.read()["sm_clock_mhz"])
    del nvml.gpus[1].unsupported["nvmlDeviceGetClockInfo"]
    assert reader.read()["sm_clock_mhz"] == 1980.0
    reader.close()


def test_power_fields_unsupported_fall_back_to_power_usage():
    nvml = two_gpus()
    gpu = nvml.gpus[1]
    for fid in (185, 186, 82):
        gpu.unsupported[f"field:{fid}"] = NVML_ERROR_NOT_SUPPORTED
    reader = NvmlReader({"vendor": "nvidia", "uuid": UUID_B}, nvml=nvml)
    first, second = reader.read(), reader.read()
    reader.close()
    assert first["power_w"] == pytest.approx(650.0)
    assert math.isnan(first["power_avg_w"]) and math.isnan(first["mem_temp_c"])
    assert second["power_w"] == pytest.approx(650.0)
    # Every field said "not supported" once, so the field call stops after the first read.
    assert nvml.calls["nvmlDeviceGetFieldValues"] == 1


def test_instant_power_field_is_preferred_over_the_averaged_power_usage():
    nvml = two_gpus()
    nvml.gpus[1].power_instant_mw = 612_345
    reader = NvmlReader({"vendor": "nvidia", "uuid": UUID_B}, nvml=nvml)
    assert reader.read()["power_w"] == pytest.approx(612.345)
    assert nvml.calls["nvmlDeviceGetPowerUsage"] == 0
    reader.close()


def test_no_energy_counter_reads_nan_and_says_so():
    nvml = two_gpus()
    nvml.gpus[1].unsupported["nvmlDeviceGetTotalEnergyConsumption"] = NVML_ERROR_NOT_SUPPORTED
    reader = NvmlReader({"vendor": "nvidia", "uuid": UUID_B}, nvml=nvml)
    assert math.isnan(reader.read()["energy_j"])
    assert reader.static_info()["has_energy_counter"] is False
    reader.close()


def test_throttle_reasons_fall_back_to_the_legacy_call():
    nvml = two_gpus()
    gpu = nvml.gpus[1]
    gpu.unsupported["nvmlDeviceGetCurrentClocksEventReasons"] = NVML_ERROR_FUNCTION_NOT_FOUND
    gpu.throttle_mask = 0x4 | 0x40
    reader = NvmlReader({"vendor": "nvidia", "uuid": UUID_B}, nvml=nvml)
    first, second = reader.read(), reader.read()
    reader.close()
    assert first["throttle_mask"] == float(0x44) and second["throttle_mask"] == float(0x44)
    assert nvml.calls["nvmlDeviceGetCurrentClocksEventReasons"] == 1
    assert nvml.calls["nvmlDeviceGetCurrentClocksThrottleReasons"] == 2
    assert decode_throttle(int(first["throttle_mask"])) == ["sw_power_cap", "hw_thermal"]


def test_decode_throttle_names_every_documented_bit():
    expected = {
        0x1: "gpu_idle",
        0x2: "applications_clocks",
        0x4: "sw_power_cap",
        0x8: "hw_slowdown",
        0x10: "sync_boost",
        0x20: "sw_thermal",
        0x40: "hw_thermal",
        0x80: "hw_power_brake",
        0x100: "display_clocks",
    }
    for bit, name in expected.items():
        assert decode_throttle(bit) == [name]
    assert decode_throttle(0) == []
    assert decode_throttle(0x1FF) == list(expected.values())
    assert decode_throttle(0x8000) == ["0x8000"]  # an unknown bit is kept, not dropped


def test_close_is_idempotent_and_shuts_nvml_down_once():
    nvml = two_gpus()
    reader = NvmlReader({"vendor": "nvidia", "uuid": UUID_A}, nvml=nvml)
    reader.close()
    reader.close()
    assert nvml.calls["nvmlShutdown"] == 1 and nvml.initialized == 0


def test_open_reader_modes_with_nvml():
    reader, reason = open_reader({"vendor": "nvidia", "uuid": UUID_B, "index": 0}, nvml=two_gpus())
    assert reader.name == "nvml" and reason is None
    reader.close()

    broken = FakeNvml([], init_error=NVML_ERROR_LIBRARY_NOT_FOUND)
    reader, reason = open_reader({"vendor": "nvidia", "uuid": UUID_B}, "auto", nvml=broken)
    assert reader.name == "null"
    assert "NVML could not start" in reason and "Library Not Found" in reason
    assert reader.static_info()["reason"] == reason
    assert all(math.isnan(v) for v in reader.read().values())

    with pytest.raises(BackendUnavailable, match="NVML could not start"):
        open_reader({"vendor": "nvidia", "uuid": UUID_B}, "required", nvml=broken)

    reader, reason = open_reader({"vendor": "nvidia", "uuid": UUID_B}, "off", nvml=two_gpus())
    assert reader.name == "null" and reason == "telemetry off"
