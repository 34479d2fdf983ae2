import json
import math
import subprocess
import sys
from dataclasses import replace

import pytest
from fakebench import FAKES, suite_text

from gpubench.benchmarks import load_all
from gpubench.errors import GpubenchError, ResultFormatError
from gpubench.records import MIN_READABLE_SCHEMA, SCHEMA_VERSION, CheckResult, Work, Workload
from gpubench.runner import RunEvents, RunOptions, run_suite
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
    suite = make_suite(
        tmp_path,
        'benchmark = "t_ok"\nn = [1, 2]',
        'benchmark = "t_fail"',
        'benchmark = "t_wrong"',
        'benchmark = "t_skip"',
        'benchmark = "t_ok"\nn = 3',
    )
    out = run_suite(suite, opts(tmp_path), registry=REG)
    status = {r["case_id"]: r["status"] for r in out.rows}
    assert status == {
        "t_ok[n=1]": "ok",
        "t_ok[n=2]": "ok",
        "t_fail[n=1]": "failed",
        "t_wrong[n=1]": "wrong",
        "t_skip[n=1]": "skipped",
        "t_ok[n=3]": "ok",
    }
    assert out.any_failed
    rows = {r["case_id"]: r for r in out.rows}
    assert rows["t_fail[n=1]"]["reason"] == "RuntimeError: boom: the device fell over"
    assert rows["t_skip[n=1]"]["reason"] == "this device has no such unit"
    assert "planted" in rows["t_wrong[n=1]"]["reason"]


def test_run_folder_round_trip(tmp_path):
    suite = make_suite(
        tmp_path,
        'benchmark = "t_ok"\nn = [1, 2]',
        'benchmark = "matmul"\ndtype = "fp32"\nm = 32',
        'benchmark = "t_skip"',
    )
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
    suite2 = parse_suite(
        suite_text('benchmark = "t_ok"\nn = [1, 2]', 'benchmark = "t_interrupt"', 'benchmark = "t_ok"\nn = 3'),
        str(tmp_path / "t.toml"),
        REG2,
    )
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
    for version, fragment in ((SCHEMA_VERSION + 1, "newer gpubench"), (MIN_READABLE_SCHEMA - 1, "too old")):
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
    res = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True, timeout=120)
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


class PowerReader:
    """A telemetry reader with power readings (`reason` None), or without them (`reason` says why)."""

    name = "fake"

    def __init__(self, reason=None):
        self.reason = reason

    def static_info(self):
        return {"reader": self.name, "reason": self.reason}

    def read(self):
        from gpubench.telemetry import nan_reading

        return {**nan_reading(), "power_w": math.nan if self.reason else 50.0}

    def close(self):
        pass


def test_interrupt_before_the_first_case_marks_the_run(tmp_path, monkeypatch):
    import gpubench.telemetry as telemetry

    def interrupted(*a, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(telemetry, "open_reader", lambda info, mode: (PowerReader(), None))
    monkeypatch.setattr(telemetry, "measure_idle", interrupted)
    suite = make_suite(tmp_path, 'benchmark = "t_ok"')
    out = run_suite(
        suite, RunOptions(device="cpu", out_dir=tmp_path / "results", telemetry="auto", idle_s=1.0), registry=REG
    )
    assert out.interrupted and out.rows == []
    assert read_meta(out.folder)["status"] == "interrupted"


def test_no_idle_window_without_power_readings(tmp_path, monkeypatch):
    """A reader that names why it has no power (a CPU without RAPL) gets no idle window: it would wait idle_s
    seconds to measure nothing. One with power readings is measured idle first."""
    import gpubench.telemetry as telemetry

    idle = []
    monkeypatch.setattr(telemetry, "measure_idle", lambda reader, seconds, hz: idle.append(seconds) or 40.0)
    suite = make_suite(tmp_path, 'benchmark = "t_ok"')
    for reason, power in (("no RAPL domains", None), (None, 40.0)):
        monkeypatch.setattr(telemetry, "open_reader", lambda info, mode, r=reason: (PowerReader(r), None))
        out = run_suite(
            suite, RunOptions(device="cpu", out_dir=tmp_path / "r", telemetry="auto", idle_s=5.0), registry=REG
        )
        assert read_meta(out.folder)["telemetry"]["idle_power_w"] == power
    assert idle == [5.0]


def test_telemetry_series_carries_run_device_and_case(tmp_path):
    import pandas as pd

    suite = make_suite(tmp_path, 'benchmark = "matmul"\ndtype = "fp32"\nm = 64\nmin_time_s = 0.3')
    out = run_suite(
        suite,
        RunOptions(device="cpu", out_dir=tmp_path / "r", telemetry="auto", idle_s=0.2, sample_hz=50),
        registry=REG,
    )
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


def _counting(name, interrupt_at_build=None, fail_at_build=None):
    """A fake benchmark that counts its builds and checks, and can raise Ctrl-C or fail at a given build."""
    calls = {"build": 0, "check": 0}

    def factory(case, device):
        calls["build"] += 1
        n = calls["build"]
        if n == fail_at_build:
            raise RuntimeError("planted failure")

        def step():
            if n == interrupt_at_build:
                raise KeyboardInterrupt
            sum(range(300))

        def check():
            calls["check"] += 1
            return CheckResult(0.0, 1e-6, "exact")

        return Workload(step=step, work=Work(1.0, "sample"), check=check)

    return replace(FAKES["t_ok"], name=name, factory=factory), calls


def test_cases_run_in_interleaved_rounds(tmp_path):
    bench, calls = _counting("t_count")
    reg = {**REG, "t_count": bench}
    text = suite_text('benchmark = "t_count"\nn = [1, 2]\nrounds = 3\nmin_reps = 7')
    suite = parse_suite(text, str(tmp_path / "t.toml"), reg)
    out = run_suite(suite, opts(tmp_path), registry=reg)
    assert [r["case_id"] for r in out.rows] == ["t_count[n=1]", "t_count[n=2]"]
    assert calls == {"build": 6, "check": 2}  # a fresh workload per round, one check per case
    df = load_runs(out.folder).set_index("case_id")
    a, b = df.loc["t_count[n=1]"], df.loc["t_count[n=2]"]
    for row in (a, b):
        assert row["rounds_n"] == 3 and len(row["round_sizes"]) == 3 and sum(row["round_sizes"]) == row["n_reps"]
        assert min(row["round_sizes"]) >= 3  # ceil(7 / 3) steps per round
        assert len(row["times_s"]) == row["n_reps"] and len(row["round_medians_s"]) == 3
        assert math.isfinite(row["round_cov"]) and row["status"] == "ok"
        assert (row["start_ns"], row["end_ns"]) == (row["round_start_ns"][-1], row["round_end_ns"][-1])
    # Round-robin: a1 < b1 < a2 < b2 < a3 < b3 in time.
    edges = sorted((lo, cid, i) for cid in df.index for i, lo in enumerate(df.loc[cid, "round_start_ns"]))
    assert [(cid[-3:-1], i) for _, cid, i in edges] == [
        ("=1", 0),
        ("=2", 0),
        ("=1", 1),
        ("=2", 1),
        ("=1", 2),
        ("=2", 2),
    ]
    # The rounds option overrides the suite's.
    out = run_suite(suite, opts(tmp_path, rounds=1), registry=reg)
    assert {r["rounds_n"] for r in out.rows} == {1}


def test_ctrl_c_in_a_later_round_keeps_earlier_rounds_and_resume_finishes_them(tmp_path):
    bench, calls = _counting("t_count", interrupt_at_build=3)  # round 2 of the first case
    reg = {**REG, "t_count": bench}
    text = suite_text('benchmark = "t_count"\nn = [1, 2]\nrounds = 3')
    suite = parse_suite(text, str(tmp_path / "t.toml"), reg)
    out = run_suite(suite, opts(tmp_path), registry=reg)
    assert out.interrupted and read_meta(out.folder)["status"] == "interrupted"
    first = load_runs(out.folder).set_index("case_id")
    assert list(first["rounds_n"]) == [1, 1]
    bench2, calls2 = _counting("t_count")
    reg2 = {**REG, "t_count": bench2}
    out2 = run_suite(
        parse_suite(text, str(tmp_path / "t.toml"), reg2), opts(tmp_path, resume=out.folder), registry=reg2
    )
    assert not out2.interrupted and calls2 == {"build": 4, "check": 0}  # two more rounds each, checked before
    done = load_runs(out.folder).set_index("case_id")
    for cid in first.index:
        assert done.loc[cid, "rounds_n"] == 3
        n1 = first.loc[cid, "n_reps"]
        assert list(done.loc[cid, "times_s"][:n1]) == list(first.loc[cid, "times_s"])  # round 1 kept as it was
        assert done.loc[cid, "started_utc"] == first.loc[cid, "started_utc"]
    # A finished run resumed with more rounds gets the extra rounds only.
    out3 = run_suite(
        parse_suite(text, str(tmp_path / "t.toml"), reg2), opts(tmp_path, resume=out.folder, rounds=4), registry=reg2
    )
    assert {r["rounds_n"] for r in out3.rows} == {4} and calls2["build"] == 6


def test_a_failed_later_round_fails_the_case_only(tmp_path):
    bench, _ = _counting("t_count", fail_at_build=3)  # round 2 of the first case
    reg = {**REG, "t_count": bench}
    suite = parse_suite(suite_text('benchmark = "t_count"\nn = [1, 2]\nrounds = 3'), str(tmp_path / "t.toml"), reg)
    out = run_suite(suite, opts(tmp_path), registry=reg)
    rows = {r["case_id"]: r for r in out.rows}
    assert rows["t_count[n=1]"]["status"] == "failed"
    assert rows["t_count[n=1]"]["reason"] == "round 2 of 3: RuntimeError: planted failure"
    assert rows["t_count[n=2]"]["status"] == "ok" and rows["t_count[n=2]"]["rounds_n"] == 3


def test_runs_from_before_rounds_still_load_as_one_round(tmp_path):
    suite = make_suite(tmp_path, 'benchmark = "t_ok"')
    folder = run_suite(suite, opts(tmp_path), registry=REG).folder
    meta = json.loads((folder / "run.json").read_text())
    (folder / "run.json").write_text(json.dumps({**meta, "schema_version": 1}))
    import pandas as pd

    frame = pd.read_parquet(folder / "measurements.parquet")
    frame.drop(columns=[c for c in frame.columns if c.startswith("round")]).to_parquet(folder / "measurements.parquet")
    row = load_runs(folder).iloc[0].to_dict()
    from gpubench import stats

    assert stats.round_times(row) == [list(row["times_s"])]


def test_telemetry_of_a_case_in_rounds_covers_its_round_windows(tmp_path):
    import pandas as pd

    suite = make_suite(tmp_path, 'benchmark = "matmul"\ndtype = "fp32"\nm = [64, 96]\nmin_time_s = 0.4\nrounds = 2')
    out = run_suite(
        suite,
        RunOptions(device="cpu", out_dir=tmp_path / "r", telemetry="auto", idle_s=0.2, sample_hz=50),
        registry=REG,
    )
    series = pd.read_parquet(out.folder / "telemetry.parquet")
    for row in out.rows:
        inside = series[series["case_id"] == row["case_id"]]
        windows = list(zip(row["round_start_ns"], row["round_end_ns"], strict=True))
        assert len(windows) == 2
        in_some = inside["t_ns"].map(lambda t, w=windows: any(lo <= t <= hi for lo, hi in w))
        assert len(inside) >= 4 and in_some.all()
        # Both rounds' samples count, and none from the other case's round in between.
        assert row["telemetry_samples"] == pytest.approx(len(inside), abs=2)


def test_a_tensor_held_in_a_reference_cycle_is_freed_after_every_round(tmp_path):
    """The runner keeps what lived before the cases out of the collector's sight (gc.freeze) and collects after
    each round: a round's tensor that only a reference cycle holds is gone before the next round starts, and the
    heap is unfrozen when the run ends. Automatic collection is off here: only the runner's collections count."""
    import gc
    import weakref

    import torch

    refs = []

    def build(case, device):
        holder = {"tensor": torch.ones(1024)}
        holder["self"] = holder  # a cycle: reference counting alone never frees it
        refs.append(weakref.ref(holder["tensor"]))
        return Workload(step=lambda: holder["tensor"].sum(), work=Work(1.0, "sample"))

    reg = {**REG, "t_cycle": replace(FAKES["t_ok"], name="t_cycle", factory=build)}
    text = suite_text('benchmark = "t_cycle"\nn = [1, 2]\nrounds = 2')
    suite = parse_suite(text, str(tmp_path / "t.toml"), reg)
    alive = []
    events = RunEvents(on_case_end=lambda planned, row: alive.append(sum(r() is not None for r in refs)))
    frozen = gc.get_freeze_count()
    enabled = gc.isenabled()
    gc.disable()
    try:
        out = run_suite(suite, opts(tmp_path), events, registry=reg)
    finally:
        if enabled:
            gc.enable()
    assert {r["status"] for r in out.rows} == {"ok"} and len(refs) == 4
    assert alive == [0, 0, 0, 0]  # each round's tensor freed by the time the round is reported
    assert gc.get_freeze_count() == frozen  # the run leaves the heap as it found it
