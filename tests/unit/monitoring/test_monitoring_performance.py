"""Performance on labelled feedback: scikit-learn's figures, clear messages for bad labels."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    roc_auc_score,
)

from mlpilot.config import PerformanceSettings
from mlpilot.data import build_profile
from mlpilot.monitoring._performance import canonical, performance


def _classifier_profile(labels: list[str] | None = None):  # type: ignore[no-untyped-def]
    frame = pd.DataFrame({"x": np.arange(10.0)})
    target = pd.Series(labels or [0, 1] * 5, name="y")
    return build_profile(
        frame, target, "classification", predictions=target.to_numpy(), probabilities=None
    )


def _rows(preds, probas, labels):  # type: ignore[no-untyped-def]
    return [
        (json.dumps(p), json.dumps(q) if q is not None else None, json.dumps(y), 100.0, 160.0 + i)
        for i, (p, q, y) in enumerate(zip(preds, probas, labels, strict=True))
    ]


def test_binary_metrics_match_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    p1 = np.clip(y * 0.6 + rng.random(200) * 0.5, 0, 1)
    pred = (p1 > 0.5).astype(int)
    rows = _rows(pred.tolist(), [[1 - a, a] for a in p1], y.tolist())
    result = performance(
        rows, predictions=400, profile=_classifier_profile(), settings=PerformanceSettings()
    )
    assert result.metrics["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert result.metrics["f1"] == pytest.approx(f1_score(y, pred))
    assert result.metrics["roc_auc"] == pytest.approx(roc_auc_score(y, p1))
    assert result.metrics["log_loss"] == pytest.approx(log_loss(y, np.column_stack([1 - p1, p1])))
    assert result.labelled == 200
    assert result.coverage == pytest.approx(0.5)
    assert result.delay_p50_seconds == pytest.approx(np.median(60.0 + np.arange(200)))


def test_regression_metrics_match_scikit_learn() -> None:
    frame = pd.DataFrame({"x": np.arange(50.0)})
    target = pd.Series(np.arange(50.0) * 2, name="y")
    profile = build_profile(frame, target, "regression", predictions=target.to_numpy())
    rng = np.random.default_rng(1)
    y = rng.normal(size=100)
    pred = y + rng.normal(scale=0.1, size=100)
    result = performance(
        _rows(pred.tolist(), [None] * 100, y.tolist()),
        predictions=100,
        profile=profile,
        settings=PerformanceSettings(max=0.2),
    )
    assert result.metrics["rmse"] == pytest.approx(np.sqrt(mean_squared_error(y, pred)))
    assert result.metrics["mae"] == pytest.approx(mean_absolute_error(y, pred))
    assert result.metric == "rmse"
    assert result.breached is False


def test_labels_of_the_wrong_type_are_counted_and_explained() -> None:
    preds = [0, 1, 1, 0, 1]
    labels = [0, 1, "cat", {"a": 1}, 7]
    result = performance(
        _rows(preds, [None] * 5, labels),
        predictions=5,
        profile=_classifier_profile(),
        settings=PerformanceSettings(min_labels=1),
    )
    assert result.invalid_labels == 3
    assert result.labelled == 5
    assert result.metrics["accuracy"] == pytest.approx(1.0)
    assert result.message is not None
    assert "3 label(s) were not one of the training classes" in result.message


def test_too_few_labels_and_no_labels_give_no_verdict() -> None:
    none = performance(
        [], predictions=10, profile=_classifier_profile(), settings=PerformanceSettings(min=0.9)
    )
    assert none.breached is None
    assert none.message is not None
    assert "no labels yet" in none.message
    few = performance(
        _rows([0, 0], [None, None], [1, 1]),
        predictions=10,
        profile=_classifier_profile(),
        settings=PerformanceSettings(min=0.9, min_labels=30),
    )
    assert few.breached is None
    assert few.metrics["accuracy"] == 0.0
    assert few.message is not None
    assert "at least 30" in few.message


def test_a_floor_is_breached_when_the_metric_falls_below_it() -> None:
    result = performance(
        _rows([0] * 40, [None] * 40, [1] * 20 + [0] * 20),
        predictions=40,
        profile=_classifier_profile(),
        settings=PerformanceSettings(metric="accuracy", min=0.9),
    )
    assert result.value == pytest.approx(0.5)
    assert result.breached is True


def test_string_classes_and_canonical_labels() -> None:
    assert canonical(1.0) == "1"
    assert canonical("1") == "1"
    assert canonical(True) == "True"
    assert canonical([1]) is None
    assert canonical(None) is None
    assert canonical("malignant") == "malignant"
    profile = _classifier_profile(["b", "m"] * 5)
    result = performance(
        _rows(["m", "b", "m"], [[0.2, 0.8], [0.9, 0.1], [0.4, 0.6]], ["m", "b", "b"]),
        predictions=3,
        profile=profile,
        settings=PerformanceSettings(min_labels=1),
    )
    assert result.metrics["accuracy"] == pytest.approx(2 / 3)
    # Probabilities are in sorted class order: column 1 is "m".
    assert result.metrics["roc_auc"] == pytest.approx(roc_auc_score([1, 0, 0], [0.8, 0.1, 0.6]))
