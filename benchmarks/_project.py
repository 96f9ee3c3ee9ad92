"""The throw-away mlpilot projects the benchmarks train: one template for all of them."""

from __future__ import annotations

from pathlib import Path

TRAIN_LR = """\
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler


def train(frame: pd.DataFrame, target: str, C: float = 1.0) -> Pipeline:
    model = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(C=C, max_iter=1000))])
    return model.fit(frame.drop(columns=[target]), frame[target])
"""

PROJECT_TOML = """\
[project]
name = "{name}"

[data]
source = "{source}"
target = "target"

[train]
entrypoint = "pipeline.py:train"

[gate]
metrics = {{ accuracy = ">= 0.5" }}
"""


def write_project(directory: Path, *, name: str, source: str, train_py: str = TRAIN_LR) -> Path:
    """A project in ``directory`` whose gate any sensible model passes."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "pipeline.py").write_text(train_py)
    (directory / "mlpilot.toml").write_text(PROJECT_TOML.format(name=name, source=source))
    return directory
