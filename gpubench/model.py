"""Performance model: predicts a gpubench workload's throughput on any catalog device, with an interval.

Never imports torch. The public calls (used by the advisor, the report and the CLI):

    estimate("resnet50/amp_bf16", "rtx-4090", runs)                    # -> Estimate(value, low, high, ...)
    estimate("llm_decode/llama-3.1-8b/bf16", "h100-sxm", batch=16, context=4096, gpus=1)
    predictable_workloads()                                            # every name `estimate` accepts
    validation_summary()                                               # out-of-source error per family

How a figure is produced, in order of preference:

1. measured: `runs` (from `gpubench.load_runs`) hold the workload on that device: the best ok row.
2. published: primary sources in `gpubench/data/published/*.csv` report it. The value is the median over the
   sources; the interval spans the sources and, with one source, the cross-source disagreement seen on the
   family (a published figure is not exact: two sources of the same pair differ).
3. estimated, a roofline per step (docs/MODEL.md):
       time = max(FLOPs / achievable compute, bytes / achievable bandwidth) + overhead
   - achievable compute of a precision: the device's published GEMM rate, else its datasheet peak x the
     efficiency (published / peak) of, in order: this device at another precision of the same width, its
     architecture family, its market segment (consumer, workstation, datacenter) within its vendor, its
     vendor, all devices; an efficiency borrowed from other boards is scaled for power headroom (watts per
     peak TFLOP/s relative to the least capped board of the family, to the power 1/2: a power-capped L4, T4
     or H100 PCIe clocks lower than the boards it borrows from);
   - achievable bandwidth: the same chain on published device-copy figures;
   - a model workload (resnet50/amp_bf16, .../infer): FLOPs per item over a fitted fraction of the compute
     ceiling, bytes per item, and a per-item overhead, the three fitted on that workload's published points
     (a sibling precision of the same width when it has none); a model nobody published is compute-bound at
     the median fitted utilisation (unvalidated);
   - an LLM workload (llm_decode / llm_prefill / llm_lora / <preset> / <precision>, with batch, context and
     gpus): FLOPs and bytes of one step from the decoder's shapes (gpubench.llm_sizing), the fraction of the
     datasheet bandwidth (MBU) and of the GEMM ceiling (MFU) a serving engine reaches and a per-step overhead,
     fitted on the published LLM figures; tensor parallelism adds two all-reduces per layer.
4. calibration: where `runs` measured the workload (or its bound) on a catalog device, measured / predicted
   scales the estimates of every device of the same architecture family.

Validation (`validate`) holds out one SOURCE at a time (a GitHub repository, else a web site) and predicts
its figures from the others. Intervals are the held-out error quantiles of the family (10th to 90th
percentile of published / predicted, widened where few points are), so about 80 % of figures from a source
the model has not seen fall inside. `Estimate.warning` says when a family misses its target.
"""

from __future__ import annotations

import csv
import functools
import math
import statistics
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pandas as pd

from gpubench import llm_sizing as LS
from gpubench.benchmarks import catalog as benchmark_catalog
from gpubench.benchmarks.llm import presets as LP
from gpubench.benchmarks.spec import WorkloadRef
from gpubench.errors import GpubenchError
from gpubench.files import tomllib
from gpubench.specs import PRECISIONS, DeviceSpec, load_catalog, match_device, normalize_precision
from gpubench.stats import finite_or_none

FAMILIES = ("matmul", "memory", "training", "inference", "llm_decode", "llm_prefill")
TARGETS = {
    "matmul": 0.12,
    "memory": 0.12,
    "training": 0.20,
    "inference": 0.20,
    "llm_decode": 0.20,
    "llm_prefill": 0.20,
}
"""Median |relative error| on figures of held-out sources each family must reach (issue 21)."""
INSIDE_TARGET = 0.75
"""Share of held-out figures that must fall inside the stated interval."""
COVERAGE = 0.80
"""What the interval claims: this share of figures from an unseen source inside."""

MODEL_PRECISIONS = ("fp32", "tf32", "amp_fp16", "amp_bf16")
INFER_PRECISIONS = ("fp32", "fp16", "bf16", "int8")
LLM_TASKS = ("decode", "prefill", "lora")
LLM_DEFAULTS = {"batch": 1, "context": 1024, "gpus": 1}
# Precisions whose activations are 2 bytes: a fitted bytes-per-item carries between them, not to fp32/tf32.
_HALF = {"amp_fp16", "amp_bf16", "fp16", "bf16", "int8"}
_WIDTH = {"fp16": "16", "bf16": "16", "fp8": "8", "int8": "8", "tf32": "tf32", "fp32": "fp32", "fp64": "fp64"}
_UNVALIDATED_WIDTH = 0.5  # stated assumption for estimates the validation cannot test
_POWER_EXPONENT = 0.5  # achievable clock ~ (power headroom) ** 0.5 between P ~ f and P ~ f^3
_PARAMS = ("dtype", "kind", "model", "precision", "batch", "mode", "preset", "context", "prompt", "output", "layers")
"""Parameter columns every frame gets (published-figure names); each spec's own parameters are added."""
_PUBLISHED_COLUMNS = ("device", "workload", "value", "unit", "conditions", "source", "date")
_ALLREDUCE_LATENCY_S = 10e-6  # one tensor-parallel all-reduce of a decode step (NVLink-class; PCIe is slower)
_LINK_GBPS = 100.0  # achievable all-reduce bus bandwidth per GPU for prefill activations


@dataclass(frozen=True)
class Published:
    """One published figure: a catalog device, a gpubench workload, its value and where it comes from.

    extra: the numeric columns beyond the common ones (batch, input_tokens, output_tokens, gpus for LLM rows;
    watt, price_usd ...)."""

    device: str
    workload: str
    value: float
    unit: str
    conditions: str
    source: str
    date: str
    file: str
    extra: Mapping[str, float] = field(default_factory=dict, hash=False)
    engine: str = ""

    @property
    def group(self) -> str:
        return source_group(self.source)


def source_group(url: str) -> str:
    """The unit validation holds out: a GitHub repository (owner/name), else the web site (host)."""
    parsed = urlparse(url.strip())
    host = parsed.netloc.lower().removeprefix("www.")
    parts = [p for p in parsed.path.split("/") if p]
    if host in ("github.com", "raw.githubusercontent.com", "gitlab.com") and len(parts) >= 2:
        return f"{parts[0].lower()}/{parts[1].lower()}"
    return host or url


@dataclass(frozen=True)
class Estimate:
    """A throughput figure for (workload, device), with its interval and where it comes from.

    basis: "measured" | "published" | "estimated"; source: the run id, the source URL(s), or what the
    estimate was built from; low/high: the interval (equal to value for measured); family: the validation
    family (matmul, memory, training, inference, llm_decode, llm_prefill, llm_lora); warning: set when the
    family misses its validation target or the estimate could not be validated. details: what the estimate
    assumed (for LLM workloads: batch, context, gpus, mbu, mfu, step time).
    """

    workload: str
    device: str
    value: float
    low: float
    high: float
    unit: str
    basis: str
    source: str
    family: str = ""
    warning: str = ""
    calibrated_by: str = ""
    details: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)


# --------------------------------------------------------------------------------------------- data files


def _data_dir() -> Path:
    return Path(str(resources.files("gpubench") / "data"))


def _rows(path: Path) -> Iterable[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        lines = [line for line in fh if not line.lstrip().startswith("#")]
    return csv.DictReader(lines)


@functools.lru_cache(maxsize=4)
def _load_published(directory: str, stamp: tuple[tuple[str, int], ...]) -> tuple[Published, ...]:
    catalog = load_catalog()
    out = []
    for name, _ in stamp:
        path = Path(directory) / name
        for line, row in enumerate(_rows(path), start=2):
            row = {k: v for k, v in row.items() if k is not None}
            missing = [c for c in _PUBLISHED_COLUMNS if not (row.get(c) or "").strip()]
            if missing:
                raise GpubenchError(f"{path}: row {line}: missing {', '.join(missing)}")
            if row["device"] not in catalog:
                raise GpubenchError(f"{path}: row {line}: device {row['device']!r} is not a catalog slug")
            if not row["source"].startswith("https://"):
                raise GpubenchError(f"{path}: row {line}: source must be an https URL")
            value = finite_or_none(row["value"])
            if value is None or value <= 0:
                raise GpubenchError(f"{path}: row {line}: value must be a positive number")
            extra = {
                k: float(v) for k, v in row.items() if k not in _PUBLISHED_COLUMNS and finite_or_none(v) is not None
            }
            out.append(
                Published(
                    row["device"],
                    row["workload"].strip(),
                    value,
                    row["unit"],
                    row["conditions"],
                    row["source"].strip(),
                    row["date"],
                    name,
                    extra,
                    (row.get("engine") or "").strip(),
                )
            )
    return tuple(out)


def load_published(directory: str | Path | None = None) -> list[Published]:
    """Every published figure under `directory` (default: the packaged data/published/), checked."""
    folder = Path(directory) if directory is not None else _data_dir() / "published"
    files = sorted(folder.glob("*.csv"))
    stamp = tuple((f.name, f.stat().st_mtime_ns) for f in files)
    return list(_load_published(str(folder), stamp))


@functools.lru_cache(maxsize=1)
def workload_costs() -> dict[str, dict[str, Any]]:
    """Model FLOPs per item (train and infer), parameters and unit per model, from data/workloads.toml."""
    with open(_data_dir() / "workloads.toml", "rb") as fh:
        return tomllib.load(fh)


def _cloud_files() -> list[Path]:
    data = _data_dir()
    return sorted({*data.glob("cloud_prices*.csv"), *data.glob("prices/cloud*.csv")})


@functools.lru_cache(maxsize=1)
def default_cloud_prices() -> dict[str, dict[str, str | float]]:
    """The shipped, dated cloud table: {slug: {cloud_usd_per_hour, provider, source, date}} (the lowest
    on-demand price where several rows name the same board)."""
    out: dict[str, dict[str, str | float]] = {}
    for path in _cloud_files():
        for row in _rows(path):
            price = finite_or_none(row.get("cloud_usd_per_hour") or row.get("usd_per_hour"))
            slug = (row.get("device") or "").strip()
            if price is None or not slug:
                continue
            if slug not in out or price < float(out[slug]["cloud_usd_per_hour"]):
                out[slug] = {**row, "cloud_usd_per_hour": price}
    return out


# ------------------------------------------------------------------------------------------- workloads


@dataclass(frozen=True)
class WorkloadName:
    name: str
    kind: str  # matmul | memory | model | llm
    precision: str = ""  # catalog precision key that sets the compute ceiling (llm: the weight precision)
    model: str = ""  # network name, or the LLM preset
    mode: str = "train"  # train | infer for models; decode | prefill | lora for LLMs
    run_precision: str = ""  # the precision as the benchmark names it (amp_bf16, tf32, ...)

    @property
    def family(self) -> str:
        if self.kind in ("matmul", "memory"):
            return self.kind
        if self.kind == "llm":
            return f"llm_{self.mode}"
        return "training" if self.mode == "train" else "inference"


def _anchor(role: str) -> str:
    """The workload key template of the spec that plays a roofline role ("matmul/{precision}", "memory/d2d")."""
    found = benchmark_catalog.by_role(role)
    if found is None:
        raise GpubenchError(f"no benchmark declares the {role} role")
    return found[1]


def compute_anchor(precision: str) -> str:
    """The workload whose rows anchor the compute roofline of a precision (the matmul spec's role)."""
    return _anchor("compute_anchor").format(precision=precision, dtype=precision)


def memory_anchor() -> str:
    """The workload whose rows anchor the bandwidth roofline (the memory spec's device copy)."""
    return _anchor("memory_anchor")


def _llm_presets() -> list[str]:
    return [name for name, p in LP.PRESETS.items() if p.published_params]


@functools.lru_cache(maxsize=8192)
def parse_workload(name: str) -> WorkloadName | None:
    """Split "matmul/bf16", "memory/d2d", "resnet50/amp_bf16", "gpt2/bf16/infer",
    "llm_decode/llama-3.1-8b/fp8"; None if not predictable."""
    text = name.strip().lower()
    parts = [p for p in text.split("/") if p]
    for precision in PRECISIONS:
        if text == compute_anchor(precision):
            return WorkloadName(text, "matmul", precision)
    if text == memory_anchor():
        return WorkloadName(text, "memory")
    if len(parts) == 3 and parts[0] in {f"llm_{t}" for t in LLM_TASKS}:
        task = parts[0].removeprefix("llm_")
        if parts[1] in _llm_presets() and parts[2] in LS.WEIGHT_BYTES:
            return WorkloadName("/".join(parts), "llm", parts[2], parts[1], task, parts[2])
        return None
    costs = workload_costs()
    if len(parts) in (2, 3) and parts[0] in costs:
        mode = "infer" if len(parts) == 3 and parts[2] == "infer" else "train"
        if len(parts) == 3 and parts[2] not in ("infer", "train"):
            return None
        allowed = MODEL_PRECISIONS if mode == "train" else INFER_PRECISIONS
        if parts[1] not in allowed:
            return None
        key = normalize_precision(parts[1])
        if key is None:
            return None
        suffix = "/infer" if mode == "infer" else ""
        return WorkloadName(f"{parts[0]}/{parts[1]}{suffix}", "model", key, parts[0], mode, parts[1])
    return None


def predictable_workloads() -> list[str]:
    """Every workload name `estimate` accepts: matmul per precision, memory/d2d, each model x precision, and
    llm_decode / llm_prefill / llm_lora per LLM preset and precision."""
    names = [compute_anchor(p) for p in PRECISIONS] + [memory_anchor()]
    for model in workload_costs():
        names += [f"{model}/{p}" for p in MODEL_PRECISIONS]
        names += [f"{model}/{p}/infer" for p in INFER_PRECISIONS]
    for task in LLM_TASKS:
        for preset in _llm_presets():
            names += [f"llm_{task}/{preset}/{p}" for p in LS.PRECISIONS]
    return names


def closest_workloads(name: str, known: Iterable[str], n: int = 3) -> list[str]:
    """The `n` known names nearest to `name` (for "did you mean")."""
    import difflib

    pool = list(dict.fromkeys(known))
    close = difflib.get_close_matches(name.strip().lower(), pool, n=n, cutoff=0.4)
    if not close:
        head = name.strip().lower().split("/")[0]
        close = [w for w in pool if w.startswith(head + "/")][:n]
    return close


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def _int(value: Any) -> int | None:
    number = finite_or_none(value)
    return None if number is None else int(number)


def workload_of_row(benchmark: Any, params: Mapping[str, Any]) -> str | None:
    """The workload key a result row belongs to, or None: what its benchmark's spec identifies
    (`gpubench.benchmarks.catalog.workload_of_row`: "matmul/bf16", "resnet50/amp_bf16",
    "llm_decode/llama-3.1-8b/bf16"; a resized or toy shape gets its own key, "gpt2[layers=2,width=128]/fp32",
    that no published figure or other device shares). A benchmark that declares no workload has none. Rows
    of benchmarks gpubench does not know (published figures) are named by model, precision and mode."""
    ref = workload_ref(benchmark, params)
    if ref is not None:
        return ref.key
    bench = _text(benchmark)
    spec = benchmark_catalog.find(bench)
    if spec is not None and spec.workload is None:
        return None  # a benchmark that measures no single-device workload
    # A row its spec cannot identify (a network no longer in the zoo, a published figure): by model,
    # precision and mode, as the published CSVs name them.
    model, precision = _text(params.get("model")), _text(params.get("precision"))
    if model and precision:
        mode = (_text(params.get("mode")) or bench or "").lower()
        if mode in ("infer", "inference", "eval"):
            return f"{model}/{precision}/infer"
        if mode in ("train", "training") or not mode:
            return f"{model}/{precision}"
    return None


def workload_ref(benchmark: Any, params: Mapping[str, Any]) -> WorkloadRef | None:
    """The spec's WorkloadRef of a row (its FLOPs and bytes per item at the row's own shape), or None."""
    return benchmark_catalog.workload_of_row(_text(benchmark), {k: _text(v) for k, v in params.items()})


def is_reference(workload: str) -> bool:
    """Whether a workload name is one the model can put on other devices (not a cut or toy shape)."""
    return "[" not in workload and parse_workload(workload) is not None


# ----------------------------------------------------------------------------------------------- core


@dataclass(frozen=True)
class Shape:
    """The size of one LLM step: sequences, tokens in each sequence's cache (decode), prompt (prefill) or
    sequence (lora), and tensor-parallel GPUs."""

    batch: int = 1
    context: int = 1024
    gpus: int = 1
    split: bool = False  # the GPUs hold consecutive layers (llama.cpp's layer split), not tensor-parallel slices
    engine: str = "serving"  # ENGINES: what runs the step
    kv_bytes: float | None = None  # bytes per KV-cache element when not the precision's 16-bit (fp8 KV: 1)


@dataclass(frozen=True)
class _Measured:
    value: float
    run_id: str
    shape: Shape | None = None
    cpu: bool = False


@dataclass
class _Context:
    catalog: Mapping[str, DeviceSpec]
    published: list[Published]
    measured: dict[tuple[str, str], _Measured] = field(default_factory=dict)  # (workload, slug or name)
    cache: dict[Any, Any] = field(default_factory=dict)
    shapes: dict[str, WorkloadRef] = field(default_factory=dict)  # resized / toy workloads the runs measured
    local: dict[Any, Any] = field(default_factory=dict)  # this context's own memo (never shared: see _fit_cache)


_FIT_CACHES: dict[tuple[Any, ...], tuple[Any, dict[Any, Any]]] = {}
_FIT_CACHES_MAX = 32


def _fit_cache(
    catalog: Mapping[str, DeviceSpec], published: list[Published], measured: Mapping[tuple[str, str], _Measured]
) -> dict[Any, Any]:
    """The `_Context.cache` of every context with these catalog entries, these published figures and these
    measured figures of catalog devices (the same objects: kept alive here, so an id is never reused).

    Everything `_cached` stores (points, efficiencies, ceilings, fits, calibrations) is a function of exactly
    these: a measured figure of a device the catalog lacks (a CPU) is read only outside them (`_estimate`'s
    toy-shape path and `_floored`). So the calls of one report (the verdict's workloads, each Value table)
    share their fits instead of refitting them per workload: the same figures, computed once."""
    specs = tuple(catalog.items())
    pub = tuple(published)
    key = (
        tuple((slug, id(spec)) for slug, spec in specs),
        tuple(map(id, pub)),
        frozenset((k, m) for k, m in measured.items() if k[1] in catalog),
    )
    hit = _FIT_CACHES.get(key)
    if hit is None:
        while len(_FIT_CACHES) >= _FIT_CACHES_MAX:
            _FIT_CACHES.pop(next(iter(_FIT_CACHES)))
        hit = _FIT_CACHES[key] = ((specs, pub), {})
    return hit[1]


def _local(ctx: _Context, key: Any, make: Callable[[], Any]) -> Any:
    if key not in ctx.local:
        ctx.local[key] = make()
    return ctx.local[key]


@dataclass(frozen=True)
class _Raw:
    value: float
    basis: str
    source: str
    calibrated_by: str = ""
    validated: bool = True
    details: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)


def _cached(ctx: _Context, key: Any, make: Callable[[], Any]) -> Any:
    if key not in ctx.cache:
        ctx.cache[key] = make()
    return ctx.cache[key]


def _points(ctx: _Context, workload: str) -> dict[str, list[Published]]:
    def make() -> dict[str, list[Published]]:
        out: dict[str, list[Published]] = {}
        for p in ctx.published:
            if p.workload == workload:
                out.setdefault(p.device, []).append(p)
        return out

    return _cached(ctx, ("points", workload), make)


def _median(values: Iterable[float]) -> float:
    return float(statistics.median(list(values)))


def _sources(pts: Iterable[Published]) -> str:
    return "; ".join(sorted({p.source for p in pts}))


# ------------------------------------------------------------------------------------ ceilings (roofline)


def _sheet(spec: DeviceSpec, kind: str, precision: str) -> float | None:
    value = spec.memory_bandwidth_gbps if kind == "memory" else spec.peak(precision)
    return float(value) if value else None


def _power_ratio(spec: DeviceSpec, precision: str) -> float | None:
    """Board watts per datasheet TFLOP/s of a precision (of its 16-bit rate when that one is absent)."""
    tdp = getattr(spec, "tdp_w", None)
    peak = spec.peak(precision) or spec.peak("bf16") or spec.peak("fp16")
    return tdp / peak if tdp and peak else None


def _power_factor(ctx: _Context, spec: DeviceSpec, kind: str, precision: str) -> float:
    """(watts per peak TFLOP/s / the family's median) ** 1/2, at most 1: how far a power-capped board (L4, T4,
    H100 PCIe) falls below the clocks of the typical board of its architecture family. 1 for bandwidth and
    for boards of unknown power."""
    if kind == "memory" or getattr(spec, "segment", "") == "consumer":
        return 1.0  # consumer boards of one family clock alike (they run at or above rated boost)
    mine = _power_ratio(spec, precision)
    if mine is None:
        return 1.0

    def ref() -> float | None:
        peers = [
            r
            for s in ctx.catalog.values()
            if s.family == spec.family and getattr(s, "segment", "") != "consumer" and (r := _power_ratio(s, precision))
        ]
        return _median(peers) if peers else None

    typical = _cached(ctx, ("power_ref", spec.family, precision), ref)
    return min(1.0, mine / typical) ** _POWER_EXPONENT if typical else 1.0


def _efficiency(ctx: _Context, kind: str, precision: str, spec: DeviceSpec) -> tuple[float, str] | None:
    """Achievable / datasheet for `spec`, from the nearest published group (see the module docstring)."""

    def make() -> tuple[float, str] | None:
        pts: list[tuple[DeviceSpec, str, float]] = []  # (device, precision, efficiency)
        for p in ctx.published:
            wl = parse_workload(p.workload)
            if wl is None or wl.kind != kind:
                continue
            dev = ctx.catalog[p.device]
            sheet = _sheet(dev, kind, wl.precision)
            if sheet:
                pts.append((dev, wl.precision, p.value / sheet))
        if not pts:  # no published figure at all (a catalog of the user's own): the runs set it
            for (name, slug), m in ctx.measured.items():
                dev, wl = ctx.catalog.get(slug), parse_workload(name)
                if (
                    dev is not None
                    and wl is not None
                    and wl.kind == kind
                    and (sheet := _sheet(dev, kind, wl.precision))
                ):
                    pts.append((dev, wl.precision, m.value / sheet))
        width = _WIDTH.get(precision, precision)
        same_p = [(d, e) for d, q, e in pts if q == precision]
        same_w = [(d, e) for d, q, e in pts if _WIDTH.get(q, q) == width]
        seg = getattr(spec, "segment", "")
        here = _power_factor(ctx, spec, kind, precision)
        own = [e for d, q, e in pts if d.slug == spec.slug and q != precision and _WIDTH.get(q, q) == width]
        if own:
            return (
                _median(own),
                f"this device at {'/'.join(sorted({q for d, q, _ in pts if d.slug == spec.slug and q != precision and _WIDTH.get(q, q) == width}))}",
            )
        groups: list[tuple[list[tuple[DeviceSpec, float]], str, Callable[[DeviceSpec], bool]]] = [
            (same_p, f"{spec.family} family", lambda s: s.family == spec.family),
            (same_w, f"{spec.family} family, {width}-bit class", lambda s: s.family == spec.family),
            (
                same_p,
                f"{spec.vendor} {seg} devices",
                lambda s: bool(seg) and s.vendor == spec.vendor and getattr(s, "segment", "") == seg,
            ),
            (same_p, f"{spec.vendor} devices", lambda s: s.vendor == spec.vendor),
            (same_p, "all devices", lambda s: True),
            (same_w, f"{spec.vendor} devices, {width}-bit class", lambda s: s.vendor == spec.vendor),
            (same_w, "all devices, same width", lambda s: True),
            (
                [(d, e) for d, _, e in pts],
                f"{spec.vendor} devices, other precisions",
                lambda s: s.vendor == spec.vendor,
            ),
            ([(d, e) for d, _, e in pts], "all devices, other precisions", lambda s: True),
        ]
        for items, label, keep in groups:
            group = [e / _power_factor(ctx, d, kind, precision) for d, e in items if keep(d) and d.slug != spec.slug]
            if group:
                eff = _median(group) * here
                note = f", power-capped x{here:.2f}" if here < 0.995 else ""
                return eff, label + note
        return None

    return _cached(ctx, ("eff", kind, precision, spec.slug), make)


def _ceiling(ctx: _Context, kind: str, precision: str, spec: DeviceSpec) -> _Raw | None:
    """Achievable matmul rate of a precision (TFLOP/s) or device-copy bandwidth (GB/s) of one device."""
    name = memory_anchor() if kind == "memory" else compute_anchor(precision)

    def make() -> _Raw | None:
        measured = ctx.measured.get((name, spec.slug))
        if measured is not None:
            return _Raw(measured.value, "measured", measured.run_id)
        pts = _points(ctx, name).get(spec.slug)
        if pts:
            return _Raw(_median(p.value for p in pts), "published", _sources(pts))
        sheet = _sheet(spec, kind, precision)
        if not sheet:
            return None
        eff = _efficiency(ctx, kind, precision, spec)
        if eff is None:
            return None
        what = "bandwidth" if kind == "memory" else f"{precision} peak"
        raw = _Raw(sheet * eff[0], "estimated", f"datasheet {what} x {eff[0]:.0%} (published efficiency, {eff[1]})")
        return _calibrate(ctx, parse_workload(name), spec, raw, None)  # type: ignore[arg-type]

    return _cached(ctx, ("ceiling", name, spec.slug), make)


def _compute_ceiling(ctx: _Context, precision: str, spec: DeviceSpec) -> tuple[_Raw, str] | None:
    """The GEMM ceiling an LLM step of `precision` runs at: that precision where the device has it, else its
    16-bit rate (weight-only kernels dequantize)."""
    for key in (LS.COMPUTE_PRECISION.get(precision, precision), "bf16", "fp16"):
        if spec.peak(key) or _points(ctx, compute_anchor(key)).get(spec.slug):
            raw = _ceiling(ctx, "matmul", key, spec)
            if raw is not None:
                return raw, key
    return None


def _calibrate(ctx: _Context, wl: WorkloadName, spec: DeviceSpec, raw: _Raw, shape: Shape | None) -> _Raw:
    """Scale an estimate by measured / predicted on measured devices of the same architecture family."""
    ratios, names = [], []
    for (name, slug), m in ctx.measured.items():
        other = ctx.catalog.get(slug)
        if name != wl.name or other is None or slug == spec.slug or other.family != spec.family:
            continue
        stripped = _Context(ctx.catalog, ctx.published, {}, _fit_cache(ctx.catalog, ctx.published, {}))
        pred = _predict(stripped, wl, other, m.shape)
        if pred is not None and pred.value > 0:
            ratios.append(m.value / pred.value)
            names.append(f"run {m.run_id} on {other.name}")
    if not ratios:
        return raw
    ratio = _median(ratios)
    return replace(raw, value=raw.value * ratio, calibrated_by=f"x{ratio:.2f} from " + ", ".join(names))


# ----------------------------------------------------------------------------------------- model workloads

_U_GRID = np.geomspace(0.01, 1.0, 31)  # fraction of the GEMM ceiling the model's FLOPs reach
_B_GRID = np.geomspace(1e5, 3e10, 45)  # bytes per item
_O_GRID = np.concatenate([[0.0], np.geomspace(1e-7, 3e-2, 36)])  # seconds per item


@dataclass(frozen=True)
class _ModelFit:
    util: float
    bytes_per_item: float
    overhead_s: float
    points: int
    sources: tuple[str, ...]


def _flops_per_item(wl: WorkloadName) -> float:
    cost = workload_costs()[wl.model]
    return float(cost["train_flops" if wl.mode == "train" else "infer_flops"])


def _bounds(ctx: _Context, wl: WorkloadName, spec: DeviceSpec) -> tuple[_Raw, _Raw] | None:
    compute = _ceiling(ctx, "matmul", wl.precision, spec)
    memory = _ceiling(ctx, "memory", "", spec)
    if compute is None or memory is None:
        return None
    # A whole model step runs the SMs and the memory together: under a power cap (H100 NVL / PCIe, L4) the
    # board cannot hold both at full clock, so its bandwidth term takes the same power-headroom factor.
    factor = _power_factor(ctx, spec, "matmul", wl.precision)
    if factor < 1.0:
        memory = replace(memory, value=memory.value * factor)
    return compute, memory


def _fit_sources(ctx: _Context, wl: WorkloadName) -> list[str]:
    """Published workloads whose points fit the model of `wl`: itself, else its width-class siblings of the
    same mode, else the same model in the other mode (training <-> inference), itself or its siblings."""
    if _points(ctx, wl.name):
        return [wl.name]
    half = wl.run_precision in _HALF
    for mode in (wl.mode, "infer" if wl.mode == "train" else "train"):
        suffix = "/infer" if mode == "infer" else ""
        precisions = MODEL_PRECISIONS if mode == "train" else INFER_PRECISIONS
        names = [
            f"{wl.model}/{p}{suffix}"
            for p in precisions
            if (p in _HALF) == half and f"{wl.model}/{p}{suffix}" != wl.name and _points(ctx, f"{wl.model}/{p}{suffix}")
        ]
        if names:
            return names
    return []


def _grid_fit(
    flops: np.ndarray, compute: np.ndarray, bandwidth: np.ndarray, seconds: np.ndarray
) -> tuple[float, float, float]:
    """(utilisation, bytes per item, overhead s) minimising the squared log error of
    max(F / (u C), b / BW) + o against the measured seconds per item."""
    c_time = flops[None, :] / (_U_GRID[:, None] * compute[None, :])  # (U, N)
    m_time = _B_GRID[:, None] / bandwidth[None, :]  # (B, N)
    bound = np.maximum(c_time[:, None, :], m_time[None, :, :])  # (U, B, N)
    pred = bound[:, :, None, :] + _O_GRID[None, None, :, None]  # (U, B, O, N)
    loss = ((np.log(pred) - np.log(seconds)[None, None, None, :]) ** 2).sum(axis=-1)
    # Ties (a bound that never binds) go to the least extreme value: the smallest bytes and overhead.
    i, j, k = np.unravel_index(int(np.argmin(loss + 1e-9 * (np.arange(len(_B_GRID))[None, :, None]))), loss.shape)
    return float(_U_GRID[i]), float(_B_GRID[j]), float(_O_GRID[k])


def _model_fit(ctx: _Context, wl: WorkloadName) -> _ModelFit | None:
    def make() -> _ModelFit | None:
        names = _fit_sources(ctx, wl)
        rows = []
        for name in names:
            other = parse_workload(name)
            assert other is not None
            for slug, pts in _points(ctx, name).items():
                b = _bounds(ctx, other, ctx.catalog[slug])
                if b is None:
                    continue
                for p in pts:
                    rows.append((_flops_per_item(other), b[0].value * 1e12, b[1].value * 1e9, 1.0 / p.value))
        if not rows:
            return None
        arr = np.array(rows, dtype=float)
        u, b, o = _grid_fit(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3])
        first = parse_workload(names[0])
        if first is not None and first.mode != wl.mode:  # a forward pass is this share of a training step
            scale = _flops_per_item(wl) / _flops_per_item(first)
            b, o = b * scale, o * scale
        return _ModelFit(u, b, o, len(rows), tuple(names))

    return _cached(ctx, ("modelfit", wl.name), make)


def _generic_utilisation(ctx: _Context, mode: str) -> float | None:
    """Fitted fraction of the GEMM ceiling, median over the published models of this mode (else any)."""

    def make() -> float | None:
        utils = {}
        for p in ctx.published:
            wl = parse_workload(p.workload)
            if wl is not None and wl.kind == "model" and wl.name not in utils:
                fit = _model_fit(ctx, wl)
                if fit is not None:
                    utils[wl.name] = (wl.mode, fit.util)
        same = [u for m, u in utils.values() if m == mode] or [u for _, u in utils.values()]
        return _median(same) if same else None

    return _cached(ctx, ("generic_util", mode), make)


def _model_estimate(ctx: _Context, wl: WorkloadName, spec: DeviceSpec, shape: Shape | None) -> _Raw | None:
    bounds = _bounds(ctx, wl, spec)
    if bounds is None:
        return None
    compute, memory = bounds
    flops = _flops_per_item(wl)
    fit = _model_fit(ctx, wl)
    if fit is not None:
        c_time = flops / (fit.util * compute.value * 1e12)
        m_time = fit.bytes_per_item / (memory.value * 1e9)
        total = max(c_time, m_time) + fit.overhead_s
        value = 1.0 / total
        share = (
            f"compute {c_time / total:.0%} of the step"
            if c_time >= m_time
            else f"bandwidth {m_time / total:.0%} of the step"
        )
        details = {
            "utilisation": fit.util,
            "bytes_per_item": fit.bytes_per_item,
            "overhead_s_per_item": fit.overhead_s,
            "compute_s": c_time,
            "memory_s": m_time,
        }
        for name in fit.sources:  # this very device published at a sibling precision: scale that figure
            own = _points(ctx, name).get(spec.slug)
            sib = parse_workload(name)
            same_mode = sib is not None and sib.mode == wl.mode
            sib_bounds = _bounds(ctx, sib, spec) if own and sib is not None and same_mode and name != wl.name else None
            if own and sib is not None and sib_bounds is not None:
                sib_c = _flops_per_item(sib) / (fit.util * sib_bounds[0].value * 1e12)
                sib_pred = 1.0 / (max(sib_c, m_time) + fit.overhead_s)
                scaled = _median(p.value for p in own) * value / sib_pred
                return _Raw(
                    scaled,
                    "estimated",
                    f"published {name} on this device x {value / sib_pred:.2f} "
                    f"(the roofline's ratio of {wl.run_precision} to {sib.run_precision})",
                    details=details,
                )
        raw = _Raw(
            value,
            "estimated",
            f"roofline fitted on {fit.points} published {'/'.join(fit.sources)} points: {fit.util:.0%} of the "
            f"GEMM ceiling, {fit.bytes_per_item / 1e6:.3g} MB and {fit.overhead_s * 1e6:.3g} us per item "
            f"({share}); ceilings: {compute.basis} matmul, {memory.basis} bandwidth",
            details=details,
        )
        return _calibrate(ctx, wl, spec, raw, shape)
    # No published point of this model: compute-bound from its FLOPs and the fitted models' utilisation.
    util = _generic_utilisation(ctx, wl.mode)
    if util is None or not flops:
        return None
    cost = workload_costs()[wl.model]
    raw = _Raw(
        compute.value * 1e12 * util / flops,
        "estimated",
        f"compute-bound from {flops / 1e9:.3g} GFLOP per {cost['unit']} at {util:.0%} of the "
        f"{compute.basis} matmul ceiling (median of the published models): unvalidated",
        validated=False,
    )
    return _calibrate(ctx, wl, spec, raw, shape)


# ------------------------------------------------------------------------------------------ LLM workloads

_LLM_PRIOR = {"mbu": 0.7, "mfu": 0.5, "overhead_s": 15e-6}  # overhead: seconds per layer per step
_LORA_MFU = 0.4  # stated assumption for LoRA / fine-tuning steps (unvalidated: no published figure)
_MBU_GRID = np.linspace(0.25, 0.9, 27)  # no engine streams more than ~90 % of the datasheet bandwidth
_MFU_GRID = np.geomspace(0.05, 1.0, 25)
_STEP_O_GRID = np.concatenate([[0.0], np.geomspace(1e-7, 1e-3, 33)])
_PRIOR_WEIGHT = 0.02  # squared-log-error units per parameter: decides only when the data cannot


@dataclass(frozen=True)
class _LlmFit:
    mbu: float
    mfu: float
    overhead_s: float  # per decoder layer per step (kernel launches, synchronisation)
    points: int
    fitted: bool
    segment: Mapping[str, float] = field(default_factory=dict, hash=False)  # log correction per market segment
    borrowed_from: str = ""  # the engine class whose fit this is, when its own has no published figure


ENGINES = ("serving", "llama.cpp")
"""Engine classes fitted apart: batched serving engines (vLLM, TensorRT-LLM, SGLang: CUDA graphs, fused
kernels, continuous batching) and llama.cpp-style local runtimes (one stream, per-kernel launches)."""


def engine_class(engine: str, conditions: str = "") -> str:
    text = f"{engine} {conditions}".lower()
    return "llama.cpp" if any(k in text for k in ("llama.cpp", "llama-bench", "ollama", "gguf")) else "serving"


_MAX_RUNTIME_BATCH = 4096  # sequences an engine runs at once when everything is queued (TensorRT-LLM's default)


@functools.lru_cache(maxsize=8192)  # a pure function of its arguments, asked again by every fit and every estimate
def _llm_shape(p: Published, wl: WorkloadName, spec: DeviceSpec | None = None) -> Shape:
    """The step a published LLM figure measured. A saturated throughput row (all requests queued at once)
    ran as many sequences as fit: its batch is the smaller of the requests, the engine's runtime limit and
    the sequences whose KV cache fits the GPUs (gpubench.llm_sizing.max_users)."""
    x = p.extra
    batch = int(x.get("batch", 1) or 1)
    gpus = int(x.get("gpus", 1) or 1)
    inp = next((x[k] for k in ("input_tokens", "context") if x.get(k) is not None), LLM_DEFAULTS["context"])
    out = x.get("output_tokens") or 0
    context = max(1, int(inp + out / 2) if wl.mode == "decode" else int(inp))
    split = gpus > 1 and ("layer split" in p.conditions.lower() or "llama.cpp" in p.engine.lower())
    text = p.conditions.lower()
    kv = 1.0 if "fp8 kv" in text else None
    if spec is not None and batch > 1 and ("saturated" in text or "max throughput" in text):
        preset = LP.PRESETS[wl.model]
        # Paged KV caches hold each sequence's tokens so far: on average the prompt and half the output.
        fits = LS.max_users(preset, wl.precision, context, LS.card_bytes(spec.memory_gb), gpus, kv)
        batch = max(1, min(batch, _MAX_RUNTIME_BATCH, fits or 1))
    return Shape(batch, context, gpus, split, engine_class(p.engine, p.conditions), kv)


def _llm_terms(
    ctx: _Context, wl: WorkloadName, spec: DeviceSpec, shape: Shape, preset: LP.Preset | None = None
) -> tuple[float, float, float, float, float, float, str] | None:
    """(FLOPs, bytes, compute FLOP/s, datasheet B/s, communication s, layers, compute basis) of one step,
    system-wide. A device without a GEMM figure (Apple: no published peak) gets a bandwidth-only decode."""
    preset = preset or LP.PRESETS[wl.model]
    ceiling = _compute_ceiling(ctx, wl.precision, spec)
    if not spec.memory_bandwidth_gbps or (ceiling is None and wl.mode != "decode"):
        return None
    g = 1 if shape.split else max(1, shape.gpus)
    tokens = shape.batch if wl.mode == "decode" else shape.batch * shape.context
    if wl.mode == "decode":
        flops, moved = LS.decode_step(preset, wl.precision, shape.batch, shape.context, shape.kv_bytes)
    elif wl.mode == "prefill":
        flops, moved = LS.prefill_step(preset, wl.precision, shape.batch, shape.context, shape.kv_bytes)
    else:
        flops = LS.train_flops_per_token(preset, "lora", shape.context) * tokens
        moved = 3.0 * LS.weights_bytes(preset, wl.precision)
    comm = (shape.gpus - 1) * _ALLREDUCE_LATENCY_S if shape.split else 0.0
    if g > 1:
        comm = 2 * preset.total_layers * _ALLREDUCE_LATENCY_S + LS.allreduce_bytes_per_step(preset, tokens) / (
            _LINK_GBPS * 1e9
        )
    if ceiling is None:
        compute, basis = math.inf, "unknown (bandwidth only)"
    else:
        raw, key = ceiling
        compute, basis = raw.value * 1e12 * g, f"{raw.basis} {key}"
    layers = float(preset.total_layers)
    return flops, moved, compute, spec.memory_bandwidth_gbps * 1e9 * g, comm, layers, basis


def _llm_rate(
    terms: tuple[float, float, float, float, float, float, str], tokens: int, fit: _LlmFit, segment: str = ""
) -> tuple[float, float]:
    flops, moved, compute, bandwidth, comm, layers, _ = terms
    step = max(flops / (fit.mfu * compute), moved / (fit.mbu * bandwidth)) + fit.overhead_s * layers + comm
    return tokens / step * math.exp(fit.segment.get(segment, 0.0)), step


def _llm_fit(ctx: _Context, mode: str, engine: str = "serving") -> _LlmFit:
    """MBU, MFU and per-layer overhead of one engine class, fitted on its published figures; an engine class
    with none borrows the other's fit (and says so: `fitted` stays True, `points` counts the other's)."""

    def make() -> _LlmFit:
        fit = _llm_fit_engine(ctx, mode, engine)
        if fit.fitted or mode == "lora":
            return fit
        for other in ENGINES:
            if other != engine and (borrowed := _llm_fit_engine(ctx, mode, other)).fitted:
                return replace(borrowed, borrowed_from=other)
        return fit

    return _cached(ctx, ("llmfit", mode, engine), make)


def _llm_fit_engine(ctx: _Context, mode: str, engine: str) -> _LlmFit:
    def make() -> _LlmFit:
        rows, segments = [], []
        for p in ctx.published:
            wl = parse_workload(p.workload)
            if wl is None or wl.kind != "llm" or wl.mode != mode:
                continue
            spec = ctx.catalog[p.device]
            shape = _llm_shape(p, wl, spec)
            if shape.engine != engine:
                continue
            terms = _llm_terms(ctx, wl, spec, shape)
            if terms is None:
                continue
            tokens = shape.batch if mode == "decode" else shape.batch * shape.context
            rows.append((*terms[:6], tokens, p.value))
            segments.append(getattr(spec, "segment", ""))
        if mode == "lora":
            # No published fine-tuning figure: PyTorch training reaches about 40 % of the achievable GEMM rate
            # (FP32 accumulate on every board: llama.cpp's per-segment corrections do not apply).
            return _LlmFit(_LLM_PRIOR["mbu"], _LORA_MFU, _LLM_PRIOR["overhead_s"], 0, False)
        if not rows:
            return _LlmFit(_LLM_PRIOR["mbu"], _LLM_PRIOR["mfu"], _LLM_PRIOR["overhead_s"], 0, False)
        a = np.array(rows, dtype=float)
        flops, moved, compute, bw, comm, layers, tokens, value = (a[:, i] for i in range(8))
        seconds = tokens / value
        ct = flops[None, :] / (_MFU_GRID[:, None] * compute[None, :])  # (F, N)
        mt = moved[None, :] / (_MBU_GRID[:, None] * bw[None, :])  # (M, N)
        over = _STEP_O_GRID[:, None] * layers[None, :]  # (O, N)
        step = np.maximum(ct[:, None, :], mt[None, :, :])[:, :, None, :] + over[None, None, :, :] + comm
        loss = ((np.log(step) - np.log(seconds)) ** 2).sum(axis=-1)  # (F, M, O)
        prior = (
            (np.log(_MFU_GRID / _LLM_PRIOR["mfu"]) ** 2)[:, None, None]
            + (np.log(_MBU_GRID / _LLM_PRIOR["mbu"]) ** 2)[None, :, None]
            + (np.log((_STEP_O_GRID + 1e-6) / _LLM_PRIOR["overhead_s"]) ** 2)[None, None, :] * 0.1
        )
        i, j, k = np.unravel_index(int(np.argmin(loss + _PRIOR_WEIGHT * prior)), loss.shape)
        fit = _LlmFit(float(_MBU_GRID[j]), float(_MFU_GRID[i]), float(_STEP_O_GRID[k]), len(rows), True)
        # What the global fit leaves per market segment (GeForce boards run llama.cpp's 16-bit GEMMs with 16-bit
        # accumulate; data-centre boards gain nothing from it): the mean log residual, shrunk toward 0 by two
        # pseudo-points.
        resid: dict[str, list[float]] = {}
        for (f, m, c, b, cm, lay, tok, val), seg in zip(rows, segments, strict=True):
            pred, _ = _llm_rate((f, m, c, b, cm, lay, ""), int(tok), fit)
            resid.setdefault(seg, []).append(math.log(val / pred))
        corr = {seg: sum(r) / (len(r) + 2) for seg, r in resid.items() if seg}
        return replace(fit, segment=corr)

    return _cached(ctx, ("llmfit_engine", mode, engine), make)


def _llm_estimate(
    ctx: _Context, wl: WorkloadName, spec: DeviceSpec, shape: Shape, preset: LP.Preset | None = None
) -> _Raw | None:
    terms = _llm_terms(ctx, wl, spec, shape, preset)
    if terms is None:
        return None
    fit = _llm_fit(ctx, wl.mode, shape.engine)
    tokens = shape.batch if wl.mode == "decode" else shape.batch * shape.context
    segment = getattr(spec, "segment", "")
    rate, step = _llm_rate(terms, tokens, fit, segment)
    flops, moved, compute, bandwidth, comm, layers, basis = terms
    details = {
        "batch": shape.batch,
        "context": shape.context,
        "gpus": shape.gpus,
        "engine": shape.engine + (f" (fit borrowed from {fit.borrowed_from})" if fit.borrowed_from else ""),
        "mbu": fit.mbu,
        "mfu": fit.mfu,
        "overhead_s": fit.overhead_s * layers,
        "segment_factor": math.exp(fit.segment.get(segment, 0.0)),
        "step_s": step,
        "compute_s": flops / (fit.mfu * compute),
        "memory_s": moved / (fit.mbu * bandwidth),
        "comm_s": comm,
        "bytes_per_step": moved,
        "flops_per_step": flops,
    }
    how = (
        f"fitted on {fit.points} published llm_{wl.mode} figures of {fit.borrowed_from or shape.engine} engines"
        if fit.fitted
        else ("assumed: no published LoRA figure" if wl.mode == "lora" else "prior: no published figure")
    )
    raw = _Raw(
        rate,
        "estimated",
        f"roofline per step: MBU {fit.mbu:.0%} of datasheet bandwidth, MFU {fit.mfu:.0%} of the {basis} "
        f"GEMM ceiling, {fit.overhead_s * layers * 1e3:.2g} ms per step, {segment or 'all'} boards "
        f"x{math.exp(fit.segment.get(segment, 0.0)):.2f} ({how}); batch {shape.batch}, context "
        f"{shape.context}, {shape.gpus} GPU(s)",
        validated=fit.fitted,
        details=details,
    )
    return _calibrate(ctx, wl, spec, raw, shape)


# ---------------------------------------------------------------------------------------------- predict


def _published_llm(ctx: _Context, wl: WorkloadName, spec: DeviceSpec, shape: Shape) -> list[Published]:
    return [p for p in _points(ctx, wl.name).get(spec.slug, []) if _llm_shape(p, wl, spec) == shape]


def _predict(ctx: _Context, wl: WorkloadName, spec: DeviceSpec, shape: Shape | None = None) -> _Raw | None:
    measured = ctx.measured.get((wl.name, spec.slug))
    if measured is not None and (wl.kind != "llm" or measured.shape == shape):
        return _Raw(measured.value, "measured", measured.run_id)
    if wl.kind in ("matmul", "memory"):
        return _ceiling(ctx, wl.kind, wl.precision, spec)
    if wl.kind == "llm":
        shape = shape or Shape(**LLM_DEFAULTS)
        pts = _published_llm(ctx, wl, spec, shape)
        if pts:
            return _Raw(_median(p.value for p in pts), "published", _sources(pts))
        return _llm_estimate(ctx, wl, spec, shape)
    pts = _points(ctx, wl.name).get(spec.slug)
    if pts:
        return _Raw(_median(p.value for p in pts), "published", _sources(pts))
    return _model_estimate(ctx, wl, spec, shape)


def _unit(wl: WorkloadName) -> str:
    if wl.kind == "memory":
        return "GB/s"
    if wl.kind == "matmul":
        return "TOP/s" if wl.precision == "int8" else "TFLOP/s"
    if wl.kind == "llm":
        return "tokens/s"
    return f"{workload_costs()[wl.model]['unit']}s/s"


# ----------------------------------------------------------------------------------------- validation


def _shape_of(p: Published, wl: WorkloadName, spec: DeviceSpec) -> Shape | None:
    return _llm_shape(p, wl, spec) if wl.kind == "llm" else None


def validate(published: list[Published] | None = None, catalog: Mapping[str, DeviceSpec] | None = None) -> pd.DataFrame:
    """Leave-one-source-out: each published figure predicted from the figures of every other source.

    One row per published figure: family, workload, device, group (the source held out), published,
    predicted, rel_error (predicted / published - 1), basis of the prediction ("published" where another
    source reports the same pair, else "estimated"), what it was built from, and `inside`: whether the
    figure falls in the interval an estimate would have printed, with that interval itself taken from the
    other sources' held-out errors (cross-validated, so it is not judged on the errors it was built from).
    """
    pub = load_published() if published is None else list(published)
    cat = load_catalog() if catalog is None else catalog
    pub = [p for p in pub if p.device in cat]
    rows = []
    for group in sorted({p.group for p in pub}):
        ctx = _Context(cat, [q for q in pub if q.group != group])
        for p in pub:
            if p.group != group:
                continue
            wl = parse_workload(p.workload)
            if wl is None:  # a figure the model cannot ask (collectives; a preset it lacks): counted as missed
                family = _family_of_name(p.workload)
                if family in FAMILIES:
                    rows.append({"family": family, "workload": p.workload, "device": p.device, "group": group})
                    rows[-1].update({"published": p.value, "file": p.file})
                continue
            raw = _predict(ctx, wl, cat[p.device], _shape_of(p, wl, cat[p.device]))
            rows.append(
                {
                    "family": wl.family,
                    "workload": wl.name,
                    "device": p.device,
                    "group": group,
                    "published": p.value,
                    "predicted": None if raw is None else raw.value,
                    "rel_error": None if raw is None else raw.value / p.value - 1,
                    "basis": None if raw is None else raw.basis,
                    "from": None if raw is None else raw.source,
                    "file": p.file,
                }
            )
    frame = pd.DataFrame(
        rows,
        columns=[
            "family",
            "workload",
            "device",
            "group",
            "published",
            "predicted",
            "rel_error",
            "basis",
            "from",
            "file",
        ],
    )
    frame["inside"] = None
    bands: dict[tuple[str, str, str], tuple[float, float, int]] = {}
    for idx, row in frame.iterrows():
        if pd.isna(row["predicted"]):
            continue
        key = (str(row["family"]), str(row["group"]), "published" if row["basis"] == "published" else "estimated")
        if key not in bands:
            others = frame[(frame["group"] != key[1]) & (frame["family"] == key[0])]
            bands[key] = _band(others, key[2])
        lo, hi, _ = bands[key]
        frame.at[idx, "inside"] = bool(lo <= math.log(row["published"] / row["predicted"]) <= hi)
    return frame


def _family_of_name(name: str) -> str:
    head = name.split("/")[0]
    if name in [memory_anchor()] + [compute_anchor(p) for p in PRECISIONS]:
        return "memory" if name == memory_anchor() else "matmul"
    if head.startswith("llm_"):
        return head
    if head in workload_costs():
        return "inference" if name.endswith("/infer") else "training"
    return "other"


def _band(frame: pd.DataFrame, basis: str) -> tuple[float, float, int]:
    """(low, high, n): the log(published / predicted) band, symmetric, that holds COVERAGE of the held-out
    figures of `frame`, from the rows of the same basis ("published": cross-source disagreement; else the
    estimates). Few points widen it: the conformal order statistic, and past the sample's end, 1.5x the
    largest error seen."""
    ok = frame[frame["predicted"].notna()]
    if basis == "published":
        use = ok[ok["basis"] == "published"]
        if len(use) < 3:
            use = ok
    else:
        use = ok[ok["basis"] != "published"]
        if len(use) < 3:
            use = ok
    errs = np.sort(np.abs(np.log(use["published"].astype(float) / use["predicted"].astype(float)).to_numpy()))
    n = len(errs)
    if n == 0:
        w = math.log(1 + _UNVALIDATED_WIDTH)
        return -w, w, 0
    k = math.ceil((n + 1) * COVERAGE)  # conformal: the k-th smallest |error| of n holds COVERAGE of the next one
    width = float(errs[k - 1]) if k <= n else float(errs[-1]) * 1.5
    width = max(width, 0.02)
    return -width, width, n


def validation_summary(frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per family: points, predicted, median and worst |relative error|, share inside the interval, target
    and whether it is met (median within the target and at least INSIDE_TARGET inside)."""
    if frame is None:
        return _summary_cached(_stamp()).copy()  # computed once per version of the data files
    out = []
    for family in [f for f in FAMILIES if f in set(frame["family"])] + sorted(set(frame["family"]) - set(FAMILIES)):
        group = frame[frame["family"] == family]
        err = group["rel_error"].dropna().astype(float).abs()
        inside = group["inside"].dropna()
        target = TARGETS.get(str(family))
        median = float(err.median()) if len(err) else None
        share = float(inside.astype(bool).mean()) if len(inside) else None
        lo, hi, _ = _band(group, "estimated")
        out.append(
            {
                "family": family,
                "points": len(group),
                "sources": group["group"].nunique(),
                "predicted": len(err),
                "median_error": median,
                "worst_error": float(err.max()) if len(err) else None,
                "inside": share,
                "band_low": math.exp(lo) - 1,
                "band_high": math.exp(hi) - 1,
                "p80_error": float(err.quantile(0.8)) if len(err) else None,
                "target": target,
                "meets_target": None
                if target is None or median is None or share is None
                else bool(median <= target and share >= INSIDE_TARGET),
            }
        )
    return pd.DataFrame(out)


@functools.lru_cache(maxsize=1)
def _validation_cached(stamp: tuple[Any, ...]) -> pd.DataFrame:
    from gpubench import cache

    # the packaged data files: the cache key covers them (and the code); the stamp, files edited since
    return cache.table("validation", validate, key=repr(stamp))


def _stamp() -> tuple[Any, ...]:
    folder = _data_dir() / "published"
    files = sorted(folder.glob("*.csv"))
    return (tuple((f.name, f.stat().st_mtime_ns) for f in files), _data_dir().joinpath("specs.toml").stat().st_mtime_ns)


def _validation() -> pd.DataFrame:
    return _validation_cached(_stamp())


@functools.lru_cache(maxsize=1)
def _summary_cached(stamp: tuple[Any, ...]) -> pd.DataFrame:
    return validation_summary(_validation_cached(stamp))


def _interval(family: str, basis: str) -> tuple[float, float, str]:
    """(low factor, high factor, warning) for an estimate or a published figure of `family`."""
    return _interval_cached(family, basis, _stamp())


@functools.lru_cache(maxsize=64)
def _interval_cached(family: str, basis: str, stamp: tuple[Any, ...]) -> tuple[float, float, str]:
    frame = _validation_cached(stamp)
    group = frame[frame["family"] == family]
    lo, hi, n = _band(group, basis)
    if basis == "published" and (group["basis"] == "published").sum() < 3:
        # No two sources of this family report the same figure: their disagreement is the one seen on the
        # pairs other families have (not this family's model error, which is no spread between sources).
        lo, hi, _ = _band(frame[frame["basis"] == "published"], "published")
    summary = _summary_cached(stamp)
    row = summary[summary["family"] == family]
    warning = ""
    if n == 0:
        warning = f"no published {family} figure to validate against: +-{_UNVALIDATED_WIDTH:.0%} assumed"
    elif not row.empty and row.iloc[0]["meets_target"] in (False,):  # numpy's False too; None is no verdict
        r = row.iloc[0]
        warning = (
            f"{family} estimates miss the validation target on held-out sources: median error "
            f"{r['median_error']:.0%} (target {r['target']:.0%}), {r['inside']:.0%} inside the interval "
            f"(target {INSIDE_TARGET:.0%})"
        )
    return math.exp(lo), math.exp(hi), warning


# -------------------------------------------------------------------------------------------- public


def param_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Parameter columns, whether the store flattened them or kept a `params` dict column."""
    nested = df["params"] if "params" in df.columns else None
    cols: dict[str, pd.Series] = {}
    for name in _param_names():
        col = df[name] if name in df.columns else pd.Series(None, index=df.index, dtype=object)
        if nested is not None:
            from_dict = nested.map(lambda p, n=name: p.get(n) if isinstance(p, Mapping) else None)
            col = col.where(col.notna(), from_dict)
        cols[name] = col
    return pd.DataFrame(cols, index=df.index)  # one frame at once: column-by-column inserts cost seconds


@functools.cache
def _param_names() -> tuple[str, ...]:
    return tuple(dict.fromkeys([*_PARAMS, *(n for spec in benchmark_catalog.all_specs() for n in spec.params)]))


def _records(frame: pd.DataFrame, columns: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Rows of `frame` (or of its `columns`, each there) as dicts holding what `iterrows` would: every value
    as the frame's object view has it (Python numbers for numeric columns), without a Series per row."""
    cols = list(frame.columns) if columns is None else [c for c in columns if c in frame.columns]
    values = frame[cols].to_numpy(dtype=object) if cols else [[] for _ in range(len(frame))]
    return [dict(zip(cols, row, strict=True)) for row in values]


def _param_records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """`_records(param_frame(df))` without building the frame: each row's parameters as a dict."""
    if "params" in df.columns:
        return _records(param_frame(df))
    names = _param_names()
    missing = [None] * len(df)
    columns = [df[name].to_numpy(dtype=object) if name in df.columns else missing for name in names]
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)] if names else []


def workload_column(df: pd.DataFrame, params: list[dict[str, Any]] | None = None) -> pd.Series:
    """The workload name of every row of a results frame (None where it is no single-device workload);
    `params`: its rows' parameters (`_param_records`), where the caller has them."""
    params = _param_records(df) if params is None else params
    names = [workload_of_row(b, p) for b, p in zip(df["benchmark"], params, strict=True)]
    return pd.Series(names, index=df.index, dtype=object)


def measured_table(
    runs: pd.DataFrame | None, catalog: Mapping[str, DeviceSpec]
) -> dict[tuple[str, str], tuple[float, str]]:
    """{(workload, slug or raw device name): (best throughput, run id)} over the ok rows of `runs`."""
    return {k: (m.value, m.run_id) for k, m in _measured_entries(runs, catalog).items()}


def _row_shape(name: str, params: Mapping[str, Any]) -> Shape | None:
    wl = parse_workload(name)
    if wl is None or wl.kind != "llm":
        return None
    batch = _int(params.get("batch")) or 1
    if wl.mode == "decode":
        context = (_int(params.get("context")) or 0) + (_int(params.get("output")) or 0) // 2
    else:
        context = _int(params.get("prompt")) or _int(params.get("context")) or 0
    return Shape(batch, max(1, context), 1)


_MEASURED_COLUMNS = (
    "throughput",
    "device_name",
    "device_memory_bytes",
    "power_limit_w",
    "device_multiprocessors",
    "device_kind",
    "run_id",
)  # what a measured figure is read from (device_key's columns among them)


def _measured_entries(
    runs: pd.DataFrame | None, catalog: Mapping[str, DeviceSpec], params: list[dict[str, Any]] | None = None
) -> dict[tuple[str, str], _Measured]:
    if runs is None or len(runs) == 0 or "benchmark" not in runs.columns:
        return {}
    ok = runs
    if "status" in ok.columns:
        mask = ok["status"] == "ok"
        ok = ok[mask]
        if params is not None:
            params = [p for p, keep in zip(params, mask.to_numpy(dtype=bool), strict=True) if keep]
    if ok.empty:
        return {}
    params = _param_records(ok) if params is None else params
    names = workload_column(ok, params)
    out: dict[tuple[str, str], _Measured] = {}
    for row, p, name in zip(_records(ok, _MEASURED_COLUMNS), params, names, strict=True):
        value = finite_or_none(row.get("throughput"))
        if value is None or value <= 0 or name is None or not _text(row.get("device_name")):
            continue
        key = (name, device_key(row, catalog))
        cpu = str(row.get("device_kind") or "").lower() == "cpu"
        if key not in out or value > out[key].value:
            out[key] = _Measured(value, str(row.get("run_id", "?")), _row_shape(name, p), cpu)
    return out


def device_key(row: Mapping[str, Any], catalog: Mapping[str, DeviceSpec]) -> str:
    """Catalog slug of a result row's device, or its raw name when the catalog does not know it."""
    spec = match_device(
        str(row["device_name"]),
        finite_or_none(row.get("device_memory_bytes")),
        finite_or_none(row.get("power_limit_w")),
        compute_units=finite_or_none(row.get("device_multiprocessors")),
        catalog=catalog,
    )
    return spec.slug if spec else str(row["device_name"])


def _context(
    runs: pd.DataFrame | None, catalog: Mapping[str, DeviceSpec] | None, published: list[Published] | None
) -> _Context:
    cat = load_catalog() if catalog is None else catalog
    pub = [p for p in (load_published() if published is None else published) if p.device in cat]
    has = runs is not None and len(runs) > 0 and "benchmark" in runs.columns
    params = _param_records(runs) if has else None  # the rows' parameters, read once for both readings
    measured = _measured_entries(runs, cat, params)
    return _Context(cat, pub, measured, _fit_cache(cat, pub, measured), _shapes(runs, params))


def _shapes(runs: pd.DataFrame | None, params: list[dict[str, Any]] | None = None) -> dict[str, WorkloadRef]:
    """The WorkloadRef of every workload the runs measured that is not at its defining sizes (or that the model
    has no name for, such as an inference run under autocast)."""
    if runs is None or len(runs) == 0 or "benchmark" not in runs.columns:
        return {}
    params = _param_records(runs) if params is None else params
    out: dict[str, WorkloadRef] = {}
    for bench, row in zip(runs["benchmark"], params, strict=True):
        ref = workload_ref(bench, row)
        if ref is not None and ref.key not in out and (not ref.reference or parse_workload(ref.key) is None):
            out[ref.key] = ref
    return out


_TOY_STEP_OVERHEAD_S = {"training": 1e-3, "llm_lora": 1e-3}
"""Assumed per-step overhead of a resized / toy workload on a GPU (kernel launches of a forward, backward and
optimizer step); 0.3 ms for a forward-only step. Stated, not fitted: no published figure has such shapes."""

_SMALL_GEMM_OVERHEAD_S = 1e-5
"""Assumed time one small matrix product costs beyond its arithmetic on a GPU: PyTorch's dispatch of one op and
a kernel launch, a few us each. Stated, not fitted: the published GEMM figures are of the best large shapes."""


def _toy_estimate(ctx: _Context, ref: WorkloadRef, spec: DeviceSpec) -> Estimate | None:
    """A resized or toy workload on a catalog device: the roofline of ITS shape (its own FLOPs and bytes per
    item, never the full model's) at the fitted models' utilisation, plus an assumed per-step overhead."""
    precision = normalize_precision(ref.peak_key or ref.precision) or "fp32"
    compute = _ceiling(ctx, "matmul", precision, spec) or _ceiling(ctx, "matmul", "fp32", spec)
    memory = _ceiling(ctx, "memory", "", spec)
    if compute is None or memory is None:
        return None
    mode = "infer" if ref.family in ("inference", "llm_decode", "llm_prefill") else "train"
    gemm = ref.base == compute_anchor(precision)  # one small product: the GEMM ceiling is its own rate
    util = 1.0 if gemm else (_generic_utilisation(ctx, mode) or 0.3)
    items = max(1.0, float(ref.items_per_step or 1.0))
    per_item = max(
        (ref.flops_per_item or 0.0) / (util * compute.value * 1e12), (ref.bytes_per_item or 0.0) / (memory.value * 1e9)
    )
    overhead = _SMALL_GEMM_OVERHEAD_S if gemm else _TOY_STEP_OVERHEAD_S.get(ref.family, 3e-4)
    value = items / (items * per_item + overhead)
    unit = f"{ref.item}s/s"
    source = (
        f"{ref.label}: its own {(ref.flops_per_item or 0) / 1e6:.3g} MFLOP and {(ref.bytes_per_item or 0) / 1e3:.3g} "
        f"kB per {ref.item}, {items:g} per step, at {util:.0%} of the {compute.basis} {precision} GEMM ceiling, "
        f"plus an assumed {overhead * 1e3:g} ms per step: unvalidated"
    )
    if ref.item == "flop":  # measured in TFLOP/s (TOP/s for int8), as the rows of such a workload are
        value, unit = value / 1e12, "TOP/s" if precision == "int8" else "TFLOP/s"
    if gemm:
        source = (
            f"{ref.label}: {items / 1e6:.3g} MFLOP per product at the {compute.basis} {precision} GEMM ceiling "
            f"({compute.value:.3g} {unit}), plus an assumed {overhead * 1e6:g} us per product: unvalidated"
        )
    return Estimate(
        ref.key,
        spec.slug,
        value,
        value * 0.5,
        value * 1.5,
        unit,
        "estimated",
        source,
        ref.family,
        "unvalidated estimate of a resized shape",
    )


def _shape_arg(
    wl: WorkloadName, batch: int | None, context: int | None, gpus: int | None, engine: str | None = None
) -> Shape | None:
    if wl.kind != "llm":
        return None
    if engine is not None and engine not in ENGINES:
        raise GpubenchError(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)}")
    values = {"batch": batch, "context": context, "gpus": gpus}
    for key, value in values.items():
        if value is not None and (isinstance(value, bool) or int(value) != value or value < 1):
            raise GpubenchError(f"{key} must be a positive integer, got {value!r}")
    return Shape(
        int(batch or LLM_DEFAULTS["batch"]),
        int(context or LLM_DEFAULTS["context"]),
        int(gpus or LLM_DEFAULTS["gpus"]),
        engine=engine or "serving",
    )


def estimate(
    workload: str,
    device: str,
    runs: pd.DataFrame | None = None,
    *,
    catalog: Mapping[str, DeviceSpec] | None = None,
    published: list[Published] | None = None,
    batch: int | None = None,
    context: int | None = None,
    gpus: int | None = None,
    engine: str | None = None,
) -> Estimate | None:
    """Throughput of `workload` (a name from `predictable_workloads`) on catalog device `device` (slug).

    `runs` (any mix of machines) give measured figures and calibrate the rest. LLM workloads take the step's
    size: `batch` sequences, `context` tokens cached per sequence (decode) / prompt tokens (prefill) /
    sequence length (lora), over `gpus` tensor-parallel GPUs (defaults LLM_DEFAULTS); their value is tokens/s
    of the whole system; `engine` is the engine class whose fitted efficiencies apply (ENGINES; default
    "serving"). None when the device has no datasheet figure the workload needs (e.g. bf16 on a T4).
    Raises GpubenchError for an unknown workload or device.
    """
    ctx = _context(runs, catalog, published)
    return _estimate(ctx, workload, device, batch=batch, context=context, gpus=gpus, engine=engine)


def _estimate(
    ctx: _Context,
    workload: str,
    device: str,
    *,
    batch: int | None = None,
    context: int | None = None,
    gpus: int | None = None,
    engine: str | None = None,
) -> Estimate | None:
    wl = parse_workload(workload)
    if wl is None and workload in ctx.shapes:
        if device not in ctx.catalog:
            raise GpubenchError(f"unknown device {device!r}: not a catalog slug (see gpubench specs)")
        measured = ctx.measured.get((workload, device))
        if measured is not None:
            ref = ctx.shapes[workload]
            unit = f"{ref.item}s/s"
            return Estimate(
                workload,
                device,
                measured.value,
                measured.value,
                measured.value,
                unit,
                "measured",
                f"run {measured.run_id}",
                ref.family,
            )
        return _floored(ctx, workload, _toy_estimate(ctx, ctx.shapes[workload], ctx.catalog[device]))
    if wl is None and any(name == workload for name, _ in ctx.measured):
        # A workload the runs measured that the model has no shape for: what was measured, nothing else.
        if device not in ctx.catalog:
            raise GpubenchError(f"unknown device {device!r}: not a catalog slug (see gpubench specs)")
        m = ctx.measured.get((workload, device))
        return (
            None
            if m is None
            else Estimate(workload, device, m.value, m.value, m.value, "", "measured", f"run {m.run_id}")
        )
    if wl is None:
        close = closest_workloads(workload, predictable_workloads())
        raise GpubenchError(f"unknown workload {workload!r}" + (f"; closest: {', '.join(close)}" if close else ""))
    if device not in ctx.catalog:
        raise GpubenchError(f"unknown device {device!r}: not a catalog slug (see gpubench specs)")
    shape = _shape_arg(wl, batch, context, gpus, engine)
    raw = _predict(ctx, wl, ctx.catalog[device], shape)
    if raw is None:
        return None
    unit = _unit(wl)
    details = dict(raw.details)
    if raw.basis == "measured":
        return Estimate(
            wl.name, device, raw.value, raw.value, raw.value, unit, "measured", f"run {raw.source}", wl.family
        )
    if raw.basis == "published":
        pts = _published_llm(ctx, wl, ctx.catalog[device], shape) if shape else _points(ctx, wl.name)[device]
        vals = [p.value for p in pts]
        lo, hi, _ = _local(ctx, ("interval", wl.family, "published"), lambda: _interval(wl.family, "published"))
        low = min(min(vals), raw.value * lo)
        high = max(max(vals), raw.value * hi)
        return Estimate(
            wl.name, device, raw.value, low, high, unit, "published", raw.source, wl.family, "", "", details
        )
    if raw.validated:
        lo, hi, warning = _local(ctx, ("interval", wl.family, "estimated"), lambda: _interval(wl.family, "estimated"))
    else:
        lo, hi, warning = 1 - _UNVALIDATED_WIDTH, 1 + _UNVALIDATED_WIDTH, "unvalidated estimate"
    est = Estimate(
        wl.name,
        device,
        raw.value,
        raw.value * lo,
        raw.value * hi,
        unit,
        "estimated",
        raw.source,
        wl.family,
        warning,
        raw.calibrated_by,
        details,
    )
    return _floored(ctx, wl.name, est)


def _floored(ctx: _Context, workload: str, est: Estimate | None) -> Estimate | None:
    """A GPU is never estimated slower than a CPU measured on the same workload (same key: same shape): the
    estimate cannot know the GPU is slower, and a measurement on it would say so."""
    floor = max((m.value for (name, _), m in ctx.measured.items() if name == workload and m.cpu), default=None)
    if est is None or floor is None or est.value >= floor:
        return est
    scale = floor / est.value
    source = est.source + f"; raised to the CPU's measured {floor:.4g} (no GPU measured slower)"
    return replace(est, value=floor, low=est.low * scale, high=est.high * scale, source=source)


def estimate_all(
    workload: str,
    runs: pd.DataFrame | None = None,
    *,
    catalog: Mapping[str, DeviceSpec] | None = None,
    published: list[Published] | None = None,
    batch: int | None = None,
    context: int | None = None,
    gpus: int | None = None,
    engine: str | None = None,
    only: Iterable[str] | None = None,
) -> dict[str, Estimate]:
    """`estimate` for every catalog device that has the figures the workload needs: {slug: Estimate}. `only`
    names the devices wanted (the same estimates, fitted on the whole catalog, without computing the others)."""
    ctx = _context(runs, catalog, published)
    out = {}
    wanted = None if only is None else set(only)
    for slug in ctx.catalog:
        if wanted is not None and slug not in wanted:
            continue
        est = _estimate(ctx, workload, slug, batch=batch, context=context, gpus=gpus, engine=engine)
        if est is not None:
            out[slug] = est
    return out


class LlmEstimator:
    """LLM throughput for any decoder shape (a preset or a config.json's) on catalog devices, over one fitted
    context: what the advisor asks hundreds of times while it sizes a deployment.

    rate(preset, "decode", "bf16", "h100-sxm", batch=16, context=4096, gpus=2) -> Estimate (tokens/s of the
    whole system; details carry mbu, mfu, step time)."""

    def __init__(
        self,
        runs: pd.DataFrame | None = None,
        *,
        catalog: Mapping[str, DeviceSpec] | None = None,
        published: list[Published] | None = None,
    ) -> None:
        self.ctx = _context(runs, catalog, published)

    def rate(
        self,
        preset: LP.Preset,
        task: str,
        precision: str,
        device: str,
        *,
        batch: int,
        context: int,
        gpus: int = 1,
        engine: str = "serving",
    ) -> Estimate | None:
        if task not in LLM_TASKS:
            raise GpubenchError(f"unknown LLM task {task!r}; use one of {', '.join(LLM_TASKS)}")
        known = preset.name in LP.PRESETS and LP.PRESETS[preset.name] == preset
        if known:
            name = f"llm_{task}/{preset.name}/{precision}"
            return _estimate(self.ctx, name, device, batch=batch, context=context, gpus=gpus, engine=engine)
        if device not in self.ctx.catalog:
            raise GpubenchError(f"unknown device {device!r}: not a catalog slug (see gpubench specs)")
        # A config's model: the same roofline and fitted efficiencies (under a name no published figure uses).
        wl = WorkloadName(f"llm_{task}/{preset.name}/{precision}", "llm", precision, preset.name, task, precision)
        shape = _shape_arg(wl, batch, context, gpus, engine)
        assert shape is not None
        raw = _llm_estimate(self.ctx, wl, self.ctx.catalog[device], shape, preset)
        if raw is None:
            return None
        lo, hi, warning = (
            _local(self.ctx, ("interval", wl.family, "estimated"), lambda: _interval(wl.family, "estimated"))
            if raw.validated
            else (0.5, 1.5, "unvalidated estimate")
        )
        return Estimate(
            wl.name,
            device,
            raw.value,
            raw.value * lo,
            raw.value * hi,
            "tokens/s",
            "estimated",
            raw.source,
            wl.family,
            warning,
            raw.calibrated_by,
            dict(raw.details),
        )


def llm_parameters(task: str = "decode", engine: str = "serving") -> dict[str, Any]:
    """The fitted (or prior) MBU, MFU and per-layer overhead of an LLM task and engine class, on all published
    figures."""
    fit = _llm_fit(_context(None, None, None), task, engine)
    return {
        "mbu": fit.mbu,
        "mfu": fit.mfu,
        "overhead_s_per_layer": fit.overhead_s,
        "points": fit.points,
        "fitted": fit.fitted,
        "borrowed_from": fit.borrowed_from,
        **{f"segment_{k}": math.exp(v) for k, v in fit.segment.items()},
    }


def memory_need_bytes(workload: str, batch: int | None = None) -> tuple[float, float] | None:
    """(fixed bytes, params) lower bound of a training workload's memory: weights + gradients + Adam state.

    Activations are not counted (they need a measured run)."""
    wl = parse_workload(workload)
    if wl is None or wl.kind != "model":
        return None
    params = float(workload_costs()[wl.model]["params"])
    per_param = 16.0 if wl.mode == "train" else 4.0  # fp32 weights + grads + 2 Adam moments; inference: weights
    return params * per_param, params
