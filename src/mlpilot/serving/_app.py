"""The prediction service: ``create_app(settings)`` builds the FastAPI application."""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
import uuid
import warnings
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError as FastAPIValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from mlpilot.config import Settings
from mlpilot.errors import (
    ConfigError,
    MlpilotError,
    PayloadTooLargeError,
    PredictionNotFoundError,
    RequestError,
    RequestValidationError,
    UnsupportedMediaError,
)
from mlpilot.governance import AuditTrail, TokenInfo, TokenStore
from mlpilot.serving._deployment import Deployment, Served, poll_forever
from mlpilot.serving._journal import Compactor, Journal
from mlpilot.serving._metrics import ServiceMetrics
from mlpilot.serving._predictions import PredictionLog
from mlpilot.store import Store

_log = logging.getLogger("mlpilot.serving")


class ORJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def _error(status: int, kind: str, message: str, field: str | None = None) -> ORJSONResponse:
    body: dict[str, Any] = {"type": kind, "message": message}
    if field is not None:
        body["field"] = field
    return ORJSONResponse({"error": body}, status_code=status)


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


@dataclass
class Service:
    """Everything one worker needs; lives on ``app.state.service``."""

    settings: Settings
    store: Store
    audit: AuditTrail
    tokens: TokenStore
    deployment: Deployment
    journal: Journal
    log: PredictionLog
    metrics: ServiceMetrics
    shadow_pool: ThreadPoolExecutor
    shadow_slots: threading.BoundedSemaphore
    stop: threading.Event

    def authorize(self, request: Request, role: str) -> TokenInfo:
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else None
        return self.tokens.require(token or None, role)  # type: ignore[arg-type]


def create_app(settings: Settings, *, worker: str | None = None) -> FastAPI:
    """The prediction service of ``settings``' project (its champion, plus a challenger when
    one is registered), with journaling, routing, hot swap, feedback, auth and metrics."""
    worker_id = worker or f"{socket.gethostname()}-{os.getpid()}"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = _start(settings, worker_id)
        app.state.service = service
        threads = [
            threading.Thread(
                target=poll_forever,
                args=(service.deployment, service.stop, settings.serve.poll_seconds),
                name="mlpilot-poll",
                daemon=True,
            ),
            threading.Thread(
                target=_rotate_loop, args=(service,), name="mlpilot-rotate", daemon=True
            ),
        ]
        for t in threads:
            t.start()
        compactor, compactor_stop = _start_compactor(settings)
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


def _start(settings: Settings, worker_id: str) -> Service:
    from mlpilot import tracking
    from mlpilot.registry import Registry

    # Models fitted on DataFrames are fed NumPy arrays in the training column order.
    warnings.filterwarnings("ignore", message="X does not have valid feature names")
    store = Store.open(settings.metadata_url)
    audit = AuditTrail(store)
    tracking.configure(settings)
    metrics = ServiceMetrics()
    deployment = Deployment(settings, store, audit, Registry(settings, audit), metrics)
    deployment.refresh()
    journal = Journal(
        settings.journal_dir, worker_id, segment_bytes=settings.serve.journal_segment_bytes
    )
    return Service(
        settings=settings,
        store=store,
        audit=audit,
        tokens=TokenStore(store, audit),
        deployment=deployment,
        journal=journal,
        log=PredictionLog(settings.journal_dir, settings.predictions_url),
        metrics=metrics,
        shadow_pool=ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlpilot-shadow"),
        shadow_slots=threading.BoundedSemaphore(64),
        stop=threading.Event(),
    )


def _rotate_loop(service: Service) -> None:
    """Close the journal's segment every ``compact_seconds`` so the compactor can take it."""
    while not service.stop.wait(service.settings.serve.compact_seconds):
        try:
            service.journal.rotate()
            service.metrics.backlog.set(service.journal.backlog_bytes)
        except Exception:
            _log.exception("rotating the journal failed; will retry")


def _compactor_main(journal_dir: str, predictions_url: str, every: float, stop: Any) -> None:
    """The compactor's own process: turning JSON lines into Parquet is CPU work that must not
    take the serving process's GIL. Niced, so requests win the cores."""
    import contextlib
    from pathlib import Path

    with contextlib.suppress(OSError):
        os.nice(10)
    compactor = Compactor(Path(journal_dir), predictions_url)
    while True:
        stopping = stop.wait(every)
        try:
            compactor.compact_once()
        except Exception:
            _log.exception("compacting the journal failed; will retry")
        if stopping:
            return


def _start_compactor(settings: Settings) -> tuple[Any, Any]:
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    proc = ctx.Process(
        target=_compactor_main,
        args=(
            str(settings.journal_dir),
            settings.predictions_url,
            settings.serve.compact_seconds,
            stop,
        ),
        name="mlpilot-compactor",
        daemon=True,
    )
    proc.start()
    return proc, stop


async def _read_json(request: Request, limit: int) -> Any:
    ctype = request.headers.get("content-type", "application/json").split(";")[0].strip()
    if ctype != "application/json":
        raise UnsupportedMediaError(
            f"the body must be JSON (Content-Type: application/json), not {ctype[:60]!r}",
            field="content-type",
        )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(
            f"the body has {declared} bytes; the limit is {limit} ([serve] max_body_bytes): "
            "send fewer records per request",
            field="body",
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(
                f"the body is larger than {limit} bytes ([serve] max_body_bytes): send fewer "
                "records per request",
                field="body",
            )
        chunks.append(chunk)
    try:
        return orjson.loads(b"".join(chunks))
    except orjson.JSONDecodeError as exc:
        raise RequestError(f"the body is not valid JSON: {exc}", field="body") from exc


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def _jsonable(values: Any) -> list[Any]:
    out = values.tolist() if isinstance(values, np.ndarray) else list(values)
    return [None if isinstance(v, float) and not math.isfinite(v) else v for v in out]


def _predict(
    service: Service, served: Served, x: Any, *, proba: bool
) -> tuple[list[Any], list[list[float]] | None]:
    predictions = _jsonable(served.model.predict(x))
    probabilities = None
    if proba and served.has_proba:
        probabilities = served.model.predict_proba(x).tolist()
    return predictions, probabilities


def _journal(
    service: Service,
    served: Served,
    *,
    request_id: str,
    ts: float,
    seconds: float,
    records: Any,
    predictions: list[Any],
    probabilities: list[list[float]] | None,
    shadow: bool = False,
) -> None:
    """Append one answered request to the journal (before the response is sent)."""
    service.journal.append(
        {
            "kind": "prediction",
            "request_id": request_id,
            "ts": ts,
            "deployment": service.deployment.name,
            "variant": served.variant,
            "model_version": served.version,
            "shadow": shadow,
            "latency_ms": seconds * 1000,
            "inputs": records,
            "predictions": predictions,
            "probabilities": probabilities,
        }
    )


def _shadow(
    service: Service, served: Served, records: list[Any], request_id: str, ts: float
) -> None:
    name = service.deployment.name
    try:
        t0 = time.perf_counter()
        x = served.spec.parse(records, max_rows=len(records))
        predictions, probabilities = _predict(service, served, x, proba=served.has_proba)
        _journal(
            service,
            served,
            request_id=request_id,
            ts=ts,
            seconds=time.perf_counter() - t0,
            records=records,
            predictions=predictions,
            probabilities=probabilities,
            shadow=True,
        )
        service.metrics.shadow.labels(name, "answered").inc()
    except Exception:
        service.metrics.shadow.labels(name, "failed").inc()
        _log.warning("shadow request %s failed on the challenger", request_id, exc_info=True)
    finally:
        service.shadow_slots.release()


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
        service = _service(request)
        if settings.serve.require_predict_token:
            service.authorize(request, "predict")
        body = await _read_json(request, limit)
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
        request_id = uuid.uuid4().hex
        variant, shadow = service.deployment.route.assign(key or request_id)
        served = service.deployment.get(variant)
        x = served.spec.parse(records, max_rows=max_rows)
        predictions, probabilities = _predict(service, served, x, proba=want_proba)
        ts = time.time()
        latency = time.perf_counter() - t0
        _journal(
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
                        _shadow, service, challenger, list(records or ()), request_id, ts
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
        service = _service(request)
        if settings.serve.require_predict_token:
            service.authorize(request, "predict")
        items = body.feedback
        if items is None:
            if body.request_id is None:
                raise RequestValidationError(
                    "send {'request_id': ..., 'label': ...} or {'feedback': [...]}", "request_id"
                )
            items = [FeedbackItem(request_id=body.request_id, label=body.label, row=body.row)]
        recorded = duplicates = 0
        for item in items:
            if service.log.find(item.request_id) is None:
                raise PredictionNotFoundError(
                    f"no logged prediction has request_id {item.request_id[:64]!r}; send the "
                    "request_id that /predict returned"
                )
            if service.log.has_feedback(item.request_id, item.label):
                duplicates += 1
                continue
            service.journal.append(
                {
                    "kind": "feedback",
                    "request_id": item.request_id,
                    "ts": time.time(),
                    "label": item.label,
                    "row": item.row,
                }
            )
            recorded += 1
        return {"recorded": recorded, "duplicates": duplicates}

    @app.get("/health/live", tags=["health"])
    async def live() -> dict[str, str]:
        return {"status": "live"}

    @app.get("/health/ready", tags=["health"])
    async def ready(request: Request) -> ORJSONResponse:
        d = _service(request).deployment
        versions = {v: s.version for v, s in d.served.items()}
        if not d.ready:
            return ORJSONResponse({"status": "not ready", "models": versions}, status_code=503)
        return ORJSONResponse({"status": "ready", "models": versions, "route": d.route.mode})

    @app.get("/metrics", tags=["health"])
    async def metrics(request: Request) -> Response:
        service = _service(request)
        service.metrics.backlog.set(service.journal.backlog_bytes)
        return Response(service.metrics.render(), media_type="text/plain; version=0.0.4")

    _admin_routes(app)
    _v2_routes(app, settings)


def _admin_routes(app: FastAPI) -> None:
    @app.post("/admin/route", tags=["admin"])
    async def set_route(request: Request, body: RouteRequest) -> dict[str, Any]:
        """Change the traffic split (operate or admin token); every worker follows."""
        service = _service(request)
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
        service = _service(request)
        who = service.authorize(request, "operate")
        mv = service.deployment.registry.promote(
            body.version, reason=body.reason, actor=f"token:{who.name}"
        )
        service.deployment.wake.set()  # the poller loads and swaps, off the request path
        return {"champion": mv.version}

    @app.post("/admin/rollback", tags=["admin"])
    async def rollback(request: Request, body: RollbackRequest) -> dict[str, Any]:
        """Send the champion alias back to the previous champion (operate or admin token)."""
        service = _service(request)
        who = service.authorize(request, "operate")
        mv = service.deployment.registry.rollback(reason=body.reason, actor=f"token:{who.name}")
        service.deployment.wake.set()  # the poller loads and swaps, off the request path
        return {"champion": mv.version}

    @app.post("/admin/reload", tags=["admin"])
    async def reload(request: Request) -> dict[str, Any]:
        """Look for alias and route changes now, retrying versions that failed to load."""
        service = _service(request)
        who = service.authorize(request, "operate")
        service.deployment.reload()
        service.audit.record(
            "serving.reload",
            target=f"deployment:{service.deployment.name}",
            actor=f"token:{who.name}",
        )
        return {"models": {v: s.version for v, s in service.deployment.served.items()}}


def _v2_routes(app: FastAPI, settings: Settings) -> None:
    """The Open Inference Protocol (KServe v2) endpoints."""
    name = settings.project.name
    max_rows = settings.serve.max_batch_rows
    limit = settings.serve.max_body_bytes

    @app.get("/v2/health/live", tags=["v2"])
    async def v2_live() -> dict[str, bool]:
        return {"live": True}

    @app.get("/v2/health/ready", tags=["v2"])
    async def v2_ready(request: Request) -> ORJSONResponse:
        ok = _service(request).deployment.ready
        return ORJSONResponse({"ready": ok}, status_code=200 if ok else 503)

    def _check(model_name: str) -> None:
        if model_name != name:
            raise PredictionNotFoundError(
                f"no model named {model_name[:60]!r}; this serves {name!r}"
            )

    @app.get("/v2/models/{model_name}", tags=["v2"])
    async def v2_metadata(request: Request, model_name: str) -> dict[str, Any]:
        _check(model_name)
        served = _service(request).deployment.get("champion")
        return {
            "name": name,
            "versions": [str(served.version)],
            "platform": "mlpilot-sklearn",
            "inputs": [
                {"name": f, "datatype": "FP64", "shape": [-1, 1]} for f in served.spec.features
            ],
            "outputs": [{"name": "predict", "datatype": "FP64", "shape": [-1]}],
        }

    @app.get("/v2/models/{model_name}/ready", tags=["v2"])
    async def v2_model_ready(request: Request, model_name: str) -> ORJSONResponse:
        _check(model_name)
        ok = _service(request).deployment.ready
        return ORJSONResponse({"name": name, "ready": ok}, status_code=200 if ok else 503)

    @app.post("/v2/models/{model_name}/infer", tags=["v2"])
    async def v2_infer(request: Request, model_name: str) -> dict[str, Any]:
        _check(model_name)
        t0 = time.perf_counter()
        service = _service(request)
        if settings.serve.require_predict_token:
            service.authorize(request, "predict")
        body = await _read_json(request, limit)
        served = service.deployment.get("champion")
        records = _v2_records(body, served.spec.features)
        x = served.spec.parse(records, max_rows=max_rows)
        predictions, _ = _predict(service, served, x, proba=False)
        request_id = str(body.get("id") or uuid.uuid4().hex)[:64]
        latency = time.perf_counter() - t0
        _journal(
            service,
            served,
            request_id=request_id,
            ts=time.time(),
            seconds=latency,
            records=records,
            predictions=predictions,
            probabilities=None,
        )
        service.metrics.observe(name, served.variant, served.version, latency, len(predictions))
        datatype = "INT64" if all(isinstance(p, int) for p in predictions) else "FP64"
        if any(isinstance(p, str) for p in predictions):
            datatype = "BYTES"
        return {
            "model_name": name,
            "model_version": str(served.version),
            "id": request_id,
            "outputs": [
                {
                    "name": "predict",
                    "shape": [len(predictions)],
                    "datatype": datatype,
                    "data": predictions,
                }
            ],
        }


def _v2_records(body: Any, features: tuple[str, ...]) -> list[dict[str, Any]]:
    """OIP inputs → records: one [rows, n_features] tensor, or one tensor per feature."""
    inputs = body.get("inputs") if isinstance(body, dict) else None
    if not isinstance(inputs, list) or not inputs:
        raise RequestValidationError("'inputs' must be a non-empty list of tensors", "inputs")
    for i, t in enumerate(inputs):
        if not isinstance(t, dict) or not isinstance(t.get("data"), list):
            raise RequestValidationError(f"inputs[{i}] needs a 'data' list", f"inputs[{i}].data")
    if len(inputs) == 1 and inputs[0].get("name") not in features:
        data = inputs[0]["data"]
        shape = inputs[0].get("shape") or []
        rows = shape[0] if shape else 1
        flat = _flatten(data)
        if not isinstance(rows, int) or rows <= 0 or len(flat) != rows * len(features):
            raise RequestValidationError(
                f"inputs[0] has {len(flat)} values; expected shape [rows, {len(features)}] "
                f"with the features in order {', '.join(features[:5])}…",
                "inputs[0].shape",
            )
        return [
            dict(zip(features, flat[r * len(features) : (r + 1) * len(features)], strict=True))
            for r in range(rows)
        ]
    columns: dict[str, list[Any]] = {}
    for i, t in enumerate(inputs):
        tname = t.get("name")
        if not isinstance(tname, str):
            raise RequestValidationError(f"inputs[{i}] needs a 'name'", f"inputs[{i}].name")
        columns[tname] = _flatten(t["data"])
    lengths = {len(v) for v in columns.values()}
    if len(lengths) != 1:
        raise RequestValidationError("every input tensor must have the same length", "inputs")
    n = lengths.pop()
    return [{k: v[r] for k, v in columns.items()} for r in range(n)]


def _flatten(data: list[Any]) -> list[Any]:
    out: list[Any] = []
    for v in data:
        if isinstance(v, list):
            out.extend(_flatten(v))
        else:
            out.append(v)
    return out


def _handlers(app: FastAPI) -> None:
    def endpoint(request: Request) -> str:
        return request.url.path[:60]

    @app.exception_handler(MlpilotError)
    async def mlpilot_error(request: Request, exc: MlpilotError) -> ORJSONResponse:
        field = getattr(exc, "field", None)
        status = exc.http_status
        _count(request, status, type(exc).__name__)
        if status >= 500:
            _log.warning("%s %s: %s", request.method, endpoint(request), exc.message)
        return _error(status, type(exc).__name__, exc.message, field)

    @app.exception_handler(FastAPIValidationError)
    async def validation_error(request: Request, exc: FastAPIValidationError) -> ORJSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        loc = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        _count(request, 422, "RequestValidationError")
        return _error(422, "RequestValidationError", str(first.get("msg", "invalid")), loc or None)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> ORJSONResponse:
        _log.exception("unexpected error on %s %s", request.method, endpoint(request))
        _count(request, 500, "InternalError")
        return _error(500, "InternalError", "the service failed to answer; see its log")

    def _count(request: Request, status: int, kind: str) -> None:
        service = getattr(request.app.state, "service", None)
        if service is not None:
            service.metrics.errors.labels(endpoint(request), str(status), kind).inc()
