"""Opening the metadata store, migrating it, sessions and named leases."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, delete, event, false, select, text, update
from sqlalchemy import exc as sa_exc
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from mlpilot.errors import LockedError, StoreError
from mlpilot.store._models import VERSION_TABLE, LockRow

_MIGRATIONS = Path(__file__).parent / "migrations"
# The newest migration; a test checks it against alembic's head.
SCHEMA_HEAD = "0004"


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def _holder() -> str:
    return f"pid {os.getpid()} on {socket.gethostname()}"


class Store:
    """A handle on mlpilot's metadata database. Thread-safe; share one per process."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> Store:
        """Connect to ``url`` (SQLite file or PostgreSQL) and bring its schema up to date."""
        engine = _make_engine(url)
        store = cls(engine)
        if migrate:
            store.migrate()
        return store

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def migrate(self) -> None:
        """Apply alembic migrations up to head (a no-op, without importing alembic, when the
        store is already there)."""
        try:
            if self._current_revision() == SCHEMA_HEAD:
                return
            from alembic import command
            from alembic.config import Config
            from alembic.runtime.migration import MigrationContext

            cfg = Config()
            cfg.set_main_option("script_location", str(_MIGRATIONS))
            # Two processes opening a new store at once: one migrates, the other waits.
            with self._migration_lock(), self.engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('mlpilot.migrate'))"))
                current = MigrationContext.configure(
                    conn, opts={"version_table": VERSION_TABLE}
                ).get_current_revision()
                if current == SCHEMA_HEAD:
                    return
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except sa_exc.OperationalError as exc:
            raise StoreError(
                f"cannot open the metadata store at {self.url}: {exc.orig}; check the URL in "
                "[store] metadata_url and that the database server is running"
            ) from exc

    def _current_revision(self) -> str | None:
        with self.engine.connect() as conn:
            if not sa_inspect(conn).has_table(VERSION_TABLE):
                return None
            rev = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
            return None if rev is None else str(rev)

    def _migration_lock(self) -> AbstractContextManager[object]:
        db = self.engine.url.database
        if self.engine.dialect.name != "sqlite" or not db or db == ":memory:":
            return nullcontext()
        from filelock import FileLock

        return FileLock(f"{db}.migrate.lock", timeout=120)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on error."""
        with self._sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def serialize(self, session: Session, name: str) -> None:
        """Make ``session``'s transaction the only writer of ``name`` until it ends.

        Call it before reading what the transaction will write on top of (a chain head, a
        counter): PostgreSQL takes a transaction-scoped advisory lock; SQLite takes its database
        write lock with a no-op write, so other writers wait (busy timeout) instead of racing.
        """
        if self.engine.dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": name})
        else:
            session.execute(delete(LockRow).where(false()))

    @contextmanager
    def lock(
        self, name: str, *, timeout: float = 0.0, ttl: timedelta = timedelta(hours=6)
    ) -> Iterator[str]:
        """Hold the lease ``name`` for the duration of the block.

        Waits up to ``timeout`` seconds for another holder, then raises :class:`LockedError`
        naming it. A lease whose holder died (same host, process gone) or expired is taken over.
        """
        holder = _holder()
        deadline = time.monotonic() + timeout
        while not self._try_acquire(name, holder, ttl):
            if time.monotonic() >= deadline:
                current = self._current_holder(name)
                raise LockedError(
                    f"'{name}' is held by {current[0]} since {current[1]:%Y-%m-%d %H:%M:%S} UTC; "
                    "wait for it to finish, or retry with a longer --wait"
                    if current
                    else f"'{name}' is held by another process; retry"
                )
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
        try:
            yield holder
        finally:
            self.release(name, holder)

    def acquire(self, name: str, *, ttl: timedelta, tag: str | None = None) -> str | None:
        """Try once to take the lease ``name`` (no waiting); the holder string, or ``None``.

        For leases held across many transactions (the autopilot's): keep it with
        :meth:`renew` before ``ttl`` runs out and give it back with :meth:`release`. ``tag``
        tells apart several holders in one process.
        """
        holder = _holder() if tag is None else f"{_holder()} #{tag}"
        return holder if self._try_acquire(name, holder, ttl) else None

    def renew(self, name: str, holder: str, *, ttl: timedelta) -> bool:
        """Extend ``holder``'s lease ``name`` by ``ttl`` from now; ``False`` if it was lost."""
        with self.session() as s:
            done = s.execute(
                update(LockRow)
                .where(LockRow.name == name, LockRow.holder == holder)
                .values(expires_at=utcnow() + ttl)
            )
            return bool(getattr(done, "rowcount", 0) == 1)

    def release(self, name: str, holder: str) -> None:
        """Give back ``holder``'s lease ``name`` (a no-op when it is no longer held)."""
        with self.session() as s:
            s.execute(delete(LockRow).where(LockRow.name == name, LockRow.holder == holder))

    def holder(self, name: str) -> str | None:
        """Who holds the lease ``name`` now (expired or not), or ``None``."""
        current = self._current_holder(name)
        return None if current is None else current[0]

    def _try_acquire(self, name: str, holder: str, ttl: timedelta) -> bool:
        now = utcnow()
        try:
            with self.session() as s:
                s.add(LockRow(name=name, holder=holder, acquired_at=now, expires_at=now + ttl))
            return True
        except sa_exc.IntegrityError:
            pass
        current = self._current_holder(name)
        if current is None:
            return False
        stale = current[2] < now or _dead_local_holder(current[0])
        if not stale:
            return False
        with self.session() as s:
            taken = s.execute(
                update(LockRow)
                .where(LockRow.name == name, LockRow.holder == current[0])
                .values(holder=holder, acquired_at=now, expires_at=now + ttl)
            )
            return bool(getattr(taken, "rowcount", 0) == 1)

    def _current_holder(self, name: str) -> tuple[str, datetime, datetime] | None:
        with self.session() as s:
            row = s.execute(select(LockRow).where(LockRow.name == name)).scalar_one_or_none()
            return None if row is None else (row.holder, row.acquired_at, row.expires_at)

    def dispose(self) -> None:
        self.engine.dispose()


def _dead_local_holder(holder: str) -> bool:
    parts = holder.split(" ")
    if len(parts) == 5 and parts[4].startswith("#"):
        parts = parts[:4]
    if len(parts) != 4 or parts[2] != "on" or parts[3] != socket.gethostname():
        return False
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, ValueError):
        return False
    return False


def _make_engine(url: str) -> Engine:
    parsed = make_url(url)
    kwargs: dict[str, Any] = {}
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if db and db != ":memory:":
            Path(db).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 30}
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_engine(parsed, **kwargs)
    if parsed.get_backend_name() == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

    return engine
