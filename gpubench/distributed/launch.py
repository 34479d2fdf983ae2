"""Launching a distributed run through torchrun (`torch.distributed.run`), PyTorch's own launcher: no process
manager of our own. Never imports torch: the parent process only builds a command line and waits.

The parent runs `python -m torch.distributed.run --nproc-per-node N [rendezvous options] -m gpubench.cli run ...`
with GPUBENCH_DIST_CHILD=1 in the environment, so each child knows it is a rank. Each rank writes a small state
file (running / done / error / terminated) into a folder the parent reads afterwards: when torchrun reports a
failure, the parent can say which rank died and why. Rank 0 also writes `result.json` (run folder, outcome).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpubench.files import atomic_write_text

CHILD_ENV = "GPUBENCH_DIST_CHILD"
STATE_ENV = "GPUBENCH_DIST_STATE_DIR"
COMMAND_ENV = "GPUBENCH_DIST_COMMAND"
RESULT_FILE = "result.json"

# torchrun options passed through unchanged (`--name value`); everything about nodes and rendezvous.
TORCHRUN_OPTIONS = (
    "nnodes",
    "node-rank",
    "rdzv-endpoint",
    "rdzv-backend",
    "rdzv-id",
    "rdzv-conf",
    "master-addr",
    "master-port",
    "local-addr",
)
_MULTI_NODE = {"rdzv-endpoint", "master-addr", "rdzv-backend", "node-rank"}


def is_rank_process(env: Mapping[str, str] | None = None) -> bool:
    """True inside a rank started by `gpubench run --nproc`, or by torchrun directly (`torchrun ... -m gpubench.cli run`)."""
    env = os.environ if env is None else env
    if env.get(CHILD_ENV) == "1":
        return True
    return "TORCHELASTIC_RUN_ID" in env and "RANK" in env and "WORLD_SIZE" in env


def torchrun_command(
    child_args: Sequence[str],
    nproc: int,
    options: Mapping[str, Any] | None = None,
    *,
    entry: Sequence[str] = ("-m", "gpubench.cli"),
    python: str | None = None,
) -> list[str]:
    """The torchrun command line. Without rendezvous options: `--standalone` (one node, a free port).

    `--max-restarts 0`: a restarted rank could not rejoin a half-written run folder; a failure ends the run.
    """
    options = {k.replace("_", "-"): v for k, v in (options or {}).items() if v is not None}
    unknown = set(options) - set(TORCHRUN_OPTIONS)
    if unknown:
        raise ValueError(f"not a torchrun rendezvous option: {', '.join(sorted(unknown))}")
    if nproc < 1:
        raise ValueError(f"nproc must be >= 1, got {nproc}")
    cmd = [
        python or sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        str(nproc),
        "--max-restarts",
        "0",
    ]
    if not (_MULTI_NODE & set(options)) and str(options.get("nnodes", "1")) == "1":
        cmd.append("--standalone")
    for key in TORCHRUN_OPTIONS:
        if key in options:
            cmd += [f"--{key}", str(options[key])]
    return [*cmd, *entry, *child_args]


@dataclass
class LaunchResult:
    """What came back from torchrun: its exit code, rank 0's result (None on other nodes or when rank 0
    never got that far) and the state each local rank left behind."""

    returncode: int
    result: dict[str, Any] | None = None
    states: list[dict[str, Any]] = field(default_factory=list)
    interrupted: bool = False

    @property
    def folder(self) -> Path | None:
        folder = (self.result or {}).get("folder")
        return Path(folder) if folder else None

    def failure(self) -> str | None:
        """A one-line explanation naming the rank(s) at fault, or None when the run ended normally."""
        if self.returncode == 0 and not self.interrupted:
            return None
        errors = [s for s in self.states if s.get("state") == "error"]
        vanished = [s for s in self.states if s.get("state") == "running"]  # died without a Python error
        parts = [f"rank {s['rank']} on {s.get('node', '?')}: {s.get('message', 'error')}" for s in errors]
        if vanished:
            ranks = ", ".join(str(s["rank"]) for s in vanished)
            parts.append(
                f"rank{'s' * (len(vanished) > 1)} {ranks} exited without a Python error (killed, crashed "
                "or os._exit; see torchrun's summary above)"
            )
        if not parts:
            parts.append("see torchrun's report above for the rank that failed")
        prefix = "interrupted" if self.interrupted else f"distributed run failed (torchrun exit code {self.returncode})"
        return f"{prefix}: " + "; ".join(parts)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_states(state_dir: Path) -> list[dict[str, Any]]:
    """Each local rank's last state, by rank."""
    states = [_read_json(p) for p in sorted(Path(state_dir).glob("rank-*.json"))]
    return sorted((s for s in states if s and "rank" in s), key=lambda s: int(s["rank"]))


def launch(
    child_args: Sequence[str],
    nproc: int,
    options: Mapping[str, Any] | None = None,
    *,
    command: str = "",
    entry: Sequence[str] = ("-m", "gpubench.cli"),
    env: Mapping[str, str] | None = None,
) -> LaunchResult:
    """Run torchrun with `nproc` ranks on this node and wait for it. The children's output goes straight to
    this terminal. Ctrl-C reaches torchrun too (same process group); it stops the ranks, and we wait for it."""
    state_dir = Path(tempfile.mkdtemp(prefix="gpubench-dist-"))
    child_env = dict(os.environ if env is None else env)
    child_env.update({CHILD_ENV: "1", STATE_ENV: str(state_dir), COMMAND_ENV: command})
    if "OMP_NUM_THREADS" not in child_env:
        # torchrun would set 1 (and print a banner): share this node's cores between its ranks instead, so a
        # CPU rank gets its share of the machine and GPU ranks do not oversubscribe it.
        child_env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // nproc))
    cmd = torchrun_command(child_args, nproc, options, entry=entry)
    interrupted = False
    try:
        proc = subprocess.Popen(cmd, env=child_env)
        try:
            rc = proc.wait()
        except KeyboardInterrupt:
            interrupted = True
            try:
                rc = proc.wait(timeout=120)  # torchrun got the SIGINT too and is stopping the ranks
            except (subprocess.TimeoutExpired, KeyboardInterrupt):
                proc.kill()
                rc = proc.wait()
        result = _read_json(state_dir / RESULT_FILE)
        if result and result.get("interrupted"):
            interrupted = True
        return LaunchResult(rc, result, read_states(state_dir), interrupted)
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)


# ----------------------------------------------------------------------------------------- inside a rank


def _state_dir() -> Path | None:
    value = os.environ.get(STATE_ENV)
    return Path(value) if value else None


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    atomic_write_text(path, json.dumps(data, default=str), fsync=False)


def write_rank_state(state: str, rank: int, message: str = "") -> None:
    """Record this rank's state for the parent (no-op outside `gpubench run --nproc`); never raises."""
    folder = _state_dir()
    if folder is None:
        return
    with contextlib.suppress(OSError):
        data = {
            "rank": rank,
            "state": state,
            "node": socket.gethostname(),
            "pid": os.getpid(),
            "message": message,
        }
        _write_json(folder / f"rank-{rank}.json", data)


def write_result(folder: Path, *, any_failed: bool, interrupted: bool, cases: int) -> None:
    """Rank 0 tells the parent where the run folder is and how the run went (no-op outside a launch)."""
    state = _state_dir()
    if state is None:
        return
    with contextlib.suppress(OSError):
        _write_json(
            state / RESULT_FILE,
            {"folder": str(folder), "any_failed": any_failed, "interrupted": interrupted, "cases": cases},
        )


def launched_by_gpubench() -> bool:
    """True in a rank whose parent is `gpubench run --nproc` (it reads the result file and sets the exit code)."""
    return _state_dir() is not None


def parent_command() -> str | None:
    return os.environ.get(COMMAND_ENV) or None
