"""Other programs' share of the processor while a run measured (gpubench.telemetry.host), recorded in run.json
and said in the report's verdict: a run on a busy machine measured less than its device can do."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from fakebench import FAKES, suite_text

from gpubench.benchmarks import load_all
from gpubench.report import build_report
from gpubench.runner import RunOptions, run_suite
from gpubench.store import read_meta
from gpubench.suite import parse_suite
from gpubench.telemetry import host

QUICK = Path(__file__).parent / "data" / "run_schema3_quick_cpu"


def _stat(tmp_path: Path, user: int, idle: int, steal: int = 0) -> Path:
    path = tmp_path / f"stat-{user}-{idle}-{steal}"
    # cpu user nice system idle iowait irq softirq steal guest guest_nice (clock ticks), then per-core lines
    path.write_text(f"cpu  {user} 0 0 {idle} 0 0 0 {steal} 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n")
    return path


def test_snapshot_reads_busy_and_total_time_including_steal(tmp_path):
    ticks = os.sysconf("SC_CLK_TCK")
    snap = host.snapshot(_stat(tmp_path, user=3 * ticks, idle=5 * ticks, steal=2 * ticks))
    assert snap is not None
    assert snap.busy_s == pytest.approx(5.0) and snap.total_s == pytest.approx(10.0)  # steal is time not ours
    assert host.snapshot(tmp_path / "missing") is None
    (tmp_path / "bad").write_text("intr 1 2 3\n")
    assert host.snapshot(tmp_path / "bad") is None


def test_others_share_subtracts_this_process_and_stays_in_range():
    start = host.HostCpu(busy_s=100.0, total_s=400.0, own_s=10.0)
    # 20 CPU-seconds passed on the machine; 12 busy, of which 4 were this process: others took 8 of 20.
    assert host.others_share(start, host.HostCpu(112.0, 420.0, 14.0)) == pytest.approx(0.4)
    assert host.others_share(start, host.HostCpu(104.0, 420.0, 14.0)) == 0.0  # only this process worked
    assert host.others_share(start, host.HostCpu(130.0, 420.0, 10.0)) == 1.0  # clamped (counter skew)
    assert host.others_share(start, start) is None and host.others_share(None, start) is None


@pytest.mark.skipif(not Path("/proc/stat").exists(), reason="needs Linux /proc/stat")
def test_a_run_records_the_share_in_run_json(tmp_path):
    reg = {**load_all(), **FAKES}
    text = suite_text('benchmark = "t_ok"\nn = [1, 2]')
    suite = parse_suite(text, str(tmp_path / "t.toml"), reg)
    out = run_suite(suite, RunOptions(device="cpu", out_dir=tmp_path / "r", telemetry="off"), registry=reg)
    info = read_meta(out.folder)["host_cpu"]
    assert 0.0 <= info["others_share"] <= 1.0 and info["cores"] == os.cpu_count()


def _with_share(tmp_path: Path, share: float) -> Path:
    folder = tmp_path / f"run-{share}"
    shutil.copytree(QUICK, folder)
    meta = json.loads((folder / "run.json").read_text())
    meta["host_cpu"] = {"others_share": share, "cores": 2}
    (folder / "run.json").write_text(json.dumps(meta))
    return folder


def test_the_verdict_says_when_other_programs_took_the_processor(tmp_path):
    folder = _with_share(tmp_path, 0.45)
    busy = build_report([folder])
    assert "other programs took 45% of this machine" in busy
    hu = build_report([folder], lang="hu")
    assert "Amíg az AMD EPYC futott, más programok vitték el a gép processzoridejének 45%-át" in hu
    quiet = build_report([_with_share(tmp_path, 0.05)])
    assert "other programs took" not in quiet
