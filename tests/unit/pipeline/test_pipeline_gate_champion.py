"""The gate's cached result is reused only against the champion it was computed with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.conftest import write_project

from mlpilot.pipeline import RunSummary
from mlpilot.project import Project

TRAIN_PY = """\
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def train(frame: pd.DataFrame, target: str, C: float = 1.0, max_iter: int = 1000):
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter))
    return model.fit(frame.drop(columns=[target]), frame[target])
"""

C_HALF = {"MLPILOT_TRAIN__PARAMS": "{C = 0.5}"}


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    """A project training a scaled logistic regression (``C`` from ``[train] params``)."""
    directory = write_project(tmp_path / "proj", name="gated", entrypoint="pipeline.py:train")
    (directory / "pipeline.py").write_text(TRAIN_PY, encoding="utf-8")
    return directory


def _status(summary: RunSummary) -> dict[str, str]:
    return {s.name: s.status for s in summary.steps}


def _vs_champion(summary: RunSummary) -> dict[str, Any]:
    [check] = [c for c in summary.gate if c["name"] == "vs_champion"]
    return check


def _run(project_dir: Path, env: dict[str, str]) -> RunSummary:
    project = Project.open(project_dir, env=env)
    try:
        return project.run(actor="tester")
    finally:
        project.store.dispose()


def test_gate_is_checked_again_after_a_promotion(project_dir: Path) -> None:
    first = _run(project_dir, {})
    assert (first.model_version, first.model_aliases) == (1, ("champion",))
    assert _vs_champion(first)["detail"] == "no champion yet: first version"

    # The champion is now the candidate itself: nothing else to beat, the gate is reused.
    again = _run(project_dir, {})
    assert (again.status, _status(again)["gate"]) == ("unchanged", "cached")

    second = _run(project_dir, C_HALF)
    assert (second.model_version, second.model_aliases) == (2, ("challenger",))
    assert _vs_champion(second)["detail"].endswith("[champion: version 1]")

    project = Project.open(project_dir, env={})
    project.registry.promote(2, reason="test: v2 becomes the champion", actor="tester")
    project.store.dispose()

    # The first run's settings: everything up to the gate comes from the cache, but its cached
    # gate said "no champion yet"; now the candidate (version 1) must be compared with version 2.
    third = _run(project_dir, {})
    steps = _status(third)
    assert all(steps[s] == "cached" for s in ("validate", "split", "train", "evaluate", "profile"))
    assert steps["gate"] == "ran"
    check = _vs_champion(third)
    assert check["detail"].startswith("accuracy ")
    assert check["detail"].endswith("[champion: version 2]")
    assert check["value"] is not None
    assert steps["register"] == "cached"  # version 1 is not registered a second time
    assert (third.status, third.model_version) == ("unchanged", 1)

    # The champion did not move since: now the gate's result is reused.
    fourth = _run(project_dir, {})
    assert _status(fourth)["gate"] == "cached"
    assert _vs_champion(fourth)["detail"].endswith("[champion: version 2]")

    # The second run's settings: its cached gate compared with version 1; the candidate is now
    # the champion itself, so it is not compared with itself (a positive min_delta would then
    # reject an unchanged model) and is not registered again.
    fifth = _run(project_dir, C_HALF)
    steps = _status(fifth)
    assert (steps["train"], steps["gate"], steps["register"]) == ("cached", "ran", "cached")
    assert _vs_champion(fifth)["detail"] == (
        "the candidate is the champion (version 2): no other model to beat"
    )
    assert (fifth.status, fifth.model_version) == ("unchanged", 2)
    assert [v.version for v in Project.open(project_dir, env={}).models()] == [2, 1]
