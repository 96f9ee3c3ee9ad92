"""The candidate pipeline: the project's pipeline up to the gate, then a candidate that is
logged to MLflow but not registered.

``mlpilot ci`` trains with it, so that a model that has not passed every check never becomes a
version of the project's registered model. It differs from :func:`project_pipeline` in three
steps and nothing else (the shared steps keep their cache keys, so a CI run reuses what
``mlpilot run`` computed, and the other way round):

* ``register`` is replaced by ``candidate``, which logs the model with its reference profile
  into the run's MLflow run exactly as ``register`` would (:meth:`Registry.stage`), hashes its
  files, and hands the :class:`Candidate` to a callback instead of creating a version;
* ``schema`` does not store a schema: with none stored yet, the data's inferred schema is used
  for this run only (it is stored when the candidate is released, or by ``mlpilot run``);
* with ``sample``, ``ingest`` keeps a seeded random sample of the rows (for quick checks of a
  pull request); the sample is not stored, and its content hash is the snapshot downstream
  steps see, so sampled and full runs never share cache entries.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import pandas as pd

from mlpilot.config import DataSettings, Settings
from mlpilot.pipeline._dag import Pipeline, Step, step
from mlpilot.pipeline._steps import (
    Ingested,
    RunContext,
    SchemaRef,
    Split,
    Validated,
    active_schema,
    project_pipeline,
)
from mlpilot.pipeline._steps import ingest as standard_ingest
from mlpilot.pipeline._steps import schema as standard_schema

if TYPE_CHECKING:
    from mlpilot.data import DataSchema, ReferenceProfile
    from mlpilot.evaluation import Evaluation, GateResult
    from mlpilot.registry import StagedModel


@dataclass(frozen=True, eq=False)
class Candidate:
    """A model that passed the gate, logged with its profile and digest, not registered.

    ``holdout`` is the held-out split it was scored on (features and the target column);
    ``schema_stored`` says whether the project's store holds ``schema`` already; ``sample`` is
    the number of rows it was trained and scored on when the run used a sample (``None`` when
    the data had no more rows than the sample asked for).
    """

    staged: StagedModel
    model: Any
    task: str
    target: str
    metrics: dict[str, float]
    gate: tuple[dict[str, Any], ...]
    profile: ReferenceProfile
    schema: DataSchema
    schema_stored: bool
    lineage: dict[str, str]
    holdout: pd.DataFrame
    train_rows: int
    sample: int | None = None

    @property
    def fingerprint(self) -> str:
        return self.staged.digest


def candidate_pipeline(
    settings: Settings,
    on_candidate: Callable[[Candidate], None],
    *,
    sample: int | None = None,
    schema: DataSchema | None = None,
) -> Pipeline:
    """The project's pipeline with ``candidate`` in place of ``register`` (see the module).

    ``schema`` is the schema to use when the project's store has none (default: inferred from
    the ingested rows); ``sample`` keeps that many rows, drawn with ``[train] seed``.
    """
    base = project_pipeline(settings)
    steps = dict(base.steps)
    register = steps.pop("register")
    steps["schema"] = _unstored_schema(schema)
    if sample is not None:
        steps["ingest"] = _sampled_ingest(sample, settings.train.seed)
    steps["candidate"] = replace(_candidate_step(on_candidate, sample), after=register.after)
    return Pipeline("ci", list(steps.values()), params=base.params)


def _sampled_ingest(rows: int, seed: int) -> Step:
    def ingest(ctx: RunContext, data_settings: DataSettings) -> Ingested:
        """Read the data source as the standard ingest does, then keep a sample of the rows."""
        from mlpilot.data import Snapshot, content_hash

        full: Ingested = standard_ingest.func(ctx, data_settings)
        if len(full.frame) <= rows:
            return full
        frame = full.frame.sample(n=rows, random_state=seed).sort_index().reset_index(drop=True)
        snap = Snapshot(content_hash(frame), full.snapshot.path, len(frame), full.snapshot.columns)
        ctx.tags["mlpilot.data_snapshot"] = snap.hash
        ctx.tags["mlpilot.sample_of"] = full.snapshot.hash
        return Ingested(frame, snap, f"{full.source} (a sample of {rows} rows)")

    return step(cache=False)(ingest)


def _unstored_schema(inferred: DataSchema | None) -> Step:
    def schema(ctx: RunContext, ingest: Ingested) -> SchemaRef:
        """The active schema; without one stored, this data's schema, for this run only."""
        from mlpilot.data import infer_schema

        if active_schema(ctx.store, ctx.settings.project.name) is not None:
            found: SchemaRef = standard_schema.func(ctx, ingest)
            return found
        return SchemaRef(inferred or infer_schema(ingest.frame), None, created=True)

    return step(cache=False)(schema)


def _candidate_step(on_candidate: Callable[[Candidate], None], sample: int | None) -> Step:
    def candidate(
        ctx: RunContext,
        train: Any,
        split: Split,
        validate: Validated,
        evaluate: Evaluation,
        profile: ReferenceProfile,
        gate: GateResult,
        ingest: Ingested,
        schema: SchemaRef,
    ) -> Candidate:
        """Log the candidate with its reference profile and digest; register nothing."""
        staged = ctx.registry.stage(
            train,
            run_id=ctx.tracker.run_id,
            profile=json.loads(profile.to_json()),
            input_example=split.x_test.head(5),
        )
        lineage = {
            "mlpilot.pipeline_run_id": ctx.run_id,
            "mlpilot.data_snapshot": ingest.snapshot.hash,
            "mlpilot.schema_version": validate.schema.version,
            **{k: v for k, v in ctx.tags.items() if k.startswith("mlpilot.code")},
        }
        made = Candidate(
            staged=staged,
            model=train,
            task=validate.task,
            target=validate.target,
            metrics=dict(evaluate.metrics),
            gate=tuple(gate.to_dict()["checks"]),
            profile=profile,
            schema=validate.schema,
            schema_stored=not schema.created,
            lineage=lineage,
            holdout=split.x_test.assign(**{validate.target: split.y_test}),
            train_rows=len(split.x_train),
            sample=sample if "mlpilot.sample_of" in ctx.tags else None,
        )
        on_candidate(made)
        return made

    return step(cache=False)(candidate)
