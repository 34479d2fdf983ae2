"""What the report shows, computed from run folders: series (one per run) with stable colours, headline
metrics, environment differences that make comparisons unfair, and display-only downsampling.

Everything here works on DataFrames from `gpubench.store`; nothing imports torch.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gpubench.benchmarks.spec import WorkloadRef
from gpubench.frame import frame_rows
from gpubench.precisions import ELEMENT_BYTES, GEMM_DTYPES
from gpubench.report.i18n import Messages, load_messages
from gpubench.report.workloads import label_text, role_of, spec_of, workload_ref, workload_words
from gpubench.store import expand_paths, load_meta, load_runs, load_telemetry, read_meta

# A GEMM's C is written at OUTPUT_BYTES where it differs from its inputs (int8 -> int32, fp8 -> bf16 through
# torch._scaled_mm); input element sizes are the precision vocabulary's.
OUTPUT_BYTES = {"fp8": 2, "int8": 4}

# Distinct, colour-blind-friendlier first (Okabe-Ito-like), then more hues for big fleets.
PALETTE = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
    "#8C564B",
    "#7F7F7F",
    "#BCBD22",
    "#17BECF",
    "#1F3A93",
    "#B22222",
    "#2E8B57",
    "#8B008B",
    "#FF8C00",
    "#4682B4",
    "#A0522D",
    "#556B2F",
    "#C71585",
    "#008080",
    "#6A5ACD",
    "#DAA520",
    "#2F4F4F",
    "#DC143C",
)


def esc(value: Any) -> str:
    """Escape text that came from a results file for Plotly, which renders a subset of HTML (tags and a few
    entities) in names, ticks and hover text: a result file is someone else's data. Quotes stay as they are:
    outside a tag they are inert, and Plotly does not decode &quot;. The page escapes its own HTML."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    return html.escape(str(value), quote=False)


def is_num(value: Any) -> bool:
    """A finite real number (not None, NaN, NA or a string)."""
    try:
        return value is not None and value is not pd.NA and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def fmt_num(value: Any, digits: int = 3) -> str:
    """Compact number for tables and hover: 3 significant digits, thousands separators when large."""
    if not is_num(value):
        return "–"
    v = float(value)
    if v == 0:
        return "0"
    if abs(v) >= 10**digits:
        return f"{v:,.0f}"
    return f"{v:.{digits}g}"


def multiple_text(x: Any) -> str:
    """2.3×, 25×, 1,200× (two significant digits: an estimate is no more precise)."""
    if not is_num(x) or x <= 0:
        return "–"
    digits = 1 - int(math.floor(math.log10(x)))
    rounded = round(x, digits)
    return (f"{rounded:,.0f}" if digits <= 0 else f"{rounded:.{digits}f}") + "×"


@dataclass(frozen=True)
class Series:
    """One run as it appears in every figure: a unique label and a colour that follows its device."""

    run_id: str
    label: str
    color: str
    device_name: str
    vendor: str
    host: str
    folder: str
    meta: dict[str, Any] = field(hash=False, compare=False)
    members: tuple[str, ...] = ()  # a fleet group: the run ids it aggregates (empty for a single run)
    representative: str = ""  # a fleet group: the run whose telemetry stands for the group

    @property
    def n_runs(self) -> int:
        """How many runs this series shows (1 for a run, the member count for a fleet group)."""
        return len(self.members) or 1


@dataclass
class ReportData:
    """Everything the sections draw from. `runs` has a row per case of every run (store.load_runs),
    plus `series` (label) and `color` columns; `ok` is the subset with status 'ok'.

    In a fleet, runs of one device model are drawn as one series (see `aggregate_fleet`): then `series`
    and `runs` are the aggregated view and `detail` holds the per-run data (Runs table, fleet detail,
    problems); otherwise `detail` is None. `msg` gives every text in the report's language."""

    runs: pd.DataFrame
    telemetry: pd.DataFrame
    series: list[Series]
    baseline: Series
    notes: list[str] = field(default_factory=list)
    pooling: list[str] = field(default_factory=list)  # what was pooled into fleet series, and what was not
    msg: Messages = field(default_factory=load_messages)
    detail: ReportData | None = None
    # Extra reference devices for the verdict (catalog slugs); figures derived once (headline metrics).
    against: list[str] = field(default_factory=list)
    memo: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.by_run = {s.run_id: s for s in self.series}
        status = self.runs["status"] if "status" in self.runs else pd.Series("ok", index=self.runs.index)
        self.ok = self.runs[status.astype("string").fillna("") == "ok"]

    def col(self, name: str, frame: pd.DataFrame | None = None) -> pd.Series:
        """A column, or an all-missing one when the runs lack it (older runs, no telemetry, CPU)."""
        frame = self.runs if frame is None else frame
        return frame[name] if name in frame else pd.Series(np.nan, index=frame.index, dtype="float64")

    def has(self, name: str, frame: pd.DataFrame | None = None) -> bool:
        """True when the column exists and holds at least one value."""
        frame = self.runs if frame is None else frame
        return name in frame and frame[name].notna().any()

    @property
    def per_run(self) -> ReportData:
        """The per-run data: `detail` in a fleet, else this."""
        return self.detail if self.detail is not None else self

    @property
    def cpu_only(self) -> bool:
        """Every run was on a CPU (the explanations then say what a GPU would change)."""
        return bool(self.series) and all(s.vendor.lower() == "cpu" for s in self.series)


def run_colors(n: int) -> list[str]:
    """`n` distinct colours, one per series: the palette first, then golden-angle hues that keep
    neighbours apart. Two runs of one device get two colours, never two shades of one."""
    out = list(PALETTE[:n])
    for i in range(len(out), n):
        out.append(_hsl_hex((i * 137.508) % 360, 0.55, 0.45))
    return out


def device_colors(device_names: Iterable[str]) -> dict[str, str]:
    """A colour per distinct device name, in order of first appearance."""
    names = list(dict.fromkeys(device_names))
    return dict(zip(names, run_colors(len(names)), strict=True))


def _hsl_hex(h: float, s: float, lum: float) -> str:
    c = (1 - abs(2 * lum - 1)) * s
    x = c * (1 - abs((h / 60) % 2 - 1))
    m = lum - c / 2
    r, g, b = [(c, x, 0), (x, c, 0), (0, c, x), (0, x, c), (x, 0, c), (c, 0, x)][int(h // 60) % 6]
    return "#" + "".join(f"{round((v + m) * 255):02X}" for v in (r, g, b))


def _started(meta: dict[str, Any]) -> str:
    return str(meta.get("started_utc") or "").replace("T", " ").rstrip("Z")


def make_series(
    metas: Sequence[dict[str, Any]], folders: Sequence[Path], labels: Sequence[str] | None = None
) -> list[Series]:
    """Series for runs in order, each with its own colour and a unique label: `labels` where given (the
    user's `--label`, in run order), else the device name, then its host where runs of one device differ in
    host, else its start time to the second (the date too where the runs' dates differ), else a number."""
    names = [str((m.get("device") or {}).get("name") or "unknown device") for m in metas]
    hosts = [str(m.get("host") or "") for m in metas]
    out_labels = list(names)
    for name in set(names):
        idx = [i for i, n in enumerate(names) if n == name]
        if len(idx) < 2:
            continue
        if len({hosts[i] for i in idx}) == len(idx):
            for i in idx:
                out_labels[i] = f"{name} · {hosts[i]}"
            continue
        stamps = [_started(metas[i]) for i in idx]
        same_day = len({st[:10] for st in stamps}) == 1
        for i, stamp in zip(idx, stamps, strict=True):
            when = stamp[11:19] if same_day else stamp[:19]
            host = f"{hosts[i]} " if len({hosts[j] for j in idx}) > 1 else ""
            out_labels[i] = f"{name} · {host}{when}".rstrip(" ·")
    for i, label in enumerate(labels or ()):
        if i < len(out_labels) and str(label).strip():
            out_labels[i] = str(label).strip()
    seen: dict[str, int] = {}
    for i, label in enumerate(out_labels):
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1:
            out_labels[i] = f"{label} #{seen[label]}"
    colors = run_colors(len(metas))
    return [
        Series(
            run_id=str(meta.get("run_id")),
            label=out_labels[i],
            color=colors[i],
            device_name=names[i],
            vendor=str((meta.get("device") or {}).get("vendor") or ""),
            host=hosts[i],
            folder=str(folders[i]),
            meta=meta,
        )
        for i, meta in enumerate(metas)
    ]


FLEET_MIN_RUNS = 4
"""Runs of one device model that measured the same cases, from which the report draws them as one pooled
series (a fleet) unless told otherwise (`fleet=False`; `fleet=True` pools from two)."""

_ANY_COLUMNS = ("throttled",)  # a group row is throttled when any of its runs was
_MAJORITY_COLUMNS = ("noisy",)  # ... and noisy when most of them were


def load_report_data(
    paths: Iterable[str | Path],
    baseline: str | Path | None = None,
    lang: str = "en",
    fleet_min_runs: int = FLEET_MIN_RUNS,
    against: Sequence[str] = (),
    fleet: bool | None = None,
    labels: Sequence[str] = (),
) -> ReportData:
    """Load run folders (paths and globs, any mix of machines) into what the report draws.

    The baseline (default: the first run) is added when it is not among `paths`. Runs are never pooled
    silently: runs of one device model that measured the same cases become one series when there are
    `fleet_min_runs` of them (`fleet=None`, the default), from two (`fleet=True`) or never (`fleet=False`,
    or `fleet_min_runs=0`); the page says which. `labels` name the runs in order (else device, host, time);
    `lang` picks the message catalogue; `against` names extra catalog devices for the verdict.
    """
    msg = load_messages(lang)
    folders = expand_paths(list(paths))
    notes: list[str] = []
    base_id: str | None = None
    if baseline is not None:
        base_folder = Path(baseline).resolve()
        base_id = read_meta(base_folder).get("run_id")
        if base_folder not in folders:
            folders.insert(0, base_folder)
    metas = load_meta(folders)
    # Two copies of one run folder would draw one run twice under one id: keep the first.
    keep, seen_ids = [], set()
    for folder, meta in zip(folders, metas, strict=True):
        rid = meta.get("run_id")
        if rid in seen_ids:
            notes.append(msg("notes.duplicate", run=rid, folder=folder))
            continue
        seen_ids.add(rid)
        keep.append((folder, meta))
    folders = [f for f, _ in keep]
    metas = [m for _, m in keep]
    series = make_series(metas, folders, labels)
    # Raw step times are for `compare`; the report draws summaries, and the list column makes every
    # filter copy megabytes: it is never read.
    runs = load_runs(folders, skip_columns=("times_s",))
    if "run_id" not in runs:
        runs["run_id"] = pd.Series(dtype=object)
    runs = runs[runs["run_id"].isin(seen_ids)].reset_index(drop=True)
    runs = _plain(runs)  # text as objects for the fleet's pooling; integers stay typed until its medians are taken
    _label_rows(runs, series)
    by_id = {s.run_id: s for s in series}
    base = by_id.get(base_id, series[0]) if base_id else series[0]
    min_runs = 0 if fleet is False else (2 if fleet else fleet_min_runs)
    pooling: list[str] = []
    shown, pooled = aggregate_fleet(runs, series, min_runs, msg, pooling)
    # What the sections filter a hundred times, in plain numpy blocks (after the fleet's medians were taken).
    shown_runs = _plain(pooled, ints=True)
    runs = shown_runs if pooled is runs else _plain(runs, ints=True)
    # Telemetry only for what is drawn: every single run, and one representative run per fleet group.
    wanted = {s.representative or s.run_id: s.run_id for s in shown}
    folder_of = {s.run_id: Path(s.folder) for s in series}
    telemetry = load_telemetry([folder_of[r] for r in wanted])
    if not telemetry.empty and "run_id" in telemetry:
        telemetry["run_id"] = telemetry["run_id"].map(wanted)
    if len(shown) == len(series):
        return ReportData(
            runs=runs,
            telemetry=telemetry,
            series=series,
            baseline=base,
            notes=notes,
            pooling=pooling,
            msg=msg,
            against=list(against),
        )
    detail = ReportData(
        runs=runs, telemetry=pd.DataFrame(), series=series, baseline=base, notes=notes, msg=msg, against=list(against)
    )
    shown_base = next(s for s in shown if s.run_id == base.run_id or base.run_id in s.members)
    return ReportData(
        runs=shown_runs,
        telemetry=telemetry,
        series=shown,
        baseline=shown_base,
        notes=notes,
        pooling=pooling,
        msg=msg,
        detail=detail,
        against=list(against),
    )


def _label_rows(runs: pd.DataFrame, series: Sequence[Series]) -> None:
    runs["series"] = runs["run_id"].map({s.run_id: s.label for s in series})
    runs["color"] = runs["run_id"].map({s.run_id: s.color for s in series})


def pool_groups(runs: pd.DataFrame, series: list[Series], min_runs: int) -> tuple[list[list[Series]], list[str]]:
    """Which runs to pool: groups of at least `min_runs` runs of one device model that measured the same set
    of cases. Also the device models with enough runs that were not pooled because their cases differ."""
    if min_runs <= 0 or runs.empty or "case_id" not in runs:
        return [], []
    cases = {str(k): frozenset(map(str, g)) for k, g in runs.groupby("run_id", sort=False)["case_id"]}
    by_device: dict[str, list[Series]] = {}
    for s in series:
        by_device.setdefault(s.device_name, []).append(s)
    groups, differing = [], []
    for device, members in by_device.items():
        if len(members) < min_runs:
            continue
        by_cases: dict[frozenset[str], list[Series]] = {}
        for s in members:
            by_cases.setdefault(cases.get(s.run_id, frozenset()), []).append(s)
        pooled = [g for g in by_cases.values() if len(g) >= min_runs]
        groups += pooled
        if len(by_cases) > 1:
            differing.append(device)
    return groups, differing


def aggregate_fleet(
    runs: pd.DataFrame, series: list[Series], min_runs: int, msg: Messages, notes: list[str] | None = None
) -> tuple[list[Series], pd.DataFrame]:
    """Draw runs of one device model that measured the same cases as one series once there are `min_runs`
    of them, and say so in `notes` (as the page does).

    A group's row per case holds the median over its runs of every number (throughput, time, power,
    energy ...), `throughput_p10`/`throughput_p90` become the slowest and fastest run (the spread between
    machines, which is what a fleet is read for) and `n_runs` counts the runs. Throttled when any run was;
    noisy when most were. Returns the series to draw and their rows; unchanged when nothing groups.
    """
    notes = notes if notes is not None else []
    groups, differing = pool_groups(runs, series, min_runs)
    for device in differing:
        notes.append(msg("fleet.not_pooled", device=device))
    if not groups:
        return series, runs
    group_of = {m.run_id: i for i, g in enumerate(groups) for m in g}
    shown: list[Series] = []
    frames: list[pd.DataFrame] = []
    done: set[int] = set()
    for s in series:
        gi = group_of.get(s.run_id)
        if gi is None:
            shown.append(s)
            frames.append(runs[runs["run_id"] == s.run_id])
            continue
        if gi in done:
            continue
        done.add(gi)
        members = groups[gi]
        ids = [m.run_id for m in members]
        rows = runs[runs["run_id"].isin(ids)]
        group_id = f"fleet:{s.device_name}" + (
            f":{gi}" if any(g is not members and g[0].device_name == s.device_name for g in groups) else ""
        )
        agg = _aggregate_rows(rows, group_id)
        rep = _representative(rows, ids)
        rep_meta = next(m.meta for m in members if m.run_id == rep)
        group = Series(
            run_id=group_id,
            label=msg("fleet.label", device=s.device_name, n=len(ids)),
            color=s.color,
            device_name=s.device_name,
            vendor=s.vendor,
            host=msg("fleet.hosts", n=len({m.host for m in members})),
            folder=s.folder,
            meta=rep_meta,
            members=tuple(ids),
            representative=rep,
        )
        notes.append(msg("fleet.pooled", label=group.label, n=len(ids), device=s.device_name))
        shown.append(group)
        frames.append(agg)
    seen: dict[str, int] = {}
    for i, s in enumerate(shown):  # two pooled groups of one model (different case sets): unique labels
        seen[s.label] = seen.get(s.label, 0) + 1
        if seen[s.label] > 1:
            shown[i] = replace(s, label=f"{s.label} #{seen[s.label]}")
    out = pd.concat(frames, ignore_index=True, sort=False) if frames else runs.iloc[0:0]
    _label_rows(out, shown)
    return shown, out


def _plain(frame: pd.DataFrame, ints: bool = False) -> pd.DataFrame:
    """`frame` in consolidated blocks of numpy columns: its nullable Float64 columns (medians of whole-number
    columns) as float64, its text as Python objects and (`ints`) its nullable integer columns as Python ints with
    None where missing (what their rows' values were: `frame_rows` gives the same rows). The report filters
    the frame it draws over a hundred times, and each filter takes every extension column (an Arrow-backed text
    column: a pyarrow `take`) one by one: 2-3 ms per filter of a few dozen rows, 0.3-0.6 ms after."""
    plain: dict[str, Any] = {c: "float64" for c, t in frame.dtypes.items() if isinstance(t, pd.Float64Dtype)}
    plain.update({c: object for c, t in frame.dtypes.items() if isinstance(t, pd.StringDtype)})
    whole = [c for c, t in frame.dtypes.items() if isinstance(t, pd.Int64Dtype)] if ints else []
    if not plain and not whole:
        return frame
    frame = frame.astype(plain) if plain else frame
    if whole:
        objects = {c: frame[c].to_numpy(dtype=object, na_value=None) for c in whole}  # Python ints, None
        frame = frame.assign(**{c: pd.Series(v, index=frame.index, dtype=object) for c, v in objects.items()})
    return frame.copy()


def _aggregate_rows(rows: pd.DataFrame, group_id: str) -> pd.DataFrame:
    """One row per (case, status) over a group's runs: medians of numbers, the spread between runs."""
    status = rows["status"].astype(str) if "status" in rows else pd.Series("ok", index=rows.index)
    rows = rows.assign(status=status)
    keys = ["case_id", "status"]
    numeric = [
        c
        for c in rows.columns
        if c not in keys
        and c not in (*_ANY_COLUMNS, *_MAJORITY_COLUMNS)
        and pd.api.types.is_numeric_dtype(rows[c])
        and not pd.api.types.is_bool_dtype(rows[c])
    ]
    other = [
        c for c in rows.columns if c not in keys and c not in numeric and c not in (*_ANY_COLUMNS, *_MAJORITY_COLUMNS)
    ]
    grouped = rows.groupby(keys, sort=False, dropna=False)
    out = grouped[numeric].median() if numeric else grouped.size().to_frame("_n").drop(columns="_n")
    # A whole-number column whose medians are whole (a case's m, n, batch) stays whole: "256", not "256.0".
    for c in numeric:
        if pd.api.types.is_integer_dtype(rows[c]):
            values = out[c].to_numpy(dtype="float64", na_value=np.nan)
            known = values[~np.isnan(values)]
            if np.array_equal(known, np.round(known)):
                out[c] = out[c].astype("Int64")
    if other:
        out = out.join(grouped[other].first())
    flags = {
        c: rows[c].map(lambda v: bool(v) if isinstance(v, (bool, np.bool_)) else False)
        for c in (*_ANY_COLUMNS, *_MAJORITY_COLUMNS)
        if c in rows
    }
    for c, values in flags.items():
        by = values.groupby([rows[k] for k in keys], sort=False, dropna=False)
        out[c] = by.any() if c in _ANY_COLUMNS else by.mean() > 0.5
    out["n_runs"] = grouped.size()
    if "throughput" in rows:
        thr = pd.to_numeric(rows["throughput"], errors="coerce").groupby(
            [rows[k] for k in keys], sort=False, dropna=False
        )
        out["throughput_p10"], out["throughput_p90"] = thr.min(), thr.max()
    out = out.reset_index()
    out["run_id"] = group_id
    # Case order as the runs ran them.
    order = {c: i for i, c in enumerate(dict.fromkeys(rows["case_id"]))}
    return out.sort_values("case_id", key=lambda c: c.map(order), kind="stable").reset_index(drop=True)


def _representative(rows: pd.DataFrame, ids: list[str]) -> str:
    """The run of a group whose speed is the group's median: geometric mean, over its ok cases, of
    throughput / the group median of that case."""
    ok = rows[(rows["status"].astype(str) == "ok")] if "status" in rows else rows
    if ok.empty or "throughput" not in ok:
        return ids[len(ids) // 2]
    thr = pd.to_numeric(ok["throughput"], errors="coerce")
    median = thr.groupby(ok["case_id"]).transform("median")
    ratio = np.log((thr / median).where((thr > 0) & (median > 0)))
    score = ratio.groupby(ok["run_id"]).mean().dropna().sort_values()
    if score.empty:
        return ids[len(ids) // 2]
    return str(score.index[(len(score) - 1) // 2])


# ------------------------------------------------------------------------------------------ headline metrics


@dataclass(frozen=True)
class Metric:
    """A headline figure of one run: the best row of one workload (or one group of a benchmark without a
    workload), as its spec's headline says, and the row it came from."""

    run_id: str
    key: str  # stable across runs: the workload key ("matmul/bf16", "gpt2[layers=2,...]/fp32") or bench/group
    label: str  # for people, in the report's language
    unit: str
    value: float
    higher_is_better: bool
    row: int  # index into ReportData.runs
    workload: WorkloadRef | None = field(default=None, compare=False)
    emulated: bool = False  # the precision has no hardware on the device: software speed, never a headline
    in_cache: bool = False  # a memory figure whose buffer fits in the last-level cache


def headline_metrics(data: ReportData) -> list[Metric]:
    """Per run, per workload: the best row by its spec's headline (matmul per precision, device copy
    bandwidth at the largest buffer beyond the last-level cache, each model and precision, each LLM
    workload ...), and J per sample of the best training configuration. Rows of different workloads never
    compete (a toy gpt2 and GPT-2 small are two metrics). Computed once per ReportData."""
    if "headline" not in data.memo:
        data.memo["headline"] = _headline_metrics(data)
    return list(data.memo["headline"])


_ORDER = {"compute_anchor": 0, "memory_anchor": 1, "training": 2, "inference": 3}


def _order(m: Metric) -> tuple[int, int, str]:
    ref = m.workload
    if m.key.startswith("energy/"):
        return (9, 0, m.key)
    if ref is None:
        return (8, 0, m.key)
    rank = _ORDER.get(role_of(ref.benchmark) or ref.family, 4)
    return (rank, GEMM_DTYPES.index(ref.precision) if ref.precision in GEMM_DTYPES else 0, m.key)


def _llc_bytes(series: Series | None) -> float:
    dev = (series.meta.get("device") or {}) if series is not None else {}
    for key in ("llc_bytes", "l2_cache_bytes", "l2_bytes"):
        if is_num(dev.get(key)):
            return float(dev[key])
    return 0.0


def _buffer_bytes(entry: tuple[int, dict[str, Any], WorkloadRef | None]) -> float:
    """A copy's buffer size from its workload (bytes read + written per step, halved)."""
    ref = entry[2]
    return float(ref.items_per_step or 0) / 2 if ref is not None else 0.0


def _headline_metrics(data: ReportData) -> list[Metric]:
    ok = data.ok
    if ok.empty or "benchmark" not in ok:
        return []
    t = data.msg
    groups: dict[tuple[str, str], list[tuple[int, dict[str, Any], WorkloadRef | None]]] = {}
    for i, row in zip(ok.index, frame_rows(ok), strict=True):
        spec = spec_of(row.get("benchmark"))
        if spec is None:
            continue
        head = spec.headline
        if not is_num(row.get(head.metric)):
            continue
        ref = workload_ref(row)
        if ref is not None:
            key = ref.key
        else:
            parts = [str(row.get(g)) for g in head.group_by]
            key = "/".join([spec.name, *parts])
        groups.setdefault((str(row["run_id"]), key), []).append((int(i), row, ref))
    out: list[Metric] = []
    for (run_id, key), rows in groups.items():
        i, row, ref = rows[0]
        spec = spec_of(row.get("benchmark"))
        head = spec.headline
        in_cache = False
        if role_of(spec.name) == "memory_anchor":
            # The memory figure a buyer reads is main memory: the largest buffer, beyond the last-level cache.
            llc = _llc_bytes(data.by_run.get(run_id))
            i, row, ref = max(rows, key=_buffer_bytes)
            size = _buffer_bytes((i, row, ref))
            in_cache = 0 < size <= llc
        else:
            better = max if head.better == "higher" else min
            i, row, ref = better(rows, key=lambda r: float(r[1][head.metric]))
        unit = head.unit or str(row.get(head.unit_column) or "")
        if ref is not None:
            label = workload_words(t, ref)
        else:
            try:
                label = head.label.format_map({**row, "workload": spec.name})
            except (KeyError, IndexError, ValueError):
                label = key
        emulated = row.get("emulated") is True
        if emulated:
            label = t("fig.emulated_tick", dtype=label)
        if in_cache:
            label = t("workload.in_cache", workload=label)
        out.append(
            Metric(
                run_id, key, label, unit, float(row[head.metric]), head.better == "higher", i, ref, emulated, in_cache
            )
        )
        epw = row.get("energy_per_work")
        if ref is not None and ref.family == "training" and is_num(epw) and float(epw) > 0:
            out.append(
                Metric(
                    run_id,
                    f"energy/{ref.key}",
                    t("workload.energy", model=label_text(t, ref), precision=ref.precision),
                    str(row.get("energy_per_work_unit") or "J/sample"),
                    float(epw),
                    False,
                    i,
                    ref,
                )
            )
    return sorted(out, key=_order)


def workload_rows(data: ReportData, key: str) -> pd.DataFrame:
    """The ok rows that measured workload `key` (what the model calibrates on and the advisor ranks from):
    asking the model with every row of a fleet costs seconds and changes nothing."""
    if "workload_key" not in data.memo:
        data.memo["workload_key"] = pd.Series(
            [getattr(workload_ref(r), "key", None) for r in frame_rows(data.ok)],
            index=data.ok.index,
            dtype=object,
        )
    return data.ok[data.memo["workload_key"] == key]


def comparable_metrics(data: ReportData) -> list[Metric]:
    """The headline metrics that compare runs like with like: those of a workload (its key is the same
    only where the work is), never an emulated precision."""
    return [m for m in headline_metrics(data) if m.workload is not None and not m.emulated]


def scorecard(data: ReportData, metrics: list[Metric] | None = None) -> pd.DataFrame:
    """Per run and metric: value, ratio to the baseline (>1 is better, energy inverted), and per run the
    geometric-mean score over the metrics it shares with the baseline."""
    metrics = comparable_metrics(data) if metrics is None else metrics
    if not metrics:
        return pd.DataFrame()
    frame = pd.DataFrame([m.__dict__ for m in metrics])
    base = frame[frame["run_id"] == data.baseline.run_id].set_index("key")["value"]
    ratio = []
    for m in metrics:
        b = base.get(m.key)
        if b is None or not is_num(b) or b <= 0 or m.value <= 0:
            ratio.append(math.nan)
        else:
            ratio.append(m.value / b if m.higher_is_better else b / m.value)
    frame["ratio"] = ratio
    logs = np.log(frame["ratio"].where(frame["ratio"] > 0))
    frame["score"] = frame["run_id"].map(np.exp(logs.groupby(frame["run_id"]).mean()))
    frame["score_n"] = frame["run_id"].map(frame["ratio"].notna().groupby(frame["run_id"]).sum())
    return frame


@dataclass(frozen=True)
class RunCases:
    """What a run's cases say about it in the Runs table: how many, how many ok, how many ran with TF32 on,
    and each benchmark's method version ("matmul v1, memory v2", benchmarks in name order)."""

    total: int = 0
    ok: int = 0
    tf32: int = 0
    versions: str = ""


def run_cases(data: ReportData) -> dict[str, RunCases]:
    """RunCases of every run of `data.runs`, from one pass over the frame (not one filter per run: a fleet has
    a thousand). Computed once per ReportData."""
    if "run_cases" in data.memo:
        return data.memo["run_cases"]
    runs = data.runs
    out: dict[str, RunCases] = {}
    if len(runs) and "run_id" in runs:
        ids = runs["run_id"]
        total = ids.groupby(ids, sort=False).size()
        status = runs["status"].astype("string").fillna("") if "status" in runs else pd.Series("", index=runs.index)
        ok = (status == "ok").groupby(ids, sort=False).sum()
        tf32 = runs["tf32"].fillna(False).astype(bool).groupby(ids, sort=False).sum() if "tf32" in runs else None
        versions: dict[str, list[str]] = {}
        if {"benchmark", "benchmark_version"} <= set(runs.columns):
            known = runs[runs["benchmark_version"].notna()]
            first = known.groupby(["run_id", "benchmark"])["benchmark_version"].first()
            for (run_id, bench), v in first.items():
                versions.setdefault(str(run_id), []).append(f"{bench} v{int(v)}")
        for run_id, n in total.items():
            out[str(run_id)] = RunCases(
                int(n),
                int(ok.get(run_id, 0)),
                int(tf32.get(run_id, 0)) if tf32 is not None else 0,
                ", ".join(versions.get(str(run_id), [])),
            )
    data.memo["run_cases"] = out
    return out


# --------------------------------------------------------------------------------- environment differences


@dataclass(frozen=True)
class Difference:
    """A difference between runs that can make a comparison unfair. `field` names the Runs-table column."""

    field: str
    message: str


def _values(series: list[Series], get: Any) -> dict[str, Any]:
    out = {}
    for s in series:
        value = get(s.meta)
        if value not in (None, "", {}) and not (isinstance(value, float) and math.isnan(value)):
            out[s.label] = value
    return out


def _listing(values: dict[str, Any], limit: int = 6) -> str:
    groups: dict[str, list[str]] = {}
    for label, value in values.items():
        groups.setdefault(str(value), []).append(label)
    parts = [f"{v} ({', '.join(ls[:3])}{', …' if len(ls) > 3 else ''})" for v, ls in groups.items()]
    return "; ".join(parts[:limit]) + ("; …" if len(parts) > limit else "")


def environment_differences(data: ReportData) -> list[Difference]:
    """Differences in torch/CUDA/HIP version, power limit, TF32 and benchmark method version (worked out once
    per ReportData: the verdict and the Runs section both ask)."""
    if "environment_differences" not in data.memo:
        data.memo["environment_differences"] = _environment_differences(data)
    return list(data.memo["environment_differences"])


def _environment_differences(data: ReportData) -> list[Difference]:
    out: list[Difference] = []
    ser = data.series

    def sw(key: str) -> Any:
        return lambda m: (m.get("software") or {}).get(key)

    for fld, getter, what in (
        ("torch", sw("torch"), "torch version"),
        ("cuda", sw("cuda"), "CUDA version"),
        ("hip", sw("hip"), "HIP version"),
    ):
        vals = _values(ser, getter)
        if len(set(map(str, vals.values()))) > 1:
            out.append(Difference(fld, f"{what} differs: {_listing(vals)}"))
    # Power limits differ between device models by design; within one model, or below the datasheet TDP,
    # they change the result.
    limits = _values(ser, lambda m: (m.get("telemetry") or {}).get("power_limit_w"))
    by_device: dict[str, dict[str, Any]] = {}
    for s in ser:
        if s.label in limits:
            by_device.setdefault(s.device_name, {})[s.label] = limits[s.label]
    for device, vals in by_device.items():
        if len({float(v) for v in vals.values()}) > 1:
            out.append(
                Difference(
                    "power_limit",
                    f"power limit differs between runs of {device}: "
                    f"{_listing({k: f'{float(v):g} W' for k, v in vals.items()})}",
                )
            )
    match = _spec_matcher()
    if match is not None:
        found: dict[tuple[Any, ...], Any] = {}  # a fleet is a thousand runs of a few device models
        for s in ser:
            limit = limits.get(s.label)
            key = (s.device_name, (s.meta.get("device") or {}).get("memory_bytes"), limit)
            if key not in found:
                found[key] = match(*key)
            spec = found[key]
            if spec is not None and spec.tdp_w and is_num(limit) and float(limit) < 0.95 * spec.tdp_w:
                out.append(
                    Difference(
                        "power_limit",
                        f"{s.label} ran at a {float(limit):g} W power limit, below its {spec.tdp_w:g} W datasheet TDP",
                    )
                )
    runs = data.runs
    if "tf32" in runs and "case_id" in runs:
        flags = runs[runs["tf32"].notna()].groupby("case_id")["tf32"].agg(lambda s: len(set(map(bool, s))))
        mixed = sorted(flags[flags > 1].index)
        if mixed:
            out.append(
                Difference(
                    "tf32",
                    f"TF32 was on in some runs and off in others for {len(mixed)} case(s), e.g. {', '.join(mixed[:3])}",
                )
            )
    if "benchmark_version" in runs and "benchmark" in runs:
        for bench, g in runs[runs["benchmark_version"].notna()].groupby("benchmark"):
            per_run = g.groupby("run_id")["benchmark_version"].first()
            if per_run.nunique() > 1:
                vals = {data.by_run[r].label: f"v{int(v)}" for r, v in per_run.items() if r in data.by_run}
                out.append(
                    Difference(
                        "versions",
                        f"{bench} method version differs ({_listing(vals)}): its numbers measure different things",
                    )
                )
    return out


def _spec_matcher() -> Any:
    """`gpubench.specs.match_device` when the catalog module is there; the report works without it."""
    try:
        from gpubench.specs import match_device
    except ImportError:
        return None
    return match_device


def device_spec(series: Series) -> Any:
    """The datasheet entry of a run's device (gpubench.specs), or None when unknown or unavailable."""
    match = _spec_matcher()
    if match is None:
        return None
    dev = series.meta.get("device") or {}
    limit = (series.meta.get("telemetry") or {}).get("power_limit_w")
    return match(series.device_name, dev.get("memory_bytes"), limit)


# --------------------------------------------------------------------------------------------- downsampling


def downsample_minmax(t: np.ndarray, y: np.ndarray, max_points: int) -> np.ndarray:
    """Indices of at most `max_points` samples keeping each bucket's minimum and maximum, in time order.

    Display only (storage keeps every sample). Averaging would hide exactly what a power trace is read
    for: short spikes and dips.
    """
    n = len(y)
    if n <= max_points:
        return np.arange(n)
    buckets = max(1, max_points // 2)
    width = -(-n // buckets)  # ceil
    padded = np.full(buckets * width, np.nan)
    padded[:n] = np.where(np.isfinite(y), y, np.nan)
    grid = padded.reshape(buckets, width)
    # NaN never wins: +inf for the minimum, -inf for the maximum (an all-NaN bucket keeps its first index).
    lo = np.argmin(np.where(np.isnan(grid), np.inf, grid), axis=1)
    hi = np.argmax(np.where(np.isnan(grid), -np.inf, grid), axis=1)
    base = np.arange(buckets) * width
    keep = np.concatenate([base + lo, base + hi])
    return np.unique(keep[keep < n])


def matmul_bytes(dtype: str, m: float, n: float, k: float) -> float:
    """Bytes a GEMM must move at least once: read A (m x k) and B (k x n), write C (m x n)."""
    size = ELEMENT_BYTES.get(str(dtype))
    if size is None:
        return math.nan
    out_size = OUTPUT_BYTES.get(str(dtype), size)
    return float(m * k * size + k * n * size + m * n * out_size)
