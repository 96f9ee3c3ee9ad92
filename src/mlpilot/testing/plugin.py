"""mlpilot's pytest plugin: fixtures for model tests, registered as the ``pytest11`` entry
point ``mlpilot`` (so installing mlpilot is enough; nothing to add to ``conftest.py``).

Fixtures, each loaded once per session:

* ``candidate``: the model under test, a :class:`~mlpilot.testing.ModelUnderTest` (the one
  ``mlpilot ci`` trained when it runs the tests, else the latest registered version);
* ``champion``: the project's champion (the test is skipped when there is none);
* ``holdout``: the candidate's held-out rows, features and target column, as a DataFrame;
* ``reference_profile``: the candidate's :class:`~mlpilot.data.ReferenceProfile`;
* ``mlpilot_context``: the :class:`~mlpilot.testing.ModelTestContext` they come from.

Outside an mlpilot project, or without a model to test, a test that uses them errors with one
line that names the problem and the fix, not a traceback. Importing this module is cheap:
mlpilot's heavy dependencies are imported only when a fixture is used, and the deprecation
notices those libraries give while loading are kept out of the project's test run (so a
project that turns warnings into errors does not fail on them).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest

if TYPE_CHECKING:
    import pandas as pd

    from mlpilot.data import ReferenceProfile
    from mlpilot.testing._context import ModelTestContext
    from mlpilot.testing._model import ModelUnderTest

_CONTEXT = pytest.StashKey["ModelTestContext | BaseException"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mlpilot", "mlpilot model tests")
    group.addoption(
        "--mlpilot-project",
        dest="mlpilot_project",
        default=None,
        metavar="DIR",
        help="The mlpilot project whose models the fixtures load (default: the nearest folder "
        "with mlpilot.toml at or above the rootdir).",
    )


def _fail(request: pytest.FixtureRequest, exc: BaseException) -> NoReturn:
    from mlpilot.errors import MlpilotError

    if isinstance(exc, MlpilotError):
        pytest.fail(
            f"mlpilot fixture '{request.fixturename}': {exc.headline}: {exc.message}",
            pytrace=False,
        )
    raise exc


@contextmanager
def _loading() -> Iterator[None]:
    """Third-party deprecation notices raised while mlpilot loads models and data: not the
    project's to fix, so not its tests' warnings."""
    with warnings.catch_warnings():
        for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
            warnings.simplefilter("ignore", category)
        yield


def _context(request: pytest.FixtureRequest) -> ModelTestContext:
    config = request.config
    found = config.stash.get(_CONTEXT, None)
    if found is None:
        try:
            from mlpilot.testing._context import ModelTestContext

            found = ModelTestContext.find(
                option=config.getoption("mlpilot_project"),
                rootdir=Path(config.rootpath),
                env=os.environ,
            )
        except Exception as exc:
            found = exc
        config.stash[_CONTEXT] = found
    if isinstance(found, BaseException):
        _fail(request, found)
    return found


@pytest.fixture(scope="session")
def mlpilot_context(request: pytest.FixtureRequest) -> ModelTestContext:
    """Where the other fixtures come from: the project and the candidate under test."""
    return _context(request)


@pytest.fixture(scope="session")
def candidate(request: pytest.FixtureRequest) -> ModelUnderTest:
    """The model under test: the candidate of ``mlpilot ci``, else the latest version."""
    try:
        with _loading():
            return _context(request).candidate()
    except Exception as exc:
        _fail(request, exc)


@pytest.fixture(scope="session")
def champion(request: pytest.FixtureRequest) -> ModelUnderTest:
    """The project's champion; tests that use it are skipped when there is none."""
    try:
        with _loading():
            found = _context(request).champion()
    except Exception as exc:
        _fail(request, exc)
    if found is None:
        pytest.skip("the project has no champion yet, so there is nothing to compare with")
    return found


@pytest.fixture
def holdout(request: pytest.FixtureRequest) -> pd.DataFrame:
    """The candidate's held-out rows: its features and the target column (a copy per test)."""
    try:
        with _loading():
            return _context(request).holdout()
    except Exception as exc:
        _fail(request, exc)


@pytest.fixture(scope="session")
def reference_profile(request: pytest.FixtureRequest) -> ReferenceProfile:
    """The reference profile of the candidate's training data."""
    try:
        with _loading():
            return _context(request).reference_profile()
    except Exception as exc:
        _fail(request, exc)
