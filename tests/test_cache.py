"""gpubench.cache: a table is built once per content of the package and key, read back equal, and a cache that
is off or cannot be written changes nothing but the time."""

from __future__ import annotations

import pandas as pd
import pytest

from gpubench import cache, model


def _maker(calls: list[int]):
    def make() -> pd.DataFrame:
        calls.append(1)
        return pd.DataFrame({"a": [1.5, float("nan")], "b": pd.array(["x", None], dtype="string")})

    return make


def test_a_table_is_built_once_and_read_back_equal(tmp_path, monkeypatch):
    monkeypatch.setenv("GPUBENCH_CACHE_DIR", str(tmp_path))
    calls: list[int] = []
    first = cache.table("t", _maker(calls), key="k1")
    second = cache.table("t", _maker(calls), key="k1")
    assert calls == [1]
    pd.testing.assert_frame_equal(first, second)
    cache.table("t", _maker(calls), key="k2")  # another key: built again
    assert calls == [1, 1]
    assert len(list(tmp_path.glob("t-*.parquet"))) == 2


def test_only_the_newest_tables_of_a_name_are_kept(tmp_path, monkeypatch):
    """Every edit of the package is a new name: the folder keeps the KEEP newest of a kind, not all of them."""
    import os

    monkeypatch.setenv("GPUBENCH_CACHE_DIR", str(tmp_path))
    (tmp_path / "other-x.parquet").write_bytes(b"")  # another kind of table is not touched
    calls: list[int] = []
    for i in range(cache.KEEP + 3):
        cache.table("t", _maker(calls), key=f"k{i}")
        for j, path in enumerate(sorted(tmp_path.glob("t-*.parquet"), key=lambda p: p.stat().st_mtime_ns)):
            os.utime(path, ns=(j, j))  # written in order, whatever the file system's clock resolution
    kept = list(tmp_path.glob("t-*.parquet"))
    assert len(kept) == cache.KEEP and calls == [1] * (cache.KEEP + 3)
    assert (tmp_path / "other-x.parquet").exists()
    cache.table("t", _maker(calls), key=f"k{cache.KEEP + 2}")  # the newest is still there: read, not rebuilt
    assert len(calls) == cache.KEEP + 3


@pytest.mark.parametrize("setting", ["off", ""])
def test_off_builds_every_time(tmp_path, monkeypatch, setting):
    monkeypatch.setenv("GPUBENCH_CACHE_DIR", setting)
    calls: list[int] = []
    cache.table("t", _maker(calls))
    cache.table("t", _maker(calls))
    assert calls == [1, 1]


def test_a_cache_that_cannot_be_written_still_gives_the_table(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("GPUBENCH_CACHE_DIR", str(blocker / "sub"))
    calls: list[int] = []
    frame = cache.table("t", _maker(calls))
    assert calls == [1] and len(frame) == 2


def test_the_cached_validation_is_the_validation(tmp_path, monkeypatch):
    """The advisor's leave-one-source-out table read from the cache equals a fresh one, dtypes and all."""
    monkeypatch.setenv("GPUBENCH_CACHE_DIR", str(tmp_path))
    model._validation_cached.cache_clear()
    try:
        built = model._validation()
        model._validation_cached.cache_clear()
        read = model._validation()  # from the Parquet file this time
        assert list(tmp_path.glob("validation-*.parquet"))
        pd.testing.assert_frame_equal(read, model.validate(), check_exact=True)
        pd.testing.assert_frame_equal(built, read, check_exact=True)
    finally:
        model._validation_cached.cache_clear()
