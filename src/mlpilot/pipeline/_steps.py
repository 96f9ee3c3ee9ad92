"""The standard pipeline: ingest → validate → split → train → evaluate → profile → gate →
register. Each step is a plain function; the run context carries the services."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import select, update

from mlpilot.config import DataSettings, GateSettings, Settings, TrainSettings, ValidateSettings
from mlpilot.errors import ConfigError, GateFailedError, SchemaViolationError, UserCodeError
from mlpilot.evaluation import GateCheck, GateResult
from mlpilot.governance import AuditTrail
from mlpilot.pipeline._dag import Pipeline, Step, step
from mlpilot.pipeline._entrypoint import EntryPoint, fit_entrypoint
from mlpilot.store import (
    DatasetSnapshotRow,
    PipelineRunRow,
    SchemaRow,
    StepExecutionRow,
    Store,
    utcnow,
)

if TYPE_CHECKING:
    from mlpilot.data import DataSchema, ReferenceProfile, Snapshot
    from mlpilot.evaluation import Evaluation
    from mlpilot.registry import ModelVersion, Registry
    from mlpilot.tracking import TrackedRun


@dataclass
class RunContext:
    """Services for the steps of one run (not data; not part of any cache key)."""

    settings: Settings
    store: Store
    audit: AuditTrail
    actor: str
    run_id: str
    alias: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    _stack: ExitStack = field(default_factory=ExitStack)
    _tracker: TrackedRun | None = None
    _registry: Registry | None = None
    _champion: tuple[Champion | None] | None = None

    @property
    def tracker(self) -> TrackedRun:
        """The MLflow run, started the first time a step has something to track."""
        if self._tracker is None:
            from mlpilot import tracking

            tracking.configure(self.settings)
            self._tracker = self._stack.enter_context(
                tracking.start_run(
                    self.settings, run_name=f"pipeline-{self.run_id[:8]}", tags=self.tags
                )
            )
            if self.params:
                self._tracker.log_params(self.params)
        return self._tracker

    @property
    def tracking_started(self) -> bool:
        return self._tracker is not None

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            from mlpilot import tracking
            from mlpilot.registry import Registry

            tracking.configure(self.settings)
            self._registry = Registry(self.settings, self.audit)
        return self._registry

    def champion(self) -> Champion | None:
        """The version holding ``champion`` when this run first asked (the same all run long).

        Ask only after the ``train`` step (to know whether the champion is this candidate). The
        ``gate`` step's cache key and its comparison both use this answer, so a gate result is
        never stored under one champion after being computed against another.
        """
        if self._champion is None:
            version = self.registry.by_alias("champion")
            self._champion = (
                None if version is None else Champion(version, self._trained_alike(version)),
            )
        return self._champion[0]

    def _trained_alike(self, version: ModelVersion) -> bool:
        """Whether the pipeline run that registered ``version`` trained this run's model."""
        other = version.lineage.get("mlpilot.pipeline_run_id")
        if not other:
            return False
        with self.store.session() as s:
            rows = s.execute(
                select(StepExecutionRow.run_id, StepExecutionRow.cache_key).where(
                    StepExecutionRow.step == "train",
                    StepExecutionRow.run_id.in_((self.run_id, other)),
                )
            ).all()
        mine = {key for run, key in rows if run == self.run_id}
        theirs = {key for run, key in rows if run == other}
        return bool(mine & theirs)

    def close(self, exc: BaseException | None) -> None:
        if exc is None:
            self._stack.close()
        else:
            self._stack.__exit__(type(exc), exc, exc.__traceback__)


@dataclass(frozen=True)
class Champion:
    """The champion as one run sees it; ``is_candidate``: it is the very model this run
    trained (same ``train`` cache key), so the candidate has no other model to beat."""

    version: ModelVersion
    is_candidate: bool


@dataclass(frozen=True)
class Ingested:
    frame: pd.DataFrame
    snapshot: Snapshot
    source: str

    @property
    def fingerprint(self) -> str:
        return self.snapshot.hash


@dataclass(frozen=True)
class SchemaRef:
    """The schema this run's data must meet, and the previous snapshot's to compare nulls."""

    active: DataSchema
    previous: DataSchema | None
    created: bool

    @property
    def fingerprint(self) -> str:
        prev = self.previous.version if self.previous is not None else "-"
        return hashlib.sha256(f"{self.active.version}|{prev}".encode()).hexdigest()


@dataclass(frozen=True)
class Validated:
    schema: DataSchema
    task: str
    target: str

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(
            f"{self.schema.version}|{self.task}|{self.target}".encode()
        ).hexdigest()


@dataclass(frozen=True)
class Split:
    x_train: pd.DataFrame
    x_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series


@step(cache=False)
def ingest(ctx: RunContext, data_settings: DataSettings) -> Ingested:
    """Read the data source and snapshot the exact rows by content hash.

    When the source has a cheap fingerprint (bundled data sets, local files) that an earlier
    run stored, its snapshot is read instead of the source.
    """
    from mlpilot.data import source_fingerprint

    settings = ctx.settings
    fingerprint = source_fingerprint(data_settings, settings.project_dir)
    reused = _reuse_snapshot(ctx, fingerprint) if fingerprint else None
    if reused is not None:
        frame, snap = reused
    else:
        frame, snap = _read_source(ctx, data_settings, fingerprint)
    ctx.tags["mlpilot.data_snapshot"] = snap.hash
    return Ingested(frame, snap, data_settings.source)


def _reuse_snapshot(ctx: RunContext, fingerprint: str) -> tuple[pd.DataFrame, Snapshot] | None:
    from mlpilot.data import Snapshot, content_hash, read_snapshot

    with ctx.store.session() as s:
        row = s.execute(
            select(DatasetSnapshotRow)
            .where(
                DatasetSnapshotRow.project == ctx.settings.project.name,
                DatasetSnapshotRow.source_fingerprint == fingerprint,
            )
            .limit(1)
        ).scalar_one_or_none()
    if row is None or not Path(row.path).is_file():
        return None
    try:
        frame = read_snapshot(row.hash, ctx.settings.snapshot_dir)
        intact = content_hash(frame) == row.hash
    except Exception:
        intact = False
    if not intact:  # the snapshot file changed: drop it, read the source again
        Path(row.path).unlink(missing_ok=True)
        return None
    return frame, Snapshot(row.hash, Path(row.path), len(frame), tuple(frame.columns))


def _read_source(
    ctx: RunContext, data_settings: DataSettings, fingerprint: str | None
) -> tuple[pd.DataFrame, Snapshot]:
    from mlpilot.data import infer_schema, load_source, write_snapshot

    frame = load_source(data_settings, ctx.settings.project_dir)
    snap = write_snapshot(frame, ctx.settings.snapshot_dir)
    with ctx.store.session() as s:
        row = s.get(DatasetSnapshotRow, (ctx.settings.project.name, snap.hash))
        if row is None:
            s.add(
                DatasetSnapshotRow(
                    hash=snap.hash,
                    project=ctx.settings.project.name,
                    source=data_settings.source,
                    source_fingerprint=fingerprint,
                    rows=snap.rows,
                    columns={"schema": json.loads(infer_schema(frame).to_json())},
                    path=str(snap.path),
                    created_at=utcnow(),
                )
            )
        elif fingerprint is not None:
            row.source_fingerprint = fingerprint
    return frame, snap


@step(cache=False)
def schema(ctx: RunContext, ingest: Ingested) -> SchemaRef:
    """The active schema (inferred from this data and stored on the first run)."""
    from mlpilot.data import infer_schema

    project = ctx.settings.project.name
    previous = _previous_schema(ctx.store, project, ingest.snapshot.hash)
    active = active_schema(ctx.store, project)
    if active is not None:
        return SchemaRef(active, previous, created=False)
    inferred = infer_schema(ingest.frame)
    with ctx.store.session() as s:
        s.add(_schema_row(project, inferred, "active", ingest.snapshot.hash, ctx.actor, None))
        ctx.audit.record(
            "schema.created",
            target=f"schema:{project}/{inferred.version}",
            actor=ctx.actor,
            reason="first run: schema inferred from the data",
            details={"snapshot": ingest.snapshot.hash, "columns": len(inferred.columns)},
            session=s,
        )
    return SchemaRef(inferred, previous, created=True)


@step
def validate(
    ctx: RunContext,
    ingest: Ingested,
    schema: SchemaRef,
    data_settings: DataSettings,
    task: str,
    validate_settings: ValidateSettings,
) -> Validated:
    """Check the target, then the data against the schema and the previous snapshot."""
    from mlpilot.data import check_target, infer_schema, validate_batch

    frame = ingest.frame
    resolved = check_target(frame, data_settings.target, task)  # type: ignore[arg-type]
    if schema.created:
        return Validated(schema.active, resolved, data_settings.target)
    anomalies = validate_batch(frame, schema.active, validate_settings, schema.previous)
    if anomalies:
        project = ctx.settings.project.name
        proposed = infer_schema(frame)
        with ctx.store.session() as s:
            s.execute(
                update(SchemaRow)
                .where(SchemaRow.project == project, SchemaRow.status == "proposed")
                .values(status="discarded")
            )
            s.add(
                _schema_row(
                    project,
                    proposed,
                    "proposed",
                    ingest.snapshot.hash,
                    ctx.actor,
                    f"{len(anomalies)} anomalies against schema {schema.active.version}",
                )
            )
        report = _write_report(
            ctx,
            "validation",
            {
                "run_id": ctx.run_id,
                "snapshot": ingest.snapshot.hash,
                "schema": schema.active.version,
                "proposed_schema": proposed.version,
                "anomalies": [a.to_dict() for a in anomalies],
            },
        )
        raise SchemaViolationError(
            f"snapshot {ingest.snapshot.hash[:12]} of {ingest.source} breaks schema "
            f"{schema.active.version} in {len(anomalies)} way(s); nothing was trained (report: "
            f"{report}). Fix the data, or adopt the new schema deliberately with "
            "'mlpilot schema accept --reason ...'",
            anomalies,
        )
    return Validated(schema.active, resolved, data_settings.target)


def _write_report(ctx: RunContext, kind: str, body: dict[str, Any]) -> Path:
    directory = ctx.settings.home / "reports"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{kind}-{ctx.run_id[:8]}.json"
    path.write_text(json.dumps(body, indent=2, default=str), encoding="utf-8")
    return path


def _schema_row(
    project: str, schema: DataSchema, status: str, snapshot: str, actor: str, reason: str | None
) -> SchemaRow:
    return SchemaRow(
        project=project,
        version=schema.version,
        status=status,
        body=json.loads(schema.to_json()),
        snapshot_hash=snapshot,
        created_at=utcnow(),
        actor=actor,
        reason=reason,
    )


@step
def split(ingest: Ingested, validate: Validated, test_size: float, seed: int) -> Split:
    """Hold out a test set (stratified for classification)."""
    return split_frame(ingest.frame, validate.target, validate.task, test_size, seed)


def split_frame(frame: pd.DataFrame, target: str, task: str, test_size: float, seed: int) -> Split:
    """The ``split`` step's split of ``frame``: the same rows for the same data and settings."""
    from sklearn.model_selection import train_test_split

    y = frame[target]
    x = frame.drop(columns=[target])
    stratify = y if task == "classification" and y.value_counts().min() >= 2 else None
    x_train, x_test, y_train, y_test = train_test_split(
        x,
        y,
        test_size=test_size,
        random_state=seed,
        stratify=stratify,
    )
    return Split(x_train, x_test, y_train, y_test)


@step
def train(
    ctx: RunContext,
    split: Split,
    validate: Validated,
    train_settings: TrainSettings,
    entrypoint: EntryPoint,
) -> Any:
    """Fit the project's estimator on the training part."""
    tracker = ctx.tracker
    tracker.log_params(
        {
            "entrypoint": train_settings.entrypoint,
            "task": validate.task,
            "test_size": train_settings.test_size,
            "seed": train_settings.seed,
            "train_rows": len(split.x_train),
            **{f"param.{k}": v for k, v in train_settings.params.items()},
        }
    )
    target_obj = entrypoint.load()
    frame = split.x_train.assign(**{validate.target: split.y_train})
    return fit_entrypoint(
        target_obj, entrypoint.spec, frame, validate.target, dict(train_settings.params)
    )


@step
def evaluate(ctx: RunContext, train: Any, split: Split, validate: Validated) -> Evaluation:
    """Score the candidate on the holdout."""
    from mlpilot.evaluation import evaluate as evaluate_model

    result = evaluate_model(train, split.x_test, split.y_test, validate.task)  # type: ignore[arg-type]
    ctx.tracker.log_metrics(result.metrics)
    return result


@step
def profile(split: Split, validate: Validated, evaluate: Evaluation) -> ReferenceProfile:
    """Profile the training data and the holdout predictions, for monitoring."""
    from mlpilot.data import build_profile

    return build_profile(
        split.x_train,
        split.y_train,
        validate.task,
        predictions=evaluate.predictions,
        probabilities=evaluate.probabilities,
    )


_VS_CHAMPION = "vs_champion"


class CheckedGate(GateResult):
    """The ``gate`` step's result. What ``register`` sees of it (its ``fingerprint``) leaves out
    the champion's numbers: re-checking the same candidate against a newly promoted champion
    must not register that candidate a second time."""

    @property
    def fingerprint(self) -> str:
        checks = [
            [c.name, c.rule, c.threshold, c.passed] + ([] if c.name == _VS_CHAMPION else [c.value])
            for c in self.checks
        ]
        return hashlib.sha256(json.dumps([self.passed, checks]).encode()).hexdigest()


def _champion_state(ctx: RunContext, params: Mapping[str, Any]) -> str | None:
    """The part of the ``gate`` step's cache key naming the champion the candidate must beat.

    ``none`` when there is no champion, and also when the champion is this very candidate (it
    was registered by an earlier run of the same pipeline): nothing else to beat, so the result
    of the run that registered it still holds.
    """
    gate_settings: GateSettings | None = params.get("gate_settings")
    if gate_settings is None or gate_settings.vs_champion is None:
        return None
    champion = ctx.champion()
    if champion is None or champion.is_candidate:
        return "champion:none"
    return f"champion:{champion.version.version}"


@step(state=_champion_state)
def gate(
    ctx: RunContext,
    evaluate: Evaluation,
    split: Split,
    validate: Validated,
    gate_settings: GateSettings,
) -> GateResult:
    """Thresholds from the project file, and the champion on the same holdout."""
    from mlpilot.evaluation import apply_gate
    from mlpilot.evaluation import evaluate as evaluate_model

    champion_metrics: dict[str, float] | None = None
    champion_note = ""
    champion = ctx.champion() if gate_settings.vs_champion is not None else None
    if champion is not None and not champion.is_candidate:
        number = champion.version.version
        loaded = ctx.registry.load(number, actor=ctx.actor)
        try:
            champion_metrics = evaluate_model(
                loaded.model,
                split.x_test,
                split.y_test,
                validate.task,  # type: ignore[arg-type]
            ).metrics
        except UserCodeError:
            champion_note = (
                f"champion v{number} cannot score this data (its columns "
                "changed), so only the thresholds apply"
            )
    applied = apply_gate(evaluate.metrics, gate_settings, validate.task, champion_metrics)
    result = CheckedGate(
        applied.passed,
        _name_champion(applied.checks, champion, compared=champion_metrics is not None),
    )
    ctx.tracker.set_tags({"mlpilot.gate": "passed" if result.passed else "failed"})
    if champion_metrics:
        ctx.tracker.log_metrics({f"champion.{k}": v for k, v in champion_metrics.items()})
    if not result.passed:
        reasons = "; ".join(result.reasons())
        raise GateFailedError(
            f"candidate from run {ctx.run_id[:8]} was tracked in MLflow run "
            f"{ctx.tracker.run_id} but not registered: {reasons}",
            result.to_dict()["checks"],
        )
    if champion_note:
        ctx.tags["mlpilot.gate_note"] = champion_note
    return result


def _name_champion(
    checks: tuple[GateCheck, ...], champion: Champion | None, *, compared: bool
) -> tuple[GateCheck, ...]:
    """``checks`` with the champion's version in the detail of the check against it."""
    if champion is None or not (compared or champion.is_candidate):
        return checks
    number = champion.version.version

    def named(c: GateCheck) -> GateCheck:
        if c.name != _VS_CHAMPION:
            return c
        if champion.is_candidate:
            return replace(
                c,
                detail=f"the candidate is the champion (version {number}): no other model to beat",
            )
        return replace(c, detail=f"{c.detail} [champion: version {number}]")

    return tuple(named(c) for c in checks)


@step
def register(
    ctx: RunContext,
    train: Any,
    split: Split,
    validate: Validated,
    evaluate: Evaluation,
    profile: ReferenceProfile,
    gate: GateResult,
    ingest: Ingested,
) -> ModelVersion:
    """Register the candidate with lineage, metrics, profile and a pinned digest."""
    registry = ctx.registry
    alias = ctx.alias
    if alias is None:
        alias = "champion" if registry.by_alias("champion") is None else "challenger"
    lineage = {
        "mlpilot.pipeline_run_id": ctx.run_id,
        "mlpilot.data_snapshot": ingest.snapshot.hash,
        "mlpilot.schema_version": validate.schema.version,
        **{k: v for k, v in ctx.tags.items() if k.startswith("mlpilot.code")},
    }
    return registry.register(
        train,
        run_id=ctx.tracker.run_id,
        metrics=evaluate.metrics,
        lineage=lineage,
        profile=json.loads(profile.to_json()),
        input_example=split.x_test.head(5),
        alias=alias,  # type: ignore[arg-type]
        actor=ctx.actor,
        reason=f"pipeline run {ctx.run_id[:8]} passed the gate",
    )


STANDARD_PARAMS = (
    "data_settings",
    "task",
    "test_size",
    "seed",
    "train_settings",
    "validate_settings",
    "gate_settings",
    "entrypoint",
)


def standard_pipeline() -> Pipeline:
    """ingest → schema → validate → split → train → evaluate → profile → gate → register."""
    return Pipeline(
        "standard",
        [ingest, schema, validate, split, train, evaluate, profile, gate, register],
        params=STANDARD_PARAMS,
    )


def active_schema(store: Store, project: str) -> DataSchema | None:
    from mlpilot.data import DataSchema

    with store.session() as s:
        row = s.execute(
            select(SchemaRow)
            .where(SchemaRow.project == project, SchemaRow.status == "active")
            .order_by(SchemaRow.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        return None if row is None else DataSchema.from_json(json.dumps(row.body))


def _previous_schema(store: Store, project: str, current_snapshot: str) -> DataSchema | None:
    """The schema of the snapshot the last successful run used, if it is another snapshot."""
    from mlpilot.data import DataSchema

    with store.session() as s:
        row = s.execute(
            select(DatasetSnapshotRow.hash, DatasetSnapshotRow.columns)
            .join(
                PipelineRunRow,
                (PipelineRunRow.snapshot_hash == DatasetSnapshotRow.hash)
                & (PipelineRunRow.project == DatasetSnapshotRow.project),
            )
            .where(
                PipelineRunRow.project == project,
                PipelineRunRow.status.in_(("succeeded", "unchanged")),
            )
            .order_by(PipelineRunRow.started_at.desc())
            .limit(1)
        ).first()
    if row is None or row[0] == current_snapshot or "schema" not in row[1]:
        return None
    return DataSchema.from_json(json.dumps(row[1]["schema"]))


def project_pipeline(settings: Settings) -> Pipeline:
    """The standard pipeline plus the project's own ``[pipeline] steps``, before ``register``."""
    pipeline = standard_pipeline()
    for spec in settings.pipeline.steps:
        loaded = EntryPoint(spec, settings.project_dir).load()
        if isinstance(loaded, Step):
            extra = replace(loaded, user_code=True)
        elif callable(loaded):
            extra = replace(step(loaded), user_code=True)
        else:
            raise ConfigError(
                f"pipeline.steps entry '{spec}' is a {type(loaded).__name__}, not a function; "
                "point it at a function whose parameters name the steps it needs",
                key="pipeline.steps",
            )
        if extra.name in pipeline.steps:
            raise ConfigError(
                f"pipeline.steps entry '{spec}' is named '{extra.name}', like a standard step; "
                "rename the function",
                key="pipeline.steps",
            )
        pipeline = pipeline.with_step(extra, before="register")
    return pipeline
