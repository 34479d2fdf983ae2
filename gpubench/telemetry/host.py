"""What else ran on this machine while gpubench measured: the share of the host's processor time that other
programs took (Linux `/proc/stat`, less this process's own CPU time). A benchmark on the CPU shares its cores
with them, and a GPU benchmark's host side too: a run during which others took a large share measured less than
the device can do, and the report says so.

    start = snapshot(); ...; share = others_share(start, snapshot())   # 0.0 idle machine ... 1.0 all theirs
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC_STAT = Path("/proc/stat")


@dataclass(frozen=True)
class HostCpu:
    """Processor time since boot in CPU-seconds (all cores together): busy (user, nice, system, irq, softirq and
    steal: time a hypervisor gave to other guests is time this run did not get), in all, and this process's own."""

    busy_s: float
    total_s: float
    own_s: float


def snapshot(path: Path = PROC_STAT) -> HostCpu | None:
    """The host's processor counters now, or None where there is no /proc/stat (not Linux) or it is unreadable."""
    try:
        first = path.read_text(encoding="ascii").splitlines()[0].split()
        ticks = float(os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None
    if not first or first[0] != "cpu" or len(first) < 9:
        return None
    try:
        user, nice, system, idle, iowait, irq, softirq, steal = (float(x) / ticks for x in first[1:9])
    except ValueError:
        return None
    busy = user + nice + system + irq + softirq + steal  # guest time is already inside user and nice
    own = os.times()
    return HostCpu(busy, busy + idle + iowait, own.user + own.system)


def others_share(start: HostCpu | None, end: HostCpu | None) -> float | None:
    """The share of the machine's processor time, from `start` to `end`, that other programs used (0 to 1), or
    None without both snapshots or when no time passed."""
    if start is None or end is None:
        return None
    elapsed = end.total_s - start.total_s
    if elapsed <= 0:
        return None
    others = (end.busy_s - start.busy_s) - (end.own_s - start.own_s)
    return min(1.0, max(0.0, others / elapsed))
