"""``mlpilot ci`` as a CI system runs it: a subprocess in a fresh project, offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

MLPILOT = str(Path(sys.executable).parent / "mlpilot")


def mlpilot(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLPILOT_", "MLFLOW_"))}
    env.update(MLFLOW_DISABLE_TELEMETRY="true", MLPILOT_ACTOR="e2e", COLUMNS="160")
    return subprocess.run(
        [MLPILOT, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def test_ci_fails_without_registering_then_passes_and_releases_once(tmp_path: Path) -> None:
    project = tmp_path / "shop"
    made = mlpilot("init", str(project), "--name", "e2e-ci", "--ci", "github", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert (project / ".github" / "workflows" / "mlpilot.yml").is_file()
    # The model tests run in tests/unit/ci (a pytest process costs ~20 s of imports); here
    # stage 5 checks the example's [ci] slice.
    (project / "tests" / "test_model.py").unlink()

    (project / "checks.py").write_text(
        "def enough_rows(frame):\n    assert len(frame) > 10_000, f'only {len(frame)} rows'\n"
    )
    check = 'ci.data_checks=["checks.py:enough_rows"]'
    failed = mlpilot("ci", "--release", "--set", check, "--json", cwd=project)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    report = json.loads(failed.stdout)
    assert [s["status"] for s in report["stages"]] == ["passed", "failed"] + ["skipped"] * 5
    assert report["stages"][1]["message"].endswith("checks.py:enough_rows: only 569 rows")
    assert report["stages"][-1]["message"] == "nothing was registered: the data tests stage failed"
    assert "Traceback" not in failed.stderr
    assert json.loads(mlpilot("models", "--json", cwd=project).stdout) == []

    out = project / "ci-out"
    passed = mlpilot(
        "ci", "--release", "--junit", str(out / "junit.xml"), "--summary", "summary.md", cwd=project
    )
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "mlpilot ci passed · e2e-ci" in passed.stdout
    for title in ("config and code", "data tests", "training", "model tests", "infrastructure"):
        assert f"✔ {title}" in passed.stdout
    assert "released as version 1 @challenger" in passed.stdout
    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    assert [c.get("name") for c in suite.iter("testcase")][-1] == "7. release"
    assert suite.get("failures") == "0"
    summary = (project / "summary.md").read_text(encoding="utf-8")
    assert summary.startswith("### ✅ mlpilot ci passed · e2e-ci")
    [version] = json.loads(mlpilot("models", "--json", cwd=project).stdout)
    assert version["aliases"] == ["challenger"]
    assert version["lineage"]["mlpilot.ci"] == "passed"

    usage = mlpilot("ci", "--release", "--sample", "100", cwd=project)
    assert usage.returncode == 2
    assert "drop --sample" in usage.stderr
