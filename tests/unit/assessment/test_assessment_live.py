"""Evidence from a live mlpilot project: a real pipeline run on SQLite, then store rows the
autopilot would write, a tampered audit chain, a project never run and an unreadable store."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest
from sqlalchemy import update
from tests.conftest import write_scaled_project

from mlpilot.assessment import FactSet, assess
from mlpilot.assessment._live import LIVE_FACTS, collect_live
from mlpilot.project import Project
from mlpilot.store import AuditEventRow, ReleaseRow, TriggerEventRow, utcnow


def commit_all(directory: Path) -> None:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(directory)}
    for args in (
        ["init", "--quiet"],
        ["add", "--all"],
        ["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "--quiet", "-m", "c"],
    ):
        subprocess.run(["git", *args], cwd=directory, env=env, check=True, capture_output=True)


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git-tracked project whose pipeline ran once: v1 registered as the champion."""
    directory = write_scaled_project(tmp_path_factory.mktemp("live") / "proj")
    (directory / ".gitignore").write_text(".mlpilot/\n")
    commit_all(directory)
    project = Project.open(directory)
    try:
        assert project.run(alias="champion").model_version == 1
    finally:
        project.store.dispose()
    return directory


def _collect(directory: Path) -> FactSet:
    facts = FactSet()
    assert collect_live(directory, facts) is True
    return facts


def test_a_run_project_shows_runs_lineage_snapshots_digests_and_an_intact_audit(
    ran: Path,
) -> None:
    facts = _collect(ran)
    met = {key for key, fact in facts.facts.items() if fact.met}
    assert {"live.runs", "live.lineage", "live.snapshots", "live.versions", "live.audit"} <= met
    assert {"tracking.experiments", "registry.models", "data.versioned", "compute.managed"} <= met
    versions = facts.get("live.versions").evidence[0]
    assert "1 model version registered with a pinned sha256 digest" in versions.detail
    assert versions.ref is not None
    assert versions.ref.startswith("audit event ")
    assert "hash chain intact" in facts.get("live.audit").evidence[0].detail
    lineage = facts.get("live.lineage").evidence[0]
    assert "snapshot" in lineage.detail
    assert "code" in lineage.detail
    # nothing was served or released yet: not met, each with what would show it
    for fact_id in ("live.serving", "live.releases", "live.rollbacks", "live.monitors"):
        assert facts.get(fact_id).met is False, fact_id
        assert facts.get(fact_id).note
    assert facts.get("live.zero_downtime").note == "no model version change to judge yet"


def _release(project: Project, *, state: str, decision: str | None, kind: str) -> None:
    now = utcnow()
    with project.store.session() as session, session.begin():
        trigger = TriggerEventRow(
            project=project.name,
            name=kind,
            kind=kind,
            ts=now,
            actor="autopilot",
            status="released",
        )
        session.add(trigger)
        session.flush()
        session.add(
            ReleaseRow(
                id=str(uuid.uuid4()),
                project=project.name,
                state=state,
                strategy="canary",
                trigger_id=trigger.id,
                trigger=f"{kind}: test",
                actor="autopilot",
                created_at=now,
                updated_at=now,
                finished_at=now,
                pipeline_run_id="run-1",
                model_version=2,
                champion_version=1,
                decision=decision,
                decided_at=now,
                decision_reason=f"{decision} for the test",
                analysis={"challenger": {}},
            )
        )


def test_releases_count_as_automatic_only_when_an_automatic_trigger_started_them(
    tmp_path: Path, ran: Path
) -> None:
    project = Project.open(ran)
    try:
        _release(project, state="promoted", decision="promote", kind="manual")
        facts = _collect(ran)
        assert facts.get("live.releases_automatic").met is True  # promoted by the decision
        assert facts.get("live.online_analysis").met is True
        assert facts.get("live.retrain_automatic").met is False  # a person asked for it
        assert facts.get("live.rollbacks").met is False
        _release(project, state="rolled_back", decision="rollback", kind="drift")
        facts = _collect(ran)
        assert facts.get("live.retrain_automatic").met is True
        assert "drift: test" in facts.get("live.retrain_automatic").evidence[0].detail
        assert facts.get("live.rollbacks").met is True
        assert facts.get("release.rollback").met is True
        assert "2 releases recorded (1 promoted, 1 rolled_back)" in (
            facts.get("live.releases").evidence[0].detail
        )
    finally:
        with project.store.session() as session, session.begin():
            session.query(ReleaseRow).delete()
            session.query(TriggerEventRow).delete()
        project.store.dispose()


def test_an_edited_audit_event_makes_the_audit_fact_fail_with_the_event(ran: Path) -> None:
    project = Project.open(ran)
    with project.store.session() as session:
        first = session.query(AuditEventRow).order_by(AuditEventRow.id).first()
    assert first is not None

    def set_reason(reason: str | None) -> None:
        with project.store.session() as session, session.begin():
            session.execute(
                update(AuditEventRow).where(AuditEventRow.id == first.id).values(reason=reason)
            )

    try:
        set_reason("edited")
        fact = _collect(ran).get("live.audit")
        assert fact.met is False
        assert f"does not verify at event {first.id}" in (fact.note or "")
    finally:
        set_reason(first.reason)
        project.store.dispose()
    assert _collect(ran).get("live.audit").met is True


def test_a_project_never_run_has_unmet_live_facts_and_no_store_is_created(tmp_path: Path) -> None:
    directory = write_scaled_project(tmp_path / "new")
    facts = _collect(directory)
    assert all(facts.get(key).met is False for key in LIVE_FACTS)
    assert facts.get("live.runs").note == "the project has not run yet (no metadata store)"
    assert not (directory / ".mlpilot" / "mlpilot.db").exists()


def test_an_unreadable_store_leaves_live_facts_unknown_and_the_repository_still_reported(
    tmp_path: Path,
) -> None:
    directory = write_scaled_project(tmp_path / "broken")
    (directory / ".mlpilot").mkdir()
    (directory / ".mlpilot" / "mlpilot.db").write_bytes(b"this is not a database" * 100)
    result = assess(directory, models=("google",))
    from_store = set(LIVE_FACTS) - {"live.serving", "live.feedback"}  # those read the log
    assert {key: result.facts.get(key).met for key in from_store} == dict.fromkeys(from_store)
    assert result.facts.get("live.serving").met is False  # the prediction log is readable
    assert any("cannot be" in note for note in result.notes), result.notes
    assert result.facts.get("pipeline.definition").met is True  # the files still count


def test_a_bad_project_file_is_a_note_not_a_crash(tmp_path: Path) -> None:
    directory = tmp_path / "bad"
    directory.mkdir()
    (directory / "mlpilot.toml").write_text("[project\nname = 'x'\n")
    facts = _collect(directory)
    assert facts.get("live.runs").met is None
    assert any("mlpilot.toml cannot be loaded" in note for note in facts.notes)
