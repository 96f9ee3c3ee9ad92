from pathlib import Path

import pytest
from sqlalchemy import update

from mlpilot.cli import main
from mlpilot.project import Project
from mlpilot.store import AuditEventRow

COMMANDS = [
    ["init"],
    ["run"],
    ["quickstart"],
    ["models"],
    ["promote"],
    ["rollback"],
    ["schema", "show"],
    ["schema", "accept"],
    ["audit", "verify"],
    ["audit", "log"],
]


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: " ".join(c))
def test_every_command_has_help_with_an_example(
    cmd: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*cmd, "--help"]) == 0
    out = capsys.readouterr().out
    assert "Example: mlpilot" in out
    assert "Usage: mlpilot" in out


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["promote"]) == 2
    assert "Missing argument" in capsys.readouterr().err


def test_known_error_prints_headline_without_traceback(
    tmp_path: object, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(str(tmp_path))
    assert main(["models"]) == 2
    err = capsys.readouterr().err
    assert "Error: No mlpilot project here" in err
    assert "Traceback" not in err


def test_bad_set_override_is_config_error(
    tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--project", str(tmp_path), "--set", "nonsense"]) == 2
    assert "--set 'nonsense' is not KEY=VALUE" in capsys.readouterr().err


def test_exit_code_of_a_failed_verdict_is_returned(
    project_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proj = project_dir
    project = Project.open(proj, env={})
    first = project.audit.record("a", target="t", actor="ann")
    project.audit.record("b", target="t", actor="ann")
    with project.store.session() as s:
        s.execute(update(AuditEventRow).where(AuditEventRow.id == first.id).values(actor="mallory"))
    assert main(["audit", "verify", "--project", str(proj)]) == 1
    assert f"audit chain broken at event {first.id}" in capsys.readouterr().out
