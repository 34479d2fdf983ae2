"""Judge every GPU of a fleet against its siblings and a baseline, and name the slow ones.

Per case and per GPU: the ratio of its throughput to the fleet median of that case (over GPUs of the same
device model), and an interval for that ratio from the GPU's own rounds (`gpubench.stats`, the statistics
`compare` uses). A GPU fails the fleet rule on a case when all three hold:

- it is more than `threshold` below the fleet median (a slowdown worth acting on);
- it is a robust outlier: its log ratio lies more than `mad_z` scaled median absolute deviations below the
  fleet's (a fleet that is noisy as a whole does not convict its noisiest member; needs 3+ GPUs);
- its interval lies wholly below the median (the slowdown is beyond its own round-to-round noise; with one
  round there is no interval and the two tests above decide).

Also failures: a failed or wrong case; a case most of its siblings ran that it lacks; a run that did not
complete; a manifest slot (node, GPU) with no run folder at all; any rule of a rules file or baseline it
breaks (ratio to a baseline value or to the fleet median, a spread limit, bounds on recorded facts such as
uncorrectable ECC errors); a power limit set below its siblings'.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gpubench.errors import GpubenchError
from gpubench.fleet.manifest import MANIFEST, NODE_RUN, Manifest, expected_nodes, read_manifest
from gpubench.fleet.rules import DEFAULT_MAD_Z, DEFAULT_THRESHOLD, Rule, RuleSet
from gpubench.frame import frame_rows
from gpubench.stats import rows_throughput_interval, to_float

_MAD_SCALE = 1.4826  # MAD -> standard deviation for normal data
_SLOT_RE = re.compile(r"^gpu(\d+)$")
# Facts that fail a GPU whenever they are above zero (NaN: not recorded, not a failure).
DEFAULT_FACT_MAX = {
    "ecc_uncorrectable_volatile": 0.0,
    "retired_pages_pending": 0.0,
    "remapped_rows_pending": 0.0,
    "remapped_rows_failure": 0.0,
}
FACT_KEYS = (
    "serial",
    "ecc_mode",
    "ecc_uncorrectable_volatile",
    "ecc_correctable_volatile",
    "ecc_uncorrectable_aggregate",
    "retired_pages_sbe",
    "retired_pages_dbe",
    "retired_pages_pending",
    "remapped_rows_correctable",
    "remapped_rows_uncorrectable",
    "remapped_rows_pending",
    "remapped_rows_failure",
    "power_limit_w",
    "default_power_limit_w",
    "max_sm_clock_mhz",
    "max_mem_clock_mhz",
)
_FOLDERS_PER_WORKER = 150  # below this many run folders per core, one process reads them all


@dataclass(frozen=True)
class Unit:
    """One judged unit: a GPU's run folder (`slot` gpu<i>) or a node's multi-GPU run (`slot` node)."""

    key: str
    node: str
    slot: str
    gpu: int | None
    host: str
    uuid: str
    serial: str
    device_name: str
    run_id: str
    folder: str
    status: str
    facts: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def kind(self) -> str:
        return "node" if self.slot == NODE_RUN else "gpu"

    @property
    def label(self) -> str:
        return f"{self.node}/{self.slot}"


@dataclass(frozen=True)
class Finding:
    """A failing (GPU, case, rule): what `fleet check` prints, one row each."""

    node: str
    gpu: str
    uuid: str
    case: str
    rule: str
    detail: str
    ratio: float = math.nan
    low: float = math.nan
    high: float = math.nan
    value: float = math.nan
    serial: str = ""
    host: str = ""
    device_name: str = ""


@dataclass
class FleetCheck:
    """The verdict: `cases` has a row per unit and case (ratio, interval, robust z, fail, rule); `findings`
    the failures; `units` every run judged; `expected`/`missing` the manifest's slots."""

    units: list[Unit]
    cases: pd.DataFrame
    findings: list[Finding]
    rules: RuleSet
    expected: int
    missing: list[str]
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.findings

    @property
    def failing_units(self) -> list[str]:
        return sorted({f"{f.node}/{f.gpu}" for f in self.findings})

    def to_dict(self) -> dict[str, Any]:
        from gpubench.store import json_value

        summary = self.case_summary()
        return json_value(
            {
                "passed": self.passed,
                "threshold": self.rules.threshold,
                "mad_z": self.rules.mad_z,
                "expected": self.expected,
                "reported": len(self.units),
                "missing": self.missing,
                "failing": self.failing_units,
                "findings": [asdict(f) for f in self.findings],
                "units": [{k: v for k, v in asdict(u).items()} for u in self.units],
                "cases": frame_rows(summary),
                "notes": self.notes,
            }
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False)

    def case_summary(self) -> pd.DataFrame:
        """Per device model and case: GPUs, fleet median, unit, spread (scaled MAD, %), failing count."""
        c = self.cases
        if c.empty:
            return pd.DataFrame(columns=["device_name", "case_id", "gpus", "median", "unit", "mad_pct", "failing"])
        ok = c[c["ratio"].notna()]
        g = ok.groupby(["device_name", "case_id"], sort=True)
        out = g.agg(
            gpus=("unit", "size"),
            median=("median", "first"),
            unit=("throughput_unit", "first"),
            mad_pct=("mad", "first"),
            failing=("fail", "sum"),
        ).reset_index()
        out["mad_pct"] = 100 * _MAD_SCALE * out["mad_pct"]
        return out

    def to_markdown(self) -> str:
        lines = [f"**gpubench fleet check: {'PASS' if self.passed else 'FAIL'}**", ""]
        lines.append(
            f"{len(self.units)} run(s) of {self.expected or len(self.units)} expected; "
            f"threshold {100 * self.rules.threshold:g} %, outlier |z| > {self.rules.mad_z:g} (MAD)"
        )
        if self.findings:
            lines += ["", "| node | GPU | UUID | case | ratio | interval | rule |", "|---|---|---|---|---|---|---|"]
            for f in self.findings:
                lines.append(
                    f"| {_md(f.node)} | {_md(f.gpu)} | {_md(f.uuid or '–')} | {_md(f.case)} | {fmt_ratio(f.ratio)} "
                    f"| {fmt_interval(f.low, f.high)} | {_md(f.rule)}: {_md(f.detail)} |"
                )
        for n in self.notes:
            lines += ["", f"- {_md(n)}"]
        return "\n".join(lines) + "\n"


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def fmt_ratio(r: float) -> str:
    return "–" if not math.isfinite(r) else f"{100 * r:.1f}%"


def fmt_interval(lo: float, hi: float) -> str:
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "–"
    return f"{100 * lo:.1f}–{100 * hi:.1f}%"


# ------------------------------------------------------------------------------------------ collecting


def _run_folders_under(root: Path) -> list[Path]:
    # SHARED_DIR/<node>/<slot>/<run folder>/run.json
    return sorted(p.parent for p in root.glob("*/*/*/run.json"))


def _meta(folder: Path) -> dict[str, Any]:
    from gpubench.store import read_meta

    return read_meta(folder)


def _text(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _unit(folder: Path, meta: dict[str, Any], node: str | None, slot: str | None) -> Unit:
    dev = meta.get("device") or {}
    tel = meta.get("telemetry") or {}
    if slot is None:
        index = dev.get("index")
        slot = NODE_RUN if (meta.get("distributed") or {}).get("world_size", 1) > 1 else f"gpu{index or 0}"
    host = _text(meta.get("host"))
    node = node or host or folder.name
    host_file = folder.parent.parent / "host.txt"
    if host_file.is_file():  # the node script records the machine it ran on (a pod's node, an ssh host)
        host = host_file.read_text(encoding="utf-8", errors="replace").strip()[:200] or host
    m = _SLOT_RE.match(slot)
    facts = {k: tel.get(k) for k in FACT_KEYS if k in tel}
    return Unit(
        key=f"{node}/{slot}",
        node=node,
        slot=slot,
        gpu=int(m.group(1)) if m else None,
        host=host,
        uuid=_text(dev.get("uuid") or tel.get("uuid")),
        serial=_text(tel.get("serial")),
        device_name=_text(dev.get("name")) or "unknown device",
        run_id=_text(meta.get("run_id")),
        folder=str(folder),
        status=_text(meta.get("status")),
        facts=facts,
    )


@dataclass
class Collected:
    units: list[Unit]
    expected: int
    missing: list[str]
    notes: list[str]


def collect(paths: Sequence[str | os.PathLike[str]]) -> Collected:
    """The runs to judge: a SHARED_DIR with a fleet.json stands for its slots (missing ones reported), any
    other path for the run folders in it (store.expand_paths: folders, globs, a results/ folder)."""
    from gpubench.store import expand_paths

    if not paths:
        raise GpubenchError("give the fleet's SHARED_DIR or its run folders")
    units: dict[str, Unit] = {}
    expected, missing, notes = 0, [], []
    loose: list[str | os.PathLike[str]] = []  # run folders and globs, expanded together (a report names 1,000)

    def add_loose() -> None:
        for folder in expand_paths(loose) if loose else []:
            meta = _meta(folder)
            u = _unit(folder, meta, None, None)
            if u.key in units:  # one machine, several runs: keep them apart by run id
                u = Unit(**{**asdict(u), "key": f"{u.key}@{u.run_id}", "slot": u.slot})
            units[u.key] = u
        loose.clear()

    for raw in paths:
        root = Path(raw)
        manifest = read_manifest(root) if root.is_dir() else None
        if manifest is None:
            loose.append(raw)
            continue
        add_loose()
        e, m, n, found = _collect_root(root, manifest)
        expected += e
        missing += m
        notes += n
        for u in found:
            units[u.key] = u
    add_loose()
    if not units and not missing:
        raise GpubenchError("no run folders found in " + ", ".join(str(p) for p in paths))
    return Collected(list(units.values()), expected, missing, notes)


def _collect_root(root: Path, manifest: Manifest) -> tuple[int, list[str], list[str], list[Unit]]:
    names, unnamed = expected_nodes(root, manifest)
    slots = manifest.slots(names)
    by_slot: dict[tuple[str, str], list[Path]] = {}
    for folder in _run_folders_under(root):
        rel = folder.relative_to(root).parts
        by_slot.setdefault((rel[0], rel[1]), []).append(folder)
    units, notes, missing = [], [], []
    per_node = manifest.gpus_per_node + (1 if manifest.node_collective else 0)
    for node, slot in slots:
        folders = sorted(by_slot.pop((node, slot), []))
        if not folders:
            missing.append(f"{node}/{slot}")
            continue
        if len(folders) > 1:
            notes.append(f"{node}/{slot}: {len(folders)} run folders; the latest ({folders[-1].name}) is judged")
        units.append(_unit(folders[-1], _meta(folders[-1]), node, slot))
    # Runs from nodes whose names were unknown in advance (Slurm before nodes.txt) or not in the manifest.
    extra_nodes = sorted({n for n, _ in by_slot})
    for node in extra_nodes:
        for (n, slot), folders in sorted(by_slot.items()):
            if n == node:
                folders = sorted(folders)
                units.append(_unit(folders[-1], _meta(folders[-1]), node, slot))
    if unnamed:
        reported = len(extra_nodes) if not names else 0
        for i in range(max(0, unnamed - reported)):
            missing.append(f"(unnamed node {i + 1} of {manifest.n_nodes})/*")
    elif extra_nodes:
        notes.append(f"runs from nodes not in {MANIFEST}: {', '.join(extra_nodes[:10])}")
    expected = (len(names) + unnamed) * per_node
    return expected, missing, notes, units


# ------------------------------------------------------------------------------------------ judging

_COLUMNS = ("case_id", "status", "reason", "throughput", "throughput_unit", "median_s", "cov", "times_s", "round_sizes")


def _skip_columns(keep: Iterable[str]) -> list[str]:
    """Result columns the check never looks at, for load_runs to leave unread: a thousand run folders load in
    a fraction of the time with the dozen columns it needs instead of the ~90 a run writes. Names come from the
    row schema, the benchmarks' declarations and the telemetry aggregates; anything else is still read."""
    from gpubench.benchmarks import catalog
    from gpubench.schema import ROW_COLUMNS

    names = {c.name for c in ROW_COLUMNS}
    for spec in catalog.all_specs():
        names |= set(spec.params) | {c.name for c in spec.columns}
    try:
        from gpubench.telemetry.aggregate import empty_aggregates

        names |= set(empty_aggregates())
    except ImportError:  # pragma: no cover - telemetry ships with gpubench
        pass
    names |= {f"per_second_{x}" for x in ("throughput", "power_w", "sm_clock_mhz", "temp_c")}
    return sorted(names - set(keep))


def _unread(metrics: Iterable[str]) -> list[str]:
    """The result columns the check leaves unread: all but run_id, work_per_step, _COLUMNS and the rules' metrics."""
    return _skip_columns({"run_id", "work_per_step", *_COLUMNS, *metrics})


def _rows(units: Sequence[Unit], metrics: Iterable[str] = ()) -> pd.DataFrame:
    from gpubench.store import load_runs

    if not units:
        return pd.DataFrame(columns=["unit", *_COLUMNS])
    skip = _unread(metrics)
    folders = [u.folder for u in units]
    workers = min(os.cpu_count() or 1, 8, len(folders) // _FOLDERS_PER_WORKER)
    if workers > 1:
        # Reading a run folder is mostly per-file work in one core; a big fleet's folders load in chunks on every
        # core (fork: the workers start with the modules already imported).
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        chunks = [folders[i::workers] for i in range(workers)]
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            parts = list(pool.map(load_runs, chunks, [skip] * workers))
        frame = pd.concat(parts, ignore_index=True, sort=False)
    else:
        frame = load_runs(folders, skip_columns=skip)
    if frame.empty:
        return pd.DataFrame(columns=["unit", *_COLUMNS])
    by_folder = {str(Path(u.folder).resolve()): u.key for u in units}
    frame["unit"] = frame["run_folder"].map(by_folder)
    for col in _COLUMNS:
        if col not in frame:
            frame[col] = np.nan
    return frame


class _Times:
    """Raw step times for a unit's case, read only where an interval decides something (a candidate failure):
    rows already holding `times_s` are used as they are; else the unit's run folder is read, once."""

    def __init__(self, by_key: dict[str, Unit]) -> None:
        self._by_key = by_key
        self._cache: dict[str, dict[str, dict[str, Any]]] = {}

    def row(self, row: pd.Series) -> dict[str, Any]:
        have = row.to_dict()
        times = have.get("times_s")
        if times is not None and not (isinstance(times, float) and math.isnan(times)):
            return have
        key = str(row["unit"])
        if key not in self._cache:
            from gpubench.store import load_runs

            frame = load_runs([self._by_key[key].folder])
            self._cache[key] = {str(r["case_id"]): r for r in frame_rows(frame)}
        return self._cache[key].get(str(row["case_id"]), have)

    def interval(self, row: pd.Series, reference: float) -> tuple[float, float]:
        """The 95% interval of the row's throughput (from its rounds) divided by `reference`."""
        _, lo, hi = rows_throughput_interval([self.row(row)])
        return lo / reference, hi / reference


def _with_units(frame: pd.DataFrame, units: Sequence[Unit], metrics: Iterable[str]) -> pd.DataFrame:
    """A loaded frame (the report's) with the `unit` column; units it lacks are read from their folders."""
    by_folder = {str(Path(u.folder).resolve()): u.key for u in units}
    # The columns _rows would have read (the report's frame has ~170): every copy and filter below is cheaper.
    unread = set(_unread(metrics))
    frame = frame[[c for c in frame.columns if c not in unread]].copy()
    folders = {f: by_folder.get(str(Path(f).resolve())) for f in frame["run_folder"].unique()} if len(frame) else {}
    frame["unit"] = frame["run_folder"].map(folders) if len(frame) else None
    present = set(frame["unit"].dropna())
    lacking = [u for u in units if u.key not in present]
    if lacking:
        frame = pd.concat([frame, _rows(lacking, metrics)], ignore_index=True, sort=False)
    for col in _COLUMNS:
        if col not in frame:
            frame[col] = np.nan
    return frame


def judge(
    collected: Collected,
    rules: RuleSet | None = None,
    frame: pd.DataFrame | None = None,
) -> FleetCheck:
    """Judge collected runs. `frame` (a row per case per run, as store.load_runs returns; the report passes the
    rows it already loaded, without raw times) saves reading the run folders again."""
    rules = rules or RuleSet()
    units = collected.units
    by_key = {u.key: u for u in units}
    metrics = {r.metric for r in rules.rules if not r.fact}
    rows = _rows(units, metrics) if frame is None else _with_units(frame, units, metrics)
    times = _Times(by_key)
    findings: list[Finding] = []

    def add(u: Unit, case: str, rule: str, detail: str, **numbers: float) -> None:
        findings.append(
            Finding(
                node=u.node,
                gpu=u.slot,
                uuid=u.uuid,
                case=case,
                rule=rule,
                detail=detail,
                serial=u.serial,
                host=u.host,
                device_name=u.device_name,
                **numbers,
            )
        )

    for slot in collected.missing:
        node, _, gpu = slot.partition("/")
        findings.append(Finding(node=node, gpu=gpu, uuid="", case="–", rule="missing", detail="never reported"))
    for u in units:
        if u.status != "complete":
            add(u, "–", "run", f"run status {u.status or 'unknown'!r} (not complete)")

    rows = rows[rows["unit"].isin(by_key)].copy()
    rows["device_name"] = rows["unit"].map({k: u.device_name for k, u in by_key.items()})
    rows["kind"] = rows["unit"].map({k: u.kind for k, u in by_key.items()})
    status = rows["status"].astype("string").fillna("")
    for _, r in rows[status.isin(["failed", "wrong"])].iterrows():
        add(by_key[r["unit"]], str(r["case_id"]), str(r["status"]), _text(r.get("reason"))[:160] or str(r["status"]))

    thr = pd.to_numeric(rows["throughput"], errors="coerce")
    ok = rows[(status == "ok") & (thr > 0)].copy()
    ok["throughput"] = thr[ok.index].astype(float)
    cases = _ratios(ok)

    # A case most siblings (same device model, same kind of run) ran ok that this one lacks or skipped.
    peers: dict[tuple[str, str], list[str]] = {}
    for u in units:
        if u.status == "complete" or u.status == "interrupted":
            peers.setdefault((u.device_name, u.kind), []).append(u.key)
    ok_sets = cases.groupby("unit")["case_id"].agg(set).to_dict() if not cases.empty else {}
    status_of = dict(zip(zip(rows["unit"], rows["case_id"], strict=True), status, strict=True))
    for keys in peers.values():
        if len(keys) < 2:
            continue
        counts: dict[str, int] = {}
        for k in keys:
            for c in ok_sets.get(k, ()):
                counts[c] = counts.get(c, 0) + 1
        for k in keys:
            for c, n in sorted(counts.items()):
                if n * 2 <= len(keys) or c in ok_sets.get(k, ()):
                    continue
                st = status_of.get((k, c))
                if st is None:
                    add(by_key[k], c, "missing case", f"no result; {n} of {len(keys)} siblings have one")
                elif st not in ("failed", "wrong"):  # those are reported above
                    add(by_key[k], c, "missing case", f"{st} here; {n} of {len(keys)} siblings ran it")

    cases["fail"] = False
    cases["rule"] = ""
    cases["low"] = np.nan
    cases["high"] = np.nan
    _fleet_rule(cases, rules, by_key, add, times)
    for rule in rules.rules:
        if rule.fact:
            _fact_rule(rule, units, add)
        else:
            _case_rule(rule, cases, by_key, add, times)
    _default_facts(units, rules, add, {r.fact for r in rules.rules if r.fact})
    findings.sort(key=lambda f: (f.node, _slot_order(f.gpu), f.case, f.rule))
    notes = list(collected.notes)
    small = cases.groupby(["device_name", "case_id"])["unit"].size() if not cases.empty else pd.Series(dtype=int)
    if len(small) and (small < 3).any():
        notes.append(
            "cases with fewer than 3 runs of one device model cannot name an outlier against the fleet "
            "(only baseline rules and failures judge them)"
        )
    return FleetCheck(units, cases, findings, rules, collected.expected or len(units), collected.missing, notes)


def _slot_order(slot: str) -> tuple[int, str]:
    m = _SLOT_RE.match(slot)
    return (int(m.group(1)), "") if m else (10_000, slot)


def _ratios(ok: pd.DataFrame) -> pd.DataFrame:
    """Per (device model, case): the fleet median, each unit's ratio to it, and the robust z of its log ratio."""
    if ok.empty:
        cols = ["unit", "device_name", "case_id", "throughput", "throughput_unit", "median", "ratio", "z", "mad"]
        return pd.DataFrame(columns=cols + ["n"])
    keys = [ok["device_name"], ok["kind"], ok["case_id"]]
    med = ok.groupby(keys)["throughput"].transform("median")
    logr = np.log(ok["throughput"] / med)
    center = logr.groupby(keys).transform("median")
    mad = (logr - center).abs().groupby(keys).transform("median")
    n = ok.groupby(keys)["throughput"].transform("size")
    sigma = _MAD_SCALE * mad
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(sigma > 0, (logr - center) / sigma, np.where(logr < center, -np.inf, 0.0))
    out = ok.assign(median=med, ratio=ok["throughput"] / med, z=z, mad=mad, n=n)
    return out.reset_index(drop=True)


def _fleet_rule(cases: pd.DataFrame, rules: RuleSet, by_key: dict[str, Unit], add: Any, times: _Times) -> None:
    if cases.empty:
        return
    below = (cases["ratio"] < 1 - rules.threshold) & (cases["z"] < -rules.mad_z) & (cases["n"] >= 3)
    for i in cases.index[below]:
        row = cases.loc[i]
        lo, hi = times.interval(row, float(row["median"]))
        cases.loc[i, ["low", "high"]] = [lo, hi]
        if math.isfinite(hi) and hi >= 1.0:
            continue  # within its own noise of the median
        cases.loc[i, ["fail", "rule"]] = [True, "fleet"]
        add(
            by_key[row["unit"]],
            str(row["case_id"]),
            "fleet",
            f"{100 * (1 - row['ratio']):.1f}% below the fleet median (z {row['z']:.1f})",
            ratio=float(row["ratio"]),
            low=lo,
            high=hi,
            value=float(row["throughput"]),
        )


def _case_rule(rule: Rule, cases: pd.DataFrame, by_key: dict[str, Unit], add: Any, times: _Times) -> None:
    if cases.empty:
        return
    pairs = {(str(c), str(d)) for c, d in zip(cases["case_id"], cases["device_name"], strict=True)}
    hits = {p for p in pairs if rule.matches(*p)}
    matched = np.fromiter(
        ((str(c), str(d)) in hits for c, d in zip(cases["case_id"], cases["device_name"], strict=True)),
        dtype=bool,
        count=len(cases),
    )
    # Only rows that may break the rule are looked at one by one (a big fleet has thousands of rows).
    values = (
        pd.to_numeric(cases[rule.metric], errors="coerce") if rule.metric in cases else pd.Series(np.nan, cases.index)
    )
    maybe = pd.Series(False, index=cases.index)
    if rule.min_ratio_to_median is not None and rule.metric == "throughput":
        maybe |= cases["ratio"] < rule.min_ratio_to_median
    if rule.baseline is not None and rule.min_ratio_to_baseline is not None:
        maybe |= values / rule.baseline < rule.min_ratio_to_baseline
    if rule.max_cov is not None and "cov" in cases:
        maybe |= pd.to_numeric(cases["cov"], errors="coerce") > rule.max_cov
    for i in cases.index[matched & maybe.to_numpy()]:
        row = cases.loc[i]
        u = by_key[row["unit"]]

        def broke(detail: str, **numbers: float) -> None:
            """This row breaks the rule: marked in the cases table and listed against its GPU."""
            _mark(cases, i, rule.name)  # noqa: B023 - called at once, inside this iteration
            add(u, str(row["case_id"]), rule.name, detail, **numbers)  # noqa: B023

        value = to_float(row.get(rule.metric)) if rule.metric in row else math.nan
        if rule.metric == "throughput":
            value = float(row["throughput"])
        if rule.min_ratio_to_median is not None:
            ratio = float(row["ratio"]) if rule.metric == "throughput" else math.nan
            if math.isfinite(ratio) and ratio < rule.min_ratio_to_median:
                lo, hi = times.interval(row, float(row["median"]))
                below = f"{fmt_ratio(ratio)} of the fleet median, below {fmt_ratio(rule.min_ratio_to_median)}"
                broke(below, ratio=ratio, low=lo, high=hi, value=value)
        if rule.baseline is not None and rule.min_ratio_to_baseline is not None and math.isfinite(value):
            ratio = value / rule.baseline
            if ratio < rule.min_ratio_to_baseline:
                lo = hi = math.nan
                if rule.metric == "throughput":
                    lo, hi = times.interval(row, rule.baseline)
                unit = _text(row.get("throughput_unit")) if rule.metric == "throughput" else ""
                below = (
                    f"{fmt_ratio(ratio)} of baseline {rule.baseline:.4g}{' ' + unit if unit else ''}, "
                    f"below {fmt_ratio(rule.min_ratio_to_baseline)}"
                )
                broke(below, ratio=ratio, low=lo, high=hi, value=value)
        if rule.max_cov is not None:
            cov = to_float(row.get("cov"))
            if math.isfinite(cov) and cov > rule.max_cov:
                broke(f"spread (CoV) {100 * cov:.1f}% above {100 * rule.max_cov:.1f}%", value=cov)


def _mark(cases: pd.DataFrame, i: Any, name: str) -> None:
    cases.loc[i, "fail"] = True
    cases.loc[i, "rule"] = (str(cases.loc[i, "rule"]) + ", " + name).strip(", ")


def _fact_rule(rule: Rule, units: Iterable[Unit], add: Any) -> None:
    for u in units:
        if not rule._device_re.match(u.device_name) or rule.fact not in u.facts:
            continue
        value = to_float(u.facts.get(rule.fact))
        if not math.isfinite(value):
            continue  # not recorded on this GPU: unknown, not a failure
        if rule.max is not None and value > rule.max:
            add(u, "–", rule.name, f"{rule.fact} = {value:g}, above {rule.max:g}", value=value)
        if rule.min is not None and value < rule.min:
            add(u, "–", rule.name, f"{rule.fact} = {value:g}, below {rule.min:g}", value=value)


def _default_facts(units: Sequence[Unit], rules: RuleSet, add: Any, overridden: set[str | None]) -> None:
    for fact, limit in DEFAULT_FACT_MAX.items():
        if fact in overridden:
            continue
        for u in units:
            value = to_float(u.facts.get(fact))
            if math.isfinite(value) and value > limit:
                add(u, "–", fact, f"{fact} = {value:g}", value=value)
    # A power limit set below its siblings' (a GPU capped by hand or by a tool) makes it slow: say why.
    groups: dict[str, list[tuple[Unit, float]]] = {}
    for u in units:
        v = to_float(u.facts.get("power_limit_w"))
        if math.isfinite(v) and v > 0 and u.kind == "gpu":
            groups.setdefault(u.device_name, []).append((u, v))
    for members in groups.values():
        if len(members) < 3:
            continue
        med = float(np.median([v for _, v in members]))
        for u, v in members:
            if v < med * (1 - rules.threshold):
                add(u, "–", "power limit", f"{v:g} W, below the fleet's {med:g} W", ratio=v / med, value=v)


# ------------------------------------------------------------------------------------------ entry points


def check_fleet(
    paths: Sequence[str | os.PathLike[str]],
    rules: RuleSet | None = None,
) -> FleetCheck:
    """Collect the runs under `paths` (a SHARED_DIR with its manifest, or run folders) and judge them."""
    return judge(collect(paths), rules)


def derive_baseline(check: FleetCheck, threshold: float = DEFAULT_THRESHOLD, cov_floor: float = 0.05) -> list[Rule]:
    """Rules from a known-good fleet: per device model and case, the fleet median as the baseline (a GPU must
    reach 1 - threshold of it) and a spread limit of twice the largest CoV seen (at least `cov_floor`)."""
    rules = []
    c = check.cases
    if c.empty:
        return rules
    for (device, case_id), g in c.groupby(["device_name", "case_id"], sort=True):
        med = float(g["median"].iloc[0])
        covs = pd.to_numeric(g["cov"], errors="coerce") if "cov" in g else pd.Series(dtype=float)
        worst = float(covs.max()) if covs.notna().any() else math.nan
        rules.append(
            Rule(
                name="baseline",
                case=str(case_id).replace("*", "?"),
                device=str(device).replace("*", "?"),
                baseline=float(f"{med:.6g}"),
                min_ratio_to_baseline=round(1 - threshold, 4),
                max_cov=round(max(cov_floor, 2 * worst), 4) if math.isfinite(worst) else None,
            )
        )
    return rules


__all__ = [
    "DEFAULT_MAD_Z",
    "DEFAULT_THRESHOLD",
    "FleetCheck",
    "Finding",
    "Unit",
    "check_fleet",
    "collect",
    "derive_baseline",
    "judge",
]
