"""Facts: what the collectors found, each met / not met / unknown with the evidence behind it.

A criterion's rule (see :mod:`mlpilot.assessment._rules`) names facts from :data:`FACTS`; the
collectors (the repository, the live mlpilot stores, the answers) are the only code that decides
them. A fact no collector could decide is *unknown* (``None``), never assumed either way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FACTS", "Evidence", "Fact", "FactSet"]


FACTS: Mapping[str, str] = {
    # -- the repository -------------------------------------------------------------------
    "vcs.git": "the folder is a git repository with at least one commit",
    "vcs.tags": "the git history has tags (versions are named)",
    "ci.config": "a CI configuration exists (GitHub Actions, GitLab CI, Jenkins, Azure Pipelines, "
    "CircleCI, .ci/)",
    "ci.tests": "the CI configuration runs the tests",
    "ci.training": "the CI configuration trains or validates the model (the ML pipeline is built "
    "and tested in CI)",
    "ci.deploy": "the CI configuration releases or deploys the model or the service",
    "ci.schedule": "the CI configuration runs on a schedule (cron)",
    "tests.unit": "the repository has unit tests",
    "tests.integration": "the repository has integration or end-to-end tests",
    "tests.data": "the repository tests the data (schemas, expectations, data tests)",
    "tests.model": "the repository tests the model (quality, invariance, slices, no regression)",
    "code.notebooks": "the repository has notebooks",
    "code.modular": "the ML code lives in importable modules, not only in notebooks",
    "code.standards": "coding standards are enforced (linter, formatter or pre-commit config)",
    "code.templates": "ML solutions start from a template (mlpilot init, cookiecutter, copier)",
    "docs.readme": "the project is documented (a README or a docs folder)",
    "pipeline.definition": "an orchestrated ML pipeline is defined (mlpilot, Kedro, ZenML, "
    "Kubeflow, Airflow, Metaflow, DVC, Prefect)",
    "data.automated": "the pipeline reads its data from a configured source by itself",
    "data.validation": "the data is validated against a schema (pandera, Great Expectations, "
    "mlpilot schema)",
    "data.versioned": "the data is versioned (DVC, lakeFS, mlpilot data snapshots)",
    "tracking.experiments": "experiments are tracked (MLflow, Weights & Biases, mlpilot)",
    "registry.models": "trained models are registered and versioned in a model registry",
    "container.image": "the service or the pipeline is containerised (Dockerfile, compose)",
    "infra.code": "infrastructure is code (Terraform, Helm, Kubernetes manifests, Pulumi, "
    "Bicep, CloudFormation)",
    "compute.managed": "training runs on managed compute (a pipeline runner, a cluster, a cloud "
    "ML service)",
    "serving.service": "the model is served as a prediction service (an API)",
    "serving.versioned": "the scoring/serving code is version controlled",
    "release.progressive": "releases are progressive: canary, shadow or A/B with analysis",
    "release.rollback": "a bad release is rolled back automatically",
    "monitoring.config": "production monitoring is configured (drift, performance, alerts)",
    "retrain.triggers": "retraining is triggered automatically (schedule, new data, drift, "
    "performance)",
    "env.multiple": "separate environments are defined (staging and production)",
    # -- the live mlpilot stores ------------------------------------------------------------
    "live.runs": "pipeline runs are recorded",
    "live.lineage": "runs record their lineage: data snapshot, schema and code version",
    "live.snapshots": "the exact training data of each run is kept as a snapshot",
    "live.versions": "model versions are registered with pinned digests",
    "live.gates": "candidates pass a quality gate before registration",
    "live.serving": "predictions are served and logged",
    "live.feedback": "labelled feedback is collected for served predictions",
    "live.monitors": "monitors evaluate the production data and performance",
    "live.releases": "model releases are recorded",
    "live.releases_automatic": "a model was released (promoted) by the autopilot without a hand",
    "live.online_analysis": "a release was decided by online analysis of live traffic",
    "live.retrain_automatic": "retraining was started by an automatic trigger",
    "live.rollbacks": "a bad model was rolled back automatically",
    "live.zero_downtime": "no request failed while versions changed",
    "live.audit": "the audit trail is complete and its hash chain verifies",
}
"""Every fact a criterion may name, with what it means when met."""


@dataclass(frozen=True)
class Evidence:
    """One thing found: where (a file and line, a store table, an answer) and what."""

    source: str  # "repo", "store", "answers"
    detail: str
    path: str | None = None
    line: int | None = None
    ref: str | None = None  # an id in the store: a run, a version, a release, an audit event

    def where(self) -> str:
        if self.path is not None:
            return f"{self.path}:{self.line}" if self.line else self.path
        return self.ref or self.source

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "detail": self.detail,
            "path": self.path,
            "line": self.line,
            "ref": self.ref,
        }


@dataclass(frozen=True)
class Fact:
    """A decided (``True``/``False``) or unknown (``None``) fact, with its evidence."""

    id: str
    met: bool | None
    evidence: tuple[Evidence, ...] = ()
    note: str | None = None  # why it is unknown or not met, when that helps

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "met": self.met,
            "note": self.note,
            "evidence": [item.as_dict() for item in self.evidence],
        }


@dataclass
class FactSet:
    """The facts of one assessment. A later collector's decided fact wins over an unknown one,
    and a met fact over a not-met one (the live stores can show what files cannot)."""

    facts: dict[str, Fact] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # problems met while collecting

    def add(self, fact: Fact) -> None:
        known = self.facts.get(fact.id)
        if known is None or _rank(fact) > _rank(known):
            self.facts[fact.id] = fact
        elif _rank(fact) == _rank(known) and fact.met:
            self.facts[fact.id] = Fact(
                fact.id, fact.met, known.evidence + fact.evidence, known.note or fact.note
            )

    def extend(self, facts: Iterable[Fact]) -> None:
        for fact in facts:
            self.add(fact)

    def get(self, fact_id: str) -> Fact:
        return self.facts.get(fact_id) or Fact(fact_id, None, note="no collector decided it")


def _rank(fact: Fact) -> int:
    return {None: 0, False: 1, True: 2}[fact.met]
