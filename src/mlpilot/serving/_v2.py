"""The Open Inference Protocol (KServe v2) endpoints.

``/v2/models/{name}/infer`` answers from the champion and journals its answer, and its failure
(an unknown model name included), like ``/predict``.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI, Request

from mlpilot.config import Settings
from mlpilot.errors import (
    PredictionNotFoundError,
    RequestValidationError,
)
from mlpilot.serving._rows import new_request_id
from mlpilot.serving._service import (
    ORJSONResponse,
    begin_prediction,
    journal_answer,
    predict_rows,
    read_json,
    routed,
    service_of,
)


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
        ok = service_of(request).deployment.ready
        return ORJSONResponse({"ready": ok}, status_code=200 if ok else 503)

    def _check(model_name: str) -> None:
        if model_name != name:
            raise PredictionNotFoundError(
                f"no model named {model_name[:60]!r}; this serves {name!r}"
            )

    @app.get("/v2/models/{model_name}", tags=["v2"])
    async def v2_metadata(request: Request, model_name: str) -> dict[str, Any]:
        _check(model_name)
        served = service_of(request).deployment.get("champion")
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
        ok = service_of(request).deployment.ready
        return ORJSONResponse({"name": name, "ready": ok}, status_code=200 if ok else 503)

    @app.post("/v2/models/{model_name}/infer", tags=["v2"])
    async def v2_infer(request: Request, model_name: str) -> dict[str, Any]:
        begin_prediction(request)
        _check(model_name)
        t0 = time.perf_counter()
        service = service_of(request)
        if settings.serve.require_predict_token:
            service.authorize(request, "predict")
        body = await read_json(request, limit)
        served = service.deployment.get("champion")
        routed(request, served)
        records = _v2_records(body, served.spec.features)
        x = served.spec.parse(records, max_rows=max_rows)
        predictions, _ = predict_rows(service, served, x, proba=False)
        request_id = str(body.get("id") or new_request_id())[:64]
        latency = time.perf_counter() - t0
        journal_answer(
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
