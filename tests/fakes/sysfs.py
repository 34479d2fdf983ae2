"""Build a fake /sys and /proc under a tmp_path for the CPU reader."""

from __future__ import annotations

from pathlib import Path


def write(path: Path, text: str | int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{text}\n")


def rapl_domain(
    sys_root: Path,
    dirname: str,
    name: str,
    energy_uj: int,
    max_range_uj: int = 262_143_328_850,
    limit_uw: int | None = None,
) -> Path:
    """One powercap domain, e.g. dirname 'intel-rapl:0' name 'package-0'."""
    d = sys_root / "class/powercap" / dirname
    write(d / "name", name)
    write(d / "energy_uj", energy_uj)
    write(d / "max_energy_range_uj", max_range_uj)
    if limit_uw is not None:
        write(d / "constraint_0_power_limit_uw", limit_uw)
    return d


def set_energy(sys_root: Path, dirname: str, energy_uj: int) -> None:
    write(sys_root / "class/powercap" / dirname / "energy_uj", energy_uj)


def cpufreq(sys_root: Path, cur_khz: list[int], max_khz: int) -> None:
    for i, khz in enumerate(cur_khz):
        d = sys_root / f"devices/system/cpu/cpu{i}/cpufreq"
        write(d / "scaling_cur_freq", khz)
        write(d / "cpuinfo_max_freq", max_khz)


def hwmon(sys_root: Path, index: int, name: str, millidegrees: list[int]) -> None:
    d = sys_root / f"class/hwmon/hwmon{index}"
    write(d / "name", name)
    for i, value in enumerate(millidegrees, start=1):
        write(d / f"temp{i}_input", value)


def proc_stat(proc_root: Path, user: int, system: int, idle: int, iowait: int = 0) -> None:
    write(proc_root / "stat", f"cpu  {user} 0 {system} {idle} {iowait} 0 0 0 0 0\ncpu0 0 0 0 0 0 0 0 0 0 0")


def meminfo(proc_root: Path, total_kb: int, available_kb: int) -> None:
    write(proc_root / "meminfo", f"MemTotal: {total_kb} kB\nMemFree: 1 kB\nMemAvailable: {available_kb} kB")
