"""A trained project for the model-test plugin's tests: the bundled example, run once."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlpilot.project import Project, init_project
from mlpilot.testing import ModelTestContext


@pytest.fixture(scope="package")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example project with version 1 registered as champion."""
    directory = tmp_path_factory.mktemp("testing") / "bc"
    init_project(directory, name="bc-test")
    summary = Project.open(directory, env={}).run()
    assert summary.model_version == 1
    return directory


@pytest.fixture(scope="package")
def context(trained: Path) -> ModelTestContext:
    return ModelTestContext(trained)
