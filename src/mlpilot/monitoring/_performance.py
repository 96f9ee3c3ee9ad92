"""Model quality on labelled feedback: the same metrics as scikit-learn, on the logged rows.

Labels and predictions are compared as canonical text: JSON numbers that are whole become
integers (``1.0`` and ``1`` are the same class), strings stay as they are. Classification labels
must be one of the classes seen in training (the profile's target categories); other labels, and
labels of the wrong type (a string for a regression target, an object or a list), are counted as
invalid and left out, and the report says how many.

Probabilities are logged in the model's class order, which for scikit-learn estimators is the
sorted order of the classes; ROC AUC and log loss use that order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson

from mlpilot.config import PerformanceSettings
from mlpilot.data import ReferenceProfile
from mlpilot.monitoring._report import PerformanceResult

__all__ = ["canonical", "performance"]

CLASSIFICATION_METRICS = ("accuracy", "f1", "roc_auc", "log_loss")
REGRESSION_METRICS = ("rmse", "mae", "r2")
#: Metrics where lower is better (a floor makes no sense for them, a ceiling does).
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae"})


def canonical(value: Any) -> str | None:
    """A label or prediction as comparable text; ``None`` for null, lists and objects."""
    if value is None or isinstance(value, list | dict):
        return None
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    text = str(value)
    try:
        number = float(text)
    except ValueError:
        return text
    if math.isfinite(number) and number.is_integer() and text.strip().lstrip("-").isdigit():
        return str(int(number))
    return text


def _class_order(classes: Sequence[str]) -> list[str]:
    try:
        return sorted(classes, key=float)
    except ValueError:
        return sorted(classes)


def performance(
    rows: Sequence[tuple[Any, ...]],
    *,
    predictions: int,
    profile: ReferenceProfile | None,
    settings: PerformanceSettings,
) -> PerformanceResult:
    """Metrics of ``rows`` = (prediction JSON, probabilities JSON, label JSON, ts, label_ts)."""
    task = None if profile is None or profile.prediction is None else profile.prediction.task
    if task is None and profile is not None:
        task = "classification" if profile.target.frequencies is not None else "regression"
    metric = settings.metric or ("accuracy" if task != "regression" else "rmse")
    base: dict[str, Any] = {
        "task": task,
        "metric": metric,
        "min": settings.min,
        "max": settings.max,
        "predictions": predictions,
    }
    if predictions == 0:
        return PerformanceResult(
            **base, labelled=0, coverage=None, message="no predictions in the window"
        )
    if not rows:
        return PerformanceResult(
            **base,
            labelled=0,
            coverage=0.0,
            message="no labels yet for the window's predictions; send them to /feedback",
        )
    if profile is None or task is None:
        return PerformanceResult(
            **base,
            labelled=len(rows),
            coverage=len(rows) / predictions,
            message="the model version has no reference profile, so its task and classes are "
            "unknown; performance is not computed",
        )
    delays = np.array(
        [float(r[4]) - float(r[3]) for r in rows if r[3] is not None and r[4] is not None]
    )
    base["delay_p50_seconds"] = float(np.quantile(delays, 0.5)) if delays.size else None
    base["delay_p90_seconds"] = float(np.quantile(delays, 0.9)) if delays.size else None
    if task == "classification":
        metrics, used, invalid = _classification(rows, profile)
    else:
        metrics, used, invalid = _regression(rows)
    base.update(labelled=len(rows), coverage=len(rows) / predictions, invalid_labels=invalid)
    notes = []
    if invalid:
        expected = (
            f"one of the training classes {_class_order(list(_classes(profile)))[:10]}"
            if task == "classification"
            else "a number"
        )
        notes.append(f"{invalid} label(s) were not {expected} and were left out")
    value = metrics.get(metric)
    if used < settings.min_labels:
        notes.append(
            f"only {used} usable labelled rows; at least {settings.min_labels} are needed to "
            "judge performance ([monitor] performance.min_labels)"
        )
        return PerformanceResult(
            **base, metrics=metrics, value=value, breached=None, message="; ".join(notes)
        )
    if value is None and metric not in metrics:
        notes.append(f"the metric {metric!r} could not be computed on these labels")
    breached: bool | None = None
    if value is not None and (settings.min is not None or settings.max is not None):
        breached = (settings.min is not None and value < settings.min) or (
            settings.max is not None and value > settings.max
        )
    return PerformanceResult(
        **base,
        metrics=metrics,
        value=value,
        breached=breached,
        message="; ".join(notes) or None,
    )


def _classes(profile: ReferenceProfile) -> set[str]:
    keys = set(profile.target.frequencies or ())
    if profile.prediction is not None and profile.prediction.class_frequencies:
        keys |= set(profile.prediction.class_frequencies)
    keys.discard("__other__")
    return {c for c in (canonical(k) for k in keys) if c is not None}


def _loads(text: Any) -> Any:
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def _classification(
    rows: Sequence[tuple[Any, ...]], profile: ReferenceProfile
) -> tuple[dict[str, float], int, int]:
    from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score

    classes = _class_order(list(_classes(profile)))
    known = set(classes)
    y_true: list[str] = []
    y_pred: list[str] = []
    proba: list[list[float] | None] = []
    invalid = 0
    for pred, probs, label, *_ in rows:
        truth = canonical(_loads(label))
        if truth is None or truth not in known:
            invalid += 1
            continue
        y_true.append(truth)
        y_pred.append(canonical(_loads(pred)) or "")
        p = _loads(probs)
        proba.append(p if isinstance(p, list) and len(p) == len(classes) else None)
    if not y_true:
        return {}, 0, invalid
    metrics: dict[str, float] = {"accuracy": float(accuracy_score(y_true, y_pred))}
    if len(classes) == 2:
        metrics["f1"] = float(
            f1_score(y_true, y_pred, pos_label=classes[1], labels=classes, zero_division=0)
        )
    else:
        metrics["f1"] = float(
            f1_score(y_true, y_pred, average="macro", labels=classes, zero_division=0)
        )
    if all(p is not None for p in proba) and len(set(y_true)) > 1:
        matrix = np.asarray(proba, dtype=np.float64)
        if len(classes) == 2:
            metrics["roc_auc"] = float(roc_auc_score(y_true, matrix[:, 1], labels=classes))
        else:
            metrics["roc_auc"] = float(
                roc_auc_score(y_true, matrix, multi_class="ovr", labels=classes)
            )
        metrics["log_loss"] = float(log_loss(y_true, matrix, labels=classes))
    return metrics, len(y_true), invalid


def _regression(rows: Sequence[tuple[Any, ...]]) -> tuple[dict[str, float], int, int]:
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    y_true: list[float] = []
    y_pred: list[float] = []
    invalid = 0
    for pred, _probs, label, *_ in rows:
        truth, guess = _loads(label), _loads(pred)
        if (
            isinstance(truth, bool)
            or not isinstance(truth, int | float)
            or not math.isfinite(truth)
            or isinstance(guess, bool)
            or not isinstance(guess, int | float)
        ):
            invalid += 1
            continue
        y_true.append(float(truth))
        y_pred.append(float(guess))
    if not y_true:
        return {}, 0, invalid
    metrics = {
        "rmse": float(math.sqrt(mean_squared_error(y_true, y_pred))),
        "mae": float(mean_absolute_error(y_true, y_pred)),
    }
    if len(y_true) > 1:
        metrics["r2"] = float(r2_score(y_true, y_pred))
    return metrics, len(y_true), invalid
