"""'mlpilot assess' in process: the report, --json, --html, --min-level, answers, bad input."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from mlpilot.assessment import Question, load_questions
from mlpilot.cli import _assess_cmds, main

NOTEBOOK = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "notebooks"
    root.mkdir()
    (root / "explore.ipynb").write_text(NOTEBOOK)
    return root


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_the_report_shows_each_models_level_criteria_evidence_and_next_steps(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["assess", str(folder), "--no-input", "--model", "azure"]) == 0
    out = _flat(capsys.readouterr().out)
    assert "Azure MLOps maturity" in out
    assert "level 0 — No MLOps" in out
    assert "Model creation" in out
    assert "not met" in out
    assert "unknown" in out  # the people's questions, unanswered
    assert "Next steps" in out
    assert "is not a git repository" in out  # the note on what could not be read


def test_json_has_every_model_and_the_facts_with_their_evidence(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["assess", str(folder), "--no-input", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [m["id"] for m in result["models"]] == ["google", "azure", "mlab", "pathway"]
    assert result["facts"]["code.notebooks"]["evidence"][0]["path"] == "explore.ipynb"
    assert result["facts"]["vcs.git"]["met"] is False
    azure = next(m for m in result["models"] if m["id"] == "azure")
    people = next(d for d in azure["dimensions"] if d["id"] == "people")
    assert people["answers_only"] is True
    assert people["needs_answers"]
    assert azure["next_steps"]


def test_html_writes_a_self_contained_report(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "out" / "maturity.html"
    assert main(["assess", str(folder), "--no-input", "--brief", "--html", str(report)]) == 0
    text = report.read_text()
    assert "Content-Security-Policy" in text
    assert "explore.ipynb" in text
    assert f"HTML report: {report}" in _flat(capsys.readouterr().err)


def test_min_level_exits_1_below_the_floor_and_0_at_it(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["assess", str(folder), "--no-input", "--brief", "--min-level", "mlab=1"]) == 0
    capsys.readouterr()
    code = main(["assess", str(folder), "--no-input", "--brief", "--min-level", "google=1"])
    assert code == 1
    err = _flat(capsys.readouterr().err)
    assert "Below the required level: Google" in err
    assert "level 0, below the required 1" in err


def test_answers_from_a_file_decide_the_questions(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = tmp_path / "answers.toml"
    answers.write_text("[answers]\ndata_team = true\n")
    assert main(["assess", str(folder), "--json", "--answers", str(answers)]) == 0
    facts = json.loads(capsys.readouterr().out)["facts"]
    assert facts["answer.data_team"]["met"] is True
    assert facts["answer.data_team"]["evidence"][0]["line"] == 2


def test_questions_lists_the_ids_an_answers_file_may_use(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["assess", "--questions", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {q["id"] for q in listed} == set(load_questions())


def test_at_a_terminal_the_open_questions_are_asked_once_before_collecting(
    folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asked: list[str] = []

    def ask(out: object, question: Question) -> bool | None:
        asked.append(question.id)
        return True if question.id == "data_team" else None

    monkeypatch.setattr(_assess_cmds, "_ask", ask)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert main(["assess", str(folder), "--model", "azure", "--brief"]) == 0
    assert "data_team" in asked
    assert len(asked) == len(set(asked))
    assert "questions decide what no file shows" in _flat(capsys.readouterr().err)
    asked.clear()
    assert main(["assess", str(folder), "--model", "azure", "--brief", "--no-input"]) == 0
    assert asked == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{missing}"], "does not exist; pass the folder of the project"),
        (["{file}"], "is a file, not a folder"),
        (["{folder}", "--model", "gartner"], "There is no maturity model 'gartner'"),
        (["{folder}", "--min-level", "azure"], "is not MODEL=LEVEL"),
        (["{folder}", "--min-level", "google=7"], "has levels 0 to 2"),
        (["{folder}", "--answers", "{missing}"], "does not exist. Pass an existing TOML file"),
        (["{folder}", "--answers", "{bad_answers}"], "'no_such_question' is not a question"),
        (["{folder}", "--answers", "{typed_answers}"], "must be true or false, not 'yes'"),
    ],
)
def test_bad_input_exits_2_with_a_message_naming_the_problem(
    folder: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "bad.toml").write_text("[answers]\nno_such_question = true\n")
    (tmp_path / "typed.toml").write_text("[answers]\ndata_team = 'yes'\n")
    paths = {
        "missing": tmp_path / "nope",
        "file": tmp_path / "file.txt",
        "folder": folder,
        "bad_answers": tmp_path / "bad.toml",
        "typed_answers": tmp_path / "typed.toml",
    }
    argv = ["assess", *(a.format(**paths) for a in args), "--no-input"]
    assert main(argv) == 2
    err = _flat(capsys.readouterr().err)
    assert "Assessment error" in err
    assert message in err
    assert "Traceback" not in err
