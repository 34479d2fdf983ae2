"""Spec of `overlap` (workload: gpubench.benchmarks.overlap): a pinned H2D copy hidden behind a GEMM."""

from __future__ import annotations

from gpubench.benchmarks.spec import BenchmarkSpec, Headline, Param
from gpubench.schema import cols

SPEC = BenchmarkSpec(
    name="overlap",
    version=1,
    factory="gpubench.benchmarks.overlap:overlap",
    description="Pinned H2D copy on its own stream during a GEMM vs the two in series: both times, overlap fraction",
    params={
        "size_bytes": Param(int, minimum=4096, help="bytes copied host -> device per step (pinned)"),
        "dtype": Param(str, default="bf16", choices=("fp32", "tf32", "fp16", "bf16"), help="GEMM precision"),
        "m": Param(int, minimum=16, help="square GEMM size M = N = K"),
    },
    columns=cols(
        ("gemm_flops", "float", "FLOPs of the GEMM of one step"),
        ("copy_bytes", "int", "bytes copied host -> device per step"),
        ("serial_s", "float", "median time of the serial steps (copy, then GEMM)"),
        ("overlapped_s", "float", "median time of the overlapped steps (copy and GEMM at once)"),
        ("overlap_fraction", "float", "1 - overlapped_s / serial_s: share of the serial time hidden"),
        ("serial_steps", "int", "timed serial steps"),
        ("overlapped_steps", "int", "timed overlapped steps"),
    ),
    headline=Headline(metric="overlap_fraction", label="copy/compute overlap", unit="fraction", group_by=("dtype",)),
    section="topics.overlap",
)
