"""One assessment: collect the evidence of a folder once, then score every chosen model on it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlpilot.assessment._answers import Asker, add_answers, read_answers
from mlpilot.assessment._catalog import (
    MODEL_IDS,
    MaturityModel,
    Question,
    load_models,
    load_questions,
)
from mlpilot.assessment._facts import FactSet
from mlpilot.assessment._score import ModelResult, score
from mlpilot.errors import AssessmentError

__all__ = ["Assessment", "assess", "open_questions", "parse_floors"]


@dataclass
class Assessment:
    """The levels of one folder on each chosen maturity model, with the evidence behind them."""

    path: Path
    live: bool  # the folder is an mlpilot project whose stores were read
    results: list[ModelResult]
    facts: FactSet
    created_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    @property
    def notes(self) -> list[str]:
        return self.facts.notes

    def result(self, model_id: str) -> ModelResult:
        for result in self.results:
            if result.model.id == model_id:
                return result
        raise KeyError(model_id)

    def shortfalls(self, floors: dict[str, int]) -> list[str]:
        """Why the assessment falls short of ``floors`` (model id → level); unknown is not met."""
        problems = []
        for model_id, wanted in floors.items():
            result = self.result(model_id)
            if result.level < wanted:
                low = [
                    f"{d.dimension.name} {d.level}" for d in result.dimensions if d.level < wanted
                ]
                problems.append(
                    f"{result.model.name}: level {result.level}, below the required {wanted} "
                    f"({', '.join(low)})"
                )
        return problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "live": self.live,
            "created_at": self.created_at.isoformat(),
            "models": [result.as_dict() for result in self.results],
            "facts": {key: fact.as_dict() for key, fact in sorted(self.facts.facts.items())},
            "notes": list(self.notes),
        }


def assess(
    path: Path,
    *,
    models: Sequence[str] = MODEL_IDS,
    answers: Path | None = None,
    ask: Asker | None = None,
    live: bool = True,
) -> Assessment:
    """Assess the folder ``path`` on ``models``.

    The repository's files (and git history) are always read; when the folder is an mlpilot
    project its stores are read too (``live``). Answers come from the ``answers`` file, then
    from ``ask`` for the questions the chosen models still need; the rest stay unknown.
    """
    from mlpilot.assessment._live import collect_live
    from mlpilot.assessment._repo import collect_repository

    root = _check_path(path)
    chosen = load_models(tuple(dict.fromkeys(models)))
    questions = load_questions()
    facts = FactSet()
    # answers first: a bad answers file fails before the slower collectors run
    needed = _questions_of(chosen)
    add_answers(facts, questions, path=answers, ask=ask, needed=needed)
    collect_repository(root, facts)
    if facts.get("vcs.git").met is False:
        facts.notes.append(
            f"{root} is not a git repository (or has no commit): what version control would "
            "show is not met; the rest of the evidence is reported"
        )
    is_live = collect_live(root, facts) if live else False
    return Assessment(root, is_live, [score(model, facts) for model in chosen], facts)


def open_questions(
    path: Path, models: Sequence[str], answers: Path | None = None
) -> list[Question]:
    """The questions ``models`` read that the ``answers`` file leaves open, to ask a person
    about the folder ``path`` (checked first, so nobody answers questions about nothing)."""
    _check_path(path)
    questions = load_questions()
    given = read_answers(answers, questions) if answers is not None else {}
    needed = _questions_of(load_models(tuple(dict.fromkeys(models))))
    return [q for key, q in questions.items() if key in needed and key not in given]


def parse_floors(values: Sequence[str]) -> dict[str, int]:
    """``["azure=3", "mlab=2"]`` → ``{"azure": 3, "mlab": 2}``, checked against the models."""
    floors: dict[str, int] = {}
    for value in values:
        name, sep, number = value.partition("=")
        name = name.strip().lower()
        if not sep or name not in MODEL_IDS or not number.strip().isdigit():
            raise AssessmentError(
                f"--min-level {value!r} is not MODEL=LEVEL; use one of "
                f"{', '.join(MODEL_IDS)} and a level number, e.g. --min-level azure=3."
            )
        floors[name] = int(number)
    for model in load_models(tuple(floors)):
        wanted = floors[model.id]
        if not model.floor <= wanted <= model.top:
            raise AssessmentError(
                f"--min-level {model.id}={wanted}: {model.name} has levels "
                f"{model.floor} to {model.top}."
            )
    return floors


def _check_path(path: Path) -> Path:
    if not path.exists():
        raise AssessmentError(
            f"The path {path} does not exist; pass the folder of the project to assess."
        )
    if not path.is_dir():
        raise AssessmentError(
            f"The path {path} is a file, not a folder; pass the folder of the project to assess."
        )
    return path.resolve()


def _questions_of(models: Sequence[MaturityModel]) -> set[str]:
    return {
        name.removeprefix("answer.")
        for model in models
        for criterion in model.criteria
        for name in criterion.parsed.names
        if name.startswith("answer.")
    }
