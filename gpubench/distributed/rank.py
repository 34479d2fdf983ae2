"""One rank of a distributed run: the runner's own loop (warm-up, measure, StepTimer) kept in step across ranks.

How the ranks stay in step, case by case:
- before each case, and before and after every burst of timed steps, a monitored barrier: a rank that died or
  hangs is named by rank 0 within the timeout, and every burst starts on all ranks together;
- each rank's raw step times of a burst are gathered; the runner sees the per-step maximum over the ranks that
  take part (the slowest rank counts), so warm-up and measurement decide identically everywhere;
- the runner's wall clock is rank 0's (broadcast), so time limits end on every rank at the same step;
- building a case's workload is agreed: if one rank fails, every rank records the case as failed, naming it;
- rank 0 gathers every rank's row (and its device's telemetry), merges them and alone writes the run folder.
"""

from __future__ import annotations

import math
import os
import re
import signal
import time
from collections.abc import Callable
from typing import Any

import pandas as pd
import torch
import torch.distributed as dist

from gpubench import devices
from gpubench.benchmarks import Benchmark
from gpubench.derive import DERIVED_COLUMNS
from gpubench.distributed.context import DistContext, init_rank, shutdown
from gpubench.distributed.launch import write_rank_state
from gpubench.distributed.results import load_rank_rows, merge_rank_rows, write_rank_rows
from gpubench.errors import GpubenchError, RankLost, Unsupported, exception_text, first_line
from gpubench.frame import frame_rows
from gpubench.records import Case, Workload
from gpubench.runner import (
    RunEvents,
    Runner,
    RunOptions,
    RunOutcome,
    _reason,
    open_run_store,
    open_telemetry,
    run_suite,
)
from gpubench.store import RunStore
from gpubench.suite import PlannedCase, Suite


class RankFailed(RuntimeError):
    """Another rank's workload failed; this rank records the case as failed with that rank's reason."""


def _missing_ranks(message: str) -> str | None:
    """The ranks rank 0 reports missing from a monitored barrier (gloo's message), if that is what this is."""
    m = re.search(r"Ranks? ([\d, ]+) failed to pass monitoredBarrier", message)
    return m.group(1).strip() if m else None


class ControlPlane:
    """Small control messages between ranks over the gloo control group. A failure here means a rank died or
    hung: it raises RankLost naming the rank where it can, and the run stops."""

    def __init__(self, ctx: DistContext) -> None:
        self.ctx = ctx
        self.group = ctx.control

    def _lost(self, what: str, err: BaseException) -> RankLost:
        text = first_line(err)
        missing = _missing_ranks(str(err))
        if missing:
            return RankLost(f"rank {missing} did not reach {what} within {self.ctx.timeout_s:g} s (it died or hangs)")
        if re.search(r"from rank 0\b", str(err)):
            # Rank 0 coordinates the monitored barrier: it hangs, died, or found another rank missing.
            return RankLost(
                f"no answer from rank 0 at {what} within {self.ctx.timeout_s:g} s (rank 0 died or "
                "hangs, or it found another rank missing: see its message)"
            )
        return RankLost(f"lost contact with another rank at {what} (it died or hangs): {text[:200]}")

    def barrier(self, what: str) -> None:
        """Every rank waits here; rank 0 names the ranks that did not arrive within the timeout."""
        try:
            dist.monitored_barrier(self.group, timeout=self.ctx.timeout, wait_all_ranks=True)
        except RuntimeError as e:
            raise self._lost(what, e) from None

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except RuntimeError as e:
            raise self._lost(what, e) from None

    def clock(self) -> float:
        """Rank 0's `perf_counter()`: time limits of warm-up and measurement expire at the same step everywhere."""
        value = torch.tensor([time.perf_counter()], dtype=torch.float64)
        self._call("a clock broadcast", lambda: dist.broadcast(value, 0, group=self.group))
        return float(value.item())

    def all_gather_tensor(self, what: str, tensor: torch.Tensor) -> torch.Tensor:
        """A CPU tensor of the same shape from every rank, stacked by rank."""
        out = [torch.empty_like(tensor) for _ in range(self.ctx.world_size)]
        self._call(what, lambda: dist.all_gather(out, tensor, group=self.group))
        return torch.stack(out)

    def all_gather_object(self, what: str, obj: Any) -> list[Any]:
        out: list[Any] = [None] * self.ctx.world_size
        self._call(what, lambda: dist.all_gather_object(out, obj, group=self.group))
        return out

    def gather_object(self, what: str, obj: Any) -> list[Any] | None:
        """Every rank's object on rank 0 (None elsewhere)."""
        out: list[Any] | None = [None] * self.ctx.world_size if self.ctx.rank == 0 else None
        self._call(what, lambda: dist.gather_object(obj, out, dst=0, group=self.group))
        return out

    def broadcast_object(self, what: str, obj: Any) -> Any:
        box = [obj]
        self._call(what, lambda: dist.broadcast_object_list(box, src=0, group=self.group))
        return box[0]

    def agree(self, what: str, fn: Callable[[], Any]) -> Any:
        """Run `fn` on every rank; if it raised a GpubenchError anywhere, raise it everywhere (naming the rank)."""
        error: str | None = None
        result = None
        try:
            result = fn()
        except GpubenchError as e:
            error = str(e)
        errors = self.all_gather_object(what, error)
        for r, message in enumerate(errors):
            if message is not None:
                raise GpubenchError(message if r == self.ctx.rank else f"rank {r}: {message}")
        return result


class DistTimer:
    """Wraps the device's StepTimer: the same bursts on every rank, started together, slowest rank counts.

    `burst()` returns the per-step maximum over the active ranks and keeps each rank's own times in `log`.
    A step that raises on one rank is gathered like a time, and every rank raises RankFailed naming it, so the
    case fails everywhere at the same point and the run goes on with the next case.
    """

    groups_steps = False  # the ranks stay in lockstep by step count: every timed sample is one step

    def __init__(self, inner: devices.StepTimer, control: ControlPlane) -> None:
        self.inner = inner
        self.control = control
        self.active = True  # this rank takes part in the current case (set by the build agreement)
        self.log: list[list[float]] = []

    def clear(self) -> None:
        self.active = True
        self.log = [[] for _ in range(self.control.ctx.world_size)]

    def burst(self, step: Callable[[], Any], n: int, reset: Callable[[], Any] | None = None) -> list[float]:
        self.control.barrier("the start of a burst of steps")
        error: BaseException | None = None
        try:
            local = self.inner.burst(step, n, reset)
        except Exception as e:  # noqa: BLE001 - gathered, then raised on every rank
            error, local = e, [math.nan] * n
        # A rank stuck inside its steps is named here, by the monitored barrier, not by a data timeout.
        self.control.barrier("the end of a burst of steps")
        header = [float(self.active), float(error is not None), float(n)]
        table = self.control.all_gather_tensor(
            "a gather of step times", torch.tensor(header + local, dtype=torch.float64)
        )
        failed = [r for r in range(table.shape[0]) if table[r, 1] > 0]
        if failed:
            reasons = self.control.all_gather_object("a gather of step errors", _reason(error) if error else None)
            if error is not None:
                raise error
            r = failed[0]
            raise RankFailed(f"rank {r}: {reasons[r]}")
        if not (table[:, 2] == n).all():
            raise RankLost(f"ranks disagree on the burst size ({table[:, 2].tolist()}): the lockstep is broken")
        for r in range(table.shape[0]):
            self.log[r].extend(table[r, 3:].tolist())
        active = table[:, 0] > 0
        rows = table[active, 3:] if bool(active.any()) else table[:, 3:]
        return rows.max(dim=0).values.tolist()


def agreed_build(
    control: ControlPlane, timer: DistTimer, ctx: DistContext | None = None
) -> Callable[[Benchmark, Case, torch.device], Workload]:
    """The runner's `build` for distributed runs: build on every rank, then agree on the outcome."""

    def build(bench: Benchmark, case: Case, device: torch.device) -> Workload:
        timer.clear()
        workload: Workload | None = None
        outcome: tuple[str, str] | None = None
        try:
            workload = bench.build(case, device, ctx)
        except Unsupported as e:
            outcome = ("skipped", str(e))
        except Exception as e:  # noqa: BLE001 - agreed below, then raised on every rank
            outcome = ("failed", _reason(e))
        outcomes = control.all_gather_object(f"building {case.id}", outcome)
        bad = [(r, o) for r, o in enumerate(outcomes) if o is not None]
        if not bad:
            assert workload is not None
            timer.active = workload.info.get("rank_active", True) is not False
            return workload
        if workload is not None and workload.close is not None:
            workload.close()
        failed = [(r, o) for r, o in bad if o[0] == "failed"]
        if not failed:
            messages = {o[1] for _, o in bad}
            if len(bad) == len(outcomes) and len(messages) == 1:
                raise Unsupported(messages.pop())
            raise Unsupported(f"rank {bad[0][0]}: {bad[0][1][1]}")
        r, (_, message) = failed[0]
        raise RankFailed(f"rank {r}: {message}")

    return build


def _tagged(frame: pd.DataFrame, case_id: str, row: dict[str, Any], ctx: DistContext) -> pd.DataFrame:
    """This rank's new telemetry samples, each tagged with the case whose timed window holds it."""
    lo, hi = row.get("start_ns"), row.get("end_ns")
    case_ids = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    if lo is not None and hi is not None:  # a skipped or failed case has no timed window: nothing is its
        case_ids[(frame["t_ns"] >= lo) & (frame["t_ns"] <= hi)] = case_id
    return frame.assign(case_id=case_ids, rank=ctx.rank, node=ctx.node)


class Lockstep:
    """The strategy `run_suite` is given on one rank of a distributed run (the single-device one is
    gpubench.runner.Solo). The loop is the runner's; this decides where the ranks meet:

    - rank 0 alone opens the run folder, and every rank runs the cases it lists;
    - telemetry: every GPU rank samples its GPU; on the CPU, local rank 0 samples the node's package;
    - the runner times through a DistTimer (bursts in step, the slowest rank counts), on rank 0's clock, and
      builds through `agreed_build` (one rank failing fails the case on all);
    - after each case every rank's row and telemetry go to rank 0, which merges them into the row it stores
      and keeps every rank's own row in ranks.parquet.
    """

    def __init__(self, ctx: DistContext) -> None:
        self.ctx = ctx
        self.control = ControlPlane(ctx)
        self.lead = ctx.rank == 0
        # One round per case: every rank must loop alike, and only rank 0 sees the rounds a resumed folder holds.
        self.multi_round = False
        self.info = devices.describe(ctx.device)
        self.timer = DistTimer(devices.StepTimer(ctx.device), self.control)
        self.rank_rows: list[dict[str, Any]] = []
        self.tel_frames: list[pd.DataFrame] = []
        self.sent_ns = 0

    def device(self, options: RunOptions) -> torch.device:
        return self.ctx.device

    def open_store(
        self, suite: Suite, options: RunOptions, device: torch.device, planned: list[PlannedCase]
    ) -> tuple[RunStore | None, list[PlannedCase]]:
        ctx, info = self.ctx, self.info
        identity = self.control.all_gather_object(
            "the start of the run",
            {
                "rank": ctx.rank,
                "local_rank": ctx.local_rank,
                "node": ctx.node,
                "device_name": info.get("name"),
                "device_uuid": info.get("uuid"),
                "pci_bus_id": info.get("pci_bus_id"),
                "torch_device": str(device),
            },
        )

        def open_lead() -> tuple[RunStore | None, list[str]]:
            if not self.lead:
                return None, []
            store, done = open_run_store(suite, options, device, world_size=ctx.world_size)
            nodes = list(dict.fromkeys(i["node"] for i in identity))
            store.meta["distributed"] = {
                "world_size": ctx.world_size,
                "backend": ctx.library,
                "nodes": nodes,
                "n_nodes": len(nodes),
                "timeout_s": ctx.timeout_s,
                "ranks": identity,
            }
            return store, [pc.case.id for pc in planned if pc.case.id not in done]

        store, todo_ids = self.control.agree("opening the run folder", open_lead)
        todo_ids = set(self.control.broadcast_object("the list of cases", todo_ids))
        if store is not None and options.resume is not None and (store.folder / "ranks.parquet").exists():
            self.rank_rows = [
                {k: v for k, v in r.items() if k not in DERIVED_COLUMNS}
                for r in frame_rows(load_rank_rows(store.folder))
                if r["case_id"] not in todo_ids
            ]
        return store, [pc for pc in planned if pc.case.id in todo_ids]

    def open_telemetry(self, options: RunOptions, store: RunStore | None) -> tuple[Any, dict[str, Any]]:
        def open_here() -> tuple[Any, dict[str, Any]]:
            if devices.get(self.ctx.device).telemetry_shared_by_node and self.ctx.local_rank != 0:
                return None, {"reader": "null", "reason": "this node's CPU is sampled by its local rank 0"}
            return open_telemetry(self.info, options.telemetry, options.sample_hz, options.idle_s)

        sampler, tel_info = self.control.agree("opening telemetry", open_here)
        tel_infos = self.control.gather_object("gathering telemetry readers", {"rank": self.ctx.rank, **tel_info})
        if store is not None:
            store.meta["distributed"]["telemetry"] = tel_infos
        return sampler, tel_info

    def runner(
        self,
        device: torch.device,
        store: RunStore | None,
        registry: dict[str, Benchmark],
        sampler: Any,
        tel_info: dict[str, Any],
    ) -> Runner:
        self.timer.clear()
        return Runner(
            device,
            store,
            registry,
            sampler,
            tel_info.get("idle_power_w", math.nan),
            tel_info.get("power_limit_w"),
            timer=self.timer,
            clock=self.control.clock,
            build=agreed_build(self.control, self.timer, self.ctx),
            device_info=self.info,
        )

    def before_case(self, planned: PlannedCase) -> None:
        self.control.barrier(f"the start of case {planned.case.id}")

    def record(
        self, planned: PlannedCase, row: dict[str, Any], runner: Runner, store: RunStore | None
    ) -> dict[str, Any] | None:
        """Every rank's row to rank 0, which returns the merged row to store; the other ranks return None."""
        ctx, timer, case_id = self.ctx, self.timer, planned.case.id
        row.update(
            rank=ctx.rank,
            local_rank=ctx.local_rank,
            node=ctx.node,
            rank_active=timer.active,
            device_uuid=self.info.get("uuid"),
        )
        tel = None
        if runner.sampler is not None:
            frame = runner.sampler.frame(since_ns=self.sent_ns + 1)
            if not frame.empty:
                self.sent_ns = int(frame["t_ns"].iloc[-1])
                tel = _tagged(frame, case_id, row, ctx)
        gathered = self.control.gather_object(f"the end of case {case_id}", (row, tel))
        if gathered is None or store is None:
            return None
        n = len(row.get("times_s") or [])
        times = [timer.log[r][-n:] if n and len(timer.log[r]) >= n else [] for r in range(ctx.world_size)]
        merged, ranks = merge_rank_rows([g[0] for g in gathered], times, backend=ctx.library)
        self.rank_rows = [r for r in self.rank_rows if r.get("case_id") != case_id] + ranks
        write_rank_rows(store.folder, self.rank_rows, store.run_id)
        self.tel_frames += [g[1] for g in gathered if g[1] is not None and not g[1].empty]
        return merged

    def telemetry_frame(self, runner: Runner, windows: list[tuple[str, int, int]]) -> pd.DataFrame | None:
        """Every rank's samples so far (rank 0 only; each rank tagged its own by case window)."""
        return pd.concat(self.tel_frames, ignore_index=True, sort=False) if self.tel_frames else None


def run_rank(
    suite: Suite,
    options: RunOptions,
    ctx: DistContext,
    events: RunEvents | None = None,
    registry: dict[str, Benchmark] | None = None,
) -> RunOutcome | None:
    """Run a suite on this rank, in step with the others: `run_suite` given the Lockstep strategy. Rank 0
    writes the run folder and returns the outcome; other ranks return None. Raises RankLost when a rank dies
    or hangs (finished cases stay on disk)."""
    outcome = run_suite(suite, options, events, registry, how=Lockstep(ctx))
    return outcome if ctx.rank == 0 else None


class _Terminated(BaseException):
    """Raised by the SIGTERM handler: a BaseException, so no case's `except Exception` swallows it."""


class RankStopped(GpubenchError):
    """torchrun stopped this rank (SIGTERM), usually because another rank failed."""


def run_as_rank(suite: Suite, options: RunOptions, events: RunEvents | None, timeout_s: float) -> RunOutcome | None:
    """The whole life of one rank started by torchrun: join the group, run the suite in step, leave.

    Each rank leaves its state (running, done, error, terminated) in the launcher's state folder, so the
    launching process names the rank that failed. Only rank 0 gets `events`; it returns the outcome, the others
    None. A rank stopped by torchrun raises RankStopped; a lost rank RankLost, naming this rank."""
    rank = int(os.environ.get("RANK", "0"))

    def on_term(signum: int, frame: Any) -> None:
        write_rank_state("terminated", rank, "stopped by torchrun")
        raise _Terminated()

    signal.signal(signal.SIGTERM, on_term)
    write_rank_state("running", rank)
    try:
        ctx = init_rank(options.device, timeout_s)
        outcome = run_rank(suite, options, ctx, events if ctx.rank == 0 else None)
        shutdown()
    except _Terminated:
        raise RankStopped(f"rank {rank}: stopped by torchrun (another rank failed)") from None
    except RankLost as e:
        write_rank_state("error", rank, str(e))
        raise RankLost(f"rank {rank}: {e}") from None
    except BaseException as e:
        write_rank_state("error", rank, exception_text(e), user_error=isinstance(e, GpubenchError))
        raise
    write_rank_state("done", rank)
    return outcome
