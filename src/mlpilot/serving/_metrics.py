"""Prometheus metrics of the prediction service (multiprocess-aware)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass
class ServiceMetrics:
    """One set of metrics per process; children are cached so the request path stays cheap."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    _children: dict[tuple[str, ...], Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter(
            "mlpilot_requests",
            "Prediction requests answered, by deployment, variant, model version and status.",
            ["deployment", "variant", "model_version", "status"],
            registry=r,
        )
        self.errors = Counter(
            "mlpilot_request_errors",
            "Requests answered with an error, by endpoint, status and error type.",
            ["endpoint", "status", "error"],
            registry=r,
        )
        self.latency = Histogram(
            "mlpilot_request_latency_seconds",
            "Time to answer a prediction request (parse, predict, journal).",
            ["deployment", "variant", "model_version"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.rows = Counter(
            "mlpilot_predicted_rows",
            "Rows predicted, by deployment, variant and model version.",
            ["deployment", "variant", "model_version"],
            registry=r,
        )
        self.swaps = Counter(
            "mlpilot_model_swaps",
            "Model loads for hot swap, by variant and outcome (swapped, failed).",
            ["deployment", "variant", "outcome"],
            registry=r,
        )
        self.loaded = Gauge(
            "mlpilot_model_loaded_version",
            "The model version each variant serves (0: none).",
            ["deployment", "variant"],
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.backlog = Gauge(
            "mlpilot_journal_backlog_bytes",
            "Bytes of journaled predictions not yet compacted into Parquet.",
            registry=r,
            multiprocess_mode="max",
        )
        self.shadow = Counter(
            "mlpilot_shadow_requests",
            "Shadow copies sent to the challenger, by outcome (answered, failed, dropped).",
            ["deployment", "outcome"],
            registry=r,
        )

    def observe(
        self, deployment: str, variant: str, version: int, seconds: float, rows: int
    ) -> None:
        key = (deployment, variant, str(version))
        children = self._children.get(key)
        if children is None:
            children = (
                self.requests.labels(deployment, variant, str(version), "200"),
                self.latency.labels(deployment, variant, str(version)),
                self.rows.labels(deployment, variant, str(version)),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)
        children[2].inc(rows)

    def render(self) -> bytes:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            merged = CollectorRegistry()
            multiprocess.MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
            return bytes(generate_latest(merged))
        return bytes(generate_latest(self.registry))
