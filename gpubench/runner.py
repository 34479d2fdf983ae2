"""Run cases: build the workload, warm up, time, sample telemetry, check, record. One failure never
loses the others, and every finished case is on disk before the next starts."""

from __future__ import annotations

import contextlib
import fnmatch
import gc
import json
import math
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gpubench import derive, devices, stats
from gpubench.benchmarks import Benchmark, load_all
from gpubench.errors import (
    BackendUnavailable,
    GpubenchError,
    RankLost,
    StorageError,
    Unsupported,
    exception_text,
    first_line,
)
from gpubench.records import Workload
from gpubench.store import RunStore, read_meta, utc_now
from gpubench.suite import PlannedCase, Suite, Timing
from gpubench.telemetry import host

BURST_TARGET_S = 0.05  # a burst of steps between stop checks: long enough to amortise the synchronize
MIN_SAMPLE_S = 50e-6  # shorter timed samples are dominated by event/launch/clock overhead
MAX_STEPS_PER_SAMPLE = 10_000


@dataclass
class RunOptions:
    device: str = "auto"
    out_dir: Path = Path("results")
    only: Sequence[str] = ()
    resume: Path | None = None
    force_resume: bool = False  # add to a --resume folder made on another host/device/suite version/world size
    rounds: int | None = None  # overrides the suite's `rounds` for every case
    telemetry: str = "auto"  # auto | required | off
    sample_hz: float = 20.0
    idle_s: float = 2.0
    command: str = ""


@dataclass
class RunEvents:
    """Callbacks for progress display; the CLI fills them, tests may leave them empty."""

    on_start: Callable[[RunStore, list[PlannedCase], int], None] = lambda store, todo, done: None
    on_case_start: Callable[[PlannedCase, int], None] = lambda planned, i: None  # i counts case-rounds
    on_case_end: Callable[[PlannedCase, dict[str, Any]], None] = lambda planned, row: None  # after each round
    on_rounds: Callable[[int], None] = lambda total: None  # case-rounds to run, before the first


@dataclass
class RunOutcome:
    folder: Path
    rows: list[dict[str, Any]] = field(default_factory=list)
    interrupted: bool = False
    telemetry_reason: str | None = None

    @property
    def any_failed(self) -> bool:
        return any(r["status"] in ("failed", "wrong") for r in self.rows)


def select_cases(suite: Suite, patterns: Sequence[str]) -> list[PlannedCase]:
    """Glob patterns over case ids and benchmark names (`matmul*`, `memory[kind=h2d*`)."""
    if not patterns:
        return list(suite.cases)
    # fnmatch treats [..] as a character class; case ids contain brackets, so escape them in patterns.
    escaped = [p.replace("[", "[[]") for p in patterns]
    return [
        pc
        for pc in suite.cases
        if any(fnmatch.fnmatchcase(pc.case.id, p) or fnmatch.fnmatchcase(pc.case.benchmark, p) for p in escaped)
    ]


def _reason(exc: BaseException) -> str:
    if isinstance(exc, torch.OutOfMemoryError):
        return f"out of memory: {first_line(exc)[:300]}"
    return exception_text(exc, 300)


def warm_up(
    timer: devices.StepTimer, workload: Workload, timing: Timing, clock: Callable[[], float] = time.perf_counter
) -> tuple[int, float]:
    """Run steps until the minimum warm-up time and count are reached and timings have settled.

    The first steps pay for kernel selection, allocator growth, cuDNN autotuning and clock ramp-up.
    `clock` is wall time in seconds; a distributed run passes rank 0's, so every rank stops together.
    """
    times: list[float] = []
    t0 = clock()
    burst = 1
    while True:
        times += timer.burst(workload.step, burst, workload.reset)
        elapsed = clock() - t0
        enough = len(times) >= timing.min_warmup and elapsed >= timing.warmup_s
        if (enough and stats.settled(times)) or elapsed >= timing.max_warmup_s:
            return len(times), elapsed
        burst = _burst_size(
            stats.percentile(times[-5:], 50), elapsed / len(times), BURST_TARGET_S, timing.max_warmup_s - elapsed, 1000
        )


def _burst_size(step_s: float, wall_per_step_s: float, target_s: float, left_s: float, most: int) -> int:
    """Steps in the next burst: about `target_s` of wall time, and no more than the `left_s` of its time limit
    allow. Sized by the wall time per step, reset (a cache flush) and overheads included, not by the timed
    step alone: a 1 ms product after a 0.3 s flush must not be asked for 50 times against a 0.2 s limit."""
    per = max(step_s, wall_per_step_s)
    if not per > 0:
        return 1
    return max(1, min(most, int(target_s / per), int(max(left_s, 0.0) / per)))


def steps_per_sample(timer: devices.StepTimer, workload: Workload, probe: int = 5) -> int:
    """How many back-to-back steps one timed sample holds: 1, unless a step is so short that an event pair or a
    clock read around it would measure mostly overhead (a 1 MiB device copy takes under a microsecond; a
    launch takes several). Then the sample spans enough steps to last MIN_SAMPLE_S and its time is divided
    among them, as nvbandwidth queues many copies. Workloads with a reset between steps keep 1: the reset
    must stay outside the timing."""
    if workload.reset is not None:
        return 1
    t = stats.percentile(timer.burst(workload.step, probe), 50)
    if not t > 0 or t >= MIN_SAMPLE_S:
        return 1
    return min(MAX_STEPS_PER_SAMPLE, math.ceil(MIN_SAMPLE_S / t))


def measure(
    timer: devices.StepTimer,
    workload: Workload,
    timing: Timing,
    clock: Callable[[], float] = time.perf_counter,
    group: int = 1,
) -> list[float]:
    """Time samples until both `min_reps` and `min_time_s` are reached (or a maximum is hit).

    Returns the raw time per step of every sample (a sample is `group` back-to-back steps)."""
    step = workload.step
    if group > 1:

        def step() -> None:
            for _ in range(group):
                workload.step()

    samples: list[float] = []
    t0 = clock()
    wall = 0.0
    while True:
        total = sum(samples)
        if samples:
            wall = clock() - t0
        if len(samples) >= timing.max_reps or (samples and wall >= timing.max_time_s):
            break
        if len(samples) >= timing.min_reps and total >= timing.min_time_s:
            break
        per = total / len(samples) if samples else 0.0
        want = max(timing.min_reps - len(samples), math.ceil((timing.min_time_s - total) / per) if per else 1)
        cap = (
            _burst_size(
                per, wall / len(samples), BURST_TARGET_S * 4, timing.max_time_s - wall, timing.max_reps - len(samples)
            )
            if samples
            else 1
        )
        samples += timer.burst(step, max(1, min(want, cap)), workload.reset)
    return [s / group for s in samples]


def resume_differences(meta: dict[str, Any], suite: Suite, run_info: dict[str, Any], world_size: int = 1) -> list[str]:
    """How this run would differ from the run folder it resumes: another host, device, suite file or number of
    ranks would put this machine's measurements beside (and under the name of) a different experiment."""
    diffs = []
    if meta.get("host") != run_info.get("host"):
        diffs.append(f"it was run on host {meta.get('host')!r}, this is {run_info.get('host')!r}")
    was, now = meta.get("device") or {}, run_info.get("device") or {}
    if was.get("name") != now.get("name"):
        diffs.append(f"it was run on {was.get('name')!r}, this device is {now.get('name')!r}")
    elif was.get("uuid") and now.get("uuid") and was["uuid"] != now["uuid"]:
        diffs.append(f"it was run on the device with UUID {was['uuid']}, this one is {now['uuid']}")
    sha = (meta.get("suite") or {}).get("sha256")
    if sha and sha != suite.sha256:
        diffs.append(f"suite {suite.name!r} was edited since (sha256 {sha[:12]} -> {suite.sha256[:12]})")
    ranks = int((meta.get("distributed") or {}).get("world_size") or 1)
    if ranks != world_size:
        diffs.append(
            f"it ran with {ranks} rank(s), this run has {world_size}"
            + (f" (add --nproc {ranks})" if world_size == 1 else "")
        )
    return diffs


def open_run_store(
    suite: Suite, options: RunOptions, device: torch.device, world_size: int = 1
) -> tuple[RunStore, set[str]]:
    """A new run folder, or the `--resume` one with the ids of the cases it already finished. A resume must
    continue the same experiment (host, device, suite, ranks) unless `options.force_resume`."""
    run_info = devices.collect_run_info(device)
    if options.resume is None:
        store = RunStore.create(options.out_dir, run_info)
        store.meta["suite"] = {"name": suite.name, "path": suite.path, "sha256": suite.sha256}
        store.meta["command"] = options.command
        return store, set()
    meta = read_meta(options.resume)
    if (meta.get("suite") or {}).get("name") != suite.name:
        raise GpubenchError(
            f"{options.resume} is a run of suite {(meta.get('suite') or {}).get('name')!r}, not {suite.name!r}"
        )
    diffs = resume_differences(meta, suite, run_info, world_size)
    if diffs and not options.force_resume:
        raise GpubenchError(
            f"--resume {options.resume}: not the same experiment: {'; '.join(diffs)} (--force-resume adds to it anyway)"
        )
    store = RunStore.resume(options.resume)
    if diffs:
        store.meta.setdefault("forced_resumes", []).append({"utc": utc_now(), "differences": diffs})
    return store, store.finished_case_ids()


class Runner:
    """Runs planned cases on one device into one run folder, with optional telemetry."""

    def __init__(
        self,
        device: torch.device,
        store: RunStore | None,
        registry: dict[str, Benchmark],
        sampler: Any = None,
        idle_power_w: float = math.nan,
        power_limit_w: float | None = None,
        *,
        timer: Any = None,
        clock: Callable[[], float] = time.perf_counter,
        build: Callable[[Benchmark, Any, torch.device], Workload] | None = None,
        device_info: dict[str, Any] | None = None,
    ) -> None:
        """`timer`, `clock` and `build` are seams for distributed runs (gpubench.distributed.rank): a timer that keeps
        the ranks in step, rank 0's wall clock, and a build that agrees on success across ranks."""
        self.device = device
        self.dev = devices.get(device)
        self.store = store
        self.registry = registry
        self.timer = timer if timer is not None else devices.StepTimer(device)
        self.clock = clock
        self.build = build if build is not None else (lambda bench, case, device: bench.build(case, device))
        self.sampler = sampler
        self.idle_power_w = idle_power_w
        self.power_limit_w = power_limit_w
        info = device_info if device_info is not None else store.meta["device"]  # type: ignore[union-attr]
        self.device_columns = {
            "device_name": info["name"],
            "device_vendor": info["vendor"],
            "device_memory_bytes": info.get("memory_bytes"),
            "device_multiprocessors": info.get("multiprocessors"),
            "power_limit_w": power_limit_w,
        }

    def run_case(self, planned: PlannedCase, round_index: int = 0) -> dict[str, Any]:
        """Measure one round of one case and return its raw row. Never raises, except KeyboardInterrupt.

        With `planned.timing.rounds` > 1 this measures round `round_index` alone (its share of the timing, see
        `Timing.for_round`) on a freshly built workload. The row is what was measured, nothing derived: step
        times, how they were taken, the timed window and its telemetry aggregates (gpubench.derive computes the
        rest when the run loads). Round 0 also runs the correctness check (a wrong device is wrong in every
        round)."""
        case, timing = planned.case, planned.timing.for_round(round_index)
        bench = self.registry[case.benchmark]
        row: dict[str, Any] = {
            "case_id": case.id,
            "round": round_index,
            "benchmark": case.benchmark,
            "label": planned.label,
            "benchmark_version": bench.version,
            "params_json": json.dumps(case.as_dict(), sort_keys=True),
            **case.as_dict(),
            **self.device_columns,
            "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        workload: Workload | None = None
        try:
            self.dev.reset_peak_memory()
            workload = self.build(bench, case, self.device)
            row.update({k: v for k, v in workload.info.items() if isinstance(v, (int, float, str, bool))})
            with devices.precision_flags(workload.flags):
                row["tf32"] = bool(workload.flags.get("allow_tf32", False))
                row["warmup_steps"], row["warmup_s"] = warmup = warm_up(self.timer, workload, timing, self.clock)
                # Steps that took far longer than a sample's minimum during warm-up need no probe (5 more steps).
                short = warmup[1] < 10 * MIN_SAMPLE_S * max(1, warmup[0])
                group = steps_per_sample(self.timer, workload) if self.timer.groups_steps and short else 1
                row["steps_per_sample"] = group
                self.dev.synchronize()
                start_ns = time.monotonic_ns()
                times = measure(self.timer, workload, timing, self.clock, group)
                end_ns = time.monotonic_ns()
                # max_time_s ran out first (a step slower than the limit allows): the spread rests on few reps.
                row["min_reps_reached"] = len(times) >= timing.min_reps
                row["peak_memory_bytes"] = self.dev.peak_memory_bytes()
                result = workload.check() if workload.check is not None and round_index == 0 else None
            work = workload.work
            row.update(
                times_s=list(times),
                start_ns=start_ns,
                end_ns=end_ns,
                work_per_step=work.amount,
                work_unit=work.unit,
                flops_per_step=work.flops,
                bytes_per_step=work.bytes,
            )
            if result is not None:
                row.update(check_error=result.error, check_tolerance=result.tolerance, check_detail=result.detail)
            row["status"] = "ok" if result is None or result.ok else "wrong"
            row["reason"] = (
                ""
                if row["status"] == "ok"
                else f"check failed: {result.detail} (error {result.error:.3g} > {result.tolerance:.3g})"
            )
            row.update(self.telemetry_columns(start_ns, end_ns))
            if workload.summarize is not None:  # this round's own times and window
                row.update(workload.summarize(list(times), self._window_frame(start_ns, end_ns), start_ns, end_ns))
        except Unsupported as e:
            row.update(status="skipped", reason=str(e))
        except (KeyboardInterrupt, RankLost):
            raise  # RankLost: a rank of a distributed run died or hung; the run cannot go on
        except Exception as e:  # noqa: BLE001 - one case failing must never lose the others
            where = f"round {round_index + 1} of {planned.timing.rounds}: " if round_index > 0 else ""
            row.update(status="failed", reason=where + _reason(e))
        finally:
            if workload is not None and workload.close is not None:
                with contextlib.suppress(Exception):  # closing is best effort
                    workload.close()
            workload = None
            self.dev.free_memory()
        return {k: v for k, v in row.items() if v is not None}

    def telemetry_columns(self, start_ns: int, end_ns: int) -> dict[str, Any]:
        """The telemetry aggregates of one timed window (none without a sampler)."""
        if self.sampler is None:
            return {}
        from gpubench.telemetry import case_aggregates

        frame = self.sampler.frame(since_ns=start_ns - 2_000_000_000)
        return case_aggregates(frame, start_ns, end_ns, self.idle_power_w)

    def _window_frame(self, start_ns: int, end_ns: int) -> Any:
        """The telemetry samples inside one timed window (None without a sampler)."""
        if self.sampler is None:
            return None
        frame = self.sampler.frame(since_ns=start_ns)
        return frame[frame["t_ns"] <= end_ns] if not frame.empty else frame

    def telemetry_frame(self, windows: list[tuple[str, int, int]]) -> Any:
        """The whole series so far, each sample tagged with the case whose timed window holds it."""
        if self.sampler is None:
            return None
        frame = self.sampler.frame()
        if frame.empty:
            return frame
        # Samples come sorted by time: each window is one slice, found by bisection.
        t = frame["t_ns"].to_numpy()
        case_ids = np.full(len(frame), None, dtype=object)
        for case_id, lo, hi in windows:
            case_ids[np.searchsorted(t, lo, "left") : np.searchsorted(t, hi, "right")] = case_id
        return frame.assign(case_id=case_ids)


def open_telemetry(device_info: dict[str, Any], mode: str, hz: float, idle_s: float) -> tuple[Any, dict[str, Any]]:
    """Start the sampler for the run and measure idle power. Returns (sampler or None, run.json telemetry info)."""
    if mode == "off":
        return None, {"reader": "null", "reason": "telemetry off (--telemetry off)"}
    try:
        from gpubench.telemetry import Sampler, measure_idle, open_reader
    except ImportError as e:  # pragma: no cover - the package ships with gpubench
        if mode == "required":
            raise BackendUnavailable(f"telemetry unavailable: {e}") from None
        return None, {"reader": "null", "reason": f"telemetry package unavailable: {e}"}
    reader, reason = open_reader(device_info, mode)
    info = {"reason": reason, **reader.static_info()}
    if reason is not None or reader.name == "null":
        info["reader"] = "null"
        return None, info
    try:
        # A reader that names a reason has no power readings (a CPU without RAPL): an idle window would wait
        # `idle_s` to measure nothing.
        power = idle_s > 0 and not info.get("reason")
        info["idle_power_w"] = measure_idle(reader, seconds=idle_s, hz=hz) if power else math.nan
        info["sample_hz"] = hz
        sampler = Sampler(reader, hz=hz)
        sampler.start()
    except BaseException:
        reader.close()
        raise
    return sampler, info


def rounds_done(row: dict[str, Any]) -> int:
    """Rounds a stored row holds: `rounds_n`, or 1 for a row written before rounds existed."""
    n = stats.finite_or_none(row.get("rounds_n"))
    return int(n) if n is not None else 1


def rounds_left(row: dict[str, Any] | None, planned: PlannedCase) -> bool:
    """Whether a stored ok row has fewer rounds than the case asks for (its remaining rounds are still to run)."""
    return row is not None and row.get("status") == "ok" and rounds_done(row) < planned.timing.rounds


def _windows(row: dict[str, Any]) -> list[tuple[str, int, int]]:
    """A stored row's timed windows (one per round it holds), to tag the telemetry series with its case."""
    return [(row["case_id"], lo, hi) for lo, hi in derive.round_windows(row)]


@contextlib.contextmanager
def frozen_heap() -> Any:
    """While the cases run, what lived before them (torch, pandas, the run's own state: millions of objects) is
    out of the garbage collector's sight (gc.freeze), so the collection after every round (Device.free_memory:
    frames and reference cycles keep tensors alive) walks only what came alive since, milliseconds instead of
    a tenth of a second. `refreeze()` after a round's collection hides what the round imported or cached for
    good. Objects frozen stay alive until the end, even cyclic garbage: the case's own objects never are
    frozen (a round's workload is released and collected before `refreeze`). On exit the heap is unfrozen, unless
    the caller had frozen it."""
    owner = gc.get_freeze_count() == 0
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        if owner:
            gc.unfreeze()


def refreeze() -> None:
    """Move what survived the last collection out of the collector's sight (inside `frozen_heap`)."""
    gc.freeze()


class Solo:
    """The strategy of a single-device run: it alone opens the run folder, samples its device and stores its
    rows. A distributed rank gives `run_suite` gpubench.distributed.rank.Lockstep instead, with the same methods."""

    lead = True
    multi_round = True  # rounds interleaved over the suite (Lockstep: one round per case)
    # Whether the run records how much of the host's processor time other programs took (gpubench.telemetry
    # .host): a rank of a distributed run would count its sibling ranks as others (Lockstep: False).
    host_share = True

    def device(self, options: RunOptions) -> torch.device:
        return devices.resolve_device(options.device)

    def open_store(
        self, suite: Suite, options: RunOptions, device: torch.device, planned: list[PlannedCase]
    ) -> tuple[RunStore | None, list[PlannedCase]]:
        store, done = open_run_store(suite, options, device)
        stored = {r["case_id"]: r for r in store.cases()}
        # Finished cases are skipped, except an ok one that still lacks rounds (an interrupted or a longer run).
        return store, [pc for pc in planned if pc.case.id not in done or rounds_left(stored.get(pc.case.id), pc)]

    def open_telemetry(self, options: RunOptions, store: RunStore | None) -> tuple[Any, dict[str, Any]]:
        assert store is not None
        return open_telemetry(store.meta["device"], options.telemetry, options.sample_hz, options.idle_s)

    def runner(
        self,
        device: torch.device,
        store: RunStore | None,
        registry: dict[str, Benchmark],
        sampler: Any,
        tel_info: dict[str, Any],
    ) -> Runner:
        # Rows name the device that measured them (a --force-resume may continue a run made on another one).
        return Runner(
            device,
            store,
            registry,
            sampler,
            tel_info.get("idle_power_w", math.nan),
            tel_info.get("power_limit_w"),
            device_info=devices.describe(device),
        )

    def before_case(self, planned: PlannedCase) -> None:
        pass

    def record(
        self, planned: PlannedCase, row: dict[str, Any], runner: Runner, store: RunStore | None
    ) -> dict[str, Any] | None:
        return row

    def telemetry_frame(self, runner: Runner, windows: list[tuple[str, int, int]]) -> Any:
        return runner.telemetry_frame(windows)


def record_host_share(store: RunStore, start: Any) -> None:
    """run.json's `host_cpu`: the share of the machine's processor time other programs took while the rounds
    ran (the largest of a resumed run's parts), with the core count; nothing where the host cannot say."""
    share = host.others_share(start, host.snapshot())
    if share is None:
        return
    before = (store.meta.get("host_cpu") or {}).get("others_share")
    worst = max(share, float(before)) if isinstance(before, (int, float)) else share
    store.meta["host_cpu"] = {"others_share": round(worst, 4), "cores": os.cpu_count()}


def run_suite(
    suite: Suite,
    options: RunOptions,
    events: RunEvents | None = None,
    registry: dict[str, Benchmark] | None = None,
    how: Any = None,
) -> RunOutcome:
    """Run a suite (or the selected part of it); write the run folder after every round.

    Cases run in rounds, round-robin: round 1 of every case, then round 2 of every case, ... (`rounds` from
    the suite or `options.rounds`), so that what drifts over the run (load, clocks, heat) lands in the
    between-round spread instead of in one case's favour. A resumed run continues each case where it stopped:
    a case with some of its rounds done gets the rest.

    `how` is the strategy: Solo (one device, the default) or, on a rank of a distributed run,
    gpubench.distributed.rank.Lockstep; the loop is the same. Ranks other than the lead have no run folder
    (`store` None) and return an outcome without rows."""
    events = events or RunEvents()
    registry = registry if registry is not None else load_all()
    how = how if how is not None else Solo()
    device = how.device(options)
    planned = select_cases(suite, options.only)
    if not planned:
        raise GpubenchError(f"--only {' '.join(options.only)} matches no case of suite {suite.name!r}")
    if options.rounds is not None:
        planned = [replace(pc, timing=replace(pc.timing, rounds=options.rounds)) for pc in planned]
    if not how.multi_round:
        planned = [replace(pc, timing=replace(pc.timing, rounds=1)) for pc in planned]
    store, todo = how.open_store(suite, options, device, planned)
    stored = {r["case_id"]: r for r in store.cases()} if store is not None else {}
    # Rounds already done of each case to run: a stored ok case with rounds left continues, anything else restarts.
    progress = {
        pc.case.id: rounds_done(stored[pc.case.id]) if rounds_left(stored.get(pc.case.id), pc) else 0 for pc in todo
    }
    outcome = RunOutcome(store.folder if store is not None else Path("."))
    windows = [w for r in (store.rows if store is not None else []) for w in _windows(r)]
    latest: dict[str, dict[str, Any]] = {}
    sampler = runner = host_start = None
    try:
        sampler, tel_info = how.open_telemetry(options, store)
        if store is not None:
            store.meta["telemetry"] = tel_info
            store.save_meta()
        outcome.telemetry_reason = tel_info.get("reason")
        runner = how.runner(device, store, registry, sampler, tel_info)
        events.on_start(store, todo, len(planned) - len(todo))
        events.on_rounds(sum(pc.timing.rounds - progress[pc.case.id] for pc in todo))
        i = 0
        host_start = host.snapshot() if getattr(how, "host_share", False) else None
        with frozen_heap():  # the collection after each round walks what the rounds made, not torch
            for r in range(max((pc.timing.rounds for pc in todo), default=0)):
                for pc in todo:
                    cid = pc.case.id
                    if progress[cid] != r or r >= pc.timing.rounds:
                        continue  # another round is due, the case is done, or it stopped (failed, wrong, skipped)
                    events.on_case_start(pc, i)
                    i += 1
                    how.before_case(pc)
                    measured = runner.run_case(pc, r)
                    refreeze()  # what the round left alive after its collection: out of the next collections' sight
                    row = how.record(pc, measured, runner, store)
                    if row is None or store is None:
                        progress[cid] = pc.timing.rounds  # not the lead rank: rank 0 stores every rank's row
                        continue
                    if r == 0:
                        store.drop_case(cid)  # a case that starts over (a --resume retry) replaces its earlier rounds
                    try:
                        store.add(row)
                    except StorageError as e:
                        kept = len(
                            {x.get("case_id") for x in store.rows if (x.get("case_id"), x.get("round")) != (cid, r)}
                        )
                        raise StorageError(
                            f"{e}; the {kept} case(s) finished before are kept in {store.folder}"
                        ) from None
                    latest[cid] = derive.case_row([x for x in store.rows if x.get("case_id") == cid])
                    outcome.rows = list(latest.values())
                    progress[cid] = r + 1 if row["status"] == "ok" else pc.timing.rounds
                    if row["status"] == "ok":
                        windows += _windows(row)
                    store.write_telemetry(how.telemetry_frame(runner, windows))
                    events.on_case_end(pc, latest[cid])
    except KeyboardInterrupt:
        outcome.interrupted = True
    except BaseException as e:  # a bad input, a lost rank, a bug: the run stops, finished cases stay
        if store is None:
            raise
        if isinstance(e, GpubenchError) and options.resume is None and not store.rows:
            store.close()
            shutil.rmtree(store.folder, ignore_errors=True)  # nothing ran: leave no empty run folder behind
            raise
        with contextlib.suppress(StorageError):  # on a full disk run.json may not be writable either
            store.finish("failed", error=first_line(e))
        store.close()
        raise
    finally:
        if sampler is not None:
            sampler.stop()
            if runner is not None and store is not None:
                with contextlib.suppress(StorageError):  # the measurements matter more than the series
                    store.write_telemetry(how.telemetry_frame(runner, windows))
            sampler.reader.close()
    if store is not None and store.folder.exists():
        record_host_share(store, host_start)
        try:
            store.finish("interrupted" if outcome.interrupted else "complete")
        finally:
            store.close()
    return outcome
