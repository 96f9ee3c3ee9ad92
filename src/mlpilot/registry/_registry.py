"""The project's registered model in MLflow: versions, aliases, verified loading, lineage."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from mlpilot.config import Settings
from mlpilot.errors import IntegrityError, MlpilotError, ModelNotFoundError, RegistryError
from mlpilot.governance import AuditTrail
from mlpilot.registry._artifacts import _download, _fetch, _message, _model_id, _profile_json
from mlpilot.registry._digest import digest_of, first_difference, manifest_of
from mlpilot.registry._sklearn import (
    PROFILE_FILE,
    load_sklearn_model,
    log_sklearn_model,
    read_profile,
    skops_trusted_types,
)
from mlpilot.registry._versions import (
    CHALLENGER,
    CHAMPION,
    METRIC_TAG_PREFIX,
    RESERVED_TAGS,
    TAG_CHAMPION_HISTORY,
    TAG_MANIFEST,
    Alias,
    LoadedModel,
    ModelVersion,
    StagedModel,
)
from mlpilot.tracking import TAG_DIGEST, configure, mlflow_client

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

_log = logging.getLogger(__name__)

_MAX_HISTORY = 200  # champion history entries kept (the tag holds at most 5000 characters)
_NOT_FOUND = frozenset({"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"})
_LIST = "run 'mlpilot models' to see the registered versions"

Undo = list[Callable[[], None]]


class Registry:
    """Versions of the project's model (named after ``settings.project.name``) in MLflow.

    Registering pins a sha256 digest of the version's artifact files; :meth:`load` and
    :meth:`profile` recompute it on a private copy of the files and refuse to deserialise
    anything that does not match. Aliases ``champion`` and ``challenger`` move (through
    :meth:`promote`, :meth:`rollback`, :meth:`set_alias`), versions never change. Every change
    writes an audit event to ``audit``.
    """

    def __init__(self, settings: Settings, audit: AuditTrail) -> None:
        self.settings = settings
        self.audit = audit
        self.name = settings.project.name
        self._mlflow: MlflowClient | None = None

    def __repr__(self) -> str:
        return f"Registry(name={self.name!r}, tracking_uri={self.settings.tracking_uri!r})"

    @property
    def _client(self) -> MlflowClient:
        if self._mlflow is None:
            self._mlflow = mlflow_client(self.settings)
        return self._mlflow

    # ----------------------------------------------------------------------------- register

    def register(
        self,
        model: Any,
        *,
        run_id: str,
        metrics: Mapping[str, float],
        lineage: Mapping[str, str],
        profile: Mapping[str, Any],
        input_example: pd.DataFrame,
        alias: Alias | None = None,
        actor: str | None = None,
        reason: str | None = None,
    ) -> ModelVersion:
        """Log ``model`` under the MLflow run ``run_id`` and register it as a new version.

        The model is saved with skops (no pickle), its pip requirements pinned; ``profile``
        (the training data's reference profile) is stored as a JSON file among the model's
        artifacts. The version is tagged with ``lineage`` (as given) and ``metrics`` (as
        ``metric.<name>``), its digest is pinned, then ``alias`` is set if asked (moving
        ``champion`` records the previous one for :meth:`rollback`). If any step after the
        version was created fails, the version is deleted again and the error re-raised.
        Writes the audit event ``model.registered``.
        """
        _check_alias(alias)
        tags = self._version_tags(metrics, lineage)
        source, trusted = self._log(model, run_id, profile, input_example)
        return self._create_version(
            source,
            run_id=run_id,
            tags=tags,
            lineage=lineage,
            alias=alias,
            actor=actor,
            reason=reason,
            details={"skops_trusted_types": trusted},
        )

    def stage(
        self,
        model: Any,
        *,
        run_id: str,
        profile: Mapping[str, Any],
        input_example: pd.DataFrame,
    ) -> StagedModel:
        """Log ``model`` under the MLflow run ``run_id`` exactly as :meth:`register` does, and
        hash its artifacts, but register no version: a candidate still under test.

        :meth:`register_staged` registers it later, in this registry or in another one (a
        throw-away registry that checks it), and refuses if its files changed meanwhile.
        """
        source, trusted = self._log(model, run_id, profile, input_example)
        try:
            artifact_uri = str(self._client.get_logged_model(_model_id(source)).artifact_location)
            with tempfile.TemporaryDirectory(prefix=f"mlpilot-{self.name}-stage-") as tmp:
                local = _download(self, artifact_uri, Path(tmp))
                digest = digest_of(manifest_of(local))
        except MlpilotError:
            raise
        except Exception as exc:
            raise RegistryError(
                f"could not read back the candidate of model '{self.name}' just logged to run "
                f"{run_id} ({source}): {_message(exc)}; check that the artifact store is reachable"
            ) from exc
        return StagedModel(
            source=source,
            artifact_uri=artifact_uri,
            digest=digest,
            run_id=run_id,
            tracking_uri=self.settings.tracking_uri,
            skops_trusted_types=tuple(trusted),
        )

    def register_staged(
        self,
        staged: StagedModel,
        *,
        metrics: Mapping[str, float],
        lineage: Mapping[str, str],
        alias: Alias | None = None,
        actor: str | None = None,
        reason: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> ModelVersion:
        """Register a model :meth:`stage` logged, byte for byte, as a new version.

        In the registry whose tracking store holds the logged model, the version's source is
        that logged model and its run is the one that trained it, as with :meth:`register`. In
        another registry (a throw-away one in a temporary directory) the version points at the
        same artifact files and has no run. Either way the digest is computed again from the
        files and must equal ``staged.digest``: if the files changed since they were staged,
        :class:`IntegrityError` is raised and no version remains. ``details`` are added to the
        ``model.registered`` audit event.
        """
        _check_alias(alias)
        tags = self._version_tags(metrics, lineage)
        here = staged.tracking_uri == self.settings.tracking_uri
        return self._create_version(
            staged.source if here else staged.artifact_uri,
            run_id=staged.run_id if here else None,
            tags=tags,
            lineage=lineage,
            alias=alias,
            actor=actor,
            reason=reason,
            details={
                "skops_trusted_types": list(staged.skops_trusted_types),
                "staged_in_run": staged.run_id,
                **dict(details or {}),
            },
            expected_digest=staged.digest,
        )

    def _log(
        self,
        model: Any,
        run_id: str,
        profile: Mapping[str, Any],
        input_example: pd.DataFrame,
    ) -> tuple[str, list[str]]:
        """Save ``model`` with its profile into the run ``run_id``; ``(source, trusted types)``."""
        profile_json = _profile_json(profile, self.name)
        try:
            configure(self.settings)
            experiment_id = self._run_experiment(run_id)
            trusted = skops_trusted_types(model)
            with tempfile.TemporaryDirectory(prefix="mlpilot-profile-") as tmp:
                profile_file = Path(tmp) / PROFILE_FILE
                profile_file.write_text(profile_json, encoding="utf-8")
                source = log_sklearn_model(
                    model,
                    run_id=run_id,
                    experiment_id=experiment_id,
                    input_example=input_example,
                    extra_files=[profile_file],
                    trusted_types=trusted,
                )
        except MlpilotError:
            raise
        except Exception as exc:
            raise RegistryError(
                f"could not register a new version of model '{self.name}' from run {run_id}: "
                f"{_message(exc)}; nothing was registered; fix the cause and run again"
            ) from exc
        return source, trusted

    def _create_version(
        self,
        source: str,
        *,
        run_id: str | None,
        tags: dict[str, str],
        lineage: Mapping[str, str],
        alias: Alias | None,
        actor: str | None,
        reason: str | None,
        details: Mapping[str, Any],
        expected_digest: str | None = None,
    ) -> ModelVersion:
        """Create the version, pin its digest, set ``alias``, audit; undo it all on a failure."""
        try:
            # MLflow resolves a ``models:/m-...`` source through the global tracking URI.
            configure(self.settings)
            self._ensure_registered_model()
            created = self._client.create_model_version(
                self.name, source=source, run_id=run_id, tags=tags
            )
        except MlpilotError:
            raise
        except Exception as exc:
            raise RegistryError(
                f"could not register a new version of model '{self.name}' from run {run_id}: "
                f"{_message(exc)}; nothing was registered; fix the cause and run again"
            ) from exc

        version = int(created.version)
        undo: Undo = []
        try:
            if expected_digest is None:
                digest = _pin_digest(self, version)
            else:
                digest = _pin_digest(self, version, expected=expected_digest)
            previous = None
            if alias == CHAMPION:
                previous = self._move_champion(self.get(version), undo)
            elif alias == CHALLENGER:
                held = self.by_alias(CHALLENGER)
                self._client.set_registered_model_alias(self.name, CHALLENGER, str(version))
                undo.append(lambda: self._restore_alias(CHALLENGER, held))
            registered = self.get(version)
            self.audit.record(
                "model.registered",
                target=_target(registered),
                actor=actor,
                reason=reason,
                details={
                    "digest": digest,
                    "run_id": run_id,
                    "source": source,
                    "lineage": dict(lineage),
                    "metrics": registered.metrics,
                    "alias": alias,
                    "previous_champion": previous,
                    **dict(details),
                },
            )
        except BaseException as exc:
            self._discard(version, undo)
            if isinstance(exc, MlpilotError) or not isinstance(exc, Exception):
                raise
            raise RegistryError(
                f"registering version {version} of model '{self.name}' failed: "
                f"{_message(exc)}; the version was deleted again so nothing half-registered "
                "remains; fix the cause and run again"
            ) from exc
        return registered

    def _version_tags(
        self, metrics: Mapping[str, float], lineage: Mapping[str, str]
    ) -> dict[str, str]:
        tags: dict[str, str] = {}
        for key, value in lineage.items():
            if key in RESERVED_TAGS or key.startswith((METRIC_TAG_PREFIX, "mlflow.")):
                raise RegistryError(
                    f"lineage key {key!r} is reserved (mlpilot writes it itself); rename it"
                )
            tags[str(key)] = str(value)
        for name, metric in metrics.items():
            try:
                number = float(metric)
            except (TypeError, ValueError) as exc:
                raise RegistryError(
                    f"metric {name!r} of model '{self.name}' is {metric!r}, not a number; pass "
                    "metrics as {name: float}"
                ) from exc
            tags[f"{METRIC_TAG_PREFIX}{name}"] = repr(number)
        return tags

    def _run_experiment(self, run_id: str) -> str:
        from mlflow.exceptions import MlflowException

        try:
            run = self._client.get_run(run_id)
        except MlflowException as exc:
            if exc.error_code in _NOT_FOUND:
                raise RegistryError(
                    f"cannot register model '{self.name}': MLflow has no run {run_id!r}; pass "
                    "the run_id of the run that trained the model"
                ) from exc
            raise
        return str(run.info.experiment_id)

    def _ensure_registered_model(self) -> None:
        from mlflow.exceptions import MlflowException

        client = self._client
        try:
            client.get_registered_model(self.name)
            return
        except MlflowException as exc:
            if exc.error_code not in _NOT_FOUND:
                raise
        try:
            client.create_registered_model(
                self.name, description=self.settings.project.description or None
            )
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":  # created concurrently: fine
                raise

    def _discard(self, version: int, undo: Undo) -> None:
        """Best effort: undo alias moves, then delete the half-registered version."""
        for step in reversed(undo):
            try:
                step()
            except Exception:
                _log.warning("could not undo an alias change of %s", self.name, exc_info=True)
        try:
            self._client.delete_model_version(self.name, str(version))
        except Exception:
            _log.warning(
                "could not delete the half-registered version %s of %s; it has no pinned digest, "
                "so it will never load",
                version,
                self.name,
                exc_info=True,
            )

    # ------------------------------------------------------------------------------ reading

    def list_versions(self) -> list[ModelVersion]:
        """Every version, newest first; empty when the model is not registered yet."""
        from mlflow.exceptions import MlflowException

        client = self._client
        found: list[Any] = []
        token: str | None = None
        try:
            while True:
                page = client.search_model_versions(
                    f"name = '{self.name}'", max_results=1000, page_token=token
                )
                found.extend(page)
                token = page.token
                if not token:
                    break
            by_version = self._aliases_by_version()
        except MlflowException as exc:
            raise self._failed("list the versions", exc) from exc
        versions = [
            ModelVersion.from_mlflow(mv, by_version.get(int(mv.version), ())) for mv in found
        ]
        return sorted(versions, key=lambda v: v.version, reverse=True)

    def get(self, version: int) -> ModelVersion:
        """Version ``version``; :class:`ModelNotFoundError` when there is no such version."""
        from mlflow.exceptions import MlflowException

        try:
            mv = self._client.get_model_version(self.name, str(int(version)))
        except MlflowException as exc:
            if exc.error_code in _NOT_FOUND:
                raise ModelNotFoundError(
                    f"model '{self.name}' has no version {version}; {_LIST}"
                ) from exc
            raise self._failed(f"read version {version}", exc) from exc
        return ModelVersion.from_mlflow(mv, tuple(mv.aliases or ()))

    def by_alias(self, alias: str) -> ModelVersion | None:
        """The version holding ``alias``, or ``None`` when no version holds it."""
        from mlflow.exceptions import MlflowException

        try:
            mv = self._client.get_model_version_by_alias(self.name, alias)
        except MlflowException as exc:
            if exc.error_code in _NOT_FOUND or exc.error_code == "INVALID_PARAMETER_VALUE":
                return None
            raise self._failed(f"resolve the alias '{alias}'", exc) from exc
        return ModelVersion.from_mlflow(mv, tuple(mv.aliases or ()))

    def resolve(self, ref: int | str) -> ModelVersion:
        """A version number (``3`` or ``"3"``) or an alias name (``"champion"``) to a version."""
        if isinstance(ref, int) or ref.isdigit():
            return self.get(int(ref))
        found = self.by_alias(ref)
        if found is None:
            raise ModelNotFoundError(
                f"no version of model '{self.name}' has the alias '{ref}'; {_LIST}, and "
                "promote one with 'mlpilot promote VERSION --reason TEXT'"
            )
        return found

    # ---------------------------------------------------------------------- verified access

    def load(self, ref: int | str, *, actor: str | None = None) -> LoadedModel:
        """Load version ``ref`` (number or alias) after verifying its artifacts' digest.

        The artifacts are copied (or downloaded) to a private directory, hashed there and
        compared with the digest pinned at registration, and only then deserialised from that
        same copy. On a mismatch (a changed byte, an added or removed file, a missing digest)
        the audit event ``model.integrity_failed`` is written and :class:`IntegrityError`
        raised.
        """
        version = self.resolve(ref)
        tmp = Path(tempfile.mkdtemp(prefix=f"mlpilot-{self.name}-v{version.version}-"))
        try:
            local = self._verified_copy(version, tmp, actor)
            try:
                model = load_sklearn_model(local)
            except Exception as exc:
                raise RegistryError(
                    f"model '{version.ref}' matched its digest but could not be loaded: "
                    f"{_message(exc)}; check that scikit-learn, skops and MLflow versions match "
                    f"the ones it was registered with (see {local / 'requirements.txt'})"
                ) from exc
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        loaded = LoadedModel(model=model, version=version, path=local)
        weakref.finalize(loaded, shutil.rmtree, tmp, True)
        return loaded

    def profile(self, ref: int | str, *, actor: str | None = None) -> dict[str, Any]:
        """The reference profile stored with version ``ref``, after verifying its digest."""
        version = self.resolve(ref)
        with self._verified(version, actor) as local:
            return read_profile(local, version.ref)

    def verify(self, ref: int | str, *, actor: str | None = None) -> ModelVersion:
        """Check version ``ref``'s artifacts against its digest without loading them."""
        version = self.resolve(ref)
        with self._verified(version, actor):
            return version

    @contextmanager
    def _verified(self, version: ModelVersion, actor: str | None) -> Iterator[Path]:
        with tempfile.TemporaryDirectory(prefix=f"mlpilot-{self.name}-") as tmp:
            yield self._verified_copy(version, Path(tmp), actor)

    def _verified_copy(self, version: ModelVersion, dst: Path, actor: str | None) -> Path:
        local, uri = _fetch(self, version.version, dst)
        found_manifest = manifest_of(local) if local is not None else {}
        found = digest_of(found_manifest)
        if version.digest is not None and found == version.digest:
            assert local is not None  # an empty manifest never matches a pinned digest
            return local
        raise self._integrity_failed(version, found, found_manifest, uri, actor)

    def _integrity_failed(
        self,
        version: ModelVersion,
        found: str,
        found_manifest: Mapping[str, str],
        uri: str,
        actor: str | None,
    ) -> IntegrityError:
        """Record ``model.integrity_failed`` and build the error that says what differs."""
        pinned = self._pinned_manifest(version.version)
        if version.digest is None:
            problem = "it has no pinned digest (its registration never finished)"
            difference = None
        else:
            problem = (
                f"its artifacts do not match the digest pinned at registration (expected "
                f"{version.digest}, found {found})"
            )
            difference = first_difference(pinned, found_manifest) if pinned is not None else None
        first = f"; first difference: {difference}" if difference else ""
        self.audit.record(
            "model.integrity_failed",
            target=_target(version),
            actor=actor,
            details={
                "expected": version.digest,
                "found": found,
                "first_difference": difference,
                "artifacts": uri,
            },
        )
        return IntegrityError(
            f"model '{version.ref}' failed verification: {problem}{first}. The files at {uri} "
            "changed after registration; it was not loaded. Restore the original files, or "
            "register a new version with 'mlpilot run' and promote it; "
            f"{_LIST}"
        )

    def _pinned_manifest(self, version: int) -> dict[str, str] | None:
        try:
            mv = self._client.get_model_version(self.name, str(version))
            raw = (mv.tags or {}).get(TAG_MANIFEST)
            data = json.loads(raw) if raw else None
        except Exception:
            return None
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else None

    # ------------------------------------------------------------------------------ aliases

    def promote(self, version: int, *, reason: str, actor: str | None = None) -> ModelVersion:
        """Make ``version`` the champion; it loses ``challenger`` if it held it.

        The previous champion is remembered so that :meth:`rollback` can return to it. A
        no-op when ``version`` already is the champion. Writes ``model.promoted``.
        """
        reason = _require_reason(reason, "promote")
        target = self.get(version)
        if target.is_champion:
            return target
        undo: Undo = []
        try:
            previous = self._move_champion(target, undo)
            self.audit.record(
                "model.promoted",
                target=_target(target),
                actor=actor,
                reason=reason,
                details={
                    "from_version": previous,
                    "to_version": target.version,
                    "challenger_removed": CHALLENGER in target.aliases,
                },
            )
        except BaseException as exc:
            self._undo(undo)
            self._reraise(exc, f"promote version {version}")
        return self.get(version)

    def rollback(self, *, reason: str, actor: str | None = None) -> ModelVersion:
        """Give ``champion`` back to the previous champion; writes ``model.rolled_back``.

        Raises :class:`RegistryError` when no earlier champion is recorded.
        """
        reason = _require_reason(reason, "roll back")
        current = self.by_alias(CHAMPION)
        history = self._history()
        remaining = list(history)
        target: ModelVersion | None = None
        while remaining:
            candidate = remaining.pop()
            if current is not None and candidate == current.version:
                continue
            try:
                target = self.get(candidate)
            except ModelNotFoundError:
                continue  # that version was deleted since
            break
        if target is None:
            now = f" (the champion is version {current.version})" if current else ""
            raise RegistryError(
                f"model '{self.name}' has no earlier champion to roll back to{now}; promote a "
                f"version explicitly with 'mlpilot promote VERSION --reason TEXT'; {_LIST}"
            )
        chosen: ModelVersion = target
        undo: Undo = []
        client = self._client
        try:
            self._write_history(remaining)
            undo.append(lambda: self._write_history(history))
            client.set_registered_model_alias(self.name, CHAMPION, str(chosen.version))
            undo.append(lambda: self._restore_alias(CHAMPION, current))
            if CHALLENGER in chosen.aliases:
                client.delete_registered_model_alias(self.name, CHALLENGER)
                undo.append(lambda: self._restore_alias(CHALLENGER, chosen))
            self.audit.record(
                "model.rolled_back",
                target=_target(chosen),
                actor=actor,
                reason=reason,
                details={
                    "from_version": current.version if current else None,
                    "to_version": chosen.version,
                },
            )
        except BaseException as exc:
            self._undo(undo)
            self._reraise(exc, "roll back")
        return self.get(chosen.version)

    def set_alias(
        self,
        alias: str,
        version: int,
        *,
        reason: str | None = None,
        actor: str | None = None,
    ) -> ModelVersion:
        """Point ``challenger`` at ``version``; writes ``model.alias_set``.

        ``champion`` moves only through :meth:`promote` (it keeps the rollback history).
        """
        self._check_settable(alias)
        target = self.get(version)
        if target.is_champion:
            raise RegistryError(
                f"version {version} of model '{self.name}' is the champion; it cannot also be "
                "the challenger; register a new version for the release"
            )
        if alias in target.aliases:
            return target
        previous = self.by_alias(alias)
        client = self._client
        try:
            client.set_registered_model_alias(self.name, alias, str(version))
            self.audit.record(
                "model.alias_set",
                target=_target(target),
                actor=actor,
                reason=reason,
                details={
                    "alias": alias,
                    "from_version": previous.version if previous else None,
                    "to_version": version,
                },
            )
        except BaseException as exc:
            self._undo([lambda: self._restore_alias(alias, previous)])
            self._reraise(exc, f"set the alias '{alias}'")
        return self.get(version)

    def remove_alias(
        self, alias: str, *, reason: str | None = None, actor: str | None = None
    ) -> ModelVersion | None:
        """Remove ``challenger`` (e.g. after a failed release); returns the version that held it.

        Writes ``model.alias_removed``; ``None`` (and no event) when no version held it.
        """
        self._check_settable(alias)
        holder = self.by_alias(alias)
        if holder is None:
            return None
        try:
            self._client.delete_registered_model_alias(self.name, alias)
            self.audit.record(
                "model.alias_removed",
                target=_target(holder),
                actor=actor,
                reason=reason,
                details={"alias": alias, "version": holder.version},
            )
        except BaseException as exc:
            self._undo([lambda: self._restore_alias(alias, holder)])
            self._reraise(exc, f"remove the alias '{alias}'")
        return self.get(holder.version)

    def champion_history(self) -> list[int]:
        """Earlier champions, oldest first: where successive rollbacks would go."""
        return self._history()

    def _check_settable(self, alias: str) -> None:
        if alias == CHAMPION:
            raise RegistryError(
                "the champion moves only by promotion, which records the rollback history and "
                "a reason: use 'mlpilot promote VERSION --reason TEXT' (Registry.promote)"
            )
        if alias != CHALLENGER:
            raise RegistryError(
                f"unknown alias {alias!r}: mlpilot's aliases are 'champion' and 'challenger'"
            )

    def _move_champion(self, target: ModelVersion, undo: Undo) -> int | None:
        """Point ``champion`` at ``target``, pushing the previous champion onto the history."""
        client = self._client
        current = self.by_alias(CHAMPION)
        history = self._history()
        if current is not None and current.version != target.version:
            self._write_history([*history, current.version])
            undo.append(lambda: self._write_history(history))
        client.set_registered_model_alias(self.name, CHAMPION, str(target.version))
        undo.append(lambda: self._restore_alias(CHAMPION, current))
        if CHALLENGER in target.aliases:
            client.delete_registered_model_alias(self.name, CHALLENGER)
            undo.append(lambda: self._restore_alias(CHALLENGER, target))
        return current.version if current is not None else None

    def _restore_alias(self, alias: str, holder: ModelVersion | None) -> None:
        if holder is None:
            self._client.delete_registered_model_alias(self.name, alias)
        else:
            self._client.set_registered_model_alias(self.name, alias, str(holder.version))

    def _history(self) -> list[int]:
        from mlflow.exceptions import MlflowException

        try:
            tags = self._client.get_registered_model(self.name).tags or {}
        except MlflowException as exc:
            if exc.error_code in _NOT_FOUND:
                return []
            raise self._failed("read the champion history", exc) from exc
        try:
            data = json.loads(tags.get(TAG_CHAMPION_HISTORY) or "[]")
        except ValueError:
            return []
        return [int(v) for v in data if isinstance(v, int | str) and str(v).isdigit()]

    def _write_history(self, history: list[int]) -> None:
        value = json.dumps(history[-_MAX_HISTORY:], separators=(",", ":"))
        self._client.set_registered_model_tag(self.name, TAG_CHAMPION_HISTORY, value)

    def _aliases_by_version(self) -> dict[int, tuple[str, ...]]:
        from mlflow.exceptions import MlflowException

        try:
            aliases: Mapping[str, Any] = self._client.get_registered_model(self.name).aliases
        except MlflowException as exc:
            if exc.error_code in _NOT_FOUND:
                return {}
            raise
        out: dict[int, list[str]] = {}
        for alias, version in (aliases or {}).items():
            out.setdefault(int(version), []).append(str(alias))
        return {v: tuple(sorted(a)) for v, a in out.items()}

    @staticmethod
    def _undo(undo: Undo) -> None:
        for step in reversed(undo):
            try:
                step()
            except Exception:
                _log.warning("could not undo an alias change", exc_info=True)

    def _reraise(self, exc: BaseException, action: str) -> NoReturn:
        if isinstance(exc, MlpilotError) or not isinstance(exc, Exception):
            raise exc
        raise RegistryError(
            f"could not {action} of model '{self.name}': {_message(exc)}; nothing was changed; "
            "retry"
        ) from exc

    def _failed(self, action: str, exc: MlflowException) -> RegistryError:
        return RegistryError(
            f"the MLflow registry could not {action} of model '{self.name}': {_message(exc)}; "
            "check [store] tracking_uri in mlpilot.toml and that the store is reachable"
        )


# ------------------------------------------------------------------ module-level helpers


def _pin_digest(registry: Registry, version: int, *, expected: str | None = None) -> str:
    """Hash the new version's artifacts as they will be loaded and pin digest and manifest.

    With ``expected`` (a staged model's digest), a different digest raises
    :class:`IntegrityError` before anything is pinned.
    """
    with tempfile.TemporaryDirectory(prefix=f"mlpilot-{registry.name}-") as tmp:
        local, uri = _fetch(registry, version, Path(tmp))
        if local is None:
            raise RegistryError(
                f"the artifacts of model '{registry.name}/{version}' are missing at {uri} "
                "right after logging them; check [store] artifact_root"
            )
        manifest = manifest_of(local)
    digest = digest_of(manifest)
    if expected is not None and digest != expected:
        raise IntegrityError(
            f"the files of the candidate at {uri} changed after it was checked (expected digest "
            f"{expected}, found {digest}); version {version} of model '{registry.name}' was not "
            "kept; run the checks again ('mlpilot ci') on an untouched candidate"
        )
    client = registry._client
    client.set_model_version_tag(registry.name, str(version), TAG_MANIFEST, json.dumps(manifest))
    client.set_model_version_tag(registry.name, str(version), TAG_DIGEST, digest)
    return digest


def _check_alias(alias: str | None) -> None:
    if alias not in (None, CHAMPION, CHALLENGER):
        raise RegistryError(
            f"cannot register with alias {alias!r}: mlpilot's aliases are 'champion' and "
            "'challenger'; pass one of them or None"
        )


def _target(version: ModelVersion) -> str:
    return f"model:{version.ref}"


def _require_reason(reason: str | None, action: str) -> str:
    if reason is None or not reason.strip():
        raise RegistryError(
            f"a reason is required to {action} a model (it goes into the audit trail); "
            "pass --reason TEXT"
        )
    return reason.strip()
