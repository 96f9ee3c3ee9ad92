"""A step's ``state``: outside state that is part of its cache key."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from mlpilot.pipeline import Pipeline, PipelineResult, StepCache, run_pipeline, step
from mlpilot.store import PipelineRunRow, Store, utcnow

CALLS: list[str] = []


def _outside(ctx: dict[str, str], params: Mapping[str, Any]) -> str | None:
    return None if params["ignore"] else ctx["state"]


@step
def base(n: int) -> int:
    CALLS.append("base")
    return n * 2


@step(state=_outside)
def reader(ctx: dict[str, str], base: int, ignore: bool) -> str:
    CALLS.append("reader")
    return f"{base}@{ctx['state']}"


PIPE = Pipeline("s", [base, reader], params=["n", "ignore"])


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(f"sqlite:///{tmp_path / 'm.db'}")


def _run(store: Store, tmp_path: Path, state: str, *, ignore: bool = False) -> PipelineResult:
    run_id = str(uuid.uuid4())
    with store.session() as s:
        s.add(
            PipelineRunRow(
                id=run_id,
                project="s",
                pipeline="s",
                status="running",
                started_at=utcnow(),
                actor="me",
            )
        )
    return run_pipeline(
        PIPE,
        params={"n": 3, "ignore": ignore},
        ctx={"state": state},
        store=store,
        run_id=run_id,
        cache=StepCache(store, tmp_path / "cache"),
    )


def test_changed_state_reruns_only_the_step_that_names_it(store: Store, tmp_path: Path) -> None:
    _run(store, tmp_path, "a")
    CALLS.clear()
    again = _run(store, tmp_path, "a")
    assert CALLS == []
    assert again.value("reader") == "6@a"
    changed = _run(store, tmp_path, "b")
    assert CALLS == ["reader"]
    assert changed.cached == ["base"]
    assert changed.value("reader") == "6@b"
    CALLS.clear()
    back = _run(store, tmp_path, "a")
    assert CALLS == []  # the entry computed with state "a" is still there
    assert back.value("reader") == "6@a"


def test_state_none_leaves_the_key_alone(store: Store, tmp_path: Path) -> None:
    first = _run(store, tmp_path, "a", ignore=True)
    CALLS.clear()
    second = _run(store, tmp_path, "b", ignore=True)
    assert CALLS == []
    assert second.outcomes["reader"].cache_key == first.outcomes["reader"].cache_key
