"""CI/CD of the pipeline and the model: ``mlpilot ci``.

:func:`run_ci` runs six stages in order and stops at the first that fails; each has a verdict
(:class:`StageResult`), written as JUnit XML (one test case per stage) and as a Markdown
summary::

    1. config and code       the project file loads; the training entrypoint imports
    2. data tests            the data meets the stored schema and the project's data checks
    3. pipeline tests        the project's own pytest suite (every test file but the model tests)
    4. training              the pipeline runs end to end, gate applied; the candidate is logged
                             and hashed but not registered
    5. model tests           the project's model tests (pytest, mlpilot's plugin) against the
                             candidate, champion and holdout; [ci.slices] targets
    6. infrastructure check  the serving app, built in-process, loads the candidate as serving
                             does (digest verified, warmed) and answers within the budget

With ``release`` and every stage passed, the candidate (the same files, digest and lineage) is
registered in the project's registry as ``challenger``; on every other path nothing is
registered. How the candidate is kept out of the registry until then is told in ``_run``.
The workflow templates that run it on pull requests and the main branch are scaffolded by
:func:`mlpilot.project.init_project` (``mlpilot init --ci github|gitlab``).
"""

from mlpilot.ci._report import (
    RELEASE,
    STAGES,
    CiReport,
    StageResult,
    StageStatus,
    junit_xml,
    summary_markdown,
    write_junit,
    write_summary,
)
from mlpilot.ci._run import CiListener, CiOptions, release_candidate, run_ci

__all__ = [
    "RELEASE",
    "STAGES",
    "CiListener",
    "CiOptions",
    "CiReport",
    "StageResult",
    "StageStatus",
    "junit_xml",
    "release_candidate",
    "run_ci",
    "summary_markdown",
    "write_junit",
    "write_summary",
]
