"""Tiny benchmarks for runner/CLI tests: each exercises one outcome (ok, failed, wrong, skipped, Ctrl-C)."""

from __future__ import annotations

from gpubench.benchmarks import Benchmark, Param
from gpubench.errors import Unsupported
from gpubench.records import CheckResult, Work, Workload


def _ok(case, device):
    x = [0]

    def step():
        x[0] += sum(range(200))

    return Workload(
        step=step, work=Work(1000.0, "sample"), check=lambda: CheckResult(0.0, 1e-6, "exact"), info={"note": "fake"}
    )


def _fail(case, device):
    raise RuntimeError("boom: the device fell over\nsecond line")


def _wrong(case, device):
    return Workload(step=lambda: None, work=Work(1.0, "flop"), check=lambda: CheckResult(0.5, 1e-3, "planted"))


def _skip(case, device):
    raise Unsupported("this device has no such unit")


def _interrupt(case, device):
    def step():
        raise KeyboardInterrupt

    return Workload(step=step, work=Work(1.0, "sample"))


PARAMS = {"n": Param(int, default=1, minimum=0)}
FAKES = {
    name: Benchmark(name, 1, factory, PARAMS)
    for name, factory in (
        ("t_ok", _ok),
        ("t_fail", _fail),
        ("t_wrong", _wrong),
        ("t_skip", _skip),
        ("t_interrupt", _interrupt),
    )
}

FAST = "[defaults]\nwarmup_s = 0\nmin_warmup = 1\nmax_warmup_s = 0.05\nmin_reps = 3\nmin_time_s = 0\nmax_time_s = 1\n"


def suite_text(*entries: str) -> str:
    body = "".join(f"[[benchmarks]]\n{e}\n" for e in entries)
    return 'name = "t"\n' + FAST + body
