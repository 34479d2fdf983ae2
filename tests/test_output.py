"""gpubench.output: output files as the user named them, and run data neutralised per output kind (issue 26)."""

from __future__ import annotations

import csv
import io
import os
import re
import stat
import threading
from pathlib import Path

import pytest

from gpubench import output
from gpubench.errors import GpubenchError, StorageError
from gpubench.output import csv_cell, csv_writer, html_text, markdown_prose, markdown_text, visible, write_output

ESC_TITLE = "\x1b]0;pwned\x07"  # OSC: sets the terminal's title
BIDI = "\u202egpj.exe\u2066x\u2069\u200b"


# ------------------------------------------------------------------------------------------------- text


@pytest.mark.parametrize("char", ["\x1b", "\x07", "\x9b", "\x00", "\u202e", "\u2066", "\u2069", "\u200b", "\u2028"])
def test_controls_and_bidi_are_made_visible(char):
    shown = visible(f"a{char}b")
    assert char not in shown and shown.startswith("a\\") and shown.endswith("b")


def test_every_output_kind_neutralises_controls():
    for convert in (output.terminal_text, html_text, markdown_text, markdown_prose, csv_cell):
        text = convert(f"H100{ESC_TITLE}{BIDI}")
        assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text and "\u2066" not in text, convert


def test_terminal_text_escapes_markup():
    assert output.terminal_text("[bold]x[/bold]") == "\\[bold]x\\[/bold]"


def test_html_text_escapes_tags_and_quotes():
    assert html_text('<script>"x"') == "&lt;script&gt;&quot;x&quot;"


@pytest.mark.parametrize(
    "text",
    [
        "[click](https://evil.example)",
        "![img](https://evil.example/x.png)",
        "<https://evil.example>",
        "see https://evil.example now",
        "www.evil.example",
        "a|b",
        "line\n# heading",
        "<img src=x onerror=alert(1)>",
    ],
)
def test_markdown_text_cannot_form_links_images_or_blocks(text):
    md = markdown_text(text)
    assert "\n" not in md and not re.search(r"(?<!\\)\]\(", md) and not re.search(r"(?<!\\)\[", md)
    assert "<" not in md and "https://" not in md and "www." not in md
    assert "|" not in md.replace("\\|", "")


def test_markdown_prose_keeps_bold_only():
    assert markdown_prose("**fast** [x](y)") == "**fast** \\[x\\](y)"


@pytest.mark.parametrize("cell", ['=HYPERLINK("http://x","y")', "@SUM(A1)", "+1+2", "-2+3", "\tx", "\rx", "|cmd"])
def test_csv_cells_that_would_be_formulas_are_text(cell):
    assert str(csv_cell(cell)).startswith("'")


@pytest.mark.parametrize("cell", ["-1.5", "3e-05", 12, 1.5, None, "NVIDIA H100"])
def test_csv_numbers_and_plain_text_pass(cell):
    assert csv_cell(cell) == cell


def test_csv_writer_neutralises_every_cell():
    buf = io.StringIO()
    csv_writer(buf).writerow(["=1+1", "ok", "\x1b[2J"])
    row = next(csv.reader(io.StringIO(buf.getvalue())))
    assert row == ["'=1+1", "ok", "\\x1b[2J"]


# ------------------------------------------------------------------------------------------------ files


def test_dash_is_stdout(capsysbinary):
    assert write_output("-", "hello\n") == "standard output"
    assert capsysbinary.readouterr().out == b"hello\n"


def test_empty_name_is_one_error():
    with pytest.raises(GpubenchError, match="-o ''"):
        write_output("", "x")


def test_dev_null_stays_a_device():
    write_output("/dev/null", "x" * 1000)
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_dev_full_says_the_disk_is_full():
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    with pytest.raises(StorageError, match="disk is full"):
        write_output("/dev/full", "x")
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_a_symlink_is_followed_to_its_target(tmp_path):
    target = tmp_path / "real.html"
    target.write_text("old")
    link = tmp_path / "link.html"
    link.symlink_to(target)
    write_output(link, "new")
    assert link.is_symlink() and target.read_text() == "new"


def test_a_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "link.html"
    link.symlink_to(tmp_path / "sub" / "made.html")
    write_output(link, "new")
    assert link.is_symlink() and (tmp_path / "sub" / "made.html").read_text() == "new"


def test_a_fifo_is_written_in_place(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(Path(fifo).read_bytes()))
    reader.start()
    write_output(fifo, "through the pipe")
    reader.join(timeout=10)
    assert got == [b"through the pipe"] and stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_a_folder_is_refused(tmp_path):
    with pytest.raises(StorageError, match="folder"):
        write_output(tmp_path, "x")


def test_concurrent_writers_of_one_path_never_collide(tmp_path):
    path = tmp_path / "same.html"
    errors = []

    def write(i: int) -> None:
        try:
            for _ in range(20):
                write_output(path, f"writer {i}\n" * 1000)
        except Exception as e:  # noqa: BLE001 - the test reports it
            errors.append(e)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    text = path.read_text()
    assert len(set(text.splitlines())) == 1  # one writer's whole file, never a mix
    assert [p.name for p in tmp_path.iterdir()] == ["same.html"]  # no temporary file left


def test_an_interrupted_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    def interrupted(src, dst):
        raise KeyboardInterrupt  # SIGTERM arrives as SigTerm, a KeyboardInterrupt, in the CLI

    monkeypatch.setattr(os, "replace", interrupted)
    (tmp_path / "r.html").write_text("previous")
    with pytest.raises(KeyboardInterrupt):
        write_output(tmp_path / "r.html", "x" * 10_000_000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]
    assert (tmp_path / "r.html").read_text() == "previous" and not output._PENDING


def test_a_replaced_file_keeps_its_mode(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("old")
    path.chmod(0o640)
    write_output(path, "new")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_report_writers_route_text_through_output(tmp_path):
    """The Markdown and CSV summaries of a run whose device name is hostile hold no live markup."""
    from fixtures_runs import write_run

    from gpubench.report import render_report

    run = write_run(tmp_path, "h100", device_name=f'=HYPERLINK("http://x")[a](http://e){ESC_TITLE}\u202e|x')
    md = render_report([run], out=tmp_path / "r.md", fmt="md").read_text()
    assert not re.search(r"(?<!\\)\]\(http", md) and "\x1b" not in md and "\u202e" not in md
    rows = list(csv.reader(io.StringIO(render_report([run], out=tmp_path / "r.csv", fmt="csv").read_text())))
    assert all(not cell.startswith(("=", "@", "+")) for row in rows for cell in row)
    page = render_report([run], out=tmp_path / "r.html").read_text()
    title = page[page.index("<title>") : page.index("</title>")]
    assert "\x1b" not in title and "\u202e" not in title
