"""Five repositories, one per typical stage, each assessed at its expected level on each model,
with the evidence that puts it there (real git, real files, the packaged criteria)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mlpilot.assessment import Assessment, assess

NOTEBOOK = (
    '{"cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": null,'
    ' "source": ["import pandas as pd\\n", "from sklearn.tree import DecisionTreeClassifier\\n"]'
    '}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'
)
SERVICE = """\
import pickle

from fastapi import FastAPI

app = FastAPI(title="churn")
model = pickle.load(open("model.pkl", "rb"))


@app.post("/predict")
def predict(rows: list[list[float]]) -> list[int]:
    return model.predict(rows).tolist()
"""
APP_TESTS = """\
from fastapi.testclient import TestClient

from app.main import app


def test_predict_answers_a_row() -> None:
    assert TestClient(app).post("/predict", json=[[1.0, 2.0]]).status_code == 200


def test_the_title() -> None:
    assert app.title == "churn"
"""
TRAIN = """\
import mlflow
import pandas as pd
from sklearn.linear_model import LogisticRegression


def train(path: str) -> None:
    frame = pd.read_csv(path)
    with mlflow.start_run():
        model = LogisticRegression().fit(frame.drop(columns=["y"]), frame["y"])
        mlflow.log_metric("accuracy", model.score(frame.drop(columns=["y"]), frame["y"]))
        mlflow.sklearn.log_model(model, name="model", registered_model_name="churn")
"""
MODEL_TESTS = """\
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression


def test_the_model_is_accurate() -> None:
    x, y = load_breast_cancer(return_X_y=True)
    model = LogisticRegression(max_iter=5000).fit(x, y)
    assert model.score(x, y) > 0.9
"""
DVC = """\
stages:
  train:
    cmd: python train.py data/train.csv
    deps: [data/train.csv, train.py]
    outs: [model.pkl]
"""
GITHUB_TESTS = """\
name: ci
on: [push]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: pip install -r requirements.txt
      - run: pytest
"""
GITHUB_TRAIN = GITHUB_TESTS + "      - run: dvc repro\n"
DEPLOY_JOB = """  deploy:
    needs: test
    runs-on: ubuntu-latest
    steps:
      - run: docker push registry.example.com/churn:${{ github.sha }}
      - run: helm upgrade --install churn chart/
"""
GITHUB_DEPLOY = GITHUB_TRAIN + DEPLOY_JOB
CANARY = """\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: churn
spec:
  predictor:
    canaryTrafficPercent: 10
    model:
      modelFormat: {name: mlflow}
"""
MONITOR = """\
from evidently import Report
from evidently.presets import DataDriftPreset


def drift(reference, current):
    return Report([DataDriftPreset()]).run(current, reference)
"""
MLPILOT_TOML = """\
[project]
name = "churn"

[data]
source = "data/current.csv"
target = "y"

[train]
entrypoint = "pipeline.py:train"

[gate]
metrics = { accuracy = ">= 0.8" }

[monitor]
drift = { share = 0.25, window = 300 }

[[trigger]]
on = "drift"
consecutive = 2

[[trigger]]
on = "schedule"
cron = "0 3 * * 1"

[release]
strategy = "canary"
canary_traffic = 0.2
"""
MLPILOT_WORKFLOW = GITHUB_TESTS.replace("- run: pytest", "- run: mlpilot ci --release")
MLPILOT_TESTS = """\
def test_the_candidate_beats_chance(candidate, holdout) -> None:
    assert candidate.score(holdout) > 0.6
"""


def _write(root: Path, files: dict[str, str], *, git: bool = True) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    if git:
        for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "the project"]):
            subprocess.run(
                ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
                cwd=root, check=True, capture_output=True,
            )  # fmt: skip
    return root


@pytest.fixture(autouse=True)
def _no_user_git_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


def _at(name: str, text: str, needle: str) -> str:
    """``name:line`` of the first line of ``text`` that holds ``needle``."""
    return f"{name}:{next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)}"


def _levels(result: Assessment) -> dict[str, int]:
    return {r.model.id: r.level for r in result.results}


def _dims(result: Assessment, model: str) -> dict[str, int]:
    return {d.dimension.id: d.level for d in result.result(model).dimensions}


def _evidence(result: Assessment, fact: str) -> list[str]:
    return [item.where() for item in result.facts.get(fact).evidence]


def _unmet(result: Assessment, model: str) -> set[str]:
    return {
        c.criterion.id
        for d in result.result(model).dimensions
        for c in d.criteria
        if c.met is False
    }


def test_a_folder_of_notebooks_stands_on_every_models_floor(tmp_path: Path) -> None:
    root = _write(
        tmp_path / "notebooks",
        {"explore.ipynb": NOTEBOOK, "data.csv": "a,y\n1,0\n"},
        git=False,
    )
    result = assess(root, answers=None)
    assert _levels(result) == {"google": 0, "azure": 0, "mlab": 1, "pathway": 1}
    assert set(_dims(result, "azure").values()) == {0}
    assert _evidence(result, "code.notebooks") == ["explore.ipynb"]
    assert result.facts.get("vcs.git").note == "not a git repository"
    assert result.facts.get("code.modular").met is False
    assert result.live is False
    # every next step of every evidence dimension is concrete
    for model in result.results:
        assert model.next_steps()
        assert all(step.criterion.next_step for step in model.next_steps())


def test_devops_without_mlops_has_app_ci_and_tests_but_no_tracking(tmp_path: Path) -> None:
    root = _write(
        tmp_path / "service",
        {
            ".github/workflows/ci.yml": GITHUB_TESTS + DEPLOY_JOB,
            "app/__init__.py": "",
            "app/main.py": SERVICE,
            "tests/test_app.py": APP_TESTS,
            "Dockerfile": "FROM python:3.11-slim\nCOPY . /app\n",
            "README.md": "# churn service\n",
        },
    )
    result = assess(root)
    azure = _dims(result, "azure")
    assert azure["application_integration"] == 1  # app tests, automated releases
    assert azure["model_creation"] == 0  # nothing gathers data or tracks experiments
    assert _levels(result) == {"google": 0, "azure": 0, "mlab": 1, "pathway": 1}
    assert _evidence(result, "ci.tests") == [
        _at(".github/workflows/ci.yml", GITHUB_TESTS, "pytest")
    ]
    assert _evidence(result, "tests.unit")[0].startswith("tests/test_app.py")
    assert result.facts.get("tracking.experiments").met is False
    assert "azure.creation.2.experiments" in _unmet(result, "azure")


def test_tracked_training_with_a_registry_and_a_manual_release(tmp_path: Path) -> None:
    root = _write(
        tmp_path / "tracked",
        {
            ".github/workflows/ci.yml": GITHUB_TRAIN,
            "train.py": TRAIN,
            "dvc.yaml": DVC,
            "data/train.csv.dvc": "outs:\n- md5: 0\n  path: train.csv\n",
            "tests/test_model.py": MODEL_TESTS,
            "app/main.py": SERVICE,
            "README.md": "# churn\n",
        },
    )
    result = assess(root)
    azure = _dims(result, "azure")
    assert azure["model_creation"] == 3  # tracked, versioned, trained in CI, traceable
    assert azure["model_release"] == 2  # the release itself is manual
    assert "azure.release.3.automatic" in _unmet(result, "azure")
    assert _dims(result, "google")["pipeline"] == 0  # trained on push, never on fresh data
    assert _dims(result, "mlab")["model"] == 3
    assert _evidence(result, "registry.models") == [_at("train.py", TRAIN, "registered_model_name")]
    assert _evidence(result, "ci.training") == [
        _at(".github/workflows/ci.yml", GITHUB_TRAIN, "dvc")
    ]
    assert result.facts.get("ci.deploy").met is False


def test_automated_release_with_canary_and_monitoring_but_no_automatic_retraining(
    tmp_path: Path,
) -> None:
    root = _write(
        tmp_path / "released",
        {
            ".github/workflows/ci.yml": GITHUB_DEPLOY,
            "train.py": TRAIN,
            "dvc.yaml": DVC,
            "tests/test_model.py": MODEL_TESTS,
            "tests/integration/test_app.py": APP_TESTS,
            "app/main.py": SERVICE,
            "k8s/inference.yaml": CANARY,
            "monitoring/drift.py": MONITOR,
            "Dockerfile": "FROM python:3.11-slim\n",
            "README.md": "# churn\n",
        },
    )
    result = assess(root)
    azure = _dims(result, "azure")
    assert azure["model_release"] == 3  # released by CI/CD...
    assert azure["model_creation"] == 3  # ...but retraining is not triggered by production
    assert "azure.creation.4.retraining" in _unmet(result, "azure")
    assert _dims(result, "google") == {"pipeline": 0, "delivery": 2, "monitoring": 1}
    assert _evidence(result, "ci.deploy")[0].startswith(".github/workflows/ci.yml:")
    assert _evidence(result, "release.progressive") == [_at("k8s/inference.yaml", CANARY, "canary")]
    assert _evidence(result, "monitoring.config")[0].startswith("monitoring/drift.py:")


def test_the_full_loop_configured_but_never_run_lacks_only_the_proof_of_running(
    tmp_path: Path,
) -> None:
    root = _write(
        tmp_path / "loop",
        {
            "mlpilot.toml": MLPILOT_TOML,
            "pipeline.py": TRAIN,
            "tests/test_model.py": MLPILOT_TESTS,
            ".github/workflows/mlpilot.yml": MLPILOT_WORKFLOW,
            ".gitignore": ".mlpilot/\n",
        },
    )
    result = assess(root)  # the project has not run: its live facts are not met
    assert result.live is True
    assert result.facts.get("live.runs").note == "the project has not run yet (no metadata store)"
    assert _levels(result)["google"] == 2
    assert _levels(result)["mlab"] == 4
    azure = _dims(result, "azure")
    for dimension in ("model_creation", "model_release", "architecture", "modeling", "processes"):
        assert azure[dimension] == 4, dimension
    # what holds the rest below the top is proof only running shows (an audit trail, served
    # predictions, gated runs) or a question nobody answered
    for model in result.results:
        for dim in model.dimensions:
            for criterion in dim.criteria:
                if criterion.met is False:
                    assert any(f.id.startswith("live.") for f in criterion.facts), criterion
                if criterion.met is None:
                    assert criterion.needs_answers, criterion
    assert _evidence(result, "retrain.triggers") == [
        _at("mlpilot.toml", MLPILOT_TOML, "[[trigger]]")
    ]
    assert _evidence(result, "ci.deploy") == [
        _at(".github/workflows/mlpilot.yml", MLPILOT_WORKFLOW, "--release")
    ]
    assert _evidence(result, "release.progressive") == [
        _at("mlpilot.toml", MLPILOT_TOML, 'strategy = "canary"')
    ]


def test_answers_lift_the_people_dimensions_and_an_answer_no_keeps_them_down(
    tmp_path: Path,
) -> None:
    from mlpilot.assessment import load_models

    root = _write(tmp_path / "loop", {"mlpilot.toml": MLPILOT_TOML, "pipeline.py": TRAIN})
    azure = load_models(("azure",))[0]
    people = {
        name.removeprefix("answer.")
        for c in azure.criteria
        if c.dimension == "people"
        for name in c.parsed.names
    }
    yes = tmp_path / "yes.toml"
    yes.write_text("[answers]\n" + "".join(f"{q} = true\n" for q in sorted(people)))
    assert _dims(assess(root, models=("azure",), answers=yes), "azure")["people"] == 4
    no = tmp_path / "no.toml"
    no.write_text(yes.read_text().replace("true", "false"))
    result = assess(root, models=("azure",), answers=no)
    assert _dims(result, "azure")["people"] == 0
    assert result.result("azure").dimension("people").possible == 0
    assert result.facts.get(f"answer.{sorted(people)[0]}").evidence[0].path == str(no)
