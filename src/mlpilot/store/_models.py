"""The tables of mlpilot's metadata store (SQLAlchemy 2 declarative models)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, Dialect, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Our own alembic version table, so mlpilot's tables can share a database with MLflow's.
VERSION_TABLE = "mlpilot_alembic_version"


class UTCDateTime(TypeDecorator[datetime]):
    """Stored as naive UTC everywhere, read back as aware UTC (SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON,
        datetime: UTCDateTime(),
        float: Float(),
    }


class PipelineRunRow(Base):
    """One run of a project's pipeline."""

    __tablename__ = "mlpilot_pipeline_runs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project: Mapped[str] = mapped_column(String(100), index=True)
    pipeline: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))  # running|succeeded|unchanged|rejected|failed
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    actor: Mapped[str] = mapped_column(String(200))
    trigger: Mapped[str] = mapped_column(String(50), default="manual")
    mlflow_run_id: Mapped[str | None] = mapped_column(String(64))
    snapshot_hash: Mapped[str | None] = mapped_column(String(64))
    schema_version: Mapped[str | None] = mapped_column(String(64))
    code_version: Mapped[str | None] = mapped_column(String(64))
    code_dirty: Mapped[bool | None]
    model_version: Mapped[int | None] = mapped_column(Integer)
    message: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)


class StepExecutionRow(Base):
    """One step of one pipeline run; ``cache_key`` finds reusable outputs."""

    __tablename__ = "mlpilot_step_executions"
    __table_args__ = (Index("ix_mlpilot_step_executions_cache_key", "cache_key", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("mlpilot_pipeline_runs.id", ondelete="CASCADE"))
    step: Mapped[str] = mapped_column(String(100))
    cache_key: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))  # ran|cached|failed
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    output_path: Mapped[str | None] = mapped_column(Text)
    output_digest: Mapped[str | None] = mapped_column(String(64))
    output_fingerprint: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)


class DatasetSnapshotRow(Base):
    """The exact rows a run used, stored once per project and content hash."""

    __tablename__ = "mlpilot_dataset_snapshots"

    project: Mapped[str] = mapped_column(String(100), primary_key=True)
    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    # What the source looked like when read (see mlpilot.data.source_fingerprint), if cheap.
    source_fingerprint: Mapped[str | None] = mapped_column(String(64), index=True)
    rows: Mapped[int]
    columns: Mapped[dict[str, Any]]
    path: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class SchemaRow(Base):
    """A data schema; exactly one per project is ``active``."""

    __tablename__ = "mlpilot_schemas"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project: Mapped[str] = mapped_column(String(100), index=True)
    version: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))  # active|superseded|proposed
    body: Mapped[dict[str, Any]]
    snapshot_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)


class AuditEventRow(Base):
    """One link of the hash-chained audit trail; ``prev_hash`` is unique, so it cannot fork."""

    __tablename__ = "mlpilot_audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ts: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100), index=True)
    target: Mapped[str] = mapped_column(String(300))
    reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class LockRow(Base):
    """A named lease held by one process."""

    __tablename__ = "mlpilot_locks"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    acquired_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class RouteRow(Base):
    """How a project's deployment splits traffic; ``revision`` grows with every change."""

    __tablename__ = "mlpilot_routes"

    project: Mapped[str] = mapped_column(String(100), primary_key=True)
    mode: Mapped[str] = mapped_column(String(20))  # single|canary|ab|shadow
    weights: Mapped[dict[str, Any]]  # {"champion": 0.9, "challenger": 0.1}
    revision: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(200))


class TokenRow(Base):
    """An API token: only its sha256 is kept."""

    __tablename__ = "mlpilot_tokens"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(20))  # predict|operate|admin
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))
    revoked_at: Mapped[datetime | None]


class MonitorEvaluationRow(Base):
    """One evaluation of a deployment's monitors over a window; ``report`` is the whole result."""

    __tablename__ = "mlpilot_monitor_evaluations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    deployment: Mapped[str] = mapped_column(String(100), index=True)
    ts: Mapped[datetime] = mapped_column(index=True)
    window_start: Mapped[datetime | None]
    window_end: Mapped[datetime | None]
    rows: Mapped[int] = mapped_column(Integer, default=0)
    alerts: Mapped[int] = mapped_column(Integer, default=0)
    report: Mapped[dict[str, Any]] = mapped_column(default=dict)


class MonitorResultRow(Base):
    """One monitor's value in one evaluation: the time series triggers and plots read."""

    __tablename__ = "mlpilot_monitor_results"
    __table_args__ = (
        Index("ix_mlpilot_monitor_results_series", "deployment", "monitor", "model_version", "ts"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    evaluation_id: Mapped[str] = mapped_column(
        ForeignKey("mlpilot_monitor_evaluations.id", ondelete="CASCADE"), index=True
    )
    deployment: Mapped[str] = mapped_column(String(100))
    ts: Mapped[datetime]
    monitor: Mapped[str] = mapped_column(String(200))  # e.g. drift.share, performance.accuracy
    scope: Mapped[str] = mapped_column(String(20))  # deployment|version
    variant: Mapped[str | None] = mapped_column(String(50))
    model_version: Mapped[int | None] = mapped_column(Integer)
    shadow: Mapped[bool] = mapped_column(default=False)
    value: Mapped[float | None]
    threshold: Mapped[float | None]
    breached: Mapped[bool | None]
    rows: Mapped[int] = mapped_column(Integer, default=0)


class AlertRow(Base):
    """A monitor that crossed its threshold, and how its webhook delivery went."""

    __tablename__ = "mlpilot_alerts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    evaluation_id: Mapped[str | None] = mapped_column(String(36), index=True)
    deployment: Mapped[str] = mapped_column(String(100), index=True)
    ts: Mapped[datetime] = mapped_column(index=True)
    monitor: Mapped[str] = mapped_column(String(200))
    scope: Mapped[str] = mapped_column(String(20))
    variant: Mapped[str | None] = mapped_column(String(50))
    model_version: Mapped[int | None] = mapped_column(Integer)
    value: Mapped[float | None]
    threshold: Mapped[float | None]
    message: Mapped[str] = mapped_column(Text)
    delivery: Mapped[str] = mapped_column(String(20), default="none")  # none|pending|sent|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class ReleaseRow(Base):
    """One release of a retrained model: a durable state machine, one row per release.

    ``state`` goes ``triggered → training → gated → (rejected | canary | shadow) → analysing →
    (promoted | rolled_back)``, or ``failed`` from any middle state; ``history`` keeps each
    transition with its time and note, ``analysis`` the latest statistics of the online test.
    """

    __tablename__ = "mlpilot_releases"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project: Mapped[str] = mapped_column(String(100), index=True)
    state: Mapped[str] = mapped_column(String(20), index=True)
    strategy: Mapped[str] = mapped_column(String(20))
    trigger_id: Mapped[int | None] = mapped_column(Integer, unique=True)
    trigger: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    pipeline_run_id: Mapped[str | None] = mapped_column(String(36))
    model_version: Mapped[int | None] = mapped_column(Integer)
    champion_version: Mapped[int | None] = mapped_column(Integer)
    rollout_at: Mapped[datetime | None]
    decision: Mapped[str | None] = mapped_column(String(20))  # promote|rollback
    decided_at: Mapped[datetime | None]
    decision_reason: Mapped[str | None] = mapped_column(Text)
    analysis: Mapped[dict[str, Any]] = mapped_column(default=dict)
    history: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"transitions": [...]}


class TriggerEventRow(Base):
    """A trigger that fired: started a release, or was coalesced into one, or held back."""

    __tablename__ = "mlpilot_trigger_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project: Mapped[str] = mapped_column(String(100), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(30))  # schedule|new_data|drift|performance|manual
    ts: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20))  # pending|released|coalesced|cooldown
    release_id: Mapped[str | None] = mapped_column(String(36))


class AutopilotStateRow(Base):
    """A small durable value the controller keeps between ticks (last schedule slot, data
    fingerprint)."""

    __tablename__ = "mlpilot_autopilot_state"

    project: Mapped[str] = mapped_column(String(100), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime]


class AuditHeadRow(Base):
    """The audit chain's head: its last hash and length, moved in the same transaction as each
    append, so deleting the newest events is detected like any other edit."""

    __tablename__ = "mlpilot_audit_head"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    hash: Mapped[str] = mapped_column(String(64))
    events: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime]
