"""Saving scikit-learn models into MLflow pickle-free (skops), and loading them back."""

from __future__ import annotations

import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

PROFILE_FILE = "reference_profile.json"
"""The reference profile's file name; MLflow stores it at ``extra_files/<name>``."""

PROFILE_PATH = f"extra_files/{PROFILE_FILE}"


def read_profile(directory: Path, ref: str) -> dict[str, Any]:
    """The reference profile in a (verified) copy of model ``ref``'s artifacts."""
    import json

    from mlpilot.errors import RegistryError

    path = directory / PROFILE_PATH
    if not path.is_file():
        raise RegistryError(
            f"model '{ref}' has no reference profile ({PROFILE_PATH}); it was not registered "
            "by mlpilot; register a new version with 'mlpilot run'"
        )
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise RegistryError(f"the reference profile of model '{ref}' is not an object")
    return data


def skops_trusted_types(model: Any) -> list[str]:
    """The types skops will not load unless trusted, for this model (e.g. a tree's ``Tree``).

    Trusting them here is sound because the list is written into the model's ``MLmodel``,
    which the pinned digest covers: a tampered list fails verification before any load.
    Costs one extra in-memory serialisation (and the skops.io import, which MLflow's skops
    format pays anyway).
    """
    import skops.io as sio

    return sorted(str(t) for t in sio.get_untrusted_types(data=sio.dumps(model)))


def pip_requirements() -> list[str]:
    """Pinned requirements to load the model again: MLflow, scikit-learn and skops."""
    return [f"{dist}=={metadata.version(dist)}" for dist in ("mlflow", "scikit-learn", "skops")]


def log_sklearn_model(
    model: Any,
    *,
    run_id: str,
    experiment_id: str,
    input_example: Any,
    extra_files: list[Path],
    trusted_types: list[str],
) -> str:
    """Log ``model`` under ``run_id`` with the skops format; returns its ``models:/m-...`` URI.

    The logged model is created in ``experiment_id`` explicitly, so its artifacts land under
    that experiment's artifact location whatever MLflow's active experiment is.
    """
    import mlflow
    import mlflow.sklearn

    logged = mlflow.initialize_logged_model(
        name="model", source_run_id=run_id, experiment_id=experiment_id
    )
    with warnings.catch_warnings():
        # e.g. "Hint: Inferred schema contains integer column(s)" for every classifier
        warnings.filterwarnings("ignore", category=UserWarning, module=r"mlflow\.")
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            serialization_format="skops",
            skops_trusted_types=trusted_types or None,
            pip_requirements=pip_requirements(),
            input_example=input_example,
            extra_files=[str(p) for p in extra_files],
            run_id=run_id,
            model_id=logged.model_id,
        )
    return str(info.model_uri)


def load_sklearn_model(local_dir: Path) -> Any:
    """Deserialise a model from a local MLflow model directory (already verified)."""
    import mlflow.sklearn

    return mlflow.sklearn.load_model(str(local_dir))
