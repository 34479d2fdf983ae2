"""The report at fleet scale: what makes it fast must never change what it says.

The model shares its fits between the calls of one report (gpubench.model._fit_cache): every estimate must be
the one a fresh context computes. The advisor reads the workload's memory peaks once per ranking. The Fleet
figure draws a large fleet as a distribution, not a point (and a hover text) per GPU per case. No timing here:
scripts/report_scale.py measures time and size.
"""

from __future__ import annotations

import pandas as pd
import pytest
from figure_check import as_plotly

from gpubench import advisor, model

_GPU = {"device_name": "NVIDIA GeForce RTX 3090", "device_memory_bytes": 25_438_126_080, "status": "ok"}
_CPU = {"device_name": "AMD EPYC 7B13 (2 cores)", "device_kind": "cpu", "status": "ok"}

RUNS = pd.DataFrame(
    [
        {**_GPU, "run_id": "g1", "benchmark": "matmul", "dtype": "bf16", "throughput": 100.0},
        {**_GPU, "run_id": "g1", "benchmark": "matmul", "dtype": "fp32", "throughput": 30.0},
        {**_GPU, "run_id": "g1", "benchmark": "memory", "kind": "d2d", "size_bytes": 1 << 30, "throughput": 800.0},
        {
            **_GPU,
            "run_id": "g1",
            "benchmark": "train",
            "model": "resnet50",
            "precision": "amp_bf16",
            "batch": 64,
            "throughput": 900.0,
            "peak_memory_bytes": 12e9,
        },
        {
            **_GPU,
            "run_id": "g1",
            "benchmark": "llm_decode",
            "preset": "llama-3.1-8b",
            "precision": "bf16",
            "batch": 1,
            "context": 1024,
            "output": 0,
            "layers": 0,
            "throughput": 50.0,
        },
        {**_CPU, "run_id": "c1", "benchmark": "matmul", "dtype": "fp32", "throughput": 0.5},
        {
            **_CPU,
            "run_id": "c1",
            "benchmark": "train",
            "model": "gpt2",
            "precision": "fp32",
            "batch": 8,
            "layers": 2,
            "width": 128,
            "throughput": 2000.0,
            "peak_memory_bytes": 3e8,
        },
        {**_CPU, "run_id": "c1", "benchmark": "train", "model": "gpt2", "precision": "fp32", "batch": 8},
    ]
)
TOY = model.workload_column(RUNS.iloc[[6]]).iloc[0]
WORKLOADS = (
    "matmul/bf16",
    "matmul/fp32",
    "matmul/fp16",
    "memory/d2d",
    "resnet50/amp_bf16",
    "resnet50/fp32",
    "resnet50/amp_bf16/infer",
    "gpt2/fp32",
    "llm_decode/llama-3.1-8b/bf16",
    "llm_prefill/llama-3.1-8b/bf16",
    TOY,
)


def _as_tuple(est: model.Estimate) -> tuple:
    return (*est.__dict__.values(), dict(est.details))  # details too (the dataclass leaves them out of ==)


def _fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every context with a cache of its own, as before the fits were shared."""
    monkeypatch.setattr(model, "_fit_cache", lambda *a: {})


def _subsets() -> list[pd.DataFrame | None]:
    # What the report asks with: no runs, every run, and each workload's own rows (gpubench.report.data).
    names = model.workload_column(RUNS)
    return [None, RUNS, *(RUNS[names == n] for n in dict.fromkeys(names.dropna()))]


def test_shared_fits_give_every_estimate_a_fresh_context_gives(monkeypatch):
    asks = [(w, i) for i, _ in enumerate(_subsets()) for w in WORKLOADS]

    def estimates() -> dict:
        subsets = _subsets()
        out = {}
        for w, i in asks:
            try:
                got = model.estimate_all(w, subsets[i])
            except model.GpubenchError:
                got = None  # the toy shape without the run that defines it
            out[w, i] = None if got is None else {slug: _as_tuple(e) for slug, e in got.items()}
        return out

    with monkeypatch.context() as m:
        _fresh(m)
        before = estimates()
    model._FIT_CACHES.clear()
    after = estimates()
    again = estimates()  # every fit now comes from the shared caches
    assert after == before and again == before
    assert any(v for v in before.values())  # the comparison compared something
    calibrated = before["resnet50/amp_bf16", 1]
    assert any("RTX 3090" in str(t) for t in calibrated.values())  # ... including calibration by a measured GPU


def test_llm_shapes_and_engines_are_estimated_as_fresh(monkeypatch):
    asks = [(b, c, g, e) for b in (1, 16) for c in (512, 4096) for g in (1, 2) for e in ("serving", "llama.cpp")]

    def estimates() -> list:
        return [
            {
                s: _as_tuple(x)
                for s, x in model.estimate_all(
                    "llm_decode/llama-3.1-8b/bf16", RUNS, batch=b, context=c, gpus=g, engine=e
                ).items()
            }
            for b, c, g, e in asks
        ]

    with monkeypatch.context() as m:
        _fresh(m)
        before = estimates()
    assert estimates() == before


@pytest.mark.parametrize("workload", ["resnet50/amp_bf16", "matmul/fp32", "gpt2/fp32", TOY])
def test_the_advisor_ranks_as_before(monkeypatch, workload):
    names = model.workload_column(RUNS)
    mine = RUNS[names == workload]
    with monkeypatch.context() as m:
        _fresh(m)
        # ... and every device reads the memory peaks itself, as before they were read once per ranking
        m.setattr(advisor, "_memory_fit", _reads_peaks_itself(advisor._memory_fit))
        before = [advisor.recommend(df, workload) for df in (mine, RUNS)]
    after = [advisor.recommend(df, workload) for df in (mine, RUNS)]
    for a, b in zip(after, before, strict=True):
        pd.testing.assert_frame_equal(a, b)
        assert a.attrs.keys() == b.attrs.keys() and a.attrs["validation"] == b.attrs["validation"]
    assert len(after[0])


def _reads_peaks_itself(fit):
    def memory_fit(rows, mrow, memory_gb, workload, peaks=None):
        return fit(rows, mrow, memory_gb, workload)

    return memory_fit


def test_validation_summary_is_the_cached_one_and_a_copy():
    first = model.validation_summary()
    pd.testing.assert_frame_equal(first, model.validation_summary(model._validation()))
    first.loc[0, "points"] = -1  # a caller's edit never reaches the next caller
    assert (model.validation_summary()["points"] >= 0).all()


# ------------------------------------------------------------------------------------------ the Fleet figure


def _fleet_figure(root, monkeypatch=None, max_dots=None):
    from gpubench.report import build_sections, load_report_data
    from gpubench.report import fleet as fleet_section
    from gpubench.report.blocks import Figure
    from gpubench.report.sections import SECTIONS

    if max_dots is not None:
        monkeypatch.setattr(fleet_section, "MAX_DOTS", max_dots)
    data = load_report_data([str(root / "*" / "*" / "*")])
    [(_, _, blocks)] = build_sections(data, [s for s in SECTIONS if s.key == "fleet"])
    return next(b for b in blocks if isinstance(b, Figure)), data


@pytest.fixture(scope="module")
def big_fleet(tmp_path_factory):
    from gpubench.fleet.synthetic import write_fleet

    root = tmp_path_factory.mktemp("fleet")
    write_fleet(root, 6, 4, slow={("node-3", 2): 0.8}, node_collective=False, noise=0.005, seed=5)
    return root


def test_a_large_fleet_is_drawn_as_one_box_per_case_and_its_failing_gpus(big_fleet, monkeypatch):
    block, data = _fleet_figure(big_fleet, monkeypatch, max_dots=20)  # 24 GPUs x 6 cases: "large" here
    fig = as_plotly(block.figure)
    cases = len(fig.layout.yaxis.tickvals)
    assert cases == 6
    # No trace has a point (or a hover text) per GPU: one box and one median marker per case, the failing dots.
    [box] = [tr for tr in fig.data if tr.type == "box"]
    assert list(box.y) == list(range(cases)) and box.x is None and len(box.q1) == cases
    assert all(lo <= q1 <= med <= q3 <= hi for lo, q1, med, q3, hi in zip(*(box[k] for k in _FENCES), strict=True))
    failing = [tr for tr in fig.data if tr.name == "failing GPU"]
    assert failing and set(failing[0].text) == {"node-3/gpu2"}
    assert all(len(tr.x) <= cases for tr in fig.data if tr.type != "box" and tr.name != "failing GPU")
    hover = next(tr for tr in fig.data if tr.type == "scatter" and tr.showlegend is False).hovertext
    assert len(hover) == cases and all("GPUs:" in h for h in hover)
    assert "box" in block.caption and "One dot per GPU" not in block.caption
    # The box holds the passing GPUs' own figures: its whiskers are their slowest and fastest.
    check = data.memo["fleet_check"]
    first = check.cases[~check.cases["fail"].astype(bool)].groupby(["device_name", "case_id"], sort=True)
    ratios = [100 * g["ratio"].to_numpy(float) for _, g in first]
    assert box.lowerfence == pytest.approx([r.min() for r in ratios], abs=1e-3)
    assert box.upperfence == pytest.approx([r.max() for r in ratios], abs=1e-3)


_FENCES = ("lowerfence", "q1", "median", "q3", "upperfence")


def test_a_small_fleet_keeps_a_dot_per_gpu_per_case(big_fleet):
    block, _ = _fleet_figure(big_fleet)  # 24 x 6 = 144 dots: under MAX_DOTS
    fig = as_plotly(block.figure)
    assert not [tr for tr in fig.data if tr.type == "box"]
    dots = sum(len(tr.x) for tr in fig.data if tr.name in ("GPU", "failing GPU"))
    assert dots == 24 * 6
    assert "One dot per GPU" in block.caption


def test_the_fleet_figure_grows_with_cases_not_gpus(monkeypatch, big_fleet, tmp_path):
    """What 1,000 GPUs cost as dots (8 MB of page), the boxes never do: their size does not follow the GPU count."""
    from gpubench.fleet.synthetic import write_fleet
    from gpubench.report.page import render_page

    write_fleet(tmp_path, 2, 4, slow={("node-1", 2): 0.8}, node_collective=False, noise=0.005, seed=6)

    def size(block) -> int:
        html = render_page([("fleet", "Fleet", [block])], "t")
        return len(html[html.index('id="gb-figures"') :])

    with monkeypatch.context() as m:
        dots24 = size(_fleet_figure(big_fleet)[0])
        boxes24 = size(_fleet_figure(big_fleet, m, max_dots=0)[0])
        boxes8 = size(_fleet_figure(tmp_path, m, max_dots=0)[0])
    assert boxes24 < dots24 / 2
    assert abs(boxes24 - boxes8) < 0.15 * boxes8  # 3x the GPUs, the same cases: about the same size


# ------------------------------------------------------------------------------- per-run tables at fleet scale


class _Spy(dict):
    """A row that records which columns are read from it."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.read: set[str] = set()

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)


def test_a_problem_reason_reads_only_the_columns_the_problems_table_takes_out():
    from gpubench.report import sections
    from gpubench.report.data import ReportData

    data = ReportData(pd.DataFrame({"status": []}), pd.DataFrame(), [], None)  # type: ignore[arg-type]
    rows = [
        {"status": "ok", "noisy": True, "iqr_s": 0.2, "median_s": 1.0, "n_reps": 9},
        {"status": "ok", "noisy": True},
        {"status": "wrong", "check_error": 0.5, "check_tolerance": 0.01, "reason": None},
        {"status": "failed", "reason": "out of memory: needs 12884901888 bytes"},
        {"status": "skipped", "reason": "no bf16"},
    ]
    read: set[str] = set()
    for row in rows:
        spy = _Spy({c: None for c in sections.PROBLEM_COLUMNS} | row | {"throughput": 1.0, "extra": "x"})
        sections._problem_reason(data, spy)
        read |= spy.read
    assert read and read <= set(sections.PROBLEM_COLUMNS)


def test_run_cases_counts_as_a_filter_per_run_would(tmp_path):
    from fixtures_runs import write_fleet

    from gpubench.report.data import load_report_data, run_cases

    data = load_report_data(write_fleet(tmp_path), fleet=False)
    counts = run_cases(data)
    runs = data.runs
    assert set(counts) == {s.run_id for s in data.series}
    for run_id, c in counts.items():
        mine = runs[runs["run_id"] == run_id]
        assert c.total == len(mine) and c.ok == int((mine["status"] == "ok").sum())
        assert c.tf32 == int(mine["tf32"].fillna(False).astype(bool).sum())
        v = mine[mine["benchmark_version"].notna()].groupby("benchmark")["benchmark_version"].first()
        assert c.versions == ", ".join(f"{b} v{int(x)}" for b, x in v.items()) and c.versions
    assert any(c.ok < c.total for c in counts.values())  # the fixtures have failed and skipped cases


# ----------------------------------------------------------------------------------------- load_runs' views


def test_the_headline_view_reads_only_its_columns_and_says_what_every_row_would(tmp_path):
    """views.headline takes only the columns a headline reads out of the frame: the same view as the row-by-row
    conversion of every column it replaced (nullable columns, numpy scalars, failed and toy rows included)."""
    from pathlib import Path

    from fixtures_runs import write_fleet

    from gpubench import store, views
    from gpubench.benchmarks import catalog

    def every_column(frame: pd.DataFrame) -> pd.DataFrame:
        rows = [views._headline_row(r, catalog.find(r.get("benchmark"))) for r in frame.to_dict(orient="records")]
        return pd.DataFrame(rows, columns=list(views.HEADLINE_COLUMNS))

    quick = Path(__file__).parent / "data"
    for paths in (write_fleet(tmp_path), [quick]):
        frame = store.load_runs(paths)
        view = views.headline(frame)
        pd.testing.assert_frame_equal(view, every_column(frame), check_exact=True)
        assert len(view) == len(frame) and view["workload"].notna().any() and view["value"].notna().any()


def test_reference_lines_are_set_at_once_and_keep_earlier_shapes():
    """One dotted line (and note) per reference, added to the shapes already there: what add_hline drew,
    without its per-shape re-processing (quadratic over a report of many runs)."""
    from gpubench.report import figures as F
    from gpubench.report.plot import Plot

    drawn = Plot()
    drawn.add_scatter(x=[1, 2], y=[1, 2])
    drawn.update_layout(shapes=[dict(type="rect", x0=0, x1=1, y0=0, y1=1)])
    F.reference_lines(
        drawn, [dict(y=3.0, color="#f00", text="gather"), dict(y=1.5, below=True), *[dict(y=i) for i in range(200)]]
    )
    fig = as_plotly(drawn)
    assert len(fig.layout.shapes) == 1 + 202 and fig.layout.shapes[0].type == "rect"
    line = fig.layout.shapes[1]
    assert (line.y0, line.y1, line.xref, line.line.color, line.line.dash) == (3.0, 3.0, "x domain", "#f00", "dot")
    assert [a.text for a in fig.layout.annotations] == ["gather"]  # lines without text get no note
    assert fig.layout.annotations[0].yanchor == "bottom"
