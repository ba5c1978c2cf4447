"""The shell of every report.html: the page, its style, sortable tables, and helpers to turn
figures and rows into HTML.

Plotly rather than Bokeh: the report needs a heatmap centred on a value, parallel
coordinates and a log-axis switch, which plotly has built in. Its script (~4.8 MB) is written
once per folder, as plotly.min.js beside the page (plotly's own include_plotlyjs="directory"
layout), and read by a relative <script src>: the page stays light and opens offline from
file://, nothing fetched from the network."""

from __future__ import annotations

import html
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import plotly.graph_objects as go

PLOTLY_JS = "plotly.min.js"  # beside every page, written by write_page
PLOT_CONFIG = {"displaylogo": False, "responsive": True, "scrollZoom": False}

# the linear/log switch above a chart of growth
LOG_SWITCH = [
    {
        "type": "buttons",
        "direction": "right",
        "x": 0.0,
        "xanchor": "left",
        "y": 1.0,
        "yanchor": "bottom",
        "pad": {"b": 4},
        "buttons": [
            {"label": "linear", "method": "relayout", "args": [{"yaxis.type": "linear"}]},
            {"label": "log", "method": "relayout", "args": [{"yaxis.type": "log"}]},
        ],
    }
]

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
  color: #222; background: #fafafa; }
header { background: #1f2937; color: #f9fafb; padding: 14px 24px; }
header h1 { margin: 0; font-size: 20px; font-weight: 600; }
header p { margin: 4px 0 0; font-size: 13px; color: #d1d5db; }
header h1, header p, .card .sub, li { overflow-wrap: anywhere; }
main { padding: 12px 24px 40px; max-width: 1500px; margin: 0 auto; }
section { background: #fff; border: 1px solid #e5e7eb; border-radius: 6px; margin: 14px 0;
  padding: 10px 16px; overflow-x: auto; }
section h2 { font-size: 16px; margin: 4px 0 8px; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; }
.card { background: #fff; border: 1px solid #e5e7eb; border-radius: 6px; padding: 8px 12px;
  min-width: 140px; flex: 1 1 140px; }
.card .label { font-size: 12px; color: #6b7280; }
.card .value { font-size: 20px; font-weight: 600; }
.card .sub { font-size: 12px; color: #6b7280; }
.card[title] .label { text-decoration: underline dotted; cursor: help; }
.bad { color: #b91c1c; } .good { color: #15803d; }
.warn { background: #fef2f2; border-color: #fecaca; }
table { border-collapse: collapse; font-size: 13px; }
th, td { padding: 3px 8px; border-bottom: 1px solid #eee; text-align: right;
  white-space: nowrap; }
th { background: #f3f4f6; position: sticky; top: 0; }
td.text, th.text { text-align: left; white-space: normal; overflow-wrap: break-word;
  min-width: 9em; max-width: 640px; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th.asc::after { content: " \\25B2"; font-size: 10px; }
table.sortable th.desc::after { content: " \\25BC"; font-size: 10px; }
.scroll { max-height: 520px; overflow: auto; }
.grid2 > div { overflow-x: auto; }
.grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr));
  gap: 14px; }
pre { background: #f3f4f6; padding: 8px; font-size: 12px; overflow: auto; max-height: 480px; }
.note { font-size: 12px; color: #6b7280; }
.plot { width: 100%; }
#decision { min-height: 2em; }
@media (max-width: 700px) {
  header { padding: 10px 12px; }
  main { padding: 6px 6px 24px; }
  section { padding: 8px 8px; margin: 10px 0; }
  .card { min-width: 120px; flex: 1 1 120px; padding: 6px 8px; }
  .card .value { font-size: 18px; }
  td.text, th.text { min-width: 7em; }
}
"""

# Below 700 px wide every plot takes its legend under the chart, in small type, and grows so
# that its plotting area stays at least MIN_PLOT px high; wider again, it gets its own back.
NARROW_SCRIPT = """
(function () {
  var NARROW = 700, MIN_PLOT = 260;
  function setHeight(p, height) {  // the plot's div and the sized wrapper plotly puts round it
    p.style.height = height + 'px';
    var wrapper = p.parentElement;
    if (wrapper && wrapper.style.height) { wrapper.style.height = height + 'px'; }
  }
  function fit(p) {
    var full = p._fullLayout;
    if (!full || !window.Plotly) { return; }
    var narrow = window.innerWidth < NARROW;
    if (p.dataset.wide === undefined) {
      p.dataset.wide = JSON.stringify({legend: p.layout.legend || {},
        margin: p.layout.margin || {}, height: full.height});
    }
    var wide = JSON.parse(p.dataset.wide);
    var update = narrow ? {'legend.orientation': 'h', 'legend.x': 0, 'legend.xanchor': 'left',
      'legend.y': 0, 'legend.yanchor': 'bottom', 'legend.yref': 'container',
      'legend.font.size': 11, 'margin.l': 48, 'margin.r': 8, height: wide.height}
      : {legend: wide.legend, margin: wide.margin, height: wide.height};
    setHeight(p, wide.height);
    Plotly.relayout(p, update).then(function () {
      var short = MIN_PLOT - p._fullLayout._size.h;
      if (narrow && short > 0) {
        var height = p._fullLayout.height + short;
        setHeight(p, height);
        return Plotly.relayout(p, {height: height});
      }
    });
  }
  function fitAll() { document.querySelectorAll('.js-plotly-plot').forEach(fit); }
  var timer = null;
  window.addEventListener('resize', function () {
    clearTimeout(timer);
    timer = setTimeout(fitAll, 150);
  });
  if (window.innerWidth < NARROW) { fitAll(); }
})();
"""

SORT_SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var asc = !th.classList.contains('asc');
      table.querySelectorAll('th').forEach(function (h) { h.classList.remove('asc', 'desc'); });
      th.classList.add(asc ? 'asc' : 'desc');
      function key(row) {
        var cell = row.cells[col];
        var v = cell.getAttribute('data-sort');
        if (v === null) { v = cell.textContent; }
        var n = parseFloat(v);
        return isNaN(n) || v.trim() === '' ? v : n;
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (typeof x === 'number' && typeof y === 'number') { return asc ? x - y : y - x; }
        return asc ? String(x).localeCompare(String(y)) : String(y).localeCompare(String(x));
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""


def esc(value: Any) -> str:
    """Text for HTML."""
    return html.escape("" if value is None else str(value))


def figure_div(fig: go.Figure, div_id: str, height: int | None = None) -> str:
    """A figure as a div for a page whose head already holds plotly.js."""
    if height is not None:
        fig.update_layout(height=height)
    return str(
        fig.to_html(
            full_html=False,
            include_plotlyjs=False,
            div_id=div_id,
            config=PLOT_CONFIG,
            default_width="100%",
        )
    )


def table_html(
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    sortable: bool = False,
    text_columns: Iterable[int] = (),
    table_id: str | None = None,
) -> str:
    """A table of cells: a cell is a value, or (shown, sort key, css style) for sortable or
    coloured cells."""
    texts = set(text_columns)
    head = "".join(
        f'<th class="{"text" if n in texts else ""}">{esc(c)}</th>' for n, c in enumerate(columns)
    )
    body = []
    for row in rows:
        cells = []
        for n, cell in enumerate(row):
            cls = ' class="text"' if n in texts else ""
            if isinstance(cell, tuple):
                shown, key, style = (*cell, "")[:3]
                attrs = f' data-sort="{esc(key)}"' if key is not None else ""
                attrs += f' style="{esc(style)}"' if style else ""
                cells.append(f"<td{cls}{attrs}>{esc(shown)}</td>")
            else:
                cells.append(f"<td{cls}>{esc(cell)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    ident = f' id="{esc(table_id)}"' if table_id else ""
    cls = ' class="sortable"' if sortable else ""
    return (
        f"<table{ident}{cls}><thead><tr>{head}</tr></thead><tbody>"
        + "".join(body)
        + "</tbody></table>"
    )


def diverging(value: float | None, scale: float) -> str:
    """A background colour for `value` on a red-white-green scale centred on 0."""
    if value is None or scale <= 0:
        return ""
    share = max(-1.0, min(1.0, value / scale))
    if share >= 0:
        r, g, b = (int(255 - share * (255 - c)) for c in (49, 163, 84))
    else:
        r, g, b = (int(255 + share * (255 - c)) for c in (215, 48, 39))
    return f"background-color: rgb({r},{g},{b})"


def card(label: str, value: str, sub: str = "", tone: str = "", term: str = "") -> str:
    """One headline figure; `term` names its glossary entry (the label's tooltip, the label
    underlined with dots)."""
    from xmtrade.reports.glossary import define

    cls = f"card {tone}".strip()
    meaning = define(term) if term else ""
    title = f' title="{esc(meaning)}"' if meaning else ""
    return (
        f'<div class="{cls}"{title}><div class="label">{esc(label)}</div>'
        f'<div class="value">{esc(value)}</div><div class="sub">{esc(sub)}</div></div>'
    )


def section(title: str, body: str, ident: str | None = None) -> str:
    """A titled block of the page."""
    anchor = f' id="{esc(ident)}"' if ident else ""
    return f"<section{anchor}><h2>{esc(title)}</h2>{body}</section>"


def page(title: str, subtitle: str, body: str, script: str = "", data: Any = None) -> str:
    """The whole HTML page; it reads plotly.min.js from its own folder (see write_page)."""
    payload = ""
    if data is not None:
        text = json.dumps(data, default=str).replace("</", "<\\/")
        payload = f'<script type="application/json" id="report-data">{text}</script>'
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{STYLE}</style>"
        f'<script src="{PLOTLY_JS}" charset="utf-8"></script></head><body>'
        f"<header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header><main>{body}</main>"
        f"{payload}<script>{SORT_SCRIPT}{script}{NARROW_SCRIPT}</script></body></html>\n"
    )


def write_page(path: Path, text: str) -> None:
    """Write the page and plotly.min.js beside it, each through a temporary file renamed into
    place (plotly.min.js only when it is missing or not this plotly's)."""
    write_plotly_js(path.parent)
    staging = path.with_name(f".{path.name}.tmp")
    staging.write_text(text, encoding="utf-8")
    os.replace(staging, path)


def write_plotly_js(folder: Path) -> Path:
    """plotly.min.js of the installed plotly in `folder` (kept when already the same)."""
    from plotly.offline import get_plotlyjs

    script = get_plotlyjs().encode("utf-8")
    target = folder / PLOTLY_JS
    if target.is_file() and target.stat().st_size == len(script) and target.read_bytes() == script:
        return target
    staging = folder / f".{PLOTLY_JS}.tmp"
    staging.write_bytes(script)
    os.replace(staging, target)
    return target
