"""Model tests: a pytest plugin with the model under test, and helpers for behavioural tests.

Installing mlpilot registers the plugin (``mlpilot.testing.plugin``, entry point ``pytest11``):
tests in an mlpilot project can ask for the fixtures ``candidate``, ``champion``, ``holdout``
and ``reference_profile``. ``mlpilot ci`` runs them (stage 5) against the candidate it has just
trained and not yet registered; plain ``pytest`` runs them against the latest registered
version::

    from mlpilot.testing import assert_directional, assert_no_regression

    def test_larger_tumours_look_less_benign(candidate, holdout):
        assert_directional(candidate, holdout, {"worst radius": lambda r: r * 1.2}, "decrease")

    def test_no_regression(candidate, champion, holdout):
        assert_no_regression(candidate, champion, holdout, "roc_auc", margin=0.01)

The helpers raise ``AssertionError`` with messages that name the model, the rows and the
figures: :func:`assert_invariant` (a change that must not change the prediction),
:func:`assert_directional` (a change that must move it one way), :func:`assert_min_performance`
(a metric on the holdout or a named slice of it) and :func:`assert_no_regression` (against the
champion, within a margin). Importing this package is cheap (no pandas, no MLflow).
"""

from mlpilot.testing._assertions import (
    assert_directional,
    assert_invariant,
    assert_min_performance,
    assert_no_regression,
)
from mlpilot.testing._context import ModelTestContext
from mlpilot.testing._handoff import ENV_CANDIDATE, CandidateHandoff, workspace_settings
from mlpilot.testing._model import ModelUnderTest

__all__ = [
    "ENV_CANDIDATE",
    "CandidateHandoff",
    "ModelTestContext",
    "ModelUnderTest",
    "assert_directional",
    "assert_invariant",
    "assert_min_performance",
    "assert_no_regression",
    "workspace_settings",
]
