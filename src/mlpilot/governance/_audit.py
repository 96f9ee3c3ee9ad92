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
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mlpilot.errors import ConfigError, StoreError
from mlpilot.store import AuditEventRow, AuditHeadRow, Store, utcnow

GENESIS = "0" * 64
_HEAD = "audit"


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
        stored = s.get(AuditHeadRow, _HEAD)
        if stored is None:
            # The first append after the head table arrived: count what is already chained.
            before = s.execute(select(func.count()).select_from(AuditEventRow)).scalar_one()
            stored = AuditHeadRow(name=_HEAD, events=int(before))
            s.add(stored)
        s.add(row)
        stored.hash = row.hash
        stored.events += 1
        stored.updated_at = ts
        s.flush()
        return _event(row)

    def events(
        self,
        *,
        action: str | None = None,
        target: str | None = None,
        limit: int = 100,
        since: datetime | None = None,
        action_prefix: str | None = None,
    ) -> list[AuditEvent]:
        """The newest ``limit`` events that match every filter given, newest first.

        ``action`` and ``target`` match exactly; ``action_prefix`` matches the start of the
        action (``"model."``: every model event); ``since`` keeps events at or after that time
        (a naive ``datetime`` is taken as UTC). The filters run in SQL.
        """
        q = select(AuditEventRow).order_by(AuditEventRow.id.desc()).limit(limit)
        if action is not None:
            q = q.where(AuditEventRow.action == action)
        if action_prefix:
            q = q.where(AuditEventRow.action.startswith(action_prefix, autoescape=True))
        if target is not None:
            q = q.where(AuditEventRow.target == target)
        if since is not None:
            q = q.where(AuditEventRow.ts >= since)
        with self.store.session() as s:
            return [_event(r) for r in s.execute(q).scalars()]

    def verify(self, *, head: str | None = None) -> ChainReport:
        """Recompute every hash and link; report the first event that does not fit.

        That finds an event whose content was changed, and events deleted or reordered. The
        store keeps the chain's head (last hash and length), moved in each append's
        transaction, so events deleted from the end are found too. Someone able to rewrite the
        head as well is caught by an earlier ``head`` kept outside the store: the chain must
        still contain that event.
        """
        head = head.strip().lower() if head is not None else None
        if head is not None and not _is_hash(head):
            raise ConfigError(
                f"audit chain head {head!r} is not a sha256 hash; pass the 64 hexadecimal "
                "characters an earlier 'mlpilot audit verify' printed as the head"
            )
        prev = GENESIS
        count = 0
        found = head is None or head == GENESIS
        with self.store.session() as s:
            stored = s.get(AuditHeadRow, _HEAD)
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
                found = found or row.hash == head
        if not found:
            return ChainReport(
                False,
                count,
                None,
                f"the earlier head {head} is not in the chain: events were deleted from its "
                "end (or the whole chain was rewritten)",
                prev,
            )
        if stored is not None and (stored.hash != prev or stored.events != count):
            return ChainReport(
                False,
                count,
                None,
                f"the chain ends at event {count} ({prev[:12]}) but its recorded head is event "
                f"{stored.events} ({stored.hash[:12]}): events were deleted from its end",
                prev,
            )
        return ChainReport(True, count, head=prev)


def _is_hash(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)
