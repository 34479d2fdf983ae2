"""The report as a decision for a beginner: verdict, explanations, languages, Markdown/CSV summaries, fleets."""

from __future__ import annotations

import csv
import io
import math
import re
import string
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from figure_check import as_plotly
from fixtures_runs import DEVICES, HOSTILE, write_fleet, write_many, write_run
from typer.testing import CliRunner

from gpubench.errors import GpubenchError
from gpubench.report import build_report, build_sections, load_report_data, render_report
from gpubench.report.blocks import Details, Figure, Prose, Table
from gpubench.report.data import headline_metrics, multiple_text
from gpubench.report.fields import FIELDS, case_records, to_csv
from gpubench.report.figures import short_case
from gpubench.report.i18n import _catalogue, languages, load_messages
from gpubench.report.summary import markdown_summary
from gpubench.report.verdict import comparison_rows, resolve_against, trust_warnings, verdict_paragraphs


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_fleet(tmp_path_factory.mktemp("fleet"))


@pytest.fixture(scope="module")
def cpu_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_run(tmp_path_factory.mktemp("cpu"), "cpu", host="laptop", telemetry=False, reps=20)


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_many(tmp_path_factory.mktemp("many"), 8)  # 6 H100s (a fleet group), 2 RTX 4090s


def _sections(data: Any) -> dict[str, list[Any]]:
    return {key: blocks for key, _, blocks in build_sections(data)}


# ------------------------------------------------------------------------------------------- catalogues


def test_every_language_has_every_english_text_with_the_same_fields() -> None:
    en = _catalogue("en")
    fmt = string.Formatter()
    assert {"en", "hu"} <= set(languages()) and languages()[0] == "en"
    for lang in languages():
        other = _catalogue(lang)
        assert set(other) == set(en), (lang, sorted(set(en) ^ set(other))[:10])
        for key, text in en.items():
            fields = {f for _, f, _, _ in fmt.parse(text) if f}
            assert {f for _, f, _, _ in fmt.parse(other[key]) if f} == fields, (lang, key)


def test_unknown_language_is_a_clear_error(fleet: list[Path]) -> None:
    with pytest.raises(GpubenchError, match="--lang 'xx'"):
        load_messages("xx")
    from gpubench.cli import app

    res = CliRunner().invoke(app, ["report", str(fleet[0]), "--lang", "xx"])
    assert res.exit_code == 2 and "en, hu" in res.output


def test_hungarian_report_translates_headings_and_keeps_numbers(cpu_run: Path) -> None:
    en, hu = build_report([cpu_run]), build_report([cpu_run], lang="hu")
    assert '<html lang="hu">' in hu and '<html lang="en">' in en
    assert ">Összegzés</h2>" in hu and ">Mátrixszorzás</h2>" in hu and ">Verdict</h2>" not in hu
    assert ">Verdict</h2>" in en
    # Numbers and units stay: the CPU's best fp32 matmul appears the same in both.
    data = load_report_data([cpu_run])
    best = next(m for m in headline_metrics(data) if m.key == "matmul/fp32")
    value = re.escape(f"{best.value:.3g}")
    assert re.search(value, en) and re.search(value, hu)


# -------------------------------------------------------------------------------------------- sections


def test_every_section_explains_itself_first(fleet: list[Path]) -> None:
    for key, blocks in _sections(load_report_data(fleet)).items():
        assert isinstance(blocks[0], Prose), key
        if key != "verdict":
            assert blocks[0].kind == "explain" and len(" ".join(blocks[0].paragraphs)) > 150, key


def test_explanations_adapt_to_a_cpu_run(cpu_run: Path, fleet: list[Path]) -> None:
    cpu = _sections(load_report_data([cpu_run]))
    gpu = _sections(load_report_data([fleet[0]]))
    cpu_text = " ".join(cpu["matmul"][0].paragraphs)
    gpu_text = " ".join(gpu["matmul"][0].paragraphs)
    assert "What a GPU would change" in cpu_text and "What a GPU would change" not in gpu_text
    # The run's own bf16/fp32 ratio is quoted (fixture: CPU bf16 2.0 vs fp32 3.0 TFLOP/s ceilings).
    ratio = re.search(r"bf16 reached ([0-9.]+)× the fp32 speed", cpu_text)
    assert ratio is not None and 0.5 < float(ratio.group(1)) < 0.8
    assert "no power or temperature readings" not in " ".join(gpu["power"][0].paragraphs)
    assert any("DRAM" in p or "main memory" in p for p in cpu["memory"][0].paragraphs)


def test_verdict_compares_with_reference_devices_as_multiples(fleet: list[Path]) -> None:
    data = load_report_data(fleet)  # baseline: the H100 run
    rows = comparison_rows(data)
    by = {(r.device, r.workload): r for r in rows}
    metrics = {(m.run_id, m.key): m.value for m in headline_metrics(data)}
    h100, rtx = data.series[0], data.series[1]
    r = by[(rtx.label, "matmul/bf16")]
    assert r.basis == "measured"
    assert r.multiple == pytest.approx(metrics[(rtx.run_id, "matmul/bf16")] / metrics[(h100.run_id, "matmul/bf16")])
    # Catalog reference devices that were not measured appear, each marked by what it rests on.
    refs = {d for (d, w), row in by.items() if row.basis != "measured"}
    assert {"NVIDIA A100 SXM 80GB", "AMD Instinct MI300X"} <= refs
    assert not any("H100" in d for d in refs)  # measured already: no second H100 bar
    mi300 = by[("AMD Instinct MI300X", "memory/d2d")]
    assert mi300.basis in {"datasheet", "estimated", "published"} and mi300.multiple > 1
    fig = as_plotly(next(b.figure for b in _sections(data)["verdict"] if isinstance(b, Figure)))
    assert fig.layout.xaxis.type == "log" and len(fig.data) >= 2


def test_verdict_warns_about_wrong_failed_throttled_and_noisy(fleet: list[Path]) -> None:
    data = load_report_data(fleet)
    warnings = " ".join(trust_warnings(data))
    runs = data.runs
    assert f"{int((runs['status'] == 'wrong').sum())} case(s) computed a WRONG result" in warnings
    assert "failed" in warnings and "throttled" in warnings and "noisy" in warnings
    assert "difference(s)" in warnings  # the 4090 ran another torch version


def test_cpu_verdict_says_what_a_gpu_would_do(cpu_run: Path) -> None:
    text = " ".join(verdict_paragraphs(load_report_data([cpu_run])))
    assert "(a CPU)" in text and "a GPU is the tool" in text
    assert "no power readings" in text  # telemetry off: energy is unknown and the verdict says why
    hu = " ".join(verdict_paragraphs(load_report_data([cpu_run], lang="hu")))
    assert "processzor" in hu and "GPU kell" in hu


def test_against_adds_a_catalog_device_and_rejects_unknown_ones(fleet: list[Path]) -> None:
    assert resolve_against(["l40s"]) == ["l40s"]
    data = load_report_data(fleet, against=resolve_against(["l40s"]))
    assert any("L40S" in r.device for r in comparison_rows(data))
    with pytest.raises(GpubenchError, match="not a catalog device"):
        resolve_against(["rtx 9999 ultra"])


def test_multiple_text_two_significant_digits() -> None:
    assert [multiple_text(x) for x in (0.00271, 0.42, 1.0, 2.345, 25.4, 191_344.0)] == [
        "0.0027×",
        "0.42×",
        "1.0×",
        "2.3×",
        "25×",
        "190,000×",
    ]
    assert multiple_text(math.nan) == "–"


# --------------------------------------------------------------------------------------------- summaries


def test_markdown_summary_has_verdict_table_and_environment(fleet: list[Path], tmp_path: Path) -> None:
    hostile = write_fleet(tmp_path / "hostile", hostile=True)
    text = markdown_summary(load_report_data(hostile))
    assert "## gpubench:" in text and "### Best result per kind of work" in text and "### Environment" in text
    assert "torch 2.5.1" in text and "| best result |" in text and "| matrix multiplication bf16 (TFLOP/s) |" in text
    assert "<script" not in text and "<img" not in text  # forums render HTML: results-file text is escaped
    # Every table row has as many cells as its header.
    for block in text.split("\n\n"):
        lines = [ln for ln in block.splitlines() if ln.startswith("|")]
        if lines:
            widths = {len(re.findall(r"(?<!\\)\|", ln)) for ln in lines}
            assert len(widths) == 1, block[:200]
    path = render_report(fleet, out=tmp_path / "s.md", fmt="md", lang="hu")
    assert "### Környezet" in path.read_text(encoding="utf-8")


def test_csv_is_every_case_from_the_one_field_list(fleet: list[Path], tmp_path: Path) -> None:
    data = load_report_data(fleet)
    rows = list(csv.DictReader(io.StringIO(to_csv(case_records(data)))))
    assert tuple(rows[0]) == tuple(f.name for f in FIELDS) and len(rows) == len(data.runs)
    value = {(r["series"], r["case_id"]): r["value"] for r in rows}
    for m in headline_metrics(data):  # every headline figure is one case's value, C-locale
        if m.key.startswith("energy/"):  # energy per item: the case's derived column, not its headline value
            assert m.value == pytest.approx(data.runs.at[m.row, "energy_per_work"], rel=1e-9)
            continue
        text = value[(data.by_run[m.run_id].label, data.runs.at[m.row, "case_id"])]
        assert "," not in text and float(text) == pytest.approx(m.value, rel=1e-5)
    from gpubench.cli import app

    out = tmp_path / "h.csv"
    res = CliRunner().invoke(app, ["report", *map(str, fleet), "--format", "csv", "-o", str(out)])
    assert res.exit_code == 0 and out.read_text(encoding="utf-8").startswith("series,device")
    res = CliRunner().invoke(app, ["report", str(fleet[0]), "--format", "pdf"])
    assert res.exit_code == 2 and "--format" in res.output


# ------------------------------------------------------------------------------------------------ fleets


def test_runs_of_one_model_aggregate_into_one_series(many: list[Path]) -> None:
    data = load_report_data(many)
    assert data.detail is not None and len(data.detail.series) == 8
    groups = [s for s in data.series if s.members]
    assert len(groups) == 1 and groups[0].n_runs == 6 and groups[0].device_name == DEVICES["h100"].name
    assert len(data.series) == 3  # the group and the two RTX 4090 runs
    # A group's row: the median over its runs, the bars from the slowest to the fastest run.
    case = "matmul[dtype=bf16,m=4096,n=4096,k=4096]"
    members = data.detail.ok[(data.detail.ok["case_id"] == case) & data.detail.ok["run_id"].isin(groups[0].members)]
    row = data.ok[(data.ok["run_id"] == groups[0].run_id) & (data.ok["case_id"] == case)].iloc[0]
    assert row["throughput"] == pytest.approx(members["throughput"].median())
    assert row["throughput_p10"] == pytest.approx(members["throughput"].min())
    assert row["throughput_p90"] == pytest.approx(members["throughput"].max())
    assert row["n_runs"] == 6
    # Telemetry only of what is drawn: the representative run stands for the group.
    assert set(data.telemetry["run_id"]) <= {s.run_id for s in data.series}
    assert groups[0].representative in groups[0].members


def test_fleet_section_lists_every_run_one_click_away(many: list[Path]) -> None:
    data = load_report_data(many)
    sections = _sections(data)
    fleet = sections["fleet"]
    details = [b for b in fleet if isinstance(b, Details)]
    assert len(details) == 1
    table = details[0].blocks[0]
    # Every GPU of the runs, slowest first (the Fleet section is the fleet check: 6 H100s and 2 RTX 4090s,
    # each judged against the median of its own model).
    assert isinstance(table, Table) and len(table.rows) == 8
    speeds = [float(r[3].text.rstrip("%")) for r in table.rows]
    assert speeds == sorted(speeds) and min(speeds) < 100 < max(speeds)
    runs = [b for b in sections["runs"] if isinstance(b, Table | Details)]
    assert runs, "the Runs table is there (in a fleet of more than 8 runs, collapsed)"
    power = [
        b
        for b in sections["power"]
        if isinstance(b, Figure) and "temperature and clock" in b.figure.layout["title"]["text"]
    ]
    assert len(power) == 3  # one timeline per shown series, not per run


def test_small_comparisons_stay_per_run(fleet: list[Path]) -> None:
    data = load_report_data(fleet)
    assert data.detail is None and len(data.series) == 3 and "fleet" not in _sections(data)


# -------------------------------------------------------------------------------------------------- page


def test_page_layout_toc_print_and_long_names(tmp_path: Path) -> None:
    folders = write_fleet(tmp_path / "h", hostile=True)
    text = build_report(folders)
    assert '<nav class="toc"' in text and "position: sticky" in text and "@media print" in text
    assert "@media (max-width: 700px)" in text
    long_case = "memory[kind=d2d,size_bytes=65536,pinned=false]"
    assert short_case(long_case) != long_case and len(short_case(long_case)) <= 44
    assert f'title="{long_case}"' in text  # the full name on hover
    assert HOSTILE not in text and "<script>alert(1)" not in text
    first = [m.start() for m in re.finditer(r'<section id="(verdict|runs)"', text)]
    assert len(first) == 2 and text.index('id="verdict"') < text.index('id="runs"')


def test_explanation_keys_for_sections_exist() -> None:
    from gpubench.report.sections import SECTIONS

    t = load_messages("en")
    for section in SECTIONS:
        assert t.has(f"section.{section.key}.title"), section.key
        if section.key != "verdict":
            assert t.paragraphs(f"section.{section.key}.explain"), section.key


def test_report_data_frames_are_not_mutated_by_aggregation(many: list[Path]) -> None:
    data = load_report_data(many, fleet_min_runs=0)
    assert data.detail is None and len(data.series) == 8
    assert isinstance(data.runs, pd.DataFrame) and "n_runs" not in data.runs
