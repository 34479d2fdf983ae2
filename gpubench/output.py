"""Everything gpubench writes for a person: output files, and text neutralised for the kind of output it goes to.

Files (`write_output`): `-` is standard output; a path that is not a regular file (/dev/null, /dev/stdout, a
pipe, `>(cat)`) is written in place, never replaced; a symlink is followed and its target replaced; a regular
file is replaced atomically through a temporary file with a unique name beside it (two reports writing the
same path never share one), removed on every way out (an error, Ctrl-C, SIGTERM raised as an exception by
the CLI, and at exit).

Text: one function per kind of output, each the only way run data reaches it —
`terminal_text` (rich), `html_text`, `markdown_text` / `markdown_prose`, `csv_writer` (every cell through
`csv_cell`). All of them make control characters (ESC, BEL, OSC ...) and Unicode format controls (bidi
overrides U+202A-U+202E, isolates U+2066-U+2069, zero-width characters, line separators) visible as
`\\xNN` / `\\uNNNN` escapes: a device name read from a run folder cannot retitle the terminal, reorder a line,
or hide text. Standard library only (rich imported inside `terminal_text`).
"""

from __future__ import annotations

import atexit
import contextlib
import csv
import errno
import html
import io
import os
import re
import stat
import sys
import tempfile
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from gpubench.errors import GpubenchError, StorageError

STDOUT = "-"

# ------------------------------------------------------------------------------------------------- text

_C0_C1 = "\x00-\x08\x0b-\x1f\x7f-\x9f"
# Unicode format and separator controls that reorder or hide text: bidi embeddings/overrides/isolates, marks,
# zero-width characters, the BOM, line and paragraph separators, interlinear annotations.
_FORMAT = "\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb"
_UNSAFE = re.compile(f"[{_C0_C1}{_FORMAT}]")
_UNSAFE_WITH_NEWLINES = re.compile(f"[{_C0_C1}{_FORMAT}\t\n]")


def _show(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: Any, *, keep_newlines: bool = True) -> str:
    """`text` with every control and format character shown as an escape (tab and newline kept unless
    `keep_newlines` is False). Other format characters (Unicode category Cf) are escaped too."""
    s = str(text)
    s = (_UNSAFE if keep_newlines else _UNSAFE_WITH_NEWLINES).sub(_show, s)
    if any(unicodedata.category(c) == "Cf" for c in s if ord(c) > 0x7F):
        s = "".join(f"\\u{ord(c):04x}" if ord(c) > 0x7F and unicodedata.category(c) == "Cf" else c for c in s)
    return s


def terminal_text(text: Any) -> str:
    """Text for rich: controls visible, `[...]` printed as written rather than read as markup."""
    from rich.markup import escape

    return escape(visible(text))


def html_text(text: Any) -> str:
    """Text for HTML (element content or a quoted attribute): controls visible, `<>&"'` escaped."""
    return html.escape(visible(text), quote=True)


# Markdown punctuation that opens a link or image (`[`; `(` alone is text once `[` and `]` are escaped),
# emphasis, code, strikethrough or a table cell. Text is kept on one line, so no heading or list can start.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
_MD_PROSE_SPECIAL = re.compile(r"([\\`_\[\]|~])")  # `**bold**` of gpubench's own messages stays


def _md(text: Any, pattern: re.Pattern[str]) -> str:
    s = visible(text, keep_newlines=False)
    s = re.sub(r"(\\x0a|\\x0d|\\x09)+", " ", s)  # a newline in a cell or a line must not start a new block
    s = pattern.sub(r"\\\1", s)
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    # Bare URLs become links on GitHub (extended autolinks): break the scheme and the `www.` prefix.
    return re.sub(r"(?i)\b(https?|ftp|mailto|file|javascript|data):", r"\1&#58;", s).replace("www.", "www&#46;")


def markdown_text(text: Any) -> str:
    """Run data for Markdown (a table cell, a list item): one line, no link / image / autolink / HTML /
    emphasis / pipe can form from it."""
    return _md(text, _MD_SPECIAL)


def markdown_prose(text: Any) -> str:
    """gpubench's own prose (which may hold run data) for Markdown: as `markdown_text`, but `**bold**` stays."""
    return _md(text, _MD_PROSE_SPECIAL)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "|", "%")


def csv_cell(value: Any) -> Any:
    """A CSV cell that a spreadsheet shows as text: numbers pass; a text that would start a formula
    (=, +, -, @, tab, CR ...) gets a leading `'`; controls are made visible."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    s = str(value)
    if s.startswith(_FORMULA_START):
        try:
            float(s)  # "-1.5" is a number, not a formula
        except ValueError:
            s = "'" + s
    return visible(s, keep_newlines=False)


class _SafeWriter:
    """csv.writer whose every cell goes through csv_cell."""

    def __init__(self, writer: Any) -> None:
        self._writer = writer

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([csv_cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_writer(buf: io.StringIO | Any, **kwargs: Any) -> _SafeWriter:
    """`csv.writer(buf, **kwargs)` that neutralises every cell (the only CSV writer report code uses)."""
    return _SafeWriter(csv.writer(buf, **kwargs))


# ------------------------------------------------------------------------------------------------ files

_PENDING: set[str] = set()  # temporary files being written: removed on any way out


def remove_pending() -> None:
    """Remove every temporary output file not yet renamed into place (called on signals and at exit)."""
    for tmp in list(_PENDING):
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        _PENDING.discard(tmp)


atexit.register(remove_pending)


def _error_text(e: OSError, path: Any) -> str:
    if e.errno == errno.ENOSPC:
        return f"the disk is full: cannot write {path}"
    if e.errno == errno.EDQUOT:
        return f"disk quota exceeded: cannot write {path}"
    return f"{path}: {e.strerror or type(e).__name__}"


def _in_place(path: str) -> bool:
    """Whether `path` must be written in place: it exists and is not a regular file (a device, a pipe), or
    it names a process's descriptor (/dev/stdout, /dev/fd/N, /proc/self/fd/N), whatever that points at."""
    if path.startswith(("/dev/", "/proc/")):
        return True
    try:
        st = os.stat(path)
    except OSError:
        return False
    return not stat.S_ISREG(st.st_mode) and not stat.S_ISDIR(st.st_mode)


def _write_in_place(path: str, data: bytes) -> None:
    try:
        with open(path, "wb") as f:
            f.write(data)
    except OSError as e:
        raise StorageError(_error_text(e, path)) from None


def _write_stdout(data: bytes) -> None:
    stream = getattr(sys.stdout, "buffer", None)
    if stream is None:  # a text-only stdout (a test runner's capture)
        sys.stdout.write(data.decode("utf-8"))
        sys.stdout.flush()
        return
    sys.stdout.flush()
    stream.write(data)
    stream.flush()


def write_output(target: str | os.PathLike[str], data: str | bytes, *, make_parents: bool = True) -> str:
    """Write a report (or any output file) to `target`; returns what was written, for the user to read.

    `-`: standard output. Not a regular file (a device, a pipe, /dev/stdout): written in place. A symlink: its
    target is replaced. A regular or new file: written whole or not at all (unique temporary file beside it,
    renamed over it, removed on any failure or signal). Errors: StorageError naming the path."""
    raw = os.fspath(target)
    if raw == "":
        raise GpubenchError("-o '': give a file name, or - for standard output")
    payload = data.encode("utf-8") if isinstance(data, str) else data
    if raw == STDOUT:
        _write_stdout(payload)
        return "standard output"
    if _in_place(raw):
        _write_in_place(raw, payload)
        return raw
    real = Path(os.path.realpath(raw))  # a symlink (even a dangling one) is replaced at its target
    if real.is_dir():
        raise StorageError(f"{raw}: is a folder, not a file")
    try:
        if make_parents:
            real.parent.mkdir(parents=True, exist_ok=True)
        mode = os.stat(real).st_mode & 0o7777 if real.exists() else None
        fd, tmp = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".tmp", dir=real.parent)
    except OSError as e:
        raise StorageError(_error_text(e, raw)) from None
    _PENDING.add(tmp)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        if mode is None:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        os.replace(tmp, real)
    except OSError as e:
        raise StorageError(_error_text(e, raw)) from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)  # gone already after the rename; here on any failure, Ctrl-C or SIGTERM
        _PENDING.discard(tmp)
    return raw


__all__ = [
    "STDOUT",
    "csv_cell",
    "csv_writer",
    "html_text",
    "markdown_prose",
    "markdown_text",
    "remove_pending",
    "terminal_text",
    "visible",
    "write_output",
]
