"""A project as its users see it: scaffolding (``mlpilot init``, the bundled example) and the
verbs the CLI runs on a project (run, models, promote, rollback, schema, audit).
"""

from mlpilot.project._project import Project
from mlpilot.project._scaffold import EXAMPLE, init_project

__all__ = ["EXAMPLE", "Project", "init_project"]
