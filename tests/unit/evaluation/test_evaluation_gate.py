"""The gate: absolute thresholds and the comparison with the champion."""

from __future__ import annotations

import json

import pytest

from mlpilot.config import GateSettings, VsChampion
from mlpilot.errors import ConfigError
from mlpilot.evaluation import GateCheck, GateResult, apply_gate

CLASSIFICATION = {"accuracy": 0.95, "f1": 0.96, "roc_auc": 0.9912, "log_loss": 0.12}
REGRESSION = {"rmse": 52.0, "mae": 41.0, "r2": 0.45}


def _gate(metrics: dict[str, str] | None = None, **vs: float | str) -> GateSettings:
    return GateSettings(
        metrics=metrics or {},
        vs_champion=VsChampion(**vs) if vs else None,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("rule", "passed"),
    [
        (">= 0.95", True),
        (">= 0.9912", True),
        (">= 0.9913", False),
        ("> 0.9912", False),
        ("> 0.99", True),
        ("<= 0.9912", True),
        ("<= 0.99", False),
        ("< 0.9912", False),
        ("< 1", True),
        ("== 0.9912", True),
        ("== 0.99", False),
    ],
)
def test_each_comparison_operator(rule: str, passed: bool) -> None:
    result = apply_gate(CLASSIFICATION, _gate({"roc_auc": rule}), "classification", None)
    assert result.passed is passed
    (check,) = result.checks
    assert check.name == "roc_auc"
    assert check.rule == rule
    assert check.value == 0.9912
    assert check.threshold == float(rule.split()[1])
    assert check.passed is passed


def test_failing_threshold_gives_the_reason() -> None:
    gate = _gate({"accuracy": ">= 0.9", "roc_auc": ">= 0.995", "log_loss": "<= 0.1"})
    result = apply_gate(CLASSIFICATION, gate, "classification", None)
    assert not result.passed
    assert [c.passed for c in result.checks] == [True, False, False]
    assert result.reasons() == [
        "roc_auc 0.9912 < 0.9950: the gate requires roc_auc >= 0.995",
        "log_loss 0.1200 > 0.1000: the gate requires log_loss <= 0.1",
    ]
    assert result.checks[0].detail == "accuracy 0.9500 >= 0.9000"


def test_a_rule_on_a_metric_that_was_not_computed_fails() -> None:
    metrics = {"accuracy": 0.9, "f1": 0.9}  # no predict_proba: no roc_auc
    result = apply_gate(metrics, _gate({"roc_auc": ">= 0.9"}), "classification", None)
    assert not result.passed
    assert result.checks[0].value is None
    assert result.reasons() == [
        "roc_auc was not computed for the candidate "
        "(it needs predict_proba and at least two classes in the holdout)"
    ]


def test_unknown_metric_is_config_error() -> None:
    with pytest.raises(ConfigError, match=r"'roc_auc'.*regression task.*rmse, mae, r2") as info:
        apply_gate(REGRESSION, _gate({"roc_auc": ">= 0.9"}), "regression", None)
    assert info.value.key == "gate.metrics.roc_auc"
    with pytest.raises(ConfigError, match=r"'auc'.*classification task.*accuracy"):
        apply_gate(CLASSIFICATION, _gate({"auc": ">= 0.9"}), "classification", None)


def test_unknown_champion_metric_is_config_error() -> None:
    gate = _gate(metric="rsme")
    with pytest.raises(ConfigError, match=r"'rsme'.*regression") as info:
        apply_gate(REGRESSION, gate, "regression", REGRESSION)
    assert info.value.key == "gate.vs_champion.metric"


def test_no_champion_yet_passes() -> None:
    result = apply_gate(CLASSIFICATION, _gate(metric="roc_auc"), "classification", None)
    assert result.passed
    (check,) = result.checks
    assert check.name == "vs_champion"
    assert check.detail == "no champion yet: first version"
    assert check.value is None


def test_vs_champion_higher_is_better() -> None:
    gate = _gate({"roc_auc": ">= 0.95"}, metric="roc_auc", min_delta=0.0)
    worse = apply_gate(CLASSIFICATION, gate, "classification", {"roc_auc": 0.9950})
    assert not worse.passed
    assert worse.reasons() == ["roc_auc 0.9912 vs champion 0.9950: delta -0.0038 < required 0.0000"]
    assert worse.checks[1].value == pytest.approx(-0.0038)
    assert worse.checks[1].threshold == 0.0
    better = apply_gate(CLASSIFICATION, gate, "classification", {"roc_auc": 0.98})
    assert better.passed
    assert better.checks[1].detail == (
        "roc_auc 0.9912 vs champion 0.9800: delta 0.0112 >= required 0.0000"
    )
    equal = apply_gate(CLASSIFICATION, gate, "classification", {"roc_auc": 0.9912})
    assert equal.passed


def test_vs_champion_lower_is_better() -> None:
    gate = _gate(metric="rmse", min_delta=0.0)
    better = apply_gate(REGRESSION, gate, "regression", {"rmse": 55.0})
    assert better.passed
    assert better.checks[0].value == pytest.approx(3.0)
    worse = apply_gate(REGRESSION, gate, "regression", {"rmse": 50.0})
    assert not worse.passed
    assert worse.reasons() == [
        "rmse 52.0000 vs champion 50.0000: delta -2.0000 < required 0.0000 "
        "(lower is better; delta = champion - candidate)"
    ]


def test_vs_champion_lower_is_better_for_log_loss() -> None:
    gate = _gate(metric="log_loss")
    assert apply_gate(CLASSIFICATION, gate, "classification", {"log_loss": 0.2}).passed
    assert not apply_gate(CLASSIFICATION, gate, "classification", {"log_loss": 0.1}).passed


def test_negative_min_delta_tolerates_a_small_regression() -> None:
    gate = _gate(metric="roc_auc", min_delta=-0.005)
    assert apply_gate(CLASSIFICATION, gate, "classification", {"roc_auc": 0.9950}).passed
    result = apply_gate(CLASSIFICATION, gate, "classification", {"roc_auc": 0.9990})
    assert not result.passed
    assert result.reasons() == [
        "roc_auc 0.9912 vs champion 0.9990: delta -0.0078 < required -0.0050"
    ]
    lower = _gate(metric="mae", min_delta=-1.5)
    assert apply_gate(REGRESSION, lower, "regression", {"mae": 40.0}).passed
    assert not apply_gate(REGRESSION, lower, "regression", {"mae": 39.0}).passed


def test_positive_min_delta_demands_an_improvement_despite_float_rounding() -> None:
    gate = _gate(metric="accuracy", min_delta=0.01)
    candidate = {"accuracy": 0.96}
    assert apply_gate(candidate, gate, "classification", {"accuracy": 0.95}).passed
    assert not apply_gate(candidate, gate, "classification", {"accuracy": 0.951}).passed


def test_champion_without_the_metric_fails() -> None:
    gate = _gate(metric="roc_auc")
    result = apply_gate(CLASSIFICATION, gate, "classification", {"accuracy": 0.9})
    assert not result.passed
    assert "roc_auc was not computed for the champion" in result.reasons()[0]


def test_empty_gate_passes() -> None:
    result = apply_gate(CLASSIFICATION, GateSettings(), "classification", None)
    assert result == GateResult(passed=True, checks=())
    assert result.reasons() == []


def test_to_dict_is_json_ready() -> None:
    gate = _gate({"roc_auc": ">= 0.95"}, metric="roc_auc")
    result = apply_gate({"roc_auc": float("nan")}, gate, "classification", {"roc_auc": 0.9})
    data = result.to_dict()
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert data["passed"] is False
    assert data["checks"][0] == {
        "name": "roc_auc",
        "rule": ">= 0.95",
        "value": None,
        "threshold": 0.95,
        "passed": False,
        "detail": "roc_auc nan < 0.9500: the gate requires roc_auc >= 0.95",
    }
    assert isinstance(result.checks[0], GateCheck)
