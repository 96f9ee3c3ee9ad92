"""Answers to the questions no file can decide: from a TOML file, or asked at a terminal.

An answers file holds one table of yes/no answers by question id::

    [answers]
    teams_integrated = true
    executive_sponsor = false

An unknown id or a value that is not ``true``/``false`` is an error naming the question and the
fix; a question left out stays unknown. Each answer becomes the fact ``answer.<id>`` with the
file (and its line) as evidence.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path

from mlpilot.assessment._catalog import Question
from mlpilot.assessment._facts import Evidence, Fact, FactSet
from mlpilot.errors import AssessmentError

__all__ = ["Asker", "add_answers", "read_answers"]

Asker = Callable[[Question], bool | None]
"""Asks one question; ``None`` when the person skips it."""


def read_answers(path: Path, questions: Mapping[str, Question]) -> dict[str, tuple[bool, int]]:
    """The answers in ``path`` by question id, with the line each sits on."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise AssessmentError(
            f"The answers file {path} does not exist. Pass an existing TOML file to --answers, "
            "or leave it out to answer at the terminal."
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise AssessmentError(f"The answers file {path} cannot be read: {exc}.") from exc
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AssessmentError(f"The answers file {path} is not valid TOML: {exc}.") from exc
    unknown_keys = sorted(set(raw) - {"answers"})
    if unknown_keys:
        raise AssessmentError(
            f"The answers file {path} has {', '.join(map(repr, unknown_keys))} at the top "
            "level; put every answer in one [answers] table."
        )
    table = raw.get("answers", {})
    if not isinstance(table, dict):
        raise AssessmentError(f"The answers file {path}: 'answers' must be a table.")
    problems = []
    answers: dict[str, tuple[bool, int]] = {}
    lines = text.splitlines()
    for key, value in table.items():
        if key not in questions:
            problems.append(f"{key!r} is not a question (see `mlpilot assess --questions`)")
        elif not isinstance(value, bool):
            problems.append(f"{key!r} must be true or false, not {value!r}")
        else:
            answers[key] = (value, _line_of(lines, key))
    if problems:
        raise AssessmentError(f"The answers file {path} is wrong: " + "; ".join(problems) + ".")
    return answers


def add_answers(
    facts: FactSet,
    questions: Mapping[str, Question],
    *,
    path: Path | None = None,
    ask: Asker | None = None,
    needed: set[str] | None = None,
) -> None:
    """Add ``answer.<id>`` facts from the file, then ask the still-open ``needed`` questions."""
    given = read_answers(path, questions) if path is not None else {}
    for key, (value, line) in given.items():
        evidence = Evidence("answers", f"answered {'yes' if value else 'no'}", str(path), line)
        facts.add(Fact(f"answer.{key}", value, (evidence,)))
    for key, question in questions.items():
        if key in given:
            continue
        answer = ask(question) if ask is not None and (needed is None or key in needed) else None
        if answer is None:
            facts.add(Fact(f"answer.{key}", None, note="not answered"))
        else:
            evidence = Evidence("answers", f"answered {'yes' if answer else 'no'} at the terminal")
            facts.add(Fact(f"answer.{key}", answer, (evidence,)))


def _line_of(lines: list[str], key: str) -> int:
    for number, line in enumerate(lines, start=1):
        if line.strip().startswith(key) and "=" in line:
            return number
    return 0
