"""AMD GPU telemetry through amdsmi (ROCm's Python bindings; optional import).

The handle is opened by PCI bus id (BDF): HIP_VISIBLE_DEVICES / ROCR_VISIBLE_DEVICES renumber devices
for torch but not for amdsmi. Field names moved between amdsmi releases ('clk' vs 'cur_clk',
'energy_accumulator' vs 'power', 'socket_power' vs 'current_socket_power'), so each is looked up by
every name it has had, and "N/A" reads as unsupported.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

from gpubench.errors import BackendUnavailable
from gpubench.telemetry.base import NAN, MetricGate, as_float, nan_reading

_MIB = 1024 * 1024


def _uw_to_w(microwatts: float) -> float:
    """amdsmi reports power caps in microwatts; this is the only place they become watts."""
    return float(microwatts) / 1e6


def normalize_bdf(bdf: str | None) -> str | None:
    """'00000000:1B:00.0' (NVML/torch style) or '0000:1b:00.0' -> '0000:1b:00.0' (amdsmi style)."""
    if not bdf:
        return None
    text = bdf.decode() if isinstance(bdf, bytes) else str(bdf)
    try:
        head, function = text.strip().rsplit(".", 1)
        parts = head.split(":")
        if len(parts) == 2:
            parts = ["0", *parts]
        domain, bus, device = (int(p, 16) for p in parts)
        return f"{domain:04x}:{bus:02x}:{device:02x}.{int(function, 16):x}"
    except ValueError:
        return None


def _first(mapping: Any, *keys: str) -> float:
    """The first of `keys` present in a dict from amdsmi, as float (NaN if absent or 'N/A')."""
    if not isinstance(mapping, Mapping):
        return NAN
    for key in keys:
        if key in mapping:
            return as_float(mapping[key])
    return NAN


class EnergyCounterCheck:
    """Decides whether a device's energy counter is believable.

    Some amdsmi/firmware versions report impossible counters: going backwards, stuck while the board
    draws hundreds of watts, or implying far more than the power limit. The rate is judged over spans
    of at least `min_span_s`, because counters update in coarse steps and a 50 ms delta can look
    several times too high or too low.
    """

    def __init__(self, power_limit_w: float = NAN, max_ratio: float = 5.0, min_span_s: float = 1.0):
        self.power_limit_w = power_limit_w
        self.max_ratio = max_ratio
        self.min_span_ns = int(min_span_s * 1e9)
        self._last_j: float | None = None
        self._anchor: tuple[int, float] | None = None
        self._powers: list[float] = []

    def check(self, t_ns: int, energy_j: float, power_w: float = NAN) -> str | None:
        """Feed one reading; returns why the counter is implausible, or None while it looks fine."""
        if not math.isfinite(energy_j):
            return None
        if self._last_j is not None and energy_j < self._last_j:
            return f"energy counter went backwards ({self._last_j:.3f} J -> {energy_j:.3f} J)"
        self._last_j = energy_j
        if math.isfinite(power_w):
            self._powers.append(power_w)
        if self._anchor is None:
            self._anchor = (t_ns, energy_j)
            return None
        t0, e0 = self._anchor
        if t_ns - t0 < self.min_span_ns:
            return None
        rate_w = (energy_j - e0) / ((t_ns - t0) / 1e9)
        mean_power_w = sum(self._powers) / len(self._powers) if self._powers else NAN
        self._anchor, self._powers = (t_ns, energy_j), []
        limit = self.power_limit_w
        if math.isfinite(limit) and limit > 0 and rate_w > self.max_ratio * limit:
            return f"energy counter implies {rate_w:.0f} W, over {self.max_ratio:g}x the {limit:.0f} W power limit"
        # Below ~20 W (idle) the sensor and the counter are both too coarse to compare.
        if (
            math.isfinite(mean_power_w)
            and mean_power_w > 20.0
            and not mean_power_w / self.max_ratio <= rate_w <= mean_power_w * self.max_ratio
        ):
            return f"energy counter implies {rate_w:.0f} W while the power sensor reads {mean_power_w:.0f} W"
        return None


class AmdSmiReader:
    """Reads one AMD GPU through amdsmi. Inject a fake module with `amdsmi=` in tests."""

    name = "amdsmi"

    def __init__(
        self,
        device_info: Mapping[str, Any],
        amdsmi: Any | None = None,
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        if amdsmi is None:
            try:
                import amdsmi  # optional dependency (ROCm)
            except ImportError as exc:
                raise BackendUnavailable(f"amdsmi is not importable ({exc}); install ROCm's amdsmi package") from None
        self._smi = amdsmi
        self._clock = clock
        base_error = getattr(amdsmi, "AmdSmiException", Exception)
        self._errors: tuple[type[BaseException], ...] = (base_error,)
        codes = getattr(amdsmi, "AmdSmiRetCode", None)
        self._give_up_codes = {
            int(getattr(codes, name))
            for name in ("STATUS_NOT_SUPPORTED", "STATUS_NO_PERM", "STATUS_NOT_YET_IMPLEMENTED")
            if codes is not None and hasattr(codes, name)
        }
        flags = getattr(getattr(amdsmi, "AmdSmiInitFlags", None), "INIT_AMD_GPUS", None)
        try:
            amdsmi.amdsmi_init(flags) if flags is not None else amdsmi.amdsmi_init()
        except self._errors as exc:
            raise BackendUnavailable(f"amdsmi could not start: {exc}") from None
        self._open = True
        self._gate = MetricGate(self._gives_up, self._errors)
        self._energy_offset_j: float | None = None
        self._energy_problem: str | None = None
        try:
            self._handle = self._find_handle(device_info)
            self._static = self._probe_static()
            self._check = EnergyCounterCheck(self._static["power_limit_w"])
        except BaseException:
            self.close()
            raise

    def _gives_up(self, exc: BaseException) -> bool:
        get_code = getattr(exc, "get_error_code", None)
        return get_code is not None and int(get_code()) in self._give_up_codes

    def _find_handle(self, device_info: Mapping[str, Any]) -> Any:
        smi = self._smi
        bdf = self._bdf = normalize_bdf(device_info.get("pci_bus_id"))
        handles = smi.amdsmi_get_processor_handles()
        if bdf is None:
            if len(handles) == 1:
                return handles[0]
            raise BackendUnavailable(
                f"device has no PCI bus id and amdsmi sees {len(handles)} GPUs; refusing to guess by index"
            )
        for handle in handles:
            try:
                if normalize_bdf(smi.amdsmi_get_gpu_device_bdf(handle)) == bdf:
                    return handle
            except self._errors:
                continue
        raise BackendUnavailable(f"amdsmi found no GPU at PCI bus id {bdf}")

    def _call(self, metric: str, fn_name: str, *args: Any) -> Any:
        fn = getattr(self._smi, fn_name, None)
        if fn is None:
            self._gate.disable(metric, f"amdsmi lacks {fn_name}")
            return None
        return self._gate.call(metric, lambda: fn(self._handle, *args))

    def _value(self, metric: str, value: float) -> float:
        # amdsmi answers "N/A" for a sensor the board lacks: that will not change, stop asking.
        if not math.isfinite(value):
            self._gate.disable(metric, "amdsmi reports N/A")
        return value

    def _probe_static(self) -> dict[str, Any]:
        smi = self._smi
        clk = getattr(smi, "AmdSmiClkType", None)
        cap = self._call("static_power_cap", "amdsmi_get_power_cap_info")
        limit_w = _first(cap, "power_cap")
        limit_w = _uw_to_w(limit_w) if math.isfinite(limit_w) else NAN
        max_sm = max_mem = NAN
        if clk is not None:
            max_sm = _first(self._call("static_max_sm", "amdsmi_get_clock_info", clk.GFX), "max_clk")
            max_mem = _first(self._call("static_max_mem", "amdsmi_get_clock_info", clk.MEM), "max_clk")
        self._read_energy()
        return {
            "reader": self.name,
            "pci_bus_id": self._bdf,
            "power_limit_w": limit_w,
            "max_sm_clock_mhz": max_sm,
            "max_mem_clock_mhz": max_mem,
            "has_energy_counter": self._gate.enabled("energy_j"),
            "reason": None,
            **self._health_facts(cap),
        }

    def _health_facts(self, cap: Any) -> dict[str, Any]:
        """Facts a fleet check judges a GPU by: serial, ECC error counts, bad (retired) pages, default power
        cap. NaN (or None for text) where amdsmi does not say."""
        board = self._call("static_board", "amdsmi_get_gpu_board_info")
        serial = board.get("product_serial") if isinstance(board, dict) else None
        ecc = self._call("static_ecc", "amdsmi_get_gpu_total_ecc_count")
        pages = self._call("static_bad_pages", "amdsmi_get_gpu_bad_page_info")
        statuses = [str(p.get("status", "")).lower() for p in pages if isinstance(p, dict)] if pages else []
        default_w = _first(cap, "default_power_cap")
        return {
            "serial": str(serial).strip() if serial not in (None, "", "N/A") else None,
            "ecc_correctable_volatile": _first(ecc, "correctable_count"),
            "ecc_uncorrectable_volatile": _first(ecc, "uncorrectable_count"),
            "retired_pages_dbe": NAN if pages is None else float(len(statuses)),
            "retired_pages_pending": NAN if pages is None else float(sum("pending" in s for s in statuses)),
            "default_power_limit_w": _uw_to_w(default_w) if math.isfinite(default_w) else NAN,
        }

    def static_info(self) -> dict[str, Any]:
        """Static facts; `energy_counter_problem` says why the counter was dropped, if it was."""
        info = dict(self._static)
        info["has_energy_counter"] = self._gate.enabled("energy_j")
        info["energy_counter_problem"] = self._energy_problem
        info["unsupported"] = sorted(m for m in self._gate.disabled if not m.startswith("static_"))
        return info

    def _read_energy(self) -> float:
        counter = self._call("energy_j", "amdsmi_get_energy_count")
        if counter is None:
            return NAN
        # Older bindings call the accumulator 'power'; resolution is in microjoules per tick.
        ticks = _first(counter, "energy_accumulator", "power")
        resolution_uj = _first(counter, "counter_resolution")
        if not (math.isfinite(ticks) and math.isfinite(resolution_uj)):
            self._gate.disable("energy_j", "amdsmi energy counter reports N/A")
            return NAN
        joules = ticks * resolution_uj / 1e6
        if self._energy_offset_j is None:
            self._energy_offset_j = joules
        return joules - self._energy_offset_j

    def read(self) -> dict[str, float]:
        """Poll every metric once. Unsupported metrics are NaN; an implausible counter is dropped for good."""
        smi = self._smi
        out = nan_reading()
        t_ns = self._clock()
        power = self._call("power", "amdsmi_get_power_info")
        if power is not None:
            # ROCm 7 calls the instantaneous value 'socket_power'; MI300 parts answer N/A for the average.
            out["power_w"] = _first(power, "socket_power", "current_socket_power")
            out["power_avg_w"] = _first(power, "average_socket_power")
            if not math.isfinite(out["power_w"]):
                out["power_w"] = out["power_avg_w"]
        energy = self._read_energy()
        if math.isfinite(energy):
            problem = self._check.check(t_ns, energy, out["power_w"])
            if problem is not None:
                self._energy_problem = problem
                self._gate.disable("energy_j", problem)
                energy = NAN
        out["energy_j"] = energy
        temp_type = getattr(smi, "AmdSmiTemperatureType", None)
        metric = getattr(getattr(smi, "AmdSmiTemperatureMetric", None), "CURRENT", None)
        if temp_type is not None and metric is not None:
            # Hotspot (junction) is what throttles and is the one MI300 reports; edge is the fallback.
            for key, sensor in (("temp_hotspot", "HOTSPOT"), ("temp_edge", "EDGE")):
                if not hasattr(temp_type, sensor) or not self._gate.enabled(key):
                    continue
                value = self._call(key, "amdsmi_get_temp_metric", getattr(temp_type, sensor), metric)
                if value is not None:
                    out["temp_c"] = self._value(key, as_float(value))
                    if math.isfinite(out["temp_c"]):
                        break
            if hasattr(temp_type, "VRAM"):
                value = self._call("mem_temp_c", "amdsmi_get_temp_metric", temp_type.VRAM, metric)
                if value is not None:
                    out["mem_temp_c"] = self._value("mem_temp_c", as_float(value))
        clk = getattr(smi, "AmdSmiClkType", None)
        if clk is not None:
            gfx = self._call("sm_clock_mhz", "amdsmi_get_clock_info", clk.GFX)
            if gfx is not None:
                out["sm_clock_mhz"] = self._value("sm_clock_mhz", _first(gfx, "clk", "cur_clk"))
            mem = self._call("mem_clock_mhz", "amdsmi_get_clock_info", clk.MEM)
            if mem is not None:
                out["mem_clock_mhz"] = self._value("mem_clock_mhz", _first(mem, "clk", "cur_clk"))
        activity = self._call("util", "amdsmi_get_gpu_activity")
        if activity is not None:
            out["util_pct"] = _first(activity, "gfx_activity")
            out["mem_util_pct"] = _first(activity, "umc_activity")
        vram = self._call("mem_used_bytes", "amdsmi_get_gpu_vram_usage")
        if vram is not None:
            out["mem_used_bytes"] = _first(vram, "vram_used") * _MIB  # amdsmi reports MiB
        # amdsmi has its own throttle_status bits; they do not map onto NVML's, so throttle_mask stays NaN.
        return out

    def close(self) -> None:
        """Shut amdsmi down once."""
        if getattr(self, "_open", False):
            self._open = False
            with contextlib.suppress(*self._errors):
                self._smi.amdsmi_shut_down()
