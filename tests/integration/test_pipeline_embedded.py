"""The whole pipeline on the embedded default: real MLflow (SQLite), real metadata store."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
import pytest
from sklearn.datasets import load_wine
from sqlalchemy import func, select

from mlpilot.errors import (
    DataSourceError,
    EmptyDataError,
    IntegrityError,
    LockedError,
    ModelNotFoundError,
    RegistryError,
    SchemaViolationError,
    TargetError,
    UserCodeError,
)
from mlpilot.project import Project
from mlpilot.store import PipelineRunRow, StepExecutionRow

from .conftest import ProjectFactory


def _runs_in_mlflow(project: Project) -> int:
    client = mlflow.MlflowClient(project.settings.tracking_uri)
    exp = client.get_experiment_by_name(project.name)
    return 0 if exp is None else len(client.search_runs([exp.experiment_id]))


def _run_rows(project: Project) -> list[PipelineRunRow]:
    with project.store.session() as s:
        return list(s.execute(select(PipelineRunRow).order_by(PipelineRunRow.started_at)).scalars())


def _wine_csv(directory: Path) -> pd.DataFrame:
    frame = load_wine(as_frame=True).frame
    frame["target"] = (frame["target"] == 0).astype(int)
    frame.to_csv(directory / "data.csv", index=False)
    return frame


def test_first_run_registers_champion_with_lineage(make_project: ProjectFactory) -> None:
    project = make_project()
    summary = project.run(actor="ann")
    assert summary.status == "succeeded"
    assert summary.model_version == 1
    assert summary.model_aliases == ("champion",)
    assert summary.metrics["accuracy"] > 0.9
    assert summary.rows == 569
    assert [s.status for s in summary.steps] == ["ran"] * 9

    [v1] = project.models()
    assert v1.lineage["mlpilot.pipeline_run_id"] == summary.run_id
    assert v1.lineage["mlpilot.data_snapshot"] == summary.snapshot_hash
    assert v1.lineage["mlpilot.schema_version"] == summary.schema_version
    assert v1.digest == summary.model_digest

    run = mlflow.MlflowClient(project.settings.tracking_uri).get_run(summary.mlflow_run_id)
    assert run.data.tags["mlpilot.pipeline_run_id"] == summary.run_id
    assert run.data.tags["mlpilot.data_snapshot"] == summary.snapshot_hash
    assert run.data.tags["mlpilot.step.train"] == "ran"
    assert run.data.metrics["accuracy"] == pytest.approx(summary.metrics["accuracy"])

    snap = project.settings.snapshot_dir / f"{summary.snapshot_hash}.parquet"
    assert len(pd.read_parquet(snap)) == 569
    actions = [e.action for e in project.audit_events()]
    assert actions == ["pipeline.succeeded", "model.registered", "schema.created"]
    assert project.verify_audit().ok
    [row] = _run_rows(project)
    assert (row.status, row.model_version, row.actor) == ("succeeded", 1, "ann")


def test_unchanged_rerun_trains_nothing_and_opens_no_mlflow_run(
    make_project: ProjectFactory,
) -> None:
    project = make_project()
    first = project.run()
    runs_before = _runs_in_mlflow(project)
    again = project.run()
    assert again.status == "unchanged"
    assert again.model_version == first.model_version == 1
    assert {s.name for s in again.steps if s.status == "ran"} == {"ingest", "schema"}
    assert again.mlflow_run_id is None
    assert _runs_in_mlflow(project) == runs_before
    assert "nothing changed since version 1" in (again.message or "")
    assert len(project.models()) == 1


def test_changed_params_retrain_and_register_a_challenger(make_project: ProjectFactory) -> None:
    project = make_project()
    project.run()
    changed = Project.open(project.settings.project_dir, env={"MLPILOT_TRAIN__PARAMS": "{C=0.5}"})
    summary = changed.run()
    ran = {s.name for s in summary.steps if s.status == "ran"}
    assert {"train", "evaluate", "gate", "register"} <= ran
    assert "split" not in ran
    assert "validate" not in ran
    assert summary.model_version == 2
    assert summary.model_aliases == ("challenger",)
    assert any(c["name"] == "vs_champion" and c["passed"] for c in summary.gate)
    assert {v.version: v.aliases for v in changed.models()} == {
        2: ("challenger",),
        1: ("champion",),
    }


def test_code_change_invalidates_training(make_project: ProjectFactory) -> None:
    project = make_project()
    project.run()
    pipeline_py = project.settings.project_dir / "pipeline.py"
    pipeline_py.write_text(pipeline_py.read_text() + "\n# a comment changes the code\n")
    summary = project.run()
    assert "train" in {s.name for s in summary.steps if s.status == "ran"}


def test_failed_gate_is_tracked_not_registered(make_project: ProjectFactory) -> None:
    project = make_project(gate=">= 0.9999")
    summary = project.run()
    assert summary.status == "rejected"
    assert summary.model_version is None
    assert project.models() == []
    failed = [c for c in summary.gate if not c["passed"]]
    assert failed
    assert "accuracy" in failed[0]["detail"]
    run = mlflow.MlflowClient(project.settings.tracking_uri).get_run(summary.mlflow_run_id)
    assert run.data.tags["mlpilot.gate"] == "failed"
    assert run.info.status == "FINISHED"
    assert _run_rows(project)[-1].status == "rejected"


def test_schema_violation_stops_before_training_then_accept(make_project: ProjectFactory) -> None:
    project = make_project(source="data.csv")
    frame = _wine_csv(project.settings.project_dir)
    project.run()
    bad = frame.drop(columns=["alcohol"])
    bad["magnesium"] = bad["magnesium"] * 100
    bad.to_csv(project.settings.project_dir / "data.csv", index=False)
    with pytest.raises(SchemaViolationError, match="breaks schema") as err:
        project.run()
    [report] = (project.settings.home / "reports").glob("validation-*.json")
    assert str(report) in err.value.message
    assert "missing_column" in report.read_text()
    kinds = {(a.column, a.kind) for a in err.value.anomalies}
    assert ("alcohol", "missing_column") in kinds
    assert ("magnesium", "out_of_range") in kinds
    assert len(project.models()) == 1
    assert _run_rows(project)[-1].status == "failed"
    with project.store.session() as s:
        trained = s.execute(
            select(func.count()).where(
                StepExecutionRow.step == "train", StepExecutionRow.status == "ran"
            )
        ).scalar_one()
    assert trained == 1  # only the first run trained

    accepted = project.accept_schema(reason="alcohol is no longer measured", actor="ann")
    assert project.schema("active").version == accepted.version  # type: ignore[union-attr]
    summary = project.run()
    assert summary.status == "succeeded"
    assert summary.model_version == 2
    assert project.audit_events()[2].action == "schema.accepted"


def test_accept_without_proposal_is_clear(make_project: ProjectFactory) -> None:
    project = make_project()
    with pytest.raises(Exception, match="no proposed schema to accept"):
        project.accept_schema(reason="x")


def test_train_entrypoint_that_raises_is_wrapped(make_project: ProjectFactory) -> None:
    project = make_project(entrypoint="pipeline.py:broken", params="{}")
    with pytest.raises(UserCodeError, match="feature engineering failed on purpose") as err:
        project.run()
    assert "RuntimeError" in err.value.user_traceback
    assert project.models() == []
    assert _run_rows(project)[-1].status == "failed"


@pytest.mark.parametrize(
    ("content", "error", "match"),
    [
        (None, DataSourceError, "data.csv"),
        ("a,b,target\n", EmptyDataError, "no rows"),
        ("a,b\n1,2\n3,4\n", TargetError, "target"),
        ("a,target\n1,1\n2,1\n3,1\n", TargetError, "class"),
    ],
    ids=["missing-file", "empty", "no-target", "one-class"],
)
def test_bad_data_fails_clearly_and_leaves_nothing(
    make_project: ProjectFactory,
    content: str | None,
    error: type[Exception],
    match: str,
) -> None:
    project = make_project(source="data.csv")
    if content is not None:
        (project.settings.project_dir / "data.csv").write_text(content)
    with pytest.raises(error, match=match):
        project.run()
    assert project.models() == []
    assert _run_rows(project)[-1].status == "failed"
    assert project.verify_audit().ok


def test_tampered_artifact_is_refused_and_audited(make_project: ProjectFactory) -> None:
    project = make_project()
    project.run()
    [model_file] = (project.settings.home / "artifacts").rglob("model.skops")
    data = bytearray(model_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model_file.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=r"/1' failed verification.*model.skops \(changed\)"):
        project.registry.load(1)
    assert project.audit_events()[0].action == "model.integrity_failed"
    # A later run that must compare with the tampered champion refuses too.
    changed = Project.open(project.settings.project_dir, env={"MLPILOT_TRAIN__PARAMS": "{C=0.3}"})
    with pytest.raises(IntegrityError):
        changed.run()
    assert len(changed.models()) == 1


def test_promote_and_rollback_move_champion_with_audit(make_project: ProjectFactory) -> None:
    project = make_project()
    project.run()
    Project.open(project.settings.project_dir, env={"MLPILOT_TRAIN__PARAMS": "{C=0.5}"}).run()
    project.promote(2, reason="better on recent data", actor="ann")
    assert project.registry.by_alias("champion").version == 2  # type: ignore[union-attr]
    project.rollback(reason="complaints", actor="bob")
    assert project.registry.by_alias("champion").version == 1  # type: ignore[union-attr]
    events = project.audit_events()
    assert [(e.action, e.actor, e.reason) for e in events[:2]] == [
        ("model.rolled_back", "bob", "complaints"),
        ("model.promoted", "ann", "better on recent data"),
    ]
    with pytest.raises(ModelNotFoundError, match="version 7"):
        project.promote(7, reason="typo")
    with pytest.raises(RegistryError, match=r"earlier champion|no previous champion"):
        project.rollback(reason="again")


def test_second_run_while_one_holds_the_lock_fails_clearly(make_project: ProjectFactory) -> None:
    project = make_project()
    with (
        project.store.lock(f"pipeline:{project.name}"),
        pytest.raises(LockedError, match="wait for it to finish"),
    ):
        project.run()
    assert _run_rows(project) == []
    assert project.run().status == "succeeded"


def test_estimator_class_path_entrypoint(make_project: ProjectFactory) -> None:
    project = make_project(
        entrypoint="sklearn.ensemble.RandomForestClassifier",
        params="{ n_estimators = 10, random_state = 0 }",
    )
    summary = project.run()
    assert summary.model_version == 1
    loaded = project.registry.load(1)
    assert type(loaded.model).__name__ == "RandomForestClassifier"


CHECKS_PY = """\
def enough_rows(split):
    if len(split.x_train) < {min_rows}:
        raise ValueError(f"only {{len(split.x_train)}} training rows")


def no_constant_predictions(evaluate):
    assert len(set(evaluate.predictions.tolist())) > 1, "the model predicts one class"
"""


@pytest.mark.parametrize("min_rows", [10, 100_000], ids=["passes", "fails"])
def test_project_steps_run_before_register(make_project: ProjectFactory, min_rows: int) -> None:
    project = make_project()
    directory = project.settings.project_dir
    (directory / "checks.py").write_text(CHECKS_PY.format(min_rows=min_rows))
    with (directory / "mlpilot.toml").open("a") as fh:
        fh.write(
            '\n[pipeline]\nsteps = ["checks.py:enough_rows", "checks.py:no_constant_predictions"]\n'
        )
    project = Project.open(directory, env={})
    if min_rows == 10:
        summary = project.run()
        names = [s.name for s in summary.steps]
        assert names.index("enough_rows") < names.index("register")
        assert names.index("no_constant_predictions") < names.index("register")
        assert summary.model_version == 1
    else:
        with pytest.raises(UserCodeError, match="only 455 training rows"):
            project.run()
        assert project.models() == []


def _must_not_be_called(*args: object, **kwargs: object) -> None:
    raise AssertionError("the source was read although its snapshot could be reused")


def test_unchanged_file_source_reuses_its_snapshot(
    make_project: ProjectFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project(source="data.csv")
    frame = _wine_csv(project.settings.project_dir)
    first = project.run()
    snapshot = project.settings.snapshot_dir / f"{first.snapshot_hash}.parquet"
    with monkeypatch.context() as m:  # parsing the source again would fail the run
        m.setattr("mlpilot.data.load_source", _must_not_be_called)
        again = project.run()
    assert again.status == "unchanged"
    assert again.snapshot_hash == first.snapshot_hash
    # A damaged snapshot is dropped and rebuilt from the source.
    snapshot.write_bytes(b"not parquet")
    rebuilt = project.run()
    assert rebuilt.snapshot_hash == first.snapshot_hash
    assert len(pd.read_parquet(snapshot)) == len(frame)
    # Changed bytes: a new snapshot, and training runs again.
    frame.iloc[:100].to_csv(project.settings.project_dir / "data.csv", index=False)
    changed = project.run()
    assert changed.snapshot_hash != first.snapshot_hash
    assert "train" in {s.name for s in changed.steps if s.status == "ran"}
