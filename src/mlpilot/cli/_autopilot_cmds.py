"""``autopilot``, ``up``, ``retrain``, ``releases`` and the ``release`` group."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import datetime
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlpilot.cli import _render
from mlpilot.cli._options import JsonOpt, ProjectOpt, ReasonOpt, SetOpt, open_project, overrides

if TYPE_CHECKING:
    from rich.console import Console

    from mlpilot.autopilot import Release, TickReport

release_app = typer.Typer(
    help="One release: explain it, or release a registered version by hand.\n\n"
    "Example: mlpilot release show 3f2a9c1b",
    no_args_is_help=True,
)

_COLOURS = {
    "promoted": "green",
    "rolled_back": "yellow",
    "rejected": "yellow",
    "failed": "red",
    "analysing": "cyan",
    "canary": "cyan",
    "shadow": "cyan",
    "ab": "cyan",
}


def _state(state: str) -> str:
    colour = _COLOURS.get(state)
    return f"[{colour}]{state}[/]" if colour else state


def _when(value: datetime | None) -> str:
    return "" if value is None else f"{value:%Y-%m-%d %H:%M:%S}"


def _span(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"


def _figures(release: Release) -> str:
    a = release.analysis
    if not a or "challenger" not in a:
        return ""
    chal, champ = a["challenger"], a["champion"]
    metric = a.get("metric", "")
    if chal.get("metric") is not None and champ.get("metric") is not None:
        return f"{metric} {chal['metric']:.3f} vs {champ['metric']:.3f}"
    return f"{chal.get('requests', 0)} vs {champ.get('requests', 0)} requests"


def releases_table(releases: list[Release], project: str) -> Any:
    from rich.table import Table

    table = Table(title=f"releases of {project}")
    for col in ("id", "state", "trigger", "version", "strategy", "figures", "at"):
        table.add_column(col)
    table.add_column("took", justify="right")
    for r in releases:
        version = "" if r.model_version is None else f"v{r.model_version}"
        if r.champion_version is not None and r.model_version != r.champion_version:
            version += f" vs v{r.champion_version}"
        table.add_row(
            r.id[:8],
            _state(r.state),
            r.trigger.split(":")[0],
            version,
            r.strategy,
            _figures(r),
            f"{r.created_at:%H:%M:%S}",
            _span(r.seconds),
        )
    return table


def show_release(out: Console, release: Release) -> None:
    from rich.table import Table

    out.print(
        f"[bold]release {release.id}[/] · {_state(release.state)} · {release.strategy} · "
        f"version {release.model_version or '-'} against champion "
        f"{release.champion_version or '-'}"
    )
    out.print(f"trigger: {release.trigger} by {release.actor}: {release.reason or ''}")
    for t in release.triggers[1:]:
        out.print(f"  also coalesced: {t.name} at {t.ts:%H:%M:%S} ({t.reason or ''})")
    timeline = Table(title="timeline")
    timeline.add_column("at")
    timeline.add_column("state")
    timeline.add_column("note")
    for step in release.transitions:
        at = str(step.get("at", ""))[:19].replace("T", " ")
        timeline.add_row(at, _state(step["state"]), step["note"])
    out.print(timeline)
    if release.decision:
        out.print(
            f"[bold]decision[/]: {release.decision} at {_when(release.decided_at)}: "
            f"{release.decision_reason}"
        )
    a = release.analysis
    if a and "challenger" in a:
        figures = Table(title=f"analysis ({a.get('minutes', 0):.1f} min of live traffic)")
        for col in ("variant", "version", "requests", "errors", "p50 ms", "p99 ms", "labelled"):
            figures.add_column(col)
        figures.add_column(a.get("metric", "metric"))
        for name in ("challenger", "champion"):
            v = a[name]
            figures.add_row(
                name,
                str(v["version"]),
                str(v["requests"]),
                str(v["errors"]),
                _num(v.get("latency_p50_ms")),
                _num(v.get("latency_p99_ms")),
                str(v["labelled"]),
                _num(v.get("metric"), 4),
            )
        out.print(figures)
        gain = a.get("gain")
        if gain:
            out.print(
                f"gain of the challenger: {gain['estimate']:+.4f}, anytime-valid interval "
                f"[{_num(gain['low'], 4)}, {_num(gain['high'], 4)}], margin {a['margin']:g}"
            )
        if a.get("prediction_shift") is not None:
            out.print(f"prediction distribution shift (TV distance): {a['prediction_shift']:.3f}")
        if not release.decision:
            out.print(f"now: {a.get('reason', '')}")


def _num(value: Any, digits: int = 1) -> str:
    return "" if value is None else f"{float(value):.{digits}f}"


def releases(
    project: ProjectOpt = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
    json_: JsonOpt = False,
) -> None:
    """List releases: state, trigger, versions, figures and decision.

    Example: mlpilot releases --json
    """
    proj = open_project(project)
    found = proj.autopilot(monitors=False).releases(limit)
    if json_:
        _render.print_json([r.to_dict() for r in found])
        return
    out = _render.console()
    if not found:
        out.print(f"No releases of {proj.name} yet: [bold]mlpilot retrain --reason TEXT[/].")
        return
    out.print(releases_table(found, proj.name))


@release_app.command("show")
def release_show(
    release_id: Annotated[str, typer.Argument(help="The release id (or its first characters).")],
    project: ProjectOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Explain one release: its trigger, timeline, analysis and decision.

    Example: mlpilot release show 3f2a9c1b
    """
    found = open_project(project).autopilot(monitors=False).release(release_id)
    if json_:
        _render.print_json(found.to_dict())
        return
    show_release(_render.console(), found)


@release_app.command("start")
def release_start(
    version: Annotated[int, typer.Argument(help="The registered version to release.")],
    reason: ReasonOpt,
    project: ProjectOpt = None,
) -> None:
    """Release a registered VERSION through the configured strategy (the autopilot runs it).

    Example: mlpilot release start 7 --reason "retrained by hand on the Q3 data"
    """
    found = open_project(project).autopilot(monitors=False).release_version(version, reason=reason)
    _render.console().print(
        f"release [bold]{found.id[:8]}[/] of version {version} is {found.state}; the autopilot "
        "takes it from here ([bold]mlpilot release show[/] to follow it)"
    )


def retrain(reason: ReasonOpt, project: ProjectOpt = None) -> None:
    """Ask the autopilot to retrain now (a manual trigger: it ignores the cooldown).

    Example: mlpilot retrain --reason "labels for October arrived"
    """
    proj = open_project(project)
    event = proj.autopilot(monitors=False).retrain(reason=reason)
    _render.console().print(
        f"trigger {event} recorded; the autopilot starts a release on its next tick (or "
        "coalesces it into the one in flight)"
    )


def autopilot(
    project: ProjectOpt = None,
    once: Annotated[bool, typer.Option("--once", help="One tick, then exit.")] = False,
    set_: SetOpt = None,
    exit_with_parent: Annotated[bool, typer.Option(hidden=True)] = False,
) -> None:
    """Run the controller: monitors, triggers, releases (until Ctrl-C or SIGTERM).

    Example: mlpilot autopilot
    """
    proj = open_project(project, overrides(set_))
    ap = proj.autopilot()
    out = _render.console(stderr=True)
    if once:
        try:
            _print_tick(out, ap.step())
        finally:
            ap.close()
        return
    stop = threading.Event()
    parent = os.getppid()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    cfg = proj.settings.autopilot
    out.print(
        f"[bold]mlpilot autopilot[/] · {proj.name} · tick {cfg.tick_seconds:g} s · monitors "
        f"every {cfg.monitor_seconds:g} s · {len(proj.settings.trigger)} trigger(s) · "
        f"strategy {proj.settings.release.strategy}"
    )
    last: dict[str, Any] = {}

    def on_tick(report: TickReport) -> None:
        if exit_with_parent and os.getppid() != parent:
            stop.set()
        _print_tick(out, report, last)

    ap.run(stop, on_tick=on_tick)
    out.print("autopilot stopped; lease given back")


def _print_tick(out: Console, report: TickReport, last: dict[str, Any] | None = None) -> None:
    seen = {} if last is None else last
    stamp = f"[dim]{datetime.now():%H:%M:%S}[/]"
    if not report.active:
        if seen.get("passive") != report.holder:
            out.print(f"{stamp} passive: the lease is held by {report.holder}")
            seen["passive"] = report.holder
        return
    seen.pop("passive", None)
    for message in report.messages:
        out.print(f"{stamp} {message}")
    if report.fired:
        out.print(f"{stamp} fired: {', '.join(report.fired)}")
    r = report.release
    key = None if r is None else (r.id, r.state)
    if r is not None and key != seen.get("release"):
        note = r.transitions[-1]["note"] if r.transitions else ""
        out.print(f"{stamp} release {r.id[:8]} {_state(r.state)}: {note}")
    seen["release"] = key
    if last is None and r is None and not report.messages:
        out.print(f"{stamp} nothing to do")


class _Stopped(Exception):
    """SIGINT or SIGTERM reached 'mlpilot up'."""


def up(
    project: ProjectOpt = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    set_: SetOpt = None,
) -> None:
    """Serve the model and run the autopilot together, on the embedded default (Ctrl-C stops
    both).

    Example: mlpilot up --port 8000
    """
    from mlpilot.serving import serve as run_server

    given = overrides(set_, **{"serve.host": host, "serve.port": port})
    proj = open_project(project, given)
    s = proj.settings.serve
    out = _render.console(stderr=True)
    out.print(
        f"[bold]mlpilot up[/] · {proj.name} · http://{s.host}:{s.port} · autopilot "
        f"({proj.settings.release.strategy}) in a child process"
    )
    command = [
        sys.executable,
        "-m",
        "mlpilot",
        "autopilot",
        "--project",
        str(proj.settings.project_dir),
        "--exit-with-parent",
    ]
    for pair in set_ or []:
        command += ["--set", pair]
    child = subprocess.Popen(command)

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        raise _Stopped

    # uvicorn handles SIGINT/SIGTERM while it serves, then raises the signal again with the
    # handlers it found; before it serves (while it starts) the signal arrives here directly.
    # Either way _Stopped ends run_server, the child is stopped and 'up' exits 0.
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        run_server(proj.settings, given)
    except _Stopped:
        pass
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        out.print("mlpilot up stopped: server and autopilot")
