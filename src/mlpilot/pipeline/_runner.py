"""Running a pipeline: cache keys, the step cache, lazy reuse of cached outputs."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import tempfile
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from sqlalchemy import select

from mlpilot.errors import MlpilotError, PipelineError, UserCodeError
from mlpilot.pipeline._dag import CONTEXT_PARAM, Pipeline, Step
from mlpilot.pipeline._fingerprint import code_fingerprint, fingerprint
from mlpilot.store import StepExecutionRow, Store, utcnow

StepStatus = Literal["ran", "cached", "failed"]


@dataclass(frozen=True)
class StepOutcome:
    name: str
    status: StepStatus
    cache_key: str
    seconds: float
    error: str | None = None


class RunListener(Protocol):
    """Told about each step as it starts and ends (the CLI draws progress from this)."""

    def step_started(self, step: Step, *, cached: bool) -> None: ...

    def step_finished(self, outcome: StepOutcome) -> None: ...


@dataclass(frozen=True)
class CacheEntry:
    key: str
    path: Path
    digest: str
    fingerprint: str


class StepCache:
    """Step outputs on disk, indexed in the metadata store by cache key, digest-checked."""

    def __init__(self, store: Store, directory: Path) -> None:
        self.store = store
        self.directory = directory

    def lookup(self, key: str) -> CacheEntry | None:
        with self.store.session() as s:
            rows = s.execute(
                select(
                    StepExecutionRow.output_path,
                    StepExecutionRow.output_digest,
                    StepExecutionRow.output_fingerprint,
                )
                .where(StepExecutionRow.cache_key == key, StepExecutionRow.status == "ran")
                .where(StepExecutionRow.output_path.is_not(None))
                .order_by(StepExecutionRow.id.desc())
            ).all()
        for path, digest, fp in rows:
            if path and digest and Path(path).is_file():
                return CacheEntry(key, Path(path), digest, fp or key)
        return None

    def save(self, key: str, value: Any, output_fingerprint: str) -> CacheEntry:
        target = self.directory / key[:2] / f"{key}.pkl"
        target.parent.mkdir(parents=True, exist_ok=True)
        data = pickle.dumps(value, protocol=5)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            Path(tmp).replace(target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return CacheEntry(key, target, hashlib.sha256(data).hexdigest(), output_fingerprint)

    @staticmethod
    def load(entry: CacheEntry) -> tuple[bool, Any]:
        """``(True, value)``, or ``(False, None)`` when the file changed or cannot be read."""
        try:
            data = entry.path.read_bytes()
        except OSError:
            return False, None
        if hashlib.sha256(data).hexdigest() != entry.digest:
            return False, None
        return True, pickle.loads(data)


class PipelineResult:
    """What a run produced: per-step outcomes, and step outputs loaded on demand."""

    def __init__(self, runner: _Run) -> None:
        self._run = runner
        self.outcomes: dict[str, StepOutcome] = runner.outcomes

    def value(self, name: str) -> Any:
        return self._run.value(name)

    @property
    def ran(self) -> list[str]:
        return [n for n, o in self.outcomes.items() if o.status == "ran"]

    @property
    def cached(self) -> list[str]:
        return [n for n, o in self.outcomes.items() if o.status == "cached"]


def run_pipeline(
    pipeline: Pipeline,
    *,
    params: Mapping[str, Any],
    ctx: Any,
    store: Store,
    run_id: str,
    cache: StepCache | None,
    listener: RunListener | None = None,
) -> PipelineResult:
    """Run every step in order, reusing cached outputs when code, inputs and params match.

    A cached output is only read from disk when a step that does run needs it, so a fully
    cached pipeline loads nothing. Each step is recorded in ``step_executions``.
    """
    missing = sorted(pipeline.params - set(params))
    if missing:
        raise PipelineError(
            f"pipeline '{pipeline.name}' needs run parameters {', '.join(missing)}; pass them"
        )
    run = _Run(pipeline, params, ctx, store, run_id, cache, listener)
    run.execute()
    return PipelineResult(run)


class _Run:
    def __init__(
        self,
        pipeline: Pipeline,
        params: Mapping[str, Any],
        ctx: Any,
        store: Store,
        run_id: str,
        cache: StepCache | None,
        listener: RunListener | None,
    ) -> None:
        self.pipeline = pipeline
        self.params = dict(params)
        self.ctx = ctx
        self.store = store
        self.run_id = run_id
        self.cache = cache
        self.listener = listener
        self.values: dict[str, Any] = {}
        self.entries: dict[str, CacheEntry] = {}
        self.keys: dict[str, str] = {}
        # What downstream keys see of each step: the content fingerprint of its output when it
        # has a cheap one (so an upstream rerun that gives the same output cuts off here),
        # else its own cache key (or, for an uncached step, a hash of its output).
        self.prints: dict[str, str] = {}
        self.outcomes: dict[str, StepOutcome] = {}
        self._param_prints = {k: fingerprint(v) for k, v in self.params.items()}

    def key_of(self, s: Step) -> str:
        parts: dict[str, str] = {
            "step": s.name,
            "version": s.version,
            "code": code_fingerprint(s.func),
        }
        for name in s.inputs:
            if name in self.pipeline.steps:
                parts[f"in:{name}"] = self.prints[name]
            else:
                parts[f"param:{name}"] = self._param_prints[name]
        for name in s.after:
            parts[f"after:{name}"] = self.prints[name]
        if s.state is not None:
            state = s.state(self.ctx, self.params)
            if state is not None:
                parts["state"] = state
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()

    def execute(self) -> None:
        for s in self.pipeline.order:
            key = self.key_of(s)
            self.keys[s.name] = key
            entry = self.cache.lookup(key) if (s.cache and self.cache is not None) else None
            if entry is not None:
                self.entries[s.name] = entry
                self.prints[s.name] = entry.fingerprint
                if self.listener:
                    self.listener.step_started(s, cached=True)
                outcome = StepOutcome(s.name, "cached", key, 0.0)
                self._record(s, outcome, entry, utcnow())
                self.outcomes[s.name] = outcome
                if self.listener:
                    self.listener.step_finished(outcome)
            else:
                self._run_step(s)

    def value(self, name: str) -> Any:
        if name in self.values:
            return self.values[name]
        if name in self.params:
            return self.params[name]
        entry = self.entries.get(name)
        if entry is not None:
            ok, value = StepCache.load(entry)
            if ok:
                self.values[name] = value
                return value
            # The cached file changed or vanished: compute it again.
            self._run_step(self.pipeline.steps[name])
            return self.values[name]
        raise PipelineError(f"step '{name}' has not run in pipeline '{self.pipeline.name}'")

    def _run_step(self, s: Step) -> None:
        key = self.keys[s.name]
        if self.listener:
            self.listener.step_started(s, cached=False)
        started_at = utcnow()
        t0 = time.perf_counter()
        try:
            kwargs = {name: self.value(name) for name in s.inputs}
            if s.uses_context:
                kwargs[CONTEXT_PARAM] = self.ctx
            try:
                value = s.func(**kwargs)
            except Exception as exc:
                if not s.user_code or isinstance(exc, MlpilotError):
                    raise
                tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
                raise UserCodeError(
                    f"step '{s.name}' raised {type(exc).__name__}: {exc}", user_traceback=tb
                ) from exc
        except BaseException as exc:
            outcome = StepOutcome(s.name, "failed", key, time.perf_counter() - t0, _describe(exc))
            self.outcomes[s.name] = outcome
            self._record(s, outcome, None, started_at)
            if self.listener:
                self.listener.step_finished(outcome)
            raise
        self.values[s.name] = value
        own = getattr(value, "fingerprint", None)
        if isinstance(own, str):
            self.prints[s.name] = own
        else:
            self.prints[s.name] = key if s.cache else fingerprint(value)
        entry = (
            self.cache.save(key, value, self.prints[s.name])
            if (s.cache and self.cache is not None)
            else None
        )
        outcome = StepOutcome(s.name, "ran", key, time.perf_counter() - t0)
        self.outcomes[s.name] = outcome
        self._record(s, outcome, entry, started_at)
        if self.listener:
            self.listener.step_finished(outcome)

    def _record(
        self, s: Step, outcome: StepOutcome, entry: CacheEntry | None, started_at: Any
    ) -> None:
        with self.store.session() as session:
            session.add(
                StepExecutionRow(
                    run_id=self.run_id,
                    step=s.name,
                    cache_key=outcome.cache_key,
                    status=outcome.status,
                    started_at=started_at,
                    finished_at=utcnow(),
                    output_path=str(entry.path) if entry and outcome.status == "ran" else None,
                    output_digest=entry.digest if entry and outcome.status == "ran" else None,
                    output_fingerprint=(
                        entry.fingerprint if entry and outcome.status == "ran" else None
                    ),
                    error=outcome.error,
                )
            )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, MlpilotError):
        return f"{type(exc).__name__}: {exc.message}"
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()
