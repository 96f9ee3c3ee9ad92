"""Releases and trigger events in the metadata store: every transition is one transaction that
also writes its audit event, so the store and the audit trail never disagree."""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mlpilot.errors import ReleaseError, ReleaseNotFoundError
from mlpilot.governance import AuditTrail
from mlpilot.store import AutopilotStateRow, ReleaseRow, Store, TriggerEventRow, utcnow

__all__ = [
    "ACTOR",
    "CRASH_ENV",
    "IN_FLIGHT",
    "ROLLOUT_STATES",
    "TERMINAL",
    "Release",
    "ReleaseBook",
    "TriggerEvent",
]

ACTOR = "autopilot"
CRASH_ENV = "MLPILOT_AUTOPILOT_CRASH_AT"
"""Fault injection for crash tests: a comma-separated list of points (``after:<state>``,
``after:decided``, ``after:trained``, ``after:challenger_alias``, ``after:route``,
``after:promote_alias``, ``after:rollback_route``); the controller process SIGKILLs itself
when it reaches one. Unset in normal use."""


def crash_point(name: str) -> None:
    """Kill this process at ``name`` if the crash tests asked for it (see :data:`CRASH_ENV`)."""
    wanted = os.environ.get(CRASH_ENV)
    if wanted and name in wanted.split(","):
        os.kill(os.getpid(), signal.SIGKILL)


TERMINAL = frozenset({"promoted", "rolled_back", "rejected", "failed"})
ROLLOUT_STATES = frozenset({"canary", "shadow", "ab", "analysing"})
IN_FLIGHT = frozenset({"triggered", "training", "gated"}) | ROLLOUT_STATES


@dataclass(frozen=True)
class TriggerEvent:
    """A trigger that fired, and what became of it."""

    id: int
    name: str
    kind: str
    ts: datetime
    actor: str
    reason: str | None
    details: dict[str, Any]
    status: str
    release_id: str | None

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__ | {"ts": self.ts.isoformat()}


@dataclass(frozen=True)
class Release:
    """One release as stored (see :class:`~mlpilot.store.ReleaseRow`)."""

    id: str
    project: str
    state: str
    strategy: str
    trigger: str
    reason: str | None
    actor: str
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    attempts: int
    pipeline_run_id: str | None
    model_version: int | None
    champion_version: int | None
    rollout_at: datetime | None
    decision: str | None
    decided_at: datetime | None
    decision_reason: str | None
    analysis: dict[str, Any]
    transitions: tuple[dict[str, Any], ...]
    triggers: tuple[TriggerEvent, ...] = ()

    @property
    def done(self) -> bool:
        return self.state in TERMINAL

    @property
    def seconds(self) -> float:
        """From the trigger to the end (or to now)."""
        end = self.finished_at or utcnow()
        return (end - self.created_at).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            if isinstance(value, datetime):
                out[key] = value.isoformat()
            elif key == "triggers":
                out[key] = [t.to_dict() for t in value]
            elif key == "transitions":
                out[key] = list(value)
            else:
                out[key] = value
        return out


def _utc(value: datetime | None) -> datetime | None:
    from datetime import UTC

    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _release(row: ReleaseRow, triggers: Iterable[TriggerEventRow] = ()) -> Release:
    return Release(
        id=row.id,
        project=row.project,
        state=row.state,
        strategy=row.strategy,
        trigger=row.trigger,
        reason=row.reason,
        actor=row.actor,
        created_at=_utc(row.created_at) or utcnow(),
        updated_at=_utc(row.updated_at) or utcnow(),
        finished_at=_utc(row.finished_at),
        attempts=row.attempts,
        pipeline_run_id=row.pipeline_run_id,
        model_version=row.model_version,
        champion_version=row.champion_version,
        rollout_at=_utc(row.rollout_at),
        decision=row.decision,
        decided_at=_utc(row.decided_at),
        decision_reason=row.decision_reason,
        analysis=dict(row.analysis or {}),
        transitions=tuple((row.history or {}).get("transitions", [])),
        triggers=tuple(_trigger(t) for t in triggers),
    )


def _trigger(row: TriggerEventRow) -> TriggerEvent:
    return TriggerEvent(
        id=row.id,
        name=row.name,
        kind=row.kind,
        ts=_utc(row.ts) or utcnow(),
        actor=row.actor,
        reason=row.reason,
        details=dict(row.details or {}),
        status=row.status,
        release_id=row.release_id,
    )


class ReleaseBook:
    """A project's releases, trigger events and the controller's small durable state."""

    def __init__(self, store: Store, audit: AuditTrail, project: str) -> None:
        self.store = store
        self.audit = audit
        self.project = project

    # -- reading -----------------------------------------------------------------------------

    def get(self, release_id: str) -> Release:
        """The release with this id (or a unique prefix of at least 4 characters)."""
        with self.store.session() as s:
            row = s.get(ReleaseRow, release_id)
            if row is None and len(release_id) >= 4:
                found = list(
                    s.scalars(
                        select(ReleaseRow)
                        .where(
                            ReleaseRow.project == self.project,
                            ReleaseRow.id.startswith(release_id),
                        )
                        .limit(2)
                    )
                )
                row = found[0] if len(found) == 1 else None
            if row is None or row.project != self.project:
                raise ReleaseNotFoundError(
                    f"project '{self.project}' has no release '{release_id}'; list them with "
                    "'mlpilot releases'"
                )
            triggers = s.scalars(
                select(TriggerEventRow)
                .where(TriggerEventRow.release_id == row.id)
                .order_by(TriggerEventRow.id)
            )
            return _release(row, triggers)

    def recent(self, limit: int = 50) -> list[Release]:
        """The newest releases first."""
        with self.store.session() as s:
            rows = list(
                s.scalars(
                    select(ReleaseRow)
                    .where(ReleaseRow.project == self.project)
                    .order_by(ReleaseRow.created_at.desc(), ReleaseRow.id)
                    .limit(limit)
                )
            )
            by_release: dict[str, list[TriggerEventRow]] = {}
            if rows:
                for t in s.scalars(
                    select(TriggerEventRow)
                    .where(TriggerEventRow.release_id.in_([r.id for r in rows]))
                    .order_by(TriggerEventRow.id)
                ):
                    by_release.setdefault(t.release_id or "", []).append(t)
            return [_release(r, by_release.get(r.id, ())) for r in rows]

    def active(self) -> Release | None:
        """The release in flight, if any (at most one: one challenger slot)."""
        with self.store.session() as s:
            row = s.scalars(
                select(ReleaseRow)
                .where(ReleaseRow.project == self.project, ReleaseRow.state.in_(IN_FLIGHT))
                .order_by(ReleaseRow.created_at)
                .limit(1)
            ).first()
            return None if row is None else _release(row)

    def last_finished(self) -> Release | None:
        with self.store.session() as s:
            row = s.scalars(
                select(ReleaseRow)
                .where(ReleaseRow.project == self.project, ReleaseRow.finished_at.is_not(None))
                .order_by(ReleaseRow.finished_at.desc())
                .limit(1)
            ).first()
            return None if row is None else _release(row)

    def released_versions(self) -> set[int]:
        """Versions that some finished release already judged."""
        with self.store.session() as s:
            return {
                int(v)
                for v in s.scalars(
                    select(ReleaseRow.model_version).where(
                        ReleaseRow.project == self.project,
                        ReleaseRow.state.in_(TERMINAL),
                        ReleaseRow.model_version.is_not(None),
                    )
                )
                if v is not None
            }

    def triggers(self, limit: int = 50, *, status: str | None = None) -> list[TriggerEvent]:
        """Trigger events, oldest first when ``status`` is given, else the newest first."""
        query = select(TriggerEventRow).where(TriggerEventRow.project == self.project)
        if status is not None:
            query = query.where(TriggerEventRow.status == status).order_by(TriggerEventRow.id)
        else:
            query = query.order_by(TriggerEventRow.id.desc())
        with self.store.session() as s:
            return [_trigger(t) for t in s.scalars(query.limit(limit))]

    # -- writing -----------------------------------------------------------------------------

    def fire(
        self,
        kind: str,
        name: str,
        *,
        reason: str | None,
        actor: str = ACTOR,
        details: dict[str, Any] | None = None,
    ) -> int:
        """Record a trigger that fired (status pending until the controller takes it)."""
        with self.store.session() as s:
            row = TriggerEventRow(
                project=self.project,
                name=name,
                kind=kind,
                ts=utcnow(),
                actor=actor,
                reason=reason,
                details=details or {},
                status="pending",
            )
            s.add(row)
            s.flush()
            self.audit.record(
                "trigger.fired",
                target=f"trigger:{self.project}/{row.id}",
                actor=actor,
                reason=reason,
                details={"kind": kind, "name": name, **(details or {})},
                session=s,
            )
            return int(row.id)

    def settle(self, event_id: int, status: str, *, release_id: str | None, note: str) -> None:
        """Mark a pending trigger coalesced into ``release_id`` or held back by the cooldown."""
        with self.store.session() as s:
            row = s.get(TriggerEventRow, event_id)
            if row is None or row.status != "pending":
                return
            row.status = status
            row.release_id = release_id
            self.audit.record(
                f"trigger.{status}",
                target=f"trigger:{self.project}/{event_id}",
                actor=ACTOR,
                reason=note,
                details={"release": release_id, "name": row.name},
                session=s,
            )

    def start(
        self,
        event_id: int,
        *,
        strategy: str,
        state: str = "triggered",
        model_version: int | None = None,
        champion_version: int | None = None,
        note: str,
    ) -> Release:
        """Open a release for the pending trigger ``event_id`` (one release per trigger)."""
        with self.store.session() as s:
            self.store.serialize(s, f"release:{self.project}")
            event = s.get(TriggerEventRow, event_id)
            if event is None or event.status != "pending":
                raise ReleaseError(f"trigger {event_id} was already taken; nothing to start")
            started = self._open(s, event, strategy, state, model_version, champion_version, note)
        crash_point(f"after:{state}")
        return started

    def start_new(
        self,
        kind: str,
        name: str,
        *,
        reason: str,
        actor: str,
        details: dict[str, Any],
        strategy: str,
        model_version: int,
        champion_version: int | None,
        note: str,
    ) -> Release:
        """Record a trigger and open its release for an existing version, in one transaction
        (so the controller never sees the trigger without its release)."""
        with self.store.session() as s:
            self.store.serialize(s, f"release:{self.project}")
            event = TriggerEventRow(
                project=self.project,
                name=name,
                kind=kind,
                ts=utcnow(),
                actor=actor,
                reason=reason,
                details=details,
                status="pending",
            )
            self._check_free(s)
            s.add(event)
            s.flush()
            self.audit.record(
                "trigger.fired",
                target=f"trigger:{self.project}/{event.id}",
                actor=actor,
                reason=reason,
                details={"kind": kind, "name": name, **details},
                session=s,
            )
            started = self._open(s, event, strategy, "gated", model_version, champion_version, note)
        crash_point("after:gated")
        return started

    def _check_free(self, s: Session) -> None:
        busy = s.scalars(
            select(ReleaseRow.id).where(
                ReleaseRow.project == self.project, ReleaseRow.state.in_(IN_FLIGHT)
            )
        ).first()
        if busy is not None:
            raise ReleaseError(
                f"release {busy[:8]} of project '{self.project}' is in flight; one release "
                f"runs at a time: wait for it, or see 'mlpilot release show {busy[:8]}'"
            )

    def _open(
        self,
        s: Session,
        event: TriggerEventRow,
        strategy: str,
        state: str,
        model_version: int | None,
        champion_version: int | None,
        note: str,
    ) -> Release:
        self._check_free(s)
        now = utcnow()
        release_id = str(uuid.uuid4())
        transitions = [{"state": "triggered", "at": now.isoformat(), "note": note}]
        if state != "triggered":
            transitions.append({"state": state, "at": now.isoformat(), "note": note})
        row = ReleaseRow(
            id=release_id,
            project=self.project,
            state=state,
            strategy=strategy,
            trigger_id=event.id,
            trigger=event.name,
            reason=event.reason,
            actor=event.actor,
            created_at=now,
            updated_at=now,
            attempts=0,
            model_version=model_version,
            champion_version=champion_version,
            analysis={},
            history={"transitions": transitions},
        )
        s.add(row)
        event.status = "released"
        event.release_id = release_id
        s.flush()
        for t in transitions:
            self.audit.record(
                f"release.{t['state']}",
                target=f"release:{self.project}/{release_id}",
                actor=ACTOR,
                reason=note,
                details={
                    "trigger": event.name,
                    "kind": event.kind,
                    "strategy": strategy,
                    "model_version": model_version,
                },
                session=s,
            )
        s.flush()
        return _release(row, [event])

    def move(
        self,
        release_id: str,
        state: str,
        *,
        expect: Iterable[str],
        note: str,
        details: dict[str, Any] | None = None,
        **fields: Any,
    ) -> Release:
        """Move a release to ``state`` from one of ``expect`` (else :class:`ReleaseError`),
        setting ``fields``, with its audit event ``release.<state>`` in the same transaction."""
        allowed = set(expect)
        now = utcnow()
        with self.store.session() as s:
            self.store.serialize(s, f"release:{self.project}")
            row = s.get(ReleaseRow, release_id)
            if row is None:
                raise ReleaseNotFoundError(f"release '{release_id}' vanished from the store")
            if row.state not in allowed:
                raise ReleaseError(
                    f"release {release_id[:8]} is {row.state}, not {' or '.join(sorted(allowed))}"
                    f"; it cannot become {state}"
                )
            self._write(s, row, state, now, note, fields)
            self.audit.record(
                f"release.{state}",
                target=f"release:{self.project}/{release_id}",
                actor=ACTOR,
                reason=note,
                details={
                    "model_version": row.model_version,
                    "champion_version": row.champion_version,
                    "strategy": row.strategy,
                    **(details or {}),
                },
                session=s,
            )
            s.flush()
            moved = _release(row)
        crash_point(f"after:{state}")
        return moved

    def note_analysis(self, release_id: str, analysis: dict[str, Any]) -> None:
        """Keep the latest statistics of an undecided analysis (no transition, no event)."""
        with self.store.session() as s:
            row = s.get(ReleaseRow, release_id)
            if row is not None and row.state == "analysing" and row.decision is None:
                row.analysis = analysis
                row.updated_at = utcnow()

    def decide(
        self, release_id: str, decision: str, *, reason: str, analysis: dict[str, Any]
    ) -> Release:
        """Record the decision with its statistics before any of its effects (then re-appliable
        after a crash); writes ``release.decided``."""
        now = utcnow()
        with self.store.session() as s:
            self.store.serialize(s, f"release:{self.project}")
            row = s.get(ReleaseRow, release_id)
            if row is None or row.state != "analysing":
                raise ReleaseError(f"release {release_id[:8]} is not being analysed")
            if row.decision is None:
                row.decision = decision
                row.decided_at = now
                row.decision_reason = reason
                row.analysis = analysis
                row.updated_at = now
                self.audit.record(
                    "release.decided",
                    target=f"release:{self.project}/{release_id}",
                    actor=ACTOR,
                    reason=reason,
                    details={
                        "decision": decision,
                        "model_version": row.model_version,
                        "champion_version": row.champion_version,
                        "analysis": analysis,
                    },
                    session=s,
                )
            s.flush()
            decided = _release(row)
        crash_point("after:decided")
        return decided

    @staticmethod
    def _write(
        s: Session, row: ReleaseRow, state: str, now: datetime, note: str, fields: dict[str, Any]
    ) -> None:
        for key, value in fields.items():
            setattr(row, key, value)
        history = dict(row.history or {})
        history["transitions"] = [
            *history.get("transitions", []),
            {"state": state, "at": now.isoformat(), "note": note},
        ]
        row.history = history
        row.state = state
        row.updated_at = now
        if state in TERMINAL:
            row.finished_at = now

    # -- the controller's durable values ----------------------------------------------------

    def state(self, key: str) -> dict[str, Any] | None:
        with self.store.session() as s:
            row = s.get(AutopilotStateRow, (self.project, key))
            return None if row is None else dict(row.value or {})

    def set_state(self, key: str, value: dict[str, Any]) -> None:
        with self.store.session() as s:
            row = s.get(AutopilotStateRow, (self.project, key))
            if row is None:
                s.add(
                    AutopilotStateRow(
                        project=self.project, key=key, value=value, updated_at=utcnow()
                    )
                )
            else:
                row.value = value
                row.updated_at = utcnow()
