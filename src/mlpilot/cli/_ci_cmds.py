"""``mlpilot ci``: the project's CI, one status line per stage, then the verdict table."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from mlpilot.cli import _render
from mlpilot.cli._options import JsonOpt, ProjectOpt, SetOpt, overrides
from mlpilot.errors import ConfigError

if TYPE_CHECKING:
    from mlpilot.ci import CiReport, StageResult

_STYLE = {"passed": "green", "failed": "red", "skipped": "yellow"}
_MARK = {"passed": "[green]✔[/]", "failed": "[red]✘[/]", "skipped": "[yellow]–[/]"}


def ci(
    project: ProjectOpt = None,
    sample: Annotated[
        int | None,
        typer.Option(
            "--sample",
            min=1,
            metavar="N",
            help="Train on a random sample of N rows (quick checks of a pull request).",
        ),
    ] = None,
    release: Annotated[
        bool,
        typer.Option(
            "--release", help="When every stage passes, register the candidate as challenger."
        ),
    ] = False,
    junit: Annotated[
        Path | None,
        typer.Option(
            help="Write the JUnit XML here (default: <home>/ci/junit.xml).", metavar="PATH"
        ),
    ] = None,
    summary: Annotated[
        Path | None,
        typer.Option(
            help="Write the Markdown summary here (default: <home>/ci/summary.md).", metavar="PATH"
        ),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Train again even if cached.")
    ] = False,
    set_: SetOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Check the project end to end: config and code, data, its tests, training (not
    registered), model tests, and the serving app; stop at the first failing stage.

    Writes JUnit XML and a Markdown summary; exits 1 when a stage fails (2 for a configuration
    error). With --release, when every stage passed, registers the candidate as challenger.

    Example: mlpilot ci --sample 2000 --junit ci/junit.xml --summary ci/summary.md
    """
    from mlpilot.ci import CiOptions, run_ci

    if release and sample is not None:
        raise ConfigError(
            "--release registers the candidate, so it must be trained on all the data: drop "
            "--sample (use --sample on pull requests, --release on the main branch)"
        )
    options = CiOptions(
        sample=sample,
        release=release,
        junit=junit,
        summary=summary,
        use_cache=not no_cache,
        overrides=overrides(set_),
    )
    out = _render.console(stderr=json_)
    mode = f"a sample of {sample} rows" if sample else "all the data"
    out.print(f"[bold]mlpilot ci[/] · {mode}{' · release' if release else ''}")
    with StageProgress(out) as progress:
        report = run_ci(project, options, listener=progress)
    if json_:
        _render.print_json(report.to_dict())
    else:
        render_report(out, report)
    raise typer.Exit(report.exit_code)


class StageProgress(_render.LiveLines):
    """A live line per stage: a spinner while it runs, then its verdict, time and message."""

    def stage_started(self, key: str, title: str) -> None:
        self.start(key, f"[bold]{title:<21}[/] running")

    def stage_finished(self, result: StageResult) -> None:
        message = " ".join(result.message.split())
        if len(message) > 90:
            message = message[:89] + "…"
        self.finish(
            result.key,
            f"{_MARK[result.status]} [bold]{result.title:<21}[/] "
            f"[{_STYLE[result.status]}]{result.status}[/] [dim]{message}[/]",
        )


def render_report(out: Console, report: CiReport) -> None:
    """The verdict table, the candidate, and where the JUnit XML and summary were written."""
    failed = report.failed
    title = (
        f"[green]mlpilot ci passed[/] · {report.project}"
        if failed is None
        else f"[red]mlpilot ci failed at {failed.title}[/] · {report.project or '?'}"
    )
    table = Table(title=title, show_lines=True)
    table.add_column("#", justify="right")
    table.add_column("stage", no_wrap=True)
    table.add_column("result", no_wrap=True)
    table.add_column("time", justify="right", no_wrap=True)
    table.add_column("details")
    for number, s in enumerate(report.stages, 1):
        table.add_row(
            str(number),
            s.title,
            f"[{_STYLE[s.status]}]{s.status}[/]",
            f"{s.seconds:.1f}s" if s.status != "skipped" or s.seconds else "",
            s.message,
        )
    out.print(table)
    if failed is not None and failed.output:
        out.print(f"[dim]output of {failed.title} (last lines):[/]")
        out.print("\n".join(failed.output.rstrip().splitlines()[-30:]), markup=False)
    if report.released_version is not None:
        out.print(f"[green]released[/] as version {report.released_version} @challenger")
    out.print(f"JUnit: {report.junit}\nSummary: {report.summary}")
