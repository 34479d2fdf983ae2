"""Launching a distributed run through torchrun (`torch.distributed.run`), PyTorch's own launcher: no process
manager of our own, but the launcher owns what it starts.

The parent runs `python -m torch.distributed.run --nproc-per-node N [rendezvous options] -m gpubench.cli run ...`
with GPUBENCH_DIST_CHILD=1 in the environment, so each child knows it is a rank. Each rank writes a small state
file (running / done / error / terminated) into a folder the parent reads afterwards: when torchrun reports a
failure, the parent can say which rank died and why. Rank 0 also writes `folder.json` once the run folder exists
and `result.json` (run folder, outcome) at the end.

- Before launch, `check_before_launch` checks everything a rank would otherwise find too late (options, the
  cases --only selects, the device of every local rank, the output folder, a resumed folder and its ranks):
  a bad input is one line and exit code 2, not a traceback from each rank.
- torchrun runs in its own session, so a terminal's Ctrl-C reaches the launcher alone; the launcher forwards
  SIGINT and SIGTERM to torchrun as SIGINT (torchrun passes it to the ranks, which keep their finished cases and
  mark the run interrupted) and waits; a second signal forwards SIGTERM, a third kills every rank. If the
  launcher itself is killed, the kernel sends torchrun SIGINT (PR_SET_PDEATHSIG on Linux): no orphan ranks.
- torchrun's stderr passes through to the user, except its own error report (the ChildFailedError
  traceback), which goes to `torchrun.log` in the run folder (in --out as torchrun-<time>.log when the ranks
  failed before making one); the user reads one line naming the rank, and exit code 2 when a rank stopped on bad
  input (as a single process would), 1 for any other failure.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpubench import inputs
from gpubench.errors import GpubenchError
from gpubench.files import atomic_write_text

CHILD_ENV = "GPUBENCH_DIST_CHILD"
STATE_ENV = "GPUBENCH_DIST_STATE_DIR"
COMMAND_ENV = "GPUBENCH_DIST_COMMAND"
RESULT_FILE = "result.json"
FOLDER_FILE = "folder.json"
LOG_FILE = "torchrun.log"  # torchrun's and the ranks' stderr, kept in the run folder when the run failed

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
    """True inside a rank started by torchrun (through `gpubench run --nproc`, or `torchrun ... -m gpubench.cli
    run` directly). torchrun's variables left in a shell do not count (gpubench.inputs.rank_environment)."""
    return inputs.rank_environment(env, CHILD_ENV)[0]


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
    signal: int | None = None  # the signal that stopped the launcher (SIGINT or SIGTERM), forwarded to torchrun
    run_folder: Path | None = None  # rank 0's run folder, known as soon as rank 0 created it
    log: Path | None = None  # torchrun.log kept in the run folder, or in --out when no run folder was made

    @property
    def user_error(self) -> bool:
        """A rank stopped on bad input (a GpubenchError other than a lost rank): exit code 2, like one process."""
        return any(s.get("state") == "error" and s.get("user_error") for s in self.states)

    @property
    def folder(self) -> Path | None:
        folder = (self.result or {}).get("folder")
        return Path(folder) if folder else self.run_folder

    @property
    def exit_code(self) -> int:
        """130 (Ctrl-C) or 143 (SIGTERM) for an interrupted run, else 0."""
        if not self.interrupted:
            return 0
        return 128 + (self.signal or signal.SIGINT)

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
            parts.append(f"see {self.log or LOG_FILE} for the rank that failed")
        elif self.log is not None:
            parts[-1] += f" (torchrun's report: {self.log})"
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


def _parent_death_signal() -> None:
    """In the torchrun child, before exec: ask the kernel for SIGINT when the launcher dies (Linux)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGINT), 0, 0, 0)  # PR_SET_PDEATHSIG


# torchrun's own report of a failure: its log lines (glog style: `E1206 12:01:02.123 ...`) and the traceback
# of its ChildFailedError. They go to the log file only; the launcher says the same in one line.
_TORCHRUN_LINE = re.compile(rb"^(\[rank\d+\]:)?[IWEF]\d{4} \d\d:\d\d:\d\d")
_TRACEBACK = b"Traceback (most recent call last):"


class _StderrPump:
    """Copies torchrun's stderr to the log file and to this process's stderr, holding back torchrun's report."""

    def __init__(self, source: Any, log_path: Path) -> None:
        self.source = source
        self.log = open(log_path, "wb")  # noqa: SIM115 - closed in join()
        self.out = getattr(sys.stderr, "buffer", None)
        self.swallow = False  # after a traceback: the rest is torchrun's report
        self.thread = threading.Thread(target=self._run, name="torchrun-stderr", daemon=True)
        self.thread.start()

    def _forward(self, data: bytes) -> None:
        if self.out is None or not data:
            return
        with contextlib.suppress(OSError, ValueError):
            self.out.write(data)
            self.out.flush()

    def _run(self) -> None:
        pending = b""
        while True:
            try:
                chunk = os.read(self.source.fileno(), 65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            with contextlib.suppress(OSError):
                self.log.write(chunk)
                self.log.flush()
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line.lstrip().startswith(_TRACEBACK) or b"ChildFailedError" in line:
                    self.swallow = True
                if not self.swallow and not _TORCHRUN_LINE.match(line):
                    self._forward(line + b"\n")
            # A line in progress (a progress bar redrawn with \r) passes at once unless it may be torchrun's.
            head = pending.lstrip()[: len(_TRACEBACK)]
            may_be_torchruns = _TORCHRUN_LINE.match(pending) or _TRACEBACK.startswith(head)
            if pending and not self.swallow and len(pending) >= 16 and not may_be_torchruns:
                self._forward(pending)
                pending = b""
        if pending and not self.swallow and not _TORCHRUN_LINE.match(pending):
            self._forward(pending)

    def join(self) -> None:
        self.thread.join(timeout=10)
        with contextlib.suppress(OSError):
            self.log.close()


class _Forwarder:
    """While torchrun runs: SIGINT/SIGTERM to the launcher become SIGINT to torchrun (the ranks stop after
    keeping their finished cases); a second signal sends SIGTERM, a third kills torchrun and every rank."""

    def __init__(self, proc: subprocess.Popen[bytes], state_dir: Path) -> None:
        self.proc, self.state_dir = proc, state_dir
        self.received: int | None = None
        self.count = 0
        self.last = -math.inf
        self.debounce_s = 1.0
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> _Forwarder:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self._on_signal)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)

    def _on_signal(self, signum: int, frame: Any) -> None:
        now = time.monotonic()
        if now - self.last < self.debounce_s:
            return  # one stop delivered twice (`timeout` signals the child and its group): not an escalation
        self.last = now
        self.count += 1
        if self.received is None:
            self.received = signum
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if self.count == 1:
                self.proc.send_signal(signal.SIGINT)
            elif self.count == 2:
                self.proc.send_signal(signal.SIGTERM)
            else:
                self.kill_all()

    def kill_all(self) -> None:
        for state in read_states(self.state_dir):
            with contextlib.suppress(OSError, ValueError, TypeError):
                os.kill(int(state.get("pid")), signal.SIGKILL)
        with contextlib.suppress(OSError):
            self.proc.kill()


def launch(
    child_args: Sequence[str],
    nproc: int,
    options: Mapping[str, Any] | None = None,
    *,
    command: str = "",
    entry: Sequence[str] = ("-m", "gpubench.cli"),
    env: Mapping[str, str] | None = None,
    grace_s: float = 120.0,
    log_dir: Path | None = None,
) -> LaunchResult:
    """Run torchrun with `nproc` ranks on this node and wait for it. The ranks' output reaches this terminal
    (torchrun's own failure report goes to torchrun.log); a signal to this process is forwarded to torchrun
    and waited for (`grace_s` at most after the first, then the ranks are killed). torchrun's log of a failed
    run is kept in the run folder, or in `log_dir` (the run's --out) when no rank got as far as making one."""
    state_dir = Path(tempfile.mkdtemp(prefix="gpubench-dist-"))
    child_env = dict(os.environ if env is None else env)
    child_env.update({CHILD_ENV: "1", STATE_ENV: str(state_dir), COMMAND_ENV: command})
    if "OMP_NUM_THREADS" not in child_env:
        # torchrun would set 1 (and print a banner): share this node's cores between its ranks instead, so a
        # CPU rank gets its share of the machine and GPU ranks do not oversubscribe it.
        child_env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // nproc))
    if sys.stderr is not None and sys.stderr.isatty():
        child_env.setdefault("TTY_INTERACTIVE", "1")  # rank 0's progress bar, through the pipe below
        child_env.setdefault("TTY_COMPATIBLE", "1")
    cmd = torchrun_command(child_args, nproc, options, entry=entry)
    log_path = state_dir / LOG_FILE
    try:
        proc = subprocess.Popen(
            cmd,
            env=child_env,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=_parent_death_signal if sys.platform.startswith("linux") else None,  # noqa: PLW1509
        )
        pump = _StderrPump(proc.stderr, log_path)
        with _Forwarder(proc, state_dir) as forwarder:
            try:
                rc = _wait(proc, forwarder, grace_s)
            finally:
                pump.join()
        result = _read_json(state_dir / RESULT_FILE)
        started = _read_json(state_dir / FOLDER_FILE) or {}
        run_folder = Path(started["folder"]) if isinstance(started.get("folder"), str) else None
        interrupted = forwarder.received is not None or bool(result and result.get("interrupted"))
        launched = LaunchResult(rc, result, read_states(state_dir), interrupted, forwarder.received, run_folder)
        if rc != 0 or interrupted:
            launched.log = _keep_log(log_path, launched.folder, log_dir)
            if launched.folder is not None and launched.folder.is_dir():
                if forwarder.received is not None:
                    _mark_interrupted(launched.folder)
                elif rc != 0:
                    _mark_failed(launched.folder, launched.failure() or f"torchrun exit code {rc}")
        return launched
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)


def _keep_log(log_path: Path, folder: Path | None, log_dir: Path | None) -> Path | None:
    """Copy torchrun's log of a failed or interrupted run where the user can read it: the run folder, else
    `log_dir` as torchrun-<UTC time>.log (the ranks failed before a run folder existed). None when neither works."""
    if folder is not None and folder.is_dir():
        target = folder / LOG_FILE
    elif log_dir is not None:
        target = Path(log_dir) / f"torchrun-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.log"
    else:
        return None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(log_path, target)
    except OSError:
        return None
    return target


def _mark_interrupted(folder: Path) -> None:
    """The user stopped the run: run.json says interrupted, whatever a rank stopped mid-collective recorded
    (a rank that lost its peers records `failed`). Finished cases are in the folder either way."""
    _restate(folder, ("failed", "running"), "interrupted", None)


def _mark_failed(folder: Path, reason: str) -> None:
    """torchrun ended the run on a failure: a run.json still `running` says failed, with the launcher's reason.
    Rank 0 records the failure itself as it stops; this covers a rank 0 that was killed before it could (torchrun
    kills the ranks it asked to stop once its grace period is over, and a loaded machine can use all of it)."""
    _restate(folder, ("running",), "failed", reason)


def _restate(folder: Path, was: tuple[str, ...], status: str, error: str | None) -> None:
    """run.json's status becomes `status` (and its error `error`, None: none) where it is one of `was`."""
    from gpubench.store import read_meta, write_json

    with contextlib.suppress(GpubenchError, OSError):
        meta = read_meta(folder)
        if meta.get("status") in was:
            meta["status"] = status
            if error is None:
                meta.pop("error", None)
            else:
                meta["error"] = error
            write_json(folder / "run.json", meta)


def _wait(proc: subprocess.Popen[bytes], forwarder: _Forwarder, grace_s: float) -> int:
    """torchrun's exit code; after a forwarded signal, at most `grace_s` more before every rank is killed."""
    while True:
        try:
            return proc.wait(timeout=None if forwarder.received is None else grace_s)
        except subprocess.TimeoutExpired:
            forwarder.kill_all()
            return proc.wait()


def check_before_launch(
    suite: Any,
    *,
    nproc: int,
    torchrun: Mapping[str, Any],
    device: str,
    only: Sequence[str],
    out: Path,
    resume: Path | None,
    force_resume: bool,
) -> None:
    """Everything a rank would find wrong, checked once before any rank starts (GpubenchError, one line)."""
    from gpubench.runner import select_cases

    if nproc < 1:
        raise GpubenchError("torchrun options need --nproc N, the number of ranks on this node")
    nodes = inputs.nnodes(torchrun.get("nnodes"))
    inputs.port("--master-port", torchrun.get("master-port"))
    node_rank = torchrun.get("node-rank")
    if node_rank is not None and (node_rank < 0 or (nodes and nodes.isdigit() and node_rank >= int(nodes))):
        raise GpubenchError(f"--node-rank {node_rank}: must be from 0 to the number of nodes - 1")
    if only and not select_cases(suite, only):
        raise GpubenchError(f"--only {' '.join(only)} matches no case of suite {suite.name!r}")
    if resume is None:
        _check_writable(out)
    else:
        _check_resume(resume, nproc * int(nodes or "1") if (nodes or "1").isdigit() else None, force_resume)
    from gpubench.distributed.context import rank_device

    rank_device(device, nproc - 1)  # every local rank has its device (imports torch: the ranks will anyway)


def _check_writable(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise GpubenchError(f"--out {out}: a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as e:
        raise GpubenchError(f"--out {out}: cannot write there ({e.strerror or type(e).__name__})") from None


def _check_resume(folder: Path, world_size: int | None, force: bool) -> None:
    from gpubench.store import lock_run_folder, read_meta

    meta = read_meta(folder)
    before = (meta.get("distributed") or {}).get("world_size", 1)
    if world_size is not None and before != world_size and not force:
        raise GpubenchError(
            f"--resume {folder}: the run has {before} rank(s), this launch {world_size}; "
            "use the same --nproc and --nnodes (--force-resume adds to it anyway)"
        )
    lock_run_folder(folder).close()  # a folder another process is writing is refused now, not in rank 0


# ----------------------------------------------------------------------------------------- inside a rank


def _state_dir() -> Path | None:
    value = os.environ.get(STATE_ENV)
    return Path(value) if value else None


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Best effort: a state folder that is gone (a variable left in a shell) never stops a run."""
    with contextlib.suppress(OSError, GpubenchError):
        atomic_write_text(path, json.dumps(data, default=str), fsync=False)


def write_rank_state(state: str, rank: int, message: str = "", user_error: bool = False) -> None:
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
            "user_error": user_error,
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


def note_run_folder(folder: Path) -> None:
    """Rank 0 tells the launcher its run folder as soon as it exists (no-op outside a launch)."""
    state = _state_dir()
    if state is not None:
        with contextlib.suppress(OSError):
            _write_json(state / FOLDER_FILE, {"folder": str(folder)})


def launched_by_gpubench() -> bool:
    """True in a rank whose parent is `gpubench run --nproc` (it reads the result file and sets the exit code)."""
    return _state_dir() is not None


def parent_command() -> str | None:
    return os.environ.get(COMMAND_ENV) or None
