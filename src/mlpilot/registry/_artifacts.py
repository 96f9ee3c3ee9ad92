"""Where a model's files are: fetching them to a private directory, and the profile's JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlpilot.errors import RegistryError

if TYPE_CHECKING:
    from mlpilot.registry._registry import Registry


def _fetch(registry: Registry, version: int, dst: Path) -> tuple[Path | None, str]:
    """Copy (local store) or download (remote store) a version's artifacts into ``dst``.

    Goes through the artifacts' own URI, never a ``models:/`` URI, so MLflow writes nothing
    into the store. Returns ``(local_dir, uri)``; ``local_dir`` is ``None`` when the
    artifacts are gone from a local store.
    """
    client = registry._client
    uri = str(client.get_model_version_download_uri(registry.name, str(version)))
    local_source = _local_path(uri)
    if local_source is not None and not local_source.is_dir():
        return None, uri
    try:
        local = _download(registry, uri, dst)
    except Exception as exc:
        raise RegistryError(
            f"could not fetch the artifacts of model '{registry.name}/{version}' from {uri}: "
            f"{_message(exc)}; check that the artifact store is reachable"
        ) from exc
    return local, uri


def _download(registry: Registry, uri: str, dst: Path) -> Path:
    """Copy (local store) or download (remote store) the artifact directory ``uri`` to ``dst``."""
    import mlflow.artifacts

    local = mlflow.artifacts.download_artifacts(
        artifact_uri=uri, dst_path=str(dst), tracking_uri=registry.settings.tracking_uri
    )
    return Path(local)


def _model_id(source: str) -> str:
    """The logged model's id in a ``models:/m-...`` URI."""
    return source.removeprefix("models:/").split("/", 1)[0]


def _local_path(uri: str) -> Path | None:
    from urllib.parse import unquote, urlparse

    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "" and uri:
        return Path(uri)
    return None


def _message(exc: BaseException) -> str:
    return str(getattr(exc, "message", None) or exc) or type(exc).__name__


def _profile_json(profile: Mapping[str, Any], name: str) -> str:
    try:
        return json.dumps(dict(profile), indent=2, sort_keys=True, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise RegistryError(
            f"the reference profile of model '{name}' is not JSON-serialisable: {exc}; pass "
            "plain dicts, lists, strings and numbers"
        ) from exc


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    for attr in ("tolist", "item"):  # numpy arrays and scalars, pandas scalars
        convert = getattr(value, attr, None)
        if callable(convert):
            return convert()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")
