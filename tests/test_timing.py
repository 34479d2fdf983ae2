"""The runner's timing loop against a fake clock and a fake timer: no real time is measured."""

import math

import torch

from gpubench.devices import StepTimer
from gpubench.records import Work, Workload
from gpubench.runner import measure, warm_up
from gpubench.suite import Timing


class FakeClock:
    """perf_counter_ns stand-in: each step advances the clock by the next scripted duration."""

    def __init__(self, durations_s):
        self.now = 0
        self.durations = list(durations_s)

    def __call__(self):
        return self.now

    def step(self):
        self.now += int(self.durations.pop(0) * 1e9)


def test_cpu_timer_reports_each_step_and_excludes_reset():
    clock = FakeClock([0.5, 0.25, 0.125])
    resets = []

    def reset():
        resets.append(clock.now)
        clock.now += 10**9  # a slow reset must not be counted

    times = StepTimer(torch.device("cpu"), clock=clock).burst(clock.step, 3, reset)
    assert times == [0.5, 0.25, 0.125]
    assert len(resets) == 3


class ScriptedTimer:
    """Stands in for StepTimer: returns scripted per-step times, counts steps."""

    def __init__(self, times):
        self.times = list(times)
        self.steps = 0

    def burst(self, step, n, reset=None):
        out = [self.times.pop(0) if self.times else 0.001 for _ in range(n)]
        self.steps += n
        return out


def _workload():
    return Workload(step=lambda: None, work=Work(1.0, "sample"))


def test_measure_stops_when_both_minimums_are_reached():
    timer = ScriptedTimer([0.01] * 1000)
    times = measure(timer, _workload(), Timing(min_reps=10, min_time_s=0.5, max_time_s=60))
    assert len(times) >= 50  # min_time_s 0.5 at 10 ms a step
    assert sum(times) >= 0.5
    assert len(times) < 60  # and not far beyond

    timer = ScriptedTimer([1.0] * 100)
    times = measure(timer, _workload(), Timing(min_reps=7, min_time_s=0.5, max_time_s=600))
    assert len(times) == 7  # min_reps dominates for slow steps


def test_measure_respects_max_reps():
    timer = ScriptedTimer([1e-6] * 100000)
    times = measure(timer, _workload(), Timing(min_reps=5, min_time_s=10.0, max_reps=200, max_time_s=600))
    assert len(times) == 200


def test_warm_up_waits_for_timings_to_settle():
    ramp = [0.010 - 0.0005 * i for i in range(12)] + [0.004] * 200
    timer = ScriptedTimer(ramp)
    steps, _ = warm_up(timer, _workload(), Timing(warmup_s=0.0, min_warmup=3, max_warmup_s=60))
    assert steps >= 12 + 5  # past the ramp, and two windows of settled times


def test_tiny_steps_are_timed_in_groups():
    from gpubench.runner import MIN_SAMPLE_S, steps_per_sample

    timer = ScriptedTimer([1e-6] * 5)
    assert steps_per_sample(timer, _workload()) == math.ceil(MIN_SAMPLE_S / 1e-6)
    with_reset = Workload(step=lambda: None, work=Work(1.0, "sample"), reset=lambda: None)
    assert steps_per_sample(ScriptedTimer([1e-6] * 5), with_reset) == 1  # the reset must stay untimed
    assert steps_per_sample(ScriptedTimer([1e-3] * 5), _workload()) == 1


def test_grouped_samples_report_time_per_step():
    calls = []
    w = Workload(step=lambda: calls.append(1), work=Work(1.0, "sample"))
    clock = FakeClock([])

    class GroupTimer:
        """Each sample costs 1 us per step it runs."""

        def burst(self, step, n, reset=None):
            out = []
            for _ in range(n):
                before = len(calls)
                step()
                out.append((len(calls) - before) * 1e-6)
            return out

    times = measure(GroupTimer(), w, Timing(min_reps=4, min_time_s=0.0, max_time_s=60), clock=lambda: clock(), group=50)
    assert len(times) == 4 and all(t == 1e-6 for t in times)
    assert len(calls) == 200
