"""A project as the CLI sees it: its settings and stores, and the verbs run on it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import select, update

from mlpilot.config import Settings, find_project_dir, load_settings
from mlpilot.errors import ConfigError, DataError
from mlpilot.governance import AuditTrail, ChainReport, default_actor
from mlpilot.store import SchemaRow, Store, utcnow

if TYPE_CHECKING:
    from mlpilot.autopilot import Autopilot
    from mlpilot.governance import AuditEvent
    from mlpilot.monitoring import Monitor
    from mlpilot.pipeline import RunListener, RunSummary
    from mlpilot.registry import ModelVersion, Registry


class Project:
    """Settings plus lazily opened stores. Build with :meth:`open`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @classmethod
    def open(
        cls,
        directory: Path | None = None,
        *,
        overrides: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Project:
        project_dir = find_project_dir(directory)
        return cls(load_settings(project_dir, env=env, overrides=overrides))

    @property
    def name(self) -> str:
        return self.settings.project.name

    @cached_property
    def store(self) -> Store:
        return Store.open(self.settings.metadata_url)

    @cached_property
    def audit(self) -> AuditTrail:
        return AuditTrail(self.store)

    @cached_property
    def registry(self) -> Registry:
        from mlpilot import tracking
        from mlpilot.registry import Registry

        tracking.configure(self.settings)
        return Registry(self.settings, self.audit)

    def run(
        self,
        *,
        listener: RunListener | None = None,
        use_cache: bool = True,
        alias: Literal["champion", "challenger"] | None = None,
        actor: str | None = None,
    ) -> RunSummary:
        from mlpilot.pipeline import run_project

        return run_project(
            self.settings,
            self.store,
            listener=listener,
            use_cache=use_cache,
            alias=alias,
            actor=actor,
        )

    def models(self) -> list[ModelVersion]:
        return self.registry.list_versions()

    def promote(self, version: int, *, reason: str, actor: str | None = None) -> ModelVersion:
        return self.registry.promote(version, reason=_reason(reason), actor=actor)

    def rollback(self, *, reason: str, actor: str | None = None) -> ModelVersion:
        return self.registry.rollback(reason=_reason(reason), actor=actor)

    def schema(self, status: Literal["active", "proposed"] = "active") -> SchemaRow | None:
        with self.store.session() as s:
            return s.execute(
                select(SchemaRow)
                .where(SchemaRow.project == self.name, SchemaRow.status == status)
                .order_by(SchemaRow.id.desc())
                .limit(1)
            ).scalar_one_or_none()

    def accept_schema(self, *, reason: str, actor: str | None = None) -> SchemaRow:
        """Adopt the proposed schema (left by a run that failed validation); audited."""
        why = _reason(reason)
        who = actor or default_actor()
        with self.store.session() as s:
            proposed = s.execute(
                select(SchemaRow)
                .where(SchemaRow.project == self.name, SchemaRow.status == "proposed")
                .order_by(SchemaRow.id.desc())
                .limit(1)
            ).scalar_one_or_none()
            if proposed is None:
                raise DataError(
                    f"project '{self.name}' has no proposed schema to accept: one is proposed "
                    "when 'mlpilot run' finds data that breaks the active schema"
                )
            old = s.execute(
                select(SchemaRow.version).where(
                    SchemaRow.project == self.name, SchemaRow.status == "active"
                )
            ).scalar_one_or_none()
            s.execute(
                update(SchemaRow)
                .where(SchemaRow.project == self.name, SchemaRow.status == "active")
                .values(status="superseded")
            )
            proposed.status = "active"
            proposed.actor = who
            proposed.reason = why
            proposed.created_at = utcnow()
            self.audit.record(
                "schema.accepted",
                target=f"schema:{self.name}/{proposed.version}",
                actor=who,
                reason=why,
                details={"previous": old, "snapshot": proposed.snapshot_hash},
                session=s,
            )
            s.flush()
            s.expunge(proposed)
        return proposed

    def monitor(self) -> Monitor:
        """The deployment's monitor over the prediction log; alerts go to the configured webhook.

        A webhook URL that can never be safe (scheme, credentials, host not allowed, a refused
        IP literal) is a :class:`ConfigError` here; its addresses are checked again at every
        delivery. Alerts a stopped process left undelivered are queued again.
        """
        from mlpilot.monitoring import AlertDispatcher, Monitor, check_webhook_url
        from mlpilot.serving import PredictionLog

        alerts = self.settings.monitor.alerts
        dispatcher = None
        if alerts.webhook is not None:
            check_webhook_url(alerts.webhook, alerts, resolve=False)
            dispatcher = AlertDispatcher(self.store, alerts, self.name)
            dispatcher.retry_pending()
        log = PredictionLog(self.settings.journal_dir, self.settings.predictions_url)
        return Monitor(self.settings, self.store, self.registry, log, dispatcher=dispatcher)

    def autopilot(self, *, tag: str | None = None, monitors: bool = True) -> Autopilot:
        """The project's autopilot controller (it acts once it holds the project's lease)."""
        from mlpilot.autopilot import Autopilot
        from mlpilot.serving import PredictionLog

        log = PredictionLog(self.settings.journal_dir, self.settings.predictions_url)
        return Autopilot(
            self.settings,
            self.store,
            self.registry,
            log=log,
            monitor=self.monitor() if monitors else None,
            tag=tag,
        )

    def audit_events(
        self,
        limit: int = 50,
        *,
        since: datetime | None = None,
        action_prefix: str | None = None,
    ) -> list[AuditEvent]:
        """The newest audit events, newest first (see :meth:`AuditTrail.events`)."""
        return self.audit.events(limit=limit, since=since, action_prefix=action_prefix)

    def verify_audit(self, *, head: str | None = None) -> ChainReport:
        """Check the audit chain (see :meth:`AuditTrail.verify`)."""
        return self.audit.verify(head=head)


def _reason(reason: str) -> str:
    text = reason.strip()
    if not text:
        raise ConfigError("a reason is required: pass --reason 'why this change is made'")
    return text
