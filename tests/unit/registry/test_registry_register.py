"""Registering versions: tags, digest, artifacts, audit, and cleanup when a step fails."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient
from sklearn.ensemble import RandomForestClassifier

from mlpilot.config import Settings
from mlpilot.errors import ModelNotFoundError, RegistryError
from mlpilot.governance import AuditTrail
from mlpilot.registry import ModelVersion, Registry, digest_dir
from mlpilot.tracking import TAG_DIGEST, TAG_PIPELINE_RUN

LINEAGE_KEYS = {
    "mlpilot.pipeline_run_id",
    "mlpilot.data_snapshot",
    "mlpilot.schema_version",
    "mlpilot.code_commit",
}


def test_nothing_registered_yet(registry: Registry) -> None:
    assert registry.list_versions() == []
    assert registry.by_alias("champion") is None
    with pytest.raises(ModelNotFoundError, match=r"has no version 1; run 'mlpilot models'"):
        registry.get(1)


def test_register_records_lineage_metrics_and_digest(
    registry: Registry,
    register: Callable[..., ModelVersion],
    artifact_dir: Callable[[int], Path],
) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    v = register(alias="challenger")

    assert v.name == registry.name
    assert v.version == 1
    assert v.aliases == ("challenger",)
    assert v.metrics == {"roc_auc": 0.991, "accuracy": 0.965}
    assert set(v.lineage) == LINEAGE_KEYS
    assert v.lineage[TAG_PIPELINE_RUN] == "run-0001"
    assert v.run_id is not None
    assert v.source.startswith("models:/m-")
    assert before <= v.created_at <= datetime.now(UTC)
    assert v.digest is not None
    assert v.digest == digest_dir(artifact_dir(1))

    assert registry.list_versions() == [v]
    assert registry.get(1) == v
    assert registry.by_alias("challenger") == v
    assert registry.by_alias("champion") is None


def test_versions_are_listed_newest_first(
    registry: Registry, register: Callable[..., ModelVersion]
) -> None:
    register()
    register(alias="champion")
    assert [(v.version, v.aliases) for v in registry.list_versions()] == [
        (2, ("champion",)),
        (1, ()),
    ]


def test_artifacts_hold_the_profile_and_pinned_requirements(
    register: Callable[..., ModelVersion], artifact_dir: Callable[[int], Path], settings: Settings
) -> None:
    import sklearn

    v = register()
    root = artifact_dir(v.version)
    assert root.is_relative_to(settings.home / "artifacts")
    files = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert {"MLmodel", "model.skops", "requirements.txt", "extra_files/reference_profile.json"} <= (
        files
    )
    assert not any(f.endswith((".pkl", ".pickle")) for f in files)
    assert f"scikit-learn=={sklearn.__version__}" in (root / "requirements.txt").read_text()
    profile = json.loads((root / "extra_files" / "reference_profile.json").read_text())
    assert profile["prediction"] == {"1": 0.63, "0": 0.37}


def test_nothing_lands_in_mlruns(
    register: Callable[..., ModelVersion], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    register()
    assert not (tmp_path / "mlruns").exists()


def test_register_writes_an_audit_event(
    registry: Registry, register: Callable[..., ModelVersion], audit: AuditTrail
) -> None:
    v = register(actor="ci-bot", reason="nightly retrain")
    (event,) = audit.events(action="model.registered")
    assert event.target == f"model:{registry.name}/1"
    assert event.actor == "ci-bot"
    assert event.reason == "nightly retrain"
    assert event.details["digest"] == v.digest
    assert event.details["run_id"] == v.run_id
    assert event.details["lineage"][TAG_PIPELINE_RUN] == "run-0001"
    assert audit.verify().ok


def test_to_dict_is_json_ready(register: Callable[..., ModelVersion]) -> None:
    v = register(alias="champion")
    out = json.loads(json.dumps(v.to_dict()))
    assert out["version"] == 1
    assert out["aliases"] == ["champion"]
    assert out["metrics"]["roc_auc"] == 0.991
    assert out["digest"] == v.digest
    assert datetime.fromisoformat(out["created_at"]) == v.created_at


def test_profile_with_numpy_values_is_stored(
    registry: Registry, register: Callable[..., ModelVersion]
) -> None:
    import numpy as np

    register(profile={"n": np.int64(3), "q": np.array([0.5, 1.5]), "when": datetime(2026, 1, 2)})
    assert registry.profile(1) == {"n": 3, "q": [0.5, 1.5], "when": "2026-01-02T00:00:00"}


def test_random_forest_registers_and_loads_with_trusted_types(
    registry: Registry,
    register: Callable[..., ModelVersion],
    data: tuple[pd.DataFrame, pd.Series],
    artifact_dir: Callable[[int], Path],
) -> None:
    X, y = data
    forest = RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0).fit(X, y)
    v = register(model=forest)
    assert "sklearn.tree._tree.Tree" in (artifact_dir(v.version) / "MLmodel").read_text()
    loaded = registry.load(v.version)
    assert (loaded.model.predict(X) == forest.predict(X)).all()


def test_failure_after_version_creation_leaves_no_version(
    registry: Registry,
    register: Callable[..., ModelVersion],
    audit: AuditTrail,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mlpilot.registry import _registry

    first = register(alias="champion")

    def broken(reg: Registry, version: int) -> str:
        raise OSError("disk full while hashing")

    monkeypatch.setattr(_registry, "_pin_digest", broken)
    with pytest.raises(RegistryError, match=r"version 2 .* failed: disk full.*was deleted") as info:
        register(alias="champion")
    assert isinstance(info.value.__cause__, OSError)

    assert [v.version for v in registry.list_versions()] == [1]
    assert registry.by_alias("champion") == first
    assert registry.champion_history() == []
    assert [e.action for e in audit.events()] == ["model.registered"]


def test_failure_after_moving_the_champion_restores_it(
    registry: Registry, register: Callable[..., ModelVersion], audit: AuditTrail
) -> None:
    first = register(alias="champion")
    with audit.store.engine.begin() as conn:  # a real failure of the last step: the audit
        conn.exec_driver_sql("DROP TABLE mlpilot_audit_events")
    with pytest.raises(RegistryError, match="no such table: mlpilot_audit_events"):
        register(alias="champion")
    assert [v.version for v in registry.list_versions()] == [1]
    assert registry.by_alias("champion") == first
    assert registry.champion_history() == []


@pytest.mark.parametrize(
    "lineage", [{"metric.auc": "1"}, {"mlflow.source": "x"}, {TAG_DIGEST: "0" * 64}]
)
def test_reserved_lineage_keys_are_refused(
    register: Callable[..., ModelVersion], registry: Registry, lineage: dict[str, str]
) -> None:
    with pytest.raises(RegistryError, match="is reserved"):
        register(lineage=lineage)
    assert registry.list_versions() == []


def test_non_numeric_metric_is_refused(register: Callable[..., ModelVersion]) -> None:
    with pytest.raises(RegistryError, match=r"metric 'auc' .* not a number"):
        register(metrics={"auc": "high"})


def test_unknown_run_is_refused(
    registry: Registry, model: object, data: tuple[pd.DataFrame, pd.Series]
) -> None:
    with pytest.raises(RegistryError, match="MLflow has no run 'nope'"):
        registry.register(
            model,
            run_id="nope",
            metrics={},
            lineage={},
            profile={},
            input_example=data[0].head(2),
            alias=None,
        )
    assert registry.list_versions() == []


def test_digest_tag_is_pinned_on_the_version(
    registry: Registry, register: Callable[..., ModelVersion]
) -> None:
    v = register()
    client = MlflowClient(registry_uri=registry.settings.tracking_uri)
    tags = client.get_model_version(registry.name, "1").tags
    assert tags[TAG_DIGEST] == v.digest
    manifest = json.loads(tags["mlpilot.manifest"])
    assert "model.skops" in manifest
    assert tags["metric.roc_auc"] == "0.991"
