"""Options and helpers every command shares."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlpilot.errors import ConfigError

if TYPE_CHECKING:
    from mlpilot.project import Project

ProjectOpt = Annotated[
    Path | None,
    typer.Option(
        "--project", "-p", help="Project directory (default: the nearest one with mlpilot.toml)."
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why (recorded in the audit trail).")]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a setting, e.g. --set train.seed=7 (beats env and file)."),
]


def overrides(pairs: list[str] | None, **flags: Any) -> dict[str, Any]:
    """``--set KEY=VALUE`` pairs (values parsed as TOML) plus named flags that were given."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {pair!r} is not KEY=VALUE; write e.g. --set train.seed=7")
        try:
            out[key.strip()] = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            out[key.strip()] = raw
    out.update({k: v for k, v in flags.items() if v is not None})
    return out


def open_project(project: Path | None, settings: dict[str, Any] | None = None) -> Project:
    from mlpilot.project import Project

    return Project.open(project, overrides=settings)
