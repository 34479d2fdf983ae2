#!/usr/bin/env python3
"""A real fleet on this machine: `gpubench fleet launch fleet-cpu --scheduler local --nodes N --device cpu`,
optionally with one "node" made slow for real, then `gpubench fleet check` on what it wrote.

    python scripts/local_fleet.py --out /tmp/lf --slow node-3      # must name node-3 and only it, exit 1
    python scripts/local_fleet.py --out /tmp/lf --repeats 5        # no slowdown: exit 0 every time

How the slow node is slowed: its gpubench process is moved, as soon as its run folder exists (start-up and
imports done, benchmarks about to start), into a CPU cgroup whose CFS quota is `--quota` of one core (cgroup v2 `cpu.max` or v1 `cpu.cfs_quota_us`, whichever is mounted and
writable). Where no cgroup is writable it is pinned with `taskset` to core 0, which a busy loop (also pinned
there) keeps occupied. The launcher is not told: the slowdown is done from outside, as a bad node would be.

All "nodes" run at once (the local launcher's default): on a machine shared with other work they then meet the
same background load, which one node after another would not. OMP_NUM_THREADS=1: one thread per node.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

GPUBENCH = [sys.executable, "-c", "from gpubench.cli import main; main()"]


def _cgroup() -> tuple[Path, str] | None:
    """A writable CPU cgroup directory and its kind ("v2" or "v1"), or None."""
    for base, kind in ((Path("/sys/fs/cgroup"), "v2"), (Path("/sys/fs/cgroup/cpu"), "v1")):
        marker = "cgroup.controllers" if kind == "v2" else "cpu.cfs_quota_us"
        if not (base / marker).exists():
            continue
        group = base / f"gpubench-slow-{os.getpid()}"
        try:
            group.mkdir(exist_ok=True)
            return group, kind
        except OSError:
            continue
    return None


def _set_quota(group: Path, kind: str, quota: float) -> None:
    period = 100_000
    if kind == "v2":
        (group / "cpu.max").write_text(f"{int(quota * period)} {period}\n")
    else:
        (group / "cpu.cfs_period_us").write_text(f"{period}\n")
        (group / "cpu.cfs_quota_us").write_text(f"{int(quota * period)}\n")


def _pids_with(marker: str, mine: set[int]) -> list[int]:
    """Processes started by this script's launch whose command line contains `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in mine:
            continue
        with contextlib.suppress(OSError):
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if marker in cmd and "fleet launch" not in cmd:
                found.append(int(entry.name))
    return found


class Slowdown:
    """Watches for the slow node's processes and confines each as soon as it appears."""

    def __init__(self, marker: str, quota: float) -> None:
        self.marker, self.quota = marker, quota
        self.cg = _cgroup()
        self.how = f"cgroup {self.cg[1]} CPU quota {quota:g} of a core" if self.cg else "taskset to a busy core"
        self.stop = threading.Event()
        self.confined: set[int] = set()
        self.busy: subprocess.Popen[bytes] | None = None
        if self.cg:
            _set_quota(*self.cg, quota)
        else:
            self.busy = subprocess.Popen(["taskset", "-c", "0", sys.executable, "-c", "while True: pass"])
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        mine = {os.getpid()}
        folder = Path(self.marker)
        while not self.stop.is_set():
            if not any(folder.glob("*/*/run.json")):
                # Not yet: the node is slowed once its run folder exists, i.e. for the benchmarks, not for
                # starting Python and importing torch (a bad GPU is slow at work, not at start-up).
                time.sleep(0.05)
                continue
            for pid in _pids_with(self.marker, mine):
                if pid in self.confined:
                    continue
                with contextlib.suppress(OSError, subprocess.SubprocessError):
                    if self.cg:
                        (self.cg[0] / "cgroup.procs").write_text(f"{pid}\n")
                    else:
                        subprocess.run(["taskset", "-a", "-p", "-c", "0", str(pid)], capture_output=True, check=True)
                    self.confined.add(pid)
            time.sleep(0.02)

    def __enter__(self) -> Slowdown:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        if self.busy is not None:
            self.busy.terminate()
            self.busy.wait()
        if self.cg:
            with contextlib.suppress(OSError):
                self.cg[0].rmdir()


def one_fleet(out: Path, args: argparse.Namespace, slow: str | None) -> int:
    launch = [*GPUBENCH, "fleet", "launch", args.suite, "--scheduler", "local", "--nodes", str(args.nodes)]
    launch += ["--device", "cpu", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    t0 = time.monotonic()
    if slow:
        with Slowdown(f"{out}/{slow}/", args.quota) as s:
            done = subprocess.run(launch, env=env, capture_output=True, text=True, check=False)
        print(f"slowed {slow}: {s.how}; processes confined: {len(s.confined)}")
    else:
        done = subprocess.run(launch, env=env, capture_output=True, text=True, check=False)
    print(f"launch exit {done.returncode} in {time.monotonic() - t0:.0f} s")
    if done.returncode not in (0, 1):
        print(done.stdout[-2000:], done.stderr[-2000:])
    check = [*GPUBENCH, "fleet", "check", str(out), "--threshold", args.threshold]
    res = subprocess.run(check, env={**os.environ, "COLUMNS": "200"}, capture_output=True, text=True, check=False)
    print(res.stdout, end="")
    print(res.stderr, end="")
    print(f"fleet check exit {res.returncode}")
    return res.returncode


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="a fresh folder for the fleets")
    p.add_argument("--nodes", type=int, default=6)
    p.add_argument("--suite", default="fleet-cpu")
    p.add_argument("--slow", help="the node to slow down, e.g. node-3")
    p.add_argument("--quota", type=float, default=0.01, help="its CPU quota, a fraction of one core")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--threshold", default="10%", help="fleet check --threshold")
    args = p.parse_args()
    codes = []
    for k in range(args.repeats):
        out = args.out / f"fleet-{k + 1}"
        print(f"=== fleet {k + 1} of {args.repeats} -> {out} (load average {os.getloadavg()[0]:.2f})")
        codes.append(one_fleet(out, args, args.slow))
    print("exit codes:", codes)


if __name__ == "__main__":
    main()
