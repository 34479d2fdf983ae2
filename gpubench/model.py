"""Performance model: predicts a gpubench workload's throughput on any catalog device, with an interval.

Never imports torch. The two public calls (used by the advisor and the report):

    estimate("resnet50/amp_bf16", "rtx-4090", runs)   # -> Estimate(value, low, high, unit, basis, source, ...)
    predictable_workloads()                          # -> ["matmul/bf16", "memory/d2d", "resnet50/amp_bf16", ...]

How a figure is produced, in order of preference:

1. measured: `runs` (from `gpubench.load_runs`) hold the workload on that device: the best ok row.
2. published: a primary source in `gpubench/data/published/*.csv` reports it (median over sources).
3. estimated from bounds. Each workload's step splits into what bounds it:
   - matmul/<p>: compute only. Ceiling = the device's published achievable GEMM of that precision, else its
     datasheet peak x the efficiency (published / peak) of its architecture family (then vendor, then all);
   - memory/d2d: bandwidth only, the same way from the datasheet bandwidth;
   - <model>/<precision>: time per item = a / C + b / BW, where C is the compute ceiling of the precision
     (as for matmul), BW the achievable bandwidth (as for memory/d2d), and a (FLOPs per item over the
     fraction of the GEMM ceiling the model reaches) and b (bytes per item) are fitted by least squares on the
     published points of that model (the same model at the other precision of its width class when its own
     has none). With no published point of the model at all, a compute-bound estimate from its FLOPs per item
     (`data/workloads.toml`) and the median utilisation of the fitted models; that one is unvalidated.
   A per-step overhead (launches, synchronisation) is not identifiable from one batch per device and is not
   modelled: small-batch workloads are overestimated.
4. calibration: where `runs` measured the workload (or its matmul/memory bound) on a catalog device, the
   measured / predicted ratio scales the estimates of every device of the same architecture family.

Intervals come from the model's own leave-one-out validation (`validate`): each published figure predicted
with it held out; the interval half-width is the 80th percentile of the absolute relative error of the
workload family (matmul, memory, training). `validation_summary` gives the median and worst error per family
against the targets (15 % matmul and memory, 25 % training); `Estimate.warning` says when a family misses it.
"""

from __future__ import annotations

import csv
import functools
import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gpubench.benchmarks import BENCHMARKS, declaration
from gpubench.errors import GpubenchError
from gpubench.files import tomllib
from gpubench.specs import PRECISIONS, DeviceSpec, load_catalog, match_device, normalize_precision
from gpubench.stats import finite_or_none

TARGETS = {"matmul": 0.15, "memory": 0.15, "training": 0.25}
"""Median relative error the validation must reach per family (issue 14)."""

MODEL_PRECISIONS = ("fp32", "tf32", "amp_fp16", "amp_bf16")
INFER_PRECISIONS = ("fp32", "fp16", "bf16", "int8")
# Precisions whose activations are 2 bytes: a fitted bytes-per-item carries between them, not to fp32/tf32.
_HALF = {"amp_fp16", "amp_bf16", "fp16", "bf16", "int8"}
_UNVALIDATED_WIDTH = 0.5  # stated assumption for estimates the validation cannot test
_PARAMS = ("dtype", "kind", "model", "precision", "batch", "mode")
_PUBLISHED_COLUMNS = ("device", "workload", "value", "unit", "conditions", "source", "date")


@dataclass(frozen=True)
class Published:
    """One published figure: a catalog device, a gpubench workload, its value and where it comes from."""

    device: str
    workload: str
    value: float
    unit: str
    conditions: str
    source: str
    date: str
    file: str
    extra: Mapping[str, float] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Estimate:
    """A throughput figure for (workload, device), with its interval and where it comes from.

    basis: "measured" | "published" | "estimated"; source: the run id, the source URL(s), or what the
    estimate was built from; low/high: the interval (equal to value for measured); family: the validation
    family (matmul, memory, training, inference); warning: set when the family misses its validation target
    or the estimate could not be validated.
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
            extra = {k: float(v) for k, v in row.items() if k not in _PUBLISHED_COLUMNS and finite_or_none(v)}
            out.append(
                Published(
                    row["device"],
                    row["workload"].strip(),
                    value,
                    row["unit"],
                    row["conditions"],
                    row["source"],
                    row["date"],
                    name,
                    extra,
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


@functools.lru_cache(maxsize=1)
def default_cloud_prices() -> dict[str, dict[str, str | float]]:
    """The shipped, dated cloud table: {slug: {cloud_usd_per_hour, provider, source, date}}."""
    out: dict[str, dict[str, str | float]] = {}
    for row in _rows(_data_dir() / "cloud_prices.csv"):
        out[row["device"]] = {**row, "cloud_usd_per_hour": float(row["cloud_usd_per_hour"])}
    return out


# ------------------------------------------------------------------------------------------- workloads


@dataclass(frozen=True)
class WorkloadName:
    name: str
    kind: str  # matmul | memory | model
    precision: str = ""  # catalog precision key that sets the compute ceiling
    model: str = ""
    mode: str = "train"
    run_precision: str = ""  # the precision as the benchmark names it (amp_bf16, tf32, ...)

    @property
    def family(self) -> str:
        if self.kind in ("matmul", "memory"):
            return self.kind
        return "training" if self.mode == "train" else "inference"


def parse_workload(name: str) -> WorkloadName | None:
    """Split "matmul/bf16", "memory/d2d", "resnet50/amp_bf16", "gpt2/bf16/infer"; None if not predictable."""
    parts = [p for p in name.strip().lower().split("/") if p]
    if len(parts) == 2 and parts[0] == "matmul" and parts[1] in PRECISIONS:
        return WorkloadName(f"matmul/{parts[1]}", "matmul", parts[1])
    if parts == ["memory", "d2d"]:
        return WorkloadName("memory/d2d", "memory")
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
    """Every workload name `estimate` accepts: matmul per precision, memory/d2d, each model x precision."""
    names = [f"matmul/{p}" for p in PRECISIONS] + ["memory/d2d"]
    for model in workload_costs():
        names += [f"{model}/{p}" for p in MODEL_PRECISIONS]
        names += [f"{model}/{p}/infer" for p in INFER_PRECISIONS]
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


def workload_of_row(benchmark: Any, params: Mapping[str, Any]) -> str | None:
    """The workload a result row belongs to, or None: what its benchmark declares (`Declares.workload` in
    gpubench.benchmarks.BENCHMARKS: matmul/<dtype>, memory/d2d, <model>/<precision>[/infer]); a benchmark that
    declares none (ddp_train, collective, max_batch: not what one card does on the workload) has none. Rows
    of benchmarks gpubench does not know (published figures) are named by model, precision and mode."""
    bench = _text(benchmark)
    if bench in BENCHMARKS:
        return declaration(bench).workload_name({k: _text(v) for k, v in params.items()})
    model, precision = _text(params.get("model")), _text(params.get("precision"))
    if model and precision:
        mode = (_text(params.get("mode")) or "").lower()
        if bench == "infer" or mode in ("infer", "inference", "eval"):
            return f"{model}/{precision}/infer"
        if bench == "train" or mode == "train" or not mode:
            return f"{model}/{precision}"
    return None


# ----------------------------------------------------------------------------------------------- core


@dataclass
class _Context:
    catalog: Mapping[str, DeviceSpec]
    published: list[Published]
    measured: dict[tuple[str, str], tuple[float, str]] = field(default_factory=dict)  # (workload, slug)


@dataclass(frozen=True)
class _Raw:
    value: float
    basis: str
    source: str
    calibrated_by: str = ""
    validated: bool = True


def _points(ctx: _Context, workload: str) -> dict[str, list[Published]]:
    out: dict[str, list[Published]] = {}
    for p in ctx.published:
        if p.workload == workload:
            out.setdefault(p.device, []).append(p)
    return out


def _datasheet(spec: DeviceSpec, wl: WorkloadName) -> float | None:
    return spec.memory_bandwidth_gbps if wl.kind == "memory" else spec.peak(wl.precision)


def _efficiency(ctx: _Context, wl: WorkloadName, spec: DeviceSpec) -> tuple[float, str] | None:
    """Published / datasheet for the nearest group that has points: family, vendor, all devices."""
    same: list[tuple[DeviceSpec, float]] = []  # this workload
    other: list[tuple[DeviceSpec, float]] = []  # any precision of the same kind (matmul), as a last resort
    for p in ctx.published:
        pw = parse_workload(p.workload)
        if pw is None or pw.kind != wl.kind:
            continue
        dev = ctx.catalog[p.device]
        sheet = _datasheet(dev, pw)
        if sheet:
            (same if pw.name == wl.name else other).append((dev, p.value / sheet))
    # With no published figure at all (a catalog of the user's own), the user's runs set the efficiency;
    # otherwise they act through `_calibrate` only, so a run is not counted twice.
    for (name, slug), (value, _) in [] if same or other else ctx.measured.items():
        dev = ctx.catalog.get(slug)
        pw = parse_workload(name)
        if dev is not None and pw is not None and pw.kind == wl.kind and (sheet := _datasheet(dev, pw)):
            (same if pw.name == wl.name else other).append((dev, value / sheet))
    groups = (
        (same, f"{spec.family} family", lambda s: s.family == spec.family),
        (same, f"{spec.vendor} devices", lambda s: s.vendor == spec.vendor),
        (same, "all devices", lambda s: True),
        (other, f"{spec.vendor} devices, other precisions", lambda s: s.vendor == spec.vendor),
        (other, "all devices, other precisions", lambda s: True),
    )
    for ratios, label, keep in groups:
        group = [r for s, r in ratios if keep(s)]
        if group:
            return statistics.median(group), label
    return None


def _ceiling(ctx: _Context, wl: WorkloadName, spec: DeviceSpec) -> _Raw | None:
    """Achievable matmul (precision) or bandwidth (memory) of one device."""
    measured = ctx.measured.get((wl.name, spec.slug))
    if measured is not None:
        return _Raw(measured[0], "measured", measured[1])
    pts = _points(ctx, wl.name).get(spec.slug)
    if pts:
        return _Raw(statistics.median(p.value for p in pts), "published", "; ".join(sorted({p.source for p in pts})))
    sheet = _datasheet(spec, wl)
    if not sheet:
        return None
    eff = _efficiency(ctx, wl, spec)
    if eff is None:
        return None
    what = "bandwidth" if wl.kind == "memory" else f"{wl.precision} peak"
    raw = _Raw(sheet * eff[0], "estimated", f"datasheet {what} x {eff[0]:.0%} (published efficiency, {eff[1]})")
    return _calibrate(ctx, wl, spec, raw)


def _calibrate(ctx: _Context, wl: WorkloadName, spec: DeviceSpec, raw: _Raw) -> _Raw:
    """Scale an estimate by measured / predicted on measured devices of the same architecture family."""
    ratios, names = [], []
    for (name, slug), (value, run_id) in ctx.measured.items():
        other = ctx.catalog.get(slug)
        if name != wl.name or other is None or slug == spec.slug or other.family != spec.family:
            continue
        stripped = _Context(ctx.catalog, ctx.published, {})
        pred = _predict(stripped, wl, other)
        if pred is not None and pred.value > 0:
            ratios.append(value / pred.value)
            names.append(f"run {run_id} on {other.name}")
    if not ratios:
        return raw
    ratio = statistics.median(ratios)
    return replace(raw, value=raw.value * ratio, calibrated_by=f"x{ratio:.2f} from " + ", ".join(names))


def _fit(rows: list[tuple[float, float, float]]) -> tuple[float, float] | None:
    """Least squares on relative error: thr * (a x + b y) = 1, a, b >= 0 (x = 1/C, y = 1/BW)."""
    if not rows:
        return None
    arr = np.array(rows, dtype=float)
    thr, x, y = arr[:, 0], arr[:, 1], arr[:, 2]
    design = np.column_stack([thr * x, thr * y])
    target = np.ones(len(arr))
    candidates = []
    if len(arr) >= 2:
        coef, *_ = np.linalg.lstsq(design, target, rcond=None)
        if (coef >= 0).all():
            candidates.append((float(coef[0]), float(coef[1])))
    for col in (0, 1):  # one bound alone
        d = design[:, col]
        c = float(d @ target / (d @ d))
        candidates.append((c, 0.0) if col == 0 else (0.0, c))

    def loss(ab: tuple[float, float]) -> float:
        return float(((design @ np.array(ab)) - 1.0) @ ((design @ np.array(ab)) - 1.0))

    return min(candidates, key=loss)


def _bounds(ctx: _Context, wl: WorkloadName, spec: DeviceSpec) -> tuple[_Raw, _Raw] | None:
    compute = _ceiling(ctx, WorkloadName(f"matmul/{wl.precision}", "matmul", wl.precision), spec)
    memory = _ceiling(ctx, WorkloadName("memory/d2d", "memory"), spec)
    if compute is None or memory is None:
        return None
    return compute, memory


def _fit_sources(ctx: _Context, wl: WorkloadName) -> list[str]:
    """Published workloads whose points fit a and b for `wl`: itself, else its width-class siblings."""
    mine = [wl.name] if _points(ctx, wl.name) else []
    if mine:
        return mine
    half = wl.run_precision in _HALF
    suffix = "/infer" if wl.mode == "infer" else ""
    precisions = MODEL_PRECISIONS if wl.mode == "train" else INFER_PRECISIONS
    return [
        f"{wl.model}/{p}{suffix}"
        for p in precisions
        if (p in _HALF) == half and p != wl.run_precision and _points(ctx, f"{wl.model}/{p}{suffix}")
    ]


def _model_estimate(ctx: _Context, wl: WorkloadName, spec: DeviceSpec) -> _Raw | None:
    bounds = _bounds(ctx, wl, spec)
    if bounds is None:
        return None
    compute, memory = bounds
    sources = _fit_sources(ctx, wl)
    rows = []
    for name in sources:
        other_wl = parse_workload(name)
        assert other_wl is not None
        for slug, pts in _points(ctx, name).items():
            b = _bounds(ctx, other_wl, ctx.catalog[slug])
            if b is not None:
                rows.append((statistics.median(p.value for p in pts), 1 / b[0].value, 1 / b[1].value))
    coef = _fit(rows)
    if coef is not None and sum(coef) > 0:
        a, b = coef
        value = 1.0 / (a / compute.value + b / memory.value)
        split = f"{a / compute.value / (a / compute.value + b / memory.value):.0%} compute-bound"
        for name in sources:  # this very device published at a sibling precision: scale that figure instead
            own = _points(ctx, name).get(spec.slug)
            sib = parse_workload(name)
            sib_bounds = _bounds(ctx, sib, spec) if own and sib is not None else None
            if own and sib_bounds is not None:
                sib_pred = 1.0 / (a / sib_bounds[0].value + b / sib_bounds[1].value)
                scaled = statistics.median(p.value for p in own) * value / sib_pred
                return _Raw(
                    scaled,
                    "estimated",
                    f"published {name} on this device x {value / sib_pred:.2f} "
                    f"(the bounds' ratio of {wl.run_precision} to {sib.run_precision})",
                )
        raw = _Raw(
            value,
            "estimated",
            f"bounds fitted on {len(rows)} published {'/'.join(sources)} points "
            f"({split}); ceilings: {compute.basis} matmul, {memory.basis} bandwidth",
        )
        return _calibrate(ctx, wl, spec, raw)
    # No published point of this model: compute-bound from its FLOPs and the fitted models' utilisation.
    util = _generic_utilisation(ctx)
    cost = workload_costs()[wl.model]
    flops = cost["train_flops" if wl.mode == "train" else "infer_flops"]
    if util is None or not flops:
        return None
    raw = _Raw(
        compute.value * 1e12 * util / flops,
        "estimated",
        f"compute-bound from {flops / 1e9:.3g} GFLOP per {cost['unit']} at {util:.0%} of the "
        f"{compute.basis} matmul ceiling (median of the published models): unvalidated",
        validated=False,
    )
    return _calibrate(ctx, wl, spec, raw)


def _generic_utilisation(ctx: _Context) -> float | None:
    """Model FLOP/s over the matmul ceiling, median over every published training point."""
    utils = []
    for p in ctx.published:
        wl = parse_workload(p.workload)
        if wl is None or wl.kind != "model" or wl.mode != "train":
            continue
        compute = _ceiling(ctx, WorkloadName(f"matmul/{wl.precision}", "matmul", wl.precision), ctx.catalog[p.device])
        if compute is not None:
            utils.append(p.value * workload_costs()[wl.model]["train_flops"] / (compute.value * 1e12))
    return statistics.median(utils) if utils else None


def _predict(ctx: _Context, wl: WorkloadName, spec: DeviceSpec) -> _Raw | None:
    measured = ctx.measured.get((wl.name, spec.slug))
    if measured is not None:
        return _Raw(measured[0], "measured", measured[1])
    if wl.kind in ("matmul", "memory"):
        return _ceiling(ctx, wl, spec)
    pts = _points(ctx, wl.name).get(spec.slug)
    if pts:
        return _Raw(statistics.median(p.value for p in pts), "published", "; ".join(sorted({p.source for p in pts})))
    return _model_estimate(ctx, wl, spec)


def _unit(wl: WorkloadName) -> str:
    if wl.kind == "memory":
        return "GB/s"
    if wl.kind == "matmul":
        return "TOP/s" if wl.precision == "int8" else "TFLOP/s"
    return f"{workload_costs()[wl.model]['unit']}s/s"


# ----------------------------------------------------------------------------------------- validation


def validate(published: list[Published] | None = None, catalog: Mapping[str, DeviceSpec] | None = None) -> pd.DataFrame:
    """Leave-one-out: each published figure predicted with every figure of that (device, workload) held out.

    One row per predictable published figure: family, workload, device, published, predicted, rel_error
    (predicted / published - 1), basis of the prediction (what it was built from).
    """
    pub = load_published() if published is None else published
    cat = load_catalog() if catalog is None else catalog
    rows = []
    for p in pub:
        wl = parse_workload(p.workload)
        if wl is None:
            continue
        held = [q for q in pub if not (q.device == p.device and q.workload == p.workload)]
        raw = _predict(_Context(cat, held), wl, cat[p.device])
        rows.append(
            {
                "family": wl.family,
                "workload": wl.name,
                "device": p.device,
                "published": p.value,
                "predicted": None if raw is None else raw.value,
                "rel_error": None if raw is None else raw.value / p.value - 1,
                "from": None if raw is None else raw.source,
                "file": p.file,
            }
        )
    frame = pd.DataFrame(rows)
    # One published figure per (device, workload) counts once: several sources of it are one held-out case.
    return frame.drop_duplicates(["workload", "device", "published"]).reset_index(drop=True)


def validation_summary(frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per family: points, predicted, median and worst |relative error|, p80, target and whether it is met."""
    frame = _validation() if frame is None else frame
    out = []
    for family, group in frame.groupby("family"):
        err = group["rel_error"].dropna().abs()
        target = TARGETS.get(str(family))
        median = float(err.median()) if len(err) else None
        out.append(
            {
                "family": family,
                "points": len(group),
                "predicted": len(err),
                "median_error": median,
                "worst_error": float(err.max()) if len(err) else None,
                "p80_error": float(err.quantile(0.8)) if len(err) else None,
                "target": target,
                "meets_target": None if target is None or median is None else median <= target,
            }
        )
    return pd.DataFrame(out)


@functools.lru_cache(maxsize=1)
def _validation_cached(stamp: tuple[int, ...]) -> pd.DataFrame:
    return validate()


def _stamp() -> tuple[int, ...]:
    folder = _data_dir() / "published"
    return tuple(f.stat().st_mtime_ns for f in sorted(folder.glob("*.csv")))


def _validation() -> pd.DataFrame:
    return _validation_cached(_stamp())


@functools.lru_cache(maxsize=1)
def _summary_cached(stamp: tuple[int, ...]) -> pd.DataFrame:
    # Every estimate asks for its family's width: summarising the validation once per data version keeps a
    # report of many workloads and devices from re-grouping it hundreds of times.
    return validation_summary(_validation_cached(stamp))


def _width(family: str) -> tuple[float, str]:
    summary = _summary_cached(_stamp())
    row = summary[summary["family"] == family]
    if row.empty or pd.isna(row.iloc[0]["p80_error"]):
        return (
            _UNVALIDATED_WIDTH,
            f"no published {family} figure to validate against: +-{_UNVALIDATED_WIDTH:.0%} assumed",
        )
    r = row.iloc[0]
    warning = ""
    if r["meets_target"] is False:
        warning = (
            f"{family} estimates miss the validation target: median error {r['median_error']:.0%} > {r['target']:.0%}"
        )
    return max(float(r["p80_error"]), 0.02), warning


# -------------------------------------------------------------------------------------------- public


def param_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Parameter columns, whether the store flattened them or kept a `params` dict column."""
    out = pd.DataFrame(index=df.index)
    nested = df["params"] if "params" in df.columns else None
    for name in _PARAMS:
        col = df[name] if name in df.columns else pd.Series(None, index=df.index, dtype=object)
        if nested is not None:
            from_dict = nested.map(lambda p, n=name: p.get(n) if isinstance(p, Mapping) else None)
            col = col.where(col.notna(), from_dict)
        out[name] = col
    return out


def workload_column(df: pd.DataFrame) -> pd.Series:
    """The workload name of every row of a results frame (None where it is no single-device workload)."""
    params = param_frame(df)
    names = [workload_of_row(b, p) for b, (_, p) in zip(df["benchmark"], params.iterrows(), strict=True)]
    return pd.Series(names, index=df.index, dtype=object)


def measured_table(
    runs: pd.DataFrame | None, catalog: Mapping[str, DeviceSpec]
) -> dict[tuple[str, str], tuple[float, str]]:
    """{(workload, slug or raw device name): (best throughput, run id)} over the ok rows of `runs`."""
    if runs is None or len(runs) == 0 or "benchmark" not in runs.columns:
        return {}
    ok = runs
    if "status" in ok.columns:
        ok = ok[ok["status"] == "ok"]
    if ok.empty:
        return {}
    names = workload_column(ok)
    out: dict[tuple[str, str], tuple[float, str]] = {}
    for (_, row), name in zip(ok.iterrows(), names, strict=True):
        value = finite_or_none(row.get("throughput"))
        if value is None or value <= 0 or name is None or not _text(row.get("device_name")):
            continue
        key = (name, device_key(row, catalog))
        if key not in out or value > out[key][0]:
            out[key] = (value, str(row.get("run_id", "?")))
    return out


def device_key(row: pd.Series, catalog: Mapping[str, DeviceSpec]) -> str:
    """Catalog slug of a result row's device, or its raw name when the catalog does not know it."""
    spec = match_device(
        str(row["device_name"]),
        finite_or_none(row.get("device_memory_bytes")),
        finite_or_none(row.get("power_limit_w")),
        compute_units=finite_or_none(row.get("device_multiprocessors")),
        catalog=catalog,
    )
    return spec.slug if spec else str(row["device_name"])


def estimate(
    workload: str,
    device: str,
    runs: pd.DataFrame | None = None,
    *,
    catalog: Mapping[str, DeviceSpec] | None = None,
    published: list[Published] | None = None,
) -> Estimate | None:
    """Throughput of `workload` (a name from `predictable_workloads`) on catalog device `device` (slug).

    `runs` (any mix of machines) give measured figures and calibrate the rest. None when the device has no
    datasheet figure the workload needs (e.g. bf16 on a T4). Raises GpubenchError for an unknown workload or
    device.
    """
    cat = load_catalog() if catalog is None else catalog
    pub = load_published() if published is None else published
    ctx = _Context(cat, [p for p in pub if p.device in cat], measured_table(runs, cat))
    return _estimate(ctx, workload, device)


def _estimate(ctx: _Context, workload: str, device: str) -> Estimate | None:
    wl = parse_workload(workload)
    if wl is None:
        close = closest_workloads(workload, predictable_workloads())
        raise GpubenchError(f"unknown workload {workload!r}" + (f"; closest: {', '.join(close)}" if close else ""))
    if device not in ctx.catalog:
        raise GpubenchError(f"unknown device {device!r}: not a catalog slug (see gpubench specs)")
    raw = _predict(ctx, wl, ctx.catalog[device])
    if raw is None:
        return None
    unit = _unit(wl)
    if raw.basis == "measured":
        return Estimate(
            wl.name, device, raw.value, raw.value, raw.value, unit, "measured", f"run {raw.source}", wl.family
        )
    if raw.basis == "published":
        vals = [p.value for p in _points(ctx, wl.name)[device]]
        return Estimate(wl.name, device, raw.value, min(vals), max(vals), unit, "published", raw.source, wl.family)
    width, warning = _width(wl.family) if raw.validated else (_UNVALIDATED_WIDTH, "unvalidated estimate")
    return Estimate(
        wl.name,
        device,
        raw.value,
        raw.value * (1 - width),
        raw.value * (1 + width),
        unit,
        "estimated",
        raw.source,
        wl.family,
        warning,
        raw.calibrated_by,
    )


def estimate_all(
    workload: str,
    runs: pd.DataFrame | None = None,
    *,
    catalog: Mapping[str, DeviceSpec] | None = None,
    published: list[Published] | None = None,
) -> dict[str, Estimate]:
    """`estimate` for every catalog device that has the figures the workload needs: {slug: Estimate}."""
    cat = load_catalog() if catalog is None else catalog
    pub = load_published() if published is None else published
    ctx = _Context(cat, [p for p in pub if p.device in cat], measured_table(runs, cat))
    return {slug: e for slug in cat if (e := _estimate(ctx, workload, slug)) is not None}


def memory_need_bytes(workload: str, batch: int | None = None) -> tuple[float, float] | None:
    """(fixed bytes, None-safe) lower bound of a training workload's memory: weights + gradients + Adam state.

    Returns (static_bytes, params); activations are not counted (they need a measured run).
    """
    wl = parse_workload(workload)
    if wl is None or wl.kind != "model":
        return None
    params = float(workload_costs()[wl.model]["params"])
    per_param = 16.0 if wl.mode == "train" else 4.0  # fp32 weights + grads + 2 Adam moments; inference: weights
    return params * per_param, params
