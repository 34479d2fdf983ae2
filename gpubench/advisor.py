"""Purchase advice: throughput per dollar and per watt, and total cost of ownership per unit of work.

`recommend(df, "resnet50/amp_bf16")` ranks the devices measured in `df` (from `gpubench.load_runs`) for
one workload. Catalog devices that were not measured may be added as estimates, scaled from a measured
device by the matching datasheet ratio; their `basis` column says so and names the device they come from.
Never imports torch.

Total cost of ownership over the lifetime (`years` x 365 days x `hours_per_day` hours busy):

    tco_usd          = price_usd + avg_power_w / 1000 * lifetime_hours * kwh_price
    tco_per_unit_usd = tco_usd / (throughput * lifetime_hours * 3600)

with the power measured while the workload ran, so the energy term is what that work costs at the card
(not the host, not cooling). `memory_gb` / `required_memory_gb` are in GB the way GPU memory is marketed
(GiB-sized: an "80 GB" card holds 80 GiB); a measured device held its own configuration by running it.
"""

from __future__ import annotations

import csv
import functools
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gpubench import inputs
from gpubench.errors import GpubenchError
from gpubench.model import (
    Estimate,
    Shape,
    closest_workloads,
    default_cloud_prices,
    device_key,
    estimate_all,
    memory_need_bytes,
    param_frame,
    parse_workload,
    predictable_workloads,
    validation_summary,
    workload_column,
)
from gpubench.specs import DeviceSpec, load_catalog, match_device, normalize_device_name
from gpubench.stats import finite_or_none

PRICE_FIELDS = ("new_usd", "used_usd", "cloud_usd_per_hour")
_PRICE_ALIASES = {
    "new_usd": "new_usd",
    "new": "new_usd",
    "new_price": "new_usd",
    "price_new": "new_usd",
    "price": "new_usd",
    "used_usd": "used_usd",
    "used": "used_usd",
    "used_price": "used_usd",
    "price_used": "used_usd",
    "cloud_usd_per_hour": "cloud_usd_per_hour",
    "cloud": "cloud_usd_per_hour",
    "cloud_per_hour": "cloud_usd_per_hour",
    "cloud_hourly": "cloud_usd_per_hour",
    "cloud_usd_hour": "cloud_usd_per_hour",
}
_DEVICE_KEYS = ("device", "name", "slug")

COLUMNS = (
    "rank",
    "device",
    "slug",
    "yours",
    "basis",
    "basis_detail",
    "throughput",
    "low",
    "high",
    "throughput_unit",
    "price_usd",
    "price_source",
    "throughput_per_usd",
    "avg_power_w",
    "power_source",
    "throughput_per_w",
    "energy_cost_usd",
    "tco_usd",
    "tco_per_unit_usd",
    "work_unit",
    "cloud_usd_per_hour",
    "cloud_source",
    "cloud_usd_per_unit",
    "breakeven_hours",
    "memory_gb",
    "required_memory_gb",
    "fits_memory",
    "max_batch",
    "fit_note",
    "n_runs",
    "speedup",
    "ranked",
    "warning",
    "notes",
)

OBJECTIVES = {
    "tco": ("tco_per_unit_usd", False),
    "throughput": ("throughput", True),
    "per-usd": ("throughput_per_usd", True),
    "per-watt": ("throughput_per_w", True),
    "cloud": ("cloud_usd_per_unit", False),
}
"""Ranking objectives: the column each sorts by, and whether higher is better."""
"""Columns of the frame `recommend` returns, in order."""


# ----------------------------------------------------------------------------------------------- prices


def _price_number(path: str, where: str, value: Any) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise GpubenchError(f"{path}: {where}: expected a number of USD, got {value!r}")
    if isinstance(value, str):
        value = value.strip().replace("$", "").replace(",", "").replace("_", "")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise GpubenchError(f"{path}: {where}: expected a number of USD, got {value!r}") from None
    if not math.isfinite(number) or number < 0:
        raise GpubenchError(f"{path}: {where}: must be a non-negative number, got {value!r}")
    return number


def _price_entry(path: str, where: str, fields: Mapping[str, Any]) -> dict[str, float | None]:
    entry: dict[str, float | None] = dict.fromkeys(PRICE_FIELDS)
    for key, value in fields.items():
        canonical = _PRICE_ALIASES.get(str(key).strip().lower())
        if canonical is None:
            allowed = ", ".join(PRICE_FIELDS)
            raise GpubenchError(f"{path}: {where}.{key}: unknown price field; expected {allowed}")
        entry[canonical] = _price_number(path, f"{where}.{key}", value)
    if all(v is None for v in entry.values()):
        raise GpubenchError(f"{path}: {where}: no price given (set new_usd, used_usd or cloud_usd_per_hour)")
    return entry


def load_prices(path: str | Path) -> dict[str, dict[str, float | None]]:
    """Read a prices file: {device: {"new_usd", "used_usd", "cloud_usd_per_hour"}} (missing ones None).

    `device` is a catalog slug ("h100-sxm"), a catalog name, or a torch device name as it appears in the
    runs ("NVIDIA GeForce RTX 4090", or a CPU model). Prices are per card, as bought.

    CSV: a header with `device` and any of `new_usd`, `used_usd`, `cloud_usd_per_hour`.
    TOML: one table per device (`["NVIDIA GeForce RTX 4090"]` then `new_usd = 1599`), or an array
    `[[prices]]` of tables that each carry a `device` key.
    """
    name = str(path)
    kind, doc = inputs.prices_document(path)  # regular file, UTF-8, size, CSV field and TOML depth limits
    prices: dict[str, dict[str, float | None]] = {}
    if kind == "csv":
        fieldnames, csv_rows = doc
        header = [str(h).strip().lower() for h in fieldnames]
        device_col = next((h for h in _DEVICE_KEYS if h in header), None)
        if device_col is None:
            raise GpubenchError(f"{name}: header must have a 'device' column (got {', '.join(header) or 'none'})")
        for line, row in csv_rows:
            fields = {k.strip().lower(): v for k, v in row.items() if k is not None}
            device = (fields.pop(device_col) or "").strip()
            if not device:
                raise GpubenchError(f"{name}: line {line}: empty device")
            prices[device] = _price_entry(name, f"line {line}", fields)
    else:
        raw = doc
        items: list[tuple[str, str, Mapping[str, Any]]] = []
        for key, value in raw.items():
            if isinstance(value, list):  # [[prices]] array of tables with a device key each
                for i, item in enumerate(value):
                    if not isinstance(item, dict):
                        raise GpubenchError(f"{name}: {key}[{i}]: must be a table")
                    fields = dict(item)
                    device = next((fields.pop(k) for k in _DEVICE_KEYS if k in fields), None)
                    if not isinstance(device, str) or not device.strip():
                        raise GpubenchError(f"{name}: {key}[{i}]: needs a 'device' key")
                    items.append((device.strip(), f"{key}[{i}]", fields))
            elif isinstance(value, dict):
                items.append((key.strip(), key, value))
            else:
                raise GpubenchError(f"{name}: {key}: expected a table of prices for that device")
        for device, where, fields in items:
            prices[device] = _price_entry(name, where, fields)
    if not prices:
        raise GpubenchError(f"{name}: no prices in file")
    return prices


# -------------------------------------------------------------------------------------------- workloads


def available_workloads(df: pd.DataFrame) -> list[str]:
    """Workload names measured in these results (only those with at least one ok row)."""
    ok = _ok_rows(df)
    return sorted({w for w in workload_column(ok) if w}) if len(ok) else []


def _ok_rows(df: pd.DataFrame) -> pd.DataFrame:
    for col in ("benchmark", "throughput", "device_name"):
        if col not in df.columns:
            raise GpubenchError(f"results lack the '{col}' column; load them with gpubench.load_runs")
    ok = df
    if "status" in df.columns:
        ok = ok[ok["status"] == "ok"]
    throughput = pd.to_numeric(ok["throughput"], errors="coerce")
    return ok[throughput.notna() & (throughput > 0) & ok["device_name"].notna()]


# ----------------------------------------------------------------------------------------------- advice


@functools.lru_cache(maxsize=1)
def shipped_prices() -> dict[str, dict[str, Any]]:
    """The dated purchase prices shipped in data/prices.csv: {slug: {"new": row, "used": row}} (street or a
    vendor's system price per GPU counts as new; the lowest of each kind)."""
    from importlib import resources

    path = Path(str(resources.files("gpubench") / "data" / "prices.csv"))
    out: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return out
    with open(path, newline="", encoding="utf-8") as fh:
        rows = csv.DictReader(line for line in fh if not line.lstrip().startswith("#"))
        for row in rows:
            price = finite_or_none(row.get("price_usd"))
            slug = (row.get("device") or "").strip()
            if price is None or not slug:
                continue
            kind = "used" if (row.get("kind") or "").strip() == "used" else "new"
            current = out.setdefault(slug, {}).get(kind)
            if current is None or price < current["price_usd"]:
                out[slug][kind] = {**row, "price_usd": price}
    return out


def card_price_of(
    entry: Mapping[str, float | None], spec: DeviceSpec | None, price_kind: str
) -> tuple[float | None, str | None]:
    """(price per card, where it comes from): the user's prices file, else the shipped dated price, else (new
    only) the launch MSRP."""
    price = entry.get(f"{price_kind}_usd")
    if price is not None:
        return price, f"prices file ({price_kind})"
    if spec is None:
        return None, None
    shipped = shipped_prices().get(spec.slug, {}).get(price_kind)
    launch = spec.launch_price_usd if price_kind == "new" else None
    # A vendor's system price per GPU includes the host (an upper bound on the card): it stands in only
    # where the card has no launch price; a street or used price of the card itself always counts.
    if shipped is not None and (launch is None or shipped.get("kind") != "system_per_gpu"):
        kind = str(shipped.get("kind") or price_kind).replace("_", " ")
        return float(shipped["price_usd"]), f"{kind} {shipped.get('date', '')} (shipped, dated)"
    if launch is not None:
        return launch, f"launch price {spec.year} (old)"
    return None, None


def _resolve_prices(
    prices: Mapping[str, Mapping[str, float | None]] | None,
    catalog: Mapping[str, DeviceSpec],
    device_names: Mapping[str, str],
) -> tuple[dict[str, Mapping[str, float | None]], list[str]]:
    """Prices keyed like the devices of the ranking (slug, or raw device name when not in the catalog)."""
    resolved: dict[str, Mapping[str, float | None]] = {}
    unused = []
    by_name = {spec.name.lower(): slug for slug, spec in catalog.items()}
    raw_names = {normalize_device_name(name): key for key, name in device_names.items()}
    for key, entry in (prices or {}).items():
        spec = match_device(key, catalog=catalog)
        target = (
            key
            if key in catalog
            else by_name.get(key.strip().lower())
            or (spec.slug if spec else None)
            or raw_names.get(normalize_device_name(key))
        )
        if target is None:
            unused.append(key)
        else:
            resolved[target] = entry
    return resolved, unused


def _check_args(
    budget_usd: float | None,
    kwh_price: float,
    hours_per_day: float,
    years: float,
    price_kind: str,
    objective: str,
) -> None:
    if budget_usd is not None and not (budget_usd >= 0):
        raise GpubenchError(f"budget must be a non-negative number of USD, got {budget_usd}")
    if not (kwh_price >= 0):
        raise GpubenchError(f"electricity price must be >= 0 USD/kWh, got {kwh_price}")
    if not (0 < hours_per_day <= 24):
        raise GpubenchError(f"hours per day must be in (0, 24], got {hours_per_day}")
    if not (0 < years <= 50):
        raise GpubenchError(f"lifetime must be in (0, 50] years, got {years}")
    if price_kind not in ("new", "used"):
        raise GpubenchError(f"price kind must be 'new' or 'used', got {price_kind!r}")
    if objective not in OBJECTIVES:
        raise GpubenchError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")


def _choose_workload(workload: str, measured: list[str]) -> str:
    wanted = workload.strip()
    if wanted.endswith("/train"):
        wanted = wanted[: -len("/train")]
    known = list(dict.fromkeys([*measured, *predictable_workloads()]))
    chosen = next((w for w in known if w.lower() == wanted.lower()), None)
    if chosen is None:
        close = closest_workloads(wanted, known)
        raise GpubenchError(
            f"unknown workload {workload!r}; closest: {', '.join(close) if close else 'none'}"
            " (gpubench recommend --list shows every name)"
        )
    return chosen


class _Shared(list):  # type: ignore[type-arg]
    """A list a frame's attrs share with every frame derived from it: pandas deep-copies attrs on each operation
    (hundreds per report), and the validation records are read, never changed."""

    def __deepcopy__(self, memo: dict[int, Any]) -> _Shared:
        return self


def recommend(
    df: pd.DataFrame | None,
    workload: str,
    budget_usd: float | None = None,
    prices: Mapping[str, Mapping[str, float | None]] | None = None,
    kwh_price: float = 0.15,
    hours_per_day: float = 24,
    years: float = 3,
    catalog: Mapping[str, DeviceSpec] | None = None,
    *,
    price_kind: str = "new",
    estimates: bool = True,
    objective: str = "tco",
) -> pd.DataFrame:
    """Rank devices for `workload` by `objective` (see the module docstring and `OBJECTIVES`).

    df: results from `gpubench.load_runs`, or None / empty for the catalog alone. Every catalog device gets a
    figure from `gpubench.model` (measured > published > estimated with an interval); devices measured in
    `df` that the catalog lacks (a CPU) join with their measured figure and are marked `yours`.
    prices: from `load_prices`; overrides catalog launch prices and the default cloud table. `price_kind`
    picks the new or used price (catalog launch prices count as new). Prices are per card: a two-GCD MI250X
    card costs each GCD half. budget_usd: drop devices whose card price exceeds it or is unknown; when none
    is left, `attrs["cheapest"]` names the cheapest priced device. estimates=False keeps measured and
    published figures only. Returns one row per device with the columns in `COLUMNS`.
    """
    _check_args(budget_usd, kwh_price, hours_per_day, years, price_kind, objective)
    catalog = load_catalog() if catalog is None else catalog
    if price_kind == "used" and not _any_used(prices):
        raise GpubenchError("--used needs used prices, and none are shipped: give --prices FILE with a used_usd column")
    df = pd.DataFrame() if df is None else df
    ok = _ok_rows(df) if len(df) else df
    chosen = _choose_workload(workload, available_workloads(df) if len(df) else [])
    names = workload_column(ok) if len(ok) else pd.Series(dtype=object)
    rows = ok[names == chosen] if len(ok) else ok
    parsed = parse_workload(chosen)
    is_model = parsed is not None and parsed.kind in ("model", "llm")  # a memory need worth checking

    records: list[dict[str, Any]] = []
    measured_rows = _measured_rows(rows, catalog)
    peaks = _peak_rows(rows) if is_model else []  # the same for every device: read once, not once per device
    # A reference workload, or a resized one the runs measured: the model estimates it at that very shape.
    modelled = parse_workload(chosen) is not None or chosen in set(names)
    if modelled:
        for slug, est in estimate_all(chosen, df if len(df) else None, catalog=catalog).items():
            if not estimates and est.basis == "estimated":
                continue
            records.append(_record(est, catalog[slug], measured_rows.get(slug), rows, is_model, chosen, peaks=peaks))
    for key, mrow in measured_rows.items():
        if key in catalog and modelled:
            continue  # already there, from the model's measured figure
        records.append(_record(None, catalog.get(key), mrow, rows, is_model, chosen, key=key, peaks=peaks))

    device_names = {r["slug"] or r["device"]: str(r["device"]) for r in records}
    resolved, unused = _resolve_prices(prices, catalog, device_names)
    lifetime_h = hours_per_day * 365.0 * years
    out = [_cost_row(rec, resolved, price_kind, lifetime_h, kwh_price) for rec in records]
    frame = pd.DataFrame(out, columns=[c for c in COLUMNS if c != "rank"] + ["_card_price"])
    cheapest = None
    priced = frame[frame["_card_price"].notna()]
    if len(priced):
        best = priced.loc[priced["_card_price"].idxmin()]
        cheapest = {
            "device": best["device"],
            "price_usd": float(best["_card_price"]),
            "source": best["price_source"],
        }
    if budget_usd is not None:
        # Your own devices stay, for comparison, whatever they cost: you already have them.
        within = frame["_card_price"].notna() & (frame["_card_price"] <= budget_usd)
        frame = frame[within | frame["yours"].astype(bool)]
    frame = frame.drop(columns="_card_price")
    mine = frame[frame["yours"].astype(bool)]
    reference = None
    if len(mine):
        best = mine.loc[pd.to_numeric(mine["throughput"], errors="coerce").idxmax()]
        reference = {"device": best["device"], "throughput": float(best["throughput"])}
        frame["speedup"] = pd.to_numeric(frame["throughput"], errors="coerce") / reference["throughput"]
    frame = _ranked(frame, objective)
    summary = validation_summary()
    frame.attrs.update(
        workload=chosen,
        objective=objective,
        budget_usd=budget_usd,
        kwh_price=kwh_price,
        hours_per_day=hours_per_day,
        years=years,
        lifetime_hours=lifetime_h,
        price_kind=price_kind,
        unused_prices=unused,
        cheapest=cheapest,
        cloud_table_date=_cloud_date(),
        warnings=sorted({w for w in frame["warning"].fillna("") if w}),
        validation=_Shared(summary.to_dict(orient="records")),
        speedup_over=reference,
        unranked_reason=_UNRANKED.get(objective, ""),
    )
    return frame


_UNRANKED = {
    "tco": "no price known (give --prices FILE)",
    "per-usd": "no price known (give --prices FILE)",
    "per-watt": "no TDP known and no measured power: not ranked per watt",
    "cloud": "no cloud price known (give --prices FILE with cloud_usd_per_hour)",
    "throughput": "",
}


def _any_used(prices: Mapping[str, Mapping[str, float | None]] | None) -> bool:
    given = any(e.get("used_usd") is not None for e in (prices or {}).values())
    return given or any("used" in kinds for kinds in shipped_prices().values())


def _cloud_date() -> str:
    dates = {str(v["date"]) for v in default_cloud_prices().values()}
    return ", ".join(sorted(dates))


def _measured_rows(rows: pd.DataFrame, catalog: Mapping[str, DeviceSpec]) -> dict[str, pd.Series]:
    """The best ok row of the workload per device (catalog slug, or raw name), as MAMF takes the best shape."""
    out: dict[str, pd.Series] = {}
    if rows is None or len(rows) == 0:
        return out
    throughput = pd.to_numeric(rows["throughput"], errors="coerce")
    keys = pd.Series({idx: device_key(row, catalog) for idx, row in rows.iterrows()})
    for key, group in throughput.groupby(keys):
        out[str(key)] = rows.loc[group.idxmax()]
    return out


def _record(
    est: Estimate | None,
    spec: DeviceSpec | None,
    mrow: pd.Series | None,
    rows: pd.DataFrame,
    is_model: bool,
    workload: str,
    key: str | None = None,
    peaks: list[tuple[int, float]] | None = None,
) -> dict[str, Any]:
    """One device's figures before prices: throughput and basis, power, memory fit (`peaks`: `_peak_rows(rows)`,
    read here when not given)."""
    measured = mrow is not None and (est is None or est.basis == "measured")
    if measured:
        assert mrow is not None
        throughput = float(mrow["throughput"])
        raw_unit = mrow.get("throughput_unit")
        unit = raw_unit if isinstance(raw_unit, str) and raw_unit else (est.unit if est else None)
        run_id = str(mrow.get("run_id", "?"))
        basis, detail, low, high, warning = "measured", f"run {run_id}", throughput, throughput, ""
    else:
        assert est is not None
        throughput, unit, low, high = est.value, est.unit, est.low, est.high
        basis, warning = est.basis, est.warning
        detail = est.source + (f"; calibrated {est.calibrated_by}" if est.calibrated_by else "")
    power = finite_or_none(mrow.get("avg_power_w")) if measured and mrow is not None else None
    power_source = "measured" if power is not None else None
    if power is None and spec is not None:
        power, power_source = spec.tdp_w, "TDP"
    mem_bytes = finite_or_none(mrow.get("device_memory_bytes")) if mrow is not None else None
    memory_gb = spec.memory_gb if spec else (mem_bytes / 2**30 if mem_bytes else None)
    required, fits, max_batch, fit_note = None, None, None, ""
    if is_model:
        required, fits, max_batch, fit_note = _memory_fit(rows, mrow if measured else None, memory_gb, workload, peaks)
    return {
        "device": spec.name if spec else str(mrow["device_name"]) if mrow is not None else key,
        "slug": spec.slug if spec else None,
        "spec": spec,
        "basis": basis,
        "basis_detail": detail,
        "low": low,
        "high": high,
        "warning": warning,
        "yours": mrow is not None,
        "throughput": throughput,
        "throughput_unit": unit,
        "avg_power_w": power,
        "power_source": power_source,
        "memory_gb": memory_gb,
        "required_memory_bytes": required,
        "fits_memory": fits,
        "max_batch": max_batch,
        "fit_note": fit_note,
        "n_runs": int(rows.loc[rows["device_name"] == mrow["device_name"], "run_id"].nunique())
        if mrow is not None and "run_id" in rows.columns
        else 0,
    }


def _memory_fit(
    rows: pd.DataFrame,
    mrow: pd.Series | None,
    memory_gb: float | None,
    workload: str,
    peaks: list[tuple[int, float]] | None = None,
) -> tuple[float | None, bool | None, int | None, str]:
    """Required bytes, whether it fits, the largest batch that fits, and how that is known.

    Static need (weights + gradients + Adam state, from the parameter count) plus activations per item,
    taken from any run that recorded peak memory: (peak - static) / batch. Without such a run only the
    static part is known: a lower bound.
    """
    peaks = _peak_rows(rows) if peaks is None else peaks
    if mrow is not None:
        return (
            _col_float(mrow, "peak_memory_bytes"),
            True,
            _max_batch(rows, memory_gb, workload, peaks),
            "it ran here",
        )
    if peaks:
        batch, peak = max(peaks)
        fits = None if memory_gb is None else peak <= memory_gb * 2**30
        return peak, fits, _max_batch(rows, memory_gb, workload, peaks), f"peak memory measured at batch {batch}"
    llm = _llm_fit(workload, memory_gb)
    if llm is not None:
        return llm
    static = _static_bytes(workload)
    if static is None or memory_gb is None:
        return None, None, None, ""
    fits = None if static <= memory_gb * 2**30 else False  # below the bound it may still not fit
    return static, fits, None, "at least weights + gradients + Adam state (activations unknown)"


def _col_float(row: pd.Series, name: str) -> float | None:
    return finite_or_none(row.get(name)) if name in row.index else None


def _peak_rows(rows: pd.DataFrame) -> list[tuple[int, float]]:
    if rows is None or len(rows) == 0 or "peak_memory_bytes" not in rows.columns:
        return []
    params = param_frame(rows)
    out = []
    for idx in rows.index:
        peak = finite_or_none(rows.at[idx, "peak_memory_bytes"])
        batch = finite_or_none(params.at[idx, "batch"])
        if peak and batch:
            out.append((int(batch), peak))
    return out


def _llm_fit(workload: str, memory_gb: float | None) -> tuple[float, bool, None, str] | None:
    """One card, one sequence: an LLM fits when its weights, the KV cache of one default-length sequence (or a
    LoRA step's activations and adapter state) and the runtime's reserve do; a bigger model needs the tensor
    parallelism `recommend --llm` sizes."""
    from gpubench import llm_sizing as LS
    from gpubench.benchmarks.llm import presets as P

    wl = parse_workload(workload)
    if wl is None or wl.kind != "llm" or memory_gb is None or wl.model not in P.PRESETS:
        return None
    preset, capacity = P.PRESETS[wl.model], LS.card_bytes(memory_gb)
    context = Shape().context
    if wl.mode == "lora":
        need = LS.training_memory(preset, "lora", wl.precision, 1, context, capacity)
    else:
        need = LS.serving_memory(preset, wl.precision, 1, context, capacity)
    return need.total, need.fits, None, f"one card, one {context}-token sequence (recommend --llm sizes more)"


def _static_bytes(workload: str | None) -> float | None:
    need = memory_need_bytes(workload) if workload else None
    return None if need is None else need[0]


def _max_batch(
    rows: pd.DataFrame, memory_gb: float | None, workload: str, peaks: list[tuple[int, float]] | None = None
) -> int | None:
    """Largest batch that fits: (memory - static) / activations per item, activations from a measured peak."""
    peaks = _peak_rows(rows) if peaks is None else peaks
    if not peaks or memory_gb is None:
        return None
    static = _static_bytes(workload) or 0.0
    batch, peak = max(peaks)
    per_item = (peak - static) / batch
    if per_item <= 0:
        return None
    return max(0, int((memory_gb * 2**30 - static) // per_item))


def _cost_row(
    rec: Mapping[str, Any],
    prices: Mapping[str, Mapping[str, float | None]],
    price_kind: str,
    lifetime_h: float,
    kwh_price: float,
) -> dict[str, Any]:
    spec: DeviceSpec | None = rec["spec"]
    key = rec["slug"] or rec["device"]
    notes = []
    entry = prices.get(key, {})
    card_price, price_source = card_price_of(entry, spec, price_kind)
    per_card = spec.devices_per_card if spec is not None else 1
    price = None if card_price is None else card_price / per_card
    if price is None:
        notes.append("price unknown")

    throughput = rec["throughput"]
    power = rec["avg_power_w"]
    if power is None:
        notes.append("no power known")
    elif rec["power_source"] == "TDP":
        notes.append("power = TDP")
    energy_cost = None if power is None else power / 1000.0 * lifetime_h * kwh_price
    tco = None if price is None or energy_cost is None else price + energy_cost
    lifetime_work = throughput * lifetime_h * 3600.0
    cloud = entry.get("cloud_usd_per_hour")
    cloud_source = "prices file" if cloud is not None else None
    default = default_cloud_prices().get(rec["slug"] or "")
    if cloud is None and default is not None:
        cloud = float(default["cloud_usd_per_hour"])
        cloud_source = f"default table {default['date']} ({default['provider']})"
    if cloud is not None and per_card > 1:
        cloud = cloud / per_card
    breakeven = None
    if price is not None and cloud is not None:
        hourly_energy = 0.0 if power is None else power / 1000.0 * kwh_price
        if cloud > hourly_energy:
            breakeven = price / (cloud - hourly_energy)
    required = rec["required_memory_bytes"]
    fits = rec["fits_memory"]
    note = rec["fit_note"]
    if fits is False and required is not None:
        notes.append(f"needs {required / 2**30:.1f} GB, has {rec['memory_gb']:.0f} GB")
    if rec["warning"]:
        notes.append(rec["warning"])
    unit = rec["throughput_unit"] or ""
    return {
        "device": rec["device"],
        "slug": rec["slug"],
        "yours": rec["yours"],
        "basis": rec["basis"],
        "basis_detail": rec["basis_detail"],
        "throughput": throughput,
        "low": rec["low"],
        "high": rec["high"],
        "throughput_unit": unit or None,
        "price_usd": price,
        "price_source": price_source,
        "throughput_per_usd": None if not price else throughput / price,
        "avg_power_w": power,
        "power_source": rec["power_source"],
        "throughput_per_w": None if not power else throughput / power,
        "energy_cost_usd": energy_cost,
        "tco_usd": tco,
        "tco_per_unit_usd": None if tco is None else tco / lifetime_work,
        "work_unit": unit.removesuffix("/s") or None,
        "cloud_usd_per_hour": cloud,
        "cloud_source": cloud_source,
        "cloud_usd_per_unit": None if cloud is None else cloud / (throughput * 3600.0),
        "breakeven_hours": breakeven,
        "memory_gb": rec["memory_gb"],
        "required_memory_gb": None if required is None else required / 2**30,
        "fits_memory": fits,
        "max_batch": rec["max_batch"],
        "fit_note": note,
        "n_runs": rec["n_runs"],
        "warning": rec["warning"],
        "notes": "; ".join(notes),
        "_card_price": card_price,
    }


def _ranked(frame: pd.DataFrame, objective: str = "tco") -> pd.DataFrame:
    """Devices that hold the workload first, then by the objective, then fastest. Devices whose objective is
    unknown (no price, no power) are listed apart after them, unranked (rank NA, `ranked` False)."""
    if frame.empty:
        return frame.reindex(columns=list(COLUMNS))
    frame = frame.copy()
    if "speedup" not in frame.columns:
        frame["speedup"] = None
    column, higher_better = OBJECTIVES[objective]
    metric = pd.to_numeric(frame[column], errors="coerce")
    order = pd.DataFrame(
        {
            "misfit": frame["fits_memory"].map(lambda v: isinstance(v, (bool, np.bool_)) and not v),
            "unknown": metric.isna(),
            "metric": (-metric if higher_better else metric).fillna(math.inf),
            "speed": -pd.to_numeric(frame["throughput"], errors="coerce"),
        },
        index=frame.index,
    )
    frame = frame.loc[order.sort_values(["unknown", "misfit", "metric", "speed"], kind="stable").index]
    frame = frame.reset_index(drop=True)
    known = pd.to_numeric(frame[column], errors="coerce").notna()
    frame["ranked"] = known
    ranks = [i + 1 if k else None for i, k in enumerate(known)]
    frame.insert(0, "rank", pd.array(ranks, dtype="Int64"))
    return frame.reindex(columns=list(COLUMNS))


# --------------------------------------------------------------------------------------------------- LLMs

LLM_COLUMNS = (
    "rank",
    "device",
    "slug",
    "cards",
    "fits_one",
    "meets",
    "why_not",
    "weights_gb",
    "kv_cache_gb",
    "activations_gb",
    "training_state_gb",
    "reserve_gb",
    "total_gb",
    "capacity_gb",
    "max_users",
    "users_meeting_speed",
    "decode_tps_user",
    "decode_tps_total",
    "prefill_tps",
    "ttft_ms",
    "train_tps",
    "mbu",
    "mfu",
    "price_usd",
    "price_source",
    "usd_per_hour",
    "usd_hour_source",
    "usd_per_m_output",
    "usd_per_m_input",
    "usd_per_m_train",
    "j_per_output_token",
    "j_per_input_token",
    "basis",
    "warning",
    "notes",
)
"""Columns of the frame `recommend_llm` returns, in order (per-card memory in decimal GB)."""


def recommend_llm(
    preset: Any,
    task: str = "serve",
    precision: str = "bf16",
    *,
    context: int = 4096,
    users: int = 1,
    min_tokens_per_user: float | None = None,
    max_ttft_ms: float | None = None,
    gpus_per_node: int = 8,
    usd_per_gpu_hour: float | None = None,
    budget_usd: float | None = None,
    prices: Mapping[str, Mapping[str, float | None]] | None = None,
    price_kind: str = "new",
    kwh_price: float = 0.15,
    hours_per_day: float = 24,
    years: float = 3,
    batch: int = 1,
    checkpointing: bool = True,
    runs: pd.DataFrame | None = None,
    catalog: Mapping[str, DeviceSpec] | None = None,
    engine: str = "serving",
) -> pd.DataFrame:
    """Every catalog device sized for an LLM task (see gpubench.llm_sizing for the memory arithmetic, and
    gpubench.model.LlmEstimator for the speeds). One row per device with the columns in LLM_COLUMNS.

    serve: `users` sequences of `context` tokens at once; decode tokens/s per user must reach
    `min_tokens_per_user` and the time to first token of a `context`-token prompt `max_ttft_ms`; the card
    count grows (tensor parallel, powers of two up to `gpus_per_node`, then whole nodes) until the model fits
    and the targets are met. decode / prefill: the same without targets. lora / finetune: one training step
    of `batch` x `context` tokens. Cost per hour: `usd_per_gpu_hour` per card if given, else the cost of
    ownership (price over `years` x 365 x `hours_per_day` busy hours + electricity at TDP); USD per million
    tokens count input and output apart, each as if the cards did only that. Ranked: devices that fit and
    meet the targets first, then by USD per million tokens of the task; unpriced devices after the priced
    ones (rank None); a `budget_usd` keeps devices whose cards together cost at most that. `engine`: whose
    fitted efficiencies the speeds use (gpubench.model.ENGINES: "serving" engines or "llama.cpp").
    """
    from gpubench import llm_sizing as LS
    from gpubench.model import ENGINES, LlmEstimator

    task = LS.check_task(task)
    if engine not in ENGINES:
        raise GpubenchError(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)}")
    precision = LS.check_precision(precision)
    _check_args(budget_usd, kwh_price, hours_per_day, years, price_kind, "tco")
    for name, value in (("context", context), ("users", users), ("batch", batch), ("gpus per node", gpus_per_node)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise GpubenchError(f"{name} must be a positive integer, got {value!r}")
    if context > preset.max_position:
        raise GpubenchError(f"context {context} is beyond {preset.name}'s maximum of {preset.max_position} tokens")
    for name, value in (("min tokens per user", min_tokens_per_user), ("max TTFT ms", max_ttft_ms)):
        if value is not None and not (value > 0 and math.isfinite(value)):
            raise GpubenchError(f"{name} must be a positive number, got {value!r}")
    if usd_per_gpu_hour is not None and not (usd_per_gpu_hour >= 0 and math.isfinite(usd_per_gpu_hour)):
        raise GpubenchError(f"USD per GPU-hour must be a non-negative number, got {usd_per_gpu_hour!r}")
    catalog = load_catalog() if catalog is None else catalog
    resolved, unused = _resolve_prices(prices, catalog, {})
    if price_kind == "used" and not _any_used(prices):
        raise GpubenchError("--used needs used prices, and none are shipped: give --prices FILE with a used_usd column")
    est = LlmEstimator(runs, catalog=catalog)
    training = task in LS.TRAIN_TASKS
    records = []
    for slug, spec in catalog.items():
        if not spec.memory_gb or not spec.memory_bandwidth_gbps:
            continue
        rec = _llm_device(
            est,
            engine,
            preset,
            spec,
            task,
            precision,
            context,
            users,
            batch,
            checkpointing,
            gpus_per_node,
            min_tokens_per_user,
            max_ttft_ms,
        )
        if rec is None:
            continue
        per_card = spec.devices_per_card or 1
        entry = resolved.get(slug, {})
        card_price, source = card_price_of(entry, spec, price_kind)
        unit_price = None if card_price is None else card_price / per_card
        cards = rec["cards"] or 1
        tdp = getattr(spec, "tdp_w", None)
        watts = None if not tdp else tdp * cards
        if usd_per_gpu_hour is not None:
            hourly, hourly_source = usd_per_gpu_hour * cards, "--usd-per-gpu-hour"
        else:
            own = LS.ownership_usd_per_hour(unit_price, tdp, years, hours_per_day, kwh_price)
            hourly = None if own is None else own * cards
            hourly_source = None if own is None else f"ownership: {source}, {years:g} y x {hours_per_day:g} h/day"
            cloud = entry.get("cloud_usd_per_hour")
            default = default_cloud_prices().get(slug)
            if hourly is None and cloud is None and default is not None:
                cloud = float(default["cloud_usd_per_hour"])
                hourly_source = f"cloud {default.get('provider', '')} {default.get('date', '')}".strip()
            elif hourly is None and cloud is not None:
                hourly_source = "prices file (cloud)"
            if hourly is None and cloud is not None:
                hourly = cloud / per_card * cards
        rec.update(
            price_usd=None if unit_price is None else unit_price * cards,
            price_source=source,
            usd_per_hour=hourly,
            usd_hour_source=hourly_source,
            usd_per_m_output=LS.usd_per_million(hourly, rec.get("decode_tps_total")),
            usd_per_m_input=LS.usd_per_million(hourly, rec.get("prefill_tps")),
            usd_per_m_train=LS.usd_per_million(hourly, rec.get("train_tps")),
            j_per_output_token=LS.joules_per_token(watts, rec.get("decode_tps_total")),
            j_per_input_token=LS.joules_per_token(watts, rec.get("prefill_tps")),
        )
        if watts is None:
            rec["notes"] = "; ".join(filter(None, [rec["notes"], "no TDP: no energy figure"]))
        records.append(rec)
    frame = pd.DataFrame(records, columns=[c for c in LLM_COLUMNS if c != "rank"])
    if budget_usd is not None:
        frame = frame[frame["price_usd"].notna() & (frame["price_usd"] <= budget_usd)]
    key = {"serve": "usd_per_m_output", "decode": "usd_per_m_output", "prefill": "usd_per_m_input"}.get(
        task, "usd_per_m_train"
    )
    speed = {"prefill": "prefill_tps"}.get(task, "train_tps" if training else "decode_tps_total")
    order = pd.DataFrame(
        {
            "fail": ~frame["meets"].astype(bool),
            "unpriced": frame[key].isna(),
            "cost": pd.to_numeric(frame[key], errors="coerce").fillna(math.inf),
            "speed": -pd.to_numeric(frame[speed], errors="coerce").fillna(0.0),
        },
        index=frame.index,
    )
    frame = frame.loc[order.sort_values(["unpriced", "fail", "cost", "speed"], kind="stable").index]
    frame = frame.reset_index(drop=True)
    ranks = [i + 1 if pd.notna(c) else None for i, c in enumerate(frame[key])]
    frame.insert(0, "rank", pd.array(ranks, dtype="Int64"))
    frame.attrs.update(
        model=preset.name,
        params=float(preset.full_params),
        task=task,
        precision=precision,
        context=context,
        users=users,
        batch=batch,
        min_tokens_per_user=min_tokens_per_user,
        max_ttft_ms=max_ttft_ms,
        gpus_per_node=gpus_per_node,
        usd_per_gpu_hour=usd_per_gpu_hour,
        budget_usd=budget_usd,
        cost_column=key,
        unused_prices=unused,
        warnings=sorted({w for joined in frame["warning"].fillna("") for w in str(joined).split("; ") if w}),
        engine=engine,
        llm_parameters={t: _llm_params(t, engine) for t in ("decode", "prefill")},
    )
    return frame


def _llm_params(task: str, engine: str) -> dict[str, Any]:
    from gpubench.model import llm_parameters

    return llm_parameters(task, engine)


def _llm_device(
    est: Any,
    engine: str,
    preset: Any,
    spec: DeviceSpec,
    task: str,
    precision: str,
    context: int,
    users: int,
    batch: int,
    checkpointing: bool,
    gpus_per_node: int,
    min_tps: float | None,
    max_ttft_ms: float | None,
) -> dict[str, Any] | None:
    """One device's sizing: cards, memory, speeds and whether the targets are met (None: no estimate)."""
    from gpubench import llm_sizing as LS

    capacity = LS.card_bytes(spec.memory_gb)
    training = task in LS.TRAIN_TASKS
    counts = LS.card_counts(gpus_per_node)

    def memory(cards: int) -> Any:
        if training:
            return LS.training_memory(preset, task, precision, batch, context, capacity, cards, checkpointing)
        return LS.serving_memory(preset, precision, users, context, capacity, cards)

    one = memory(1)
    need = LS.cards_needed(memory, gpus_per_node)
    rec: dict[str, Any] = {
        "device": spec.name,
        "slug": spec.slug,
        "fits_one": one.fits,
        "capacity_gb": capacity / 1e9,
        "notes": "",
        "warning": "",
        "basis": "estimated",
    }
    if need is None:
        mem = memory(counts[-1])
        rec.update(cards=None, meets=False, why_not=f"does not fit on {counts[-1]} cards")
        rec.update(_memory_cols(mem))
        return rec
    chosen, why, speeds = need, "", {}
    for cards in [c for c in counts if c >= need]:
        speeds = _llm_speeds(est, engine, preset, spec, task, precision, context, users, batch, cards)
        if speeds is None:
            return None
        why = _missed(speeds, min_tps, max_ttft_ms, training)
        chosen = cards
        if not why or task != "serve":
            break
    assert speeds is not None
    rec.update(cards=chosen, meets=not why, why_not=why)
    rec.update(_memory_cols(memory(chosen)))
    rec.update(speeds)
    if not training:
        rec["max_users"] = LS.max_users(preset, precision, context, capacity, chosen)
        rec["users_meeting_speed"] = _users_meeting(
            est, engine, preset, spec, precision, context, chosen, rec["max_users"], min_tps
        )
    return rec


def _memory_cols(mem: Any) -> dict[str, float]:
    gb = mem.as_gb()
    return {
        "weights_gb": gb["weights"],
        "kv_cache_gb": gb["kv_cache"],
        "activations_gb": gb["activations"],
        "training_state_gb": gb["training_state"],
        "reserve_gb": gb["reserve"],
        "total_gb": gb["total"],
    }


def _llm_speeds(
    est: Any,
    engine: str,
    preset: Any,
    spec: DeviceSpec,
    task: str,
    precision: str,
    context: int,
    users: int,
    batch: int,
    cards: int,
) -> dict[str, Any] | None:
    from gpubench import llm_sizing as LS

    out: dict[str, Any] = {}
    warnings = []
    if task in LS.TRAIN_TASKS:
        lora = est.rate(preset, "lora", precision, spec.slug, batch=batch, context=context, gpus=cards, engine=engine)
        if lora is None:
            return None
        scale = LS.train_flops_per_token(preset, "lora", context) / LS.train_flops_per_token(preset, task, context)
        out.update(train_tps=lora.value * scale, mfu=lora.details.get("mfu"))
        warnings.append(lora.warning)
    else:
        dec = est.rate(preset, "decode", precision, spec.slug, batch=users, context=context, gpus=cards, engine=engine)
        pre = est.rate(preset, "prefill", precision, spec.slug, batch=1, context=context, gpus=cards, engine=engine)
        if dec is None and pre is None:
            return None
        if dec is not None:
            out.update(decode_tps_total=dec.value, decode_tps_user=dec.value / users, mbu=dec.details.get("mbu"))
            out["basis"] = dec.basis
            if dec.basis == "published":
                out["notes"] = f"decode published: {dec.source}"
            warnings.append(dec.warning)
        if pre is not None:
            out.update(prefill_tps=pre.value, ttft_ms=context / pre.value * 1e3, mfu=pre.details.get("mfu"))
            warnings.append(pre.warning)
    out["warning"] = "; ".join(sorted({w for w in warnings if w}))
    return out


def _missed(speeds: Mapping[str, Any], min_tps: float | None, max_ttft_ms: float | None, training: bool) -> str:
    if training:
        return ""
    why = []
    per_user = speeds.get("decode_tps_user")
    if min_tps is not None and (per_user is None or per_user < min_tps):
        why.append(f"{_num(per_user)} tok/s per user < {min_tps:g}")
    ttft = speeds.get("ttft_ms")
    if max_ttft_ms is not None and (ttft is None or ttft > max_ttft_ms):
        why.append(f"TTFT {_num(ttft)} ms > {max_ttft_ms:g}")
    return "; ".join(why)


def _num(value: Any) -> str:
    return "?" if value is None else f"{value:.3g}"


def _users_meeting(
    est: Any,
    engine: str,
    preset: Any,
    spec: DeviceSpec,
    precision: str,
    context: int,
    cards: int,
    most: int,
    min_tps: float | None,
) -> int | None:
    """Most users (up to the memory limit) whose decode speed each stays at or above `min_tps`."""
    if min_tps is None or most < 1:
        return None

    def ok(n: int) -> bool:
        e = est.rate(preset, "decode", precision, spec.slug, batch=n, context=context, gpus=cards, engine=engine)
        return e is not None and e.value / n >= min_tps

    if not ok(1):
        return 0
    lo, hi = 1, most
    if ok(hi):
        return hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    return lo


def recommend_measured(df: pd.DataFrame, **kwargs: Any) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """`recommend` for every workload the runs measured: ({workload: ranking}, [workloads not comparable]).

    Only workloads at their defining sizes are ranked against other devices (each ranking has a `speedup`
    column over your fastest device); a resized or toy shape that no other device ran is listed apart."""
    from gpubench.model import is_reference

    measured = available_workloads(df)
    rankings = {w: recommend(df, w, **kwargs) for w in measured if is_reference(w)}
    return rankings, [w for w in measured if not is_reference(w)]
