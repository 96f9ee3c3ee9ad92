"""mlpilot's own metadata store: pipeline runs, step executions and their cache keys, dataset
snapshots, schemas, audit events and locks.

SQLAlchemy 2 over SQLite (WAL) by default or PostgreSQL by URL; the schema is migrated with
alembic when a store is opened. Open one with :meth:`Store.open` and pass it on.
"""

from mlpilot.store._models import (
    AuditEventRow,
    Base,
    DatasetSnapshotRow,
    LockRow,
    PipelineRunRow,
    SchemaRow,
    StepExecutionRow,
)
from mlpilot.store._store import Store, utcnow

__all__ = [
    "AuditEventRow",
    "Base",
    "DatasetSnapshotRow",
    "LockRow",
    "PipelineRunRow",
    "SchemaRow",
    "StepExecutionRow",
    "Store",
    "utcnow",
]
