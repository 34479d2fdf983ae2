"""A stand-in for the `gpubench` command on a fleet's nodes: `run SUITE ... --device D --out OUT [--nproc G]`
writes one synthetic run folder (gpubench.fleet.synthetic) into OUT in well under a second, so launch tests
exercise the scheduler plumbing, the folder layout and `fleet check` without running benchmarks.

The node comes from OUT (.../<node>/<slot>); FAKE_GPUBENCH_SLOW=node-1 makes that node's GPUs 30 % slow, and
FAKE_GPUBENCH_LOG=path appends each argv (one line) there.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from gpubench.fleet.synthetic import write_run


def main(argv: list[str]) -> int:
    if os.environ.get("FAKE_GPUBENCH_LOG"):
        with open(os.environ["FAKE_GPUBENCH_LOG"], "a", encoding="utf-8") as f:
            f.write(" ".join(argv) + "\n")
    if not argv or argv[0] != "run":
        print("fake gpubench: only `run` is faked", file=sys.stderr)
        return 2
    opts = {argv[i]: argv[i + 1] for i in range(len(argv) - 1) if argv[i].startswith("--")}
    out = Path(opts["--out"])
    node = out.parent.name
    device = opts.get("--device", "cpu")
    gpu = int(device.split(":")[1]) if ":" in device else 0
    nproc = int(opts.get("--nproc", "1"))
    slow = os.environ.get("FAKE_GPUBENCH_SLOW")
    speed = 0.7 if slow and node == slow else 1.0
    seed = abs(hash((node, gpu, nproc))) % 10**6
    write_run(out, node, None if nproc > 1 else gpu, speed=speed, world_size=nproc, seed=seed)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
