"""The audit trail: append-only events chained by sha256."""

from __future__ import annotations

import getpass
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import select
from sqlalchemy.orm import Session

from mlpilot.errors import StoreError
from mlpilot.store import AuditEventRow, Store, utcnow

GENESIS = "0" * 64


def default_actor() -> str:
    """Who is acting: ``MLPILOT_ACTOR`` if set, else the OS user."""
    actor = os.environ.get("MLPILOT_ACTOR")
    if actor:
        return actor
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@dataclass(frozen=True)
class AuditEvent:
    id: int
    ts: datetime
    actor: str
    action: str
    target: str
    reason: str | None
    details: dict[str, Any]
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "ts": self.ts.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "reason": self.reason,
            "details": self.details,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    events: int
    first_bad_id: int | None = None
    problem: str | None = None
    head: str = GENESIS


def _digest(
    prev_hash: str,
    ts: datetime,
    actor: str,
    action: str,
    target: str,
    reason: str | None,
    details: Mapping[str, Any],
) -> str:
    body = json.dumps(
        {
            "prev": prev_hash,
            "ts": ts.replace(tzinfo=None).isoformat(timespec="microseconds"),
            "actor": actor,
            "action": action,
            "target": target,
            "reason": reason,
            "details": details,
        },
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def _event(row: AuditEventRow) -> AuditEvent:
    return AuditEvent(
        id=row.id,
        ts=row.ts,
        actor=row.actor,
        action=row.action,
        target=row.target,
        reason=row.reason,
        details=dict(row.details),
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


class AuditTrail:
    """Append and verify audit events in a :class:`~mlpilot.store.Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def record(
        self,
        action: str,
        *,
        target: str,
        actor: str | None = None,
        reason: str | None = None,
        details: Mapping[str, Any] | None = None,
        session: Session | None = None,
    ) -> AuditEvent:
        """Append one event. With ``session`` it joins the caller's transaction."""
        clean = json.loads(json.dumps(dict(details or {}), default=str))
        who = actor or default_actor()
        if session is not None:
            self.store.serialize(session, "mlpilot.audit")
            return self._append(session, action, target, who, reason, clean)
        for _attempt in range(5):
            try:
                with self.store.session() as s:
                    self.store.serialize(s, "mlpilot.audit")
                    return self._append(s, action, target, who, reason, clean)
            except sa_exc.IntegrityError:
                continue  # another writer took the same chain head; read it again
        raise StoreError(
            f"could not append audit event '{action}' on {target}: the chain head kept moving; "
            "retry the operation"
        )

    @staticmethod
    def _append(
        s: Session,
        action: str,
        target: str,
        actor: str,
        reason: str | None,
        details: dict[str, Any],
    ) -> AuditEvent:
        last = s.execute(
            select(AuditEventRow.hash).order_by(AuditEventRow.id.desc()).limit(1)
        ).scalar_one_or_none()
        prev = last or GENESIS
        ts = utcnow()
        row = AuditEventRow(
            ts=ts,
            actor=actor,
            action=action,
            target=target,
            reason=reason,
            details=details,
            prev_hash=prev,
            hash=_digest(prev, ts, actor, action, target, reason, details),
        )
        s.add(row)
        s.flush()
        return _event(row)

    def events(
        self, *, action: str | None = None, target: str | None = None, limit: int = 100
    ) -> list[AuditEvent]:
        """Newest first."""
        q = select(AuditEventRow).order_by(AuditEventRow.id.desc()).limit(limit)
        if action is not None:
            q = q.where(AuditEventRow.action == action)
        if target is not None:
            q = q.where(AuditEventRow.target == target)
        with self.store.session() as s:
            return [_event(r) for r in s.execute(q).scalars()]

    def verify(self) -> ChainReport:
        """Recompute every hash and link; report the first event that does not fit."""
        prev = GENESIS
        count = 0
        with self.store.session() as s:
            for row in s.execute(select(AuditEventRow).order_by(AuditEventRow.id)).scalars():
                count += 1
                if row.prev_hash != prev:
                    return ChainReport(
                        False, count, row.id, "does not link to the event before it", prev
                    )
                expected = _digest(
                    row.prev_hash,
                    row.ts,
                    row.actor,
                    row.action,
                    row.target,
                    row.reason,
                    row.details,
                )
                if expected != row.hash:
                    return ChainReport(False, count, row.id, "its content was altered", prev)
                prev = row.hash
        return ChainReport(True, count, head=prev)
