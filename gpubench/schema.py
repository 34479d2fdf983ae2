"""The declared shape of a result row: the columns every row may carry (written by the runner, stats and the
telemetry aggregates), their type and meaning, in one place. Units are in the names (`Column.unit`).

A benchmark's own columns (its parameters and what its workload adds) are declared on its spec
(gpubench.benchmarks.spec, listed by gpubench.benchmarks.catalog); `catalog.declared_columns()` is the whole
schema, and tests/test_benchmark_specs.py fails when a run writes a column nobody declared. `Declares` is the
older per-benchmark declaration, kept until every caller asks the specs. Standard library only.

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


# The columns the runner writes on every row (timing columns only where the case ran).
ROW_COLUMNS = cols(
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
    ("round", "int", "stored rows only: the round (0-based) a row of measurements.parquet measured"),
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
    ("min_reps_reached", "bool", "every round timed at least the suite's min_reps steps (False: max_time_s cut it)"),
    ("bytes_per_step", "float", "memory traffic one step needs at least (weights, KV cache ...), where known"),
    ("achieved_gbps", "float", "bytes_per_step / median time: the traffic the step sustained"),
    ("pct_of_datasheet_bw", "float", "achieved_gbps as % of the datasheet memory bandwidth"),
    ("copy_bandwidth_gbps", "float", "the run's measured device-copy bandwidth (the memory anchor's largest buffer)"),
    ("pct_of_copy_bw", "float", "achieved_gbps as % of copy_bandwidth_gbps"),
    ("speedup_vs_eager", "float", "the eager twin's (compile = false) median time / this row's"),
    ("energy_above_idle_per_work", "float", "energy_per_work counting only the energy above idle power"),
    # distributed runs (rank rows and merged rows)
    ("world_size", "int", "ranks of the distributed run"),
    ("rank", "int", "this rank (rank rows only)"),
    ("local_rank", "int", "this rank's index on its node (rank rows only)"),
    ("node", "str", "this rank's host (rank rows only)"),
    ("rank_active", "bool", "the rank took part in the case (ranks outside a case's `ranks` sit it out)"),
    ("ranks_active", "int", "ranks that took part in the case"),
    ("dist_backend", "str", "torch.distributed backend: nccl, rccl, gloo"),
    ("nodes", "str", "hosts of the run's ranks, comma-separated"),
    ("n_nodes", "int", "hosts of the run's ranks"),
    ("rank_median_s", "list[float]", "each active rank's median step time"),
    ("slowest_rank", "int", "the rank with the longest median step time (it sets the pace)"),
    ("rank_spread", "float", "slowest / fastest rank median - 1"),
    ("telemetry_devices", "int", "devices whose telemetry the merged row sums"),
    ("speedup", "float", "throughput / the 1-rank case's of the same configuration"),
    ("scaling_efficiency", "float", "speedup / ranks: 1.0 is linear scaling"),
)

# What gpubench.telemetry.aggregate.case_aggregates adds to a row (its AGGREGATE_COLUMNS, typed here).
TELEMETRY_COLUMNS = cols(
    ("energy_j", "float", "energy over the timed window (counter where the device has one, else integrated)"),
    ("energy_source", "str", "counter, integrated or '' (no energy)"),
    ("energy_counter_j", "float", "energy from the hardware counter"),
    ("energy_integrated_j", "float", "energy from integrated power samples"),
    ("energy_above_idle_j", "float", "energy_j minus idle power x duration"),
    ("avg_power_w", "float", "mean power over the timed window"),
    ("peak_power_w", "float", "highest power sample"),
    ("peak_temp_c", "float", "highest temperature sample"),
    ("mean_sm_clock_mhz", "float", "mean SM / graphics clock"),
    ("mean_mem_clock_mhz", "float", "mean memory clock"),
    ("mean_util_pct", "float", "mean utilisation"),
    ("throttle_reasons", "str", "throttle reasons seen, comma-separated"),
    ("throttled_pct", "float", "% of samples with a power or thermal throttle"),
    ("throttled", "bool", "a power or thermal throttle was seen"),
    ("telemetry_samples", "int", "telemetry samples inside the case's timed window"),
)


@dataclass(frozen=True)
class Declares:
    """Deprecated (ask gpubench.benchmarks.catalog): what a benchmark declares about its rows, as data (format
    strings over the case's parameters); `gpubench.benchmarks.declaration(name)` builds one from the spec.

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
    found = [c for c in ROW_COLUMNS + TELEMETRY_COLUMNS if c.type == kind]
    found += [c for d in declarations.values() for c in d.columns if c.type == kind]
    return frozenset(c.name for c in found)
