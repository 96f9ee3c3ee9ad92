"""The throw-away store that holds ``mlpilot ci``'s candidate while it is checked.

A temporary ``[store] home`` of its own (``mlpilot.db`` and ``mlflow.db`` in a temporary
directory) in which the candidate is the only registered version, ``champion``, pointing at
the very files the training stage logged to the project's MLflow (no copy): the model tests
and the infrastructure check load it from there exactly as serving loads a version (digest
verified, schema from the metadata store, reference profile from the verified copy), and the
project's own registry is not touched. The directory is removed when the run ends.

Creating an MLflow database runs MLflow's migrations (seconds); the first workspace of a
project keeps an empty, migrated copy in ``<home>/cache/ci/`` per MLflow version, and later
workspaces start from a copy of it.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mlpilot.config import Settings
from mlpilot.governance import AuditTrail
from mlpilot.pipeline import Candidate
from mlpilot.registry import ModelVersion, Registry
from mlpilot.store import SchemaRow, Store, utcnow
from mlpilot.testing import CandidateHandoff, workspace_settings

ACTOR = "mlpilot-ci"


@dataclass
class Workspace:
    """The candidate registered in a throw-away store under ``directory``."""

    directory: Path
    settings: Settings
    version: ModelVersion
    handoff_file: Path

    @classmethod
    def create(cls, settings: Settings, candidate: Candidate) -> Workspace:
        """Register ``candidate`` (digest checked again) as the only version of a new store."""
        directory = Path(tempfile.mkdtemp(prefix=f"mlpilot-ci-{settings.project.name}-"))
        try:
            scratch = workspace_settings(settings, directory / "store")
            scratch.home.mkdir(parents=True)
            _sqlite_copy(_empty_tracking_db(settings.cache_dir / "ci"), scratch.home / "mlflow.db")
            store = Store.open(scratch.metadata_url)
            try:
                with store.session() as s:
                    s.add(
                        SchemaRow(
                            project=settings.project.name,
                            version=candidate.schema.version,
                            status="active",
                            body=json.loads(candidate.schema.to_json()),
                            snapshot_hash=candidate.lineage["mlpilot.data_snapshot"],
                            created_at=utcnow(),
                            actor=ACTOR,
                            reason="the schema of the candidate under test",
                        )
                    )
                registry = Registry(scratch, AuditTrail(store))
                version = registry.register_staged(
                    candidate.staged,
                    metrics=candidate.metrics,
                    lineage=candidate.lineage,
                    alias="champion",
                    actor=ACTOR,
                    reason="the candidate under test in mlpilot ci",
                )
            finally:
                store.dispose()
            holdout = directory / "holdout.parquet"
            candidate.holdout.to_parquet(holdout)
            handoff = CandidateHandoff(
                project_dir=str(settings.project_dir),
                home=str(scratch.home),
                version=version.version,
                digest=candidate.staged.digest,
                holdout=str(holdout),
                task=candidate.task,
            ).write(directory / "candidate.json")
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        return cls(directory, scratch, version, handoff)

    def close(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def _empty_tracking_db(directory: Path) -> Path:
    """An empty MLflow database with MLflow's current schema, made once per MLflow version."""
    import mlflow
    from mlflow import MlflowClient

    path = directory / f"empty-mlflow-{mlflow.__version__}.db"
    if path.is_file():
        return path
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        fresh = Path(tmp) / "mlflow.db"
        uri = f"sqlite:///{fresh}"
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        client.search_experiments()  # creates the tables
        client.search_registered_models()
        staged = Path(tmp) / "copy.db"
        _sqlite_copy(fresh, staged)
        staged.replace(path)  # atomic: a concurrent run sees the whole file or none
    return path


def _sqlite_copy(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database (the backup API, not a file copy)."""
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
