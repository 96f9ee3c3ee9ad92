"""Model tests: how the candidate must behave on this data, beyond its holdout metrics.

'mlpilot ci' runs them against the candidate it has just trained (before anything is
registered); plain 'pytest' runs them against the latest registered version. The fixtures
come from mlpilot's pytest plugin: 'candidate' (the model under test), 'champion' (skipped
while there is none), 'holdout' (its held-out rows: features and 'target') and
'reference_profile' (its training data's profile).

In this data set the label 0 is malignant and 1 is benign.
"""

import pandas as pd

from mlpilot.testing import (
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


def test_measurement_noise_does_not_change_a_confident_diagnosis(
    candidate: ModelUnderTest, holdout: pd.DataFrame
) -> None:
    """Invariance: 1% of measurement error on every feature must not flip a diagnosis the
    model is confident about."""
    p = candidate.score(holdout, of=BENIGN)
    confident = holdout[(p > 0.95) | (p < 0.05)]
    features = list(candidate.features)

    def one_percent_larger(rows: pd.DataFrame) -> pd.DataFrame:
        rows[features] = rows[features] * 1.01
        return rows

    assert_invariant(candidate, confident, one_percent_larger)


def test_larger_tumours_look_less_benign(candidate: ModelUnderTest, holdout: pd.DataFrame) -> None:
    """Directional expectation: the same cells, 20% larger, are less likely benign."""
    larger = {column: (lambda values: values * 1.2) for column in SIZE}
    assert_directional(candidate, holdout, larger, "decrease", of=BENIGN)


def test_more_concave_cells_look_less_benign(
    candidate: ModelUnderTest, holdout: pd.DataFrame
) -> None:
    """Directional expectation: more concave points on the cell contours, less likely benign."""
    concave = {
        "mean concave points": lambda values: values * 1.2,
        "worst concave points": lambda values: values * 1.2,
    }
    assert_directional(candidate, holdout, concave, "decrease", of=BENIGN)


def test_large_tumours_are_classified_well(
    candidate: ModelUnderTest, holdout: pd.DataFrame
) -> None:
    """Minimum functionality on a named slice: large tumours, mostly malignant."""
    assert_min_performance(
        candidate, holdout, "accuracy", 0.9, slice="`worst radius` >= 17", min_rows=10
    )


def test_small_tumours_are_classified_well(
    candidate: ModelUnderTest, holdout: pd.DataFrame
) -> None:
    """Minimum functionality on a named slice: small tumours, mostly benign."""
    assert_min_performance(
        candidate, holdout, "accuracy", 0.9, slice="`worst radius` < 13", min_rows=10
    )


def test_no_regression_against_the_champion(
    candidate: ModelUnderTest, champion: ModelUnderTest, holdout: pd.DataFrame
) -> None:
    """No regression: on the same holdout, the candidate's ROC AUC is at most 0.01 below the
    champion's."""
    assert_no_regression(candidate, champion, holdout, "roc_auc", margin=0.01)
