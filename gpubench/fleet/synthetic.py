"""Synthetic fleets for tests and scale figures: SHARED_DIR layouts with a manifest and a run folder per GPU,
written through the store's own writer (`RunStore`), shaped like the `fleet` suite's results. Torch-free.

    write_fleet(Path("/tmp/f"), nodes=125, gpus_per_node=8, slow={("node-7", 3): 0.8})
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gpubench.fleet.manifest import NODE_RUN, Manifest, gpu_dir, write_manifest
from gpubench.records import Case


@dataclass(frozen=True)
class SynthCase:
    benchmark: str
    params: dict[str, Any]
    work_per_step: float
    work_unit: str
    throughput: float  # in `unit`, for a GPU at speed 1.0
    unit: str
    divisor: float


H100_CASES = (
    SynthCase(
        "matmul", {"dtype": "bf16", "m": 8192, "n": 8192, "k": 8192}, 2 * 8192**3, "flop", 760.0, "TFLOP/s", 1e12
    ),
    SynthCase(
        "matmul", {"dtype": "bf16", "m": 4096, "n": 4096, "k": 4096}, 2 * 4096**3, "flop", 690.0, "TFLOP/s", 1e12
    ),
    SynthCase("matmul", {"dtype": "fp32", "m": 8192, "n": 8192, "k": 8192}, 2 * 8192**3, "flop", 51.0, "TFLOP/s", 1e12),
    SynthCase("memory", {"kind": "d2d", "size_bytes": 1 << 30}, 2 * (1 << 30), "byte", 2900.0, "GB/s", 1e9),
    SynthCase("memory", {"kind": "h2d", "size_bytes": 1 << 28, "pinned": True}, 1 << 28, "byte", 52.0, "GB/s", 1e9),
    SynthCase("sustained", {"dtype": "bf16", "m": 8192}, 2 * 8192**3, "flop", 700.0, "TFLOP/s", 1e12),
)
COLLECTIVE = SynthCase(
    "collective", {"op": "all_reduce", "size_bytes": 1 << 28, "dtype": "bf16"}, 1 << 28, "byte", 330.0, "GB/s", 1e9
)


def _rows(case: SynthCase, speed: float, rng: np.random.Generator, rounds: int, reps: int, noise: float) -> list[dict]:
    """One raw row per round, as the runner stores them (schema 3): the round's step times and timed window,
    the work per step; the statistics and throughput are derived when the run loads, as for a real run."""
    c = Case.of(case.benchmark, case.params)
    median_s = case.work_per_step / (case.throughput * speed * case.divisor)
    sizes = [reps // rounds + (i < reps % rounds) for i in range(rounds)]
    rows, start_ns = [], 1_000_000_000_000
    for r, size in enumerate(sizes):
        level = median_s * math.exp(rng.normal(0.0, noise))  # each round its own level: the between-round spread
        times = [float(t) for t in level * np.exp(rng.normal(0.0, noise / 2, size))]
        end_ns = start_ns + int(sum(times) * 1e9)
        rows.append(
            {
                "case_id": c.id,
                "round": r,
                "benchmark": case.benchmark,
                **c.as_dict(),
                "status": "ok",
                "reason": "",
                "times_s": times,
                "start_ns": start_ns,
                "end_ns": end_ns,
                "steps_per_sample": 1,
                "min_reps_reached": True,
                "work_per_step": case.work_per_step,
                "work_unit": case.work_unit,
                "benchmark_version": 1,
            }
        )
        start_ns = end_ns + 1_000_000
    return rows


def write_run(
    out_dir: Path,
    node: str,
    gpu: int | None,
    *,
    speed: float = 1.0,
    facts: Mapping[str, Any] | None = None,
    statuses: Mapping[str, str] | None = None,
    world_size: int = 1,
    device_name: str = "NVIDIA H100 80GB HBM3",
    rounds: int = 3,
    reps: int = 12,
    noise: float = 0.01,
    seed: int = 0,
) -> Path:
    """One run folder under `out_dir`, as `gpubench run fleet` on GPU `gpu` of `node` would write it (`gpu`
    None and `world_size` > 1: the node's all_reduce run). `speed` scales every throughput; `statuses` sets the
    status of a benchmark's rows; `facts` go into the telemetry record."""
    from gpubench.store import RunStore

    rng = np.random.default_rng(seed)
    index = gpu if gpu is not None else 0
    tel = {"reader": "nvml", "reason": None, "power_limit_w": 700.0, "serial": f"1650{seed % 10**7:07d}{index:02d}"}
    tel.update(facts or {})
    info: dict[str, Any] = {
        "host": f"{node}.cluster",
        "command": "gpubench run fleet",
        "device": {
            "name": device_name,
            "vendor": "nvidia",
            "index": index,
            "uuid": f"GPU-{seed % 2**32:08x}-{index:04x}-4000-8000-{rng.integers(1 << 47):012x}",
            "memory_bytes": 80 << 30,
        },
        "software": {"gpubench": "0.1.0", "torch": "2.5.1", "cuda": "12.4"},
        "suite": {"name": "fleet", "path": "suites/fleet.toml", "sha256": "0" * 64},
        "telemetry": tel,
    }
    if world_size > 1:
        info["distributed"] = {"world_size": world_size, "n_nodes": 1, "nodes": [node]}
    store = RunStore.create(Path(out_dir), info)
    rows = []
    for case in (COLLECTIVE,) if world_size > 1 else H100_CASES:
        st = (statuses or {}).get(case.benchmark)
        for row in _rows(case, speed, rng, rounds, reps, noise):
            if st:
                row.update(status=st, reason=f"synthetic {st}")
            rows.append(row)
    store.rows = [{"run_id": store.run_id, **r} for r in rows[:-1]]
    store.add(rows[-1])
    store.finish("complete")
    store.close()
    return store.folder


def write_fleet(
    root: Path,
    nodes: int,
    gpus_per_node: int,
    *,
    slow: Mapping[tuple[str, int], float] | None = None,
    skip: tuple[str, ...] = (),
    facts: Mapping[tuple[str, int], dict[str, Any]] | None = None,
    statuses: Mapping[tuple[str, int, str], str] | None = None,
    device_name: str = "NVIDIA H100 80GB HBM3",
    rounds: int = 3,
    reps: int = 12,
    noise: float = 0.01,
    seed: int = 0,
    node_collective: bool = True,
) -> list[Path]:
    """A fleet of `nodes` x `gpus_per_node` run folders under `root` with its fleet.json. `slow` scales the
    speed of (node, gpu); `skip` names node/slot folders never written (a node that did not report); `facts`
    adds run facts to a GPU's telemetry record; `statuses` sets (node, gpu, benchmark) rows' status."""
    slow, facts, statuses = slow or {}, facts or {}, statuses or {}
    names = tuple(f"node-{i:0{len(str(nodes - 1))}d}" for i in range(nodes))
    collective = node_collective and gpus_per_node > 1
    write_manifest(
        root, Manifest("fleet", "local", nodes, gpus_per_node, "cuda", names, collective, "2026-12-06T12:00:00Z")
    )
    folders = []
    for n_i, node in enumerate(names):
        slots = [(gpu_dir(g), g) for g in range(gpus_per_node)] + ([(NODE_RUN, None)] if collective else [])
        for slot, g in slots:
            if f"{node}/{slot}" in skip:
                continue
            key = (node, -1 if g is None else g)
            folders.append(
                write_run(
                    root / node / slot,
                    node,
                    g,
                    speed=slow.get(key, 1.0),
                    facts=facts.get(key),
                    statuses={b: st for (n, i, b), st in statuses.items() if (n, i) == key},
                    world_size=gpus_per_node if g is None else 1,
                    device_name=device_name,
                    rounds=rounds,
                    reps=reps,
                    noise=noise,
                    seed=seed * 1_000_003 + n_i * 100 + key[1] + 1,
                )
            )
    return folders
