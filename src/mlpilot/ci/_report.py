"""The verdict of ``mlpilot ci``: one result per stage, written as JUnit XML (so any CI shows
the stages as tests) and as a Markdown summary (for a pull-request comment)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

StageStatus = Literal["passed", "failed", "skipped"]

STAGES: tuple[tuple[str, str], ...] = (
    ("config", "config and code"),
    ("data", "data tests"),
    ("pipeline_tests", "pipeline tests"),
    ("training", "training"),
    ("model_tests", "model tests"),
    ("infrastructure", "infrastructure check"),
)
"""The stages, in the order they run: ``(key, title)``."""

RELEASE = ("release", "release")
"""The step after the stages with ``--release``: register the candidate as challenger."""

_MARK = {"passed": "✅", "failed": "❌", "skipped": "⏭️"}
# Characters XML 1.0 cannot hold (test output may carry control codes).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_MAX_OUTPUT = 20_000


@dataclass(frozen=True)
class StageResult:
    """One stage's verdict: ``message`` is one line for people; ``details`` is structured data
    (anomalies, failed tests, latencies, gate checks); ``output`` is captured text (a pytest
    run's output, a traceback from the project's code)."""

    key: str
    title: str
    status: StageStatus
    seconds: float = 0.0
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    output: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CiReport:
    """Every stage's result (stages after a failure are ``skipped``), and what was released."""

    project: str | None
    project_dir: Path
    started_at: datetime
    seconds: float
    stages: tuple[StageResult, ...]
    sample: int | None = None
    release: bool = False
    candidate: dict[str, Any] | None = None
    released_version: int | None = None
    config_error: bool = False
    junit: Path | None = None
    summary: Path | None = None

    @property
    def ok(self) -> bool:
        """Whether no stage failed."""
        return all(s.status != "failed" for s in self.stages)

    @property
    def failed(self) -> StageResult | None:
        """The first failed stage, if any."""
        return next((s for s in self.stages if s.status == "failed"), None)

    @property
    def exit_code(self) -> int:
        """0 when every stage passed or was skipped for a reason; 2 when the project file or a
        setting is wrong; 1 when any other stage failed."""
        if self.ok:
            return 0
        return 2 if self.config_error else 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "project_dir": str(self.project_dir),
            "started_at": self.started_at.isoformat(),
            "seconds": self.seconds,
            "ok": self.ok,
            "exit_code": self.exit_code,
            "sample": self.sample,
            "release": self.release,
            "candidate": self.candidate,
            "released_version": self.released_version,
            "junit": str(self.junit) if self.junit else None,
            "summary": str(self.summary) if self.summary else None,
            "stages": [s.to_dict() for s in self.stages],
        }


# ------------------------------------------------------------------------------ JUnit XML


def junit_xml(report: CiReport) -> ET.ElementTree:
    """One ``testsuite`` with one ``testcase`` per stage: ``failure`` or ``skipped`` as due."""
    counts = {status: sum(s.status == status for s in report.stages) for status in _MARK}
    total = str(len(report.stages))
    name = f"mlpilot ci · {report.project or report.project_dir.name}"
    root = ET.Element(
        "testsuites",
        name="mlpilot ci",
        tests=total,
        failures=str(counts["failed"]),
        errors="0",
        skipped=str(counts["skipped"]),
        time=f"{report.seconds:.3f}",
    )
    suite = ET.SubElement(
        root,
        "testsuite",
        name=name,
        tests=total,
        failures=str(counts["failed"]),
        errors="0",
        skipped=str(counts["skipped"]),
        time=f"{report.seconds:.3f}",
        timestamp=report.started_at.isoformat(timespec="seconds"),
    )
    props = ET.SubElement(suite, "properties")
    for key, value in (
        ("project_dir", str(report.project_dir)),
        ("sample", "" if report.sample is None else str(report.sample)),
        ("release", str(report.release).lower()),
        ("digest", (report.candidate or {}).get("digest") or ""),
        (
            "released_version",
            "" if report.released_version is None else str(report.released_version),
        ),
    ):
        ET.SubElement(props, "property", name=key, value=_xml_text(value))
    for number, stage in enumerate(report.stages, 1):
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"mlpilot.ci.{stage.key}",
            name=f"{number}. {stage.title}",
            time=f"{stage.seconds:.3f}",
        )
        if stage.status == "failed":
            failure = ET.SubElement(
                case, "failure", message=_xml_text(stage.message[:1000]), type="StageFailed"
            )
            failure.text = _xml_text(_details_text(stage))
        elif stage.status == "skipped":
            ET.SubElement(case, "skipped", message=_xml_text(stage.message[:1000]))
        if stage.output:
            out = ET.SubElement(case, "system-out")
            out.text = _xml_text(stage.output[-_MAX_OUTPUT:])
    tree = ET.ElementTree(root)
    ET.indent(tree)
    return tree


def write_junit(report: CiReport, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    junit_xml(report).write(path, encoding="utf-8", xml_declaration=True)
    return path


# ------------------------------------------------------------------------ Markdown summary


def summary_markdown(report: CiReport) -> str:
    """A Markdown verdict: a headline, a table of stages, the candidate, and each failure."""
    project = report.project or report.project_dir.name
    failed = report.failed
    if failed is None:
        head = f"### ✅ mlpilot ci passed · {project}"
    else:
        head = f"### ❌ mlpilot ci failed at **{failed.title}** · {project}"
    mode = f"on a sample of {report.sample} rows" if report.sample else "on all the data"
    lines = [head, "", f"{len(report.stages)} stages {mode}, {report.seconds:.1f} s.", ""]
    lines += ["| | stage | result | time |", "|:-:|---|---|--:|"]
    for number, s in enumerate(report.stages, 1):
        took = f"{s.seconds:.1f} s" if s.status != "skipped" or s.seconds else ""
        lines.append(f"| {_MARK[s.status]} | {number}. {s.title} | {_cell(s.message)} | {took} |")
    if report.candidate:
        c = report.candidate
        metrics = " · ".join(f"{k} {v:.4f}" for k, v in sorted(c.get("metrics", {}).items()))
        lines += [
            "",
            f"**Candidate** `sha256:{str(c.get('digest', ''))[:16]}…` · trained on "
            f"{c.get('train_rows')} rows · {metrics}",
        ]
    if report.released_version is not None:
        lines += ["", f"**Released** as version {report.released_version} `@challenger`."]
    elif report.release and failed is not None:
        lines += ["", "**Nothing was registered**: a stage failed."]
    for s in report.stages:
        if s.status != "failed":
            continue
        lines += ["", f"#### {_MARK['failed']} {s.title}", "", s.message]
        extra = _details_markdown(s)
        if extra:
            lines += ["", extra]
        if s.output:
            tail = s.output[-4000:].replace("```", "'''")
            lines += ["", "<details><summary>output</summary>", "", "```", tail.rstrip(), "```"]
            lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


def write_summary(report: CiReport, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(summary_markdown(report), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------ helpers


def _details_text(stage: StageResult) -> str:
    lines = [stage.message]
    for item in _detail_items(stage):
        lines.append(f"- {item}")
    return "\n".join(lines)


def _details_markdown(stage: StageResult) -> str:
    return "\n".join(f"- {_escape(item)}" for item in _detail_items(stage))


def _detail_items(stage: StageResult) -> list[str]:
    """The listed reasons of a failed stage: anomalies, failed tests, checks, problems."""
    d = stage.details
    items: list[str] = []
    for a in d.get("anomalies", [])[:20]:
        items.append(f"{a['column']}: {a['kind']} (expected {a['expected']}; found {a['found']})")
    for t in d.get("failures", [])[:20]:
        items.append(f"{t['name']}: {t['message']}")
    for c in d.get("checks", []):
        if not c.get("passed", True):
            items.append(str(c.get("detail")))
    for p in d.get("problems", [])[:20]:
        items.append(str(p))
    return items


def _cell(text: str) -> str:
    one_line = " ".join(text.split())
    if len(one_line) > 300:
        one_line = one_line[:297] + "…"
    return _escape(one_line).replace("|", "\\|")


def _escape(text: str) -> str:
    return text.replace("<", "&lt;").replace(">", "&gt;")


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("?", text)
