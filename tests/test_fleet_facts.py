"""Per-GPU facts a fleet check judges (serial, ECC, retired pages, remapped rows, default power limit), read by
the NVML and amdsmi readers into run.json's telemetry record; NaN (None for text) where the GPU does not say."""

from __future__ import annotations

import math

from fakes.fake_amdsmi import FakeAmdGpu, FakeAmdSmi
from fakes.fake_pynvml import NVML_ERROR_NOT_SUPPORTED, FakeGpu, FakeNvml

from gpubench.telemetry.amd import AmdSmiReader
from gpubench.telemetry.nvml import NvmlReader

UUID = "GPU-11111111-2222-3333-4444-555555555555"


def test_nvml_health_facts() -> None:
    gpu = FakeGpu(
        UUID,
        "00000000:17:00.0",
        serial="1654922099999",
        ecc_errors={(1, 0): 2, (0, 0): 7, (1, 1): 5},
        retired_pages={0: [1, 2], 1: [3]},
        retired_pending=1,
        remapped_rows=(4, 1, 0, 0),
        default_power_limit_mw=700_000,
        power_limit_mw=500_000,
    )
    info = NvmlReader({"uuid": UUID}, nvml=FakeNvml([gpu])).static_info()
    assert info["serial"] == "1654922099999"
    assert (info["ecc_uncorrectable_volatile"], info["ecc_correctable_volatile"]) == (2.0, 7.0)
    assert info["ecc_uncorrectable_aggregate"] == 5.0
    assert (info["retired_pages_sbe"], info["retired_pages_dbe"], info["retired_pages_pending"]) == (2.0, 1.0, 1.0)
    assert (info["remapped_rows_correctable"], info["remapped_rows_uncorrectable"]) == (4.0, 1.0)
    assert info["default_power_limit_w"] == 700.0 and info["power_limit_w"] == 500.0
    assert info["ecc_mode"] == 1.0


def test_nvml_unsupported_facts_are_nan_not_errors() -> None:
    nope = NVML_ERROR_NOT_SUPPORTED
    gpu = FakeGpu(
        UUID,
        "00000000:17:00.0",
        unsupported={
            "nvmlDeviceGetSerial": nope,
            "nvmlDeviceGetEccMode": nope,
            "nvmlDeviceGetTotalEccErrors": nope,
            "nvmlDeviceGetRetiredPages": nope,
            "nvmlDeviceGetRetiredPagesPendingStatus": nope,
            "nvmlDeviceGetRemappedRows": nope,
            "nvmlDeviceGetPowerManagementDefaultLimit": nope,
        },
    )
    info = NvmlReader({"uuid": UUID}, nvml=FakeNvml([gpu])).static_info()
    assert info["serial"] is None
    for key in ("ecc_mode", "ecc_uncorrectable_volatile", "retired_pages_dbe", "remapped_rows_pending"):
        assert math.isnan(info[key]), key
    assert math.isnan(info["default_power_limit_w"])
    assert info["reason"] is None  # the reader still works: the facts are simply unknown


def test_amdsmi_health_facts_and_unsupported() -> None:
    gpu = FakeAmdGpu("0000:c1:00.0", serial="PX123", ecc_counts=(3, 1), bad_pages=["reserved", "pending"])
    info = AmdSmiReader({"pci_bus_id": "0000:c1:00.0"}, amdsmi=FakeAmdSmi([gpu])).static_info()
    assert info["serial"] == "PX123"
    assert (info["ecc_correctable_volatile"], info["ecc_uncorrectable_volatile"]) == (3.0, 1.0)
    assert (info["retired_pages_dbe"], info["retired_pages_pending"]) == (2.0, 1.0)
    assert info["default_power_limit_w"] == 750.0
    bare = FakeAmdGpu(
        "0000:c1:00.0",
        unsupported={"amdsmi_get_gpu_board_info", "amdsmi_get_gpu_total_ecc_count", "amdsmi_get_gpu_bad_page_info"},
    )
    info = AmdSmiReader({"pci_bus_id": "0000:c1:00.0"}, amdsmi=FakeAmdSmi([bare])).static_info()
    assert info["serial"] is None
    assert math.isnan(info["ecc_uncorrectable_volatile"]) and math.isnan(info["retired_pages_pending"])
