"""`gpubench fleet launch | check | baseline` through Typer's CliRunner: exit codes (0 pass, 1 a failing GPU,
2 bad input with one line), the printed table, --json, --format md, dry-run texts; and the report's Fleet
section drawing the same check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from figure_check import as_plotly
from typer.testing import CliRunner

from gpubench.cli import app
from gpubench.fleet.synthetic import write_fleet

runner = CliRunner()


@pytest.fixture(scope="module")
def fleets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("fleets")
    write_fleet(root / "good", 3, 2, seed=1)
    write_fleet(root / "bad", 3, 2, seed=2, slow={("node-1", 1): 0.8}, skip=("node-2/gpu0",))
    return {"good": root / "good", "bad": root / "bad"}


def test_check_exit_codes_and_table(fleets: dict[str, Path]) -> None:
    ok = runner.invoke(app, ["fleet", "check", str(fleets["good"])])
    assert ok.exit_code == 0, ok.output
    assert "PASS" in ok.output
    bad = runner.invoke(app, ["fleet", "check", str(fleets["bad"])], env={"COLUMNS": "250"})
    assert bad.exit_code == 1
    lines = [line for line in bad.output.splitlines() if "node-1" in line or "node-2" in line]
    assert any("gpu1" in line and "fleet" in line and "80." in line for line in lines)
    assert any("gpu0" in line and "missing" in line for line in lines)
    assert "FAIL" in bad.output


def test_check_json_and_markdown(fleets: dict[str, Path]) -> None:
    res = runner.invoke(app, ["fleet", "check", str(fleets["bad"]), "--json"])
    assert res.exit_code == 1
    data = json.loads(res.output)
    assert data["failing"] == ["node-1/gpu1", "node-2/gpu0"]
    assert data["expected"] == 9 and data["reported"] == 8
    md = runner.invoke(app, ["fleet", "check", str(fleets["bad"]), "--format", "md"])
    assert md.exit_code == 1 and "| node-1 | gpu1 |" in md.output


@pytest.mark.parametrize(
    "args",
    [
        ["fleet", "check", "/nonexistent/fleet"],
        ["fleet", "check", "{good}", "--threshold", "lots"],
        ["fleet", "check", "{good}", "--rules", "/nonexistent/rules.toml"],
        ["fleet", "check", "{good}", "--format", "xml"],
        ["fleet", "launch", "fleet", "--scheduler", "pbs", "--out", "/tmp/x"],
        ["fleet", "launch", "no-such-suite", "--scheduler", "local", "--out", "/tmp/x", "--dry-run"],
    ],
)
def test_bad_input_is_exit_2_one_line(args: list[str], fleets: dict[str, Path]) -> None:
    res = runner.invoke(app, [a.format(good=fleets["good"]) for a in args])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and "error" in res.output.lower()


def test_threshold_from_the_command_line(fleets: dict[str, Path]) -> None:
    # node-1/gpu1 is 20 % slow: a 25 % threshold lets it pass the fleet rule (the missing GPU still fails).
    res = runner.invoke(app, ["fleet", "check", str(fleets["bad"]), "--threshold", "25%", "--json"])
    data = json.loads(res.output)
    assert data["failing"] == ["node-2/gpu0"] and data["threshold"] == 0.25


def test_baseline_written_and_used(fleets: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "baseline.toml"
    res = runner.invoke(app, ["fleet", "baseline", str(fleets["good"]), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert out.read_text().count("[[rule]]") == 7  # 6 per-GPU cases + the node all_reduce
    again = runner.invoke(app, ["fleet", "check", str(fleets["good"]), "--baseline", str(out)])
    assert again.exit_code == 0, again.output
    refused = runner.invoke(app, ["fleet", "baseline", str(fleets["bad"]), "-o", str(tmp_path / "b2.toml")])
    assert refused.exit_code == 2 and "fails its own check" in refused.output
    assert not (tmp_path / "b2.toml").exists()


def test_launch_dry_runs_print_the_scheduler_input(tmp_path: Path) -> None:
    res = runner.invoke(
        app,
        ["fleet", "launch", "fleet", "--scheduler", "slurm", "--nodes", "4", "--gpus-per-node", "8"]
        + ["--out", str(tmp_path / "s"), "--partition", "gpu", "--dry-run"],
    )
    assert res.exit_code == 0, res.output
    assert res.output.startswith("#!/bin/bash") and "#SBATCH --partition=gpu" in res.output
    assert not (tmp_path / "s").exists()
    res = runner.invoke(
        app,
        ["fleet", "launch", "fleet", "--scheduler", "kubernetes", "--nodes", "4", "--gpus-per-node", "8"]
        + ["--out", "/results", "--image", "img:1", "--pvc", "res", "--dry-run"],
    )
    assert res.exit_code == 0 and 'completionMode: "Indexed"' in res.output


def test_report_fleet_section_draws_the_check(fleets: dict[str, Path]) -> None:
    from gpubench.report import build_sections, load_report_data
    from gpubench.report.blocks import Figure, Note, Table
    from gpubench.report.sections import SECTIONS

    data = load_report_data([str(fleets["bad"] / "*" / "*" / "*")])
    [(key, _, blocks)] = build_sections(data, [s for s in SECTIONS if s.key == "fleet"])
    assert key == "fleet"
    note = next(b for b in blocks if isinstance(b, Note))
    assert note.kind == "warn" and "2 of 9" in note.text
    fig = as_plotly(next(b for b in blocks if isinstance(b, Figure)).figure)
    failing = [tr for tr in fig.data if tr.name == "failing GPU"]
    assert failing and set(failing[0].text) == {"node-1/gpu1"}
    dots = sum(len(tr.x) for tr in fig.data if tr.name in ("GPU", "failing GPU"))
    assert dots == 5 * 6 + 3 * 1  # one dot per GPU per case: 5 GPUs reported x 6 cases, 3 node runs x all_reduce
    table = next(b for b in blocks if isinstance(b, Table))
    assert {(r[0].text, r[1].text) for r in table.rows} == {("node-1", "gpu1"), ("node-2", "gpu0")}
