"""``mlpilot init --ci``: workflows valid for GitHub Actions and GitLab CI.

Each file is parsed as YAML, validated against the JSON schema its CI system publishes (the
copies that check-jsonschema ships, so no network is needed: SchemaStore's
``github-workflow.json`` and GitLab's ``ci.json``), and checked for what mlpilot needs: pull
requests run ``mlpilot ci --sample``, the main branch runs ``mlpilot ci --release``, the
environment is cached and the JUnit XML and summary are kept.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlpilot.cli import main
from mlpilot.errors import ConfigError
from mlpilot.project import WORKFLOWS, init_project

CHECK_JSONSCHEMA = str(Path(sys.executable).parent / "check-jsonschema")
SCHEMAS = {"github": "vendor.github-workflows", "gitlab": "vendor.gitlab-ci"}


def _validate(system: str, path: Path) -> None:
    done = subprocess.run(
        [CHECK_JSONSCHEMA, "--builtin-schema", SCHEMAS[system], str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("system", ["github", "gitlab"])
def test_the_workflow_is_valid_for_its_ci_system(system: str, tmp_path: Path) -> None:
    written = init_project(tmp_path / "p", name="p", ci=system)  # type: ignore[arg-type]
    path = tmp_path / "p" / WORKFLOWS[system]
    assert path in written
    assert "@MLPILOT_VERSION@" not in path.read_text()
    _validate(system, path)


def test_the_schema_check_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("jobs:\n  ci:\n    runs-on: 3\n")
    with pytest.raises(AssertionError, match="'on' is a required property"):
        _validate("github", broken)


def _steps_running(steps: list[dict[str, Any]], command: str) -> list[dict[str, Any]]:
    return [s for s in steps if command in str(s.get("run", ""))]


def test_github_runs_a_sample_on_pull_requests_and_releases_from_main(tmp_path: Path) -> None:
    init_project(tmp_path / "p", name="p", ci="github")
    doc = yaml.safe_load((tmp_path / "p" / WORKFLOWS["github"]).read_text())
    triggers = doc.get("on", doc.get(True))  # YAML 1.1 reads a bare `on` as true
    assert set(triggers) == {"pull_request", "push"}
    assert triggers["push"]["branches"] == ["main"]
    steps = doc["jobs"]["ci"]["steps"]
    [sample] = _steps_running(steps, "mlpilot ci --sample")
    assert sample["if"] == "github.event_name == 'pull_request'"
    [release] = _steps_running(steps, "mlpilot ci --release")
    assert release["if"] == "github.event_name == 'push'"
    assert "--junit mlpilot-ci/junit.xml --summary mlpilot-ci/summary.md" in release["run"]
    cache = next(s for s in steps if str(s.get("uses", "")).startswith("actions/cache@"))
    assert ".venv" in cache["with"]["path"]
    upload = next(s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact"))
    assert upload["if"] == "always()"
    assert upload["with"]["path"] == "mlpilot-ci/"
    [comment] = _steps_running(steps, "gh pr comment")
    assert "--body-file mlpilot-ci/summary.md" in comment["run"]
    assert doc["permissions"]["pull-requests"] == "write"


def test_gitlab_runs_a_sample_on_merge_requests_and_releases_from_the_default_branch(
    tmp_path: Path,
) -> None:
    init_project(tmp_path / "p", name="p", ci="gitlab")
    doc = yaml.safe_load((tmp_path / "p" / WORKFLOWS["gitlab"]).read_text())
    base = doc[".mlpilot"]
    assert ".venv/" in base["cache"]["paths"]
    assert base["artifacts"]["when"] == "always"
    assert base["artifacts"]["reports"]["junit"] == "mlpilot-ci/junit.xml"
    pr, main_branch = doc["mlpilot-ci"], doc["mlpilot-release"]
    assert pr["rules"][0]["if"] == '$CI_PIPELINE_SOURCE == "merge_request_event"'
    assert any("mlpilot ci --sample" in line for line in pr["script"])
    assert main_branch["rules"][0]["if"].startswith("$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH")
    assert any("mlpilot ci --release" in line for line in main_branch["script"])
    assert pr["extends"] == main_branch["extends"] == ".mlpilot"


def test_init_writes_model_tests_and_keeps_existing_files(tmp_path: Path) -> None:
    directory = tmp_path / "p"
    (directory / ".github" / "workflows").mkdir(parents=True)
    (directory / WORKFLOWS["github"]).write_text("# mine\n")
    written = init_project(directory, name="p", ci="github")
    assert directory / "tests" / "test_model.py" in written
    assert (directory / WORKFLOWS["github"]).read_text() == "# mine\n"
    example = (directory / "tests" / "test_model.py").read_text()
    assert "worst radius" in example  # the bundled data's own tests
    other = init_project(tmp_path / "q", source="data.csv", target="churned")
    generic = (tmp_path / "q" / "tests" / "test_model.py").read_text()
    assert tmp_path / "q" / "tests" / "test_model.py" in other
    assert "worst radius" not in generic
    assert "[ci.slices.large-tumours]" not in (tmp_path / "q" / "mlpilot.toml").read_text()
    with pytest.raises(ConfigError, match="unknown CI system 'jenkins'"):
        init_project(tmp_path / "r", ci="jenkins")  # type: ignore[arg-type]


def test_the_cli_writes_the_workflow(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", str(tmp_path / "p"), "--ci", "gitlab"]) == 0
    assert ".gitlab-ci.yml" in capsys.readouterr().out
    assert (tmp_path / "p" / ".gitlab-ci.yml").is_file()
