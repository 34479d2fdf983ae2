"""CPU telemetry on Linux: RAPL energy from powercap sysfs, clocks, utilization, temperatures.

All paths hang off `sysfs_root` and `procfs_root` so tests can point them at a fake tree. psutil is an
optional fallback for what sysfs/procfs lack (and for clocks where cpufreq is absent, as in many VMs).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpubench.errors import BackendUnavailable
from gpubench.telemetry.base import NAN, nan_reading

_DEFAULT: Any = object()

# hwmon drivers that report CPU package/core/die temperatures.
_CPU_SENSORS = ("coretemp", "k10temp", "zenpower", "cpu_thermal", "x86_pkg_temp")


def _uw_to_w(microwatts: float) -> float:
    return float(microwatts) / 1e6


def _read_text(path: Path) -> str:
    return path.read_text().strip()


@dataclass
class _RaplDomain:
    """One RAPL counter, unwrapped into a running total (microjoules since the reader opened)."""

    path: Path
    name: str
    max_range_uj: int | None
    last_raw_uj: int | None = None
    total_uj: int = 0

    def update(self) -> None:
        raw = int(_read_text(self.path / "energy_uj"))
        if self.last_raw_uj is not None:
            delta = raw - self.last_raw_uj
            if delta < 0:
                # The counter wrapped at max_energy_range_uj (seconds to minutes at full load on big
                # packages): add the range back. Without the range the wrap cannot be undone.
                delta = delta + self.max_range_uj if self.max_range_uj else 0
            self.total_uj += delta
        self.last_raw_uj = raw


class CpuReader:
    """Reads the host CPU: `name` is "rapl" when a RAPL energy counter is readable, else "cpu"."""

    def __init__(
        self,
        sysfs_root: str | Path = "/sys",
        procfs_root: str | Path = "/proc",
        psutil: Any = _DEFAULT,
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        if psutil is _DEFAULT:
            try:
                import psutil  # optional dependency
            except ImportError:
                psutil = None
        self._psutil = psutil
        self._sys = Path(sysfs_root)
        self._proc = Path(procfs_root)
        self._clock = clock
        self._domains, self._rapl_problem = self._find_rapl()
        self.name = "rapl" if self._domains else "cpu"
        cpu_dir = self._sys / "devices/system/cpu"
        self._freq_files = sorted(cpu_dir.glob("cpu[0-9]*/cpufreq/scaling_cur_freq"))
        self._temp_files = self._find_temp_files()
        self._psutil_temps = psutil is not None and not self._temp_files
        self._psutil_freq: tuple[int, float] | None = None  # (when read, MHz)
        self._last_energy: tuple[int, float] | None = None
        self._last_cpu_times: tuple[float, float] | None = None
        self._have_stat = (self._proc / "stat").is_file()
        self._have_meminfo = (self._proc / "meminfo").is_file()
        if not (self._domains or self._freq_files or self._have_stat or self._psutil is not None):
            raise BackendUnavailable(
                f"no CPU telemetry readable ({self._rapl_problem}; no cpufreq under {self._sys}, "
                f"no {self._proc / 'stat'}, and psutil is not installed)"
            )
        self._static = self._probe_static()
        self.read()  # prime the counters: utilization and power are deltas between reads

    # -- discovery -------------------------------------------------------------------------------

    def _find_rapl(self) -> tuple[list[_RaplDomain], str | None]:
        base = self._sys / "class/powercap"
        # 'intel-rapl:N' are packages, 'intel-rapl:N:M' their subdomains (AMD CPUs use the same names).
        # 'intel-rapl-mmio:*' duplicates the package counter through MMIO and is skipped by this glob.
        candidates = sorted(base.glob("intel-rapl:*"))
        if not candidates:
            return [], f"no RAPL domains under {base} (not Linux, not exposed in this VM, or no driver)"
        domains: list[_RaplDomain] = []
        problem: str | None = None
        for path in candidates:
            depth = path.name.count(":")
            try:
                name = _read_text(path / "name")
            except OSError:
                continue
            # psys covers the whole platform including the packages: counting it double-counts.
            # Of the subdomains only dram is outside the package counter (core/uncore are inside it).
            if (depth == 1 and name == "psys") or (depth == 2 and name != "dram") or depth > 2:
                continue
            try:
                max_range: int | None = int(_read_text(path / "max_energy_range_uj"))
            except (OSError, ValueError):
                max_range = None
            domain = _RaplDomain(path, name, max_range)
            try:
                domain.update()
            except PermissionError:
                problem = (
                    f"{path / 'energy_uj'} is readable by root only (Linux >= 5.10); "
                    "run as root or make it readable to get CPU energy"
                )
                continue
            except (OSError, ValueError) as exc:
                problem = f"cannot read {path / 'energy_uj'}: {exc}"
                continue
            domains.append(domain)
        if not domains and problem is None:
            problem = f"no usable RAPL package domain under {base}"
        return domains, (None if domains else problem)

    def _find_temp_files(self) -> list[Path]:
        files: list[Path] = []
        for hwmon in sorted((self._sys / "class/hwmon").glob("hwmon*")):
            try:
                name = _read_text(hwmon / "name")
            except OSError:
                continue
            if name in _CPU_SENSORS:
                files.extend(sorted(hwmon.glob("temp*_input")))
        return files

    def _probe_static(self) -> dict[str, Any]:
        max_mhz = NAN
        try:
            max_mhz = int(_read_text(self._sys / "devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")) / 1000.0
        except (OSError, ValueError):
            freq = self._psutil_call("cpu_freq")
            if freq is not None and getattr(freq, "max", 0):
                max_mhz = float(freq.max)
        limit_w = NAN
        packages = [d for d in self._domains if d.path.name.count(":") == 1]
        try:
            if packages:
                limit_w = sum(_uw_to_w(int(_read_text(d.path / "constraint_0_power_limit_uw"))) for d in packages)
        except (OSError, ValueError):
            limit_w = NAN
        return {
            "reader": self.name,
            "rapl_domains": [d.path.name + "/" + d.name for d in self._domains],
            "power_limit_w": limit_w,  # sum of the packages' long-term (PL1) limits
            "max_sm_clock_mhz": max_mhz,
            "max_mem_clock_mhz": NAN,
            "has_energy_counter": bool(self._domains),
            "reason": self._rapl_problem,
        }

    # -- reading ---------------------------------------------------------------------------------

    @property
    def has_energy_counter(self) -> bool:
        return bool(self._domains)

    def static_info(self) -> dict[str, Any]:
        return dict(self._static)

    def _psutil_call(self, fn_name: str, *args: Any) -> Any:
        fn = getattr(self._psutil, fn_name, None) if self._psutil is not None else None
        if fn is None:
            return None
        try:
            return fn(*args)
        except Exception:  # psutil raises assorted OS-specific errors; the metric is just NaN
            return None

    def _read_energy(self, t_ns: int) -> tuple[float, float]:
        if not self._domains:
            return NAN, NAN
        try:
            for domain in self._domains:
                domain.update()
        except (OSError, ValueError):
            return NAN, NAN
        energy_j = sum(d.total_uj for d in self._domains) / 1e6
        power_w = NAN
        # RAPL has no power register: power is the counter's slope since the previous read.
        if self._last_energy is not None and t_ns > self._last_energy[0]:
            power_w = (energy_j - self._last_energy[1]) / ((t_ns - self._last_energy[0]) / 1e9)
        self._last_energy = (t_ns, energy_j)
        return energy_j, power_w

    def _cpu_times(self) -> tuple[float, float] | None:
        """(busy, total) jiffies since boot, from /proc/stat or psutil."""
        if self._have_stat:
            try:
                with open(self._proc / "stat") as f:
                    fields = f.readline().split()
                if fields and fields[0] == "cpu":
                    # user nice system idle iowait irq softirq steal (guest is already inside user)
                    values = [float(v) for v in fields[1:9]]
                    idle = values[3] + (values[4] if len(values) > 4 else 0.0)
                    total = sum(values)
                    return total - idle, total
            except (OSError, ValueError):
                pass
        times = self._psutil_call("cpu_times")
        if times is None:
            return None
        total = float(sum(times))
        idle = float(getattr(times, "idle", 0.0)) + float(getattr(times, "iowait", 0.0))
        return total - idle, total

    def _util_pct(self) -> float:
        now = self._cpu_times()
        if now is None:
            return NAN
        last, self._last_cpu_times = self._last_cpu_times, now
        if last is None or now[1] <= last[1]:
            return NAN
        return 100.0 * (now[0] - last[0]) / (now[1] - last[1])

    def _clock_mhz(self) -> float:
        values: list[float] = []
        for path in self._freq_files:
            try:
                values.append(int(_read_text(path)) / 1000.0)  # kHz
            except (OSError, ValueError):
                continue
        if values:
            return sum(values) / len(values)
        # Without cpufreq (most VMs) psutil parses /proc/cpuinfo: ~0.5 ms on 16 vCPUs, measurably slowing
        # a 16-thread benchmark at 20 Hz, for a value a VM rarely changes. Ask at most once a second.
        now = self._clock()
        if self._psutil_freq is None or now - self._psutil_freq[0] >= 1_000_000_000:
            freq = self._psutil_call("cpu_freq")
            mhz = float(freq.current) if freq is not None and getattr(freq, "current", 0) else NAN
            self._psutil_freq = (now, mhz)
        return self._psutil_freq[1]

    def _temp_c(self) -> float:
        temps: list[float] = []
        for path in self._temp_files:
            try:
                temps.append(int(_read_text(path)) / 1000.0)  # millidegrees
            except (OSError, ValueError):
                continue
        if not temps and self._psutil_temps:
            sensors = self._psutil_call("sensors_temperatures") or {}
            temps = [float(t.current) for name in _CPU_SENSORS for t in sensors.get(name, [])]
            # psutil scans every hwmon device each call; a machine without CPU sensors never grows one.
            self._psutil_temps = bool(temps)
        return max(temps) if temps else NAN

    def _mem_used_bytes(self) -> float:
        if self._have_meminfo:
            try:
                info: dict[str, int] = {}
                with open(self._proc / "meminfo") as f:
                    for line in f:
                        key, _, rest = line.partition(":")
                        if key in ("MemTotal", "MemAvailable"):
                            info[key] = int(rest.split()[0]) * 1024  # kB
                            if len(info) == 2:
                                break  # both are near the top; the rest of the file is not needed
                if len(info) == 2:
                    return float(info["MemTotal"] - info["MemAvailable"])
            except (OSError, ValueError):
                pass
        vm = self._psutil_call("virtual_memory")
        return float(vm.total - vm.available) if vm is not None else NAN

    def read(self) -> dict[str, float]:
        """Poll once: RAPL energy (and power from its slope), mean core clock, utilization, temperature."""
        out = nan_reading()
        t_ns = self._clock()
        out["energy_j"], out["power_w"] = self._read_energy(t_ns)
        out["sm_clock_mhz"] = self._clock_mhz()
        out["util_pct"] = self._util_pct()
        out["temp_c"] = self._temp_c()
        out["mem_used_bytes"] = self._mem_used_bytes()
        return out

    def close(self) -> None:
        pass
