"""A per-user cache of tables gpubench derives from its own code and data files, keyed by their content.

The advisor's leave-one-source-out validation (gpubench.model.validate) predicts every published figure from the
other sources: about half a second of every report and recommendation, for a table that only changes when the data
files or the code change. It is kept as Parquet under `$GPUBENCH_CACHE_DIR` (default `$XDG_CACHE_HOME/gpubench`,
else `~/.cache/gpubench`), named by a hash of everything it derives from (the package's source and data files and
the versions of Python, pandas and pyarrow): an edited figure or model is a new name, never a stale table, and only
the 8 newest of a kind are kept. `GPUBENCH_CACHE_DIR=off` turns it off; a cache that cannot be read or written is
skipped silently (the table is computed, as without a cache).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import pandas as pd

_PACKAGE = Path(__file__).resolve().parent


def cache_dir() -> Path | None:
    """Where cached tables live; None when caching is off."""
    env = os.environ.get("GPUBENCH_CACHE_DIR")
    if env is not None:
        return None if env.strip().lower() in ("", "off", "0", "no") else Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gpubench"


@lru_cache(maxsize=1)
def package_key() -> str:
    """A hash of the package's source and data files and the library versions tables depend on."""
    import pyarrow

    h = hashlib.sha256(f"{sys.version}|{pd.__version__}|{pyarrow.__version__}".encode())
    for path in sorted(p for p in _PACKAGE.rglob("*") if p.suffix in (".py", ".csv", ".toml") and p.is_file()):
        h.update(str(path.relative_to(_PACKAGE)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:32]


def table(name: str, make: Callable[[], pd.DataFrame], key: str | None = None) -> pd.DataFrame:
    """The table `make()` builds, from the cache when an identical one was built before (same `name`, same
    package content, same `key`)."""
    folder = cache_dir()
    if folder is None:
        return make()
    digest = hashlib.sha256(f"{package_key()}|{key or ''}".encode()).hexdigest()[:32]
    path = folder / f"{name}-{digest}.parquet"
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError, ImportError):  # not there yet, or unreadable: computed below
        pass
    frame = make()
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, path)
        _prune(folder, name)
    except (OSError, ValueError, ImportError):  # a read-only home, a full disk: no cache, same table
        pass
    finally:  # interrupted (Ctrl-C, SIGTERM) or failed: no half-written file left behind
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
    return frame


KEEP = 8
"""Tables of one name kept: every edit of the package is a new name, so old ones are removed, oldest first."""


def _prune(folder: Path, name: str) -> None:
    """Remove all but the KEEP most recently written tables called `name` (another process's may go too: it is
    rebuilt when next asked for)."""
    found = []
    for path in folder.glob(f"{name}-*.parquet"):
        with contextlib.suppress(OSError):
            found.append((path.stat().st_mtime_ns, path))
    for _, path in sorted(found, reverse=True)[KEEP:]:
        with contextlib.suppress(OSError):
            path.unlink()
