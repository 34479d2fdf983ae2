"""Spec of `pipeline` (workload: gpubench.benchmarks.pipeline): pipeline parallelism over the run's ranks."""

from __future__ import annotations

from gpubench.benchmarks.spec import BenchmarkSpec, Headline, Param
from gpubench.records import ParamValue
from gpubench.schema import cols

SCHEDULES = ("single", "gpipe", "1f1b")


def normalize(params: dict[str, ParamValue]) -> dict[str, ParamValue]:
    schedule = params["schedule"]
    return {
        "schedule": schedule,
        "microbatches": int(params.get("microbatches") or 1) if schedule != "single" else 1,
        "batch": int(params["batch"]),
        "layers": int(params["layers"]),
        "width": int(params["width"]),
    }


SPEC = BenchmarkSpec(
    name="pipeline",
    version=1,
    factory="gpubench.benchmarks.pipeline:pipeline",
    description="Pipeline parallelism (torch.distributed.pipelining): GPipe/1F1B over the run's ranks vs one device",
    params={
        "schedule": Param(str, choices=SCHEDULES, help="single (one device), gpipe or 1f1b"),
        "microbatches": Param(int, default=1, minimum=1, help="micro-batches per step (pipelined schedules)"),
        "batch": Param(int, minimum=1, help="samples per step (split into micro-batches)"),
        "layers": Param(int, minimum=2, help="Linear+GELU blocks before the head"),
        "width": Param(int, minimum=1, help="features per block"),
    },
    normalize=normalize,
    tags=("distributed", "training"),
    columns=cols(
        ("stages", "int", "pipeline stages (ranks)"),
        ("params_count", "int", "parameters of the whole model"),
        ("bubble_theory", "float", "idle share of a stage the schedule predicts"),
        ("dp_ranks", "int", "ranks that take part"),
    ),
    headline=Headline(label="pipeline {schedule}", group_by=("schedule", "microbatches")),
    needs_context=True,
    section="topics.pipeline",
)
