"""How the model runs and ships: containers, infrastructure, compute, serving, releases,
monitoring, retraining triggers and environments."""

from __future__ import annotations

import re
from collections.abc import Mapping

from mlpilot.assessment._repo._ci import commands
from mlpilot.assessment._repo._probe import (
    API_MANIFEST,
    LOADS_MODEL,
    Hints,
    PathRule,
    Probe,
    modules,
    patterns,
)
from mlpilot.assessment._repo._walk import CODE, JSON, OPS, YAMLS, tokens

__all__ = ["ENV_SUFFIXES", "LOOKED_FOR", "PATH_RULES", "PROBES", "env_name"]

_DOCKERFILE = r"(?:^|/)(?:Dockerfile[^/]*|[^/]*\.[dD]ockerfile|Containerfile)$"
_WEB_FRAMEWORKS = ("fastapi", "flask", "quart", "sanic", "starlette")


def _yaml(fact: str, *rows: tuple[str, str, Hints, tuple[str, ...]]) -> tuple[Probe, ...]:
    """Probes of ``fact`` over YAML files: each row's detail, regex, hints, and the regexes the
    file must match as well."""
    return tuple(
        probe
        for detail, regex, hints, requires in rows
        for probe in patterns(fact, [YAMLS], (detail, regex, hints), requires=requires)
    )


PROBES: tuple[Probe, ...] = (
    # -- containers, infrastructure, compute ------------------------------------------------
    *patterns(
        "container.image",
        [OPS],
        ("Dockerfile builds an image", r"^[ \t]*FROM[ \t]+\S", "from"),
        path=_DOCKERFILE,
        flags=re.I,
    ),
    *patterns(
        "container.image",
        [YAMLS],
        ("Docker Compose services", r"^services:", "services:"),
        path=r"(?:^|/)(?:docker-)?compose[^/]*\.ya?ml$",
    ),
    *_yaml(
        "infra.code", ("Kubernetes manifest", r"^kind:[ \t]*[A-Z]\w*", "kind:", (API_MANIFEST,))
    ),
    *patterns(
        "infra.code",
        [YAMLS, JSON],
        (
            "CloudFormation template",
            r"\bAWSTemplateFormatVersion\b|^Transform:[ \t]*[\"']?AWS::Serverless",
            ("awstemplateformatversion", "aws::serverless"),
        ),
    ),
    *patterns(
        "infra.code",
        [JSON],
        (
            "Azure Resource Manager template",
            r"schemas\.management\.azure\.com/schemas/[^\"\n]*deploymentTemplate",
            "deploymenttemplate",
        ),
    ),
    *modules(
        "compute.managed",
        ("Ray", "ray"),
        ("Azure ML", ("azure.ai.ml", "azureml")),
        ("SageMaker", "sagemaker"),
        ("Vertex AI", ("google.cloud.aiplatform", "vertexai")),
        ("Kubeflow", "kfp"),
        ("Databricks", ("databricks", "databricks_cli")),
    ),
    *patterns(
        "compute.managed",
        [CODE],
        (
            "an Airflow operator runs the work on a cluster",
            r"\b(?:SparkSubmitOperator|Databricks\w*Operator|EmrAddStepsOperator|"
            r"KubernetesPodOperator|SageMaker\w*Operator)\b",
            "operator",
        ),
        needs=("airflow",),
    ),
    *_yaml(
        "compute.managed",
        (
            "Kubernetes job",
            r"^kind:[ \t]*(?:Job|CronJob|RayCluster|RayJob|PyTorchJob|TFJob|MPIJob|XGBoostJob|"
            r"Workflow|SparkApplication)\b",
            "kind:",
            (API_MANIFEST,),
        ),
        (
            "Ray cluster configuration",
            r"^(?:available_node_types|head_node_type):",
            "node_type",
            (r"^cluster_name:",),
        ),
        (
            "Azure ML job specification",
            r"\$schema:[^\n]*azureml[^\n]*(?:command|pipeline|sweep)Job",
            "azureml",
            (),
        ),
    ),
    *patterns(
        "compute.managed",
        [OPS],
        (
            "submits a managed job",
            r"\b(?:spark-submit|gcloud[ \t]+ai[ \t]+custom-jobs|az[ \t]+ml[ \t]+job)\b",
            ("spark-submit", "custom-jobs", "ml job"),
        ),
    ),
    # -- serving ----------------------------------------------------------------------------
    *patterns(
        "serving.service",
        [CODE],
        (
            "prediction route",
            r"@[\w.]+\.(?:post|get|put|route|api_route)\(\s*[\"'][^\"'\n]*"
            r"(?:predict|score|infer|invocations|classify|forecast)",
            ("predict", "score", "infer", "invocations", "classify", "forecast"),
        ),
        at="line",
        needs=_WEB_FRAMEWORKS,
        flags=re.I,
    ),
    *patterns(
        "serving.service",
        [CODE],
        ("web app that loads a model", r"(?:FastAPI|Flask)\(", ("fastapi(", "flask(")),
        at="word",
        requires=[LOADS_MODEL],
    ),
    *modules(
        "serving.service",
        ("BentoML service", "bentoml"),
        ("KServe model server", "kserve"),
        ("Seldon Core model", "seldon_core"),
        ("Ray Serve deployment", "ray.serve"),
        ("model server", ("litserve", "mlserver")),
    ),
    *_yaml(
        "serving.service",
        (
            "model serving manifest",
            r"^kind:[ \t]*(?:InferenceService|SeldonDeployment|ServingRuntime)\b",
            "kind:",
            (API_MANIFEST,),
        ),
    ),
    *patterns(
        "serving.service",
        [OPS],
        (
            "serves the model with MLflow",
            r"\bmlflow[ \t]+models[ \t]+(?:serve|build-docker)\b",
            "mlflow",
        ),
        (
            "TorchServe",
            r"\b(?:torchserve|torch-model-archiver)\b",
            ("torchserve", "torch-model-archiver"),
        ),
        ("Triton Inference Server", r"\btritonserver\b", "tritonserver"),
        ("serves the model with mlpilot", r"\bmlpilot[ \t]+(?:serve|up)\b", "mlpilot"),
    ),
    # -- releases ---------------------------------------------------------------------------
    *_yaml(
        "release.progressive",
        ("KServe canary", r"\bcanaryTrafficPercent[ \t]*:", "canarytrafficpercent", ()),
        ("Argo Rollouts", r"^kind:[ \t]*Rollout\b", "kind:", (r"argoproj\.io",)),
        ("Flagger canary", r"^kind:[ \t]*Canary\b", "kind:", (r"flagger",)),
        (
            "Seldon traffic split",
            r"^[ \t]*-?[ \t]*traffic:[ \t]*\d",
            "traffic:",
            (r"\bSeldonDeployment\b",),
        ),
        (
            "Istio weighted routing",
            r"^[ \t]*-?[ \t]*weight:[ \t]*\d",
            "weight:",
            (r"^kind:[ \t]*VirtualService\b",),
        ),
    ),
    *patterns(
        "release.progressive",
        [CODE, YAMLS, JSON],
        (
            "SageMaker production variants with weights",
            r"\b(?:InitialVariantWeight|initial_weight)\b",
            ("initialvariantweight", "initial_weight"),
        ),
        requires=[r"(?i)production_?variants?"],
    ),
    *_yaml(
        "release.rollback",
        (
            "Argo Rollouts analysis aborts and rolls back a failing release",
            r"^[ \t]*-?[ \t]*analysis:",
            "analysis:",
            (r"^kind:[ \t]*Rollout\b", r"argoproj\.io"),
        ),
        (
            "Flagger analysis rolls back a failing canary",
            r"^[ \t]*analysis:",
            "analysis:",
            (r"^kind:[ \t]*Canary\b", r"flagger"),
        ),
    ),
    *commands(
        "release.rollback",
        (
            "rolls back",
            r"\b(?:mlpilot[ \t]+rollback|kubectl[ \t]+rollout[ \t]+undo|helm[ \t]+rollback)\b",
            ("rollback", "undo"),
        ),
        (
            "helm --atomic rolls back a failed upgrade",
            r"\bhelm[ \t]+(?:upgrade|install)\b[^\n]*--atomic\b",
            "--atomic",
        ),
    ),
    *patterns(
        "release.rollback",
        [CODE, YAMLS, JSON],
        (
            "automatic rollback configuration",
            r"\b(?:AutoRollbackConfiguration|auto_rollback_configuration)\b",
            ("autorollbackconfiguration", "auto_rollback_configuration"),
        ),
    ),
    # -- monitoring and retraining ----------------------------------------------------------
    *modules(
        "monitoring.config",
        ("model monitoring", ("evidently", "whylogs", "nannyml", "alibi_detect", "arize")),
        ("SageMaker Model Monitor", "sagemaker.model_monitor"),
    ),
    *patterns(
        "monitoring.config",
        [CODE],
        (
            "Vertex AI model monitoring",
            r"ModelDeploymentMonitoringJob\b",
            "modeldeploymentmonitoringjob",
        ),
    ),
    *_yaml(
        "monitoring.config",
        ("Prometheus alert rule", r"^[ \t]*-?[ \t]*alert:[ \t]*\S", "alert:", (r"^[ \t]*groups:",)),
        (
            "Prometheus Operator resource",
            r"^kind:[ \t]*(?:PrometheusRule|ServiceMonitor|PodMonitor|Alertmanager)\b",
            "kind:",
            (),
        ),
        ("Prometheus scrape configuration", r"^scrape_configs:", "scrape_configs:", ()),
    ),
    *patterns(
        "monitoring.config",
        [JSON],
        ("Grafana dashboard", r"\"panels\"[ \t]*:", '"panels"'),
        requires=[r"\"schemaVersion\""],
    ),
    *patterns(
        "retrain.triggers",
        [CODE],
        (
            "Airflow DAG on a schedule trains the model",
            r"schedule(?:_interval)?[ \t]*=[ \t]*(?!None\b)\S",
            "schedule",
        ),
        at="word",
        needs=("airflow",),
        requires=[r"(?i)train"],
    ),
    *patterns(
        "retrain.triggers",
        [CODE],
        (
            "Prefect deployment on a schedule trains the model",
            r"\b(?:cron|interval)[ \t]*=[ \t]*\S",
            ("cron", "interval"),
        ),
        needs=("prefect",),
        requires=[r"(?i)train"],
    ),
    *patterns(
        "retrain.triggers",
        [CODE],
        (
            "scheduled ML pipeline",
            r"\b(?:PipelineJobSchedule|create_schedule|create_recurring_run|PipelineSchedule)\b",
            ("pipelinejobschedule", "create_schedule", "create_recurring_run", "pipelineschedule"),
        ),
    ),
    *_yaml(
        "retrain.triggers",
        (
            "Kubernetes CronJob runs training",
            r"^kind:[ \t]*(?:CronJob|ScheduledWorkflow)\b",
            "kind:",
            (API_MANIFEST, r"(?i)train"),
        ),
    ),
    *patterns(
        "retrain.triggers",
        [YAMLS, JSON],
        ("scheduled (EventBridge) pipeline", r"\bScheduleExpression\b", "scheduleexpression"),
        requires=[r"(?i)pipeline|train"],
    ),
)

PATH_RULES: tuple[PathRule, ...] = (
    PathRule(
        "infra.code",
        "Terraform",
        suffixes=(".tf",),
        when=lambda file: file.rel.endswith(".tf.json"),
    ),
    PathRule("infra.code", "Helm chart", names=("Chart.yaml",)),
    PathRule("infra.code", "Pulumi project", names=("Pulumi.yaml", "Pulumi.yml")),
    PathRule("infra.code", "Bicep template", suffixes=(".bicep",)),
    PathRule("infra.code", "Kustomize", names=("kustomization.yaml", "kustomization.yml")),
    PathRule("infra.code", "AWS CDK app", names=("cdk.json",)),
    PathRule("infra.code", "Serverless Framework", names=("serverless.yml", "serverless.yaml")),
    PathRule(
        "compute.managed", "Databricks asset bundle", names=("databricks.yml", "databricks.yaml")
    ),
    PathRule("serving.service", "BentoML service", names=("bentofile.yaml", "bentofile.yml")),
    PathRule("serving.service", "Triton model configuration", names=("config.pbtxt",)),
    PathRule(
        "monitoring.config",
        "Prometheus configuration",
        names=("prometheus.yml", "prometheus.yaml", "alertmanager.yml", "alertmanager.yaml"),
    ),
)

# What each fact looked for, said when it is not met.
LOOKED_FOR: Mapping[str, str] = {
    "container.image": "looked for a Dockerfile, Containerfile or compose file",
    "infra.code": "looked for Terraform, Helm, Kubernetes manifests, Pulumi, Bicep, "
    "CloudFormation, Kustomize, CDK or Serverless files",
    "compute.managed": "looked for Ray, Kubernetes jobs, Azure ML, SageMaker, Vertex AI, "
    "Databricks, Spark jobs, Kubeflow or an mlpilot project",
    "serving.service": "looked for a prediction service (FastAPI/Flask predict route, BentoML, "
    "KServe, Seldon, TorchServe, mlflow models serve, an mlpilot project)",
    "release.progressive": "looked for canary/shadow/A-B releases (mlpilot [release], KServe, "
    "Argo Rollouts, Flagger, Seldon, Istio, SageMaker variants)",
    "release.rollback": "looked for automatic rollback (mlpilot [release], Argo/Flagger "
    "analysis, a CI rollback step)",
    "monitoring.config": "looked for monitoring configuration (mlpilot [monitor], evidently, "
    "whylogs, nannyml, alibi-detect, Prometheus, Grafana)",
    "retrain.triggers": "looked for retraining triggers (mlpilot [[trigger]], a scheduled CI "
    "or pipeline that trains)",
    "env.multiple": "looked for two named CI environments or staging and production configuration",
}

_STAGING_TOKENS = frozenset(
    {"staging", "stage", "stg", "preprod", "uat", "qa", "dev", "development"}
)
_PROD_TOKENS = frozenset({"prod", "production", "prd"})
ENV_SUFFIXES = frozenset(
    {".yml", ".yaml", ".json", ".toml", ".env", ".tfvars", ".ini", ".cfg", ".conf", ".properties"}
)


def env_name(
    rel: str,
    parents: tuple[str, ...],
    name: str,
    staging: str | None,
    production: str | None,
) -> tuple[str | None, str | None]:
    """The first staging-like and production-like paths, given ``rel`` next (not in tests)."""
    if {"tests", "test"} & {part.lower() for part in parents}:
        return staging, production
    names = set(tokens(name))
    if staging is None and names & _STAGING_TOKENS:
        staging = rel
    if production is None and names & _PROD_TOKENS:
        production = rel
    return staging, production
