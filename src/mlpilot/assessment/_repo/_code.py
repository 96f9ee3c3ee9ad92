"""The project's code and what it does: ``code.*``, ``docs.*``, ``pipeline.*``, ``data.*``,
experiment tracking and the model registry."""

from __future__ import annotations

import re
from collections.abc import Mapping

from mlpilot.assessment._repo._mlpilot import PROJECT_FILE
from mlpilot.assessment._repo._probe import MLPILOT_SCHEMA, PathRule, Probe, modules, patterns
from mlpilot.assessment._repo._walk import CODE, CONF, JSON, OPS, PYSRC, YAML, YAMLS

__all__ = ["LOOKED_FOR", "PATH_RULES", "PROBES"]

_ORCHESTRATORS = ("airflow", "prefect", "zenml", "dagster", "kfp", "metaflow", "kedro")
_ML_LIBRARIES = (
    "sklearn",
    "xgboost",
    "lightgbm",
    "catboost",
    "tensorflow",
    "keras",
    "torch",
    "statsmodels",
    "transformers",
    "pytorch_lightning",
    "lightning",
    "jax",
    "flax",
    "prophet",
)
_KEDRO_CATALOG = re.compile(r"(?:^|/)conf/base/catalog[^/]*\.ya?ml$")

PROBES: tuple[Probe, ...] = (
    # -- code -------------------------------------------------------------------------------
    *modules("code.modular", ("module with ML code", _ML_LIBRARIES), scopes=[PYSRC]),
    *patterns(
        "code.modular",
        [PYSRC],
        (
            "module with ML code",
            r"def[ \t]+(?:train|fit|predict)\w*[ \t]*\(",
            ("def train", "def fit", "def predict"),
        ),
        at="line",
    ),
    *patterns(
        "code.standards",
        [CONF],
        (
            "linter/formatter configuration",
            r"^\[tool\.(?:ruff|black|isort|pylint|flake8|mypy|pyright|pycodestyle)\b",
            "[tool.",
        ),
    ),
    *patterns(
        "code.standards",
        [CONF],
        (
            "linter configuration",
            r"^\[(?:flake8|isort|pylint[^\]]*|mypy|pycodestyle|tool:isort)\]",
            "[",
        ),
        path=r"(?:^|/)(?:setup\.cfg|tox\.ini|mypy\.ini|\.mypy\.ini|\.isort\.cfg)$",
    ),
    # -- pipelines and data -----------------------------------------------------------------
    *patterns(
        "pipeline.definition", [CONF], ("Kedro project", r"^\[tool\.kedro\]", "[tool.kedro]")
    ),
    *modules("pipeline.definition", ("Kedro pipeline", "kedro.pipeline")),
    *patterns(
        "pipeline.definition",
        [CODE],
        ("ZenML pipeline", r"@pipeline\b", "@pipeline"),
        at="line",
        needs=("zenml",),
    ),
    *modules("pipeline.definition", ("Kubeflow pipeline", "kfp"), ("Airflow DAG", "airflow")),
    *patterns(
        "pipeline.definition",
        [CODE],
        ("Metaflow flow", r"FlowSpec\b", "flowspec"),
        at="word",
        needs=("metaflow",),
    ),
    *modules(
        "pipeline.definition",
        ("Prefect flow", "prefect.flow"),
        ("Dagster pipeline", "dagster"),
        ("TFX pipeline", "tfx"),
        ("SageMaker pipeline", "sagemaker.workflow"),
        ("Azure ML pipeline", "azure.ai.ml.dsl"),
    ),
    *patterns(
        "pipeline.definition",
        [YAMLS],
        ("DVC pipeline", r"^stages:", "stages:"),
        path=r"(?:^|/)dvc\.yaml$",
    ),
    *patterns(
        "data.automated",
        [YAMLS],
        ("a DVC stage declares its data dependencies", r"^[ \t]+deps:", "deps:"),
        requires=[r"^stages:"],
        path=r"(?:^|/)dvc\.yaml$",
    ),
    *patterns(
        "data.automated",
        [YAMLS],
        ("Kedro catalog dataset", r"^[ \t]+type:[ \t]*\S", "type:"),
        path=r"(?:^|/)conf/[^/]+/catalog[^/]*\.ya?ml$",
    ),
    *patterns(
        "data.automated",
        [CODE],
        (
            "an orchestrated pipeline loads its data",
            r"(?:read_csv|read_parquet|read_sql\w*|read_json|read_table|read_excel|load_dataset|"
            r"fetch_openml|load_data\w*)\(|spark\.read\b",
            ("read_", "load_", "fetch_openml", "spark.read"),
        ),
        needs=_ORCHESTRATORS,
    ),
    *modules(
        "data.validation",
        ("pandera schema", "pandera"),
        ("Great Expectations", "great_expectations"),
        ("TensorFlow Data Validation", "tensorflow_data_validation"),
        ("Soda checks", "soda"),
    ),
    *patterns(
        "data.validation",
        [CODE],
        ("deepchecks data integrity", r"data_integrity\(", "data_integrity("),
        at="word",
    ),
    *modules("data.validation", ("mlpilot's data schema", MLPILOT_SCHEMA)),
    *modules(
        "data.versioned",
        ("reads versioned data with dvc.api", "dvc.api"),
        ("lakeFS", ("lakefs", "lakefs_client", "lakefs_sdk")),
    ),
    *patterns("data.versioned", [CODE, OPS, CONF, JSON], ("lakeFS", r"\blakefs://", "lakefs://")),
    *patterns(
        "data.versioned", [CODE], ("Delta Lake table", r"DeltaTable\b", "deltatable"), at="word"
    ),
    # -- tracking and registry --------------------------------------------------------------
    *modules(
        "tracking.experiments",
        ("MLflow tracking", "mlflow"),
        ("Weights & Biases", "wandb"),
        ("ClearML", "clearml"),
        ("Neptune", "neptune"),
        ("Comet", "comet_ml"),
        ("DVCLive", "dvclive"),
        ("Aim", "aim.Run"),
    ),
    *patterns(
        "tracking.experiments",
        [CODE],
        (
            "MLflow tracking",
            r"mlflow\.(?:log_\w+|start_run|autolog|set_experiment|set_tracking_uri)\(",
            "mlflow.",
        ),
        at="word",
    ),
    *patterns(
        "tracking.experiments",
        [OPS, CONF],
        (
            "an MLflow tracking server is configured",
            r"\bMLFLOW_TRACKING_URI\b",
            "mlflow_tracking_uri",
        ),
    ),
    *patterns(
        "registry.models",
        [CODE],
        ("registers models in MLflow", r"mlflow\.register_model\(", "mlflow.register_model("),
        ("registers the logged model", r"registered_model_name[ \t]*=", "registered_model_name"),
        (
            "creates registered model versions",
            r"create_(?:model_version|registered_model)\(",
            ("create_model_version(", "create_registered_model("),
        ),
        at="word",
    ),
    *patterns(
        "registry.models",
        [CODE],
        (
            "names model versions",
            r"\b(?:set_registered_model_alias|transition_model_version_stage)\(",
            ("set_registered_model_alias(", "transition_model_version_stage("),
        ),
    ),
    *patterns(
        "registry.models",
        [CODE],
        (
            "logs model artifacts to W&B",
            r"\b(?:log_artifact|Artifact)\([^\n]*\btype[ \t]*=[ \t]*[\"']model[\"']",
            "model",
        ),
        needs=("wandb",),
    ),
    *patterns(
        "registry.models",
        [CODE],
        (
            "links models in the W&B registry",
            r"link_(?:artifact|model)\(",
            ("link_artifact(", "link_model("),
        ),
        at="word",
    ),
    *patterns(
        "registry.models",
        [CODE],
        (
            "registers models in Azure ML",
            r"models\.create_or_update\(",
            "models.create_or_update(",
        ),
    ),
    *patterns(
        "registry.models",
        [CODE],
        ("uploads models to the Vertex AI registry", r"Model\.upload\(", "model.upload("),
        needs=("google.cloud.aiplatform",),
    ),
    *patterns(
        "registry.models",
        [CODE, OPS, JSON],
        (
            "SageMaker model package group",
            r"\b(?:ModelPackageGroupName|model_package_group_name)\b",
            ("modelpackagegroupname", "model_package_group_name"),
        ),
    ),
)

PATH_RULES: tuple[PathRule, ...] = (
    PathRule(
        "code.standards",
        "linter/formatter configuration ({name})",
        names=(".flake8", ".pylintrc", "pylintrc", "ruff.toml", ".ruff.toml", ".isort.cfg"),
    ),
    PathRule(
        "code.standards",
        "pre-commit hooks",
        names=(".pre-commit-config.yaml", ".pre-commit-config.yml"),
    ),
    PathRule(
        "code.templates",
        "mlpilot project (mlpilot init writes it from a template)",
        names=(PROJECT_FILE,),
        top=True,
    ),
    PathRule("code.templates", "cookiecutter template", names=("cookiecutter.json",)),
    PathRule("code.templates", "copier template", names=("copier.yml", "copier.yaml")),
    PathRule(
        "code.templates",
        "generated from a copier template",
        when=lambda file: file.name.startswith(".copier-answers") and file.suffix in YAML,
    ),
    PathRule(
        "code.templates",
        "generated from a cookiecutter template (cruft)",
        names=(".cruft.json",),
    ),
    PathRule(
        "pipeline.definition",
        "Kedro data catalog",
        when=lambda file: _KEDRO_CATALOG.search(file.rel) is not None,
    ),
    PathRule("data.versioned", "DVC-tracked data", suffixes=(".dvc",)),
    PathRule("data.versioned", "DVC pipeline with versioned data", names=("dvc.yaml", "dvc.lock")),
    PathRule(
        "data.validation",
        "Great Expectations project",
        names=("great_expectations.yml", "great_expectations.yaml"),
        when=lambda file: file.dirs[:1] == ("gx",) and file.suffix in (".yml", ".yaml", ".json"),
    ),
)

# What each fact looked for, said when it is not met.
LOOKED_FOR: Mapping[str, str] = {
    "code.notebooks": "looked for *.ipynb notebooks",
    "code.modular": "looked for Python modules (outside tests) with ML code",
    "code.standards": "looked for ruff/flake8/black/pylint/isort/mypy configuration or "
    ".pre-commit-config.yaml",
    "code.templates": "looked for mlpilot.toml, cookiecutter.json, copier or cruft files",
    "docs.readme": "looked for a README or a docs/ folder",
    "pipeline.definition": "looked for an mlpilot, Kedro, ZenML, Kubeflow, Airflow, Metaflow, "
    "DVC, Prefect, Dagster, TFX, SageMaker or Azure ML pipeline",
    "data.automated": "looked for a configured data source (mlpilot [data] source, DVC deps, a "
    "Kedro catalog, an orchestrated pipeline that loads data)",
    "data.validation": "looked for pandera, Great Expectations, TFDV, Soda or an mlpilot schema",
    "data.versioned": "looked for DVC, lakeFS, Delta Lake or an mlpilot project",
    "tracking.experiments": "looked for MLflow, W&B, ClearML, Neptune, Comet, DVCLive or Aim "
    "tracking, or an mlpilot project",
    "registry.models": "looked for model registration (MLflow, W&B, Azure ML, Vertex, SageMaker) "
    "or an mlpilot project",
}
