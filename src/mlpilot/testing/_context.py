"""Where the model tests' fixtures come from: the project, the candidate, the champion, the
holdout and the reference profile, each loaded once per test session.

The project is, in this order: the one ``mlpilot ci`` names in :data:`ENV_CANDIDATE` (with its
candidate), the ``--mlpilot-project`` option, or the nearest folder with ``mlpilot.toml`` at or
above pytest's rootdir. Outside ``mlpilot ci`` the candidate is the project's latest registered
version, and its holdout is rebuilt from its data snapshot exactly as its run split it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlpilot.errors import (
    DataError,
    IntegrityError,
    ModelNotFoundError,
    ProjectNotFoundError,
)
from mlpilot.testing._handoff import ENV_CANDIDATE, CandidateHandoff, workspace_settings
from mlpilot.testing._model import ModelUnderTest

if TYPE_CHECKING:
    import pandas as pd

    from mlpilot.data import ReferenceProfile
    from mlpilot.project import Project
    from mlpilot.registry import LoadedModel, ModelVersion


class ModelTestContext:
    """One project's models and data for model tests; build it with :meth:`find`."""

    def __init__(self, project_dir: Path, handoff: CandidateHandoff | None = None) -> None:
        self.project_dir = project_dir
        self.handoff = handoff

    @classmethod
    def find(cls, *, option: str | None, rootdir: Path, env: Mapping[str, str]) -> ModelTestContext:
        """The context of this test session (see the module); ProjectNotFoundError if none."""
        from mlpilot.config import find_project_dir

        given = env.get(ENV_CANDIDATE)
        if given:
            handoff = CandidateHandoff.read(Path(given))
            return cls(Path(handoff.project_dir), handoff)
        start = Path(option) if option else rootdir
        try:
            return cls(find_project_dir(start))
        except ProjectNotFoundError as exc:
            where = (
                f"{start.resolve()} (--mlpilot-project)"
                if option
                else f"pytest's rootdir {rootdir}"
            )
            raise ProjectNotFoundError(
                f"the model-test fixtures need an mlpilot project, and there is no mlpilot.toml "
                f"in {where} or any parent directory. Run pytest inside the project, pass "
                "--mlpilot-project DIR, or run the model tests with 'mlpilot ci'"
            ) from exc

    @cached_property
    def project(self) -> Project:
        from mlpilot.project import Project

        return Project.open(self.project_dir)

    @property
    def source(self) -> str:
        """Where the candidate comes from, for messages."""
        if self.handoff is not None:
            return "the candidate 'mlpilot ci' trained"
        return f"the latest registered version of {self.project.name}"

    # ------------------------------------------------------------------------- the models

    @cached_property
    def _candidate(self) -> tuple[ModelUnderTest, ReferenceProfile]:
        if self.handoff is not None:
            loaded = self._load_handed_over(self.handoff)
        else:
            versions = self.project.models()
            if not versions:
                raise ModelNotFoundError(
                    f"project '{self.project.name}' has no registered version to test yet; run "
                    "'mlpilot run' first, or run the model tests with 'mlpilot ci', which trains "
                    "a candidate and tests it before registering anything"
                )
            loaded = self.project.registry.load(versions[0].version)
        return self._wrap(loaded, "candidate")

    def candidate(self) -> ModelUnderTest:
        return self._candidate[0]

    def reference_profile(self) -> ReferenceProfile:
        return self._candidate[1]

    @cached_property
    def _champion(self) -> ModelUnderTest | None:
        champion = self.project.registry.by_alias("champion")
        if champion is None:
            return None
        return self._wrap(self.project.registry.load(champion.version), "champion")[0]

    def champion(self) -> ModelUnderTest | None:
        """The project's champion, or ``None`` when no version is champion yet."""
        return self._champion

    def _load_handed_over(self, handoff: CandidateHandoff) -> LoadedModel:
        from mlpilot.governance import AuditTrail
        from mlpilot.registry import Registry
        from mlpilot.store import Store

        settings = workspace_settings(self.project.settings, Path(handoff.home))
        store = Store.open(settings.metadata_url)
        try:
            loaded = Registry(settings, AuditTrail(store)).load(handoff.version)
        finally:
            store.dispose()
        if loaded.version.digest != handoff.digest:
            raise IntegrityError(
                f"the candidate in {handoff.home} has digest {loaded.version.digest}, not the "
                f"{handoff.digest} that 'mlpilot ci' checked; run 'mlpilot ci' again"
            )
        return loaded

    def _wrap(self, loaded: LoadedModel, role: str) -> tuple[ModelUnderTest, ReferenceProfile]:
        from mlpilot.data import ReferenceProfile

        profile = ReferenceProfile.from_json(json.dumps(loaded.profile()))
        wrapped = ModelUnderTest(
            model=loaded.model,
            role=role,
            ref=loaded.version.ref,
            digest=loaded.version.digest,
            task=self._task(profile),
            target=profile.target.name,
            features=tuple(f.name for f in profile.features),
            metrics=dict(loaded.version.metrics),
        )
        return wrapped, profile

    def _task(self, profile: ReferenceProfile) -> str:
        if self.handoff is not None:
            return self.handoff.task
        if profile.prediction is not None:
            return profile.prediction.task
        return (
            "classification" if profile.target.kind in ("categorical", "boolean") else "regression"
        )

    # --------------------------------------------------------------------------- the data

    @cached_property
    def _holdout(self) -> pd.DataFrame:
        import pandas as pd

        if self.handoff is not None:
            return pd.read_parquet(self.handoff.holdout)
        candidate = self.candidate()
        version = self.project.registry.get(int(candidate.ref.rsplit("/", 1)[1]))
        return self._rebuilt_holdout(version, candidate)

    def holdout(self) -> pd.DataFrame:
        """The candidate's held-out rows: its features and the target column (a copy)."""
        return self._holdout.copy()

    def _rebuilt_holdout(self, version: ModelVersion, candidate: ModelUnderTest) -> pd.DataFrame:
        from mlpilot.data import read_snapshot
        from mlpilot.pipeline import split_frame

        settings = self.project.settings
        snapshot = version.lineage.get("mlpilot.data_snapshot")
        if not snapshot:
            raise DataError(
                f"version {version.ref} names no data snapshot, so its holdout cannot be rebuilt; "
                "register a version with 'mlpilot run', or run the tests with 'mlpilot ci'"
            )
        try:
            frame = read_snapshot(snapshot, settings.snapshot_dir)
        except DataError as exc:
            raise DataError(
                f"the holdout of version {version.ref} comes from data snapshot {snapshot[:12]}, "
                f"which is not in {settings.snapshot_dir} ({exc.message}); run the model tests "
                "where the project was trained, or with 'mlpilot ci'"
            ) from exc
        params = self._run_params(version)
        test_size = float(params.get("test_size", settings.train.test_size))
        seed = int(params.get("seed", settings.train.seed))
        split = split_frame(frame, candidate.target, candidate.task, test_size, seed)
        return split.x_test.assign(**{candidate.target: split.y_test})

    def _run_params(self, version: ModelVersion) -> dict[str, Any]:
        """The split settings the version's training run recorded (empty if unknown)."""
        if not version.run_id:
            return {}
        from mlpilot.tracking import mlflow_client

        try:
            run = mlflow_client(self.project.settings).get_run(version.run_id)
        except Exception:
            return {}
        return dict(run.data.params)
