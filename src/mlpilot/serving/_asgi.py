"""The application factory uvicorn's worker processes call (``--workers N``).

``mlpilot serve`` passes the project directory and its command-line overrides through the
environment (``MLPILOT_SERVE_PROJECT``, ``MLPILOT_SERVE_OVERRIDES``); they are read when a
worker starts, never at import time.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from mlpilot.config import Settings, load_settings
from mlpilot.serving._app import create_app

PROJECT_ENV = "MLPILOT_SERVE_PROJECT"
OVERRIDES_ENV = "MLPILOT_SERVE_OVERRIDES"


def app_from_env() -> FastAPI:
    project = Path(os.environ[PROJECT_ENV])
    overrides = json.loads(os.environ.get(OVERRIDES_ENV, "{}"))
    return create_app(load_settings(project, overrides=overrides))


def serve(settings: Settings, overrides: dict[str, Any] | None = None) -> None:
    """Run uvicorn in the foreground: in-process for one worker, worker processes for more."""
    import tempfile

    import uvicorn

    cfg = settings.serve
    if cfg.workers == 1:
        uvicorn.run(create_app(settings), host=cfg.host, port=cfg.port, log_level="warning")
        return
    run_dir = settings.home / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    metrics_dir = tempfile.mkdtemp(prefix="prometheus-", dir=run_dir)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    os.environ[PROJECT_ENV] = str(settings.project_dir)
    os.environ[OVERRIDES_ENV] = json.dumps(overrides or {})
    uvicorn.run(
        "mlpilot.serving._asgi:app_from_env",
        factory=True,
        host=cfg.host,
        port=cfg.port,
        workers=cfg.workers,
        log_level="warning",
    )
