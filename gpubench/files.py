"""Writing files so a crash never leaves half of one, and reading TOML on every supported Python.
Standard library only: store, report, the distributed launcher and the suite loader share it."""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from pathlib import Path

from gpubench.errors import StorageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["atomic_write", "atomic_write_text", "os_error_text", "tomllib"]


def os_error_text(e: OSError, path: Path | str) -> str:
    """What went wrong with `path`, in one line; a full disk says so."""
    if e.errno == errno.ENOSPC:
        return f"the disk is full: cannot write {path}"
    if e.errno == errno.EDQUOT:
        return f"disk quota exceeded: cannot write {path}"
    return f"{path}: {e.strerror or type(e).__name__}"


def atomic_write(path: Path, data: bytes, make_parents: bool = False, *, fsync: bool = True) -> None:
    """Write `path` whole or not at all: the data goes to a hidden temporary file beside it, renamed over it
    (atomic on POSIX), so a failed write (full disk) leaves the previous version readable and no `.tmp` file
    behind. `fsync` makes it survive a power cut. Any OSError becomes a StorageError naming the path."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        if make_parents:
            path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", str(path))
        with open(tmp, "wb") as f:
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise StorageError(os_error_text(e, path)) from None


def atomic_write_text(path: Path, text: str, make_parents: bool = False, *, fsync: bool = True) -> None:
    """`atomic_write` for UTF-8 text."""
    atomic_write(path, text.encode("utf-8"), make_parents, fsync=fsync)
