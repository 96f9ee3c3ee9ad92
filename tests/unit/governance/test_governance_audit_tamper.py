"""Tampering the audit chain detects, beyond the altered reason and the deleted middle event
covered in test_governance_audit; and the SQL filters of ``AuditTrail.events``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, update

from mlpilot.errors import ConfigError
from mlpilot.governance import AuditEvent, AuditTrail
from mlpilot.store import AuditEventRow, Store, utcnow


@pytest.fixture
def trail(tmp_path: Path) -> AuditTrail:
    return AuditTrail(Store.open(f"sqlite:///{tmp_path / 'm.db'}"))


def _three(trail: AuditTrail) -> list[AuditEvent]:
    return [
        trail.record("model.registered", target="model:x/1", actor="ann", details={"v": 1}),
        trail.record("model.promoted", target="model:x/1", actor="ann", reason="better"),
        trail.record("pipeline.succeeded", target="run:x/r", actor="bob", details={"n": 2}),
    ]


@pytest.mark.parametrize(
    "change",
    [
        {"actor": "mallory"},
        {"action": "model.archived"},
        {"target": "model:x/2"},
        {"details": {"n": 3}},
        {"ts": utcnow() - timedelta(seconds=1)},
    ],
    ids=lambda change: next(iter(change)),
)
def test_an_edited_field_of_the_last_event_is_detected(
    trail: AuditTrail, change: dict[str, Any]
) -> None:
    last = _three(trail)[-1]
    with trail.store.session() as s:
        s.execute(update(AuditEventRow).where(AuditEventRow.id == last.id).values(**change))
    report = trail.verify()
    assert not report.ok
    assert (report.first_bad_id, report.problem) == (last.id, "its content was altered")


def test_swapped_events_are_detected(trail: AuditTrail) -> None:
    first, second, third = _three(trail)
    with trail.store.session() as s:  # put the third event before the second
        for old, new in ((second.id, 1000), (third.id, second.id), (1000, third.id)):
            s.execute(update(AuditEventRow).where(AuditEventRow.id == old).values(id=new))
    report = trail.verify()
    assert not report.ok
    assert report.first_bad_id == second.id  # now holding the third event
    assert report.problem == "does not link to the event before it"
    assert report.head == first.hash  # the last event that still fits


def test_deleted_last_event_is_detected_against_an_earlier_head(trail: AuditTrail) -> None:
    _three(trail)
    kept = trail.verify()
    assert kept.ok
    trail.record("model.alias_set", target="model:x/2", actor="ann")  # appending is fine
    assert trail.verify(head=kept.head).ok
    with trail.store.session() as s:
        s.execute(delete(AuditEventRow).where(AuditEventRow.hash == kept.head))
        s.execute(delete(AuditEventRow).where(AuditEventRow.prev_hash == kept.head))
    report = trail.verify(head=kept.head)
    assert not report.ok
    assert report.first_bad_id is None
    assert report.events == 2
    assert f"the earlier head {kept.head} is not in the chain" in (report.problem or "")


def test_deleted_last_event_is_detected_from_the_stored_head(trail: AuditTrail) -> None:
    events = _three(trail)
    assert trail.verify().ok
    with trail.store.session() as s:
        s.execute(delete(AuditEventRow).where(AuditEventRow.id == events[-1].id))
    report = trail.verify()
    assert not report.ok
    assert report.events == 2
    assert "recorded head is event 3" in (report.problem or "")
    assert "deleted from its end" in (report.problem or "")


def test_verify_rejects_a_head_that_is_not_a_hash(trail: AuditTrail) -> None:
    with pytest.raises(ConfigError, match=r"'3f9a' is not a sha256 hash"):
        trail.verify(head="3f9a")


def test_events_since_and_by_action_prefix(trail: AuditTrail) -> None:
    registered, promoted, succeeded = _three(trail)
    odd = trail.record("modelx", target="t", actor="ann")  # no dot: not a "model." event
    like = trail.record("axb.done", target="t", actor="ann")  # "_" must not act as a wildcard
    assert [e.id for e in trail.events(action_prefix="model.")] == [promoted.id, registered.id]
    assert [e.id for e in trail.events(action_prefix="model.", limit=1)] == [promoted.id]
    assert trail.events(action_prefix="a_b") == []
    assert [e.id for e in trail.events(action_prefix="axb")] == [like.id]
    assert [e.id for e in trail.events(since=succeeded.ts)] == [like.id, odd.id, succeeded.id]
    later = like.ts + timedelta(microseconds=1)
    assert trail.events(since=later) == []
    both = trail.events(since=promoted.ts, action_prefix="model.")
    assert [e.id for e in both] == [promoted.id]
