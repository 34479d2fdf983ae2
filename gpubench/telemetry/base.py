"""What every telemetry reader shares: the metric names, the Reader protocol, throttle-bit decoding.

Standard library only; never torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

NAN = math.nan

METRICS: tuple[str, ...] = (
    "power_w",  # instantaneous (or the sensor's shortest) board power, W
    "power_avg_w",  # the driver's own averaged power where the device reports it separately, W
    "energy_j",  # cumulative energy counter since the reader opened, J (NaN without a sane counter)
    "temp_c",  # GPU core / junction (AMD: hotspot) / CPU package temperature, deg C
    "mem_temp_c",  # HBM / VRAM temperature, deg C
    "sm_clock_mhz",  # SM (NVIDIA), GFX (AMD) or mean core (CPU) clock, MHz
    "mem_clock_mhz",  # memory clock, MHz
    "util_pct",  # share of time the device was busy, %
    "mem_util_pct",  # share of time device memory was read or written, %
    "mem_used_bytes",  # device (or, for the CPU, system) memory in use, bytes
    "throttle_mask",  # NVML clock-event reason bitmask, as a float
)
"""Keys of every `Reader.read()` result, in column order. A metric the device lacks is NaN."""

# NVML clock-event ("throttle") reasons: nvmlClocksEventReason* in nvml.h / pynvml.
THROTTLE_BITS: dict[str, int] = {
    "gpu_idle": 0x1,
    "applications_clocks": 0x2,
    "sw_power_cap": 0x4,
    "hw_slowdown": 0x8,
    "sync_boost": 0x10,
    "sw_thermal": 0x20,
    "hw_thermal": 0x40,
    "hw_power_brake": 0x80,
    "display_clocks": 0x100,
    "board_limit": 0x200,  # newer drivers only
    "reliability": 0x400,  # newer drivers only
}

# Reasons that mean the workload itself was slowed by power or heat (idle, sync boost and application
# clocks are not a penalty on the measurement).
POWER_THERMAL_REASONS: tuple[str, ...] = (
    "sw_power_cap",
    "hw_slowdown",
    "sw_thermal",
    "hw_thermal",
    "hw_power_brake",
)
POWER_THERMAL_MASK: int = sum(THROTTLE_BITS[name] for name in POWER_THERMAL_REASONS)


def decode_throttle(mask: int) -> list[str]:
    """Names of the clock-event reasons set in an NVML bitmask, in bit order; unknown bits as hex."""
    mask = int(mask)
    names = [name for name, bit in THROTTLE_BITS.items() if mask & bit]
    unknown = mask & ~sum(THROTTLE_BITS.values())
    bit = 1
    while unknown:
        if unknown & bit:
            names.append(f"0x{bit:x}")
            unknown &= ~bit
        bit <<= 1
    return names


def nan_reading() -> dict[str, float]:
    """A reading with every metric NaN."""
    return dict.fromkeys(METRICS, NAN)


@runtime_checkable
class Reader(Protocol):
    """One device's telemetry source. `read()` never raises for one unsupported metric: it is NaN."""

    name: str

    def static_info(self) -> dict[str, Any]:
        """Facts that do not change while reading (power limit, max clocks, reader name, reason)."""
        ...

    def read(self) -> dict[str, float]:
        """Poll every metric once; keys are `METRICS`."""
        ...

    def close(self) -> None:
        """Release the library handle; idempotent."""
        ...


class MetricGate:
    """Per-metric bookkeeping: once a metric says "not supported" it is never asked for again.

    Asking NVML/amdsmi for an unsupported metric costs a driver round trip on every poll, and some
    drivers log each failure, so the first "not supported" switches the metric off for good.
    """

    def __init__(self, is_unsupported: Callable[[BaseException], bool], errors: tuple[type[BaseException], ...]):
        self._is_unsupported = is_unsupported
        self._errors = errors
        self.disabled: dict[str, str] = {}

    def enabled(self, metric: str) -> bool:
        return metric not in self.disabled

    def disable(self, metric: str, why: str) -> None:
        self.disabled.setdefault(metric, why)

    def call(self, metric: str, fn: Callable[[], Any]) -> Any:
        """Return `fn()`, or None when the metric is switched off or the call failed this time."""
        if metric in self.disabled:
            return None
        try:
            return fn()
        except self._errors as exc:
            if self._is_unsupported(exc):
                self.disable(metric, f"{type(exc).__name__}: {exc}")
            return None


def as_float(value: Any) -> float:
    """A driver value as float; None, "N/A" and other non-numbers become NaN."""
    if value is None or isinstance(value, str):
        return NAN
    try:
        return float(value)
    except (TypeError, ValueError):
        return NAN
