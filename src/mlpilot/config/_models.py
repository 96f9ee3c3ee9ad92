"""The typed settings, one frozen pydantic model per section of ``mlpilot.toml``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_COMPARISON = re.compile(r"^\s*(>=|<=|>|<|==)\s*(-?\d+(\.\d*)?([eE][-+]?\d+)?)\s*$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ProjectSettings(_Section):
    """``[project]``: what the project is called."""

    name: str = Field(description="Project name; also the registered model's name in MLflow.")
    description: str = ""

    @field_validator("name")
    @classmethod
    def _valid_name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(
                "must start with a letter or digit and use only letters, digits, '.', '_' or '-'"
            )
        return v


class DataSettings(_Section):
    """``[data]``: where the training data comes from and what to predict."""

    source: str = Field(
        description="'sklearn:breast_cancer', 'data/*.parquet', 'data.csv', "
        "'postgresql://…' (with `query`), or 'module:function'."
    )
    target: str = Field(description="The column to predict.")
    query: str | None = Field(default=None, description="SQL query, for a database URL source.")
    drop: tuple[str, ...] = Field(default=(), description="Columns to drop before training.")


class TrainSettings(_Section):
    """``[train]``: how a model is trained."""

    entrypoint: str = Field(
        description="'pipeline.py:train' (a function (DataFrame, target) -> estimator) or an "
        "estimator class path such as 'sklearn.linear_model.LogisticRegression'."
    )
    params: dict[str, Any] = Field(default_factory=dict, description="Passed to the entrypoint.")
    task: Literal["auto", "classification", "regression"] = "auto"
    test_size: float = Field(default=0.2, gt=0.0, lt=1.0)
    seed: int = 42


class VsChampion(_Section):
    """``gate.vs_champion``: the candidate must not be worse than the champion."""

    metric: str
    min_delta: float = 0.0


class GateSettings(_Section):
    """``[gate]``: what a candidate must reach to be registered."""

    metrics: dict[str, str] = Field(default_factory=dict)
    vs_champion: VsChampion | None = None

    @field_validator("metrics")
    @classmethod
    def _valid_comparisons(cls, v: dict[str, str]) -> dict[str, str]:
        for name, rule in v.items():
            if not _COMPARISON.match(rule):
                raise ValueError(
                    f"gate rule for {name!r} is {rule!r}; write it as '>= 0.95' "
                    "(one of >=, <=, >, <, == and a number)"
                )
        return v


class ValidateSettings(_Section):
    """``[validate]``: how far new data may stray from the stored schema."""

    range_tolerance: float = Field(
        default=0.5,
        ge=0.0,
        description="A numeric value is out of range when it lies beyond min/max by more than "
        "this fraction of the training range.",
    )
    max_null_rate_increase: float = Field(default=0.1, ge=0.0, le=1.0)
    allow_unseen_categories: bool = False


class PipelineSettings(_Section):
    """``[pipeline]``: the project's own steps, added to the standard pipeline."""

    steps: tuple[str, ...] = Field(
        default=(),
        description="Functions 'file.py:function' or 'module:function'; each parameter names a "
        "standard step or run parameter. They run before 'register', and a step that raises "
        "stops the model from being registered.",
    )


class ServeSettings(_Section):
    """``[serve]``: the prediction service."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    max_batch_rows: int = Field(default=10_000, ge=1)
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    require_predict_token: bool = Field(
        default=False, description="/predict needs a token with the 'predict' role."
    )
    poll_seconds: float = Field(
        default=2.0, gt=0.0, description="How often each worker looks for alias and route changes."
    )
    journal_segment_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    compact_seconds: float = Field(
        default=30.0, gt=0.0, description="How often closed journal segments become Parquet."
    )
    predictions_url: str | None = Field(
        default=None, description="Parquet prediction log (fsspec URL); default <home>/predictions"
    )


DriftMethod = Literal["psi", "ks", "wasserstein", "chisquare", "jensenshannon"]
#: Default threshold per drift method. PSI 0.2: the usual "significant shift" line in credit
#: scoring (Siddiqi, *Credit Risk Scorecards*, 2006: below 0.1 stable, 0.1-0.25 some shift,
#: above 0.25 major shift). KS and chi-square: a p-value below 0.05. Wasserstein distance
#: (divided by the reference standard deviation) and Jensen-Shannon distance: 0.1, the defaults
#: of Evidently's data-drift preset for large data.
DEFAULT_THRESHOLDS: dict[str, float] = {
    "psi": 0.2,
    "ks": 0.05,
    "wasserstein": 0.1,
    "chisquare": 0.05,
    "jensenshannon": 0.1,
}
NUMERIC_METHODS = frozenset({"psi", "ks", "wasserstein"})
CATEGORICAL_METHODS = frozenset({"psi", "chisquare", "jensenshannon"})


class FeatureDriftRule(_Section):
    """``monitor.drift.features."<name>"``: the drift method and threshold of one feature."""

    method: DriftMethod
    threshold: float | None = Field(default=None, ge=0.0)


class DriftSettings(_Section):
    """``monitor.drift``: how input and prediction drift are decided."""

    method: DriftMethod = Field(
        default="psi",
        description="Method that decides drift for numeric features: psi, ks or wasserstein.",
    )
    threshold: float | None = Field(
        default=None, ge=0.0, description="Threshold of `method`; default per method (PSI 0.2)."
    )
    categorical_method: DriftMethod = Field(
        default="psi",
        description="Method for categorical and boolean features: psi, chisquare or jensenshannon.",
    )
    categorical_threshold: float | None = Field(default=None, ge=0.0)
    share: float = Field(
        default=0.5,
        gt=0.0,
        le=1.0,
        description="The dataset drifts when at least this share of its features drift.",
    )
    window: int = Field(default=1000, ge=1, description="Default window: the latest N rows.")
    min_rows: int = Field(
        default=100, ge=1, description="Fewer rows in a window than this give no drift verdict."
    )
    features: dict[str, FeatureDriftRule] = Field(default_factory=dict)

    @field_validator("method")
    @classmethod
    def _numeric(cls, v: str) -> str:
        if v not in NUMERIC_METHODS:
            raise ValueError(
                f"{v!r} is not a method for numeric features; use psi, ks or wasserstein"
            )
        return v

    @field_validator("categorical_method")
    @classmethod
    def _categorical(cls, v: str) -> str:
        if v not in CATEGORICAL_METHODS:
            raise ValueError(
                f"{v!r} is not a method for categorical features; use psi, "
                "chisquare or jensenshannon"
            )
        return v

    def rule(self, feature: str, *, categorical: bool) -> tuple[str, float]:
        """The (method, threshold) that decides drift for ``feature``."""
        own = self.features.get(feature)
        if own is not None:
            method = own.method
            return method, own.threshold if own.threshold is not None else DEFAULT_THRESHOLDS[
                method
            ]
        if categorical:
            method, threshold = self.categorical_method, self.categorical_threshold
        else:
            method, threshold = self.method, self.threshold
        return method, threshold if threshold is not None else DEFAULT_THRESHOLDS[method]


class PerformanceSettings(_Section):
    """``monitor.performance``: the model's quality on labelled feedback."""

    metric: str | None = Field(
        default=None,
        description="accuracy, f1, roc_auc or log_loss (classification); rmse or mae "
        "(regression). Default: accuracy or rmse.",
    )
    min: float | None = Field(default=None, description="Alert when the metric falls below.")
    max: float | None = Field(default=None, description="Alert when the metric rises above.")
    min_labels: int = Field(
        default=30, ge=1, description="Labelled rows needed before performance is judged."
    )


class QualitySettings(_Section):
    """``monitor.quality``: data quality at serving time, as shares of the window's rows."""

    max_null_rate_increase: float = Field(default=0.1, ge=0.0, le=1.0)
    max_out_of_range: float = Field(
        default=0.05, ge=0.0, le=1.0, description="Share of values outside the training range."
    )
    max_unseen: float = Field(
        default=0.05, ge=0.0, le=1.0, description="Share of categories not seen in training."
    )
    max_rejected: float = Field(
        default=0.05,
        ge=0.0,
        le=1.0,
        description="Share of prediction requests rejected for invalid input (schema skew).",
    )


class OperationalSettings(_Section):
    """``monitor.operational``: the service's health in the window."""

    max_error_rate: float = Field(default=0.01, ge=0.0, le=1.0)
    max_p99_ms: float | None = Field(default=None, gt=0.0)


class AlertSettings(_Section):
    """``monitor.alerts``: where alerts go besides the log and the metadata store."""

    webhook: str | None = Field(default=None, description="URL that receives a JSON POST.")
    allow_hosts: tuple[str, ...] = Field(
        default=(),
        description="Host names the webhook may use; empty allows the webhook's own host.",
    )
    allow_loopback: bool = Field(
        default=False, description="Let the webhook go to 127.0.0.1/::1 (tests, local relays)."
    )
    allow_private: bool = Field(
        default=False, description="Let the webhook go to private (RFC 1918, ULA) addresses."
    )
    timeout_seconds: float = Field(default=5.0, gt=0.0)
    retries: int = Field(default=5, ge=0, le=20)
    backoff_seconds: float = Field(default=1.0, gt=0.0)


class MonitorSettings(_Section):
    """``[monitor]``: drift, data quality, performance and operational monitors."""

    drift: DriftSettings = DriftSettings()
    performance: PerformanceSettings = PerformanceSettings()
    quality: QualitySettings = QualitySettings()
    operational: OperationalSettings = OperationalSettings()
    alerts: AlertSettings = AlertSettings()
    every_seconds: float = Field(
        default=300.0, gt=0.0, description="How often 'mlpilot monitor --watch' evaluates."
    )


class SliceRule(_Section):
    """``ci.slices."<name>"``: a named slice of the candidate's holdout and what it must reach."""

    where: str = Field(
        description='A pandas query over the holdout\'s columns, e.g. "`mean radius` > 15" '
        "(backquote names with spaces)."
    )
    metrics: dict[str, str] = Field(
        description='Rules as in [gate] metrics, e.g. { recall = ">= 0.9" }.'
    )
    min_rows: int = Field(default=1, ge=1, description="A slice with fewer rows fails.")

    @field_validator("metrics")
    @classmethod
    def _valid_comparisons(cls, v: dict[str, str]) -> dict[str, str]:
        for name, rule in v.items():
            if not _COMPARISON.match(rule):
                raise ValueError(
                    f"slice rule for {name!r} is {rule!r}; write it as '>= 0.9' "
                    "(one of >=, <=, >, <, == and a number)"
                )
        return v


class CiSettings(_Section):
    """``[ci]``: what ``mlpilot ci`` runs, and the budgets it holds a candidate to."""

    tests: str = Field(
        default="tests", description="The folder of the project's tests, relative to the project."
    )
    model_tests: tuple[str, ...] = Field(
        default=("tests/test_model*.py",),
        description="Globs (relative to the project) of the model tests, run against the "
        "candidate in stage 5; every other test file under `tests` is a pipeline test (stage 3).",
    )
    data_checks: tuple[str, ...] = Field(
        default=(),
        description="Functions 'file.py:function' or 'module:function' called with the current "
        "data (a DataFrame) in stage 2; one that raises or returns False fails the stage.",
    )
    slices: dict[str, SliceRule] = Field(default_factory=dict)
    latency_budget_ms: float = Field(
        default=250.0,
        gt=0.0,
        description="The 95th percentile of /predict's latency for one batch, in-process.",
    )
    batch_rows: int = Field(default=100, ge=1, le=100_000, description="Rows in each batch.")
    requests: int = Field(default=20, ge=1, le=1000, description="Batches timed.")
    test_timeout_seconds: float = Field(
        default=1800.0, gt=0.0, description="A pytest run (stage 3 or 5) taking longer fails."
    )


TriggerKind = Literal["schedule", "new_data", "drift", "performance"]


class TriggerSettings(_Section):
    """One ``[[trigger]]``: when the autopilot retrains (``mlpilot retrain`` always can)."""

    on: TriggerKind = Field(
        description="schedule (cron), new_data (the source's fingerprint changed), drift (a "
        "drift monitor breached N evaluations in a row) or performance (a performance monitor "
        "breached with enough labels, N evaluations in a row)."
    )
    cron: str | None = Field(
        default=None, description="For schedule: five cron fields in UTC, e.g. '0 3 * * *'."
    )
    monitor: str | None = Field(
        default=None,
        description="For drift/performance: the monitor series to watch; default drift.share "
        "or performance.<metric>.",
    )
    consecutive: int = Field(
        default=2, ge=1, le=100, description="Breached evaluations in a row that fire it."
    )

    @model_validator(mode="after")
    def _check(self) -> TriggerSettings:
        if self.on == "schedule":
            if not self.cron:
                raise ValueError("a schedule trigger needs cron = '<5 fields>', e.g. '0 3 * * *'")
            from croniter import croniter

            if len(self.cron.split()) != 5 or not croniter.is_valid(self.cron):
                raise ValueError(
                    f"cron {self.cron!r} is not five valid cron fields "
                    "(minute hour day month weekday), e.g. '0 3 * * *'"
                )
        elif self.cron is not None:
            raise ValueError(f"cron applies only to schedule triggers, not to {self.on!r}")
        if self.monitor is not None and self.on not in ("drift", "performance"):
            raise ValueError("monitor applies only to drift and performance triggers")
        return self

    @property
    def name(self) -> str:
        """How the trigger is named in releases and the audit trail."""
        if self.on == "schedule":
            return f"schedule:{self.cron}"
        return self.on if self.monitor is None else f"{self.on}:{self.monitor}"


class AnalysisSettings(_Section):
    """``release.analysis``: how a challenger is judged on live traffic.

    The comparison uses anytime-valid confidence sequences, so the controller may look after
    every request without inflating the error rate.
    """

    metric: Literal["auto", "accuracy", "mae", "mse"] = Field(
        default="auto",
        description="Per-row metric on labelled feedback: accuracy (classification), mae or "
        "mse (regression); auto picks accuracy or mae by task.",
    )
    margin: float = Field(
        default=0.02,
        ge=0.0,
        description="Non-inferiority margin in the metric's units: promote when the challenger "
        "is not worse than the champion by more than this.",
    )
    require_better: bool = Field(
        default=False, description="Promote only when the challenger is significantly better."
    )
    alpha: float = Field(default=0.05, gt=0.0, lt=0.5, description="Error level of the test.")
    min_requests: int = Field(
        default=200, ge=1, description="Answered rows per variant before any promotion."
    )
    min_labels: int = Field(
        default=100,
        ge=0,
        description="Labelled rows per variant before a promotion; 0 decides on errors and "
        "latency alone.",
    )
    max_minutes: float = Field(
        default=30.0, gt=0.0, description="Longest analysis; then on_timeout applies."
    )
    on_timeout: Literal["rollback", "promote"] = Field(
        default="rollback",
        description="What happens when max_minutes pass without a decision.",
    )
    max_error_rate: float = Field(
        default=0.01, ge=0.0, le=1.0, description="Guard: challenger share of failed requests."
    )
    min_errors: int = Field(
        default=5, ge=1, description="Failed challenger requests before the error guard acts."
    )
    max_latency_ratio: float | None = Field(
        default=3.0,
        gt=1.0,
        description="Guard: challenger median latency / champion's (after 50 requests each), "
        "and p99 / p99 (after 1000, when a p99 is more than one stalled request).",
    )
    max_p99_ms: float | None = Field(
        default=None, gt=0.0, description="Guard: the challenger's p99 latency in ms (after 1000)."
    )


class ReleaseSettings(_Section):
    """``[release]``: how a model that passed the gate reaches production."""

    strategy: Literal["canary", "shadow", "ab", "direct"] = Field(
        default="canary",
        description="canary (a share of live traffic), shadow (a copy of it; no user sees the "
        "answers), ab (a fixed split) or direct (promote at once).",
    )
    canary_traffic: float = Field(default=0.1, gt=0.0, lt=1.0)
    ab_traffic: float = Field(default=0.5, gt=0.0, lt=1.0)
    analysis: AnalysisSettings = AnalysisSettings()


class AutopilotSettings(_Section):
    """``[autopilot]``: the controller's pace and its brakes against trigger storms."""

    tick_seconds: float = Field(
        default=2.0, gt=0.0, description="How often the controller looks at its releases."
    )
    monitor_seconds: float = Field(
        default=30.0, gt=0.0, description="How often it evaluates and records the monitors."
    )
    monitor_window: int = Field(
        default=1000, ge=1, description="Rows of the prediction log each evaluation reads."
    )
    cooldown_minutes: float = Field(
        default=30.0,
        ge=0.0,
        description="After a release ends, automatic triggers only record (a manual retrain "
        "still starts).",
    )
    max_concurrent: int = Field(
        default=1, ge=1, le=1, description="Releases in flight at once (one challenger slot)."
    )
    lease_seconds: float = Field(
        default=30.0, gt=0.0, description="How long the controller's lease lasts unrenewed."
    )
    max_attempts: int = Field(
        default=2, ge=1, le=10, description="Training attempts of one release after crashes."
    )


class StoreSettings(_Section):
    """``[store]``: where mlpilot keeps its state. Relative paths are under the project."""

    home: str = ".mlpilot"
    metadata_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite:///<home>/mlpilot.db"
    )
    tracking_uri: str | None = Field(
        default=None, description="MLflow tracking URI; default sqlite:///<home>/mlflow.db"
    )
    artifact_root: str | None = Field(
        default=None, description="MLflow artifact root; default <home>/artifacts"
    )
    lock_timeout: float = Field(
        default=0.0, ge=0.0, description="Seconds a run waits for another run to finish."
    )


class Settings(_Section):
    """All of a project's settings; ``project_dir`` is where ``mlpilot.toml`` lives."""

    project_dir: Path
    project: ProjectSettings
    data: DataSettings
    train: TrainSettings
    gate: GateSettings = GateSettings()
    validate_: ValidateSettings = Field(default=ValidateSettings(), alias="validate")
    pipeline: PipelineSettings = PipelineSettings()
    serve: ServeSettings = ServeSettings()
    monitor: MonitorSettings = MonitorSettings()
    ci: CiSettings = CiSettings()
    release: ReleaseSettings = ReleaseSettings()
    autopilot: AutopilotSettings = AutopilotSettings()
    trigger: tuple[TriggerSettings, ...] = ()
    store: StoreSettings = StoreSettings()

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    @property
    def home(self) -> Path:
        """The directory holding mlpilot's embedded state (``.mlpilot/``)."""
        return (self.project_dir / self.store.home).resolve()

    @property
    def metadata_url(self) -> str:
        return self.store.metadata_url or f"sqlite:///{self.home / 'mlpilot.db'}"

    @property
    def tracking_uri(self) -> str:
        return self.store.tracking_uri or f"sqlite:///{self.home / 'mlflow.db'}"

    @property
    def artifact_root(self) -> str:
        root = self.store.artifact_root
        if root is None:
            return (self.home / "artifacts").as_uri()
        if "://" in root:
            return root
        return (self.project_dir / root).resolve().as_uri()

    @property
    def journal_dir(self) -> Path:
        """Where serving workers append predictions before answering (local disk)."""
        return self.home / "predictions" / "journal"

    @property
    def predictions_url(self) -> str:
        """Root of the Parquet prediction log (partitioned by date and model version)."""
        url = self.serve.predictions_url
        if url is None:
            return str(self.home / "predictions" / "parquet")
        if "://" in url:
            return url
        return str((self.project_dir / url).resolve())

    @property
    def snapshot_dir(self) -> Path:
        return self.home / "snapshots"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"
