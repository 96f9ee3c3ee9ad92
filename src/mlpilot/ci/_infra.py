"""Stage 6, the infrastructure check: the serving app, built in-process by ``create_app`` over
the throw-away store, loads the candidate exactly as a server would (digest verified, schema
from the store, warmed on rows built from its reference profile), then answers batches built
from that profile within the latency budget. No network and no port: the app's lifespan runs
in this process and requests go to the ASGI app through ``httpx.ASGITransport``, on one event
loop as under uvicorn.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import TYPE_CHECKING, Any

from mlpilot.config import Settings
from mlpilot.data import ReferenceProfile, sample_records
from mlpilot.governance import AuditTrail
from mlpilot.store import Store

if TYPE_CHECKING:
    from fastapi import FastAPI


def check_serving(settings: Settings, profile: ReferenceProfile, digest: str) -> dict[str, Any]:
    """Serve the workspace's champion in-process and time ``[ci] requests`` batches.

    Returns ``{"ok", "message", "details"}``: not ok when the app does not become ready (the
    reason the server gave, e.g. a failed verification or warm-up), when a batch is refused or
    answered wrongly, or when the 95th percentile of the latencies exceeds the budget.
    """
    from mlpilot.serving import create_app

    records = sample_records(profile, settings.ci.batch_rows)
    app = create_app(settings, worker="mlpilot-ci")
    outcome = asyncio.run(_exercise(app, settings, records))
    if isinstance(outcome, dict):
        return outcome
    latencies, answer, started = outcome
    budget = settings.ci.latency_budget_ms
    p50 = statistics.median(latencies)
    p95 = _percentile(latencies, 0.95)
    details = {
        "model_version": answer.get("model_version"),
        "digest": digest,
        "batch_rows": len(records),
        "requests": len(latencies),
        "latency_ms": {"p50": p50, "p95": p95, "max": max(latencies)},
        "budget_ms": budget,
        "startup_seconds": started,
    }
    timing = (
        f"{len(latencies)} batches of {len(records)} rows: p50 {p50:.1f} ms, p95 {p95:.1f} ms, "
        f"max {max(latencies):.1f} ms"
    )
    if p95 > budget:
        return _result(
            False,
            f"too slow: {timing}; the budget is p95 <= {budget:g} ms ([ci] latency_budget_ms)",
            details,
        )
    return _result(
        True,
        f"loaded and verified (sha256:{digest[:12]}…), warmed and served in-process; {timing} "
        f"(budget {budget:g} ms)",
        details,
    )


async def _exercise(
    app: FastAPI, settings: Settings, records: list[dict[str, Any]]
) -> dict[str, Any] | tuple[list[float], dict[str, Any], float]:
    """Start the app (its lifespan loads the model), check it is ready, answer one batch, then
    time ``[ci] requests`` more; a failure is returned as a result."""
    import httpx

    t0 = time.perf_counter()
    async with app.router.lifespan_context(app):
        started = time.perf_counter() - t0
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://mlpilot-ci") as client:
            ready = await client.get("/health/ready")
            if ready.status_code != 200:
                reason = _swap_failure(settings) or f"/health/ready answered {ready.status_code}"
                return _result(
                    False,
                    f"the serving app did not load the candidate: {reason}",
                    {"ready": ready.json(), "startup_seconds": started},
                )
            body = {"records": records, "probabilities": True}
            first = await client.post("/predict", json=body)
            if first.status_code != 200:
                return _result(
                    False,
                    f"/predict refused a batch of {len(records)} rows built from the reference "
                    f"profile: {first.status_code} {_error(first.json())}",
                    {"status": first.status_code, "response": first.json()},
                )
            answer = first.json()
            if len(answer.get("predictions", [])) != len(records):
                return _result(
                    False,
                    f"/predict answered {len(answer.get('predictions', []))} predictions for "
                    f"{len(records)} rows",
                    {"response": answer},
                )
            latencies: list[float] = []
            for _ in range(settings.ci.requests):
                t = time.perf_counter()
                response = await client.post("/predict", json=body)
                latencies.append((time.perf_counter() - t) * 1000)
                if response.status_code != 200:
                    return _result(
                        False,
                        f"/predict failed on a repeated batch: {response.status_code} "
                        f"{_error(response.json())}",
                        {"status": response.status_code},
                    )
    return latencies, answer, started


def _result(ok: bool, message: str, details: dict[str, Any]) -> dict[str, Any]:
    return {"ok": ok, "message": message, "details": details}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _error(body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        field = f" (field {err['field']})" if err.get("field") else ""
        return f"{err.get('type')}: {err.get('message')}{field}"
    return str(body)[:300]


def _swap_failure(settings: Settings) -> str | None:
    """Why the server did not swap the candidate in, from its audit event."""
    store = Store.open(settings.metadata_url)
    try:
        for event in AuditTrail(store).events(limit=20):
            if event.action == "serving.swap_failed":
                return event.reason
    finally:
        store.dispose()
    return None
