"""Tracking: the adapter to MLflow runs — parameters, metrics, artifacts and lineage tags.

:func:`configure` points MLflow at the project's tracking store (``.mlpilot/mlflow.db`` by
default) with telemetry off and its logging quiet; :func:`ensure_experiment` finds or creates
the project's experiment, whose artifacts live under ``.mlpilot/artifacts``. A pipeline run is
one MLflow run, its steps child runs::

    with start_run(settings, run_name="pipeline", tags={TAG_PIPELINE_RUN: run_id}) as run:
        with run.child("train") as step:
            step.log_params(params)

Runs are tagged with the project's git state (:func:`code_version`). The ``TAG_*`` constants
name every tag mlpilot writes, on runs and on model versions. MLflow is imported inside the
functions, never at import time.
"""

from mlpilot.tracking._git import CodeVersion, code_version
from mlpilot.tracking._run import TrackedRun, start_run
from mlpilot.tracking._setup import configure, ensure_experiment, mlflow_client
from mlpilot.tracking._tags import (
    TAG_BRANCH,
    TAG_COMMIT,
    TAG_DIGEST,
    TAG_DIRTY,
    TAG_PIPELINE_RUN,
    TAG_PREFIX,
    TAG_SCHEMA,
    TAG_SNAPSHOT,
    TAG_STEP,
)

__all__ = [
    "TAG_BRANCH",
    "TAG_COMMIT",
    "TAG_DIGEST",
    "TAG_DIRTY",
    "TAG_PIPELINE_RUN",
    "TAG_PREFIX",
    "TAG_SCHEMA",
    "TAG_SNAPSHOT",
    "TAG_STEP",
    "CodeVersion",
    "TrackedRun",
    "code_version",
    "configure",
    "ensure_experiment",
    "mlflow_client",
    "start_run",
]
