"""The gate: absolute thresholds on a candidate's metrics, and the comparison with the champion."""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from mlpilot.config import GateSettings, VsChampion
from mlpilot.errors import ConfigError
from mlpilot.evaluation._metrics import METRIC_DIRECTION, metrics_for_task

_RULE = re.compile(r"^\s*(>=|<=|>|<|==)\s*(-?\d+(\.\d*)?([eE][-+]?\d+)?)\s*$")

# Absorbs float rounding so that e.g. 0.96 - 0.95 >= 0.01 and 0.1 + 0.2 == 0.3 hold.
_TOLERANCE = 1e-12

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">=": lambda value, bound: value >= bound - _TOLERANCE,
    "<=": lambda value, bound: value <= bound + _TOLERANCE,
    ">": operator.gt,
    "<": operator.lt,
    "==": lambda value, bound: abs(value - bound) <= _TOLERANCE,
}

_NEGATION = {">=": "<", "<=": ">", ">": "<=", "<": ">=", "==": "!="}


@dataclass(frozen=True)
class GateCheck:
    """One check of the gate.

    ``name`` is the metric for a threshold check and ``"vs_champion"`` for the champion check.
    For a threshold check ``value`` is the candidate's metric and ``threshold`` the rule's bound;
    for the champion check ``value`` is the improvement over the champion (candidate - champion
    for a higher-is-better metric, champion - candidate for a lower-is-better one) and
    ``threshold`` is ``min_delta``. ``value`` is ``None`` when it could not be computed.
    """

    name: str
    rule: str
    value: float | None
    threshold: float | None
    passed: bool
    detail: str


@dataclass(frozen=True)
class GateResult:
    """The outcome of :func:`apply_gate`: it passed iff every check passed."""

    passed: bool
    checks: tuple[GateCheck, ...]

    def reasons(self) -> list[str]:
        """Why the gate failed: the detail of each failed check (empty when it passed)."""
        return [check.detail for check in self.checks if not check.passed]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (NaN values become ``None``)."""
        return {
            "passed": self.passed,
            "checks": [_finite_or_none(asdict(check)) for check in self.checks],
        }


def apply_gate(
    metrics: Mapping[str, float],
    gate: GateSettings,
    task: str,
    champion_metrics: Mapping[str, float] | None,
) -> GateResult:
    """Check a candidate's holdout ``metrics`` against the ``[gate]`` settings.

    Each ``gate.metrics`` rule (``">= 0.95"``, ``"<= 0.3"``, ``"> x"``, ``"< x"``, ``"== x"``) is
    one check. A rule on a metric that was not computed (e.g. ``roc_auc`` for a model without
    ``predict_proba``) fails. A rule naming a metric that ``task`` never has raises
    :class:`~mlpilot.errors.ConfigError`.

    ``gate.vs_champion`` adds one check. With no champion yet (``champion_metrics`` is ``None``)
    it passes. Otherwise, with ``delta`` the candidate's improvement over the champion
    (``candidate - champion`` when higher is better, ``champion - candidate`` when lower is
    better, see :data:`METRIC_DIRECTION`), it passes iff ``delta >= min_delta``: ``min_delta = 0``
    means "at least as good", a positive one demands an improvement, a negative one tolerates a
    small regression. Comparisons allow 1e-12 for float rounding.

    ``champion_metrics`` must be the champion's metrics *on the candidate's holdout*: the caller
    evaluates the champion model on the same rows the candidate was scored on, so that both
    numbers measure the same thing (metrics from the champion's own training run would not).
    """
    available = metrics_for_task(task)
    checks = [
        _threshold_check(name, rule, metrics, task, available)
        for name, rule in gate.metrics.items()
    ]
    if gate.vs_champion is not None:
        checks.append(_champion_check(gate.vs_champion, metrics, champion_metrics, task, available))
    return GateResult(passed=all(check.passed for check in checks), checks=tuple(checks))


def _unknown_metric(name: str, task: str, available: tuple[str, ...], key: str) -> ConfigError:
    return ConfigError(
        f"the gate names the metric {name!r}, which is not computed for a {task} task; "
        f"use one of: {', '.join(available)}",
        key=key,
    )


def _threshold_check(
    name: str,
    rule: str,
    metrics: Mapping[str, float],
    task: str,
    available: tuple[str, ...],
) -> GateCheck:
    key = f"gate.metrics.{name}"
    if name not in available:
        raise _unknown_metric(name, task, available, key)
    match = _RULE.match(rule)
    if match is None:
        raise ConfigError(
            f"gate rule for {name!r} is {rule!r}; write it as '>= 0.95' "
            "(one of >=, <=, >, <, == and a number)",
            key=key,
        )
    op, threshold = match.group(1), float(match.group(2))
    rule = f"{op} {match.group(2)}"
    value = metrics.get(name)
    if value is None:
        return GateCheck(name, rule, None, threshold, False, _not_computed(name, "the candidate"))
    value = float(value)
    passed = _COMPARE[op](value, threshold)
    shown = op if passed else _NEGATION[op]
    detail = f"{name} {_fmt(value)} {shown} {_fmt(threshold)}"
    if not passed:
        detail += f": the gate requires {name} {rule}"
    return GateCheck(name, rule, value, threshold, passed, detail)


def _champion_check(
    vs: VsChampion,
    metrics: Mapping[str, float],
    champion_metrics: Mapping[str, float] | None,
    task: str,
    available: tuple[str, ...],
) -> GateCheck:
    name, min_delta = vs.metric, float(vs.min_delta)
    if name not in available:
        raise _unknown_metric(name, task, available, "gate.vs_champion.metric")
    higher = METRIC_DIRECTION[name] == "higher"
    formula = "candidate - champion" if higher else "champion - candidate"
    rule = f"{name}: {formula} >= {min_delta:g}"

    def check(value: float | None, passed: bool, detail: str) -> GateCheck:
        return GateCheck("vs_champion", rule, value, min_delta, passed, detail)

    if champion_metrics is None:
        return check(None, True, "no champion yet: first version")
    candidate, champion = metrics.get(name), champion_metrics.get(name)
    if candidate is None:
        return check(None, False, _not_computed(name, "the candidate"))
    if champion is None:
        return check(
            None,
            False,
            _not_computed(name, "the champion")
            + "; compare on a metric both models have, or promote the candidate by hand",
        )
    candidate, champion = float(candidate), float(champion)
    delta = candidate - champion if higher else champion - candidate
    passed = _COMPARE[">="](delta, min_delta)
    sign = ">=" if passed else "<"
    detail = (
        f"{name} {_fmt(candidate)} vs champion {_fmt(champion)}: "
        f"delta {_fmt(delta)} {sign} required {_fmt(min_delta)}"
    )
    if not higher:
        detail += " (lower is better; delta = champion - candidate)"
    return check(delta, passed, detail)


def _not_computed(name: str, whose: str) -> str:
    hint = (
        " (it needs predict_proba and at least two classes in the holdout)"
        if name in ("roc_auc", "log_loss")
        else ""
    )
    return f"{name} was not computed for {whose}{hint}"


def _fmt(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e6):
        return f"{value:.4g}"
    return f"{value:.4f}"


def _finite_or_none(check: dict[str, Any]) -> dict[str, Any]:
    return {
        key: None if isinstance(value, float) and not math.isfinite(value) else value
        for key, value in check.items()
    }
