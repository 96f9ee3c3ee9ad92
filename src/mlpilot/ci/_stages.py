"""The checks of stages 1, 2 and 5 that run in mlpilot's own process: the project's code
imports, the data meets the stored schema and the project's data checks, and the candidate
reaches its slice targets."""

from __future__ import annotations

import inspect
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlpilot.config import GateSettings, Settings, SliceRule
from mlpilot.errors import MlpilotError

if TYPE_CHECKING:
    import pandas as pd

    from mlpilot.data import DataSchema
    from mlpilot.pipeline import Candidate
    from mlpilot.store import Store


@dataclass
class Check:
    """A stage's outcome before it is timed: a verdict (or a skip with its reason), one line,
    details and captured text."""

    ok: bool
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    output: str = ""
    skipped: bool = False


def check_code(settings: Settings) -> Check:
    """The training entrypoint, the project's pipeline steps and its data checks import."""
    from mlpilot.pipeline import EntryPoint, project_pipeline

    EntryPoint(settings.train.entrypoint, settings.project_dir).load()
    project_pipeline(settings)  # loads every [pipeline] steps entry
    for spec in settings.ci.data_checks:
        _data_check(settings, spec)
    parts = [f"train.entrypoint '{settings.train.entrypoint}' imports"]
    if settings.pipeline.steps:
        parts.append(f"{len(settings.pipeline.steps)} project step(s) import")
    if settings.ci.data_checks:
        parts.append(f"{len(settings.ci.data_checks)} data check(s) import")
    return Check(True, "mlpilot.toml loads; " + "; ".join(parts))


def check_data(settings: Settings, store: Store) -> tuple[Check, DataSchema | None]:
    """The current data against the stored schema, then the project's data checks.

    Returns the check and, when no schema is stored yet, the schema inferred from the data
    (training uses it; it is stored when a candidate is released).
    """
    from mlpilot.data import check_target, infer_schema, load_source, validate_batch
    from mlpilot.pipeline import active_schema

    frame = load_source(settings.data, settings.project_dir)
    task = check_target(frame, settings.data.target, settings.train.task)
    schema = active_schema(store, settings.project.name)
    inferred = None
    shape = f"{len(frame)} rows x {len(frame.columns)} columns ({task})"
    if schema is None:
        inferred = infer_schema(frame)
        verdict = (
            f"{shape}; no schema stored yet, so this data's schema {inferred.version[:12]} is the "
            "reference (stored at the first release or 'mlpilot run')"
        )
    else:
        anomalies = validate_batch(frame, schema, settings.validate_)
        if anomalies:
            listed = "; ".join(f"{a.column}: {a.kind}" for a in anomalies[:5])
            more = f" and {len(anomalies) - 5} more" if len(anomalies) > 5 else ""
            return (
                Check(
                    False,
                    f"the data ({shape}) breaks schema {schema.version[:12]} in "
                    f"{len(anomalies)} way(s): {listed}{more}. Fix the data, or adopt the new "
                    "schema deliberately ('mlpilot run', then 'mlpilot schema accept')",
                    {"anomalies": [a.to_dict() for a in anomalies], "schema": schema.version},
                ),
                None,
            )
        verdict = f"{shape} meet schema {schema.version[:12]}"
    problems: list[str] = []
    outputs: list[str] = []
    for spec in settings.ci.data_checks:
        problem, out = _run_data_check(settings, spec, frame)
        if problem:
            problems.append(problem)
            outputs.append(out)
    if problems:
        return (
            Check(
                False,
                f"{len(problems)} of {len(settings.ci.data_checks)} data check(s) failed: "
                + "; ".join(problems),
                {"problems": problems},
                "\n".join(outputs),
            ),
            None,
        )
    if settings.ci.data_checks:
        verdict += f"; {len(settings.ci.data_checks)} data check(s) passed"
    return Check(True, verdict, {"rows": len(frame), "task": task}), inferred


def check_slices(candidate: Candidate, slices: Mapping[str, SliceRule]) -> Check:
    """Each ``[ci.slices]`` entry: the candidate's metrics on those holdout rows."""
    from mlpilot.evaluation import apply_gate, evaluate

    results: dict[str, Any] = {}
    failed: list[str] = []
    passed: list[str] = []
    holdout = candidate.holdout
    x_cols = [c for c in holdout.columns if c != candidate.target]
    for name, rule in slices.items():
        try:
            rows = holdout.query(rule.where)
        except Exception as exc:
            failed.append(f"slice '{name}': `{rule.where}` is not a valid query ({exc})")
            continue
        if len(rows) < rule.min_rows:
            failed.append(
                f"slice '{name}' (`{rule.where}`) has {len(rows)} holdout rows, fewer than "
                f"min_rows = {rule.min_rows}"
            )
            results[name] = {"rows": len(rows)}
            continue
        scored = evaluate(candidate.model, rows[x_cols], rows[candidate.target], candidate.task)  # type: ignore[arg-type]
        gate = apply_gate(scored.metrics, GateSettings(metrics=rule.metrics), candidate.task, None)
        results[name] = {"rows": len(rows), "metrics": scored.metrics, **gate.to_dict()}
        for check in gate.checks:
            line = f"slice '{name}' ({len(rows)} rows): {check.detail}"
            (passed if check.passed else failed).append(line)
    details = {"slices": results, "problems": failed}
    if failed:
        return Check(False, "; ".join(failed), details)
    return Check(True, "; ".join(passed), details)


def describe_error(exc: BaseException) -> tuple[str, str]:
    """``(message, output)`` for a stage that raised: mlpilot's message (and the traceback of
    the project's code), or the type and text of an unexpected error with its traceback."""
    if isinstance(exc, MlpilotError):
        return exc.message, getattr(exc, "user_traceback", "") or ""
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return f"{type(exc).__name__}: {exc}", tb


def _data_check(settings: Settings, spec: str) -> Any:
    from mlpilot.errors import ConfigError
    from mlpilot.pipeline import EntryPoint

    func = EntryPoint(spec, settings.project_dir).load()
    if not callable(func) or inspect.isclass(func):
        raise ConfigError(
            f"ci.data_checks entry '{spec}' is a {type(func).__name__}, not a function; point it "
            "at a function that takes the data (a DataFrame)",
            key="ci.data_checks",
        )
    return func


def _run_data_check(settings: Settings, spec: str, frame: pd.DataFrame) -> tuple[str, str]:
    """``("", "")`` when the check passes, else ``(problem, traceback)``."""
    func = _data_check(settings, spec)
    try:
        verdict = func(frame.copy())
    except AssertionError as exc:
        return f"{spec}: {exc or 'assertion failed'}", ""
    except Exception as exc:
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        return f"{spec} raised {type(exc).__name__}: {exc}", tb
    if verdict is False:
        return f"{spec} returned False", ""
    return "", ""
