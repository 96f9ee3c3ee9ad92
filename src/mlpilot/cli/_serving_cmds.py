"""The ``route``, ``token`` and ``predictions`` command groups: traffic routing, API tokens
and the prediction log."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

from mlpilot.cli import _render
from mlpilot.cli._options import JsonOpt, ProjectOpt, ReasonOpt, open_project
from mlpilot.errors import ConfigError

if TYPE_CHECKING:
    from mlpilot.governance._tokens import Role
    from mlpilot.serving._routing import Mode

route_app = typer.Typer(
    help="How the deployment splits traffic between champion and challenger.\n\n"
    "Example: mlpilot route show",
    no_args_is_help=True,
)
token_app = typer.Typer(
    help="API tokens for the prediction service, with roles predict, operate, admin.\n\n"
    "Example: mlpilot token create ci --role predict",
    no_args_is_help=True,
)


def _weights_text(weights: dict[str, float]) -> str:
    return ", ".join(f"{name} {share * 100:g}%" for name, share in weights.items())


def _parse_ab(text: str) -> dict[str, float]:
    weights: dict[str, float] = {}
    for part in text.split(","):
        key, sep, raw = part.partition("=")
        try:
            if not sep:
                raise ValueError(part)
            weights[key.strip()] = float(raw)
        except ValueError:
            raise ConfigError(
                f"--ab {text!r} is not NAME=SHARE,NAME=SHARE; write e.g. "
                "--ab champion=0.5,challenger=0.5"
            ) from None
    return weights


@route_app.command("show")
def route_show(project: ProjectOpt = None, json_: JsonOpt = False) -> None:
    """Show the current route: mode, shares and revision.

    Example: mlpilot route show --json
    """
    from mlpilot.serving._routing import RouteStore

    proj = open_project(project)
    route = RouteStore(proj.store, proj.audit).get(proj.name)
    if json_:
        _render.print_json(route.to_dict())
        return
    _render.console().print(
        f"route of [bold]{proj.name}[/]: [bold]{route.mode}[/] "
        f"({_weights_text(route.weights)}"
        f"{', challenger gets a shadow copy' if route.mode == 'shadow' else ''}), "
        f"revision {route.revision}"
    )


@route_app.command("set")
def route_set(
    reason: ReasonOpt,
    single: Annotated[
        bool, typer.Option("--single", help="The champion answers every request.")
    ] = False,
    canary: Annotated[
        float | None,
        typer.Option("--canary", help="Send this share (0..1) of traffic to the challenger."),
    ] = None,
    ab: Annotated[
        str | None,
        typer.Option("--ab", help="Split traffic, e.g. champion=0.5,challenger=0.5."),
    ] = None,
    shadow: Annotated[
        bool,
        typer.Option("--shadow", help="The champion answers; the challenger gets a copy."),
    ] = False,
    project: ProjectOpt = None,
) -> None:
    """Change how traffic is split (audited); exactly one of --single/--canary/--ab/--shadow.

    Example: mlpilot route set --canary 0.1 --reason "try v4 on 10% of traffic"
    """
    from mlpilot.serving._routing import RouteStore

    chosen = [
        name
        for name, on in (
            ("--single", single),
            ("--canary", canary is not None),
            ("--ab", ab is not None),
            ("--shadow", shadow),
        )
        if on
    ]
    if len(chosen) != 1:
        found = f"got {' and '.join(chosen)}" if chosen else "got none"
        raise ConfigError(f"give exactly one of --single, --canary, --ab, --shadow; {found}")
    weights: dict[str, float] | None = None
    if canary is not None:
        mode: Mode = "canary"
        weights = {"challenger": canary}
    elif ab is not None:
        mode = "ab"
        weights = _parse_ab(ab)
    else:
        mode = "shadow" if shadow else "single"
    proj = open_project(project)
    if mode != "single" and proj.registry.by_alias("challenger") is None:
        raise ConfigError(
            f"{mode} routing needs a challenger, and {proj.name} has no version with the "
            "'challenger' alias: register a challenger first with 'mlpilot run'"
        )
    route = RouteStore(proj.store, proj.audit).set(proj.name, mode, weights=weights, reason=reason)
    _render.console().print(
        f"[green]route set[/]: [bold]{route.mode}[/] ({_weights_text(route.weights)}), "
        f"revision {route.revision}"
    )


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Argument(help="A name for the token, e.g. the client using it.")],
    role: Annotated[
        str,
        typer.Option("--role", help="predict (call /predict), operate (+ reload), admin (all)."),
    ],
    project: ProjectOpt = None,
) -> None:
    """Create an API token and print it once (only its hash is kept).

    Example: mlpilot token create ci --role predict
    """
    from mlpilot.governance._tokens import TokenStore

    proj = open_project(project)
    token = TokenStore(proj.store, proj.audit).create(name, cast("Role", role))
    err = _render.console(stderr=True)
    err.print(f"[green]created[/] token [bold]{name}[/] with role [bold]{role}[/]:")
    sys.stdout.write(token + "\n")
    sys.stdout.flush()
    err.print("[yellow]Copy it now: it is not shown again.[/]")


@token_app.command("list")
def token_list(project: ProjectOpt = None, json_: JsonOpt = False) -> None:
    """List API tokens (names, roles, who created them; never the tokens).

    Example: mlpilot token list --json
    """
    from mlpilot.governance._tokens import TokenStore

    proj = open_project(project)
    tokens = TokenStore(proj.store, proj.audit).list()
    if json_:
        _render.print_json(tokens)
        return
    out = _render.console()
    if not tokens:
        out.print(
            f"No API tokens for {proj.name} yet: [bold]mlpilot token create NAME --role predict[/]."
        )
        return
    from rich.table import Table

    table = Table(title=f"API tokens of {proj.name}")
    for col in ("name", "role", "created (UTC)", "by", "status"):
        table.add_column(col)
    for t in tokens:
        status = "[green]active[/]" if t["active"] else f"[red]revoked[/] {t['revoked_at'][:16]}"
        table.add_row(t["name"], t["role"], t["created_at"][:16], t["created_by"], status)
    out.print(table)


@token_app.command("revoke")
def token_revoke(
    name: Annotated[str, typer.Argument(help="The token to revoke.")],
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why (recorded in the audit trail).")
    ] = None,
    project: ProjectOpt = None,
) -> None:
    """Revoke an API token (audited); servers stop accepting it within seconds.

    Example: mlpilot token revoke ci --reason "laptop lost"
    """
    from mlpilot.governance._tokens import TokenStore

    proj = open_project(project)
    TokenStore(proj.store, proj.audit).revoke(name, reason=reason)
    _render.console().print(f"[yellow]revoked[/] token [bold]{name}[/]")


predictions_app = typer.Typer(
    help="The prediction log: every answered prediction, and the labels sent to /feedback.\n\n"
    "Example: mlpilot predictions tail -n 5",
    no_args_is_help=True,
)


def _prediction_log(project: Path | None) -> Any:
    from mlpilot.serving import PredictionLog

    settings = open_project(project).settings
    return PredictionLog(settings.journal_dir, settings.predictions_url)


def _print_frame(frame: Any, json_: bool, title: str) -> None:
    if json_:
        _render.print_json(frame.to_dict(orient="records"))
        return
    from rich.table import Table

    table = Table(title=title)
    for col in frame.columns:
        table.add_column(str(col), overflow="fold", max_width=40)
    for row in frame.itertuples(index=False):
        table.add_row(*("" if v is None else str(v)[:200] for v in row))
    _render.console().print(table)


@predictions_app.command("tail")
def predictions_tail(
    project: ProjectOpt = None,
    n: Annotated[int, typer.Option("-n", help="How many rows, newest first.")] = 20,
    json_: JsonOpt = False,
) -> None:
    """Show the newest logged predictions (journal and Parquet together).

    Example: mlpilot predictions tail -n 5
    """
    _print_frame(_prediction_log(project).tail(n), json_, "Newest predictions")


@predictions_app.command("query")
def predictions_query(
    sql: Annotated[str, typer.Argument(help="SQL over the views predictions, feedback, labelled.")],
    project: ProjectOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Run a DuckDB query over the prediction log.

    Example: mlpilot predictions query "select variant, count(*) from predictions group by 1"
    """
    _print_frame(_prediction_log(project).query(sql), json_, "Query result")
