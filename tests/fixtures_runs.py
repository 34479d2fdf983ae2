"""Synthetic run folders written by the real store code (RunStore), for report, compare and store tests.

Numbers are made up but shaped like real runs: matmul TFLOP/s per precision with a MAMF shape sweep,
memory bandwidth over sizes, training and inference throughput, failed/skipped/wrong/noisy cases, and
(optionally) a telemetry series with each case's timed window, aggregated by gpubench.telemetry.

    folders = write_fleet(tmp_path)                      # H100 + RTX 4090 with telemetry, a CPU without
    folder = write_run(tmp_path, "4090", host="lab-2", speed=1.1, telemetry=False)

Never imports torch.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gpubench.records import WORK_UNITS, Case
from gpubench.store import RunStore

HOSTILE = '<script>alert(1)</script>"q\'</div><b>x</b>&amp;<img src=x onerror="document.body.dataset.pwned=1">'
"""A string that breaks a page that forgets to escape data from a results file (and, in a browser, marks the
page `data-pwned` if any of it ever runs)."""

_ELEMENT_BYTES = {"fp64": 8, "fp32": 4, "tf32": 4, "fp16": 2, "bf16": 2, "fp8": 1, "int8": 1}


@dataclass(frozen=True)
class FakeDevice:
    """A made-up device: datasheet-like ceilings the synthetic numbers are drawn under."""

    name: str
    vendor: str
    memory_bytes: int
    matmul_tflops: Mapping[str, float]  # best achievable per dtype (TOP/s for int8)
    d2d_gbps: float  # read + write
    h2d_gbps: float  # pinned; pageable gets about half
    train_sps: Mapping[str, float]  # samples/s per model at fp32; amp is faster where supported
    power_w: float  # typical draw under load
    idle_w: float
    power_limit_w: float | None
    extra: Mapping[str, Any] = field(default_factory=dict)


DEVICES: dict[str, FakeDevice] = {
    "h100": FakeDevice(
        "NVIDIA H100 80GB HBM3",
        "nvidia",
        85_520_809_984,
        {
            "fp64": 52.0,
            "fp32": 50.0,
            "tf32": 380.0,
            "fp16": 720.0,
            "bf16": 760.0,
            "fp8": 1350.0,
            "int8": 1400.0,
        },
        2900.0,
        52.0,
        {"resnet50": 1700.0, "transformer": 900.0},
        620.0,
        70.0,
        700.0,
        {"compute_capability": "9.0", "sm_count": 132, "uuid": "GPU-11111111"},
    ),
    "4090": FakeDevice(
        "NVIDIA GeForce RTX 4090",
        "nvidia",
        25_393_692_672,
        {"fp64": 1.2, "fp32": 70.0, "tf32": 80.0, "fp16": 160.0, "bf16": 160.0, "fp8": 300.0, "int8": 600.0},
        950.0,
        24.0,
        {"resnet50": 720.0, "transformer": 380.0},
        420.0,
        25.0,
        450.0,
        {"compute_capability": "8.9", "sm_count": 128, "uuid": "GPU-22222222"},
    ),
    "cpu": FakeDevice(
        "AMD EPYC 7763 64-Core Processor",
        "cpu",
        540_000_000_000,
        {"fp64": 1.5, "fp32": 3.0, "bf16": 2.0},
        150.0,
        0.0,
        {"resnet50": 40.0, "transformer": 20.0},
        280.0,
        90.0,
        None,
        {},
    ),
}

SWEEP_M = (1024, 2048, 4096, 8192, 12288)


@dataclass
class CaseSpec:
    """One synthetic case: its parameters, its ideal throughput and what one step does."""

    benchmark: str
    params: dict[str, Any]
    throughput: float  # in display units (TFLOP/s, GB/s, samples/s)
    work_unit: str
    work_amount: float
    flops: float | None = None
    status: str = "ok"
    reason: str = ""
    noisy: bool = False
    throttled: bool = False


def _matmul_work(dtype: str, m: int, n: int, k: int) -> tuple[str, float, float]:
    flops = 2.0 * m * n * k
    return ("op" if dtype == "int8" else "flop"), flops, flops


def default_cases(dev: FakeDevice, speed: float = 1.0, hostile: bool = False) -> list[CaseSpec]:
    """The cases a synthetic run holds: squares per dtype, a bf16 sweep, copies, training, inference, problems."""
    cases: list[CaseSpec] = []
    for dtype, best in dev.matmul_tflops.items():
        for m in (2048, 4096):
            unit, amount, flops = _matmul_work(dtype, m, m, m)
            eff = m / (m + 600.0)
            cases.append(
                CaseSpec("matmul", {"dtype": dtype, "m": m, "n": m, "k": m}, best * eff * speed, unit, amount, flops)
            )
    if "bf16" in dev.matmul_tflops:
        for m in SWEEP_M:
            unit, amount, flops = _matmul_work("bf16", m, 4096, 4096)
            eff = m / (m + 900.0) * (0.93 if m % 4096 else 1.0)  # wave quantization dips
            cases.append(
                CaseSpec(
                    "matmul",
                    {"dtype": "bf16", "m": m, "n": 4096, "k": 4096},
                    dev.matmul_tflops["bf16"] * eff * speed,
                    unit,
                    amount,
                    flops,
                )
            )
    for size in (1 << 20, 1 << 24, 1 << 28, 1 << 30):
        bw = dev.d2d_gbps * size / (size + 4e6) * speed
        cases.append(
            CaseSpec("memory", {"kind": "d2d", "size_bytes": size, "pinned": False}, bw, "byte_rw", 2.0 * size)
        )
    if dev.vendor != "cpu":
        for kind in ("h2d", "d2h"):
            for pinned in (True, False):
                for size in (1 << 24, 1 << 28):
                    bw = dev.h2d_gbps * (1.0 if pinned else 0.5) * size / (size + 2e6) * speed
                    cases.append(
                        CaseSpec(
                            "memory", {"kind": kind, "size_bytes": size, "pinned": pinned}, bw, "byte", float(size)
                        )
                    )
    amp = "amp_bf16" if "bf16" in dev.matmul_tflops and dev.vendor != "cpu" else None
    for model, sps in dev.train_sps.items():
        for precision in ("fp32", amp):
            if precision is None:
                continue
            factor = 1.7 if precision != "fp32" else 1.0
            batch = 64
            flops = (12.3e9 if model == "resnet50" else 30e9) * batch
            cases.append(
                CaseSpec(
                    "train",
                    {"model": model, "precision": precision, "batch": batch, "compile": False},
                    sps * factor * speed,
                    "sample",
                    float(batch),
                    flops,
                    throttled=dev.vendor == "nvidia" and model == "transformer",
                )
            )
            for ibatch in (1, 64):
                isps = sps * factor * 3.0 * speed * (0.08 if ibatch == 1 else 1.0)
                cases.append(
                    CaseSpec(
                        "infer",
                        {"model": model, "precision": precision, "batch": ibatch, "compile": False},
                        isps,
                        "sample",
                        float(ibatch),
                        (4.1e9 if model == "resnet50" else 10e9) * ibatch,
                    )
                )
    # Problems: one of each kind.
    reason_tail = f" {HOSTILE}" if hostile else ""
    cases.append(
        CaseSpec(
            "matmul",
            {"dtype": "fp8", "m": 16384, "n": 16384, "k": 16384},
            0.0,
            "flop",
            1.0,
            status="skipped" if dev.vendor == "cpu" else "failed",
            reason=("fp8 matmul needs a GPU" if dev.vendor == "cpu" else "out of memory: tried to allocate 2.00 GiB")
            + reason_tail,
        )
    )
    cases.append(
        CaseSpec(
            "matmul",
            {"dtype": "fp16", "m": 1024, "n": 1024, "k": 1024},
            dev.matmul_tflops.get("fp16", 1.0) * 0.5 * speed,
            "flop",
            2.0 * 1024**3,
            2.0 * 1024**3,
            status="wrong",
            reason="check failed: max rel error 0.5 > 0.01" + reason_tail,
        )
    )
    cases.append(
        CaseSpec(
            "memory",
            {"kind": "d2d", "size_bytes": 1 << 16, "pinned": False},
            dev.d2d_gbps * 0.02,
            "byte_rw",
            2.0 * (1 << 16),
            noisy=True,
        )
    )
    return cases


def synthetic_times(median_s: float, n: int, rng: np.random.Generator, sigma: float = 0.02) -> list[float]:
    """Lognormal step times around `median_s` (the median of a lognormal is exp(mu))."""
    return [float(t) for t in median_s * np.exp(rng.normal(0.0, sigma, n))]


def measured_row(
    spec: CaseSpec,
    times_s: Sequence[float],
    start_ns: int,
    end_ns: int,
    dev: FakeDevice,
    benchmark_version: int = 1,
    device_name: str | None = None,
    round_index: int = 0,
) -> dict[str, Any]:
    """One raw round shaped like the runner's (what was measured; gpubench.derive computes the rest on load)."""
    case = Case.of(spec.benchmark, spec.params)
    row: dict[str, Any] = {
        "case_id": case.id,
        "round": round_index,
        "benchmark": spec.benchmark,
        "label": None,
        "benchmark_version": benchmark_version,
        "params_json": json.dumps(case.as_dict(), sort_keys=True),
        **case.as_dict(),
        "device_name": device_name or dev.name,
        "device_vendor": dev.vendor,
        "device_memory_bytes": dev.memory_bytes,
        "power_limit_w": dev.power_limit_w,
        "status": spec.status,
        "reason": spec.reason,
    }
    if spec.status in ("skipped", "failed"):
        return row
    row.update(
        tf32=spec.params.get("dtype") == "tf32",
        times_s=list(times_s),
        steps_per_sample=1,
        work_per_step=spec.work_amount,
        work_unit=spec.work_unit,
        start_ns=start_ns,
        end_ns=end_ns,
        peak_memory_bytes=int(1e9),
    )
    if spec.flops:
        row["flops_per_step"] = spec.flops
    if round_index > 0:
        return row  # the check runs in the first round only
    if spec.status == "wrong":
        row.update(check_error=0.5, check_tolerance=0.01)
    elif spec.benchmark == "matmul":
        row.update(check_error=1e-3, check_tolerance=1e-2)
    return row


def _telemetry_for(
    dev: FakeDevice, windows: list[tuple[str, int, int, bool]], t0_ns: int, hz: float, rng: np.random.Generator
) -> pd.DataFrame:
    """A sampled series over the whole run: idle between cases, loaded inside each window."""
    end = max(hi for _, _, hi, _ in windows) + int(0.5e9)
    t = np.arange(t0_ns, end, int(1e9 / hz), dtype=np.int64)
    power = np.full(len(t), dev.idle_w) + rng.normal(0, 2.0, len(t))
    temp = np.full(len(t), 40.0)
    clock = np.full(len(t), 1980.0 if dev.vendor == "nvidia" else 3000.0)
    mask = np.zeros(len(t))
    case_ids: list[str | None] = [None] * len(t)
    for case_id, lo, hi, throttled in windows:
        inside = (t >= lo) & (t <= hi)
        power[inside] = dev.power_w * (1.0 + rng.normal(0, 0.03, inside.sum()))
        temp[inside] = 70.0 + (10.0 if throttled else 0.0)
        if throttled:
            clock[inside] = 1500.0
            mask[inside] = 0x4  # sw_power_cap
        for i in np.nonzero(inside)[0]:
            case_ids[i] = case_id
    dt_s = np.diff(t, prepend=t[0]) / 1e9
    frame = pd.DataFrame(
        {
            "t_ns": t,
            "power_w": power,
            "power_avg_w": power,
            "energy_j": np.cumsum(power * dt_s),
            "temp_c": temp,
            "mem_temp_c": temp + 5,
            "sm_clock_mhz": clock,
            "mem_clock_mhz": np.full(len(t), 2619.0),
            "util_pct": np.where(power > dev.idle_w * 1.5, 99.0, 0.0),
            "mem_util_pct": np.full(len(t), 30.0),
            "mem_used_bytes": np.full(len(t), 2e9),
            "throttle_mask": mask,
        }
    )
    if dev.vendor == "cpu":
        frame["sm_clock_mhz"] = np.nan  # one unsupported metric is NaN, not missing
    frame["case_id"] = case_ids
    return frame


def write_run(
    out_dir: Path,
    device: str = "h100",
    host: str = "node-1",
    *,
    telemetry: bool = True,
    speed: float = 1.0,
    seed: int = 0,
    torch_version: str = "2.4.0",
    cuda_version: str | None = "12.4",
    power_limit_w: float | None = None,
    device_name: str | None = None,
    hostile: bool = False,
    reps: int = 50,
    case_s: float = 1.0,
    hz: float = 20.0,
    benchmark_version: int = 1,
    cases: list[CaseSpec] | None = None,
    rounds: int | None = None,
    round_sigma: float = 0.0,
) -> Path:
    """Write one finished run folder through RunStore and return it.

    `speed` scales every throughput (a faster driver); `hostile` puts HOSTILE into the device name, host,
    driver and reasons; `case_s` and `hz` size the telemetry series (cases x case_s x hz samples). With
    `rounds`, each case's `reps` steps are split into that many rounds (`round_sizes`), each round's times
    shifted by lognormal noise of `round_sigma` (the between-round spread of a shared machine).
    """
    dev = DEVICES[device]
    rng = np.random.default_rng(seed)
    name = device_name or (f"{dev.name} {HOSTILE}" if hostile else dev.name)
    is_gpu = dev.vendor != "cpu"
    limit = power_limit_w if power_limit_w is not None else dev.power_limit_w
    info = {
        "host": f"{host}{HOSTILE}" if hostile else host,
        "command": "gpubench run quick",
        "device": {
            "name": name,
            "vendor": dev.vendor,
            "memory_bytes": dev.memory_bytes,
            "driver": (f"550.54 {HOSTILE}" if hostile else "550.54.15") if is_gpu else None,
            "cuda": cuda_version if is_gpu else None,
            "hip": None,
            **dev.extra,
        },
        "software": {
            "gpubench": "0.1.0",
            "torch": torch_version,
            "cuda": cuda_version if is_gpu else None,
            "hip": None,
            "python": "3.11.9",
            "platform": "Linux-6.8-x86_64",
            "env": {},
        },
        "suite": {"name": "standard", "path": "suites/standard.toml", "sha256": "0" * 64},
        "telemetry": (
            {
                "reader": "nvml" if is_gpu else "cpu",
                "reason": None,
                "idle_power_w": dev.idle_w,
                "power_limit_w": limit,
                "max_sm_clock_mhz": 1980.0 if is_gpu else None,
            }
            if telemetry
            else {"reader": "null", "reason": "telemetry off (--telemetry off)", "power_limit_w": limit}
        ),
    }
    store = RunStore.create(out_dir, info)
    if cases is not None:
        specs = [replace(c, throughput=c.throughput * speed) for c in cases]
    else:
        specs = default_cases(dev, speed, hostile)
    # One row per case id, as RunStore.add keeps (a sweep point can repeat a square shape).
    specs = list({Case.of(c.benchmark, c.params).id: c for c in specs}.values())
    t0 = 1_000_000_000_000
    t = t0 + int(1e9)  # a second of idle before the first case
    windows: list[tuple[str, int, int, bool]] = []
    rows = []
    for spec in specs:
        case_id = Case.of(spec.benchmark, spec.params).id
        if spec.status in ("skipped", "failed"):
            rows.append(measured_row(spec, [], 0, 0, dev, benchmark_version, name))
            continue
        div = WORK_UNITS[spec.work_unit][0]
        median_s = spec.work_amount / (spec.throughput * div)
        sigma = 0.25 if spec.noisy else 0.02
        n_rounds = rounds or 1
        sizes = [reps // n_rounds + (i < reps % n_rounds) for i in range(n_rounds)]
        lo, hi = t, t + int(case_s * 1e9)
        t = hi + int(0.3e9)
        windows.append((case_id, lo, hi, spec.throttled))
        # The case's window shared among its rounds (a real run interleaves them with other cases).
        edges = np.linspace(lo, hi, n_rounds + 1).astype(np.int64)
        for i, size in enumerate(sizes):
            shift = float(np.exp(rng.normal(0.0, round_sigma))) if rounds is not None else 1.0
            times = synthetic_times(median_s * shift, size, rng, sigma=sigma)
            rows.append(measured_row(spec, times, int(edges[i]), int(edges[i + 1]), dev, benchmark_version, name, i))
    if telemetry and windows:
        from gpubench.telemetry import case_aggregates

        frame = _telemetry_for(dev, windows, t0, hz, rng)
        for row in rows:
            if row.get("start_ns"):
                row.update(case_aggregates(frame, row["start_ns"], row["end_ns"], dev.idle_w))
        store.write_telemetry(frame)
    # The runner adds rows one by one (each add rewrites the file); writing all but the last at once goes
    # through the same add -> parquet path and keeps a 20-run fixture fast.
    if rows:
        store.rows = [{"run_id": store.run_id, **r} for r in rows[:-1]]
        store.add(rows[-1])
    store.finish("complete")
    store.close()  # release the folder lock, as the runner does
    return store.folder


def write_fleet(out_dir: Path, hostile: bool = False) -> list[Path]:
    """Three runs on three machines: an H100 and an RTX 4090 with telemetry, a CPU without.

    The 4090 run uses another torch version and a lower power limit, so the report has differences to flag.
    """
    return [
        write_run(out_dir, "h100", host="dgx-01", seed=1, hostile=hostile),
        write_run(out_dir, "4090", host="workstation", seed=2, torch_version="2.5.1", power_limit_w=400.0),
        write_run(out_dir, "cpu", host="laptop", seed=3, telemetry=False, reps=20),
    ]


def write_many(out_dir: Path, n: int, seed: int = 100) -> list[Path]:
    """A fleet of `n` runs on `n` hosts: mostly H100s, some RTX 4090s, a few CPUs (every fourth a 4090,
    every tenth a CPU), each with telemetry and its own small speed spread; for fleet tests and timing."""
    folders = []
    for i in range(n):
        device = "cpu" if i % 10 == 9 else ("4090" if i % 4 == 3 else "h100")
        speed = 1.0 + 0.04 * math.sin(i * 1.7)  # a deterministic spread of a few percent
        folders.append(
            write_run(
                out_dir, device, host=f"node-{i:03d}", seed=seed + i, speed=speed, telemetry=device != "cpu", reps=20
            )
        )
    return folders
