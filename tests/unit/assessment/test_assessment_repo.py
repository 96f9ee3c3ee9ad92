"""collect_repository against small repositories built in tmp_path (real git, real files)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from mlpilot.assessment import _repo
from mlpilot.assessment._facts import FACTS, Fact, FactSet
from mlpilot.assessment._repo import REPO_FACTS, collect_repository


@pytest.fixture(autouse=True)
def _git_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / "gitconfig"))


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def _commit(root: Path, message: str = "first") -> None:
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", message)


def _collect(root: Path) -> FactSet:
    facts = FactSet()
    collect_repository(root, facts)
    return facts


def _line(text: str, needle: str) -> int:
    """The 1-based number of the first line of ``text`` containing ``needle``."""
    for number, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} is not in the fixture")


def _where(fact: Fact) -> list[tuple[str | None, int | None]]:
    return [(item.path, item.line) for item in fact.evidence]


# -- a folder of notebooks ------------------------------------------------------------------------


def _notebook(*sources: list[str]) -> str:
    cells = [
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": s}
        for s in sources
    ]
    return json.dumps(
        {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, indent=1
    )


def test_a_notebook_only_folder_has_notebooks_but_no_modular_code(tmp_path: Path) -> None:
    notebook = _notebook(
        ["import pandas as pd\n", "import mlflow\n"],
        ["from sklearn.linear_model import LogisticRegression\n", "mlflow.autolog()\n"],
    )
    root = _write(
        tmp_path / "notebooks",
        {"analysis.ipynb": notebook, "README.md": "# Churn\n", "data.csv": "a,b\n1,2\n"},
    )

    facts = _collect(root)

    notebooks = facts.get("code.notebooks")
    assert notebooks.met is True
    assert _where(notebooks) == [("analysis.ipynb", None)]
    assert notebooks.evidence[0].detail == "1 notebook(s)"
    modular = facts.get("code.modular")
    assert modular.met is False
    assert modular.note is not None
    assert "1 notebook(s) only" in modular.note
    tracking = facts.get("tracking.experiments")
    assert tracking.met is True
    assert _where(tracking)[0] == ("analysis.ipynb", _line(notebook, '"import mlflow'))
    assert tracking.evidence[0].source == "repo"
    assert facts.get("docs.readme").evidence[0].path == "README.md"
    assert facts.get("vcs.git").met is False
    assert facts.get("vcs.git").note == "not a git repository"
    assert facts.get("vcs.tags").met is False
    assert facts.get("ci.config").met is False
    assert facts.get("ci.tests").note == "no CI configuration found"
    assert facts.get("tests.unit").met is False
    assert facts.notes == []


# -- a web service with GitHub Actions ------------------------------------------------------------

WORKFLOW = """\
name: ci
on:
  push:
  pull_request:
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - name: Install pytest
        run: pip install -r requirements.txt pytest
      - name: Run pytest
        run: pytest -q tests
      # - run: kubectl apply -f k8s/
"""

APP = '''\
"""The prediction service. To track experiments, one day::

    import mlflow
"""
import joblib
from fastapi import FastAPI

app = FastAPI()
model = joblib.load("model.joblib")


@app.post("/predict")
def predict(rows: list[list[float]]) -> list[float]:
    return model.predict(rows).tolist()
'''

MODEL = """\
from sklearn.linear_model import LogisticRegression


def train(frame, target):
    return LogisticRegression().fit(frame.drop(columns=[target]), frame[target])
"""

APP_TESTS = """\
from fastapi.testclient import TestClient

from app.main import app


def test_predict_answers() -> None:
    client = TestClient(app)
    assert client.post("/predict", json=[[1.0]]).status_code == 200


def test_the_app_has_a_title() -> None:
    assert app.title
"""

PYPROJECT = """\
[project]
name = "service"

[tool.ruff]
line-length = 100
"""


def test_a_web_service_with_github_actions_and_no_tracking(tmp_path: Path) -> None:
    root = _write(
        tmp_path / "service",
        {
            ".github/workflows/ci.yml": WORKFLOW,
            "app/__init__.py": "",
            "app/main.py": APP,
            "app/model.py": MODEL,
            "tests/test_app.py": APP_TESTS,
            "Dockerfile": "# the service\nFROM python:3.11-slim\nCOPY . /app\n",
            "pyproject.toml": PYPROJECT,
            "requirements.txt": "fastapi\nmlflow\n",
            "README.md": "# Service\n",
        },
    )
    _commit(root, "a service that predicts")

    facts = _collect(root)

    assert _where(facts.get("ci.config")) == [(".github/workflows/ci.yml", None)]
    tests_in_ci = facts.get("ci.tests")
    assert tests_in_ci.met is True
    assert _where(tests_in_ci) == [(".github/workflows/ci.yml", _line(WORKFLOW, "run: pytest"))]
    assert tests_in_ci.evidence[0].detail.startswith("GitHub Actions workflow runs pytest")
    for fact_id in ("ci.training", "ci.deploy", "ci.schedule"):  # a commented kubectl is no deploy
        assert facts.get(fact_id).met is False, fact_id
    unit = facts.get("tests.unit")
    assert unit.met is True
    assert unit.evidence[0].detail == "2 test function(s) in 1 file(s)"
    assert _where(unit) == [("tests/test_app.py", _line(APP_TESTS, "def test_predict"))]
    integration = facts.get("tests.integration")
    assert _where(integration) == [("tests/test_app.py", _line(APP_TESTS, "TestClient(app)"))]
    assert facts.get("tests.model").met is False
    assert facts.get("tests.data").met is False
    assert _where(facts.get("serving.service")) == [("app/main.py", _line(APP, "@app.post"))]
    assert _where(facts.get("serving.versioned")) == [("app/main.py", None)]
    modular = _where(facts.get("code.modular"))  # an ML import is stronger than a def predict
    assert modular == [("app/model.py", 1), ("app/main.py", _line(APP, "def predict"))]
    assert _where(facts.get("container.image")) == [("Dockerfile", 2)]
    assert _where(facts.get("code.standards")) == [("pyproject.toml", 4)]
    tracking = facts.get("tracking.experiments")  # the docstring's import is not code
    assert tracking.met is False
    assert tracking.note is not None
    assert "MLflow" in tracking.note
    for fact_id in ("registry.models", "data.versioned", "pipeline.definition", "infra.code"):
        assert facts.get(fact_id).met is False, fact_id
    git = facts.get("vcs.git")
    assert git.met is True
    assert git.evidence[0].path == ".git"
    assert "1 commit(s)" in git.evidence[0].detail
    assert "a service that predicts" in git.evidence[0].detail
    assert facts.get("vcs.tags").met is False


# -- MLflow, DVC and a release by hand ------------------------------------------------------------

TRAIN = """\
import mlflow
import pandas as pd
from sklearn.ensemble import RandomForestClassifier


def main() -> None:
    frame = pd.read_csv("data/train.csv")
    with mlflow.start_run():
        model = RandomForestClassifier().fit(frame.drop(columns="y"), frame["y"])
        info = mlflow.sklearn.log_model(model, name="model")
    mlflow.register_model(info.model_uri, "churn")
"""

DVC_YAML = """\
stages:
  train:
    cmd: python train.py
    deps:
      - data/train.csv
      - train.py
    outs:
      - model.pkl
"""

MODEL_TESTS = """\
import joblib
import pandas as pd
from sklearn.metrics import accuracy_score


def test_the_model_is_accurate() -> None:
    model = joblib.load("model.pkl")
    frame = pd.read_csv("data/holdout.csv")
    x, y = frame.drop(columns="y"), frame["y"]
    assert accuracy_score(y, model.predict(x)) >= 0.8
"""

DATA_TESTS = """\
import pandera as pa


def test_the_columns() -> None:
    pa.DataFrameSchema({"y": pa.Column(int)})
"""


def test_mlflow_dvc_and_a_manual_release(tmp_path: Path) -> None:
    root = _write(
        tmp_path / "churn",
        {
            "train.py": TRAIN,
            "dvc.yaml": DVC_YAML,
            "data/train.csv.dvc": "outs:\n- md5: 0123\n  path: train.csv\n",
            ".dvc/config": "[core]\n    remote = storage\n",
            "tests/test_model.py": MODEL_TESTS,
            "tests/test_data.py": DATA_TESTS,
            "RELEASE.md": "Release by hand: copy model.pkl to the server.\n",
        },
    )
    _commit(root)
    _git(root, "tag", "v1.0")

    facts = _collect(root)

    assert _where(facts.get("tracking.experiments"))[0] == ("train.py", 1)
    assert _where(facts.get("registry.models")) == [
        ("train.py", _line(TRAIN, "mlflow.register_model"))
    ]
    versioned = _where(facts.get("data.versioned"))
    assert ("data/train.csv.dvc", None) in versioned
    assert (".dvc", None) in versioned
    assert ("dvc.yaml", None) in versioned
    assert _where(facts.get("pipeline.definition")) == [("dvc.yaml", 1)]
    assert _where(facts.get("data.automated")) == [("dvc.yaml", _line(DVC_YAML, "deps:"))]
    model_tests = facts.get("tests.model")
    assert _where(model_tests) == [("tests/test_model.py", _line(MODEL_TESTS, "assert accuracy"))]
    assert model_tests.evidence[0].detail.startswith("asserts on a model metric")
    assert _where(facts.get("tests.data")) == [("tests/test_data.py", 1)]
    assert _where(facts.get("code.modular"))[0] == ("train.py", 3)
    tags = facts.get("vcs.tags")
    assert tags.met is True
    assert tags.evidence[0].detail == "1 tag(s): v1.0"
    for fact_id in ("ci.config", "ci.deploy", "release.progressive", "release.rollback"):
        assert facts.get(fact_id).met is False, fact_id
    assert facts.get("serving.service").met is False
    assert facts.get("serving.versioned").note == "no prediction service found"


# -- Kedro, Helm and Argo Rollouts on GitLab ------------------------------------------------------

KEDRO_PYPROJECT = """\
[project]
name = "spaceflights"

[tool.kedro]
package_name = "spaceflights"
"""

CATALOG = """\
companies:
  type: pandas.CSVDataset
  filepath: data/01_raw/companies.csv
"""

ROLLOUT = """\
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: spaceflights
spec:
  strategy:
    canary:
      steps:
        - setWeight: 20
        - pause: {duration: 10m}
      analysis:
        templates:
          - templateName: success-rate
"""

GITLAB = """\
stages:
  - test
  - train
  - deploy

test:
  stage: test
  script:
    - pip install -e .
    - pytest

train:
  stage: train
  rules:
    - if: $CI_PIPELINE_SOURCE == "schedule"
  script:
    - kedro run

deploy:
  stage: deploy
  environment: production
  script:
    - helm upgrade --install spaceflights chart/
"""


def test_kedro_helm_and_argo_rollouts(tmp_path: Path) -> None:
    root = _write(
        tmp_path / "spaceflights",
        {
            "pyproject.toml": KEDRO_PYPROJECT,
            "conf/base/catalog.yml": CATALOG,
            "conf/staging/parameters.yml": "alpha: 0.1\n",
            "conf/production/parameters.yml": "alpha: 0.1\n",
            "src/spaceflights/pipeline_registry.py": "from kedro.pipeline import Pipeline\n",
            "src/spaceflights/nodes.py": (
                "from sklearn.linear_model import LinearRegression\n\n\n"
                "def train_model(x, y):\n    return LinearRegression().fit(x, y)\n"
            ),
            "chart/Chart.yaml": "apiVersion: v2\nname: spaceflights\nversion: 0.1.0\n",
            "chart/templates/rollout.yaml": ROLLOUT,
            ".gitlab-ci.yml": GITLAB,
        },
    )
    _commit(root)

    facts = _collect(root)

    pipeline = _where(facts.get("pipeline.definition"))
    assert ("pyproject.toml", 4) in pipeline
    assert ("conf/base/catalog.yml", None) in pipeline
    assert ("src/spaceflights/pipeline_registry.py", 1) in pipeline
    assert _where(facts.get("data.automated")) == [("conf/base/catalog.yml", 2)]
    assert set(_where(facts.get("infra.code"))) == {
        ("chart/Chart.yaml", None),
        ("chart/templates/rollout.yaml", 2),
    }
    assert _where(facts.get("release.progressive")) == [("chart/templates/rollout.yaml", 2)]
    rollback = facts.get("release.rollback")
    assert _where(rollback) == [("chart/templates/rollout.yaml", _line(ROLLOUT, "analysis:"))]
    assert "Argo Rollouts" in rollback.evidence[0].detail
    assert _where(facts.get("ci.tests")) == [(".gitlab-ci.yml", _line(GITLAB, "- pytest"))]
    assert _where(facts.get("ci.training")) == [(".gitlab-ci.yml", _line(GITLAB, "kedro run"))]
    deploy = facts.get("ci.deploy")
    assert _where(deploy) == [(".gitlab-ci.yml", _line(GITLAB, "helm upgrade"))]
    assert deploy.evidence[0].detail.startswith("GitLab CI deploys with Helm")
    schedule_line = _line(GITLAB, "CI_PIPELINE_SOURCE")
    assert _where(facts.get("ci.schedule")) == [(".gitlab-ci.yml", schedule_line)]
    assert _where(facts.get("retrain.triggers")) == [(".gitlab-ci.yml", schedule_line)]
    assert _where(facts.get("env.multiple")) == [("conf/staging", None), ("conf/production", None)]
    assert _where(facts.get("code.modular")) == [("src/spaceflights/nodes.py", 1)]
    for fact_id in (
        "compute.managed",
        "container.image",
        "serving.service",
        "tracking.experiments",
    ):
        assert facts.get(fact_id).met is False, fact_id


# -- an mlpilot project ----------------------------------------------------------------------------

MLPILOT_TOML = """\
[project]
name = "churn"

[data]
source = "data/*.parquet"
target = "churned"
schema = "schema.json"

[train]
entrypoint = "pipeline.py:train"

[[monitor]]
name = "drift"

[[trigger]]
on = "schedule"
cron = "0 3 * * *"

[[trigger]]
on = "drift"

[release]
strategy = "canary"
canary_traffic = 0.1
"""

MLPILOT_WORKFLOW = """\
name: mlpilot
on:
  push:
    branches: [main]
jobs:
  ci:
    runs-on: ubuntu-latest
    environment: staging
    steps:
      - uses: actions/checkout@v4
      - run: pip install mlpilot
      - name: mlpilot ci --release (main branch)
        run: mlpilot ci --release --junit junit.xml
  promote:
    needs: ci
    runs-on: ubuntu-latest
    environment:
      name: production
      url: https://example.org
    steps:
      - run: mlpilot promote --reason "green"
"""

MLPILOT_MODEL_TESTS = """\
from mlpilot.testing import assert_min_performance


def test_the_candidate_is_good_enough(candidate, holdout) -> None:
    assert_min_performance(candidate, holdout, "roc_auc", 0.9)
"""


def test_an_mlpilot_project(tmp_path: Path) -> None:
    root = _write(
        tmp_path / "churn",
        {
            "mlpilot.toml": MLPILOT_TOML,
            "pipeline.py": MODEL,
            ".github/workflows/mlpilot.yml": MLPILOT_WORKFLOW,
            "tests/test_model.py": MLPILOT_MODEL_TESTS,
        },
    )
    _commit(root)

    facts = _collect(root)

    def cites(fact_id: str, needle: str | None) -> None:
        fact = facts.get(fact_id)
        assert fact.met is True, fact_id
        line = None if needle is None else _line(MLPILOT_TOML, needle)
        assert _where(fact)[0] == ("mlpilot.toml", line), fact_id

    cites("data.automated", 'source = "data/*.parquet"')
    assert "data/*.parquet" in facts.get("data.automated").evidence[0].detail
    cites("data.validation", "schema =")
    cites("data.versioned", "[data]")
    assert facts.get("data.versioned").evidence[0].detail == "mlpilot snapshots each run's data"
    cites("monitoring.config", "[[monitor]]")
    cites("retrain.triggers", "[[trigger]]")
    assert facts.get("retrain.triggers").evidence[0].detail.endswith("on schedule, drift")
    cites("release.progressive", 'strategy = "canary"')
    cites("release.rollback", "[release]")
    assert "rolls the challenger back" in facts.get("release.rollback").evidence[0].detail
    cites("pipeline.definition", "[train]")
    cites("compute.managed", "[train]")
    cites("tracking.experiments", None)
    cites("registry.models", None)
    cites("serving.service", None)
    cites("code.templates", None)
    assert _where(facts.get("serving.versioned")) == [("mlpilot.toml", None)]
    workflow = ".github/workflows/mlpilot.yml"
    release_line = _line(MLPILOT_WORKFLOW, "run: mlpilot ci --release")
    for fact_id in ("ci.tests", "ci.training", "ci.deploy"):
        assert _where(facts.get(fact_id)) == [(workflow, release_line)], fact_id
    assert "mlpilot ci --release" in facts.get("ci.deploy").evidence[0].detail
    environments = facts.get("env.multiple")
    assert _where(environments) == [
        (workflow, _line(MLPILOT_WORKFLOW, "environment: staging")),
        (workflow, _line(MLPILOT_WORKFLOW, "name: production")),
    ]
    model_tests = facts.get("tests.model")
    assert _where(model_tests)[0] == (
        "tests/test_model.py",
        _line(MLPILOT_MODEL_TESTS, "def test_the_candidate"),
    )
    assert len(model_tests.evidence) == 1  # one piece per file: the strongest
    assert facts.get("ci.schedule").met is False


def test_an_mlpilot_project_that_releases_directly(tmp_path: Path) -> None:
    toml = (
        '[project]\nname = "p"\n\n[data]\nsource = "sklearn:iris"\ntarget = "target"\n\n'
        '[monitor.drift]\nmethod = "ks"\n\n[release]\nstrategy = "direct"\n'
    )
    root = _write(tmp_path / "p", {"mlpilot.toml": toml})

    facts = _collect(root)

    assert facts.get("release.progressive").met is False
    assert "'direct'" in (facts.get("release.progressive").note or "")
    assert facts.get("release.rollback").met is False
    assert _where(facts.get("monitoring.config")) == [("mlpilot.toml", _line(toml, "[monitor"))]
    assert facts.get("retrain.triggers").met is False
    assert "[[trigger]]" in (facts.get("retrain.triggers").note or "")
    assert _where(facts.get("data.validation")) == [("mlpilot.toml", _line(toml, "[data]"))]


def test_a_malformed_mlpilot_toml_makes_its_facts_unknown(tmp_path: Path) -> None:
    root = _write(tmp_path / "p", {"mlpilot.toml": "[project\nname = ", "README.md": "# P\n"})

    facts = _collect(root)

    assert any("mlpilot.toml is not valid TOML" in note for note in facts.notes)
    for fact_id in ("monitoring.config", "release.progressive", "data.automated"):
        fact = facts.get(fact_id)
        assert fact.met is None, fact_id
        assert fact.note is not None
        assert "not valid TOML" in fact.note
    assert _where(facts.get("pipeline.definition")) == [("mlpilot.toml", None)]
    assert facts.get("docs.readme").met is True
    assert facts.get("ci.config").met is False


# -- CI schedules in other systems ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("rel", "text", "needle"),
    [
        (
            ".github/workflows/nightly.yml",
            "on:\n  schedule:\n    - cron: '0 3 * * *'\njobs:\n  train:\n    steps:\n"
            "      - run: python scripts/train.py\n",
            "cron:",
        ),
        (
            "Jenkinsfile",
            "// nightly\npipeline {\n  triggers { cron('H 3 * * *') }\n  stages {\n"
            "    stage('train') { steps { sh 'python -m churn.train' } }\n  }\n}\n",
            "cron(",
        ),
        (
            "azure-pipelines.yml",
            "schedules:\n- cron: '0 3 * * *'\n  branches:\n    include: [main]\nsteps:\n"
            "- script: dvc repro\n",
            "schedules:",
        ),
    ],
)
def test_a_scheduled_ci_that_trains_is_a_retraining_trigger(
    tmp_path: Path, rel: str, text: str, needle: str
) -> None:
    root = _write(tmp_path / "repo", {rel: text})

    facts = _collect(root)

    assert _where(facts.get("ci.schedule")) == [(rel, _line(text, needle))]
    assert facts.get("ci.training").met is True
    assert _where(facts.get("retrain.triggers")) == [(rel, _line(text, needle))]


# -- git: missing, empty -------------------------------------------------------------------------


def test_git_not_installed_makes_the_git_facts_unknown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _write(tmp_path / "p", {"mlpilot.toml": MLPILOT_TOML, "README.md": "# P\n"})
    _commit(root)
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))

    facts = _collect(root)

    for fact_id in ("vcs.git", "vcs.tags", "serving.versioned"):
        fact = facts.get(fact_id)
        assert fact.met is None, fact_id
        assert fact.note == "git is not installed (not on PATH)"
    assert any(note.startswith("git is not installed") for note in facts.notes)
    assert facts.get("serving.service").met is True
    assert facts.get("docs.readme").met is True


def test_a_repository_without_commits(tmp_path: Path) -> None:
    root = _write(tmp_path / "p", {"README.md": "# P\n"})
    _git(root, "init", "-q", "-b", "main")

    facts = _collect(root)

    assert facts.get("vcs.git").met is False
    assert facts.get("vcs.git").note == "a git repository without commits"
    assert facts.notes == []


# -- odd content ---------------------------------------------------------------------------------


def test_odd_files_are_skipped_and_never_raise(tmp_path: Path) -> None:
    root = tmp_path / "odd"
    _write(
        root,
        {
            ".venv/lib/tool.py": "import clearml\n",
            "node_modules/pkg/index.py": "import neptune\n",
            "other-env/pyvenv.cfg": "home = /usr/bin\n",
            "other-env/lib/tool.py": "import comet_ml\n",
            "build/lib/train.py": "import dvclive\n",
        },
    )
    (root / "binary.py").write_bytes(b"import mlflow\n\x00\x01\x02\xff" * 10)
    (root / "latin1.py").write_bytes("# café\nimport wandb\n".encode("latin-1"))
    (root / "big.json").write_bytes(b'{"panels": []}' + b" " * (2 * 1024 * 1024))
    (root / "loop").symlink_to(root, target_is_directory=True)
    (root / "gone.py").symlink_to(root / "missing.py")
    if hasattr(os, "mkfifo"):
        os.mkfifo(root / "pipe.yml")

    facts = _collect(root)

    assert set(facts.facts) == set(REPO_FACTS)
    assert _where(facts.get("tracking.experiments")) == [("latin1.py", 2)]
    assert facts.get("monitoring.config").met is False
    assert any("larger than 2 MB" in note and "big.json" in note for note in facts.notes)


def test_an_unreadable_file_makes_what_it_could_show_unknown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _write(tmp_path / "p", {"src/train.py": TRAIN, "README.md": "# P\n"})
    read = _repo._read_bytes

    def refuse(path: Path) -> bytes:
        if path.name == "train.py":
            raise PermissionError(13, "Permission denied")
        return read(path)

    monkeypatch.setattr(_repo, "_read_bytes", refuse)

    facts = _collect(root)

    tracking = facts.get("tracking.experiments")
    assert tracking.met is None
    assert tracking.note is not None
    assert "src/train.py (Permission denied)" in tracking.note
    assert any("could not be read: src/train.py" in note for note in facts.notes)
    assert facts.get("docs.readme").met is True
    assert facts.get("code.notebooks").met is False  # a path fact: no file can hide it
    assert facts.get("ci.tests").met is False  # no CI file was unreadable


def test_the_walk_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _write(tmp_path / "p", {f"m{i}.py": "x = 1\n" for i in range(10)})
    monkeypatch.setattr(_repo, "_MAX_FILES", 3)

    facts = _collect(root)

    assert any("stopped after 3 files" in note for note in facts.notes)


def test_every_repository_fact_is_decided_with_a_note_when_not_met(tmp_path: Path) -> None:
    facts = _collect(tmp_path)

    assert tuple(f for f in FACTS if not f.startswith("live.")) == REPO_FACTS
    assert set(facts.facts) == set(REPO_FACTS)
    for fact in facts.facts.values():
        assert fact.met is False, fact.id
        assert fact.note, fact.id
