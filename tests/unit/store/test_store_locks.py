import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, select

from mlpilot.errors import LockedError, StoreError
from mlpilot.store import LockRow, Store


def test_open_migrates_and_enables_wal(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'm.db'}")
    tables = set(inspect(store.engine).get_table_names())
    prefixed = {f"mlpilot_{t}" for t in ("pipeline_runs", "step_executions", "schemas")}
    assert prefixed | {"mlpilot_dataset_snapshots", "mlpilot_audit_events"} <= tables
    assert {"mlpilot_locks", "mlpilot_alembic_version"} <= tables
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    Store.open(f"sqlite:///{tmp_path / 'm.db'}")  # second open: already at head


def test_lock_excludes_second_holder(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'm.db'}")
    with (
        store.lock("run"),
        pytest.raises(LockedError, match=r"'run' is held by pid \d+"),
        store.lock("run"),
    ):
        pass
    with store.lock("run"):  # released
        pass


def test_lock_waits_for_holder(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'm.db'}")
    release = threading.Event()
    held = threading.Event()

    def holder() -> None:
        with store.lock("run"):
            held.set()
            release.wait(5)

    t = threading.Thread(target=holder)
    t.start()
    held.wait(5)
    threading.Timer(0.3, release.set).start()
    with store.lock("run", timeout=10):
        pass
    t.join()


def test_dead_holder_lease_is_taken_over(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    store = Store.open(url)
    code = (
        "import os\nfrom mlpilot.store import Store\n"
        f"s = Store.open({url!r})\ncm = s.lock('run'); cm.__enter__(); os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    with store.session() as s:
        assert s.execute(select(LockRow.holder)).scalar_one().startswith("pid ")
    with store.lock("run"):
        pass


def test_expired_lease_is_taken_over(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'm.db'}")
    cm = store.lock("run", ttl=timedelta(seconds=-1))
    cm.__enter__()
    with store.lock("run"):
        pass


def test_unreachable_database_is_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open the metadata store"):
        Store.open("postgresql+psycopg://nobody@127.0.0.1:1/none")
