"""Benchmark registry. Each module registers a factory `(case, device) -> Workload`.

A benchmark declares its parameters (type, allowed values, default) so suites are validated before
anything runs, and a `version` bumped whenever its method changes (stored on every row). What its rows
carry beyond the common columns, which datasheet figure its throughput compares with and how the advisor
names its workload is its `Declares` (gpubench.schema) on its line in BENCHMARKS: torch-free, so store,
specs, advisor and report read it without importing the benchmark (see gpubench.schema for why).

This module never imports torch; `load_all()` imports the benchmark modules, which do.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gpubench.records import Case, ParamValue, Workload
from gpubench.schema import NO_DECLARATION, Column, Declares


def _c(*spec: tuple[str, str, str]) -> tuple[Column, ...]:
    return tuple(Column(*s) for s in spec)


_MODEL_COLUMNS = _c(
    ("model", "str", "network name"),
    ("precision", "str", "fp32, tf32, amp_fp16, amp_bf16, fp16, bf16, int8"),
    ("batch", "int", "samples (sequences) per step"),
    ("compile", "bool", "torch.compile used"),
    ("seq", "int", "sequence length"),
    ("vocab", "int", "vocabulary size"),
    ("layers", "int", "layers"),
    ("width", "int", "model width"),
    ("params_count", "int", "trainable parameters"),
    ("channels_last", "bool", "NHWC memory format"),
)

# One line per benchmark: the module that registers it (imported lazily: it imports torch) and its declaration.
BENCHMARKS: dict[str, tuple[str, Declares]] = {
    "matmul": (
        "gpubench.benchmarks.matmul",
        Declares(
            _c(
                ("dtype", "str", "precision"),
                ("m", "int", "rows of A"),
                ("n", "int", "columns of B"),
                ("k", "int", "inner dimension"),
                ("fp8_format", "str", "torch fp8 dtype used"),
            ),
            peak="peak.{dtype}",
            workload="matmul/{dtype}",
        ),
    ),
    "memory": (
        "gpubench.benchmarks.memory",
        Declares(
            _c(
                ("kind", "str", "d2d, h2d or d2h"),
                ("size_bytes", "int", "bytes per buffer"),
                ("pinned", "bool", "page-locked host buffer"),
                ("method", "str", "how the copy is done"),
            ),
            peak="memory_bandwidth_gbps",
            peak_when={"kind": "d2d"},
            workload="memory/d2d",
            workload_when={"kind": "d2d"},
        ),
    ),
    "train": ("gpubench.benchmarks.models", Declares(_MODEL_COLUMNS, workload="{model}/{precision}")),
    "infer": ("gpubench.benchmarks.models", Declares(_MODEL_COLUMNS, workload="{model}/{precision}/infer")),
    "max_batch": (
        "gpubench.benchmarks.models",
        Declares(
            _MODEL_COLUMNS
            + _c(
                ("max_batch", "int", "largest batch that fit"),
                ("max_batch_capped", "bool", "the search stopped at its limit"),
            )
        ),
    ),
    "collective": (
        "gpubench.benchmarks.collective",
        Declares(
            _c(
                ("op", "str", "collective"),
                ("size_bytes", "int", "message bytes (nccl-tests' size)"),
                ("dtype", "str", "element type"),
                ("msg_bytes", "int", "bytes actually moved"),
                ("busbw_factor", "float", "nccl-tests bus-bandwidth factor"),
                ("dist_backend", "str", "nccl, rccl, gloo"),
            )
        ),
    ),
    "ddp_train": (
        "gpubench.benchmarks.collective",
        Declares(
            _MODEL_COLUMNS
            + _c(
                ("ranks", "int", "ranks that train"),
                ("dp_ranks", "int", "data-parallel ranks"),
                ("global_batch", "int", "batch over all ranks"),
            )
        ),
    ),
    "memory_stride": (
        "gpubench.benchmarks.memory_stride",
        Declares(
            _c(
                ("dtype", "str", "element type"),
                ("access", "str", "stride or gather"),
                ("stride", "int", "elements between two reads"),
                ("size_bytes", "int", "buffer bytes"),
            )
        ),
    ),
    "overlap": (
        "gpubench.benchmarks.overlap",
        Declares(
            _c(
                ("size_bytes", "int", "bytes copied host -> device per step"),
                ("dtype", "str", "GEMM precision"),
                ("m", "int", "square GEMM size"),
            )
        ),
    ),
    "input_pipeline": (
        "gpubench.benchmarks.input_pipeline",
        Declares(
            _c(
                ("source", "str", "device or loader"),
                ("batch", "int", "samples per step"),
                ("samples", "int", "samples per epoch"),
                ("workers", "int", "DataLoader workers"),
                ("pin_memory", "bool", "page-locked batches"),
            )
        ),
    ),
    "pipeline": (
        "gpubench.benchmarks.pipeline",
        Declares(
            _c(
                ("schedule", "str", "single, gpipe or 1f1b"),
                ("microbatches", "int", "micro-batches per step"),
                ("batch", "int", "samples per step"),
                ("layers", "int", "blocks"),
                ("width", "int", "features per block"),
            )
        ),
    ),
    "sustained": (
        "gpubench.benchmarks.sustained",
        Declares(
            _c(
                ("dtype", "str", "GEMM precision"),
                ("m", "int", "square GEMM size"),
                ("bin_s", "float", "width of one bin of the per-second series"),
            )
        ),
    ),
    "llm_prefill": ("gpubench.benchmarks.llm.register", Declares()),
    "llm_decode": ("gpubench.benchmarks.llm.register", Declares()),
    "llm_capacity": ("gpubench.benchmarks.llm.register", Declares()),
    "attention": ("gpubench.benchmarks.llm.register", Declares()),
    "llm_train": ("gpubench.benchmarks.llm.register", Declares()),
}

# Modules that register benchmarks, in order.
BENCHMARK_MODULES = tuple(dict.fromkeys(module for module, _ in BENCHMARKS.values()))


def declaration(name: str) -> Declares:
    """A benchmark's declaration (torch-free); benchmarks without one declare nothing extra."""
    entry = BENCHMARKS.get(name)
    return entry[1] if entry is not None else NO_DECLARATION


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

    @property
    def declares(self) -> Declares:
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
