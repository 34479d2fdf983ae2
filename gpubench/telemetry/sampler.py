"""Polling a reader: the background `Sampler`, the idle-power window and the live `monitor`."""

from __future__ import annotations

import bisect
import math
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any

from gpubench.records import TelemetrySample
from gpubench.telemetry.base import METRICS, Reader

if TYPE_CHECKING:
    import pandas as pd


def _period_ns(hz: float) -> int:
    if not (hz > 0 and math.isfinite(hz)):
        raise ValueError(f"sampling rate must be a positive number of Hz, got {hz}")
    return max(1, round(1e9 / hz))


class Sampler:
    """Polls `reader` at `hz` on a background thread and keeps every sample, stamped with `clock`.

    The schedule is drift-free: tick k is due at start + k * period, however long each read took, and
    ticks missed while the thread was starved are skipped (counted in `missed_ticks`) rather than
    replayed in a burst. Each sample is stamped at the midpoint of its read, on the same clock the
    runner uses for case start/end (`time.monotonic_ns`). One last sample is taken on `stop()` so the
    end of the final case is bracketed by samples.

    `clock` and `wait` are the seams of virtual time: `wait(seconds)` returns when the next tick is due, True
    when sampling should end (by default it is the stop event's `wait`, which `stop()` cuts short). A test
    passes a clock it advances in its `wait` and runs the schedule without sleeping.
    """

    def __init__(
        self,
        reader: Reader,
        hz: float = 20.0,
        clock: Callable[[], int] = time.monotonic_ns,
        wait: Callable[[float], bool] | None = None,
    ) -> None:
        self.reader = reader
        self.hz = hz
        self._period_ns = _period_ns(hz)
        self._clock = clock
        self._lock = threading.Lock()
        self._samples: list[TelemetrySample] = []
        self._times: list[int] = []
        self._stop_event = threading.Event()
        self._wait = wait if wait is not None else self._stop_event.wait
        self._thread: threading.Thread | None = None
        self.missed_ticks = 0
        self.error: BaseException | None = None
        """The exception that ended the sampling thread early, if one did (the run goes on without it)."""

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> Sampler:
        """Start the sampling thread (once)."""
        if self._thread is not None:
            raise RuntimeError("Sampler.start() called twice; make a new Sampler")
        self._thread = threading.Thread(target=self._run, name="gpubench-telemetry", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the thread and wait for it; safe to call more than once, or before `start()`."""
        try:
            self._stop_event.set()
        finally:
            thread = self._thread
            if thread is not None and thread.is_alive():
                thread.join(max(timeout_s, 2.0 * self._period_ns / 1e9))
                if thread.is_alive() and self.error is None:
                    # A driver call that hangs must not hang the benchmark; the thread is a daemon.
                    self.error = TimeoutError(f"telemetry thread did not stop within {timeout_s:g} s")

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> Sampler:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- the thread ------------------------------------------------------------------------------

    def _poll(self) -> None:
        before = self._clock()
        values = self.reader.read()
        after = self._clock()
        sample = TelemetrySample((before + after) // 2, values)
        with self._lock:
            self._samples.append(sample)
            self._times.append(sample.t_ns)

    def _run(self) -> None:
        try:
            period = self._period_ns
            due = self._clock()
            while True:
                self._poll()
                due += period
                now = self._clock()
                if now >= due:
                    skipped = (now - due) // period + 1
                    self.missed_ticks += skipped
                    due += skipped * period
                if self._wait((due - now) / 1e9) or self._stop_event.is_set():
                    break
            self._poll()
        except BaseException as exc:  # kept for the runner: telemetry must never kill a run
            self.error = exc

    # -- results ---------------------------------------------------------------------------------

    @property
    def samples(self) -> list[TelemetrySample]:
        """A copy of the samples so far, ordered by `t_ns`."""
        with self._lock:
            return list(self._samples)

    def frame(self, since_ns: int | None = None) -> pd.DataFrame:
        """Samples (from `since_ns` on, if given) as a DataFrame: `t_ns` plus one column per metric."""
        import pandas as pd  # keeps `import gpubench.telemetry` light

        with self._lock:
            first = 0 if since_ns is None else bisect.bisect_left(self._times, since_ns)
            chosen = self._samples[first:]
        columns = list(METRICS)
        for sample in chosen:
            columns.extend(k for k in sample.values if k not in columns)
        data: dict[str, Any] = {"t_ns": pd.array([s.t_ns for s in chosen], dtype="int64")}
        for key in columns:
            data[key] = pd.array([float(s.values.get(key, math.nan)) for s in chosen], dtype="float64")
        return pd.DataFrame(data)


def measure_idle(
    reader: Reader,
    seconds: float = 2.0,
    hz: float = 20.0,
    clock: Callable[[], int] = time.monotonic_ns,
    sleep: Callable[[float], Any] = time.sleep,
) -> float:
    """Median `power_w` over an idle window of `seconds` polled at `hz` (NaN when the reader has no power).
    Blocks the caller for the window: nothing else runs while idle power is measured."""
    powers = [r.get("power_w", math.nan) for r in monitor(reader, seconds, hz, clock, sleep)] if seconds > 0 else []
    powers = [p for p in powers if math.isfinite(p)]
    return float(statistics.median(powers)) if powers else math.nan


def monitor(
    reader: Reader,
    seconds: float | None = None,
    hz: float = 1.0,
    clock: Callable[[], int] = time.monotonic_ns,
    sleep: Callable[[float], Any] = time.sleep,
) -> Iterator[dict[str, float]]:
    """Yield a reading plus `t_ns` (clock stamp) and `time_s` (seconds since the first reading) every
    1/hz seconds, for `seconds` (None or <= 0: until the consumer stops iterating).

    For a live table like `nvidia-smi dmon`. Drift-free like the Sampler: a slow read shortens the
    next sleep instead of delaying every later row.
    """
    period = _period_ns(hz)
    limit_ns = None if seconds is None or seconds <= 0 else int(seconds * 1e9)
    start = clock()
    tick = 0
    while True:
        now = clock()
        yield {"t_ns": now, "time_s": (now - start) / 1e9, **reader.read()}
        tick += 1
        now = clock()
        if start + tick * period <= now:  # fell behind: skip to the next tick still ahead
            tick = (now - start) // period + 1
        due = start + tick * period
        if limit_ns is not None and due - start > limit_ns:
            return
        sleep((due - now) / 1e9)
