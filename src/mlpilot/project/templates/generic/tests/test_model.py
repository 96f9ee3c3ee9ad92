"""Model tests: how the candidate must behave on your data, beyond its holdout metrics.

'mlpilot ci' runs them against the candidate it has just trained (before anything is
registered); plain 'pytest' runs them against the latest registered version. The fixtures
come from mlpilot's pytest plugin: 'candidate' (the model under test), 'champion' (skipped
while there is none), 'holdout' (its held-out rows: features and target) and
'reference_profile' (its training data's profile). One example of each kind of test follows;
edit them to say what your model must do.
"""

import pandas as pd
import pytest

from mlpilot.testing import (
    ModelUnderTest,
    assert_directional,
    assert_invariant,
    assert_min_performance,
    assert_no_regression,
)


def test_a_rows_prediction_does_not_depend_on_the_batch(
    candidate: ModelUnderTest, holdout: pd.DataFrame
) -> None:
    """Invariance: the same rows in the reverse order get the same predictions."""

    def reversed_order(rows: pd.DataFrame) -> pd.DataFrame:
        return rows.iloc[::-1]

    assert_invariant(candidate, holdout, reversed_order)


@pytest.mark.skip(reason="name a feature whose growth must raise the prediction, then unskip")
def test_directional_expectation(candidate: ModelUnderTest, holdout: pd.DataFrame) -> None:
    """Directional expectation: e.g. more usage, higher predicted churn."""
    assert_directional(candidate, holdout, {"FEATURE": lambda values: values * 1.2}, "increase")


def test_minimum_performance(candidate: ModelUnderTest, holdout: pd.DataFrame) -> None:
    """Minimum functionality: on all the holdout, or on a named slice of it, e.g.
    slice="`country` == 'FR'" (backquote names with spaces)."""
    metric = "accuracy" if candidate.task == "classification" else "r2"
    assert_min_performance(candidate, holdout, metric, 0.5)


def test_no_regression_against_the_champion(
    candidate: ModelUnderTest, champion: ModelUnderTest, holdout: pd.DataFrame
) -> None:
    """No regression: on the same holdout, not worse than the champion beyond a margin."""
    metric = "accuracy" if candidate.task == "classification" else "rmse"
    assert_no_regression(candidate, champion, holdout, metric, margin=0.01)
