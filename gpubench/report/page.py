"""The self-contained HTML page: plotly.js embedded once, figures as JSON drawn with Plotly.newPlot, no
external script, style or font, so the file works offline and can be mailed around.

The page records its own health for tests and curious users: `<body data-figures=N data-rendered=M
data-errors=K data-done=1>`; `data-rendered` counts figures that produced Plotly's SVG.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timezone

from gpubench import __version__
from gpubench.output import html_text
from gpubench.report.blocks import Block, Cell, Details, Figure, Note, Prose, Table
from gpubench.report.i18n import Messages, load_messages
from gpubench.report.plot import plotly_js

_CSS = """
:root { --fg:#1d1d1f; --muted:#5f6368; --line:#ddd; --accent:#0b5cad; --warn-bg:#fff6e0; --warn-line:#e0a100;
        --explain-bg:#f4f7fb; --verdict-bg:#eef6ee; --verdict-line:#2e7d32; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: var(--fg);
       margin: 0; background: #fafafa; font-size: 15px; line-height: 1.5; }
header { background: #fff; border-bottom: 1px solid var(--line); padding: 16px 28px 8px; }
header h1 { margin: 0 0 4px; font-size: 22px; overflow-wrap: anywhere; }
header .meta { color: var(--muted); font-size: 13px; }
nav.toc { position: sticky; top: 0; z-index: 10; background: rgba(255,255,255,0.97); border-bottom: 1px solid var(--line);
          padding: 6px 28px; display: flex; gap: 4px 16px; overflow-x: auto; white-space: nowrap; font-size: 14px; }
nav.toc a { color: var(--accent); text-decoration: none; padding: 2px 0; }
nav.toc a:hover { text-decoration: underline; }
main { padding: 4px 28px 40px; max-width: 1400px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 6px; margin: 18px 0; padding: 6px 18px 14px;
          scroll-margin-top: 44px; }
section h2 { font-size: 19px; margin: 10px 0 8px; }
.explain { background: var(--explain-bg); border-radius: 4px; padding: 4px 14px; margin: 4px 0 12px; max-width: 920px; }
.explain p { margin: 8px 0; }
.verdict { background: var(--verdict-bg); border-left: 4px solid var(--verdict-line); border-radius: 4px;
           padding: 4px 16px; margin: 6px 0 12px; font-size: 16px; max-width: 980px; }
.verdict p { margin: 9px 0; }
.fig { width: 100%; margin: 8px 0 2px; }
.caption { color: var(--muted); font-size: 13px; margin: 0 0 14px; max-width: 980px; }
.tablewrap { overflow-x: auto; margin: 6px 0 4px; max-width: 100%; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 9px; text-align: left; vertical-align: top; white-space: nowrap; }
td.wrap { white-space: normal; min-width: 180px; max-width: 460px; }
td.case { max-width: 340px; overflow: hidden; text-overflow: ellipsis; }
td[title] { cursor: help; }
th { background: #f3f3f5; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.diff { background: var(--warn-bg); box-shadow: inset 3px 0 0 var(--warn-line); font-weight: 600; }
td.up { color: #0a7a2f; } td.down { color: #b3261e; } td.score { font-weight: 700; }
td.st-failed, td.st-wrong { color: #b3261e; font-weight: 600; } td.st-skipped { color: #8a6d00; }
td.st-noisy { color: #8a6d00; }
.sw { display: inline-block; width: 11px; height: 11px; border-radius: 2px; margin-right: 6px; vertical-align: -1px; }
.note { padding: 8px 12px; border-radius: 4px; margin: 8px 0; background: #f1f5fb; max-width: 980px; }
.note.warn { background: var(--warn-bg); border-left: 4px solid var(--warn-line); }
.note ul { margin: 4px 0 0; padding-left: 20px; }
details { margin: 8px 0; }
details > summary { cursor: pointer; color: var(--accent); padding: 4px 0; }
#gb-errors { display: none; color: #b3261e; padding: 8px 28px; background: #fdecea; }
@media (max-width: 700px) {
  body { font-size: 15px; }
  header { padding: 12px 12px 6px; } header h1 { font-size: 19px; }
  nav.toc { padding: 6px 12px; }
  main { padding: 2px 6px 30px; }
  section { padding: 4px 10px 10px; margin: 12px 0; }
  .verdict { font-size: 15px; padding: 2px 10px; }
  .explain { padding: 2px 10px; }
  td.wrap { min-width: 140px; }
}
@media print {
  body { background: #fff; font-size: 11pt; }
  nav.toc, #gb-errors, .modebar-container { display: none !important; }
  main { padding: 0; max-width: none; }
  section { border: none; padding: 0; margin: 0 0 14pt; break-inside: auto; }
  section h2 { break-after: avoid; }
  .fig, table, .verdict, .note { break-inside: avoid; }
  details > *:not(summary) { display: block; }
  .tablewrap { overflow: visible; }
  th, td { white-space: normal; }
  a { color: inherit; text-decoration: none; }
}
"""

# Runs before plotly.js, so errors while loading it are counted too.
_ERROR_HOOK = """
window.__gbErrors = [];
window.__gbFail = function (msg) {
  window.__gbErrors.push(String(msg));
  document.body.setAttribute("data-errors", String(window.__gbErrors.length));
  var box = document.getElementById("gb-errors");
  if (box) { box.style.display = "block"; box.textContent = "Figure errors / hibák: " + window.__gbErrors.join(" | "); }
};
window.addEventListener("error", function (e) { window.__gbFail(e.message || e); });
window.addEventListener("unhandledrejection", function (e) { window.__gbFail("promise: " + (e.reason && e.reason.message || e.reason)); });
"""

_RENDER = """
(function () {
  var body = document.body, jobs = [];
  var figs = JSON.parse(document.getElementById("gb-figures").textContent);
  var config = {responsive: true, displaylogo: false, scrollZoom: false};
  figs.forEach(function (f) {
    var el = document.getElementById(f.id);
    try {
      jobs.push(Plotly.newPlot(el, f.spec.data, f.spec.layout, config).catch(function (e) {
        window.__gbFail(f.id + ": " + (e && e.message || e));
      }));
    } catch (e) { window.__gbFail(f.id + ": " + (e && e.message || e)); }
  });
  Promise.all(jobs).then(function () {
    var n = 0;
    document.querySelectorAll(".fig").forEach(function (el) { if (el.querySelector(".main-svg")) n++; });
    body.setAttribute("data-rendered", String(n));
    body.setAttribute("data-done", "1");
  });
})();
"""

_HEX = re.compile(r"^#[0-9A-Fa-f]{6}$")


def script_json(text: str) -> str:
    """JSON made safe inside <script>: no '<', '>' or '&' can close the tag or open a comment; the JSON
    still parses to the same value (these characters only occur inside strings)."""
    return (
        text.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _cell(cell: Cell) -> str:
    cls = f' class="{html_text(cell.cls)}"' if cell.cls else ""
    title = f' title="{html_text(cell.title)}"' if cell.title else ""
    swatch = f'<span class="sw" style="background:{cell.color}"></span>' if _HEX.match(cell.color or "") else ""
    return f"<td{cls}{title}>{swatch}{html_text(cell.text)}</td>"


def _table(table: Table) -> str:
    head = "".join(f"<th>{html_text(h)}</th>" for h in table.header)
    body = "\n".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in table.rows)
    caption = f'<p class="caption">{html_text(table.caption)}</p>' if table.caption else ""
    return f'<div class="tablewrap"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>{caption}'


_BOLD = re.compile(r"\*\*(.+?)\*\*")


def _inline(text: str) -> str:
    """Escaped text with `**bold**` turned into <strong> (the only markup texts may carry)."""
    return _BOLD.sub(r"<strong>\1</strong>", html_text(text))


def _prose(prose: Prose) -> str:
    body = "".join(f"<p>{_inline(p)}</p>" for p in prose.paragraphs)
    return f'<div class="{"verdict" if prose.kind == "verdict" else "explain"}">{body}</div>'


def _note(note: Note) -> str:
    items = "".join(f"<li>{html_text(i)}</li>" for i in note.items)
    return (
        f'<div class="note {html_text(note.kind)}">{html_text(note.text)}'
        + (f"<ul>{items}</ul>" if items else "")
        + "</div>"
    )


def _blocks(blocks: Sequence[Block], figs: list[str], msg: Messages) -> list[str]:
    body: list[str] = []
    for block in blocks:
        if isinstance(block, Figure):
            fid = f"fig-{len(figs) + 1}"
            # Numbers on axes and in hover written the language's way (decimal comma in Hungarian).
            block.figure.layout["separators"] = msg.separators
            figs.append(f'{{"id":"{fid}","spec":{block.figure.to_json()}}}')
            height = block.figure.layout.get("height") or 420
            body.append(f'<div class="fig" id="{fid}" style="height:{int(height)}px"></div>')
            if block.caption:
                body.append(f'<p class="caption">{html_text(block.caption)}</p>')
        elif isinstance(block, Table):
            body.append(_table(block))
        elif isinstance(block, Note):
            body.append(_note(block))
        elif isinstance(block, Prose):
            body.append(_prose(block))
        elif isinstance(block, Details):
            inner = "\n".join(_blocks(block.blocks, figs, msg))
            body.append(f"<details><summary>{html_text(block.summary)}</summary>{inner}</details>")
    return body


def render_page(
    sections: Sequence[tuple[str, str, list[Block]]], title: str, subtitle: str = "", msg: Messages | None = None
) -> str:
    """The HTML page for built sections: (key, title, blocks) each. Returns the document text."""
    msg = msg or load_messages()
    figs: list[str] = []
    parts: list[str] = []
    nav: list[str] = []
    for key, sec_title, blocks in sections:
        anchor = re.sub(r"[^a-z0-9-]", "-", key.lower())
        nav.append(f'<a href="#{anchor}">{html_text(sec_title)}</a>')
        body = _blocks(blocks, figs, msg)
        parts.append(f'<section id="{anchor}"><h2>{html_text(sec_title)}</h2>\n' + "\n".join(body) + "</section>")
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    meta = html_text(msg("page.generated", subtitle=subtitle, time=generated, version=__version__))
    return "\n".join(
        [
            "<!DOCTYPE html>",
            f'<html lang="{html_text(msg.lang)}"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{html_text(title)}</title>",
            f"<style>{_CSS}</style>",
            "</head>",
            f'<body data-figures="{len(figs)}" data-rendered="0" data-errors="0" data-done="0">',
            f"<script>{_ERROR_HOOK}</script>",
            f'<header><h1>{html_text(title)}</h1><div class="meta">{meta}</div></header>',
            f'<nav class="toc" aria-label="{html_text(msg("page.contents"))}">{"".join(nav)}</nav>',
            '<div id="gb-errors"></div>',
            "<main>",
            *parts,
            "</main>",
            # plotly.js once, inline: the page must work offline and fetch nothing.
            f'<script type="text/javascript">{plotly_js()}</script>',
            f'<script type="application/json" id="gb-figures">{script_json("[" + ",".join(figs) + "]")}</script>',
            f"<script>{_RENDER}</script>",
            "</body></html>",
        ]
    )


__all__ = ["render_page", "script_json"]
