#!/usr/bin/env python3
"""How long `gpubench report` takes, and how big its page is, for 1, 100 and 1,000 runs.

    PYTHONPATH=$PWD python scripts/report_scale.py RUN_FOLDER [ROOT] [--sizes 1,100,1000] [--fleet 1000]

RUN_FOLDER is a real run (e.g. one `make run` on this machine; it is read, never changed). Under ROOT
(default /tmp/gb-report-scale) the script writes N copies of it per size, each a run of its own: a distinct
run_id, host (`node-0042`) and device serial, and its step times scaled by a few per cent, as a whole and case by
case (so a pooled fleet has a spread and the fleet check something to judge). With --fleet N it also writes a synthetic N-GPU fleet SHARED_DIR
(gpubench.fleet.synthetic, as scripts/fleet_scale.py does), which the report draws in its Fleet section.

Then it runs `python -m gpubench.cli report` once per fixture as a child process (imports and all, as a user
types it, with Python's bytecode cache on as an installed package has it: one warm-up report first) and prints
CPU seconds (user + system of the child, the operating system's accounting), wall seconds and the page's size in
MB, beside the load average. Fixtures are kept (ROOT/<size>/.done) and reused.
Quote CPU seconds, not wall: on a shared machine the wall clock measures the neighbours too.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from gpubench import store


def copy_runs(source: Path, out: Path, n: int, seed: int = 0) -> list[Path]:
    """N copies of the run folder `source` under `out`, each a distinct run (see the module docstring)."""
    meta = json.loads((source / "run.json").read_text())
    meas = pq.read_table(source / "measurements.parquet")
    tele = pq.read_table(source / "telemetry.parquet") if (source / "telemetry.parquet").exists() else None
    rng = np.random.default_rng(seed)
    width = len(str(max(n - 1, 1)))
    folders = []
    for i in range(n):
        host = f"node-{i:0{width}d}"
        run_id = f"{meta['run_id'].split('_', 1)[0]}_{host}_{i:0{width}d}"
        folder = out / run_id
        folder.mkdir(parents=True, exist_ok=True)
        m = dict(meta, run_id=run_id, host=host)
        m["device"] = dict(meta.get("device") or {}, uuid=f"SERIAL-{i:08d}")
        (folder / "run.json").write_text(json.dumps(m, indent=1, sort_keys=True))
        # The first copy is the run itself; the others are slower or faster as a whole (3 %) and case by case
        # (1 %), so a pooled fleet has a spread and the fleet check something to judge.
        factors = np.exp(rng.normal(0.0, 0.03) + rng.normal(0.0, 0.01, meas.num_rows)) if i else None
        # Written as gpubench writes a run's files (store.write_table), whatever wrote the source run.
        store.write_table(folder / "measurements.parquet", _retag(meas, run_id, factors), lean=True)
        if tele is not None:
            store.write_table(folder / "telemetry.parquet", _retag(tele, run_id, None))
        folders.append(folder)
    return folders


def _retag(table: pa.Table, run_id: str, factors: np.ndarray | None) -> pa.Table:
    """`table` with its run_id column set to `run_id` and each row's step times (`times_s`) multiplied by its
    factor (None: unchanged)."""
    if "run_id" in table.column_names:
        i = table.column_names.index("run_id")
        table = table.set_column(i, table.field(i), pa.array([run_id] * table.num_rows, table.field(i).type))
    if factors is not None and "times_s" in table.column_names:
        i = table.column_names.index("times_s")
        rows = table.column(i).to_pylist()
        times = [None if t is None else [x * float(f) for x in t] for t, f in zip(rows, factors, strict=True)]
        table = table.set_column(i, table.field(i), pa.array(times, table.field(i).type))
    return table


def fixture(root: Path, source: Path, n: int) -> Path:
    """ROOT/N holding N copies of `source`; written once."""
    out = root / str(n)
    if not (out / ".done").exists():
        shutil.rmtree(out, ignore_errors=True)
        copy_runs(source, out, n, seed=n)
        (out / ".done").touch()
    return out


def fleet_fixture(root: Path, n: int) -> Path:
    """ROOT/fleet-N: a synthetic N-GPU fleet SHARED_DIR with a baseline; written once."""
    out = root / f"fleet-{n}"
    if not (out / ".done").exists():
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from fleet_scale import write

        shutil.rmtree(out, ignore_errors=True)
        tmp = root / "fleet-tmp"
        write(tmp, [n])
        shutil.move(tmp / str(n), out)
        shutil.rmtree(tmp, ignore_errors=True)
        (out / ".done").touch()
    return out


# As an installed gpubench runs: with compiled bytecode (kept out of the tree), not compiling every module each
# time as it would under PYTHONDONTWRITEBYTECODE=1. The first report of a session writes the cache: it is a
# warm-up, not counted.
_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
_ENV.setdefault("PYTHONPYCACHEPREFIX", "/tmp/gb-report-scale-pycache")


def time_report(folder: Path, page: Path, extra: list[str]) -> tuple[float, float, float]:
    """CPU seconds, wall seconds and MB of one `gpubench report` of every run under `folder`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "gpubench.cli", "report", str(folder), "-o", str(page), *extra]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=_ENV)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall, page.stat().st_size / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path, help="a real run folder to copy")
    ap.add_argument("root", type=Path, nargs="?", default=Path("/tmp/gb-report-scale"))
    ap.add_argument("--sizes", default="1,100,1000", help="run counts, comma-separated")
    ap.add_argument("--fleet", type=int, default=0, help="also an N-GPU synthetic fleet (0: none)")
    ap.add_argument("--repeat", type=int, default=1, help="reports per fixture; the median is printed")
    ap.add_argument("--report-args", default="", help="extra arguments for `gpubench report`, one string")
    args = ap.parse_args()
    if not (args.run / "run.json").is_file():
        sys.exit(f"{args.run}: not a run folder")
    jobs = [(f"{n} run(s)", fixture(args.root, args.run, n), "") for n in map(int, args.sizes.split(",")) if n > 0]
    if args.fleet:  # <root>/<node>/<slot>/<run>: one level deeper than a folder of run folders
        jobs.append((f"{args.fleet}-GPU fleet", fleet_fixture(args.root, args.fleet), "*/*/*"))
    print(f"load {os.getloadavg()[0]:.2f}; {_cpu_model()}")
    time_report(jobs[0][1] / jobs[0][2], args.root / "warm-up.html", args.report_args.split())
    for name, folder, pattern in jobs:
        page = args.root / f"{folder.name}.html"
        results = sorted(
            (time_report(folder / pattern, page, args.report_args.split()) for _ in range(max(1, args.repeat))),
            key=lambda r: r[0],
        )
        cpu, wall, mb = results[len(results) // 2]
        print(f"{name:>16}: {cpu:6.2f} s CPU {wall:6.2f} s wall {mb:6.2f} MB  load {os.getloadavg()[0]:.2f}  {page}")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "CPU model unknown"


if __name__ == "__main__":
    main()
