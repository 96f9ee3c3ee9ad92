"""``assess``: the maturity levels of a project, from evidence."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlpilot.cli import _render
from mlpilot.cli._options import JsonOpt

if TYPE_CHECKING:
    from rich.console import Console

    from mlpilot.assessment import Assessment, CriterionResult, ModelResult, Question

_STATUS = {True: "[green]met[/]", False: "[red]not met[/]", None: "[yellow]unknown[/]"}


def assess(
    path: Annotated[
        Path, typer.Argument(help="The project folder to assess (default: the current one).")
    ] = Path(),
    model: Annotated[
        list[str] | None,
        typer.Option("--model", help="google, azure, mlab, pathway or all (repeat for several)."),
    ] = None,
    answers: Annotated[
        Path | None,
        typer.Option(help="A TOML file with an [answers] table of yes/no answers by question id."),
    ] = None,
    no_input: Annotated[
        bool, typer.Option("--no-input", help="Ask nothing; unanswered questions stay unknown.")
    ] = False,
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write a self-contained HTML report here.")
    ] = None,
    min_level: Annotated[
        list[str] | None,
        typer.Option(
            "--min-level",
            help="MODEL=N: exit 1 when MODEL's level is below N (unknown counts as not met).",
        ),
    ] = None,
    questions: Annotated[
        bool, typer.Option("--questions", help="List the questions an answers file can answer.")
    ] = False,
    brief: Annotated[
        bool, typer.Option("--brief", help="Levels and next steps only, no criteria.")
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Score a project on the Google, Azure, MLAB and pathway maturity models, from evidence.

    Reads the repository (git, CI, tests, pipelines, tracking, containers, monitoring) and, in
    an mlpilot project, its live stores (runs, versions, releases, monitors, the audit chain).
    What no file shows is asked at a terminal, read from --answers, or left unknown.

    Example: mlpilot assess . --model azure --answers answers.toml --min-level azure=3
    """
    from mlpilot.assessment import (
        MODEL_IDS,
        assess,
        load_questions,
        open_questions,
        parse_floors,
    )

    if questions:
        _print_questions(load_questions(), json_)
        return
    chosen = _models(model, MODEL_IDS)
    floors = parse_floors(min_level or [])
    missing = sorted(set(floors) - set(chosen))
    if missing:
        chosen = chosen + tuple(missing)
    interactive = not no_input and not json_ and sys.stdin.isatty() and sys.stdout.isatty()
    err = _render.console(stderr=True)
    given: dict[str, bool | None] = {}
    if interactive:
        asked = open_questions(path, chosen, answers)
        if asked:
            err.print(
                f"[bold]{len(asked)} questions[/] decide what no file shows "
                "(y = yes, n = no, Enter = skip: it stays unknown):"
            )
            given = {question.id: _ask(err, question) for question in asked}
    with err.status("Collecting evidence…", spinner="dots"):
        result = assess(
            path, models=chosen, answers=answers, ask=lambda question: given.get(question.id)
        )
    if html is not None:
        from mlpilot.assessment import write_html

        written = write_html(html, result)
        err.print(f"HTML report: {written}")
    if json_:
        _render.print_json(result.as_dict())
    else:
        render_assessment(_render.console(), result, brief=brief)
    shortfalls = result.shortfalls(floors)
    if shortfalls:
        for line in shortfalls:
            err.print(f"[bold red]Below the required level:[/] {line}", markup=True)
        raise typer.Exit(1)


def _models(given: list[str] | None, known: tuple[str, ...]) -> tuple[str, ...]:
    if not given or "all" in given:
        return known
    return tuple(dict.fromkeys(name.strip().lower() for name in given))


def _ask(out: Console, question: Question) -> bool | None:
    from rich.prompt import Prompt

    reply = Prompt.ask(
        f"  {question.text} [dim]({question.id})[/]",
        console=out,
        choices=["y", "n", ""],
        show_choices=False,
        default="",
        show_default=False,
    )
    return {"y": True, "n": False}.get(reply)


def _print_questions(questions: dict[str, Question], as_json: bool) -> None:
    if as_json:
        _render.print_json([q.model_dump() for q in questions.values()])
        return
    from rich.table import Table

    table = Table(title="Questions (answer them in an [answers] table: id = true/false)")
    table.add_column("id", style="bold")
    table.add_column("question")
    for question in questions.values():
        table.add_row(question.id, question.text)
    _render.console().print(table)


def render_assessment(out: Console, result: Assessment, *, brief: bool = False) -> None:
    """The assessment in the terminal: per model, its dimensions, criteria and next steps."""
    from rich.table import Table

    kind = "an mlpilot project (live stores read)" if result.live else "a repository"
    out.print(f"[bold]Maturity of {result.path}[/] — {kind}")
    for note in result.notes:
        out.print(f"[yellow]note:[/] {note}", markup=True)
    for model_result in result.results:
        out.print()
        out.print(_headline(model_result))
        dims = Table(show_edge=False, pad_edge=False)
        for column in ("dimension", "level", "possible", ""):
            dims.add_column(column)
        for dim in model_result.dimensions:
            remark = ""
            if dim.needs_answers:
                remark = "needs answers: " + ", ".join(dim.needs_answers)
            elif dim.dimension.answers_only and dim.possible > dim.level:
                remark = "decided by answers only"
            dims.add_row(dim.dimension.name, str(dim.level), str(dim.possible), remark)
        out.print(dims)
        if not brief:
            out.print(_criteria_table(model_result))
        steps = model_result.next_steps()
        if steps:
            out.print("[bold]Next steps[/]")
            for step in steps:
                out.print(_step(step))


def _headline(result: ModelResult) -> str:
    model = result.model
    line = (
        f"[bold cyan]{model.name}[/]: level [bold]{result.level}[/] — "
        f"{model.level(result.level).name}"
    )
    if result.possible > result.level:
        line += f" [dim](level {result.possible} if the unknowns are met)[/]"
    return line


def _criteria_table(result: ModelResult) -> object:
    from rich.table import Table

    table = Table(show_lines=False, pad_edge=False, expand=True)
    table.add_column("lvl", no_wrap=True)
    table.add_column("dimension", no_wrap=True)
    table.add_column("criterion (the model's words)", ratio=3)
    table.add_column("status", no_wrap=True)
    table.add_column("evidence", ratio=3)
    for dim in result.dimensions:
        for item in dim.criteria:
            table.add_row(
                str(item.criterion.level),
                dim.dimension.name,
                item.criterion.seed,
                _STATUS[item.met],
                _evidence(item),
                style=None if item.met is not False else "dim",
            )
    return table


def _evidence(item: CriterionResult) -> str:
    from rich.markup import escape

    lines = []
    for fact in item.facts:
        if fact.met and fact.evidence:
            first = fact.evidence[0]
            more = f" (+{len(fact.evidence) - 1})" if len(fact.evidence) > 1 else ""
            lines.append(f"{fact.id}: {first.where()} — {first.detail}{more}")
        elif fact.met is None and item.met is None:
            lines.append(f"{fact.id}: unknown ({fact.note or 'not decided'})")
        elif fact.met is False and item.met is not True:
            lines.append(f"{fact.id}: no ({fact.note or 'not found'})")
    return escape("\n".join(lines))


def _step(step: CriterionResult) -> str:
    from rich.markup import escape

    criterion = step.criterion
    feature = f" [green]→ {escape(criterion.feature)}[/]" if criterion.feature else ""
    unknown = " [yellow](unknown: answer to decide)[/]" if step.met is None else ""
    return (
        f"  • [bold]{escape(criterion.dimension)} → {criterion.level}[/]: "
        f"{escape(criterion.next_step)}{feature}{unknown}"
    )
