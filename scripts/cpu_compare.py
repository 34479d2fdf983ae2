"""gpubench's CPU figures next to independent measurements, interleaved so machine noise hits both alike.

- matmul fp32 and bf16 at 4096^3: gpubench's runner vs the same torch.mm timed directly (best-of and median);
- host copy: gpubench's memory d2d at 1 GiB vs a STREAM-style C copy (scripts/stream_copy.c, OpenMP, one thread
  per core) and a plain torch copy_.
Usage: python scripts/cpu_compare.py [ROUNDS]
"""

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from gpubench.benchmarks import load_all
from gpubench.records import Case
from gpubench.runner import Runner
from gpubench.suite import PlannedCase, Timing

REG = load_all()
HERE = Path(__file__).parent
TIMING = Timing(warmup_s=0.5, min_warmup=2, min_reps=5, min_time_s=2.0, max_time_s=20.0)


class _Store:  # the runner needs only the device description from its store
    meta = {"device": {"name": "cpu", "vendor": "cpu", "memory_bytes": None}}


def gpubench_figure(case):
    row = Runner(torch.device("cpu"), _Store(), REG).run_case(PlannedCase(case, TIMING))
    assert row["status"] == "ok", row.get("reason")
    return row["throughput"]


def direct_matmul(dtype, n, reps=5):
    dt = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype]
    a, b = torch.randn(n, n, dtype=dt), torch.randn(n, n, dtype=dt)
    out = torch.empty(n, n, dtype=dt)
    torch.mm(a, b, out=out)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        torch.mm(a, b, out=out)
        times.append(time.perf_counter() - t)
    return 2 * n**3 / statistics.median(times) / 1e12


def stream_copy(binary, size):
    return float(subprocess.run([binary, str(size), "10"], capture_output=True, text=True, check=True).stdout)


def torch_copy(size, reps=10):
    a = torch.empty(size // 8, dtype=torch.int64).random_()
    b = torch.empty_like(a)
    b.copy_(a)
    best = min(_timed(lambda: b.copy_(a)) for _ in range(reps))
    return 2 * size / best / 1e9


def _timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    binary = Path(tempfile.mkdtemp()) / "stream_copy"
    subprocess.run(
        ["gcc", "-O3", "-march=native", "-fopenmp", str(HERE / "stream_copy.c"), "-o", str(binary)],
        check=True,
    )
    size = 1 << 30
    results = {k: [] for k in ("gb_fp32", "direct_fp32", "gb_bf16", "direct_bf16", "gb_copy", "stream", "torch_copy")}
    for _ in range(rounds):
        for dtype in ("fp32", "bf16"):
            case = Case.of("matmul", {"dtype": dtype, "m": 4096, "n": 4096, "k": 4096})
            results[f"gb_{dtype}"].append(gpubench_figure(case))
            results[f"direct_{dtype}"].append(direct_matmul(dtype, 4096))
        results["gb_copy"].append(
            gpubench_figure(Case.of("memory", {"kind": "d2d", "size_bytes": size, "pinned": False}))
        )
        results["stream"].append(stream_copy(binary, size))
        results["torch_copy"].append(torch_copy(size))
    med = {k: statistics.median(v) for k, v in results.items()}
    print(
        f"{'figure':34s} {'gpubench':>10s} {'independent':>12s} {'ratio':>7s}   (median of {rounds} interleaved rounds)"
    )
    for dtype in ("fp32", "bf16"):
        g, d = med[f"gb_{dtype}"], med[f"direct_{dtype}"]
        print(f"{'matmul ' + dtype + ' 4096^3 TFLOP/s':34s} {g:10.3f} {d:12.3f} {g / d:7.3f}")
    print(
        f"{'host copy 1 GiB GB/s (r+w) vs STREAM':34s} {med['gb_copy']:10.1f} {med['stream']:12.1f} {med['gb_copy'] / med['stream']:7.3f}"
    )
    print(f"{'  (plain torch copy_ GB/s (r+w))':34s} {'':10s} {med['torch_copy']:12.1f}")
    print("raw:", {k: [round(x, 3) for x in v] for k, v in results.items()})


if __name__ == "__main__":
    main()
