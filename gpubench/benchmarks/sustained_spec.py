"""Spec of `sustained` (workload: gpubench.benchmarks.sustained): a GEMM held for the whole timing window."""

from __future__ import annotations

from gpubench.benchmarks.spec import BenchmarkSpec, Headline, Param
from gpubench.schema import cols

DTYPES = ("fp32", "tf32", "fp16", "bf16", "fp8")

SPEC = BenchmarkSpec(
    name="sustained",
    version=1,
    factory="gpubench.benchmarks.sustained:sustained",
    description="A GEMM held for the case's timing window: burst (first seconds) vs sustained (last half) "
    "throughput, power, clocks and temperature per second, first throttle event",
    params={
        "dtype": Param(str, choices=DTYPES, help="GEMM precision (as matmul)"),
        "m": Param(int, minimum=16, help="square GEMM size M = N = K"),
        "burst_s": Param(float, default=5.0, minimum=0.0, help="seconds at the start that count as the burst"),
        "bin_s": Param(float, default=1.0, minimum=0.01, help="width of one bin of the per-second series"),
    },
    columns=cols(
        ("held_gemm", "str", "the GEMM held: M^3"),
        ("fp8_format", "str", "torch fp8 dtype used (fp8 cases)"),
        ("emulated", "bool", "no hardware for this precision: torch ran it in software"),
        ("emulation", "str", "how the precision was emulated"),
        ("burst_throughput", "float", "throughput over the first burst_s seconds, in throughput_unit"),
        ("sustained_throughput", "float", "throughput over the last half of the window, in throughput_unit"),
        ("sustained_over_burst", "float", "sustained_throughput / burst_throughput"),
        ("held_s", "float", "seconds the GEMM was held"),
        ("per_second_throughput", "list[float]", "throughput per bin of bin_s seconds"),
        ("per_second_power_w", "list[float]", "mean power per bin"),
        ("per_second_sm_clock_mhz", "list[float]", "mean SM clock per bin"),
        ("per_second_temp_c", "list[float]", "mean temperature per bin"),
        ("first_throttle_s", "float", "seconds into the window of the first power or thermal throttle"),
        ("throttle_reasons_seen", "str", "throttle reasons seen in the window, comma-separated"),
    ),
    headline=Headline(metric="sustained_throughput", label="sustained matmul {dtype}", group_by=("dtype",)),
    section="topics.sustained",
)
