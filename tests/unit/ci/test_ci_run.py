"""``mlpilot ci`` on real projects: real MLflow on SQLite, real pytest subprocesses, the real
serving app. Each failure is a failing stage with its reason, and the project's registry gets a
version only when every stage passed and a release was asked for."""

from __future__ import annotations

import json
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from sklearn.datasets import load_breast_cancer
from sqlalchemy import select
from tests.conftest import write_project

from mlpilot.ci import CiOptions, CiReport, run_ci
from mlpilot.project import Project, init_project
from mlpilot.store import PipelineRunRow
from mlpilot.tracking import mlflow_client

SLOW_MODEL = """\
import time

from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


class SlowClassifier(ClassifierMixin, BaseEstimator):
    def __init__(self, delay=0.03, max_iter=5000):
        self.delay = delay
        self.max_iter = max_iter

    def fit(self, X, y):
        scaled = make_pipeline(StandardScaler(), LogisticRegression(max_iter=self.max_iter))
        self.model_ = scaled.fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict(self, X):
        time.sleep(self.delay)
        return self.model_.predict(X)

    def predict_proba(self, X):
        time.sleep(self.delay)
        return self.model_.predict_proba(X)
"""


def statuses(report: CiReport) -> list[str]:
    return [s.status for s in report.stages]


def versions(directory: Path) -> list[int]:
    return [v.version for v in Project.open(directory, env={}).models()]


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled example, with its model tests and [ci] slices, never trained before."""
    directory = tmp_path_factory.mktemp("ci") / "example"
    init_project(directory, name="ci-example")
    return directory


@pytest.fixture(scope="module")
def released(example: Path) -> CiReport:
    return run_ci(example, CiOptions(release=True, actor="ci-test"))


def test_every_stage_passes_and_the_candidate_is_released_once(
    example: Path, released: CiReport
) -> None:
    report = released
    assert statuses(report) == [
        "passed",
        "passed",
        "skipped",  # the example has model tests only
        "passed",
        "passed",
        "passed",
        "passed",
    ], [(s.title, s.message, s.output[-2000:]) for s in report.stages]
    assert report.exit_code == 0
    data, _, training, model_tests, infra, release = (report.stages[1], *report.stages[2:])
    assert "no schema stored yet" in data.message
    assert "gate passed" in training.message
    assert "not registered" in training.message
    assert model_tests.message.startswith("model tests: 5 passed, 1 skipped (tests/test_model.py)")
    assert "slice 'large-tumours'" in model_tests.message
    assert infra.details["model_version"] == 1
    assert infra.details["latency_ms"]["p95"] <= infra.details["budget_ms"]
    assert "loaded and verified" in infra.message

    project = Project.open(example, env={})
    [version] = project.models()
    assert release.details["version"] == version.version == report.released_version
    assert version.aliases == ("challenger",)
    assert version.digest == report.candidate["digest"]  # type: ignore[index]
    assert version.run_id == report.candidate["mlflow_run_id"]  # type: ignore[index]
    assert version.lineage["mlpilot.ci"] == "passed"
    assert "no champion yet" in release.message
    loaded = project.registry.load(version.version)  # verified: the files every stage checked
    assert loaded.version.digest == version.digest
    events = [e for e in project.audit_events() if e.action == "model.registered"]
    assert len(events) == 1
    assert events[0].actor == "ci-test"
    assert set(events[0].details["ci"].values()) == {"passed", "skipped"}
    assert project.schema() is not None  # stored with the release: serving needs it
    with project.store.session() as s:
        runs = s.execute(select(PipelineRunRow.pipeline, PipelineRunRow.trigger)).all()
    assert runs == [("ci", "ci")]
    leftovers = list(Path(tempfile.gettempdir()).glob("mlpilot-ci-ci-example-*"))
    assert leftovers == []
    tags = mlflow_client(project.settings).get_run(version.run_id or "").data.tags
    assert tags["mlpilot.ci"] == "passed"
    assert tags["mlpilot.ci.released_version"] == "1"


def test_the_verdict_files(example: Path, released: CiReport) -> None:
    assert released.junit == example / ".mlpilot" / "ci" / "junit.xml"
    suite = ET.parse(released.junit).getroot().find("testsuite")
    assert suite is not None
    assert suite.get("tests") == "7"
    assert suite.get("failures") == "0"
    assert suite.get("skipped") == "1"
    assert released.summary is not None
    summary = released.summary.read_text(encoding="utf-8")
    assert summary.startswith("### ✅ mlpilot ci passed · ci-example")
    assert "**Released** as version 1 `@challenger`." in summary


def _check(report: CiReport, failed: str, *, registered: list[int], directory: Path) -> Any:
    stage = next(s for s in report.stages if s.status == "failed")
    assert stage.key == failed, [(s.title, s.message) for s in report.stages]
    after = report.stages[report.stages.index(stage) + 1 :]
    assert all(s.status == "skipped" for s in after)
    if report.release and after:
        assert after[-1].message == f"nothing was registered: the {stage.title} stage failed"
    assert report.exit_code == 1
    assert report.released_version is None
    assert versions(directory) == registered
    assert report.summary is not None
    assert f"failed at **{stage.title}**" in report.summary.read_text(encoding="utf-8")
    return stage


def test_a_candidate_that_fails_the_gate(example: Path, released: CiReport) -> None:
    report = run_ci(
        example,
        CiOptions(release=True, overrides={"gate.metrics": {"accuracy": ">= 0.9999"}}),
    )
    stage = _check(report, "training", registered=[1], directory=example)
    assert stage.message.startswith("the candidate failed the gate: accuracy ")
    assert "the gate requires accuracy >= 0.9999; nothing was registered" in stage.message


def test_a_failing_project_test(example: Path, released: CiReport) -> None:
    test_file = example / "tests" / "test_features.py"
    test_file.write_text(
        "def test_ratio():\n    assert 0.3 == 0.1 * 3, 'float arithmetic in the features'\n"
    )
    try:
        report = run_ci(example, CiOptions(release=True))
    finally:
        test_file.unlink()
    stage = _check(report, "pipeline_tests", registered=[1], directory=example)
    assert stage.message.startswith(
        "the project's tests: 1 failed; tests.test_features::test_ratio"
    )
    assert "float arithmetic in the features" in stage.message
    assert stage.details["failures"][0]["name"] == "tests.test_features::test_ratio"
    assert "1 failed" in stage.output


def test_a_failing_model_test(example: Path, released: CiReport) -> None:
    # Only this quick test: the example's own model tests passed in the release above.
    test_file = example / "quick" / "test_model_extra.py"
    test_file.parent.mkdir()
    test_file.write_text(
        "def test_recall_on_small_tumours():\n"
        "    assert 0.71 >= 0.8, 'recall 0.7100 on 14 small tumours, below 0.8'\n"
    )
    quick = {"ci.tests": "quick", "ci.model_tests": ["quick/test_*.py"]}
    try:
        report = run_ci(example, CiOptions(release=True, overrides=quick))
    finally:
        test_file.unlink()
        test_file.parent.rmdir()
    stage = _check(report, "model_tests", registered=[1], directory=example)
    assert "recall 0.7100 on 14 small tumours, below 0.8" in stage.message
    assert report.summary is not None
    summary = report.summary.read_text(encoding="utf-8")
    assert (
        "- quick.test_model_extra::test_recall_on_small_tumours: AssertionError: recall" in summary
    )


def test_a_sample_is_checked_but_never_released(example: Path, released: CiReport) -> None:
    no_tests = {"ci.tests": "none", "ci.model_tests": []}  # the slice target still applies
    report = run_ci(example, CiOptions(sample=200, release=True, overrides=no_tests))
    assert statuses(report)[:6] == ["passed", "passed", "skipped", "passed", "passed", "passed"]
    training, model_tests = report.stages[3], report.stages[4]
    assert "trained on 160 rows (a sample of 200 rows), scored on 40 holdout rows" in (
        training.message
    )
    assert model_tests.message.startswith("slice 'large-tumours' (")
    assert report.candidate is not None
    assert report.candidate["train_rows"] == 160
    assert (
        report.candidate["lineage"]["mlpilot.data_snapshot"]
        != (
            released.candidate["lineage"]["mlpilot.data_snapshot"]  # type: ignore[index]
        )
    )
    stage = _check(report, "release", registered=[1], directory=example)
    assert stage.message.startswith("the candidate was trained on a sample of 200 rows")


def test_data_that_breaks_the_stored_schema(
    example: Path, released: CiReport, tmp_path: Path
) -> None:
    frame = load_breast_cancer(as_frame=True).frame
    frame["mean radius"] = frame["mean radius"] * 100
    frame = frame.drop(columns=["mean texture"])
    frame.to_csv(tmp_path / "batch.csv", index=False)
    report = run_ci(example, CiOptions(overrides={"data.source": str(tmp_path / "batch.csv")}))
    stage = _check(report, "data", registered=[1], directory=example)
    assert "in 2 way(s): mean texture: missing_column; mean radius: out_of_range" in stage.message
    kinds = {(a["column"], a["kind"]) for a in stage.details["anomalies"]}
    assert kinds == {("mean texture", "missing_column"), ("mean radius", "out_of_range")}
    assert report.summary is not None
    assert "- mean radius: out_of_range (expected" in report.summary.read_text(encoding="utf-8")


def test_a_failing_data_check(example: Path, released: CiReport) -> None:
    checks = example / "checks.py"
    checks.write_text(
        "def enough_rows(frame):\n"
        "    assert len(frame) >= 10_000, f'only {len(frame)} rows'\n\n"
        "def no_nulls(frame):\n"
        "    return not frame.isna().any().any()\n"
    )
    try:
        spec = ["checks.py:enough_rows", "checks.py:no_nulls"]
        report = run_ci(example, CiOptions(overrides={"ci.data_checks": spec}))
    finally:
        checks.unlink()
    stage = _check(report, "data", registered=[1], directory=example)
    assert stage.message == "1 of 2 data check(s) failed: checks.py:enough_rows: only 569 rows"


FRAGILE_MODEL = """\
from slowmodel import SlowClassifier


class Fragile(SlowClassifier):
    def predict(self, X):
        if len(X) < 10:
            raise ValueError("cannot answer fewer than 10 rows")
        return super().predict(X)


def train(frame, target, delay=0.0, **params):
    return Fragile(delay).fit(frame.drop(columns=[target]), frame[target])
"""


@pytest.fixture(scope="module")
def custom(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project whose models are the project's own classes (importable modules)."""
    directory = write_project(
        tmp_path_factory.mktemp("ci") / "custom",
        name="ci-custom",
        entrypoint="slowmodel.SlowClassifier",
    )
    (directory / "slowmodel.py").write_text(SLOW_MODEL)
    (directory / "fragile.py").write_text(FRAGILE_MODEL)
    return directory


def test_a_model_too_slow_for_the_budget(custom: Path) -> None:
    budget = {"ci.latency_budget_ms": 20, "ci.requests": 3, "ci.batch_rows": 5}
    report = run_ci(custom, CiOptions(release=True, overrides=budget))
    assert statuses(report)[:5] == ["passed", "passed", "skipped", "passed", "skipped"], [
        (s.title, s.message, s.output[-1500:]) for s in report.stages
    ]
    stage = _check(report, "infrastructure", registered=[], directory=custom)
    assert stage.message.startswith("too slow: 3 batches of 5 rows: p50 ")
    assert "the budget is p95 <= 20 ms ([ci] latency_budget_ms)" in stage.message
    assert stage.details["latency_ms"]["p95"] > 20


def test_a_model_that_the_server_cannot_load(custom: Path) -> None:
    report = run_ci(
        custom, CiOptions(release=True, overrides={"train.entrypoint": "fragile:train"})
    )
    stage = _check(report, "infrastructure", registered=[], directory=custom)
    assert stage.message.startswith("the serving app did not load the candidate: ")
    assert "cannot answer fewer than 10 rows" in stage.message  # the warm-up's failure


def test_a_project_file_with_an_error_exits_2(tmp_path: Path) -> None:
    directory = write_project(tmp_path / "bad", extra="\n[ci]\nlatency_budget = 10\n")
    report = run_ci(directory, CiOptions())
    assert statuses(report) == ["failed"] + ["skipped"] * 5
    assert "unknown setting 'ci.latency_budget'" in report.stages[0].message
    assert report.exit_code == 2
    assert (directory / ".mlpilot" / "ci" / "junit.xml").is_file()


def test_training_code_that_does_not_import(tmp_path: Path) -> None:
    directory = write_project(tmp_path / "code", entrypoint="pipeline.py:train")
    (directory / "pipeline.py").write_text("import numpy as np\nraise RuntimeError('half-done')\n")
    report = run_ci(directory, CiOptions())
    stage = report.stages[0]
    assert stage.status == "failed"
    assert "RuntimeError: half-done" in stage.message
    assert "Traceback" in stage.output
    assert report.exit_code == 1
    body = json.dumps(report.to_dict())
    assert '"exit_code": 1' in body
