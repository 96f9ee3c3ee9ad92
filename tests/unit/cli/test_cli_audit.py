"""'mlpilot audit': listing events with filters, 'audit log' as its alias, 'audit verify'."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, update

from mlpilot.cli import main
from mlpilot.project import Project
from mlpilot.store import AuditEventRow, AuditHeadRow, utcnow


@pytest.fixture
def audited(project_dir: Path) -> Path:
    """A project with four events; the oldest (``model.registered``) is two hours old."""
    project = Project.open(project_dir, env={})
    old = project.audit.record("model.registered", target="model:demo/1", actor="ann")
    project.audit.record("pipeline.succeeded", target="run:demo/r1", actor="ann")
    project.audit.record("model.promoted", target="model:demo/1", actor="bob", reason="better")
    project.audit.record("schema.accepted", target="schema:demo/s2", actor="bob")
    with project.store.session() as s:
        s.execute(
            update(AuditEventRow)
            .where(AuditEventRow.id == old.id)
            .values(ts=utcnow() - timedelta(hours=2))
        )
    project.store.dispose()
    return project_dir


def _flat(text: str) -> str:
    """``text`` with the console's line wrapping undone."""
    return " ".join(text.split())


def _json(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    data: list[dict[str, object]] = json.loads(capsys.readouterr().out)
    return data


def test_audit_since_1h_json_lists_only_recent_events(
    audited: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "--project", str(audited), "--since", "1h", "--json"]) == 0
    actions = [e["action"] for e in _json(capsys)]
    assert actions == ["schema.accepted", "model.promoted", "pipeline.succeeded"]


def test_audit_since_an_iso_time(audited: Path, capsys: pytest.CaptureFixture[str]) -> None:
    three_hours_ago = (utcnow() - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")
    assert main(["audit", "-p", str(audited), "--since", three_hours_ago, "--json"]) == 0
    assert len(_json(capsys)) == 4


def test_audit_action_prefix_table(audited: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "--project", str(audited), "--action", "model."]) == 0
    out = capsys.readouterr().out
    assert "model.promoted" in out
    assert "model.registered" in out
    assert "pipeline.succeeded" not in out
    assert "schema.accepted" not in out


def test_audit_log_is_the_same_listing(audited: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--project", str(audited), "--action", "model.", "--limit", "1", "--json"]
    assert main(["audit", *args]) == 0
    listed = _json(capsys)
    assert main(["audit", "log", *args]) == 0
    assert _json(capsys) == listed
    assert [e["action"] for e in listed] == ["model.promoted"]


def test_audit_nothing_matches(audited: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "-p", str(audited), "--action", "release."]) == 0
    assert "No audit events with an action starting 'release.'." in _flat(capsys.readouterr().out)


def test_audit_bad_since_is_a_config_error(
    audited: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "--project", str(audited), "--since", "yesterday"]) == 2
    err = _flat(capsys.readouterr().err)
    assert "--since 'yesterday' is neither a period nor a date/time" in err
    assert "'1h'" in err


def test_audit_options_before_a_command_are_refused(
    audited: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "--json", "verify", "--project", str(audited)]) == 2
    err = _flat(capsys.readouterr().err)
    assert "'mlpilot audit' got --json before the command 'verify'" in err
    assert "put the options after it" in err


def test_audit_verify_with_an_earlier_head_detects_a_deleted_last_event(
    audited: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = Project.open(audited, env={})
    with project.store.session() as s:  # the fixture's back-dated event breaks the chain
        s.execute(delete(AuditEventRow))
        s.execute(delete(AuditHeadRow))
    project.audit.record("a", target="t", actor="ann")
    last = project.audit.record("b", target="t", actor="ann")
    assert main(["audit", "verify", "--project", str(audited)]) == 0
    assert f"head {last.hash}" in _flat(capsys.readouterr().out)
    with project.store.session() as s:
        s.execute(delete(AuditEventRow).where(AuditEventRow.id == last.id))
    project.store.dispose()
    assert main(["audit", "verify", "--project", str(audited), "--head", last.hash]) == 1
    out = _flat(capsys.readouterr().out)
    assert f"audit chain broken: the earlier head {last.hash} is not in the chain" in out
