import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import duckdb
import fsspec
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.unit.serving._records import feedback, prediction

from mlpilot.errors import ServingError
from mlpilot.serving import INPUT_PREFIX
from mlpilot.serving._journal import Compactor, Journal, list_segments, run_compactor


def lines(directory: Path) -> list[dict[str, Any]]:
    out = []
    for segment in list_segments(directory):
        out.extend(orjson.loads(line) for line in segment.path.read_bytes().splitlines())
    return out


def test_append_writes_one_line_per_record_before_returning(tmp_path: Path) -> None:
    journal = Journal(tmp_path, "w1")
    assert journal.current_segment is None  # segments open lazily
    journal.append(prediction("r1"))
    journal.append(feedback("r1", 1))
    segment = journal.current_segment
    assert segment is not None
    assert segment.name.startswith(f"w1-{os.getpid()}-")
    assert segment.name.endswith(".jsonl")
    assert [r["request_id"] for r in lines(tmp_path)] == ["r1", "r1"]
    assert journal.backlog_bytes == segment.stat().st_size > 0
    journal.close()


def test_rotate_closes_the_segment_and_ignores_an_empty_one(tmp_path: Path) -> None:
    journal = Journal(tmp_path, "w1")
    assert journal.rotate() is None
    journal.append(prediction("r1"))
    closed = journal.rotate()
    assert closed is not None
    assert closed.name.endswith(".closed.jsonl")
    assert journal.rotate() is None
    journal.append(prediction("r2"))
    journal.close()
    names = sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".jsonl")
    assert len(names) == 2
    assert all(n.endswith(".closed.jsonl") for n in names)
    with pytest.raises(ServingError, match="is closed"):
        journal.append(prediction("r3"))


def test_append_rotates_past_segment_bytes(tmp_path: Path) -> None:
    journal = Journal(tmp_path, "w1", segment_bytes=1024)
    for _ in range(20):
        journal.append(prediction())
    journal.close()
    segments = list_segments(tmp_path)
    assert len(segments) > 3
    assert all(s.closed for s in segments)
    assert len(lines(tmp_path)) == 20
    assert journal.backlog_bytes == sum(s.path.stat().st_size for s in segments)


def test_fsync_option_still_appends(tmp_path: Path) -> None:
    with Journal(tmp_path, "w1", fsync=True) as journal:
        journal.append(prediction("r1"))
    assert [r["request_id"] for r in lines(tmp_path)] == ["r1"]


def test_concurrent_appends_are_whole_lines(tmp_path: Path) -> None:
    journal = Journal(tmp_path, "w1", segment_bytes=64 * 1024)
    threads, per_thread = 8, 250

    def work(t: int) -> None:
        for i in range(per_thread):
            journal.append(prediction(f"{t}-{i}", rows=1 + i % 3))

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    journal.close()
    ids = [r["request_id"] for r in lines(tmp_path)]  # every line parses
    assert len(ids) == threads * per_thread
    assert len(set(ids)) == threads * per_thread


WRITER = """
import sys, uuid
from pathlib import Path
from mlpilot.serving._journal import Journal

journal = Journal(Path(sys.argv[1]), "w", segment_bytes=4096)
for i in range(int(sys.argv[2])):
    rid = uuid.uuid4().hex
    journal.append({"kind": "prediction", "request_id": rid, "ts": 1.7e9, "deployment": "d",
                    "variant": "champion", "model_version": 1, "shadow": False,
                    "latency_ms": 0.1, "inputs": [{"x": i}], "predictions": [0],
                    "probabilities": None})
    print(rid, flush=True)
"""


def test_sigkill_loses_no_acknowledged_prediction(tmp_path: Path) -> None:
    journal_dir = tmp_path / "journal"
    with subprocess.Popen(
        [sys.executable, "-c", WRITER, str(journal_dir), "1000000"],
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        acknowledged = []
        for line in proc.stdout:
            acknowledged.append(line.strip())
            if len(acknowledged) >= 2000:
                break
        proc.send_signal(signal.SIGKILL)
        acknowledged.extend(line.strip() for line in proc.stdout)  # printed before it died
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert len(acknowledged) >= 2000

    segments = list_segments(journal_dir)
    assert any(not s.closed for s in segments)  # the dead writer's open segment
    journaled = {r["request_id"] for r in lines(journal_dir)}
    assert set(acknowledged) <= journaled

    # The open segment of the dead writer is taken by the compactor.
    assert Compactor(journal_dir, str(tmp_path / "parquet")).compact_once() == len(segments)
    assert list_segments(journal_dir) == []
    table = pq.read_table(tmp_path / "parquet" / "predictions", partitioning=None)
    assert set(acknowledged) <= set(table.column("request_id").to_pylist())


def test_compactor_explodes_rows_and_partitions_by_date_and_version(tmp_path: Path) -> None:
    journal_dir, out = tmp_path / "journal", tmp_path / "parquet"
    journal = Journal(journal_dir, "w1")
    journal.append(prediction("a", rows=3, model_version=1, ts=1_700_000_000.0))  # 2023-11-14
    journal.append(prediction("b", rows=1, model_version=2, ts=1_700_000_000.5))
    journal.append(prediction("c", rows=2, model_version=1, ts=1_700_100_000.0))  # 2023-11-16
    journal.append(feedback("a", [0, 1, 1]))
    journal.append(feedback("b", 1, row=0))
    compactor = Compactor(journal_dir, str(out))
    assert compactor.compact_once() == 0  # the open segment has a live writer
    journal.rotate()
    assert compactor.compact_once() == 1
    assert list_segments(journal_dir) == []

    parts = sorted(str(p.relative_to(out)) for p in out.rglob("*.parquet"))
    stem = parts[0].rsplit("part-", 1)[1].removesuffix(".parquet")
    assert parts == [
        f"feedback/date=2023-11-14/part-{stem}.parquet",
        f"predictions/date=2023-11-14/model_version=1/part-{stem}.parquet",
        f"predictions/date=2023-11-14/model_version=2/part-{stem}.parquet",
        f"predictions/date=2023-11-16/model_version=1/part-{stem}.parquet",
    ]
    table = pq.read_table(out / f"predictions/date=2023-11-14/model_version=1/part-{stem}.parquet")
    schema = {f.name: str(f.type) for f in table.schema}
    assert schema == {
        "request_id": "string",
        "row": "int32",
        "ts": "timestamp[us, tz=UTC]",
        "deployment": "string",
        "variant": "string",
        "model_version": "int64",
        "shadow": "bool",
        "latency_ms": "double",
        "inputs": "string",
        "prediction": "string",
        "probabilities": "string",
        "inputs.x": "int64",
        "inputs.c": "string",
    }
    rows = table.to_pylist()
    assert [(r["inputs.x"], r["inputs.c"]) for r in rows] == [(0, "a"), (1, "a"), (2, "a")]
    assert [(r["request_id"], r["row"]) for r in rows] == [("a", 0), ("a", 1), ("a", 2)]
    assert orjson.loads(rows[2]["inputs"]) == {"x": 2, "c": "a"}
    assert orjson.loads(rows[1]["prediction"]) == 1
    assert orjson.loads(rows[0]["probabilities"]) == [0.25, 0.75]
    assert rows[0]["ts"].timestamp() == 1_700_000_000.0

    fb = pq.read_table(out / f"feedback/date=2023-11-14/part-{stem}.parquet").to_pylist()
    assert [(r["request_id"], r["row"], orjson.loads(r["label"])) for r in fb] == [
        ("a", None, [0, 1, 1]),
        ("b", 0, 1),
    ]


def test_compaction_redone_after_a_crash_does_not_duplicate(tmp_path: Path) -> None:
    journal_dir, out = tmp_path / "journal", tmp_path / "parquet"
    journal = Journal(journal_dir, "w1")
    for i in range(5):
        journal.append(prediction(f"r{i}", rows=2))
    segment = journal.rotate()
    assert segment is not None
    copy = segment.read_bytes()
    assert Compactor(journal_dir, str(out)).compact_once() == 1
    assert not segment.exists()  # trimmed once the Parquet was written
    # A crash after writing the Parquet, before trimming: the segment is still there.
    segment.write_bytes(copy)
    assert Compactor(journal_dir, str(out)).compact_once() == 1
    table = pq.read_table(out / "predictions", partitioning=None)
    assert table.num_rows == 10
    assert len(list(out.rglob("*.parquet"))) == 1


def test_segment_survives_a_failed_parquet_write(tmp_path: Path) -> None:
    journal_dir = tmp_path / "journal"
    blocker = tmp_path / "parquet"
    blocker.write_text("not a directory")
    journal = Journal(journal_dir, "w1")
    journal.append(prediction("r1"))
    segment = journal.rotate()
    assert segment is not None
    with pytest.raises(OSError):
        Compactor(journal_dir, str(blocker)).compact_once()
    assert segment.exists()


def test_torn_last_line_is_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    journal_dir, out = tmp_path / "journal", tmp_path / "parquet"
    journal = Journal(journal_dir, "w1")
    journal.append(prediction("r1"))
    journal.append(prediction("r2"))
    segment = journal.rotate()
    assert segment is not None
    with segment.open("ab") as handle:
        handle.write(b'{"kind": "prediction", "request_id": "torn", "ts"')
    with caplog.at_level(logging.WARNING, logger="mlpilot.serving"):
        assert Compactor(journal_dir, str(out)).compact_once() == 1
    assert "torn last line" in caplog.text
    ids = pq.read_table(out / "predictions", partitioning=None).column("request_id").to_pylist()
    assert sorted(ids) == ["r1", "r2"]


def test_compactor_writes_to_an_fsspec_memory_url(tmp_path: Path) -> None:
    root = f"memory://mlpilot-test-{uuid.uuid4().hex}"
    journal = Journal(tmp_path, "w1")
    journal.append(prediction("r1", rows=2, model_version=7))
    journal.append(feedback("r1", "yes"))
    journal.close()
    assert Compactor(tmp_path, root).compact_once() == 1
    fs = fsspec.filesystem("memory")
    found = sorted(fs.glob(f"{root}/**/*.parquet"))
    assert len(found) == 2
    with fs.open(next(f for f in found if "model_version=7" in f), "rb") as handle:
        assert pq.read_table(handle).num_rows == 2
    fs.rm(root, recursive=True)


def test_missing_journal_directory_compacts_nothing(tmp_path: Path) -> None:
    assert Compactor(tmp_path / "nope", str(tmp_path / "out")).compact_once() == 0


def test_run_compactor_rotates_compacts_and_survives_errors(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    journal_dir, out = tmp_path / "journal", tmp_path / "parquet"
    journal = Journal(journal_dir, "w1")
    journal.append(prediction("r1"))

    class Flaky(Compactor):
        calls = 0

        def compact_once(self) -> int:
            self.calls += 1
            if self.calls == 1:
                raise RuntimeError("boom")
            return super().compact_once()

    compactor = Flaky(journal_dir, str(out))
    stop = threading.Event()
    with caplog.at_level(logging.ERROR, logger="mlpilot.serving"):
        thread = threading.Thread(
            target=run_compactor, args=(compactor, stop, 0.02), kwargs={"journal": journal}
        )
        thread.start()
        deadline = time.monotonic() + 10
        while not list(out.rglob("*.parquet")) and time.monotonic() < deadline:
            time.sleep(0.01)
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
    assert "journal compaction failed" in caplog.text
    assert pq.read_table(out / "predictions", partitioning=None).column(
        "request_id"
    ).to_pylist() == ["r1"]


def with_inputs(
    request_id: str, inputs: list[Any], *, ts: float = 1_700_000_000.0
) -> dict[str, Any]:
    record = prediction(request_id, ts=ts, rows=len(inputs))
    record["inputs"] = inputs
    return record


def compact_inputs(tmp_path: Path, *batches: list[Any]) -> list[Path]:
    """Compact each batch of input objects as its own segment; the part files, oldest first."""
    journal_dir, out = tmp_path / "journal", tmp_path / "parquet"
    journal = Journal(journal_dir, "w1")
    for i, inputs in enumerate(batches):
        journal.append(with_inputs(f"r{i}", inputs, ts=1_700_000_000.0 + i))
        journal.rotate()
    assert Compactor(journal_dir, str(out)).compact_once() == len(batches)
    return sorted(out.rglob("*.parquet"), key=lambda p: p.name)


def input_types(table: pa.Table) -> dict[str, str]:
    return {
        f.name[len(INPUT_PREFIX) :]: str(f.type)
        for f in table.schema
        if f.name.startswith(INPUT_PREFIX)
    }


def test_compactor_writes_one_typed_column_per_input_key(tmp_path: Path) -> None:
    inputs = [
        {"n": 1, "f": 1, "b": True, "s": "x", "gone": None, "tags": [1], "meta": {"k": 1}},
        {"n": None, "f": 2.5, "b": None, "s": None, "gone": None, "tags": [], "meta": {}},
        {"n": 3, "f": None, "b": False, "s": "z", "late": "only here"},
    ]
    (part,) = compact_inputs(tmp_path, inputs)
    table = pq.read_table(part)
    # Keys in the order they first appear; nested and all-null keys get no column.
    assert input_types(table) == {
        "n": "int64",
        "f": "double",
        "b": "bool",
        "s": "string",
        "late": "string",
    }
    assert table.column_names[:11] == [
        "request_id", "row", "ts", "deployment", "variant", "model_version", "shadow",
        "latency_ms", "inputs", "prediction", "probabilities",
    ]  # fmt: skip
    rows = table.to_pylist()
    assert [r["inputs.n"] for r in rows] == [1, None, 3]
    assert [r["inputs.f"] for r in rows] == [1.0, 2.5, None]
    assert [r["inputs.b"] for r in rows] == [True, None, False]
    assert [r["inputs.s"] for r in rows] == ["x", None, "z"]
    assert [r["inputs.late"] for r in rows] == [None, None, "only here"]
    # The JSON column stays the source of truth, nested values included.
    assert [orjson.loads(r["inputs"]) for r in rows] == inputs


def test_a_key_mixing_kinds_is_written_as_text(tmp_path: Path) -> None:
    inputs = [
        {"mixed": "a", "flag": True, "x": 1, "big": 1, "odd": 1},
        {"mixed": 1, "flag": 1, "x": 2, "big": 2**64 - 1, "odd": [1]},
        {"mixed": 1.5, "flag": None, "x": 3, "big": None, "odd": None},
        {"mixed": True, "flag": False, "x": None, "big": 0.5, "odd": "s"},
        {"mixed": None},
    ]
    (part,) = compact_inputs(tmp_path, inputs)
    table = pq.read_table(part)
    # Mixed kinds: strings as they are, other values as their JSON text; numbers too large for
    # int64 make a float64 column; a key with any nested value gets no column.
    assert input_types(table) == {
        "mixed": "string",
        "flag": "string",
        "x": "int64",
        "big": "double",
    }
    rows = table.to_pylist()
    assert [r["inputs.mixed"] for r in rows] == ["a", "1", "1.5", "true", None]
    assert [r["inputs.flag"] for r in rows] == ["true", "1", None, "false", None]
    assert [r["inputs.x"] for r in rows] == [1, 2, 3, None, None]
    assert [r["inputs.big"] for r in rows] == [1.0, float(2**64 - 1), None, 0.5, None]


def test_input_columns_of_rows_without_an_object(tmp_path: Path) -> None:
    journal_dir, out = tmp_path / "journal", tmp_path / "parquet"
    journal = Journal(journal_dir, "w1")
    record = with_inputs("r", [{"x": 1}, "not an object"])
    record["predictions"] = [0, 1, 0]  # a third row without inputs
    journal.append(record)
    journal.close()
    assert Compactor(journal_dir, str(out)).compact_once() == 1
    (part,) = out.rglob("*.parquet")
    table = pq.read_table(part)
    assert input_types(table) == {"x": "int64"}
    assert table.column("inputs.x").to_pylist() == [1, None, None]


def test_duckdb_reads_parts_with_different_input_keys(tmp_path: Path) -> None:
    first, second = compact_inputs(
        tmp_path,
        [{"x": 1, "c": "a"}, {"x": 2, "c": "b"}],
        [{"x": 2.5, "d": True}],
    )
    assert input_types(pq.read_table(first)) == {"x": "int64", "c": "string"}
    assert input_types(pq.read_table(second)) == {"x": "double", "d": "bool"}
    pattern = str(tmp_path / "parquet" / "predictions" / "*" / "*" / "*.parquet")
    rows = duckdb.sql(
        f"""SELECT request_id, "inputs.x" AS x, "inputs.c" AS c, "inputs.d" AS d
        FROM read_parquet('{pattern}', hive_partitioning = true, union_by_name = true)
        ORDER BY ts, "row" """
    ).fetchall()
    assert rows == [("r0", 1.0, "a", None), ("r0", 2.0, "b", None), ("r1", 2.5, None, True)]


def test_compactor_writes_error_records(tmp_path: Path) -> None:
    journal_dir, out = tmp_path / "journal", tmp_path / "parquet"
    journal = Journal(journal_dir, "w1")
    journal.append(prediction("ok"))
    error = {
        "kind": "error",
        "request_id": "e1",
        "ts": 1_700_000_000.25,
        "deployment": "churn",
        "variant": "champion",
        "model_version": 3,
        "shadow": False,
        "status": 422,
        "error": "RequestValidationError",
        "field": "records[0].x",
        "message": "feature 'x' expects a number",
    }
    journal.append(error)
    unrouted = {"variant": None, "model_version": None, "field": None, "error": "AuthError"}
    journal.append({**error, **unrouted, "request_id": "e0", "ts": 1_700_000_000.0, "status": 401})
    journal.close()
    assert Compactor(journal_dir, str(out)).compact_once() == 1
    parts = sorted(str(p.relative_to(out)) for p in out.rglob("*.parquet"))
    stem = parts[0].rsplit("part-", 1)[1].removesuffix(".parquet")
    assert parts == [
        f"errors/date=2023-11-14/part-{stem}.parquet",
        f"predictions/date=2023-11-14/model_version=1/part-{stem}.parquet",
    ]
    table = pq.read_table(out / parts[0])
    assert {f.name: str(f.type) for f in table.schema} == {
        "request_id": "string",
        "ts": "timestamp[us, tz=UTC]",
        "deployment": "string",
        "variant": "string",
        "model_version": "int64",
        "shadow": "bool",
        "status": "int32",
        "error": "string",
        "field": "string",
        "message": "string",
    }
    rows = table.to_pylist()
    assert [(r["request_id"], r["status"], r["variant"], r["model_version"]) for r in rows] == [
        ("e0", 401, None, None),
        ("e1", 422, "champion", 3),
    ]
    assert rows[1]["ts"].timestamp() == 1_700_000_000.25
    assert (rows[1]["error"], rows[1]["field"], rows[1]["shadow"]) == (
        "RequestValidationError",
        "records[0].x",
        False,
    )
