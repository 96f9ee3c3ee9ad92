"""Journal records as the service writes them, for the serving tests."""

from __future__ import annotations

import uuid
from typing import Any


def prediction(
    request_id: str | None = None,
    *,
    ts: float = 1_700_000_000.0,
    model_version: int = 1,
    rows: int = 1,
    shadow: bool = False,
) -> dict[str, Any]:
    return {
        "kind": "prediction",
        "request_id": request_id or uuid.uuid4().hex,
        "ts": ts,
        "deployment": "churn",
        "variant": "shadow" if shadow else "champion",
        "model_version": model_version,
        "shadow": shadow,
        "latency_ms": 1.5,
        "inputs": [{"x": i, "c": "a"} for i in range(rows)],
        "predictions": [i % 2 for i in range(rows)],
        "probabilities": [[0.25, 0.75] for _ in range(rows)],
    }


def feedback(
    request_id: str, label: Any, *, ts: float = 1_700_000_100.0, row: int | None = None
) -> dict[str, Any]:
    return {"kind": "feedback", "request_id": request_id, "ts": ts, "label": label, "row": row}
