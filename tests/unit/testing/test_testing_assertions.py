"""The behavioural-test helpers on a real trained model: they pass when the model behaves,
and fail with messages that name the model, the rows and the figures."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier

from mlpilot.testing import (
    ModelTestContext,
    ModelUnderTest,
    assert_directional,
    assert_invariant,
    assert_min_performance,
    assert_no_regression,
)

BENIGN = 1
SIZE = [
    "mean radius",
    "mean perimeter",
    "mean area",
    "worst radius",
    "worst perimeter",
    "worst area",
]


@pytest.fixture
def candidate(context: ModelTestContext) -> ModelUnderTest:
    return context.candidate()


@pytest.fixture
def holdout(context: ModelTestContext) -> pd.DataFrame:
    return context.holdout()


def _times(factor: float) -> dict[str, Any]:
    return {column: (lambda values: values * factor) for column in SIZE}


def test_the_model_under_test_keeps_the_index_and_ignores_the_target(
    candidate: ModelUnderTest, holdout: pd.DataFrame
) -> None:
    assert candidate.label == "candidate bc-test/1"
    assert candidate.task == "classification"
    assert candidate.target == "target"
    assert len(candidate.features) == 30
    shuffled = holdout.sample(frac=1.0, random_state=0)
    predicted = candidate.predict(shuffled)
    assert predicted.index.equals(shuffled.index)
    proba = candidate.predict_proba(shuffled)
    assert list(proba.columns) == [0, 1]
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert candidate.score(shuffled).equals(proba[1].rename("p(1)"))
    with pytest.raises(ValueError, match=r"needs the columns 'mean radius'"):
        candidate.predict(holdout.drop(columns=["mean radius"]))


def test_invariance_passes_and_fails_with_the_rows_named(
    candidate: ModelUnderTest, holdout: pd.DataFrame
) -> None:
    assert_invariant(candidate, holdout, lambda rows: rows.iloc[::-1])
    benign = holdout[candidate.predict(holdout) == BENIGN]
    with pytest.raises(AssertionError) as info:
        assert_invariant(candidate, benign, _times(3.0), describe="tripling the tumour size")
    message = str(info.value)
    changed = int(message.split(": ", 1)[1].split(" of ")[0])
    assert changed > len(benign) / 2
    assert message.startswith(f"candidate bc-test/1: {changed} of {len(benign)} rows changed")
    assert "under tripling the tumour size, which must not change it:\n  row " in message
    assert ": 1 -> 0 (p(1) " in message
    assert f"... and {changed - 5} more" in message


def test_directional_expectation_in_both_directions(
    candidate: ModelUnderTest, holdout: pd.DataFrame
) -> None:
    assert_directional(candidate, holdout, _times(1.2), "decrease", of=BENIGN)
    with pytest.raises(
        AssertionError,
        match=r"must raise the probability of class 1, but it "
        r"lowered it for \d+ of 114 rows \(tolerance 0\):\n  row \d+: ",
    ):
        assert_directional(candidate, holdout, _times(1.2), "increase")
    with pytest.raises(AssertionError, match=r"did not move it for any of the 114 rows"):
        assert_directional(candidate, holdout, {}, "increase", describe="no change at all")
    with pytest.raises(ValueError, match="direction must be"):
        assert_directional(candidate, holdout, {}, "up")  # type: ignore[arg-type]


def test_minimum_performance_on_all_rows_and_on_a_slice(
    candidate: ModelUnderTest, holdout: pd.DataFrame
) -> None:
    accuracy = assert_min_performance(candidate, holdout, "accuracy", 0.9)
    assert accuracy == pytest.approx(candidate.metrics["accuracy"])  # the run's own holdout
    large = "`worst radius` >= 17"
    rows = len(holdout.query(large))
    with pytest.raises(
        AssertionError,
        match=rf"accuracy on the slice `{large}` \({rows} rows\) is 1\.0000, below the "
        r"minimum 1\.5",
    ):
        assert_min_performance(candidate, holdout, "accuracy", 1.5, slice=large)
    with pytest.raises(
        AssertionError, match=r"above the worst accepted 0\.001 \(lower is better\)"
    ):
        assert_min_performance(candidate, holdout, "log_loss", 0.001)
    with pytest.raises(AssertionError, match=r"the given slice has 0 rows, fewer than the 1"):
        assert_min_performance(candidate, holdout, "accuracy", 0.5, slice=lambda f: f.index < 0)
    with pytest.raises(AssertionError, match=r"roc_auc cannot be computed on the slice"):
        assert_min_performance(candidate, holdout, "roc_auc", 0.5, slice="`worst radius` >= 25")
    with pytest.raises(ValueError, match="not a valid pandas query"):
        assert_min_performance(candidate, holdout, "accuracy", 0.5, slice="mean radius > 1")
    with pytest.raises(ValueError, match="'rmse' is not a metric of a classification model"):
        assert_min_performance(candidate, holdout, "rmse", 0.5)


def test_no_regression_names_both_figures(
    candidate: ModelUnderTest, holdout: pd.DataFrame, context: ModelTestContext
) -> None:
    champion = context.champion()
    assert champion is not None
    mine, theirs = assert_no_regression(candidate, champion, holdout, "roc_auc", margin=0.0)
    assert mine == theirs  # the candidate outside 'mlpilot ci' is the latest version: v1
    constant = DummyClassifier(strategy="prior").fit(
        holdout[list(candidate.features)], holdout["target"]
    )
    worse = ModelUnderTest(
        model=constant,
        role="candidate",
        ref="bc-test/dummy",
        digest=None,
        task="classification",
        target="target",
        features=candidate.features,
    )
    with pytest.raises(
        AssertionError,
        match=r"candidate bc-test/dummy regresses against champion bc-test/1 on accuracy "
        r"\(higher is better\): 0\.\d{4} vs 0\.\d{4} on the 114 rows of the holdout, worse by "
        r"0\.\d{4}, more than the margin 0\.01",
    ):
        assert_no_regression(worse, champion, holdout, "accuracy", margin=0.01)
    with pytest.raises(pytest.skip.Exception, match="no champion yet"):
        assert_no_regression(candidate, None, holdout, "accuracy")


def test_a_test_on_no_rows_fails_instead_of_passing(
    candidate: ModelUnderTest, holdout: pd.DataFrame
) -> None:
    with pytest.raises(AssertionError, match="the invariance test got no rows"):
        assert_invariant(candidate, holdout.iloc[:0], lambda rows: rows)
    with pytest.raises(ValueError, match="must return the same rows"):
        assert_invariant(candidate, holdout, lambda rows: rows.head(3))
