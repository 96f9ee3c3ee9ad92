"""The monitor on a trained project: real MLflow on SQLite, the embedded default store, and
prediction records written straight into the project's journal (as a serving worker does).

Two versions are trained once for the module: v1 on the whole breast-cancer data, v2 only on
the rows whose ``mean radius`` is above its median, so the two reference profiles differ and a
scope compared with the wrong one shows it.
"""

from __future__ import annotations

import itertools
import json
import shutil
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score
from tests.conftest import write_project

from mlpilot.data import ReferenceProfile
from mlpilot.monitoring import (
    DriftResult,
    FeatureDrift,
    HistoryPoint,
    Monitor,
    MonitorReport,
    ScopeReport,
    drift_frame,
)
from mlpilot.project import Project
from mlpilot.serving import Journal
from mlpilot.tracking import mlflow_client

RADIUS = "mean radius"
TEXTURE = "mean texture"
FEATURE_COUNT = 30
PROFILE_FILE = "reference_profile.json"  # stored with each version's artifacts

TRAIN_PY = """\
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def train(frame, target, max_iter=1000):
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter))
    return model.fit(frame.drop(columns=[target]), frame[target])
"""


@dataclass(frozen=True)
class Trained:
    project: Project
    features: pd.DataFrame  # v1's training features (the whole data set)
    target: pd.Series
    upper: pd.DataFrame  # v2's training features: mean radius above its median
    models: Mapping[int, Any]
    profiles: Mapping[int, ReferenceProfile]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trained]:
    directory = write_project(
        tmp_path_factory.mktemp("monitor") / "proj",
        name="monitored",
        entrypoint="pipeline.py:train",
    )
    (directory / "pipeline.py").write_text(TRAIN_PY, encoding="utf-8")
    frame = load_breast_cancer(as_frame=True).frame
    upper = frame[frame[RADIUS] > frame[RADIUS].median()]
    upper.to_csv(directory / "upper.csv", index=False)
    runs = []
    for overrides in ({}, {"data.source": "upper.csv"}):
        trainer = Project.open(directory, env={}, overrides=overrides)
        runs.append(trainer.run())
        trainer.store.dispose()
    first, second = runs
    assert (first.model_version, second.model_version) == (1, 2)
    assert second.model_aliases == ("challenger",)
    project = Project.open(directory, env={})
    registry = project.registry
    yield Trained(
        project=project,
        features=frame.drop(columns=["target"]),
        target=frame["target"],
        upper=upper.drop(columns=["target"]),
        models={v: registry.load(v).model for v in (1, 2)},
        profiles={v: ReferenceProfile.model_validate(registry.profile(v)) for v in (1, 2)},
    )
    project.store.dispose()


@pytest.fixture
def journal(trained: Trained) -> Iterator[Journal]:
    """A worker's journal in the project's journal directory, empty at the start of each test."""
    directory = trained.project.settings.journal_dir
    shutil.rmtree(directory, ignore_errors=True)
    with Journal(directory, "unit") as opened:
        yield opened
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def monitor(trained: Trained, journal: Journal) -> Iterator[Monitor]:
    """The project's own monitor (a new one per test: it caches profiles)."""
    opened = trained.project.monitor()
    assert opened.log.journal_dir == journal.directory
    assert opened.log.predictions_url == trained.project.settings.predictions_url
    yield opened
    opened.log.close()


def log_requests(
    journal: Journal,
    model: Any,
    frame: pd.DataFrame,
    *,
    version: int,
    start: float,
    prefix: str,
    variant: str = "champion",
    shadow: bool = False,
    per_request: int = 10,
    inputs: Sequence[Mapping[Any, Any]] | None = None,
) -> list[str]:
    """Append one prediction record per ``per_request`` rows of ``frame``, 0.1 s apart.

    ``inputs`` replaces the logged input objects (the model still predicts on ``frame``).
    """
    logged = inputs if inputs is not None else frame.to_dict(orient="records")
    ids: list[str] = []
    for n, first in enumerate(range(0, len(frame), per_request)):
        part = frame.iloc[first : first + per_request]
        request_id = f"{prefix}-{n}"
        journal.append(
            {
                "kind": "prediction",
                "request_id": request_id,
                "ts": start + 0.1 * n,
                "deployment": "monitored",
                "variant": variant,
                "model_version": version,
                "shadow": shadow,
                "latency_ms": 2.5,
                "inputs": list(logged[first : first + per_request]),
                "predictions": model.predict(part).tolist(),
                "probabilities": model.predict_proba(part).tolist(),
            }
        )
        ids.append(request_id)
    return ids


def feedback(journal: Journal, request_id: str, label: Any, *, ts: float) -> None:
    journal.append(
        {"kind": "feedback", "request_id": request_id, "ts": ts, "label": label, "row": None}
    )


def scope_of(
    report: MonitorReport, variant: str | None, version: int | None, shadow: bool
) -> ScopeReport:
    found = [
        s
        for s in report.scopes
        if s.scope.kind == "version"
        and (s.scope.variant, s.scope.model_version, s.scope.shadow) == (variant, version, shadow)
    ]
    assert len(found) == 1, [s.scope for s in report.scopes]
    return found[0]


def drift_of(scope: ScopeReport) -> DriftResult:
    assert scope.drift is not None, scope.messages
    return scope.drift


def feature(drift: DriftResult, name: str) -> FeatureDrift:
    return next(f for f in drift.features if f.name == name)


def scores(drift: DriftResult) -> dict[str, float | None]:
    return {f.name: f.score for f in drift.features}


# -- scopes ------------------------------------------------------------------------------------


def test_each_version_variant_and_shadow_copy_is_its_own_scope_against_its_own_profile(
    trained: Trained, journal: Journal, monitor: Monitor
) -> None:
    now = time.time()
    served = trained.features.sample(200, random_state=0, replace=True)
    canary = trained.upper.sample(150, random_state=1, replace=True)
    m1, m2 = trained.models[1], trained.models[2]
    log_requests(journal, m1, served, version=1, start=now - 100, prefix="a")
    # v2 in shadow gets a copy of each of the champion's requests (same ids, same inputs)...
    log_requests(
        journal, m2, served, version=2, start=now - 100, prefix="a", variant="challenger",
        shadow=True,
    )  # fmt: skip
    # ... and, as a canary, answers requests of its own.
    log_requests(journal, m2, canary, version=2, start=now - 50, prefix="b", variant="challenger")

    report = monitor.evaluate(now=now)

    assert report.window.rows == 350  # the shadow copies are not in the deployment's rows
    assert report.scopes[0].scope.kind == "deployment"
    deployment = report.scopes[0]
    champion = scope_of(report, "champion", 1, False)
    canary_scope = scope_of(report, "challenger", 2, False)
    shadow = scope_of(report, "challenger", 2, True)
    assert len(report.scopes) == 4
    assert (deployment.rows, champion.rows, canary_scope.rows, shadow.rows) == (350, 200, 150, 200)
    assert deployment.operational is not None
    assert champion.operational is not None
    assert canary_scope.operational is not None
    assert shadow.operational is not None
    assert deployment.operational.requests == 35
    assert (champion.operational.requests, canary_scope.operational.requests) == (20, 15)
    assert shadow.operational.requests == 20
    assert not deployment.scope.shadow
    assert (champion.scope.shadow, canary_scope.scope.shadow, shadow.scope.shadow) == (
        False,
        False,
        True,
    )
    # The deployment is compared with the version that answered most of its rows.
    assert deployment.scope.profile_version == 1
    assert champion.scope.profile_version == 1
    assert canary_scope.scope.profile_version == 2
    assert shadow.scope.profile_version == 2

    # Each scope's drift is exactly its rows against its own version's profile.
    v1, v2 = trained.profiles[1], trained.profiles[2]
    assert scores(drift_of(champion)) == pytest.approx(scores(drift_frame(v1, served)))
    assert scores(drift_of(canary_scope)) == pytest.approx(scores(drift_frame(v2, canary)))
    assert scores(drift_of(shadow)) == pytest.approx(scores(drift_frame(v2, served)))
    # The canary's rows look like v2's training data: no drift against v2's profile, though
    # against v1's they would have drifted.
    assert feature(drift_frame(v1, canary), RADIUS).drifted is True
    assert feature(drift_of(canary_scope), RADIUS).drifted is False
    assert drift_of(canary_scope).drifted is False
    assert feature(drift_of(champion), RADIUS).drifted is False
    assert drift_of(champion).drifted is False
    # The shadow copies are the champion's (whole-range) rows: they drift against v2's profile.
    assert feature(drift_of(shadow), RADIUS).drifted is True
    # Every version's profile was usable: no scope carries a note.
    assert all(s.messages == () for s in report.scopes)


def test_a_version_without_a_usable_profile_is_reported_and_the_others_are_unaffected(
    trained: Trained, journal: Journal, monitor: Monitor
) -> None:
    now = time.time()
    served = trained.features.sample(150, random_state=2, replace=True)
    canary = trained.upper.sample(110, random_state=3, replace=True)
    m1, m2 = trained.models[1], trained.models[2]
    log_requests(journal, m1, served, version=1, start=now - 100, prefix="a")
    ids = log_requests(
        journal, m2, canary, version=2, start=now - 50, prefix="b", variant="challenger"
    )
    for request_id in ids:
        feedback(journal, request_id, [1] * 10, ts=now - 10)
    # Copies of three requests answered by a version the registry does not have.
    log_requests(
        journal, m2, served.iloc[:30], version=7, start=now - 100, prefix="a",
        variant="challenger", shadow=True,
    )  # fmt: skip

    client = mlflow_client(trained.project.settings)
    uri = client.get_model_version_download_uri(trained.project.registry.name, "2")
    (profile_file,) = Path(unquote(urlparse(uri).path)).rglob(PROFILE_FILE)
    original = profile_file.read_bytes()
    tampered = json.loads(original)
    tampered["rows"] += 1  # still a valid profile: only the pinned digest tells
    try:
        profile_file.write_text(json.dumps(tampered), encoding="utf-8")
        report = monitor.evaluate(now=now)
    finally:
        profile_file.write_bytes(original)

    v2 = scope_of(report, "challenger", 2, False)
    assert v2.rows == 110
    assert v2.drift is None
    assert v2.prediction_drift == ()
    assert v2.quality is not None
    assert v2.quality.features == ()
    (note,) = v2.messages
    assert note.startswith("model version 2 has no usable reference profile")
    assert "digest" in note
    assert note.endswith("drift and data quality are not computed")
    assert v2.performance is not None
    assert v2.performance.labelled == 110
    assert v2.performance.metrics == {}
    assert v2.performance.message is not None
    assert "performance is not computed" in v2.performance.message

    missing = scope_of(report, "challenger", 7, True)
    assert missing.rows == 30
    assert missing.drift is None
    (note,) = missing.messages
    assert note.startswith("model version 7 has no usable reference profile")
    assert "has no version 7" in note
    assert note.endswith("drift and data quality are not computed")
    assert any(m.startswith("model version 2 ") for m in report.messages)
    assert any(m.startswith("model version 7 ") for m in report.messages)

    champion = scope_of(report, "champion", 1, False)
    assert champion.messages == ()
    assert drift_of(champion).evaluated == FEATURE_COUNT
    assert champion.quality is not None
    assert len(champion.quality.features) == FEATURE_COUNT
    deployment = report.scope("deployment")
    assert deployment.scope.profile_version == 1
    assert deployment.rows == 260
    assert drift_of(deployment).evaluated == FEATURE_COUNT
    assert deployment.messages == ()

    # With its artifacts restored, v2 is judged again (the failure was the profile's).
    again = trained.project.monitor()
    try:
        restored = scope_of(again.evaluate(now=now), "challenger", 2, False)
    finally:
        again.log.close()
    assert restored.messages == ()
    assert drift_of(restored).evaluated == FEATURE_COUNT


# -- performance -------------------------------------------------------------------------------


def test_labels_of_the_wrong_type_are_counted_as_invalid_and_left_out(
    trained: Trained, journal: Journal, monitor: Monitor
) -> None:
    now = time.time()
    rows = trained.features.sample(60, random_state=4)
    truth = trained.target.loc[rows.index].tolist()
    model = trained.models[1]
    ids = log_requests(journal, model, rows, version=1, start=now - 100, prefix="r", per_request=1)
    labels: list[Any] = [1 - y if i < 5 else y for i, y in enumerate(truth[:50])]  # 5 wrong
    labels[10] = float(labels[10])  # 1.0 and 1 are the same class
    labels += ["banana"] * 4 + [[0, 1]] * 3  # rows 50-56; rows 57-59 get no label
    for request_id, label in zip(ids, labels, strict=False):
        feedback(journal, request_id, label, ts=now - 5)

    perf = monitor.evaluate(now=now).scope("deployment").performance

    assert perf is not None
    assert perf.task == "classification"
    assert perf.predictions == 60
    assert perf.labelled == 57
    assert perf.coverage == pytest.approx(57 / 60)
    assert perf.invalid_labels == 7
    assert perf.message is not None
    assert "7 label(s) were not one of the training classes ['0', '1']" in perf.message
    assert "left out" in perf.message
    valid = rows.iloc[:50]
    y_true = [int(y) for y in labels[:50]]
    y_pred = model.predict(valid)
    proba = model.predict_proba(valid)
    assert 0.5 < accuracy_score(y_true, y_pred) < 1.0  # the comparison below can tell
    assert perf.metrics["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert perf.metrics["f1"] == pytest.approx(f1_score(y_true, y_pred))
    assert perf.metrics["roc_auc"] == pytest.approx(roc_auc_score(y_true, proba[:, 1]))
    assert perf.metrics["log_loss"] == pytest.approx(log_loss(y_true, proba))
    assert perf.value == perf.metrics["accuracy"]


# -- features that cannot be judged ----------------------------------------------------------


def test_an_all_null_and_a_missing_feature_get_no_verdict_and_breach_data_quality(
    trained: Trained, journal: Journal, monitor: Monitor
) -> None:
    now = time.time()
    rows = trained.features.sample(150, random_state=5, replace=True)
    inputs = rows.to_dict(orient="records")
    for record in inputs:
        record[RADIUS] = None
        del record[TEXTURE]
    log_requests(
        journal, trained.models[1], rows, version=1, start=now - 100, prefix="n", inputs=inputs
    )

    report = monitor.evaluate(now=now)

    deployment = report.scope("deployment")
    assert deployment.rows == 150
    drift = drift_of(deployment)
    for name in (RADIUS, TEXTURE):
        found = feature(drift, name)
        assert found.drifted is None
        assert found.score is None
        assert found.rows == 0
        assert found.message is not None
        assert "all 150 values in the window are null" in found.message
        assert "no drift verdict" in found.message
    assert "missing" in (feature(drift, TEXTURE).message or "")
    assert drift.evaluated == FEATURE_COUNT - 2
    assert all(f.drifted is not None for f in drift.features if f.name not in (RADIUS, TEXTURE))

    quality = deployment.quality
    assert quality is not None
    assert quality.breached
    by_name = {f.name: f for f in quality.features}
    for name in (RADIUS, TEXTURE):
        found_quality = by_name[name]
        assert found_quality.null_rate == 1.0
        assert found_quality.reference_null_rate == 0.0
        assert found_quality.breached
        assert found_quality.message is not None
        assert "null rate 100.0% vs 0.0% in training" in found_quality.message
    assert [f.name for f in quality.features if f.breached] == [RADIUS, TEXTURE]
    alerts = [a for a in report.alerts if a.monitor == "quality.features"]
    assert len(alerts) == 1
    assert RADIUS in alerts[0].message
    assert TEXTURE in alerts[0].message


def test_a_single_value_in_the_window_is_drift(
    trained: Trained, journal: Journal, monitor: Monitor
) -> None:
    now = time.time()
    rows = trained.features.sample(150, random_state=6, replace=True)
    inputs = rows.to_dict(orient="records")
    median = float(trained.features[RADIUS].median())  # a bin edge of the profile
    inside = 19.0  # inside a bin, near the middle of the training range of mean texture
    for record in inputs:
        record[RADIUS] = median
        record[TEXTURE] = inside
    log_requests(
        journal, trained.models[1], rows, version=1, start=now - 100, prefix="s", inputs=inputs
    )

    drift = drift_of(monitor.evaluate(now=now).scope("deployment"))

    for name in (RADIUS, TEXTURE):
        found = feature(drift, name)
        assert found.rows == 150
        assert found.drifted is True, found
        assert found.score is not None
        assert found.score >= found.threshold
    # The other features keep their training distribution.
    assert feature(drift, "worst symmetry").drifted is False


# -- storing -----------------------------------------------------------------------------------


def _share_points(points: Sequence[HistoryPoint]) -> list[HistoryPoint]:
    return [p for p in points if p.monitor == "drift.share" and p.scope == "deployment"]


def _watch(monitor: Monitor, reports: int, *, record: bool) -> list[MonitorReport]:
    seen: list[MonitorReport] = []
    stop = threading.Event()

    def on_report(report: MonitorReport) -> None:
        seen.append(report)
        if len(seen) >= reports:
            stop.set()

    thread = threading.Thread(
        target=monitor.watch,
        args=(stop,),
        kwargs={"every": 0.2, "record": record, "on_report": on_report},
        daemon=True,
    )
    thread.start()
    try:
        thread.join(timeout=30)
    finally:
        stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert len(seen) == reports
    return seen


def test_watch_stores_a_time_series_and_stores_nothing_without_record(
    trained: Trained, journal: Journal, monitor: Monitor
) -> None:
    rows = trained.features.sample(120, random_state=7, replace=True)
    log_requests(journal, trained.models[1], rows, version=1, start=time.time() - 30, prefix="w")
    before = monitor.history()

    reports = _watch(monitor, 3, record=True)

    after = monitor.history()
    new = _share_points(after)[len(_share_points(before)) :]
    assert len(new) == 3
    stamps = [p.ts for p in new]
    assert stamps == sorted(stamps)
    assert all(b - a >= 0.15 for a, b in itertools.pairwise(stamps))  # every=0.2
    assert stamps == pytest.approx([r.generated_at for r in reports], abs=1e-3)
    shares = [drift_of(r.scope("deployment")).share for r in reports]
    assert all(s is not None for s in shares)
    assert [p.value for p in new] == pytest.approx(shares)
    assert all(p.threshold == 0.5 for p in new)

    _watch(monitor, 2, record=False)

    assert monitor.history() == after


# -- empty windows -----------------------------------------------------------------------------


def test_an_empty_log_gives_a_report_without_scopes(monitor: Monitor) -> None:
    report = monitor.evaluate(now=time.time())
    assert report.scopes == ()
    assert report.window.rows == 0
    assert report.alerts == ()
    (message,) = report.messages
    assert message.startswith("no predictions in the log; nothing to monitor yet")


def test_a_time_window_after_every_prediction_is_empty(
    trained: Trained, journal: Journal, monitor: Monitor
) -> None:
    now = time.time()
    rows = trained.features.sample(20, random_state=8)
    log_requests(journal, trained.models[1], rows, version=1, start=now - 7200, prefix="old")
    report = monitor.evaluate(seconds=3600, now=now)
    assert report.scopes == ()
    assert report.window.rows == 0
    (message,) = report.messages
    assert message.startswith("no predictions in the last 1h")
    # The same log does hold rows for a window that reaches back to them.
    assert monitor.evaluate(seconds=3 * 3600, now=now).window.rows == 20
