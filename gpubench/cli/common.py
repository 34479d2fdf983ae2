"""What several commands share: the consoles, the one-red-line error path, number and text formatting."""

from __future__ import annotations

import functools
import math
import os
import re
import sys
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from gpubench.errors import GpubenchError, first_line

# Piped into a file or a CI log there is no terminal width to fit: use a wide page rather than rich's 80 columns.
_WIDTH = None if sys.stdout.isatty() or "COLUMNS" in os.environ else 200
console = Console(width=_WIDTH)
err_console = Console(stderr=True, width=_WIDTH)

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print `message` (plain text: escaped here, never read as markup) as one red line; the Exit to raise."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, markup=True, soft_wrap=True)
    return typer.Exit(code)


def _os_error_message(e: OSError) -> str:
    """One line naming the path and what is wrong with it; a full disk says so."""
    import errno

    where = " -> ".join(str(f) for f in (e.filename, e.filename2) if f is not None) or "a file"
    if e.errno == errno.ENOSPC:
        return f"the disk is full (writing {where})"
    return f"{where}: {e.strerror or type(e).__name__}"


def handle_errors(fn: F) -> F:
    """A GpubenchError (bad input, missing hardware, damaged file) becomes one red line and exit code 2; so does
    a file-system error that reaches this far (a path that cannot be created, read or written)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except GpubenchError as e:
            raise fail(first_line(e)) from None
        except OSError as e:
            raise fail(_os_error_message(e)) from None

    return wrapper  # type: ignore[return-value]


def fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, float):
        if value == 0:
            return "0"
        mag = abs(value)
        return f"{value:.{digits}g}" if mag < 10**digits else f"{value:,.0f}"
    return str(value)


# C0 and C1 control characters (ESC, BEL, CSI ...), except tab and newline: printed raw, a name read from a
# run folder could clear the screen or retitle the window. They are shown as visible \xNN escapes instead.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def escape(text: Any) -> str:
    """User- or file-supplied text made safe to print through rich: control characters shown as `\\xNN`,
    `[...]` shown as written rather than read as markup."""
    from rich.markup import escape as rich_escape

    return rich_escape(_CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text)))


def json_value(value: Any) -> Any:
    """store.json_value, imported on first use: `gpubench --help` should not pay for pandas."""
    from gpubench.store import json_value as convert

    return convert(value)


class SigTerm(KeyboardInterrupt):
    """SIGTERM (`timeout`, Slurm, `docker stop`) in a single-process run: stops it exactly like Ctrl-C."""


DeviceOpt = Annotated[
    str,
    typer.Option("--device", "-d", help="auto (first accelerator, else CPU), cpu, cuda[:N], xpu[:N], mps, xla[:N]"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]
