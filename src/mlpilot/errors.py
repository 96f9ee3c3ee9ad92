"""The one exception tree of mlpilot.

Every error mlpilot raises on purpose is a :class:`MlpilotError`. Each class carries a
``headline`` (the short line the CLI prints in bold), an ``exit_code`` for the CLI and an
``http_status`` for the API. Messages name the object, the problem and the fix, and chain the
cause with ``raise ... from exc``::

    MlpilotError
    ├── ConfigError                  exit 2, HTTP 400  the project file or a setting is wrong
    │   └── ProjectNotFoundError     exit 2, HTTP 404  no mlpilot.toml where one was expected
    ├── DataError                    exit 1, HTTP 422  the data cannot be used
    │   ├── DataSourceError          exit 1, HTTP 422  the source is missing or unreadable
    │   ├── EmptyDataError           exit 1, HTTP 422  the source gave no rows
    │   ├── TargetError              exit 1, HTTP 422  the target column is missing or unusable
    │   └── SchemaViolationError     exit 1, HTTP 422  a batch breaks the stored schema (a report)
    ├── PipelineError                exit 1, HTTP 500  a pipeline could not run
    │   ├── PipelineDefinitionError  exit 2, HTTP 400  the DAG is malformed (cycle, missing input)
    │   └── UserCodeError            exit 1, HTTP 500  the project's own code raised (traceback)
    ├── GateFailedError              exit 1, HTTP 409  a candidate did not pass the gate
    ├── RegistryError                exit 1, HTTP 500  the model registry refused an operation
    │   ├── ModelNotFoundError       exit 1, HTTP 404  no such model version or alias
    │   └── IntegrityError           exit 1, HTTP 409  an artifact does not match its pinned digest
    ├── StoreError                   exit 1, HTTP 503  the metadata store failed
    │   └── LockedError              exit 1, HTTP 409  another process holds the lock
    ├── ReleaseError                 exit 1, HTTP 409  the autopilot refused a release operation
    │   └── ReleaseNotFoundError     exit 1, HTTP 404  no release has that id
    ├── AssessmentError              exit 2, HTTP 400  a maturity assessment cannot start
    ├── AuthError                    exit 1, HTTP 401  no valid token
    │   └── ForbiddenError           exit 1, HTTP 403  the token's role does not allow this
    └── ServingError                 exit 1, HTTP 503  the prediction service cannot answer
        ├── NotReadyError            exit 1, HTTP 503  no verified model is loaded yet
        ├── RequestError             exit 1, HTTP 400  a request is malformed (has a field)
        │   ├── RequestValidationError  HTTP 422   records do not match the model's inputs
        │   ├── PayloadTooLargeError    HTTP 413   the body is larger than max_body_bytes
        │   └── UnsupportedMediaError   HTTP 415   the body is not JSON
        └── PredictionNotFoundError  exit 1, HTTP 404  no logged prediction has that request id
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

__all__ = [
    "Anomaly",
    "AssessmentError",
    "AuthError",
    "ConfigError",
    "DataError",
    "DataSourceError",
    "EmptyDataError",
    "ForbiddenError",
    "GateFailedError",
    "IntegrityError",
    "LockedError",
    "MlpilotError",
    "ModelNotFoundError",
    "NotReadyError",
    "PayloadTooLargeError",
    "PipelineDefinitionError",
    "PipelineError",
    "PredictionNotFoundError",
    "ProjectNotFoundError",
    "RegistryError",
    "ReleaseError",
    "ReleaseNotFoundError",
    "RequestError",
    "RequestValidationError",
    "SchemaViolationError",
    "ServingError",
    "StoreError",
    "TargetError",
    "UnsupportedMediaError",
    "UserCodeError",
]


class MlpilotError(Exception):
    """Base of every error mlpilot raises on purpose."""

    headline: ClassVar[str] = "mlpilot failed"
    exit_code: ClassVar[int] = 1
    http_status: ClassVar[int] = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, Any]:
        """A structured, JSON-ready form for APIs and ``--json`` output."""
        return {"error": type(self).__name__, "headline": self.headline, "message": self.message}


class ConfigError(MlpilotError):
    """The project file or a setting is missing, malformed or has a wrong value."""

    headline = "Configuration error"
    exit_code = 2
    http_status = 400

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        file: str | None = None,
        line: int | None = None,
    ) -> None:
        where = ""
        if file is not None:
            where = f"{file}:{line}: " if line is not None else f"{file}: "
        super().__init__(f"{where}{message}")
        self.key = key
        self.file = file
        self.line = line


class ProjectNotFoundError(ConfigError):
    """No ``mlpilot.toml`` was found."""

    headline = "No mlpilot project here"
    http_status = 404


class DataError(MlpilotError):
    """The data cannot be used as it is."""

    headline = "Data error"
    http_status = 422


class DataSourceError(DataError):
    """The data source does not exist, cannot be read, or its spec is malformed."""

    headline = "Data source error"


class EmptyDataError(DataError):
    """The data source gave no rows."""

    headline = "Empty data set"


class TargetError(DataError):
    """The target column is missing or cannot be learned from (e.g. a single class)."""

    headline = "Target error"


@dataclass(frozen=True)
class Anomaly:
    """One way a batch of data differs from its stored schema."""

    column: str
    kind: str
    expected: str
    found: str
    examples: tuple[Any, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "kind": self.kind,
            "expected": self.expected,
            "found": self.found,
            "examples": [_jsonable(v) for v in self.examples],
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    item = getattr(value, "item", None)
    if callable(item):
        return item()
    return str(value)


class SchemaViolationError(DataError):
    """A batch of data breaks the stored schema; ``anomalies`` lists each problem."""

    headline = "Data does not match the stored schema"

    def __init__(self, message: str, anomalies: Sequence[Anomaly]) -> None:
        lines = [message]
        for a in anomalies:
            ex = f" (e.g. {', '.join(repr(e) for e in a.examples[:3])})" if a.examples else ""
            lines.append(f"  - {a.column}: {a.kind}: expected {a.expected}, found {a.found}{ex}")
        super().__init__("\n".join(lines))
        self.anomalies = tuple(anomalies)

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["anomalies"] = [a.to_dict() for a in self.anomalies]
        return out


class PipelineError(MlpilotError):
    """A pipeline could not run."""

    headline = "Pipeline error"


class PipelineDefinitionError(PipelineError):
    """The pipeline's DAG is malformed: a cycle, a missing input, a duplicate name."""

    headline = "Pipeline definition error"
    exit_code = 2
    http_status = 400


class UserCodeError(PipelineError):
    """The project's own code (a train entrypoint, a data callable) raised."""

    headline = "Your code raised an error"

    def __init__(self, message: str, user_traceback: str = "") -> None:
        super().__init__(message)
        self.user_traceback = user_traceback


class GateFailedError(MlpilotError):
    """A candidate model did not pass the gate; it was tracked but not registered.

    ``checks`` holds each gate check as a dict (name, rule, value, threshold, passed, detail).
    """

    headline = "The candidate did not pass the gate"
    http_status = 409

    def __init__(self, message: str, checks: Sequence[dict[str, Any]] = ()) -> None:
        super().__init__(message)
        self.checks = tuple(checks)

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["checks"] = list(self.checks)
        return out


class RegistryError(MlpilotError):
    """The model registry refused an operation."""

    headline = "Registry error"


class ModelNotFoundError(RegistryError):
    """No such registered model, version or alias."""

    headline = "Model not found"
    http_status = 404


class IntegrityError(RegistryError):
    """An artifact's bytes do not match the digest pinned when it was registered."""

    headline = "Model artifact failed verification"
    http_status = 409


class StoreError(MlpilotError):
    """The metadata store failed."""

    headline = "Metadata store error"
    http_status = 503


class LockedError(StoreError):
    """Another process holds the lock this operation needs."""

    headline = "Another mlpilot process is busy with this project"
    http_status = 409


class ReleaseError(MlpilotError):
    """The autopilot cannot start or change a release (one is in flight, a bad version)."""

    headline = "Release refused"
    http_status = 409


class ReleaseNotFoundError(ReleaseError):
    """No release has this id."""

    headline = "Release not found"
    http_status = 404


class AssessmentError(MlpilotError):
    """A maturity assessment cannot start: no such path, a bad answers file or criteria file."""

    headline = "Assessment error"
    exit_code = 2
    http_status = 400


class AuthError(MlpilotError):
    """No token, or an unknown or revoked one."""

    headline = "Not authenticated"
    http_status = 401


class ForbiddenError(AuthError):
    """The token is valid but its role does not allow this operation."""

    headline = "Not allowed"
    http_status = 403


class ServingError(MlpilotError):
    """The prediction service cannot answer."""

    headline = "Serving error"
    http_status = 503


class NotReadyError(ServingError):
    """No verified model is loaded yet."""

    headline = "Not ready"


class RequestError(ServingError):
    """A request is malformed; ``field`` names the part at fault when there is one."""

    headline = "Bad request"
    http_status = 400

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        if self.field is not None:
            out["field"] = self.field
        return out


class RequestValidationError(RequestError):
    """The records do not match the model's input schema."""

    headline = "Invalid request"
    http_status = 422


class PayloadTooLargeError(RequestError):
    """The request body is larger than ``[serve] max_body_bytes``."""

    headline = "Request too large"
    http_status = 413


class UnsupportedMediaError(RequestError):
    """The request body is not JSON."""

    headline = "Unsupported media type"
    http_status = 415


class PredictionNotFoundError(ServingError):
    """No logged prediction has this request id."""

    headline = "Prediction not found"
    http_status = 404
