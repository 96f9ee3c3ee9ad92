"""The duplicate-label check of ``/feedback`` reads only the feedback part files that can hold a
label of the prediction being labelled (``PredictionLog.feedback_source``), and runs off the
event loop."""

import asyncio
import datetime as dt
import re
import threading
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
from fastapi import FastAPI
from tests.conftest import write_project
from tests.unit.serving._records import feedback, prediction

from mlpilot.config import load_settings
from mlpilot.serving import _predictions
from mlpilot.serving._app import create_app
from mlpilot.serving._journal import Compactor, Journal
from mlpilot.serving._metrics import ServiceMetrics
from mlpilot.serving._predictions import LABEL_CLOCK_SKEW, PredictionLog
from mlpilot.serving._rows import new_request_id, request_time
from mlpilot.serving._service import record_feedback

DAY1 = dt.datetime(2023, 11, 13, tzinfo=dt.UTC).timestamp()
DAY2 = DAY1 + 86_400.0


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, str]:
    return tmp_path / "journal", str(tmp_path / "parquet")


def compacted(journal: Journal, url: str, *records: dict[str, Any]) -> None:
    """Append ``records`` and compact them, into part files of their own."""
    for record in records:
        journal.append(record)
    journal.rotate()
    assert Compactor(journal.directory, url).compact_once() == 1


def parts(url: str) -> dict[str, str]:
    """The feedback part files under ``url``, by ``<date>/<n>`` in the order written."""
    found = sorted(Path(url, "feedback").glob("date=*/*.parquet"), key=_segment_order)
    return {f"{p.parent.name[5:]}/{i}": str(p) for i, p in enumerate(found)}


def _segment_order(part: Path) -> tuple[int, int]:
    """``part-<worker>-<pid>-<unix_ms>-<seq>.parquet``: by the segment's time and number."""
    unix_ms, seq = part.name.removesuffix(".parquet").rsplit("-", 2)[1:]
    return int(unix_ms), int(seq)


def files_of(source: str | None) -> set[str]:
    """The files a ``read_parquet([...])`` source reads (none when ``source`` is ``None``)."""
    if source is None:
        return set()
    listed = re.fullmatch(r"read_parquet\(\[(.*?)\], hive_partitioning.*", source)
    assert listed is not None, source
    return {item.strip().strip("'") for item in listed.group(1).split(",")}


class Recorder:
    """Records the SQL the prediction log runs through DuckDB (``_predictions._frame``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sql: list[str] = []
        real = _predictions._frame

        def frame(con: Any, sql: str, params: list[Any] | None = None) -> Any:
            self.sql.append(sql)
            return real(con, sql, params)

        monkeypatch.setattr(_predictions, "_frame", frame)

    def feedback_files(self) -> set[str]:
        """The files of the feedback reads so far (each read is a whole ``read_parquet``)."""
        read: set[str] = set()
        for sql in self.sql:
            source = re.search(r"FROM (read_parquet\(.*?union_by_name = true\))", sql)
            assert source is not None, sql
            files = files_of(source.group(1))
            if any("/feedback/" in f for f in files):
                read |= files
        return read


def test_only_the_parts_that_can_hold_a_later_label_are_read(
    dirs: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    journal_dir, url = dirs
    journal = Journal(journal_dir, "w1")
    compacted(
        journal, url, prediction("old", ts=DAY1 + 100, rows=2), feedback("old", 0, ts=DAY1 + 200)
    )
    compacted(
        journal, url, prediction("a", ts=DAY2 + 1_000, rows=2), feedback("other", 1, ts=DAY2 + 500)
    )
    compacted(journal, url, feedback("a", 1, ts=DAY2 + 2_000))
    compacted(journal, url, feedback("a", 2, ts=DAY2 + 3_000, row=1))
    files = parts(url)
    assert sorted(files) == ["2023-11-13/0", "2023-11-14/1", "2023-11-14/2", "2023-11-14/3"]

    log = PredictionLog(journal_dir, url)
    found = log.find("a")
    assert found is not None
    since = found["ts"]
    # Not the other day's partition, nor the part whose labels all precede the prediction.
    assert files_of(log.feedback_source(since)) == {files["2023-11-14/2"], files["2023-11-14/3"]}
    assert files_of(log.feedback_source(DAY2 + 2_500)) == {files["2023-11-14/3"]}
    assert log.feedback_source(DAY2 + 3_000 + LABEL_CLOCK_SKEW + 1) is None
    assert files_of(log.feedback_source(DAY1)) == set(files.values())

    recorder = Recorder(monkeypatch)
    assert log.has_feedback("a", 1, since=since)
    assert not log.has_feedback("a", 2, since=since)
    assert log.has_feedback("a", 2, 1, since=since)
    assert not log.has_feedback("a", 1, 0, since=since)
    assert recorder.feedback_files() == {files["2023-11-14/2"], files["2023-11-14/3"]}
    # The same answers as from every part file.
    assert [log.has_feedback("a", 1), log.has_feedback("a", 2, 1)] == [True, True]
    assert [log.has_feedback("a", 2), log.has_feedback("a", 1, 0)] == [False, False]


def test_a_part_file_footer_is_read_once_and_other_days_never(
    dirs: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    journal_dir, url = dirs
    journal = Journal(journal_dir, "w1")
    compacted(journal, url, feedback("old", 0, ts=DAY1 + 200))
    compacted(
        journal, url, prediction("a", ts=DAY2 + 1_000, rows=2), feedback("a", 1, ts=DAY2 + 2_000)
    )
    files = parts(url)
    opened: list[str] = []
    real = pq.read_metadata

    def read_metadata(where: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(str(where))
        return real(where, *args, **kwargs)

    monkeypatch.setattr(pq, "read_metadata", read_metadata)
    log = PredictionLog(journal_dir, url)
    for _ in range(3):
        assert log.has_feedback("a", 1, since=DAY2 + 1_000)
    assert opened == [files["2023-11-14/1"]]
    # A part compacted later is read (once) too.
    compacted(journal, url, feedback("a", 2, ts=DAY2 + 4_000))
    assert not log.has_feedback("a", 1, since=DAY2 + 1_000)
    assert log.has_feedback("a", 2, since=DAY2 + 1_000)
    assert len(opened) == 2
    assert files["2023-11-13/0"] not in opened


def test_nothing_is_read_when_no_part_can_hold_a_label(
    dirs: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    journal_dir, url = dirs
    journal = Journal(journal_dir, "w1")
    compacted(journal, url, feedback("x", 0, ts=DAY1 + 200))
    journal.append(prediction("a", ts=DAY2, rows=2))
    journal.append(feedback("a", 1, ts=DAY2 + 10))  # still in the journal
    recorder = Recorder(monkeypatch)
    log = PredictionLog(journal_dir, url)
    assert log.has_feedback("a", 1, since=DAY2)
    assert not log.has_feedback("a", 2, since=DAY2)
    assert recorder.sql == []


def test_labels_across_midnight_and_slightly_skewed_clocks_count(dirs: tuple[Path, str]) -> None:
    journal_dir, url = dirs
    journal = Journal(journal_dir, "w1")
    before_midnight = DAY2 - 20.0
    # Labelled on the next day, and one label stamped 30 s before its prediction (another host).
    compacted(
        journal, url, prediction("a", ts=before_midnight, rows=2), feedback("a", 1, ts=DAY2 + 5.0)
    )
    compacted(
        journal, url, prediction("b", ts=DAY2 + 10.0, rows=2), feedback("b", 7, ts=before_midnight)
    )
    files = parts(url)
    assert sorted(files) == ["2023-11-13/1", "2023-11-14/0"]
    log = PredictionLog(journal_dir, url)
    assert log.has_feedback("a", 1, since=before_midnight)
    assert log.has_feedback("b", 7, since=DAY2 + 10.0)
    assert files_of(log.feedback_source(DAY2 + 10.0)) == set(files.values())


def test_feedback_source_over_a_remote_filesystem(tmp_path: Path) -> None:
    url = f"memory://mlpilot-test-{uuid.uuid4().hex}"
    journal = Journal(tmp_path, "w1")
    compacted(journal, url, feedback("old", 0, ts=DAY1))
    compacted(journal, url, prediction("a", ts=DAY2, rows=2), feedback("a", 1, ts=DAY2 + 10))
    log = PredictionLog(tmp_path, url)
    source = log.feedback_source(DAY2)
    assert len(files_of(source)) == 1
    assert "memory://" in (source or "")
    assert "date=2023-11-14" in (source or "")
    assert log.has_feedback("a", 1, since=DAY2)
    assert not log.has_feedback("a", 0, since=DAY2)
    compacted(journal, url, feedback("a", 0, ts=DAY2 + 20))
    assert log.has_feedback("a", 0, since=DAY2)


# -- the endpoint -----------------------------------------------------------------------------


class ThreadCheckingLog(PredictionLog):
    """A prediction log that notes whether it was called on the event loop, and ``since``."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.on_loop: list[bool] = []
        self.since: list[float | None] = []

    def find(self, request_id: str) -> dict[str, Any] | None:
        self.on_loop.append(_on_event_loop())
        return super().find(request_id)

    def has_feedback(
        self, request_id: str, label: Any, row: int | None = None, *, since: float | None = None
    ) -> bool:
        self.on_loop.append(_on_event_loop())
        self.since.append(since)
        if since is None:  # the check reads every feedback part file
            return super().has_feedback(request_id, label, row)
        return super().has_feedback(request_id, label, row, since=since)


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def test_the_feedback_endpoint_checks_off_the_event_loop_and_reads_one_partition(
    tmp_path: Path, dirs: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    journal_dir, url = dirs
    journal = Journal(journal_dir, "w1")
    compacted(journal, url, prediction("old", ts=DAY1, rows=2), feedback("old", 0, ts=DAY1 + 1))
    compacted(journal, url, prediction("a", ts=DAY2, rows=2), feedback("a", 1, ts=DAY2 + 1))
    journal.append(prediction("b", ts=DAY2 + 2, rows=2))
    files = parts(url)
    settings = load_settings(write_project(tmp_path / "project"), env={})
    app = create_app(settings, worker="w2")
    log = ThreadCheckingLog(journal_dir, url)
    app.state.service = SimpleNamespace(
        journal=journal, log=log, metrics=ServiceMetrics(), feedback_lock=threading.Lock()
    )
    recorder = Recorder(monkeypatch)
    batch = [{"request_id": "a", "label": 2}, {"request_id": "b", "label": 0, "row": 1}]
    answers = asyncio.run(
        post(
            app,
            {"request_id": "a", "label": 1},
            {"feedback": batch},
            {"feedback": batch},
            {"request_id": "nope", "label": 1},
        )
    )
    assert [a.status_code for a in answers] == [200, 200, 200, 404]
    assert answers[0].json() == {"recorded": 0, "duplicates": 1}
    assert answers[1].json() == {"recorded": 2, "duplicates": 0}
    assert answers[2].json() == {"recorded": 0, "duplicates": 2}
    assert answers[3].json()["error"]["type"] == "PredictionNotFoundError"

    assert log.on_loop, "the endpoint did not use the prediction log"
    assert not any(log.on_loop), "the prediction log was read on the event loop"
    assert set(log.since) == {DAY2, DAY2 + 2}
    # Predictions "a" and "b" are of the second day: the first day's part is never read.
    read = recorder.feedback_files()
    assert files["2023-11-13/0"] not in read
    assert read == {files["2023-11-14/1"]}


async def post(app: FastAPI, *bodies: dict[str, Any]) -> list[httpx.Response]:
    """POST each body to ``/feedback`` of ``app``, in turn, on this event loop (no lifespan:
    the app's service is set by the caller)."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return [await client.post("/feedback", json=body) for body in bodies]


class SlowToAnswerLog(PredictionLog):
    """A prediction log whose duplicate check answers late (after reading), as under load."""

    def has_feedback(
        self, request_id: str, label: Any, row: int | None = None, *, since: float | None = None
    ) -> bool:
        answer = super().has_feedback(request_id, label, row, since=since)
        time.sleep(0.2)
        return answer


def test_the_same_label_sent_twice_at_once_is_recorded_once(dirs: tuple[Path, str]) -> None:
    journal_dir, url = dirs
    journal = Journal(journal_dir, "w1")
    journal.append(prediction("a", ts=DAY2, rows=2))
    service: Any = SimpleNamespace(
        journal=journal, log=SlowToAnswerLog(journal_dir, url), feedback_lock=threading.Lock()
    )
    start = threading.Barrier(2)
    results: list[tuple[int, int]] = []

    def send() -> None:
        start.wait()
        results.append(record_feedback(service, [("a", 1, None)]))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [(0, 1), (1, 0)]
    assert PredictionLog(journal_dir, url).query("SELECT count(*) AS n FROM feedback")[
        "n"
    ].tolist() == [1]


def test_request_ids_are_uuid7_and_carry_their_time() -> None:
    now = time.time()
    ids = [new_request_id() for _ in range(1000)]
    assert len(set(ids)) == 1000
    for rid in ids[:10]:
        assert uuid.UUID(hex=rid).version == 7
        at = request_time(rid)
        assert at is not None
        assert abs(at - now) < 5
    assert request_time(new_request_id(DAY2 + 12.5)) == DAY2 + 12.5
    # ids of another kind (a UUIDv4, a client's own) carry no time
    assert request_time(uuid.uuid4().hex) is None
    assert request_time("order-17") is None
    assert request_time("z" * 32) is None


def test_a_late_label_looks_its_prediction_up_in_its_days_partition_only(
    dirs: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    journal_dir, url = dirs
    journal = Journal(journal_dir, "w1")
    recent, older, foreign = (
        new_request_id(DAY2 + 40_000),
        new_request_id(DAY1 + 40_000),
        "order-17",
    )
    compacted(
        journal, url, prediction(older, ts=DAY1 + 40_000), prediction(foreign, ts=DAY1 + 40_100)
    )
    compacted(journal, url, prediction(recent, ts=DAY2 + 40_000))
    day1, day2 = (f"/predictions/date={d}/" for d in ("2023-11-13", "2023-11-14"))
    log = PredictionLog(journal_dir, url)
    recorder = Recorder(monkeypatch)

    def read() -> set[str]:
        files = set()
        for sql in recorder.sql:
            source = re.search(r"FROM (read_parquet\(.*?union_by_name = true\))", sql)
            assert source is not None, sql
            files |= files_of(source.group(1))
        recorder.sql.clear()
        return files

    for rid, day in ((recent, day2), (older, day1)):
        found = log.find(rid)
        assert found is not None
        assert found["request_id"] == rid
        files = read()
        assert files
        assert all(day in f for f in files), files  # one day's partition, not every day
    # an id without a time is looked for everywhere, as before
    assert log.find(foreign) is not None
    assert [f.rsplit("/predictions/", 1)[1] for f in read()] == ["*/*/*.parquet"]
    # an unknown id of ours is not found, reading only its own day
    assert log.find(new_request_id(DAY2 + 41_000)) is None
    assert all(day2 in f for f in read())
