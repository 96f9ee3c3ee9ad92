"""Fixtures for pipeline integration tests: real MLflow on SQLite (one database shared by the
session, a unique project per test), real metadata store, real files."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from mlpilot.project import Project

TOML = """\
[project]
name = "{name}"

[data]
source = "{source}"
target = "target"

[train]
entrypoint = "{entrypoint}"
params = {params}

[gate]
metrics = {{ accuracy = "{gate}" }}
vs_champion = {{ metric = "accuracy", min_delta = -0.05 }}

[store]
tracking_uri = "{tracking_uri}"
{store_extra}
"""

TRAIN_PY = """\
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def train(frame: pd.DataFrame, target: str, C: float = 1.0):
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=1000))
    return model.fit(frame.drop(columns=[target]), frame[target])


def broken(frame: pd.DataFrame, target: str):
    raise RuntimeError("feature engineering failed on purpose")
"""


@pytest.fixture(scope="session")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


class ProjectFactory:
    def __init__(self, root: Path, tracking_uri: str) -> None:
        self.root = root
        self.tracking_uri = tracking_uri

    def __call__(
        self,
        *,
        source: str = "sklearn:breast_cancer",
        entrypoint: str = "pipeline.py:train",
        params: str = "{ C = 1.0 }",
        gate: str = ">= 0.8",
        store_extra: str = "",
        tracking_uri: str | None = None,
    ) -> Project:
        name = f"it-{uuid.uuid4().hex[:10]}"
        directory = self.root / name
        directory.mkdir()
        (directory / "pipeline.py").write_text(TRAIN_PY)
        (directory / "mlpilot.toml").write_text(
            TOML.format(
                name=name,
                source=source,
                entrypoint=entrypoint,
                params=params,
                gate=gate,
                tracking_uri=tracking_uri or self.tracking_uri,
                store_extra=store_extra,
            )
        )
        return Project.open(directory, env={})


@pytest.fixture
def make_project(tmp_path: Path, tracking_uri: str) -> ProjectFactory:
    return ProjectFactory(tmp_path, tracking_uri)
