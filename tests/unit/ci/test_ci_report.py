"""The verdict files of ``mlpilot ci``: JUnit XML any CI can read, and a Markdown summary."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

from mlpilot.ci import (
    RELEASE,
    STAGES,
    CiReport,
    StageResult,
    summary_markdown,
    write_junit,
    write_summary,
)


def _report(*, failed_at: int | None = 1, release: bool = True) -> CiReport:
    stages = []
    for i, (key, title) in enumerate(STAGES):
        if failed_at is None or i < failed_at:
            stages.append(StageResult(key, title, "passed", 1.25, f"{title} fine | ok"))
        elif i == failed_at:
            stages.append(
                StageResult(
                    key,
                    title,
                    "failed",
                    0.5,
                    "the data breaks schema abc in 2 way(s): mean radius: out_of_range",
                    {
                        "anomalies": [
                            {
                                "column": "mean radius",
                                "kind": "out_of_range",
                                "expected": "within [6.98, 28.11]",
                                "found": "3 values above, e.g. 900.0",
                            }
                        ],
                        "failures": [
                            {"name": "tests.test_x::test_y", "message": "assert 1 == 2 <x>"}
                        ],
                    },
                    "output with a control code \x1b[31m and \x00 a NUL",
                )
            )
        else:
            stages.append(StageResult(key, title, "skipped", 0.0, "not run: the x stage failed"))
    if release:
        stages.append(StageResult(*RELEASE, "skipped", 0.0, "nothing was registered"))
    return CiReport(
        project="demo",
        project_dir=Path("/tmp/demo"),
        started_at=datetime(2026, 11, 30, 12, 0, tzinfo=UTC),
        seconds=12.5,
        stages=tuple(stages),
        sample=2000,
        release=release,
        candidate={"digest": "ab" * 32, "metrics": {"roc_auc": 0.99}, "train_rows": 455},
    )


def test_junit_has_one_testcase_per_stage_with_failure_and_skips(tmp_path: Path) -> None:
    path = write_junit(_report(), tmp_path / "out" / "junit.xml")
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    [suite] = root.findall("testsuite")
    assert suite.get("name") == "mlpilot ci · demo"
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("7", "1", "5")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [
        "1. config and code",
        "2. data tests",
        "3. pipeline tests",
        "4. training",
        "5. model tests",
        "6. infrastructure check",
        "7. release",
    ]
    assert cases[0].find("failure") is None
    assert cases[0].find("skipped") is None
    failure = cases[1].find("failure")
    assert failure is not None
    assert failure.get("message", "").startswith("the data breaks schema abc")
    assert "- mean radius: out_of_range (expected within [6.98, 28.11]" in (failure.text or "")
    out = cases[1].find("system-out")
    assert out is not None
    assert "\x00" not in (out.text or "")
    assert all(c.find("skipped") is not None for c in cases[2:])
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["sample"] == "2000"
    assert props["digest"] == "ab" * 32


def test_summary_is_markdown_for_a_pull_request(tmp_path: Path) -> None:
    text = write_summary(_report(), tmp_path / "summary.md").read_text(encoding="utf-8")
    assert text.startswith("### ❌ mlpilot ci failed at **data tests** · demo\n")
    assert "7 stages on a sample of 2000 rows, 12.5 s." in text
    assert "| ✅ | 1. config and code | config and code fine \\| ok | 1.2 s |" in text
    assert "| ❌ | 2. data tests | the data breaks schema abc" in text
    assert "| ⏭️ | 3. pipeline tests | not run: the x stage failed |  |" in text
    assert "#### ❌ data tests" in text
    assert "- tests.test_x::test_y: assert 1 == 2 &lt;x&gt;" in text
    assert "<details><summary>output</summary>" in text
    assert "**Nothing was registered**: a stage failed." in text


def test_a_passing_report() -> None:
    report = _report(failed_at=None, release=False)
    assert report.ok
    assert report.exit_code == 0
    text = summary_markdown(report)
    assert text.startswith("### ✅ mlpilot ci passed · demo")
    assert "**Candidate** `sha256:abababababababab…` · trained on 455 rows · roc_auc 0.9900" in text
    assert "####" not in text


def test_exit_codes() -> None:
    assert _report().exit_code == 1
    config = CiReport(**{**_report().__dict__, "config_error": True})
    assert config.exit_code == 2
