"""Run ids (folder names) are unique for runs started together: a fleet's GPUs on one node, processes on one host."""

from __future__ import annotations

from pathlib import Path

from gpubench.store import new_run_folder


def test_gpus_of_one_node_started_together_get_distinct_run_ids(tmp_path: Path) -> None:
    names = [new_run_folder(tmp_path / f"gpu{i}", "NVIDIA H100 80GB HBM3", "node-1", i).name for i in range(8)]
    assert len(set(names)) == 8
    assert all(name.endswith(f"nvidia-h100-80gb-hbm3-{i}") for i, name in enumerate(names))


def test_the_time_carries_milliseconds_and_a_clash_in_one_folder_gets_a_suffix(tmp_path: Path) -> None:
    a = new_run_folder(tmp_path, "cpu", "host")
    stamp = a.name.split("_")[0]
    assert len(stamp) == len("20261206T135000.123Z") and stamp[15] == "." and stamp.endswith("Z")
    b = new_run_folder(tmp_path, "cpu", "host")
    assert a != b and a.is_dir() and b.is_dir()
