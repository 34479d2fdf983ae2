"""Time `gpubench report` over a synthetic fleet: how long it takes and how big the file is.

    PYTHONPATH=$PWD python scripts/fleet_report_timing.py 20 100     # writes fleets under /tmp/gb-fleet-N

Fleets come from tests/fixtures_runs.write_many (mostly H100s, some RTX 4090s, a few CPUs, with telemetry).
Prints runs, wall and CPU seconds to build and write the report, and its size; say the load average beside
the numbers. With GPUBENCH_REPORT_OUT=name the report file is named so (to time two trees side by side).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fixtures_runs import write_many  # noqa: E402

from gpubench.report import render_report  # noqa: E402


def main(sizes: list[int]) -> None:
    for n in sizes:
        root = Path(f"/tmp/gb-fleet-{n}")
        if not (root / ".done").exists():
            shutil.rmtree(root, ignore_errors=True)
            write_many(root, n)
            (root / ".done").touch()
        folders = sorted(p for p in root.iterdir() if p.is_dir())
        out = root / os.environ.get("GPUBENCH_REPORT_OUT", "report.html")
        t0, c0 = time.perf_counter(), time.process_time()
        render_report(folders, out=out)
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        # CPU seconds beside wall seconds: on a shared machine the wall clock measures the neighbours too.
        size = out.stat().st_size / 2**20
        print(f"{n} runs: {dt:.2f} s wall, {cpu:.2f} s CPU, {size:.2f} MiB ({out}); load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [20, 100])
