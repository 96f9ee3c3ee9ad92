"""How ``mlpilot ci`` tells the model tests it runs which candidate they test.

``mlpilot ci`` registers its candidate in a throw-away store (a temporary ``[store] home`` of
its own: metadata, MLflow registry, no copy of the model's files), writes the candidate's
holdout as Parquet beside it, and passes the path of a small JSON file, a
:class:`CandidateHandoff`, to the pytest process in the environment variable
:data:`ENV_CANDIDATE`. The plugin's fixtures read it and load the candidate from that store,
digest verified, as serving would.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlpilot.errors import ConfigError

if TYPE_CHECKING:
    from mlpilot.config import Settings

ENV_CANDIDATE = "MLPILOT_CI_CANDIDATE"
"""The environment variable that holds the path of the candidate's handoff file."""


@dataclass(frozen=True)
class CandidateHandoff:
    """The candidate under test: its throw-away store, version, digest and holdout."""

    project_dir: str
    home: str
    version: int
    digest: str
    holdout: str
    task: str

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")
        return path

    @classmethod
    def read(cls, path: Path) -> CandidateHandoff:
        """The handoff in ``path``; :class:`ConfigError` naming the file when it is unusable."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                project_dir=str(data["project_dir"]),
                home=str(data["home"]),
                version=int(data["version"]),
                digest=str(data["digest"]),
                holdout=str(data["holdout"]),
                task=str(data["task"]),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"{ENV_CANDIDATE} names {path}, which is not a candidate file that 'mlpilot ci' "
                f"wrote ({type(exc).__name__}: {exc}); unset {ENV_CANDIDATE} to test the "
                "project's latest registered version instead"
            ) from exc


def workspace_settings(settings: Settings, home: Path) -> Settings:
    """The project's settings pointed at the throw-away store in ``home``.

    Everything the store holds goes there (metadata, MLflow tracking and registry, artifacts,
    prediction journal and Parquet log); the project, its data, training, gate and serving
    limits stay as they are, except that ``/predict`` needs no token (the store has none).
    """
    from mlpilot.config import StoreSettings

    serve = settings.serve.model_copy(
        update={"predictions_url": None, "require_predict_token": False}
    )
    return settings.model_copy(update={"store": StoreSettings(home=str(home)), "serve": serve})
