"""Power, temperature, clock and throttle telemetry while benchmarks run. Never imports torch.

reader, reason = open_reader({"vendor": "nvidia", "uuid": "GPU-...", "pci_bus_id": None, "index": 0})
with Sampler(reader, hz=20.0) as sampler:
    ...                                   # run cases, noting time.monotonic_ns() at start/end
row.update(case_aggregates(sampler.frame(), start_ns, end_ns, idle_power_w))
reader.close()
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from gpubench.errors import BackendUnavailable, GpubenchError
from gpubench.telemetry.aggregate import (
    AGGREGATE_COLUMNS,
    case_aggregates,
    combine_aggregates,
    empty_aggregates,
)
from gpubench.telemetry.amd import AmdSmiReader
from gpubench.telemetry.base import (
    METRICS,
    POWER_THERMAL_REASONS,
    THROTTLE_BITS,
    Reader,
    decode_throttle,
    nan_reading,
)
from gpubench.telemetry.cpu import CpuReader
from gpubench.telemetry.null import NullReader
from gpubench.telemetry.nvml import NvmlReader
from gpubench.telemetry.sampler import Sampler, measure_idle, monitor

__all__ = [
    "AGGREGATE_COLUMNS",
    "METRICS",
    "MODES",
    "READERS",
    "POWER_THERMAL_REASONS",
    "THROTTLE_BITS",
    "AmdSmiReader",
    "CpuReader",
    "NullReader",
    "NvmlReader",
    "Reader",
    "Sampler",
    "case_aggregates",
    "combine_aggregates",
    "decode_throttle",
    "empty_aggregates",
    "measure_idle",
    "monitor",
    "nan_reading",
    "open_reader",
]

MODES = ("auto", "required", "off")


def _open_cpu(device_info: Mapping[str, Any], mode: str, seams: Mapping[str, Any]) -> Reader:
    cpu = CpuReader(sysfs_root=seams["sysfs_root"], procfs_root=seams["procfs_root"])
    if mode == "required" and not cpu.has_energy_counter:
        cpu.close()
        raise BackendUnavailable(f"no CPU energy telemetry: {cpu.static_info()['reason']}")
    return cpu


# The readers a device can name in its description's `telemetry_reader` (gpubench.devices): one line each.
READERS: dict[str, Callable[[Mapping[str, Any], str, Mapping[str, Any]], Reader]] = {
    "nvml": lambda info, mode, seams: NvmlReader(info, nvml=seams["nvml"]),
    "amdsmi": lambda info, mode, seams: AmdSmiReader(info, amdsmi=seams["amdsmi"]),
    "cpu": _open_cpu,
}
_BY_VENDOR = {"nvidia": "nvml", "amd": "amdsmi", "cpu": "cpu"}  # run.json of schema 1 names no reader


def open_reader(
    device_info: Mapping[str, Any],
    mode: str = "auto",
    *,
    nvml: Any | None = None,
    amdsmi: Any | None = None,
    sysfs_root: str | Path = "/sys",
    procfs_root: str | Path = "/proc",
) -> tuple[Reader, str | None]:
    """Open the telemetry reader for a device; returns (reader, reason), reason None for a real reader.

    device_info: "telemetry_reader" (a key of READERS; older descriptions give "vendor": "nvidia" | "amd" |
    "cpu" instead), "uuid", "pci_bus_id", "index" (torch's index, never used to pick an NVML/amdsmi device).
    mode "auto" falls back to a NullReader with the reason; "required" raises BackendUnavailable instead (for
    the CPU, also when no RAPL energy is readable); "off" returns a NullReader. `nvml`, `amdsmi` and the roots
    are seams for tests.
    """
    if mode not in MODES:
        raise GpubenchError(f"telemetry mode must be one of {', '.join(MODES)}; got {mode!r}")
    if mode == "off":
        return NullReader("telemetry off"), "telemetry off"
    vendor = str(device_info.get("vendor") or "").lower()
    name = str(device_info.get("telemetry_reader") or _BY_VENDOR.get(vendor, ""))
    seams = {"nvml": nvml, "amdsmi": amdsmi, "sysfs_root": sysfs_root, "procfs_root": procfs_root}
    try:
        if name not in READERS:
            raise BackendUnavailable(f"no telemetry reader for device vendor {vendor or 'unknown'!r}")
        reader = READERS[name](device_info, mode, seams)
    except BackendUnavailable as exc:
        if mode == "required":
            raise
        return NullReader(str(exc)), str(exc)
    return reader, None
