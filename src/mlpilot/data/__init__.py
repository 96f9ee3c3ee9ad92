"""Data: sources, snapshots by content hash, schemas and their validation, reference profiles.

The ingest step of the loop::

    df = load_source(settings.data, settings.project_dir)      # sklearn:, files, SQL, callables
    task = check_target(df, settings.data.target, settings.train.task)
    snap = write_snapshot(df, settings.snapshot_dir)            # <hash>.parquet, stored once
    schema = infer_schema(df)                                   # kept with the model version
    anomalies = validate_batch(new_df, schema, settings.validate_)
    profile = build_profile(X, y, task, predictions, probabilities)  # for drift monitoring

Errors are :mod:`mlpilot.errors` classes: ``DataSourceError``, ``EmptyDataError``,
``TargetError``, ``UserCodeError`` (a callable source raised). ``validate_batch`` returns
:class:`~mlpilot.errors.Anomaly` objects; callers that want to stop raise
``SchemaViolationError(message, anomalies)``.
"""

from mlpilot.data._profile import (
    QUANTILES,
    FeatureProfile,
    PredictionProfile,
    ReferenceProfile,
    build_profile,
    sample_records,
)
from mlpilot.data._schema import (
    ColumnSchema,
    DataSchema,
    infer_schema,
    validate_batch,
)
from mlpilot.data._snapshot import Snapshot, content_hash, read_snapshot, write_snapshot
from mlpilot.data._sources import (
    SKLEARN_DATASETS,
    check_target,
    load_source,
    source_fingerprint,
)

__all__ = [
    "QUANTILES",
    "SKLEARN_DATASETS",
    "ColumnSchema",
    "DataSchema",
    "FeatureProfile",
    "PredictionProfile",
    "ReferenceProfile",
    "Snapshot",
    "build_profile",
    "check_target",
    "content_hash",
    "infer_schema",
    "load_source",
    "read_snapshot",
    "sample_records",
    "source_fingerprint",
    "validate_batch",
    "write_snapshot",
]
