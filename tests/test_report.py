"""The HTML report: sections from synthetic run folders, escaping, self-containment, colours, downsampling."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import plotly.io as pio
import pytest
from figure_check import as_plotly, plain_json
from fixtures_runs import DEVICES, HOSTILE, CaseSpec, write_fleet, write_run
from typer.testing import CliRunner

from gpubench.errors import GpubenchError
from gpubench.report import build_report, build_sections, load_report_data, render_report
from gpubench.report import plot as plot_module
from gpubench.report.data import (
    downsample_minmax,
    environment_differences,
    headline_metrics,
    matmul_bytes,
    scorecard,
)
from gpubench.report.figures import TELEMETRY_POINTS
from gpubench.report.i18n import load_messages
from gpubench.report.page import script_json
from gpubench.report.sections import Figure, Note, Table

ALL_SECTIONS = {
    "runs",
    "scorecard",
    "matmul",
    "memory",
    "models",
    "power",
    "efficiency",
    "roofline",
    "value",
    "problems",
}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_fleet(tmp_path_factory.mktemp("fleet"))


@pytest.fixture(scope="module")
def hostile_fleet(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_fleet(tmp_path_factory.mktemp("hostile"), hostile=True)


@pytest.fixture(scope="module")
def fleet_sections(fleet: list[Path]) -> list[tuple[str, str, list[Any]]]:
    return build_sections(load_report_data(fleet))


def _figures(sections: list[tuple[str, str, list[Any]]]) -> list[Any]:
    return [b.figure for _, _, blocks in sections for b in blocks if isinstance(b, Figure)]


def _strings(obj: Any) -> list[str]:
    """Every string inside a figure's JSON-able structure."""
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in _strings(v)]
    if isinstance(obj, (list, tuple)):
        return [s for v in obj for s in _strings(v)]
    if isinstance(obj, np.ndarray) and obj.dtype == object:
        return [s for v in obj.tolist() for s in _strings(v)]
    return []


# ------------------------------------------------------------------------------------------------- sections


def test_fleet_produces_every_section(fleet_sections: list[tuple[str, str, list[Any]]]) -> None:
    keys = {key for key, _, _ in fleet_sections}
    assert keys >= ALL_SECTIONS
    assert "collectives" not in keys  # no collective rows: no empty section


def test_sections_only_where_the_data_is(tmp_path: Path) -> None:
    dev = DEVICES["cpu"]
    cases = [
        CaseSpec("matmul", {"dtype": "fp32", "m": m, "n": m, "k": m}, 2.0, "flop", 2.0 * m**3, 2.0 * m**3)
        for m in (256, 512)
    ]
    folder = write_run(tmp_path, "cpu", telemetry=False, cases=cases, reps=10)
    keys = {key for key, _, _ in build_sections(load_report_data([folder]))}
    assert {"runs", "scorecard", "matmul", "problems"} <= keys
    assert not keys & {"memory", "models", "power", "efficiency", "collectives"}
    assert dev.vendor == "cpu"


def test_run_without_measurements_still_renders(tmp_path: Path) -> None:
    folder = write_run(tmp_path, "cpu", telemetry=False, cases=[], reps=10)
    text = build_report([folder])
    assert "Runs" in text and "AMD EPYC" in text


def test_collective_rows_get_their_section(tmp_path: Path) -> None:
    cases = [
        CaseSpec(
            "collective",
            {"op": "all_reduce", "size_bytes": s, "world_size": 8},
            100.0 * s / (s + 1e6),
            "byte",
            float(s),
        )
        for s in (1 << 20, 1 << 24, 1 << 28)
    ]
    folder = write_run(tmp_path, "h100", telemetry=False, cases=cases, reps=10)
    sections = dict((k, b) for k, _, b in build_sections(load_report_data([folder])))
    assert "collectives" in sections
    fig = as_plotly(next(b.figure for b in sections["collectives"] if isinstance(b, Figure)))
    assert len(fig.data) == 1 and len(fig.data[0].x) == 3


def test_samples_and_tokens_never_share_an_axis(tmp_path: Path) -> None:
    cases = [
        CaseSpec("train", {"model": "resnet50", "precision": "amp_bf16", "batch": 256}, 3000.0, "sample", 256.0),
        CaseSpec("train", {"model": "gpt2", "precision": "amp_bf16", "batch": 8}, 200_000.0, "token", 8192.0),
    ]
    folder = write_run(tmp_path, "h100", telemetry=False, cases=cases, reps=10)
    sections = dict((k, b) for k, _, b in build_sections(load_report_data([folder])))
    titles = [as_plotly(b.figure).layout.title.text for b in sections["models"] if hasattr(b, "figure")]
    training = [t for t in titles if t.startswith("Training throughput")]
    assert len(training) == 2
    assert any("samples/s" in t for t in training) and any("tokens/s" in t for t in training)


# --------------------------------------------------------------------------------------------- the page


def test_render_report_default_path_and_self_contained(
    fleet: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = render_report([str(fleet[0].parent / "*")])
    assert path.parent == Path("reports") and path.suffix == ".html" and path.is_file()
    text = path.read_text(encoding="utf-8")
    # plotly.js exactly once, inline; nothing fetched from anywhere.
    assert text.count("Plotly.newPlot") >= 1
    assert len(re.findall(r"<script[^>]*>", text)) == 4  # error hook, plotly.js, figure JSON, renderer
    assert not re.search(r"<script[^>]*\bsrc\s*=", text, re.I)
    assert not re.search(r"<link\b", text, re.I)
    assert not re.search(r"@import|url\(\s*['\"]?https?:", text, re.I)
    assert not re.search(r"<(img|iframe)[^>]*\bsrc\s*=\s*['\"]?https?:", text, re.I)
    n_figs = int(re.search(r'data-figures="(\d+)"', text).group(1))
    assert n_figs == len(re.findall(r'<div class="fig" id="fig-\d+"', text)) and n_figs >= 10
    # The figure JSON parses back (script_json escaping keeps it valid JSON).
    blob = re.search(r'<script type="application/json" id="gb-figures">(.*?)</script>', text, re.S).group(1)
    figs = json.loads(blob)
    assert len(figs) == n_figs and all("data" in f["spec"] and "layout" in f["spec"] for f in figs)


def test_explicit_out_path(fleet: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "deep" / "r.html"
    assert render_report(fleet, out=out) == out and out.is_file()


def test_hostile_strings_are_escaped_in_page_and_figures(hostile_fleet: list[Path]) -> None:
    data = load_report_data(hostile_fleet)
    sections = build_sections(data)
    # Figures: no raw tag from a results file reaches Plotly (it renders a subset of HTML in text).
    for fig in _figures(sections):
        for s in _strings(fig.to_dict()):
            assert "<script" not in s and "</div>" not in s and "<img" not in s, s[:120]
    labels = [s for fig in _figures(sections) for s in _strings(fig.to_dict())]
    assert any("&lt;script&gt;alert(1)&lt;/script&gt;" in s for s in labels)  # shown, escaped
    text = build_report(hostile_fleet)
    for raw in (HOSTILE, "<script>alert(1)</script>", "</div><b>x</b>", "<img src=x"):
        assert raw not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text  # device name, host, reasons are displayed
    assert "out of memory" in text  # reasons shown


def test_script_json_cannot_close_the_tag() -> None:
    value = {"a": "</script><script>alert(1)</script>", "b": "x & y <!-- z -->", "c": "\u2028"}
    out = script_json(json.dumps(value))
    assert "</" not in out and "<!--" not in out and "&" not in out
    assert json.loads(out) == value


def test_report_never_imports_torch(fleet: list[Path], tmp_path: Path) -> None:
    code = (
        "import sys; import gpubench.report as r; "
        f"r.render_report([{str(fleet[0])!r}, {str(fleet[2])!r}], out={str(tmp_path / 'x.html')!r}); "
        "r.compare_runs(" + repr(str(fleet[0])) + ", " + repr(str(fleet[1])) + "); "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1], timeout=120)


def test_bad_paths_raise_gpubench_errors(tmp_path: Path) -> None:
    with pytest.raises(GpubenchError):
        render_report([str(tmp_path / "missing")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(GpubenchError):
        render_report([str(tmp_path / "empty")])


# ------------------------------------------------------------------------------------------ colours, labels


def _trace_colors(fig: Any) -> list[tuple[str, str]]:
    out = []
    for tr in as_plotly(fig).data:
        group = getattr(tr, "legendgroup", None)
        marker = getattr(tr, "marker", None)
        color = marker.color if marker is not None and isinstance(marker.color, str) else None
        line = getattr(tr, "line", None)
        if color is None and line is not None and isinstance(line.color, str):
            color = line.color
        if group and color:
            out.append((group, color))
    return out


def test_each_run_keeps_one_colour_everywhere(fleet: list[Path], fleet_sections: list[Any]) -> None:
    data = load_report_data(fleet)
    expected = {s.run_id: s.color for s in data.series}
    seen: dict[str, set[str]] = {}
    for fig in _figures(fleet_sections):
        for group, color in _trace_colors(fig):
            seen.setdefault(group, set()).add(color)
    assert set(seen) == set(expected)
    for run_id, colors in seen.items():
        assert colors == {expected[run_id]}


def test_runs_of_one_device_get_distinct_labels_and_shades(tmp_path: Path) -> None:
    a = write_run(tmp_path, "4090", host="box", seed=1, telemetry=False)
    b = write_run(tmp_path, "4090", host="box", seed=2, telemetry=False)
    c = write_run(tmp_path, "h100", host="other", seed=3, telemetry=False)
    data = load_report_data([a, b, c])
    labels = [s.label for s in data.series]
    assert len(set(labels)) == 3
    assert data.series[0].color != data.series[1].color
    assert data.series[2].label == DEVICES["h100"].name  # a unique device keeps its plain name


# ------------------------------------------------------------------------------------- scorecard, metrics


def test_scorecard_speedup_and_geomean(tmp_path: Path) -> None:
    a = write_run(tmp_path, "4090", host="a", seed=1, speed=1.0)
    b = write_run(tmp_path, "4090", host="b", seed=2, speed=1.25)
    data = load_report_data([a, b])
    card = scorecard(data)
    b_id = data.series[1].run_id
    mine = card[card["run_id"] == b_id]
    assert mine["score"].iloc[0] == pytest.approx(1.25, rel=0.03)
    # Energy per sample: same power, 1.25x the samples -> 1.25x better after inversion.
    energy = mine[mine["key"].str.startswith("energy/")]
    assert len(energy) and (energy["ratio"] > 1.15).all()
    assert card.loc[card["run_id"] == data.series[0].run_id, "score"].iloc[0] == pytest.approx(1.0)
    # --baseline: the other run becomes 1.0 and the first ~0.8.
    data2 = load_report_data([a, b], baseline=b)
    card2 = scorecard(data2)
    assert card2.loc[card2["run_id"] == b_id, "score"].iloc[0] == pytest.approx(1.0)
    assert card2.loc[card2["run_id"] == data.series[0].run_id, "score"].iloc[0] == pytest.approx(0.8, rel=0.03)


def test_baseline_outside_the_list_is_added(tmp_path: Path) -> None:
    a = write_run(tmp_path, "4090", host="a", seed=1, telemetry=False)
    b = write_run(tmp_path, "h100", host="b", seed=2, telemetry=False)
    data = load_report_data([a], baseline=b)
    assert [s.host for s in data.series] == ["b", "a"] and data.baseline.host == "b"


def test_headline_metrics_pick_the_best_case(fleet: list[Path]) -> None:
    data = load_report_data(fleet)
    h100 = next(s for s in data.series if s.device_name == DEVICES["h100"].name)
    metrics = {m.key: m for m in headline_metrics(data) if m.run_id == h100.run_id}
    ok = data.ok[(data.ok["run_id"] == h100.run_id) & (data.ok["benchmark"] == "matmul")]
    assert metrics["matmul/bf16"].value == pytest.approx(ok.loc[ok["dtype"] == "bf16", "throughput"].max())
    assert {"memory/d2d", "memory/h2d", "resnet50/amp_bf16", "energy/resnet50/amp_bf16"} <= set(metrics)  # spec keys
    assert not metrics["energy/resnet50/amp_bf16"].higher_is_better
    # The failed fp8 16384 case never counts.
    assert metrics["matmul/fp8"].row in set(ok.index)


def test_environment_differences_flag_torch_power_tf32_and_versions(tmp_path: Path) -> None:
    tf32_on = [CaseSpec("matmul", {"dtype": "fp32", "m": 512, "n": 512, "k": 512}, 10.0, "flop", 2.0 * 512**3)]
    a = write_run(tmp_path, "4090", host="a", seed=1, telemetry=False, cases=tf32_on, reps=10, torch_version="2.4.0")
    b = write_run(
        tmp_path,
        "4090",
        host="b",
        seed=2,
        telemetry=False,
        cases=tf32_on,
        reps=10,
        torch_version="2.5.1",
        power_limit_w=300.0,
        benchmark_version=2,
    )
    # Mark run b's fp32 case as run with TF32 on: rewrite through the store like the runner would.
    from gpubench.store import RunStore

    store = RunStore.resume(b)
    row = dict(store.rows[0], tf32=True)
    store.add(row)
    store.finish("complete")
    store.close()
    data = load_report_data([a, b])
    fields = {d.field for d in environment_differences(data)}
    assert {"torch", "power_limit", "tf32", "versions"} <= fields
    runs_table = next(b for k, _, bl in build_sections(data) if k == "runs" for b in bl if isinstance(b, Table))
    header = runs_table.header
    torch_col = header.index("software")  # torch, CUDA, driver share one cell
    assert all("diff" in row[torch_col].cls for row in runs_table.rows)
    assert all("diff" not in row[header.index("host")].cls for row in runs_table.rows)


def test_matmul_bytes_and_roofline_intensity(fleet: list[Path], fleet_sections: list[Any]) -> None:
    assert matmul_bytes("bf16", 4096, 4096, 4096) == 3 * 4096 * 4096 * 2
    assert matmul_bytes("int8", 2, 3, 4) == 2 * 4 + 4 * 3 + 2 * 3 * 4  # int32 output
    assert math.isnan(matmul_bytes("fp9", 1, 1, 1))
    roof = as_plotly(
        next(b.figure for k, _, bl in fleet_sections if k == "roofline" for b in bl if isinstance(b, Figure))
    )
    xs = [x for tr in roof.data if tr.mode == "markers" and tr.x is not None for x in tr.x]
    # The square bf16 4096 GEMM: 2*4096^3 FLOP over 3*4096^2*2 bytes = 4096/3 FLOP/byte.
    assert any(x == pytest.approx(4096 / 3) for x in xs)


# ------------------------------------------------------------------------------------------- downsampling


def test_downsample_minmax_keeps_extremes() -> None:
    t = np.arange(100_000, dtype=float)
    y = np.sin(t / 1000.0)
    y[54_321] = 50.0  # a one-sample power spike
    y[12_345] = -50.0
    y[200:300] = np.nan
    keep = downsample_minmax(t, y, 1000)
    assert len(keep) <= 1000 and np.all(np.diff(keep) > 0)
    assert 54_321 in keep and 12_345 in keep
    short = downsample_minmax(t[:50], y[:50], 1000)
    assert list(short) == list(range(50))
    all_nan = downsample_minmax(t, np.full(len(t), np.nan), 100)
    assert len(all_nan) <= 100


def test_long_telemetry_is_downsampled_for_display(tmp_path: Path) -> None:
    folder = write_run(tmp_path, "4090", telemetry=True, hz=200.0, case_s=2.0)
    data = load_report_data([folder])
    assert len(data.telemetry) > 3 * TELEMETRY_POINTS
    power = next(b for k, _, bl in build_sections(data) if k == "power" for b in bl if isinstance(b, Figure))
    lines = [tr for tr in as_plotly(power.figure).data if tr.mode == "lines"]
    assert len(lines) == 3 and all(len(tr.x) <= TELEMETRY_POINTS for tr in lines)
    assert max(float(np.max(tr.y)) for tr in lines[:1]) == pytest.approx(
        float(data.telemetry["power_w"].max()), rel=1e-5
    )  # the peak survives


@pytest.mark.parametrize("which", ["fleet", "hostile"])
def test_every_figure_is_valid_plotly_and_written_as_plotly_writes_it(which: str, request: Any) -> None:
    """The report builds figures as plain JSON (gpubench.report.plot): plotly.py's validators accept every one
    of them (a misspelt property or a bad value raises), and the JSON on the page is what plotly.py itself
    writes for the validated figure (typed arrays decoded)."""
    fixture = {"fleet": "fleet", "hostile": "hostile_fleet"}[which]
    sections = build_sections(load_report_data(request.getfixturevalue(fixture)))
    figures = _figures(sections)
    assert len(figures) >= 8
    for fig in figures:
        ours = json.loads(fig.to_json())
        assert ours["data"], ours["layout"].get("title")
        theirs = json.loads(pio.to_json(as_plotly(fig), validate=False))
        assert plain_json(ours) == plain_json(theirs), ours["layout"].get("title")
        # no keyword left unread: an underscore in a key is a property name of plotly.js's own
        keys = _keys(ours)
        assert keys and all("_" not in k or k in plot_module._OWN_NAMES for k in keys), keys


def _keys(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set(node) | {k for v in node.values() for k in _keys(v)}
    if isinstance(node, list):
        return {k for v in node for k in _keys(v)}
    return set()


# ------------------------------------------------------------------------------------------------------ CLI


def test_cli_report(fleet: list[Path], tmp_path: Path) -> None:
    from gpubench.cli import app

    out = tmp_path / "r.html"
    res = CliRunner().invoke(app, ["report", str(fleet[0]), str(fleet[1]), "-o", str(out), "--baseline", str(fleet[1])])
    assert res.exit_code == 0, res.output
    assert out.is_file() and str(out) in res.output.replace("\n", "")
    res = CliRunner().invoke(app, ["report", str(tmp_path / "nope")])
    assert res.exit_code == 2
    assert "not found" in res.output


def test_value_section_ranks_every_catalog_device_with_yours_marked(fleet_sections: list[Any]) -> None:
    from gpubench.report.blocks import Details, Prose
    from gpubench.report.sections import Note
    from gpubench.report.verdict import short_device

    blocks = next(b for key, _, b in fleet_sections if key == "value")
    figures = [b for b in blocks if isinstance(b, Figure)]
    tables = [b for b in blocks if isinstance(b, Table)]
    assert figures and len(tables) == len(figures)  # one chart per workload, a table beneath each
    for fig, table in zip(figures, tables, strict=True):
        # The chart ranks exactly what the table ranks, in the same order (the chart by the short names).
        plotted = as_plotly(fig.figure)
        order = list(reversed(plotted.layout.yaxis.categoryarray))

        def short(text: str) -> str:
            star = "★ " if text.startswith("★ ") else ""
            return star + short_device(text.removeprefix("★ "))

        assert [label.split(". ", 1)[1] for label in order] == [short(row[1].text) for row in table.rows]
        assert [int(row[0].text) for row in table.rows] == list(range(1, len(table.rows) + 1))
        bases = {t.name for t in plotted.data}
        assert bases <= {"measured", "published", "estimated"}
        # Money is readable: no exponent, a dollar sign.
        assert all("$" in t and "e-" not in t.lower() for tr in plotted.data for t in tr.text)
    assert any(row[1].text.startswith("★ ") for t in tables for row in t.rows)  # the fleet's own devices
    assert isinstance(blocks[0], Prose)  # the plain-words explanation first
    assert all(isinstance(b, (Figure, Table, Note, Details)) for b in blocks[1:])


def test_runs_of_one_device_with_different_cases_are_never_pooled_silently(tmp_path: Path) -> None:
    from fixtures_runs import default_cases

    every = default_cases(DEVICES["h100"])
    matmul_only = [c for c in every if c.benchmark == "matmul"]
    folders = [
        write_run(tmp_path, "h100", host="box", seed=i, telemetry=False, cases=matmul_only if i % 2 else every)
        for i in range(4)
    ]
    data = load_report_data(folders)  # 4 runs of one model, but two sets of cases: one series per run
    assert data.detail is None and len(data.series) == 4
    assert len({s.label for s in data.series}) == 4 and len({s.color for s in data.series}) == 4
    assert any("--fleet" in note for note in data.pooling)  # the page says why they are apart
    pooled = load_report_data(folders, fleet=True)  # pools runs that share their cases: two groups of two
    assert len(pooled.series) == 2 and all(len(s.members) == 2 for s in pooled.series)
    assert len({s.label for s in pooled.series}) == 2 and len(pooled.pooling) >= 2
    assert load_report_data(folders, fleet=False).detail is None
    # A run that lacks a case says "not measured" in the scorecard, not an empty cell.
    card = dict((k, b) for k, _, b in build_sections(data))["scorecard"]
    table = next(b for b in card if isinstance(b, Table))
    assert any(c.text == "not measured" for row in table.rows for c in row)


def test_same_case_runs_pool_and_the_page_says_so(tmp_path: Path) -> None:
    folders = [write_run(tmp_path, "4090", host="box", seed=i, telemetry=False) for i in range(4)]
    data = load_report_data(folders)
    assert len(data.series) == 1 and data.series[0].n_runs == 4
    verdict = dict((k, b) for k, _, b in build_sections(data))["verdict"]
    notes = [b for b in verdict if isinstance(b, Note)]
    assert any("--no-fleet" in item for n in notes for item in n.items)


def test_a_pooled_series_keeps_whole_numbers_whole(tmp_path: Path) -> None:
    """Medians over a fleet's runs: a case's own parameters (m, n, k, batch) are the same in every run and stay
    whole numbers ("b64", "4096 × 4096"), while a median that falls between two counts stays a fraction."""
    folders = [write_run(tmp_path, "4090", host=f"n{i}", seed=i, telemetry=False) for i in range(4)]
    data = load_report_data(folders)
    assert len(data.series) == 1 and data.series[0].members
    pooled, one = data.runs, load_report_data(folders[:1]).runs
    for col in ("m", "n", "k", "batch"):
        assert col in pooled and pooled[col].dropna().map(lambda v: isinstance(v, int)).all(), col
        assert sorted(pooled[col].dropna().unique()) == sorted(one[col].dropna().unique()), col
    page = re.sub(
        r'<script type="text/javascript">.*?</script>', "", build_report(folders), flags=re.S
    )  # not plotly.js
    found = re.search(r".{30}(\b\d+\.0 × \d|· b\d+\.0\b|\bn=\d+\.0\b).{10}", page)
    assert found is None, found


def test_labels_of_runs_of_one_host_carry_seconds_or_the_users_label(tmp_path: Path) -> None:
    a = write_run(tmp_path, "cpu", host="box", seed=1, telemetry=False)
    b = write_run(tmp_path, "cpu", host="box", seed=2, telemetry=False)
    labels = [s.label for s in load_report_data([a, b]).series]
    assert len(set(labels)) == 2 and all(re.search(r"\d\d:\d\d:\d\d", label) for label in labels)
    named = load_report_data([a, b], labels=["before", "after"])
    assert [s.label for s in named.series] == ["before", "after"]


def _visible_text(page: str) -> str:
    """What a reader sees: the page's text (no script or style) and every title, name and label of its figures."""
    import html as html_lib

    body = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    parts = [html_lib.unescape(re.sub(r"<[^>]+>", "\n", body))]
    figs = json.loads(re.search(r'id="gb-figures">(.*?)</script>', page, re.S).group(1))

    def walk(x: Any, key: str = "") -> None:
        if isinstance(x, dict):
            for k, v in x.items():
                walk(v, k)
        elif isinstance(x, list):
            for v in x:
                walk(v, key)
        elif isinstance(x, str) and key in ("text", "name", "hovertext", "ticktext"):
            parts.append(html_lib.unescape(re.sub(r"<[^>]+>", "\n", x)))

    walk(figs)
    return "\n".join(parts)


def test_a_hungarian_report_has_no_english_ui_text_and_hungarian_numbers(fleet: list[Path]) -> None:
    en, hu = load_messages("en"), load_messages("hu")
    fragments = set()
    for key in sorted(en.keys()):
        if key.startswith("unit.") or en(key) == hu(key):
            continue
        for frag in re.split(r"\{[^}]*\}|\n", en(key)):
            frag = frag.strip(" .,:;()–-")
            if len(frag) >= 12 and " " in frag:
                fragments.add(frag)
    text = _visible_text(build_report(fleet, lang="hu"))
    english = sorted(f for f in fragments if re.search(r"(?<![-\w])" + re.escape(f), text))  # not a --flag
    assert not english, english[:10]
    # Hungarian numbers: a decimal comma and a space between thousands, never "0.10×".
    assert re.search(r"\d,\d+×", text) and not re.search(r"\b\d+\.\d+×", text)
    assert re.search(r"\d\u00a0\d{3}\b", text)


def test_hungarian_numbers_and_articles() -> None:
    hu, en = load_messages("hu"), load_messages("en")
    assert hu.num(31227.5) == "31\u00a0228" and en.num(31227.5) == "31,228"
    assert hu.num(0.1034) == "0,103" and hu.multiple(0.1) == "0,10×" and en.multiple(590000) == "590,000×"
    assert hu.money(1.6e-6) == "$0,0000016" and "e" not in en.money(1.6e-6).lower()
    assert "az AMD EPYC" in hu("verdict.chart_title", device="AMD EPYC")
    assert "a GeForce" in hu("verdict.chart_title", device="GeForce RTX 4090")
    assert "a H100" in hu("verdict.chart_title", device="H100")


def test_every_case_is_visible_in_html_csv_json_and_md_from_one_field_list(tmp_path: Path) -> None:
    from gpubench.report.fields import FIELDS

    cases = [
        CaseSpec("matmul", {"dtype": "fp32", "m": 64, "n": 64, "k": 64}, 1.0, "flop", 2 * 64**3, 2 * 64**3),
        CaseSpec("brand_new_bench", {"size": 3}, 5.0, "sample", 1.0),  # no spec, no section yet
    ]
    folder = write_run(tmp_path, "cpu", host="box", telemetry=False, cases=cases)
    sections = dict((k, b) for k, _, b in build_sections(load_report_data([folder])))
    rows = next(b for b in sections["cases"] if isinstance(b, Table)).rows
    assert any("brand_new_bench" in c.text for row in rows for c in row)
    names = [f.name for f in FIELDS]
    csv_text = render_report([folder], out=tmp_path / "c.csv", fmt="csv").read_text(encoding="utf-8")
    assert csv_text.splitlines()[0] == ",".join(names) and "brand_new_bench" in csv_text
    doc = json.loads(render_report([folder], out=tmp_path / "c.json", fmt="json").read_text(encoding="utf-8"))
    assert doc["fields"] == names and {c["benchmark"] for c in doc["cases"]} == {"matmul", "brand_new_bench"}
    assert all(isinstance(c["value"], float) for c in doc["cases"])
    md = render_report([folder], out=tmp_path / "c.md", fmt="md", lang="hu").read_text(encoding="utf-8")
    assert "brand_new_bench" in md.replace("\\", "") and "### Minden eset" in md  # Markdown escapes the _


# ------------------------------------------------------------------------------------------ like with like


def _matmul(dtype: str, m: int, tflops: float, n: int | None = None, k: int | None = None) -> CaseSpec:
    n, k = n or m, k or m
    return CaseSpec(
        "matmul", {"dtype": dtype, "m": m, "n": n, "k": k}, tflops, "flop", 2.0 * m * n * k, 2.0 * m * n * k
    )


def test_a_small_product_is_compared_only_with_estimates_of_its_own_size(tmp_path: Path) -> None:
    from gpubench.report.verdict import comparison_rows, verdict_paragraphs
    from gpubench.report.workloads import buyer_workloads

    folder = write_run(tmp_path, "cpu", telemetry=False, cases=[_matmul("fp32", 256, 0.1)], reps=10)
    data = load_report_data([folder])
    rows = [r for r in comparison_rows(data) if r.basis != "measured"]
    assert rows and {r.workload for r in rows} == {"matmul[256³]/fp32"}
    # Same-shape estimates, launch-bound on a GPU: tens of times the CPU, not the best-shape figures'
    # hundreds (an RTX 4090's published 54 TFLOP/s fp32 would be 540x) and never a datasheet peak.
    assert all(r.basis == "estimated" and 1 < r.multiple < 100 for r in rows), [(r.device, r.multiple) for r in rows]
    text = " ".join(verdict_paragraphs(data))
    assert "256³ (a small size)" in text
    # No one buys a card for a 256³ product: the Value section leaves it out.
    assert not [ref for ref in buyer_workloads(data.ok) if ref.benchmark == "matmul"]


def test_the_matmul_headline_is_the_plateau_size_else_the_largest_square(tmp_path: Path) -> None:
    from gpubench.report.verdict import verdict_metrics

    def matmul_metric(cases: list[CaseSpec], sub: str) -> str:
        folder = write_run(tmp_path / sub, "cpu", telemetry=False, cases=cases, reps=10)
        data = load_report_data([folder])
        return next(m.key for m in verdict_metrics(data, data.baseline) if m.workload.benchmark == "matmul")

    # The 256³ product ran fastest, yet the product at the GPU plateau is the one comparable with GPUs.
    assert matmul_metric([_matmul("fp32", 256, 0.5), _matmul("fp32", 4096, 0.2)], "a") == "matmul/fp32"
    # Only small products: the largest square, not the fastest product nor a larger non-square one.
    small = [_matmul("fp32", 256, 0.5), _matmul("fp32", 512, 0.2), _matmul("fp32", 1024, 0.1, n=512, k=512)]
    assert matmul_metric(small, "b") == "matmul[512³]/fp32"
