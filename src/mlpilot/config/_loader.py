"""Reading ``mlpilot.toml``, the environment and overrides into :class:`Settings`."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mlpilot.config._models import Settings
from mlpilot.errors import ConfigError, ProjectNotFoundError

PROJECT_FILE = "mlpilot.toml"
ENV_PREFIX = "MLPILOT_"
_SECTIONS = (
    "project",
    "data",
    "train",
    "gate",
    "validate",
    "pipeline",
    "serve",
    "monitor",
    "ci",
    "store",
)


def find_project_dir(start: Path | None = None) -> Path:
    """The nearest directory at or above ``start`` that holds ``mlpilot.toml``."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / PROJECT_FILE).is_file():
            return candidate
    raise ProjectNotFoundError(
        f"no {PROJECT_FILE} in {here} or any parent directory; run 'mlpilot init' to create "
        "one, or pass --project DIR"
    )


def load_settings(
    project_dir: Path,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Load settings: defaults < ``mlpilot.toml`` < ``MLPILOT_*`` env < ``overrides``.

    ``overrides`` uses dotted keys (``{"train.seed": 7}``), as CLI flags produce them.
    """
    path = project_dir / PROJECT_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ProjectNotFoundError(
            f"{path} does not exist; run 'mlpilot init' in {project_dir} to create it"
        ) from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", file=str(path)) from exc
    try:
        from_file = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = _decode_error_line(exc)
        raise ConfigError(
            f"{path.name} is not valid TOML: {exc}; fix the syntax on that line",
            file=str(path),
            line=line,
        ) from exc
    merged: dict[str, Any] = {}
    _deep_merge(merged, from_file)
    _deep_merge(merged, _from_env(os.environ if env is None else env))
    for dotted, value in (overrides or {}).items():
        _deep_merge(merged, _nest(dotted.split("."), value))
    merged["project_dir"] = project_dir.resolve()
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = [str(p) for p in err["loc"]]
        key = ".".join(loc)
        raise ConfigError(
            _explain(err["type"], key, err["msg"], len(exc.errors())),
            key=key,
            file=str(path),
            line=_line_of(text, loc),
        ) from exc


def _explain(kind: str, key: str, msg: str, count: int) -> str:
    more = f" (and {count - 1} more problem{'s' if count > 2 else ''})" if count > 1 else ""
    if kind == "missing":
        return f"required setting '{key}' is missing; add it to the project file{more}"
    if kind == "extra_forbidden":
        return (
            f"unknown setting '{key}'; check its spelling against the project-file reference "
            f"in the README{more}"
        )
    return f"setting '{key}' is invalid: {msg}{more}"


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    """``MLPILOT_TRAIN__SEED=7`` -> ``{"train": {"seed": 7}}``; other MLPILOT_ vars ignored."""
    out: dict[str, Any] = {}
    for name, raw in env.items():
        if not name.upper().startswith(ENV_PREFIX):
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX) :].split("__")]
        if len(parts) < 2 or parts[0] not in _SECTIONS:
            continue
        _deep_merge(out, _nest(parts, _parse_env_value(raw)))
    return out


def _parse_env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _nest(parts: list[str], value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {parts[-1]: value}
    for part in reversed(parts[:-1]):
        out = {part: out}
    return out


def _deep_merge(into: dict[str, Any], new: Mapping[str, Any]) -> None:
    for k, v in new.items():
        if isinstance(v, Mapping) and isinstance(into.get(k), dict):
            _deep_merge(into[k], v)
        elif isinstance(v, Mapping):
            into[k] = {}
            _deep_merge(into[k], v)
        else:
            into[k] = v


def _decode_error_line(exc: tomllib.TOMLDecodeError) -> int | None:
    lineno = getattr(exc, "lineno", None)
    if isinstance(lineno, int):
        return lineno
    m = re.search(r"line (\d+)", str(exc))
    return int(m.group(1)) if m else None


def _line_of(text: str, loc: list[str]) -> int | None:
    """Best-effort line of a dotted key in the TOML text (section headers and inline keys)."""
    if not loc:
        return None
    lines = text.splitlines()
    section, rest = loc[0], loc[1:]
    header = re.compile(rf"^\s*\[\s*{re.escape(section)}\s*\]")
    start = next((i for i, ln in enumerate(lines) if header.match(ln)), None)
    if start is None:
        inline = re.compile(rf"^\s*{re.escape(section)}\s*[.=]")
        return next((i + 1 for i, ln in enumerate(lines) if inline.match(ln)), None)
    if not rest:
        return start + 1
    key = re.compile(rf"^\s*{re.escape(rest[0])}\s*[.=]")
    for i in range(start + 1, len(lines)):
        if re.match(r"^\s*\[", lines[i]):
            break
        if key.match(lines[i]):
            return i + 1
    return start + 1
