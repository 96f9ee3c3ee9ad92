"""CI configurations: which files they are, what their command lines run (``ci.*`` facts), and
the environments they deploy to."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from mlpilot.assessment._repo._probe import Probe, Row, patterns
from mlpilot.assessment._repo._walk import CI, YAML, File

__all__ = ["CI_LABELS", "LOOKED_FOR", "PROBES", "ci_kind", "commands", "environments"]

CI_LABELS: Mapping[str, str] = {
    "github": "GitHub Actions workflow",
    "gitlab": "GitLab CI",
    "jenkins": "Jenkinsfile",
    "azure": "Azure Pipelines",
    "circleci": "CircleCI",
    "bitbucket": "Bitbucket Pipelines",
    "travis": "Travis CI",
    "script": "CI script",
    "other": "CI pipeline",
}
_CI_OTHER = frozenset(
    {".buildkite/pipeline.yml", "cloudbuild.yaml", "cloudbuild.yml", ".drone.yml", "buildspec.yml"}
)


def ci_kind(file: File) -> str | None:
    """Which CI system ``file`` configures (a key of :data:`CI_LABELS`); None when none."""
    rel, name = file.rel, file.name
    yaml = file.suffix in YAML
    if rel.startswith(".github/workflows/") and yaml:
        return "github"
    if rel == ".gitlab-ci.yml" or (rel.startswith(".gitlab/ci/") and yaml):
        return "gitlab"
    if name == "Jenkinsfile" or name.startswith("Jenkinsfile."):
        return "jenkins"
    if yaml and (
        (name.startswith("azure-pipelines") and "/" not in rel)
        or rel.startswith((".azure-pipelines/", ".azuredevops/"))
    ):
        return "azure"
    if rel in (".circleci/config.yml", ".circleci/config.yaml"):
        return "circleci"
    if rel in ("bitbucket-pipelines.yml", "bitbucket-pipelines.yaml"):
        return "bitbucket"
    if rel == ".travis.yml":
        return "travis"
    if rel.startswith(".ci/"):
        return "script"
    if rel in _CI_OTHER:
        return "other"
    return None


# Start of a CI command line: not a step's name or description.
_CMD = r"^(?![ \t]*-?[ \t]*(?:name|description|display_?name|displayName)[ \t]*:)[^\n]*?"


def commands(fact: str, *rows: Row, flags: int = 0) -> tuple[Probe, ...]:
    """Probes of ``fact`` for CI command lines: each row's regex after :data:`_CMD`."""
    return patterns(
        fact, [CI], *((detail, _CMD + regex, hints) for detail, regex, hints in rows), flags=flags
    )


# ci.schedule: the CI systems (kinds), the regex, its hint, what the file must match as well.
_SCHEDULES: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("github", r"^[ \t]*-?[ \t]*cron:[ \t]*\S", "cron", (r"^[ \t]*schedule:",)),
    ("gitlab", r"^[ \t]*(?:only:[^\n]*\bschedules\b|-[ \t]*schedules[ \t]*$)", "schedules", ()),
    ("gitlab", r"\$CI_PIPELINE_SOURCE[ \t]*==[ \t]*[\"']schedule[\"']", "schedule", ()),
    ("jenkins", r"\b(?:parameterized)?[cC]ron[ \t]*\(", "cron", ()),
    ("azure", r"^[ \t]*schedules:", "schedules", (r"\bcron:",)),
    ("circleci bitbucket travis other", r"^[ \t]*-?[ \t]*cron:[ \t]*\S", "cron", ()),
)

PROBES: tuple[Probe, ...] = (
    *commands(
        "ci.tests",
        ("runs pytest", r"\bpy\.?test\b", ("pytest", "py.test")),
        ("runs the tests with make", r"\bmake[ \t]+(?:-\S+[ \t]+)*(?:test|tests|check)\b", "make"),
        ("runs tox", r"(?:^|[\s;&|\"'`(])tox(?:[ \t]|$|[\"'`)])", "tox"),
        ("runs nox", r"(?:^|[\s;&|\"'`(])nox(?:[ \t]|$|[\"'`)])", "nox"),
        ("runs unittest", r"\bpython[\d.]*[ \t]+-m[ \t]+unittest\b", "unittest"),
        ("runs the tests under coverage", r"\bcoverage[ \t]+run\b", "coverage"),
        (
            "runs `mlpilot ci` (its stage 3 runs the project's tests)",
            r"\bmlpilot[ \t]+ci\b",
            "mlpilot",
        ),
    ),
    *commands(
        "ci.training",
        (
            "runs `mlpilot ci` (its stage 4 trains and gates a candidate model)",
            r"\bmlpilot[ \t]+ci\b",
            "mlpilot",
        ),
        ("runs the mlpilot pipeline", r"\bmlpilot[ \t]+(?:run|retrain)\b", "mlpilot"),
        ("runs the DVC pipeline", r"\bdvc[ \t]+(?:repro|exp[ \t]+run)\b", "dvc"),
        ("runs the Kedro pipeline", r"\bkedro[ \t]+run\b", "kedro"),
        ("runs a training script", r"\bpython[\d.]*[ \t]+(?:-\w+[ \t]+)*\S*train\S*", "train"),
        ("runs a ZenML pipeline", r"\bzenml[ \t]+pipeline[ \t]+run\b", "zenml"),
        (
            "runs a Metaflow flow",
            r"(?:\bmetaflow\b|\bpython[\d.]*[ \t]+\S*flow\S*\.py[ \t]+run\b)",
            "flow",
        ),
        ("runs an MLflow project", r"\bmlflow[ \t]+run\b", "mlflow"),
        ("trains with make", r"\bmake[ \t]+train\b", "train"),
    ),
    *commands(
        "ci.deploy",
        (
            "runs `mlpilot ci --release` (a passing candidate is registered as challenger)",
            r"\bmlpilot[ \t]+ci\b[^\n]*--release\b",
            "--release",
        ),
        ("releases with mlpilot", r"\bmlpilot[ \t]+(?:release|promote)\b", "mlpilot"),
        (
            "deploys to Kubernetes",
            r"\bkubectl\b[^\n]*\b(?:apply|set[ \t]+image|rollout[ \t]+restart)\b",
            "kubectl",
        ),
        ("deploys with Helm", r"\bhelm[ \t]+(?:upgrade|install)\b", "helm"),
        ("pushes an image", r"\bdocker[ \t]+(?:image[ \t]+)?push\b", "push"),
    ),
    *patterns("ci.deploy", [CI], ("pushes an image", r"^[ \t]*push:[ \t]*true\b", "push")),
    *commands(
        "ci.deploy", ("deploys to Azure ML", r"\baz[ \t]+ml\b[^\n]*\b(?:deploy|create)\b", "az")
    ),
    *commands("ci.deploy", ("deploys with SageMaker", r"\bsagemaker\b", "sagemaker"), flags=re.I),
    *commands(
        "ci.deploy",
        ("deploys to Google Cloud", r"\bgcloud\b[^\n]*\bdeploy\b", "gcloud"),
        ("deploys with Serverless", r"\b(?:serverless|sls)[ \t]+deploy\b", "deploy"),
        ("applies Terraform", r"\bterraform[ \t]+apply\b", "terraform"),
    ),
    *patterns(
        "ci.deploy",
        [CI],
        (
            "has a step named deploy/release",
            r"(?i)^[ \t]*-?[ \t]*(?:name|displayName):[ \t]*[\"']?(?:deploy|release)",
            ("deploy", "release"),
        ),
        ("has a deploy job", r"^[ \t]*deploy[\w-]*:[ \t]*$", "deploy"),
        ("has a deploy stage", r"(?i)^[ \t]*-?[ \t]*stage:[ \t]*[\"']?(?:deploy|release)", "stage"),
        ("has a deployment job", r"^[ \t]*-[ \t]*deployment:", "deployment"),
    ),
    *(
        probe
        for kinds, regex, hints, requires in _SCHEDULES
        for probe in patterns(
            "ci.schedule",
            [CI],
            ("runs on a schedule", regex, hints),
            requires=requires,
            kinds=kinds.split(),
        )
    ),
)

# What each fact looked for, said when it is not met.
LOOKED_FOR: Mapping[str, str] = {
    "ci.config": "looked for GitHub Actions, GitLab CI, Jenkins, Azure Pipelines, CircleCI, "
    "Bitbucket, Travis or .ci/ configuration",
    "ci.tests": "looked for a CI line running pytest, make test, tox, nox, unittest or mlpilot ci",
    "ci.training": "looked for a CI line training the model (mlpilot ci/run, dvc repro, kedro "
    "run, python ...train, zenml, metaflow, mlflow run)",
    "ci.deploy": "looked for a CI line or job that releases or deploys (mlpilot ci --release, "
    "mlpilot promote, kubectl apply, helm upgrade, docker push, cloud deploys, a deploy job)",
    "ci.schedule": "looked for a cron schedule in the CI configuration",
}

_ENV_LINE = re.compile(r"^([ \t]*)environment:[ \t]*(.*?)[ \t]*$")
_ENV_NAME = re.compile(r"^[ \t]*name:[ \t]*(.*?)[ \t]*$")
_ENV_VALUE = re.compile(r"[\w.\-]+")


def environments(text: str) -> Iterable[tuple[str, int]]:
    """The named environments a CI file deploys to (``environment: x`` or ``name: x`` below)."""
    lines = text.split("\n")
    for index, raw in enumerate(lines):
        match = _ENV_LINE.match(raw)
        if match is None:
            continue
        value, number = match.group(2), index + 1
        if not value:
            indent = len(match.group(1))
            for offset, below in enumerate(lines[index + 1 : index + 6], start=index + 2):
                stripped = below.strip()
                if stripped and len(below) - len(below.lstrip()) <= indent:
                    break
                named = _ENV_NAME.match(below)
                if named is not None:
                    value, number = named.group(1), offset
                    break
        value = value.strip("'\"")
        if value and "$" not in value and "{" not in value and _ENV_VALUE.fullmatch(value):
            yield value, number
