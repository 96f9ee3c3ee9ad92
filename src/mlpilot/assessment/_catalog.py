"""The maturity models as data: one TOML file per model under ``criteria/``, plus the questions.

Each model file names its levels (the lowest is the floor every project stands on), its
dimensions and its criteria. A criterion quotes the seed sentence it encodes, sits at one level
of one dimension, and carries the rule that decides it from facts and answers, and the next step
a team takes to meet it::

    [[criterion]]
    id = "azure.release.3.automatic"
    level = 3
    dimension = "model_release"
    seed = "Automatic release"
    rule = "live.releases_automatic or (ci.deploy and registry.models)"
    next_step = "Let the pipeline release models: ..."
    feature = "mlpilot autopilot"

``questions.toml`` holds what no file can show (team organisation, strategy, governance): each
question has an id, the text asked, and is answered yes or no. Rules read answers as
``answer.<id>``.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mlpilot.assessment._facts import FACTS
from mlpilot.assessment._rules import Rule, RuleSyntaxError
from mlpilot.errors import AssessmentError

__all__ = [
    "MODEL_IDS",
    "Criterion",
    "Dimension",
    "Level",
    "MaturityModel",
    "Question",
    "load_models",
    "load_questions",
]

MODEL_IDS = ("google", "azure", "mlab", "pathway")
"""The maturity models mlpilot knows, in the order reports show them."""

_Id = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.\-]*$", max_length=100)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Question(_Strict):
    """A yes/no question for what no file shows."""

    id: _Id
    text: str
    help: str = ""


class Level(_Strict):
    number: int
    name: str
    summary: str = ""


class Dimension(_Strict):
    id: _Id
    name: str
    answers_only: bool = False  # decided by answers alone (people, strategy)


class Criterion(_Strict):
    """One seed characteristic at one level of one dimension, and the rule that decides it."""

    id: _Id
    level: int
    dimension: str
    seed: str
    rule: str
    next_step: str
    feature: str = ""

    @property
    def parsed(self) -> Rule:
        return _parse(self.rule)


class MaturityModel(_Strict):
    id: _Id
    name: str
    source: str
    levels: list[Level] = Field(alias="level", min_length=2)
    dimensions: list[Dimension] = Field(alias="dimension", min_length=1)
    criteria: list[Criterion] = Field(alias="criterion", min_length=1)

    @property
    def floor(self) -> int:
        return self.levels[0].number

    @property
    def top(self) -> int:
        return self.levels[-1].number

    def level(self, number: int) -> Level:
        return next(level for level in self.levels if level.number == number)

    @model_validator(mode="after")
    def _consistent(self) -> MaturityModel:
        numbers = [level.number for level in self.levels]
        if numbers != list(range(numbers[0], numbers[0] + len(numbers))):
            raise ValueError(f"levels must be consecutive numbers, got {numbers}")
        dimensions = {dimension.id for dimension in self.dimensions}
        seen: set[str] = set()
        for criterion in self.criteria:
            where = f"criterion {criterion.id!r}"
            if criterion.id in seen:
                raise ValueError(f"{where} appears twice")
            seen.add(criterion.id)
            if criterion.dimension not in dimensions:
                raise ValueError(f"{where}: unknown dimension {criterion.dimension!r}")
            if not self.floor < criterion.level <= self.top:
                raise ValueError(
                    f"{where}: level {criterion.level} is not above the floor {self.floor} "
                    f"and at most {self.top}"
                )
            try:
                rule = _parse(criterion.rule)
            except RuleSyntaxError as exc:
                raise ValueError(f"{where}: {exc}") from exc
            for name in rule.names:
                if not name.startswith("answer.") and name not in FACTS:
                    raise ValueError(f"{where}: the rule names an unknown fact {name!r}")
        for dimension in self.dimensions:
            levels = {c.level for c in self.criteria if c.dimension == dimension.id}
            missing = [n for n in range(self.floor + 1, self.top + 1) if n not in levels]
            if missing:
                raise ValueError(f"dimension {dimension.id!r} has no criterion at level {missing}")
        return self


@cache
def _parse(text: str) -> Rule:
    return Rule.parse(text)


def _read(path: Path | resources.abc.Traversable) -> dict[str, object]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise AssessmentError(
            f"The criteria file {path} cannot be read: {exc}. Fix the file or reinstall mlpilot."
        ) from exc


def _criteria_dir() -> resources.abc.Traversable:
    return resources.files("mlpilot.assessment") / "criteria"


def load_questions(directory: Path | None = None) -> dict[str, Question]:
    """The questions by id (from ``criteria/questions.toml`` or ``directory``)."""
    base = directory or _criteria_dir()
    raw = _read(base / "questions.toml")
    try:
        questions = [Question.model_validate(item) for item in raw.get("question", [])]  # type: ignore[attr-defined]
    except ValidationError as exc:
        raise AssessmentError(f"The questions file is invalid: {exc}") from exc
    return {question.id: question for question in questions}


def load_models(
    ids: tuple[str, ...] = MODEL_IDS, directory: Path | None = None
) -> list[MaturityModel]:
    """Load and check the maturity models ``ids`` (from the package, or ``directory``)."""
    base = directory or _criteria_dir()
    questions = load_questions(directory)
    models = []
    for model_id in ids:
        if model_id not in MODEL_IDS:
            raise AssessmentError(
                f"There is no maturity model {model_id!r}; choose one of "
                f"{', '.join(MODEL_IDS)} or 'all'."
            )
        path = base / f"{model_id}.toml"
        try:
            model = MaturityModel.model_validate(_read(path))
        except ValidationError as exc:
            raise AssessmentError(f"The criteria file {path} is invalid: {exc}") from exc
        for criterion in model.criteria:
            for name in criterion.parsed.names:
                if name.startswith("answer.") and name.removeprefix("answer.") not in questions:
                    raise AssessmentError(
                        f"The criteria file {path}: criterion {criterion.id!r} reads "
                        f"{name!r}, which is not a question in questions.toml."
                    )
        models.append(model)
    return models
