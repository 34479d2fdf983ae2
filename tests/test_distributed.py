"""Distributed runs on the CPU: two real gloo ranks started by torchrun, and the arithmetic behind them.

The end-to-end runs start real processes (seconds each) and every one is bounded by a subprocess timeout.
Run as a script, this file is a rank of the fault-injection runs: it registers `t_fault`, then runs the CLI.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = 150  # no distributed test may hang CI

FAST = """
[defaults]
warmup_s = 0.0
min_warmup = 1
max_warmup_s = 0.2
min_reps = 4
min_time_s = 0.0
max_time_s = 1.0
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.pop("GPUBENCH_DIST_CHILD", None)
    env["COLUMNS"] = "200"
    return env


def _register_faults() -> None:
    """`t_fault`: a workload that misbehaves on one rank (raises, fails to build, dies or hangs)."""
    import torch.distributed as dist

    from gpubench.benchmarks import Param, register
    from gpubench.records import Work, Workload

    @register(
        "t_fault",
        version=1,
        params={"mode": Param(str, choices=("ok", "raise", "build", "exit", "hang")), "rank": Param(int, default=1)},
    )
    def fault(case, device):
        mode, bad = case.param("mode"), case.param("rank") == dist.get_rank()
        if mode == "build" and bad:
            raise RuntimeError("planted build fault")

        def step():
            if bad and mode == "raise":
                raise RuntimeError("planted step fault")
            if bad and mode == "exit":
                os._exit(3)
            if bad and mode == "hang":
                time.sleep(120)
            return sum(range(100))

        return Workload(step=step, work=Work(1.0, "sample"))


if __name__ == "__main__":  # a rank of a fault-injection run
    _register_faults()
    from gpubench.cli import main

    main()
    sys.exit(0)


from gpubench import derive  # noqa: E402
from gpubench.distributed import (  # noqa: E402
    LaunchResult,
    add_scaling_columns,
    busbw_factor,
    merge_rank_rows,
    scaling_efficiency,
    scaling_table,
    torchrun_command,
)
from gpubench.distributed.results import load_rank_rows  # noqa: E402
from gpubench.store import load_runs, read_meta  # noqa: E402

# ------------------------------------------------------------------------------------------- arithmetic


@pytest.mark.parametrize(
    ("op", "n", "factor"),
    [
        ("all_reduce", 2, 1.0),
        ("all_reduce", 8, 1.75),
        ("all_reduce", 1, 0.0),
        ("all_gather", 2, 0.5),
        ("all_gather", 8, 0.875),
        ("reduce_scatter", 4, 0.75),
        ("all_to_all", 8, 0.875),
        ("broadcast", 8, 1.0),
        ("sendrecv", 2, 1.0),
    ],
)
def test_busbw_factors_follow_nccl_tests(op, n, factor):
    assert busbw_factor(op, n) == pytest.approx(factor)


def test_busbw_factor_rejects_unknown_ops_and_empty_worlds():
    with pytest.raises(ValueError, match="unknown collective"):
        busbw_factor("allreduce", 2)
    with pytest.raises(ValueError, match="world size"):
        busbw_factor("all_reduce", 0)


def test_scaling_efficiency_arithmetic():
    assert scaling_efficiency(1800.0, 2, 1000.0) == pytest.approx(0.9)
    assert scaling_efficiency(8000.0, 8, 1000.0) == pytest.approx(1.0)
    assert scaling_efficiency(4000.0, 8, 1000.0) == pytest.approx(0.5)
    assert math.isnan(scaling_efficiency(100.0, 2, 0.0))
    assert math.isnan(scaling_efficiency(100.0, 0, 10.0))


def _row(rank, status="ok", **kw):
    return {
        "case_id": "c[x=1]",
        "benchmark": "collective",
        "status": status,
        "reason": "",
        "work_per_step": 1e9,  # 1 GB in 0.5 s: 2 GB/s
        "work_unit": "byte",
        "times_s": [0.5, 0.5],
        "rank": rank,
        "local_rank": rank % 2,
        "node": f"n{rank // 2}",
        "device_name": "gpu",
        **kw,
    }


def test_merge_takes_the_worst_status_and_names_the_rank():
    rows = [_row(0), _row(1, "wrong", reason="check failed: planted", check_error=0.5), _row(2), _row(3)]
    merged, ranks = merge_rank_rows(rows, [[1.0, 2.0]] * 4, backend="nccl")
    assert merged["status"] == "wrong" and merged["reason"] == "rank 1: check failed: planted"
    assert merged["check_error"] == 0.5
    assert merged["world_size"] == 4 and merged["nodes"] == "n0,n1" and merged["n_nodes"] == 2
    assert merged["dist_backend"] == "nccl"
    assert "rank" not in merged and "node" not in merged
    assert [r["rank"] for r in ranks] == [0, 1, 2, 3] and ranks[1]["status"] == "wrong"


def test_merge_gives_the_failing_ranks_own_error():
    rows = [
        _row(0, "failed", reason="RankFailed: rank 1: RuntimeError: boom"),
        _row(1, "failed", reason="RuntimeError: boom"),
    ]
    assert merge_rank_rows(rows, [[], []], backend="gloo")[0]["reason"] == "rank 1: RuntimeError: boom"
    rows = [_row(r, "failed", reason="RankFailed: rank 1: out of memory") for r in range(2)]
    assert merge_rank_rows(rows, [[], []], backend="gloo")[0]["reason"] == "rank 1: out of memory"


def test_merge_slowest_rank_busbw_and_telemetry():
    tel = {
        "telemetry_samples": 10,
        "energy_j": 100.0,
        "avg_power_w": 200.0,
        "peak_power_w": 250.0,
        "energy_source": "counter",
        "throttled": False,
        "throttle_reasons": "",
    }
    rows = [
        _row(0, busbw_factor=1.5, peak_temp_c=60.0, mean_sm_clock_mhz=1000.0, **tel),
        _row(
            1,
            busbw_factor=1.5,
            peak_temp_c=70.0,
            mean_sm_clock_mhz=2000.0,
            **{**tel, "throttled": True, "throttle_reasons": "sw_power_cap"},
        ),
    ]
    stored, ranks = merge_rank_rows(rows, [[1.0, 1.0, 1.0], [1.0, 1.2, 1.2]], backend="nccl")
    # The stored round is raw: the lockstep times, no telemetry of one rank, nothing derived.
    assert not {"energy_j", "algbw_gbps", "rank_median_s", "energy_per_work"} & set(stored)
    assert ranks[1]["times_s"] == [1.0, 1.2, 1.2] and ranks[1]["energy_j"] == 100.0
    merged = derive.case_row([stored], ranks)  # what loading the run gives
    assert merged["slowest_rank"] == 1 and merged["rank_median_s"] == [1.0, 1.2]
    assert merged["rank_spread"] == pytest.approx(0.2)
    assert merged["algbw_gbps"] == 2.0 and merged["busbw_gbps"] == pytest.approx(3.0)
    # Energy and power add over devices; the hottest device and the mean clock; any throttling.
    assert merged["energy_j"] == 200.0 and merged["avg_power_w"] == 400.0 and merged["telemetry_devices"] == 2
    assert merged["peak_temp_c"] == 70.0 and merged["mean_sm_clock_mhz"] == 1500.0
    assert merged["throttled"] is True and merged["throttle_reasons"] == "sw_power_cap"
    assert merged["energy_per_work"] == pytest.approx(400.0 / 2.0)  # total power / the run's throughput


def test_merge_ignores_ranks_that_sit_the_case_out():
    rows = [_row(0, dp_ranks=1), _row(1, "failed", reason="nope", rank_active=False)]
    stored, ranks = merge_rank_rows(rows, [[1.0], [0.0]], backend="gloo")
    merged = derive.case_row([stored], ranks)
    assert merged["status"] == "ok" and merged["ranks_active"] == 1 and merged["rank_median_s"] == [1.0]


def test_mfu_is_per_device_derived_once_on_load():
    """A data-parallel row's tflops cover every device: MFU divides them by dp_ranks, on load, from the catalog."""
    h100 = {
        "device_name": "NVIDIA H100 80GB HBM3",
        "device_memory_bytes": 85_520_809_984,
        "power_limit_w": 700.0,
        "params_json": json.dumps({"precision": "bf16"}),
        "flops_per_step": 989e12 * 0.5,  # half of one H100's dense bf16 peak per 1 s step
    }
    one = derive.case_row([_row(0, dp_ranks=1, times_s=[1.0, 1.0], **h100)])
    two = derive.case_row([_row(0, dp_ranks=2, times_s=[1.0, 1.0], **h100)])
    assert one["mfu"] == pytest.approx(50.0, rel=0.01)
    assert two["mfu"] == pytest.approx(one["mfu"] / 2)


def test_scaling_columns_and_table_across_runs():
    def ddp(run, ranks, thr, device="H100"):
        params = json.dumps({"model": "mnist_cnn", "precision": "fp32", "batch": 64, "ranks": ranks})
        return {
            "run_id": run,
            "case_id": f"ddp_train[ranks={ranks}]",
            "benchmark": "ddp_train",
            "status": "ok",
            "params_json": params,
            "dp_ranks": ranks,
            "throughput": thr,
            "device_name": device,
            "model": "mnist_cnn",
            "precision": "fp32",
            "batch": 64,
        }

    one, two = ddp("a", 1, 1000.0), ddp("a", 2, 1800.0)
    add_scaling_columns(two, [one])
    assert two["speedup"] == pytest.approx(1.8) and two["scaling_efficiency"] == pytest.approx(0.9)
    other = ddp("b", 8, 6000.0)  # an 8-rank launch of its own: its baseline is run a's 1-rank case
    table = scaling_table(pd.DataFrame([one, two, other, ddp("c", 2, 10.0, device="MI300X")]))
    eff = dict(zip(table["case_id"] + "@" + table["run_id"], table["scaling_efficiency"], strict=True))
    assert eff["ddp_train[ranks=1]@a"] == pytest.approx(1.0)
    assert eff["ddp_train[ranks=2]@a"] == pytest.approx(0.9)
    assert eff["ddp_train[ranks=8]@b"] == pytest.approx(0.75)
    assert math.isnan(eff["ddp_train[ranks=2]@c"])  # no 1-rank case on that device


# ------------------------------------------------------------------------------------------- launcher


def test_torchrun_command_single_node_and_rendezvous():
    cmd = torchrun_command(["run", "quick"], 4, python="py")
    assert cmd[:6] == ["py", "-m", "torch.distributed.run", "--nproc-per-node", "4", "--max-restarts"]
    assert "--standalone" in cmd and cmd[-4:] == ["-m", "gpubench.cli", "run", "quick"]
    cmd = torchrun_command(
        ["run"], 8, {"nnodes": 2, "rdzv_backend": "c10d", "rdzv-endpoint": "h0:29400", "rdzv-id": "job"}, python="py"
    )
    assert "--standalone" not in cmd
    assert cmd[cmd.index("--rdzv-endpoint") + 1] == "h0:29400" and cmd[cmd.index("--nnodes") + 1] == "2"
    with pytest.raises(ValueError, match="rendezvous option"):
        torchrun_command(["run"], 2, {"max-restarts": 3})


def test_launch_failure_message_names_the_rank():
    res = LaunchResult(
        1,
        None,
        [
            {"rank": 0, "state": "error", "node": "h0", "message": "rank 3 did not reach X"},
            {"rank": 1, "state": "terminated"},
            {"rank": 2, "state": "running"},
        ],
    )
    text = res.failure()
    assert "rank 0 on h0: rank 3 did not reach X" in text and "rank 2 exited without a Python error" in text
    assert "rank 1" not in text  # stopped by torchrun: not a cause
    assert LaunchResult(0, {"folder": "x"}).failure() is None


def test_cli_launches_ranks_through_torchrun(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from gpubench.cli import app
    from gpubench.distributed import launch as launch_mod

    calls = []

    def fake_launch(child_args, nproc, options, **kw):
        calls.append((child_args, nproc, options))
        return fake_launch.result

    monkeypatch.setattr(launch_mod, "launch", fake_launch)
    monkeypatch.delenv("GPUBENCH_DIST_CHILD", raising=False)
    runner = CliRunner()
    fake_launch.result = LaunchResult(0, {"folder": str(tmp_path), "any_failed": False})
    res = runner.invoke(
        app,
        [
            "run",
            "quick",
            "--nproc",
            "2",
            "--device",
            "cpu",
            "--only",
            "matmul*",
            "--telemetry",
            "off",
            "--nnodes",
            "1",
            "--no-report",
            "--dist-timeout-s",
            "30",
        ],
    )
    assert res.exit_code == 0, res.output
    args, nproc, options = calls[0]
    assert nproc == 2 and options["nnodes"] == "1" and options["rdzv-endpoint"] is None
    assert args[:2] == ["run", "quick"]
    assert args[args.index("--device") + 1] == "cpu" and args[args.index("--only") + 1] == "matmul*"
    assert args[args.index("--dist-timeout-s") + 1] == "30.0"
    assert not {"--nproc", "--nnodes", "--report", "--no-report"} & set(args)  # the launcher's own options

    fake_launch.result = LaunchResult(0, {"folder": str(tmp_path), "any_failed": True})
    assert runner.invoke(app, ["run", "quick", "--nproc", "2"]).exit_code == 1
    fake_launch.result = LaunchResult(1, None, [{"rank": 1, "state": "running"}])
    res = runner.invoke(app, ["run", "quick", "--nproc", "2"])
    assert res.exit_code == 1 and "rank 1 exited without a Python error" in res.output
    res = runner.invoke(app, ["run", "quick", "--rdzv-endpoint", "h0:1"])
    assert res.exit_code == 2 and "--nproc" in res.output
    # A rank that stopped on bad input (a GpubenchError) exits 2 like one process; a lost rank is a failure (1).
    bad = {"rank": 1, "state": "error", "message": "SuiteError: bad size", "user_error": True}
    fake_launch.result = LaunchResult(1, None, [bad])
    res = runner.invoke(app, ["run", "quick", "--nproc", "2"])
    assert res.exit_code == 2 and "bad size" in res.output
    fake_launch.result = LaunchResult(1, None, [{**bad, "user_error": False}])
    assert runner.invoke(app, ["run", "quick", "--nproc", "2"]).exit_code == 1


def test_torchrun_log_is_kept_without_a_run_folder(tmp_path):
    from gpubench.distributed.launch import _keep_log

    log = tmp_path / "state" / "torchrun.log"
    log.parent.mkdir()
    log.write_text("ChildFailedError: rank 0\n")
    folder = tmp_path / "run"
    folder.mkdir()
    assert _keep_log(log, folder, tmp_path / "out") == folder / "torchrun.log"
    # No run folder (the ranks failed before making one): the log goes to --out, named by time.
    kept = _keep_log(log, None, tmp_path / "out")
    assert kept is not None and kept.parent == tmp_path / "out" and kept.name.startswith("torchrun-")
    assert "ChildFailedError" in kept.read_text()
    assert _keep_log(log, None, None) is None
    assert _keep_log(tmp_path / "missing.log", None, tmp_path / "out") is None
    assert LaunchResult(1, None, [{"rank": 0, "state": "error", "user_error": True}]).user_error
    assert not LaunchResult(1, None, [{"rank": 0, "state": "running", "user_error": True}]).user_error


def test_a_rank_state_says_whether_it_was_bad_input(tmp_path, monkeypatch):
    from gpubench.distributed.launch import STATE_ENV, read_states, write_rank_state

    monkeypatch.setenv(STATE_ENV, str(tmp_path / "state"))
    (tmp_path / "state").mkdir()
    write_rank_state("error", 3, "SuiteError: x", user_error=True)

    assert read_states(tmp_path / "state")[0]["user_error"] is True


def test_collectives_need_a_distributed_run(tmp_path):
    from gpubench.benchmarks import load_all
    from gpubench.runner import RunOptions, run_suite
    from gpubench.suite import parse_suite

    text = 'name = "s"\n' + FAST + '[[benchmarks]]\nbenchmark = "collective"\nop = "all_reduce"\nsize_bytes = 1024\n'
    text += '[[benchmarks]]\nbenchmark = "ddp_train"\nmodel = "mnist_cnn"\nprecision = "fp32"\nranks = 1\n'
    suite = parse_suite(text, "s.toml", load_all())
    out = run_suite(suite, RunOptions(device="cpu", out_dir=tmp_path, telemetry="off"))
    assert [r["status"] for r in out.rows] == ["skipped", "skipped"]
    assert all("--nproc" in r["reason"] for r in out.rows)


# ------------------------------------------------------------------------------ two real ranks (gloo)

SUITE = (
    FAST
    + """
[[benchmarks]]
benchmark = "collective"
op = ["all_reduce", "all_gather", "reduce_scatter", "broadcast", "all_to_all", "sendrecv"]
size_bytes = [32768]

[[benchmarks]]
benchmark = "collective"
op = "all_reduce"
size_bytes = [1048576]
dtype = "bf16"

[[benchmarks]]
benchmark = "ddp_train"
model = "mnist_cnn"
precision = "fp32"
batch = 16
ranks = [1, 2, 4]

[[benchmarks]]
benchmark = "pipeline"
schedule = ["single", "gpipe", "1f1b"]
microbatches = [1, 4]
batch = 8
layers = 3
width = 16
"""
)


@pytest.fixture(scope="module")
def two_rank_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dist")
    (tmp / "d.toml").write_text('name = "d"\n' + SUITE)
    cmd = [
        sys.executable,
        "-m",
        "gpubench.cli",
        "run",
        "d.toml",
        "--nproc",
        "2",
        "--telemetry",
        "off",
        "--out",
        "res",
        "--dist-timeout-s",
        "60",
    ]
    proc = subprocess.run(cmd, cwd=tmp, env=_env(), capture_output=True, text=True, timeout=TIMEOUT_S)
    folders = sorted((tmp / "res").glob("*"))
    return proc, folders


def test_two_ranks_write_one_run_folder(two_rank_run):
    proc, folders = two_rank_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert len(folders) == 1  # rank 0 alone writes
    meta = read_meta(folders[0])
    assert meta["status"] == "complete" and meta["distributed"]["world_size"] == 2
    assert meta["distributed"]["backend"] == "gloo" and len(meta["distributed"]["ranks"]) == 2
    assert "--nproc 2" in meta["command"]  # the user's command, not torchrun's


def test_every_collective_is_verified_with_nccl_tests_busbw(two_rank_run):
    _, folders = two_rank_run
    df = load_runs(folders)
    coll = df[df.benchmark == "collective"].set_index("op", drop=False)
    assert len(coll) == 7 and (coll["status"] == "ok").all(), coll[["case_id", "status", "reason"]]
    assert (coll["check_error"] == 0).all()  # exact: small integers
    assert (coll["world_size"] == 2).all() and (coll["dist_backend"] == "gloo").all()
    factors = {
        "all_reduce": 1.0,
        "all_gather": 0.5,
        "reduce_scatter": 0.5,
        "all_to_all": 0.5,
        "broadcast": 1.0,
        "sendrecv": 1.0,
    }  # 2 ranks
    for _, r in coll.iterrows():
        algbw = r["msg_bytes"] / r["median_s"] / 1e9
        assert r["algbw_gbps"] == pytest.approx(algbw) and r["throughput"] == pytest.approx(algbw)
        assert r["busbw_gbps"] == pytest.approx(algbw * factors[r["op"]])


def test_merged_times_are_the_slowest_rank_per_step(two_rank_run):
    from gpubench.distributed import load_rank_rows

    _, folders = two_rank_run
    df = load_runs(folders).set_index("case_id")
    ranks = load_rank_rows(folders)
    assert set(ranks["rank"]) == {0, 1} and len(ranks) == 2 * len(df)
    for case_id, mine in ranks.groupby("case_id"):
        row = df.loc[case_id]
        if row["status"] != "ok":
            continue
        per_rank = {int(r["rank"]): list(r["times_s"]) for _, r in mine.iterrows() if r["rank_active"]}
        want = [max(ts) for ts in zip(*per_rank.values(), strict=True)]
        assert list(row["times_s"]) == pytest.approx(want), case_id
        assert row["slowest_rank"] in per_rank


def test_ddp_scaling_efficiency_in_the_run(two_rank_run):
    _, folders = two_rank_run
    df = load_runs(folders)
    ddp = df[df.benchmark == "ddp_train"].set_index("ranks")
    assert ddp.loc[1, "status"] == "ok" and ddp.loc[2, "status"] == "ok", ddp[["status", "reason"]]
    assert ddp.loc[4, "status"] == "skipped" and "needs 4 ranks" in ddp.loc[4, "reason"]
    assert "replicas differ by 0" in ddp.loc[2, "check_detail"]  # DDP kept both replicas identical
    t1, t2 = ddp.loc[1, "throughput"], ddp.loc[2, "throughput"]
    assert ddp.loc[2, "work_per_step"] == 2 * ddp.loc[1, "work_per_step"] == 32  # samples over both ranks
    assert ddp.loc[2, "scaling_efficiency"] == pytest.approx(t2 / (2 * t1))
    assert ddp.loc[1, "ranks_active"] == 1 and ddp.loc[2, "ranks_active"] == 2


def test_pipelined_loss_and_gradients_match_one_device(two_rank_run):
    from gpubench.report.topics import pipeline_table

    _, folders = two_rank_run
    df = load_runs(folders)
    pipe = df[df.benchmark == "pipeline"].set_index("case_id")
    ok = pipe[pipe.status == "ok"]
    assert set(ok["schedule"]) == {"single", "gpipe", "1f1b"}, pipe[["status", "reason"]]
    assert (
        "1F1B needs at least as many micro-batches"
        in pipe.loc[pipe.schedule.eq("1f1b") & pipe.microbatches.eq(1), "reason"].iloc[0]
    )
    ranks = load_rank_rows(folders[0])
    pipelined = ranks.case_id.str.startswith("pipeline[") & ~ranks.case_id.str.contains("schedule=single")
    last = ranks[pipelined & (ranks["rank"] == 1) & ranks.status.eq("ok")]
    assert (
        len(last) == 3 and last["check_detail"].str.contains("pipelined loss").all()
    )  # the last stage compared the loss
    assert (ok.loc[ok.schedule != "single", "bubble_theory"] == [0.5, 0.2, 0.2]).all()
    table = pipeline_table(ok.reset_index())
    assert len(table) == 3 and table["bubble_measured"].notna().all()


def test_report_has_collectives_and_scaling_sections(two_rank_run, tmp_path):
    from gpubench.report import render_report

    _, folders = two_rank_run
    html = render_report(folders, out=tmp_path / "r.html").read_text()
    assert "Data-parallel scaling efficiency" in html and "1-rank baseline" in html
    assert "peak busbw (GB/s)" in html and "all_to_all" in html


def _launch_faults(tmp: Path, suite: str, timeout_s: float) -> tuple[dict, float]:
    """Run the parent launcher in a subprocess (so the test can time it out) with this file as each rank."""
    (tmp / "f.toml").write_text('name = "f"\n' + FAST + suite)
    child = ["run", "f.toml", "--telemetry", "off", "--out", "res", "--dist-timeout-s", str(timeout_s)]
    code = (
        "import json, sys; from gpubench.distributed.launch import launch; "
        "r = launch(sys.argv[2:], 2, entry=[sys.argv[1]]); "
        "print('RESULT ' + json.dumps({'rc': r.returncode, 'failure': r.failure(), 'states': r.states}))"
    )
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", code, __file__, *child],
        cwd=tmp,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    assert lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(lines[-1][7:]), time.monotonic() - t0


def test_a_failing_rank_fails_the_case_and_a_dead_rank_ends_the_run(tmp_path):
    suite = """
[[benchmarks]]
benchmark = "t_fault"
mode = ["ok", "raise", "build", "exit"]
"""
    out, _ = _launch_faults(tmp_path, suite, timeout_s=10)
    assert out["rc"] != 0
    assert "rank 1" in out["failure"], out
    folder = next((tmp_path / "res").glob("*"))
    assert read_meta(folder)["status"] == "failed"
    rows = load_runs([folder]).set_index("mode")
    # Cases before the death are kept; a raise or a failed build on rank 1 fails the case on every rank.
    assert list(rows.index) == ["ok", "raise", "build"]
    assert rows.loc["ok", "status"] == "ok"
    assert (
        rows.loc["raise", "status"] == "failed"
        and "rank 1: RuntimeError: planted step fault" in rows.loc["raise", "reason"]
    )
    assert (
        rows.loc["build", "status"] == "failed"
        and "rank 1: RuntimeError: planted build fault" in rows.loc["build", "reason"]
    )


def test_a_hung_rank_is_named_within_the_timeout(tmp_path):
    suite = """
[[benchmarks]]
benchmark = "t_fault"
mode = ["ok", "hang"]
"""
    out, elapsed = _launch_faults(tmp_path, suite, timeout_s=3)
    assert out["rc"] != 0
    assert "rank 1 did not reach" in out["failure"] and "within 3 s" in out["failure"], out
    assert elapsed < 60  # the hung rank sleeps 120 s: the run ended on the timeout, not on its own
    folder = next((tmp_path / "res").glob("*"))
    assert list(load_runs([folder])["mode"]) == ["ok"]


# ---------------------------------------------------------------------------------------------- GPUs (NCCL)


def _gpus() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


@pytest.mark.gpu
@pytest.mark.skipif(_gpus() == 0, reason="needs a CUDA or ROCm GPU")
def test_nccl_ranks_on_this_machines_gpus(tmp_path):
    """One rank per GPU (up to 2): NCCL/RCCL collectives timed with CUDA events, verified; DDP on the GPU."""
    nproc = min(2, _gpus())
    suite = (
        FAST
        + """
[[benchmarks]]
benchmark = "collective"
op = ["all_reduce", "all_gather", "reduce_scatter", "broadcast", "all_to_all", "sendrecv"]
size_bytes = [1048576, 67108864]

[[benchmarks]]
benchmark = "ddp_train"
model = "mnist_cnn"
precision = "fp32"
ranks = [1, 2]
"""
    )
    (tmp_path / "g.toml").write_text('name = "g"\n' + suite)
    cmd = [
        sys.executable,
        "-m",
        "gpubench.cli",
        "run",
        "g.toml",
        "--nproc",
        str(nproc),
        "--device",
        "cuda",
        "--telemetry",
        "auto",
        "--idle-s",
        "0.5",
        "--out",
        "res",
        "--dist-timeout-s",
        "120",
    ]
    proc = subprocess.run(cmd, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=TIMEOUT_S * 2)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    df = load_runs(sorted((tmp_path / "res").glob("*")))
    coll = df[df.benchmark == "collective"]
    ok = coll[coll.status == "ok"]
    assert set(coll.status) <= {"ok", "skipped"} and len(ok) >= 10, coll[["case_id", "status", "reason"]]
    assert (ok["check_error"] == 0).all() and set(ok["dist_backend"]) <= {"nccl", "rccl"}
    assert (ok["algbw_gbps"] > 0).all() and (ok["world_size"] == nproc).all()
    ddp = df[df.benchmark == "ddp_train"].set_index("ranks")
    assert ddp.loc[1, "status"] == "ok", ddp[["status", "reason"]]
    if nproc == 2:
        assert ddp.loc[2, "status"] == "ok" and 0 < ddp.loc[2, "scaling_efficiency"] < 1.5


def test_a_distributed_suite_with_a_skipped_case_runs_and_resumes(tmp_path):
    """The collectives suite on the CPU skips sizes above 64 MiB: the skipped case must not crash the rank loop,
    and a resume retries it with the same number of ranks (a resume without --nproc is refused)."""
    (tmp_path / "s.toml").write_text(
        'name = "s"\n' + FAST + '[[benchmarks]]\nbenchmark = "collective"\nop = "all_reduce"\n'
        "size_bytes = [32768, 134217728]\n"
    )
    cmd = [
        sys.executable,
        "-m",
        "gpubench.cli",
        "run",
        "s.toml",
        "--nproc",
        "2",
        "--device",
        "cpu",
        "--idle-s",
        "0",
        "--out",
        "res",
        "--dist-timeout-s",
        "60",
    ]
    proc = subprocess.run(cmd, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=TIMEOUT_S)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    (folder,) = sorted((tmp_path / "res").glob("*"))
    df = pd.read_parquet(folder / "measurements.parquet").set_index("size_bytes")
    assert df.loc[32768, "status"] == "ok" and df.loc[134217728, "status"] == "skipped"
    alone = [
        sys.executable,
        "-m",
        "gpubench.cli",
        "run",
        "s.toml",
        "--device",
        "cpu",
        "--resume",
        str(folder),
    ]
    proc = subprocess.run(alone, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=TIMEOUT_S)
    assert proc.returncode == 2 and "2 rank(s), this run has 1 (add --nproc 2)" in proc.stderr, proc.stderr
    again = [*cmd[:-6], "--resume", str(folder), "--dist-timeout-s", "60"]
    proc = subprocess.run(again, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=TIMEOUT_S)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 case(s) to run, 1 already done" in proc.stderr  # the skipped size is retried, the ok one kept
    meta = json.loads((folder / "run.json").read_text())
    assert meta["status"] == "complete" and len(meta["resumed_utc"]) == 1
    assert len(pd.read_parquet(folder / "measurements.parquet")) == 2


@pytest.mark.parametrize(("before", "after"), [("running", "failed"), ("done", "done"), ("interrupted", "interrupted")])
def test_the_launcher_marks_a_run_its_killed_rank_0_left_running_as_failed(tmp_path, before, after):
    """torchrun kills a rank that outlives its grace period: a run.json still `running` after a failed launch says
    failed, with the launcher's reason; one a rank finished (done, interrupted) is left as it is."""
    from fixtures_runs import write_run

    from gpubench.distributed.launch import _mark_failed
    from gpubench.store import write_json

    folder = write_run(tmp_path, "h100", telemetry=False)
    meta = read_meta(folder)
    write_json(folder / "run.json", dict(meta, status=before))
    _mark_failed(folder, "distributed run failed (torchrun exit code 1): rank 1 exited without a Python error")
    meta = read_meta(folder)
    assert meta["status"] == after
    assert ("rank 1 exited" in (meta.get("error") or "")) == (before == "running")
    _mark_failed(tmp_path / "nowhere", "x")  # no run folder: nothing to mark, no error
