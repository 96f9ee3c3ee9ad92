"""Snapshots: a data set stored once, as Parquet, under the hash of its content."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mlpilot.errors import DataError, DataSourceError

_HASH = re.compile(r"^[0-9a-f]{64}$")


def content_hash(df: pd.DataFrame) -> str:
    """The sha256 (hex) of a frame's column names, dtypes, values and row order.

    The index is ignored. The same data gives the same hash in every process: the row hashes
    come from :func:`pandas.util.hash_pandas_object`, which uses a fixed key.
    """
    header = json.dumps(
        {"columns": [[str(c), str(t)] for c, t in df.dtypes.items()], "rows": len(df)},
        separators=(",", ":"),
    )
    digest = hashlib.sha256(header.encode())
    if len(df.columns) and len(df):
        rows = pd.util.hash_pandas_object(df, index=False)
        digest.update(rows.to_numpy().tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class Snapshot:
    """A data set stored as ``<snapshot_dir>/<hash>.parquet``."""

    hash: str
    path: Path
    rows: int
    columns: tuple[str, ...]


def write_snapshot(df: pd.DataFrame, snapshot_dir: Path) -> Snapshot:
    """Store ``df`` once under its content hash; a snapshot already there is not rewritten.

    The file is written to a temporary name in ``snapshot_dir`` and renamed into place, so a
    reader never sees a partial file. The index is not stored.

    Raises:
        DataError: the frame cannot be stored as Parquet (e.g. a column mixes types).
    """
    digest = content_hash(df)
    columns = tuple(str(c) for c in df.columns)
    path = snapshot_dir / f"{digest}.parquet"
    snapshot = Snapshot(hash=digest, path=path, rows=len(df), columns=columns)
    if path.exists():
        return snapshot
    try:
        snapshot_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(
            f"cannot create the snapshot directory {snapshot_dir}: {exc.strerror}; check its "
            "permissions or set [store] home elsewhere"
        ) from exc
    fd, tmp_name = tempfile.mkstemp(dir=snapshot_dir, prefix=f".{digest[:12]}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        df.to_parquet(tmp, index=False)
        tmp.replace(path)  # atomic: readers see the old state or the whole file
    except Exception as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise DataError(
            f"cannot store the data ({len(df)} rows, columns {list(columns)[:10]}) as the "
            f"snapshot {path.name}: {type(exc).__name__}: {exc}; give every column a single "
            "type (e.g. convert mixed object columns with astype(str))"
        ) from exc
    return snapshot


def read_snapshot(hash: str, snapshot_dir: Path) -> pd.DataFrame:
    """The data stored by :func:`write_snapshot` under ``hash``.

    Raises:
        DataSourceError: ``hash`` is malformed, or no such snapshot is stored, or it is
            unreadable.
    """
    if not _HASH.match(hash):
        raise DataSourceError(
            f"{hash!r} is not a snapshot hash (64 lower-case hex characters); copy it from "
            "the run that made the snapshot"
        )
    path = snapshot_dir / f"{hash}.parquet"
    if not path.is_file():
        raise DataSourceError(
            f"no snapshot {hash[:12]} in {snapshot_dir} (looked for {path.name}); it may have "
            "been deleted: re-run the pipeline to ingest the data again"
        )
    try:
        return pd.read_parquet(path)
    except Exception as exc:
        raise DataSourceError(
            f"the snapshot {path} cannot be read: {type(exc).__name__}: {exc}; delete it and "
            "re-run the pipeline to ingest the data again"
        ) from exc
