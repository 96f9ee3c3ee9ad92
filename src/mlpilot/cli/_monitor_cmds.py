"""The ``monitor`` and ``alerts`` commands: drift, quality, performance and operations."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from mlpilot.cli import _render
from mlpilot.cli._options import JsonOpt, ProjectOpt, open_project

if TYPE_CHECKING:
    from rich.console import Console

    from mlpilot.monitoring import FeatureDrift, Monitor, MonitorReport, ScopeReport


def monitor(
    project: ProjectOpt = None,
    window: Annotated[
        int | None,
        typer.Option("--window", "-n", help="The latest N prediction rows (default [monitor])."),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="The last period instead, e.g. 1h, 30m, 2d.")
    ] = None,
    json_: JsonOpt = False,
    html: Annotated[
        Path | None, typer.Option("--html", help="Write a self-contained HTML report here.")
    ] = None,
    watch: Annotated[
        bool, typer.Option("--watch", help="Evaluate on a schedule until Ctrl-C.")
    ] = False,
    every: Annotated[
        str | None, typer.Option("--every", help="Schedule for --watch (default [monitor]).")
    ] = None,
    record: Annotated[
        bool, typer.Option("--record/--no-record", help="Store results in the metadata store.")
    ] = True,
) -> None:
    """Drift, data quality, performance on feedback, and latency of the served models.

    Compares a window of the prediction log with each model version's reference profile,
    stores the results as a time series and raises alerts for monitors over their thresholds.

    Example: mlpilot monitor --since 1h --html report.html
    """
    from mlpilot.config import parse_duration
    from mlpilot.errors import ConfigError

    if window is not None and since is not None:
        raise ConfigError("give either --window N or --since PERIOD, not both")
    if window is not None and window < 1:
        raise ConfigError(f"--window {window} must be a positive number of rows")
    seconds = parse_duration(since) if since is not None else None
    proj = open_project(project)
    mon = proj.monitor()
    try:
        if watch:
            interval = parse_duration(every) if every else proj.settings.monitor.every_seconds
            _watch(mon, interval, window, seconds, json_=json_, html=html, record=record)
            return
        report = _evaluate(mon, window, seconds, quiet=json_)
        if record:
            mon.record(report)
        _show(mon, report, json_=json_, html=html)
    finally:
        if mon.dispatcher is not None:
            mon.dispatcher.close(timeout=10.0)


def _evaluate(
    mon: Monitor, rows: int | None, seconds: float | None, *, quiet: bool
) -> MonitorReport:
    if quiet:
        return mon.evaluate(rows=rows, seconds=seconds)
    out = _render.console(stderr=True)
    with out.status("Reading the prediction log…") as status:
        return mon.evaluate(
            rows=rows,
            seconds=seconds,
            progress=lambda what: status.update(f"Evaluating {what}…"),
        )


def _show(mon: Monitor, report: MonitorReport, *, json_: bool, html: Path | None) -> None:
    if html is not None:
        from mlpilot.monitoring import write_html

        write_html(html, report, mon.history())
    if json_:
        _render.print_json(report.model_dump(mode="json"))
        return
    out = _render.console()
    render_report(out, report)
    if html is not None:
        out.print(f"HTML report: {html}")


def _watch(
    mon: Monitor,
    interval: float,
    rows: int | None,
    seconds: float | None,
    *,
    json_: bool,
    html: Path | None,
    record: bool,
) -> None:
    stop = threading.Event()

    def _stop(*_args: Any) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, _stop)
    out = _render.console(stderr=True)
    if not json_:
        out.print(f"Monitoring {mon.deployment} every {interval:g} s; Ctrl-C to stop.")
    try:
        mon.watch(
            stop,
            every=interval,
            rows=rows,
            seconds=seconds,
            record=record,
            on_report=lambda report: _show(mon, report, json_=json_, html=html),
        )
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


# -- rendering ---------------------------------------------------------------------------------


def _verdict(drifted: bool | None) -> str:
    if drifted is None:
        return "[yellow]?[/]"
    return "[bold red]DRIFT[/]" if drifted else "[green]ok[/]"


def _fmt(value: float | None, spec: str = ".3g") -> str:
    return "-" if value is None else format(value, spec)


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


def render_report(out: Console, report: MonitorReport) -> None:
    w = report.window
    out.print(
        f"[bold]{report.deployment}[/]: {w.rows} prediction rows, "
        f"{_when(w.start)} → {_when(w.end)} UTC"
    )
    for message in report.messages:
        out.print(f"[yellow]{message}[/]")
    for scope in report.scopes:
        _render_scope(out, scope)
    if report.alerts:
        out.print(f"\n[bold red]{len(report.alerts)} alert(s)[/]")
        for alert in report.alerts:
            out.print(f"  [red]•[/] {alert.monitor}: {alert.message}", markup=True)
    elif report.scopes:
        out.print("\n[green]No alerts.[/]")


def _render_scope(out: Console, scope: ScopeReport) -> None:
    s = scope.scope
    title = "Deployment" if s.kind == "deployment" else f"Model v{s.model_version} ({s.variant}"
    if s.kind == "version":
        title += ", shadow)" if s.shadow else ")"
    profile = f", against the profile of v{s.profile_version}" if s.profile_version else ""
    out.print(f"\n[bold underline]{title}[/] — {scope.rows} rows{profile}")
    for message in scope.messages:
        out.print(f"[yellow]{message}[/]", markup=True)
    drift = scope.drift
    if drift is not None:
        verdict = _verdict(drift.drifted)
        share = "-" if drift.share is None else f"{drift.share:.0%}"
        out.print(
            f"Input drift: {verdict} — {drift.drifted_count} of {drift.evaluated} features "
            f"drifted ({share}; dataset threshold {drift.share_threshold:.0%})"
        )
        if drift.message:
            out.print(f"[yellow]{drift.message}[/]")
        out.print(_drift_table("Feature", drift.features))
    if scope.prediction_drift:
        out.print(_drift_table("Output", scope.prediction_drift))
    q = scope.quality
    if q is not None:
        bad = [f for f in q.features if f.breached]
        rejected = (
            f"{q.rejected} of {q.requests} requests rejected" if q.requests else "no requests"
        )
        out.print(
            f"Data quality: {'[red]problems[/]' if q.breached else '[green]ok[/]'} — {rejected}"
        )
        for f in bad:
            out.print(f"  [red]•[/] {f.name}: {f.message}", markup=True)
        if q.message:
            out.print(f"  [red]•[/] {q.message}")
    p = scope.performance
    if p is not None:
        metrics = ", ".join(f"{k} {v:.4g}" for k, v in p.metrics.items()) or "-"
        coverage = "-" if p.coverage is None else f"{p.coverage:.0%}"
        delay = (
            f", label delay p50 {_fmt(p.delay_p50_seconds, '.1f')} s"
            if p.delay_p50_seconds is not None
            else ""
        )
        state = {True: "[red]below its floor[/]", False: "[green]ok[/]", None: ""}[p.breached]
        out.print(
            f"Performance: {metrics} on {p.labelled} labelled rows (coverage {coverage}{delay}) "
            f"{state}"
        )
        if p.message:
            out.print(f"  [yellow]{p.message}[/]")
    o = scope.operational
    if o is not None:
        rate = "-" if o.error_rate is None else f"{o.error_rate:.2%}"
        out.print(
            f"Operations: {o.requests} requests ({_fmt(o.request_rate_per_second, '.3g')}/s), "
            f"errors {o.errors} ({rate}), latency p50 {_fmt(o.latency_p50_ms, '.2f')} ms, "
            f"p99 {_fmt(o.latency_p99_ms, '.2f')} ms"
            + (" [red]over its limits[/]" if o.breached else "")
        )


def _drift_table(what: str, features: tuple[FeatureDrift, ...]) -> Table:
    table = Table(show_edge=False, pad_edge=False)
    for name in (what, "Kind", "Rows", "Method", "Score", "Threshold", "Verdict", "Also"):
        table.add_column(
            name, justify="right" if name in ("Rows", "Score", "Threshold") else "left"
        )
    for f in features:
        others = ", ".join(
            f"{s.method} {_fmt(s.p_value if s.p_value is not None else s.value)}"
            for s in f.statistics
            if not s.decides
        )
        if f.message:
            others = (others + "; " if others else "") + f.message
        table.add_row(
            f.name,
            f.kind,
            str(f.rows),
            f.method,
            _fmt(f.score),
            f"{f.threshold:g}",
            _verdict(f.drifted),
            others,
        )
    return table


def alerts(
    project: ProjectOpt = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
    json_: JsonOpt = False,
) -> None:
    """Alerts raised by the monitors, newest first, with their webhook delivery.

    Example: mlpilot alerts --limit 5
    """
    from mlpilot.monitoring import recent_alerts

    proj = open_project(project)
    found = recent_alerts(proj.store, proj.name, limit=limit)
    if json_:
        _render.print_json(found)
        return
    out = _render.console()
    if not found:
        out.print(f"No alerts for {proj.name}.")
        return
    table = Table(show_edge=False, pad_edge=False)
    for name in ("When (UTC)", "Monitor", "Scope", "Message", "Delivery"):
        table.add_column(name)
    for a in found:
        table.add_row(
            str(a.get("ts", ""))[:19],
            str(a.get("monitor", "")),
            str(a.get("scope", "")),
            str(a.get("message", "")),
            f"{a.get('delivery', '')} ({a.get('attempts', 0)})",
        )
    out.print(table)
