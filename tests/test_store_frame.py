"""rows_to_frame: the dtypes a run folder's measurements.parquet has always had, decided without pandas'
per-column conversions (a run rewrites the file after every round)."""

import json
import math

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpubench import frame as frames
from gpubench.frame import INT_COLUMNS, _inferred_frame, rows_to_frame
from gpubench.store import write_frame

# Column names of every kind: declared integers (Int64 where rows lack them) and others.
DECLARED_INT = sorted(INT_COLUMNS)[:3]
KINDS = {
    "flag": st.booleans(),
    "count": st.integers(-(2**53), 2**53),  # beyond 2**53 pandas' float detour rounds; this path does not
    "number": st.floats(allow_nan=False, allow_infinity=False, width=64),
    "mixed": st.one_of(st.integers(-1000, 1000), st.floats(-1e6, 1e6)),
    "whole": st.integers(-1000, 1000).map(float),
    "text": st.text(max_size=5),
    "times": st.lists(st.floats(0, 1), max_size=3),
    "anything": st.one_of(st.booleans(), st.integers(0, 9), st.text(max_size=2)),
}
MISSING = st.sampled_from([None, math.nan])


@st.composite
def rows(draw):
    names = draw(st.lists(st.sampled_from(sorted(KINDS) + DECLARED_INT), min_size=1, max_size=6, unique=True))
    declared = [KINDS["count"], KINDS["whole"], KINDS["mixed"]]
    kind = {n: KINDS[n] if n in KINDS else draw(st.sampled_from(declared)) for n in names}
    out = []
    for _ in range(draw(st.integers(1, 8))):
        row = {"case_id": "c"}
        for name in names:
            shape = draw(st.sampled_from(["value", "value", "value", "absent", "missing"]))
            if shape == "value":
                row[name] = draw(kind[name])
            elif shape == "missing":
                row[name] = draw(MISSING)
        out.append(row)
    return out


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows())
def test_rows_to_frame_gives_what_pandas_inference_gave(sample):
    """The same frame, dtypes, column order and missing values as pandas' own inference followed by the
    conversions to nullable integers and booleans (`_inferred_frame`, the code this replaced)."""
    pd.testing.assert_frame_equal(rows_to_frame(sample), _inferred_frame(sample), check_dtype=True)


def test_the_parquet_keeps_its_dtypes(tmp_path, monkeypatch):
    """A skipped case lacks the timings: its integer columns stay Int64, its booleans boolean, and the file read
    back (pandas and arrow) has exactly the schema the pandas-inferred frame wrote."""
    ok = {
        "case_id": "a",
        "round": 0,
        "status": "ok",
        "m": 256,
        "batch": 8,
        "warmup_steps": 3,
        "tf32": False,
        "times_s": [0.1, 0.2],
        "work_per_step": 2.0,
        "start_ns": 2**60 + 1,
        "first_throttle_s": math.nan,  # no throttling seen: NaN in every row that has it
    }
    skipped = {"case_id": "b", "round": 0, "status": "skipped", "reason": "no bf16", "m": 512, "power_limit_w": None}
    ok["power_limit_w"] = None  # what load_runs joins from a run.json without a power limit
    sample = [ok, skipped, {**ok, "round": 1, "batch": 16, "tf32": True}]
    with monkeypatch.context() as m:  # rows like a run's take the fast path, never pandas' inference
        m.setattr(frames, "_inferred_frame", lambda rows: pytest.fail("took pandas' inference"))
        frame = rows_to_frame(sample)
    assert frame["warmup_steps"].dtype == "Int64" and frame["tf32"].dtype == "boolean"
    assert frame["m"].dtype == "int64" and frame["work_per_step"].dtype == "float64"
    assert frame["first_throttle_s"].dtype == "float64"
    exact = ["start_ns"]  # pandas' inference went through float64 and rounded it
    pd.testing.assert_frame_equal(frame.drop(columns=exact), _inferred_frame(sample).drop(columns=exact))
    assert frame["start_ns"].tolist()[::2] == [2**60 + 1] * 2  # exact: no detour through float64
    write_frame(tmp_path / "new.parquet", frame)
    write_frame(tmp_path / "old.parquet", _inferred_frame(sample))
    new, old = pq.read_schema(tmp_path / "new.parquet"), pq.read_schema(tmp_path / "old.parquet")
    assert new.equals(old, check_metadata=True)
    assert json.loads(new.metadata[b"pandas"])["columns"] == json.loads(old.metadata[b"pandas"])["columns"]
    back = pd.read_parquet(tmp_path / "new.parquet")
    assert back.dtypes.to_dict() == _inferred_frame(sample).dtypes.to_dict()
    assert back["warmup_steps"].tolist()[:2] == [3, pd.NA]


def test_unusual_values_fall_back_to_pandas():
    """A numpy scalar or a timestamp: pandas infers the frame, as before."""
    import numpy as np

    sample = [{"case_id": "a", "x": np.int64(3), "t": pd.Timestamp("2026-01-01")}, {"case_id": "b"}]
    pd.testing.assert_frame_equal(rows_to_frame(sample), _inferred_frame(sample))


def _same_records(got: list[dict], want: list[dict]) -> None:
    """Equal row for row, key order, value and type included (NaN equal to NaN)."""
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert list(g) == list(w)
        for key in w:
            assert type(g[key]) is type(w[key]), (key, g[key], w[key])
            both_missing = (w[key] is pd.NaT and g[key] is pd.NaT) or (
                isinstance(w[key], float) and math.isnan(w[key]) and math.isnan(g[key])
            )
            assert both_missing or g[key] == w[key], (key, g[key], w[key])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows())
def test_frame_rows_are_what_to_dict_gives(sample):
    """frame_rows is to_dict("records") value for value, type for type, on every dtype rows_to_frame makes
    (nullable integers and booleans with missing values, text, lists, mixed objects)."""
    frame = rows_to_frame(sample)
    _same_records(frames.frame_rows(frame), frame.to_dict("records"))


def test_frame_rows_of_a_report_frame_and_odd_columns():
    """On the report's own frame (170 columns of every dtype a run has, datetimes included) and on columns
    rows_to_frame never makes: numpy scalars in an object column, timestamps, durations, no columns at all."""
    from pathlib import Path

    from gpubench.report.data import load_report_data

    runs = load_report_data([Path(__file__).parent / "data" / "run_schema3_quick_cpu"]).runs
    assert runs.shape[1] > 100
    _same_records(frames.frame_rows(runs), runs.to_dict("records"))
    odd = pd.DataFrame(
        {
            "numpy": pd.Series([np.int64(3), np.float64(2.5), np.bool_(True), pd.NA, None], dtype=object),
            "when": pd.to_datetime(["2026-01-01", None, "2026-01-02", "2026-01-03", None], utc=True),
            "naive": pd.to_datetime(["2026-01-01", None, "2026-01-02", "2026-01-03", None]),
            "span": pd.to_timedelta([1, 2, None, 4, 5], unit="s"),
            "flag": pd.array([True, None, False, True, None], dtype="boolean"),
            "count": pd.array([1, None, 3, 4, 5], dtype="Int64"),
            "text": pd.array(["a", None, "c", "d", "e"], dtype="string"),
        }
    )
    _same_records(frames.frame_rows(odd), odd.to_dict("records"))
    _same_records(frames.frame_rows(odd.iloc[:, :0]), odd.iloc[:, :0].to_dict("records"))
    _same_records(frames.frame_rows(odd.iloc[:0]), odd.iloc[:0].to_dict("records"))
