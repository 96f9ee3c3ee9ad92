"""Registry: versions of the project's model, the ``champion`` / ``challenger`` aliases, and
loading that verifies artifact digests first.

Built on MLflow's model registry; the registered model is named after the project. A version
is immutable once registered: its scikit-learn model is saved with skops (no pickle), its
training data's reference profile is stored among its artifacts, and a sha256 digest over all
of its files is pinned as a version tag. :meth:`Registry.load` and :meth:`Registry.profile`
recompute that digest on a private copy and raise :class:`~mlpilot.errors.IntegrityError`
before deserialising anything that does not match::

    registry = Registry(settings, AuditTrail(store))
    version = registry.register(model, run_id=run.run_id, metrics=..., lineage=...,
                                profile=..., input_example=X.head(5), alias="challenger")
    registry.promote(version.version, reason="canary passed")
    champion = registry.load("champion").model

:meth:`Registry.stage` logs a candidate without registering it (``mlpilot ci`` checks it first);
:meth:`Registry.register_staged` registers those very files later, refusing them if their digest
changed. Every change (register, promote, rollback, alias moves, failed verification) writes an
audit event.
"""

from mlpilot.registry._digest import digest_dir
from mlpilot.registry._registry import Registry
from mlpilot.registry._versions import (
    CHALLENGER,
    CHAMPION,
    Alias,
    LoadedModel,
    ModelVersion,
    StagedModel,
)

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "Alias",
    "LoadedModel",
    "ModelVersion",
    "Registry",
    "StagedModel",
    "digest_dir",
]
