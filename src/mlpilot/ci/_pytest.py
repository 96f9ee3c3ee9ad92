"""The project's tests: which files are model tests and which pipeline tests, and running them
with pytest in a subprocess whose JUnit XML is read back into the stage's verdict."""

from __future__ import annotations

import fnmatch
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlpilot.config import Settings

_SKIP_DIRS = frozenset({"__pycache__", "node_modules", "site-packages", "venv"})
_OUTPUT_TAIL = 20_000


@dataclass(frozen=True)
class ProjectTests:
    """The project's test files, split by ``[ci] model_tests``."""

    pipeline: tuple[Path, ...]
    model: tuple[Path, ...]


def find_tests(settings: Settings) -> ProjectTests:
    """``test_*.py`` and ``*_test.py`` under ``[ci] tests``, and the ``[ci] model_tests`` globs.

    Model tests are the files the globs match (anywhere in the project); pipeline tests are the
    other test files under the tests folder. Hidden folders and virtual environments are
    skipped.
    """
    root = settings.project_dir
    model: set[Path] = set()
    for pattern in settings.ci.model_tests:
        model.update(p.resolve() for p in root.glob(pattern) if p.is_file() and _visible(p, root))
    tests_dir = (root / settings.ci.tests).resolve()
    pipeline: set[Path] = set()
    if tests_dir.is_dir():
        for path in tests_dir.rglob("*.py"):
            name = path.name
            is_test = fnmatch.fnmatch(name, "test_*.py") or fnmatch.fnmatch(name, "*_test.py")
            if is_test and path.resolve() not in model and _visible(path, root):
                pipeline.add(path.resolve())
    return ProjectTests(tuple(sorted(pipeline)), tuple(sorted(model)))


def _visible(path: Path, root: Path) -> bool:
    try:
        parts = path.resolve().relative_to(root.resolve()).parts[:-1]
    except ValueError:
        parts = path.parts[:-1]
    return not any(p.startswith(".") or p in _SKIP_DIRS for p in parts)


@dataclass(frozen=True)
class FailedTest:
    name: str
    message: str
    kind: str  # "failure" or "error"


@dataclass(frozen=True)
class PytestRun:
    """What one pytest run did, from its exit code and its JUnit XML."""

    exit_code: int
    seconds: float
    tests: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    failures: tuple[FailedTest, ...] = ()
    skips: tuple[str, ...] = ()
    output: str = ""
    timed_out: bool = False
    files: tuple[str, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> int:
        return self.tests - self.failed - self.errors - self.skipped

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    @property
    def no_tests(self) -> bool:
        return self.exit_code == 5

    def counts(self) -> str:
        """``"7 passed, 1 failed, 1 skipped"`` (the parts that are not zero)."""
        parts = [
            f"{n} {what}"
            for n, what in (
                (self.passed, "passed"),
                (self.failed, "failed"),
                (self.errors, "errors" if self.errors != 1 else "error"),
                (self.skipped, "skipped"),
            )
            if n
        ]
        return ", ".join(parts) or "no tests ran"

    def details(self) -> dict[str, Any]:
        return {
            "files": list(self.files),
            "exit_code": self.exit_code,
            "tests": self.tests,
            "passed": self.passed,
            "failed": self.failed,
            "errors": self.errors,
            "skipped": self.skipped,
            "failures": [f.__dict__ for f in self.failures],
            "skips": list(self.skips),
        }


def run_pytest(
    files: tuple[Path, ...],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
    junit: Path,
) -> PytestRun:
    """Run ``python -m pytest FILES`` in ``cwd`` and read its JUnit XML back."""
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        *(str(f) for f in files),
        f"--junitxml={junit}",
        "-o",
        "junit_family=xunit2",
        "-p",
        "no:cacheprovider",
        "--color=no",
        "-q",
        "-rfEs",
    ]
    shown = tuple(_relative(f, cwd) for f in files)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd,
            cwd=cwd,
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        out = _text(exc.stdout) + _text(exc.stderr)
        return PytestRun(
            exit_code=-1,
            seconds=time.perf_counter() - t0,
            output=out[-_OUTPUT_TAIL:],
            timed_out=True,
            files=shown,
        )
    seconds = time.perf_counter() - t0
    output = (proc.stdout + proc.stderr)[-_OUTPUT_TAIL:]
    parsed = _read_junit(junit)
    return PytestRun(
        exit_code=proc.returncode, seconds=seconds, output=output, files=shown, **parsed
    )


def _read_junit(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError:
        return {}
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    tests = failed = errors = skipped = 0
    failures: list[FailedTest] = []
    skips: list[str] = []
    for suite in suites:
        for case in suite.iter("testcase"):
            tests += 1
            name = _case_name(case)
            for kind in ("failure", "error"):
                node = case.find(kind)
                if node is not None:
                    failures.append(FailedTest(name, _message(node), kind))
            if case.find("error") is not None:
                errors += 1
            elif case.find("failure") is not None:
                failed += 1
            elif (node := case.find("skipped")) is not None:
                skipped += 1
                skips.append(f"{name}: {_first_lines(node.get('message') or '')}")
    return {
        "tests": tests,
        "failed": failed,
        "errors": errors,
        "skipped": skipped,
        "failures": tuple(failures),
        "skips": tuple(skips),
    }


def _message(node: ET.Element) -> str:
    """The failure's message; for a collection error, the error line of its traceback."""
    message = node.get("message") or ""
    lines = [line.strip() for line in (node.text or "").splitlines() if line.strip()]
    if lines and (not message or message == "collection failure"):
        errors = [line[1:].strip() for line in lines if line.startswith("E ")]
        last = errors[-1] if errors else lines[-1]
        message = f"{message}: {last}" if message else last
    return _first_lines(message)


def _case_name(case: ET.Element) -> str:
    classname = case.get("classname") or ""
    name = case.get("name") or "?"
    return f"{classname}::{name}" if classname else name


def _first_lines(text: str, limit: int = 600) -> str:
    one = " ".join(line.strip() for line in text.strip().splitlines()[:6] if line.strip())
    return one if len(one) <= limit else one[: limit - 1] + "…"


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def _text(value: str | bytes | None) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value
