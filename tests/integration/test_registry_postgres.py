"""The registry with MLflow's backend on PostgreSQL: register, verified load, promote, rollback.

Needs ``MLPILOT_TEST_POSTGRES_URL`` (e.g. ``postgresql+psycopg://postgres@127.0.0.1:5432/test``).
MLflow's tables live in their own schema (``mlpilot_registry_it``) so they cannot clash with
other tables in that database (both MLflow and mlpilot's store keep an ``alembic_version``),
and every run uses a unique project name, so reruns never collide.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

pytestmark = pytest.mark.postgres

SCHEMA = "mlpilot_registry_it"


@pytest.fixture(scope="module")
def tracking_uri() -> str:
    url = os.environ.get("MLPILOT_TEST_POSTGRES_URL")
    if not url:
        pytest.skip(
            "MLPILOT_TEST_POSTGRES_URL is not set; set it to a PostgreSQL URL such as "
            "postgresql+psycopg://postgres@127.0.0.1:5432/test to run the PostgreSQL tests"
        )
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    finally:
        engine.dispose()
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{SCHEMA}"


def test_register_load_promote_rollback_on_postgres(tmp_path: Path, tracking_uri: str) -> None:
    from mlflow import MlflowClient
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier

    from mlpilot.config import load_settings
    from mlpilot.errors import IntegrityError
    from mlpilot.governance import AuditTrail
    from mlpilot.registry import Registry
    from mlpilot.store import Store
    from mlpilot.tracking import TAG_PIPELINE_RUN, TAG_SNAPSHOT, start_run

    name = f"pg-it-{uuid.uuid4().hex[:12]}"
    (tmp_path / "mlpilot.toml").write_text(
        f'[project]\nname = "{name}"\n'
        '[data]\nsource = "sklearn:breast_cancer"\ntarget = "target"\n'
        '[train]\nentrypoint = "sklearn.ensemble.RandomForestClassifier"\n'
        f'[store]\ntracking_uri = "{tracking_uri}"\n',
        encoding="utf-8",
    )
    settings = load_settings(tmp_path, env={})
    store = Store.open(settings.metadata_url)
    audit = AuditTrail(store)
    registry = Registry(settings, audit)
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)

    versions = []
    for seed in (0, 1):
        model = RandomForestClassifier(n_estimators=4, max_depth=3, random_state=seed).fit(X, y)
        with start_run(settings, run_name=f"pg-{seed}", tags={TAG_PIPELINE_RUN: f"p{seed}"}) as run:
            versions.append(
                registry.register(
                    model,
                    run_id=run.run_id,
                    metrics={"roc_auc": 0.98 + seed / 100},
                    lineage={TAG_PIPELINE_RUN: f"p{seed}", TAG_SNAPSHOT: "f" * 64},
                    profile={"rows": len(X)},
                    input_example=X.head(3),
                    alias="champion" if seed == 0 else "challenger",
                )
            )
    assert [v.version for v in registry.list_versions()] == [2, 1]
    assert registry.by_alias("champion") == versions[0]
    assert registry.get(2).metrics == {"roc_auc": 0.99}

    loaded = registry.load("challenger")
    assert loaded.version.version == 2
    assert len(loaded.model.predict(X.head(10))) == 10
    assert registry.profile(2) == {"rows": len(X)}

    assert registry.promote(2, reason="pg integration", actor="it").aliases == ("champion",)
    assert registry.rollback(reason="pg integration rollback", actor="it").version == 1
    assert [e.action for e in audit.events()][:3] == [
        "model.rolled_back",
        "model.promoted",
        "model.registered",
    ]

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    source = urlparse(client.get_model_version_download_uri(name, "1"))
    target = Path(unquote(source.path)) / "model.skops"  # tamper with the store itself
    target.write_bytes(target.read_bytes() + b"\0")
    with pytest.raises(IntegrityError, match=r"model.skops \(changed\)"):
        registry.load(1)
    assert audit.verify().ok
    store.dispose()
