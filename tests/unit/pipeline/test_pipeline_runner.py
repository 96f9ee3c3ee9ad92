import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from mlpilot.pipeline import Pipeline, StepCache, StepOutcome, run_pipeline, step
from mlpilot.store import PipelineRunRow, StepExecutionRow, Store, utcnow

CALLS: list[str] = []


@step(cache=False)
def source(n: int) -> list[int]:
    CALLS.append("source")
    return list(range(n))


@step
def total(source: list[int]) -> int:
    CALLS.append("total")
    return sum(source)


@step
def report(total: int, label: str) -> str:
    CALLS.append("report")
    return f"{label}={total}"


PIPE = Pipeline("t", [source, total, report], params=["n", "label"])


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def step_started(self, step: Any, *, cached: bool) -> None:
        self.events.append(("start", step.name))

    def step_finished(self, outcome: StepOutcome) -> None:
        self.events.append((outcome.status, outcome.name))


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(f"sqlite:///{tmp_path / 'm.db'}")


def _new_run(store: Store, pipeline: str) -> str:
    run_id = str(uuid.uuid4())
    with store.session() as s:
        s.add(
            PipelineRunRow(
                id=run_id,
                project="t",
                pipeline=pipeline,
                status="running",
                started_at=utcnow(),
                actor="me",
            )
        )
    return run_id


def _run(store: Store, tmp_path: Path, **params: Any) -> Any:
    run_id = _new_run(store, "t")
    cache = StepCache(store, tmp_path / "cache")
    return run_pipeline(
        PIPE,
        params=params,
        ctx=None,
        store=store,
        run_id=run_id,
        cache=cache,
        listener=Recorder(),
    )


def test_first_run_runs_everything_rerun_reuses(store: Store, tmp_path: Path) -> None:
    CALLS.clear()
    r1 = _run(store, tmp_path, n=5, label="sum")
    assert r1.value("report") == "sum=10"
    assert CALLS == ["source", "total", "report"]
    CALLS.clear()
    r2 = _run(store, tmp_path, n=5, label="sum")
    assert CALLS == ["source"]  # uncached source always runs; the rest is reused
    assert r2.cached == ["total", "report"]
    assert r2.value("report") == "sum=10"  # loaded lazily from the cache


def test_changed_param_reruns_only_downstream(store: Store, tmp_path: Path) -> None:
    _run(store, tmp_path, n=5, label="sum")
    CALLS.clear()
    r = _run(store, tmp_path, n=5, label="total")
    assert CALLS == ["source", "report"]
    assert r.value("report") == "total=10"


def test_changed_data_reruns_downstream(store: Store, tmp_path: Path) -> None:
    _run(store, tmp_path, n=5, label="sum")
    CALLS.clear()
    r = _run(store, tmp_path, n=6, label="sum")
    assert CALLS == ["source", "total", "report"]
    assert r.value("report") == "sum=15"


def test_tampered_cache_file_is_recomputed(store: Store, tmp_path: Path) -> None:
    _run(store, tmp_path, n=5, label="sum")
    with store.session() as s:
        path = s.execute(
            select(StepExecutionRow.output_path).where(StepExecutionRow.step == "report")
        ).scalar_one()
    Path(path).write_bytes(b"garbage")
    CALLS.clear()
    r = _run(store, tmp_path, n=5, label="sum")
    assert r.value("report") == "sum=10"
    assert "report" in CALLS


def test_failed_step_is_recorded_and_raises(store: Store, tmp_path: Path) -> None:
    @step
    def boom(source: list[int]) -> int:
        raise ValueError("bad value in step")

    pipe = Pipeline("f", [source, boom], params=["n"])
    run_id = _new_run(store, "f")
    with pytest.raises(ValueError, match="bad value in step"):
        run_pipeline(
            pipe,
            params={"n": 2},
            ctx=None,
            store=store,
            run_id=run_id,
            cache=StepCache(store, tmp_path / "c"),
        )
    with store.session() as s:
        row = s.execute(
            select(StepExecutionRow).where(StepExecutionRow.step == "boom")
        ).scalar_one()
        assert row.status == "failed"
        assert "bad value in step" in (row.error or "")
