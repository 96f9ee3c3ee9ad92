"""Applying what counts to the files walked: every probe to each text file (read once), every
path rule to each file's path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mlpilot.assessment._repo import _ci, _code, _infra, _tests
from mlpilot.assessment._repo._ci import CI_LABELS, ci_kind, environments
from mlpilot.assessment._repo._findings import Findings
from mlpilot.assessment._repo._infra import ENV_SUFFIXES, env_name
from mlpilot.assessment._repo._mlpilot import PROJECT_FILE
from mlpilot.assessment._repo._probe import PathRule, Probe
from mlpilot.assessment._repo._tests import TestCount, is_test
from mlpilot.assessment._repo._text import Text, line_at
from mlpilot.assessment._repo._walk import (
    CI,
    MAX_BYTES,
    TEST,
    File,
    Tree,
    is_text,
    prepare,
    scopes_of,
)

__all__ = ["path_facts", "scan"]

# The probes in rank order: the first listed is the strongest evidence of its fact.
_PROBES: tuple[Probe, ...] = (*_ci.PROBES, *_tests.PROBES, *_code.PROBES, *_infra.PROBES)
_PATH_RULES: tuple[PathRule, ...] = (*_code.PATH_RULES, *_infra.PATH_RULES)

# Facts decided from paths alone: an unreadable file cannot hide them.
_PATH_ONLY = frozenset(
    {"vcs.git", "vcs.tags", "ci.config", "code.notebooks", "code.templates", "docs.readme"}
)


def scan(tree: Tree, found: Findings, read: Callable[[Path], bytes]) -> None:
    """Read each text file of ``tree`` once (with ``read``) and add what its content shows."""
    probe_sets: dict[tuple[frozenset[str], str | None], tuple[tuple[int, Probe], ...]] = {}
    too_big: list[str] = []
    unreadable: list[tuple[str, frozenset[str]]] = []
    tests = TestCount()
    env_names: dict[str, tuple[str, int]] = {}
    for file in tree.files:
        if file.rel == PROJECT_FILE:
            continue  # read with tomllib
        kind = ci_kind(file)
        if not is_text(file, kind):
            continue
        test = is_test(file)
        scopes = scopes_of(file, kind, test)
        try:
            raw = read(file.path)
        except OSError as exc:
            unreadable.append((f"{file.rel} ({exc.strerror or type(exc).__name__})", scopes))
            continue
        if len(raw) > MAX_BYTES:
            too_big.append(file.rel)
            continue
        if b"\0" in raw[:8192]:
            continue  # binary
        text = Text(prepare(raw, file, scopes, kind), python=file.suffix == ".py")
        probes = probe_sets.get((scopes, kind))
        if probes is None:
            probes = tuple(
                (rank, probe)
                for rank, probe in enumerate(_PROBES, start=1)
                if probe.scopes & scopes and (probe.kinds is None or kind in probe.kinds)
            )
            probe_sets[(scopes, kind)] = probes
        here = _probe_file(file, text, probes, kind)
        for fact, (rank, line, detail) in here.items():
            found.add(fact, detail, file.rel, line, rank=rank)
        if kind is not None:
            if "ci.schedule" in here and "ci.training" in here:
                found.add(
                    "retrain.triggers",
                    f"{CI_LABELS[kind]} runs on a schedule and trains the model "
                    f"(line {here['ci.training'][1]})",
                    file.rel,
                    here["ci.schedule"][1],
                )
            if "environment:" in text.text:
                for name, line in environments(text.text):
                    env_names.setdefault(name.lower(), (file.rel, line))
        if test:
            tests.count(file, text)
    tests.report(found)
    if len(env_names) >= 2:
        for name, (rel, line) in env_names.items():
            found.add("env.multiple", f"CI deploys to the environment {name!r}", rel, line)
    if too_big:
        found.notes.append(
            f"{len(too_big)} text file(s) larger than 2 MB were not read: " + ", ".join(too_big[:5])
        )
    if unreadable:
        _unreadable(unreadable, found)


def _probe_file(
    file: File,
    text: Text,
    probes: tuple[tuple[int, Probe], ...],
    kind: str | None,
) -> dict[str, tuple[int, int, str]]:
    """The strongest (then earliest) match of each fact in one file: rank, line, detail."""
    here: dict[str, tuple[int, int, str]] = {}
    for rank, probe in probes:
        if probe.fact in here:
            continue  # a stronger probe already matched this fact here
        if probe.path is not None and probe.path.search(file.rel) is None:
            continue
        if probe.needs and text.imported(probe.needs) is None:
            continue
        if probe.pattern is None:
            start = text.imported(probe.modules)
            if start is None:
                continue
        else:
            if not any(hint in text.lowered for hint in probe.hints):
                continue
            match = text.search(probe.pattern)
            if match is None:
                continue
            start = match.start()
        if any(text.search(required) is None for required in probe.requires):
            continue
        line, snippet = line_at(text.text, start)
        label = f"{CI_LABELS[kind]} " if kind is not None and CI in probe.scopes else ""
        here[probe.fact] = (rank, line, f"{label}{probe.detail}: {snippet}")
    return here


def _unreadable(files: list[tuple[str, frozenset[str]]], found: Findings) -> None:
    affected: set[str] = set()
    for _, scopes in files:
        affected.update(p.fact for p in _PROBES if p.scopes & scopes)
        if TEST in scopes:
            affected.update(("tests.unit", "tests.integration"))
        if CI in scopes:
            affected.update(("retrain.triggers", "env.multiple"))
    names = ", ".join(name for name, _ in files[:5])
    found.notes.append(f"{len(files)} file(s) could not be read: {names}")
    for fact in affected - _PATH_ONLY:
        if not found.met(fact):
            found.unknown.setdefault(
                fact,
                f"not found in the files read, but {len(files)} file(s) that could show it could "
                f"not be read ({names})",
            )


def path_facts(tree: Tree, found: Findings) -> None:
    """Add what the files' and folders' names alone show."""
    notebooks: list[str] = []
    ci_files = 0
    staging: str | None = None
    production: str | None = None
    docs_files: dict[str, int] = {}
    for file in tree.files:
        rel, name = file.rel, file.name
        kind = ci_kind(file)
        if kind is not None:
            ci_files += 1
            found.add("ci.config", CI_LABELS[kind], rel)
        if file.suffix == ".ipynb":
            notebooks.append(rel)
        if "/" not in rel and name.upper().startswith("README"):
            try:
                if file.path.stat().st_size > 0:
                    found.add("docs.readme", "README", rel)
            except OSError:
                pass
        if file.dirs and file.dirs[0] in ("docs", "doc"):
            docs_files[file.dirs[0]] = docs_files.get(file.dirs[0], 0) + 1
        matched: set[str] = set()  # at most one rule of a fact a file: the first that matches
        for rule in _PATH_RULES:
            if rule.fact not in matched and rule.matches(file):
                matched.add(rule.fact)
                found.add(rule.fact, rule.detail.format(name=name), rel)
        if file.suffix in ENV_SUFFIXES or name.startswith(".env"):
            staging, production = env_name(rel, file.dirs, name, staging, production)
    for rel in tree.dirs:
        parts = rel.split("/")
        staging, production = env_name(rel, tuple(parts[:-1]), parts[-1], staging, production)
    if notebooks:
        found.add("code.notebooks", f"{len(notebooks)} notebook(s)", notebooks[0])
    if not found.met("code.modular") and notebooks:
        found.missing["code.modular"] = (
            f"the ML code is in {len(notebooks)} notebook(s) only: no Python module outside "
            "the tests holds ML code"
        )
    for name, count in sorted(docs_files.items()):
        found.add("docs.readme", f"{name}/ folder ({count} files)", name)
    if ci_files == 0:
        for fact in ("ci.tests", "ci.training", "ci.deploy", "ci.schedule"):
            found.missing[fact] = "no CI configuration found"
    if staging is not None and production is not None and not found.met("env.multiple"):
        found.add("env.multiple", "staging-like environment configuration", staging)
        found.add("env.multiple", "production environment configuration", production)
    if ".dvc" in tree.markers:
        found.add("data.versioned", "DVC repository (.dvc/)", tree.markers[".dvc"])
    if "mlruns" in tree.markers:
        found.add("tracking.experiments", "local MLflow runs (mlruns/)", tree.markers["mlruns"])
