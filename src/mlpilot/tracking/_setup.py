"""Pointing MLflow at the project's tracking store, quietly, and finding the experiment."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from mlpilot.config import Settings
from mlpilot.errors import StoreError

if TYPE_CHECKING:
    from mlflow import MlflowClient

_NOISY_LOGGERS = {
    "mlflow": logging.WARNING,
    # "Failed to resolve installed pip version" on every log_model in a venv without pip.
    "mlflow.utils.environment": logging.ERROR,
}


def configure(settings: Settings) -> None:
    """Point MLflow's tracking and registry at ``settings.tracking_uri``; idempotent.

    Turns MLflow's telemetry off, quiets its INFO/WARNING chatter (unless
    ``MLFLOW_LOGGING_LEVEL`` asks otherwise) and creates the parent directory of a SQLite
    tracking database. Imports MLflow (~3 s the first time): call it only on paths that
    track or register.
    """
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    uri = settings.tracking_uri
    _ensure_sqlite_parent(uri)
    import mlflow

    if not os.environ.get("MLFLOW_LOGGING_LEVEL"):
        for name, level in _NOISY_LOGGERS.items():
            logging.getLogger(name).setLevel(level)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)


def mlflow_client(settings: Settings) -> MlflowClient:
    """A client bound to the project's tracking store and registry (configures MLflow first)."""
    configure(settings)
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)


def ensure_experiment(settings: Settings) -> str:
    """The id of the experiment named after the project, created if needed.

    A new experiment stores its artifacts under ``settings.artifact_root`` (by default
    ``.mlpilot/artifacts``, never ``./mlruns``). An experiment deleted in MLflow is restored.
    """
    from mlflow.exceptions import MlflowException

    client = mlflow_client(settings)
    name = settings.project.name
    try:
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            try:
                return client.create_experiment(name, artifact_location=settings.artifact_root)
            except MlflowException as exc:
                if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
                experiment = client.get_experiment_by_name(name)  # created concurrently
                if experiment is None:
                    raise
        if experiment.lifecycle_stage == "deleted":
            client.restore_experiment(experiment.experiment_id)
        return str(experiment.experiment_id)
    except MlflowException as exc:
        raise tracking_failed(settings, f"find or create the experiment '{name}'", exc) from exc


def tracking_failed(settings: Settings, action: str, exc: Exception) -> StoreError:
    """A :class:`StoreError` saying which tracking operation failed, where, and what to check."""
    message = getattr(exc, "message", None) or str(exc)
    return StoreError(
        f"MLflow could not {action} in the tracking store {_redact(settings.tracking_uri)}: "
        f"{message}; check [store] tracking_uri in mlpilot.toml and that the store is reachable"
    )


def _ensure_sqlite_parent(uri: str) -> None:
    if not uri.startswith("sqlite:"):
        return
    from sqlalchemy.engine import make_url

    database = make_url(uri).database
    if database and database != ":memory:":
        parent = Path(database).parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the directory {parent} for the MLflow tracking database: "
                f"{exc.strerror or exc}; fix [store] tracking_uri or the directory's permissions"
            ) from exc


def _redact(uri: str) -> str:
    if "://" not in uri or "@" not in uri:
        return uri
    from sqlalchemy.engine import make_url

    try:
        return make_url(uri).render_as_string(hide_password=True)
    except Exception:
        return uri.split("://", 1)[0] + "://***"
