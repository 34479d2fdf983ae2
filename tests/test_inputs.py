"""gpubench.inputs: every input from outside checked at one boundary; each violation one line naming the file
and the field (issue 26)."""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
import threading

import pandas as pd
import pytest
from fakebench import FAKES
from fixtures_runs import write_run

from gpubench import inputs, store
from gpubench.benchmarks import load_all
from gpubench.errors import GpubenchError, ResultFormatError, SuiteError
from gpubench.store import expand_paths, load_runs, load_telemetry, read_meta
from gpubench.suite import parse_suite

REG = {**load_all(), **FAKES}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return write_run(tmp_path_factory.mktemp("runs"), "h100", host="a", seed=1)


def copy_run(run, tmp_path, name="r"):
    return shutil.copytree(run, tmp_path / name)


# ------------------------------------------------------------------------------------------------ suites

MATMUL = '[[benchmarks]]\nbenchmark = "matmul"\ndtype = "fp32"\n'


@pytest.mark.parametrize(
    "text, says",
    [
        ("x = " + "[" * 5000 + "]" * 5000, "nested deeper than"),
        ("x = " + "[" * 40 + "]" * 40, "nested deeper than 32"),
        ('[[benchmarks]]\nbenchmark = ["matmul"]\nm = 8', "benchmarks[0].benchmark: not a text"),
        (
            MATMUL + "m = {range = [1, 9223372036854775807, 1]}",
            "benchmarks[0].m.range: 9,223,372,036,854,775,807 values",
        ),
        (MATMUL + "m = 92233720368547758070", "benchmarks[0].m: 92233720368547758070 does not fit in a 64-bit"),
        (MATMUL + "m = [[8]]", "benchmarks[0].m: not a value, a list of values"),
        ("description = 3\n" + MATMUL + "m = 8", "description: not a text (got 3)"),
        ("[defaults]\nrounds = true\n" + MATMUL + "m = 8", "defaults.rounds: not a number (got True)"),
        (MATMUL + "m = 8\nlabel = 5", "benchmarks[0].label: not a text"),
        ("benchmarks = [1]", "benchmarks[0]: not a table"),
    ],
)
def test_hostile_suites_are_one_line_naming_the_key(text, says):
    with pytest.raises(SuiteError) as e:
        parse_suite(text, "s.toml", REG)
    assert str(e.value).startswith("s.toml: ") and says in str(e.value) and "\n" not in str(e.value)


def test_a_fifo_suite_is_refused_without_blocking(tmp_path):
    from gpubench.suite import load_suite

    fifo = tmp_path / "s.toml"
    os.mkfifo(fifo)
    with pytest.raises(SuiteError, match="s.toml"):  # refused (not a regular file), never read
        load_suite(str(fifo), REG)


# --------------------------------------------------------------------------------------------- run.json


@pytest.mark.parametrize(
    "change, says",
    [
        ({"device": "x"}, "run.json: device: not a table"),
        ({"suite": [1]}, "run.json: suite: not a table"),
        ({"telemetry": 5}, "run.json: telemetry: not a table"),
        ({"run_id": 5}, "run.json: run_id: not a text"),
        ({"device": {"name": "x", "power_limit_w": "300"}}, "run.json: device.power_limit_w: not a number"),
        ({"telemetry": {"power_limit_w": "300"}}, "run.json: telemetry.power_limit_w: not a number"),
        ({"device": {"memory_bytes": 10**30}}, "device.memory_bytes: 1000000000000000000000000000000 does not fit"),
        ({"schema_version": "2"}, "run.json: schema_version: not an integer (got '2')"),
        ({"schema_version": True}, "run.json: schema_version: not an integer (got True)"),
        ({"schema_version": 99}, "written by a newer gpubench"),
        ({"distributed": {"world_size": "two"}}, "distributed.world_size: not an integer"),
        ({"host": {"a": json.loads("[" * 40 + "]" * 40)}}, "nested deeper"),
    ],
)
def test_run_json_of_the_wrong_shape_is_one_line(run, tmp_path, change, says):
    folder = copy_run(run, tmp_path)
    meta = json.loads((folder / "run.json").read_text())
    meta.update(change)
    (folder / "run.json").write_text(json.dumps(meta))
    for load in (read_meta, load_runs, load_telemetry):
        with pytest.raises(ResultFormatError) as e:
            load(folder)
        assert says in str(e.value) and "\n" not in str(e.value)


def test_deeply_nested_json_is_refused_not_a_recursion_error(run, tmp_path):
    folder = copy_run(run, tmp_path)
    (folder / "run.json").write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(ResultFormatError, match="nested deeper"):
        read_meta(folder)


def test_a_permission_error_is_named_as_one():
    e = PermissionError(errno.EACCES, "Permission denied")
    assert "permission denied" in inputs.os_error_line("r/run.json", e)
    assert "damaged" not in inputs.os_error_line("r/run.json", e)


# ---------------------------------------------------------------------------------------------- Parquet


def _edit(folder, name, edit):
    path = folder / name
    edit(pd.read_parquet(path)).to_parquet(path)


@pytest.mark.parametrize(
    "edit, says",
    [
        (lambda f: f.drop(columns=["work_per_step"]), "work_per_step: missing column, but rows have status ok"),
        (lambda f: f.assign(m=f["m"].astype(str)), "measurements.parquet: m: holds str values, not whole numbers"),
        (lambda f: f.assign(work_per_step=-f["work_per_step"]), "work_per_step: negative value"),
        (
            lambda f: f.assign(times_s=f["times_s"].map(lambda t: None if t is None else [-x for x in t])),
            "times_s: negative value",
        ),
        (lambda f: f.assign(status="great"), "status: 'great' is not one of"),
        (lambda f: f.drop(columns=["case_id"]), "case_id: missing column"),
    ],
)
def test_measurements_of_the_wrong_shape_are_one_line(run, tmp_path, edit, says):
    folder = copy_run(run, tmp_path)
    _edit(folder, "measurements.parquet", edit)
    with pytest.raises(ResultFormatError) as e:
        load_runs(folder)
    assert says in str(e.value)


def test_telemetry_power_as_text_is_one_line(run, tmp_path):
    folder = copy_run(run, tmp_path)
    _edit(folder, "telemetry.parquet", lambda f: f.assign(power_w=f["power_w"].astype(str)))
    with pytest.raises(ResultFormatError, match="telemetry.parquet: power_w: holds str values"):
        load_telemetry(folder)


def test_an_infinite_throughput_is_never_a_value(run, tmp_path):
    folder = copy_run(run, tmp_path)
    _edit(folder, "measurements.parquet", lambda f: f.assign(work_per_step=math.inf))
    assert not load_runs(folder)["throughput"].map(math.isinf).any()


def test_a_fifo_parquet_is_refused_at_once(run, tmp_path):
    folder = copy_run(run, tmp_path)
    (folder / "measurements.parquet").unlink()
    os.mkfifo(folder / "measurements.parquet")
    done = []
    worker = threading.Thread(target=lambda: done.append(_raises(load_runs, folder)), daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert done and "FIFO" in done[0]


def _raises(fn, *args):
    try:
        fn(*args)
    except GpubenchError as e:
        return str(e)
    return ""


def test_a_truncated_parquet_is_damaged(run, tmp_path):
    folder = copy_run(run, tmp_path)
    data = (folder / "measurements.parquet").read_bytes()
    (folder / "measurements.parquet").write_bytes(data[: len(data) // 2])
    with pytest.raises(ResultFormatError, match="damaged"):
        load_runs(folder)


# ------------------------------------------------------------------------------------------- run folders


def test_existing_paths_are_never_globbed(run, tmp_path):
    odd = shutil.copytree(run, tmp_path / "h100 [old]")
    assert expand_paths([odd]) == [odd.resolve()]
    assert expand_paths([tmp_path]) == [odd.resolve()]  # a folder of runs holding one with brackets


def test_unique_runs_counts_a_folder_and_its_copies_once(run, tmp_path):
    copy = copy_run(run, tmp_path, "copy")
    folders, notes = store.unique_runs([run, run, copy], "A: ")
    assert folders == [run] and len(notes) == 2 and "counted once" in notes[0]


# ------------------------------------------------------------------------------------------------ prices


def test_a_huge_csv_field_is_one_line(tmp_path):
    from gpubench.advisor import load_prices

    path = tmp_path / "p.csv"
    path.write_text("device,new_usd\n" + "x" * 200_000 + ",1\n")
    with pytest.raises(GpubenchError, match="line .*field larger than field limit"):
        load_prices(path)


def test_a_deep_prices_toml_is_one_line(tmp_path):
    from gpubench.advisor import load_prices

    path = tmp_path / "p.toml"
    path.write_text("a = " + "[" * 3000 + "]" * 3000)
    with pytest.raises(GpubenchError, match="nested deeper"):
        load_prices(path)


# ---------------------------------------------------------------------------------------- numbers, env


@pytest.mark.parametrize(
    "name, value",
    [
        ("sample_hz", 1e-300),
        ("sample_hz", math.nan),
        ("idle_s", 1e300),
        ("idle_s", -1),
        ("hz", 1e-300),
        ("seconds", math.inf),
        ("kwh_price", math.inf),
        ("dist_timeout_s", 1e300),
        ("years", 0),
        ("hours_per_day", 25),
    ],
)
def test_numbers_outside_their_declared_bounds(name, value):
    with pytest.raises(GpubenchError, match=f"--{name.replace('_', '-')} "):
        inputs.check_numbers(**{name: value})


def test_numbers_inside_their_bounds_pass():
    inputs.check_numbers(sample_hz=20, idle_s=0, hz=1, seconds=0, kwh_price=0.15, dist_timeout_s=600, budget=None)


@pytest.mark.parametrize("value, ok", [("2", True), ("1:4", True), ("abc", False), ("0", False), ("4:1", False)])
def test_nnodes(value, ok):
    if ok:
        assert inputs.nnodes(value) == value
    else:
        with pytest.raises(GpubenchError, match="--nnodes"):
            inputs.nnodes(value)


LEFTOVER = {"TORCHELASTIC_RUN_ID": "x", "RANK": "0", "WORLD_SIZE": "2"}


def test_torchrun_variables_left_in_a_shell_do_not_make_a_rank():
    is_rank, note = inputs.rank_environment(LEFTOVER, parent_check=lambda pid: False)
    assert not is_rank and "not started by torchrun" in note
    assert inputs.rank_environment({**LEFTOVER, "GPUBENCH_DIST_CHILD": "1"}, parent_check=lambda pid: False)[0] is False


def test_a_process_torchrun_started_is_a_rank():
    assert inputs.rank_environment(LEFTOVER, parent_check=lambda pid: True) == (True, None)
    assert inputs.rank_environment({}, parent_check=lambda pid: True) == (False, None)


@pytest.mark.parametrize("value, width", [("0", None), ("-5", None), ("abc", None), ("120", 120), ("10", None)])
def test_terminal_columns(value, width):
    assert inputs.terminal_columns({"COLUMNS": value}) == width
