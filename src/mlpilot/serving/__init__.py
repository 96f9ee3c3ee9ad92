"""Serving: the prediction service of a project's deployment.

``create_app(settings)`` builds the FastAPI application: ``/predict`` (and the Open Inference
Protocol ``/v2`` endpoints) answer from the champion, or from the challenger when the route
sends a request there; every answer, and every failed prediction request, is journaled before
the response is sent; ``/feedback`` records labels; ``/metrics`` speaks Prometheus;
``/admin/*`` changes routes and aliases with a token. Workers poll the store for alias and
route changes and hot-swap verified, warmed models. The compacted prediction log has one typed
column per input key, named ``INPUT_PREFIX`` + key.
"""

from mlpilot.serving._app import create_app
from mlpilot.serving._asgi import serve
from mlpilot.serving._deployment import Deployment, Served
from mlpilot.serving._journal import Compactor, Journal
from mlpilot.serving._predictions import PredictionLog, labelled_sql
from mlpilot.serving._routing import Route, RouteStore
from mlpilot.serving._rows import INPUT_PREFIX
from mlpilot.serving._validation import InputSpec

__all__ = [
    "INPUT_PREFIX",
    "Compactor",
    "Deployment",
    "InputSpec",
    "Journal",
    "PredictionLog",
    "Route",
    "RouteStore",
    "Served",
    "create_app",
    "labelled_sql",
    "serve",
]
