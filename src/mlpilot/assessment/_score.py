"""Scoring: the level each dimension of a maturity model reaches, from the decided criteria.

A dimension stands on the model's floor and reaches level L when every one of its criteria
above the floor up to L is met. A criterion that is unknown (a question nobody answered, a
store that could not be read) neither passes nor fails: the dimension's *proven* level stops
below it, and its *possible* level is what it would reach if every unknown turned out met, so a
report can say "level 2, level 4 if the unanswered questions are yes". A model's overall level
is the lowest of its dimensions'. The next steps are the unmet criteria of the level above the
one reached, in each dimension.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlpilot.assessment._catalog import Criterion, Dimension, MaturityModel
from mlpilot.assessment._facts import Fact, FactSet

__all__ = ["CriterionResult", "DimensionResult", "ModelResult", "score"]


@dataclass(frozen=True)
class CriterionResult:
    criterion: Criterion
    met: bool | None
    facts: tuple[Fact, ...]

    @property
    def status(self) -> str:
        return {True: "met", False: "not met", None: "unknown"}[self.met]

    @property
    def needs_answers(self) -> tuple[str, ...]:
        """The questions whose answer would decide this criterion, when it is unknown."""
        if self.met is not None:
            return ()
        return tuple(
            fact.id.removeprefix("answer.")
            for fact in self.facts
            if fact.id.startswith("answer.") and fact.met is None
        )

    def as_dict(self) -> dict[str, Any]:
        criterion = self.criterion
        return {
            "id": criterion.id,
            "level": criterion.level,
            "dimension": criterion.dimension,
            "seed": criterion.seed,
            "rule": criterion.rule,
            "status": self.status,
            "facts": [fact.as_dict() for fact in self.facts],
            "next_step": criterion.next_step,
            "feature": criterion.feature,
        }


@dataclass(frozen=True)
class DimensionResult:
    dimension: Dimension
    level: int  # proven: every criterion up to it is met
    possible: int  # if every unknown criterion were met
    criteria: tuple[CriterionResult, ...]

    @property
    def unknown(self) -> tuple[CriterionResult, ...]:
        return tuple(result for result in self.criteria if result.met is None)

    @property
    def needs_answers(self) -> tuple[str, ...]:
        """Questions that stand between the proven and the possible level."""
        return tuple(
            dict.fromkeys(
                question
                for result in self.criteria
                if self.level < result.criterion.level <= self.possible
                for question in result.needs_answers
            )
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.dimension.id,
            "name": self.dimension.name,
            "level": self.level,
            "possible": self.possible,
            "answers_only": self.dimension.answers_only,
            "needs_answers": list(self.needs_answers),
            "criteria": [result.as_dict() for result in self.criteria],
        }


@dataclass(frozen=True)
class ModelResult:
    model: MaturityModel
    dimensions: tuple[DimensionResult, ...]

    @property
    def level(self) -> int:
        return min(result.level for result in self.dimensions)

    @property
    def possible(self) -> int:
        return min(result.possible for result in self.dimensions)

    def dimension(self, dimension_id: str) -> DimensionResult:
        return next(d for d in self.dimensions if d.dimension.id == dimension_id)

    def next_steps(self) -> list[CriterionResult]:
        """The criteria to meet next: the unmet or unknown ones one level above each dimension."""
        steps: list[CriterionResult] = []
        for result in self.dimensions:
            target = result.level + 1
            steps.extend(
                c for c in result.criteria if c.criterion.level == target and c.met is not True
            )
        return steps

    def as_dict(self) -> dict[str, Any]:
        model = self.model
        return {
            "id": model.id,
            "name": model.name,
            "source": model.source,
            "levels": [level.model_dump() for level in model.levels],
            "level": self.level,
            "level_name": model.level(self.level).name,
            "possible": self.possible,
            "dimensions": [result.as_dict() for result in self.dimensions],
            "next_steps": [
                {
                    "criterion": step.criterion.id,
                    "dimension": step.criterion.dimension,
                    "level": step.criterion.level,
                    "status": step.status,
                    "step": step.criterion.next_step,
                    "feature": step.criterion.feature,
                }
                for step in self.next_steps()
            ],
        }


def score(model: MaturityModel, facts: FactSet) -> ModelResult:
    """Decide each criterion of ``model`` from ``facts`` and each dimension's level."""
    dimensions = []
    for dimension in model.dimensions:
        results = []
        for criterion in sorted(
            (c for c in model.criteria if c.dimension == dimension.id), key=lambda c: c.level
        ):
            rule = criterion.parsed
            used = tuple(facts.get(name) for name in rule.names)
            met = rule.decide(lambda name: facts.get(name).met)
            results.append(CriterionResult(criterion, met, used))
        dimensions.append(
            DimensionResult(
                dimension,
                level=_reached(model, results, unknown_counts=False),
                possible=_reached(model, results, unknown_counts=True),
                criteria=tuple(results),
            )
        )
    return ModelResult(model, tuple(dimensions))


def _reached(model: MaturityModel, results: list[CriterionResult], *, unknown_counts: bool) -> int:
    reached = model.floor
    for number in range(model.floor + 1, model.top + 1):
        at = [r for r in results if r.criterion.level == number]
        if all(r.met is True or (unknown_counts and r.met is None) for r in at):
            reached = number
        else:
            break
    return reached
