"""`load_runs(..., view=...)`: typed columns (timestamps, one precision column) and the tidy headline view."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from fixtures_runs import CaseSpec, write_run

from gpubench.errors import GpubenchError
from gpubench.store import json_value, load_runs
from gpubench.views import HEADLINE_COLUMNS, typed


def _toy_gpt2() -> CaseSpec:
    params = {"model": "gpt2", "precision": "fp32", "batch": 4, "compile": False, "seq": 64, "vocab": 512}
    return CaseSpec("train", {**params, "layers": 2, "width": 64}, 137.0, "sample", 4.0)


def test_all_view_has_timestamps_and_one_precision_column(tmp_path: Path) -> None:
    folder = write_run(tmp_path, "h100", telemetry=False)
    frame = load_runs(folder)
    col = frame["run_started_utc"]
    assert isinstance(col.dtype, pd.DatetimeTZDtype) and str(col.dt.tz) == "UTC"
    cases = typed(pd.DataFrame({"started_utc": ["2026-12-06T12:09:27Z", None]}))["started_utc"]
    assert cases.iloc[0] == pd.Timestamp("2026-12-06 12:09:27", tz="UTC") and pd.isna(cases.iloc[1])
    mm = frame[frame["benchmark"] == "matmul"]
    assert not mm.empty and (mm["precision"] == mm["dtype"]).all()  # the matmul's dtype is its precision
    train = frame[frame["benchmark"] == "train"]
    assert not train.empty and train["precision"].notna().all() and train["dtype"].isna().all()
    assert json_value(frame["run_started_utc"].iloc[0]).startswith("20")  # JSON-able as ISO text


def test_typed_leaves_a_frame_without_those_columns_alone() -> None:
    frame = pd.DataFrame({"case_id": ["x"], "precision": ["bf16"]})
    assert typed(frame).equals(frame)
    assert typed(pd.DataFrame()).empty


def test_headline_view_is_tidy_and_names_the_workload(tmp_path: Path) -> None:
    folder = write_run(tmp_path, "h100", telemetry=False)
    toy = write_run(tmp_path, "h100", host="toy", telemetry=False, cases=[_toy_gpt2()])
    full = load_runs([folder, toy])
    tidy = load_runs([folder, toy], view="headline")
    assert list(tidy.columns) == list(HEADLINE_COLUMNS)
    assert len(tidy) == len(full)
    ok = full[full["status"] == "ok"].set_index(["run_id", "case_id"])
    for r in tidy[tidy["benchmark"] == "matmul"].to_dict("records"):
        if r["status"] == "ok":
            assert r["value"] == pytest.approx(ok.loc[(r["run_id"], r["case_id"]), "throughput"])
            assert r["workload"] == f"matmul/{r['precision']}" and r["better"] == "higher"
        elif r["status"] in ("skipped", "failed"):
            assert math.isnan(r["value"])
    gpt2 = tidy[tidy["host"] == "toy"].iloc[0]
    # A 2-layer, 64-wide "gpt2" is its own workload, never GPT-2 small's.
    assert gpt2["reference_size"] is False or gpt2["reference_size"] == False  # noqa: E712 - numpy bool too
    assert gpt2["workload"] != "gpt2/fp32" and gpt2["workload"].startswith("gpt2[")
    assert gpt2["unit"] and gpt2["metric"] == "throughput"


def test_an_unknown_view_is_a_clear_error(tmp_path: Path) -> None:
    folder = write_run(tmp_path, "h100", telemetry=False)
    with pytest.raises(GpubenchError, match="view='tidy'"):
        load_runs(folder, view="tidy")


def test_every_headline_column_is_documented() -> None:
    assert all(isinstance(text, str) and len(text) > 10 for text in HEADLINE_COLUMNS.values())
