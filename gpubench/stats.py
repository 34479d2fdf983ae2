"""Summary statistics over raw step times. Pure Python: the raw samples are what gets stored."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from gpubench.records import WORK_UNITS

NOISY_IQR_RATIO = 0.10
"""A case is `noisy` when IQR / median exceeds this (torch.utils.benchmark warns at the same point)."""


def ordered_sum(values: Iterable[float]) -> float:
    """The values added one by one, in the order given, from 0.0. Derived statistics add this way (sorted
    first where the order is not meaningful), so a figure is the same on every Python (whose own `sum`
    compensates since 3.12) and when gpubench.columnar adds thousands of cases at once."""
    total = 0.0
    for v in values:
        total += v
    return total


def to_float(value: Any) -> float:
    """A float from a result cell (None, pandas NA, numpy scalars, strings of numbers); NaN when it is none."""
    if value is None:  # the common missing cell, decided without raising and catching a TypeError
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def finite_or_none(value: Any) -> float | None:
    """A usable number, or None for missing, NaN, inf and non-numbers."""
    out = to_float(value)
    return out if math.isfinite(out) else None


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default method), q in [0, 100]."""
    if not values:
        return math.nan
    data = sorted(values)
    if len(data) == 1:
        return float(data[0])
    pos = (len(data) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(data) - 1)
    frac = pos - lo
    return float(data[lo] + (data[hi] - data[lo]) * frac)


@dataclass(frozen=True)
class Summary:
    n: int
    median_s: float
    p10_s: float
    p90_s: float
    p99_s: float
    mean_s: float
    min_s: float
    std_s: float
    cov: float
    iqr_s: float
    noisy: bool

    def as_dict(self) -> dict[str, float | int | bool]:
        return asdict(self)


def summarize(times_s: Sequence[float]) -> Summary:
    """Median, p10/p90, mean, min, standard deviation, CoV, IQR and the noise flag of raw times."""
    n = len(times_s)
    if n == 0:
        nan = math.nan
        return Summary(0, nan, nan, nan, nan, nan, nan, nan, nan, nan, False)
    mean = sum(times_s) / n
    # Deviations squared by multiplication, as gpubench.derive squares them: exact in IEEE arithmetic on every CPU
    # (libm's pow and numpy's vector pow differ from each other in the last bit).
    var = sum(d * d for d in (t - mean for t in times_s)) / (n - 1) if n > 1 else 0.0
    std = math.sqrt(var)
    median = percentile(times_s, 50)
    iqr = percentile(times_s, 75) - percentile(times_s, 25)
    return Summary(
        n=n,
        median_s=median,
        p10_s=percentile(times_s, 10),
        p90_s=percentile(times_s, 90),
        p99_s=percentile(times_s, 99),
        mean_s=mean,
        min_s=float(min(times_s)),
        std_s=std,
        cov=std / mean if mean > 0 else math.nan,
        iqr_s=iqr,
        noisy=bool(median > 0 and iqr / median > NOISY_IQR_RATIO),
    )


def settled(times_s: Sequence[float], window: int = 5, tolerance: float = 0.05) -> bool:
    """True when the medians of the last two windows of warm-up times agree within `tolerance`.

    Clocks ramp, caches fill and autotuners pick kernels during the first steps; timing starts only
    once consecutive windows agree.
    """
    if len(times_s) < 2 * window:
        return False
    last = percentile(times_s[-window:], 50)
    prev = percentile(times_s[-2 * window : -window], 50)
    return prev > 0 and abs(last - prev) / prev <= tolerance


def geomean(values: Sequence[float]) -> float:
    vals = [v for v in values if v is not None and math.isfinite(v) and v > 0]
    if not vals:
        return math.nan
    return math.exp(sum(math.log(v) for v in vals) / len(vals))


ENERGY_UNITS = {
    "flop": "J/TFLOP",
    "op": "J/TOP",
    "byte": "J/GB",
    "byte_rw": "J/GB",
    "sample": "J/sample",
    "token": "J/token",
}


def add_efficiency_columns(row: dict[str, Any]) -> None:
    """J per unit of work and throughput per watt, from a row's throughput and measured average power."""
    power, throughput = to_float(row.get("avg_power_w")), to_float(row.get("throughput"))
    if power > 0 and throughput > 0 and row.get("work_unit") in ENERGY_UNITS:  # NaN compares False
        # J per unit of work = W / (units per second), in the throughput column's units.
        row["energy_per_work"] = power / throughput
        row["energy_per_work_unit"] = ENERGY_UNITS[row["work_unit"]]
        row["throughput_per_watt"] = throughput / power
        row["throughput_per_watt_unit"] = f"{WORK_UNITS[row['work_unit']][1]}/W"
        # The share above idle: what the work itself cost, not the machine being switched on.
        total, above = to_float(row.get("energy_j")), to_float(row.get("energy_above_idle_j"))
        if total > 0 and math.isfinite(above):
            row["energy_above_idle_per_work"] = row["energy_per_work"] * above / total


# --- Intervals over repeats: steps within rounds, rounds within runs, runs within a side ----------------------
#
# A comparison must account for the noise between repeats, not only the jitter between the steps of one
# stretch of time: on a shared machine (and on GPUs across boost and thermal states) two runs of the same code
# differ far more than their step times suggest. The unit of replication is therefore the round (a stretch of
# timed steps after its own warm-up, interleaved with the other cases), and with several runs per side, the run.
#
# Method (a nested, Welch-style interval on the log scale, instead of a hierarchical bootstrap):
# - each round is summarised by the median of its step times (the statistic throughput is computed from);
# - a run by the mean of the logs of its round medians, a side by the mean of its runs;
# - the variance of a side's mean comes from its top level with repeats: the spread of its run means when it
#   has several runs (the between-run mean square, which already contains the round and step noise beneath it),
#   else the spread of its round medians. When the run means spread no more than their rounds predict (the
#   one-way ANOVA estimate of the between-run variance is <= 0), the rounds of all runs are pooled;
# - the log of the ratio B/A is the difference of the side means, with Student's t at Welch-Satterthwaite
#   degrees of freedom.
# Why not a bootstrap: with the 3-5 rounds or runs a benchmark can afford, a percentile bootstrap cannot
# produce t-like tails (resampling 3 values gives 10 distinct multisets) and its intervals come out too narrow;
# resampling every level as well double-counts the lower levels. The t interval is exact for normal log round
# medians and is what Lambda's GPU comparisons use (Welch's t-test). One round of one run on either side leaves
# nothing to estimate the noise from: the interval is then unknown and the verdict says so.


@dataclass(frozen=True)
class Location:
    """Mean log median step time of one side (a case over its runs and rounds), with the variance of that
    mean, its degrees of freedom and which level the variance came from ("runs", "rounds" or "" for none)."""

    log_time: float
    var: float
    df: float
    level: str
    runs: int
    rounds: int

    @property
    def time_s(self) -> float:
        """The side's typical step time: the geometric mean of its round medians (over runs)."""
        return math.exp(self.log_time) if math.isfinite(self.log_time) else math.nan


@dataclass(frozen=True)
class RatioInterval:
    """B/A throughput ratio, its interval (NaN bounds when either side has no repeat), and where the noise
    estimate came from (`level` of each side, `df` of the t quantile)."""

    ratio: float
    low: float
    high: float
    df: float
    a: Location
    b: Location

    @property
    def known(self) -> bool:
        """True when the interval could be estimated (both sides have at least two rounds or two runs)."""
        return math.isfinite(self.low) and math.isfinite(self.high)


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularized incomplete beta function (modified Lentz)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        for aa in (
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-14:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_quantile(p: float, df: float) -> float:
    """Quantile of Student's t distribution with `df` (> 0, not necessarily whole) degrees of freedom."""
    if not (0.0 < p < 1.0) or not df > 0:
        return math.nan
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    if p == 0.5:
        return 0.0
    # P(|T| > t) = I_x(df/2, 1/2) with x = df / (df + t^2): solve for x by bisection (I_x grows with x).
    target, lo, hi = 2.0 * (1.0 - p), 0.0, 1.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if _betainc(df / 2.0, 0.5, mid) < target:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-15:
            break
    x = 0.5 * (lo + hi)
    return math.sqrt(df * (1.0 - x) / x)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _sum_sq(values: Sequence[float]) -> float:
    m = _mean(values)
    return sum(d * d for d in (v - m for v in values))


def location(runs: Sequence[Sequence[Sequence[float]]]) -> Location:
    """The nested location of one side: `runs` is a list of runs, each a list of rounds, each a list of raw
    step times in seconds (non-positive and non-finite times are dropped, and so are empty rounds and runs)."""
    logs: list[list[float]] = []
    for run in runs:
        medians = [percentile(ok, 50) for ok in ([t for t in r if math.isfinite(t) and t > 0] for r in run) if ok]
        if medians:
            logs.append([math.log(m) for m in medians])
    n_rounds = sum(len(r) for r in logs)
    if not logs:
        return Location(math.nan, math.nan, math.nan, "", 0, 0)
    run_means = [_mean(r) for r in logs]
    log_time, j = _mean(run_means), len(logs)
    if j >= 2:
        between = _sum_sq(run_means) / (j - 1) / j  # variance of the mean of run means, all lower noise included
        df_within = n_rounds - j
        if df_within > 0:
            # What the run means would spread if runs differed only by their rounds' noise.
            within = sum(_sum_sq(r) for r in logs) / df_within
            predicted = within * sum(1.0 / len(r) for r in logs) / j**2
            if between <= predicted:  # no between-run variance seen: every round of every run counts alike
                flat = [v for r in logs for v in r]
                pooled = _sum_sq(flat) / (n_rounds - 1) * sum(1.0 / len(r) for r in logs) / j**2
                return Location(log_time, pooled, n_rounds - 1.0, "rounds", j, n_rounds)
        return Location(log_time, between, j - 1.0, "runs", j, n_rounds)
    if n_rounds >= 2:
        return Location(log_time, _sum_sq(logs[0]) / (n_rounds - 1) / n_rounds, n_rounds - 1.0, "rounds", 1, n_rounds)
    return Location(log_time, math.nan, math.nan, "", 1, n_rounds)


def _welch(a: Location, b: Location) -> tuple[float, float]:
    """(variance, degrees of freedom) of the difference of two side means (Welch-Satterthwaite)."""
    var = a.var + b.var
    parts = [v * v / d for v, d in ((a.var, a.df), (b.var, b.df)) if v > 0]
    return var, (var * var / sum(parts) if parts else a.df + b.df)


def ratio_interval(
    a_runs: Sequence[Sequence[Sequence[float]]],
    b_runs: Sequence[Sequence[Sequence[float]]],
    work_ratio: float = 1.0,
    confidence: float = 0.95,
) -> RatioInterval:
    """Throughput ratio B/A = work_ratio * time(A) / time(B) and its `confidence` interval over the repeats of
    both sides (nested runs -> rounds -> steps, see above). `work_ratio` is B's work per step over A's."""
    a, b = location(a_runs), location(b_runs)
    ratio = work_ratio * math.exp(a.log_time - b.log_time) if a.runs and b.runs else math.nan
    if not (a.level and b.level):
        return RatioInterval(ratio, math.nan, math.nan, math.nan, a, b)
    var, df = _welch(a, b)
    half = t_quantile(0.5 + confidence / 2.0, df) * math.sqrt(var) if var > 0 else 0.0
    return RatioInterval(ratio, ratio * math.exp(-half), ratio * math.exp(half), df, a, b)


def time_interval(runs: Sequence[Sequence[Sequence[float]]], confidence: float = 0.95) -> tuple[float, float, float]:
    """(typical step time, low, high) of one side over its repeats; NaN bounds without a repeat."""
    loc = location(runs)
    if not loc.level:
        return loc.time_s, math.nan, math.nan
    half = t_quantile(0.5 + confidence / 2.0, loc.df) * math.sqrt(loc.var) if loc.var > 0 else 0.0
    return loc.time_s, loc.time_s * math.exp(-half), loc.time_s * math.exp(half)


# --- The same intervals from result rows (a row is one case of one run) ------------------------------------


def round_times(row: Mapping[str, Any]) -> list[list[float]]:
    """A row's raw step times (`times_s`) split into its rounds by `round_sizes` (steps per round, in order).
    A row without round information (written before rounds existed, or by one round) is one round."""
    times = _float_list(row.get("times_s"))
    sizes = [int(s) for s in _float_list(row.get("round_sizes")) if s > 0]
    if not times:
        return []
    if not sizes or sum(sizes) != len(times):
        return [times]
    out, start = [], 0
    for size in sizes:
        out.append(times[start : start + size])
        start += size
    return out


def _float_list(value: Any) -> list[float]:
    if value is None or isinstance(value, (str, bytes)):
        return []
    try:
        return [float(v) for v in value]
    except (TypeError, ValueError):  # a scalar NaN (no times stored) or an odd cell
        return []


def rows_ratio_interval(
    rows_a: Sequence[Mapping[str, Any]], rows_b: Sequence[Mapping[str, Any]], confidence: float = 0.95
) -> RatioInterval:
    """Throughput ratio B/A of one case, each side given as its result rows (one per run, `times_s`,
    `round_sizes`, `work_per_step`), with the interval over rounds and runs. The one entry point for every
    "B is N× A" claim: compare, the report's speed-ups and the advisor's measured-vs-estimated checks."""
    work_a = [to_float(r.get("work_per_step")) for r in rows_a]
    work_b = [to_float(r.get("work_per_step")) for r in rows_b]
    wa, wb = (geomean(w) for w in (work_a, work_b))
    work_ratio = wb / wa if math.isfinite(wa) and math.isfinite(wb) else 1.0
    return ratio_interval([round_times(r) for r in rows_a], [round_times(r) for r in rows_b], work_ratio, confidence)


def rows_throughput_interval(rows: Sequence[Mapping[str, Any]], confidence: float = 0.95) -> tuple[float, float, float]:
    """(throughput, low, high) of one case over its rows (one per run), in the rows' throughput unit; NaN bounds
    when there is no repeat (one round of one run). Throughput scales as 1/time, so the bounds swap."""
    t, t_low, t_high = time_interval([round_times(r) for r in rows], confidence)
    # Throughput per second of step time, from each row's own throughput at its own median.
    scale = geomean([to_float(r.get("throughput")) * to_float(r.get("median_s")) for r in rows])
    if not (math.isfinite(scale) and math.isfinite(t) and t > 0):
        return math.nan, math.nan, math.nan
    return scale / t, scale / t_high, scale / t_low
