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
import math
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gpubench.errors import GpubenchError
from gpubench.specs import DeviceSpec, load_catalog, match_device, normalize_device_name, normalize_precision
from gpubench.stats import finite_or_none

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

PRICE_FIELDS = ("new_usd", "used_usd", "cloud_usd_per_hour")
_PRICE_ALIASES = {
    "new_usd": "new_usd", "new": "new_usd", "new_price": "new_usd", "price_new": "new_usd", "price": "new_usd",
    "used_usd": "used_usd", "used": "used_usd", "used_price": "used_usd", "price_used": "used_usd",
    "cloud_usd_per_hour": "cloud_usd_per_hour", "cloud": "cloud_usd_per_hour",
    "cloud_per_hour": "cloud_usd_per_hour", "cloud_hourly": "cloud_usd_per_hour",
    "cloud_usd_hour": "cloud_usd_per_hour",
}  # fmt: skip
_DEVICE_KEYS = ("device", "name", "slug")
_INFER_MODES = {"infer", "inference", "eval"}
_PARAMS = ("dtype", "kind", "model", "precision", "batch", "mode")

COLUMNS = (
    "rank", "device", "slug", "basis", "throughput", "throughput_unit", "price_usd", "price_source",
    "throughput_per_usd", "avg_power_w", "throughput_per_w", "energy_cost_usd", "tco_usd",
    "tco_per_unit_usd", "work_unit", "cloud_usd_per_hour", "cloud_usd_per_unit", "memory_gb",
    "required_memory_gb", "fits_memory", "n_runs", "notes",
)  # fmt: skip
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
    p = Path(path)
    name = str(path)
    if not p.is_file():
        raise GpubenchError(f"{name}: prices file not found")
    try:
        p.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise GpubenchError(
            f"{name}: not UTF-8 text (byte {e.start}); save the prices file as UTF-8"
        ) from None
    suffix = p.suffix.lower()
    prices: dict[str, dict[str, float | None]] = {}
    if suffix == ".csv":
        with open(p, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip().lower() for h in (reader.fieldnames or [])]
            device_col = next((h for h in _DEVICE_KEYS if h in header), None)
            if device_col is None:
                raise GpubenchError(
                    f"{name}: header must have a 'device' column (got {', '.join(header) or 'none'})"
                )
            for line, row in enumerate(reader, start=2):
                fields = {k.strip().lower(): v for k, v in row.items() if k is not None}
                device = (fields.pop(device_col) or "").strip()
                if not device:
                    raise GpubenchError(f"{name}: line {line}: empty device")
                prices[device] = _price_entry(name, f"line {line}", fields)
    elif suffix == ".toml":
        try:
            with open(p, "rb") as fh:
                raw = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise GpubenchError(f"{name}: not valid TOML: {exc}") from None
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
    else:
        raise GpubenchError(f"{name}: prices file must be .csv or .toml")
    if not prices:
        raise GpubenchError(f"{name}: no prices in file")
    return prices


# -------------------------------------------------------------------------------------------- workloads


def _params(df: pd.DataFrame) -> pd.DataFrame:
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


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def _workload_name(benchmark: Any, p: Mapping[str, Any]) -> str | None:
    """The workload a result row belongs to, or None: matmul/<dtype>, memory/d2d, <model>/<precision>[/infer]."""
    bench = _text(benchmark)
    if bench in ("ddp_train", "collective", "max_batch"):
        return None  # many-GPU throughput, or a batch search: not what one card does on the workload
    if bench == "matmul" and _text(p["dtype"]):
        return f"matmul/{_text(p['dtype'])}"
    if bench == "memory" and _text(p["kind"]) == "d2d":
        return "memory/d2d"
    model, precision = _text(p["model"]), _text(p["precision"])
    if model and precision:
        mode = (_text(p["mode"]) or "").lower()
        if bench == "infer" or mode in _INFER_MODES:
            return f"{model}/{precision}/infer"
        if bench == "train" or mode == "train" or not mode:
            return f"{model}/{precision}"
    return None


def _workload_column(df: pd.DataFrame) -> pd.Series:
    params = _params(df)
    names = [_workload_name(b, p) for b, (_, p) in zip(df["benchmark"], params.iterrows(), strict=True)]
    return pd.Series(names, index=df.index, dtype=object)


def available_workloads(df: pd.DataFrame) -> list[str]:
    """Workload names `recommend` accepts for these results (only those with at least one ok row)."""
    ok = _ok_rows(df)
    return sorted({w for w in _workload_column(ok) if w}) if len(ok) else []


def _metric(workload: str) -> str:
    """The datasheet figure an estimate scales by: a precision key, or "bandwidth"."""
    if workload == "memory/d2d":
        return "bandwidth"
    # matmul/<dtype> and <model>/<precision>[/infer] both carry the precision second.
    return normalize_precision(workload.split("/")[1]) or ""


def _spec_metric(spec: DeviceSpec | None, metric: str) -> float | None:
    if spec is None:
        return None
    return spec.memory_bandwidth_gbps if metric == "bandwidth" else spec.peak(metric)


# ----------------------------------------------------------------------------------------------- advice


def _ok_rows(df: pd.DataFrame) -> pd.DataFrame:
    for col in ("benchmark", "throughput", "device_name"):
        if col not in df.columns:
            raise GpubenchError(f"results lack the '{col}' column; load them with gpubench.load_runs")
    ok = df
    if "status" in df.columns:
        ok = ok[ok["status"] == "ok"]
    throughput = pd.to_numeric(ok["throughput"], errors="coerce")
    return ok[throughput.notna() & (throughput > 0) & ok["device_name"].notna()]


def _col(row: pd.Series, name: str) -> Any:
    return row[name] if name in row.index else None


def _device_of(row: pd.Series, catalog: Mapping[str, DeviceSpec]) -> DeviceSpec | None:
    return match_device(
        str(row["device_name"]),
        finite_or_none(_col(row, "device_memory_bytes")),
        finite_or_none(_col(row, "power_limit_w")),
        compute_units=finite_or_none(_col(row, "device_multiprocessors")),
        catalog=catalog,
    )


def _required_memory_bytes(rows: pd.DataFrame, params: pd.DataFrame, batch: Any) -> float | None:
    """Peak memory the workload needed at this batch size, from any run that measured it."""
    if "peak_memory_bytes" not in rows.columns:
        return None
    mem = pd.to_numeric(rows["peak_memory_bytes"], errors="coerce")
    if batch is not None and params["batch"].notna().any():
        mem = mem[params["batch"].astype(str) == str(batch)]
    mem = mem.dropna()
    return float(mem.max()) if len(mem) else None


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
            key if key in catalog
            else by_name.get(key.strip().lower())
            or (spec.slug if spec else None)
            or raw_names.get(normalize_device_name(key))
        )  # fmt: skip
        if target is None:
            unused.append(key)
        else:
            resolved[target] = entry
    return resolved, unused


def _check_args(
    budget_usd: float | None, kwh_price: float, hours_per_day: float, years: float, price_kind: str
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


def recommend(
    df: pd.DataFrame,
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
) -> pd.DataFrame:
    """Rank devices for `workload` by total cost of ownership per unit of work (see the module docstring).

    workload: "matmul/<dtype>" (best matmul throughput of that dtype per device), "memory/d2d" (best
    device-copy bandwidth), "<model>/<precision>" (training rows) or "<model>/<precision>/infer".
    prices: from `load_prices`; overrides catalog launch prices. `price_kind` picks the new or used price
    (catalog launch prices count as new). Prices are per card: a two-GCD MI250X card costs each GCD half.
    budget_usd: drop devices whose card price exceeds it, and devices without a known price.
    estimates: add unmeasured catalog devices, scaled from the most similar measured device by the datasheet
    ratio (precision peak, or bandwidth for memory/d2d); their `basis` is "estimate from <device>".
    Returns one row per device with the columns in `COLUMNS`; `df.attrs` holds the inputs and any prices
    that matched no device ("unused_prices").
    """
    _check_args(budget_usd, kwh_price, hours_per_day, years, price_kind)
    catalog = load_catalog() if catalog is None else catalog
    ok = _ok_rows(df)
    names = _workload_column(ok) if len(ok) else pd.Series(dtype=object)
    available = sorted({w for w in names if w})
    wanted = workload.strip()
    if wanted.endswith("/train"):
        wanted = wanted[: -len("/train")]
    chosen = next((w for w in available if w.lower() == wanted.lower()), None)
    if chosen is None:
        listing = ", ".join(available) if available else "none (no ok rows in these runs)"
        raise GpubenchError(f"unknown workload {workload!r}; available: {listing}")
    rows = ok[names == chosen]
    params = _params(rows)
    metric = _metric(chosen)
    is_model = not chosen.startswith(("matmul/", "memory/"))

    # Best configuration per device (as MAMF does for matmul: the shape that runs fastest).
    throughput = pd.to_numeric(rows["throughput"], errors="coerce")
    specs = {idx: _device_of(row, catalog) for idx, row in rows.iterrows()}
    keys = pd.Series({idx: (s.slug if s else str(rows.at[idx, "device_name"])) for idx, s in specs.items()})
    measured: dict[str, dict[str, Any]] = {}
    for key, group in throughput.groupby(keys):
        best = group.idxmax()
        row = rows.loc[best]
        spec = specs[best]
        mem_bytes = finite_or_none(_col(row, "device_memory_bytes"))
        required = _required_memory_bytes(rows, params, params.at[best, "batch"]) if is_model else None
        measured[key] = {
            "device": spec.name if spec else str(row["device_name"]),
            "slug": spec.slug if spec else None,
            "spec": spec,
            "basis": "measured",
            "throughput": float(group.max()),
            "throughput_unit": _text(_col(row, "throughput_unit")),
            "avg_power_w": finite_or_none(_col(row, "avg_power_w")),
            "memory_gb": spec.memory_gb if spec else (mem_bytes / 2**30 if mem_bytes else None),
            "required_memory_bytes": required,
            # It ran this configuration to completion, so it held it.
            "fits_memory": True if is_model else None,
            "n_runs": int(rows.loc[group.index, "run_id"].nunique()) if "run_id" in rows.columns else 1,
        }

    records = list(measured.values())
    if estimates:
        records += _estimates(measured, catalog, metric)

    device_names = {key: str(rec["device"]) for key, rec in measured.items()}
    resolved, unused = _resolve_prices(prices, catalog, device_names)
    lifetime_h = hours_per_day * 365.0 * years
    out = []
    for rec in records:
        out.append(_cost_row(rec, resolved, price_kind, lifetime_h, kwh_price))
    frame = pd.DataFrame(out, columns=[c for c in COLUMNS if c != "rank"] + ["_card_price"])
    if budget_usd is not None:
        frame = frame[frame["_card_price"].notna() & (frame["_card_price"] <= budget_usd)]
    frame = frame.drop(columns="_card_price")
    frame = _ranked(frame)
    frame.attrs.update(
        workload=chosen,
        budget_usd=budget_usd,
        kwh_price=kwh_price,
        hours_per_day=hours_per_day,
        years=years,
        lifetime_hours=lifetime_h,
        price_kind=price_kind,
        unused_prices=unused,
    )
    return frame


def _estimates(
    measured: Mapping[str, dict[str, Any]], catalog: Mapping[str, DeviceSpec], metric: str
) -> list[dict[str, Any]]:
    """Unmeasured catalog devices, scaled from the measured device whose datasheet figure is closest."""
    refs = [r for r in measured.values() if _spec_metric(r["spec"], metric)]
    out = []
    for slug, spec in catalog.items():
        target = _spec_metric(spec, metric)
        if slug in measured or not target or not refs:
            continue

        def closeness(
            ref: dict[str, Any], target: float = target, spec: DeviceSpec = spec
        ) -> tuple[bool, float]:
            # Same vendor first (same software stack), then the nearest datasheet figure.
            return (
                ref["spec"].vendor != spec.vendor,
                abs(math.log(target / _spec_metric(ref["spec"], metric))),
            )

        ref = min(refs, key=closeness)
        ref_spec: DeviceSpec = ref["spec"]
        ratio = target / _spec_metric(ref_spec, metric)
        power = None
        if ref["avg_power_w"] is not None:
            # Assume the target draws the same fraction of its TDP as the reference drew of its own.
            power = spec.tdp_w * ref["avg_power_w"] / ref_spec.tdp_w
        required = ref["required_memory_bytes"]
        fits = None if required is None else required <= spec.memory_gb * 2**30
        out.append(
            {
                "device": spec.name,
                "slug": slug,
                "spec": spec,
                "basis": f"estimate from {ref['device']}",
                "throughput": ref["throughput"] * ratio,
                "throughput_unit": ref["throughput_unit"],
                "avg_power_w": power,
                "memory_gb": spec.memory_gb,
                "required_memory_bytes": required,
                "fits_memory": fits,
                "n_runs": 0,
            }
        )
    return out


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
    card_price = entry.get(f"{price_kind}_usd")
    price_source = f"prices file ({price_kind})" if card_price is not None else None
    if card_price is None and price_kind == "new" and spec is not None and spec.launch_price_usd is not None:
        card_price, price_source = spec.launch_price_usd, "catalog launch price"
    per_card = spec.devices_per_card if spec is not None else 1
    price = None if card_price is None else card_price / per_card
    if price is None:
        notes.append("price unknown")

    throughput = rec["throughput"]
    power = rec["avg_power_w"]
    if power is None:
        notes.append("no power measured")
    energy_cost = None if power is None else power / 1000.0 * lifetime_h * kwh_price
    tco = None if price is None or energy_cost is None else price + energy_cost
    lifetime_work = throughput * lifetime_h * 3600.0
    cloud = entry.get("cloud_usd_per_hour")
    required = rec["required_memory_bytes"]
    if rec["fits_memory"] is False:
        notes.append(f"needs {required / 2**30:.1f} GB, has {rec['memory_gb']:.0f} GB")
    unit = rec["throughput_unit"] or ""
    return {
        "device": rec["device"],
        "slug": rec["slug"],
        "basis": rec["basis"],
        "throughput": throughput,
        "throughput_unit": unit or None,
        "price_usd": price,
        "price_source": price_source,
        "throughput_per_usd": None if not price else throughput / price,
        "avg_power_w": power,
        "throughput_per_w": None if not power else throughput / power,
        "energy_cost_usd": energy_cost,
        "tco_usd": tco,
        "tco_per_unit_usd": None if tco is None else tco / lifetime_work,
        "work_unit": unit.removesuffix("/s") or None,
        "cloud_usd_per_hour": cloud,
        "cloud_usd_per_unit": None if cloud is None else cloud / (throughput * 3600.0),
        "memory_gb": rec["memory_gb"],
        "required_memory_gb": None if required is None else required / 2**30,
        "fits_memory": rec["fits_memory"],
        "n_runs": rec["n_runs"],
        "notes": "; ".join(notes),
        "_card_price": card_price,
    }


def _ranked(frame: pd.DataFrame) -> pd.DataFrame:
    """Order: devices that hold the workload first, then cheapest TCO per unit, then fastest."""
    if frame.empty:
        return frame.reindex(columns=list(COLUMNS))
    order = pd.DataFrame(
        {
            "misfit": frame["fits_memory"].map(lambda v: isinstance(v, (bool, np.bool_)) and not v),
            "no_tco": frame["tco_per_unit_usd"].isna(),
            "tco": frame["tco_per_unit_usd"].fillna(math.inf),
            "speed": -frame["throughput"],
        },
        index=frame.index,
    )
    frame = frame.loc[order.sort_values(["misfit", "no_tco", "tco", "speed"], kind="stable").index]
    frame = frame.reset_index(drop=True)
    frame.insert(0, "rank", range(1, len(frame) + 1))
    return frame
