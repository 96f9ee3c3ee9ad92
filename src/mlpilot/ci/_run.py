"""``mlpilot ci``: the stages in order, stopping at the first that fails, then the verdict files
and, with ``--release`` when every stage passed, the release of the candidate.

How a candidate is checked without being registered: stage 4 runs the project's pipeline with
``register`` replaced by ``candidate`` (:func:`~mlpilot.pipeline.candidate_pipeline`): the run
is recorded and tracked in MLflow like any other, the gate compares the candidate with the
project's champion, and the model is logged with its reference profile into that MLflow run
and hashed (:meth:`~mlpilot.registry.Registry.stage`), but no version is created. The candidate
is then registered in a throw-away store in a temporary directory (:class:`Workspace`), as the
only version, pointing at the same files, its digest checked again. Stage 5's pytest process
loads it from there (the plugin reads the handoff file named in ``MLPILOT_CI_CANDIDATE``);
stage 6 builds the real serving app over that store, so the candidate is loaded exactly as a
server loads a version. With ``--release`` and every stage passed, those very files are
registered in the project's registry as ``challenger`` (same digest, same lineage, the MLflow
run that trained it; :meth:`~mlpilot.registry.Registry.register_staged` refuses files whose
digest changed), with a ``model.registered`` audit event. On every other path the project's
registry gets no version, and the throw-away store is deleted.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import select

from mlpilot.ci._pytest import ProjectTests, PytestRun, find_tests, run_pytest
from mlpilot.ci._report import (
    RELEASE,
    STAGES,
    CiReport,
    StageResult,
    StageStatus,
    write_junit,
    write_summary,
)
from mlpilot.ci._stages import Check, check_code, check_data, check_slices, describe_error
from mlpilot.ci._workspace import Workspace
from mlpilot.errors import MlpilotError, ProjectNotFoundError
from mlpilot.governance import default_actor
from mlpilot.store import SchemaRow, utcnow
from mlpilot.testing import ENV_CANDIDATE

if TYPE_CHECKING:
    from mlpilot.data import DataSchema
    from mlpilot.pipeline import Candidate
    from mlpilot.project import Project
    from mlpilot.registry import ModelVersion

_log = logging.getLogger(__name__)

_EXIT_MEANING = {
    2: "interrupted: a test file could not be collected",
    3: "pytest's internal error",
    4: "pytest usage error",
}


@dataclass(frozen=True)
class CiOptions:
    """How ``mlpilot ci`` runs: ``sample`` rows to train on (all when ``None``); ``release``
    to register the candidate as challenger when every stage passed; where the JUnit XML and
    the Markdown summary go (default ``<home>/ci/``); settings overrides (``--set``)."""

    sample: int | None = None
    release: bool = False
    junit: Path | None = None
    summary: Path | None = None
    use_cache: bool = True
    overrides: Mapping[str, Any] = field(default_factory=dict)
    actor: str | None = None


class CiListener(Protocol):
    """Told about each stage as it starts and ends (the CLI draws a status line per stage)."""

    def stage_started(self, key: str, title: str) -> None: ...

    def stage_finished(self, result: StageResult) -> None: ...


def run_ci(
    project_dir: Path | None = None,
    options: CiOptions | None = None,
    *,
    listener: CiListener | None = None,
) -> CiReport:
    """Run every stage of ``mlpilot ci`` on the project at (or above) ``project_dir``.

    Never raises for a failing stage: its verdict is in the report (and in the JUnit and
    Markdown files, which are always written). A project that cannot be found is the one error
    raised (:class:`ProjectNotFoundError`) unless both output paths were given.
    """
    return _Run(project_dir, options or CiOptions(), listener).run()


class _Run:
    def __init__(
        self, project_dir: Path | None, options: CiOptions, listener: CiListener | None
    ) -> None:
        self.project_dir = project_dir
        self.options = options
        self.listener = listener
        self.actor = options.actor or default_actor()
        self.results: list[StageResult] = []
        self.project: Project | None = None
        self.inferred: DataSchema | None = None
        self.tests: ProjectTests | None = None
        self.candidate: Candidate | None = None
        self.workspace: Workspace | None = None
        self.released: ModelVersion | None = None
        self.config_error = False
        self.not_found: ProjectNotFoundError | None = None
        self.tmp = Path(tempfile.mkdtemp(prefix="mlpilot-ci-junit-"))

    # ------------------------------------------------------------------------- the run

    def run(self) -> CiReport:
        started_at = datetime.now(UTC)
        t0 = time.perf_counter()
        methods: dict[str, Callable[[], Check]] = {
            "config": self._config,
            "data": self._data,
            "pipeline_tests": self._pipeline_tests,
            "training": self._training,
            "model_tests": self._model_tests,
            "infrastructure": self._infrastructure,
        }
        try:
            for key, title in STAGES:
                self._stage(key, title, methods[key])
            if self.options.release:
                self._stage(*RELEASE, self._release)
            self._tag_run()
        finally:
            if self.workspace is not None:
                self.workspace.close()
            shutil.rmtree(self.tmp, ignore_errors=True)
        report = self._report(started_at, time.perf_counter() - t0)
        if report.junit is not None:
            write_junit(report, report.junit)
        if report.summary is not None:
            write_summary(report, report.summary)
        return report

    def _stage(self, key: str, title: str, method: Callable[[], Check]) -> None:
        failed = next((r for r in self.results if r.status == "failed"), None)
        if failed is not None:
            what = "nothing was registered: " if key == RELEASE[0] else "not run: "
            result = StageResult(
                key, title, "skipped", 0.0, f"{what}the {failed.title} stage failed"
            )
            if self.listener:
                self.listener.stage_finished(result)
            self.results.append(result)
            return
        if self.listener:
            self.listener.stage_started(key, title)
        t0 = time.perf_counter()
        try:
            check = method()
        except Exception as exc:
            message, output = describe_error(exc)
            if isinstance(exc, MlpilotError) and exc.exit_code == 2:
                self.config_error = True
            if isinstance(exc, ProjectNotFoundError):
                self.not_found = exc
            check = Check(False, message, {"error": type(exc).__name__}, output)
        status: StageStatus = "skipped" if check.skipped else ("passed" if check.ok else "failed")
        result = StageResult(
            key,
            title,
            status,
            time.perf_counter() - t0,
            check.message,
            check.details,
            check.output,
        )
        self.results.append(result)
        if self.listener:
            self.listener.stage_finished(result)

    # ---------------------------------------------------------------------- the stages

    def _config(self) -> Check:
        from mlpilot.project import Project

        self.project = Project.open(self.project_dir, overrides=dict(self.options.overrides))
        return check_code(self.project.settings)

    def _data(self) -> Check:
        project = self._project()
        check, self.inferred = check_data(project.settings, project.store)
        return check

    def _pipeline_tests(self) -> Check:
        settings = self._project().settings
        self.tests = find_tests(settings)
        if not self.tests.pipeline:
            return Check(
                True,
                f"no pipeline tests: no test_*.py under {settings.ci.tests}/ besides the model "
                "tests",
                skipped=True,
            )
        run = self._pytest(self.tests.pipeline, "pipeline", {})
        return _test_check(run, "the project's tests", settings.ci.test_timeout_seconds)

    def _training(self) -> Check:
        from mlpilot.pipeline import candidate_pipeline, run_project

        project = self._project()
        settings = project.settings
        found: list[Candidate] = []
        summary = run_project(
            settings,
            project.store,
            use_cache=self.options.use_cache,
            actor=self.actor,
            trigger="ci",
            pipeline=candidate_pipeline(
                settings, found.append, sample=self.options.sample, schema=self.inferred
            ),
        )
        details: dict[str, Any] = {
            "pipeline_run_id": summary.run_id,
            "mlflow_run_id": summary.mlflow_run_id,
            "metrics": summary.metrics,
            "checks": list(summary.gate),
            "steps": {s.name: s.status for s in summary.steps},
            "step_seconds": {s.name: s.seconds for s in summary.steps},
            "pipeline_seconds": summary.seconds,
        }
        if summary.status == "rejected":
            reasons = [c["detail"] for c in summary.gate if not c["passed"]]
            return Check(
                False,
                "the candidate failed the gate: " + "; ".join(reasons) + "; nothing was registered",
                details,
            )
        if not found:
            return Check(False, f"the pipeline run ended {summary.status} without a candidate")
        candidate = self.candidate = found[-1]
        t0 = time.perf_counter()
        self.workspace = Workspace.create(settings, candidate)
        details["workspace_seconds"] = time.perf_counter() - t0
        details["digest"] = candidate.staged.digest
        details["train_rows"] = candidate.train_rows
        rows = f"{candidate.train_rows} rows"
        if candidate.sample is not None:
            rows += f" (a sample of {candidate.sample} rows)"
        gate = "; ".join(c["detail"] for c in candidate.gate) or "no gate rules"
        cached = [s.name for s in summary.steps if s.status == "cached"]
        reused = f"; reused cached {', '.join(cached)}" if cached else ""
        return Check(
            True,
            f"trained on {rows}, scored on {len(candidate.holdout)} holdout rows; gate passed "
            f"({gate}); logged to MLflow run {summary.mlflow_run_id} as "
            f"sha256:{candidate.staged.digest[:12]}…, not registered{reused}",
            details,
        )

    def _model_tests(self) -> Check:
        settings = self._project().settings
        candidate, workspace = self._candidate()
        files = self.tests.model if self.tests is not None else find_tests(settings).model
        checks: list[Check] = []
        if files:
            env = {ENV_CANDIDATE: str(workspace.handoff_file)}
            run = self._pytest(files, "model", env)
            checks.append(_test_check(run, "model tests", settings.ci.test_timeout_seconds))
        if settings.ci.slices:
            checks.append(check_slices(candidate, settings.ci.slices))
        ran = [c for c in checks if not c.skipped]
        if not ran:
            globs = ", ".join(settings.ci.model_tests)
            why = checks[0].message if checks else f"no model tests ({globs}) and no [ci.slices]"
            return Check(True, why, skipped=True)
        details: dict[str, Any] = {}
        for c in ran:
            for key, value in c.details.items():
                if isinstance(value, list) and isinstance(details.get(key), list):
                    details[key] = details[key] + value
                else:
                    details[key] = value
        return Check(
            all(c.ok for c in ran),
            "; ".join(c.message for c in ran),
            details,
            "\n".join(c.output for c in ran if c.output),
        )

    def _infrastructure(self) -> Check:
        from mlpilot.ci._infra import check_serving

        candidate, workspace = self._candidate()
        result = check_serving(workspace.settings, candidate.profile, candidate.staged.digest)
        return Check(bool(result["ok"]), str(result["message"]), dict(result["details"]))

    def _release(self) -> Check:
        project = self._project()
        candidate, _ = self._candidate()
        if candidate.sample is not None:
            return Check(
                False,
                f"the candidate was trained on a sample of {candidate.sample} rows; --release "
                "registers it, so train it on all the data: drop --sample",
            )
        self.released = release_candidate(project, candidate, self.results, self.actor)
        version = self.released
        note = ""
        if project.registry.by_alias("champion") is None:
            note = (
                f"; there is no champion yet: promote it with 'mlpilot promote {version.version} "
                "--reason ...'"
            )
        return Check(
            True,
            f"registered {version.ref} as challenger (sha256:{(version.digest or '')[:12]}…), "
            f"the files every stage checked{note}",
            {"version": version.version, "digest": version.digest},
        )

    # ------------------------------------------------------------------------- helpers

    def _tag_run(self) -> None:
        """Tag the candidate's MLflow run with the verdict, so the logged candidates that
        passed are told apart from those that did not (best effort: never fails the run)."""
        if self.candidate is None or self.project is None:
            return
        from mlpilot.tracking import mlflow_client

        failed = next((r for r in self.results if r.status == "failed"), None)
        tags = {"mlpilot.ci": "failed" if failed else "passed"}
        if failed is not None:
            tags["mlpilot.ci.failed_stage"] = failed.key
        if self.released is not None:
            tags["mlpilot.ci.released_version"] = str(self.released.version)
        try:
            client = mlflow_client(self.project.settings)
            for key, value in tags.items():
                client.set_tag(self.candidate.staged.run_id, key, value)
        except Exception:
            _log.warning("could not tag MLflow run %s", self.candidate.staged.run_id, exc_info=True)

    def _project(self) -> Project:
        assert self.project is not None  # stage 1 passed
        return self.project

    def _candidate(self) -> tuple[Candidate, Workspace]:
        assert self.candidate is not None  # stage 4 passed
        assert self.workspace is not None
        return self.candidate, self.workspace

    def _pytest(self, files: tuple[Path, ...], name: str, extra: dict[str, str]) -> PytestRun:
        settings = self._project().settings
        return run_pytest(
            files,
            cwd=settings.project_dir,
            env=self._child_env(extra),
            timeout=settings.ci.test_timeout_seconds,
            junit=self.tmp / f"{name}.xml",
        )

    def _child_env(self, extra: Mapping[str, str]) -> dict[str, str]:
        """This process's environment, without the MLflow URIs mlpilot itself set in it."""
        ours = {self._project().settings.tracking_uri}
        if self.workspace is not None:
            ours.add(self.workspace.settings.tracking_uri)
        env = {
            k: v
            for k, v in os.environ.items()
            if not (k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI") and v in ours)
        }
        env.pop(ENV_CANDIDATE, None)
        env.update(extra)
        return env

    def _report(self, started_at: datetime, seconds: float) -> CiReport:
        candidate = None
        if self.candidate is not None:
            candidate = {
                "digest": self.candidate.staged.digest,
                "metrics": self.candidate.metrics,
                "train_rows": self.candidate.train_rows,
                "mlflow_run_id": self.candidate.staged.run_id,
                "lineage": self.candidate.lineage,
            }
        project_dir = (
            self.project.settings.project_dir
            if self.project is not None
            else (self.project_dir or Path.cwd()).resolve()
        )
        junit, summary = self._paths(project_dir)
        return CiReport(
            project=self.project.name if self.project is not None else None,
            project_dir=project_dir,
            started_at=started_at,
            seconds=seconds,
            stages=tuple(self.results),
            sample=self.options.sample,
            release=self.options.release,
            candidate=candidate,
            released_version=self.released.version if self.released is not None else None,
            config_error=self.config_error,
            junit=junit,
            summary=summary,
        )

    def _paths(self, project_dir: Path) -> tuple[Path, Path]:
        """Where the verdict files go: as asked, else ``<home>/ci/``."""
        junit, summary = self.options.junit, self.options.summary
        if self.project is not None:
            home = self.project.settings.home / "ci"
        elif self.not_found is None:
            home = project_dir / ".mlpilot" / "ci"
        elif junit is None or summary is None:
            raise self.not_found  # no project: nowhere sensible to write the verdict files
        else:
            home = project_dir
        return (junit or home / "junit.xml").resolve(), (summary or home / "summary.md").resolve()


def release_candidate(
    project: Project, candidate: Candidate, stages: list[StageResult], actor: str
) -> ModelVersion:
    """Register the candidate's very files in the project's registry as ``challenger``.

    Stores the candidate's schema first when the project has none yet (audited as
    ``schema.created``), so that serving can load the new version.
    """
    _store_schema(project, candidate, actor)
    return project.registry.register_staged(
        candidate.staged,
        metrics=candidate.metrics,
        lineage={**candidate.lineage, "mlpilot.ci": "passed"},
        alias="challenger",
        actor=actor,
        reason=f"mlpilot ci --release: all {len(stages)} stages passed",
        details={"ci": {s.key: s.status for s in stages}},
    )


def _store_schema(project: Project, candidate: Candidate, actor: str) -> None:
    if candidate.schema_stored:
        return
    name, schema = project.name, candidate.schema
    with project.store.session() as s:
        found = s.execute(
            select(SchemaRow.id).where(
                SchemaRow.project == name, SchemaRow.version == schema.version
            )
        ).first()
        if found is not None:
            return
        active = s.execute(
            select(SchemaRow.id).where(SchemaRow.project == name, SchemaRow.status == "active")
        ).first()
        s.add(
            SchemaRow(
                project=name,
                version=schema.version,
                status="active" if active is None else "superseded",
                body=json.loads(schema.to_json()),
                snapshot_hash=candidate.lineage["mlpilot.data_snapshot"],
                created_at=utcnow(),
                actor=actor,
                reason="the schema of the candidate released by mlpilot ci",
            )
        )
        project.audit.record(
            "schema.created",
            target=f"schema:{name}/{schema.version}",
            actor=actor,
            reason="first release from mlpilot ci: schema inferred from the data",
            details={
                "snapshot": candidate.lineage["mlpilot.data_snapshot"],
                "columns": len(schema.columns),
            },
            session=s,
        )


def _test_check(run: PytestRun, what: str, timeout: float) -> Check:
    details = run.details()
    if run.timed_out:
        return Check(False, f"{what} did not finish within {timeout:g} s", details, run.output)
    if run.no_tests:
        return Check(True, f"pytest collected no {what} in {', '.join(run.files)}", skipped=True)
    if "No module named pytest" in run.output:
        return Check(
            False,
            f"{what} cannot run: pytest is not installed in this environment ({sys.executable})"
            "; install it (pip install pytest)",
            details,
            run.output,
        )
    if run.ok:
        return Check(True, f"{what}: {run.counts()} ({', '.join(run.files)})", details, "")
    if run.exit_code == 1 and run.failures:
        first = run.failures[0]
        more = f" (and {len(run.failures) - 1} more)" if len(run.failures) > 1 else ""
        return Check(
            False,
            f"{what}: {run.counts()}; {first.name}: {first.message}{more}",
            details,
            run.output,
        )
    meaning = _EXIT_MEANING.get(run.exit_code, "see the output")
    errors = "; ".join(f"{f.name}: {f.message}" for f in run.failures[:3])
    return Check(
        False,
        f"{what}: pytest exited with code {run.exit_code} ({meaning})"
        + (f": {errors}" if errors else ""),
        details,
        run.output,
    )
