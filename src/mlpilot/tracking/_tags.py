"""The tag keys mlpilot writes on MLflow runs and model versions, in one place."""

from __future__ import annotations

TAG_PIPELINE_RUN = "mlpilot.pipeline_run_id"
"""The mlpilot pipeline run that produced a run or a model version."""

TAG_SNAPSHOT = "mlpilot.data_snapshot"
"""Content hash of the dataset snapshot the model was trained on."""

TAG_SCHEMA = "mlpilot.schema_version"
"""Version of the data schema the training data was validated against."""

TAG_COMMIT = "mlpilot.code_commit"
"""Git commit of the project's code (absent outside a git repository)."""

TAG_DIRTY = "mlpilot.code_dirty"
"""``"true"`` when tracked files had uncommitted changes, else ``"false"``."""

TAG_BRANCH = "mlpilot.code_branch"
"""Git branch of the project's code (absent when detached or outside a repository)."""

TAG_STEP = "mlpilot.step"
"""On a child run: the pipeline step it records."""

TAG_DIGEST = "mlpilot.digest"
"""On a model version: sha256 over its artifact files, pinned at registration."""

TAG_PREFIX = "mlpilot."
"""Every tag mlpilot owns starts with this."""
