"""Evaluation: a candidate's metrics on the holdout, by task and by slice, and the gate.

:func:`evaluate` scores a fitted model (classification: accuracy, f1, precision, recall,
roc_auc, log_loss; regression: rmse, mae, r2); :func:`slice_metrics` does the same per value or
quartile of one column. :func:`apply_gate` checks the metrics against the ``[gate]`` settings:
absolute thresholds, and no regression against the champion measured on the same holdout.
scikit-learn is imported only when a metric is computed.
"""

from mlpilot.evaluation._gate import GateCheck, GateResult, apply_gate
from mlpilot.evaluation._metrics import (
    METRIC_DIRECTION,
    Evaluation,
    evaluate,
    metrics_for_task,
    slice_metrics,
)

__all__ = [
    "METRIC_DIRECTION",
    "Evaluation",
    "GateCheck",
    "GateResult",
    "apply_gate",
    "evaluate",
    "metrics_for_task",
    "slice_metrics",
]
