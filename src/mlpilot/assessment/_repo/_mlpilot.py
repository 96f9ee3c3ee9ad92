"""The project file ``mlpilot.toml`` at the root: what an mlpilot project gives by being one,
then what its settings add."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlpilot.assessment._repo._findings import Findings

__all__ = ["PROJECT_FILE", "PROJECT_HINTS", "read_project"]

PROJECT_FILE = "mlpilot.toml"

# Said with a not-met fact in an mlpilot project: what would make it met.
PROJECT_HINTS: Mapping[str, str] = {
    "release.progressive": 'add [release] strategy = "canary" (or shadow, ab) to mlpilot.toml',
    "release.rollback": "a [release] with a live strategy makes the autopilot roll back by itself",
    "monitoring.config": "add a [monitor] section to mlpilot.toml",
    "retrain.triggers": "add [[trigger]] entries (schedule, new_data, drift, performance)",
    "ci.config": "'mlpilot init --ci github' writes a workflow",
}
# Facts only the project file's content decides (unknown when it is malformed).
_PROJECT_CONTENT_FACTS = (
    "data.automated",
    "release.progressive",
    "release.rollback",
    "monitoring.config",
    "retrain.triggers",
    "tests.data",
)
_LIVE_STRATEGIES = ("canary", "shadow", "ab")
_TOML_HEADER = re.compile(r"^[ \t]*\[\[?[ \t]*([A-Za-z0-9_.\-\" ]+?)[ \t]*\]\]?[ \t]*(?:#.*)?$")


@dataclass(frozen=True)
class _Project:
    text: str
    data: Mapping[str, Any] | None  # None when malformed

    def line(self, table: str, key: str | None = None) -> int | None:
        """The line of ``key`` in ``[table]``, or without a key of the table's first header
        (``[table]``, ``[[table]]`` or ``[table.sub]``); None when absent."""
        current = ""
        key_line = re.compile(rf"^[ \t]*{re.escape(key)}[ \t]*=") if key else None
        for number, raw in enumerate(self.text.splitlines(), 1):
            match = _TOML_HEADER.match(raw)
            if match is not None:
                current = match.group(1).replace(" ", "").replace('"', "")
                if key_line is None and (current == table or current.startswith(table + ".")):
                    return number
                continue
            if key_line is not None and current == table and key_line.match(raw):
                return number
        return None

    def table(self, name: str) -> Mapping[str, Any] | None:
        value = (self.data or {}).get(name)
        return value if isinstance(value, Mapping) else None


def read_project(root: Path, found: Findings, read: Callable[[Path], bytes]) -> _Project | None:
    """The root's ``mlpilot.toml`` (read with ``read``) and the facts it decides; None when
    there is none or it could not be read."""
    path = root / PROJECT_FILE
    if not path.is_file():
        return None
    try:
        raw = read(path)
    except OSError as exc:
        found.notes.append(f"{PROJECT_FILE} could not be read: {exc}")
        _project_unknown(found, f"{PROJECT_FILE} could not be read ({exc.strerror or exc})")
        return None
    text = raw.decode("utf-8", errors="replace")
    try:
        data: Mapping[str, Any] | None = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found.notes.append(
            f"{PROJECT_FILE} is not valid TOML ({exc}): the facts its content decides are unknown"
        )
        _project_unknown(found, f"{PROJECT_FILE} is not valid TOML ({exc})")
        data = None
    project = _Project(text, data)
    _project_facts(project, found)
    return project


def _project_unknown(found: Findings, why: str) -> None:
    for fact in _PROJECT_CONTENT_FACTS:
        found.unknown.setdefault(fact, f"not found elsewhere, and {why}")


def _project_facts(project: _Project, found: Findings) -> None:
    """What an mlpilot project gives by being one, then what its settings add."""
    line = project.line
    steps_line = line("pipeline")
    schema_line = line("schema") or line("data", "schema") or line("validate")
    for fact, detail, where in (
        (
            "pipeline.definition",
            "mlpilot pipeline: ingest, validate, train, evaluate, gate, register"
            + (" and the project's [pipeline] steps" if steps_line else ""),
            steps_line or line("train"),
        ),
        (
            "compute.managed",
            "mlpilot's pipeline runner schedules the steps and caches their results",
            steps_line or line("train"),
        ),
        ("data.versioned", "mlpilot snapshots each run's data", line("data")),
        (
            "data.validation",
            "mlpilot validates each run's data against the project's stored schema (validate step)",
            schema_line or line("data"),
        ),
        (
            "tracking.experiments",
            "mlpilot tracks every run in MLflow",
            line("store", "tracking_uri"),
        ),
        (
            "registry.models",
            "mlpilot registers each model that passes the gate as a version with a pinned digest",
            line("gate"),
        ),
        (
            "serving.service",
            "`mlpilot serve` serves the registered model over HTTP (/predict)",
            line("serve"),
        ),
    ):
        found.add(fact, detail, PROJECT_FILE, where)
    if project.data is None:
        return
    _project_settings(project, found)
    _project_release(project, found)


def _project_settings(project: _Project, found: Findings) -> None:
    """What the project's [data] source, [ci] data_checks, monitors and triggers add."""
    line = project.line
    data = project.table("data")
    source = data.get("source") if data is not None else None
    if isinstance(source, str) and source.strip():
        found.add(
            "data.automated",
            f"mlpilot's pipeline reads [data] source = {source!r} by itself on every run",
            PROJECT_FILE,
            line("data", "source") or line("data"),
        )
    ci = project.table("ci")
    checks = ci.get("data_checks") if ci is not None else None
    if isinstance(checks, list | tuple) and checks:
        found.add(
            "tests.data",
            f"mlpilot ci runs {len(checks)} data check(s) ([ci] data_checks)",
            PROJECT_FILE,
            line("ci", "data_checks") or line("ci"),
        )
    monitor = (project.data or {}).get("monitor")
    if isinstance(monitor, Mapping) or (isinstance(monitor, list) and monitor):
        what = f"{len(monitor)} monitor(s)" if isinstance(monitor, list) else "[monitor]"
        found.add(
            "monitoring.config",
            f"mlpilot monitors drift, data quality, performance and the service ({what})",
            PROJECT_FILE,
            line("monitor"),
        )
    triggers = (project.data or {}).get("trigger")
    entries = [triggers] if isinstance(triggers, Mapping) else triggers
    if isinstance(entries, list):
        kinds = [
            str(entry.get("on"))
            for entry in entries
            if isinstance(entry, Mapping)
            and entry.get("on") in ("schedule", "new_data", "drift", "performance")
        ]
        if kinds:
            found.add(
                "retrain.triggers",
                "mlpilot retrains automatically on " + ", ".join(dict.fromkeys(kinds)),
                PROJECT_FILE,
                line("trigger"),
            )


def _project_release(project: _Project, found: Findings) -> None:
    release = project.table("release")
    if release is None:
        return
    strategy = release.get("strategy", "canary")
    where = project.line("release", "strategy") or project.line("release")
    if strategy in _LIVE_STRATEGIES:
        found.add(
            "release.progressive",
            f"mlpilot releases a challenger by {strategy} with an online analysis "
            f"([release] strategy = {strategy!r})",
            PROJECT_FILE,
            where,
        )
        found.add(
            "release.rollback",
            "the mlpilot autopilot rolls the challenger back by itself when its online analysis "
            "or guards fail",
            PROJECT_FILE,
            project.line("release"),
        )
    else:
        found.missing.setdefault(
            "release.progressive", f"[release] strategy is {strategy!r}: no live comparison"
        )
        found.missing.setdefault(
            "release.rollback",
            f"[release] strategy is {strategy!r}: promoted at once, nothing to roll back by itself",
        )
