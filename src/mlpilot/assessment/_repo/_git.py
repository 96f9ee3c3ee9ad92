"""What git says about the folder: its history and tags (``vcs.*``), whether the serving
code is committed (``serving.versioned``)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mlpilot.assessment._repo._findings import Findings
from mlpilot.assessment._repo._text import SNIPPET_CHARS

__all__ = ["LOOKED_FOR", "ask_git", "git_facts"]

_GIT_TIMEOUT = 10.0

# What each fact looked for, said when it is not met.
LOOKED_FOR: Mapping[str, str] = {
    "vcs.git": "looked for a git repository with commits",
    "vcs.tags": "looked for git tags",
    "serving.versioned": "looked for serving code tracked in git",
}


@dataclass(frozen=True)
class _Git:
    ok: bool | None  # a repository with commits / not one / unknown
    note: str | None = None
    commits: int = 0
    latest: str = ""
    tags: tuple[str, ...] | None = None  # None: could not be listed


def _run_git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE")
    }
    env.update({"GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"})
    return subprocess.run(
        ["git", "-C", str(root), *args],
        env=env,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=_GIT_TIMEOUT,
        check=False,
    )


def ask_git(root: Path) -> _Git:
    try:
        count = _run_git(root, "rev-list", "--count", "HEAD")
    except FileNotFoundError:
        return _Git(None, "git is not installed (not on PATH)")
    except subprocess.TimeoutExpired:
        return _Git(None, f"git did not answer within {_GIT_TIMEOUT:g} s")
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        return _Git(None, f"git could not run: {exc}")
    if count.returncode != 0:
        err = count.stderr.strip()
        if "not a git repository" in err:
            return _Git(False, "not a git repository")
        if "unknown revision" in err or "ambiguous argument 'HEAD'" in err:
            return _Git(False, "a git repository without commits")
        first = err.splitlines()[0] if err else f"exit status {count.returncode}"
        return _Git(None, f"git rev-list failed: {first}")
    try:
        commits = int(count.stdout.strip() or "0")
    except ValueError:
        return _Git(None, f"git rev-list answered {count.stdout.strip()[:40]!r}")
    if commits == 0:
        return _Git(False, "a git repository without commits")
    latest = ""
    tags: tuple[str, ...] | None = None
    try:
        log = _run_git(root, "log", "-1", "--format=%h %s")
        if log.returncode == 0:
            latest = log.stdout.strip()
        listed = _run_git(root, "tag", "--list", "--sort=-creatordate")
        if listed.returncode == 0:
            tags = tuple(t for t in listed.stdout.splitlines() if t.strip())
    except (OSError, subprocess.SubprocessError, ValueError):
        pass
    return _Git(True, None, commits, latest, tags)


def _tracked(root: Path, paths: list[str]) -> set[str] | None:
    """Which of ``paths`` git tracks; None when git cannot say."""
    try:
        listed = _run_git(root, "ls-files", "-z", "--", *paths)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    if listed.returncode != 0:
        return None
    return {name for name in listed.stdout.split("\0") if name}


def git_facts(root: Path, git: _Git, found: Findings) -> None:
    if git.ok is None:
        why = git.note or "git could not be asked"
        found.notes.append(f"{why}: vcs.git, vcs.tags and serving.versioned are unknown")
        for fact in ("vcs.git", "vcs.tags", "serving.versioned"):
            found.unknown[fact] = why
        return
    if not git.ok:
        found.missing["vcs.git"] = git.note or LOOKED_FOR["vcs.git"]
        found.missing["vcs.tags"] = git.note or LOOKED_FOR["vcs.tags"]
        found.missing["serving.versioned"] = f"the folder is {git.note}"
        return
    where = ".git" if (root / ".git").exists() else None
    latest = git.latest if len(git.latest) <= SNIPPET_CHARS else git.latest[:79] + "…"
    found.add("vcs.git", f"git repository: {git.commits} commit(s), latest {latest}", where)
    if git.tags is None:
        found.unknown["vcs.tags"] = "git tag failed"
        found.notes.append("git tag failed: vcs.tags is unknown")
    elif git.tags:
        shown = ", ".join(git.tags[:5]) + (", …" if len(git.tags) > 5 else "")
        found.add("vcs.tags", f"{len(git.tags)} tag(s): {shown}", where)
    serving = [e.path for _, e in found.found.get("serving.service", []) if e.path]
    if not serving:
        found.missing["serving.versioned"] = "no prediction service found"
        return
    tracked = _tracked(root, serving)
    if tracked is None:
        found.unknown["serving.versioned"] = "git ls-files failed"
        found.notes.append("git ls-files failed: serving.versioned is unknown")
        return
    for path in serving:
        if path in tracked:
            found.add("serving.versioned", "the serving code is tracked in git", path)
    if not found.met("serving.versioned"):
        found.missing["serving.versioned"] = f"the serving code ({serving[0]}) is not committed"
