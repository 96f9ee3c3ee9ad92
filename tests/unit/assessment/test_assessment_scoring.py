"""Rules in three-valued logic, the criteria files' checks, levels per dimension, answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlpilot.assessment import (
    FACTS,
    MODEL_IDS,
    Evidence,
    Fact,
    FactSet,
    MaturityModel,
    load_models,
    load_questions,
    parse_floors,
)
from mlpilot.assessment._answers import add_answers, read_answers
from mlpilot.assessment._rules import Rule, RuleSyntaxError
from mlpilot.assessment._score import score
from mlpilot.errors import AssessmentError

# -- rules ----------------------------------------------------------------------------------


def _values(**given: bool | None) -> Any:
    return lambda name: given.get(name.replace(".", "_"))


@pytest.mark.parametrize(
    ("text", "given", "expected"),
    [
        ("a.x and b.y", {"a_x": True, "b_y": True}, True),
        ("a.x and b.y", {"a_x": True, "b_y": None}, None),
        ("a.x and b.y", {"a_x": False, "b_y": None}, False),  # False decides an and
        ("a.x or b.y", {"a_x": True, "b_y": None}, True),  # True decides an or
        ("a.x or b.y", {"a_x": False, "b_y": None}, None),
        ("a.x or b.y", {"a_x": False, "b_y": False}, False),
        ("not a.x", {"a_x": None}, None),
        ("not a.x", {"a_x": False}, True),
        ("a.x and (b.y or not c.z)", {"a_x": True, "b_y": False, "c_z": False}, True),
        ("a.x and (b.y or not c.z)", {"a_x": True, "b_y": False, "c_z": True}, False),
    ],
)
def test_rules_decide_in_three_valued_logic(
    text: str, given: dict[str, bool | None], expected: bool | None
) -> None:
    assert Rule.parse(text).decide(_values(**given)) is expected


def test_a_rule_lists_the_names_it_reads_once() -> None:
    rule = Rule.parse("vcs.git and (ci.tests or vcs.git) and answer.teams")
    assert rule.names == ("vcs.git", "ci.tests", "answer.teams")


@pytest.mark.parametrize(
    "text", ["vcs.git +", "vcs.git == 1", "f(vcs.git)", "vcs.git and 1", "x[0]", "'met'"]
)
def test_a_rule_that_is_not_a_boolean_expression_over_names_is_refused(text: str) -> None:
    with pytest.raises(RuleSyntaxError, match=r"not an expression|only fact names"):
        Rule.parse(text)


# -- the criteria files ---------------------------------------------------------------------


def test_every_model_loads_with_its_levels_dimensions_and_known_facts() -> None:
    models = load_models()
    assert [m.id for m in models] == list(MODEL_IDS)
    levels = {m.id: (m.floor, m.top) for m in models}
    assert levels == {"google": (0, 2), "azure": (0, 4), "mlab": (1, 4), "pathway": (1, 4)}
    dims = {m.id: {d.id for d in m.dimensions} for m in models}
    assert {"people", "model_creation", "model_release", "application_integration"} <= dims["azure"]
    assert {"strategy", "architecture", "modeling", "processes", "governance"} <= dims["azure"]
    assert dims["mlab"] == {"data", "model", "code"}
    questions = load_questions()
    for model in models:
        for criterion in model.criteria:
            for name in criterion.parsed.names:
                if name.startswith("answer."):
                    assert name.removeprefix("answer.") in questions, criterion.id
                else:
                    assert name in FACTS, criterion.id


SOURCES = Path(__file__).parent / "sources"
"""The texts of the four maturity models, as published, that the criteria quote."""


def _source_text() -> str:
    texts = sorted(SOURCES.glob("*.txt"))
    assert len(texts) == 4, texts
    return " ".join(" ".join(path.read_text(encoding="utf-8").split()) for path in texts)


def test_every_criterion_quotes_its_seed_sentence_verbatim() -> None:
    text = _source_text()
    missing = [
        (criterion.id, criterion.seed)
        for model in load_models()
        for criterion in model.criteria
        if " ".join(criterion.seed.split()) not in text
    ]
    assert missing == []


def _model(**changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "id": "tiny",
        "name": "Tiny",
        "source": "a test",
        "level": [
            {"number": 0, "name": "none"},
            {"number": 1, "name": "some"},
            {"number": 2, "name": "all"},
        ],
        "dimension": [{"id": "code", "name": "Code"}, {"id": "people", "name": "People"}],
        "criterion": [
            {
                "id": "c1",
                "level": 1,
                "dimension": "code",
                "seed": "Version control",
                "rule": "vcs.git",
                "next_step": "git init",
            },
            {
                "id": "c2",
                "level": 2,
                "dimension": "code",
                "seed": "CI for the model",
                "rule": "ci.training and ci.tests",
                "next_step": "mlpilot ci",
            },
            {
                "id": "p1",
                "level": 1,
                "dimension": "people",
                "seed": "Teams talk",
                "rule": "answer.teams_integrated",
                "next_step": "talk",
            },
            {
                "id": "p2",
                "level": 2,
                "dimension": "people",
                "seed": "Teams are one",
                "rule": "answer.teams_integrated and docs.readme",
                "next_step": "merge",
            },
        ],
    }
    raw.update(changes)
    return raw


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {
                "criterion": [
                    {
                        "id": "x",
                        "level": 1,
                        "dimension": "nope",
                        "seed": "s",
                        "rule": "vcs.git",
                        "next_step": "n",
                    }
                ]
            },
            "unknown dimension 'nope'",
        ),
        (
            {
                "criterion": [
                    {
                        "id": "x",
                        "level": 0,
                        "dimension": "code",
                        "seed": "s",
                        "rule": "vcs.git",
                        "next_step": "n",
                    }
                ]
            },
            "not above the floor",
        ),
        (
            {
                "criterion": [
                    {
                        "id": "x",
                        "level": 1,
                        "dimension": "code",
                        "seed": "s",
                        "rule": "vcs.gti",
                        "next_step": "n",
                    }
                ]
            },
            "unknown fact 'vcs.gti'",
        ),
        (
            {
                "criterion": [
                    {
                        "id": "x",
                        "level": 1,
                        "dimension": "code",
                        "seed": "s",
                        "rule": "vcs.git +",
                        "next_step": "n",
                    }
                ]
            },
            "not an expression",
        ),
        ({"level": [{"number": 0, "name": "a"}, {"number": 2, "name": "b"}]}, "consecutive"),
    ],
)
def test_a_malformed_criteria_file_names_the_criterion_and_the_problem(
    change: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        MaturityModel.model_validate(_model(**change))


def test_a_dimension_without_a_criterion_at_some_level_is_refused() -> None:
    raw = _model()
    raw["criterion"] = [c for c in raw["criterion"] if c["id"] != "c2"]
    with pytest.raises(ValueError, match="dimension 'code' has no criterion at level"):
        MaturityModel.model_validate(raw)


def test_a_criteria_directory_whose_rule_reads_an_unknown_question_is_refused(
    tmp_path: Path,
) -> None:
    (tmp_path / "google.toml").write_text(
        'id = "google"\nname = "G"\nsource = "a test"\n'
        '[[level]]\nnumber = 0\nname = "manual"\n[[level]]\nnumber = 1\nname = "auto"\n'
        '[[dimension]]\nid = "people"\nname = "People"\n'
        '[[criterion]]\nid = "p1"\nlevel = 1\ndimension = "people"\nseed = "Teams talk"\n'
        'rule = "answer.no_such_question"\nnext_step = "talk"\n'
    )
    (tmp_path / "questions.toml").write_text(
        '[[question]]\nid = "teams_integrated"\ntext = "Do the teams work together?"\n'
    )
    with pytest.raises(AssessmentError, match=r"'answer\.no_such_question'.*not a question"):
        load_models(("google",), directory=tmp_path)


# -- scoring ----------------------------------------------------------------------------------


def _facts(**met: bool | None) -> FactSet:
    facts = FactSet()
    for key, value in met.items():
        evidence = (Evidence("repo", f"found {key}", path="x.py", line=3),) if value else ()
        facts.add(Fact(key.replace("__", "."), value, evidence))
    return facts


def test_a_dimension_reaches_the_highest_level_whose_criteria_and_all_below_are_met() -> None:
    model = MaturityModel.model_validate(_model())
    result = score(
        model,
        _facts(
            vcs__git=True,
            ci__training=True,
            ci__tests=True,
            answer__teams_integrated=True,
            docs__readme=True,
        ),
    )
    assert [(d.dimension.id, d.level, d.possible) for d in result.dimensions] == [
        ("code", 2, 2),
        ("people", 2, 2),
    ]
    assert result.level == 2
    assert result.next_steps() == []
    # a met level 2 does not count while level 1 is not met
    result = score(model, _facts(vcs__git=False, ci__training=True, ci__tests=True))
    assert result.dimension("code").level == 0
    assert [s.criterion.id for s in result.next_steps()] == ["c1", "p1"]


def test_unknown_is_neither_met_nor_failed_and_says_which_answers_would_decide() -> None:
    model = MaturityModel.model_validate(_model())
    facts = _facts(vcs__git=True, ci__training=True, ci__tests=True, docs__readme=True)
    facts.add(Fact("answer.teams_integrated", None, note="not answered"))
    result = score(model, facts)
    people = result.dimension("people")
    assert (people.level, people.possible) == (0, 2)
    assert people.needs_answers == ("teams_integrated",)
    assert [c.status for c in people.criteria] == ["unknown", "unknown"]
    assert (result.level, result.possible) == (0, 2)
    # an answered no fails the criterion and nothing is left possible
    facts.add(Fact("answer.teams_integrated", False))
    people = score(model, facts).dimension("people")
    assert (people.level, people.possible, people.needs_answers) == (0, 0, ())


def test_a_fact_set_keeps_the_strongest_finding_and_merges_evidence() -> None:
    facts = FactSet()
    facts.add(Fact("vcs.git", None, note="git is not installed"))
    facts.add(Fact("vcs.git", False, note="no repository"))
    assert facts.get("vcs.git").met is False
    facts.add(Fact("vcs.git", True, (Evidence("repo", "12 commits"),)))
    facts.add(Fact("vcs.git", False, note="later, weaker"))
    facts.add(Fact("vcs.git", True, (Evidence("store", "runs record commits"),)))
    fact = facts.get("vcs.git")
    assert fact.met is True
    assert [e.detail for e in fact.evidence] == ["12 commits", "runs record commits"]
    assert facts.get("never.collected").met is None


# -- answers and floors -----------------------------------------------------------------------


def test_an_answers_file_becomes_facts_with_the_file_and_line_as_evidence(tmp_path: Path) -> None:
    questions = load_questions()
    first, second = list(questions)[:2]
    path = tmp_path / "answers.toml"
    path.write_text(f"# our answers\n[answers]\n{first} = true\n\n{second} = false\n")
    facts = FactSet()
    add_answers(facts, questions, path=path)
    yes, no = facts.get(f"answer.{first}"), facts.get(f"answer.{second}")
    assert (yes.met, yes.evidence[0].path, yes.evidence[0].line) == (True, str(path), 3)
    assert (no.met, no.evidence[0].line) == (False, 5)
    others = [facts.get(f"answer.{key}") for key in list(questions)[2:]]
    assert others
    assert all(fact.met is None and fact.note == "not answered" for fact in others)


def test_asked_questions_are_only_the_needed_ones_and_a_skip_stays_unknown() -> None:
    questions = load_questions()
    first, second = list(questions)[:2]
    asked: list[str] = []

    def ask(question: Any) -> bool | None:
        asked.append(question.id)
        return True if question.id == first else None

    facts = FactSet()
    add_answers(facts, questions, ask=ask, needed={first, second})
    assert sorted(asked) == sorted([first, second])
    assert facts.get(f"answer.{first}").met is True
    assert facts.get(f"answer.{second}").met is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[answers]\nno_such_question = true\n", "'no_such_question' is not a question"),
        ('[answers]\n{first} = "yes"\n', "must be true or false, not 'yes'"),
        ("[answers]\n{first} = 1\n", "must be true or false, not 1"),
        ("{first} = true\n", "at the top level; put every answer in one \\[answers\\] table"),
        ("[answers\n", "is not valid TOML"),
    ],
)
def test_a_bad_answers_file_names_the_question_and_the_fix(
    tmp_path: Path, text: str, message: str
) -> None:
    questions = load_questions()
    path = tmp_path / "answers.toml"
    path.write_text(text.format(first=next(iter(questions))))
    with pytest.raises(AssessmentError, match=message):
        read_answers(path, questions)


def test_a_missing_answers_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AssessmentError, match=r"answers\.toml does not exist"):
        read_answers(tmp_path / "answers.toml", load_questions())


def test_min_levels_parse_and_are_checked_against_the_models() -> None:
    assert parse_floors(["azure=3", " MLAB=2"]) == {"azure": 3, "mlab": 2}
    with pytest.raises(AssessmentError, match="not MODEL=LEVEL"):
        parse_floors(["azure"])
    with pytest.raises(AssessmentError, match="not MODEL=LEVEL"):
        parse_floors(["gartner=2"])
    with pytest.raises(AssessmentError, match="has levels 0 to 2"):
        parse_floors(["google=3"])
    with pytest.raises(AssessmentError, match="has levels 1 to 4"):
        parse_floors(["mlab=0"])


def test_an_unreadable_or_invalid_criteria_directory_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "questions.toml").write_text('[[question]]\nid = "teams"\ntext = "Teams?"\n')
    (tmp_path / "google.toml").write_text("id = [broken\n")
    with pytest.raises(AssessmentError, match=r"google\.toml cannot be read"):
        load_models(("google",), directory=tmp_path)
    (tmp_path / "google.toml").write_text('id = "google"\nname = "G"\nsource = "s"\n')
    with pytest.raises(AssessmentError, match=r"google\.toml is invalid"):
        load_models(("google",), directory=tmp_path)
    (tmp_path / "questions.toml").write_text('[[question]]\nid = "Bad Id"\ntext = "?"\n')
    with pytest.raises(AssessmentError, match="The questions file is invalid"):
        load_questions(tmp_path)
