"""The fleet manifest: what a launch expected, written to SHARED_DIR/fleet.json before anything runs.

`fleet check` reads it to know every (node, GPU) slot that should have reported, so a node that never wrote a
run folder is a failure, not a silent gap. Each slot's runs land in a fixed place under SHARED_DIR:

    SHARED_DIR/<node>/gpu<i>/<run folder>    one gpubench process per GPU (`--device cuda:<i>`)
    SHARED_DIR/<node>/node/<run folder>      the node's all_reduce (`--nproc G`), when a node has 2+ GPUs

Node names are known in advance for ssh (the hosts), Kubernetes (`node-<completion index>`) and local
(`node-<k>`); under Slurm they are the allocated hosts, which the job writes to SHARED_DIR/nodes.txt when it
starts (until then the manifest knows only how many nodes to expect).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gpubench.errors import GpubenchError
from gpubench.files import atomic_write_text

MANIFEST = "fleet.json"
NODES_FILE = "nodes.txt"
FORMAT = 1
NODE_RUN = "node"  # the folder of a node's multi-GPU (all_reduce) run


def gpu_dir(index: int) -> str:
    return f"gpu{index}"


@dataclass(frozen=True)
class Manifest:
    """What a fleet launch expects: `n_nodes` nodes of `gpus_per_node` GPUs each, named by `nodes` when the
    names are known in advance (else empty, and the job writes them to nodes.txt)."""

    suite: str
    scheduler: str
    n_nodes: int
    gpus_per_node: int
    device: str = "cuda"
    nodes: tuple[str, ...] = ()
    node_collective: bool = False
    created_utc: str = ""
    command: str = ""
    job: dict[str, Any] = field(default_factory=dict)

    def slots(self, nodes: Sequence[str] | None = None) -> list[tuple[str, str]]:
        """Every expected (node, slot folder): gpu0..gpuG-1 per node, plus `node` with a node collective."""
        names = list(nodes if nodes is not None else self.nodes)
        per = [gpu_dir(i) for i in range(self.gpus_per_node)] + ([NODE_RUN] if self.node_collective else [])
        return [(n, s) for n in names for s in per]

    def to_json(self) -> str:
        data = {"fleet_manifest": FORMAT, **asdict(self)}
        data["nodes"] = list(self.nodes)
        return json.dumps(data, indent=2, sort_keys=True)


def write_manifest(shared_dir: Path, manifest: Manifest) -> Path:
    path = Path(shared_dir) / MANIFEST
    atomic_write_text(path, manifest.to_json() + "\n", make_parents=True)
    return path


def read_manifest(shared_dir: Path) -> Manifest | None:
    """The manifest of a shared folder, or None when it has none; a damaged one is a GpubenchError."""
    path = Path(shared_dir) / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("fleet_manifest") != FORMAT:
            raise ValueError(f"not a fleet manifest of format {FORMAT}")
        nodes = data.get("nodes") or []
        manifest = Manifest(
            suite=str(data["suite"]),
            scheduler=str(data["scheduler"]),
            n_nodes=int(data["n_nodes"]),
            gpus_per_node=int(data["gpus_per_node"]),
            device=str(data.get("device", "cuda")),
            nodes=tuple(str(n) for n in nodes),
            node_collective=bool(data.get("node_collective", False)),
            created_utc=str(data.get("created_utc", "")),
            command=str(data.get("command", "")),
            job=dict(data.get("job") or {}),
        )
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as e:
        raise GpubenchError(f"{path} is damaged and cannot be read ({e})") from None
    if manifest.n_nodes < 1 or manifest.gpus_per_node < 1:
        raise GpubenchError(f"{path}: n_nodes and gpus_per_node must be at least 1")
    return manifest


def expected_nodes(shared_dir: Path, manifest: Manifest) -> tuple[list[str], int]:
    """(names of the expected nodes, how many expected nodes have no name yet). Slurm's job writes the names
    of its allocation to nodes.txt when it starts; before that only the count is known."""
    if manifest.nodes:
        return list(manifest.nodes), 0
    path = Path(shared_dir) / NODES_FILE
    names: list[str] = []
    if path.is_file():
        names = [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines()]
        names = list(dict.fromkeys(n for n in names if n))
    return names, max(0, manifest.n_nodes - len(names))
