"""code_version against real git repositories made in tmp_path."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from mlflow import MlflowClient

from mlpilot.config import Settings
from mlpilot.tracking import TAG_BRANCH, TAG_COMMIT, TAG_DIRTY, CodeVersion, code_version, start_run


@pytest.fixture(autouse=True)
def _git_identity(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for who in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{who}_NAME", "Test")
        monkeypatch.setenv(f"GIT_{who}_EMAIL", "test@example.com")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


def _git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True)
    return out.stdout.strip()


def _repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    _git(path, "init", "-q", "-b", "main")
    return path


def test_not_a_repository(tmp_path: Path) -> None:
    assert code_version(tmp_path) == CodeVersion(commit=None, dirty=None, branch=None)
    assert code_version(tmp_path).tags() == {}


def test_missing_directory(tmp_path: Path) -> None:
    assert code_version(tmp_path / "absent") == CodeVersion(None, None, None)


def test_git_not_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = _repo(tmp_path / "repo")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    assert code_version(repo) == CodeVersion(None, None, None)


def test_fresh_repository_without_commits(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "repo")
    assert code_version(repo) == CodeVersion(commit=None, dirty=False, branch="main")


def test_clean_and_dirty(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "repo")
    (repo / "pipeline.py").write_text("x = 1\n")
    _git(repo, "add", "pipeline.py")
    _git(repo, "commit", "-q", "-m", "first")
    head = _git(repo, "rev-parse", "HEAD")

    clean = code_version(repo)
    assert clean == CodeVersion(commit=head, dirty=False, branch="main")
    assert re.fullmatch(r"[0-9a-f]{40}", head)
    assert clean.tags() == {TAG_COMMIT: head, TAG_DIRTY: "false", TAG_BRANCH: "main"}

    (repo / "notes.txt").write_text("untracked files do not count\n")
    assert code_version(repo).dirty is False

    (repo / "pipeline.py").write_text("x = 2\n")
    assert code_version(repo) == CodeVersion(commit=head, dirty=True, branch="main")

    _git(repo, "add", "pipeline.py")  # staged but not committed is still dirty
    assert code_version(repo).dirty is True


def test_subdirectory_and_detached_head(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "repo")
    (repo / "project").mkdir()
    (repo / "project" / "mlpilot.toml").write_text("")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "first")
    head = _git(repo, "rev-parse", "HEAD")
    assert code_version(repo / "project").commit == head
    _git(repo, "checkout", "-q", "--detach")
    assert code_version(repo) == CodeVersion(commit=head, dirty=False, branch=None)


def test_runs_are_tagged_with_the_code_version(settings: Settings) -> None:
    repo = settings.project_dir
    _repo(repo)
    _git(repo, "add", "mlpilot.toml")
    _git(repo, "commit", "-q", "-m", "project")
    head = _git(repo, "rev-parse", "HEAD")
    with start_run(settings, run_name="tagged", tags={}) as run, run.child("step") as step:
        pass
    client = MlflowClient(tracking_uri=settings.tracking_uri)
    for run_id in (run.run_id, step.run_id):
        tags = client.get_run(run_id).data.tags
        assert tags[TAG_COMMIT] == head
        assert tags[TAG_DIRTY] == "false"
        assert tags[TAG_BRANCH] == "main"
