"""`gpubench report`: one HTML / Markdown / CSV / JSON report comparing run folders."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gpubench.cli.common import console, escape, handle_errors


@handle_errors
def report(
    runs: Annotated[list[str], typer.Argument(help="run folders, globs (results/*) or folders of run folders")],
    out: Annotated[
        str | None, typer.Option("--out", "-o", help="file to write (default reports/<name>.<format>; - for stdout)")
    ] = None,
    baseline: Annotated[
        Path | None,
        typer.Option("--baseline", help="run folder the speed-ups are relative to (default: the first)"),
    ] = None,
    title: Annotated[str | None, typer.Option("--title", help="page title")] = None,
    lang: Annotated[str, typer.Option("--lang", help="language of the texts: en or hu")] = "en",
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="html (default, self-contained), md (summary to paste), csv or json (every case, one row each)",
        ),
    ] = "html",
    against: Annotated[
        list[str] | None,
        typer.Option("--against", help="catalog device to compare with in the verdict (repeatable), e.g. l40s"),
    ] = None,
    fleet: Annotated[
        bool | None,
        typer.Option(
            "--fleet/--no-fleet",
            help="pool runs of one device model that measured the same cases into one series "
            "(default: from 4 such runs; the page says which were pooled)",
        ),
    ] = None,
    label: Annotated[
        list[str] | None,
        typer.Option("--label", help="name for each run in order, instead of device · host · time (repeatable)"),
    ] = None,
) -> None:
    """Write one report (self-contained HTML that works offline, or a Markdown / CSV summary) comparing
    runs from any machines."""
    from gpubench.report import render_report

    path = render_report(
        runs,
        out=out,
        baseline=baseline,
        title=title,
        lang=lang,
        fmt=fmt,
        against=against or [],
        fleet=fleet,
        labels=label or [],
    )
    if str(path) != "-":
        console.print(f"report: {escape(path)}", highlight=False)
