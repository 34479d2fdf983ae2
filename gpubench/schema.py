"""The declared shape of a result row: every column of `measurements.parquet` gpubench writes, its type and
its meaning, in one place; and the type a benchmark declares itself with (`Declares`).

Why declarations are data here and not code in the benchmark files: store, report, specs and advisor must
load results on a laptop without torch, and every benchmark module imports torch. So a benchmark's
declaration (its extra columns, which datasheet figure its throughput compares with for `pct_of_peak`, how
the advisor names its workload) is a torch-free value that sits on the benchmark's registration line in
`gpubench.benchmarks.BENCHMARKS`; the benchmark file's `register()` call picks it up from there, and
everything torch-free reads it through `gpubench.benchmarks.declaration(name)`, which imports no benchmark
module. Standard library only.

Columns a user may rely on are renamed only with a new SCHEMA_VERSION (gpubench.records); adding is free.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

TYPES = ("int", "float", "str", "bool", "list[float]")

# Units carried by column names (STYLE: units in names), longest suffix first.
UNIT_SUFFIXES = (
    ("_bytes", "bytes"),
    ("_gbps", "GB/s"),
    ("_mhz", "MHz"),
    ("_ns", "ns"),
    ("_ms", "ms"),
    ("_s", "s"),
    ("_w", "W"),
    ("_j", "J"),
    ("_c", "°C"),
)


@dataclass(frozen=True)
class Column:
    """One column: its name, type (one of TYPES) and what it means (units in the name: `_s`, `_w`, `_j`)."""

    name: str
    type: str
    meaning: str

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"column {self.name}: type {self.type!r} is not one of {', '.join(TYPES)}")

    @property
    def unit(self) -> str:
        """The unit its name carries (`_s`, `_w`, `_gbps`, `pct_` ...); "" for none."""
        if self.name.startswith("pct_") or self.name == "mfu":
            return "%"
        for suffix, unit in UNIT_SUFFIXES:
            if self.name.endswith(suffix):
                return unit
        return ""


def cols(*spec: tuple[str, str, str]) -> tuple[Column, ...]:
    """Columns from (name, type, meaning) triples."""
    return tuple(Column(*s) for s in spec)


_cols = cols

# The columns the runner writes on every row (timing columns only where the case ran).
ROW_COLUMNS = _cols(
    ("run_id", "str", "the run folder's name: <UTC time>_<host>_<device>"),
    ("case_id", "str", "benchmark[param=value,...]: joins runs from different machines"),
    ("benchmark", "str", "registered benchmark name"),
    ("label", "str", "the suite's label for the case"),
    ("benchmark_version", "int", "the benchmark's method version; comparisons refuse to mix versions"),
    ("params_json", "str", "the case's parameters as sorted JSON (each also has its own column)"),
    ("device_name", "str", "torch's device name"),
    ("device_vendor", "str", "nvidia, amd, intel, apple, google or cpu"),
    ("device_memory_bytes", "int", "device memory torch reports (host RAM for the CPU)"),
    ("device_multiprocessors", "int", "SMs / CUs / subslices: tells catalog entries of one name apart"),
    ("power_limit_w", "float", "enforced power limit read by telemetry"),
    ("started_utc", "str", "when the case started"),
    ("status", "str", "ok, skipped, failed or wrong (the check failed)"),
    ("reason", "str", "why the case was skipped, failed or wrong"),
    ("tf32", "bool", "TF32 allowed for matmuls/convolutions during the case"),
    ("warmup_steps", "int", "steps run before timing"),
    ("warmup_s", "float", "seconds of warm-up"),
    ("steps_per_sample", "int", "back-to-back steps in one timed sample (short steps are grouped)"),
    ("times_s", "list[float]", "raw time per step of every sample, seconds"),
    ("n_reps", "int", "number of timed samples"),
    ("rounds_n", "int", "rounds the case was measured in (interleaved with the suite's other cases)"),
    (
        "round_sizes",
        "list[float]",
        "timed samples of each round, in order: times_s holds them one after another",
    ),
    ("round_medians_s", "list[float]", "median step time of each round"),
    ("round_cov", "float", "between-round spread: coefficient of variation of the round medians"),
    ("round_start_ns", "list[float]", "each round's timed window start (time.monotonic_ns)"),
    ("round_end_ns", "list[float]", "each round's timed window end"),
    ("median_s", "float", "median step time"),
    ("p10_s", "float", "10th percentile step time"),
    ("p90_s", "float", "90th percentile step time"),
    ("p99_s", "float", "99th percentile step time"),
    ("mean_s", "float", "mean step time"),
    ("min_s", "float", "fastest step"),
    ("std_s", "float", "standard deviation of step times"),
    ("cov", "float", "coefficient of variation of step times"),
    ("iqr_s", "float", "interquartile range of step times"),
    ("noisy", "bool", "IQR / median above 10%"),
    ("work_per_step", "float", "work one step does, in work_unit"),
    ("work_unit", "str", "flop, op, byte, byte_rw, sample or token"),
    ("throughput", "float", "work / median time, in throughput_unit"),
    ("throughput_unit", "str", "TFLOP/s, TOP/s, GB/s, GB/s (read+write), samples/s, tokens/s"),
    ("throughput_p10", "float", "throughput at the p90 step time"),
    ("throughput_p90", "float", "throughput at the p10 step time"),
    ("start_ns", "int", "time.monotonic_ns() when timing started (joins telemetry samples)"),
    ("end_ns", "int", "time.monotonic_ns() when timing ended"),
    ("flops_per_step", "float", "model FLOPs of one step, where known"),
    ("tflops", "float", "flops_per_step / median time / 1e12"),
    ("peak_memory_bytes", "int", "most device memory the case held (RSS growth on the CPU)"),
    ("check_error", "float", "the correctness check's error measure"),
    ("check_tolerance", "float", "the largest error the check accepts"),
    ("check_detail", "str", "what the check compared"),
    ("pct_of_peak", "float", "throughput as % of the datasheet figure the benchmark declares"),
    ("mfu", "float", "model FLOPs utilisation: tflops as % of the precision's datasheet peak"),
    ("energy_per_work", "float", "J per unit of work (from avg_power_w)"),
    ("energy_per_work_unit", "str", "J/TFLOP, J/GB, J/sample ..."),
    ("throughput_per_watt", "float", "throughput / avg_power_w"),
    ("throughput_per_watt_unit", "str", "throughput_unit per W"),
    ("telemetry_samples", "int", "telemetry samples inside the case's timed window"),
    # distributed runs (rank rows and merged rows)
    ("world_size", "int", "ranks of the distributed run"),
    ("rank", "int", "this rank (rank rows only)"),
)  # telemetry aggregates (energy_j, avg_power_w, peak_temp_c ...) are declared in telemetry.aggregate


@dataclass(frozen=True)
class Declares:
    """What a benchmark declares about its rows, as data (format strings over the case's parameters).

    columns: the extra columns its rows carry (parameters and Workload.info keys).
    peak: the datasheet figure throughput compares with: "peak.{dtype}" (a precision peak, TFLOP/s or TOP/s)
        or "memory_bandwidth_gbps" (GB/s counting read + write); None: no pct_of_peak.
    peak_when / workload_when: only rows whose parameters have these values get a figure / a workload.
    workload: the advisor's name for the workload a row measures, e.g. "matmul/{dtype}" or
        "{model}/{precision}"; None: the advisor leaves its rows out (many-GPU or search benchmarks).
    """

    columns: tuple[Column, ...] = ()
    peak: str | None = None
    peak_when: Mapping[str, Any] = field(default_factory=dict)
    workload: str | None = None
    workload_when: Mapping[str, Any] = field(default_factory=dict)

    @staticmethod
    def _fill(template: str | None, when: Mapping[str, Any], params: Mapping[str, Any]) -> str | None:
        if template is None or any(params.get(k) != v for k, v in when.items()):
            return None
        try:
            text = template.format_map({k: v for k, v in params.items() if v is not None and v == v})
        except (KeyError, ValueError):
            return None  # a parameter the template needs is missing from this row
        return text or None

    def peak_figure(self, params: Mapping[str, Any]) -> str | None:
        """The datasheet figure ("peak.bf16", "memory_bandwidth_gbps") this row's throughput compares with."""
        return self._fill(self.peak, self.peak_when, params)

    def workload_name(self, params: Mapping[str, Any]) -> str | None:
        return self._fill(self.workload, self.workload_when, params)


NO_DECLARATION = Declares()


def columns_of_type(kind: str, declarations: Mapping[str, Declares]) -> frozenset[str]:
    """Names of every column of type `kind` in the row schema and the given benchmark declarations."""
    cols = [c for c in ROW_COLUMNS if c.type == kind]
    cols += [c for d in declarations.values() for c in d.columns if c.type == kind]
    return frozenset(c.name for c in cols)
