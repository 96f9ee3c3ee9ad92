"""Monitoring: drift, data quality, training-serving skew, performance and operations.

Monitors compare windows of the prediction log with each model version's reference profile,
store every evaluation in the metadata store as a time series, and raise alerts.
"""

from mlpilot.monitoring._alerts import AlertDispatcher, check_webhook_url, recent_alerts
from mlpilot.monitoring._drift import drift_frame
from mlpilot.monitoring._html import render_html, write_html
from mlpilot.monitoring._monitor import Monitor, parse_duration
from mlpilot.monitoring._performance import canonical
from mlpilot.monitoring._report import (
    Alert,
    Distribution,
    DriftResult,
    FeatureDrift,
    FeatureQuality,
    HistoryPoint,
    MonitorReport,
    OperationalResult,
    PerformanceResult,
    QualityResult,
    Scope,
    ScopeReport,
    Statistic,
    Window,
)

__all__ = [
    "Alert",
    "AlertDispatcher",
    "Distribution",
    "DriftResult",
    "FeatureDrift",
    "FeatureQuality",
    "HistoryPoint",
    "Monitor",
    "MonitorReport",
    "OperationalResult",
    "PerformanceResult",
    "QualityResult",
    "Scope",
    "ScopeReport",
    "Statistic",
    "Window",
    "canonical",
    "check_webhook_url",
    "drift_frame",
    "parse_duration",
    "recent_alerts",
    "render_html",
    "write_html",
]
