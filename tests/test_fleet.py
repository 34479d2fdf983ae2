"""Fleet acceptance: the check on synthetic fleets (slow GPU named, no false alarm, missing nodes, failures,
facts, rules, baselines), the scheduler inputs (sbatch text, a Job manifest validated against the Kubernetes
schema), and real launches through local processes and a fake ssh, with a fake gpubench on the nodes."""

from __future__ import annotations

import json
import math
import os
import shlex
import sys
from pathlib import Path

import pytest

from gpubench.errors import GpubenchError
from gpubench.files import tomllib
from gpubench.fleet import (
    LaunchOptions,
    RuleSet,
    check_fleet,
    derive_baseline,
    launch,
    load_rules,
    parse_hosts,
    parse_rules,
    read_manifest,
    rules_toml,
)
from gpubench.fleet.launch import job_manifest, sbatch_script, to_yaml
from gpubench.fleet.synthetic import write_fleet

ROOT = Path(__file__).resolve().parents[1]
FAKES = Path(__file__).resolve().parent / "fakes"
FAKE_GPUBENCH = f"{shlex.quote(sys.executable)} {shlex.quote(str(FAKES / 'fake_gpubench.py'))}"


@pytest.fixture(scope="module")
def slow_fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("slow")
    write_fleet(root, 4, 4, slow={("node-2", 3): 0.88}, noise=0.01)
    return root


def test_the_slow_gpu_and_only_it_is_named(slow_fleet: Path) -> None:
    check = check_fleet([slow_fleet])
    assert not check.passed
    assert check.failing_units == ["node-2/gpu3"]
    f = check.findings[0]
    assert f.rule == "fleet" and 0.85 < f.ratio < 0.91
    assert f.low < f.ratio < f.high < 1.0  # an interval from its rounds, wholly below the median
    assert f.uuid.startswith("GPU-") and f.serial
    assert check.expected == 4 * 5 and len(check.units) == 20  # 4 GPUs + the node's all_reduce run, per node


def test_a_clean_noisy_fleet_passes(tmp_path: Path) -> None:
    for seed in range(2):
        root = tmp_path / str(seed)
        write_fleet(root, 6, 1, noise=0.03, seed=seed)
        check = check_fleet([root])
        assert check.passed, check.to_markdown()


def test_slowdown_within_own_noise_is_not_convicted(tmp_path: Path) -> None:
    # 8 % slow but its rounds spread 20 %: the interval reaches the median, so no failure.
    root = tmp_path / "f"
    write_fleet(root, 6, 1, node_collective=False, noise=0.001, seed=3)
    write_fleet(tmp_path / "noisy", 1, 1, node_collective=False, noise=0.2, seed=4)
    check = check_fleet([root])
    assert check.passed


def test_missing_node_failed_case_and_facts_fail(tmp_path: Path) -> None:
    root = tmp_path / "f"
    write_fleet(
        root,
        4,
        2,
        skip=("node-3/gpu0", "node-3/gpu1", "node-3/node"),
        statuses={("node-0", 1, "matmul"): "wrong"},
        facts={("node-1", 0): {"ecc_uncorrectable_volatile": 2.0}, ("node-2", 1): {"power_limit_w": 500.0}},
    )
    check = check_fleet([root])
    rules = {(f.node, f.gpu, f.rule) for f in check.findings}
    assert {("node-3", "gpu0", "missing"), ("node-3", "gpu1", "missing"), ("node-3", "node", "missing")} <= rules
    assert ("node-0", "gpu1", "wrong") in rules
    assert ("node-1", "gpu0", "ecc_uncorrectable_volatile") in rules
    assert ("node-2", "gpu1", "power limit") in rules
    data = json.loads(check.to_json())
    assert data["passed"] is False and data["expected"] == 12 and data["reported"] == 9
    assert "node-3/gpu0" in data["missing"]


def test_a_case_its_siblings_ran_but_it_skipped_fails(tmp_path: Path) -> None:
    root = tmp_path / "f"
    write_fleet(root, 3, 1, node_collective=False, statuses={("node-1", 0, "sustained"): "skipped"})
    check = check_fleet([root])
    assert [(f.node, f.rule) for f in check.findings] == [("node-1", "missing case")]
    assert check.findings[0].case.startswith("sustained[")


def test_unnamed_slurm_nodes_missing_by_count(tmp_path: Path) -> None:
    root = tmp_path / "f"
    write_fleet(root, 3, 1, node_collective=False)
    manifest = json.loads((root / "fleet.json").read_text())
    manifest.update(nodes=[], n_nodes=4, scheduler="slurm")
    (root / "fleet.json").write_text(json.dumps(manifest))
    check = check_fleet([root])
    assert [f.rule for f in check.findings] == ["missing"]  # 3 of 4 reported; the fourth has no name yet
    (root / "nodes.txt").write_text("node-0\nnode-1\nnode-2\ngpu-node-17\n")
    check = check_fleet([root])
    assert [(f.node, f.rule) for f in check.findings] == [("gpu-node-17", "missing")]


def test_rules_file_baseline_and_variance(tmp_path: Path, slow_fleet: Path) -> None:
    rules = parse_rules(
        """
        [defaults]
        threshold = 0.2
        [[rule]]
        name = "gemm bf16 8192"
        case = "matmul[dtype=bf16,m=8192,*"
        baseline = 800.0
        min_ratio_to_baseline = 0.97
        [[rule]]
        case = "memory[*"
        max_cov = 0.0001
        """,
        "rules.toml",
    )
    assert rules.threshold == 0.2
    check = check_fleet([slow_fleet], rules)
    names = {f.rule for f in check.findings}
    assert "fleet" not in names  # the 12 % slowdown is within the 20 % threshold
    gemm = [f for f in check.findings if f.rule == "gemm bf16 8192"]
    assert len(gemm) == 16 and all(f.ratio < 0.97 for f in gemm)  # 760 TFLOP/s of an 800 baseline, every GPU
    assert any(f.rule.startswith("memory[") and "spread" in f.detail for f in check.findings)


def test_derived_baseline_round_trips_and_catches_a_slow_gpu(tmp_path: Path) -> None:
    good = tmp_path / "good"
    write_fleet(good, 4, 2, noise=0.01, seed=7)
    check = check_fleet([good])
    assert check.passed
    rules = derive_baseline(check, threshold=0.05)
    text = rules_toml(rules, 0.05, 3.5, header=["from a test"])
    path = tmp_path / "baseline.toml"
    path.write_text(text)
    loaded = load_rules(path)
    assert [r.baseline for r in loaded.rules] == [r.baseline for r in rules]
    assert check_fleet([good], loaded).passed  # the fleet it came from passes its own baseline
    later = tmp_path / "later"
    write_fleet(later, 4, 2, noise=0.01, seed=8, slow={("node-1", 0): 0.9})
    failing = check_fleet([later], loaded)
    assert {f.node for f in failing.findings if f.rule != "fleet"} == {"node-1"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[rule]]\ncase = 'x'\n", "give min_ratio_to_baseline"),
        ("[[rule]]\nmin_ratio_to_baseline = 0.9\n", "needs a baseline"),
        ("[[rule]]\nfact = 'ecc'\n", "needs min or max"),
        ("[[rule]]\nbogus = 1\n", "rule[0].bogus"),
        ("[defaults]\nthreshold = 5\n", "fraction"),
        ("[[rule]]\nbaseline = 'x'\nmin_ratio_to_baseline = 0.9\n", "expected a number"),
        ("not toml = = 1", "not valid TOML"),
    ],
)
def test_bad_rules_are_one_clear_error(text: str, message: str) -> None:
    with pytest.raises(GpubenchError, match=message.replace("[", r"\[")):
        parse_rules(text, "r.toml")


def test_no_runs_and_damaged_manifest_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(GpubenchError):
        check_fleet([tmp_path / "nowhere"])
    (tmp_path / "fleet.json").write_text("{not json")
    with pytest.raises(GpubenchError, match="damaged"):
        read_manifest(tmp_path)


# --------------------------------------------------------------------------------------- scheduler inputs


def _opts(**kw: object) -> LaunchOptions:
    base = dict(suite="fleet", scheduler="slurm", nodes=4, gpus_per_node=8, out=Path("/shared/acc"))
    base.update(kw)
    return LaunchOptions(**base)  # type: ignore[arg-type]


def test_sbatch_script_text() -> None:
    opts = _opts(partition="gpu", account="lab", time_limit="0:30:00", sbatch_args=("--exclusive",))
    text = sbatch_script(opts, collective=True)
    lines = text.splitlines()
    assert lines[0] == "#!/bin/bash"
    for d in ("--nodes=4", "--ntasks-per-node=8", "--gres=gpu:8", "--partition=gpu", "--account=lab"):
        assert f"#SBATCH {d}" in lines
    assert "#SBATCH --time=0:30:00" in lines and "#SBATCH --exclusive" in lines
    srun = [line for line in lines if line.startswith("srun ")]
    assert len(srun) == 2
    per_gpu = shlex.split(srun[0])
    assert per_gpu[:4] == ["srun", "--ntasks-per-node=8", "--ntasks=32", "--kill-on-bad-exit=0"]
    inner = shlex.split(per_gpu[-1])
    assert inner[:3] == ["gpubench", "run", "fleet"]
    assert inner[inner.index("--device") + 1] == "cuda:$SLURM_LOCALID"
    assert inner[inner.index("--out") + 1] == "$GPUBENCH_FLEET_OUT/$SLURMD_NODENAME/gpu$SLURM_LOCALID"
    node = shlex.split(shlex.split(srun[1])[-1])
    assert node[node.index("--nproc") + 1] == "8" and "collective*" in node
    assert 'scontrol show hostnames "$SLURM_JOB_NODELIST"' in text
    # bash -n: the script parses
    import subprocess

    assert subprocess.run(["bash", "-n"], input=text, text=True, check=False).returncode == 0


def test_job_manifest_is_a_valid_indexed_job() -> None:
    kv = pytest.importorskip("kubernetes_validate")
    yaml = pytest.importorskip("yaml")
    opts = _opts(scheduler="kubernetes", image="ghcr.io/lab/gpubench:1", namespace="bench", pvc="results")
    job = job_manifest(opts, collective=True)
    text = to_yaml(job)
    assert yaml.safe_load(text) == job  # the YAML writer says what the dict says
    kv.validate(yaml.safe_load(text), "1.30", strict=True)
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed" and spec["completions"] == spec["parallelism"] == 4
    pod = spec["template"]["spec"]
    c = pod["containers"][0]
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 8
    assert c["volumeMounts"][0]["mountPath"] == "/shared/acc"
    assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == "results"
    assert "node-$JOB_COMPLETION_INDEX" in c["command"][2]
    # A broken manifest is caught by the same validator: the check above is not vacuous.
    bad = json.loads(json.dumps(job))
    bad["spec"]["completions"] = "four"
    with pytest.raises(Exception):  # noqa: B017 - kubernetes_validate raises its own ValidationError
        kv.validate(bad, "1.30", strict=True)


def test_bad_launch_options_are_clear_errors(tmp_path: Path) -> None:
    for kw, msg in (
        ({"scheduler": "pbs"}, "--scheduler"),
        ({"nodes": 0}, "--nodes"),
        ({"scheduler": "ssh"}, "--hosts"),
        ({"scheduler": "ssh", "hosts": ("a",)}, "lists 1 hosts"),
        ({"scheduler": "kubernetes"}, "--image"),
        ({"run_args": ("--device", "cpu")}, "--run-arg"),
        ({"time_limit": "soon"}, "--time"),
    ):
        with pytest.raises(GpubenchError, match=msg):
            launch(_opts(out=tmp_path, **kw), dry_run=True)
    (tmp_path / "hosts").write_text("# the rack\nh1\nh2 # spare\n\n")
    assert parse_hosts(str(tmp_path / "hosts")) == ("h1", "h2")
    assert parse_hosts("a, b,c") == ("a", "b", "c")


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "shared"
    result = launch(_opts(out=out), dry_run=True)
    assert result.text.startswith("#!/bin/bash") and not out.exists()


# --------------------------------------------------------------------------------------- real launches


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "PATH": f"{FAKES / 'bin'}{os.pathsep}{os.environ['PATH']}"}


def test_local_launch_then_check_names_the_slow_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "shared"
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    opts = LaunchOptions(
        "fleet-cpu",
        "local",
        nodes=3,
        gpus_per_node=1,
        out=out,
        device="cpu",
        gpubench=FAKE_GPUBENCH,
        env={"FAKE_GPUBENCH_SLOW": "node-2"},
        parallel=3,
    )
    result = launch(opts)
    assert result.exit_codes == {"node-0/gpu0": 0, "node-1/gpu0": 0, "node-2/gpu0": 0}
    manifest = read_manifest(out)
    assert manifest is not None and manifest.nodes == ("node-0", "node-1", "node-2")
    assert not manifest.node_collective  # one process a node: no all_reduce within it
    assert (out / "node-1" / "gpu0.log").is_file()
    check = check_fleet([out])
    assert check.failing_units == ["node-2/gpu0"]
    assert len(check.units) == 3


def test_ssh_launch_through_a_fake_ssh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # tests/fakes/bin/ssh runs the remote command here: the launch's quoting, per-host node script and folder
    # layout are real; so is a host that cannot be reached (it then never reports: a failure, not a gap).
    for k, v in _env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("FAKE_SSH_DOWN", "gpu-b")
    out = tmp_path / "shared dir"  # a space: the quoting is tested too
    opts = LaunchOptions(
        "fleet", "ssh", nodes=2, gpus_per_node=2, out=out, hosts=("gpu-a", "gpu-b"), gpubench=FAKE_GPUBENCH
    )
    result = launch(opts)
    assert result.exit_codes == {"gpu-a": 0, "gpu-b": 255}
    assert "Connection refused" in result.output
    check = check_fleet([out])
    assert {(f.node, f.gpu, f.rule) for f in check.findings} == {
        ("gpu-b", "gpu0", "missing"),
        ("gpu-b", "gpu1", "missing"),
        ("gpu-b", "node", "missing"),
    }
    assert [u.key for u in check.units] == ["gpu-a/gpu0", "gpu-a/gpu1", "gpu-a/node"]  # 2 GPUs + the all_reduce run


def _slurm_ready() -> str | None:
    """None when a Slurm controller answers here (started by scripts/slurm_one_node.sh if need be), else why not."""
    import shutil
    import subprocess

    if shutil.which("sbatch") is None:
        return "Slurm is not installed (apt-get install -y slurmctld slurmd munge slurm-client)"

    def up() -> bool:
        r = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, check=False, timeout=20)
        return r.returncode == 0 and any(s in r.stdout for s in ("idle", "mixed", "allocated"))

    if up():
        return None
    if os.geteuid() != 0:
        return "no Slurm controller answers and starting one needs root"
    r = subprocess.run([str(ROOT / "scripts/slurm_one_node.sh"), "start"], capture_output=True, text=True, check=False)
    return None if r.returncode == 0 and up() else f"a one-node Slurm could not start: {r.stderr.strip()[-200:]}"


@pytest.mark.slow
def test_slurm_launch_for_real(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import time

    why = _slurm_ready()
    if why:
        pytest.skip(why)
    for k, v in _env().items():
        monkeypatch.setenv(k, v)
    out = tmp_path / "shared"
    opts = LaunchOptions("fleet", "slurm", nodes=1, gpus_per_node=2, out=out, device="cpu", gpubench=FAKE_GPUBENCH)
    result = launch(opts)
    job = result.output.split(";")[0]
    assert job.isdigit()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        q = subprocess.run(["squeue", "-h", "-j", job], capture_output=True, text=True, check=False)
        if not q.stdout.strip():
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"job {job} did not finish in 60 s")
    check = check_fleet([out])
    assert check.passed, check.to_markdown() + (out / f"slurm-{job}.out").read_text()
    assert len(check.units) == 3  # 2 tasks + the node's all_reduce run
    assert (out / "nodes.txt").read_text().split() == [os.uname().nodename.split(".")[0]]


def test_fact_rules_bound_recorded_facts(tmp_path: Path) -> None:
    root = tmp_path / "f"
    write_fleet(root, 3, 1, node_collective=False, facts={("node-0", 0): {"retired_pages_dbe": 5.0}})
    rules = parse_rules("[[rule]]\nfact = 'retired_pages_dbe'\nmax = 2\n", "r.toml")
    check = check_fleet([root], rules)
    assert [(f.node, f.rule) for f in check.findings] == [("node-0", "retired_pages_dbe")]
    assert math.isclose(check.findings[0].value, 5.0)
    assert check_fleet([root], RuleSet()).passed


def test_rules_toml_escapes_text() -> None:
    from gpubench.fleet.rules import Rule

    text = rules_toml([Rule(name='a "quoted"\nname', case="x[y=1]", max_cov=0.1)], 0.05, 3.5)
    data = tomllib.loads(text)
    assert data["rule"][0]["name"] == 'a "quoted"\nname' and data["rule"][0]["case"] == "x[y=1]"


def test_synthetic_runs_store_raw_rounds_like_the_runner(tmp_path):
    """A synthetic GPU run holds what a real one holds (schema 3: one row per case and round, nothing derived);
    its statistics come from the same derivation on load."""
    import pandas as pd

    from gpubench import load_runs
    from gpubench.fleet.synthetic import H100_CASES, write_run

    folder = write_run(tmp_path, "node-0", 0, speed=0.5, rounds=3, reps=12)
    raw = pd.read_parquet(folder / "measurements.parquet")
    assert len(raw) == 3 * len(H100_CASES) and sorted(set(raw["round"])) == [0, 1, 2]
    assert not {"median_s", "throughput", "rounds_n", "cov"} & set(raw.columns)
    df = load_runs([folder]).set_index("benchmark")
    big = df[df["m"] == 8192].loc["matmul"]
    big = big[big["dtype"] == "bf16"].iloc[0]
    assert big["rounds_n"] == 3 and big["n_reps"] == 12
    assert abs(big["throughput"] / (760.0 * 0.5) - 1) < 0.1  # speed 0.5 of the H100 figure, within the noise
