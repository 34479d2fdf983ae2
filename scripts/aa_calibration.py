"""A/A calibration of `gpubench compare` on this machine: how often does it call identical code faster or
slower, and does it still catch a real slowdown?

Runs a small CPU suite (SMALL_SUITE below: two copies, three fp32 inference cases, one training case; or --suite
NAME/PATH with --only) as PAIRS back-to-back A/A pairs, twice per pair:
- before: one round per case (the runner as it was), compared with the old interval, a percentile bootstrap of
  the ratio of medians over the pooled step times of each run (2000 resamples; reimplemented below);
- after: the suite's rounds (or --rounds), compared with `gpubench.report.compare.compare_runs`;
and once more with a real 1.5x slowdown injected into one case of a B run: the case builds its model at 1.5x
the batch but keeps its identity and its work per step, so its true throughput is about 1/1.5 (the factor
over the runs is printed too); and each pair's B run is also copied with every step time 1.5x longer (a
time-scaled copy: exactly 1.5x, with B's own noise) to count how many cases such a slowdown is caught in. Every pair also enters a several-runs-per-side comparison
(A1..An --vs B1..Bn).

Usage: PYTHONPATH=. python scripts/aa_calibration.py [--pairs 5] [--rounds N] [--threshold 5] [--threads 1]
                                                     [--suite quick --only 'infer*']
Prints a table (markdown) and the load average; about 15 minutes on a loaded 2-core CPU. torch runs on one
thread by default (--threads): on a machine shared by several jobs at once (load average 20+ on 2 cores), two
OpenMP threads that wait for each other slow small steps down 10-100x and make every case's run a lottery.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gpubench.benchmarks import load_all
from gpubench.records import Case, Work
from gpubench.report.compare import FASTER, SLOWER, compare_runs
from gpubench.runner import RunOptions, run_suite
from gpubench.store import load_runs
from gpubench.suite import load_suite, parse_suite

SMALL_SUITE = """
name = "aa"
description = "Small CPU cases for the A/A calibration of compare: cheap to build, milliseconds per step"

[defaults]
warmup_s = 0.05
min_warmup = 2
max_warmup_s = 0.5
min_reps = 9
min_time_s = 0.6
max_time_s = 3.0
rounds = 3

[[benchmarks]]
benchmark = "memory"
kind = "d2d"
size_bytes = [1048576, 16777216]

[[benchmarks]]
benchmark = "infer"
model = ["mnist_cnn", "dcgan_mnist"]
precision = "fp32"
batch = 32

[[benchmarks]]
benchmark = "infer"
model = "gpt2"
precision = "fp32"
batch = 4
layers = 2
width = 64
seq = 64
vocab = 512

[[benchmarks]]
benchmark = "train"
model = "mnist_cnn"
precision = "fp32"
batch = 32
"""

SLOW_FACTOR = 1.5
SLOW_CASE = "infer[model=mnist_cnn,precision=fp32,batch=32,compile=false]"


def old_interval(times_a: Any, times_b: Any, resamples: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """The interval `gpubench compare` used before rounds: bootstrap of median(A)/median(B) over the pooled
    step times of one run per side (reimplemented from git history, commit 547faf9)."""
    a, b = np.asarray(times_a, dtype=float), np.asarray(times_b, dtype=float)
    a, b = a[np.isfinite(a) & (a > 0)], b[np.isfinite(b) & (b > 0)]
    ratio = float(np.median(a)) / float(np.median(b))
    if len(a) < 2 or len(b) < 2:
        return ratio, math.nan, math.nan
    rng = np.random.default_rng(seed)

    def medians(x: np.ndarray) -> np.ndarray:
        return np.median(x[rng.integers(0, len(x), size=(resamples, len(x)))], axis=1)

    low, high = np.quantile(medians(a) / medians(b), [0.025, 0.975])
    return ratio, float(low), float(high)


def old_verdicts(a: Path, b: Path, threshold_pct: float) -> list[str]:
    ra, rb = (load_runs(x).set_index("case_id") for x in (a, b))
    out = []
    for cid in ra.index.intersection(rb.index):
        if ra.loc[cid, "status"] != "ok" or rb.loc[cid, "status"] != "ok":
            continue
        _, low, high = old_interval(ra.loc[cid, "times_s"], rb.loc[cid, "times_s"])
        t = threshold_pct / 100.0
        out.append(SLOWER if high < 1 - t else FASTER if low > 1 + t else "other")
    return out


def slowed_registry(factor: float) -> dict[str, Any]:
    """The benchmark registry with SLOW_CASE doing `factor` times its work per step under the same identity:
    its model runs a batch `factor` times larger, while the row still counts the original batch."""
    registry = dict(load_all())
    infer = registry["infer"]

    def factory(case: Case, device: Any) -> Any:
        if case.id != SLOW_CASE:
            return infer.factory(case, device)
        params = case.as_dict()
        bigger = Case.of(case.benchmark, {**params, "batch": round(int(params["batch"]) * factor)})
        workload = infer.factory(bigger, device)
        w = workload.work
        scale = int(params["batch"]) / int(bigger.param("batch"))
        return dataclasses.replace(workload, work=Work(w.amount * scale, w.unit, w.flops * scale if w.flops else None))

    registry["infer"] = dataclasses.replace(infer, factory=factory)
    return registry


def scaled_copy(folder: Path, factor: float, out: Path) -> Path:
    """A copy of a run folder in which every case's step times are `factor` times longer: each case slowed by
    exactly `factor`, with the run's own noise (the time-scaled copy of the issue)."""
    import pandas as pd

    copy = out / f"{folder.name}_x{factor:g}"
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns(".lock"))
    path = copy / "measurements.parquet"
    frame = pd.read_parquet(path)
    ok = frame["status"] == "ok"
    for col in ("times_s", "round_medians_s"):
        frame.loc[ok, col] = frame.loc[ok, col].map(lambda t: list(np.asarray(t) * factor))
    for col in ("median_s", "p10_s", "p90_s", "mean_s", "min_s"):
        frame.loc[ok, col] = frame.loc[ok, col] * factor
    for col in ("throughput", "throughput_p10", "throughput_p90"):
        frame.loc[ok, col] = frame.loc[ok, col] / factor
    frame.to_parquet(path)
    return copy


def run(suite: Any, out: Path, only: str, rounds: int, registry: dict[str, Any] | None = None) -> tuple[Path, float]:
    t0 = time.perf_counter()
    options = RunOptions(device="cpu", out_dir=out, only=(only,), rounds=rounds, telemetry="off", idle_s=0)
    outcome = run_suite(suite, options, registry=registry)
    return outcome.folder, time.perf_counter() - t0


def share(verdicts: list[str]) -> tuple[int, int, int]:
    return sum(v == FASTER for v in verdicts), sum(v == SLOWER for v in verdicts), len(verdicts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=None, help="rounds of the 'after' runs (default: the suite's)")
    parser.add_argument("--threshold", type=float, default=5.0)
    parser.add_argument("--only", default="*")
    parser.add_argument("--suite", default=None, help="suite name or path (default: SMALL_SUITE)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    suite = load_suite(args.suite) if args.suite else parse_suite(SMALL_SUITE, "aa_calibration.toml", load_all())
    rounds = args.rounds or max(pc.timing.rounds for pc in suite.cases)
    out = args.out or Path(tempfile.mkdtemp(prefix="aa_"))
    slow_registry = slowed_registry(SLOW_FACTOR)
    load0 = os.getloadavg()
    t_start = time.perf_counter()
    before: list[str] = []
    after: list[str] = []
    caught: list[tuple[float, float, float, str]] = []
    scaled_verdicts: list[str] = []
    sides: dict[str, list[Path]] = {"a": [], "b": []}
    slow_runs: list[Path] = []
    walls: dict[str, list[float]] = {"before": [], "after": [], "slow": []}
    for i in range(args.pairs):
        a1, w1 = run(suite, out / "before", args.only, 1)
        b1, w2 = run(suite, out / "before", args.only, 1)
        walls["before"] += [w1, w2]
        before += old_verdicts(a1, b1, args.threshold)
        a, w3 = run(suite, out / "after", args.only, rounds)
        b, w4 = run(suite, out / "after", args.only, rounds)
        s, w5 = run(suite, out / "slow", args.only, rounds, slow_registry)
        walls["after"] += [w3, w4]
        walls["slow"].append(w5)
        slow_runs.append(s)
        frame = compare_runs(a, b, threshold_pct=args.threshold)
        after += list(frame["verdict"])
        sides["a"].append(a)
        sides["b"].append(b)
        slow = compare_runs(a, s, threshold_pct=args.threshold).set_index("case_id")
        r = slow.loc[SLOW_CASE]
        caught.append((r["ratio"], r["ci_low"], r["ci_high"], r["verdict"]))
        scaled = compare_runs(a, scaled_copy(b, SLOW_FACTOR, out / "scaled"), threshold_pct=args.threshold)
        scaled_verdicts += list(scaled["verdict"])
        others = slow.drop(index=SLOW_CASE)
        after_slow_others = list(others["verdict"])
        print(
            f"pair {i + 1}: before {share(old_verdicts(a1, b1, args.threshold))}, after {share(list(frame['verdict']))},"
            f" slowed case {r['ratio']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}] {r['verdict']};"
            f" other cases of the slowed run {share(after_slow_others)} (faster, slower, n); load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    pooled = compare_runs(sides["a"], sides["b"], threshold_pct=args.threshold)
    # How much slower the slowed case really ran: its throughput over the slowed runs vs over the A runs.
    normal = np.median([load_runs(p).set_index("case_id").loc[SLOW_CASE, "throughput"] for p in sides["a"]])
    slowed = np.median([load_runs(p).set_index("case_id").loc[SLOW_CASE, "throughput"] for p in slow_runs])
    load1 = os.getloadavg()
    print()
    print(
        f"machine: {os.cpu_count()} CPUs; load average (1, 5, 15 min) at start {load0[0]:.2f} {load0[1]:.2f} "
        f"{load0[2]:.2f}, at end {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}; {time.perf_counter() - t_start:.0f} s"
    )
    print(
        f"suite: {args.suite or 'SMALL_SUITE'} --only {args.only!r} --device cpu, torch threads "
        f"{torch.get_num_threads()}; threshold {args.threshold:g} %; {args.pairs} A/A pairs"
    )
    print()
    print("| method | runs per side | rounds per run | cases compared | called faster | called slower | share called |")
    print("|---|---|---|---|---|---|---|")
    for name, verdicts, runs_per_side, r in (
        ("before: step bootstrap, 1 round", before, 1, 1),
        (f"after: interval over rounds, {rounds} rounds", after, 1, rounds),
        (f"after: {args.pairs} runs per side (--vs)", list(pooled["verdict"]), args.pairs, rounds),
    ):
        f, sl, n = share(verdicts)
        print(f"| {name} | {runs_per_side} | {r} | {n} | {f} | {sl} | {100 * (f + sl) / max(n, 1):.1f} % |")
    print()
    print(
        f"injected slowdown: {SLOW_CASE} at {SLOW_FACTOR}x the batch, same identity and work per step "
        f"(throughput slowed / normal, medians over the runs: {slowed / normal:.3f}); caught as 'slower' in "
        f"{sum(c[3] == SLOWER for c in caught)} of {len(caught)} pairs"
    )
    for k, (ratio, low, high, verdict) in enumerate(caught):
        print(f"  pair {k + 1}: B/A {ratio:.3f} [{low:.3f}, {high:.3f}] {verdict}")
    print(
        f"time-scaled copies (every case of each pair's B run {SLOW_FACTOR}x slower, A vs that copy): caught as "
        f"'slower' in {sum(v == SLOWER for v in scaled_verdicts)} of {len(scaled_verdicts)} cases"
    )
    print()
    print("wall time per run (s), median: " + ", ".join(f"{k} {np.median(v):.1f}" for k, v in walls.items()))
    print(f"run folders under {out}")


if __name__ == "__main__":
    main()
