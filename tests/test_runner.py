import json
import math
import subprocess
import sys
from dataclasses import replace

import pytest
from fakebench import FAKES, suite_text

from gpubench.benchmarks import load_all
from gpubench.errors import GpubenchError, ResultFormatError
from gpubench.records import SCHEMA_VERSION
from gpubench.runner import RunOptions, run_suite
from gpubench.store import load_runs, read_meta
from gpubench.suite import parse_suite

REG = {**load_all(), **FAKES}


def make_suite(tmp_path, *entries):
    text = suite_text(*entries)
    path = tmp_path / "t.toml"
    path.write_text(text)
    return parse_suite(text, str(path), REG)


def opts(tmp_path, **kw):
    return RunOptions(device="cpu", out_dir=tmp_path / "results", telemetry="off", **kw)


def test_one_failure_never_loses_the_others(tmp_path):
    suite = make_suite(tmp_path, 'benchmark = "t_ok"\nn = [1, 2]', 'benchmark = "t_fail"', 'benchmark = "t_wrong"',
                       'benchmark = "t_skip"', 'benchmark = "t_ok"\nn = 3')  # fmt: skip
    out = run_suite(suite, opts(tmp_path), registry=REG)
    status = {r["case_id"]: r["status"] for r in out.rows}
    assert status == {"t_ok[n=1]": "ok", "t_ok[n=2]": "ok", "t_fail[n=1]": "failed", "t_wrong[n=1]": "wrong",
                      "t_skip[n=1]": "skipped", "t_ok[n=3]": "ok"}  # fmt: skip
    assert out.any_failed
    rows = {r["case_id"]: r for r in out.rows}
    assert rows["t_fail[n=1]"]["reason"] == "RuntimeError: boom: the device fell over"
    assert rows["t_skip[n=1]"]["reason"] == "this device has no such unit"
    assert "planted" in rows["t_wrong[n=1]"]["reason"]


def test_run_folder_round_trip(tmp_path):
    suite = make_suite(tmp_path, 'benchmark = "t_ok"\nn = [1, 2]', 'benchmark = "matmul"\ndtype = "fp32"\nm = 32',
                       'benchmark = "t_skip"')  # fmt: skip
    out = run_suite(suite, opts(tmp_path, command="gpubench run t.toml"), registry=REG)
    meta = read_meta(out.folder)
    assert meta["schema_version"] == SCHEMA_VERSION and meta["status"] == "complete"
    assert meta["suite"]["name"] == "t" and meta["command"] == "gpubench run t.toml"
    assert meta["device"]["vendor"] == "cpu" and meta["software"]["torch"]
    df = load_runs([out.folder])
    assert list(df["case_id"]) == [r["case_id"] for r in out.rows]
    mm = df[df.benchmark == "matmul"].iloc[0]
    assert mm["status"] == "ok" and mm["throughput_unit"] == "TFLOP/s"
    assert len(mm["times_s"]) == mm["n_reps"] >= 3
    assert mm["median_s"] == pytest.approx(sorted(mm["times_s"])[len(mm["times_s"]) // 2], rel=0.5)
    assert mm["throughput"] == pytest.approx(2 * 32**3 / mm["median_s"] / 1e12)
    assert mm["m"] == 32 and mm["dtype"] == "fp32" and mm["tf32"] == False  # noqa: E712
    assert json.loads(mm["params_json"]) == {"dtype": "fp32", "m": 32, "n": 32, "k": 32}
    assert mm["check_error"] < mm["check_tolerance"]
    skipped = df[df.status == "skipped"].iloc[0]
    assert math.isnan(skipped["throughput"])
    assert df["host"].notna().all() and df["torch_version"].notna().all()


def test_interrupted_run_keeps_finished_rows_and_resume_finishes(tmp_path):
    suite = make_suite(
        tmp_path, 'benchmark = "t_ok"\nn = [1, 2]', 'benchmark = "t_interrupt"', 'benchmark = "t_ok"\nn = 3'
    )
    out = run_suite(suite, opts(tmp_path), registry=REG)
    assert out.interrupted
    assert read_meta(out.folder)["status"] == "interrupted"
    assert list(load_runs(out.folder)["case_id"]) == ["t_ok[n=1]", "t_ok[n=2]"]

    # Resume with the interrupting case replaced: finished cases are not re-run.
    REG2 = {**REG, "t_interrupt": replace(FAKES["t_ok"], name="t_interrupt")}
    suite2 = parse_suite(suite_text('benchmark = "t_ok"\nn = [1, 2]', 'benchmark = "t_interrupt"', 'benchmark = "t_ok"\nn = 3'),
                         str(tmp_path / "t.toml"), REG2)  # fmt: skip
    before = {r["case_id"]: r["started_utc"] for r in load_runs(out.folder).to_dict("records")}
    out2 = run_suite(suite2, opts(tmp_path, resume=out.folder), registry=REG2)
    assert [r["case_id"] for r in out2.rows] == ["t_interrupt[n=1]", "t_ok[n=3]"]
    df = load_runs(out.folder)
    assert sorted(df["case_id"]) == ["t_interrupt[n=1]", "t_ok[n=1]", "t_ok[n=2]", "t_ok[n=3]"]
    after = dict(zip(df["case_id"], df["started_utc"], strict=True))
    assert after["t_ok[n=1]"] == before["t_ok[n=1]"]
    assert read_meta(out.folder)["status"] == "complete"


def test_resume_retries_failed_cases(tmp_path):
    suite = make_suite(tmp_path, 'benchmark = "t_fail"', 'benchmark = "t_ok"')
    out = run_suite(suite, opts(tmp_path), registry=REG)
    REG2 = {**REG, "t_fail": replace(FAKES["t_ok"], name="t_fail")}
    suite2 = parse_suite(suite_text('benchmark = "t_fail"', 'benchmark = "t_ok"'), "t.toml", REG2)
    out2 = run_suite(suite2, opts(tmp_path, resume=out.folder), registry=REG2)
    assert [r["case_id"] for r in out2.rows] == ["t_fail[n=1]"]
    assert set(load_runs(out.folder)["status"]) == {"ok"}


def test_only_selects_by_glob(tmp_path):
    suite = make_suite(tmp_path, 'benchmark = "t_ok"\nn = [1, 2, 13]', 'benchmark = "t_skip"')
    out = run_suite(suite, opts(tmp_path, only=("t_ok[n=1*",)), registry=REG)
    assert [r["case_id"] for r in out.rows] == ["t_ok[n=1]", "t_ok[n=13]"]
    out = run_suite(suite, opts(tmp_path, only=("t_skip",)), registry=REG)
    assert [r["case_id"] for r in out.rows] == ["t_skip[n=1]"]
    with pytest.raises(GpubenchError, match="matches no case"):
        run_suite(suite, opts(tmp_path, only=("nothing*",)), registry=REG)


def test_run_folders_are_never_reused(tmp_path):
    suite = make_suite(tmp_path, 'benchmark = "t_ok"')
    a = run_suite(suite, opts(tmp_path), registry=REG).folder
    b = run_suite(suite, opts(tmp_path), registry=REG).folder
    assert a != b and a.exists() and b.exists()


def test_schema_version_checks(tmp_path):
    suite = make_suite(tmp_path, 'benchmark = "t_ok"')
    folder = run_suite(suite, opts(tmp_path), registry=REG).folder
    meta = json.loads((folder / "run.json").read_text())
    for version, fragment in ((SCHEMA_VERSION + 1, "newer gpubench"), (SCHEMA_VERSION - 1, "too old")):
        (folder / "run.json").write_text(json.dumps({**meta, "schema_version": version}))
        with pytest.raises(ResultFormatError, match=fragment):
            load_runs(folder)
    (folder / "run.json").write_text(json.dumps(meta))
    (folder / "measurements.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(ResultFormatError, match="damaged"):
        load_runs(folder)
    with pytest.raises(ResultFormatError, match="not a gpubench run folder"):
        (tmp_path / "empty").mkdir()
        load_runs(tmp_path / "empty")


def test_load_runs_does_not_import_torch(tmp_path):
    suite = make_suite(tmp_path, 'benchmark = "t_ok"')
    folder = run_suite(suite, opts(tmp_path), registry=REG).folder
    code = (
        "import sys, gpubench; df = gpubench.load_runs([sys.argv[1]]); import gpubench.cli; "
        "assert len(df) == 1; assert 'torch' not in sys.modules, 'torch imported'; print('ok')"
    )
    res = subprocess.run(
        [sys.executable, "-c", code, str(folder)], capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "ok"


def test_required_telemetry_missing_leaves_no_empty_run_folder(tmp_path, monkeypatch):
    import gpubench.telemetry as telemetry
    from gpubench.errors import BackendUnavailable

    def no_reader(device_info, mode="auto", **kw):
        raise BackendUnavailable("no CPU energy telemetry: planted")

    monkeypatch.setattr(telemetry, "open_reader", no_reader)
    suite = make_suite(tmp_path, 'benchmark = "t_ok"')
    options = RunOptions(device="cpu", out_dir=tmp_path / "results", telemetry="required")
    with pytest.raises(BackendUnavailable, match="planted"):
        run_suite(suite, options, registry=REG)
    assert list((tmp_path / "results").iterdir()) == []


def test_interrupt_before_the_first_case_marks_the_run(tmp_path, monkeypatch):
    import gpubench.telemetry as telemetry

    def interrupted(*a, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(telemetry, "measure_idle", interrupted)
    suite = make_suite(tmp_path, 'benchmark = "t_ok"')
    out = run_suite(suite, RunOptions(device="cpu", out_dir=tmp_path / "results", telemetry="auto", idle_s=1.0),
                    registry=REG)  # fmt: skip
    assert out.interrupted and out.rows == []
    assert read_meta(out.folder)["status"] == "interrupted"


def test_telemetry_series_carries_run_device_and_case(tmp_path):
    import pandas as pd

    suite = make_suite(tmp_path, 'benchmark = "matmul"\ndtype = "fp32"\nm = 64\nmin_time_s = 0.3')
    out = run_suite(suite, RunOptions(device="cpu", out_dir=tmp_path / "r", telemetry="auto", idle_s=0.2,
                                      sample_hz=50), registry=REG)  # fmt: skip
    series = pd.read_parquet(out.folder / "telemetry.parquet")
    assert {"t_ns", "run_id", "device_name", "case_id"} <= set(series.columns)
    assert (series["run_id"] == out.folder.name).all()
    inside = series[series["case_id"] == "matmul[dtype=fp32,m=64,n=64,k=64]"]
    row = out.rows[0]
    assert len(inside) >= 3
    assert inside["t_ns"].between(row["start_ns"], row["end_ns"]).all()


def test_the_loop_asks_its_strategy(tmp_path):
    """A distributed rank runs this same loop given another strategy (Lockstep): the loop meets the strategy
    before every case and stores the row its `record` returns; None (a rank other than the lead) stores nothing."""
    from gpubench.runner import Solo

    met = []

    class Marking(Solo):
        def before_case(self, planned):
            met.append(planned.case.id)

        def record(self, planned, row, runner, store):
            return None if planned.case.param("n") == 2 else {**row, "merged_by": "strategy"}

    suite = make_suite(tmp_path, 'benchmark = "t_ok"\nn = [1, 2, 3]')
    out = run_suite(suite, opts(tmp_path), registry=REG, how=Marking())
    assert met == ["t_ok[n=1]", "t_ok[n=2]", "t_ok[n=3]"]
    df = load_runs([out.folder])
    assert list(df["case_id"]) == ["t_ok[n=1]", "t_ok[n=3]"] and set(df["merged_by"]) == {"strategy"}
