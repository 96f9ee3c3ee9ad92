"""The prediction service: ``create_app(settings)`` builds the FastAPI application.

The prediction endpoints (``/predict`` here, the OIP infer endpoint in ``_v2``) journal every
answer before sending it, and every failure too: they mark the request with
``begin_prediction`` first, and the error handlers below journal an error record (status, error
class, field, message, and the variant and version once routed) before the error response is
sent. Other endpoints (admin, feedback, health, metrics) journal no errors.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError as FastAPIValidationError
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from mlpilot.config import Settings
from mlpilot.errors import (
    ConfigError,
    MlpilotError,
    RequestValidationError,
)
from mlpilot.serving._deployment import poll_forever
from mlpilot.serving._rows import new_request_id
from mlpilot.serving._service import (
    ORJSONResponse,
    begin_prediction,
    error_response,
    journal_answer,
    journal_failure,
    predict_rows,
    read_json,
    record_feedback,
    rotate_loop,
    routed,
    service_of,
    shadow_copy,
    start_compactor,
    start_service,
)
from mlpilot.serving._v2 import _v2_routes

_log = logging.getLogger("mlpilot.serving")


# --- documentation models (the request path parses bodies itself, for speed and 413/415) ----


class PredictRequest(BaseModel):
    records: list[dict[str, Any]] = Field(description="Rows of features, one object per row.")
    request_key: str | None = Field(
        default=None, description="Sticky routing key: the same key always gets the same variant."
    )
    probabilities: bool = Field(default=False, description="Also return class probabilities.")


class PredictResponse(BaseModel):
    request_id: str
    model_version: int
    variant: str
    predictions: list[Any]
    probabilities: list[list[float]] | None = None
    classes: list[Any] | None = None


class FeedbackItem(BaseModel):
    request_id: str
    label: Any
    row: int | None = None


class FeedbackRequest(BaseModel):
    request_id: str | None = None
    label: Any = None
    row: int | None = None
    feedback: list[FeedbackItem] | None = Field(default=None, description="A batch of labels.")


class RouteRequest(BaseModel):
    mode: str
    weights: dict[str, float] | None = None
    reason: str | None = None


class PromoteRequest(BaseModel):
    version: int
    reason: str


class RollbackRequest(BaseModel):
    reason: str


def create_app(settings: Settings, *, worker: str | None = None) -> FastAPI:
    """The prediction service of ``settings``' project (its champion, plus a challenger when
    one is registered), with journaling, routing, hot swap, feedback, auth and metrics."""
    worker_id = worker or f"{socket.gethostname()}-{os.getpid()}"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = start_service(settings, worker_id)
        app.state.service = service
        threads = [
            threading.Thread(
                target=poll_forever,
                args=(service.deployment, service.stop, settings.serve.poll_seconds),
                name="mlpilot-poll",
                daemon=True,
            ),
            threading.Thread(
                target=rotate_loop, args=(service,), name="mlpilot-rotate", daemon=True
            ),
        ]
        for t in threads:
            t.start()
        compactor, compactor_stop = start_compactor(settings)
        try:
            yield
        finally:
            service.stop.set()
            service.deployment.wake.set()
            service.shadow_pool.shutdown(wait=True, cancel_futures=False)
            for t in threads:
                t.join(timeout=10)
            service.journal.close()
            compactor_stop.set()  # one last round takes the segment just closed
            compactor.join(timeout=30)
            if compactor.is_alive():
                compactor.terminate()
            service.store.dispose()

    app = FastAPI(
        title=f"mlpilot · {settings.project.name}",
        description="Predictions from the project's champion (and challenger during a release).",
        lifespan=lifespan,
        default_response_class=ORJSONResponse,
    )
    _routes(app, settings)
    _handlers(app)
    return app


def _routes(app: FastAPI, settings: Settings) -> None:
    limit = settings.serve.max_body_bytes
    max_rows = settings.serve.max_batch_rows
    name = settings.project.name

    @app.post(
        "/predict",
        response_model=PredictResponse,
        openapi_extra={
            "requestBody": {
                "content": {"application/json": {"schema": PredictRequest.model_json_schema()}},
                "required": True,
            }
        },
        tags=["predict"],
    )
    async def predict(request: Request) -> ORJSONResponse:
        """Predict for one or more records; the answer is journaled before it is sent."""
        t0 = time.perf_counter()
        begin_prediction(request)
        service = service_of(request)
        if settings.serve.require_predict_token:
            service.authorize(request, "predict")
        body = await read_json(request, limit)
        if not isinstance(body, dict):
            raise RequestValidationError("the body must be an object with 'records'", "body")
        unknown = set(body) - {"records", "request_key", "probabilities"}
        if unknown:
            field = sorted(unknown)[0]
            raise RequestValidationError(
                f"unknown field {field[:40]!r}; allowed: records, request_key, probabilities",
                field,
            )
        key = body.get("request_key")
        if key is not None and not isinstance(key, str):
            raise RequestValidationError("request_key must be a string", "request_key")
        want_proba = body.get("probabilities", False)
        if not isinstance(want_proba, bool):
            raise RequestValidationError("probabilities must be true or false", "probabilities")
        records = body.get("records")
        request_id = new_request_id()
        variant, shadow = service.deployment.route.assign(key or request_id)
        request.state.variant = variant  # known before the records are parsed, for a failure
        served = service.deployment.get(variant)
        routed(request, served)
        x = served.spec.parse(records, max_rows=max_rows)
        predictions, probabilities = predict_rows(service, served, x, proba=want_proba)
        ts = time.time()
        latency = time.perf_counter() - t0
        journal_answer(
            service,
            served,
            request_id=request_id,
            ts=ts,
            seconds=latency,
            records=records,
            predictions=predictions,
            probabilities=probabilities,
        )
        service.metrics.observe(name, served.variant, served.version, latency, len(predictions))
        if shadow:
            challenger = service.deployment.served.get("challenger")
            if challenger is not None:
                # A copy off the response path; when the challenger falls behind, drop it.
                if service.shadow_slots.acquire(blocking=False):
                    service.shadow_pool.submit(
                        shadow_copy, service, challenger, list(records or ()), request_id, ts
                    )
                else:
                    service.metrics.shadow.labels(name, "dropped").inc()
        out: dict[str, Any] = {
            "request_id": request_id,
            "model_version": served.version,
            "variant": served.variant,
            "predictions": predictions,
        }
        if probabilities is not None:
            out["probabilities"] = probabilities
            out["classes"] = list(served.classes) if served.classes else None
        return ORJSONResponse(out)

    @app.post("/feedback", tags=["predict"])
    async def feedback(request: Request, body: FeedbackRequest) -> dict[str, Any]:
        """Record ground truth for earlier predictions (one, or a batch under 'feedback')."""
        service = service_of(request)
        if settings.serve.require_predict_token:
            service.authorize(request, "predict")
        items = body.feedback
        if items is None:
            if body.request_id is None:
                raise RequestValidationError(
                    "send {'request_id': ..., 'label': ...} or {'feedback': [...]}", "request_id"
                )
            items = [FeedbackItem(request_id=body.request_id, label=body.label, row=body.row)]
        labels = [(item.request_id, item.label, item.row) for item in items]
        # Reads files and queries Parquet: in a worker thread, not on the event loop.
        recorded, duplicates = await run_in_threadpool(record_feedback, service, labels)
        return {"recorded": recorded, "duplicates": duplicates}

    @app.get("/health/live", tags=["health"])
    async def live() -> dict[str, str]:
        return {"status": "live"}

    @app.get("/health/ready", tags=["health"])
    async def ready(request: Request) -> ORJSONResponse:
        d = service_of(request).deployment
        versions = {v: s.version for v, s in d.served.items()}
        if not d.ready:
            return ORJSONResponse({"status": "not ready", "models": versions}, status_code=503)
        return ORJSONResponse({"status": "ready", "models": versions, "route": d.route.mode})

    @app.get("/metrics", tags=["health"])
    async def metrics(request: Request) -> Response:
        service = service_of(request)
        service.metrics.backlog.set(service.journal.backlog_bytes)
        return Response(service.metrics.render(), media_type="text/plain; version=0.0.4")

    _admin_routes(app)
    _v2_routes(app, settings)


def _admin_routes(app: FastAPI) -> None:
    @app.post("/admin/route", tags=["admin"])
    async def set_route(request: Request, body: RouteRequest) -> dict[str, Any]:
        """Change the traffic split (operate or admin token); every worker follows."""
        service = service_of(request)
        who = service.authorize(request, "operate")
        if body.mode not in ("single", "canary", "ab", "shadow"):
            raise RequestValidationError(
                f"mode must be single, canary, ab or shadow, not {body.mode[:20]!r}", "mode"
            )
        if body.mode != "single" and service.deployment.registry.by_alias("challenger") is None:
            raise ConfigError("there is no challenger to route to; register one with 'mlpilot run'")
        route = service.deployment.routes.set(
            service.deployment.name,
            body.mode,  # type: ignore[arg-type]
            weights=body.weights,
            actor=f"token:{who.name}",
            reason=body.reason,
        )
        service.deployment.route = route  # this worker at once; the others at their next poll
        service.deployment.wake.set()
        return {"mode": route.mode, "weights": route.weights, "revision": route.revision}

    @app.post("/admin/promote", tags=["admin"])
    async def promote(request: Request, body: PromoteRequest) -> dict[str, Any]:
        """Make a version champion (operate or admin token); workers hot-swap to it."""
        service = service_of(request)
        who = service.authorize(request, "operate")
        mv = service.deployment.registry.promote(
            body.version, reason=body.reason, actor=f"token:{who.name}"
        )
        service.deployment.wake.set()  # the poller loads and swaps, off the request path
        return {"champion": mv.version}

    @app.post("/admin/rollback", tags=["admin"])
    async def rollback(request: Request, body: RollbackRequest) -> dict[str, Any]:
        """Send the champion alias back to the previous champion (operate or admin token)."""
        service = service_of(request)
        who = service.authorize(request, "operate")
        mv = service.deployment.registry.rollback(reason=body.reason, actor=f"token:{who.name}")
        service.deployment.wake.set()  # the poller loads and swaps, off the request path
        return {"champion": mv.version}

    @app.post("/admin/reload", tags=["admin"])
    async def reload(request: Request) -> dict[str, Any]:
        """Look for alias and route changes now, retrying versions that failed to load."""
        service = service_of(request)
        who = service.authorize(request, "operate")
        service.deployment.reload()
        service.audit.record(
            "serving.reload",
            target=f"deployment:{service.deployment.name}",
            actor=f"token:{who.name}",
        )
        return {"models": {v: s.version for v, s in service.deployment.served.items()}}


def _handlers(app: FastAPI) -> None:
    def endpoint(request: Request) -> str:
        return request.url.path[:60]

    @app.exception_handler(MlpilotError)
    async def mlpilot_error(request: Request, exc: MlpilotError) -> ORJSONResponse:
        field = getattr(exc, "field", None)
        status = exc.http_status
        _count(request, status, type(exc).__name__)
        journal_failure(request, status, type(exc).__name__, exc.message, field)
        if status >= 500:
            _log.warning("%s %s: %s", request.method, endpoint(request), exc.message)
        return error_response(status, type(exc).__name__, exc.message, field)

    @app.exception_handler(FastAPIValidationError)
    async def validation_error(request: Request, exc: FastAPIValidationError) -> ORJSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        loc = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = str(first.get("msg", "invalid"))
        _count(request, 422, "RequestValidationError")
        journal_failure(request, 422, "RequestValidationError", message, loc or None)
        return error_response(422, "RequestValidationError", message, loc or None)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> ORJSONResponse:
        _log.exception("unexpected error on %s %s", request.method, endpoint(request))
        _count(request, 500, "InternalError")
        journal_failure(request, 500, type(exc).__name__, str(exc))
        return error_response(500, "InternalError", "the service failed to answer; see its log")

    def _count(request: Request, status: int, kind: str) -> None:
        service = getattr(request.app.state, "service", None)
        if service is not None:
            service.metrics.errors.labels(endpoint(request), str(status), kind).inc()
