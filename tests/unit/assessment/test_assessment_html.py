"""The offline HTML report of an assessment: self-contained, escaped, every status distinct."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import pytest
from tests._browser import rendered_dom

from mlpilot.assessment import Assessment, Evidence, Fact, FactSet, MaturityModel
from mlpilot.assessment._html import render_html, write_html
from mlpilot.assessment._score import score

XSS = "<script>alert(1)</script>"


def make_model() -> MaturityModel:
    return MaturityModel.model_validate(
        {
            "id": "toy",
            "name": "Toy maturity",
            "source": "A test model",
            "level": [
                {"number": 1, "name": "Initial"},
                {"number": 2, "name": "Repeatable"},
                {"number": 3, "name": "Automated"},
            ],
            "dimension": [
                {"id": "code", "name": f"Code {XSS}"},
                {"id": "people", "name": "People", "answers_only": True},
            ],
            "criterion": [
                {
                    "id": "toy.code.2.git",
                    "level": 2,
                    "dimension": "code",
                    "seed": "Code is under version control",
                    "rule": "vcs.git",
                    "next_step": "Put the code in git.",
                    "feature": "mlpilot init",
                },
                {
                    "id": "toy.code.3.deploy",
                    "level": 3,
                    "dimension": "code",
                    "seed": "Releases are automatic",
                    "rule": "ci.deploy",
                    "next_step": "Let CI release the model.",
                    "feature": "mlpilot ci",
                },
                {
                    "id": "toy.people.2.teams",
                    "level": 2,
                    "dimension": "people",
                    "seed": "Data scientists and engineers work as one team",
                    "rule": "answer.teams",
                    "next_step": "Bring the teams together.",
                },
                {
                    "id": "toy.people.3.tests",
                    "level": 3,
                    "dimension": "people",
                    "seed": "The team writes tests",
                    "rule": "tests.unit",
                    "next_step": "Write unit tests.",
                },
            ],
        }
    )


def make_assessment(tmp: Path = Path("/srv/project")) -> Assessment:
    facts = FactSet(notes=[f"the store could not be read: {XSS}"])
    facts.add(
        Fact(
            "vcs.git",
            True,
            (Evidence("repo", f"42 commits {XSS}", path=f"src/{XSS}.py", line=7),),
        )
    )
    facts.add(Fact("ci.deploy", False, note="no CI step deploys the model"))
    facts.add(Fact("answer.teams", None, note="nobody answered"))
    facts.add(Fact("tests.unit", True, (Evidence("repo", "pytest tests", path="tests"),)))
    return Assessment(tmp, live=False, results=[score(make_model(), facts)], facts=facts)


@pytest.fixture(scope="module")
def page() -> str:
    return render_html(make_assessment())


def figure_specs(page: str) -> list[dict[str, Any]]:
    start = page.index('<script type="application/json" id="mlpilot-figures">')
    text = page[start:].split(">", 1)[1].split("</script>", 1)[0]
    specs: list[dict[str, Any]] = json.loads(text)
    return specs


def criterion_tag(page: str, criterion_id: str) -> str:
    """The opening tag of a criterion's item and its badge."""
    found = re.search(
        rf'<li class="criterion [^"]*" id="criterion-1-{re.escape(criterion_id)}">'
        r'<div class="head"><span class="badge [^"]*"[^>]*>[^<]*</span>',
        page,
    )
    assert found, criterion_id
    return found.group(0)


def outside_scripts(page: str) -> str:
    return re.sub(r"<script[^>]*>.*?</script>", "", page, flags=re.S)


# --------------------------------------------------------------------------- the page


def test_the_page_loads_nothing_from_the_network(page: str) -> None:
    for load in ('src="http', "src='http", "src=//", 'src="//'):
        assert load not in page
    markup = outside_scripts(page)
    assert "http://" not in markup
    assert "https://" not in markup
    for load in ('href="http', "href='http", "<link", "@import", "url("):
        assert load not in markup
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page)
    assert csp
    assert "default-src 'none'" in csp.group(1)
    assert re.findall(r"<script[^>]*>", page) == [
        "<script>",
        '<script type="application/json" id="mlpilot-figures">',
        "<script>",
    ]
    assert page.count("plotly.js v") == 1  # the bundle is inlined once


def test_the_header_says_what_was_assessed_when_and_how(page: str) -> None:
    header = page[page.index("<header>") : page.index("</header>")]
    assert "/srv/project" in header
    assert "no: only the files and the git history were read" in header
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", header)
    problems = page[page.index('id="problems"') :].split("</section>", 1)[0]
    assert "the store could not be read: " + html.escape(XSS) in problems


def test_a_live_assessment_says_the_stores_were_read() -> None:
    assessment = make_assessment()
    assessment.live = True
    page = render_html(assessment)
    assert "yes: the folder is an mlpilot project and its stores were read" in page
    assert "only the files" not in page


def test_the_summary_gives_the_level_and_what_answers_would_reach(page: str) -> None:
    summary = page[page.index('id="summary"') :].split("</section>", 1)[0]
    assert "<td>1 — Initial</td>" in summary
    assert "level 2 — Repeatable if the unanswered questions are yes" in summary


def test_the_radar_has_one_axis_per_dimension_and_the_level_names(page: str) -> None:
    specs = figure_specs(page)
    assert [spec["id"] for spec in specs] == ["figure-1"]
    assert page.count('id="figure-1" data-figure') == 1
    figure = specs[0]["figure"]
    proven, possible = figure["data"]
    assert proven["type"] == possible["type"] == "scatterpolar"
    code = f"Code {html.escape(XSS, quote=False)}"
    assert proven["theta"] == [code, "People", code]  # closed polygon
    assert proven["r"] == [2, 1, 2]
    assert possible["r"] == [2, 3, 2]
    assert possible["line"]["dash"] == "dash"
    assert proven["line"]["dash"] != "dash"
    radial = figure["layout"]["polar"]["radialaxis"]
    assert radial["range"] == [1, 3]
    assert radial["tickvals"] == [1, 2, 3]
    assert radial["ticktext"] == ["1 Initial", "2 Repeatable", "3 Automated"]


def test_hostile_strings_are_escaped_everywhere(page: str) -> None:
    assert XSS not in page
    assert "<script>alert" not in page
    markup = outside_scripts(page)
    assert html.escape(f"src/{XSS}.py:7") in markup  # the evidence's where()
    assert html.escape(f"42 commits {XSS}") in markup  # its detail
    assert html.escape(f"Code {XSS}") in markup  # a dimension name
    # nothing in the figure specs can close their script element
    start = page.index('id="mlpilot-figures">') + len('id="mlpilot-figures">')
    assert "<" not in page[start:].split("</script>", 1)[0]


def test_a_hostile_folder_name_is_escaped(tmp_path: Path) -> None:
    page = render_html(make_assessment(tmp_path / XSS))
    assert XSS not in page
    assert html.escape(str(tmp_path / XSS)) in page


def test_met_not_met_and_unknown_have_distinct_badges(page: str) -> None:
    met = criterion_tag(page, "toy.code.2.git")
    not_met = criterion_tag(page, "toy.code.3.deploy")
    unknown = criterion_tag(page, "toy.people.2.teams")
    assert 'class="criterion met"' in met
    assert 'class="badge status-met"' in met
    assert met.endswith(">met</span>")
    assert 'class="criterion not-met"' in not_met
    assert 'class="badge status-not-met"' in not_met
    assert not_met.endswith(">not met</span>")
    # unknown is not failure: its own class, badge and label
    assert 'class="criterion unknown"' in unknown
    assert 'class="badge status-unknown"' in unknown
    assert unknown.endswith(">unknown</span>")
    styles = []
    for style in ("status-met", "status-not-met", "status-unknown"):
        rule = re.search(rf"\.badge\.{style} \{{([^}}]+)\}}", page)
        assert rule, style
        styles.append(rule.group(1))
    assert len(set(styles)) == 3  # three distinct looks


def test_each_criterion_quotes_its_seed_rule_and_evidence(page: str) -> None:
    start = page.index('id="criterion-1-toy.code.2.git"')
    item = page[start : page.index('id="criterion-1-toy.code.3.deploy"')]
    assert "“Code is under version control”" in item
    assert "Rule: <code>vcs.git</code>" in item
    assert html.escape(f"src/{XSS}.py:7") in item
    assert "the folder is a git repository with at least one commit" in item
    start = page.index('id="criterion-1-toy.code.3.deploy"')
    item = page[start : page.index("<h4>People</h4>")]
    assert "no CI step deploys the model" in item  # a not-met fact's note
    start = page.index('id="criterion-1-toy.people.2.teams"')
    item = page[start : page.index('id="criterion-1-toy.people.3.tests"')]
    assert "nobody answered" in item  # an unknown fact's note
    assert "Decided by answering: <code>teams</code>" in item


def test_criteria_are_grouped_by_dimension_then_level(page: str) -> None:
    criteria = page[page.index("<h3>Criteria</h3>") : page.index("<h3>Next steps</h3>")]
    order = re.findall(r"<h4>([^<]+)</h4>|<h5>Level (\d)|id=\"criterion-1-([^\"]+)\"", criteria)
    flat = [next(part for part in match if part) for match in order]
    assert flat == [
        html.escape(f"Code {XSS}"),
        "2",
        "toy.code.2.git",
        "3",
        "toy.code.3.deploy",
        "People",
        "2",
        "toy.people.2.teams",
        "3",
        "toy.people.3.tests",
    ]


def test_the_dimensions_table_gives_levels_and_needed_answers(page: str) -> None:
    dims = page[page.index('<table class="dimensions">') :].split("</table>", 1)[0]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", dims)[1:]
    cells = [re.findall(r"<td>(.*?)</td>", r) for r in rows]
    assert cells[0][1:4] == ["2 — Repeatable", "—", "—"]
    assert cells[1] == [
        "People",
        "1 — Initial",
        "3 — Automated",
        "<code>teams</code>",
        "decided by answers alone",
    ]


def test_the_next_steps_give_the_step_and_the_feature(page: str) -> None:
    steps = page[page.index("<h3>Next steps</h3>") :].split("</table>", 1)[0]
    assert "Let CI release the model." in steps
    assert "<code>mlpilot ci</code>" in steps
    assert "Bring the teams together." in steps
    assert "Put the code in git." not in steps  # met already
    assert "Write unit tests." not in steps  # not the next level of its dimension


def test_the_evidence_section_indexes_every_decided_fact(page: str) -> None:
    index = page[page.index('<section id="evidence">') :].split("</section>", 1)[0]
    decided = re.findall(r'<tr id="fact-([^"]+)">', index)
    assert decided == ["ci.deploy", "tests.unit", "vcs.git"]
    assert html.escape(f"src/{XSS}.py:7") in index
    assert "pytest tests" in index
    unknown = index[index.index("<h3>Still unknown</h3>") :]
    assert "answer.teams" in unknown
    # the criteria link their decided facts to the index
    assert 'href="#fact-vcs.git"' in page
    assert 'href="#fact-answer.teams"' not in page


def test_unknowns_that_are_no_questions_are_not_promised_by_answers() -> None:
    assessment = make_assessment()
    facts = FactSet()
    facts.extend(assessment.facts.facts.values())
    facts.facts["answer.teams"] = Fact("answer.teams", True)
    facts.facts["ci.deploy"] = Fact("ci.deploy", None, note="the CI log could not be read")
    page = render_html(Assessment(Path("/p"), False, [score(make_model(), facts)], facts))
    summary = page[page.index('id="summary"') :].split("</section>", 1)[0]
    assert "<td>2 — Repeatable</td>" in summary
    assert "level 3 — Automated if the unknown criteria turn out met" in summary
    assert "unanswered questions" not in summary


def test_a_model_at_its_top_has_no_next_steps_and_nothing_possible() -> None:
    facts = FactSet()
    for fact_id in ("vcs.git", "ci.deploy", "answer.teams", "tests.unit"):
        facts.add(Fact(fact_id, True))
    page = render_html(Assessment(Path("/p"), False, [score(make_model(), facts)], facts))
    summary = page[page.index('id="summary"') :].split("</section>", 1)[0]
    assert "<td>3 — Automated</td><td>—</td>" in summary
    assert "Every dimension stands at the top level of this model." in page
    assert "status-not-met" not in outside_scripts(page).split("</style>", 1)[1]
    assert "status-unknown" not in outside_scripts(page).split("</style>", 1)[1]
    assert "Problems met while collecting" not in page


# --------------------------------------------------------------------------- writing


def test_write_html_writes_the_page_atomically(tmp_path: Path) -> None:
    target = tmp_path / "reports" / "assessment.html"
    written = write_html(target, make_assessment())
    assert written == target
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in target.parent.iterdir()] == ["assessment.html"]
    # again: the file is replaced, nothing else is left behind
    write_html(target, make_assessment())
    assert [p.name for p in target.parent.iterdir()] == ["assessment.html"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "assessment.html"
    target.write_text("old report", encoding="utf-8")

    def fail(self: Path, other: Path) -> Path:
        raise OSError("disk full")

    monkeypatch.setattr(Path, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_html(target, make_assessment())
    monkeypatch.undo()
    assert target.read_text(encoding="utf-8") == "old report"
    assert [p.name for p in tmp_path.iterdir()] == ["assessment.html"]


@pytest.mark.browser
def test_the_radar_is_drawn_offline_in_chromium(page: str, tmp_path: Path) -> None:
    dom, log = rendered_dom(page, tmp_path)
    assert dom.count('data-rendered="true"') == len(figure_specs(page)), log[-2000:]
    assert 'data-error="true"' not in dom
    assert dom.count('class="main-svg"') >= 1
    assert "data-pwned" not in dom  # the hostile strings stayed text
    assert "Content Security Policy" not in log  # nothing was refused
