"""Maturity assessment: score a project on the Google, Azure, MLAB and pathway maturity models.

The models are data (``criteria/*.toml``): each criterion quotes the sentence of the model it
encodes and carries a rule over *facts*. Collectors decide the facts from evidence: the
repository's files and git history, the live mlpilot stores when the folder is an mlpilot
project (runs, versions, releases, monitors, the audit chain), and answers for what no file can
show. Unknown stays unknown: it is neither met nor failed, and a report says which answers
would decide it. :func:`assess` does it all; :func:`render_html` writes the offline report.
"""

from mlpilot.assessment._answers import Asker
from mlpilot.assessment._assess import Assessment, assess, open_questions, parse_floors
from mlpilot.assessment._catalog import (
    MODEL_IDS,
    Criterion,
    MaturityModel,
    Question,
    load_models,
    load_questions,
)
from mlpilot.assessment._facts import FACTS, Evidence, Fact, FactSet
from mlpilot.assessment._html import render_html, write_html
from mlpilot.assessment._score import CriterionResult, DimensionResult, ModelResult

__all__ = [
    "FACTS",
    "MODEL_IDS",
    "Asker",
    "Assessment",
    "Criterion",
    "CriterionResult",
    "DimensionResult",
    "Evidence",
    "Fact",
    "FactSet",
    "MaturityModel",
    "ModelResult",
    "Question",
    "assess",
    "load_models",
    "load_questions",
    "open_questions",
    "parse_floors",
    "render_html",
    "write_html",
]
