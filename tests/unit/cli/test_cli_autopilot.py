"""'mlpilot retrain', 'autopilot --once', 'releases', 'release show|start' in process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import write_scaled_project

from mlpilot.cli import main


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    return write_scaled_project(tmp_path / "proj")


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_a_first_retrain_trains_and_promotes_the_first_champion(
    project_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = ["--project", str(project_dir)]
    assert main(["releases", *p]) == 0
    assert "No releases of demo yet" in _flat(capsys.readouterr().out)
    assert main(["retrain", *p, "--reason", "first model"]) == 0
    assert "trigger 1 recorded" in _flat(capsys.readouterr().out)
    assert main(["autopilot", *p, "--once"]) == 0
    ticked = _flat(capsys.readouterr().err)
    assert "promoted" in ticked
    assert main(["releases", *p, "--json"]) == 0
    (release,) = json.loads(capsys.readouterr().out)
    assert release["state"] == "promoted"
    assert release["trigger"] == "manual"
    assert release["model_version"] == 1
    assert (
        release["decision_reason"] == "promoted without a comparison: no champion to compare with"
    )
    assert [t["state"] for t in release["transitions"]] == [
        "triggered",
        "training",
        "gated",
        "analysing",
        "promoted",
    ]
    assert main(["release", "show", release["id"][:8], *p]) == 0
    shown = _flat(capsys.readouterr().out)
    assert "promoted" in shown
    assert "no champion to compare with" in shown
    assert main(["models", *p, "--json"]) == 0
    (model,) = json.loads(capsys.readouterr().out)
    assert model["aliases"] == ["champion"]
    # releasing the champion itself is refused with a clear message
    assert main(["release", "start", "1", *p, "--reason", "again"]) == 1
    assert "already is the champion" in _flat(capsys.readouterr().err)


def test_unknown_release_and_missing_reason_are_clear_errors(
    project_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = ["--project", str(project_dir)]
    assert main(["release", "show", "abcdef12", *p]) == 1
    assert "has no release 'abcdef12'" in _flat(capsys.readouterr().err)
    assert main(["retrain", *p, "--reason", " "]) == 1
    assert "a reason is required" in _flat(capsys.readouterr().err)
    assert main(["release", "start", "7", *p, "--reason", "x"]) == 1
    err = _flat(capsys.readouterr().err)
    assert "7" in err
