"""What a benchmark is, as torch-free data: its `BenchmarkSpec`.

A spec owns everything anyone needs to know about a benchmark's results without running it: its parameters
(one declaration that validates suites and types the columns), the extra columns its workload adds, its
headline (which column, which direction is better, which rows compete), its workload identity (which
workload a row measures, whether the row's sizes ARE that workload's, and the cost of one item at the row's
shape), the datasheet figure its throughput compares with, the roles it plays for the performance model,
and the columns it derives from raw measured values. Its torch workload (the factory) lives in a sibling
module and is imported only when a case runs (`BenchmarkSpec.load_factory`).

Standard library only: store, report, model and advisor read specs on machines without torch.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gpubench.records import ParamValue
from gpubench.schema import Column

TYPE_NAMES: dict[type, str] = {int: "int", float: "float", str: "str", bool: "bool"}

FAMILIES = (
    "matmul",
    "memory",
    "training",
    "inference",
    "attention",
    "llm_decode",
    "llm_prefill",
    "llm_lora",
    "llm_finetune",
    "llm_capacity",
)
"""Workload families (the performance model validates per family)."""

ITEMS = ("sample", "token", "flop", "byte")
"""What one item of a workload is: throughput counts items per second."""

ROLES = ("compute_anchor", "memory_anchor")
"""Roles a spec may play for the performance model: the matmul spec's rows anchor the compute roofline (per
precision), the memory spec's device-copy rows the bandwidth roofline."""


@dataclass(frozen=True)
class Param:
    """A benchmark parameter: its type, allowed values, default and a one-line description.

    The same declaration validates suite files (gpubench.suite) and types the parameter's column."""

    type: type
    default: ParamValue | None = None
    choices: tuple[ParamValue, ...] | None = None
    minimum: float | None = None
    help: str = ""

    @property
    def required(self) -> bool:
        return self.default is None

    def column(self, name: str) -> Column:
        return Column(name, TYPE_NAMES[self.type], self.help or name)

    def coerce(self, value: Any) -> ParamValue | None:
        """`value` (from a row: numpy scalar, text, NaN) as this parameter's type; None when missing or not one."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        try:
            if self.type is bool:
                if isinstance(value, str):
                    low = value.strip().lower()
                    return True if low in ("true", "1") else False if low in ("false", "0") else None
                return bool(value)
            if self.type is int:
                return int(float(value)) if not isinstance(value, bool) else int(value)
            if self.type is float:
                return float(value)
            text = str(value).strip()
            return text or None
        except (TypeError, ValueError):
            return None


@dataclass(frozen=True)
class Headline:
    """The one figure a report shows for a benchmark, generically.

    metric: the column; unit: a fixed unit, else the row's `unit_column`; better: "higher" or "lower".
    group_by: parameters that make separate headlines (one per dtype, per model and precision ...); rows of
    different workloads (a toy gpt2 and GPT-2 small) never share a group. pick: "best" (the best row of the
    group by `better`). where: only rows whose parameters have these values (memory: none; all kinds).
    label: format string over the group's parameters and `{workload}` (the workload's label)."""

    metric: str = "throughput"
    label: str = "{benchmark}"
    better: str = "higher"
    group_by: tuple[str, ...] = ()
    pick: str = "best"
    unit: str = ""
    unit_column: str = "throughput_unit"
    where: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.better not in ("higher", "lower"):
            raise ValueError(f"headline better={self.better!r}: 'higher' or 'lower'")

    @property
    def selection(self) -> str:
        """In words: "best per dtype"."""
        return f"{self.pick} per {', '.join(self.group_by)}" if self.group_by else self.pick

    def is_better(self, a: float, b: float) -> bool:
        """Whether value `a` beats `b`."""
        return a > b if self.better == "higher" else a < b


Word = tuple[str, tuple[tuple[str, Any], ...]]
"""One part of a workload's label: a message key (under `label.` in the report's catalogues) and its fields."""


def word(key: str, **fields: Any) -> Word:
    """A label part: `word("layers", n=2)` is "2 layers" in English, "2 réteg" in Hungarian. A field named
    `params` is a parameter count (written "0.14 M")."""
    return key, tuple(fields.items())


@dataclass(frozen=True)
class WorkloadRef:
    """The workload a result row measures, and what one item of it costs at the row's shape.

    key: the name the model, advisor and report join on ("matmul/bf16", "resnet50/amp_bf16",
        "llm_decode/llama-3.1-8b/bf16"); a resized or toy shape has its own key
        ("gpt2[layers=2,width=128]/fp32"), so it never joins estimates or published figures of the full model.
    base: the key of the full-size workload this is a shape of (== key for the real thing).
    reference: True only when the row's sizes are the workload's defining sizes.
    label: for people, in English ("ResNet-50", "gpt2 · 2 layers · width 128 · 0.14 M params"); words: the same
        label as message keys and their fields (`word("layers", n=2)`), so a report writes it in its own
        language (`label.<key>` in gpubench/report/messages/*.toml, parts joined by " · "); empty: the label
        is a name (ResNet-50), the same in every language.
    family: one of FAMILIES. precision: the benchmark's own precision name (gpubench.precisions);
    peak_key: the datasheet peak that bounds its matrix math.
    item: what throughput counts (ITEMS); items_per_step: items one step of this row does, where known.
    flops_per_item / bytes_per_item: model FLOPs and bytes touched per item at this shape (None: unknown);
    bytes are the weights (read once per step, shared by the batch) plus, for LLM serving, the KV cache.
    params_count: the parameters of the network at this shape (None: no network)."""

    key: str
    base: str
    reference: bool
    label: str
    family: str
    precision: str
    item: str
    flops_per_item: float | None = None
    bytes_per_item: float | None = None
    params_count: float | None = None
    peak_key: str | None = None
    items_per_step: float | None = None
    benchmark: str = ""
    words: tuple[Word, ...] = ()

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"workload {self.key}: family {self.family!r} is not one of {', '.join(FAMILIES)}")
        if self.item not in ITEMS:
            raise ValueError(f"workload {self.key}: item {self.item!r} is not one of {', '.join(ITEMS)}")


def shape_key(name: str, changed: Mapping[str, Any]) -> str:
    """`gpt2[layers=2,width=128]`: a model name with the defining sizes that differ from its own."""
    if not changed:
        return name
    return f"{name}[{','.join(f'{k}={v}' for k, v in changed.items())}]"


def millions(count: float) -> str:
    """0.14 M, 124 M, 8030 M: a parameter count for a label."""
    m = count / 1e6
    return f"{m:.2g} M" if m < 10 else f"{m:,.0f} M"


Derive = Callable[[Mapping[str, Any], Mapping[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class BenchmarkSpec:
    """One benchmark, torch-free. See the module docstring; `gpubench.benchmarks.catalog` lists them.

    factory: "module:function" of the torch workload, imported on first use.
    normalize: fills derived parameters and checks cross-parameter rules (raises SuiteError); returns the
        full ordered mapping that makes the case id.
    columns: the columns its workload (Workload.info, summarize) and `derive` may add, beyond its parameters.
    workload: params -> WorkloadRef | None (see `identify`); defines: the parameters that define a workload.
    peak / peak_when: the datasheet figure throughput compares with ("peak.{dtype}" or "memory_bandwidth_gbps")
        and the parameter values it applies to.
    roles: {role: workload key template} (ROLES), e.g. {"memory_anchor": "memory/d2d"}.
    derive: (raw row, run context) -> derived columns; pure. The run context holds figures of the same run
        (`copy_bandwidth_gbps`, `eager_median_s`) that `catalog.run_context` computes.
    section: the report section its rows are drawn in ("matmul", "models", "llm", "collectives" ...), or
        "topics.<topic>" for one topic of the report's Optimisation topics ("topics.stride"); the report asks
        here, so a benchmark that joins a section or topic is its spec and one catalogue line, no report edit.
    messages: the message keys of its section, where it has its own.
    needs_context: the factory takes the distributed context (`factory(case, device, ctx)`)."""

    name: str
    version: int
    factory: str
    params: Mapping[str, Param]
    description: str = ""
    tags: tuple[str, ...] = ()
    normalize: Callable[[dict[str, ParamValue]], dict[str, ParamValue]] | None = None
    columns: tuple[Column, ...] = ()
    headline: Headline = field(default_factory=Headline)
    workload: Callable[[Mapping[str, Any]], WorkloadRef | None] | None = None
    defines: tuple[str, ...] = ()
    peak: str | None = None
    peak_when: Mapping[str, Any] = field(default_factory=dict)
    roles: Mapping[str, str] = field(default_factory=dict)
    derive_fn: Derive | None = None
    section: str | None = None
    messages: tuple[str, ...] = ()
    needs_context: bool = False

    def __post_init__(self) -> None:
        if ":" not in self.factory:
            raise ValueError(f"benchmark {self.name}: factory {self.factory!r} is not 'module:function'")
        for role in self.roles:
            if role not in ROLES:
                raise ValueError(f"benchmark {self.name}: role {role!r} is not one of {', '.join(ROLES)}")
        names = [c.name for c in self.columns]
        if len(names) != len(set(names)) or set(names) & set(self.params):
            raise ValueError(f"benchmark {self.name}: a column is declared twice")

    # --- columns -------------------------------------------------------------------------------------------

    @property
    def param_columns(self) -> tuple[Column, ...]:
        return tuple(p.column(n) for n, p in self.params.items())

    @property
    def all_columns(self) -> tuple[Column, ...]:
        """Its parameters' columns and the columns its workload and derivations add."""
        return self.param_columns + self.columns

    # --- identity ------------------------------------------------------------------------------------------

    def typed(self, params: Mapping[str, Any]) -> dict[str, ParamValue]:
        """A row's parameters as their declared types (rows come as text, numpy scalars or NaN); unknown
        parameters and missing values are left out."""
        out: dict[str, ParamValue] = {}
        for name, p in self.params.items():
            value = p.coerce(params.get(name))
            if value is not None:
                out[name] = value
        return out

    def identify(self, params: Mapping[str, Any]) -> WorkloadRef | None:
        """The workload a row with these parameters measures, or None (the benchmark declares none, or the
        row lacks a parameter that defines it)."""
        if self.workload is None:
            return None
        try:
            return self.workload(self.typed(params))
        except (KeyError, ValueError, TypeError):
            return None

    def peak_figure(self, params: Mapping[str, Any]) -> str | None:
        """The datasheet figure ("peak.bf16", "memory_bandwidth_gbps") this row's throughput compares with."""
        if self.peak is None:
            return None
        typed = self.typed(params)
        if any(typed.get(k) != v for k, v in self.peak_when.items()):
            return None
        try:
            return self.peak.format_map(typed) or None
        except (KeyError, ValueError):
            return None

    # --- derivations ---------------------------------------------------------------------------------------

    def derive(self, raw: Mapping[str, Any], context: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The benchmark's own derived columns from a row's raw measured values (and figures of its run)."""
        if self.derive_fn is None:
            return {}
        return self.derive_fn(raw, context or {})

    # --- the torch side ------------------------------------------------------------------------------------

    def load_factory(self) -> Callable[..., Any]:
        """Import the workload module (torch) and return the factory."""
        module, _, attr = self.factory.partition(":")
        return getattr(importlib.import_module(module), attr)


def number(raw: Mapping[str, Any], key: str) -> float:
    """A row's numeric value, NaN when missing or not a number (pure-Python rows or pandas records)."""
    value = raw.get(key)
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    return out
