"""Benchmark registry. Each module registers a factory `(case, device) -> Workload`.

A benchmark declares its parameters (type, allowed values, default) so suites are validated before
anything runs, and a `version` bumped whenever its method changes (stored on every row).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gpubench.records import Case, ParamValue, Workload

# Modules that register benchmarks; imported lazily (they import torch).
BENCHMARK_MODULES = (
    "gpubench.benchmarks.matmul",
    "gpubench.benchmarks.memory",
    "gpubench.benchmarks.models",
    "gpubench.benchmarks.collective",
    "gpubench.benchmarks.memory_stride",
    "gpubench.benchmarks.overlap",
    "gpubench.benchmarks.input_pipeline",
    "gpubench.benchmarks.pipeline",
    "gpubench.benchmarks.sustained",
    "gpubench.benchmarks.llm.register",
)


@dataclass(frozen=True)
class Param:
    """A benchmark parameter: its type, allowed values, default and a one-line description."""

    type: type
    default: ParamValue | None = None
    choices: tuple[ParamValue, ...] | None = None
    minimum: float | None = None
    help: str = ""

    @property
    def required(self) -> bool:
        return self.default is None


@dataclass(frozen=True)
class Benchmark:
    name: str
    version: int
    factory: Callable[[Case, Any], Workload]
    params: dict[str, Param]
    description: str = ""
    # Fills derived parameters (e.g. matmul n, k default to m); returns the full ordered mapping.
    normalize: Callable[[dict[str, ParamValue]], dict[str, ParamValue]] | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)


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
    """Decorator: register `factory(case, device) -> Workload` under `name`."""

    def deco(factory: Callable[[Case, Any], Workload]) -> Callable[[Case, Any], Workload]:
        if name in REGISTRY and REGISTRY[name].factory is not factory:
            raise ValueError(f"benchmark {name!r} registered twice")
        REGISTRY[name] = Benchmark(name, version, factory, params, description, normalize, tags)
        return factory

    return deco


def load_all() -> dict[str, Benchmark]:
    """Import every benchmark module (this imports torch) and return the registry."""
    for module in BENCHMARK_MODULES:
        importlib.import_module(module)
    return REGISTRY


def get(name: str) -> Benchmark:
    load_all()
    return REGISTRY[name]
