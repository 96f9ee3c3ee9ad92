"""The prediction journal: an append-only local log, and its compactor to Parquet.

Each serving worker process owns one :class:`Journal`. Every answered prediction is appended as
one JSON line (``"kind": "prediction"``), written to the operating system before the response is
sent, so killing the process loses no acknowledged prediction (``fsync=True`` also survives a
power loss). A prediction request that failed is appended too (``"kind": "error"``: its HTTP
status, error class, field and message), and so is every label received (``"kind": "feedback"``).

Segments are files in the journal directory::

    <worker>-<pid>-<unix_ms>-<seq>.jsonl          open: a live writer appends to it
    <worker>-<pid>-<unix_ms>-<seq>.closed.jsonl   closed: ready for the compactor

An open segment whose writer process is gone (killed) counts as closed. The :class:`Compactor`
turns closed segments into Parquet under ``predictions_url``::

    predictions/date=YYYY-MM-DD/model_version=N/part-<segment stem>.parquet
    feedback/date=YYYY-MM-DD/part-<segment stem>.parquet
    errors/date=YYYY-MM-DD/part-<segment stem>.parquet

and deletes a segment only once its Parquet files are complete. Part names derive from the
segment, so redoing a half-finished compaction rewrites the same files instead of duplicating rows.

A predictions part has one row per input row: the fixed ``PREDICTION_COLUMNS`` (``inputs`` is
the row's JSON object, the source of truth), then one typed column per top-level key of the input
objects, named ``INPUT_PREFIX`` + key (``"inputs.mean radius"``), so that per-feature reads
need not parse JSON. Types are inferred per part file (see ``_rows.input_columns``), so two parts
may differ in which ``inputs.*`` columns they have and, rarely, in a column's type; read them with
DuckDB's ``read_parquet(..., union_by_name = true)``, which fills a missing column with NULL.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import logging
import os
import re
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from mlpilot.errors import ServingError
from mlpilot.serving._rows import (
    error_part,
    error_row,
    error_schema,
    feedback_part,
    feedback_row,
    feedback_schema,
    input_columns,
    is_local,
    json_default,
    open_url,
    prediction_part,
    prediction_rows,
    prediction_schema,
    rows_table,
)

if TYPE_CHECKING:
    import pyarrow as pa
    from fsspec import AbstractFileSystem

__all__ = ["Compactor", "Journal", "run_compactor"]

_log = logging.getLogger("mlpilot.serving")

OPEN_SUFFIX = ".jsonl"
CLOSED_SUFFIX = ".closed.jsonl"
_SAFE = re.compile(r"[^A-Za-z0-9_.]+")
_DUMPS_OPTIONS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_SERIALIZE_NUMPY

# Paths of segments held open by a Journal in this process (a segment of this pid that is not
# here was abandoned by a Journal that was never closed).
_LIVE_SEGMENTS: set[str] = set()


def _dumps(record: Mapping[str, Any]) -> bytes:
    return orjson.dumps(record, default=json_default, option=_DUMPS_OPTIONS)


class Journal:
    """An append-only, segmented journal of predictions, errors and feedback for one worker.

    ``append`` writes one JSON line with a single ``os.write`` on a file opened with ``O_APPEND``
    (no user-space buffer), so the line is in the operating system when ``append`` returns. It is
    thread-safe. Segments open lazily on the first append and rotate past ``segment_bytes``.
    """

    def __init__(
        self,
        directory: Path,
        worker: str,
        *,
        segment_bytes: int = 16 << 20,
        fsync: bool = False,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.worker = _SAFE.sub("_", worker) or "worker"
        self.pid = os.getpid()
        self.segment_bytes = int(segment_bytes)
        self.fsync = fsync
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._path: Path | None = None
        self._size = 0
        self._seq = 0
        self._closed = False

    # -- writing -----------------------------------------------------------------------------

    def append(self, record: Mapping[str, Any]) -> None:
        """Append ``record`` as one JSON line, handed to the OS before returning."""
        data = _dumps(record)
        with self._lock:
            if self._closed:
                raise ServingError(
                    f"the prediction journal {self.directory} of {self.worker} is closed; "
                    "the worker is shutting down"
                )
            fd = self._fd
            if fd is None:
                fd = self._open_segment()
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            if self.fsync:
                os.fsync(fd)
            self._size += len(data)
            if self._size >= self.segment_bytes:
                self._rotate_locked()

    def _open_segment(self) -> int:
        self._seq += 1
        stem = f"{self.worker}-{self.pid}-{int(time.time() * 1000)}-{self._seq}"
        path = self.directory / f"{stem}{OPEN_SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._fd, self._path, self._size = fd, path, 0
        _LIVE_SEGMENTS.add(str(path))
        return fd

    def rotate(self) -> Path | None:
        """Close the current segment so the compactor can take it; return its new path."""
        with self._lock:
            return self._rotate_locked()

    def _rotate_locked(self) -> Path | None:
        fd, path = self._fd, self._path
        if fd is None or path is None:
            return None
        self._fd, self._path = None, None
        try:
            try:
                if self.fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            if self._size == 0:
                path.unlink(missing_ok=True)
                return None
            closed = closed_path(path)
            path.replace(closed)
        finally:
            # Live until renamed: a compactor of this process must not take it meanwhile.
            _LIVE_SEGMENTS.discard(str(path))
        if self.fsync:
            _fsync_dir(self.directory)
        self._size = 0
        return closed

    def close(self) -> None:
        """Close the current segment (it becomes ready for the compactor); idempotent."""
        with self._lock:
            self._rotate_locked()
            self._closed = True

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- observing ---------------------------------------------------------------------------

    @property
    def current_segment(self) -> Path | None:
        """The segment being appended to, if one is open."""
        return self._path

    @property
    def backlog_bytes(self) -> int:
        """Bytes in this directory's segments (open or closed) not yet compacted."""
        return journal_backlog_bytes(self.directory)


def journal_backlog_bytes(directory: Path) -> int:
    """Bytes in the segments of a journal directory (all workers); 0 when it does not exist."""
    total = 0
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.name.endswith(OPEN_SUFFIX):
                    with contextlib.suppress(FileNotFoundError):
                        total += entry.stat().st_size
    except FileNotFoundError:
        return 0
    return total


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# -- segments ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """One journal file: its path, stem (name without suffixes), and whether it is closed."""

    path: Path
    stem: str
    closed: bool
    pid: int | None


def segment_of(path: Path) -> Segment | None:
    """Parse a journal file name; ``None`` when the file is not a segment."""
    name = path.name
    if name.endswith(CLOSED_SUFFIX):
        stem, closed = name[: -len(CLOSED_SUFFIX)], True
    elif name.endswith(OPEN_SUFFIX):
        stem, closed = name[: -len(OPEN_SUFFIX)], False
    else:
        return None
    parts = stem.rsplit("-", 3)
    pid = int(parts[1]) if len(parts) == 4 and parts[1].isdigit() else None
    return Segment(path=path, stem=stem, closed=closed, pid=pid)


def closed_path(path: Path) -> Path:
    """The name an open segment ``path`` takes when it is closed (``path`` if it is closed)."""
    if path.name.endswith(CLOSED_SUFFIX) or not path.name.endswith(OPEN_SUFFIX):
        return path
    return path.with_name(path.name[: -len(OPEN_SUFFIX)] + CLOSED_SUFFIX)


def list_segments(directory: Path) -> list[Segment]:
    """The segments in ``directory``, oldest first; empty when the directory does not exist."""
    try:
        paths = list(Path(directory).iterdir())
    except FileNotFoundError:
        return []
    segments = [s for s in (segment_of(p) for p in paths) if s is not None]
    return sorted(segments, key=_segment_order)


def _segment_order(segment: Segment) -> tuple[int, int, str]:
    parts = segment.stem.rsplit("-", 3)
    if len(parts) == 4 and parts[2].isdigit() and parts[3].isdigit():
        return int(parts[2]), int(parts[3]), segment.stem
    return 0, 0, segment.stem


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def writer_gone(segment: Segment) -> bool:
    """True when an open segment's writer no longer exists on this host."""
    if segment.closed:
        return True
    if segment.pid is None:
        return False
    if segment.pid == os.getpid():
        return str(segment.path) not in _LIVE_SEGMENTS
    return not _pid_alive(segment.pid)


def parse_lines(data: bytes, source: str) -> tuple[list[dict[str, Any]], int]:
    """Parse complete JSON lines from ``data``; return records and the bytes consumed.

    A trailing line without its newline is left unconsumed (it may still be being written, or be
    torn by a crash). A line that does not parse is skipped with a warning.
    """
    records: list[dict[str, Any]] = []
    end = data.rfind(b"\n") + 1
    if end == 0:
        return records, 0
    for number, line in enumerate(data[:end].split(b"\n")[:-1], start=1):
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            _log.warning("journal %s: skipped line %d, not valid JSON", source, number)
            continue
        if isinstance(value, dict):
            records.append(value)
        else:
            _log.warning("journal %s: skipped line %d, not a JSON object", source, number)
    return records, end


def read_segment(path: Path) -> list[dict[str, Any]]:
    """Every record of a segment that is no longer written; a torn last line is skipped."""
    data = path.read_bytes()
    records, used = parse_lines(data, path.name)
    rest = data[used:]
    if rest.strip():
        try:
            value = orjson.loads(rest)  # a whole line that only lacks its newline
        except orjson.JSONDecodeError:
            value = None
        if isinstance(value, dict):
            records.append(value)
        else:
            _log.warning("journal %s: skipped a torn last line (%d bytes)", path.name, len(rest))
    return records


# -- compaction -------------------------------------------------------------------------------


@dataclass
class _Batch:
    predictions: dict[tuple[dt.date, int | None], list[dict[str, Any]]] = field(
        default_factory=dict
    )
    feedback: dict[dt.date, list[dict[str, Any]]] = field(default_factory=dict)
    errors: dict[dt.date, list[dict[str, Any]]] = field(default_factory=dict)


class Compactor:
    """Turns closed journal segments into Parquet partitions under ``predictions_url``.

    Several workers may each run one on the same directory: a file lock lets one compact at a
    time, the others skip the round.
    """

    def __init__(self, journal_dir: Path, predictions_url: str) -> None:
        self.journal_dir = Path(journal_dir)
        self.predictions_url = predictions_url
        self._fs: AbstractFileSystem | None = None
        self._root = ""
        self._lock = threading.Lock()

    def _filesystem(self) -> tuple[AbstractFileSystem, str]:
        if self._fs is None:
            self._fs, self._root = open_url(self.predictions_url)
        return self._fs, self._root

    def compact_once(self) -> int:
        """Compact every closed segment (and every segment whose writer died); return how many."""
        if not self.journal_dir.is_dir():
            return 0
        with self._lock, _directory_lock(self.journal_dir) as acquired:
            if not acquired:
                return 0
            done = 0
            for segment in list_segments(self.journal_dir):
                if not writer_gone(segment):
                    continue
                with _gc_paused():
                    self._compact(segment)
                done += 1
            return done

    def _compact(self, segment: Segment) -> None:
        path = segment.path
        if not segment.closed:
            closed = closed_path(path)
            try:
                path.replace(closed)
            except FileNotFoundError:
                pass  # its writer closed it since the listing
            else:
                _log.info("journal %s: writer %s is gone, compacting it", path.name, segment.pid)
            path = closed
        batch = _Batch()
        for record in read_segment(path):
            kind = record.get("kind")
            if kind == "prediction":
                for row in prediction_rows(record):
                    key = (row["date"], row["model_version"])
                    batch.predictions.setdefault(key, []).append(row)
            elif kind == "feedback":
                row = feedback_row(record)
                batch.feedback.setdefault(row["date"], []).append(row)
            elif kind == "error":
                row = error_row(record)
                batch.errors.setdefault(row["date"], []).append(row)
            else:
                _log.warning("journal %s: skipped a record of unknown kind %r", path.name, kind)
        fs, root = self._filesystem()
        for (day, mv), rows in sorted(batch.predictions.items(), key=_partition_key):
            table = rows_table(_in_order(rows), prediction_schema())
            for name, column in input_columns([r["_input"] for r in rows]):
                table = table.append_column(name, column)
            self._write(fs, prediction_part(root, day, mv, segment.stem), table)
        for day, rows in sorted(batch.feedback.items()):
            table = rows_table(_in_order(rows), feedback_schema())
            self._write(fs, feedback_part(root, day, segment.stem), table)
        for day, rows in sorted(batch.errors.items()):
            table = rows_table(_in_order(rows), error_schema())
            self._write(fs, error_part(root, day, segment.stem), table)
        path.unlink(missing_ok=True)

    @staticmethod
    def _write(fs: AbstractFileSystem, target: str, table: pa.Table) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        # Floats and timestamps rarely repeat: a dictionary for them costs time and bytes.
        dictionary = [
            f.name
            for f in table.schema
            if not (pa.types.is_floating(f.type) or pa.types.is_timestamp(f.type))
        ]
        parent = target.rsplit("/", 1)[0]
        fs.makedirs(parent, exist_ok=True)
        if is_local(fs):
            # Write beside, then rename: a reader never sees a half-written part file.
            tmp = f"{target}.tmp-{os.getpid()}"
            pq.write_table(table, tmp, compression="zstd", use_dictionary=dictionary)
            Path(tmp).replace(target)
        else:
            with fs.open(target, "wb") as handle:
                pq.write_table(table, handle, compression="zstd", use_dictionary=dictionary)


def _in_order(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` sorted in place by time, request and row (the order of a part file)."""
    rows.sort(key=lambda r: (r["ts"], r["request_id"], -1 if r.get("row") is None else r["row"]))
    return rows


def _partition_key(item: tuple[tuple[dt.date, int | None], Any]) -> tuple[dt.date, int]:
    (day, mv), _ = item
    return day, -1 if mv is None else mv


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while compacting a segment.

    A segment parses into millions of small dicts and lists; they hold no reference cycles
    (reference counting frees them), yet their allocation triggers full collections over and
    over, which cost about a third of a compaction's time.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextlib.contextmanager
def _directory_lock(directory: Path) -> Iterator[bool]:
    """A non-blocking inter-process lock on ``directory``; yields whether it was acquired."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield True
        return
    fd = os.open(directory / ".compactor.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def run_compactor(
    compactor: Compactor,
    stop: threading.Event,
    every: float,
    *,
    journal: Journal | None = None,
) -> None:
    """Compact every ``every`` seconds until ``stop`` is set; never raises (errors are logged).

    With ``journal``, its current segment is rotated first, so that predictions reach Parquet
    within about ``every`` seconds even when traffic is too low to fill a segment. A last round
    runs when ``stop`` is set.
    """
    while True:
        stopping = stop.wait(every)
        try:
            if journal is not None:
                journal.rotate()
            compactor.compact_once()
        except Exception:
            _log.exception("journal compaction failed; retrying in %.1f s", every)
        if stopping:
            return
