"""mlpilot's own metadata store: pipeline runs, step executions and their cache keys, dataset
snapshots, schemas, audit events, locks, routes, API tokens, monitor results and alerts.

SQLAlchemy 2 over SQLite (WAL) by default or PostgreSQL by URL; the schema is migrated with
alembic when a store is opened. Open one with :meth:`Store.open` and pass it on.
"""

from mlpilot.store._models import (
    AlertRow,
    AuditEventRow,
    AuditHeadRow,
    AutopilotStateRow,
    Base,
    DatasetSnapshotRow,
    LockRow,
    MonitorEvaluationRow,
    MonitorResultRow,
    PipelineRunRow,
    ReleaseRow,
    RouteRow,
    SchemaRow,
    StepExecutionRow,
    TokenRow,
    TriggerEventRow,
)
from mlpilot.store._store import Store, utcnow

__all__ = [
    "AlertRow",
    "AuditEventRow",
    "AuditHeadRow",
    "AutopilotStateRow",
    "Base",
    "DatasetSnapshotRow",
    "LockRow",
    "MonitorEvaluationRow",
    "MonitorResultRow",
    "PipelineRunRow",
    "ReleaseRow",
    "RouteRow",
    "SchemaRow",
    "StepExecutionRow",
    "Store",
    "TokenRow",
    "TriggerEventRow",
    "utcnow",
]
