"""Fixtures for the tracking tests: a project in tmp_path with its own embedded stores."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from mlpilot.config import Settings, load_settings

PROJECT_TOML = """\
[project]
name = "{name}"

[data]
source = "sklearn:breast_cancer"
target = "target"

[train]
entrypoint = "sklearn.linear_model.LogisticRegression"
{store}"""


def write_project(path: Path, name: str, store: str = "") -> Settings:
    path.mkdir(parents=True, exist_ok=True)
    (path / "mlpilot.toml").write_text(
        PROJECT_TOML.format(name=name, store=store), encoding="utf-8"
    )
    return load_settings(path, env={})


@pytest.fixture(scope="session")
def shared_tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture
def settings(tmp_path: Path, shared_tracking_uri: str) -> Settings:
    """A project with a unique name, tracking to a session-wide MLflow database (fast)."""
    name = f"trk-{uuid.uuid4().hex[:10]}"
    return write_project(
        tmp_path / "project", name, f'\n[store]\ntracking_uri = "{shared_tracking_uri}"\n'
    )


@pytest.fixture
def default_settings(tmp_path: Path) -> Settings:
    """A project with the embedded defaults: ``.mlpilot/mlflow.db`` under the project."""
    return write_project(tmp_path / "project", "defaults")
