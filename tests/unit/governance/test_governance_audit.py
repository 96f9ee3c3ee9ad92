import threading
from pathlib import Path

from sqlalchemy import update

from mlpilot.governance import AuditTrail
from mlpilot.store import AuditEventRow, Store


def _trail(tmp_path: Path) -> AuditTrail:
    return AuditTrail(Store.open(f"sqlite:///{tmp_path / 'm.db'}"))


def test_events_chain_and_verify(tmp_path: Path) -> None:
    trail = _trail(tmp_path)
    a = trail.record("model.promoted", target="model:x/1", actor="ann", reason="r1")
    b = trail.record("model.rolled_back", target="model:x/1", actor="bob", details={"to": 1})
    assert b.prev_hash == a.hash
    report = trail.verify()
    assert report.ok
    assert report.events == 2
    assert report.head == b.hash
    assert [e.action for e in trail.events()] == ["model.rolled_back", "model.promoted"]


def test_altered_event_is_detected(tmp_path: Path) -> None:
    trail = _trail(tmp_path)
    trail.record("a", target="t", actor="ann")
    second = trail.record("b", target="t", actor="ann", reason="honest")
    trail.record("c", target="t", actor="ann")
    with trail.store.session() as s:
        s.execute(
            update(AuditEventRow).where(AuditEventRow.id == second.id).values(reason="forged")
        )
    report = trail.verify()
    assert not report.ok
    assert report.first_bad_id == second.id
    assert report.problem == "its content was altered"


def test_deleted_event_is_detected(tmp_path: Path) -> None:
    trail = _trail(tmp_path)
    trail.record("a", target="t", actor="ann")
    second = trail.record("b", target="t", actor="ann")
    third = trail.record("c", target="t", actor="ann")
    with trail.store.session() as s:
        s.delete(s.get(AuditEventRow, second.id))
    report = trail.verify()
    assert not report.ok
    assert report.first_bad_id == third.id
    assert "does not link" in (report.problem or "")


def test_concurrent_writers_keep_one_chain(tmp_path: Path) -> None:
    trail = _trail(tmp_path)

    def write(n: int) -> None:
        for i in range(10):
            trail.record("w", target=f"t{n}", actor="w", details={"i": i})

    threads = [threading.Thread(target=write, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report = trail.verify()
    assert report.ok
    assert report.events == 30
