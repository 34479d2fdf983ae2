"""Datasheet catalog: dense peaks per precision, memory bandwidth, memory, TDP, launch price, sources.

The data lives in `gpubench/data/specs.toml` (its header states the conventions). This module loads and
validates it, matches torch device names to entries, and turns a measured throughput into a percentage
of the datasheet peak. Standard library only: never imports torch.

Matching never guesses: a name that fits no entry, or fits several that memory size, compute-unit count
and power limit cannot tell apart, gets `None`, and so does every peak derived from it.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from gpubench.errors import GpubenchError
from gpubench.files import tomllib
from gpubench.stats import finite_or_none

PRECISIONS = ("fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "int8")
"""Precisions a peak can be given for. int8 is in TOP/s, the rest in TFLOP/s."""

_PRECISION_ALIASES = {
    "fp64": "fp64",
    "float64": "fp64",
    "double": "fp64",
    "fp32": "fp32",
    "float32": "fp32",
    "float": "fp32",
    "tf32": "tf32",
    "fp16": "fp16",
    "float16": "fp16",
    "half": "fp16",
    "amp_fp16": "fp16",
    "bf16": "bf16",
    "bfloat16": "bf16",
    "amp_bf16": "bf16",
    "fp8": "fp8",
    "int8": "int8",
}

# Memory the device reports, in GiB, as a fraction of the marketed size. Below 1: ECC reserve on GDDR cards
# (1/16 on an RTX A6000 or L40S with ECC on), driver reservations; above 1 only by rounding. A MIG slice or a
# partitioned MI300X reports far less and must not match the whole GPU.
_MEMORY_RATIO_MIN = 0.90
_MEMORY_RATIO_MAX = 1.03
# A power limit above this multiple of an entry's TDP rules the entry out (used only to choose between
# candidates: GeForce cards may raise their limit past TDP, data-center PCIe boards may not).
_POWER_LIMIT_SLACK = 1.10

_REQUIRED = {
    "name": str,
    "vendor": str,
    "year": int,
    "match": list,
    "memory_gb": (int, float),
    "memory_bandwidth_gbps": (int, float),
    "source": str,
    "peak": dict,
}
_OPTIONAL = {
    "tdp_w": (int, float),
    "segment": str,
    "boost_clock_mhz": (int, float),
    "unified_memory": bool,
    "launch_price_usd": (int, float),
    "compute_units": int,
    "arch": str,
    "devices_per_card": int,
    "notes": str,
    "sources": dict,
}
_FIGURES = (
    "year",
    "memory_gb",
    "memory_bandwidth_gbps",
    "tdp_w",
    "launch_price_usd",
    "compute_units",
    "boost_clock_mhz",
)
SEGMENTS = ("consumer", "workstation", "datacenter")
"""Market segments an entry belongs to (`segment`): GeForce/Radeon/Apple, professional desktop cards, servers."""


@dataclass(frozen=True)
class DeviceSpec:
    """One catalog entry: the datasheet figures of a device model, per torch device."""

    slug: str
    name: str
    vendor: str
    year: int
    memory_gb: float
    memory_bandwidth_gbps: float
    tdp_w: float | None  # None: the vendor publishes no board power (TPUs, superchip modules)
    peaks: Mapping[str, float] = field(hash=False)
    sources: Mapping[str, str] = field(hash=False)
    match: tuple[str, ...] = ()
    launch_price_usd: float | None = None
    compute_units: int | None = None
    devices_per_card: int = 1
    notes: str = ""
    arch: str = ""
    segment: str = ""
    boost_clock_mhz: float | None = None
    unified_memory: bool = False  # Apple silicon: memory is the host's, sized per machine; not used to match

    @property
    def family(self) -> str:
        """Architecture family the performance model fits efficiencies for (the vendor when not given)."""
        return self.arch or self.vendor

    def peak(self, precision: str) -> float | None:
        """Dense datasheet peak in TFLOP/s (TOP/s for int8), or None when not published / not supported."""
        key = normalize_precision(precision)
        return None if key is None else self.peaks.get(key)

    def source(self, figure: str) -> str:
        """URL backing `figure` ("peak.bf16", "memory_bandwidth_gbps", ...): its own or the entry's."""
        return self.sources.get(figure) or self.sources["*"]

    def figures(self) -> dict[str, float]:
        """Every figure the entry carries, keyed as `source()` expects."""
        out: dict[str, float] = {f"peak.{k}": v for k, v in self.peaks.items()}
        for name in _FIGURES:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    def matches_name(self, device_name: str) -> bool:
        """Whether the torch device name fits one of this entry's patterns (memory etc. not checked)."""
        key = normalize_device_name(device_name)
        return any(_compile(p).fullmatch(key) for p in self.match)


def normalize_precision(precision: str | None) -> str | None:
    """Map dtype / training-precision names ("bfloat16", "amp_bf16", "fp8_e4m3" ...) to a catalog key."""
    if not isinstance(precision, str):
        return None
    key = precision.strip().lower()
    if key in _PRECISION_ALIASES:
        return _PRECISION_ALIASES[key]
    if key.startswith(("fp8", "float8", "e4m3", "e5m2")):
        return "fp8"
    return None


def normalize_device_name(name: str) -> str:
    """Lower-case, collapse whitespace, drop a leading vendor word: the form `match` patterns see."""
    key = " ".join(str(name).lower().split())
    for prefix in ("nvidia ", "amd "):
        if key.startswith(prefix):
            key = key[len(prefix) :]
    return key


@functools.lru_cache(maxsize=512)
def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _err(path: str, key: str, message: str) -> GpubenchError:
    return GpubenchError(f"{path}: {key}: {message}")


def _entry(path: str, slug: str, raw: Any) -> DeviceSpec:
    """Build one DeviceSpec from its TOML table, checking types, keys and that every figure has a URL."""
    if not isinstance(raw, dict):
        raise _err(path, slug, "must be a table")
    for key, kind in _REQUIRED.items():
        if key not in raw:
            raise _err(path, f"{slug}.{key}", "missing")
        if not isinstance(raw[key], kind) or isinstance(raw[key], bool):
            raise _err(path, f"{slug}.{key}", f"wrong type {type(raw[key]).__name__}")
    for key, value in raw.items():
        if key not in _REQUIRED and key not in _OPTIONAL:
            allowed = ", ".join([*_REQUIRED, *_OPTIONAL])
            raise _err(path, f"{slug}.{key}", f"unknown key; expected one of {allowed}")
        kind = _OPTIONAL.get(key)
        if kind is not None and (not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool)):
            raise _err(path, f"{slug}.{key}", f"wrong type {type(value).__name__}")
    if "segment" in raw and raw["segment"] not in SEGMENTS:
        raise _err(path, f"{slug}.segment", f"{raw['segment']!r}; expected one of {', '.join(SEGMENTS)}")
    peaks: dict[str, float] = {}
    for precision, value in raw["peak"].items():
        if precision not in PRECISIONS:
            raise _err(
                path,
                f"{slug}.peak.{precision}",
                f"unknown precision; expected one of {', '.join(PRECISIONS)}",
            )
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise _err(path, f"{slug}.peak.{precision}", "must be a number (TFLOP/s or TOP/s)")
        peaks[precision] = float(value)
    sources = {"*": raw["source"], **raw.get("sources", {})}
    for figure, url in sources.items():
        if not isinstance(url, str) or not url.startswith("https://"):
            raise _err(path, f"{slug}.sources.{figure}", f"not an https URL: {url!r}")
    patterns = tuple(raw["match"])
    for i, pattern in enumerate(patterns):
        try:
            _compile(pattern)
        except (re.error, TypeError) as exc:
            raise _err(path, f"{slug}.match[{i}]", f"bad regular expression: {exc}") from None
    price = raw.get("launch_price_usd")
    tdp = raw.get("tdp_w")
    boost = raw.get("boost_clock_mhz")
    spec = DeviceSpec(
        slug=slug,
        name=raw["name"],
        vendor=raw["vendor"],
        year=raw["year"],
        memory_gb=float(raw["memory_gb"]),
        memory_bandwidth_gbps=float(raw["memory_bandwidth_gbps"]),
        tdp_w=None if tdp is None else float(tdp),
        peaks=peaks,
        sources=sources,
        match=patterns,
        launch_price_usd=None if price is None else float(price),
        compute_units=raw.get("compute_units"),
        devices_per_card=raw.get("devices_per_card", 1),
        notes=raw.get("notes", ""),
        arch=raw.get("arch", ""),
        segment=raw.get("segment", ""),
        boost_clock_mhz=None if boost is None else float(boost),
        unified_memory=raw.get("unified_memory", False),
    )
    for figure in sources:
        if figure != "*" and figure not in spec.figures():
            raise _err(path, f"{slug}.sources.{figure}", "names no figure of this entry")
    problems = check_spec(spec)
    if problems:
        raise _err(path, slug, problems[0])
    return spec


def check_spec(spec: DeviceSpec) -> list[str]:
    """Sanity checks on one entry's figures (units in range, peaks ordered as physics orders them)."""
    problems = []
    ranges = {
        "year": (2015, 2035),
        "memory_gb": (4, 1024),
        "memory_bandwidth_gbps": (100, 20_000),  # GB/s: a TB/s figure entered as 3.35 would fail here
        "tdp_w": (50, 2000),
        "launch_price_usd": (100, 100_000),
        "compute_units": (1, 1000),
        "devices_per_card": (1, 8),
        "boost_clock_mhz": (500, 4000),
    }
    for name, (lo, hi) in ranges.items():
        value = getattr(spec, name)
        if value is not None and not (lo <= value <= hi and math.isfinite(value)):
            problems.append(f"{name} = {value} outside [{lo}, {hi}]")
    for precision, value in spec.peaks.items():
        if not (0.1 <= value <= 20_000 and math.isfinite(value)):
            problems.append(f"peak.{precision} = {value} outside [0.1, 20000] TFLOP/s")
    p = spec.peaks
    # Each pair: (lower, higher) — a lower-precision GEMM never runs slower than a higher-precision one.
    for lower, higher in (
        ("fp64", "fp32"),
        ("fp32", "tf32"),
        ("fp32", "fp16"),
        ("fp32", "bf16"),
        ("fp16", "fp8"),
        ("bf16", "fp8"),
        ("fp16", "int8"),
    ):
        if lower in p and higher in p and p[lower] > p[higher]:
            problems.append(f"peak.{lower} ({p[lower]}) > peak.{higher} ({p[higher]})")
    if "fp32" not in p and spec.vendor in ("nvidia", "amd"):
        problems.append("peak.fp32 missing")  # Gaudi, TPUs and Apple GPUs publish no (or no dense) FP32 figure
    if not spec.match:
        problems.append("match is empty: the entry could never be found")
    return problems


def _default_path() -> Path:
    return Path(str(resources.files("gpubench") / "data" / "specs.toml"))


@functools.lru_cache(maxsize=8)
def _load(path: str, mtime_ns: int) -> tuple[DeviceSpec, ...]:  # mtime in the key: an edited file reloads
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise GpubenchError(f"{path}: catalog file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise GpubenchError(f"{path}: not valid TOML: {exc}") from None
    return tuple(_entry(path, slug, entry) for slug, entry in raw.items())


def load_catalog(path: str | Path | None = None) -> dict[str, DeviceSpec]:
    """The catalog as {slug: DeviceSpec}; `path` defaults to the packaged `data/specs.toml`."""
    resolved = Path(path).resolve() if path is not None else _default_path()
    try:
        mtime_ns = resolved.stat().st_mtime_ns
    except OSError:
        raise GpubenchError(f"{resolved}: catalog file not found") from None
    return {spec.slug: spec for spec in _load(str(resolved), mtime_ns)}


def _catalog(catalog: Mapping[str, DeviceSpec] | None) -> Mapping[str, DeviceSpec]:
    return load_catalog() if catalog is None else catalog


def _memory_fits(spec: DeviceSpec, memory_bytes: float) -> bool:
    if spec.unified_memory:  # the host's RAM, any size the machine was bought with: no evidence either way
        return True
    ratio = memory_bytes / 2**30 / spec.memory_gb
    return _MEMORY_RATIO_MIN <= ratio <= _MEMORY_RATIO_MAX


def match_device(
    name: str,
    memory_bytes: int | None = None,
    power_limit_w: float | None = None,
    *,
    compute_units: int | None = None,
    catalog: Mapping[str, DeviceSpec] | None = None,
) -> DeviceSpec | None:
    """The catalog entry for a torch device name, or None when there is none or it is ambiguous.

    `memory_bytes` (torch's total_memory) rules out entries of another memory size (A100 40 vs 80 GB, the
    12 GB RTX 3080, MIG slices); `compute_units` (multi_processor_count: SMs or CUs) those with another
    SM/CU count (MI250X vs MI250 GCDs); `power_limit_w` chooses between boards that share a name and
    memory (H100 SXM at 700 W vs PCIe at 350 W) but never rules out a lone candidate.
    """
    if not isinstance(name, str) or not name.strip():
        return None
    key = normalize_device_name(name)
    candidates = [s for s in _catalog(catalog).values() if any(_compile(p).fullmatch(key) for p in s.match)]
    memory = finite_or_none(memory_bytes)
    if memory is not None and memory > 0:
        candidates = [s for s in candidates if _memory_fits(s, memory)]
    units = finite_or_none(compute_units)
    if units is not None:
        candidates = [s for s in candidates if s.compute_units is None or s.compute_units == int(units)]
    power = finite_or_none(power_limit_w)
    if len(candidates) > 1 and power is not None and power > 0:
        candidates = [s for s in candidates if s.tdp_w is None or power <= s.tdp_w * _POWER_LIMIT_SLACK]
    return candidates[0] if len(candidates) == 1 else None


def peak_for(
    device_name: str,
    precision: str,
    memory_bytes: int | None = None,
    power_limit_w: float | None = None,
    *,
    compute_units: int | None = None,
    catalog: Mapping[str, DeviceSpec] | None = None,
) -> float | None:
    """Dense datasheet peak (TFLOP/s or TOP/s) of `precision` on the named device, or None."""
    spec = match_device(device_name, memory_bytes, power_limit_w, compute_units=compute_units, catalog=catalog)
    return None if spec is None else spec.peak(precision)


def _param(params: Mapping[str, Any] | None, name: str) -> Any:
    if not isinstance(params, Mapping):
        return None
    value = params.get(name)
    return None if isinstance(value, float) and math.isnan(value) else value


def _percent(achieved: Any, peak: float | None) -> float | None:
    value = finite_or_none(achieved)
    if value is None or value <= 0 or not peak:
        return None
    return 100.0 * value / peak


def pct_of_peak(
    device_name: str,
    memory_bytes: int | None,
    power_limit_w: float | None,
    benchmark: str,
    params: Mapping[str, Any],
    throughput: float,
    *,
    compute_units: int | None = None,
    catalog: Mapping[str, DeviceSpec] | None = None,
) -> float | None:
    """Measured throughput as a percentage (0-100, may exceed 100 on boosting GeForce cards) of the datasheet
    figure the benchmark declares (gpubench.benchmarks.BENCHMARKS, `Declares.peak`):

    "peak.<precision>": `throughput` in TFLOP/s (TOP/s for int8) against that precision's peak (matmul);
    "memory_bandwidth_gbps": `throughput` in GB/s counting bytes read + written, against the datasheet
    bandwidth, which also counts both directions (memory d2d). No declared figure, an unknown device or the
    CPU: None.
    """
    from gpubench.benchmarks import declaration  # torch-free

    figure = declaration(benchmark).peak_figure(params)
    spec = match_device(device_name, memory_bytes, power_limit_w, compute_units=compute_units, catalog=catalog)
    if spec is None or figure is None:
        return None
    if figure.startswith("peak."):
        dtype = figure.removeprefix("peak.")
        # An fp32 case run with TF32 allowed is a TF32 measurement, whatever the dtype column says.
        if normalize_precision(dtype) == "fp32" and (_param(params, "tf32") or _param(params, "allow_tf32")):
            dtype = "tf32"
        return _percent(throughput, spec.peak(dtype))
    if figure == "memory_bandwidth_gbps":
        return _percent(throughput, spec.memory_bandwidth_gbps)
    return None


def mfu(
    device_name: str,
    memory_bytes: int | None,
    power_limit_w: float | None,
    precision: str,
    achieved_tflops: float,
    *,
    compute_units: int | None = None,
    catalog: Mapping[str, DeviceSpec] | None = None,
) -> float | None:
    """Model FLOPs utilisation of a training row, in percent (like `pct_of_peak`), or None.

    `precision` is the training precision: "fp32", "tf32", "amp_fp16"/"fp16", "amp_bf16"/"bf16", "int8".
    """
    return _percent(
        achieved_tflops,
        peak_for(device_name, precision, memory_bytes, power_limit_w, compute_units=compute_units, catalog=catalog),
    )


def pct_of_bandwidth(
    device_name: str,
    memory_bytes: int | None,
    power_limit_w: float | None,
    achieved_gbps: float,
    *,
    compute_units: int | None = None,
    catalog: Mapping[str, DeviceSpec] | None = None,
) -> float | None:
    """Achieved memory traffic (GB/s) as a percentage of the datasheet bandwidth, or None (unknown device)."""
    spec = match_device(device_name, memory_bytes, power_limit_w, compute_units=compute_units, catalog=catalog)
    return None if spec is None else _percent(achieved_gbps, spec.memory_bandwidth_gbps)


def catalog_table(catalog: Mapping[str, DeviceSpec] | None = None) -> list[dict[str, Any]]:
    """One flat dict per entry (for `gpubench specs` tables and JSON)."""
    rows = []
    for spec in _catalog(catalog).values():
        row: dict[str, Any] = {"slug": spec.slug, "name": spec.name, "vendor": spec.vendor, "year": spec.year}
        for precision in PRECISIONS:
            row[precision] = spec.peaks.get(precision)
        row.update(
            memory_gb=spec.memory_gb,
            memory_bandwidth_gbps=spec.memory_bandwidth_gbps,
            tdp_w=spec.tdp_w,
            launch_price_usd=spec.launch_price_usd,
            segment=spec.segment,
            boost_clock_mhz=spec.boost_clock_mhz,
            compute_units=spec.compute_units,
            devices_per_card=spec.devices_per_card,
            source=spec.source("*"),
            notes=spec.notes,
        )
        rows.append(row)
    return rows
