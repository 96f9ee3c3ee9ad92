"""Self-contained offline HTML reports: the page shell and the helpers every report shares.

A report is one HTML file that loads nothing from the network. :func:`page` wraps a body in
that shell: a Content-Security-Policy that forbids every external resource, the shared style
sheet and, when the page has figures, plotly.js inlined once with one small script that draws
each figure from its JSON spec (:class:`Figures`). Every user-controlled string goes through
:func:`escape` (or :func:`plot_text` for the texts of a plot); :class:`Html` marks a fragment
that is already safe. :func:`write_atomic` replaces a report file in one step. The monitoring
report and the maturity assessment report are built on it. This package imports nothing else
of mlpilot.
"""

from mlpilot.reports._page import (
    CSP,
    Figures,
    Html,
    definitions,
    escape,
    note,
    notes,
    page,
    plot_text,
    plotly_js,
    row,
    table,
    write_atomic,
)

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
