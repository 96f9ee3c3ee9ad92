"""Pipelines: typed steps wired into a DAG, a step cache, and the standard training pipeline.

A step is a plain function; its parameter names are its inputs (upstream steps or run
parameters), and a parameter named ``ctx`` receives the run's services. A step's output is
reused when its code, its inputs' fingerprints and its parameters are unchanged::

    ingest → validate → split → train → evaluate → profile → gate → register

:func:`run_project` runs a project's pipeline once, under the project's run lock, tracked in
MLflow and recorded in the metadata store. :func:`candidate_pipeline` is the same pipeline with
``register`` replaced by ``candidate``: the model is logged and hashed but not registered, for
checks (``mlpilot ci``) that must pass before it may become a version.
"""

from mlpilot.pipeline._candidate import Candidate, candidate_pipeline
from mlpilot.pipeline._dag import Pipeline, Step, step
from mlpilot.pipeline._entrypoint import EntryPoint
from mlpilot.pipeline._fingerprint import code_fingerprint, fingerprint
from mlpilot.pipeline._orchestrate import RunStatus, RunSummary, run_project
from mlpilot.pipeline._runner import (
    PipelineResult,
    RunListener,
    StepCache,
    StepOutcome,
    run_pipeline,
)
from mlpilot.pipeline._steps import (
    RunContext,
    Split,
    active_schema,
    project_pipeline,
    split_frame,
    standard_pipeline,
)

__all__ = [
    "Candidate",
    "EntryPoint",
    "Pipeline",
    "PipelineResult",
    "RunContext",
    "RunListener",
    "RunStatus",
    "RunSummary",
    "Split",
    "Step",
    "StepCache",
    "StepOutcome",
    "active_schema",
    "candidate_pipeline",
    "code_fingerprint",
    "fingerprint",
    "project_pipeline",
    "run_pipeline",
    "run_project",
    "split_frame",
    "standard_pipeline",
    "step",
]
