"""NVIDIA telemetry through NVML (the `pynvml` module of nvidia-ml-py).

The handle is opened by UUID (or PCI bus id), never by index: CUDA_VISIBLE_DEVICES and
CUDA_DEVICE_ORDER renumber devices for CUDA but not for NVML, so torch's `cuda:0` can be NVML device 3.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from typing import Any

from gpubench.errors import BackendUnavailable
from gpubench.telemetry.base import NAN, MetricGate, nan_reading

# NVML return codes that will not change on the next poll: stop asking (see MetricGate).
_NOT_SUPPORTED = 3
_NO_PERMISSION = 4
_NOT_FOUND = 6
_FUNCTION_NOT_FOUND = 13
_GIVE_UP_CODES = frozenset({_NOT_SUPPORTED, _NO_PERMISSION, _FUNCTION_NOT_FOUND})

# Field ids from nvml.h, used when an older pynvml lacks the constant (the driver then answers per field).
_FI_DEV_MEMORY_TEMP = 82
_FI_DEV_POWER_AVERAGE = 185
_FI_DEV_POWER_INSTANT = 186


def _mw_to_w(milliwatts: float) -> float:
    """NVML reports power and power limits in milliwatts; this is the only place they become watts."""
    return float(milliwatts) / 1000.0


def _mj_to_j(millijoules: float) -> float:
    return float(millijoules) / 1000.0


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def normalize_uuid(uuid: str | None) -> str | None:
    """NVML wants 'GPU-<uuid>' (or 'MIG-<uuid>'); torch's device properties give the bare UUID."""
    if not uuid:
        return None
    uuid = _text(uuid).strip()
    if uuid.upper().startswith(("GPU-", "MIG-")):
        return uuid
    return f"GPU-{uuid}"


def _field_value(field: Any) -> float:
    """The number in an nvmlFieldValue_t, read from the union member its valueType names."""
    member = {0: "dVal", 1: "uiVal", 2: "ulVal", 3: "ullVal", 4: "sllVal", 5: "siVal", 6: "usVal"}.get(
        int(field.valueType), "uiVal"
    )
    return float(getattr(field.value, member))


class NvmlReader:
    """Reads one NVIDIA GPU through NVML. Inject a fake module with `nvml=` in tests."""

    name = "nvml"

    def __init__(self, device_info: Mapping[str, Any], nvml: Any | None = None) -> None:
        if nvml is None:
            try:
                import pynvml as nvml  # optional: imported only when an NVIDIA reader opens
            except ImportError as exc:
                raise BackendUnavailable(f"pynvml is not importable ({exc}); pip install nvidia-ml-py") from None
        self._nvml = nvml
        try:
            nvml.nvmlInit()
        except nvml.NVMLError as exc:
            raise BackendUnavailable(f"NVML could not start: {exc}") from None
        self._open = True
        self._gate = MetricGate(self._gives_up, (nvml.NVMLError,))
        self._energy_offset_mj: float | None = None
        try:
            self._handle, self._opened_by = self._find_handle(device_info)
            self._fields = [
                ("power_w", getattr(nvml, "NVML_FI_DEV_POWER_INSTANT", _FI_DEV_POWER_INSTANT)),
                ("power_avg_w", getattr(nvml, "NVML_FI_DEV_POWER_AVERAGE", _FI_DEV_POWER_AVERAGE)),
                ("mem_temp_c", getattr(nvml, "NVML_FI_DEV_MEMORY_TEMP", _FI_DEV_MEMORY_TEMP)),
            ]
            self._static = self._probe_static()
        except BaseException:
            self.close()
            raise

    # -- opening ---------------------------------------------------------------------------------

    @staticmethod
    def _gives_up(exc: BaseException) -> bool:
        return getattr(exc, "value", None) in _GIVE_UP_CODES

    def _find_handle(self, device_info: Mapping[str, Any]) -> tuple[Any, str]:
        nvml = self._nvml
        uuid = normalize_uuid(device_info.get("uuid"))
        pci_bus_id = device_info.get("pci_bus_id")
        tried: list[str] = []
        if uuid:
            try:
                return nvml.nvmlDeviceGetHandleByUUID(uuid), "uuid"
            except nvml.NVMLError as exc:
                tried.append(f"UUID {uuid}: {exc}")
        if pci_bus_id:
            try:
                return nvml.nvmlDeviceGetHandleByPciBusId(_text(pci_bus_id)), "pci_bus_id"
            except nvml.NVMLError as exc:
                tried.append(f"PCI bus id {pci_bus_id}: {exc}")
        if tried:
            raise BackendUnavailable("NVML found no GPU with " + "; ".join(tried))
        # Without an identity, only a machine with exactly one GPU is unambiguous.
        try:
            count = nvml.nvmlDeviceGetCount()
            if count == 1:
                return nvml.nvmlDeviceGetHandleByIndex(0), "only_device"
        except nvml.NVMLError as exc:
            raise BackendUnavailable(f"NVML could not list GPUs: {exc}") from None
        raise BackendUnavailable(
            f"device has no UUID or PCI bus id and NVML sees {count} GPUs; "
            "refusing to guess by index (CUDA_VISIBLE_DEVICES reorders them)"
        )

    def _probe_static(self) -> dict[str, Any]:
        nvml, h, gate = self._nvml, self._handle, self._gate

        def ask(key: str, fn_name: str, *args: Any) -> Any:
            fn = getattr(nvml, fn_name, None)
            return None if fn is None else gate.call(f"static_{key}", lambda: fn(*args))

        def number(key: str, fn_name: str, *args: Any) -> float:
            value = ask(key, fn_name, *args)
            return NAN if value is None else float(value)

        limit_mw = number("power_limit", "nvmlDeviceGetEnforcedPowerLimit", h)
        # Probe the energy counter once so static_info can say whether energy comes from hardware.
        self._read_energy()
        name = ask("name", "nvmlDeviceGetName", h)
        uuid = ask("uuid", "nvmlDeviceGetUUID", h)
        driver = ask("driver", "nvmlSystemGetDriverVersion")
        return {
            "reader": self.name,
            "device_name": None if name is None else _text(name),
            "uuid": None if uuid is None else _text(uuid),
            "opened_by": self._opened_by,
            "driver_version": None if driver is None else _text(driver),
            "power_limit_w": NAN if math.isnan(limit_mw) else _mw_to_w(limit_mw),
            "max_sm_clock_mhz": number("max_sm", "nvmlDeviceGetMaxClockInfo", h, nvml.NVML_CLOCK_SM),
            "max_mem_clock_mhz": number("max_mem", "nvmlDeviceGetMaxClockInfo", h, nvml.NVML_CLOCK_MEM),
            "has_energy_counter": gate.enabled("energy_j"),
            "reason": None,
            **self._health_facts(ask, number),
        }

    def _health_facts(self, ask: Any, number: Any) -> dict[str, Any]:
        """Facts a fleet check judges a GPU by: serial, ECC error counts, retired pages and remapped rows,
        the default power limit. NaN (or None for text) where the GPU or driver does not say."""
        h = self._handle
        serial = ask("serial", "nvmlDeviceGetSerial", h)
        ecc = ask("ecc_mode", "nvmlDeviceGetEccMode", h)  # [current, pending]
        out: dict[str, Any] = {
            "serial": None if serial is None else _text(serial).strip() or None,
            "ecc_mode": NAN if not ecc else float(ecc[0]),
            # nvml.h: error type 0 corrected, 1 uncorrected; counter type 0 volatile, 1 aggregate.
            "ecc_correctable_volatile": number("ecc_cv", "nvmlDeviceGetTotalEccErrors", h, 0, 0),
            "ecc_uncorrectable_volatile": number("ecc_uv", "nvmlDeviceGetTotalEccErrors", h, 1, 0),
            "ecc_uncorrectable_aggregate": number("ecc_ua", "nvmlDeviceGetTotalEccErrors", h, 1, 1),
            "retired_pages_pending": number("retired_pending", "nvmlDeviceGetRetiredPagesPendingStatus", h),
        }
        for key, cause in (("retired_pages_sbe", 0), ("retired_pages_dbe", 1)):  # multiple single-bit, double-bit
            pages = ask(key, "nvmlDeviceGetRetiredPages", h, cause)
            out[key] = NAN if pages is None else float(len(pages))
        rows = ask("remapped_rows", "nvmlDeviceGetRemappedRows", h)  # (correctable, uncorrectable, pending, failed)
        for i, key in enumerate(("correctable", "uncorrectable", "pending", "failure")):
            out[f"remapped_rows_{key}"] = NAN if rows is None else float(rows[i])
        default_mw = number("default_limit", "nvmlDeviceGetPowerManagementDefaultLimit", h)
        out["default_power_limit_w"] = NAN if math.isnan(default_mw) else _mw_to_w(default_mw)
        return out

    # -- reading ---------------------------------------------------------------------------------

    def static_info(self) -> dict[str, Any]:
        """Static facts plus `unsupported`: the metrics switched off so far (they read NaN)."""
        info = dict(self._static)
        info["has_energy_counter"] = self._gate.enabled("energy_j")
        info["unsupported"] = sorted(m for m in self._gate.disabled if not m.startswith("static_"))
        return info

    def _read_fields(self) -> dict[str, float]:
        """Instant/average power and memory temperature in one driver call (nvmlDeviceGetFieldValues)."""
        nvml, gate = self._nvml, self._gate
        wanted = [(metric, fid) for metric, fid in self._fields if gate.enabled(f"field_{metric}")]
        if not wanted or not gate.enabled("field_values") or not hasattr(nvml, "nvmlDeviceGetFieldValues"):
            return {}
        values = gate.call("field_values", lambda: nvml.nvmlDeviceGetFieldValues(self._handle, [f for _, f in wanted]))
        if values is None:
            return {}
        out: dict[str, float] = {}
        for (metric, _), field in zip(wanted, values, strict=False):
            ret = int(getattr(field, "nvmlReturn", 0))
            if ret != 0:
                # A field the card lacks answers NOT_SUPPORTED (or INVALID_ARGUMENT on older drivers).
                if ret in _GIVE_UP_CODES or ret == 2:
                    gate.disable(f"field_{metric}", f"field {metric}: NVML return {ret}")
                continue
            value = _field_value(field)
            out[metric] = value if metric == "mem_temp_c" else _mw_to_w(value)
        return out

    def _read_energy(self) -> float:
        nvml = self._nvml
        if not hasattr(nvml, "nvmlDeviceGetTotalEnergyConsumption"):
            self._gate.disable("energy_j", "pynvml lacks nvmlDeviceGetTotalEnergyConsumption")
            return NAN
        mj = self._gate.call("energy_j", lambda: nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle))
        if mj is None:
            return NAN
        # The counter runs since the driver loaded; report it from when this reader opened.
        if self._energy_offset_mj is None:
            self._energy_offset_mj = float(mj)
        return _mj_to_j(float(mj) - self._energy_offset_mj)

    def _read_throttle(self) -> float:
        nvml, h, gate = self._nvml, self._handle, self._gate
        # nvmlDeviceGetCurrentClocksEventReasons replaced ...ThrottleReasons (deprecated) in newer drivers.
        for metric, fn_name in (
            ("throttle_events", "nvmlDeviceGetCurrentClocksEventReasons"),
            ("throttle_legacy", "nvmlDeviceGetCurrentClocksThrottleReasons"),
        ):
            fn = getattr(nvml, fn_name, None)
            if fn is None:
                gate.disable(metric, f"pynvml lacks {fn_name}")
                continue
            if not gate.enabled(metric):
                continue
            value = gate.call(metric, lambda fn=fn: fn(h))
            if value is not None:
                return float(int(value))
            if gate.enabled(metric):  # a transient failure: do not try the other API this time
                return NAN
        return NAN

    def read(self) -> dict[str, float]:
        """Poll every metric once. Unsupported metrics are NaN and are not asked for again."""
        nvml, h, gate = self._nvml, self._handle, self._gate
        out = nan_reading()
        fields = self._read_fields()
        out.update(fields)
        if "power_w" not in fields:
            # Ampere and newer (except GA100) average this over ~1 s; the instant field is preferred.
            mw = gate.call("power_usage", lambda: nvml.nvmlDeviceGetPowerUsage(h))
            if mw is not None:
                out["power_w"] = _mw_to_w(mw)
        # The energy counter is the slow call: ~4 ms on an H100 (driver 580; every other call here takes
        # microseconds). The driver waits for a fresh value rather than spinning, and the sample is
        # stamped at the midpoint of the whole read, which this call dominates.
        out["energy_j"] = self._read_energy()
        temp = gate.call("temp_c", lambda: nvml.nvmlDeviceGetTemperature(h, nvml.NVML_TEMPERATURE_GPU))
        if temp is not None:
            out["temp_c"] = float(temp)
        sm = gate.call("sm_clock_mhz", lambda: nvml.nvmlDeviceGetClockInfo(h, nvml.NVML_CLOCK_SM))
        if sm is not None:
            out["sm_clock_mhz"] = float(sm)
        mem = gate.call("mem_clock_mhz", lambda: nvml.nvmlDeviceGetClockInfo(h, nvml.NVML_CLOCK_MEM))
        if mem is not None:
            out["mem_clock_mhz"] = float(mem)
        util = gate.call("util", lambda: nvml.nvmlDeviceGetUtilizationRates(h))
        if util is not None:
            out["util_pct"] = float(util.gpu)
            out["mem_util_pct"] = float(util.memory)
        meminfo = gate.call("mem_used_bytes", lambda: nvml.nvmlDeviceGetMemoryInfo(h))
        if meminfo is not None:
            out["mem_used_bytes"] = float(meminfo.used)
        out["throttle_mask"] = self._read_throttle()
        return out

    def close(self) -> None:
        """Shut NVML down once (NVML counts init/shutdown pairs)."""
        if getattr(self, "_open", False):
            self._open = False
            with contextlib.suppress(self._nvml.NVMLError):
                self._nvml.nvmlShutdown()
