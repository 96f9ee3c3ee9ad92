"""Metrics by task: score a fitted model on a holdout, whole or by slice."""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
import numpy.typing as npt
import pandas as pd

from mlpilot.errors import ConfigError, DataError, EmptyDataError, TargetError, UserCodeError

Task = Literal["classification", "regression"]
Direction = Literal["higher", "lower"]

_TASKS: tuple[str, ...] = get_args(Task)

_METRICS_BY_TASK: dict[str, tuple[str, ...]] = {
    "classification": ("accuracy", "f1", "precision", "recall", "roc_auc", "log_loss"),
    "regression": ("rmse", "mae", "r2"),
}

METRIC_DIRECTION: dict[str, Direction] = {
    "accuracy": "higher",
    "f1": "higher",
    "precision": "higher",
    "recall": "higher",
    "roc_auc": "higher",
    "log_loss": "lower",
    "rmse": "lower",
    "mae": "lower",
    "r2": "higher",
}
"""Whether a larger value of each metric is better (``"higher"``) or worse (``"lower"``)."""

_MAX_CATEGORIES = 10  # a numeric column with more distinct values is sliced by quartile


@dataclass(frozen=True, eq=False)
class Evaluation:
    """A model scored on a holdout.

    ``metrics`` holds plain floats, keyed by the names in :func:`metrics_for_task` (probability
    metrics are left out when they cannot be computed). ``predictions`` is the model's
    ``predict`` output; ``probabilities`` is ``predict_proba``'s, columns in ``model.classes_``
    order, or ``None``. ``n`` is the number of rows scored.
    """

    task: Task
    metrics: dict[str, float]
    predictions: npt.NDArray[Any]
    probabilities: npt.NDArray[Any] | None
    n: int

    def to_dict(self) -> dict[str, Any]:
        """The task, size and metrics, JSON-ready (the arrays are left out)."""
        return {"task": self.task, "n": self.n, "metrics": dict(self.metrics)}


def metrics_for_task(task: str) -> tuple[str, ...]:
    """The names of the metrics :func:`evaluate` computes for ``task``, in a stable order."""
    return _METRICS_BY_TASK[_check_task(task)]


def evaluate(model: Any, X: pd.DataFrame, y: pd.Series, task: Task) -> Evaluation:
    """Score a fitted ``model`` on the holdout ``X``, ``y``.

    Classification: ``accuracy``, ``f1``, ``precision``, ``recall`` (binary: the positive class
    is the larger of the two labels in sorted order; multiclass: macro averages), then, when the
    model has ``predict_proba``, ``roc_auc`` (binary: on the positive class's probability;
    multiclass: one-vs-rest, macro; left out when ``y`` holds a single class) and ``log_loss``
    (left out when ``y`` holds a label the model never saw). Regression: ``rmse``, ``mae`` and
    ``r2`` (``r2`` left out below two rows).

    Raises :class:`~mlpilot.errors.UserCodeError` when the model's ``predict`` or
    ``predict_proba`` raises or returns something unusable, and
    :class:`~mlpilot.errors.DataError` when the holdout itself cannot be scored.
    """
    scored = _Scored.from_model(model, X, y, _check_task(task))
    return Evaluation(
        task=scored.task,
        metrics=scored.metrics(np.ones(scored.n, dtype=bool)),
        predictions=scored.predictions,
        probabilities=scored.probabilities,
        n=scored.n,
    )


def slice_metrics(
    model: Any, X: pd.DataFrame, y: pd.Series, task: Task, by: str
) -> dict[str, dict[str, float]]:
    """The metrics of :func:`evaluate` for each slice of the holdout along column ``by``.

    Slices are the column's values (missing values form the slice ``"<missing>"``); a numeric
    column with more than 10 distinct values is cut into quartile bins instead, keyed by the
    interval, e.g. ``"(0.25, 0.5]"``. The model predicts once, on the whole holdout.
    """
    if by not in X.columns:
        raise DataError(
            f"cannot slice the holdout by {by!r}: no such column; "
            f"the columns are {', '.join(map(str, X.columns))}"
        )
    scored = _Scored.from_model(model, X, y, _check_task(task))
    return {key: scored.metrics(mask) for key, mask in _slices(X[by])}


def _check_task(task: str) -> Task:
    if task not in _TASKS:
        raise ConfigError(
            f"unknown task {task!r}; use 'classification' or 'regression'", key="train.task"
        )
    return task  # type: ignore[return-value]


def _slices(column: pd.Series) -> list[tuple[str, npt.NDArray[np.bool_]]]:
    missing = column.isna().to_numpy(dtype=bool)
    present = column[~missing]
    out: list[tuple[str, npt.NDArray[np.bool_]]] = []
    numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
    if numeric and present.nunique() > _MAX_CATEGORIES:
        bins = pd.qcut(present.astype(float), q=4, duplicates="drop")
        codes = np.full(len(column), -1)
        codes[~missing] = bins.cat.codes.to_numpy()
        for code, interval in enumerate(bins.cat.categories):
            out.append((str(interval), codes == code))
    else:
        values = column.to_numpy(dtype=object)
        for value in sorted(present.unique(), key=_sort_key):
            out.append((str(value), (values == value) & ~missing))
    if missing.any():
        out.append(("<missing>", missing))
    return [(key, mask) for key, mask in out if mask.any()]


def _sort_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, int | float | np.number) and not isinstance(value, bool):
        return (0, float(value))
    return (1, str(value))


def _user_error(model: Any, method: str, exc: BaseException) -> UserCodeError:
    name = type(model).__name__
    return UserCodeError(
        f"the model ({name}) raised {type(exc).__name__} in {method}: {exc}. "
        f"Check that {name} is fitted and accepts the holdout's columns and types.",
        user_traceback="".join(traceback.format_exception(exc)),
    )


@dataclass(frozen=True, eq=False)
class _Scored:
    """A model's outputs on a holdout, from which metrics are computed for any row mask."""

    task: Task
    y: npt.NDArray[Any]
    predictions: npt.NDArray[Any]
    probabilities: npt.NDArray[Any] | None
    classes: npt.NDArray[Any] | None  # the columns of ``probabilities``
    labels: npt.NDArray[Any] | None  # every label, sorted: model classes, y and predictions
    n: int

    @classmethod
    def from_model(cls, model: Any, X: pd.DataFrame, y: pd.Series, task: Task) -> _Scored:
        n = len(X)
        if n == 0:
            raise EmptyDataError("cannot evaluate the model on an empty holdout (0 rows)")
        if len(y) != n:
            raise DataError(
                f"the holdout has {n} rows of features but {len(y)} target values; "
                "pass X and y of the same length"
            )
        if y.isna().any():
            raise TargetError(
                f"the holdout's target {y.name!r} has {int(y.isna().sum())} missing values; "
                "drop those rows before evaluating"
            )
        y_arr = y.to_numpy()
        name = type(model).__name__
        try:
            predictions = np.asarray(model.predict(X))
        except Exception as exc:
            raise _user_error(model, "predict", exc) from exc
        if predictions.ndim == 2 and predictions.shape[1] == 1:
            predictions = predictions.ravel()
        if predictions.shape != (n,):
            raise UserCodeError(
                f"the model ({name}) returned predictions of shape {predictions.shape} for "
                f"{n} rows; predict must return one value per row"
            )
        if task == "regression":
            y_float = _as_float(y_arr, TargetError, f"the holdout's target values ({y.name!r})")
            pred_float = _as_float(predictions, UserCodeError, f"the model's ({name}) predictions")
            return cls(task, y_float, pred_float, None, None, None, n)

        probabilities: npt.NDArray[Any] | None = None
        classes = getattr(model, "classes_", None)
        classes = None if classes is None else np.asarray(classes)
        if hasattr(model, "predict_proba"):
            try:
                probabilities = np.asarray(model.predict_proba(X))
            except Exception as exc:
                raise _user_error(model, "predict_proba", exc) from exc
            if probabilities.ndim != 2 or probabilities.shape[0] != n:
                raise UserCodeError(
                    f"the model ({name}) returned probabilities of shape {probabilities.shape}"
                    f" for {n} rows; predict_proba must return one row per sample"
                )
        known = [y_arr, predictions] if classes is None else [classes, y_arr, predictions]
        labels = np.unique(np.concatenate([np.asarray(k, dtype=object) for k in known]))
        if probabilities is not None:
            if classes is None and probabilities.shape[1] == len(labels):
                classes = labels
            if classes is None or probabilities.shape[1] != len(classes):
                classes = None  # the columns cannot be matched to labels: no probability metrics
        return cls(task, y_arr, predictions, probabilities, classes, labels, n)

    def metrics(self, mask: npt.NDArray[np.bool_]) -> dict[str, float]:
        y, pred = self.y[mask], self.predictions[mask]
        if self.task == "regression":
            return _regression_metrics(y, pred)
        assert self.labels is not None
        proba = None if self.probabilities is None else self.probabilities[mask]
        return _classification_metrics(y, pred, proba, self.classes, self.labels)


def _as_float(
    values: npt.NDArray[Any], error: type[UserCodeError | TargetError], what: str
) -> npt.NDArray[np.float64]:
    try:
        out = values.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise error(f"{what} are not numeric ({values.dtype}); a regression needs numbers") from exc
    bad = int((~np.isfinite(out)).sum())
    if bad:
        raise error(f"{what} hold {bad} NaN or infinite values; a regression needs finite numbers")
    return out


def _regression_metrics(y: npt.NDArray[Any], pred: npt.NDArray[Any]) -> dict[str, float]:
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    out = {
        "rmse": float(np.sqrt(mean_squared_error(y, pred))),
        "mae": float(mean_absolute_error(y, pred)),
    }
    if len(y) >= 2:
        out["r2"] = float(r2_score(y, pred))
    return out


def _classification_metrics(
    y: npt.NDArray[Any],
    pred: npt.NDArray[Any],
    proba: npt.NDArray[Any] | None,
    classes: npt.NDArray[Any] | None,
    labels: npt.NDArray[Any],
) -> dict[str, float]:
    from sklearn.metrics import (
        accuracy_score,
        f1_score,
        log_loss,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    binary = len(labels) <= 2
    positive = labels[-1]
    # Multiclass: macro over the labels in y or the predictions (sklearn's default), so that a
    # slice holding only some of the classes is not penalised for the classes it lacks.
    averaging: dict[str, Any] = (
        {"average": "binary", "pos_label": positive} if binary else {"average": "macro"}
    )
    out = {
        "accuracy": float(accuracy_score(y, pred)),
        "f1": float(f1_score(y, pred, zero_division=0.0, **averaging)),
        "precision": float(precision_score(y, pred, zero_division=0.0, **averaging)),
        "recall": float(recall_score(y, pred, zero_division=0.0, **averaging)),
    }
    if proba is None or classes is None:
        return out
    column = {label: i for i, label in enumerate(classes.tolist())}
    in_y = np.unique(y).tolist()
    present = [label for label in in_y if label in column]
    if len(in_y) >= 2:
        if binary:
            if positive in column:
                out["roc_auc"] = float(roc_auc_score(y == positive, proba[:, column[positive]]))
        elif len(present) >= 2:
            # One-vs-rest, macro: the mean of each present class's binary AUC (what sklearn's
            # multi_class="ovr" computes when every class is present, defined on slices too).
            aucs = [roc_auc_score(y == c, proba[:, column[c]]) for c in present]
            out["roc_auc"] = float(np.mean(aucs))
    if len(present) == len(in_y):
        out["log_loss"] = float(log_loss(y, proba, labels=classes.tolist()))
    return out
