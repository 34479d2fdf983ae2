"""Launch one suite on every GPU of a fleet through the engine the site already has: Slurm, a Kubernetes
Indexed Job, ssh, or processes on this machine. gpubench never schedules anything itself: it writes the
scheduler's own input (an sbatch script, a Job manifest, an ssh command per host), hands it to the user's
`sbatch` / `kubectl` / `ssh`, and records in SHARED_DIR/fleet.json what it expects back.

Every GPU gets its own `gpubench run SUITE --device cuda:<i> --out SHARED_DIR/<node>/gpu<i>` process, so one
slow or broken GPU costs only its own folder; a node with several GPUs then runs the suite's collective cases
once across them (`--only 'collective*' --nproc G`, the all_reduce within the node).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gpubench.errors import GpubenchError
from gpubench.files import atomic_write_text, tomllib
from gpubench.fleet.manifest import NODE_RUN, NODES_FILE, Manifest, gpu_dir, write_manifest

SCHEDULERS = ("slurm", "kubernetes", "ssh", "local")
DEVICES = ("cuda", "cpu")
ENV_OUT = "GPUBENCH_FLEET_OUT"
_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,51}[a-z0-9])?$")  # a Kubernetes Job name (DNS label, <= 53)


@dataclass(frozen=True)
class LaunchOptions:
    """A fleet launch. `out` is SHARED_DIR as the nodes see it (the same path on every node: a shared
    filesystem, the PVC's mount point, or this machine's folder for `local`)."""

    suite: str
    scheduler: str
    nodes: int
    gpus_per_node: int
    out: Path
    device: str = "cuda"
    gpubench: str = "gpubench"  # the command on the nodes (a venv path, `python -m gpubench.cli`, ...)
    run_args: tuple[str, ...] = ()  # more `gpubench run` options for every process (e.g. --rounds 3)
    job_name: str = "gpubench-fleet"
    # Slurm
    partition: str | None = None
    account: str | None = None
    time_limit: str | None = None
    sbatch_args: tuple[str, ...] = ()
    # Kubernetes
    image: str | None = None
    namespace: str | None = None
    pvc: str | None = None
    # ssh
    hosts: tuple[str, ...] = ()
    gather: bool = False
    # local
    parallel: int | None = None  # processes at once; default: all
    env: dict[str, str] = field(default_factory=dict)  # extra environment for local processes


@dataclass
class LaunchResult:
    """What a launch did: the manifest path, the scheduler input it wrote (script or YAML, also printed on a dry
    run), the submit command and its output, and for ssh/local the exit code of every process."""

    manifest: Path
    text: str = ""
    text_path: Path | None = None
    submitted: list[str] = field(default_factory=list)
    output: str = ""
    exit_codes: dict[str, int] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------ validation


def validate(opts: LaunchOptions) -> LaunchOptions:
    """The options, checked (GpubenchError with one line naming the option) and `out` made absolute."""
    if opts.scheduler not in SCHEDULERS:
        raise GpubenchError(f"--scheduler {opts.scheduler!r}: not one of {', '.join(SCHEDULERS)}")
    if opts.device not in DEVICES:
        raise GpubenchError(f"--device {opts.device!r}: not one of {', '.join(DEVICES)}")
    if opts.nodes < 1 or opts.nodes > 100_000:
        raise GpubenchError(f"--nodes {opts.nodes}: give 1 to 100000 nodes")
    if opts.gpus_per_node < 1 or opts.gpus_per_node > 64:
        raise GpubenchError(f"--gpus-per-node {opts.gpus_per_node}: give 1 to 64")
    if opts.parallel is not None and opts.parallel < 1:
        raise GpubenchError(f"--parallel {opts.parallel}: give at least 1")
    if not _NAME_RE.match(opts.job_name):
        raise GpubenchError(f"--job-name {opts.job_name!r}: lower-case letters, digits and '-', at most 53")
    if not opts.gpubench.strip():
        raise GpubenchError("--gpubench: give the command that runs gpubench on the nodes")
    for word in opts.run_args:
        if word.startswith(("--device", "--out", "--nproc", "--resume")):
            raise GpubenchError(f"--run-arg {word!r}: the launcher sets --device, --out and --nproc itself")
    if opts.scheduler == "ssh":
        if not opts.hosts:
            raise GpubenchError("--scheduler ssh needs --hosts (a file with one host a line, or host1,host2,...)")
        if len(opts.hosts) != opts.nodes:
            raise GpubenchError(f"--nodes {opts.nodes} but --hosts lists {len(opts.hosts)} hosts")
        for h in opts.hosts:
            if h.startswith("-") or not h or any(c.isspace() for c in h):
                raise GpubenchError(f"--hosts: {h!r} is not a host name")
    if opts.scheduler == "kubernetes" and not opts.image:
        raise GpubenchError("--scheduler kubernetes needs --image (a container image with gpubench installed)")
    if opts.scheduler == "slurm" and opts.time_limit is not None and not re.match(r"^[0-9:\-]+$", opts.time_limit):
        raise GpubenchError(f"--time {opts.time_limit!r}: Slurm's form, e.g. 30, 1:00:00 or 1-00:00:00")
    return replace(opts, out=Path(os.path.abspath(opts.out)))


def parse_hosts(value: str) -> tuple[str, ...]:
    """Hosts from a file (one a line, # comments) or a comma-separated list."""
    path = Path(value)
    if path.is_file():
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise GpubenchError(f"--hosts {value}: cannot read it ({e})") from None
        hosts = [line.split("#", 1)[0].strip() for line in lines]
    else:
        hosts = [h.strip() for h in value.split(",")]
    return tuple(h for h in hosts if h)


def suite_has_collectives(suite: str) -> bool:
    """Whether the suite has collective cases (a node with 2+ GPUs then runs them across its GPUs). Read
    from the TOML alone: the launcher runs where torch may not be installed."""
    from gpubench.suite import find_suite

    path = find_suite(suite)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise GpubenchError(f"suite {path}: cannot be read ({e})") from None
    entries = data.get("benchmarks") or []
    return any(isinstance(e, dict) and e.get("benchmark") == "collective" for e in entries)


def node_names(opts: LaunchOptions) -> tuple[str, ...]:
    """Node names known before the launch: the ssh hosts, `node-<index>` for Kubernetes and local; none for
    Slurm (its job writes the allocated hosts to nodes.txt)."""
    if opts.scheduler == "ssh":
        return opts.hosts
    if opts.scheduler in ("kubernetes", "local"):
        return tuple(f"node-{i}" for i in range(opts.nodes))
    return ()


def manifest_for(opts: LaunchOptions, collective: bool) -> Manifest:
    from gpubench.store import utc_now

    return Manifest(
        suite=opts.suite,
        scheduler=opts.scheduler,
        n_nodes=opts.nodes,
        gpus_per_node=opts.gpus_per_node,
        device=opts.device,
        nodes=node_names(opts),
        node_collective=collective and opts.gpus_per_node > 1,
        created_utc=utc_now(),
        command=shlex.join(["gpubench", "fleet", "launch", *sys.argv[3:]]) if len(sys.argv) > 3 else "",
        job={"name": opts.job_name},
    )


# ------------------------------------------------------------------------------------------ shell words


def _gpubench_words(opts: LaunchOptions) -> str:
    # The user's command may be several words ("python -m gpubench.cli"); each is quoted on its own.
    return shlex.join(shlex.split(opts.gpubench))


def _run_line(opts: LaunchOptions, device: str, out: str, extra: Sequence[str] = ()) -> str:
    """`gpubench run SUITE --device DEVICE --out OUT ...` as shell text; `device` and `out` are shell words
    already (they may expand variables)."""
    fixed = ["run", opts.suite, *extra, "--no-report", *opts.run_args]
    return f"{_gpubench_words(opts)} {shlex.join(fixed)} --device {device} --out {out}"


def _node_run_line(opts: LaunchOptions, out: str) -> str:
    device = "cpu" if opts.device == "cpu" else "cuda"
    extra = ["--only", "collective*", "--nproc", str(opts.gpus_per_node)]
    return _run_line(opts, device, out, extra)


def node_script(opts: LaunchOptions, node: str, collective: bool) -> str:
    """A bash script that runs one node: a gpubench process per GPU at once, then the node's collective
    cases across its GPUs. `node` is a shell word naming the node folder (it may expand a variable)."""
    g = opts.gpus_per_node
    q = shlex.quote(str(opts.out))
    lines = [
        "set -u",
        f"out={q}/{node}",
        'mkdir -p "$out"',
        'echo "${NODE_NAME:-$(hostname)}" > "$out/host.txt"  # the machine (a pod: its Kubernetes node)',
        "# One gpubench process per GPU, all at once; each writes its own run folder.",
    ]
    for i in range(g):
        device = "cpu" if opts.device == "cpu" else f"cuda:{i}"
        slot = f'"$out/{gpu_dir(i)}"'
        lines.append(f'{_run_line(opts, device, slot)} > "$out/{gpu_dir(i)}.log" 2>&1 &')
    lines.append("wait")
    if collective and g > 1:
        lines.append("# The all_reduce within the node: one run across its GPUs.")
        node_out = f'"$out/{NODE_RUN}"'
        lines.append(f'{_node_run_line(opts, node_out)} > "$out/{NODE_RUN}.log" 2>&1')
    lines.append("exit 0  # a failed case is in its run folder: fleet check judges it")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------ Slurm


def sbatch_script(opts: LaunchOptions, collective: bool) -> str:
    """An sbatch script: one task per GPU (srun, the task's SLURM_LOCALID picks its GPU), then one task per
    node for the all_reduce within it. Honours partition, account, time and any extra sbatch options."""
    g, n = opts.gpus_per_node, opts.nodes
    out = shlex.quote(str(opts.out))
    head = [
        "#!/bin/bash",
        f"#SBATCH --job-name={opts.job_name}",
        f"#SBATCH --nodes={n}",
        f"#SBATCH --ntasks-per-node={g}",
    ]
    if opts.device == "cuda":
        head.append(f"#SBATCH --gres=gpu:{g}")
    if opts.partition:
        head.append(f"#SBATCH --partition={opts.partition}")
    if opts.account:
        head.append(f"#SBATCH --account={opts.account}")
    if opts.time_limit:
        head.append(f"#SBATCH --time={opts.time_limit}")
    head.append(f"#SBATCH --output={opts.out}/slurm-%j.out")
    for arg in opts.sbatch_args:
        head.append(f"#SBATCH {arg}")
    device = '"cpu"' if opts.device == "cpu" else '"cuda:$SLURM_LOCALID"'
    per_gpu = _run_line(opts, device, f'"${ENV_OUT}/$SLURMD_NODENAME/gpu$SLURM_LOCALID"')
    body = [
        "",
        f"# gpubench fleet launch {opts.suite}: {n} node(s) x {g} GPU(s); results land in {opts.out}",
        "set -u",
        f"export {ENV_OUT}={out}",
        f'mkdir -p "${ENV_OUT}"',
        "# The allocated nodes: fleet check names any of them that never reports.",
        f'scontrol show hostnames "$SLURM_JOB_NODELIST" > "${ENV_OUT}/{NODES_FILE}"',
        "",
        "# One gpubench process per GPU: task SLURM_LOCALID of each node drives GPU SLURM_LOCALID.",
        f"srun --ntasks-per-node={g} --ntasks={n * g} --kill-on-bad-exit=0 bash -c {shlex.quote(per_gpu)}",
    ]
    if collective and g > 1:
        node_line = _node_run_line(opts, f'"${ENV_OUT}/$SLURMD_NODENAME/{NODE_RUN}"')
        body += [
            "",
            "# The all_reduce within each node: one multi-GPU run per node.",
            f"srun --ntasks-per-node=1 --ntasks={n} --kill-on-bad-exit=0 bash -c {shlex.quote(node_line)}",
        ]
    body += ["", "exit 0  # a failed case is in its run folder: fleet check judges it"]
    return "\n".join(head + body) + "\n"


# ------------------------------------------------------------------------------------------ Kubernetes


def job_manifest(opts: LaunchOptions, collective: bool) -> dict[str, Any]:
    """An Indexed Job: one pod per node (completions = parallelism = nodes, spread one per Kubernetes node by
    pod anti-affinity), each requesting the node's GPUs and mounting the shared volume at SHARED_DIR."""
    labels = {"app.kubernetes.io/name": "gpubench", "gpubench/fleet": opts.job_name}
    script = node_script(opts, "node-$JOB_COMPLETION_INDEX", collective)
    container: dict[str, Any] = {
        "name": "gpubench",
        "image": opts.image or "IMAGE",
        "command": ["bash", "-c", script],
        "env": [
            {"name": ENV_OUT, "value": str(opts.out)},
            {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        ],
        "volumeMounts": [{"name": "results", "mountPath": str(opts.out)}],
    }
    if opts.device == "cuda":
        # Extended resources are requested through limits (requests default to them and must equal them).
        container["resources"] = {"limits": {"nvidia.com/gpu": opts.gpus_per_node}}
    volume: dict[str, Any] = {"name": "results"}
    if opts.pvc:
        volume["persistentVolumeClaim"] = {"claimName": opts.pvc}
    else:
        # No claim named: a path on each Kubernetes node (an NFS or other shared mount there).
        volume["hostPath"] = {"path": str(opts.out), "type": "DirectoryOrCreate"}
    metadata: dict[str, Any] = {"name": opts.job_name, "labels": labels}
    if opts.namespace:
        metadata["namespace"] = opts.namespace
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": {
            "completionMode": "Indexed",
            "completions": opts.nodes,
            "parallelism": opts.nodes,
            "backoffLimit": 0,  # a failed pod is a finding, not something to retry away
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "affinity": {
                        "podAntiAffinity": {
                            "requiredDuringSchedulingIgnoredDuringExecution": [
                                {
                                    "labelSelector": {"matchLabels": {"gpubench/fleet": opts.job_name}},
                                    "topologyKey": "kubernetes.io/hostname",
                                }
                            ]
                        }
                    },
                    "containers": [container],
                    "volumes": [volume],
                },
            },
        },
    }


_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_./-]*$")


def to_yaml(value: Any, indent: int = 0) -> str:
    """Block-style YAML for dicts, lists, strings, numbers and booleans. Scalars are written in their JSON
    form (JSON is YAML 1.2), keys likewise unless plain; a multi-line string is a literal block."""
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            return "{}"
        out = []
        for k, v in value.items():
            key = k if _PLAIN_KEY.match(k) else json.dumps(k)
            if isinstance(v, (dict, list)) and v:
                out.append(f"{pad}{key}:\n{to_yaml(v, indent + 2)}")
            else:
                out.append(f"{pad}{key}: {_scalar(v, indent + 2)}")
        return "\n".join(out)
    if isinstance(value, list):
        if not value:
            return "[]"
        out = []
        for v in value:
            if isinstance(v, (dict, list)) and v:
                inner = to_yaml(v, indent + 2)
                out.append(f"{pad}- {inner[indent + 2 :]}")
            else:
                out.append(f"{pad}- {_scalar(v, indent + 2)}")
        return "\n".join(out)
    return pad + _scalar(value, indent)


def _scalar(value: Any, indent: int) -> str:
    if isinstance(value, dict | list):
        return "{}" if isinstance(value, dict) else "[]"
    if isinstance(value, str) and "\n" in value.rstrip("\n") and not value[:1].isspace() and "\t" not in value:
        body = value if value.endswith("\n") else value + "\n"
        chomp = "" if value.endswith("\n") else "-"
        pad = " " * indent
        return f"|{chomp}\n" + "".join(pad + line if line else "" for line in body.splitlines(keepends=True)).rstrip(
            "\n"
        )
    return json.dumps(value)


# ------------------------------------------------------------------------------------------ local


def local_commands(opts: LaunchOptions, collective: bool) -> list[tuple[str, str, list[str]]]:
    """(node, slot, argv) of every process a local launch starts: per-GPU runs first, node runs after."""
    exe = shlex.split(opts.gpubench) if opts.gpubench != "gpubench" else _this_gpubench()
    per_gpu, per_node = [], []
    for node in node_names(opts):
        for i in range(opts.gpus_per_node):
            device = "cpu" if opts.device == "cpu" else f"cuda:{i}"
            out = str(opts.out / node / gpu_dir(i))
            per_gpu.append(
                (
                    node,
                    gpu_dir(i),
                    [*exe, "run", opts.suite, "--no-report", *opts.run_args, "--device", device, "--out", out],
                )
            )
        if collective and opts.gpus_per_node > 1:
            device = "cpu" if opts.device == "cpu" else "cuda"
            argv = [*exe, "run", opts.suite, "--only", "collective*", "--nproc", str(opts.gpus_per_node)]
            argv += ["--no-report", *opts.run_args, "--device", device, "--out", str(opts.out / node / NODE_RUN)]
            per_node.append((node, NODE_RUN, argv))
    return per_gpu + per_node


def _this_gpubench() -> list[str]:
    # The gpubench of this interpreter, whatever is on PATH: the local fleet tests this very checkout.
    return [sys.executable, "-c", "from gpubench.cli import main; main()"]


def run_local(
    opts: LaunchOptions,
    commands: list[tuple[str, str, list[str]]],
    on_event: Callable[[str, str, str, int | None], None] | None = None,
) -> dict[str, int]:
    """Run the processes, at most `parallel` at once (default: all of them, per-GPU runs first, then the node
    runs). All at once is what a fleet does (every GPU busy together), and on a CPU "fleet" sharing a few cores
    it is also the fair choice: every node then meets the same background load, where one node after another
    would each meet whatever the machine was doing at its turn (on a shared machine that varies several-fold
    within minutes) and the fleet median would compare moments, not nodes. Each process's output goes to
    SHARED_DIR/<node>/<slot>.log. Returns exit codes by node/slot."""
    parallel = opts.parallel or len(commands)
    env = {**os.environ, **opts.env}
    codes: dict[str, int] = {}
    for phase in ([c for c in commands if c[1] != NODE_RUN], [c for c in commands if c[1] == NODE_RUN]):
        pending = list(phase)
        running: list[tuple[str, str, subprocess.Popen[bytes], Any]] = []
        while pending or running:
            while pending and len(running) < parallel:
                node, slot, argv = pending.pop(0)
                log_path = opts.out / node / f"{slot}.log"
                log_path.parent.mkdir(parents=True, exist_ok=True)
                log = open(log_path, "wb")  # noqa: SIM115 - closed when the process ends
                proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
                running.append((node, slot, proc, log))
                if on_event:
                    on_event("start", node, slot, proc.pid)
            time.sleep(0.05)
            for item in list(running):
                node, slot, proc, log = item
                code = proc.poll()
                if code is None:
                    continue
                log.close()
                running.remove(item)
                codes[f"{node}/{slot}"] = code
                if on_event:
                    on_event("end", node, slot, code)
    return codes


# ------------------------------------------------------------------------------------------ ssh


def ssh_commands(opts: LaunchOptions, collective: bool) -> list[tuple[str, list[str]]]:
    """(host, argv) per host: `ssh HOST bash -c SCRIPT`, the user's ssh config and keys doing the rest."""
    out = []
    for host in opts.hosts:
        script = node_script(opts, shlex.quote(host), collective)
        # ssh joins its arguments into one remote shell command line: quote the script once for that shell.
        out.append((host, ["ssh", "-o", "BatchMode=yes", host, "bash -c " + shlex.quote(script)]))
    return out


def gather_commands(opts: LaunchOptions) -> list[tuple[str, list[str]]]:
    """scp -r HOST:SHARED_DIR/HOST into this machine's SHARED_DIR, for hosts that do not share a filesystem."""
    return [
        (host, ["scp", "-r", "-q", "-o", "BatchMode=yes", f"{host}:{opts.out}/{host}", str(opts.out) + "/"])
        for host in opts.hosts
    ]


def _run_all(cmds: list[tuple[str, list[str]]]) -> tuple[dict[str, int], str]:
    """Start every command at once (one per host) and wait for all; (exit code per host, their stderr)."""
    procs = []
    for host, argv in cmds:
        try:
            procs.append((host, subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)))
        except OSError as e:
            raise GpubenchError(f"cannot run {argv[0]}: {e.strerror or e}") from None
    codes, errors = {}, []
    for host, proc in procs:
        _, err = proc.communicate()
        codes[host] = proc.returncode
        if proc.returncode:
            errors.append(f"{host}: exit {proc.returncode}: {err.decode(errors='replace').strip()[-300:]}")
    return codes, "\n".join(errors)


# ------------------------------------------------------------------------------------------ launch


def _submit(argv: list[str], text: str | None = None) -> str:
    try:
        done = subprocess.run(argv, input=text, capture_output=True, text=True, check=False, timeout=120)
    except FileNotFoundError:
        raise GpubenchError(f"{argv[0]} not found: run this where the scheduler's client is installed") from None
    except (OSError, subprocess.TimeoutExpired) as e:
        raise GpubenchError(f"{' '.join(argv[:2])} failed: {e}") from None
    if done.returncode != 0:
        raise GpubenchError(f"{shlex.join(argv)} failed (exit {done.returncode}): {done.stderr.strip()[-400:]}")
    return done.stdout.strip()


def launch(
    opts: LaunchOptions,
    dry_run: bool = False,
    on_event: Callable[[str, str, str, int | None], None] | None = None,
) -> LaunchResult:
    """Write the manifest and the scheduler's input into SHARED_DIR and hand it to the scheduler (on a dry run:
    return the text without writing or running anything)."""
    opts = validate(opts)
    collective = suite_has_collectives(opts.suite)
    manifest = manifest_for(opts, collective)
    manifest_path = opts.out / "fleet.json"
    if opts.scheduler == "slurm":
        text, name = sbatch_script(opts, collective), "fleet.sbatch"
    elif opts.scheduler == "kubernetes":
        text, name = to_yaml(job_manifest(opts, collective)) + "\n", "fleet-job.yaml"
    elif opts.scheduler == "ssh":
        text = "".join(f"# {host}\n{shlex.join(argv)}\n" for host, argv in ssh_commands(opts, collective))
        name = "fleet-ssh.sh"
    else:
        text = "".join(shlex.join(argv) + "\n" for _, _, argv in local_commands(opts, collective))
        name = "fleet-local.sh"
    if dry_run:
        return LaunchResult(manifest_path, text)
    if opts.out.exists() and not opts.out.is_dir():
        raise GpubenchError(f"--out {opts.out} is a file, not a folder")
    manifest_path = write_manifest(opts.out, manifest)
    text_path = opts.out / name
    atomic_write_text(text_path, text)
    result = LaunchResult(manifest_path, text, text_path)
    if opts.scheduler == "slurm":
        argv = ["sbatch", "--parsable", str(text_path)]
        result.submitted, result.output = argv, _submit(argv)
    elif opts.scheduler == "kubernetes":
        argv = ["kubectl", "apply", "-f", str(text_path)]
        result.submitted, result.output = argv, _submit(argv)
    elif opts.scheduler == "ssh":
        cmds = ssh_commands(opts, collective)
        result.submitted = [shlex.join(argv) for _, argv in cmds]
        result.exit_codes, result.output = _run_all(cmds)
        if opts.gather:
            codes, errors = _run_all(gather_commands(opts))
            result.exit_codes.update({f"{h} (gather)": c for h, c in codes.items()})
            result.output = "\n".join(x for x in (result.output, errors) if x)
    else:
        result.exit_codes = run_local(opts, local_commands(opts, collective), on_event)
    return result
