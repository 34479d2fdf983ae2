"""Sampler thread, idle power and the live monitor, with scripted readers on virtual time (no real sleeps)."""

from __future__ import annotations

import math
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


class VirtualTime:
    """The sampler's clock and wait on virtual time: each wait advances the clock by the time asked for (no real
    sleep) and ends the sampling once `stop_ns` is reached. Reads may advance it too (a slow driver call)."""

    def __init__(self, stop_ns: int) -> None:
        self.now = 0
        self.stop_ns = stop_ns
        self.waits: list[float] = []

    def clock(self) -> int:
        return self.now

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.now += round(seconds * 1e9)
        return self.now >= self.stop_ns

    def sleep(self, seconds: float) -> None:
        self.wait(seconds)


def _run_virtual(reader, hz: float, seconds: float) -> tuple[Sampler, VirtualTime]:
    """A sampler run to the end of `seconds` of virtual time (its thread ends by itself), then stopped."""
    vt = VirtualTime(round(seconds * 1e9))
    sampler = Sampler(reader, hz=hz, clock=vt.clock, wait=vt.wait)
    sampler.start()
    sampler._thread.join(10.0)
    sampler.stop()
    return sampler, vt


def test_sampler_collects_ordered_samples_and_stops_cleanly():
    reader = ScriptedReader()
    sampler, _ = _run_virtual(reader, hz=200.0, seconds=0.1)
    thread = sampler._thread
    sampler.stop()  # idempotent
    assert thread is not None and not thread.is_alive()
    assert not sampler.running and sampler.error is None
    samples = sampler.samples
    # A sample at every tick of 0.1 s at 200 Hz, from 0 to 0.1 s: the last is the one taken on stop.
    assert len(samples) == 21 and samples[-1].t_ns == 100_000_000
    times = [s.t_ns for s in samples]
    assert times == sorted(times)
    assert [s.values["power_w"] for s in samples] == [float(i) for i in range(1, len(samples) + 1)]
    assert reader.threads == {"gpubench-telemetry"}  # polled off the caller's thread
    assert reader.reads == len(samples)  # nothing is read after stop


def test_sample_count_follows_the_rate():
    hz, seconds = 100.0, 0.5
    sampler, vt = _run_virtual(ScriptedReader(), hz, seconds)
    assert len(sampler.samples) == hz * seconds + 1  # ticks 0 .. 50, the last taken on stop
    assert all(w == pytest.approx(1 / hz) for w in vt.waits)
    assert sampler.missed_ticks == 0


def test_schedule_does_not_drift_with_slow_reads():
    # Each read takes 60% of the period on the sampler's clock. A drift-free schedule keeps one sample per
    # period; sleeping a full period after each read would space them 1.6 periods apart.
    period_ns = 50_000_000
    vt = VirtualTime(round(1.0e9))

    def slow() -> None:
        vt.now += int(0.6 * period_ns)

    sampler = Sampler(ScriptedReader(on_read=slow), hz=1e9 / period_ns, clock=vt.clock, wait=vt.wait)
    sampler.start()
    sampler._thread.join(10.0)
    sampler.stop()
    gaps = [b.t_ns - a.t_ns for a, b in zip(sampler.samples, sampler.samples[1:], strict=False)]
    assert len(gaps) >= 19
    assert gaps[:-1] == [period_ns] * (len(gaps) - 1)  # the last is the stop's read, at once after the end
    assert all(w == pytest.approx(0.4 * period_ns / 1e9) for w in vt.waits)  # the read's time is not added on top
    assert sampler.missed_ticks == 0


def test_reads_slower_than_the_period_skip_ticks_instead_of_bursting():
    period_ns = 10_000_000
    vt = VirtualTime(round(0.2e9))

    def very_slow() -> None:
        vt.now += int(2.5 * period_ns)

    sampler = Sampler(ScriptedReader(on_read=very_slow), hz=1e9 / period_ns, clock=vt.clock, wait=vt.wait)
    sampler.start()
    sampler._thread.join(10.0)
    sampler.stop()
    assert sampler.missed_ticks > 0
    gaps = [b.t_ns - a.t_ns for a, b in zip(sampler.samples, sampler.samples[1:], strict=False)]
    assert min(gaps[:-1]) >= 2 * period_ns  # never two reads back to back to "catch up"


def test_frame_has_t_ns_and_every_metric_and_filters_by_since():
    sampler, _ = _run_virtual(ScriptedReader(), hz=200.0, seconds=0.05)
    frame = sampler.frame()
    assert len(frame) == 11
    assert list(frame.columns) == ["t_ns", *METRICS]
    assert str(frame["t_ns"].dtype) == "int64"
    assert frame["t_ns"].is_monotonic_increasing
    cut = int(frame["t_ns"].iloc[5])
    later = sampler.frame(since_ns=cut)
    assert later["t_ns"].iloc[0] == cut and len(later) == len(frame) - 5


def test_a_final_sample_is_taken_on_stop():
    reader = ScriptedReader()
    sampler = Sampler(reader, hz=1.0)  # the next tick is a second away: stop() must cut the wait short
    sampler.start()
    before_stop = time.monotonic_ns()
    sampler.stop()
    assert not sampler.running
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
    vt = VirtualTime(10**18)
    reader = ScriptedReader()  # power 1, 2, 3, ... per read
    assert measure_idle(reader, seconds=0.1, hz=100.0, clock=vt.clock, sleep=vt.sleep) == 6.0
    assert reader.reads == 11 and vt.now == 100_000_000  # a read at each tick of the window, no real sleep
    assert measure_idle(ScriptedReader(power_w=80.0), seconds=0.1, hz=100.0, clock=vt.clock, sleep=vt.sleep) == 80.0
    assert math.isnan(measure_idle(NullReader("none"), seconds=0.05, hz=100.0, clock=vt.clock, sleep=vt.sleep))
    assert math.isnan(measure_idle(ScriptedReader(power_w=80.0), seconds=0.0))


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
    vt = VirtualTime(10**18)
    for seconds in (None, 0.0):
        stream = monitor(NullReader(), seconds=seconds, hz=1000.0, clock=vt.clock, sleep=vt.sleep)
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
