"""Finding the project's pipeline and model tests, and reading a real pytest run back."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.conftest import write_project

from mlpilot.ci._pytest import PytestRun, find_tests, run_pytest
from mlpilot.config import load_settings


@pytest.fixture
def project(tmp_path: Path) -> Path:
    directory = write_project(tmp_path / "p")
    tests = directory / "tests"
    (tests / "unit").mkdir(parents=True)
    (tests / "test_model.py").write_text("def test_m():\n    pass\n")
    (tests / "test_model_slices.py").write_text("def test_s():\n    pass\n")
    (tests / "test_features.py").write_text("def test_f():\n    assert 1 + 1 == 2\n")
    (tests / "unit" / "steps_test.py").write_text("def test_u():\n    pass\n")
    (tests / "helpers.py").write_text("X = 1\n")
    (directory / ".venv" / "lib").mkdir(parents=True)
    (directory / ".venv" / "lib" / "test_vendored.py").write_text("def test_v():\n    pass\n")
    return directory


def test_model_tests_and_pipeline_tests_are_told_apart(project: Path) -> None:
    found = find_tests(load_settings(project, env={}))
    assert [p.relative_to(project).as_posix() for p in found.model] == [
        "tests/test_model.py",
        "tests/test_model_slices.py",
    ]
    assert [p.relative_to(project).as_posix() for p in found.pipeline] == [
        "tests/test_features.py",
        "tests/unit/steps_test.py",
    ]
    other = load_settings(
        project,
        env={},
        overrides={"ci.model_tests": ["tests/unit/*_test.py"], "ci.tests": "."},
    )
    found = find_tests(other)
    assert [p.name for p in found.model] == ["steps_test.py"]
    assert [p.name for p in found.pipeline] == [
        "test_features.py",
        "test_model.py",
        "test_model_slices.py",
    ]  # never the virtual environment's


def _run(project: Path, body: str, timeout: float = 120) -> PytestRun:
    path = project / "tests" / "test_run.py"
    path.write_text(body)
    return run_pytest(
        (path,), cwd=project, env=dict(os.environ), timeout=timeout, junit=project / "j.xml"
    )


def test_a_run_with_a_failure_a_skip_and_a_pass(project: Path) -> None:
    run = _run(
        project,
        "import pytest\n"
        "def test_ok():\n    pass\n"
        "def test_bad():\n    assert 2 + 2 == 5, 'arithmetic broke'\n"
        "@pytest.mark.skip(reason='not today')\ndef test_later():\n    pass\n",
    )
    assert run.exit_code == 1
    assert (run.tests, run.failed, run.skipped, run.passed) == (3, 1, 1, 1)
    [failure] = run.failures
    assert failure.name == "tests.test_run::test_bad"
    assert failure.message.startswith("AssertionError: arithmetic broke")
    assert run.counts() == "1 passed, 1 failed, 1 skipped"
    assert run.skips == ("tests.test_run::test_later: not today",)
    assert run.files == ("tests/test_run.py",)


def test_a_collection_error_and_an_empty_file(project: Path) -> None:
    broken = _run(project, "import no_such_module_anywhere\n")
    assert broken.exit_code == 2
    assert broken.errors == 1
    assert "no_such_module_anywhere" in broken.failures[0].message
    empty = _run(project, "X = 1\n")
    assert empty.no_tests


def test_a_run_past_its_timeout(project: Path) -> None:
    run = _run(project, "import time\ndef test_slow():\n    time.sleep(30)\n", timeout=3)
    assert run.timed_out
    assert not run.ok
