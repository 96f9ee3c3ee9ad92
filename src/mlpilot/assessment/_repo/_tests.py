"""The project's tests: which files are test files, what they test (``tests.*`` facts)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from mlpilot.assessment._repo._findings import Findings
from mlpilot.assessment._repo._probe import LOADS_MODEL, MLPILOT_SCHEMA, Probe, modules, patterns
from mlpilot.assessment._repo._text import At, Text, line_at
from mlpilot.assessment._repo._walk import TEST, File, tokens

__all__ = ["LOOKED_FOR", "PROBES", "TestCount", "is_test"]

_TEST_DEF = re.compile(r"def[ \t]+test\w*[ \t]*\(")
_TEST_FUNCTION: tuple[str, At] = (r"def[ \t]+test\w*[ \t]*\(", "line")
_INTEGRATION_TOKENS = frozenset(
    {"integration", "integrations", "e2e", "end2end", "functional", "acceptance"}
)


def is_test(file: File) -> bool:
    """Whether ``file`` is a Python test file (under ``tests/``/``test/``, or named so)."""
    if file.suffix != ".py":
        return False
    name = file.name
    return (
        name.startswith("test_")
        or name.endswith("_test.py")
        or name == "conftest.py"
        or "tests" in file.dirs
        or "test" in file.dirs
    )


PROBES: tuple[Probe, ...] = (
    *patterns(
        "tests.integration",
        [TEST],
        ("tests the app through TestClient", r"TestClient\(", "testclient("),
        (
            "calls the service with an HTTP client",
            r"httpx\.(?:AsyncClient|Client|get|post)\(",
            "httpx.",
        ),
        ("calls the service with an HTTP client", r"AsyncClient\(", "asyncclient("),
        ("calls the service with an HTTP client", r"requests\.(?:get|post|put)\(", "requests."),
        at="word",
        requires=[_TEST_FUNCTION],
    ),
    *patterns(
        "tests.integration",
        [TEST],
        (
            "has integration-marked tests",
            r"@pytest\.mark\.(?:integration|e2e|end_to_end)\b",
            "pytest.mark.",
        ),
    ),
    *modules("tests.integration", ("uses testcontainers", "testcontainers"), scopes=[TEST]),
    *modules(
        "tests.data",
        ("validates data with pandera", "pandera"),
        ("checks data with Great Expectations", "great_expectations"),
        scopes=[TEST],
    ),
    *patterns(
        "tests.data",
        [TEST],
        ("checks data with Great Expectations", r"gx\.\w", "gx."),
        ("runs deepchecks' data integrity suite", r"data_integrity\(", "data_integrity("),
        at="word",
    ),
    *modules("tests.data", ("checks data against mlpilot's schema", MLPILOT_SCHEMA), scopes=[TEST]),
    *patterns(
        "tests.data",
        [TEST],
        (
            "has a data test",
            r"def[ \t]+test\w*(?i:schema|data_?quality|data_?valid|data_?integrity|data_?checks?|"
            r"missing_values|null_rate|expectation)\w*[ \t]*\(",
            ("schema", "data", "missing_values", "null_rate", "expectation"),
        ),
        at="line",
    ),
    *patterns(
        "tests.model",
        [TEST],
        (
            "tests the model with mlpilot's candidate/champion/holdout fixtures",
            r"def[ \t]+test\w*[ \t]*\([^)]*\b(?:candidate|champion|holdout)\b",
            ("candidate", "champion", "holdout"),
        ),
        at="line",
    ),
    *modules(
        "tests.model", ("uses mlpilot.testing's model checks", "mlpilot.testing"), scopes=[TEST]
    ),
    *patterns(
        "tests.model",
        [TEST],
        (
            "asserts on a model metric",
            r"assert\b[^\n]*\b(?:accuracy|f1|auc|roc_auc|rmse|mae|mse|r2|precision|recall|"
            r"log_loss|score)\w*\b[^\n]*?(?:>=?|<=?)[ \t]*\(?[ \t]*-?\d",
            "assert",
        ),
        at="line",
        requires=[LOADS_MODEL],
    ),
    *patterns(
        "tests.model",
        [TEST],
        ("runs deepchecks' model evaluation suite", r"model_evaluation\(", "model_evaluation("),
        at="word",
    ),
    *modules("tests.model", ("scans the model with Giskard", "giskard"), scopes=[TEST]),
)

# What each fact looked for, said when it is not met.
LOOKED_FOR: Mapping[str, str] = {
    "tests.unit": "looked for test functions in tests/, test/, test_*.py or *_test.py",
    "tests.integration": "looked for integration/e2e test folders or tests calling the app "
    "(TestClient, HTTP clients, integration markers)",
    "tests.data": "looked for data tests (pandera, Great Expectations, deepchecks, schema or "
    "data-quality tests, mlpilot [ci] data_checks)",
    "tests.model": "looked for model tests (mlpilot candidate/champion/holdout fixtures, "
    "mlpilot.testing, metric assertions on a fitted or loaded model)",
}


@dataclass
class _Tally:
    """Test functions in some test files, and where the first one is."""

    files: int = 0
    tests: int = 0
    first: tuple[str, int] | None = None

    def add(self, tests: int, first: tuple[str, int]) -> None:
        self.files += 1
        self.tests += tests
        self.first = self.first or first

    def report(self, found: Findings, fact: str, what: str) -> None:
        if self.first is not None:
            found.add(fact, f"{self.tests} {what} in {self.files} file(s)", *self.first)


@dataclass
class TestCount:
    """Test functions in unit and in integration/e2e test files."""

    unit: _Tally = field(default_factory=_Tally)
    integration: _Tally = field(default_factory=_Tally)

    def count(self, file: File, text: Text) -> None:
        # Not checked against string literals: a test writing test files is rare, and the
        # count only sizes the evidence.
        defs = [m.start() for m in _TEST_DEF.finditer(text.text) if text.line_start(m.start())]
        if not defs:
            return
        first = (file.rel, line_at(text.text, defs[0])[0])
        names = {t for part in (*file.dirs, file.name) for t in tokens(part)}
        tally = self.integration if names & _INTEGRATION_TOKENS else self.unit
        tally.add(len(defs), first)

    def report(self, found: Findings) -> None:
        self.unit.report(found, "tests.unit", "test function(s)")
        self.integration.report(found, "tests.integration", "integration/e2e test function(s)")
