"""Trigger conditions over the store: drift/performance series, new data, schedule; and the
analysis verdicts from figures alone."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.conftest import write_project

from mlpilot.autopilot import ReleaseBook, VariantStats, check_triggers
from mlpilot.autopilot._analysis import decide
from mlpilot.autopilot._stats import Interval
from mlpilot.config import AnalysisSettings
from mlpilot.project import Project
from mlpilot.store import MonitorEvaluationRow, MonitorResultRow

TRIGGERS = """
[monitor]
performance = { metric = "accuracy", min = 0.9 }

[[trigger]]
on = "drift"
consecutive = 2

[[trigger]]
on = "performance"
consecutive = 1

[[trigger]]
on = "new_data"

[[trigger]]
on = "schedule"
cron = "*/5 * * * *"
"""


@pytest.fixture
def project(tmp_path: Path) -> Project:
    directory = write_project(tmp_path / "p", name="trig", source="data.csv", extra=TRIGGERS)
    (directory / "data.csv").write_text("a,target\n1,0\n2,1\n", encoding="utf-8")
    return Project.open(directory, env={})


def record(project: Project, monitor: str, breached: bool, ts: datetime) -> None:
    with project.store.session() as s:
        evaluation = MonitorEvaluationRow(
            id=uuid.uuid4().hex,
            deployment=project.name,
            ts=ts,
            window_start=ts,
            window_end=ts,
            rows=300,
            alerts=0,
            report={},
        )
        s.add(evaluation)
        s.flush()
        s.add(
            MonitorResultRow(
                evaluation_id=evaluation.id,
                deployment=project.name,
                ts=ts,
                monitor=monitor,
                scope="deployment",
                variant=None,
                model_version=1,
                shadow=False,
                value=0.5 if breached else 0.1,
                threshold=0.3,
                breached=breached,
                rows=300,
            )
        )


def fired(project: Project, now: datetime, since: datetime | None = None) -> list[str]:
    book = ReleaseBook(project.store, project.audit, project.name)
    return [f.name for f in check_triggers(project.settings, book, now=now, since=since)]


def test_drift_fires_after_n_breaches_in_a_row_and_not_again_on_the_same_ones(
    project: Project,
) -> None:
    t0 = datetime(2026, 1, 5, 12, 1, tzinfo=UTC)
    fired(project, t0)  # first look: baselines for schedule and new data
    record(project, "drift.share", True, t0 + timedelta(seconds=1))
    assert "drift" not in fired(project, t0)
    record(project, "drift.share", False, t0 + timedelta(seconds=2))
    record(project, "drift.share", True, t0 + timedelta(seconds=3))
    assert "drift" not in fired(project, t0)  # the last two are not both breached
    record(project, "drift.share", True, t0 + timedelta(seconds=4))
    assert "drift" in fired(project, t0)
    assert "drift" not in fired(project, t0)  # the same evaluations do not fire twice
    record(project, "drift.share", True, t0 + timedelta(seconds=5))
    record(project, "drift.share", True, t0 + timedelta(seconds=6))
    assert "drift" in fired(project, t0)


def test_breaches_before_the_last_release_ended_do_not_count(project: Project) -> None:
    t0 = datetime(2026, 1, 5, 12, 1, tzinfo=UTC)
    fired(project, t0)
    record(project, "drift.share", True, t0 + timedelta(seconds=1))
    record(project, "drift.share", True, t0 + timedelta(seconds=2))
    assert "drift" not in fired(project, t0, since=t0 + timedelta(seconds=3))


def test_performance_watches_its_metric_series(project: Project) -> None:
    t0 = datetime(2026, 1, 5, 12, 1, tzinfo=UTC)
    fired(project, t0)
    record(project, "performance.f1", True, t0 + timedelta(seconds=1))
    assert "performance" not in fired(project, t0)
    record(project, "performance.accuracy", True, t0 + timedelta(seconds=2))
    assert "performance" in fired(project, t0)


def test_new_data_fires_when_the_source_changes(project: Project) -> None:
    t0 = datetime(2026, 1, 5, 12, 1, tzinfo=UTC)
    assert "new_data" not in fired(project, t0)  # baseline
    assert "new_data" not in fired(project, t0)
    (project.settings.project_dir / "data.csv").write_text("a,target\n1,0\n3,1\n")
    assert "new_data" in fired(project, t0)
    assert "new_data" not in fired(project, t0)


def test_the_schedule_fires_once_per_slot_without_catching_up_at_start(
    project: Project,
) -> None:
    name = project.settings.trigger[3].name
    t0 = datetime(2026, 1, 5, 12, 1, tzinfo=UTC)
    assert name not in fired(project, t0)  # first look: starts from now
    assert name not in fired(project, t0 + timedelta(minutes=3))  # 12:04, same slot 12:00
    assert name in fired(project, t0 + timedelta(minutes=4))  # 12:05
    assert name not in fired(project, t0 + timedelta(minutes=5))
    assert name in fired(project, t0 + timedelta(hours=2))  # many slots passed: fires once
    assert name not in fired(project, t0 + timedelta(hours=2, seconds=30))


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[[trigger]]\non = "schedule"\n', "needs cron"),
        ('[[trigger]]\non = "schedule"\ncron = "61 * * * *"\n', "not five valid cron"),
        ('[[trigger]]\non = "drift"\ncron = "* * * * *"\n', "only to schedule"),
        ('[[trigger]]\non = "weekly"\n', "on"),
        ('[[trigger]]\non = "new_data"\nmonitor = "drift.share"\n', "monitor applies only"),
        ("[autopilot]\nmax_concurrent = 2\n", "max_concurrent"),
        ('[release]\nstrategy = "blue-green"\n', "strategy"),
        ("[release.analysis]\nalpha = 0.7\n", "alpha"),
    ],
)
def test_bad_autopilot_settings_are_refused_with_the_key(
    tmp_path: Path, toml: str, message: str
) -> None:
    from mlpilot.errors import ConfigError

    directory = write_project(tmp_path / "bad", extra="\n" + toml)
    with pytest.raises(ConfigError, match=message):
        Project.open(directory, env={})


# -- verdicts from figures -----------------------------------------------------------------

CFG = AnalysisSettings(min_requests=100, min_labels=50, margin=0.05, max_minutes=30)


def stats(version: int, **kw: object) -> VariantStats:
    base: dict[str, object] = {
        "requests": 200,
        "labelled": 100,
        "latency_p50_ms": 2.0,
        "latency_p99_ms": 5.0,
    }
    return VariantStats(version=version, **(base | kw))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("chal", "gain", "minutes", "cfg", "verdict", "reason"),
    [
        (stats(2), Interval(0.0, -0.03, 0.03, 100), 1, CFG, "promote", "not worse"),
        (stats(2), Interval(-0.2, -0.3, -0.1, 100), 1, CFG, "rollback", "significantly worse"),
        (stats(2), Interval(0.0, -0.1, 0.1, 100), 1, CFG, "continue", "spans the margin"),
        (stats(2, requests=50), Interval(0.0, -0.03, 0.03, 100), 1, CFG, "continue", "requests"),
        (stats(2, labelled=20), Interval(0.0, -0.03, 0.03, 20), 1, CFG, "continue", "labels"),
        (stats(2), Interval(0.0, -0.1, 0.1, 100), 31, CFG, "rollback", "no decision after"),
        (
            stats(2),
            Interval(0.0, -0.1, 0.1, 100),
            31,
            CFG.model_copy(update={"on_timeout": "promote"}),
            "promote",
            "no decision after",
        ),
        (
            stats(2),
            Interval(0.01, -0.01, 0.03, 100),
            1,
            CFG.model_copy(update={"require_better": True}),
            "continue",
            "spans",
        ),
        (
            stats(2),
            Interval(0.05, 0.01, 0.09, 100),
            1,
            CFG.model_copy(update={"require_better": True}),
            "promote",
            "better",
        ),
        (stats(2, errors=6), None, 1, CFG, "rollback", "error guard"),
        (stats(2, errors=4), None, 1, CFG, "continue", "labels"),
        (
            stats(2, latency_p50_ms=7.0),
            None,
            1,
            CFG,
            "rollback",
            "latency guard: challenger median",
        ),
        (stats(2, latency_p99_ms=80.0), None, 1, CFG, "continue", "labels"),  # too few for p99
        (
            stats(2, requests=1000, latency_p99_ms=9.0),
            None,
            1,
            CFG.model_copy(update={"max_p99_ms": 8.0}),
            "rollback",
            "latency guard",
        ),
        (
            stats(2, labelled=0),
            None,
            1,
            CFG.model_copy(update={"min_labels": 0}),
            "promote",
            "no labels required",
        ),
    ],
)
def test_the_verdict_follows_guards_then_the_sequence_then_the_clock(
    chal: VariantStats,
    gain: Interval | None,
    minutes: float,
    cfg: AnalysisSettings,
    verdict: str,
    reason: str,
) -> None:
    got, why = decide(chal, stats(1), gain, minutes, "accuracy", cfg)
    assert got == verdict, why
    assert reason in why


def test_settings_defaults_are_those_documented(tmp_path: Path) -> None:
    settings = Project.open(write_project(tmp_path / "d"), env={}).settings
    assert settings.release.strategy == "canary"
    assert settings.autopilot.max_concurrent == 1
    assert settings.trigger == ()
