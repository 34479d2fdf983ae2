"""Writing files so a crash never leaves half of one, and reading TOML on every supported Python.
Standard library only: store, report, the distributed launcher and the suite loader share it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["atomic_write_bytes", "atomic_write_text", "tomllib"]


def atomic_write_bytes(path: Path, data: bytes, *, fsync: bool = True) -> None:
    """Write `data` to a hidden temporary file beside `path`, then rename it over `path` (atomic on POSIX):
    readers see the old file or the new one, never a partial write. `fsync` makes it survive a power cut."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        if fsync:
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_write_text(path: Path, text: str, *, fsync: bool = True) -> None:
    """`atomic_write_bytes` for UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"), fsync=fsync)
