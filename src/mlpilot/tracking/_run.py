"""One MLflow run as a context manager, with nested child runs for pipeline steps."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlpilot.config import Settings
from mlpilot.errors import MlpilotError
from mlpilot.tracking._git import code_version
from mlpilot.tracking._setup import ensure_experiment, mlflow_client, tracking_failed
from mlpilot.tracking._tags import TAG_PREFIX

if TYPE_CHECKING:
    from mlflow import MlflowClient

_log = logging.getLogger(__name__)

_PARENT_TAG = "mlflow.parentRunId"
_BATCH_PARAMS = 100  # MLflow's limit of params (and of tags) per log_batch call
_BATCH_METRICS = 1000


class TrackedRun:
    """An open MLflow run. Get one from :func:`start_run` or :meth:`TrackedRun.child`.

    Every method writes to this run by id (through an ``MlflowClient``), so a run can be
    handed to another thread. Failures of the tracking store raise
    :class:`~mlpilot.errors.StoreError`.
    """

    def __init__(
        self,
        settings: Settings,
        client: MlflowClient,
        run_id: str,
        experiment_id: str,
        inherited_tags: Mapping[str, str] | None = None,
    ) -> None:
        self._settings = settings
        self._client = client
        self._run_id = run_id
        self._experiment_id = experiment_id
        self._inherited = dict(inherited_tags or {})

    def __repr__(self) -> str:
        return f"TrackedRun(run_id={self._run_id!r}, experiment_id={self._experiment_id!r})"

    @property
    def run_id(self) -> str:
        """MLflow's id of this run."""
        return self._run_id

    @property
    def experiment_id(self) -> str:
        """MLflow's id of the project's experiment."""
        return self._experiment_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log parameters (values are stringified; a parameter cannot change once logged)."""
        from mlflow.entities import Param

        items = [Param(str(k), str(v)) for k, v in params.items()]
        for i in range(0, len(items), _BATCH_PARAMS):
            self._call("log parameters", params=items[i : i + _BATCH_PARAMS])

    def log_metrics(self, metrics: Mapping[str, float], *, step: int | None = None) -> None:
        """Log metric values, optionally at ``step`` (default 0)."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(str(k), float(v), now, step or 0) for k, v in metrics.items()]
        for i in range(0, len(items), _BATCH_METRICS):
            self._call("log metrics", metrics=items[i : i + _BATCH_METRICS])

    def set_tags(self, tags: Mapping[str, str]) -> None:
        """Set (or overwrite) tags on the run."""
        from mlflow.entities import RunTag

        items = [RunTag(str(k), str(v)) for k, v in tags.items()]
        for i in range(0, len(items), _BATCH_PARAMS):
            self._call("set tags", tags=items[i : i + _BATCH_PARAMS])

    def log_dict(self, obj: Any, artifact_file: str) -> None:
        """Store ``obj`` as a JSON (or, by extension, YAML) artifact at ``artifact_file``."""
        from mlflow.exceptions import MlflowException

        try:
            self._client.log_dict(self._run_id, obj, artifact_file)
        except MlflowException as exc:
            raise tracking_failed(self._settings, f"store {artifact_file}", exc) from exc

    def log_text(self, text: str, artifact_file: str) -> None:
        """Store ``text`` as an artifact at ``artifact_file``."""
        from mlflow.exceptions import MlflowException

        try:
            self._client.log_text(self._run_id, text, artifact_file)
        except MlflowException as exc:
            raise tracking_failed(self._settings, f"store {artifact_file}", exc) from exc

    def log_artifact(self, local_path: Path, artifact_path: str | None = None) -> None:
        """Copy a local file or directory into the run's artifacts (under ``artifact_path``)."""
        from mlflow.exceptions import MlflowException

        try:
            if local_path.is_dir():
                self._client.log_artifacts(self._run_id, str(local_path), artifact_path)
            else:
                self._client.log_artifact(self._run_id, str(local_path), artifact_path)
        except MlflowException as exc:
            raise tracking_failed(self._settings, f"store {local_path}", exc) from exc

    @contextmanager
    def child(
        self, run_name: str, *, tags: Mapping[str, str] | None = None
    ) -> Iterator[TrackedRun]:
        """A nested run under this one (e.g. one pipeline step), ended when the block ends.

        The child inherits the parent's ``mlpilot.*`` tags given to :func:`start_run`
        (pipeline run id, code commit, ...). On an exception it ends ``FAILED`` and the
        exception propagates.
        """
        from mlflow.exceptions import MlflowException

        all_tags = {**self._inherited, **dict(tags or {}), _PARENT_TAG: self._run_id}
        try:
            run = self._client.create_run(self._experiment_id, run_name=run_name, tags=all_tags)
        except MlflowException as exc:
            raise tracking_failed(self._settings, f"start the child run '{run_name}'", exc) from exc
        child = TrackedRun(
            self._settings, self._client, run.info.run_id, self._experiment_id, self._inherited
        )
        try:
            yield child
        except BaseException as exc:
            _quietly(self._client.set_terminated, child.run_id, _failed_status(exc))
            raise
        self._client.set_terminated(child.run_id, "FINISHED")

    def _call(self, action: str, **batch: Any) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self._client.log_batch(self._run_id, **batch)
        except MlflowException as exc:
            raise tracking_failed(self._settings, action, exc) from exc


@contextmanager
def start_run(
    settings: Settings, *, run_name: str, tags: Mapping[str, str] | None = None
) -> Iterator[TrackedRun]:
    """Open an MLflow run in the project's experiment for the duration of the block.

    The run is tagged with the project's code version (:func:`code_version`) and ``tags``
    (which win). Inside the block it is MLflow's active run in this thread, so project code
    that logs with ``mlflow.log_metric`` lands in it. It ends ``FINISHED``; on an exception
    ``FAILED`` (``KILLED`` on Ctrl-C) and the exception propagates::

        with start_run(settings, run_name="train", tags={TAG_PIPELINE_RUN: run_id}) as run:
            run.log_params({"C": 1.0})
            with run.child("evaluate") as step:
                step.log_metrics({"roc_auc": 0.99})
    """
    experiment_id = ensure_experiment(settings)
    import mlflow
    from mlflow.exceptions import MlflowException

    active = mlflow.active_run()
    if active is not None:
        raise MlpilotError(
            f"the MLflow run {active.info.run_id} is already active in this thread, so mlpilot "
            f"cannot start the run '{run_name}'; end it first with mlflow.end_run()"
        )
    all_tags = {**code_version(settings.project_dir).tags(), **dict(tags or {})}
    try:
        started = mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=all_tags)
    except MlflowException as exc:
        raise tracking_failed(settings, f"start the run '{run_name}'", exc) from exc
    run_id = started.info.run_id
    inherited = {k: v for k, v in all_tags.items() if k.startswith(TAG_PREFIX)}
    run = TrackedRun(settings, mlflow_client(settings), run_id, experiment_id, inherited)
    try:
        yield run
    except BaseException as exc:
        _quietly(_end, run, _failed_status(exc))
        raise
    _end(run, "FINISHED")


def _quietly(end: Callable[[Any, str], None], run: Any, status: str) -> None:
    """End a run while an exception is propagating, without letting a second failure hide it."""
    try:
        end(run, status)
    except Exception:
        _log.warning("could not mark the MLflow run as %s", status, exc_info=True)


def _failed_status(exc: BaseException) -> str:
    return "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"


def _end(run: TrackedRun, status: str) -> None:
    """End ``run`` and any fluent runs project code left open inside it."""
    import mlflow

    while (active := mlflow.active_run()) is not None:
        mlflow.end_run(status)
        if active.info.run_id == run.run_id:
            return
    run._client.set_terminated(run.run_id, status)
