"""One worker's service: its stores, deployment, journal and metrics, and the request-path
helpers every endpoint shares.

Failed prediction requests are journaled too (``"kind": "error"``), for the error rate and for
training-serving skew: a prediction endpoint calls :func:`begin_prediction` first, records the
variant and version on ``request.state`` once it has routed the request, and the app's error
handlers call :func:`journal_failure` before the error response is sent. Every failure status is
journaled, 4xx and 5xx alike: 400, 401/403 (no or wrong token), 404 (an unknown OIP model name),
413, 415, 422, 500, 503. A journal that cannot take the record (closed, disk full) is logged and
never changes the answer. A challenger that fails on a shadow copy is journaled by
:func:`shadow_copy`, with ``shadow`` true and the request's id.

Labels (``/feedback``) are journaled by :func:`record_feedback`, in a worker thread: it reads
the prediction log (journal files, DuckDB over Parquet), which must not block the event loop.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
from fastapi import Request
from fastapi.responses import JSONResponse

from mlpilot.config import Settings
from mlpilot.errors import (
    MlpilotError,
    PayloadTooLargeError,
    PredictionNotFoundError,
    RequestError,
    UnsupportedMediaError,
)
from mlpilot.governance import AuditTrail, TokenInfo, TokenStore
from mlpilot.serving._deployment import Deployment, Served
from mlpilot.serving._journal import Compactor, Journal
from mlpilot.serving._metrics import ServiceMetrics
from mlpilot.serving._predictions import PredictionLog
from mlpilot.serving._rows import new_request_id
from mlpilot.store import Store

_log = logging.getLogger("mlpilot.serving")

MAX_ERROR_MESSAGE = 500  # characters of an error's message kept in the journal


class ORJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def error_response(
    status: int, kind: str, message: str, field: str | None = None
) -> ORJSONResponse:
    body: dict[str, Any] = {"type": kind, "message": message}
    if field is not None:
        body["field"] = field
    return ORJSONResponse({"error": body}, status_code=status)


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
    # a label's duplicate check and its append are one step (see record_feedback)
    feedback_lock: threading.Lock = field(default_factory=threading.Lock)

    def authorize(self, request: Request, role: str) -> TokenInfo:
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else None
        return self.tokens.require(token or None, role)  # type: ignore[arg-type]


def start_service(settings: Settings, worker_id: str) -> Service:
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


def rotate_loop(service: Service) -> None:
    """Close the journal's segment every ``compact_seconds`` so the compactor can take it."""
    while not service.stop.wait(service.settings.serve.compact_seconds):
        try:
            service.journal.rotate()
            service.metrics.backlog.set(service.journal.backlog_bytes)
        except Exception:
            _log.exception("rotating the journal failed; will retry")


def compactor_main(
    journal_dir: str, predictions_url: str, every: float, stop: Any, server_pid: int
) -> None:
    """The compactor's own process: turning JSON lines into Parquet is CPU work that must not
    take the serving process's GIL. Niced, so requests win the cores."""
    import contextlib
    from pathlib import Path

    with contextlib.suppress(OSError):
        os.nice(10)
    compactor = Compactor(Path(journal_dir), predictions_url)
    while True:
        # A server killed without a word (SIGKILL) cannot set ``stop``: its compactor notices
        # within a second that it is orphaned, compacts once more and ends.
        deadline = time.monotonic() + every
        stopping = False
        while not stopping and time.monotonic() < deadline:
            stopping = stop.wait(min(1.0, every)) or os.getppid() != server_pid
        try:
            compactor.compact_once()
        except Exception:
            _log.exception("compacting the journal failed; will retry")
        if stopping:
            return


def start_compactor(settings: Settings) -> tuple[Any, Any]:
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    proc = ctx.Process(
        target=compactor_main,
        args=(
            str(settings.journal_dir),
            settings.predictions_url,
            settings.serve.compact_seconds,
            stop,
            os.getpid(),
        ),
        name="mlpilot-compactor",
        daemon=True,
    )
    proc.start()
    return proc, stop


async def read_json(request: Request, limit: int) -> Any:
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


def service_of(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def _jsonable(values: Any) -> list[Any]:
    out = values.tolist() if isinstance(values, np.ndarray) else list(values)
    return [None if isinstance(v, float) and not math.isfinite(v) else v for v in out]


def predict_rows(
    service: Service, served: Served, x: Any, *, proba: bool
) -> tuple[list[Any], list[list[float]] | None]:
    predictions = _jsonable(served.model.predict(x))
    probabilities = None
    if proba and served.has_proba:
        probabilities = served.model.predict_proba(x).tolist()
    return predictions, probabilities


def journal_answer(
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


def journal_error(
    journal: Journal,
    deployment: str,
    *,
    status: int,
    error: str,
    message: str,
    field: str | None = None,
    variant: str | None = None,
    model_version: int | None = None,
    shadow: bool = False,
    request_id: str | None = None,
    ts: float | None = None,
) -> bool:
    """Append one failed request to the journal; never raises.

    ``request_id`` defaults to a new id (the client never received one). The message is cut to
    :data:`MAX_ERROR_MESSAGE` characters. Returns ``False``, after logging why, when the journal
    could not take the record, so that a failed write never changes the error answered.
    """
    record = {
        "kind": "error",
        "request_id": request_id or new_request_id(),
        "ts": time.time() if ts is None else ts,
        "deployment": deployment,
        "variant": variant,
        "model_version": model_version,
        "shadow": shadow,
        "status": status,
        "error": error,
        "field": field,
        "message": message[:MAX_ERROR_MESSAGE],
    }
    try:
        journal.append(record)
    except Exception:
        _log.warning(
            "could not journal a failed request (%s %s) of %s",
            status,
            error,
            deployment,
            exc_info=True,
        )
        return False
    return True


def begin_prediction(request: Request) -> None:
    """Mark ``request`` as a prediction request: from here on, its failure is journaled."""
    request.state.prediction = True
    request.state.variant = None
    request.state.model_version = None


def routed(request: Request, served: Served) -> None:
    """Record on ``request`` the variant and version that answer it (for a failure's record)."""
    request.state.variant = served.variant
    request.state.model_version = served.version


def journal_failure(
    request: Request, status: int, error: str, message: str, field: str | None = None
) -> None:
    """Journal the failure of a request marked by :func:`begin_prediction`; others are ignored."""
    state = request.state
    if not getattr(state, "prediction", False):
        return
    service: Service | None = getattr(request.app.state, "service", None)
    if service is None:
        return
    journal_error(
        service.journal,
        service.deployment.name,
        status=status,
        error=error,
        message=message,
        field=field,
        variant=getattr(state, "variant", None),
        model_version=getattr(state, "model_version", None),
    )


def record_feedback(
    service: Service, items: Sequence[tuple[str, Any, int | None]]
) -> tuple[int, int]:
    """Journal the labels ``items`` (request id, label, row); return how many were recorded and
    how many were duplicates (the same label as the latest one for that request and row).

    Raises :class:`PredictionNotFoundError` at the first request id without a logged prediction
    (the labels before it are recorded). Reads files and may query Parquet: call it off the
    event loop (``run_in_threadpool``). The check and the append of a label are one step for
    the process, so that the same label sent twice at once is recorded once.
    """
    recorded = duplicates = 0
    for request_id, label, row in items:
        found = service.log.find(request_id)
        if found is None:
            raise PredictionNotFoundError(
                f"no logged prediction has request_id {request_id[:64]!r}; send the "
                "request_id that /predict returned"
            )
        with service.feedback_lock:
            if service.log.has_feedback(request_id, label, row, since=float(found["ts"])):
                duplicates += 1
                continue
            service.journal.append(
                {
                    "kind": "feedback",
                    "request_id": request_id,
                    "ts": time.time(),
                    "label": label,
                    "row": row,
                }
            )
        recorded += 1
    return recorded, duplicates


def shadow_copy(
    service: Service, served: Served, records: list[Any], request_id: str, ts: float
) -> None:
    """Answer ``records`` with the challenger off the response path and journal the answer
    (``shadow`` true), or its failure as an error record with the request's id and time."""
    name = service.deployment.name
    try:
        t0 = time.perf_counter()
        x = served.spec.parse(records, max_rows=len(records))
        predictions, probabilities = predict_rows(service, served, x, proba=served.has_proba)
        journal_answer(
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
    except Exception as exc:
        service.metrics.shadow.labels(name, "failed").inc()
        _log.warning("shadow request %s failed on the challenger", request_id, exc_info=True)
        status, message, field = 500, str(exc), None
        if isinstance(exc, MlpilotError):
            status, message, field = exc.http_status, exc.message, getattr(exc, "field", None)
        journal_error(
            service.journal,
            name,
            status=status,
            error=type(exc).__name__,
            message=message,
            field=field,
            variant=served.variant,
            model_version=served.version,
            shadow=True,
            request_id=request_id,
            ts=ts,
        )
    finally:
        service.shadow_slots.release()
