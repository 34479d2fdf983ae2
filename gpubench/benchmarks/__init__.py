"""Benchmarks: one torch-free spec each (gpubench.benchmarks.catalog lists them), and a torch workload module
beside it whose factory `(case, device) -> Workload` the spec names.

`load_all()` returns every benchmark ready to run (`Benchmark`: the spec's name, version, params, normalize
and its factory, imported lazily: that imports torch). Torch-free code asks the catalogue:
`catalog.spec(name)`, `catalog.all_specs()`, `catalog.workload_of_row(benchmark, params)`.

Deprecated, kept until every caller asks the catalogue: `BENCHMARKS` ({name: (module, Declares)}),
`declaration(name)` and `BENCHMARK_MODULES`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gpubench.benchmarks import catalog
from gpubench.benchmarks.spec import BenchmarkSpec, Headline, Param, WorkloadRef
from gpubench.records import Case, ParamValue, Workload
from gpubench.schema import NO_DECLARATION, Declares

__all__ = [
    "Benchmark",
    "BenchmarkSpec",
    "Headline",
    "Param",
    "WorkloadRef",
    "catalog",
    "declaration",
    "definitions",
    "get",
    "load_all",
    "register",
]


@dataclass(frozen=True)
class Benchmark:
    """A benchmark ready to run: what the suite and the runner need (its spec's fields and the factory).

    Built from a spec by `load_all`; tests build ad-hoc ones directly (then `spec` is None)."""

    name: str
    version: int
    factory: Callable[..., Workload]
    params: Mapping[str, Param]
    description: str = ""
    # Fills derived parameters (e.g. matmul n, k default to m); returns the full ordered mapping.
    normalize: Callable[[dict[str, ParamValue]], dict[str, ParamValue]] | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)
    spec: BenchmarkSpec | None = None

    @classmethod
    def of(cls, spec: BenchmarkSpec) -> Benchmark:
        return cls(
            spec.name,
            spec.version,
            spec.load_factory(),
            spec.params,
            spec.description,
            spec.normalize,
            spec.tags,
            spec,
        )

    def build(self, case: Case, device: Any, ctx: Any = None) -> Workload:
        """The case's workload; benchmarks that need the distributed context get `ctx` (None: a single process)."""
        if self.spec is not None and self.spec.needs_context:
            return self.factory(case, device, ctx)
        return self.factory(case, device)

    @property
    def declares(self) -> Declares:  # deprecated: ask self.spec
        return declaration(self.name)


REGISTRY: dict[str, Benchmark] = {}


def register(
    name: str,
    *,
    version: int,
    params: dict[str, Param],
    description: str = "",
    normalize: Callable[[dict[str, ParamValue]], dict[str, ParamValue]] | None = None,
    tags: tuple[str, ...] = (),
) -> Callable[[Callable[[Case, Any], Workload]], Callable[[Case, Any], Workload]]:
    """Decorator: register an ad-hoc benchmark without a spec (tests' fault injection). Real benchmarks are a
    spec in the catalogue."""

    def deco(factory: Callable[[Case, Any], Workload]) -> Callable[[Case, Any], Workload]:
        if name in REGISTRY and REGISTRY[name].factory is not factory:
            raise ValueError(f"benchmark {name!r} registered twice")
        REGISTRY[name] = Benchmark(name, version, factory, params, description, normalize, tags)
        return factory

    return deco


def load_all() -> dict[str, Benchmark]:
    """Every catalogued benchmark with its factory (this imports torch), plus any registered ad hoc."""
    for s in catalog.all_specs():
        if s.name not in REGISTRY:
            REGISTRY[s.name] = Benchmark.of(s)
    return REGISTRY


def definitions() -> dict[str, BenchmarkSpec | Benchmark]:
    """What suites are validated against, without torch: every spec, and benchmarks registered ad hoc."""
    out: dict[str, BenchmarkSpec | Benchmark] = {s.name: s for s in catalog.all_specs()}
    out.update({name: b for name, b in REGISTRY.items() if b.spec is None})
    return out


def get(name: str) -> Benchmark:
    if name not in REGISTRY:
        REGISTRY[name] = Benchmark.of(catalog.spec(name))
    return REGISTRY[name]


# --- deprecated torch-free declarations (ask gpubench.benchmarks.catalog instead) -------------------------


@dataclass(frozen=True)
class _SpecDeclares(Declares):
    """A spec seen through the old `Declares` interface."""

    spec: BenchmarkSpec | None = None

    def peak_figure(self, params: Mapping[str, Any]) -> str | None:
        return self.spec.peak_figure(params) if self.spec is not None else super().peak_figure(params)

    def workload_name(self, params: Mapping[str, Any]) -> str | None:
        if self.spec is None:
            return super().workload_name(params)
        ref = self.spec.identify(params)
        return ref.key if ref is not None else None


def _declares(s: BenchmarkSpec) -> Declares:
    return _SpecDeclares(columns=s.all_columns, peak=s.peak, peak_when=dict(s.peak_when), spec=s)


def declaration(name: str) -> Declares:
    """Deprecated (ask `catalog.spec(name)`): a benchmark's columns, datasheet figure and workload name."""
    entry = __getattr__("BENCHMARKS").get(name) if "BENCHMARKS" not in globals() else globals()["BENCHMARKS"].get(name)
    return entry[1] if entry is not None else NO_DECLARATION


def __getattr__(attr: str) -> Any:
    # BENCHMARKS and BENCHMARK_MODULES are built on first use (the specs import modules of this package).
    if attr == "BENCHMARKS":
        value: Any = {s.name: (s.factory.partition(":")[0], _declares(s)) for s in catalog.all_specs()}
    elif attr == "BENCHMARK_MODULES":
        value = tuple(dict.fromkeys(s.factory.partition(":")[0] for s in catalog.all_specs()))
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")
    globals()[attr] = value
    return value
