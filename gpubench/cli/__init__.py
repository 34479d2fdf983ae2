"""The `gpubench` command. The only package that prints, exits, or knows exit codes.

Exit codes: 0 all ok (or skipped); 1 a benchmark failed or computed a wrong result (compare: a case got
significantly slower); 2 bad input, a bad path or a full disk (one red line, no traceback); 130 interrupted by
Ctrl-C, 143 stopped by SIGTERM (finished cases kept in both).

One module per command (or small group of commands); each is registered below with one line.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
import threading

# Commands that only read results do no large linear algebra, yet numpy's OpenBLAS starts a thread per core as it
# is imported: 0.08 s of CPU of every report on a 2-core machine (numpy's import alone: 0.18 s -> 0.10 s). Those
# commands import it with one BLAS thread unless the user chose otherwise; `run`, `monitor`, `devices` and `fleet`
# (which may start runs) keep the default. Set before anything below imports numpy.
_READERS = frozenset({"report", "compare", "recommend", "list", "specs"})
if len(sys.argv) > 1 and sys.argv[1] in _READERS:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import typer  # noqa: E402

from gpubench.cli import compare, devices, fleet, monitor, recommend, report, run, specs  # noqa: E402
from gpubench.cli.common import SigTerm, err_console, on_exit_ignore_interrupts, raise_sigterm  # noqa: E402

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Benchmark accelerators for deep-learning work: speed, power, and which card to buy.",
    pretty_exceptions_enable=False,
)

app.command()(devices.devices)
app.command("list")(devices.list_)
app.command()(run.run)
app.command()(monitor.monitor)
app.command()(specs.specs)
app.command()(recommend.recommend)
app.command()(report.report)
app.command(context_settings={"ignore_unknown_options": True})(compare.compare)
app.add_typer(fleet.app, name="fleet")


def main() -> None:
    # A command is one short process that may build millions of Python values (a report of a fleet's runs): at
    # the collector's default (a young collection every 700 new containers) collections took 8 % of a one-run
    # report's CPU and 5 % of a 1,000-run one. Cycles are still collected, about 70 times less often; the runner
    # collects and freezes around every round itself.
    gc.set_threshold(50_000, 20, 10)
    if threading.current_thread() is threading.main_thread():
        with contextlib.suppress(ValueError, OSError):
            signal.signal(signal.SIGTERM, raise_sigterm)  # every command: SIGTERM stops it like Ctrl-C, exit 143
    try:
        try:
            app()
        except SystemExit as e:
            # Typer turns an interrupt while it parses the command line into a silent exit 130.
            interrupt = _interrupt_behind(e)
            if e.code != 130 or interrupt is None:
                raise
            raise interrupt from None
    except KeyboardInterrupt as e:
        # Ctrl-C outside a command (while its modules import, say): nothing to keep, no traceback.
        term = isinstance(e, SigTerm)
        with contextlib.suppress(Exception):
            err_console.print("[bold red]terminated (SIGTERM)[/]" if term else "[bold red]interrupted[/]")
        raise SystemExit(143 if term else 130) from None
    finally:
        on_exit_ignore_interrupts()


def _interrupt_behind(exc: BaseException) -> KeyboardInterrupt | None:
    """The KeyboardInterrupt (or SigTerm) an exception was raised while handling, if any. A context suppressed
    by `raise ... from None` is not followed: that exit already said what happened (handle_errors' one line)."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return cause
        seen.add(id(cause))
        cause = cause.__cause__ or (None if cause.__suppress_context__ else cause.__context__)
    return None
