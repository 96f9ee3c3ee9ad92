import logging
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from mlpilot.serving._journal import Journal, list_segments
from mlpilot.serving._service import MAX_ERROR_MESSAGE, journal_error


def records(directory: Path) -> list[dict[str, Any]]:
    return [
        orjson.loads(line)
        for segment in list_segments(directory)
        for line in segment.path.read_bytes().splitlines()
    ]


def test_journal_error_appends_one_error_record(tmp_path: Path) -> None:
    journal = Journal(tmp_path, "w1")
    before = time.time()
    assert journal_error(
        journal,
        "churn",
        status=422,
        error="RequestValidationError",
        message="x" * 2000,
        field="records[0].x",
        variant="champion",
        model_version=3,
    )
    assert journal_error(journal, "churn", status=401, error="AuthError", message="no token")
    journal.close()
    first, second = records(tmp_path)
    assert first.pop("ts") >= before
    request_id = first.pop("request_id")
    assert isinstance(request_id, str)
    assert len(request_id) == 32
    assert first == {
        "kind": "error",
        "deployment": "churn",
        "variant": "champion",
        "model_version": 3,
        "shadow": False,
        "status": 422,
        "error": "RequestValidationError",
        "field": "records[0].x",
        "message": "x" * MAX_ERROR_MESSAGE,
    }
    assert MAX_ERROR_MESSAGE == 500
    assert (second["variant"], second["model_version"], second["field"]) == (None, None, None)
    assert second["request_id"] != request_id


def test_journal_error_keeps_a_given_request_id_and_time(tmp_path: Path) -> None:
    with Journal(tmp_path, "w1") as journal:
        journal_error(
            journal,
            "churn",
            status=500,
            error="RuntimeError",
            message="boom",
            shadow=True,
            request_id="abc",
            ts=12.5,
        )
    (record,) = records(tmp_path)
    assert (record["request_id"], record["ts"], record["shadow"]) == ("abc", 12.5, True)


def test_journal_error_never_raises(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    journal = Journal(tmp_path, "w1")
    journal.close()
    with caplog.at_level(logging.WARNING, logger="mlpilot.serving"):
        ok = journal_error(journal, "churn", status=422, error="E", message="m")
    assert ok is False
    assert "could not journal a failed request (422 E) of churn" in caplog.text
    assert records(tmp_path) == []
