from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from mlpilot.cli import app, main
from mlpilot.project import Project
from mlpilot.store import AuditEventRow


def _commands() -> list[list[str]]:
    """Every leaf command of the CLI, found by walking the typer app (so none is forgotten)."""
    import typer.main

    found: list[list[str]] = []

    def walk(cmd: Any, path: list[str]) -> None:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, [*path, name])
        else:
            found.append(path)

    walk(typer.main.get_command(app), [])
    return found


COMMANDS = _commands()


def test_the_walk_finds_the_commands() -> None:
    assert {"run", "serve", "quickstart"} <= {c[0] for c in COMMANDS}
    assert ["token", "create"] in COMMANDS
    assert ["predictions", "query"] in COMMANDS


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
