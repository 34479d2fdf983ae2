"""Suites: validated TOML data that expands into Cases plus a timing policy per case."""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpubench import inputs
from gpubench.benchmarks import Benchmark, BenchmarkSpec
from gpubench.errors import SuiteError
from gpubench.records import Case, ParamValue

Definition = Benchmark | BenchmarkSpec
"""What a suite entry is validated against: a spec (torch-free) or a runnable benchmark (same fields)."""

SUITES_DIR = Path(__file__).resolve().parent / "suites"  # shipped inside the package (and the wheel)
MAX_CASES = 100_000  # a grid beyond this is a typo (a range step of 1), not an experiment: refuse it
INT64_MAX = 2**63 - 1  # parameters are stored in int64 Parquet columns


@dataclass(frozen=True)
class Timing:
    """How long to warm up and how many steps to time. Measurement stops once both minimums are reached."""

    warmup_s: float = 0.5  # minimum warm-up time: clocks ramp and autotuners settle during it
    min_warmup: int = 3
    max_warmup_s: float = 30.0  # stop waiting for timings to settle after this long
    min_reps: int = 10
    min_time_s: float = 1.0  # timed step time, summed
    max_reps: int = 100_000
    max_time_s: float = 30.0  # wall time of the measurement phase (resets included)
    # Rounds: the case is measured this many times, interleaved with the other cases of the suite, so that the
    # spread between rounds (load, clocks, heat drifting over the run) is measured, not only the step jitter.
    # The limits above are for the whole case: each round times its share (see `for_round`).
    rounds: int = 1

    FIELDS = ("warmup_s", "min_warmup", "max_warmup_s", "min_reps", "min_time_s", "max_reps", "max_time_s", "rounds")
    INT_FIELDS = ("min_warmup", "min_reps", "max_reps", "rounds")

    def for_round(self, index: int) -> Timing:
        """The timing of round `index` (0-based): 1/rounds of the timed steps and time, at least one step;
        the first round warms up fully (kernels, allocator, autotuning, clocks), the later ones briefly (a new
        workload on a device that is already warm)."""
        r = self.rounds
        if r <= 1:
            return self
        warm = (self.warmup_s, self.max_warmup_s) if index == 0 else (self.warmup_s / r, self.max_warmup_s / r)
        return Timing(
            warmup_s=warm[0],
            min_warmup=self.min_warmup,
            max_warmup_s=warm[1],
            min_reps=max(1, math.ceil(self.min_reps / r)),
            min_time_s=self.min_time_s / r,
            max_reps=max(1, math.ceil(self.max_reps / r)),
            max_time_s=self.max_time_s / r,
            rounds=1,
        )


@dataclass(frozen=True)
class PlannedCase:
    case: Case
    timing: Timing
    label: str = ""


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    path: str
    sha256: str
    cases: tuple[PlannedCase, ...] = field(default_factory=tuple)


def _suite_dirs() -> list[Path]:
    """Where suite names are looked up: the user's ./suites/ first, then the suites shipped in the package."""
    return [Path.cwd() / "suites", SUITES_DIR]


def find_suite(name_or_path: str) -> Path:
    """A path to a .toml file, or the name of a suite in ./suites/ or the package's suites (quick, standard, full,
    training ...)."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        if not p.is_file():
            raise SuiteError(f"suite file {name_or_path!r} not found")
        return p
    for base in _suite_dirs():
        candidate = base / f"{name_or_path}.toml"
        if candidate.is_file():
            return candidate
    raise SuiteError(f"unknown suite {name_or_path!r}; available: {', '.join(available_suites()) or 'none'}")


def available_suites() -> list[str]:
    """Names of the suites `find_suite` can find by name."""
    return sorted({p.stem for base in _suite_dirs() if base.is_dir() for p in base.glob("*.toml")})


def _check_type(where: str, value: Any, typ: type) -> ParamValue:
    if typ is bool:
        if isinstance(value, bool):
            return value
    elif typ is int:
        if isinstance(value, int) and not isinstance(value, bool):
            if abs(value) > INT64_MAX:
                raise SuiteError(f"{where}: {value} does not fit in a 64-bit integer")
            return value
    elif typ is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise SuiteError(f"{where}: expected a finite number, got {value!r}")
            return float(value)
    elif typ is str and isinstance(value, str):
        return value
    raise SuiteError(f"{where}: expected {typ.__name__}, got {value!r}")


def _values(where: str, raw: Any) -> list[Any]:
    """A scalar, a list, or {range = [start, stop, step]} (stop inclusive)."""
    if isinstance(raw, dict):
        if set(raw) != {"range"} or not isinstance(raw["range"], list) or len(raw["range"]) != 3:
            raise SuiteError(f"{where}: a table value must be {{range = [start, stop, step]}}")
        start, stop, step = raw["range"]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, stop, step)) or step <= 0:
            raise SuiteError(f"{where}.range: needs three integers with step > 0")
        values = range(start, stop + 1, step)
        if len(values) > MAX_CASES:  # before a list of 10^8 values fills the memory
            raise SuiteError(f"{where}.range: {len(values):,} values; at most {MAX_CASES:,} cases per suite")
        if not values:
            raise SuiteError(f"{where}.range: start {start} is above stop {stop}: no values")
        return list(values)
    values = raw if isinstance(raw, list) else [raw]
    if not values:
        raise SuiteError(f"{where}: empty list")
    return values


def _timing(where: str, table: Mapping[str, Any], base: Timing) -> Timing:
    updates = {}
    for key in Timing.FIELDS:
        if key in table:
            typ = int if key in Timing.INT_FIELDS else float
            value = _check_type(f"{where}.{key}", table[key], typ)
            if value < 0:
                raise SuiteError(f"{where}.{key}: must be >= 0, got {value}")
            updates[key] = value
    timing = Timing(**{**base.__dict__, **updates})
    # Zero repetitions would record a case as ok with no time at all.
    for key in ("min_reps", "max_reps"):
        if getattr(timing, key) < 1:
            raise SuiteError(f"{where}.{key}: must be >= 1, got {getattr(timing, key)}")
    if timing.max_reps < timing.min_reps:
        raise SuiteError(f"{where}: max_reps {timing.max_reps} is below min_reps {timing.min_reps}")
    if timing.rounds < 1:
        raise SuiteError(f"{where}.rounds: must be >= 1, got {timing.rounds}")
    return timing


def expand_entry(where: str, entry: Mapping[str, Any], bench: Definition) -> list[Case]:
    """Validate one entry's parameters against the benchmark and expand list values (cartesian product)."""
    grid: dict[str, list[ParamValue]] = {}
    for key, raw in entry.items():
        if key in ("benchmark", "label") or key in Timing.FIELDS:
            continue
        if key not in bench.params:
            known = ", ".join(bench.params)
            raise SuiteError(f"{where}.{key}: unknown parameter of {bench.name!r}; known: {known}")
        spec = bench.params[key]
        checked = []
        for i, value in enumerate(_values(f"{where}.{key}", raw)):
            item = f"{where}.{key}" if not isinstance(raw, list) else f"{where}.{key}[{i}]"
            value = _check_type(item, value, spec.type)
            if spec.choices is not None and value not in spec.choices:
                choices = ", ".join(str(c) for c in spec.choices)
                raise SuiteError(f"{item}: {value!r} is not one of {choices}")
            if spec.minimum is not None and value < spec.minimum:
                raise SuiteError(f"{item}: {value!r} is below the minimum {spec.minimum}")
            checked.append(value)
        grid[key] = checked
    for name, spec in bench.params.items():
        if name not in grid:
            if spec.required:
                raise SuiteError(f"{where}: missing required parameter {name!r} of {bench.name!r}")
            grid[name] = [spec.default]
    names = list(bench.params)  # declared order gives stable case ids
    count = math.prod(len(grid[n]) for n in names)
    if count > MAX_CASES:
        raise SuiteError(f"{where}: the grid expands to {count:,} cases; at most {MAX_CASES:,} per suite")
    cases = []
    for combo in itertools.product(*(grid[n] for n in names)):
        params = dict(zip(names, combo, strict=True))
        if bench.normalize is not None:
            # A benchmark's own cross-parameter rules (an LLM context beyond the model's maximum) raise
            # SuiteError; prefix the entry so the message names where it is.
            try:
                params = bench.normalize(params)
            except SuiteError as e:
                raise SuiteError(f"{where}: {e}") from None
        cases.append(Case.of(bench.name, params))
    return cases


def parse_suite(text: str, path: str, registry: Mapping[str, Definition]) -> Suite:
    data = inputs.suite_document(text, path)  # shape, depth and magnitude checked at the input boundary
    unknown = set(data) - {"name", "description", "defaults", "benchmarks"}
    if unknown:
        raise SuiteError(f"{path}: unknown top-level key(s): {', '.join(sorted(unknown))}")
    name = data.get("name", Path(path).stem)
    if not isinstance(name, str):
        raise SuiteError(f"{path}: name: expected a string")
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        raise SuiteError(f"{path}: defaults: expected a table")
    bad = set(defaults) - set(Timing.FIELDS)
    if bad:
        raise SuiteError(f"{path}: defaults.{sorted(bad)[0]}: unknown key; known: {', '.join(Timing.FIELDS)}")
    base = _timing(f"{path}: defaults", defaults, Timing())
    entries = data.get("benchmarks")
    if not isinstance(entries, list) or not entries:
        raise SuiteError(f"{path}: benchmarks: needs at least one [[benchmarks]] entry")
    planned: dict[Case, PlannedCase] = {}
    for i, entry in enumerate(entries):
        where = f"{path}: benchmarks[{i}]"
        if not isinstance(entry, dict):
            raise SuiteError(f"{where}: expected a table")
        bench_name = entry.get("benchmark")
        if bench_name not in registry:
            raise SuiteError(f"{where}.benchmark: {bench_name!r} is not one of {', '.join(sorted(registry))}")
        timing = _timing(where, entry, base)
        label = entry.get("label", "")
        if not isinstance(label, str):
            raise SuiteError(f"{where}.label: expected a string")
        for case in expand_entry(where, entry, registry[bench_name]):
            planned.setdefault(case, PlannedCase(case, timing, label))  # first entry wins on duplicates
        if len(planned) > MAX_CASES:
            raise SuiteError(f"{path}: the suite expands to more than {MAX_CASES:,} cases (at {where})")
    digest = hashlib.sha256(text.encode()).hexdigest()
    return Suite(name, str(data.get("description", "")), path, digest, tuple(planned.values()))


def load_suite(name_or_path: str, registry: Mapping[str, Definition] | None = None) -> Suite:
    """Load and validate a suite; against the benchmark specs (no torch) unless `registry` is given."""
    if registry is None:
        from gpubench.benchmarks import definitions

        registry = definitions()
    path = find_suite(name_or_path)
    text = inputs.read_text(path, inputs.LIMITS.toml_bytes, SuiteError)
    return parse_suite(text, str(path), registry)
