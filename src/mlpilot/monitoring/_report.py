"""What one evaluation of the monitors found: a JSON-serialisable, frozen pydantic model.

A :class:`MonitorReport` holds one :class:`ScopeReport` for the deployment (every non-shadow
row of the window, against the profile of the version that answered most of them) and one per
model version and variant seen in the window (against that version's own profile). Each scope
has input drift, prediction drift, data quality, performance on labelled feedback and the
operational figures; every part that could not be judged says why in ``message``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Alert",
    "Distribution",
    "DriftResult",
    "FeatureDrift",
    "FeatureQuality",
    "HistoryPoint",
    "MonitorReport",
    "OperationalResult",
    "PerformanceResult",
    "QualityResult",
    "Scope",
    "ScopeReport",
    "Statistic",
    "Window",
]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Statistic(_Model):
    """One drift statistic: its value, p-value (tests only), threshold and verdict."""

    method: Literal["psi", "ks", "wasserstein", "chisquare", "jensenshannon"]
    value: float | None
    p_value: float | None = None
    threshold: float
    #: Tests (ks, chisquare) drift when ``p_value < threshold``; distances when
    #: ``value >= threshold``. ``None`` when the statistic could not be computed.
    drifted: bool | None
    #: Whether this statistic decides the feature's verdict (the configured method).
    decides: bool = False


class Distribution(_Model):
    """Reference and current shares over the same bins or categories (for plots)."""

    labels: tuple[str, ...]
    reference: tuple[float, ...]
    current: tuple[float, ...]


class FeatureDrift(_Model):
    """Drift of one feature (or of the model's output) against the reference profile."""

    name: str
    kind: str  # numeric|integer|datetime|boolean|categorical|prediction|probability
    rows: int  # non-null current values compared
    method: str
    threshold: float
    score: float | None  # the deciding statistic's value (p-value for tests)
    drifted: bool | None  # None: not judged, see message
    statistics: tuple[Statistic, ...] = ()
    distribution: Distribution | None = None
    message: str | None = None


class DriftResult(_Model):
    """Input drift of a window: per feature, and the dataset verdict (share of drifted)."""

    features: tuple[FeatureDrift, ...]
    evaluated: int
    drifted_count: int
    share: float | None
    share_threshold: float
    drifted: bool | None
    message: str | None = None


class FeatureQuality(_Model):
    """Data quality of one feature at serving time, against the training data."""

    name: str
    rows: int
    null_rate: float | None
    reference_null_rate: float | None
    out_of_range: float | None  # share of non-null values outside [min, max] of training
    unseen: float | None  # share of non-null values in categories never seen in training
    unseen_examples: tuple[str, ...] = ()
    breached: bool
    message: str | None = None


class QualityResult(_Model):
    """Data quality of a window, including requests rejected for invalid input (skew)."""

    features: tuple[FeatureQuality, ...]
    requests: int
    rejected: int
    rejected_share: float | None
    rejected_by_field: dict[str, int] = Field(default_factory=dict)
    breached: bool
    message: str | None = None


class PerformanceResult(_Model):
    """Model quality on the window's rows that have a label from ``/feedback``."""

    task: Literal["classification", "regression"] | None
    metrics: dict[str, float] = Field(default_factory=dict)
    metric: str | None = None  # the configured metric
    value: float | None = None
    min: float | None = None
    max: float | None = None
    breached: bool | None = None
    predictions: int
    labelled: int
    coverage: float | None  # labelled / predictions
    invalid_labels: int = 0
    delay_p50_seconds: float | None = None
    delay_p90_seconds: float | None = None
    message: str | None = None


class OperationalResult(_Model):
    """Traffic, errors and latency of a window."""

    requests: int
    rows: int
    errors: int
    error_rate: float | None
    request_rate_per_second: float | None
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    max_error_rate: float
    max_p99_ms: float | None
    breached: bool


class Scope(_Model):
    """Which rows a scope covers: the whole deployment, or one version and variant."""

    kind: Literal["deployment", "version"]
    variant: str | None = None
    model_version: int | None = None
    shadow: bool = False
    profile_version: int | None = None  # whose reference profile the rows are compared with

    @property
    def label(self) -> str:
        if self.kind == "deployment":
            return "deployment"
        tag = " (shadow)" if self.shadow else ""
        return f"v{self.model_version} {self.variant}{tag}"


class ScopeReport(_Model):
    scope: Scope
    rows: int
    drift: DriftResult | None
    prediction_drift: tuple[FeatureDrift, ...] = ()
    quality: QualityResult | None = None
    performance: PerformanceResult | None = None
    operational: OperationalResult | None = None
    messages: tuple[str, ...] = ()


class Window(_Model):
    """The time interval evaluated, and how it was asked for."""

    start: float | None  # unix seconds; None when the log is empty
    end: float | None
    rows: int  # non-shadow prediction rows in the window
    asked_rows: int | None = None
    asked_seconds: float | None = None


class Alert(_Model):
    """A monitor over its threshold in one evaluation."""

    id: str
    ts: float
    deployment: str
    monitor: str  # e.g. drift.share, drift.feature.<name>, performance.accuracy
    scope: Literal["deployment", "version"]
    variant: str | None = None
    model_version: int | None = None
    value: float | None = None
    threshold: float | None = None
    message: str


class HistoryPoint(_Model):
    """One stored value of a monitor (for plots over time)."""

    ts: float
    monitor: str
    scope: Literal["deployment", "version"]
    variant: str | None
    model_version: int | None
    value: float | None
    threshold: float | None
    breached: bool | None


class MonitorReport(_Model):
    """One evaluation of a deployment's monitors."""

    id: str
    deployment: str
    generated_at: float
    window: Window
    scopes: tuple[ScopeReport, ...]
    alerts: tuple[Alert, ...] = ()
    messages: tuple[str, ...] = ()

    def scope(self, kind: str = "deployment", model_version: int | None = None) -> ScopeReport:
        """The scope report of the deployment, or of a model version (its first variant)."""
        for s in self.scopes:
            if s.scope.kind == kind and (
                model_version is None or s.scope.model_version == model_version
            ):
                return s
        raise KeyError(f"no {kind} scope for model version {model_version} in this report")
