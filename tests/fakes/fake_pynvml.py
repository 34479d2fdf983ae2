"""A stand-in for the `pynvml` module: the functions gpubench's NVML reader calls, over scripted GPUs.

Each FakeGpu holds its current readings in NVML's own units (mW, mJ, MHz, bytes); a test changes them
between reads. `unsupported` maps a function name (or "field:<id>") to the NVML error code it raises.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

NVML_SUCCESS = 0
NVML_ERROR_INVALID_ARGUMENT = 2
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NOT_FOUND = 6
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_FUNCTION_NOT_FOUND = 13
NVML_ERROR_UNKNOWN = 999


class NVMLError(Exception):
    """Like pynvml's: carries the NVML return code in `value`."""

    def __init__(self, value: int):
        super().__init__(value)
        self.value = value

    def __str__(self) -> str:
        return {
            NVML_ERROR_NOT_SUPPORTED: "Not Supported",
            NVML_ERROR_NOT_FOUND: "Not Found",
            NVML_ERROR_LIBRARY_NOT_FOUND: "NVML Shared Library Not Found",
            NVML_ERROR_FUNCTION_NOT_FOUND: "Function Not Found",
        }.get(self.value, f"NVML error {self.value}")


@dataclass
class FakeGpu:
    uuid: str
    pci_bus_id: str
    name: str = "NVIDIA H100 80GB HBM3"
    power_mw: int = 250_000
    power_instant_mw: int | None = None  # None: the field reads power_mw
    power_avg_mw: int = 240_000
    energy_mj: int = 5_000_000
    temp_c: int = 55
    mem_temp_c: int = 60
    sm_clock_mhz: int = 1980
    mem_clock_mhz: int = 2619
    util_gpu: int = 97
    util_mem: int = 40
    mem_used_bytes: int = 10 * 1024**3
    throttle_mask: int = 0
    power_limit_mw: int = 700_000
    max_sm_clock_mhz: int = 1980
    max_mem_clock_mhz: int = 2619
    # Health facts (fleet checks): serial, ECC counts (error type, counter type) -> count, retired pages, remapping.
    serial: str = "1654922012345"
    default_power_limit_mw: int = 700_000
    ecc_mode: int = 1
    ecc_errors: dict[tuple[int, int], int] = field(default_factory=dict)
    retired_pages: dict[int, list[int]] = field(default_factory=dict)
    retired_pending: int = 0
    remapped_rows: tuple[int, int, int, int] = (0, 0, 0, 0)
    unsupported: dict[str, int] = field(default_factory=dict)


class FakeNvml:
    """Module-like object; pass it as `NvmlReader(device_info, nvml=fake)`. GPUs are in NVML order."""

    NVMLError = NVMLError
    NVML_SUCCESS = NVML_SUCCESS
    NVML_ERROR_NOT_SUPPORTED = NVML_ERROR_NOT_SUPPORTED
    NVML_ERROR_FUNCTION_NOT_FOUND = NVML_ERROR_FUNCTION_NOT_FOUND
    NVML_TEMPERATURE_GPU = 0
    NVML_CLOCK_SM = 1
    NVML_CLOCK_MEM = 2
    NVML_FI_DEV_MEMORY_TEMP = 82
    NVML_FI_DEV_POWER_AVERAGE = 185
    NVML_FI_DEV_POWER_INSTANT = 186
    NVML_VALUE_TYPE_UNSIGNED_INT = 1

    def __init__(self, gpus: list[FakeGpu], init_error: int | None = None):
        self.gpus = gpus
        self.init_error = init_error
        self.calls: Counter[str] = Counter()
        self.initialized = 0

    # -- helpers --
    def _gpu(self, handle: Any, fn: str) -> FakeGpu:
        self.calls[fn] += 1
        if not self.initialized:
            raise NVMLError(1)  # uninitialized
        gpu = self.gpus[handle]
        if fn in gpu.unsupported:
            raise NVMLError(gpu.unsupported[fn])
        return gpu

    # -- lifecycle and lookup --
    def nvmlInit(self) -> None:
        self.calls["nvmlInit"] += 1
        if self.init_error is not None:
            raise NVMLError(self.init_error)
        self.initialized += 1

    def nvmlShutdown(self) -> None:
        self.calls["nvmlShutdown"] += 1
        self.initialized -= 1

    def nvmlSystemGetDriverVersion(self) -> str:
        return "580.159.04"

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        self.calls["nvmlDeviceGetHandleByIndex"] += 1
        return index

    def nvmlDeviceGetHandleByUUID(self, uuid: str) -> int:
        self.calls["nvmlDeviceGetHandleByUUID"] += 1
        for i, gpu in enumerate(self.gpus):
            if gpu.uuid == uuid:
                return i
        raise NVMLError(NVML_ERROR_NOT_FOUND)

    def nvmlDeviceGetHandleByPciBusId(self, bus_id: str) -> int:
        self.calls["nvmlDeviceGetHandleByPciBusId"] += 1
        for i, gpu in enumerate(self.gpus):
            if gpu.pci_bus_id.lower() == bus_id.lower():
                return i
        raise NVMLError(NVML_ERROR_NOT_FOUND)

    # -- static --
    def nvmlDeviceGetName(self, h: int) -> str:
        return self._gpu(h, "nvmlDeviceGetName").name

    def nvmlDeviceGetUUID(self, h: int) -> str:
        return self._gpu(h, "nvmlDeviceGetUUID").uuid

    def nvmlDeviceGetEnforcedPowerLimit(self, h: int) -> int:
        return self._gpu(h, "nvmlDeviceGetEnforcedPowerLimit").power_limit_mw

    def nvmlDeviceGetMaxClockInfo(self, h: int, kind: int) -> int:
        gpu = self._gpu(h, "nvmlDeviceGetMaxClockInfo")
        return gpu.max_sm_clock_mhz if kind == self.NVML_CLOCK_SM else gpu.max_mem_clock_mhz

    def nvmlDeviceGetSerial(self, h: int) -> str:
        return self._gpu(h, "nvmlDeviceGetSerial").serial

    def nvmlDeviceGetEccMode(self, h: int) -> list[int]:
        gpu = self._gpu(h, "nvmlDeviceGetEccMode")
        return [gpu.ecc_mode, gpu.ecc_mode]

    def nvmlDeviceGetTotalEccErrors(self, h: int, error_type: int, counter_type: int) -> int:
        return self._gpu(h, "nvmlDeviceGetTotalEccErrors").ecc_errors.get((error_type, counter_type), 0)

    def nvmlDeviceGetRetiredPages(self, h: int, cause: int) -> list[int]:
        return list(self._gpu(h, "nvmlDeviceGetRetiredPages").retired_pages.get(cause, []))

    def nvmlDeviceGetRetiredPagesPendingStatus(self, h: int) -> int:
        return self._gpu(h, "nvmlDeviceGetRetiredPagesPendingStatus").retired_pending

    def nvmlDeviceGetRemappedRows(self, h: int) -> tuple[int, int, int, int]:
        return self._gpu(h, "nvmlDeviceGetRemappedRows").remapped_rows

    def nvmlDeviceGetPowerManagementDefaultLimit(self, h: int) -> int:
        return self._gpu(h, "nvmlDeviceGetPowerManagementDefaultLimit").default_power_limit_mw

    # -- readings --
    def nvmlDeviceGetPowerUsage(self, h: int) -> int:
        return self._gpu(h, "nvmlDeviceGetPowerUsage").power_mw

    def nvmlDeviceGetFieldValues(self, h: int, field_ids: list[int]) -> list[SimpleNamespace]:
        gpu = self._gpu(h, "nvmlDeviceGetFieldValues")
        out = []
        for fid in field_ids:
            value = {
                self.NVML_FI_DEV_POWER_INSTANT: gpu.power_mw if gpu.power_instant_mw is None else gpu.power_instant_mw,
                self.NVML_FI_DEV_POWER_AVERAGE: gpu.power_avg_mw,
                self.NVML_FI_DEV_MEMORY_TEMP: gpu.mem_temp_c,
            }.get(fid, 0)
            ret = gpu.unsupported.get(f"field:{fid}", NVML_SUCCESS)
            out.append(
                SimpleNamespace(
                    fieldId=fid,
                    nvmlReturn=ret,
                    valueType=self.NVML_VALUE_TYPE_UNSIGNED_INT,
                    value=SimpleNamespace(uiVal=value, dVal=0.0, ulVal=0, ullVal=0, sllVal=0, siVal=0, usVal=0),
                )
            )
        return out

    def nvmlDeviceGetTotalEnergyConsumption(self, h: int) -> int:
        return self._gpu(h, "nvmlDeviceGetTotalEnergyConsumption").energy_mj

    def nvmlDeviceGetTemperature(self, h: int, sensor: int) -> int:
        return self._gpu(h, "nvmlDeviceGetTemperature").temp_c

    def nvmlDeviceGetClockInfo(self, h: int, kind: int) -> int:
        gpu = self._gpu(h, "nvmlDeviceGetClockInfo")
        return gpu.sm_clock_mhz if kind == self.NVML_CLOCK_SM else gpu.mem_clock_mhz

    def nvmlDeviceGetUtilizationRates(self, h: int) -> SimpleNamespace:
        gpu = self._gpu(h, "nvmlDeviceGetUtilizationRates")
        return SimpleNamespace(gpu=gpu.util_gpu, memory=gpu.util_mem)

    def nvmlDeviceGetMemoryInfo(self, h: int) -> SimpleNamespace:
        gpu = self._gpu(h, "nvmlDeviceGetMemoryInfo")
        return SimpleNamespace(used=gpu.mem_used_bytes, total=80 * 1024**3, free=0)

    def nvmlDeviceGetCurrentClocksEventReasons(self, h: int) -> int:
        return self._gpu(h, "nvmlDeviceGetCurrentClocksEventReasons").throttle_mask

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, h: int) -> int:
        return self._gpu(h, "nvmlDeviceGetCurrentClocksThrottleReasons").throttle_mask
