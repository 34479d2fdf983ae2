"""What several commands share: the consoles, the one-red-line error path, number and text formatting."""

from __future__ import annotations

import contextlib
import errno
import functools
import math
import os
import signal
import sys
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from gpubench import inputs, output
from gpubench.errors import GpubenchError, first_line


def _usable_streams() -> None:
    """Standard streams a command can always write to: a closed stdout/stderr (`>&-`) becomes /dev/null, a
    stream that cannot encode a character (a Latin-1 terminal, a "€" in a path) writes an escape instead."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None or _closed(stream):
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115 - lives as long as the process
            continue
        with contextlib.suppress(AttributeError, ValueError, OSError):
            stream.reconfigure(errors="backslashreplace")


def _closed(stream: Any) -> bool:
    try:
        return stream.closed or (stream.fileno() >= 0 and not _fd_open(stream.fileno()))
    except (OSError, ValueError, AttributeError):
        return False


def _fd_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


_usable_streams()
if "COLUMNS" in os.environ and inputs.terminal_columns() is None:
    del os.environ["COLUMNS"]  # COLUMNS=0 (or text) would make rich print nothing: as if unset


class SafeConsole(Console):
    """A rich Console that shows control and Unicode format characters of any text it renders as escapes (a
    last line of defence: commands still pass run data through `escape`, which also escapes markup)."""

    def render_str(self, text: str, **kwargs: Any) -> Any:
        return super().render_str(output.visible(text), **kwargs)


# Piped into a file or a CI log there is no terminal width to fit: use a wide page rather than rich's 80 columns.
_WIDTH = None if sys.stdout.isatty() or "COLUMNS" in os.environ else 200
console = SafeConsole(width=_WIDTH)
err_console = SafeConsole(stderr=True, width=_WIDTH)

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print `message` (plain text: escaped here, never read as markup) as one red line; the Exit to raise."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, markup=True, soft_wrap=True)
    return typer.Exit(code)


def _os_error_message(e: OSError) -> str:
    """One line naming the path and what is wrong with it; a full disk says so."""
    where = " -> ".join(str(f) for f in (e.filename, e.filename2) if f is not None) or "a file"
    if e.errno == errno.ENOSPC:
        return f"the disk is full (writing {where})"
    return f"{where}: {e.strerror or type(e).__name__}"


def quiet_broken_pipe() -> None:
    """The reader of our stdout went away (`| head`): point stdout at /dev/null so nothing more fails."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def handle_errors(fn: F) -> F:
    """A GpubenchError (bad input, missing hardware, damaged file) becomes one red line and exit code 2; so does
    a file-system error that reaches this far (a path that cannot be created, read or written). A closed pipe on
    stdout (`| head`) ends the command quietly; Ctrl-C or SIGTERM during setup says so and exits 130 / 143."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except GpubenchError as e:
            raise fail(first_line(e)) from None
        except BrokenPipeError:
            quiet_broken_pipe()
            raise typer.Exit(0) from None
        except OSError as e:
            if e.errno == errno.EPIPE:
                quiet_broken_pipe()
                raise typer.Exit(0) from None
            raise fail(_os_error_message(e)) from None
        except KeyboardInterrupt as e:
            output.remove_pending()
            term = isinstance(e, SigTerm)
            raise fail("terminated (SIGTERM)" if term else "interrupted", 143 if term else 130) from None

    return wrapper  # type: ignore[return-value]


def check_numbers(**values: float | None) -> None:
    """Numeric options against their declared bounds (gpubench.inputs.NUMBERS)."""
    inputs.check_numbers(**values)


def fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, float):
        if value == 0:
            return "0"
        mag = abs(value)
        return f"{value:.{digits}g}" if mag < 10**digits else f"{value:,.0f}"
    return str(value)


def escape(text: Any) -> str:
    """User- or file-supplied text made safe to print through rich: control and Unicode format characters
    shown as escapes, `[...]` shown as written rather than read as markup (gpubench.output.terminal_text)."""
    return output.terminal_text(text)


def json_value(value: Any) -> Any:
    """store.json_value, imported on first use: `gpubench --help` should not pay for pandas."""
    from gpubench.store import json_value as convert

    return convert(value)


class SigTerm(KeyboardInterrupt):
    """SIGTERM (`timeout`, Slurm, `docker stop`): stops a command exactly like Ctrl-C (a run keeps its finished
    cases, a report removes its temporary file), with exit code 143."""


def raise_sigterm(signum: int, frame: Any) -> None:
    """The SIGTERM handler of every command (installed by `main`)."""
    raise SigTerm()


def on_exit_ignore_interrupts() -> None:
    """After the command: the output is complete; a Ctrl-C or SIGTERM while the interpreter shuts down (torch's
    atexit handlers) must not print a traceback over it."""
    with contextlib.suppress(ValueError, OSError):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # still stoppable, silently
    try:
        sys.stdout.flush()
    except (BrokenPipeError, OSError, ValueError):
        quiet_broken_pipe()


DeviceOpt = Annotated[
    str,
    typer.Option("--device", "-d", help="auto (first accelerator, else CPU), cpu, cuda[:N], xpu[:N], mps, xla[:N]"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]
