"""run.json's one declaration (gpubench.run_shape) read two ways: `fits`, without pydantic, must never accept
a document the pydantic model (gpubench.documents.RunMeta, built from the same declaration) rejects; run.json as
gpubench writes it must take that fast path (a report then never imports pydantic)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from gpubench import run_shape
from gpubench.documents import RunMeta

DATA = Path(__file__).parent / "data"
RUN_JSONS = sorted(DATA.glob("*/run.json"))

ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.sampled_from([0, 1, 2**70, -1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, 0.5, 1.0, 1.5, -0.0, math.inf, math.nan]),
    st.text(max_size=3),
    st.just(""),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def _valid(declared: run_shape.Value) -> st.SearchStrategy:
    """Values of the declared kind, mostly within its bounds and sometimes just outside them."""
    low = declared.ge if declared.ge is not None else declared.gt
    if declared.kind == "str":
        return st.text(min_size=declared.min_length or 0, max_size=4)
    if declared.kind == "int":
        return st.integers(int(low) - 1 if low is not None else -3, int(declared.le or 10**6))
    return st.floats(
        (low or 0.0) - 0.5 if low is not None else -1e3, declared.le + 0.5 if declared.le is not None else 1e6
    )


def _documents(shape: run_shape.Section) -> st.SearchStrategy:
    """Documents near `shape`: each declared key absent, of its declared kind (twice as likely), or of any other
    kind; required keys present three times out of four."""
    parts, required = {}, {}
    for key, declared in shape.fields.items():
        if isinstance(declared, run_shape.Section):
            parts[key] = st.one_of(_documents(declared), _documents(declared), ODD)
        elif declared.optional:
            parts[key] = st.one_of(_valid(declared), _valid(declared), ODD)
        else:
            required[key] = st.one_of(_valid(declared), _valid(declared), _valid(declared), ODD, st.just(_ABSENT))
    return st.fixed_dictionaries(required, optional={**parts, "extra": ODD}).map(
        lambda d: {k: v for k, v in d.items() if v is not _ABSENT}
    )


_ABSENT = object()


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_documents(run_shape.RUN_JSON))
def test_what_fits_is_what_the_model_accepts(document):
    """Never a document the model rejects, whatever sits in its fields (bools for numbers, infinities, lists for
    tables, out-of-bounds numbers, empty text)."""
    if run_shape.fits(document):
        RunMeta.model_validate(document)  # raises if the fast check was wrong


@pytest.mark.parametrize("path", RUN_JSONS, ids=lambda p: p.parent.name)
def test_run_json_as_gpubench_writes_it_fits(path):
    document = json.loads(path.read_text())
    assert run_shape.fits(document)
    RunMeta.model_validate(document)


def test_fits_rejects_what_the_model_rejects_for_each_rule():
    good = json.loads(RUN_JSONS[0].read_text())
    assert run_shape.fits(good)
    bad = [
        {k: v for k, v in good.items() if k != "run_id"},  # required field absent
        {**good, "run_id": ""},  # min_length
        {**good, "run_id": None},  # a required field is not optional
        {**good, "schema_version": True},  # a bool is not an int
        {**good, "device": {**good.get("device", {}), "memory_bytes": -1}},  # ge
        {**good, "telemetry": {**good.get("telemetry", {}), "sample_hz": 0.0}},  # gt
        {**good, "telemetry": {**good.get("telemetry", {}), "power_limit_w": math.inf}},  # finite
        {**good, "host_cpu": {"others_share": 1.5}},  # le
        {**good, "distributed": {"n_nodes": 2}},  # required inside a nullable section
        {**good, "software": "torch"},  # a section that is not a table
        {**good, "host": 3},  # text
    ]
    for document in bad:
        assert not run_shape.fits(document), document
        with pytest.raises(ValidationError):
            RunMeta.model_validate(document)
    assert run_shape.fits({**good, "distributed": None, "host_cpu": None, "unknown": [1, {"x": 2}]})


def test_a_report_of_runs_gpubench_wrote_never_imports_pydantic():
    code = (
        "import sys\n"
        "from gpubench.report.data import load_report_data\n"
        f"load_report_data([{str(DATA / 'run_schema3_quick_cpu')!r}])\n"
        "print('pydantic' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr
