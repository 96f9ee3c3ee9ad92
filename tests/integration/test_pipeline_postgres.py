"""The whole pipeline with both stores on PostgreSQL: mlpilot's metadata and MLflow's
tracking and registry, each in a schema of its own, created and dropped by the test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, inspect, text

from mlpilot.project import Project

from .conftest import ProjectFactory

pytestmark = pytest.mark.postgres

PG_URL = os.environ.get("MLPILOT_TEST_POSTGRES_URL")


@pytest.fixture
def pg_schemas() -> Iterator[tuple[str, str]]:
    if not PG_URL:
        pytest.skip(
            "MLPILOT_TEST_POSTGRES_URL is not set; set it to a PostgreSQL URL such as "
            "postgresql+psycopg://postgres@127.0.0.1:5432/test to run the PostgreSQL tests"
        )
    suffix = uuid.uuid4().hex[:8]
    names = (f"mlpilot_it_meta_{suffix}", f"mlpilot_it_mlflow_{suffix}")
    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        for name in names:
            conn.execute(text(f'CREATE SCHEMA "{name}"'))
    try:
        yield names
    finally:
        with engine.begin() as conn:
            for name in names:
                conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        engine.dispose()


def _in_schema(schema: str) -> str:
    assert PG_URL
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"


def test_pipeline_on_postgresql(make_project: ProjectFactory, pg_schemas: tuple[str, str]) -> None:
    meta, tracking = pg_schemas
    project = make_project(
        tracking_uri=_in_schema(tracking),
        store_extra=f'metadata_url = "{_in_schema(meta)}"',
    )
    assert project.settings.metadata_url.startswith("postgresql")

    first = project.run(actor="ci")
    assert first.status == "succeeded"
    assert first.model_version == 1
    again = project.run(actor="ci")
    assert again.status == "unchanged"

    changed = Project.open(project.settings.project_dir, env={"MLPILOT_TRAIN__PARAMS": "{C=0.5}"})
    second = changed.run(actor="ci")
    assert second.model_version == 2
    changed.promote(2, reason="integration test", actor="ci")
    assert changed.registry.by_alias("champion").version == 2  # type: ignore[union-attr]
    assert changed.registry.load(2).model is not None
    assert changed.verify_audit().ok

    assert PG_URL
    engine = create_engine(PG_URL)
    try:
        meta_tables = set(inspect(engine).get_table_names(schema=meta))
        mlflow_tables = set(inspect(engine).get_table_names(schema=tracking))
    finally:
        engine.dispose()
    assert {"mlpilot_pipeline_runs", "mlpilot_audit_events", "mlpilot_alembic_version"} <= (
        meta_tables
    )
    assert {"runs", "registered_models", "model_versions"} <= mlflow_tables
    project.store.dispose()
    changed.store.dispose()


def test_both_stores_share_one_postgresql_schema(
    make_project: ProjectFactory, pg_schemas: tuple[str, str]
) -> None:
    shared, _ = pg_schemas
    url = _in_schema(shared)
    project = make_project(tracking_uri=url, store_extra=f'metadata_url = "{url}"')
    summary = project.run()
    assert summary.model_version == 1
    assert project.registry.load(1).model is not None
    project.store.dispose()


def test_the_maturity_assessment_reads_the_live_stores_on_postgresql(
    make_project: ProjectFactory, pg_schemas: tuple[str, str]
) -> None:
    from mlpilot.assessment import assess

    meta, tracking = pg_schemas
    project = make_project(
        tracking_uri=_in_schema(tracking),
        store_extra=f'metadata_url = "{_in_schema(meta)}"',
    )
    assert project.run(actor="ci").model_version == 1
    project.store.dispose()
    result = assess(project.settings.project_dir, models=("google",))
    assert result.live is True
    facts = result.facts
    for fact_id in ("live.runs", "live.versions", "live.audit", "live.snapshots", "live.gates"):
        assert facts.get(fact_id).met is True, (fact_id, facts.get(fact_id).note)
    assert "1 model version registered" in facts.get("live.versions").evidence[0].detail
    assert facts.get("live.releases").met is False  # read, and none yet
    assert result.notes == [f"{project.settings.project_dir} is not a git repository (or has no "
                            "commit): what version control would show is not met; the rest of "
                            "the evidence is reported"]  # fmt: skip


def test_an_unreachable_metadata_store_leaves_the_live_facts_unknown(
    make_project: ProjectFactory,
) -> None:
    from mlpilot.assessment import assess

    project = make_project(
        store_extra='metadata_url = "postgresql+psycopg://nobody@127.0.0.1:1/none"'
    )
    result = assess(project.settings.project_dir, models=("azure",))
    assert result.facts.get("live.runs").met is None
    assert result.facts.get("live.audit").met is None
    assert any("cannot be" in note for note in result.notes), result.notes
    assert result.facts.get("pipeline.definition").met is True  # the files still count
