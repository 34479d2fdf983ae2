"""The self-contained HTML page: plotly.js embedded once, figures as JSON drawn with Plotly.newPlot, no
external script, style or font, so the file works offline and can be mailed around.

The page records its own health for tests and curious users: `<body data-figures=N data-rendered=M
data-errors=K data-done=1>`; `data-rendered` counts figures that produced Plotly's SVG.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from datetime import datetime, timezone

import plotly.io as pio

from gpubench import __version__
from gpubench.report.sections import Block, Cell, Figure, Note, Table

_CSS = """
:root { --fg:#1d1d1f; --muted:#666; --line:#ddd; --accent:#0b5cad; --warn-bg:#fff6e0; --warn-line:#e0a100; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: var(--fg);
       margin: 0; background: #fafafa; font-size: 14px; line-height: 1.45; }
header { background: #fff; border-bottom: 1px solid var(--line); padding: 18px 28px 10px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header .meta { color: var(--muted); }
nav { margin-top: 10px; display: flex; flex-wrap: wrap; gap: 4px 14px; }
nav a { color: var(--accent); text-decoration: none; }
main { padding: 8px 28px 40px; max-width: 1500px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 6px; margin: 18px 0; padding: 6px 18px 14px; }
section h2 { font-size: 18px; margin: 10px 0 8px; }
.fig { width: 100%; min-height: 200px; margin: 8px 0 2px; }
.caption { color: var(--muted); font-size: 12.5px; margin: 0 0 14px; }
.tablewrap { overflow-x: auto; margin: 6px 0 4px; }
table { border-collapse: collapse; font-size: 12.5px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 9px; text-align: left; vertical-align: top; white-space: nowrap; }
td.wrap, td:last-child { white-space: normal; min-width: 160px; }
th { background: #f3f3f5; font-weight: 600; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.diff { background: var(--warn-bg); box-shadow: inset 3px 0 0 var(--warn-line); font-weight: 600; }
td.up { color: #0a7a2f; } td.down { color: #b3261e; } td.score { font-weight: 700; }
td.st-failed, td.st-wrong { color: #b3261e; font-weight: 600; } td.st-skipped { color: #8a6d00; }
td.st-noisy { color: #8a6d00; }
.sw { display: inline-block; width: 11px; height: 11px; border-radius: 2px; margin-right: 6px; vertical-align: -1px; }
.note { padding: 8px 12px; border-radius: 4px; margin: 8px 0; background: #f1f5fb; }
.note.warn { background: var(--warn-bg); border-left: 4px solid var(--warn-line); }
.note ul { margin: 4px 0 0; padding-left: 20px; }
#gb-errors { display: none; color: #b3261e; padding: 8px 28px; background: #fdecea; }
"""

# Runs before plotly.js, so errors while loading it are counted too.
_ERROR_HOOK = """
window.__gbErrors = [];
window.__gbFail = function (msg) {
  window.__gbErrors.push(String(msg));
  document.body.setAttribute("data-errors", String(window.__gbErrors.length));
  var box = document.getElementById("gb-errors");
  if (box) { box.style.display = "block"; box.textContent = "Figure errors: " + window.__gbErrors.join(" | "); }
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
    cls = f' class="{html.escape(cell.cls)}"' if cell.cls else ""
    title = f' title="{html.escape(cell.title)}"' if cell.title else ""
    swatch = (
        f'<span class="sw" style="background:{cell.color}"></span>' if _HEX.match(cell.color or "") else ""
    )
    return f"<td{cls}{title}>{swatch}{html.escape(cell.text)}</td>"


def _table(table: Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.header)
    body = "\n".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in table.rows)
    caption = f'<p class="caption">{html.escape(table.caption)}</p>' if table.caption else ""
    return f'<div class="tablewrap"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>{caption}'


def _note(note: Note) -> str:
    items = "".join(f"<li>{html.escape(i)}</li>" for i in note.items)
    return (f'<div class="note {html.escape(note.kind)}">{html.escape(note.text)}'
            + (f"<ul>{items}</ul>" if items else "") + "</div>")  # fmt: skip


def render_page(sections: Sequence[tuple[str, str, list[Block]]], title: str, subtitle: str = "") -> str:
    """The HTML page for built sections: (key, title, blocks) each. Returns the document text."""
    from plotly.offline import get_plotlyjs

    figs: list[str] = []
    parts: list[str] = []
    nav: list[str] = []
    for key, sec_title, blocks in sections:
        anchor = re.sub(r"[^a-z0-9-]", "-", key.lower())
        nav.append(f'<a href="#{anchor}">{html.escape(sec_title)}</a>')
        body: list[str] = []
        for block in blocks:
            if isinstance(block, Figure):
                fid = f"fig-{len(figs) + 1}"
                spec = pio.to_json(block.figure, validate=False, pretty=False)
                figs.append(f'{{"id":"{fid}","spec":{spec}}}')
                height = block.figure.layout.height or 420
                body.append(f'<div class="fig" id="{fid}" style="height:{int(height)}px"></div>')
                if block.caption:
                    body.append(f'<p class="caption">{html.escape(block.caption)}</p>')
            elif isinstance(block, Table):
                body.append(_table(block))
            elif isinstance(block, Note):
                body.append(_note(block))
        parts.append(
            f'<section id="{anchor}"><h2>{html.escape(sec_title)}</h2>\n' + "\n".join(body) + "</section>"
        )
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    meta = f"{html.escape(subtitle)} · generated {generated} by gpubench {html.escape(__version__)}"
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        f'<body data-figures="{len(figs)}" data-rendered="0" data-errors="0" data-done="0">',
        f"<script>{_ERROR_HOOK}</script>",
        f'<header><h1>{html.escape(title)}</h1><div class="meta">{meta}</div><nav>{"".join(nav)}</nav></header>',
        '<div id="gb-errors"></div>',
        "<main>",
        *parts,
        "</main>",
        # plotly.js once, inline: the page must work offline and fetch nothing.
        f'<script type="text/javascript">{get_plotlyjs()}</script>',
        f'<script type="application/json" id="gb-figures">{script_json("[" + ",".join(figs) + "]")}</script>',
        f"<script>{_RENDER}</script>",
        "</body></html>",
    ])  # fmt: skip


__all__ = ["render_page", "script_json"]
