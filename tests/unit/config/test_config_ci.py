"""The ``[ci]`` section: defaults, the file, the environment, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import write_project

from mlpilot.config import load_settings
from mlpilot.errors import ConfigError

CI = """
[ci]
latency_budget_ms = 80
model_tests = ["checks/model_*.py"]
data_checks = ["checks.py:no_duplicates"]

[ci.slices.large]
where = "`mean radius` > 15"
metrics = { recall = ">= 0.9" }
min_rows = 5
"""


def test_defaults(tmp_path: Path) -> None:
    ci = load_settings(write_project(tmp_path / "p"), env={}).ci
    assert ci.tests == "tests"
    assert ci.model_tests == ("tests/test_model*.py",)
    assert ci.slices == {}
    assert ci.latency_budget_ms == 250.0


def test_file_and_environment(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", extra=CI)
    ci = load_settings(project, env={"MLPILOT_CI__LATENCY_BUDGET_MS": "120"}).ci
    assert ci.latency_budget_ms == 120
    assert ci.model_tests == ("checks/model_*.py",)
    assert ci.data_checks == ("checks.py:no_duplicates",)
    assert ci.slices["large"].where == "`mean radius` > 15"
    assert ci.slices["large"].metrics == {"recall": ">= 0.9"}
    assert ci.slices["large"].min_rows == 5


def test_a_bad_slice_rule_names_the_key_and_line(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", extra=CI.replace('">= 0.9"', '"high"'))
    with pytest.raises(ConfigError, match=r"mlpilot.toml:\d+: setting 'ci.slices.large.metrics'"):
        load_settings(project, env={})
