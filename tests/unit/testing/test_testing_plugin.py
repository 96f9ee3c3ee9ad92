"""The pytest plugin, as a project's test run sees it (pytester): fixtures that load the
project's models and holdout, and one clear line when they cannot."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlpilot.errors import ConfigError, ProjectNotFoundError
from mlpilot.project import init_project
from mlpilot.testing import CandidateHandoff, ModelTestContext

pytest_plugins = ["pytester"]

FIXTURES_TEST = """
from mlpilot.testing import ModelUnderTest


def test_candidate_is_the_latest_version(candidate):
    assert isinstance(candidate, ModelUnderTest)
    assert candidate.ref == "bc-test/1"
    assert candidate.digest and len(candidate.digest) == 64


def test_champion(champion):
    assert champion.ref == "bc-test/1"
    assert champion.role == "champion"


def test_holdout_is_the_runs_holdout(candidate, holdout):
    assert len(holdout) == 114
    assert "target" in holdout.columns
    accuracy = (candidate.predict(holdout) == holdout["target"]).mean()
    assert accuracy == candidate.metrics["accuracy"]
    holdout["target"] = -1  # each test gets its own copy


def test_holdout_again(holdout):
    assert (holdout["target"] >= 0).all()


def test_reference_profile(reference_profile, candidate):
    assert reference_profile.rows == 455
    assert tuple(f.name for f in reference_profile.features) == candidate.features
"""


def test_fixtures_load_the_projects_models_and_holdout(
    pytester: pytest.Pytester, trained: Path
) -> None:
    pytester.makepyfile(test_model=FIXTURES_TEST)
    result = pytester.runpytest("--mlpilot-project", str(trained), "-W", "error")
    result.assert_outcomes(passed=5)


def test_the_project_is_found_from_the_rootdir(pytester: pytest.Pytester, trained: Path) -> None:
    found = ModelTestContext.find(option=None, rootdir=trained / "tests", env={})
    assert found.project_dir == trained
    assert found.handoff is None


def test_fixtures_outside_a_project_fail_with_one_clear_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_uses_the_candidate(candidate):
            pass

        def test_uses_the_holdout(holdout):
            pass

        def test_plain():
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=2)
    out = result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*mlpilot fixture 'candidate': No mlpilot project here: the model-test fixtures need "
            "an mlpilot project, and there is no mlpilot.toml in pytest's rootdir *",
            "*mlpilot fixture 'holdout': No mlpilot project here*",
        ]
    )
    assert "Run pytest inside the project, pass --mlpilot-project DIR" in out
    assert "Traceback" not in out
    assert "_context.py" not in out  # no frames from inside the plugin


def test_a_project_without_versions(pytester: pytest.Pytester, tmp_path: Path) -> None:
    init_project(tmp_path / "fresh", name="fresh")
    pytester.makepyfile(
        """
        def test_needs_a_candidate(candidate):
            pass

        def test_compares_with_the_champion(champion):
            pass
        """
    )
    result = pytester.runpytest("--mlpilot-project", str(tmp_path / "fresh"), "-rs")
    result.assert_outcomes(errors=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "*mlpilot fixture 'candidate': Model not found: project 'fresh' has no registered "
            "version to test yet; run 'mlpilot run' first, or run the model tests with "
            "'mlpilot ci'*",
            "*the project has no champion yet, so there is nothing to compare with*",
        ]
    )


def test_a_missing_project_option_names_the_option(tmp_path: Path) -> None:
    with pytest.raises(ProjectNotFoundError, match=r"no mlpilot.toml in .* \(--mlpilot-project\)"):
        ModelTestContext.find(option=str(tmp_path), rootdir=tmp_path, env={})


def test_a_broken_handoff_file_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "candidate.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match=r"MLPILOT_CI_CANDIDATE names .* unset"):
        ModelTestContext.find(option=None, rootdir=tmp_path, env={"MLPILOT_CI_CANDIDATE": str(bad)})
    good = CandidateHandoff(str(tmp_path), str(tmp_path / "home"), 1, "0" * 64, "h.parquet", "x")
    assert CandidateHandoff.read(good.write(tmp_path / "ok.json")) == good
