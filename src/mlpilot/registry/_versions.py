"""The registry's values: a model version, and a model loaded after verification."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from mlpilot.tracking import TAG_DIGEST

CHAMPION = "champion"
CHALLENGER = "challenger"
Alias = Literal["champion", "challenger"]

METRIC_TAG_PREFIX = "metric."
TAG_MANIFEST = "mlpilot.manifest"
"""On a model version: JSON ``{path: sha256}`` of its files, to name the first that differs."""

TAG_CHAMPION_HISTORY = "mlpilot.champion_history"
"""On the registered model: JSON list of earlier champions, oldest first (rollback pops it)."""

RESERVED_TAGS = frozenset({TAG_DIGEST, TAG_MANIFEST})


@dataclass(frozen=True)
class ModelVersion:
    """One immutable version of the project's registered model.

    ``digest`` is the sha256 pinned at registration (``None`` only for a version mlpilot did
    not register, which :meth:`Registry.load` refuses). ``lineage`` holds the version's other
    tags (pipeline run, data snapshot, schema version, code commit, ...); ``metrics`` the
    evaluation metrics recorded with it.
    """

    name: str
    version: int
    aliases: tuple[str, ...]
    run_id: str | None
    digest: str | None
    metrics: dict[str, float]
    lineage: dict[str, str]
    created_at: datetime
    source: str

    @property
    def ref(self) -> str:
        """``name/version``, as audit targets and messages name it."""
        return f"{self.name}/{self.version}"

    @property
    def is_champion(self) -> bool:
        return CHAMPION in self.aliases

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form for ``--json`` output and the API."""
        return {
            "name": self.name,
            "version": self.version,
            "aliases": list(self.aliases),
            "run_id": self.run_id,
            "digest": self.digest,
            "metrics": dict(self.metrics),
            "lineage": dict(self.lineage),
            "created_at": self.created_at.isoformat(),
            "source": self.source,
        }

    @classmethod
    def from_mlflow(cls, mv: Any, aliases: tuple[str, ...] = ()) -> ModelVersion:
        """Build from an ``mlflow.entities.model_registry.ModelVersion``."""
        tags: dict[str, str] = dict(mv.tags or {})
        metrics: dict[str, float] = {}
        lineage: dict[str, str] = {}
        for key, value in sorted(tags.items()):
            if key.startswith(METRIC_TAG_PREFIX):
                try:
                    metrics[key.removeprefix(METRIC_TAG_PREFIX)] = float(value)
                except ValueError:
                    continue
            elif key not in RESERVED_TAGS and not key.startswith("mlflow."):
                lineage[key] = value
        return cls(
            name=str(mv.name),
            version=int(mv.version),
            aliases=tuple(sorted(aliases or tuple(getattr(mv, "aliases", None) or ()))),
            run_id=mv.run_id or None,
            digest=tags.get(TAG_DIGEST),
            metrics=metrics,
            lineage=lineage,
            created_at=datetime.fromtimestamp(int(mv.creation_timestamp) / 1000, tz=UTC),
            source=str(mv.source),
        )


@dataclass(frozen=True)
class LoadedModel:
    """A model deserialised after its artifacts matched the pinned digest.

    ``path`` is a private local copy of the verified artifacts (the bytes that were
    deserialised); it is removed when this object is garbage-collected.
    """

    model: Any
    version: ModelVersion
    path: Path = field(compare=False)

    def profile(self) -> dict[str, Any]:
        """The reference profile from the same verified copy (no second download or hash)."""
        from mlpilot.registry._sklearn import read_profile

        return read_profile(self.path, self.version.ref)


@dataclass(frozen=True)
class StagedModel:
    """A model logged to MLflow with its reference profile, hashed, and not registered.

    ``source`` is the logged model (``models:/m-...``) in the tracking store at
    ``tracking_uri``; ``artifact_uri`` is where its files are; ``digest`` their sha256 as
    :meth:`Registry.load` computes it; ``run_id`` the MLflow run that trained it.
    :meth:`Registry.register_staged` registers exactly these files.
    """

    source: str
    artifact_uri: str
    digest: str
    run_id: str
    tracking_uri: str
    skops_trusted_types: tuple[str, ...] = ()
