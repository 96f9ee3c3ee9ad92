"""The typer application and the error boundary of the command line."""

from __future__ import annotations

import sys
import traceback
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlpilot.cli import _render
from mlpilot.cli._assess_cmds import assess
from mlpilot.cli._autopilot_cmds import autopilot, release_app, releases, retrain, up
from mlpilot.cli._ci_cmds import ci
from mlpilot.cli._monitor_cmds import alerts, monitor
from mlpilot.cli._options import (
    JsonOpt,
    ProjectOpt,
    ReasonOpt,
    SetOpt,
    open_project,
    overrides,
)
from mlpilot.cli._serving_cmds import predictions_app, route_app, token_app
from mlpilot.errors import MlpilotError

if TYPE_CHECKING:
    from mlpilot.project import Project

app = typer.Typer(
    name="mlpilot",
    help="An autopilot for machine-learning models: train, validate, register, serve, monitor.\n\n"
    "Example: mlpilot quickstart",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
schema_app = typer.Typer(help="Inspect or adopt the data schema.\n\nExample: mlpilot schema show")
audit_app = typer.Typer()
app.add_typer(schema_app, name="schema")
app.add_typer(audit_app, name="audit")
app.add_typer(route_app, name="route")
app.add_typer(token_app, name="token")
app.add_typer(predictions_app, name="predictions")
app.add_typer(release_app, name="release")
app.command()(autopilot)
app.command()(up)
app.command()(retrain)
app.command()(releases)
app.command()(monitor)
app.command()(alerts)
app.command()(ci)
app.command()(assess)


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Where to create the project.")] = Path(),
    name: Annotated[str | None, typer.Option(help="Project name (default: folder name).")] = None,
    source: Annotated[str, typer.Option(help="Data source spec.")] = "sklearn:breast_cancer",
    target: Annotated[str, typer.Option(help="Column to predict.")] = "target",
    force: Annotated[bool, typer.Option(help="Overwrite an existing mlpilot.toml.")] = False,
    ci_system: Annotated[
        str | None,
        typer.Option(
            "--ci",
            help="Also write a workflow running 'mlpilot ci': github or gitlab.",
            metavar="SYSTEM",
        ),
    ] = None,
) -> None:
    """Scaffold mlpilot.toml, pipeline.py and tests/test_model.py (and a CI workflow).

    Example: mlpilot init churn --source 'data/*.parquet' --target churned --ci github
    """
    from mlpilot.project import init_project

    written = init_project(
        directory,
        name=name,
        source=source,
        target=target,
        force=force,
        ci=ci_system,  # type: ignore[arg-type]
    )
    out = _render.console()
    for path in written:
        out.print(f"[green]created[/] {path}")
    out.print(f"Next: cd {directory} && mlpilot run")


@app.command()
def run(
    project: ProjectOpt = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Run every step even if cached.")
    ] = False,
    promote: Annotated[
        bool, typer.Option("--promote", help="Make a new version champion at once.")
    ] = False,
    wait: Annotated[
        float | None, typer.Option(help="Seconds to wait for another run of this project.")
    ] = None,
    set_: SetOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Run the pipeline once: ingest → validate → split → train → evaluate → gate → register.

    Example: mlpilot run --set train.params.C=0.5
    """
    proj = open_project(project, overrides(set_, **{"store.lock_timeout": wait}))
    summary = _run(proj, use_cache=not no_cache, promote=promote, quiet=json_)
    if json_:
        _render.print_json(summary.to_dict())
    if summary.status == "rejected":
        raise typer.Exit(1)


def _run(proj: Project, *, use_cache: bool, promote: bool, quiet: bool) -> Any:
    out = _render.console(stderr=quiet)
    out.print(f"[bold]mlpilot run[/] · project [bold]{proj.name}[/] · {proj.settings.project_dir}")
    with _render.StepProgress(out) as progress:
        summary = proj.run(
            listener=progress, use_cache=use_cache, alias="champion" if promote else None
        )
    if not quiet:
        _render.render_summary(out, summary, proj.settings)
    return summary


@app.command()
def serve(
    project: ProjectOpt = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes.")] = None,
    set_: SetOpt = None,
) -> None:
    """Serve the project's champion (and challenger) over HTTP until Ctrl-C.

    Example: mlpilot serve --port 8000 --workers 2
    """
    from mlpilot.serving import serve as run_server

    given = overrides(set_, **{"serve.host": host, "serve.port": port, "serve.workers": workers})
    proj = open_project(project, given)
    s = proj.settings.serve
    _render.console(stderr=True).print(
        f"[bold]mlpilot serve[/] · {proj.name} · http://{s.host}:{s.port} · "
        f"{s.workers} worker(s) · docs at /docs"
    )
    run_server(proj.settings, given)


@app.command()
def quickstart(
    directory: Annotated[Path, typer.Argument(help="Where to create the example project.")] = Path(
        "mlpilot-quickstart"
    ),
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Recreate DIRECTORY if an earlier quickstart left it.")
    ] = False,
) -> None:
    """Create the bundled breast-cancer example and run the whole loop on it, offline: train,
    serve, drift, automatic retrain and canary, promotion, a bad challenger rolled back.

    Example: mlpilot quickstart /tmp/demo
    """
    import time

    from mlpilot.cli._autopilot_cmds import releases_table
    from mlpilot.project import run_demo

    out = _render.console()
    began = time.monotonic()

    def say(text: str) -> None:
        out.print(f"[dim]{time.monotonic() - began:6.1f}s[/] {text}")

    result = run_demo(directory, say=say, fresh=fresh)
    out.print(releases_table(result.releases, "breast-cancer"))
    _render.demo_summary(out, result)
    out.print(
        f"Next: [bold]cd {directory}[/], then [bold]mlpilot up[/], [bold]mlpilot releases[/], "
        "[bold]mlpilot release show ID[/], [bold]mlpilot monitor[/], [bold]mlpilot audit[/]"
    )
    if result.audit is not None and not result.audit.ok:
        raise typer.Exit(1)


@app.command()
def models(project: ProjectOpt = None, json_: JsonOpt = False) -> None:
    """List registered versions with aliases, metrics, data snapshot and code version.

    Example: mlpilot models --json
    """
    proj = open_project(project)
    versions = proj.models()
    if json_:
        _render.print_json([v.to_dict() for v in versions])
        return
    out = _render.console()
    if not versions:
        out.print(f"No registered versions of {proj.name} yet: run [bold]mlpilot run[/].")
        return
    out.print(_render.models_table(versions, proj.name))


@app.command()
def promote(
    version: Annotated[int, typer.Argument(help="The version to make champion.")],
    reason: ReasonOpt,
    project: ProjectOpt = None,
) -> None:
    """Move the champion alias to VERSION (audited).

    Example: mlpilot promote 3 --reason "beats v2 on the March holdout"
    """
    mv = open_project(project).promote(version, reason=reason)
    _render.console().print(f"[green]champion[/] is now version {mv.version}")


@app.command()
def rollback(reason: ReasonOpt, project: ProjectOpt = None) -> None:
    """Move the champion alias back to the previous champion (audited).

    Example: mlpilot rollback --reason "complaints about false negatives"
    """
    mv = open_project(project).rollback(reason=reason)
    _render.console().print(f"[yellow]rolled back[/]: champion is now version {mv.version}")


@schema_app.command("show")
def schema_show(
    project: ProjectOpt = None,
    proposed: Annotated[
        bool, typer.Option("--proposed", help="Show the schema a failed run proposed.")
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Show the active (or proposed) data schema.

    Example: mlpilot schema show --proposed
    """
    proj = open_project(project)
    row = proj.schema("proposed" if proposed else "active")
    if row is None:
        what = "proposed" if proposed else "active"
        _render.console().print(f"No {what} schema for {proj.name} yet.")
        return
    if json_:
        _render.print_json(row.body)
        return
    from rich.table import Table

    table = Table(title=f"{row.status} schema {row.version} of {proj.name}")
    for col in ("column", "kind", "nullable", "null rate", "range / categories"):
        table.add_column(col)
    for c in row.body.get("columns", []):
        if c.get("categories"):
            span = ", ".join(c["categories"][:6]) + (" …" if len(c["categories"]) > 6 else "")
        elif c.get("min") is not None:
            span = f"{c['min']:.4g} … {c['max']:.4g}"
        else:
            span = ""
        table.add_row(c["name"], c["kind"], str(c["nullable"]), f"{c['null_rate']:.3f}", span)
    _render.console().print(table)


@schema_app.command("accept")
def schema_accept(reason: ReasonOpt, project: ProjectOpt = None) -> None:
    """Adopt the schema proposed by a run whose data broke the active one (audited).

    Example: mlpilot schema accept --reason "new sensor column is expected"
    """
    row = open_project(project).accept_schema(reason=reason)
    _render.console().print(f"[green]schema {row.version} is now active[/]")


SinceOpt = Annotated[
    str | None,
    typer.Option(
        "--since",
        help="Only events of the last period (1h, 30m, 2d) or since an ISO date/time (UTC).",
    ),
]
AuditLimitOpt = Annotated[int, typer.Option("--limit", min=1, help="At most this many events.")]
ActionOpt = Annotated[
    str | None,
    typer.Option("--action", help="Only actions starting with this, e.g. 'model.' or 'release.'."),
]


@audit_app.callback(invoke_without_command=True)
def audit(
    ctx: typer.Context,
    project: ProjectOpt = None,
    since: SinceOpt = None,
    limit: AuditLimitOpt = 20,
    action: ActionOpt = None,
    json_: JsonOpt = False,
) -> None:
    """The tamper-evident audit trail: without a command, list the newest events.

    Example: mlpilot audit --since 1h --action model.
    """
    if ctx.invoked_subcommand is None:
        _list_audit(project, since=since, limit=limit, action=action, json_=json_)
        return
    given = [
        name
        for name, value, default in (
            ("--project", project, None),
            ("--since", since, None),
            ("--limit", limit, 20),
            ("--action", action, None),
            ("--json", json_, False),
        )
        if value != default
    ]
    if given:
        from mlpilot.errors import ConfigError

        raise ConfigError(
            f"'mlpilot audit' got {', '.join(given)} before the command "
            f"'{ctx.invoked_subcommand}'; put the options after it, e.g. "
            f"'mlpilot audit {ctx.invoked_subcommand} --json'"
        )


@audit_app.command("verify")
def audit_verify(
    project: ProjectOpt = None,
    head: Annotated[
        str | None,
        typer.Option(
            "--head",
            help="A head an earlier verify printed: also detect events deleted from the end.",
        ),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Recompute the audit chain and report the first altered event, if any.

    Example: mlpilot audit verify --head 3f9a...  (the head an earlier verify printed)
    """
    report = open_project(project).verify_audit(head=head)
    if json_:
        _render.print_json(report.__dict__)
    elif report.ok:
        _render.console().print(
            f"[green]audit chain intact[/]: {report.events} events; head {report.head} "
            "(kept outside the store, --head later also catches a rewritten chain head)"
        )
    elif report.first_bad_id is None:
        _render.console().print(f"[red]audit chain broken[/]: {report.problem}")
    else:
        _render.console().print(
            f"[red]audit chain broken[/] at event {report.first_bad_id}: {report.problem}"
        )
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("log")
def audit_log(
    project: ProjectOpt = None,
    since: SinceOpt = None,
    limit: AuditLimitOpt = 20,
    action: ActionOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Show the newest audit events: who did what, when and why (same as 'mlpilot audit').

    Example: mlpilot audit log --limit 5
    """
    _list_audit(project, since=since, limit=limit, action=action, json_=json_)


def _list_audit(
    project: Path | None, *, since: str | None, limit: int, action: str | None, json_: bool
) -> None:
    """The listing behind 'mlpilot audit' and 'mlpilot audit log'."""
    start = _since(since) if since is not None else None
    events = open_project(project).audit_events(limit, since=start, action_prefix=action)
    if json_:
        _render.print_json([e.to_dict() for e in events])
        return
    out = _render.console()
    if not events:
        which = "".join(
            [
                f" with an action starting {action!r}" if action else "",
                f" since {start:%Y-%m-%d %H:%M:%S} UTC" if start is not None else "",
            ]
        )
        out.print(f"No audit events{which}.")
        return
    from rich.table import Table

    table = Table(title="Audit trail (newest first)")
    for col in ("id", "time (UTC)", "actor", "action", "target", "reason"):
        table.add_column(col)
    for e in events:
        table.add_row(
            str(e.id), f"{e.ts:%Y-%m-%d %H:%M:%S}", e.actor, e.action, e.target, e.reason or ""
        )
    out.print(table)


def _since(text: str) -> datetime:
    """``--since``: a period back from now (``1h``, ``30m``, ``2d``) or an ISO date/time."""
    from datetime import UTC, timedelta

    from mlpilot.errors import ConfigError
    from mlpilot.store import utcnow

    raw = text.strip()
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        pass
    else:
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    from mlpilot.config import parse_duration

    try:
        seconds = parse_duration(raw)
    except ConfigError:
        raise ConfigError(
            f"--since {text!r} is neither a period nor a date/time; write a period back from "
            "now such as '1h', '30m' or '2d', or an ISO date/time such as '2024-05-01' or "
            "'2024-05-01T12:00' (UTC unless it names a zone)"
        ) from None
    return utcnow() - timedelta(seconds=seconds)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code. Known errors print headline and message only."""
    try:
        # Without standalone mode click returns the code of a typer.Exit instead of raising.
        code = app(args=argv, prog_name="mlpilot", standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        _render.console(stderr=True).print("Aborted.")
        return 130
    except typer.TyperException as exc:  # usage errors: bad option, missing argument
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            _render.console(stderr=True).print(str(exc), markup=False)
        return int(getattr(exc, "exit_code", 2))
    except MlpilotError as exc:
        _render.render_error(exc)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception:
        traceback.print_exc()
        return 1
    return code if isinstance(code, int) else 0


def entry() -> None:
    sys.exit(main())
