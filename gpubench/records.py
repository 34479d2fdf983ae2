"""Frozen value types shared by every layer. Standard library only."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 3
"""Version of the run-folder format (run.json + parquet columns). Bump when a documented column changes.
2: cases are measured in rounds (`rounds_n`, `round_sizes` split `times_s` into rounds; `round_cov`).
3: measurements.parquet holds raw rounds (a row per case and round); every statistic derives on load (derive.py)."""

MIN_READABLE_SCHEMA = 1
"""The oldest run-folder format this version still reads (a schema-1 row is one round)."""

ParamValue = int | float | str | bool


def _fmt(value: ParamValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True)
class Case:
    """One benchmark with one set of parameters. Hashable; `id` joins runs from different machines."""

    benchmark: str
    params: tuple[tuple[str, ParamValue], ...] = ()

    @classmethod
    def of(cls, benchmark: str, params: Mapping[str, ParamValue] | None = None) -> Case:
        return cls(benchmark, tuple((params or {}).items()))

    @property
    def id(self) -> str:
        inner = ",".join(f"{k}={_fmt(v)}" for k, v in self.params)
        return f"{self.benchmark}[{inner}]"

    def param(self, name: str, default: Any = None) -> Any:
        for key, value in self.params:
            if key == name:
                return value
        return default

    def as_dict(self) -> dict[str, ParamValue]:
        return dict(self.params)

    def __str__(self) -> str:
        return self.id


# Work units and how throughput is shown for each: (divisor, throughput unit).
WORK_UNITS: dict[str, tuple[float, str]] = {
    "flop": (1e12, "TFLOP/s"),
    "op": (1e12, "TOP/s"),  # integer multiply-adds (int8), counted like FLOPs: 2*M*N*K
    "byte": (1e9, "GB/s"),  # bytes transferred once (host <-> device links)
    "byte_rw": (1e9, "GB/s (read+write)"),  # device copies: bytes read + bytes written
    "sample": (1.0, "samples/s"),
    "token": (1.0, "tokens/s"),
}


@dataclass(frozen=True)
class Work:
    """What one step does. `amount` in `unit` (one of WORK_UNITS); `flops` and `bytes` (memory traffic the step
    needs at least, e.g. weights + KV cache read by an LLM step) are set when also known."""

    amount: float
    unit: str
    flops: float | None = None
    bytes: float | None = None

    def __post_init__(self) -> None:
        if self.unit not in WORK_UNITS:
            raise ValueError(f"unknown work unit {self.unit!r}; expected one of {', '.join(WORK_UNITS)}")
        if not (self.amount > 0 and math.isfinite(self.amount)):
            raise ValueError(f"work amount must be positive and finite, got {self.amount}")

    @property
    def throughput_unit(self) -> str:
        return WORK_UNITS[self.unit][1]

    def throughput(self, seconds: float) -> float:
        """Work per second in display units (TFLOP/s, GB/s, samples/s ...)."""
        return self.amount / seconds / WORK_UNITS[self.unit][0]


@dataclass(frozen=True)
class CheckResult:
    """Outcome of a workload's `check()`: an error measure and the tolerance it must stay under."""

    error: float
    tolerance: float
    detail: str = ""

    @property
    def ok(self) -> bool:
        return math.isfinite(self.error) and self.error <= self.tolerance


@dataclass
class Workload:
    """What a benchmark factory returns. The runner times `step`; the benchmark never times itself.

    - `step()`: one unit of work (one GEMM, one copy, one optimizer step on a fixed batch).
    - `work`: what one step does.
    - `check()`: verifies results after timing; a device that computes wrong answers fast is `wrong`.
    - `reset()`: runs between timed steps, outside the timed region (e.g. flush L2).
    - `flags`: precision flags the runner applies around warm-up, timing and check (e.g. allow_tf32),
      so nothing is inherited from global state; recorded on the row.
    - `info`: extra columns for the row (model FLOPs, parameter count, peak memory ...).
    - `close()`: frees what the workload holds.
    - `summarize(times_s, telemetry, start_ns, end_ns)`: extra row columns the benchmark derives from the
      runner's raw step times and the telemetry samples of the timed window (a DataFrame, or None without
      telemetry), e.g. burst vs sustained throughput over time. The runner times; this only reads.
    """

    step: Callable[[], Any]
    work: Work
    check: Callable[[], CheckResult] | None = None
    reset: Callable[[], Any] | None = None
    flags: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    close: Callable[[], Any] | None = None
    summarize: Callable[[list[float], Any, int, int], dict[str, Any]] | None = None


@dataclass(frozen=True)
class TelemetrySample:
    """One poll of a reader. `t_ns` is `time.monotonic_ns()`; a metric the device lacks is NaN."""

    t_ns: int
    values: Mapping[str, float]
