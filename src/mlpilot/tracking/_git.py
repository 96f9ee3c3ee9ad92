"""Which version of the project's code is running, asked of ``git``."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

_GIT_TIMEOUT = 10.0


@dataclass(frozen=True)
class CodeVersion:
    """The git state of a project directory; every field is ``None`` outside a repository.

    ``commit`` is ``None`` in a repository without commits yet; ``branch`` is ``None`` on a
    detached HEAD. ``dirty`` considers tracked files only (as MLflow does): untracked files
    such as mlpilot's own ``.mlpilot/`` do not make a checkout dirty.
    """

    commit: str | None
    dirty: bool | None
    branch: str | None

    def tags(self) -> dict[str, str]:
        """The run tags recording this version (only the fields that are known)."""
        from mlpilot.tracking._tags import TAG_BRANCH, TAG_COMMIT, TAG_DIRTY

        out: dict[str, str] = {}
        if self.commit is not None:
            out[TAG_COMMIT] = self.commit
        if self.dirty is not None:
            out[TAG_DIRTY] = "true" if self.dirty else "false"
        if self.branch is not None:
            out[TAG_BRANCH] = self.branch
        return out


UNKNOWN = CodeVersion(commit=None, dirty=None, branch=None)


def code_version(project_dir: Path) -> CodeVersion:
    """The commit, dirtiness and branch of ``project_dir``; never raises.

    One ``git status --porcelain=v2 --branch`` call answers all three. Returns a
    :class:`CodeVersion` of ``None`` fields when ``project_dir`` is not inside a git
    repository, when git is not installed, or when git fails or hangs.
    """
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}
    try:
        proc = subprocess.run(
            ["git", "status", "--porcelain=v2", "--branch", "--untracked-files=no"],
            cwd=project_dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError, ValueError):
        return UNKNOWN
    if proc.returncode != 0:
        return UNKNOWN
    commit: str | None = None
    branch: str | None = None
    dirty = False
    for line in proc.stdout.splitlines():
        if line.startswith("# branch.oid "):
            oid = line.removeprefix("# branch.oid ").strip()
            commit = None if oid == "(initial)" else oid
        elif line.startswith("# branch.head "):
            head = line.removeprefix("# branch.head ").strip()
            branch = None if head == "(detached)" else head
        elif line and not line.startswith("#"):
            dirty = True
    return CodeVersion(commit=commit, dirty=dirty, branch=branch)
