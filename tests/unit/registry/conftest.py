"""Fixtures for the registry tests: real MLflow on a real SQLite store, one per session.

Each test gets its own project (a unique name, so its own experiment and registered model)
and its own mlpilot metadata store; the MLflow database is shared to keep the suite fast
(creating one costs ~0.8 s of MLflow migrations).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from mlpilot.config import Settings, load_settings
from mlpilot.governance import AuditTrail
from mlpilot.registry import ModelVersion, Registry
from mlpilot.store import Store
from mlpilot.tracking import TAG_COMMIT, TAG_PIPELINE_RUN, TAG_SCHEMA, TAG_SNAPSHOT, start_run

PROJECT_TOML = """\
[project]
name = "{name}"

[data]
source = "sklearn:breast_cancer"
target = "target"

[train]
entrypoint = "sklearn.linear_model.LogisticRegression"

[store]
tracking_uri = "{tracking_uri}"
"""

LINEAGE = {
    TAG_PIPELINE_RUN: "run-0001",
    TAG_SNAPSHOT: "a" * 64,
    TAG_SCHEMA: "3",
    TAG_COMMIT: "0123456789abcdef0123456789abcdef01234567",
}
METRICS = {"roc_auc": 0.991, "accuracy": 0.965}
PROFILE: dict[str, Any] = {
    "features": {"mean radius": {"quantiles": [6.98, 11.7, 13.37, 15.78, 28.11], "nulls": 0.0}},
    "prediction": {"1": 0.63, "0": 0.37},
}


@pytest.fixture(scope="session")
def shared_tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture
def settings(tmp_path: Path, shared_tracking_uri: str) -> Settings:
    name = f"reg-{uuid.uuid4().hex[:10]}"
    (tmp_path / "mlpilot.toml").write_text(
        PROJECT_TOML.format(name=name, tracking_uri=shared_tracking_uri), encoding="utf-8"
    )
    return load_settings(tmp_path, env={})


@pytest.fixture
def audit(settings: Settings) -> Iterator[AuditTrail]:
    store = Store.open(settings.metadata_url)
    yield AuditTrail(store)
    store.dispose()


@pytest.fixture
def registry(settings: Settings, audit: AuditTrail) -> Registry:
    return Registry(settings, audit)


@pytest.fixture(scope="session")
def data() -> tuple[pd.DataFrame, pd.Series]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X, y


@pytest.fixture(scope="session")
def model(data: tuple[pd.DataFrame, pd.Series]) -> Pipeline:
    X, y = data
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)


@pytest.fixture
def register(
    registry: Registry,
    settings: Settings,
    model: Pipeline,
    data: tuple[pd.DataFrame, pd.Series],
) -> Callable[..., ModelVersion]:
    """Register a model under a fresh tracked run; keyword arguments override the defaults."""

    def _register(**overrides: Any) -> ModelVersion:
        X, _ = data
        with start_run(settings, run_name="test", tags={TAG_PIPELINE_RUN: "run-0001"}) as run:
            kwargs: dict[str, Any] = {
                "run_id": run.run_id,
                "metrics": METRICS,
                "lineage": LINEAGE,
                "profile": PROFILE,
                "input_example": X.head(5),
                "alias": None,
            }
            kwargs.update(overrides)
            return registry.register(kwargs.pop("model", model), **kwargs)

    return _register


@pytest.fixture
def artifact_dir(registry: Registry) -> Callable[[int], Path]:
    """Where a version's artifacts live in the (local) artifact store."""

    def _dir(version: int) -> Path:
        from mlflow import MlflowClient

        uri = MlflowClient(
            tracking_uri=registry.settings.tracking_uri,
            registry_uri=registry.settings.tracking_uri,
        ).get_model_version_download_uri(registry.name, str(version))
        return Path(unquote(urlparse(uri).path))

    return _dir
