"""The plots of the HTML monitoring report, as plotly figures (drawn by plotly.js in the page).

Every text given to plotly.js goes through :func:`plot_text` (from :mod:`mlpilot.reports`):
plotly.js reads a few HTML tags and entities in its labels, so user-controlled names are escaped
there too. plotly is imported inside the functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mlpilot.monitoring._report import FeatureDrift, HistoryPoint
from mlpilot.reports import plot_text, plotly_js

__all__ = [
    "MAX_HISTORY_SERIES",
    "Plot",
    "Series",
    "distribution_figure",
    "history_figure",
    "history_plots",
    "plot_text",
    "plotly_js",
    "series_by_monitor",
]

#: Lines in one plot over time (per-feature drift scores); features over threshold come first.
MAX_HISTORY_SERIES = 20

_PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#393b79",
)
_RED = "#d62728"
_GREY = "#9e9e9e"


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _axis_time(ts: float) -> str:
    """A time plotly reads on a date axis (UTC, no zone suffix)."""
    stamp = datetime.fromtimestamp(ts, tz=UTC).replace(tzinfo=None)
    return stamp.isoformat(sep=" ", timespec="milliseconds")


@dataclass(frozen=True)
class Plot:
    """One figure of the page: its title (plain text), the plotly figure and its height in px."""

    title: str
    figure: Any
    height: int


_LEGEND_TOP = {"orientation": "h", "x": 0, "xanchor": "left", "y": 1.02, "yanchor": "bottom"}


def _layout(**extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "template": "none",
        "font": {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12},
        "margin": {"l": 60, "r": 20, "t": 36, "b": 40},
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "legend": _LEGEND_TOP,
    }
    layout.update(extra)
    return layout


def distribution_figure(feature: FeatureDrift) -> Any:
    """Grouped bars: reference and current shares per bin or category."""
    import plotly.graph_objects as go

    dist = feature.distribution
    assert dist is not None
    labels = [plot_text(label) for label in dist.labels]
    current = _RED if feature.drifted else _PALETTE[0]
    return go.Figure(
        data=[
            go.Bar(
                name="reference",
                x=labels,
                y=list(dist.reference),
                marker={"color": _GREY},
                hovertemplate="%{x}<br>%{y:.1%}<extra>reference</extra>",
            ),
            go.Bar(
                name="current",
                x=labels,
                y=list(dist.current),
                marker={"color": current},
                hovertemplate="%{x}<br>%{y:.1%}<extra>current</extra>",
            ),
        ],
        layout=_layout(
            barmode="group",
            bargap=0.15,
            # long categories: short tick labels, the whole label on hover
            xaxis={
                "type": "category",
                "automargin": True,
                "tickmode": "array",
                "tickvals": labels,
                "ticktext": [plot_text(_short(label, 24)) for label in dist.labels],
            },
            yaxis={"tickformat": ".0%", "rangemode": "tozero", "gridcolor": "#eee"},
        ),
    )


@dataclass
class Series:
    """The stored values of one monitor in one scope, in time order."""

    x: list[str] = field(default_factory=list)
    values: list[float | None] = field(default_factory=list)
    thresholds: list[float | None] = field(default_factory=list)
    breached: list[bool | None] = field(default_factory=list)

    @property
    def ever_breached(self) -> bool:
        return any(self.breached)

    @property
    def has_threshold(self) -> bool:
        return any(t is not None for t in self.thresholds)


def series_by_monitor(points: Sequence[HistoryPoint]) -> dict[str, Series]:
    out: dict[str, Series] = {}
    for p in sorted(points, key=lambda p: p.ts):
        s = out.setdefault(p.monitor, Series())
        s.x.append(_axis_time(p.ts))
        s.values.append(p.value)
        s.thresholds.append(p.threshold)
        s.breached.append(p.breached)
    return out


def history_plots(points: Sequence[HistoryPoint]) -> tuple[list[Plot], list[str]]:
    """The plots over time of one scope's stored monitor values, and notes on what was left out.

    ``drift.share``, ``drift.feature.<name>``, ``performance.<metric>`` (with
    ``performance.coverage`` on a second axis), ``operational.latency_p50_ms`` and
    ``_p99_ms``, ``operational.error_rate``; any other monitor is plotted by its prefix.
    """
    import plotly.graph_objects as go

    series = series_by_monitor(points)
    plots: list[Plot] = []
    notes: list[str] = []

    def plot(title: str, lines: list[tuple[str, Series]], height: int = 340, **kw: Any) -> None:
        if not lines and kw.get("coverage") is None:
            return
        if sum(s.has_threshold for _, s in lines) > 1:
            title += " (dashed: thresholds)"
        plots.append(Plot(title, history_figure(go, lines, **kw), height))

    share = series.pop("drift.share", None)
    plot("Share of drifted features", [("drift share", share)] if share else [], yformat=".0%")

    prefix = "drift.feature."
    features = {m[len(prefix) :]: series.pop(m) for m in list(series) if m.startswith(prefix)}
    if features:
        names = sorted(features, key=lambda n: (not features[n].ever_breached, n))
        if len(names) > MAX_HISTORY_SERIES:
            notes.append(
                f"Feature drift scores over time: {MAX_HISTORY_SERIES} of {len(names)} "
                "features (those ever over threshold first)."
            )
        shown = [(n, features[n]) for n in names[:MAX_HISTORY_SERIES]]
        plot("Feature drift scores", shown, height=400, legend_right=True)

    coverage = series.pop("performance.coverage", None)
    perf = [
        (m.split(".", 1)[1], series.pop(m)) for m in sorted(series) if m.startswith("performance.")
    ]
    plot("Performance and label coverage", perf, coverage=coverage)

    latency = [
        (f"latency {q}", s)
        for q in ("p50", "p99")
        if (s := series.pop(f"operational.latency_{q}_ms", None)) is not None
    ]
    plot("Latency (ms)", latency)
    errors = series.pop("operational.error_rate", None)
    plot("Error rate", [("error rate", errors)] if errors else [], yformat=".1%")

    groups: dict[str, list[tuple[str, Series]]] = {}
    for monitor in sorted(series):
        groups.setdefault(monitor.split(".", 1)[0], []).append((monitor, series[monitor]))
    for group, lines in groups.items():
        plot(f"Other monitors: {group}", lines[:MAX_HISTORY_SERIES], legend_right=True)
    return plots, notes


def history_figure(
    go: Any,
    lines: Sequence[tuple[str, Series]],
    *,
    yformat: str | None = None,
    coverage: Series | None = None,
    legend_right: bool = False,
) -> Any:
    single = len(lines) == 1
    traces: list[Any] = []
    over_x: list[str] = []
    over_y: list[float | None] = []
    over_text: list[str] = []
    for i, (name, s) in enumerate(lines):
        color = _PALETTE[i % len(_PALETTE)]
        group = f"series-{i}"
        traces.append(
            go.Scatter(
                name=plot_text(_short(name, 40)),
                x=s.x,
                y=s.values,
                mode="lines+markers",
                line={"color": color},
                marker={"size": 5},
                legendgroup=group,
            )
        )
        if s.has_threshold:
            traces.append(
                go.Scatter(
                    name="threshold" if single else plot_text(_short(f"{name} threshold", 50)),
                    x=s.x,
                    y=s.thresholds,
                    mode="lines",
                    line={"color": color, "dash": "dash", "width": 1, "shape": "hv"},
                    legendgroup=group,
                    showlegend=single,
                )
            )
        for x, v, b in zip(s.x, s.values, s.breached, strict=True):
            if b:
                over_x.append(x)
                over_y.append(v)
                over_text.append(plot_text(name))
    if over_x:
        traces.append(
            go.Scatter(
                name="over threshold",
                x=over_x,
                y=over_y,
                text=over_text,
                mode="markers",
                marker={"color": _RED, "symbol": "x", "size": 10},
                hovertemplate="%{text}: %{y}<extra>over threshold</extra>",
            )
        )
    extra: dict[str, Any] = {}
    if coverage is not None:
        traces.append(
            go.Scatter(
                name="label coverage",
                x=coverage.x,
                y=coverage.values,
                yaxis="y2",
                mode="lines",
                fill="tozeroy",
                line={"color": "#b0bec5", "width": 1},
                fillcolor="rgba(176,190,197,0.25)",
            )
        )
        extra["yaxis2"] = {
            "overlaying": "y",
            "side": "right",
            "range": [0, 1],
            "tickmode": "linear",
            "tick0": 0,
            "dtick": 0.25,
            "tickformat": ".0%",
            "title": {"text": "label coverage"},
            "showgrid": False,
            "automargin": True,
        }
    if legend_right:
        extra["legend"] = {"orientation": "v", "x": 1.02, "xanchor": "left", "y": 1}
    yaxis: dict[str, Any] = {"gridcolor": "#eee", "automargin": True}
    if yformat:
        yaxis["tickformat"] = yformat
    return go.Figure(
        data=traces,
        layout=_layout(
            xaxis={"type": "date", "title": {"text": "time (UTC)"}, "gridcolor": "#eee"},
            yaxis=yaxis,
            hovermode="closest",
            margin={"l": 60, "r": 20, "t": 36, "b": 48},
            **extra,
        ),
    )
