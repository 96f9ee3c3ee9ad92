"""Shared fixtures: a minimal project on the embedded default, in a temporary directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

MINIMAL_TOML = """\
[project]
name = "{name}"

[data]
source = "{source}"
target = "target"

[train]
entrypoint = "{entrypoint}"
params = {{ max_iter = 2000 }}

[gate]
metrics = {{ accuracy = ">= 0.8" }}
vs_champion = {{ metric = "accuracy", min_delta = -0.05 }}
"""


def write_project(
    directory: Path,
    *,
    name: str = "demo",
    source: str = "sklearn:breast_cancer",
    entrypoint: str = "sklearn.linear_model.LogisticRegression",
    extra: str = "",
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    text = MINIMAL_TOML.format(name=name, source=source, entrypoint=entrypoint) + extra
    (directory / "mlpilot.toml").write_text(text)
    return directory


SCALED_TRAIN_PY = """\
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def train(frame, target, max_iter=1000):
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter))
    return model.fit(frame.drop(columns=[target]), frame[target])
"""


def write_scaled_project(directory: Path, **kwargs: str) -> Path:
    """A project whose ``pipeline.py:train`` scales, then fits a logistic regression."""
    write_project(directory, entrypoint="pipeline.py:train", **kwargs)
    (directory / "pipeline.py").write_text(SCALED_TRAIN_PY, encoding="utf-8")
    return directory


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    return write_project(tmp_path / "proj")
