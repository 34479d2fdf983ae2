import json
import re

import pytest
from fakebench import FAKES, suite_text
from typer.testing import CliRunner

import gpubench.benchmarks as benchmarks
from gpubench.cli import app

runner = CliRunner(env={"COLUMNS": "200"})


@pytest.fixture
def fakes(monkeypatch):
    benchmarks.load_all()
    for name, bench in FAKES.items():
        monkeypatch.setitem(benchmarks.REGISTRY, name, bench)


def write_suite(tmp_path, *entries):
    path = tmp_path / "t.toml"
    path.write_text(suite_text(*entries))
    return str(path)


def invoke(*args):
    return runner.invoke(app, list(args))


STARTING = re.compile(r"gpubench run \S+: starting PyTorch and the device \.\.\.")


def one_line_error(result, fragment, started=False):
    """One error line. `started`: the input is found wrong only once PyTorch and the device start (a device
    spelling, --only); in a log (not a terminal) `run` has printed its starting note before that, its first
    output within a second, and a bad option or suite never gets that far."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    if started:
        assert STARTING.fullmatch(lines[0]), result.output
        lines = lines[1:]
    assert len(lines) == 1, result.output
    assert fragment in lines[0]


def test_exit_0_when_all_ok_or_skipped(tmp_path, fakes):
    suite = write_suite(tmp_path, 'benchmark = "t_ok"', 'benchmark = "t_skip"')
    r = invoke("run", suite, "--device", "cpu", "--out", str(tmp_path / "res"), "--telemetry", "off")
    assert r.exit_code == 0, r.output
    assert "t_ok[n=1]" in r.output and "skipped" in r.output


@pytest.mark.parametrize("bad", ["t_fail", "t_wrong"])
def test_exit_1_when_a_case_failed_or_was_wrong(tmp_path, fakes, bad):
    suite = write_suite(tmp_path, 'benchmark = "t_ok"', f'benchmark = "{bad}"')
    r = invoke("run", suite, "--device", "cpu", "--out", str(tmp_path / "res"), "--telemetry", "off")
    assert r.exit_code == 1, r.output
    folders = list((tmp_path / "res").iterdir())
    assert len(folders) == 1 and (folders[0] / "measurements.parquet").exists()


def test_interrupt_exit_130_names_resume(tmp_path, fakes):
    suite = write_suite(tmp_path, 'benchmark = "t_ok"', 'benchmark = "t_interrupt"')
    r = invoke("run", suite, "--device", "cpu", "--out", str(tmp_path / "res"), "--telemetry", "off")
    assert r.exit_code == 130
    assert "--resume" in r.output and "1 finished case(s) kept" in r.output


@pytest.mark.parametrize(
    "args, fragment, started",
    [
        (["run", "nosuchsuite", "--device", "cpu"], "unknown suite 'nosuchsuite'", False),
        (["run", "quick", "--device", "tpu"], "unknown device 'tpu'", True),
        (["run", "quick", "--device", "cpu", "--telemetry", "maybe"], "--telemetry 'maybe'", False),
        (["run", "quick", "--device", "cpu", "--only", "zzz*", "--telemetry", "off"], "matches no case", True),
        (["run", "quick", "--device", "cpu", "--resume", "/nonexistent/run"], "no such run folder", False),
        (["run", "quick", "--device", "cpu", "--sample-hz", "0"], "--sample-hz", False),
    ],
)
def test_bad_input_is_one_line_exit_2(args, fragment, started, tmp_path):
    one_line_error(invoke(*args, "--out", str(tmp_path / "res")), fragment, started)


def test_cuda_without_gpu_is_one_line(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    one_line_error(
        invoke("run", "quick", "--device", "cuda:0", "--out", str(tmp_path)), "no CUDA/ROCm GPU", started=True
    )


def test_bad_suite_file_is_one_line(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[[benchmarks]]\nbenchmark = "matmul"\ndtype = "fp9"\nm = 8\n')
    one_line_error(invoke("run", str(path), "--device", "cpu"), "benchmarks[0].dtype: 'fp9' is not one of")


def test_devices_json_lists_the_cpu():
    r = invoke("devices", "--json")
    assert r.exit_code == 0
    found = json.loads(r.output)
    cpu = found[-1]
    assert cpu["vendor"] == "cpu" and cpu["threads"] >= 1 and isinstance(cpu["isa"], list)


def test_list_shows_benchmarks_and_suites():
    r = invoke("list", "--json")
    assert r.exit_code == 0
    data = json.loads(r.output)
    assert data["benchmarks"]["matmul"]["params"]["dtype"]["choices"][:2] == ["fp64", "fp32"]
    assert {"quick", "standard", "full"} <= set(data["suites"])


def test_only_and_resume_through_the_cli(tmp_path, fakes):
    suite = write_suite(tmp_path, 'benchmark = "t_ok"\nn = [1, 2]')
    out = tmp_path / "res"
    r = invoke("run", suite, "--device", "cpu", "--out", str(out), "--telemetry", "off", "--only", "t_ok[n=1]")
    assert r.exit_code == 0, r.output
    (folder,) = out.iterdir()
    r = invoke("run", suite, "--device", "cpu", "--telemetry", "off", "--resume", str(folder))
    assert r.exit_code == 0, r.output
    assert "1 case(s) to run, 1 already done" in r.output


def test_monitor_prints_readings_and_stops():
    r = invoke("monitor", "--device", "cpu", "--seconds", "0.3", "--hz", "10")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    header = next(i for i, line in enumerate(lines) if "sm_clock_mhz" in line)
    assert len(lines) - header - 1 >= 2  # at least two timed readings after the header


def test_monitor_rejects_bad_rate():
    one_line_error(invoke("monitor", "--device", "cpu", "--hz", "0"), "--hz")


def test_first_output_comes_before_torch_and_pydantic_only_when_validating(tmp_path):
    """`gpubench run` in a log prints its starting note before it imports torch (seconds); `--help` imports
    neither torch, pandas nor pydantic (the suite and run.json models load when a document is checked, as `list`
    does with every suite)."""
    import subprocess
    import sys

    def traced(*args):
        cmd = [sys.executable, "-X", "importtime", "-m", "gpubench.cli", *args]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)
        return done.stderr.splitlines()

    err = traced("run", "quick", "--device", "tpu", "--out", str(tmp_path / "res"))
    note = next(i for i, line in enumerate(err) if STARTING.fullmatch(line))
    torch_at = next(i for i, line in enumerate(err) if line.startswith("import time:") and line.endswith(" torch"))
    assert note < torch_at and "unknown device 'tpu'" in err[-1]
    for args, never in ((["--help"], {"torch", "pandas", "pydantic"}), (["list"], {"torch", "pandas"})):
        modules = {line.rsplit("|", 1)[-1].strip() for line in traced(*args) if line.startswith("import time:")}
        assert "gpubench.cli" in modules and not modules & never, args


@pytest.mark.parametrize("interrupt, code, said", [("term", 143, "terminated (SIGTERM)"), ("int", 130, "interrupted")])
def test_an_interrupt_while_the_command_line_is_parsed_says_so(monkeypatch, capsys, interrupt, code, said):
    """Typer makes a Ctrl-C or SIGTERM during its parsing (before any command runs) a silent exit 130; main
    names it and gives SIGTERM its 143."""
    import gpubench.cli as cli
    from gpubench.cli.common import SigTerm

    def typer_app():
        try:
            raise SigTerm() if interrupt == "term" else KeyboardInterrupt()
        except KeyboardInterrupt as e:
            raise SystemExit(130) from e  # what typer does with it

    monkeypatch.setattr(cli, "app", typer_app)
    monkeypatch.setattr(cli.signal, "signal", lambda *a: None)  # leave this process's handlers alone
    monkeypatch.setattr(cli, "on_exit_ignore_interrupts", lambda: None)
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == code and said in capsys.readouterr().err


@pytest.mark.parametrize("interrupt, code, said", [("term", 143, "terminated (SIGTERM)"), ("int", 130, "interrupted")])
def test_an_interrupt_inside_a_command_is_one_line_through_main(monkeypatch, capsys, interrupt, code, said):
    """Ctrl-C (or SIGTERM) while a command runs: handle_errors' one line and exit code, and main adds nothing
    (it used to follow the suppressed context back to the interrupt and print a second line)."""
    import typer

    import gpubench.cli as cli
    from gpubench.cli.common import SigTerm, handle_errors

    app_ = typer.Typer()

    @app_.command()
    @handle_errors
    def work() -> None:
        raise SigTerm() if interrupt == "term" else KeyboardInterrupt()

    monkeypatch.setattr(cli, "app", lambda: app_([], standalone_mode=True))
    monkeypatch.setattr(cli.signal, "signal", lambda *a: None)  # leave this process's handlers alone
    monkeypatch.setattr(cli, "on_exit_ignore_interrupts", lambda: None)
    with pytest.raises(SystemExit) as exited:
        cli.main()
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert exited.value.code == code and len(lines) == 1 and said in lines[0], lines


@pytest.mark.parametrize(
    ("argv", "preset", "expected"),
    [
        (["report", "x"], None, "1"),  # reads results: numpy with one BLAS thread (its threads cost start-up only)
        (["recommend"], None, "1"),
        (["report", "x"], "4", "4"),  # the user's own setting wins
        (["run", "quick"], None, None),  # benchmarks and what may start them keep every thread
        (["fleet", "run"], None, None),
        ([], None, None),
    ],
)
def test_commands_that_only_read_results_import_numpy_with_one_blas_thread(argv, preset, expected):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    if preset is not None:
        env["OPENBLAS_NUM_THREADS"] = preset
    code = (
        "import sys; sys.argv = ['gpubench', *sys.argv[1:]]; import gpubench.cli, os, numpy; "
        "print(os.environ.get('OPENBLAS_NUM_THREADS'))"
    )
    out = subprocess.run([sys.executable, "-c", code, *argv], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(expected)
