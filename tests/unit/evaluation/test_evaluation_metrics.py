"""Metrics by task: evaluate, slice_metrics, METRIC_DIRECTION, metrics_for_task."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import (
    f1_score,
    log_loss,
    mean_absolute_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlpilot.errors import ConfigError, DataError, EmptyDataError, UserCodeError
from mlpilot.evaluation import (
    METRIC_DIRECTION,
    Evaluation,
    evaluate,
    metrics_for_task,
    slice_metrics,
)

Split = tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]


def _split(bunch: Any) -> Split:
    X, y = bunch.data, bunch.target
    parts = train_test_split(X, y, test_size=0.3, random_state=0, stratify=None)
    return parts[0], parts[1], parts[2], parts[3]


@pytest.fixture(scope="module")
def cancer() -> Split:
    return _split(load_breast_cancer(as_frame=True))


@pytest.fixture(scope="module")
def cancer_model(cancer: Split) -> Any:
    X_train, _, y_train, _ = cancer
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(X_train, y_train)


@pytest.fixture(scope="module")
def wine() -> Split:
    return _split(load_wine(as_frame=True))


@pytest.fixture(scope="module")
def wine_model(wine: Split) -> Any:
    X_train, _, y_train, _ = wine
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(X_train, y_train)


class RadiusRule:
    """A model with predict only: no predict_proba, no classes_."""

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (X["mean radius"] < 15).astype(int).to_numpy()


class Broken:
    def predict(self, X: pd.DataFrame) -> np.ndarray:
        raise ZeroDivisionError("the model divided by zero")


def test_binary_classification_metrics_match_sklearn(cancer: Split, cancer_model: Any) -> None:
    _, X, _, y = cancer
    ev = evaluate(cancer_model, X, y, "classification")
    assert isinstance(ev, Evaluation)
    assert ev.task == "classification"
    assert ev.n == len(X)
    assert tuple(ev.metrics) == metrics_for_task("classification")
    assert all(type(v) is float for v in ev.metrics.values())
    assert ev.predictions.shape == (len(X),)
    assert ev.probabilities is not None
    assert ev.probabilities.shape == (len(X), 2)
    pred, proba = cancer_model.predict(X), cancer_model.predict_proba(X)
    assert ev.metrics["f1"] == pytest.approx(f1_score(y, pred, pos_label=1))
    assert ev.metrics["precision"] == pytest.approx(precision_score(y, pred, pos_label=1))
    assert ev.metrics["recall"] == pytest.approx(recall_score(y, pred, pos_label=1))
    assert ev.metrics["roc_auc"] == pytest.approx(roc_auc_score(y, proba[:, 1]))
    assert ev.metrics["log_loss"] == pytest.approx(log_loss(y, proba))
    assert ev.metrics["roc_auc"] > 0.95
    assert ev.to_dict() == {"task": "classification", "n": len(X), "metrics": ev.metrics}


def test_binary_positive_class_is_the_larger_label(cancer: Split) -> None:
    X_train, X, y_train, y = cancer
    names = {0: "malignant", 1: "benign"}  # "malignant" sorts last: it is the positive class
    y_train_s, y_s = y_train.map(names), y.map(names)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X_train, y_train_s)
    ev = evaluate(model, X, y_s, "classification")
    pred = model.predict(X)
    assert ev.metrics["recall"] == pytest.approx(recall_score(y_s, pred, pos_label="malignant"))
    assert ev.metrics["recall"] != pytest.approx(recall_score(y_s, pred, pos_label="benign"))
    malignant = list(model.classes_).index("malignant")
    expected_auc = roc_auc_score(y_s == "malignant", model.predict_proba(X)[:, malignant])
    assert ev.metrics["roc_auc"] == pytest.approx(expected_auc)


def test_multiclass_metrics_are_macro_and_one_vs_rest(wine: Split, wine_model: Any) -> None:
    _, X, _, y = wine
    ev = evaluate(wine_model, X, y, "classification")
    pred, proba = wine_model.predict(X), wine_model.predict_proba(X)
    assert ev.metrics["f1"] == pytest.approx(f1_score(y, pred, average="macro"))
    assert ev.metrics["precision"] == pytest.approx(precision_score(y, pred, average="macro"))
    assert ev.metrics["roc_auc"] == pytest.approx(
        roc_auc_score(y, proba, multi_class="ovr", average="macro")
    )
    assert ev.metrics["log_loss"] == pytest.approx(log_loss(y, proba, labels=wine_model.classes_))
    assert ev.probabilities is not None
    assert ev.probabilities.shape == (len(X), 3)


def test_log_loss_uses_the_model_classes_when_the_holdout_lacks_one(
    wine: Split, wine_model: Any
) -> None:
    _, X, _, y = wine
    keep = (y != 2).to_numpy()
    ev = evaluate(wine_model, X[keep], y[keep], "classification")
    proba = wine_model.predict_proba(X[keep])
    assert ev.metrics["log_loss"] == pytest.approx(log_loss(y[keep], proba, labels=[0, 1, 2]))
    assert "roc_auc" in ev.metrics


def test_regression_metrics_match_sklearn() -> None:
    X_train, X, y_train, y = _split(load_diabetes(as_frame=True))
    model = LinearRegression().fit(X_train, y_train)
    ev = evaluate(model, X, y, "regression")
    pred = model.predict(X)
    assert tuple(ev.metrics) == ("rmse", "mae", "r2")
    assert ev.metrics["rmse"] == pytest.approx(float(np.sqrt(np.mean((y - pred) ** 2))))
    assert ev.metrics["mae"] == pytest.approx(mean_absolute_error(y, pred))
    assert ev.metrics["r2"] == pytest.approx(r2_score(y, pred))
    assert ev.probabilities is None


def test_model_without_predict_proba_has_no_probability_metrics(cancer: Split) -> None:
    _, X, _, y = cancer
    ev = evaluate(RadiusRule(), X, y, "classification")
    assert set(ev.metrics) == {"accuracy", "f1", "precision", "recall"}
    assert ev.probabilities is None
    assert ev.metrics["accuracy"] > 0.8


def test_single_class_holdout_has_no_roc_auc(cancer: Split, cancer_model: Any) -> None:
    _, X, _, y = cancer
    ones = (y == 1).to_numpy()
    ev = evaluate(cancer_model, X[ones], y[ones], "classification")
    assert "roc_auc" not in ev.metrics
    assert "log_loss" in ev.metrics


def test_a_model_that_raises_is_user_code_error(cancer: Split) -> None:
    _, X, _, y = cancer
    with pytest.raises(UserCodeError, match=r"Broken.*ZeroDivisionError") as info:
        evaluate(Broken(), X, y, "classification")
    assert "the model divided by zero" in info.value.user_traceback
    assert "Traceback" in info.value.user_traceback
    assert isinstance(info.value.__cause__, ZeroDivisionError)


def test_an_unfitted_model_is_user_code_error(cancer: Split) -> None:
    _, X, _, y = cancer
    with pytest.raises(UserCodeError, match=r"LogisticRegression.*NotFittedError"):
        evaluate(LogisticRegression(), X, y, "classification")


def test_regression_model_predicting_nan_is_user_code_error() -> None:
    class NaNModel:
        def predict(self, X: pd.DataFrame) -> np.ndarray:
            return np.full(len(X), np.nan)

    X = pd.DataFrame({"a": [1.0, 2.0]})
    with pytest.raises(UserCodeError, match=r"NaNModel.*2 NaN"):
        evaluate(NaNModel(), X, pd.Series([1.0, 2.0]), "regression")


def test_bad_holdouts_are_data_errors(cancer_model: Any, cancer: Split) -> None:
    _, X, _, y = cancer
    with pytest.raises(EmptyDataError, match="empty holdout"):
        evaluate(cancer_model, X.iloc[:0], y.iloc[:0], "classification")
    with pytest.raises(DataError, match="same length"):
        evaluate(cancer_model, X, y.iloc[:5], "classification")


def test_unknown_task_is_config_error(cancer_model: Any, cancer: Split) -> None:
    _, X, _, y = cancer
    with pytest.raises(ConfigError, match="unknown task 'ranking'"):
        evaluate(cancer_model, X, y, "ranking")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown task"):
        metrics_for_task("ranking")


def test_every_metric_has_a_direction() -> None:
    names = metrics_for_task("classification") + metrics_for_task("regression")
    assert set(names) == set(METRIC_DIRECTION)
    lower = {name for name, d in METRIC_DIRECTION.items() if d == "lower"}
    assert lower == {"log_loss", "rmse", "mae"}


def test_slice_metrics_by_category(cancer: Split, cancer_model: Any) -> None:
    _, X, _, y = cancer
    X = X.assign(site=np.where(np.arange(len(X)) % 3 == 0, "north", "south"))
    model = _WithoutColumn(cancer_model, "site")  # the model never sees the slicing column
    slices = slice_metrics(model, X, y, "classification", by="site")
    assert list(slices) == ["north", "south"]
    north = (X["site"] == "north").to_numpy()
    expected = evaluate(model, X[north], y[north], "classification").metrics
    assert slices["north"] == pytest.approx(expected)


def test_slice_metrics_by_numeric_quartile() -> None:
    X_train, X, y_train, y = _split(load_diabetes(as_frame=True))
    model = LinearRegression().fit(X_train, y_train)
    slices = slice_metrics(model, X, y, "regression", by="bmi")
    assert len(slices) == 4
    assert all(key.startswith("(") and key.endswith("]") for key in slices)
    assert all(set(m) == {"rmse", "mae", "r2"} for m in slices.values())


def test_slice_metrics_few_numeric_values_and_missing() -> None:
    X = pd.DataFrame({"a": [1.0, 1.0, 2.0, 2.0, np.nan, np.nan]})
    y = pd.Series([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])

    class Echo:
        def predict(self, X: pd.DataFrame) -> np.ndarray:
            return np.arange(1.0, len(X) + 1)

    slices = slice_metrics(Echo(), X, y, "regression", by="a")
    assert list(slices) == ["1.0", "2.0", "<missing>"]
    assert slices["2.0"]["mae"] == 0.0


def test_slice_metrics_unknown_column_is_data_error(cancer: Split, cancer_model: Any) -> None:
    _, X, _, y = cancer
    with pytest.raises(DataError, match="cannot slice the holdout by 'nope'"):
        slice_metrics(cancer_model, X, y, "classification", by="nope")


class _WithoutColumn:
    """Wraps a fitted classifier so that it ignores one column."""

    def __init__(self, model: Any, column: str) -> None:
        self.model, self.column = model, column
        self.classes_ = model.classes_

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model.predict(X.drop(columns=[self.column])))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model.predict_proba(X.drop(columns=[self.column])))


def test_multiclass_macro_averages_over_the_classes_present(wine: Split, wine_model: Any) -> None:
    _, X, _, y = wine
    right = (wine_model.predict(X) == y.to_numpy()) & (y == 0).to_numpy()
    ev = evaluate(wine_model, X[right], y[right], "classification")
    assert ev.metrics["f1"] == 1.0
    assert ev.metrics["precision"] == 1.0
    assert "roc_auc" not in ev.metrics  # a single class in y
