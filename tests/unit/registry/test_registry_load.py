"""Verified loading: the digest is checked on a private copy before anything is deserialised."""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient
from sklearn.pipeline import Pipeline

from mlpilot.errors import IntegrityError, ModelNotFoundError
from mlpilot.governance import AuditTrail
from mlpilot.registry import ModelVersion, Registry, digest_dir

Data = tuple[pd.DataFrame, pd.Series]


def test_load_verifies_and_predicts(
    registry: Registry, register: Callable[..., ModelVersion], model: Pipeline, data: Data
) -> None:
    X, _ = data
    v = register(alias="champion")
    for ref in (1, "1", "champion"):
        loaded = registry.load(ref)
        assert loaded.version == v
        assert (loaded.model.predict(X) == model.predict(X)).all()
        assert (loaded.path / "model.skops").is_file()


def test_load_reads_a_private_copy_and_leaves_the_store_untouched(
    registry: Registry, register: Callable[..., ModelVersion], artifact_dir: Callable[[int], Path]
) -> None:
    v = register()
    store_dir = artifact_dir(v.version)
    files_before = sorted(p.name for p in store_dir.iterdir())
    loaded = registry.load(v.version)
    assert not loaded.path.is_relative_to(store_dir)
    assert digest_dir(loaded.path) == v.digest
    assert sorted(p.name for p in store_dir.iterdir()) == files_before  # nothing written
    private = loaded.path
    del loaded
    gc.collect()
    assert not private.exists()


def test_unknown_refs_are_not_found(
    registry: Registry, register: Callable[..., ModelVersion]
) -> None:
    register()
    with pytest.raises(ModelNotFoundError, match=r"model '.*' has no version 9"):
        registry.load(9)
    with pytest.raises(ModelNotFoundError, match=r"no version of model '.*' has the alias 'champ"):
        registry.load("champion")


def test_a_changed_byte_is_refused_and_audited(
    registry: Registry,
    register: Callable[..., ModelVersion],
    artifact_dir: Callable[[int], Path],
    audit: AuditTrail,
) -> None:
    v = register()
    skops_file = artifact_dir(v.version) / "model.skops"
    blob = bytearray(skops_file.read_bytes())
    blob[len(blob) // 2] ^= 0x01
    skops_file.write_bytes(bytes(blob))

    with pytest.raises(IntegrityError) as info:
        registry.load(v.version, actor="serving")
    message = str(info.value)
    assert f"model '{registry.name}/1' failed verification" in message
    assert f"expected {v.digest}" in message
    assert f"found {digest_dir(skops_file.parent)}" in message
    assert "first difference: model.skops (changed)" in message
    assert "register a new version" in message

    (event,) = audit.events(action="model.integrity_failed")
    assert event.target == f"model:{registry.name}/1"
    assert event.actor == "serving"
    assert event.details["expected"] == v.digest
    assert event.details["first_difference"] == "model.skops (changed)"


def test_an_added_file_is_refused(
    registry: Registry, register: Callable[..., ModelVersion], artifact_dir: Callable[[int], Path]
) -> None:
    v = register()
    (artifact_dir(v.version) / "extra_files" / "payload.py").write_text("print('hi')\n")
    with pytest.raises(IntegrityError, match=r"first difference: extra_files/payload.py \(added\)"):
        registry.load(v.version)


def test_a_removed_file_is_refused(
    registry: Registry, register: Callable[..., ModelVersion], artifact_dir: Callable[[int], Path]
) -> None:
    v = register()
    (artifact_dir(v.version) / "requirements.txt").unlink()
    with pytest.raises(IntegrityError, match=r"first difference: requirements.txt \(missing\)"):
        registry.load(v.version)


def test_a_renamed_file_is_refused(
    registry: Registry, register: Callable[..., ModelVersion], artifact_dir: Callable[[int], Path]
) -> None:
    v = register()
    root = artifact_dir(v.version)
    (root / "conda.yaml").rename(root / "conda.yml")
    with pytest.raises(IntegrityError, match=r"first difference: conda.yaml \(missing\)"):
        registry.load(v.version)


def test_vanished_artifacts_are_refused(
    registry: Registry, register: Callable[..., ModelVersion], artifact_dir: Callable[[int], Path]
) -> None:
    import shutil

    v = register()
    shutil.rmtree(artifact_dir(v.version))
    with pytest.raises(IntegrityError, match=r"first difference: MLmodel \(missing\)"):
        registry.load(v.version)


def test_a_missing_digest_tag_is_refused(
    registry: Registry, register: Callable[..., ModelVersion], audit: AuditTrail
) -> None:
    v = register()
    client = MlflowClient(registry_uri=registry.settings.tracking_uri)
    client.delete_model_version_tag(registry.name, str(v.version), "mlpilot.digest")
    with pytest.raises(IntegrityError, match="has no pinned digest"):
        registry.load(v.version)
    (event,) = audit.events(action="model.integrity_failed")
    assert event.details["expected"] is None


def test_mlflow_models_uri_downloads_do_not_break_verification(
    registry: Registry, register: Callable[..., ModelVersion], artifact_dir: Callable[[int], Path]
) -> None:
    """MLflow writes ``registered_model_meta`` into a local store on every models:/ download."""
    import mlflow.artifacts

    v = register(alias="champion")
    mlflow.artifacts.download_artifacts(f"models:/{registry.name}@champion")
    assert (artifact_dir(v.version) / "registered_model_meta").is_file()
    assert registry.load("champion").version == v


def test_profile_is_verified_too(
    registry: Registry, register: Callable[..., ModelVersion], artifact_dir: Callable[[int], Path]
) -> None:
    v = register()
    profile = registry.profile(v.version)
    assert profile["features"]["mean radius"]["nulls"] == 0.0
    assert registry.verify(v.version) == v
    assert registry.load(v.version).profile() == profile  # from the loaded, verified copy

    stored = artifact_dir(v.version) / "extra_files" / "reference_profile.json"
    stored.write_text(stored.read_text().replace("0.63", "0.99"))
    with pytest.raises(IntegrityError, match=r"extra_files/reference_profile.json \(changed\)"):
        registry.profile(v.version)
    with pytest.raises(IntegrityError):
        registry.verify(v.version)
