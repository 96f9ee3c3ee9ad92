"""A project as its users see it: scaffolding (``mlpilot init``, the bundled example, model
tests and CI workflows) and the verbs the CLI runs on a project (run, models, promote, rollback,
schema, audit).
"""

from mlpilot.project._demo import DemoResult, run_demo
from mlpilot.project._project import Project
from mlpilot.project._scaffold import EXAMPLE, WORKFLOWS, CiSystem, init_project

__all__ = [
    "EXAMPLE",
    "WORKFLOWS",
    "CiSystem",
    "DemoResult",
    "Project",
    "init_project",
    "run_demo",
]
