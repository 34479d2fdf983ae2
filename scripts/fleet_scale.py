#!/usr/bin/env python3
"""Synthetic fleets for the scale figures and the Fleet section's screenshots.

    PYTHONPATH=$PWD python scripts/fleet_scale.py write /tmp/gb-fleet 8 1000     # SHARED_DIRs of 8 and 1000 GPUs
    farm-bench -n 3 -- gpubench fleet check /tmp/gb-fleet/1000                  # time the check (exit 1: it fails)
    PYTHONPATH=$PWD python scripts/fleet_scale.py page /tmp/gb-fleet/1000 out.html  # the Fleet section alone
    chromium --headless --screenshot=x.png --window-size=1400,2000 file:///.../out.html

Fleets are written through the store's own writer (gpubench.fleet.synthetic: RunStore, the fleet suite's 6 cases
per GPU with 3 rounds, and a node all_reduce run per 8-GPU node). A few GPUs are made slow (8-15 %), one has an
uncorrectable ECC error, one node never reports; each fleet's SHARED_DIR holds a baseline.toml derived from a clean
copy, so the section draws a baseline.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path


def write(root: Path, sizes: list[int]) -> None:
    from gpubench.fleet.synthetic import write_fleet

    for n in sizes:
        out = root / str(n)
        shutil.rmtree(out, ignore_errors=True)
        nodes, gpn = max(1, n // 8), min(8, n)
        t0 = time.monotonic()
        slow = {("node-" + f"{i:0{len(str(nodes - 1))}d}", g): s for i, g, s in _slow(nodes, gpn)}
        facts = {(f"node-{nodes // 2:0{len(str(nodes - 1))}d}", 0): {"ecc_uncorrectable_volatile": 1.0}}
        skip = (f"node-{nodes - 1:0{len(str(nodes - 1))}d}/gpu{gpn - 1}",) if nodes > 1 else ()
        write_fleet(out, nodes, gpn, slow=slow, facts=facts, skip=skip, noise=0.012, seed=n)
        baseline(out, gpn)
        print(f"{out}: {nodes} node(s) x {gpn} GPU(s) in {time.monotonic() - t0:.0f} s")


def _slow(nodes: int, gpn: int) -> list[tuple[int, int, float]]:
    if nodes == 1:
        return [(0, 5, 0.87)]
    picks = [(nodes // 3, 2, 0.85), (nodes // 2 + 1, 6 % gpn, 0.9), ((2 * nodes) // 3, 1, 0.92)]
    return [(i % nodes, g, s) for i, g, s in picks]


def page(root: Path, out: Path) -> None:
    """The Fleet section alone, as the report renders it, with the build time printed."""
    from gpubench.files import atomic_write_text
    from gpubench.report import build_sections, load_report_data
    from gpubench.report.page import render_page
    from gpubench.report.sections import SECTIONS

    t0 = time.monotonic()
    data = load_report_data([str(root / "*" / "*" / "*")])
    sections = build_sections(data, [s for s in SECTIONS if s.key == "fleet"])
    html = render_page(sections, f"gpubench fleet: {root.name} GPUs", "", data.msg)
    atomic_write_text(out, html)
    print(f"{out}: {len(html) / 1e6:.1f} MB in {time.monotonic() - t0:.1f} s")


def baseline(out: Path, gpn: int = 8) -> None:
    """(Re)write OUT/baseline.toml from a small clean synthetic fleet."""
    from gpubench.files import atomic_write_text
    from gpubench.fleet import check_fleet, derive_baseline, rules_toml
    from gpubench.fleet.synthetic import write_fleet

    clean = out.parent / f"{out.name}-clean"
    shutil.rmtree(clean, ignore_errors=True)
    write_fleet(clean, 4, gpn, seed=99)
    rules = derive_baseline(check_fleet([clean]), 0.05)
    atomic_write_text(out / "baseline.toml", rules_toml(rules, 0.05, 3.5, ["synthetic baseline"]))
    shutil.rmtree(clean, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "baseline":
        baseline(Path(sys.argv[2]))
    elif len(sys.argv) >= 3 and sys.argv[1] == "write":
        write(Path(sys.argv[2]), [int(x) for x in sys.argv[3:]] or [8, 1000])
    elif len(sys.argv) == 4 and sys.argv[1] == "page":
        page(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        sys.exit(__doc__)
