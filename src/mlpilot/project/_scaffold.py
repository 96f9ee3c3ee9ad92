"""Creating a project: ``mlpilot init`` and the bundled example.

A project gets ``mlpilot.toml``, ``pipeline.py`` and ``tests/test_model.py`` (model tests for
``mlpilot ci``: real ones for the bundled breast-cancer data, one example of each kind for any
other source), and, when asked, a CI workflow that runs ``mlpilot ci``: GitHub Actions
(``.github/workflows/mlpilot.yml``) or GitLab CI (``.gitlab-ci.yml``).
"""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version
from importlib.resources import files
from pathlib import Path
from typing import Literal

from mlpilot.config import PROJECT_FILE
from mlpilot.errors import ConfigError

EXAMPLE = "breast_cancer"
_TEMPLATE_FILES = ("mlpilot.toml", "pipeline.py")
_MODEL_TESTS = "tests/test_model.py"
CiSystem = Literal["github", "gitlab"]
WORKFLOWS: dict[str, str] = {"github": ".github/workflows/mlpilot.yml", "gitlab": ".gitlab-ci.yml"}
"""Where ``mlpilot init --ci`` writes each CI system's workflow, relative to the project."""

_CI_COMMON = """[ci]
# 'mlpilot ci': tests/test_model*.py are model tests, run against the candidate; the other test
# files under tests/ are the project's own tests. The serving app, built in-process, must answer
# batches of batch_rows rows built from the reference profile within this budget (p95).
latency_budget_ms = 250
batch_rows = 100
"""
_CI_EXAMPLE = (
    _CI_COMMON
    + """
# Named slices of the holdout, and what the candidate must reach on each.
[ci.slices.large-tumours]
where = "`worst radius` >= 17"
metrics = { accuracy = ">= 0.9" }
min_rows = 10
"""
)
_CI_GENERIC = (
    _CI_COMMON
    + """
# Named slices of the holdout, and what the candidate must reach on each, e.g.:
# [ci.slices.new-customers]
# where = "tenure_months < 3"
# metrics = { recall = ">= 0.7" }
"""
)


def init_project(
    directory: Path,
    *,
    name: str | None = None,
    source: str = "sklearn:breast_cancer",
    target: str = "target",
    force: bool = False,
    ci: CiSystem | None = None,
) -> list[Path]:
    """Write ``mlpilot.toml``, ``pipeline.py`` and ``tests/test_model.py`` into ``directory``,
    and the ``ci`` system's workflow if asked; returns the files written.

    Refuses to overwrite an existing project file unless ``force``; other existing files are
    kept unless ``force``.
    """
    if ci is not None and ci not in WORKFLOWS:
        raise ConfigError(f"unknown CI system {ci!r}; use one of: {', '.join(WORKFLOWS)}")
    directory = directory.resolve()
    project_file = directory / PROJECT_FILE
    if project_file.exists() and not force:
        raise ConfigError(
            f"{project_file} already exists; edit it, or pass --force to overwrite it",
            file=str(project_file),
        )
    project_name = name or _slug(directory.name)
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$", project_name):
        raise ConfigError(
            f"project name {project_name!r} is not valid; use letters, digits, '.', '_' or '-' "
            "(pass --name)"
        )
    directory.mkdir(parents=True, exist_ok=True)
    templates = files("mlpilot.project") / "templates"
    example = source == "sklearn:breast_cancer" and target == "target"
    written = []
    for fname in _TEMPLATE_FILES:
        text = (templates / EXAMPLE / fname).read_text(encoding="utf-8")
        if fname == PROJECT_FILE:
            ci_section = _CI_EXAMPLE if example else _CI_GENERIC
            text = text.format(name=project_name, source=source, target=target, ci=ci_section)
        path = directory / fname
        if path.exists() and not force and fname != PROJECT_FILE:
            continue
        path.write_text(text, encoding="utf-8")
        written.append(path)
    tests = (templates / (EXAMPLE if example else "generic")).joinpath(*_MODEL_TESTS.split("/"))
    extra = [(directory / _MODEL_TESTS, tests.read_text(encoding="utf-8"))]
    if ci is not None:
        text = (templates / "ci" / f"{ci}.yml").read_text(encoding="utf-8")
        extra.append((directory / WORKFLOWS[ci], text.replace("@MLPILOT_VERSION@", _version())))
    for path, text in extra:
        if path.exists() and not force:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    gitignore = directory / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text(".mlpilot/\n", encoding="utf-8")
        written.append(gitignore)
    return written


def _version() -> str:
    try:
        return version("mlpilot")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0.1.0"


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-._")
    return slug or "mlpilot-project"
