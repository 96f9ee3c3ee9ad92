import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from mlpilot.errors import RequestError
from mlpilot.serving._journal import Compactor, Journal
from mlpilot.serving._predictions import PredictionLog


def prediction(
    request_id: str,
    *,
    ts: float = 1_700_000_000.0,
    model_version: int = 1,
    rows: int = 1,
    shadow: bool = False,
) -> dict[str, Any]:
    return {
        "kind": "prediction",
        "request_id": request_id,
        "ts": ts,
        "deployment": "churn",
        "variant": "challenger" if shadow else "champion",
        "model_version": model_version,
        "shadow": shadow,
        "latency_ms": 2.0,
        "inputs": [{"x": i} for i in range(rows)],
        "predictions": [f"p{i}" for i in range(rows)],
        "probabilities": [[0.5, 0.5] for _ in range(rows)],
    }


def feedback(
    request_id: str, label: Any, *, row: int | None = None, ts: float = 1_700_000_500.0
) -> dict[str, Any]:
    return {"kind": "feedback", "request_id": request_id, "ts": ts, "label": label, "row": row}


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, str]:
    return tmp_path / "journal", str(tmp_path / "parquet")


def compacted_and_pending(journal_dir: Path, url: str) -> Journal:
    """Requests a (3 rows, v1) and b (v2) compacted; c (v2, newest) still in the journal."""
    journal = Journal(journal_dir, "w1")
    journal.append(prediction("a", rows=3, ts=1_700_000_000.0))
    journal.append(prediction("b", model_version=2, ts=1_700_000_010.0))
    journal.rotate()
    assert Compactor(journal_dir, url).compact_once() == 1
    journal.append(prediction("c", model_version=2, ts=1_700_000_020.0))
    return journal


def test_empty_log_has_empty_views(dirs: tuple[Path, str]) -> None:
    log = PredictionLog(*dirs)
    assert log.query("SELECT count(*) AS n FROM predictions")["n"].tolist() == [0]
    assert log.query("SELECT * FROM feedback").empty
    assert log.query("SELECT * FROM labelled").empty
    assert log.tail().empty
    assert log.find("nope") is None
    assert not log.has_feedback("nope", 1)


def test_query_spans_parquet_and_journal(dirs: tuple[Path, str]) -> None:
    journal = compacted_and_pending(*dirs)
    log = PredictionLog(*dirs)
    frame = log.query(
        "SELECT model_version, count(*) AS n FROM predictions GROUP BY ALL ORDER BY model_version"
    )
    assert frame.to_dict("list") == {"model_version": [1, 2], "n": [3, 2]}
    columns = list(log.query("SELECT * FROM predictions LIMIT 0").columns)
    assert columns == [
        "request_id", "row", "ts", "deployment", "variant", "model_version", "shadow",
        "latency_ms", "inputs", "prediction", "probabilities", "date",
    ]  # fmt: skip
    dates = log.query("SELECT DISTINCT CAST(date AS VARCHAR) AS d FROM predictions")["d"]
    assert dates.tolist() == ["2023-11-14"]
    # New journal lines show up in the next query.
    journal.append(prediction("d", ts=1_700_000_030.0))
    assert log.query("SELECT count(*) AS n FROM predictions")["n"].tolist() == [6]
    journal.close()


def test_tail_is_newest_first(dirs: tuple[Path, str]) -> None:
    compacted_and_pending(*dirs)
    log = PredictionLog(*dirs)
    tail = log.tail(4)
    assert list(zip(tail["request_id"], tail["row"], strict=True)) == [
        ("c", 0),
        ("b", 0),
        ("a", 0),
        ("a", 1),
    ]
    assert len(log.tail()) == 5


def test_find_compacted_and_journaled(dirs: tuple[Path, str]) -> None:
    compacted_and_pending(*dirs)
    log = PredictionLog(*dirs)
    found = log.find("a")
    assert found is not None
    assert found["rows"] == 3
    assert found["inputs"] == [{"x": 0}, {"x": 1}, {"x": 2}]
    assert found["predictions"] == ["p0", "p1", "p2"]
    assert found["probabilities"] == [[0.5, 0.5]] * 3
    assert found["model_version"] == 1
    assert found["ts"] == pytest.approx(1_700_000_000.0)
    pending = log.find("c")
    assert pending is not None
    assert (pending["model_version"], pending["predictions"]) == (2, ["p0"])
    assert set(found) == set(pending)
    assert log.find("unknown") is None


def test_find_prefers_the_served_prediction_over_a_shadow(dirs: tuple[Path, str]) -> None:
    journal = Journal(dirs[0], "w1")
    journal.append(prediction("s", shadow=True, model_version=9))
    journal.append(prediction("s", model_version=1))
    found = PredictionLog(*dirs).find("s")
    assert found is not None
    assert (found["shadow"], found["model_version"]) == (False, 1)
    journal.rotate()
    Compactor(*dirs).compact_once()
    found = PredictionLog(*dirs).find("s")
    assert found is not None
    assert (found["shadow"], found["model_version"]) == (False, 1)


def test_find_is_fast_with_thousands_of_journaled_requests(dirs: tuple[Path, str]) -> None:
    journal = Journal(dirs[0], "w1")
    ids = [uuid.uuid4().hex for _ in range(5000)]
    for rid in ids:
        journal.append(prediction(rid))
    log = PredictionLog(*dirs)
    assert log.find(ids[0]) is not None  # first call reads the journal
    journal.append(prediction("late"))
    start = time.perf_counter()
    for rid in (ids[-1], "late", "unknown"):
        log.find(rid)
    assert (time.perf_counter() - start) / 3 < 0.05


def test_labelled_joins_the_latest_feedback(dirs: tuple[Path, str]) -> None:
    journal = compacted_and_pending(*dirs)
    journal.append(feedback("a", ["x", "y", "z"]))  # one label per row of a batch
    journal.append(feedback("a", "Y", row=1, ts=1_700_000_600.0))  # a later fix of row 1
    journal.append(feedback("b", "old", ts=1_700_000_100.0))
    journal.append(feedback("b", "new", ts=1_700_000_200.0))
    journal.rotate()
    Compactor(*dirs).compact_once()  # part of the feedback in Parquet, part in the journal
    journal.append(feedback("c", {"k": 1}))
    log = PredictionLog(*dirs)
    frame = log.query('SELECT request_id, "row", label FROM labelled ORDER BY request_id, "row"')
    got = [(r, n, orjson.loads(v)) for r, n, v in frame.itertuples(index=False)]
    assert got == [("a", 0, "x"), ("a", 1, "Y"), ("a", 2, "z"), ("b", 0, "new"), ("c", 0, {"k": 1})]
    assert log.query("SELECT count(*) AS n FROM feedback")["n"].tolist() == [5]


def test_has_feedback_in_journal_and_parquet(dirs: tuple[Path, str]) -> None:
    journal = Journal(dirs[0], "w1")
    journal.append(prediction("a"))
    journal.append(feedback("a", {"y": 1, "z": [1, 2]}))
    log = PredictionLog(*dirs)
    assert log.has_feedback("a", {"z": [1, 2], "y": 1})
    assert not log.has_feedback("a", {"y": 2})
    journal.rotate()
    Compactor(*dirs).compact_once()
    assert log.has_feedback("a", {"z": [1, 2], "y": 1})
    assert not log.has_feedback("b", {"z": [1, 2], "y": 1})


def test_a_duplicate_is_the_same_label_for_the_same_row_as_the_latest(
    dirs: tuple[Path, str],
) -> None:
    journal = Journal(dirs[0], "w1")
    journal.append(prediction("a", rows=3))
    journal.append(feedback("a", 0, row=1, ts=1_700_000_100.0))
    log = PredictionLog(*dirs)
    assert log.has_feedback("a", 0, 1)
    assert not log.has_feedback("a", 0, 2), "the same label for another row is new"
    assert not log.has_feedback("a", 0), "a label for the whole request is new"
    journal.append(feedback("a", 1, row=1, ts=1_700_000_200.0))  # a correction
    assert log.has_feedback("a", 1, 1)
    assert not log.has_feedback("a", 0, 1), "going back to the first label is a correction too"
    journal.rotate()
    Compactor(*dirs).compact_once()
    assert log.has_feedback("a", 1, 1)
    assert not log.has_feedback("a", 0, 1)
    assert not log.has_feedback("a", 1, 0)


def test_no_duplicates_while_a_compaction_is_half_done(dirs: tuple[Path, str]) -> None:
    journal_dir, url = dirs
    journal = Journal(journal_dir, "w1")
    journal.append(prediction("a", rows=2))
    segment = journal.rotate()
    assert segment is not None
    copy = segment.read_bytes()
    Compactor(journal_dir, url).compact_once()
    segment.write_bytes(copy)  # Parquet written, segment not yet trimmed (a crash)
    log = PredictionLog(journal_dir, url)
    assert log.query("SELECT count(*) AS n FROM predictions")["n"].tolist() == [2]


def test_bad_sql_is_a_request_error(dirs: tuple[Path, str]) -> None:
    log = PredictionLog(*dirs)
    with pytest.raises(RequestError, match=r"the query failed: .*syntax error") as info:
        log.query("SELEC nonsense")
    assert info.value.field == "sql"
    with pytest.raises(RequestError, match="nope"):
        log.query("SELECT nope FROM predictions")


def test_memory_url(tmp_path: Path) -> None:
    url = f"memory://mlpilot-test-{uuid.uuid4().hex}"
    journal = Journal(tmp_path, "w1")
    journal.append(prediction("a", rows=2))
    journal.rotate()
    Compactor(tmp_path, url).compact_once()
    journal.append(prediction("b"))
    log = PredictionLog(tmp_path, url)
    assert sorted(log.query("SELECT request_id FROM predictions")["request_id"]) == ["a", "a", "b"]
    found = log.find("a")
    assert found is not None
    assert found["rows"] == 2
    journal.close()


def error(
    request_id: str, *, status: int = 422, ts: float = 1_700_000_000.0, shadow: bool = False
) -> dict[str, Any]:
    return {
        "kind": "error",
        "request_id": request_id,
        "ts": ts,
        "deployment": "churn",
        "variant": "challenger" if shadow else "champion",
        "model_version": 2 if shadow else 1,
        "shadow": shadow,
        "status": status,
        "error": "RequestValidationError" if status == 422 else "RuntimeError",
        "field": "records[0].x" if status == 422 else None,
        "message": "bad x",
    }


def test_errors_view_spans_parquet_and_journal(dirs: tuple[Path, str]) -> None:
    journal_dir, url = dirs
    journal = Journal(journal_dir, "w1")
    journal.append(error("e1"))
    journal.append(prediction("a"))
    segment = journal.rotate()
    assert segment is not None
    copy = segment.read_bytes()
    assert Compactor(journal_dir, url).compact_once() == 1
    segment.write_bytes(copy)  # Parquet written, segment not yet trimmed: no duplicate rows
    journal.append(error("e2", status=500, ts=1_700_000_100.0, shadow=True))
    log = PredictionLog(journal_dir, url)
    frame = log.query("SELECT * FROM errors ORDER BY ts")
    assert list(frame.columns) == [
        "request_id", "ts", "deployment", "variant", "model_version", "shadow", "status",
        "error", "field", "message", "date",
    ]  # fmt: skip
    got = frame[["request_id", "status", "shadow", "variant", "model_version", "field"]]
    got = got.fillna({"field": "-"})
    assert got.to_dict("list") == {
        "request_id": ["e1", "e2"],
        "status": [422, 500],
        "shadow": [False, True],
        "variant": ["champion", "challenger"],
        "model_version": [1, 2],
        "field": ["records[0].x", "-"],
    }
    assert (
        log.query("SELECT CAST(date AS VARCHAR) AS d FROM errors")["d"].tolist()
        == ["2023-11-14"] * 2
    )
    assert log.query("SELECT count(*) AS n FROM predictions")["n"].tolist() == [1]
    assert log.find("e1") is None  # an error is not a prediction
    journal.close()


def test_views_read_parts_whose_input_columns_differ(dirs: tuple[Path, str]) -> None:
    journal_dir, url = dirs
    journal = Journal(journal_dir, "w1")
    for i, inputs in enumerate(([{"x": 1}], [{"x": "one", "y": True}], [{"z": [1]}])):
        journal.append({**prediction(f"r{i}", ts=1_700_000_000.0 + i), "inputs": inputs})
        journal.rotate()
    assert Compactor(journal_dir, url).compact_once() == 3
    log = PredictionLog(journal_dir, url)
    frame = log.query("SELECT request_id, inputs FROM predictions ORDER BY ts")
    assert [orjson.loads(v) for v in frame["inputs"]] == [
        {"x": 1},
        {"x": "one", "y": True},
        {"z": [1]},
    ]
    assert "inputs.x" not in log.query("SELECT * FROM predictions").columns
