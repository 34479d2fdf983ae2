"""A stand-in for the `amdsmi` module over scripted AMD GPUs (units as amdsmi reports them).

`unsupported` holds function names that raise AmdSmiLibraryException(STATUS_NOT_SUPPORTED); `na` holds
function names that answer "N/A" in every field, as boards without a sensor do.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any


class AmdSmiRetCode(IntEnum):
    SUCCESS = 0
    STATUS_INVAL = 1
    STATUS_NOT_SUPPORTED = 2
    STATUS_NO_PERM = 10
    STATUS_DRIVER_NOT_LOADED = 48


class AmdSmiException(Exception):
    pass


class AmdSmiLibraryException(AmdSmiException):
    def __init__(self, code: int):
        super().__init__(code)
        self.err_code = code

    def get_error_code(self) -> int:
        return self.err_code

    def __str__(self) -> str:
        return f"amdsmi error {AmdSmiRetCode(self.err_code).name}"


class AmdSmiInitFlags(IntEnum):
    INIT_AMD_GPUS = 2


class AmdSmiClkType(IntEnum):
    SYS = 0
    GFX = 0
    MEM = 4


class AmdSmiTemperatureType(IntEnum):
    EDGE = 0
    HOTSPOT = 1
    JUNCTION = 1
    VRAM = 2


class AmdSmiTemperatureMetric(IntEnum):
    CURRENT = 0


@dataclass
class FakeAmdGpu:
    bdf: str  # amdsmi style, e.g. "0000:c1:00.0"
    socket_power_w: float = 500.0
    average_power_w: Any = 480.0
    energy_ticks: int = 1_000_000
    resolution_uj: float = 15.3
    hotspot_c: Any = 70.0
    edge_c: Any = "N/A"
    vram_c: Any = 65.0
    gfx_mhz: int = 2100
    mem_mhz: int = 1300
    max_gfx_mhz: int = 2100
    max_mem_mhz: int = 1300
    gfx_activity: int = 99
    umc_activity: int = 45
    vram_used_mb: int = 2048
    power_cap_uw: int = 750_000_000
    serial: str = "692251001234"
    ecc_counts: tuple[int, int] = (0, 0)  # correctable, uncorrectable
    bad_pages: list[str] = field(default_factory=list)  # the status of each retired page
    unsupported: set[str] = field(default_factory=set)
    na: set[str] = field(default_factory=set)


class FakeAmdSmi:
    AmdSmiException = AmdSmiException
    AmdSmiLibraryException = AmdSmiLibraryException
    AmdSmiRetCode = AmdSmiRetCode
    AmdSmiInitFlags = AmdSmiInitFlags
    AmdSmiClkType = AmdSmiClkType
    AmdSmiTemperatureType = AmdSmiTemperatureType
    AmdSmiTemperatureMetric = AmdSmiTemperatureMetric

    def __init__(self, gpus: list[FakeAmdGpu], init_error: int | None = None):
        self.gpus = gpus
        self.init_error = init_error
        self.calls: Counter[str] = Counter()
        self.open = 0

    def _gpu(self, h: int, fn: str) -> FakeAmdGpu:
        self.calls[fn] += 1
        gpu = self.gpus[h]
        if fn in gpu.unsupported:
            raise AmdSmiLibraryException(AmdSmiRetCode.STATUS_NOT_SUPPORTED)
        return gpu

    def amdsmi_init(self, flags: int = 0) -> None:
        if self.init_error is not None:
            raise AmdSmiLibraryException(self.init_error)
        self.open += 1

    def amdsmi_shut_down(self) -> None:
        self.open -= 1

    def amdsmi_get_processor_handles(self) -> list[int]:
        return list(range(len(self.gpus)))

    def amdsmi_get_gpu_device_bdf(self, h: int) -> str:
        return self.gpus[h].bdf

    def amdsmi_get_power_cap_info(self, h: int) -> dict[str, Any]:
        gpu = self._gpu(h, "amdsmi_get_power_cap_info")
        return {"power_cap": gpu.power_cap_uw, "default_power_cap": gpu.power_cap_uw}

    def amdsmi_get_gpu_board_info(self, h: int) -> dict[str, Any]:
        return {"product_serial": self._gpu(h, "amdsmi_get_gpu_board_info").serial}

    def amdsmi_get_gpu_total_ecc_count(self, h: int) -> dict[str, Any]:
        c, u = self._gpu(h, "amdsmi_get_gpu_total_ecc_count").ecc_counts
        return {"correctable_count": c, "uncorrectable_count": u}

    def amdsmi_get_gpu_bad_page_info(self, h: int) -> list[dict[str, Any]]:
        pages = self._gpu(h, "amdsmi_get_gpu_bad_page_info").bad_pages
        return [{"page_address": i << 12, "status": s} for i, s in enumerate(pages)]

    def amdsmi_get_power_info(self, h: int) -> dict[str, Any]:
        gpu = self._gpu(h, "amdsmi_get_power_info")
        if "amdsmi_get_power_info" in gpu.na:
            return {"socket_power": "N/A", "current_socket_power": "N/A", "average_socket_power": "N/A"}
        return {"socket_power": gpu.socket_power_w, "average_socket_power": gpu.average_power_w}

    def amdsmi_get_energy_count(self, h: int) -> dict[str, Any]:
        gpu = self._gpu(h, "amdsmi_get_energy_count")
        return {
            "energy_accumulator": gpu.energy_ticks,
            "counter_resolution": gpu.resolution_uj,
            "timestamp": 0,
        }

    def amdsmi_get_temp_metric(self, h: int, sensor: int, metric: int) -> Any:
        gpu = self._gpu(h, "amdsmi_get_temp_metric")
        if sensor == AmdSmiTemperatureType.HOTSPOT:
            return gpu.hotspot_c
        if sensor == AmdSmiTemperatureType.EDGE:
            return gpu.edge_c
        return gpu.vram_c

    def amdsmi_get_clock_info(self, h: int, kind: int) -> dict[str, Any]:
        gpu = self._gpu(h, "amdsmi_get_clock_info")
        if kind == AmdSmiClkType.GFX:
            return {"clk": gpu.gfx_mhz, "min_clk": 500, "max_clk": gpu.max_gfx_mhz}
        return {"cur_clk": gpu.mem_mhz, "min_clk": 900, "max_clk": gpu.max_mem_mhz}  # older field name

    def amdsmi_get_gpu_activity(self, h: int) -> dict[str, Any]:
        gpu = self._gpu(h, "amdsmi_get_gpu_activity")
        return {"gfx_activity": gpu.gfx_activity, "umc_activity": gpu.umc_activity, "mm_activity": "N/A"}

    def amdsmi_get_gpu_vram_usage(self, h: int) -> dict[str, Any]:
        gpu = self._gpu(h, "amdsmi_get_gpu_vram_usage")
        return {"vram_total": 196_592, "vram_used": gpu.vram_used_mb}
