"""Staging a candidate (logged and hashed, not registered) and registering those very files
later, here or in a throw-away registry; refused when the files changed in between."""

from __future__ import annotations

import uuid
from pathlib import Path
from urllib.parse import unquote, urlparse

import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from mlpilot.config import Settings, StoreSettings
from mlpilot.errors import IntegrityError
from mlpilot.governance import AuditTrail
from mlpilot.registry import Registry, StagedModel
from mlpilot.store import Store
from mlpilot.tracking import TAG_PIPELINE_RUN, start_run

from .conftest import LINEAGE, METRICS, PROFILE


@pytest.fixture
def staged(
    registry: Registry, settings: Settings, model: Pipeline, data: tuple[pd.DataFrame, pd.Series]
) -> StagedModel:
    X, _ = data
    with start_run(settings, run_name="ci", tags={TAG_PIPELINE_RUN: "run-ci"}) as run:
        return registry.stage(model, run_id=run.run_id, profile=PROFILE, input_example=X.head(5))


def _files(staged: StagedModel) -> Path:
    return Path(unquote(urlparse(staged.artifact_uri).path))


def test_staging_logs_and_hashes_but_registers_nothing(
    registry: Registry, staged: StagedModel, audit: AuditTrail
) -> None:
    assert staged.source.startswith("models:/m-")
    assert len(staged.digest) == 64
    assert (_files(staged) / "MLmodel").is_file()
    assert registry.list_versions() == []
    assert audit.events() == []


def test_registering_the_staged_files_keeps_digest_run_and_lineage(
    registry: Registry, staged: StagedModel, audit: AuditTrail
) -> None:
    version = registry.register_staged(
        staged,
        metrics=METRICS,
        lineage=LINEAGE,
        alias="challenger",
        reason="ci passed",
        details={"ci": {"training": "passed"}},
    )
    assert version.digest == staged.digest
    assert version.run_id == staged.run_id
    assert version.aliases == ("challenger",)
    assert version.lineage[TAG_PIPELINE_RUN] == LINEAGE[TAG_PIPELINE_RUN]
    assert registry.load(version.version).version.digest == staged.digest
    [event] = audit.events()
    assert event.action == "model.registered"
    assert event.details["ci"] == {"training": "passed"}
    assert event.details["digest"] == staged.digest


def test_a_throwaway_registry_points_at_the_same_files(
    settings: Settings, staged: StagedModel, tmp_path: Path, model: Pipeline
) -> None:
    scratch = settings.model_copy(
        update={"store": StoreSettings(home=str(tmp_path / f"scratch-{uuid.uuid4().hex[:6]}"))}
    )
    store = Store.open(scratch.metadata_url)
    try:
        other = Registry(scratch, AuditTrail(store))
        version = other.register_staged(staged, metrics=METRICS, lineage=LINEAGE, alias="champion")
        assert version.run_id is None
        assert version.digest == staged.digest
        assert version.source == staged.artifact_uri
        loaded = other.load("champion")
        X = pd.DataFrame([[0.0] * 30], columns=model.feature_names_in_)
        assert (loaded.model.predict(X) == model.predict(X)).all()
    finally:
        store.dispose()


def test_files_changed_after_staging_are_refused_and_leave_no_version(
    registry: Registry, staged: StagedModel, audit: AuditTrail
) -> None:
    with (_files(staged) / "MLmodel").open("a") as fh:
        fh.write("\n# changed after the checks\n")
    with pytest.raises(IntegrityError, match=r"changed after it was checked .* was not kept"):
        registry.register_staged(staged, metrics=METRICS, lineage=LINEAGE, alias="challenger")
    assert registry.list_versions() == []
    assert registry.by_alias("challenger") is None
    assert audit.events() == []
