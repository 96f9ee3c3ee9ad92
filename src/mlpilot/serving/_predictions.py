"""The prediction log as one queryable thing: Parquet partitions plus the journal's backlog.

:class:`PredictionLog` answers SQL over four DuckDB views:

- ``predictions``: one row per predicted input row (the fixed ``PREDICTION_COLUMNS`` plus
  ``date``), from the compacted Parquet and from the journal lines not yet compacted. The typed
  ``inputs.<key>`` columns of the part files are not in this view: read them from the Parquet
  with ``read_parquet(..., union_by_name = true)``;
- ``feedback``: the labels received through ``/feedback``, from both places too;
- ``labelled``: each prediction row joined to its latest label (``label``, ``label_ts``). A
  feedback with ``row`` labels that row; one without labels every row of the request, or, when its
  label is a JSON array as long as the request has rows (more than one), row ``i`` gets item ``i``;
- ``errors``: one row per failed prediction request (``ERROR_COLUMNS`` plus ``date``): its HTTP
  ``status``, ``error`` class, ``field`` and ``message``, the ``variant`` and ``model_version``
  when the request was routed before it failed, and ``shadow`` for a challenger's failed shadow
  copy; from both places too.

The journal backlog is small (the compactor trims it every few seconds), so it is read with
plain Python, incrementally, and kept in memory with an index by request id: ``find`` answers
from there for recent predictions without DuckDB. Segments are renamed and deleted under the
reader's feet (closed by their writer, compacted): ``find`` reads the journal before the
Parquet, follows a segment to its closed name, and looks for a miss once more, so that an
answered prediction is always found. ``has_feedback``, given the prediction's time, reads only
the feedback part files that can hold a later label (``feedback_source``), so the duplicate
check of ``/feedback`` does not grow with the number of part files.
"""

from __future__ import annotations

import datetime as dt
import glob as globlib
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from mlpilot.errors import RequestError, ServingError
from mlpilot.serving._journal import (
    closed_path,
    list_segments,
    parse_lines,
    segment_of,
    writer_gone,
)
from mlpilot.serving._rows import (
    ERROR_COLUMNS,
    FEEDBACK_COLUMNS,
    PREDICTION_COLUMNS,
    error_part,
    error_row,
    error_schema,
    feedback_part,
    feedback_row,
    feedback_schema,
    is_local,
    open_url,
    prediction_part,
    prediction_rows,
    prediction_schema,
    request_time,
    rows_table,
)

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    from fsspec import AbstractFileSystem

__all__ = ["PredictionLog", "labelled_sql"]

_HIVE_TYPES = {
    "predictions": "{'date': DATE, 'model_version': BIGINT}",
    "feedback": "{'date': DATE}",
    "errors": "{'date': DATE}",
}
_VIEWS = (
    ("predictions", PREDICTION_COLUMNS),
    ("feedback", FEEDBACK_COLUMNS),
    ("errors", ERROR_COLUMNS),
)
LABEL_CLOCK_SKEW = 60.0
"""Seconds a label's time may precede its prediction's (clocks of different hosts), for
:meth:`PredictionLog.feedback_source`."""
_NEWEST_DAYS = 8  # date partitions whose part files' newest times are kept in memory


def labelled_sql(predictions: str, feedback: str) -> str:
    """Prediction rows of ``predictions`` joined to their latest label from ``feedback``.

    Both are relations (a view name or a parenthesised subquery) with the columns of the views of
    the same names. A feedback with ``row`` labels that row; one without labels every row of the
    request, or, when its label is a JSON array as long as the request has rows (more than one),
    row ``i`` gets item ``i``. The result has the prediction columns plus ``label`` (JSON text)
    and ``label_ts``.
    """
    return f"""
WITH p AS (
    SELECT *, count(*) OVER (PARTITION BY request_id, variant, shadow) AS _rows
    FROM {predictions} AS _p
),
candidates AS (
    SELECT p.request_id, p."row", f.ts AS label_ts,
        CASE
            WHEN f."row" IS NULL AND p._rows > 1 AND json_type(f.label) = 'ARRAY'
                AND json_array_length(f.label) = p._rows
            THEN json_extract(f.label, '$[' || p."row" || ']')::VARCHAR
            ELSE f.label
        END AS label
    FROM p JOIN {feedback} AS f
        ON f.request_id = p.request_id AND (f."row" IS NULL OR f."row" = p."row")
),
latest AS (
    SELECT request_id, "row", arg_max(label, label_ts) AS label, max(label_ts) AS label_ts
    FROM candidates GROUP BY request_id, "row"
)
SELECT p.* EXCLUDE (_rows), latest.label, latest.label_ts
FROM p JOIN latest ON latest.request_id = p.request_id AND latest."row" = p."row"
"""


@dataclass
class _Cached:
    """What has been read of one journal segment."""

    path: Path
    offset: int = 0
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    feedback: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    prediction_rows: list[dict[str, Any]] = field(default_factory=list)
    feedback_rows: list[dict[str, Any]] = field(default_factory=list)
    error_rows: list[dict[str, Any]] = field(default_factory=list)
    compacted: set[str] = field(default_factory=set)  # part files known to exist


class PredictionLog:
    """Read the prediction log: SQL over Parquet ∪ journal (the views ``predictions``,
    ``feedback``, ``labelled`` and ``errors``), ``tail``, ``find``, ``has_feedback``."""

    def __init__(self, journal_dir: Path, predictions_url: str) -> None:
        self.journal_dir = Path(journal_dir)
        self.predictions_url = predictions_url
        self._lock = threading.RLock()
        self._segments: dict[str, _Cached] = {}
        self._con: duckdb.DuckDBPyConnection | None = None
        self._fs: AbstractFileSystem | None = None
        self._root = ""
        self._local = True
        # The newest ``ts`` (µs) of each feedback part file, by date partition (part files are
        # never rewritten with other rows); ``None`` when the file has no statistics.
        self._newest: dict[dt.date, dict[str, int | None]] = {}

    # -- public ------------------------------------------------------------------------------

    def query(self, sql: str) -> pd.DataFrame:
        """Run ``sql`` over the views ``predictions``, ``feedback``, ``labelled`` and
        ``errors``."""
        import duckdb

        with self._lock:
            con = self._prepare()
            try:
                return _frame(con, sql)
            except (duckdb.ProgrammingError, duckdb.DataError, duckdb.ConversionException) as exc:
                raise RequestError(f"the query failed: {exc}", field="sql") from exc
            except duckdb.Error as exc:
                raise ServingError(f"the prediction log could not be read: {exc}") from exc

    def fetch(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run ``sql`` over the views (see :meth:`query`); its rows as tuples, without pandas.

        The journal tables are registered as :meth:`journal_table` names, so a query can also
        read a :meth:`parquet_source` directly and union it with the backlog.
        """
        import duckdb

        with self._lock:
            con = self._prepare()
            try:
                return con.execute(sql, params or []).fetchall()
            except (duckdb.ProgrammingError, duckdb.DataError, duckdb.ConversionException) as exc:
                raise RequestError(f"the query failed: {exc}", field="sql") from exc
            except duckdb.Error as exc:
                raise ServingError(f"the prediction log could not be read: {exc}") from exc

    def dates(self, kind: str = "predictions") -> list[dt.date]:
        """The days ``kind`` has rows for (Parquet partitions and journal backlog), newest first."""
        with self._lock:
            self._connection()
            self._refresh()
            found = set(self._partition_dates(kind))
            for cached in self._segments.values():
                rows = {
                    "predictions": cached.prediction_rows,
                    "feedback": cached.feedback_rows,
                    "errors": cached.error_rows,
                }[kind]
                found.update(r["date"] for r in rows)
        return sorted(found, reverse=True)

    def parquet_source(self, kind: str, since: dt.date | None = None) -> str | None:
        """A DuckDB ``read_parquet(...)`` over the part files of ``kind`` (only the partitions
        from ``since`` on, when given), or ``None`` when there are none."""
        with self._lock:
            self._connection()
            if since is None:
                return self._parquet_source(kind)
            globs = [
                self._partition_glob(kind, day)
                for day in self._partition_dates(kind)
                if day >= since
            ]
            return self._read_parquet(kind, [g for g in globs if g is not None])

    def feedback_source(self, since: float) -> str | None:
        """A DuckDB ``read_parquet(...)`` over the feedback part files that can hold a label
        given at ``since`` (a time in seconds) or later, or ``None`` when there are none.

        Those are the part files of the date partitions from ``since``'s day on, and in them
        the files whose newest ``ts`` (from the Parquet footer, read once per file) is not older
        than ``since``; both less :data:`LABEL_CLOCK_SKEW`. For the label of a recent prediction
        that is the few files compacted since, however many the partition holds.
        """
        start = since - LABEL_CLOCK_SKEW
        first = dt.datetime.fromtimestamp(start, dt.UTC).date()
        floor = round(start * 1_000_000)
        with self._lock:
            self._connection()
            if not self._local:
                assert self._fs is not None
                self._fs.invalidate_cache(f"{self._root}/feedback")  # a new day's partition
            files = [
                path
                for day in sorted(self._partition_dates("feedback"))
                if day >= first
                for path, newest in self._newest_by_file(day).items()
                if newest is None or newest >= floor
            ]
            return self._read_parquet("feedback", [self._duckdb_path(p) for p in files])

    def parquet_columns(self, kind: str, since: dt.date | None = None) -> frozenset[str]:
        """The column names the part files of ``kind`` (from ``since`` on) have, together."""
        source = self.parquet_source(kind, since)
        if source is None:
            return frozenset()
        return frozenset(str(row[0]) for row in self.fetch(f"DESCRIBE SELECT * FROM {source}"))

    def journal_table(self, kind: str) -> str:
        """The name under which queries see the journal's not-yet-compacted rows of ``kind``."""
        return f"_journal_{kind}"

    def tail(self, n: int = 20) -> pd.DataFrame:
        """The newest ``n`` prediction rows, newest request first (its rows in order)."""
        return self.query(
            'SELECT * FROM predictions ORDER BY ts DESC, request_id DESC, "row" '
            f"LIMIT {max(int(n), 0)}"
        )

    def find(self, request_id: str) -> dict[str, Any] | None:
        """The logged prediction for ``request_id`` (its rows merged), or ``None``.

        The non-shadow prediction is preferred when a shadow variant answered the same request.
        A prediction journaled before the call is always found, wherever the compactor has got
        to: the journal is read first, then the Parquet (a segment leaves the journal only once
        its part files are complete), and a miss is looked for once more from a new listing of
        the journal (a listing taken while a segment is renamed may show neither of its names;
        a segment is renamed once).
        """
        frame: pd.DataFrame | None = None
        with self._lock:
            for attempt in range(2):
                if attempt:
                    self._forget_listings()
                self._refresh()
                records = [
                    r for c in self._segments.values() for r in c.records.get(request_id, ())
                ]
                if records:
                    return _from_record(_primary(records, key=lambda r: bool(r.get("shadow"))))
                frame = self._parquet_rows(self._predictions_of(request_id), request_id)
                if frame is not None and not frame.empty:
                    break
        if frame is None or frame.empty:
            return None
        return _from_rows(frame)

    def has_feedback(
        self, request_id: str, label: Any, row: int | None = None, *, since: float | None = None
    ) -> bool:
        """Whether the latest feedback received for ``request_id`` (and ``row``: ``None`` for
        the whole request) already carries exactly this label, so sending it again adds nothing.

        A different label for the same row is a correction, not a duplicate; so is the same
        label for another row.

        ``since`` is the time of the labelled prediction (``find(request_id)["ts"]``). A label
        follows its prediction, so only the feedback part files that can hold a label given
        from then on are read (see :meth:`feedback_source`): the Parquet read no longer grows
        with the number of part files. Without ``since``, every feedback part file is read.
        """
        wanted = _canonical(label)
        latest: tuple[float, bytes] | None = None
        with self._lock:
            self._refresh()
            for cached in self._segments.values():
                for record in cached.feedback.get(request_id, ()):
                    if record.get("row") == row:
                        seen = (float(record.get("ts", 0.0)), _canonical(record.get("label")))
                        latest = seen if latest is None or seen[0] >= latest[0] else latest
            source = (
                self._parquet_source("feedback") if since is None else self.feedback_source(since)
            )
            frame = self._parquet_rows(source, request_id)
        if frame is not None:
            for ts, value, at in zip(frame["ts"], frame["label"], frame["row"], strict=True):
                if (None if at is None or at != at else int(at)) != row:
                    continue
                when = ts.timestamp() if isinstance(ts, dt.datetime) else float(ts)
                seen = (when, _canonical(orjson.loads(value)))
                latest = seen if latest is None or seen[0] >= latest[0] else latest
        return latest is not None and latest[1] == wanted

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None

    # -- DuckDB --------------------------------------------------------------------------------

    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            import duckdb

            self._fs, self._root = open_url(self.predictions_url)
            self._local = is_local(self._fs)
            con = duckdb.connect()
            con.execute("SET TimeZone = 'UTC'")
            if not self._local:
                con.register_filesystem(self._fs)
            self._con = con
        return self._con

    def _glob(self, kind: str) -> str | None:
        """The Parquet glob of ``kind`` (a view's name) when it matches a file."""
        depth = "*/*" if kind == "predictions" else "*"
        return self._existing(f"{self._root}/{kind}/{depth}/*.parquet")

    def _existing(self, pattern: str) -> str | None:
        """``pattern`` as DuckDB should read it, when it matches at least one file."""
        if self._local:
            found = next(globlib.iglob(pattern), None) is not None  # noqa: PTH207 - stops at the first
        else:
            assert self._fs is not None
            found = bool(self._fs.glob(pattern))
        if not found:
            return None
        if self._local or self._fs is None:
            return pattern
        return str(self._fs.unstrip_protocol(pattern))

    def _parquet_source(self, kind: str) -> str | None:
        self._connection()  # sets the root
        pattern = self._glob(kind)
        return None if pattern is None else self._read_parquet(kind, [pattern])

    def _read_parquet(self, kind: str, patterns: list[str]) -> str | None:
        if not patterns:
            return None
        listed = ", ".join("'" + p.replace("'", "''") + "'" for p in patterns)
        return (
            f"read_parquet([{listed}], hive_partitioning = true, "
            f"hive_types = {_HIVE_TYPES[kind]}, union_by_name = true)"
        )

    def _partition_dates(self, kind: str) -> list[dt.date]:
        """The ``date=`` partitions of ``kind`` in Parquet."""
        assert self._fs is not None
        base = f"{self._root}/{kind}"
        try:
            names = (
                [p.name for p in Path(base).iterdir()]
                if self._local
                else [
                    str(p).rstrip("/").rsplit("/", 1)[-1] for p in self._fs.ls(base, detail=False)
                ]
            )
        except (FileNotFoundError, NotADirectoryError):
            return []
        days: list[dt.date] = []
        for name in names:
            if name.startswith("date="):
                try:
                    days.append(dt.date.fromisoformat(name[5:]))
                except ValueError:
                    continue
        return days

    def _newest_by_file(self, day: dt.date) -> dict[str, int | None]:
        """The feedback part files of partition ``day``, each with its newest ``ts`` (µs)."""
        assert self._fs is not None
        base = f"{self._root}/feedback/date={day.isoformat()}"
        try:
            if self._local:
                with os.scandir(base) as entries:
                    names = [f"{base}/{e.name}" for e in entries]
            else:
                self._fs.invalidate_cache(base)
                names = [str(p) for p in self._fs.ls(base, detail=False)]
        except (FileNotFoundError, NotADirectoryError):
            names = []
        known = self._newest.pop(day, {})
        current = {
            path: known[path] if path in known else self._newest_ts(path)
            for path in names
            if path.endswith(".parquet")
        }
        # Only the files listed now are kept, for the most recently used partitions.
        self._newest[day] = {p: t for p, t in current.items() if t is not None}
        while len(self._newest) > _NEWEST_DAYS:
            del self._newest[next(iter(self._newest))]
        return current

    def _newest_ts(self, path: str) -> int | None:
        """The newest ``ts`` (µs) in the part file ``path``, from its footer's statistics;
        ``None`` when they are missing or the file cannot be read."""
        import pyarrow.parquet as pq

        try:
            if self._local:
                meta = pq.read_metadata(path)
            else:
                assert self._fs is not None
                with self._fs.open(path, "rb") as handle:
                    meta = pq.read_metadata(handle)
        except (OSError, ValueError):  # e.g. pyarrow's ArrowInvalid, a file not yet complete
            return None
        column = next(
            (i for i in range(meta.num_columns) if meta.schema.column(i).path == "ts"),
            None,
        )
        if column is None:
            return None
        newest: int | None = None
        for group in range(meta.num_row_groups):
            stats = meta.row_group(group).column(column).statistics
            if stats is None or not stats.has_min_max or not isinstance(stats.max, dt.datetime):
                return None
            value = stats.max if stats.max.tzinfo else stats.max.replace(tzinfo=dt.UTC)
            micros = round(value.timestamp() * 1_000_000)
            newest = micros if newest is None else max(newest, micros)
        return newest

    def _duckdb_path(self, path: str) -> str:
        """``path`` (on the predictions filesystem) as DuckDB reads it."""
        if self._local or self._fs is None:
            return path
        return str(self._fs.unstrip_protocol(path))

    def _forget_listings(self) -> None:
        """Drop the filesystem's cached directory listings (remote filesystems keep some)."""
        if not self._local and self._fs is not None:
            self._fs.invalidate_cache()

    def _partition_glob(self, kind: str, day: dt.date) -> str | None:
        depth = "*/*" if kind == "predictions" else "*"
        pattern = f"{self._root}/{kind}/date={day.isoformat()}/{depth}.parquet"
        return self._existing(pattern)

    def _predictions_of(self, request_id: str) -> str | None:
        """The predictions part files that can hold ``request_id``: for an id of
        :func:`new_request_id`, the partitions of the days within an hour of its time (the
        prediction is journaled with the time of its answer, taken on the same clock); all of
        them for any other id."""
        at = request_time(request_id)
        if at is None:
            return self._parquet_source("predictions")
        days = sorted(
            {dt.datetime.fromtimestamp(at + shift, dt.UTC).date() for shift in (-3600, 0, 3600)}
        )
        globs = [self._partition_glob("predictions", day) for day in days]
        return self._read_parquet("predictions", [g for g in globs if g is not None])

    def _parquet_rows(self, source: str | None, request_id: str) -> pd.DataFrame | None:
        """The rows of ``request_id`` in ``source`` (a ``read_parquet(...)``), by row."""
        import duckdb

        con = self._connection()
        if source is None:
            return None
        try:
            return _frame(
                con, f'SELECT * FROM {source} WHERE request_id = ? ORDER BY "row"', [request_id]
            )
        except duckdb.Error as exc:
            raise ServingError(f"the prediction log could not be read: {exc}") from exc

    def _prepare(self) -> duckdb.DuckDBPyConnection:
        con = self._connection()
        self._refresh()
        for kind, table in self._journal_tables().items():
            con.register(f"_journal_{kind}", table)
        for kind, columns in _VIEWS:
            select = ", ".join(f'"{c}"' for c in (*columns, "date"))
            source = self._parquet_source(kind)
            parts = [f"SELECT {select} FROM _journal_{kind}"]
            if source is not None:
                parts.insert(0, f"SELECT {select} FROM {source}")
            con.execute(f"CREATE OR REPLACE TEMP VIEW {kind} AS {' UNION ALL '.join(parts)}")
        con.execute(
            "CREATE OR REPLACE TEMP VIEW labelled AS " + labelled_sql("predictions", "feedback")
        )
        return con

    # -- the journal ---------------------------------------------------------------------------

    def _refresh(self) -> None:
        """Read what was appended to the journal since the last call.

        A segment may be closed (renamed) or compacted and deleted at any time, also between
        the listing and the read. A segment whose open name is gone is read under its closed
        name; a known segment missing from the listing is kept while it still exists (a listing
        taken during a rename may show neither name); one that is gone was compacted, and its
        rows are in Parquet, which callers read after this.
        """
        segments = list_segments(self.journal_dir)
        present = {s.stem for s in segments}
        for stem in [s for s in self._segments if s not in present]:
            if not self._read(self._segments[stem]):
                del self._segments[stem]
        for segment in segments:
            cached = self._segments.get(segment.stem)
            if cached is None:
                cached = self._segments[segment.stem] = _Cached(path=segment.path)
            elif segment.closed:
                cached.path = segment.path
            self._read(cached)

    def _read(self, cached: _Cached) -> bool:
        """Read what was appended to one segment since the last read; ``False`` when it is gone.

        Tries its path, then its closed name (its writer may have closed it meanwhile).
        """
        for path in dict.fromkeys((cached.path, closed_path(cached.path))):
            try:
                size = path.stat().st_size
                data = b""
                if size > cached.offset:
                    with path.open("rb") as handle:
                        handle.seek(cached.offset)
                        data = handle.read(size - cached.offset)
            except FileNotFoundError:
                continue
            cached.path = path
            break
        else:
            return False
        records, used = parse_lines(data, path.name)
        cached.offset += used
        for record in records:
            request_id = str(record.get("request_id", ""))
            kind = record.get("kind")
            if kind == "prediction":
                cached.records.setdefault(request_id, []).append(record)
                cached.prediction_rows.extend(prediction_rows(record))
            elif kind == "feedback":
                cached.feedback.setdefault(request_id, []).append(record)
                cached.feedback_rows.append(feedback_row(record))
            elif kind == "error":
                cached.error_rows.append(error_row(record))
        return True

    def _journal_tables(self) -> dict[str, Any]:
        """The journal's rows not yet in Parquet, as one pyarrow table per view."""
        predictions: list[dict[str, Any]] = []
        feedback: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for stem, cached in self._segments.items():
            done = self._compacted_parts(cached, stem) if _is_closed(cached) else set()
            if not done:
                predictions.extend(cached.prediction_rows)
                feedback.extend(cached.feedback_rows)
                errors.extend(cached.error_rows)
                continue
            predictions.extend(
                r
                for r in cached.prediction_rows
                if prediction_part(self._root, r["date"], r["model_version"], stem) not in done
            )
            feedback.extend(
                r
                for r in cached.feedback_rows
                if feedback_part(self._root, r["date"], stem) not in done
            )
            errors.extend(
                r for r in cached.error_rows if error_part(self._root, r["date"], stem) not in done
            )
        return {
            "predictions": rows_table(predictions, prediction_schema(with_date=True)),
            "feedback": rows_table(feedback, feedback_schema(with_date=True)),
            "errors": rows_table(errors, error_schema(with_date=True)),
        }

    def _compacted_parts(self, cached: _Cached, stem: str) -> set[str]:
        """Part files of a closed segment that already exist (a compaction is under way)."""
        assert self._fs is not None
        wanted = {
            prediction_part(self._root, r["date"], r["model_version"], stem)
            for r in cached.prediction_rows
        }
        wanted |= {feedback_part(self._root, r["date"], stem) for r in cached.feedback_rows}
        wanted |= {error_part(self._root, r["date"], stem) for r in cached.error_rows}
        for part in wanted - cached.compacted:
            if self._fs.exists(part):
                cached.compacted.add(part)
        return cached.compacted


def _is_closed(cached: _Cached) -> bool:
    segment = segment_of(cached.path)
    return segment is not None and writer_gone(segment)


def _primary(items: list[Any], *, key: Any) -> Any:
    """The first non-shadow item, else the first."""
    for item in items:
        if not key(item):
            return item
    return items[0]


def _from_record(record: Mapping[str, Any]) -> dict[str, Any]:
    inputs = list(record.get("inputs") or [])
    return {
        "request_id": str(record.get("request_id", "")),
        "ts": float(record.get("ts", 0.0)),
        "deployment": record.get("deployment"),
        "variant": record.get("variant"),
        "model_version": record.get("model_version"),
        "shadow": bool(record.get("shadow", False)),
        "latency_ms": record.get("latency_ms"),
        "inputs": inputs,
        "predictions": list(record.get("predictions") or []),
        "probabilities": record.get("probabilities"),
        "rows": len(inputs),
    }


def _from_rows(frame: pd.DataFrame) -> dict[str, Any]:
    groups = [g for _, g in frame.groupby(["variant", "shadow"], dropna=False, sort=False)]
    rows = _primary(groups, key=lambda g: bool(g["shadow"].iloc[0])).sort_values("row")
    first = rows.iloc[0]
    probabilities = [orjson.loads(p) if isinstance(p, str) else None for p in rows["probabilities"]]
    ts = first["ts"]
    return {
        "request_id": str(first["request_id"]),
        "ts": ts.timestamp() if isinstance(ts, dt.datetime) else float(ts),
        "deployment": first["deployment"],
        "variant": first["variant"],
        "model_version": int(first["model_version"]),
        "shadow": bool(first["shadow"]),
        "latency_ms": float(first["latency_ms"]),
        "inputs": [orjson.loads(v) for v in rows["inputs"]],
        "predictions": [orjson.loads(v) for v in rows["prediction"]],
        "probabilities": None if all(p is None for p in probabilities) else probabilities,
        "rows": len(rows),
    }


def _frame(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None
) -> pd.DataFrame:
    """Run ``sql``; its result as pandas, through Arrow (DuckDB's ``df()`` warns on pandas 3.1)."""
    relation: duckdb.DuckDBPyRelation | None = con.sql(sql, params=params)
    if relation is None:  # a statement without a result (DDL)
        import pandas as pd

        return pd.DataFrame()
    frame: pd.DataFrame = relation.to_arrow_table().to_pandas()
    return frame


def _canonical(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY)
