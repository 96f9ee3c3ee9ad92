"""The controller on a real project: MLflow on SQLite, the embedded store, the real pipeline,
and prediction records written straight into the project's journal (as serving workers do).

Three versions are trained once for the module: v1 (champion) on the whole data, v2 and v3 on
subsets (registered, no alias). Traffic is simulated by journal records whose predictions are
right or wrong against the feedback labels at a chosen rate.
"""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sqlalchemy import select
from tests.conftest import write_scaled_project

from mlpilot.autopilot import Autopilot, Release
from mlpilot.errors import ModelNotFoundError, ReleaseError, ReleaseNotFoundError
from mlpilot.project import Project
from mlpilot.serving import Journal, RouteStore
from mlpilot.store import PipelineRunRow, ReleaseRow, TriggerEventRow

FAST = (
    '\n[release]\nstrategy = "canary"\ncanary_traffic = 0.5\n'
    "[release.analysis]\nmin_requests = 40\nmin_labels = 40\nmargin = 0.1\nmax_minutes = 30\n"
    "[autopilot]\ncooldown_minutes = 30\nlease_seconds = 30\n"
)


@pytest.fixture(scope="module")
def project_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = write_scaled_project(
        tmp_path_factory.mktemp("autopilot") / "proj", name="pilot", source="data.csv", extra=FAST
    )
    frame = load_breast_cancer(as_frame=True).frame
    frame.to_csv(directory / "data.csv", index=False)
    for i, seed in enumerate((None, 1, 2)):
        part = frame if seed is None else frame.sample(frac=0.9, random_state=seed)
        part.to_csv(directory / "data.csv", index=False)
        trainer = Project.open(directory, env={})
        summary = trainer.run()
        assert summary.model_version == i + 1, summary.message
        if i > 0:
            trainer.registry.remove_alias("challenger", reason="test setup")
        trainer.store.dispose()
    frame.sample(frac=0.8, random_state=7).to_csv(directory / "data.csv", index=False)
    return directory


@pytest.fixture
def project(project_dir: Path) -> Iterator[Project]:
    """The project with nothing in flight and an empty journal at the start of each test."""
    opened = Project.open(project_dir, env={})
    shutil.rmtree(opened.settings.journal_dir, ignore_errors=True)
    yield opened
    with opened.store.session() as s:
        for row in s.scalars(select(ReleaseRow).where(ReleaseRow.finished_at.is_(None))):
            row.state = "failed"
            row.finished_at = row.updated_at
    RouteStore(opened.store, opened.audit).set(opened.name, "single", reason="test teardown")
    if opened.registry.by_alias("challenger") is not None:
        opened.registry.remove_alias("challenger", reason="test teardown")
    if opened.registry.by_alias("champion").version != 1:  # type: ignore[union-attr]
        opened.registry.promote(1, reason="test teardown")
    opened.store.dispose()
    shutil.rmtree(opened.settings.journal_dir, ignore_errors=True)


def pilot(project: Project, tag: str = "a") -> Autopilot:
    return project.autopilot(tag=tag, monitors=False)


def traffic(
    project: Project,
    *,
    version: int,
    n: int,
    accuracy: float,
    seed: int,
    variant: str,
    errors: int = 0,
    latency_ms: float = 2.0,
) -> None:
    """``n`` single-row requests answered by ``version``, right at rate ``accuracy``, labelled."""
    rng = np.random.default_rng(seed)
    now = time.time()
    with Journal(project.settings.journal_dir, f"w{seed}") as journal:
        for i in range(n):
            label = int(rng.integers(0, 2))
            right = rng.random() < accuracy
            request_id = uuid.uuid4().hex
            journal.append(
                {
                    "kind": "prediction",
                    "request_id": request_id,
                    "ts": now + i * 0.001,
                    "deployment": project.name,
                    "variant": variant,
                    "model_version": version,
                    "shadow": False,
                    "latency_ms": latency_ms,
                    "inputs": [{"x": 1.0}],
                    "predictions": [label if right else 1 - label],
                    "probabilities": None,
                }
            )
            journal.append(
                {
                    "kind": "feedback",
                    "request_id": request_id,
                    "ts": now + i * 0.001 + 0.0005,
                    "label": label,
                    "row": None,
                }
            )
        for i in range(errors):
            journal.append(
                {
                    "kind": "error",
                    "request_id": uuid.uuid4().hex,
                    "ts": now + i * 0.001,
                    "deployment": project.name,
                    "variant": variant,
                    "model_version": version,
                    "shadow": False,
                    "status": 500,
                    "error": "PredictionError",
                    "field": None,
                    "message": "the model raised",
                }
            )


def actions(project: Project, since: int) -> list[str]:
    return [e.action for e in reversed(project.audit_events(500)) if e.id > since]


def last_event_id(project: Project) -> int:
    events = project.audit_events(1)
    return events[0].id if events else 0


def states(release: Release) -> list[str]:
    return [t["state"] for t in release.transitions]


# -- the release state machine -------------------------------------------------------------


def test_a_better_challenger_is_canaried_analysed_and_promoted(project: Project) -> None:
    ap = pilot(project)
    mark = last_event_id(project)
    release = ap.release_version(2, reason="better on March data")
    assert release.state == "gated"
    report = ap.step()
    assert report.active
    current = ap.release(release.id)
    assert current.state == "analysing", current.transitions
    route = RouteStore(project.store, project.audit).get(project.name)
    assert (route.mode, route.weights["challenger"]) == ("canary", 0.5)
    assert project.registry.by_alias("challenger").version == 2  # type: ignore[union-attr]
    assert "waiting" in current.analysis["reason"]

    traffic(project, version=1, n=120, accuracy=0.7, seed=1, variant="champion")
    traffic(project, version=2, n=120, accuracy=0.97, seed=2, variant="challenger")
    ap.step()
    done = ap.release(release.id)
    ap.close()
    assert done.state == "promoted", done.decision_reason
    assert states(done) == ["triggered", "gated", "canary", "analysing", "promoted"]
    assert done.decision == "promote"
    assert done.analysis["challenger"]["labelled"] == 120
    assert done.analysis["gain"]["low"] > -0.1
    assert project.registry.by_alias("champion").version == 2  # type: ignore[union-attr]
    assert project.registry.by_alias("challenger") is None
    assert RouteStore(project.store, project.audit).get(project.name).mode == "single"
    seen = actions(project, mark)
    for action in ("release.gated", "route.set", "release.analysing", "release.decided"):
        assert action in seen
    assert (
        seen.index("release.decided")
        < seen.index("model.promoted")
        < seen.index("release.promoted")
    )
    assert project.verify_audit().ok


def test_a_worse_challenger_is_rolled_back_and_traffic_returns_to_the_champion(
    project: Project,
) -> None:
    ap = pilot(project)
    release = ap.release_version(3, reason="try the smaller model")
    ap.step()
    traffic(project, version=1, n=60, accuracy=0.95, seed=3, variant="champion")
    traffic(project, version=3, n=60, accuracy=0.4, seed=4, variant="challenger")
    ap.step()
    done = ap.release(release.id)
    ap.close()
    assert done.state == "rolled_back", done.decision_reason
    assert "significantly worse" in (done.decision_reason or "")
    assert done.analysis["gain"]["high"] < -0.1
    assert project.registry.by_alias("champion").version == 1  # type: ignore[union-attr]
    assert project.registry.by_alias("challenger") is None
    assert RouteStore(project.store, project.audit).get(project.name).mode == "single"


def test_the_error_guard_rolls_back_before_any_label_arrives(project: Project) -> None:
    ap = pilot(project)
    release = ap.release_version(3, reason="guard check")
    ap.step()
    traffic(project, version=1, n=30, accuracy=0.9, seed=5, variant="champion")
    traffic(project, version=3, n=30, accuracy=0.9, seed=6, variant="challenger", errors=8)
    ap.step()
    done = ap.release(release.id)
    ap.close()
    assert done.state == "rolled_back"
    assert (done.decision_reason or "").startswith("error guard")
    assert done.analysis["challenger"]["errors"] == 8


def test_without_enough_labels_the_analysis_waits_then_times_out_to_rollback(
    project_dir: Path,
) -> None:
    project = Project.open(project_dir, env={}, overrides={"release.analysis.max_minutes": 0.02})
    try:
        ap = pilot(project)
        release = ap.release_version(2, reason="timeout check")
        ap.step()
        traffic(project, version=1, n=20, accuracy=0.9, seed=7, variant="champion")
        traffic(project, version=2, n=20, accuracy=0.9, seed=8, variant="challenger")
        ap.step()
        assert ap.release(release.id).state == "analysing"
        time.sleep(1.3)
        ap.step()
        done = ap.release(release.id)
        ap.close()
        assert done.state == "rolled_back"
        assert "no decision after" in (done.decision_reason or "")
        assert project.registry.by_alias("champion").version == 1  # type: ignore[union-attr]
    finally:
        RouteStore(project.store, project.audit).set(project.name, "single", reason="teardown")
        project.store.dispose()


def test_a_retrain_trains_gates_and_releases_a_new_version(project: Project) -> None:
    ap = pilot(project)
    event = ap.retrain(reason="labels from the new clinic")
    ap.step()
    current = ap.releases(1)[0]
    ap.close()
    assert current.trigger == "manual"
    assert current.reason == "labels from the new clinic"
    assert current.triggers[0].id == event
    assert states(current)[:4] == ["triggered", "training", "gated", "canary"]
    assert current.state == "analysing"
    assert current.attempts == 1
    version = project.registry.get(int(current.model_version or 0))
    assert version.lineage["mlpilot.pipeline_run_id"] == current.pipeline_run_id
    assert project.registry.by_alias("challenger").version == version.version  # type: ignore[union-attr]
    with project.store.session() as s:
        run = s.get(PipelineRunRow, current.pipeline_run_id)
        assert run is not None
        assert run.trigger == f"release:{current.id}"
        assert run.actor == "autopilot"


def test_a_retrain_on_unchanged_data_is_rejected_as_nothing_new(project: Project) -> None:
    ap = pilot(project)
    first = ap.retrain(reason="first")
    ap.step()
    release = ap.releases(1)[0]
    assert release.triggers[0].id == first
    ap._fail(release, "test: end it")
    ap.retrain(reason="again, same data")
    ap.step()
    again = ap.releases(1)[0]
    ap.close()
    assert again.state == "rejected"
    assert "nothing new" in again.transitions[-1]["note"]


def test_a_model_that_fails_the_gate_is_rejected_and_the_champion_stays(
    project_dir: Path,
) -> None:
    project = Project.open(project_dir, env={}, overrides={"gate.metrics": {"accuracy": "> 1"}})
    try:
        ap = pilot(project)
        ap.retrain(reason="gate check")
        ap.step()
        release = ap.releases(1)[0]
        ap.close()
        assert release.state == "rejected"
        assert "gate" in release.transitions[-1]["note"]
        assert release.model_version is None
        assert project.registry.by_alias("challenger") is None
        assert project.registry.by_alias("champion").version == 1  # type: ignore[union-attr]
    finally:
        project.store.dispose()


def test_direct_strategy_promotes_at_once(project_dir: Path) -> None:
    project = Project.open(project_dir, env={}, overrides={"release.strategy": "direct"})
    try:
        ap = pilot(project)
        release = ap.release_version(3, reason="hotfix")
        ap.step()
        done = ap.release(release.id)
        ap.close()
        assert done.state == "promoted"
        assert "strategy direct" in (done.decision_reason or "")
        assert project.registry.by_alias("champion").version == 3  # type: ignore[union-attr]
        assert RouteStore(project.store, project.audit).get(project.name).mode == "single"
    finally:
        project.registry.promote(1, reason="teardown")
        project.store.dispose()


# -- triggers, coalescing, cooldown ----------------------------------------------------------


def test_a_trigger_during_a_release_is_coalesced_and_after_it_held_by_the_cooldown(
    project: Project,
) -> None:
    ap = pilot(project)
    release = ap.release_version(2, reason="coalesce check")
    ap.step()
    late = ap.retrain(reason="while busy")
    ap.step()
    assert ap.release(release.id).state == "analysing"
    assert [t.id for t in ap.release(release.id).triggers][-1] == late
    ap._fail(ap.release(release.id), "test: end it")
    drift = ap.book.fire("drift", "drift", reason="drift.share breached")
    manual = ap.retrain(reason="manual ignores the cooldown")
    ap.step()
    ap.close()
    with project.store.session() as s:
        status = {
            e.id: (e.status, e.release_id)
            for e in s.scalars(select(TriggerEventRow).where(TriggerEventRow.id >= late))
        }
    assert status[late] == ("coalesced", release.id)
    assert status[drift] == ("cooldown", None)
    assert status[manual][0] == "released"
    with project.store.session() as s:
        assert s.scalar(select(ReleaseRow.id).where(ReleaseRow.trigger_id == drift)) is None


def test_only_one_release_runs_at_a_time(project: Project) -> None:
    ap = pilot(project)
    before = len(ap.book.triggers(500))
    ap.release_version(2, reason="first")
    # the trigger and its release are one transaction: no tick ever sees the trigger pending
    assert ap.book.triggers(10, status="pending") == []
    with pytest.raises(ReleaseError, match="in flight"):
        ap.release_version(3, reason="second")
    assert len(ap.book.triggers(500)) == before + 1  # the refused one left nothing behind
    ap.close()


def test_bad_release_requests_are_refused_with_a_clear_message(project: Project) -> None:
    ap = pilot(project)
    with pytest.raises(ReleaseError, match="already is the champion"):
        ap.release_version(1, reason="x")
    with pytest.raises(ModelNotFoundError):
        ap.release_version(99, reason="x")
    with pytest.raises(ReleaseError, match="reason is required"):
        ap.retrain(reason="  ")
    with pytest.raises(ReleaseNotFoundError, match="mlpilot releases"):
        ap.release("nope-nope")
    ap.close()
    assert ap.releases(50) == [] or all(r.model_version != 99 for r in ap.releases(50))


# -- the lease and reconciliation -------------------------------------------------------------


def test_a_second_controller_stays_passive_until_the_first_lets_go(project: Project) -> None:
    first, second = pilot(project, "one"), pilot(project, "two")
    assert first.step().active
    passive = second.step()
    assert not passive.active
    assert passive.holder is not None
    assert "#one" in passive.holder
    first.close()
    assert second.step().active
    second.close()


def test_the_lease_is_renewed_while_a_long_tick_runs(project_dir: Path) -> None:
    project = Project.open(project_dir, env={}, overrides={"autopilot.lease_seconds": 0.6})
    try:
        first, second = pilot(project, "one"), pilot(project, "two")
        assert first.step().active
        time.sleep(1.5)  # several lease lengths: only the renewal keeps it
        assert not second.step().active
        first.close()
        second.close()
    finally:
        project.store.dispose()


def test_after_a_crash_a_split_route_without_a_release_goes_back_to_single(
    project: Project,
) -> None:
    RouteStore(project.store, project.audit).set(
        project.name, "canary", weights={"challenger": 0.3}, reason="left over"
    )
    ap = pilot(project)
    report = ap.step()
    ap.close()
    assert any("reset to single" in m for m in report.messages)
    assert RouteStore(project.store, project.audit).get(project.name).mode == "single"


def test_after_a_crash_in_training_the_registered_version_is_adopted_not_retrained(
    project: Project,
) -> None:
    ap = pilot(project)
    event = ap.retrain(reason="crash test")
    release = ap.book.start(event, strategy="canary", note="test")
    ap.book.move(release.id, "training", expect={"triggered"}, note="test", attempts=1)
    # the interrupted controller's run got as far as registering its version (on new data)
    from mlpilot.pipeline import run_project

    frame = load_breast_cancer(as_frame=True).frame
    frame.sample(frac=0.85, random_state=11).to_csv(
        project.settings.project_dir / "data.csv", index=False
    )

    summary = run_project(
        project.settings, project.store, alias="challenger", trigger=f"release:{release.id}"
    )
    assert summary.model_version is not None
    with project.store.session() as s:  # and then it died: its run row says running
        row = s.get(PipelineRunRow, summary.run_id)
        assert row is not None
        row.status = "running"
    versions = len(project.models())
    other = pilot(project, "b")
    report = other.step()
    other.close()
    after = ap.release(release.id)
    assert any("adopted" in m for m in report.messages)
    assert after.model_version == summary.model_version
    assert after.attempts == 1
    assert after.state == "analysing"
    assert len(project.models()) == versions
    with project.store.session() as s:
        assert s.get(PipelineRunRow, summary.run_id).status == "failed"  # type: ignore[union-attr]


def test_after_crashes_in_training_a_release_is_retried_then_failed(project: Project) -> None:
    ap = pilot(project)
    event = ap.retrain(reason="crash test")
    release = ap.book.start(event, strategy="canary", note="test")
    ap.book.move(release.id, "training", expect={"triggered"}, note="test", attempts=2)
    report = ap.step()
    ap.close()
    done = ap.release(release.id)
    assert done.state == "failed"
    assert "interrupted 2 time(s)" in done.transitions[-1]["note"]
    assert any("failed after 2 attempts" in m for m in report.messages)


def test_a_recorded_decision_is_applied_again_after_a_crash(project: Project) -> None:
    ap = pilot(project)
    release = ap.release_version(2, reason="crash after decision")
    ap.step()
    ap.book.decide(release.id, "promote", reason="test decision", analysis={"x": 1})
    ap.close()  # crashed before promoting
    again = pilot(project, "b")
    again.step()
    again.close()
    done = again.release(release.id)
    assert done.state == "promoted"
    assert project.registry.by_alias("champion").version == 2  # type: ignore[union-attr]
    assert project.registry.by_alias("challenger") is None


def test_a_challenger_registered_outside_a_release_is_released(project: Project) -> None:
    frame = load_breast_cancer(as_frame=True).frame
    frame.sample(frac=0.85, random_state=21).to_csv(
        project.settings.project_dir / "data.csv", index=False
    )
    handed = project.run(alias="challenger").model_version  # as 'mlpilot ci --release' does
    ap = pilot(project)
    report = ap.step()
    release = ap.releases(1)[0]
    assert any("taken into a release" in m for m in report.messages)
    assert release.model_version == handed
    assert release.trigger == f"challenger:v{handed}"
    assert release.state == "analysing"
    ap._fail(release, "test: end it")
    # once judged, the same version set as challenger again is removed, not released again
    project.registry.set_alias("challenger", int(handed or 0), reason="again")
    ap.step()
    ap.close()
    assert project.registry.by_alias("challenger") is None
    assert ap.releases(1)[0].id == release.id


def test_run_stops_on_the_event_and_gives_the_lease_back(project: Project) -> None:
    ap = pilot(project)
    stop = threading.Event()
    ticks: list[Any] = []
    thread = threading.Thread(target=ap.run, args=(stop,), kwargs={"on_tick": ticks.append})
    thread.start()
    deadline = time.monotonic() + 30
    while not ticks and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert ticks
    assert ticks[0].active
    assert project.store.holder(ap.lease_name) is None


@pytest.mark.parametrize(
    ("strategy", "weights"),
    [("shadow", {"champion": 1.0}), ("ab", {"champion": 0.7, "challenger": 0.3})],
)
def test_shadow_and_ab_releases_set_their_route(
    project_dir: Path, strategy: str, weights: dict[str, float]
) -> None:
    project = Project.open(
        project_dir, env={}, overrides={"release.strategy": strategy, "release.ab_traffic": 0.3}
    )
    try:
        ap = pilot(project)
        release = ap.release_version(2, reason=f"{strategy} check")
        ap.step()
        current = ap.release(release.id)
        route = RouteStore(project.store, project.audit).get(project.name)
        assert states(current) == ["triggered", "gated", strategy, "analysing"]
        assert route.mode == strategy
        assert route.weights == pytest.approx(weights)
        ap._fail(current, "test: end it")
        ap.close()
        assert RouteStore(project.store, project.audit).get(project.name).mode == "single"
        assert project.registry.by_alias("challenger") is None
    finally:
        project.store.dispose()


class _Monitor:
    """A monitor whose evaluation waits for ``release``, then raises something unexpected (a
    bug, a full disk)."""

    def __init__(self, log: Any) -> None:
        self.log = log
        self.release = threading.Event()
        self.started = threading.Event()

    def evaluate(self, **_kw: Any) -> Any:
        self.started.set()
        self.release.wait(30)
        raise RuntimeError("disk full")


def _run(ap: Any, until: Callable[[list[Any]], bool]) -> list[Any]:
    stop = threading.Event()
    ticks: list[Any] = []
    thread = threading.Thread(target=ap.run, args=(stop,), kwargs={"on_tick": ticks.append})
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not until(ticks) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    return ticks


def test_a_tick_that_fails_is_reported_and_the_loop_goes_on(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = Project.open(project_dir, env={}, overrides={"autopilot.tick_seconds": 0.05})
    try:
        ap = pilot(project)

        def broken() -> list[str]:
            raise RuntimeError("disk full")

        monkeypatch.setattr(ap, "_fire_triggers", broken)
        ticks = _run(ap, lambda ticks: len(ticks) >= 3)
        assert len(ticks) >= 3
        assert all("tick failed: RuntimeError('disk full')" in t.messages for t in ticks)
        assert project.store.holder(ap.lease_name) is None
    finally:
        project.store.dispose()


def test_a_slow_monitor_evaluation_holds_no_tick_and_its_failure_is_reported(
    project_dir: Path,
) -> None:
    project = Project.open(
        project_dir,
        env={},
        overrides={"autopilot.tick_seconds": 0.05, "autopilot.monitor_seconds": 0.01},
    )
    try:
        ap = pilot(project)
        monitor = _Monitor(ap.log)
        ap.monitor = monitor  # type: ignore[assignment]
        failed = "monitor evaluation failed: RuntimeError('disk full')"

        def until(ticks: list[Any]) -> bool:
            # the evaluation hangs while the controller goes on ticking; then it ends, failing
            if monitor.started.is_set() and len(ticks) >= 5:
                monitor.release.set()
            return any(failed in t.messages for t in ticks)

        ticks = _run(ap, until)
        reported = next(i for i, t in enumerate(ticks) if failed in t.messages)
        assert reported >= 5  # at least five ticks went by while it hung
        assert not any(t.evaluated for t in ticks)
        assert project.store.holder(ap.lease_name) is None
    finally:
        project.store.dispose()
