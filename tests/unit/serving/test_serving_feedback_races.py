"""``find`` and ``has_feedback`` racing the journal: a segment closed (renamed), or compacted to
Parquet and deleted, between the prediction log's listing of the journal and its read; and a
compactor racing the rotation of its own process's journal.

Each race is made deterministic by running the writer's rotation (and the compactor) inside the
listing, between the moment the directory is read and the moment the segments are.
"""

from collections.abc import Callable
from pathlib import Path

import pytest
from tests.unit.serving._records import feedback, prediction

from mlpilot.serving import _journal, _predictions
from mlpilot.serving._journal import (
    Compactor,
    Journal,
    Segment,
    list_segments,
    segment_of,
    writer_gone,
)
from mlpilot.serving._predictions import PredictionLog


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, str]:
    return tmp_path / "journal", str(tmp_path / "parquet")


def race(
    monkeypatch: pytest.MonkeyPatch,
    meanwhile: Callable[[], None],
    *,
    hide: Path | None = None,
) -> list[int]:
    """Make the prediction log's next listing of the journal run ``meanwhile`` just after the
    directory was read (so the listing is stale when the segments are read). With ``hide``,
    that segment is left out of the listing, as a directory read concurrent with a rename may
    show neither name (POSIX leaves it unspecified). Returns a one-item list counting listings.
    """
    calls = [0]

    def listing(directory: Path) -> list[Segment]:
        calls[0] += 1
        listed = list_segments(directory)
        if calls[0] == 1:
            meanwhile()
            if hide is not None:
                listed = [s for s in listed if s.path != hide]
        return listed

    monkeypatch.setattr(_predictions, "list_segments", listing)
    return calls


def test_find_a_prediction_whose_segment_closes_between_listing_and_reading(
    dirs: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    journal_dir, url = dirs
    journal = Journal(journal_dir, "w1")
    journal.append(prediction("a"))
    log = PredictionLog(journal_dir, url)
    assert log.find("a") is not None  # the log has read the open segment up to here
    journal.append(prediction("b"))  # answered: the client now sends its label
    race(monkeypatch, journal.rotate)  # .jsonl -> .closed.jsonl after the listing
    found = log.find("b")
    assert found is not None
    assert found["request_id"] == "b"


def test_find_a_prediction_first_read_after_its_segment_closed(
    dirs: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    journal_dir, url = dirs
    journal = Journal(journal_dir, "w1")
    journal.append(prediction("a"))
    log = PredictionLog(journal_dir, url)  # a fresh log (another worker): nothing cached
    race(monkeypatch, journal.rotate)
    assert log.find("a") is not None


def test_find_a_prediction_compacted_between_listing_and_reading(
    dirs: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    journal_dir, url = dirs
    journal = Journal(journal_dir, "w1")
    journal.append(prediction("a"))
    log = PredictionLog(journal_dir, url)
    assert log.find("a") is not None
    journal.append(prediction("b"))

    def rotate_and_compact() -> None:
        journal.rotate()
        assert Compactor(journal_dir, url).compact_once() == 1  # Parquet written, segment gone

    calls = race(monkeypatch, rotate_and_compact)
    found = log.find("b")
    assert found is not None
    assert found["request_id"] == "b"
    assert list_segments(journal_dir) == []  # it was read from Parquet
    assert calls[0] == 1  # at once


def test_find_a_prediction_whose_segment_the_listing_missed_while_renamed(
    dirs: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    journal_dir, url = dirs
    journal = Journal(journal_dir, "w1")
    journal.append(prediction("a"))
    segment = journal.current_segment
    assert segment is not None
    log = PredictionLog(journal_dir, url)
    calls = race(monkeypatch, journal.rotate, hide=segment)
    found = log.find("a")
    assert found is not None
    assert found["request_id"] == "a"
    assert calls[0] == 2  # found by listing again
    assert log.find("unknown") is None


def test_a_cached_segment_the_listing_missed_while_renamed_is_kept(
    dirs: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    journal_dir, url = dirs
    journal = Journal(journal_dir, "w1")
    journal.append(prediction("a"))
    journal.append(feedback("a", 1))
    segment = journal.current_segment
    assert segment is not None
    log = PredictionLog(journal_dir, url)
    assert log.has_feedback("a", 1)
    race(monkeypatch, journal.rotate, hide=segment)
    assert log.has_feedback("a", 1), "the label just recorded must still count"


def test_a_duplicate_label_racing_the_rotation_is_still_a_duplicate(
    dirs: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    journal_dir, url = dirs
    journal = Journal(journal_dir, "w1")
    journal.append(prediction("a"))
    log = PredictionLog(journal_dir, url)
    assert log.find("a") is not None
    assert not log.has_feedback("a", 1)
    journal.append(feedback("a", 1))  # the first label, recorded
    race(monkeypatch, journal.rotate)
    assert log.has_feedback("a", 1)


def test_a_duplicate_label_racing_the_compaction_is_still_a_duplicate(
    dirs: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    journal_dir, url = dirs
    journal = Journal(journal_dir, "w1")
    journal.append(prediction("a"))
    log = PredictionLog(journal_dir, url)
    assert log.find("a") is not None
    journal.append(feedback("a", 1))

    def rotate_and_compact() -> None:
        journal.rotate()
        assert Compactor(journal_dir, url).compact_once() == 1

    race(monkeypatch, rotate_and_compact)
    assert log.has_feedback("a", 1)
    assert not log.has_feedback("a", 2)


# -- the compactor of the writer's own process --------------------------------------------------


def test_a_segment_being_closed_is_not_taken_by_a_compactor_of_its_process(
    dirs: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    journal_dir, _ = dirs
    journal = Journal(journal_dir, "w1")
    journal.append(prediction("a"))
    seen: list[bool] = []
    real = _journal.closed_path

    def closed_path(path: Path) -> Path:  # called by the rotation just before its rename
        segment = segment_of(path)
        assert segment is not None
        seen.append(writer_gone(segment))
        return real(path)

    monkeypatch.setattr(_journal, "closed_path", closed_path)
    assert journal.rotate() is not None
    assert seen == [False], "a compactor could rename the segment under its writer"


def test_a_compactor_takes_a_segment_closed_after_its_listing(
    dirs: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    journal_dir, url = dirs
    journal = Journal(journal_dir, "w1")
    journal.append(prediction("a"))

    def listing(directory: Path) -> list[Segment]:
        listed = list_segments(directory)
        journal.rotate()  # the segment listed open is closed (renamed) by its writer
        return listed

    monkeypatch.setattr(_journal, "list_segments", listing)
    assert Compactor(journal_dir, url).compact_once() == 1
    monkeypatch.undo()
    assert list_segments(journal_dir) == []
    found = PredictionLog(journal_dir, url).find("a")
    assert found is not None
    assert found["request_id"] == "a"
