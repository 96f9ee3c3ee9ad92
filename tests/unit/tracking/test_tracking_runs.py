"""Runs against a real MLflow tracking store on SQLite."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

from mlpilot.config import Settings
from mlpilot.errors import MlpilotError, StoreError
from mlpilot.tracking import (
    TAG_COMMIT,
    TAG_PIPELINE_RUN,
    TAG_STEP,
    configure,
    ensure_experiment,
    mlflow_client,
    start_run,
)


def _client(settings: Settings) -> MlflowClient:
    return MlflowClient(tracking_uri=settings.tracking_uri)


def test_configure_uses_the_embedded_store(default_settings: Settings) -> None:
    configure(default_settings)
    configure(default_settings)  # idempotent
    assert default_settings.tracking_uri == f"sqlite:///{default_settings.home / 'mlflow.db'}"
    assert mlflow.get_tracking_uri() == default_settings.tracking_uri
    assert mlflow.get_registry_uri() == default_settings.tracking_uri
    assert default_settings.home.is_dir()
    import os

    assert os.environ["MLFLOW_DISABLE_TELEMETRY"] == "true"


def test_experiment_is_named_after_the_project_and_keeps_artifacts_in_mlpilot(
    default_settings: Settings,
) -> None:
    experiment_id = ensure_experiment(default_settings)
    assert ensure_experiment(default_settings) == experiment_id
    experiment = _client(default_settings).get_experiment(experiment_id)
    assert experiment.name == "defaults"
    assert experiment.artifact_location == default_settings.artifact_root
    assert experiment.artifact_location.endswith("/.mlpilot/artifacts")


def test_deleted_experiment_is_restored(settings: Settings) -> None:
    experiment_id = ensure_experiment(settings)
    _client(settings).delete_experiment(experiment_id)
    assert ensure_experiment(settings) == experiment_id
    assert _client(settings).get_experiment(experiment_id).lifecycle_stage == "active"


def test_run_logs_params_metrics_tags_and_artifacts(settings: Settings, tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    report.write_text("<p>ok</p>")
    with start_run(settings, run_name="pipeline", tags={TAG_PIPELINE_RUN: "p-1"}) as run:
        assert mlflow.active_run() is not None
        assert mlflow.active_run().info.run_id == run.run_id  # type: ignore[union-attr]
        run.log_params({"C": 1.0, "penalty": "l2"})
        run.log_metrics({"roc_auc": 0.99})
        run.log_metrics({"roc_auc": 0.995}, step=1)
        run.set_tags({"team": "risk"})
        run.log_dict({"rows": 569}, "data/summary.json")
        run.log_text("hello", "notes.txt")
        run.log_artifact(report, "reports")
    assert mlflow.active_run() is None

    client = _client(settings)
    got = client.get_run(run.run_id)
    assert got.info.status == "FINISHED"
    assert got.info.run_name == "pipeline"
    assert got.info.experiment_id == run.experiment_id
    assert got.data.params == {"C": "1.0", "penalty": "l2"}
    assert got.data.metrics == {"roc_auc": 0.995}
    assert got.data.tags[TAG_PIPELINE_RUN] == "p-1"
    assert got.data.tags["team"] == "risk"
    summary = mlflow.artifacts.load_dict(f"{got.info.artifact_uri}/data/summary.json")
    assert summary == {"rows": 569}
    assert mlflow.artifacts.load_text(f"{got.info.artifact_uri}/notes.txt") == "hello"
    names = {a.path for a in client.list_artifacts(run.run_id, "reports")}
    assert names == {"reports/report.html"}
    assert got.info.artifact_uri.startswith(settings.artifact_root)


def test_many_params_are_batched(settings: Settings) -> None:
    with start_run(settings, run_name="wide", tags={}) as run:
        run.log_params({f"p{i}": i for i in range(250)})
        run.log_metrics({f"m{i}": float(i) for i in range(250)})
    data = _client(settings).get_run(run.run_id).data
    assert len(data.params) == 250
    assert len(data.metrics) == 250


def test_exception_fails_the_run_and_propagates(settings: Settings) -> None:
    with (
        pytest.raises(ValueError, match="boom"),
        start_run(settings, run_name="broken", tags={}) as run,
    ):
        raise ValueError("boom")
    assert _client(settings).get_run(run.run_id).info.status == "FAILED"
    assert mlflow.active_run() is None


def test_fluent_runs_left_open_inside_are_ended(settings: Settings) -> None:
    with start_run(settings, run_name="outer", tags={}) as run:
        inner = mlflow.start_run(run_name="user-code", nested=True)
    assert mlflow.active_run() is None
    client = _client(settings)
    assert client.get_run(inner.info.run_id).info.status == "FINISHED"
    assert client.get_run(run.run_id).info.status == "FINISHED"


def test_child_runs_for_steps(settings: Settings) -> None:
    with start_run(settings, run_name="pipeline", tags={TAG_PIPELINE_RUN: "p-2"}) as run:
        with run.child("ingest", tags={TAG_STEP: "ingest"}) as step:
            step.log_metrics({"rows": 569})
        with pytest.raises(RuntimeError, match="bad step"), run.child("train") as failing:
            raise RuntimeError("bad step")
    client = _client(settings)
    ingest = client.get_run(step.run_id)
    assert ingest.info.status == "FINISHED"
    assert ingest.info.run_name == "ingest"
    assert ingest.data.tags["mlflow.parentRunId"] == run.run_id
    assert ingest.data.tags[TAG_PIPELINE_RUN] == "p-2"
    assert ingest.data.tags[TAG_STEP] == "ingest"
    assert ingest.data.metrics == {"rows": 569.0}
    assert client.get_run(failing.run_id).info.status == "FAILED"
    assert client.get_run(run.run_id).info.status == "FINISHED"
    children = client.search_runs(
        [run.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{run.run_id}'"
    )
    assert {c.info.run_name for c in children} == {"ingest", "train"}


def test_start_run_refuses_when_an_mlflow_run_is_active(settings: Settings) -> None:
    configure(settings)
    outside = mlflow.start_run(experiment_id=ensure_experiment(settings))
    try:
        with (
            pytest.raises(MlpilotError, match=f"run {outside.info.run_id} is already active"),
            start_run(settings, run_name="x", tags={}),
        ):
            pass
    finally:
        mlflow.end_run()


def test_runs_outside_git_have_no_code_tags(settings: Settings) -> None:
    with start_run(settings, run_name="nogit", tags={}) as run:
        pass
    assert TAG_COMMIT not in _client(settings).get_run(run.run_id).data.tags


def test_mlflow_refusals_become_store_errors(settings: Settings) -> None:
    with start_run(settings, run_name="params", tags={}) as run:
        run.log_params({"C": 1})
        with pytest.raises(StoreError, match="MLflow could not log parameters in the tracking"):
            run.log_params({"C": 2})  # MLflow forbids changing a logged parameter


def test_uncreatable_store_directory_is_a_store_error(tmp_path: Path) -> None:
    from mlpilot.config import load_settings

    (tmp_path / "blocker").write_text("a file, not a directory")
    uri = f"sqlite:///{tmp_path / 'blocker' / 'mlflow.db'}"
    (tmp_path / "mlpilot.toml").write_text(
        '[project]\nname = "x"\n[data]\nsource = "s"\ntarget = "t"\n'
        f'[train]\nentrypoint = "e"\n[store]\ntracking_uri = "{uri}"\n'
    )
    with pytest.raises(StoreError, match="cannot create the directory"):
        configure(load_settings(tmp_path, env={}))


def test_client_is_bound_to_the_project(settings: Settings) -> None:
    client = mlflow_client(settings)
    assert client.tracking_uri == settings.tracking_uri
    assert client._registry_uri == settings.tracking_uri
