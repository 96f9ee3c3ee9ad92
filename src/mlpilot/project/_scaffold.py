"""Creating a project: ``mlpilot init`` and the bundled example."""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

from mlpilot.config import PROJECT_FILE
from mlpilot.errors import ConfigError

EXAMPLE = "breast_cancer"
_TEMPLATE_FILES = ("mlpilot.toml", "pipeline.py")


def init_project(
    directory: Path,
    *,
    name: str | None = None,
    source: str = "sklearn:breast_cancer",
    target: str = "target",
    force: bool = False,
) -> list[Path]:
    """Write ``mlpilot.toml`` and ``pipeline.py`` into ``directory``; returns the files written.

    Refuses to overwrite an existing project file unless ``force``.
    """
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
    template = files("mlpilot.project") / "templates" / EXAMPLE
    written = []
    for fname in _TEMPLATE_FILES:
        text = (template / fname).read_text(encoding="utf-8")
        if fname == PROJECT_FILE:
            text = text.format(name=project_name, source=source, target=target)
        path = directory / fname
        if path.exists() and not force and fname != PROJECT_FILE:
            continue
        path.write_text(text, encoding="utf-8")
        written.append(path)
    gitignore = directory / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text(".mlpilot/\n", encoding="utf-8")
        written.append(gitignore)
    return written


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-._")
    return slug or "mlpilot-project"
