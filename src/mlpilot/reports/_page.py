"""The page shell of the offline HTML reports, the escaping, the figures and the atomic write.

plotly is imported only when a page has figures to draw.
"""

from __future__ import annotations

import html
import json
import os
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "CSP",
    "Figures",
    "Html",
    "definitions",
    "escape",
    "note",
    "notes",
    "page",
    "plot_text",
    "plotly_js",
    "row",
    "table",
    "write_atomic",
]

#: The page's Content-Security-Policy: inline scripts and styles only, nothing from outside.
CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data: blob:; font-src data:; base-uri 'none'; form-action 'none'"
)


# --------------------------------------------------------------------------- escaping


class Html(str):
    """A fragment of HTML that is already safe: :func:`escape` leaves it as it is."""

    __slots__ = ()


def escape(value: object) -> Html:
    """Escape any text for HTML (element content and quoted attributes); :class:`Html` stays."""
    if isinstance(value, Html):
        return value
    return Html(html.escape(str(value), quote=True))


def plot_text(text: str) -> str:
    """Text for plotly.js, which reads a few HTML tags and entities in its labels: escaped."""
    return html.escape(text, quote=False)


# --------------------------------------------------------------------------- building blocks


def row(cells: Iterable[object], cls: str | None = None) -> Html:
    """A table row: each cell escaped (an :class:`Html` cell is kept as it is)."""
    attr = f' class="{escape(cls)}"' if cls else ""
    return Html(f"<tr{attr}>" + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>")


def table(headers: Sequence[str], rows: Sequence[Html], cls: str = "") -> Html:
    """A table with a header row and the given body rows (see :func:`row`)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    attr = f' class="{escape(cls)}"' if cls else ""
    body = "".join(rows)
    return Html(f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def definitions(pairs: Iterable[tuple[str, object]]) -> Html:
    """Term/value pairs, laid out in a wrapping line (``<dl class="facts">``)."""
    items = "".join(f"<div><dt>{escape(k)}</dt><dd>{escape(v)}</dd></div>" for k, v in pairs)
    return Html(f'<dl class="facts">{items}</dl>')


def note(message: str | None) -> Html:
    """A highlighted paragraph, or nothing when there is no message."""
    return Html(f'<p class="note">{escape(message)}</p>') if message else Html("")


def notes(messages: Sequence[str]) -> Html:
    """A highlighted list of messages, or nothing when there are none."""
    if not messages:
        return Html("")
    items = "".join(f"<li>{escape(m)}</li>" for m in messages)
    return Html(f'<ul class="notes">{items}</ul>')


# --------------------------------------------------------------------------- figures


@dataclass
class Figures:
    """The page's figures, in order: each a div id and a plotly figure (or its dict)."""

    items: list[tuple[str, Any]] = field(default_factory=list)

    def add(self, figure: Any, caption: Html, height: int) -> Html:
        """A captioned box for the figure (the placeholder plotly.js draws it in, from its spec).

        ``figure`` is a plotly figure, or a plain dict ``{"data": [...], "layout": {...}}``.
        """
        fid = f"figure-{len(self.items) + 1}"
        self.items.append((fid, figure))
        return Html(
            f"<figure><figcaption>{caption}</figcaption>"
            f'<div class="plot" id="{fid}" data-figure style="height:{int(height)}px"></div>'
            "</figure>"
        )

    def to_json(self) -> str:
        """One JSON array of ``{"id", "figure"}``, safe inside a ``<script>`` element."""
        specs = ",".join(
            f'{{"id":{json.dumps(fid)},"figure":{_figure_json(figure)}}}'
            for fid, figure in self.items
        )
        # plotly already writes < > / as \u escapes; keep it so whatever its version does.
        return f"[{specs}]".replace("<", "\\u003c").replace(">", "\\u003e")


def _figure_json(figure: Any) -> str:
    if hasattr(figure, "to_json"):
        text: str = figure.to_json()
        return text
    return json.dumps(figure, allow_nan=False, separators=(",", ":"))


def plotly_js() -> str:
    """The plotly.js bundle, ready to inline in a ``<script>`` element."""
    from plotly.offline import get_plotlyjs

    bundle: str = get_plotlyjs()
    # Never let the inlined bundle close its own <script> element.
    return bundle.replace("</script", "<\\/script").replace("</SCRIPT", "<\\/SCRIPT")


# --------------------------------------------------------------------------- the page


_RENDER_JS = """
(function () {
  function fail(el, why) {
    el.setAttribute("data-error", "true");
    el.textContent = "This plot could not be drawn: " + why;
  }
  var specs = JSON.parse(document.getElementById("mlpilot-figures").textContent);
  var config = {responsive: true, displaylogo: false, showLink: false,
                showSendToCloud: false, showEditInChartStudio: false};
  specs.forEach(function (spec) {
    var el = document.getElementById(spec.id);
    if (!el) { return; }
    if (typeof Plotly === "undefined") { fail(el, "plotly.js did not load"); return; }
    try {
      Promise.resolve(Plotly.newPlot(el, spec.figure.data, spec.figure.layout, config)).then(
        function () { el.setAttribute("data-rendered", "true"); },
        function (err) { fail(el, String(err)); });
    } catch (err) { fail(el, String(err)); }
  });
})();
"""

_CSS = """
:root { color-scheme: light; --bad: #c62828; --good: #2e7d32; --muted: #607d8b; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #212121;
       margin: 0 auto; padding: 0 24px 48px; max-width: 1400px; }
header { border-bottom: 2px solid #eceff1; padding: 16px 0 8px; }
h1 { font-size: 22px; margin: 0 0 8px; word-break: break-word; }
h2 { font-size: 19px; margin: 32px 0 8px; border-bottom: 1px solid #eceff1; padding-bottom: 4px; }
h3 { font-size: 16px; margin: 24px 0 6px; }
h4 { font-size: 14px; margin: 16px 0 4px; }
nav { margin: 12px 0; } nav ul { display: inline; padding: 0; }
nav li { display: inline; margin-left: 16px; }
dl.facts { display: flex; flex-wrap: wrap; gap: 4px 24px; margin: 6px 0; }
dl.facts div { display: flex; gap: 6px; } dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; font-variant-numeric: tabular-nums; }
table { border-collapse: collapse; margin: 8px 0; width: 100%; font-size: 13px; }
th, td { border-bottom: 1px solid #eceff1; padding: 4px 8px; text-align: left; }
td { vertical-align: top; }
th { background: #f5f7f8; position: sticky; top: 0; }
td { font-variant-numeric: tabular-nums; }
tr.bad td:first-child { border-left: 3px solid var(--bad); }
.name { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.name { word-break: break-all; }
.badge { display: inline-block; white-space: nowrap; padding: 0 6px; border-radius: 8px; }
.badge { font-size: 12px; color: white; }
.badge.bad { background: var(--bad); } .badge.good { background: var(--good); }
.badge.unknown { background: #90a4ae; }
p.note, ul.notes li { background: #fff8e1; border-left: 3px solid #ffb300; padding: 4px 8px; }
ul.notes { list-style: none; padding: 0; } ul.notes li { margin: 4px 0; }
p.hint { color: var(--muted); font-size: 12px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 12px; }
.grid.wide { grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); }
figure { margin: 0; border: 1px solid #eceff1; border-radius: 4px; min-width: 0; }
figcaption { padding: 6px 8px 0; font-size: 13px; }
.plot[data-error] { color: var(--bad); padding: 8px; }
footer { margin-top: 48px; color: var(--muted); font-size: 12px; }
@media print { .plot { break-inside: avoid; } th { position: static; } }
"""

_NOSCRIPT = "The plots need JavaScript; the tables hold every figure."


def page(
    title: str,
    body: Html,
    figures: Figures | None = None,
    *,
    css: str = "",
    noscript: str = _NOSCRIPT,
) -> str:
    """The whole HTML document: ``body`` in the offline shell.

    When ``figures`` holds any, plotly.js is inlined once with their specs and the script that
    draws them; a page without figures carries no script at all. ``css`` is added to the shared
    style sheet (trusted: never user text). ``noscript`` is shown where JavaScript does not run.
    """
    scripts = ""
    if figures is not None and figures.items:
        scripts = (
            f"<script>{plotly_js()}</script>\n"
            f'<script type="application/json" id="mlpilot-figures">{figures.to_json()}</script>\n'
            f"<script>{_RENDER_JS}</script>\n"
            f"<noscript>{escape(noscript)}</noscript>\n"
        )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="generator" content="mlpilot">\n'
        f"<title>{escape(title)}</title>\n<style>{_CSS}{css}</style>\n</head>\n<body>\n"
        f"{body}\n{scripts}</body>\n</html>\n"
    )


# --------------------------------------------------------------------------- writing


def write_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path``: parents created, the file replaced in one step.

    The text goes to a temporary file next to the target first, so a reader never sees half a
    report; the temporary file is removed whatever happens.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
