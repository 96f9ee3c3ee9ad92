"""Evidence from the repository: what the files and the git history of a folder show.

:func:`collect_repository` decides every fact of :data:`~mlpilot.assessment._facts.FACTS` but the
``live.*`` ones, each with the file and line that shows it. It reads the folder once: a
breadth-first walk (root files first) that skips what is not the project's own (``.git``,
virtualenvs: ``.venv``, ``venv`` or any folder holding a ``pyvenv.cfg``, ``node_modules``,
``__pycache__``, ``.mlpilot``, ``site-packages``, ``build``, ``dist``, ``*.egg-info``, tool
caches), never follows a symlinked folder, stops after 20,000 files (with a note), and reads each
candidate text file (Python, notebooks, YAML, TOML, INI, JSON, shell, Dockerfiles, Makefiles,
Jenkinsfiles, CI scripts) at most once, skipping files over 2 MB and binary files (a NUL byte);
bad encodings are read with replacement characters. Comment lines are blanked before matching
(line numbers stay right), and so are package installs (``pip install pytest`` does not run the
tests); in Python, a match inside a string literal (a docstring's example, a test's fixture) is
text about code and does not count, and imports are read once per file into an index the
module probes look up. Python files under ``tests/``/``test/`` (or named ``test_*.py``,
``*_test.py``, ``conftest.py``) count only for the ``tests.*`` facts; the other code facts read
the project's own modules and notebooks. The project file is ``mlpilot.toml`` at the root, read
with :mod:`tomllib`; one elsewhere (a template, an example) does not make the folder a project.

A fact is met with up to five pieces of evidence (``source="repo"``, the path relative to the
root, the line when it is a line): at most one per file, the strongest kinds first (the order
of the probe tables: ``mlpilot ci --release`` before a job named deploy), then in walk order. A
fact is not met with a note saying what was looked for, or unknown (``None``) with a note when
it could not be decided: git missing or failing (``vcs.*``, ``serving.versioned``), a malformed
``mlpilot.toml`` (the facts only its content decides), or a file that could count but could not
be read. Every problem also adds a line to :attr:`FactSet.notes
<mlpilot.assessment._facts.FactSet.notes>`. Nothing here raises on odd content.

What counts (CI lines are command lines, not step names; "code" is a non-test module or notebook):

====================  =============================================================================
fact                  what counts
====================  =============================================================================
vcs.git               ``git rev-list --count HEAD`` > 0 (evidence: commits, the latest subject);
                      not a repository or no commit: not met; git missing or failing: unknown
vcs.tags              ``git tag`` lists a tag (evidence: the newest few)
ci.config             ``.github/workflows/*.yml``, ``.gitlab-ci.yml``, ``.gitlab/ci/*.yml``,
                      ``Jenkinsfile``, ``azure-pipelines*.yml``, ``.circleci/config.yml``,
                      ``bitbucket-pipelines.yml``, ``.travis.yml``, any file in ``.ci/``,
                      Buildkite, Cloud Build, Drone, CodeBuild files
ci.tests              a CI line running pytest, ``make test``/``check``, tox, nox, ``python -m
                      unittest``, ``coverage run`` or ``mlpilot ci`` (its stage 3 runs the tests)
ci.training           a CI line running ``mlpilot ci`` (stage 4 trains a candidate),
                      ``mlpilot run``/``retrain``, ``dvc repro``, ``kedro run``,
                      ``python ...train``, ``zenml pipeline run``, a Metaflow flow, ``mlflow run``,
                      ``make train``
ci.deploy             a CI line running ``mlpilot ci --release``, ``mlpilot release``/``promote``,
                      ``kubectl apply``, ``helm upgrade``/``install``, ``docker push``
                      (or ``push: true``), ``az ml ... deploy``/``create``, ``sagemaker``,
                      ``gcloud ... deploy``, ``serverless deploy``, ``terraform apply``; or a
                      job/step/stage named deploy/release, an Azure ``deployment`` job
ci.schedule           GitHub ``schedule:`` with ``cron``, GitLab ``schedules`` /
                      ``$CI_PIPELINE_SOURCE == "schedule"``, Jenkins ``cron(...)``, Azure
                      ``schedules:`` with ``cron``, a ``cron:`` in other CI files
tests.unit            test functions (``def test...``) in test files outside integration folders
tests.integration     test files under/named integration, e2e, functional, acceptance; or tests
                      using ``TestClient``, httpx/requests clients, testcontainers,
                      ``@pytest.mark.integration``
tests.data            tests using pandera, Great Expectations (``gx.``), deepchecks data integrity,
                      mlpilot's schema; tests named for schema/data quality/data checks;
                      ``[ci] data_checks`` in mlpilot.toml
tests.model           tests taking mlpilot's ``candidate``/``champion``/``holdout`` fixtures or
                      importing ``mlpilot.testing``; a test file that fits/loads a model and
                      asserts on a metric (accuracy, f1, auc, rmse, mae, r2, score...); deepchecks
                      model evaluation, Giskard
code.notebooks        ``*.ipynb`` files (evidence: how many)
code.modular          non-test ``.py`` modules importing sklearn, xgboost, lightgbm, catboost,
                      tensorflow, keras, torch, statsmodels, transformers... or defining
                      ``train``/``fit``/``predict`` functions; notebooks alone: not met
code.standards        ``[tool.ruff|black|isort|pylint|flake8|mypy|pyright]``, ``[flake8]`` etc. in
                      setup.cfg/tox.ini, ``.flake8``, ``.pylintrc``, ``ruff.toml``, ``mypy.ini``,
                      ``.isort.cfg``, ``.pre-commit-config.yaml``
code.templates        ``mlpilot.toml`` (``mlpilot init``), ``cookiecutter.json``, ``copier.yml``,
                      ``.copier-answers.yml``, ``.cruft.json``
docs.readme           a non-empty ``README*`` at the root, or a ``docs/``/``doc/`` folder with files
pipeline.definition   mlpilot.toml (its ``[pipeline]``/``[train]``), ``[tool.kedro]``,
                      ``conf/base/catalog.yml``, ``kedro.pipeline``, ZenML ``@pipeline``, kfp,
                      Airflow, Metaflow ``FlowSpec``, Prefect ``flow``, Dagster, TFX, SageMaker
                      Pipelines, Azure ML ``dsl.pipeline``, ``dvc.yaml`` with ``stages:``
data.automated        mlpilot.toml ``[data] source``; ``dvc.yaml`` stage ``deps:``; a Kedro catalog
                      dataset; an Airflow/Prefect/ZenML/Dagster/kfp/Metaflow/Kedro module that
                      reads data (``read_csv``, ``read_parquet``, ``read_sql``, ``load_dataset``...)
data.validation       code using pandera, Great Expectations, TFDV, Soda, deepchecks data
                      integrity, mlpilot's schema API; ``great_expectations.yml``/``gx/``; an
                      mlpilot project (its validate step checks every run's data against the stored
                      schema; cites ``[validate]``/``[schema]``/``[data] schema`` when present)
data.versioned        ``*.dvc`` files, ``dvc.yaml``/``dvc.lock``, a ``.dvc/`` folder, ``dvc.api``,
                      lakeFS, Delta Lake (``DeltaTable``); an mlpilot project (it snapshots each
                      run's data)
tracking.experiments  code importing/calling mlflow, wandb, clearml, neptune, comet_ml, dvclive,
                      aim; ``MLFLOW_TRACKING_URI`` in configuration; an ``mlruns/`` folder; an
                      mlpilot project (it tracks every run in MLflow)
registry.models       ``mlflow.register_model``, ``registered_model_name=``,
                      ``create_model_version``/``create_registered_model``, model aliases/stages,
                      W&B model artifacts (``type="model"``, ``link_artifact``/``link_model``),
                      Azure ML ``models.create_or_update``, Vertex ``Model.upload``, SageMaker
                      model package groups; an mlpilot project
container.image       a ``Dockerfile*``/``*.dockerfile``/``Containerfile`` with ``FROM``; a
                      ``docker-compose*.yml``/``compose.yml`` with ``services:``
infra.code            ``*.tf``, ``Chart.yaml``, ``Pulumi.yaml``, ``*.bicep``,
                      ``kustomization.yaml``, ``cdk.json``, ``serverless.yml``; a YAML file with
                      top-level ``apiVersion:`` and ``kind:`` (Kubernetes); CloudFormation
                      (``AWSTemplateFormatVersion``, SAM); ARM templates
compute.managed       Ray (``import ray``, a cluster YAML), Kubernetes Job/CronJob or training
                      operator manifests, Azure ML (SDK, job YAML, ``az ml job``), SageMaker,
                      Vertex AI (``aiplatform``, ``gcloud ai custom-jobs``), Databricks (SDK,
                      ``databricks.yml``), ``spark-submit``, Airflow cluster operators, kfp; an
                      mlpilot project (its runner schedules and caches the steps)
serving.service       a FastAPI/Flask app with a predict/score/infer route, or one that loads a
                      model; BentoML, KServe, Seldon, Ray Serve, LitServe/MLServer; KServe/Seldon
                      manifests; ``mlflow models serve``, TorchServe, Triton, ``mlpilot serve``;
                      an mlpilot project (``mlpilot serve``)
serving.versioned     serving.service is met and one of its files is tracked (``git ls-files``)
release.progressive   mlpilot.toml ``[release]`` strategy canary/shadow/ab (canary by default);
                      KServe ``canaryTrafficPercent``; Argo Rollouts ``kind: Rollout``; Flagger
                      ``kind: Canary``; Seldon ``traffic:``; Istio weighted routes; SageMaker
                      production variants with weights
release.rollback      mlpilot.toml ``[release]`` with a live strategy (the autopilot rolls back by
                      itself); an Argo Rollout/Flagger canary with ``analysis:``; a CI line running
                      ``mlpilot rollback``, ``kubectl rollout undo``, ``helm rollback`` or
                      ``helm upgrade --atomic``; ``AutoRollbackConfiguration``
monitoring.config     mlpilot.toml ``[monitor]``/``[[monitor]]``; code using evidently, whylogs,
                      nannyml, alibi_detect, arize, SageMaker Model Monitor, Vertex monitoring;
                      Prometheus config/alert rules/operator resources; Grafana dashboard JSON
retrain.triggers      mlpilot.toml ``[[trigger]]`` (evidence: the ``on`` kinds); a CI file that is
                      both scheduled and trains; an Airflow DAG or Prefect flow with a schedule
                      that trains; a scheduled Vertex/SageMaker/Kubeflow pipeline; a Kubernetes
                      CronJob or EventBridge schedule that trains
env.multiple          two or more named CI ``environment:`` values; or a staging-like (staging,
                      stage, stg, preprod, uat, qa, dev) and a production-like (prod,
                      production, prd) folder or config file (``conf/staging``,
                      ``values-prod.yaml``)
====================  =============================================================================

Not detected: mlpilot settings passed at run time (``--set``, environment variables), CI
configured only in a web UI (Travis schedules, GitLab schedules themselves), and anything in a
file type not listed above (Markdown, plain text).

The modules: :mod:`._walk` (the walk, each file's scopes and prepared text), :mod:`._text`
(matching in a file: string literals, imports), :mod:`._probe` (what a probe and a path rule
are), the probe tables by concept (:mod:`._ci`, :mod:`._tests`, :mod:`._code`, :mod:`._infra`),
:mod:`._scan` (applying them to the files), :mod:`._mlpilot` (the project file), :mod:`._git`,
and :mod:`._findings` (the evidence collected).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from mlpilot.assessment._facts import FACTS, Fact, FactSet
from mlpilot.assessment._repo import _ci, _code, _git, _infra, _tests
from mlpilot.assessment._repo._findings import Findings
from mlpilot.assessment._repo._mlpilot import PROJECT_HINTS, read_project
from mlpilot.assessment._repo._scan import path_facts, scan
from mlpilot.assessment._repo._walk import read_bytes as _read_bytes
from mlpilot.assessment._repo._walk import walk

__all__ = ["REPO_FACTS", "collect_repository"]

REPO_FACTS: tuple[str, ...] = tuple(fact for fact in FACTS if not fact.startswith("live."))
"""The facts :func:`collect_repository` decides: all but the ``live.*`` ones."""

# Looked up here on every call, so that a test can lower the bound or replace the reader
# (``_read_bytes``) on this package.
_MAX_FILES = 20_000

# What each fact looked for, said when it is not met.
_LOOKED_FOR: Mapping[str, str] = {
    **_git.LOOKED_FOR,
    **_ci.LOOKED_FOR,
    **_tests.LOOKED_FOR,
    **_code.LOOKED_FOR,
    **_infra.LOOKED_FOR,
}


def collect_repository(root: Path, facts: FactSet) -> None:
    """Decide every repository fact (all but ``live.*``) for the folder ``root``; add to ``facts``.

    ``root`` exists and is a directory (the caller checks). Never raises on the folder's
    content: what cannot be read or decided becomes an unknown fact and a line in
    ``facts.notes``. See the module docstring for what counts as evidence of each fact.
    """
    found = Findings()
    git = _git.ask_git(root)
    tree = walk(root, _MAX_FILES)
    if tree.truncated:
        found.notes.append(
            f"the repository walk stopped after {_MAX_FILES:,} files: facts not found may be in "
            "the files not read"
        )
    if tree.unreadable_dirs:
        found.notes.append(
            f"{len(tree.unreadable_dirs)} folder(s) could not be listed: "
            + ", ".join(tree.unreadable_dirs[:5])
        )
    project = read_project(root, found, _read_bytes)
    scan(tree, found, _read_bytes)
    path_facts(tree, found)
    _git.git_facts(root, git, found)
    for fact_id in REPO_FACTS:
        evidence = found.evidence(fact_id)
        if evidence:
            facts.add(Fact(fact_id, True, evidence))
        elif fact_id in found.unknown:
            facts.add(Fact(fact_id, None, note=found.unknown[fact_id]))
        else:
            note = found.missing.get(fact_id) or _LOOKED_FOR[fact_id]
            if project is not None and fact_id in PROJECT_HINTS:
                note = f"{note}; {PROJECT_HINTS[fact_id]}"
            facts.add(Fact(fact_id, False, note=note))
    facts.notes.extend(found.notes)
