"""Hostile situations a new user meets (issue 11): concurrent writers, resumes of another experiment, bad paths
and full disks, markup and terminal escapes in stored text, out-of-range suite values, SIGTERM, the shipped suites.
"""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import typer
from fakebench import FAKES, suite_text
from typer.testing import CliRunner

from gpubench.benchmarks import Benchmark, Param, load_all
from gpubench.cli import app
from gpubench.errors import GpubenchError, StorageError, SuiteError, Unsupported
from gpubench.records import Work, Workload
from gpubench.runner import RunOptions, measure, run_suite, warm_up
from gpubench.store import RunStore, load_runs, load_telemetry, lock_run_folder, read_meta, write_json
from gpubench.suite import MAX_CASES, SUITES_DIR, Timing, find_suite, parse_suite

ROOT = Path(__file__).resolve().parent.parent
REG = {**load_all(), **FAKES}
cli = CliRunner()


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["COLUMNS"] = "200"
    return env


def make_suite(tmp_path, *entries, name="t.toml"):
    text = suite_text(*entries)
    path = tmp_path / name
    path.write_text(text)
    return parse_suite(text, str(path), REG)


def opts(tmp_path, **kw):
    return RunOptions(device="cpu", out_dir=tmp_path / "results", telemetry="off", **kw)


def one_line_error(res, code=2):
    """The CLI ended with `code` and a single error line, no traceback. In a log, `run` prints its starting note
    before PyTorch and the device start; what is found wrong after that follows it."""
    text = re.sub(r"^gpubench run \S+: starting PyTorch and the device \.\.\.\n", "", res.output)
    assert res.exit_code == code, text
    assert "Traceback" not in text and text.strip().startswith("error:"), text
    assert len(text.strip().splitlines()) == 1, text
    return text.strip()


# ------------------------------------------------------------------------------ 1. one writer per run folder


def test_a_second_writer_of_a_run_folder_is_refused(tmp_path):
    suite = make_suite(tmp_path, 'benchmark = "matmul"\ndtype = "fp32"\nm = [8, 16]')
    out = run_suite(suite, opts(tmp_path), registry=REG)
    first = RunStore.resume(out.folder)
    try:
        with pytest.raises(StorageError, match="being written by another gpubench process .pid"):
            RunStore.resume(out.folder)
        res = cli.invoke(
            app, ["run", str(tmp_path / "t.toml"), "--resume", str(out.folder), "--device", "cpu", "--telemetry", "off"]
        )
        assert "being written by another gpubench process" in one_line_error(res)
    finally:
        first.close()
    assert len(load_runs([out.folder])) == 2  # nothing lost to the refused writer
    RunStore.resume(out.folder).close()  # released: the next writer gets it


def test_the_lock_of_a_killed_writer_does_not_block(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    code = (
        f"import sys, time; sys.path.insert(0, {str(ROOT)!r}); from gpubench.store import lock_run_folder; "
        f"lock = lock_run_folder({str(folder)!r}); print('locked', flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(StorageError, match=f"pid {proc.pid}"):
            lock_run_folder(folder)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    lock_run_folder(folder).close()  # SIGKILL released it: no stale lock


# ------------------------------------------------------------------------------ 2. distributed skipped case


def test_distributed_telemetry_tagging_of_a_case_without_timing_window():
    import torch

    from gpubench.distributed.context import DistContext
    from gpubench.distributed.rank import _tagged

    ctx = DistContext(
        rank=1,
        world_size=2,
        local_rank=1,
        local_world_size=2,
        node="n0",
        backend="gloo",
        library="gloo",
        device=torch.device("cpu"),
        timeout_s=60.0,
    )
    frame = pd.DataFrame({"t_ns": [10, 20, 30], "power_w": [1.0, 2.0, 3.0]})
    skipped = _tagged(frame, "c[x=1]", {"status": "skipped", "start_ns": None, "end_ns": None}, ctx)
    assert skipped["case_id"].isna().all() and (skipped["rank"] == 1).all()
    timed = _tagged(frame, "c[x=2]", {"start_ns": 15, "end_ns": 30}, ctx)
    assert timed["case_id"].tolist() == [None, "c[x=2]", "c[x=2]"]


# ------------------------------------------------------------------------------ 3. resume continues one experiment


def _edit_meta(folder: Path, **changes) -> None:
    meta = read_meta(folder)
    for key, value in changes.items():
        section, _, field = key.partition("__")
        if field:
            meta.setdefault(section, {})[field] = value
        else:
            meta[section] = value
    write_json(folder / "run.json", meta)


@pytest.mark.parametrize(
    "changes, says",
    [
        ({"host": "elsewhere"}, "run on host 'elsewhere'"),
        ({"device__name": "NVIDIA H100 80GB HBM3"}, "run on 'NVIDIA H100 80GB HBM3'"),
        ({"suite__sha256": "f" * 64}, "was edited since"),
        ({"distributed": {"world_size": 2}}, "2 rank(s), this run has 1 (add --nproc 2)"),
    ],
)
def test_resume_of_another_experiment_is_refused_unless_forced(tmp_path, changes, says):
    suite = make_suite(tmp_path, 'benchmark = "t_ok"\nn = [1, 2]')
    first = run_suite(suite, opts(tmp_path, only=("t_ok[n=1]",)), registry=REG)
    _edit_meta(first.folder, **changes)
    with pytest.raises(GpubenchError, match="not the same experiment") as e:
        run_suite(suite, opts(tmp_path, resume=first.folder), registry=REG)
    assert says in str(e.value) and "--force-resume" in str(e.value)
    assert len(load_runs([first.folder])) == 1  # untouched
    out = run_suite(suite, opts(tmp_path, resume=first.folder, force_resume=True), registry=REG)
    assert [r["case_id"] for r in out.rows] == ["t_ok[n=2]"]
    meta = read_meta(first.folder)
    assert says in meta["forced_resumes"][0]["differences"][0] and meta["status"] == "complete"
    df = load_runs([first.folder])
    # rows name the device that measured them, not the one in run.json
    assert (df["device_name"] == out.rows[0]["device_name"]).all()


def test_resume_retries_skipped_cases(tmp_path):
    state = {"skip": True}

    def sometimes(case, device):
        if state["skip"]:
            raise Unsupported("needs a library that is not installed")
        return Workload(step=lambda: sum(range(100)), work=Work(1.0, "sample"))

    reg = {**REG, "t_maybe": Benchmark("t_maybe", 1, sometimes, {"n": Param(int, default=1)})}
    text = suite_text('benchmark = "t_ok"', 'benchmark = "t_maybe"')
    suite = parse_suite(text, "t.toml", reg)
    first = run_suite(suite, opts(tmp_path), registry=reg)
    assert [r["status"] for r in first.rows] == ["ok", "skipped"]
    state["skip"] = False
    again = run_suite(suite, opts(tmp_path, resume=first.folder), registry=reg)
    assert [(r["case_id"], r["status"]) for r in again.rows] == [("t_maybe[n=1]", "ok")]
    assert sorted(load_runs([first.folder])["status"]) == ["ok", "ok"]


# ------------------------------------------------------------------------------ 4. file-system errors


def test_bad_output_paths_are_one_line(tmp_path):
    suite = tmp_path / "t.toml"
    suite.write_text(suite_text('benchmark = "matmul"\ndtype = "fp32"\nm = 16'))
    a_file = tmp_path / "file"
    a_file.write_text("x")
    base = ["run", str(suite), "--device", "cpu", "--telemetry", "off", "--idle-s", "0"]
    assert "is a file, not a folder" in one_line_error(cli.invoke(app, [*base, "--out", str(a_file)]))
    assert str(a_file / "sub") in one_line_error(cli.invoke(app, [*base, "--out", str(a_file / "sub")]))
    assert "/proc/gpubench-x" in one_line_error(cli.invoke(app, [*base, "--out", "/proc/gpubench-x"]))
    assert list(tmp_path.glob("**/.*.tmp")) == []


def test_report_to_a_bad_path_is_one_line(tmp_path):
    out = run_suite(make_suite(tmp_path, 'benchmark = "t_ok"'), opts(tmp_path), registry=REG)
    res = cli.invoke(app, ["report", str(out.folder), "-o", "/proc/nope/r.html"])
    assert "/proc/nope" in one_line_error(res)
    res = cli.invoke(app, ["report", str(out.folder), "-o", str(tmp_path)])
    assert "is a folder" in one_line_error(res)


def test_a_full_disk_keeps_every_finished_case(tmp_path, monkeypatch):
    import gpubench.store as store

    real = store.os.fsync
    writes = {"n": 0}

    def fsync(fd):
        writes["n"] += 1
        if writes["n"] > 4:  # run.json twice, then two cases' measurements: then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd)

    monkeypatch.setattr(store.os, "fsync", fsync)
    suite = make_suite(tmp_path, 'benchmark = "t_ok"\nn = [1, 2, 3, 4]')
    with pytest.raises(StorageError, match="the disk is full: cannot write .*measurements.parquet") as e:
        run_suite(suite, opts(tmp_path), registry=REG)
    assert "the 2 case(s) finished before are kept" in str(e.value)
    monkeypatch.setattr(store.os, "fsync", real)
    folder = next((tmp_path / "results").iterdir())
    assert list(load_runs([folder])["case_id"]) == ["t_ok[n=1]", "t_ok[n=2]"]
    assert list(folder.glob(".*.tmp")) == []


# ------------------------------------------------------------------------------ 5, 6. markup and terminal escapes


def test_markup_in_user_text_is_printed_as_written(tmp_path):
    res = cli.invoke(app, ["run", str(tmp_path / "[bold]x[/bold].toml")])
    assert "[bold]x[/bold].toml" in one_line_error(res)
    suite = tmp_path / "t.toml"
    suite.write_text(suite_text('benchmark = "matmul"\ndtype = "fp32"\nm = 8'))
    res = cli.invoke(app, ["run", str(suite), "--device", "cpu", "--only", "[red]nothing[/"])
    assert "--only [red]nothing[/ matches no case" in one_line_error(res)
    res = cli.invoke(app, ["specs", "--match", "[/]"])
    assert "'[/]' matches no catalog entry" in one_line_error(res)


def test_terminal_escapes_in_run_folders_are_not_printed_raw(tmp_path):
    from fixtures_runs import write_run

    evil = "\x1b]0;pwned\x07\x1b[2J"
    a = write_run(tmp_path, "h100", host="a", device_name=f"H100 {evil}", seed=1)
    b = write_run(tmp_path, "h100", host=f"b{evil}", device_name=f"H100 {evil}", seed=2)
    for args in (["compare", str(a), str(b)], ["recommend", str(a), str(b), "--workload", "matmul/bf16"]):
        res = cli.invoke(app, args)
        assert res.exit_code in (0, 1), res.output
        assert "\x1b" not in res.output and "\x07" not in res.output, args
    from gpubench.cli.common import escape

    assert escape(evil).startswith("\\x1b]0;pwned\\x07\\x1b") and "\x1b" not in escape(evil)


# ------------------------------------------------------------------------------ 7. validation gaps


@pytest.mark.parametrize(
    "entry, says",
    [
        ('benchmark = "matmul"\ndtype = "fp32"\nm = 9223372036854775807\nn = 1\nk = 1', None),
        ('benchmark = "t_ok"\nn = -9223372036854775808', "does not fit in a 64-bit integer"),
        ('benchmark = "t_ok"\nn = {range = [1, 1000000000, 1]}', "1,000,000,000 values; at most"),
        ('benchmark = "t_ok"\nmax_reps = 0', "max_reps: must be >= 1"),
        ('benchmark = "t_ok"\nmin_reps = 0', "min_reps: must be >= 1"),
        ('benchmark = "t_ok"\nmin_reps = 10\nmax_reps = 5', "max_reps 5 is below min_reps 10"),
        ('benchmark = "t_ok"\nmax_time_s = nan', "expected a finite number"),
        ('benchmark = "t_ok"\nmax_warmup_s = inf', "expected a finite number"),
    ],
)
def test_out_of_range_suite_values(entry, says):
    if says is None:
        parse_suite(suite_text(entry), "x.toml", REG)  # int64 max itself is fine
        return
    with pytest.raises(SuiteError, match=says):
        parse_suite(suite_text(entry), "x.toml", REG)


def test_a_grid_of_millions_of_cases_is_refused_with_its_size():
    entry = 'benchmark = "matmul"\ndtype = "fp32"\nm = {range = [1, 3000, 1]}\nn = {range = [1, 3000, 1]}'
    with pytest.raises(SuiteError, match=f"expands to 9,000,000 cases; at most {MAX_CASES:,}"):
        parse_suite(suite_text(entry), "x.toml", REG)


@pytest.mark.parametrize("seconds", ["-1", "nan", "inf"])
def test_monitor_rejects_bad_durations(seconds):
    assert "--seconds" in one_line_error(cli.invoke(app, ["monitor", "--device", "cpu", "--seconds", seconds]))


def test_non_utf8_prices_and_edited_result_files(tmp_path):
    from fixtures_runs import write_run

    a = write_run(tmp_path, "h100", host="a", seed=1)
    b = write_run(tmp_path, "h100", host="b", seed=2)
    prices = tmp_path / "p.csv"
    prices.write_bytes(b"device,new_usd\nH100 \xff\xfe,30000\n")
    res = cli.invoke(app, ["recommend", str(a), "--workload", "matmul/bf16", "--prices", str(prices)])
    assert "not UTF-8" in one_line_error(res)
    mpath = b / "measurements.parquet"
    frame = pd.read_parquet(mpath)
    frame.assign(work_per_step=frame["work_per_step"].astype(str)).to_parquet(mpath)
    assert "measurements.parquet: work_per_step: holds str values, not numbers" in one_line_error(
        cli.invoke(app, ["compare", str(a), str(b)])
    )
    frame.drop(columns=["case_id"]).to_parquet(mpath)
    assert "measurements.parquet: case_id: missing column" in one_line_error(
        cli.invoke(app, ["compare", str(a), str(b)])
    )


# ------------------------------------------------------------------------------ 8. SIGTERM


def test_sigterm_keeps_finished_cases_and_marks_the_run_interrupted(tmp_path):
    (tmp_path / "s.toml").write_text(
        'name = "s"\n[defaults]\nwarmup_s = 0\nmin_warmup = 1\nmax_warmup_s = 0.1\nmin_reps = 3\nmin_time_s = 0\n'
        'max_time_s = 1\n[[benchmarks]]\nbenchmark = "memory"\nkind = "d2d"\nsize_bytes = 65536\n'
        '[[benchmarks]]\nbenchmark = "memory"\nkind = "d2d"\nsize_bytes = 131072\nmin_reps = 100000000\n'
        "max_reps = 100000000\nmin_time_s = 120\nmax_time_s = 120\n"
    )
    cmd = [
        sys.executable,
        "-m",
        "gpubench.cli",
        "run",
        "s.toml",
        "--device",
        "cpu",
        "--telemetry",
        "off",
        "--out",
        "res",
    ]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while not list((tmp_path / "res").glob("*/measurements.parquet")) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(0.5)  # inside the second, two-minute case
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 143, output
    assert "terminated (SIGTERM): 1 finished case(s) kept; continue with --resume" in output
    assert "Traceback" not in output
    folder = next((tmp_path / "res").iterdir())
    assert read_meta(folder)["status"] == "interrupted"
    assert list(load_runs([folder])["size_bytes"]) == [65536]


# ------------------------------------------------------------------------------ 9. telemetry across a resume


def test_resume_keeps_the_telemetry_recorded_before(tmp_path):
    store = RunStore.create(tmp_path, {"host": "h", "device": {"name": "cpu x", "vendor": "cpu"}})
    store.write_telemetry(pd.DataFrame({"t_ns": [1, 2], "power_w": [10.0, 11.0], "case_id": ["a", "a"]}))
    store.finish("interrupted")
    store.close()
    again = RunStore.resume(store.folder)
    again.write_telemetry(pd.DataFrame({"t_ns": [5, 6], "power_w": [12.0, 13.0], "case_id": ["b", None]}))
    again.write_telemetry(pd.DataFrame({"t_ns": [5, 6, 7], "power_w": [12.0, 13.0, 14.0], "case_id": ["b"] * 3}))
    again.close()
    tel = load_telemetry([store.folder])
    assert tel["t_ns"].tolist() == [1, 2, 5, 6, 7] and tel["case_id"].tolist() == ["a", "a", "b", "b", "b"]


# ------------------------------------------------------------------------------ 10. suites ship in the package


def test_suites_live_in_the_package_and_user_suites_come_first(tmp_path, monkeypatch):
    import gpubench

    assert Path(gpubench.__file__).parent / "suites" == SUITES_DIR
    assert (SUITES_DIR / "quick.toml").is_file()
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"suites/*.toml"' in pyproject  # package-data ships them in the wheel
    monkeypatch.chdir(tmp_path)
    assert find_suite("quick") == SUITES_DIR / "quick.toml"
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "quick.toml").write_text(suite_text('benchmark = "t_ok"'))
    (tmp_path / "suites" / "mine.toml").write_text(suite_text('benchmark = "t_ok"'))
    assert find_suite("quick") == Path("suites/quick.toml").absolute()
    assert find_suite("mine") == Path("suites/mine.toml").absolute()


# ------------------------------------------------------------------------------ 11. time limits include the flush


class FlushTimer:
    """A fake device: each step takes `step_s` of timed work after an untimed `reset_s` flush; `now` is wall time."""

    def __init__(self, step_s: float, reset_s: float) -> None:
        self.step_s, self.reset_s, self.now, self.steps = step_s, reset_s, 0.0, 0

    def clock(self) -> float:
        return self.now

    def burst(self, step, n, reset=None):
        self.now += n * (self.step_s + self.reset_s)
        self.steps += n
        return [self.step_s] * n


def test_time_limits_bound_wall_time_with_the_flush():
    w = Workload(step=lambda: None, work=Work(1.0, "flop"), reset=lambda: None)
    timing = Timing(warmup_s=0.05, min_warmup=2, max_warmup_s=1.0, min_reps=5, min_time_s=0.1, max_time_s=2.0)
    timer = FlushTimer(step_s=0.001, reset_s=0.3)
    warm_up(timer, w, timing, clock=timer.clock)
    assert timer.now <= 1.0 + 0.3 + 0.001  # at most one step past the limit (sized by step time: 50 steps, 15 s)
    timer.now = 0.0
    times = measure(timer, w, timing, clock=timer.clock)
    assert timer.now <= 2.0 + 0.3 + 0.001 and len(times) >= 5
    assert all(t == 0.001 for t in times)  # what is measured is unchanged: the step, not the flush


def test_a_case_short_of_min_reps_is_flagged_and_cpu_fp8_says_emulated(tmp_path):
    text = suite_text(
        'benchmark = "matmul"\ndtype = ["fp8", "fp32"]\nm = 64\nmin_reps = 100000\nmax_reps = 100000\n'
        "min_time_s = 0\nmax_time_s = 0.05"
    )
    out = run_suite(parse_suite(text, "t.toml", REG), opts(tmp_path), registry=REG)
    rows = {r["dtype"]: r for r in out.rows}
    assert rows["fp8"]["status"] == "ok" and rows["fp8"]["emulated"] is True
    assert "software" in rows["fp8"]["emulation"]
    assert rows["fp32"].get("emulated") is None
    assert rows["fp32"]["min_reps_reached"] is False and rows["fp32"]["n_reps"] < 100000
    df = load_runs([out.folder])
    assert df.set_index("dtype").loc["fp8", "emulated"] == True  # noqa: E712
    assert df.set_index("dtype").loc["fp32", "min_reps_reached"] == False  # noqa: E712


# ------------------------------------------------------------------------------ issue 26: round three


def _handler_installed(pid: int, sig: int) -> bool:
    """Whether process `pid` catches `sig` (its SigCgt mask in /proc)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigCgt:"):
                return bool(int(line.split()[1], 16) >> (sig - 1) & 1)
    except OSError:
        pass
    return False


def test_sigterm_during_setup_exits_143_with_its_message(tmp_path):
    """Defect 4: SIGTERM before the case loop (imports, device resolution) is not Typer's silent 130."""
    cmd = [sys.executable, "-m", "gpubench.cli", "run", "quick", "--device", "cpu", "--telemetry", "off"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while not _handler_installed(proc.pid, signal.SIGTERM) and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 143, output
    assert "terminated (SIGTERM)" in output and "Traceback" not in output


def test_a_keyboard_interrupt_in_a_command_is_one_line():
    from gpubench.cli.common import SigTerm, handle_errors

    app_ = typer.Typer()

    @app_.command()
    @handle_errors
    def setup(term: bool = False) -> None:
        raise SigTerm() if term else KeyboardInterrupt()

    assert "terminated (SIGTERM)" in one_line_error(cli.invoke(app_, ["--term"]), 143)
    assert "interrupted" in one_line_error(cli.invoke(app_, []), 130)


def _gpubench_shell(script: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    full = {**_env(), **env}
    return subprocess.run(["sh", "-c", script], cwd=tmp_path, env=full, capture_output=True, text=True, timeout=120)


def test_streams_a_user_may_hand_gpubench(tmp_path):
    """Defect 18/21: a closed stdout, `| head` (broken pipe), COLUMNS=0, a Latin-1 stdout with "€" in a path."""
    py = f"{sys.executable} -m gpubench.cli"
    closed = _gpubench_shell(f"{py} specs >&-; echo rc=$?", tmp_path)
    assert "rc=0" in closed.stdout and "Traceback" not in closed.stderr, closed.stderr
    piped = _gpubench_shell(f"{py} specs | head -1 >/dev/null; echo rc=${{PIPESTATUS:-0}}", tmp_path)
    assert "Broken pipe" not in piped.stderr and "Traceback" not in piped.stderr and "error" not in piped.stderr
    narrow = _gpubench_shell(f"{py} specs", tmp_path, COLUMNS="0")
    assert narrow.returncode == 0 and "h100" in narrow.stdout
    from fixtures_runs import write_run

    run = write_run(tmp_path / "€ runs", "h100")
    latin = _gpubench_shell(f"{py} report '{run}' --format csv -o €.csv", tmp_path, PYTHONIOENCODING="latin-1")
    assert latin.returncode == 0 and "Traceback" not in latin.stderr, latin.stderr
    assert "report: \\u20ac.csv" in latin.stdout and (tmp_path / "€.csv").exists(), latin.stdout


def test_interrupts_at_interpreter_exit_are_ignored():
    """Defect 20: after the command, Ctrl-C while torch's atexit handlers run prints no traceback."""
    from gpubench.cli.common import on_exit_ignore_interrupts

    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    try:
        on_exit_ignore_interrupts()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before[0])
        signal.signal(signal.SIGTERM, before[1])


def test_report_output_paths(tmp_path):
    """Defects 1, 7, 19: -o '' is one line; - is stdout; /dev/null stays a device; a symlink keeps pointing."""
    from fixtures_runs import write_run

    run = write_run(tmp_path, "h100")
    assert "-o ''" in one_line_error(cli.invoke(app, ["report", str(run), "-o", ""]))
    res = cli.invoke(app, ["report", str(run), "--format", "csv", "-o", "-"])
    assert res.exit_code == 0 and res.stdout.startswith("series,device")
    assert cli.invoke(app, ["report", str(run), "--format", "md", "-o", "/dev/null"]).exit_code == 0
    assert Path("/dev/null").is_char_device()
    target = tmp_path / "t.md"
    target.write_text("stale")
    (tmp_path / "l.md").symlink_to(target)
    assert cli.invoke(app, ["report", str(run), "--format", "md", "-o", str(tmp_path / "l.md")]).exit_code == 0
    assert (tmp_path / "l.md").is_symlink() and target.read_text().startswith("## ")


def test_sigterm_during_a_report_write_leaves_no_temporary_file(tmp_path):
    """Defect 21: a SIGTERM while the report is being written removes the hidden temporary file."""
    from fixtures_runs import write_run

    run = write_run(tmp_path, "h100")
    script = (
        "import os, signal, sys\n"
        "import gpubench.output as o\n"
        "real = o.os.replace\n"
        "def slow(a, b):\n"
        "    if os.path.basename(os.path.dirname(os.path.abspath(b))) == 'out':  # the report, not a cache file\n"
        "        os.kill(os.getpid(), signal.SIGTERM)\n"
        "    return real(a, b)\n"
        "o.os.replace = slow\n"
        "from gpubench.cli import main\n"
        f"sys.argv = ['gpubench', 'report', {str(run)!r}, '-o', 'out/r.html']\n"
        "main()\n"
    )
    res = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=_env(), capture_output=True, text=True)
    assert res.returncode == 143 and "terminated (SIGTERM)" in res.stderr, res.stderr
    assert list((tmp_path / "out").iterdir()) == []


def test_compare_counts_a_repeated_run_once(tmp_path):
    """Defect 2: A A A --vs B B B is A vs B, with a note; so are copies of one run."""
    import shutil

    from fixtures_runs import write_run

    a = write_run(tmp_path, "h100", host="a", seed=1, rounds=3, round_sigma=0.05)
    b = write_run(tmp_path, "h100", host="b", seed=2, rounds=3, round_sigma=0.05, speed=0.97)
    copy = shutil.copytree(a, tmp_path / "copy")
    once = cli.invoke(app, ["compare", str(a), str(b), "--json"])
    many = cli.invoke(app, ["compare", str(a), str(a), str(copy), "--vs", str(b), str(b), "--json"])
    assert many.exit_code == once.exit_code
    assert json.loads(many.stdout)["cases"] == json.loads(once.stdout)["cases"]
    assert "counted once" in many.output


def test_paths_with_glob_characters_are_paths(tmp_path):
    """Defect 5: `results/h100 [old]` opens, and so does the folder holding it."""
    from fixtures_runs import write_run

    run = write_run(tmp_path / "h100 [old]", "h100")
    assert cli.invoke(app, ["report", str(run), "--format", "csv", "-o", str(tmp_path / "a.csv")]).exit_code == 0
    assert cli.invoke(app, ["report", str(tmp_path), "--format", "csv", "-o", str(tmp_path / "b.csv")]).exit_code == 0


def test_recommend_on_a_run_with_no_ok_case(tmp_path):
    """Defect 6: one line that helps, not 'call gpubench.load_runs'."""
    from fixtures_runs import write_run

    run = write_run(tmp_path, "h100")
    path = run / "measurements.parquet"
    frame = pd.read_parquet(path)
    frame.assign(status="failed", throughput=float("nan")).to_parquet(path)
    line = one_line_error(cli.invoke(app, ["recommend", str(run), "-w", "matmul/bf16"]))
    assert "no case succeeded" in line and "load_runs" not in line


def test_a_fifo_measurements_file_does_not_hang_report(tmp_path):
    """Defect 10."""
    from fixtures_runs import write_run

    run = write_run(tmp_path, "h100")
    (run / "measurements.parquet").unlink()
    os.mkfifo(run / "measurements.parquet")
    assert "FIFO" in one_line_error(cli.invoke(app, ["report", str(run), "-o", str(tmp_path / "r.html")]))


def test_resume_clears_the_last_error_and_counts_every_kept_case(tmp_path):
    """Defect 21: a stale 'disk is full' leaves run.json on a good resume; an interrupted resume counts all."""
    from gpubench.cli.run import _cases_kept

    suite = make_suite(tmp_path, 'benchmark = "t_ok"\nn = [1, 2]')
    out = run_suite(suite, opts(tmp_path), registry=REG)
    store = RunStore.resume(out.folder)
    store.finish("failed", error="the disk is full: cannot write x")
    store.close()
    again = run_suite(suite, opts(tmp_path, resume=out.folder), registry=REG)
    assert "error" not in read_meta(again.folder) and read_meta(again.folder)["status"] == "complete"
    assert _cases_kept(again.folder, 0) == 2


def test_a_failed_resume_of_a_bad_run_json_writes_nothing(tmp_path):
    """Defect 13: a run.json of the wrong shape is refused before the folder is touched."""
    suite = make_suite(tmp_path, 'benchmark = "t_ok"\nn = 1')
    out = run_suite(suite, opts(tmp_path), registry=REG)
    meta = read_meta(out.folder)
    meta["device"] = "x"
    write_json(out.folder / "run.json", meta)
    before = (out.folder / "run.json").read_text()
    with pytest.raises(GpubenchError, match="run.json: device: not a table"):
        run_suite(suite, opts(tmp_path, resume=out.folder), registry=REG)
    assert (out.folder / "run.json").read_text() == before


@pytest.mark.parametrize(
    "args, says",
    [
        (["--only", "nomatch*"], "--only nomatch* matches no case"),
        (["--nnodes", "abc"], "--nnodes 'abc'"),
        (["--dist-timeout-s", "1e300"], "--dist-timeout-s 1e+300"),
        (["--out", "afile"], "--out afile: a file"),
        (["--master-port", "70000"], "--master-port 70000"),
    ],
)
def test_bad_input_for_ranks_is_found_before_launch(tmp_path, monkeypatch, args, says):
    """Defect 12: what a rank would find is one line and exit 2, before torchrun starts."""
    import gpubench.distributed.launch as launch

    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("")
    (tmp_path / "s.toml").write_text(suite_text('benchmark = "matmul"\ndtype = "fp32"\nm = 8'))
    monkeypatch.setattr(launch, "launch", lambda *a, **k: pytest.fail("launched"))
    res = cli.invoke(app, ["run", "s.toml", "--nproc", "2", "--device", "cpu", *args])
    assert says in one_line_error(res)


def test_resume_with_another_rank_count_is_refused_before_launch(tmp_path, monkeypatch):
    import gpubench.distributed.launch as launch

    suite = make_suite(tmp_path, 'benchmark = "t_ok"\nn = 1')
    out = run_suite(suite, opts(tmp_path), registry=REG)
    monkeypatch.setattr(launch, "launch", lambda *a, **k: pytest.fail("launched"))
    (tmp_path / "s.toml").write_text(suite_text('benchmark = "matmul"\ndtype = "fp32"\nm = 8'))
    res = cli.invoke(
        app, ["run", str(tmp_path / "s.toml"), "--nproc", "2", "--device", "cpu", "--resume", str(out.folder)]
    )
    assert "the run has 1 rank(s), this launch 2" in one_line_error(res)


FAKE_TORCHRUN = """
import os, signal, sys, time
out = sys.argv[1]
def on_int(signum, frame):
    open(out, "w").write("SIGINT")
    sys.exit(0)
signal.signal(signal.SIGINT, on_int)
open(out + ".started", "w").write(str(os.getpid()))
time.sleep(60)
"""


def _fake_torchrun(monkeypatch, tmp_path):
    import gpubench.distributed.launch as launch

    (tmp_path / "fake.py").write_text(FAKE_TORCHRUN)
    marker = tmp_path / "got"
    monkeypatch.setattr(
        launch, "torchrun_command", lambda *a, **k: [sys.executable, str(tmp_path / "fake.py"), str(marker)]
    )
    return launch, marker


def test_the_launcher_forwards_sigterm_to_torchrun_and_waits(tmp_path, monkeypatch):
    """Defect 3: SIGTERM to `gpubench run --nproc` reaches torchrun (as SIGINT: the ranks keep their cases and
    say interrupted), is waited for, and the launcher ends with 143 and no temporary state folder."""
    import threading

    launch, marker = _fake_torchrun(monkeypatch, tmp_path)
    made = []
    real_mkdtemp = launch.tempfile.mkdtemp
    monkeypatch.setattr(launch.tempfile, "mkdtemp", lambda **k: made.append(real_mkdtemp(**k)) or made[-1])

    def send_when_started() -> None:
        deadline = time.monotonic() + 30
        while not Path(f"{marker}.started").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=send_when_started, daemon=True).start()
    result = launch.launch(["run"], 2)
    assert marker.read_text() == "SIGINT" and result.interrupted and result.exit_code == 143
    assert made and not Path(made[0]).exists()


def test_torchrun_gets_sigint_when_the_launcher_is_killed(tmp_path):
    """No orphan ranks even after SIGKILL of the launcher (Linux: the parent-death signal)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux only")
    (tmp_path / "fake.py").write_text(FAKE_TORCHRUN)
    marker = tmp_path / "got"
    script = (
        "import sys\nimport gpubench.distributed.launch as l\n"
        f"l.torchrun_command = lambda *a, **k: [sys.executable, {str(tmp_path / 'fake.py')!r}, {str(marker)!r}]\n"
        "l.launch(['run'], 1)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], env=_env())
    deadline = time.monotonic() + 60
    while not Path(f"{marker}.started").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 30
    # The fake creates the file, then writes into it: wait for the words, not only the file.
    while not (marker.exists() and marker.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.read_text() == "SIGINT"


def test_torchruns_report_goes_to_the_log_and_the_ranks_lines_pass(tmp_path, capfd):
    import io

    from gpubench.distributed.launch import _StderrPump

    r, w = os.pipe()
    pump = _StderrPump(io.FileIO(r, closefd=True), tmp_path / "torchrun.log")
    os.write(
        w,
        b"AMD EPYC (cpu) - suite s: 2 case(s) to run\n"
        b"error: rank 1: --only x matches no case\n"
        b"E1206 12:00:00.000000 1 torch/distributed/elastic/multiprocessing/api.py:1] failed (exitcode: 2)\n"
        b'Traceback (most recent call last):\n  File "run.py", line 1\n'
        b"torch.distributed.elastic.multiprocessing.errors.ChildFailedError:\n====\n",
    )
    os.close(w)
    pump.join()
    shown = capfd.readouterr().err
    assert "error: rank 1" in shown and "suite s" in shown
    assert "Traceback" not in shown and "ChildFailedError" not in shown and "E1206" not in shown
    assert "ChildFailedError" in (tmp_path / "torchrun.log").read_text()
