"""One pipeline run of a project, end to end: lock, record, run, track, summarise."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from mlpilot.config import Settings
from mlpilot.errors import GateFailedError, MlpilotError
from mlpilot.governance import AuditTrail, default_actor
from mlpilot.pipeline._dag import Pipeline
from mlpilot.pipeline._entrypoint import EntryPoint
from mlpilot.pipeline._runner import (
    PipelineResult,
    RunListener,
    StepCache,
    StepOutcome,
    run_pipeline,
)
from mlpilot.pipeline._steps import RunContext, project_pipeline
from mlpilot.store import PipelineRunRow, Store, utcnow

RunStatus = Literal["succeeded", "unchanged", "rejected", "failed"]


@dataclass(frozen=True)
class RunSummary:
    """What one ``mlpilot run`` did, for the CLI, ``--json`` and tests."""

    run_id: str
    status: RunStatus
    seconds: float
    steps: tuple[StepOutcome, ...]
    snapshot_hash: str | None = None
    rows: int | None = None
    columns: int | None = None
    schema_version: str | None = None
    task: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    gate: tuple[dict[str, Any], ...] = ()
    model_version: int | None = None
    model_aliases: tuple[str, ...] = ()
    model_digest: str | None = None
    mlflow_run_id: str | None = None
    code_commit: str | None = None
    code_dirty: bool | None = None
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "steps"}
        out["steps"] = [s.__dict__ for s in self.steps]
        out["gate"] = list(self.gate)
        out["model_aliases"] = list(self.model_aliases)
        return out


def run_project(
    settings: Settings,
    store: Store,
    *,
    listener: RunListener | None = None,
    use_cache: bool = True,
    alias: Literal["champion", "challenger"] | None = None,
    actor: str | None = None,
    trigger: str = "manual",
    pipeline: Pipeline | None = None,
) -> RunSummary:
    """Run the project's pipeline once, holding the project's run lock.

    Returns a summary for succeeded, unchanged (everything cached, nothing new to register) and
    rejected (gate failed) runs; raises the MlpilotError for anything else, after recording the
    run as failed. ``alias`` picks where a new version goes (default: ``champion`` for the first
    version, ``challenger`` after that).
    """
    who = actor or default_actor()
    audit = AuditTrail(store)
    project = settings.project.name
    with store.lock(f"pipeline:{project}", timeout=settings.store.lock_timeout):
        run_id = str(uuid.uuid4())
        from mlpilot.tracking import code_version

        code = code_version(settings.project_dir)
        with store.session() as s:
            s.add(
                PipelineRunRow(
                    id=run_id,
                    project=project,
                    pipeline=(pipeline.name if pipeline else "standard"),
                    status="running",
                    started_at=utcnow(),
                    actor=who,
                    trigger=trigger,
                    code_version=code.commit,
                    code_dirty=code.dirty,
                )
            )
        tags = {"mlpilot.pipeline_run_id": run_id, "mlpilot.trigger": trigger}
        if code.commit:
            tags["mlpilot.code_commit"] = code.commit
            tags["mlpilot.code_dirty"] = str(code.dirty).lower()
        ctx = RunContext(settings, store, audit, who, run_id, alias=alias, tags=tags)
        params = {
            "data_settings": settings.data,
            "task": settings.train.task,
            "test_size": settings.train.test_size,
            "seed": settings.train.seed,
            "train_settings": settings.train,
            "validate_settings": settings.validate_,
            "gate_settings": settings.gate,
            "entrypoint": EntryPoint(settings.train.entrypoint, settings.project_dir),
        }
        ctx.params = {"data.source": settings.data.source, "data.target": settings.data.target}
        cache = StepCache(store, settings.cache_dir) if use_cache else None
        started = time.perf_counter()
        result: PipelineResult | None = None
        error: BaseException | None = None
        try:
            result = run_pipeline(
                pipeline or project_pipeline(settings),
                params=params,
                ctx=ctx,
                store=store,
                run_id=run_id,
                cache=cache,
                listener=listener,
            )
        except BaseException as exc:
            error = exc
        summary = _summarise(run_id, ctx, result, error, time.perf_counter() - started, code)
        if ctx.tracking_started:
            ctx.tracker.set_tags(
                {f"mlpilot.step.{s.name}": s.status for s in summary.steps}
                | {"mlpilot.status": summary.status}
            )
            ctx.tracker.log_metrics({f"step_seconds.{s.name}": s.seconds for s in summary.steps})
        ctx.close(None if error is None or isinstance(error, GateFailedError) else error)
        summary = _with_mlflow(summary, ctx)
        _finish(store, summary)
        audit.record(
            f"pipeline.{summary.status}",
            target=f"run:{project}/{run_id}",
            actor=who,
            reason=summary.message,
            details={
                "snapshot": summary.snapshot_hash,
                "model_version": summary.model_version,
                "ran": [s.name for s in summary.steps if s.status == "ran"],
                "trigger": trigger,
            },
        )
        if error is not None and not isinstance(error, GateFailedError):
            raise error
        return summary


def _summarise(
    run_id: str,
    ctx: RunContext,
    result: PipelineResult | None,
    error: BaseException | None,
    seconds: float,
    code: Any,
) -> RunSummary:
    outcomes: dict[str, StepOutcome] = {}
    if result is not None:
        outcomes = result.outcomes

    def value(name: str) -> Any:
        if result is None:
            return None
        o = outcomes.get(name)
        return result.value(name) if o is not None and o.status != "failed" else None

    ingested = value("ingest")
    validated = value("validate")
    evaluation = value("evaluate")
    gate = value("gate")
    version = value("register")
    if error is None:
        status: RunStatus = "succeeded"
        if outcomes.get("register") is not None and outcomes["register"].status == "cached":
            status = "unchanged"
    elif isinstance(error, GateFailedError):
        status = "rejected"
    else:
        status = "failed"
    message = None
    if status == "unchanged" and version is not None:
        message = (
            f"nothing changed since version {version.version} was registered: no step needed to run"
        )
    elif error is not None:
        message = error.message if isinstance(error, MlpilotError) else repr(error)
    gate_checks: tuple[dict[str, Any], ...] = ()
    if isinstance(error, GateFailedError):
        gate_checks = error.checks
    elif gate is not None:
        gate_checks = tuple(gate.to_dict()["checks"])
    return RunSummary(
        run_id=run_id,
        status=status,
        seconds=seconds,
        steps=tuple(outcomes.values()),
        snapshot_hash=ingested.snapshot.hash if ingested is not None else None,
        rows=ingested.snapshot.rows if ingested is not None else None,
        columns=len(ingested.snapshot.columns) if ingested is not None else None,
        schema_version=validated.schema.version if validated is not None else None,
        task=validated.task if validated is not None else None,
        metrics=dict(evaluation.metrics) if evaluation is not None else {},
        gate=gate_checks,
        model_version=version.version if version is not None else None,
        model_aliases=tuple(version.aliases) if version is not None else (),
        model_digest=version.digest if version is not None else None,
        code_commit=code.commit,
        code_dirty=code.dirty,
        message=message,
    )


def _with_mlflow(summary: RunSummary, ctx: RunContext) -> RunSummary:
    if not ctx.tracking_started:
        return summary
    from dataclasses import replace

    return replace(summary, mlflow_run_id=ctx.tracker.run_id)


def _finish(store: Store, summary: RunSummary) -> None:
    with store.session() as s:
        row = s.get(PipelineRunRow, summary.run_id)
        if row is None:
            return
        row.status = summary.status
        row.finished_at = utcnow()
        row.mlflow_run_id = summary.mlflow_run_id
        row.snapshot_hash = summary.snapshot_hash
        row.schema_version = summary.schema_version
        row.model_version = summary.model_version
        row.message = summary.message
        row.summary = json.loads(json.dumps(summary.to_dict(), default=str))
