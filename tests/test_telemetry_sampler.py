"""Sampler thread, idle power and the live monitor, with scripted readers (no timing assertions)."""

from __future__ import annotations

import math
import statistics
import subprocess
import sys
import threading
import time

import pytest

from gpubench.telemetry import METRICS, NullReader, Sampler, measure_idle, monitor, nan_reading


class ScriptedReader:
    """Counts reads; power is the read number, so sample order is visible in the values."""

    name = "scripted"

    def __init__(self, power_w: float | None = None, on_read=None) -> None:
        self.reads = 0
        self.power_w = power_w
        self.on_read = on_read
        self.threads: set[str] = set()

    def static_info(self) -> dict:
        return {"reader": self.name, "reason": None}

    def read(self) -> dict[str, float]:
        self.reads += 1
        self.threads.add(threading.current_thread().name)
        if self.on_read is not None:
            self.on_read()
        out = nan_reading()
        out["power_w"] = float(self.reads) if self.power_w is None else self.power_w
        return out

    def close(self) -> None:
        pass


def test_sampler_collects_ordered_samples_and_stops_cleanly():
    reader = ScriptedReader()
    sampler = Sampler(reader, hz=200.0)
    sampler.start()
    thread = sampler._thread
    deadline = time.monotonic() + 5.0
    while len(sampler.samples) < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    sampler.stop()
    sampler.stop()  # idempotent
    assert thread is not None and not thread.is_alive()
    assert not sampler.running and sampler.error is None
    samples = sampler.samples
    assert len(samples) >= 20
    times = [s.t_ns for s in samples]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert [s.values["power_w"] for s in samples] == [float(i) for i in range(1, len(samples) + 1)]
    assert reader.threads == {"gpubench-telemetry"}  # polled off the caller's thread
    count = len(samples)
    time.sleep(0.05)
    assert len(sampler.samples) == count  # nothing is added after stop


def test_sample_count_follows_the_rate():
    hz, seconds = 100.0, 0.5
    with Sampler(ScriptedReader(), hz=hz) as sampler:
        time.sleep(seconds)
    # Loose: a shared 2-core machine may starve the thread; a drifting or stalled schedule gets far fewer.
    assert len(sampler.samples) >= 0.5 * hz * seconds
    assert len(sampler.samples) <= 1.5 * hz * seconds + 2


def test_schedule_does_not_drift_with_slow_reads():
    # Each read "takes" 60% of the period on the sampler's clock (a virtual delay, no real sleep).
    # A drift-free schedule keeps one sample per period; sleeping a full period after each read
    # would space them 1.6 periods apart.
    period_ns = 50_000_000
    offset = [0]

    def clock() -> int:
        return time.monotonic_ns() + offset[0]

    def slow() -> None:
        offset[0] += int(0.6 * period_ns)

    with Sampler(ScriptedReader(on_read=slow), hz=1e9 / period_ns, clock=clock) as sampler:
        time.sleep(0.6)
    gaps = [b.t_ns - a.t_ns for a, b in zip(sampler.samples, sampler.samples[1:], strict=False)]
    assert len(gaps) >= 5
    assert statistics.median(gaps) < 1.3 * period_ns


def test_reads_slower_than_the_period_skip_ticks_instead_of_bursting():
    period_ns = 10_000_000
    offset = [0]

    def clock() -> int:
        return time.monotonic_ns() + offset[0]

    def very_slow() -> None:
        offset[0] += int(2.5 * period_ns)

    with Sampler(ScriptedReader(on_read=very_slow), hz=1e9 / period_ns, clock=clock) as sampler:
        time.sleep(0.2)
    assert sampler.missed_ticks > 0
    gaps = [b.t_ns - a.t_ns for a, b in zip(sampler.samples, sampler.samples[1:], strict=False)]
    assert min(gaps[:-1]) >= 2 * period_ns  # never two reads back to back to "catch up"


def test_frame_has_t_ns_and_every_metric_and_filters_by_since():
    with Sampler(ScriptedReader(), hz=200.0) as sampler:
        deadline = time.monotonic() + 5.0
        while len(sampler.samples) < 10 and time.monotonic() < deadline:
            time.sleep(0.01)
    frame = sampler.frame()
    assert list(frame.columns) == ["t_ns", *METRICS]
    assert str(frame["t_ns"].dtype) == "int64"
    assert frame["t_ns"].is_monotonic_increasing
    cut = int(frame["t_ns"].iloc[5])
    later = sampler.frame(since_ns=cut)
    assert later["t_ns"].iloc[0] == cut and len(later) == len(frame) - 5


def test_a_final_sample_is_taken_on_stop():
    reader = ScriptedReader()
    sampler = Sampler(reader, hz=1.0)  # the next tick is a second away
    sampler.start()
    time.sleep(0.05)
    before_stop = time.monotonic_ns()
    sampler.stop()
    assert sampler.samples[-1].t_ns >= before_stop  # the last case's end is bracketed


def test_reader_error_ends_the_thread_and_is_kept():
    class Broken(ScriptedReader):
        def read(self) -> dict[str, float]:
            raise RuntimeError("driver went away")

    sampler = Sampler(Broken(), hz=100.0)
    sampler.start()
    sampler._thread.join(5.0)
    sampler.stop()
    assert isinstance(sampler.error, RuntimeError) and not sampler.running


def test_start_twice_and_bad_rate_are_refused_stop_before_start_is_fine():
    Sampler(NullReader()).stop()
    sampler = Sampler(NullReader(), hz=50.0)
    with sampler, pytest.raises(RuntimeError):
        sampler.start()
    with pytest.raises(ValueError):
        Sampler(NullReader(), hz=0.0)


def test_measure_idle_is_the_median_power_and_nan_without_power():
    assert measure_idle(ScriptedReader(power_w=80.0), seconds=0.1, hz=100.0) == 80.0
    assert math.isnan(measure_idle(NullReader("none"), seconds=0.05, hz=100.0))


def test_monitor_yields_on_a_fixed_schedule():
    now = [0]
    slept: list[float] = []

    def clock() -> int:
        return now[0]

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += int(seconds * 1e9)

    def read_takes_100ms() -> None:
        now[0] += 100_000_000

    rows = list(monitor(ScriptedReader(on_read=read_takes_100ms), seconds=2.0, hz=2.0, clock=clock, sleep=sleep))
    assert [r["time_s"] for r in rows] == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert [r["power_w"] for r in rows] == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert all(s == pytest.approx(0.4) for s in slept)  # the read's 100 ms is not added on top
    assert set(METRICS) | {"t_ns", "time_s"} == set(rows[0])


def test_monitor_runs_until_the_consumer_stops_when_seconds_is_none_or_zero():
    for seconds in (None, 0.0):
        stream = monitor(NullReader(), seconds=seconds, hz=1000.0)
        rows = [next(stream) for _ in range(3)]
        stream.close()
        assert len(rows) == 3


def test_telemetry_never_imports_torch():
    code = (
        "import sys\n"
        "import gpubench.telemetry, gpubench.telemetry.nvml, gpubench.telemetry.amd, gpubench.telemetry.cpu\n"
        "from gpubench.telemetry import open_reader, Sampler, case_aggregates\n"
        "r, _ = open_reader({'vendor': 'nvidia', 'uuid': 'GPU-x'})\n"
        "s = Sampler(r, hz=100.0); s.start(); s.stop(); case_aggregates(s.frame(), 0, 1)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
