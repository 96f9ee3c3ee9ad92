"""content_hash, write_snapshot and read_snapshot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlpilot.data import Snapshot, content_hash, read_snapshot, write_snapshot
from mlpilot.errors import DataError, DataSourceError

MAKE_FRAME = """
import numpy as np, pandas as pd
frame = pd.DataFrame({
    "num": [1.5, np.nan, -3.0, 1e300],
    "int": pd.array([1, 2, None, 4], dtype="Int64"),
    "text": ["a", None, "c", "d"],
    "cat": pd.Categorical(["x", "y", "x", None]),
    "flag": [True, False, True, True],
    "when": pd.to_datetime(["2024-01-01", "2024-02-01", None, "2024-03-01"]),
})
"""


def make_frame() -> pd.DataFrame:
    scope: dict[str, object] = {}
    exec(MAKE_FRAME, scope)
    frame = scope["frame"]
    assert isinstance(frame, pd.DataFrame)
    return frame


def test_hash_is_sha256_hex_and_stable_across_processes() -> None:
    digest = content_hash(make_frame())
    assert len(digest) == 64
    assert int(digest, 16) >= 0
    code = MAKE_FRAME + "from mlpilot.data import content_hash\nprint(content_hash(frame))"
    other = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.strip()
    assert other == digest


def test_hash_ignores_the_index() -> None:
    df = make_frame()
    assert content_hash(df.set_axis([10, 11, 12, 13])) == content_hash(df)


@pytest.mark.parametrize(
    "change",
    [
        lambda df: df.rename(columns={"num": "number"}),
        lambda df: df.astype({"flag": "int64"}),
        lambda df: df.assign(num=df["num"].fillna(0)),
        lambda df: df.iloc[::-1],
        lambda df: df[list(reversed(df.columns))],
        lambda df: df.iloc[:3],
    ],
    ids=["column name", "dtype", "value", "row order", "column order", "rows"],
)
def test_hash_depends_on_names_dtypes_values_and_order(change) -> None:  # type: ignore[no-untyped-def]
    df = make_frame()
    assert content_hash(change(df)) != content_hash(df)


def test_int_and_float_with_equal_values_hash_differently() -> None:
    ints = pd.DataFrame({"a": [1, 2, 3]})
    assert content_hash(ints) != content_hash(ints.astype("float64"))


def test_write_then_read_round_trips_data_and_hash(tmp_path: Path) -> None:
    df = make_frame()
    snap = write_snapshot(df, tmp_path / "snapshots")
    assert snap == Snapshot(
        hash=content_hash(df),
        path=tmp_path / "snapshots" / f"{content_hash(df)}.parquet",
        rows=4,
        columns=("num", "int", "text", "cat", "flag", "when"),
    )
    assert snap.path.is_file()
    back = read_snapshot(snap.hash, tmp_path / "snapshots")
    pd.testing.assert_frame_equal(back, df)
    assert content_hash(back) == snap.hash


def test_the_index_is_not_stored(tmp_path: Path) -> None:
    df = pd.DataFrame({"a": [1, 2]}, index=[5, 6])
    back = read_snapshot(write_snapshot(df, tmp_path).hash, tmp_path)
    assert list(back.columns) == ["a"]
    assert isinstance(back.index, pd.RangeIndex)


def test_an_existing_snapshot_is_not_rewritten(tmp_path: Path) -> None:
    df = make_frame()
    first = write_snapshot(df, tmp_path)
    stat = first.path.stat()
    second = write_snapshot(df.copy(), tmp_path)
    assert second == first
    assert first.path.stat().st_mtime_ns == stat.st_mtime_ns
    assert first.path.stat().st_ino == stat.st_ino
    assert sorted(p.name for p in tmp_path.iterdir()) == [first.path.name]


def test_different_data_gets_its_own_file(tmp_path: Path) -> None:
    a = write_snapshot(pd.DataFrame({"a": [1]}), tmp_path)
    b = write_snapshot(pd.DataFrame({"a": [2]}), tmp_path)
    assert a.path != b.path
    assert len(list(tmp_path.glob("*.parquet"))) == 2


def test_unstorable_data_leaves_no_temp_file(tmp_path: Path) -> None:
    df = pd.DataFrame({"mixed": pd.Series([1, "a", 2.5], dtype=object)})
    with pytest.raises(DataError, match=r"cannot store the data .*'mixed'"):
        write_snapshot(df, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_read_missing_snapshot_names_it(tmp_path: Path) -> None:
    digest = "ab" * 32
    with pytest.raises(DataSourceError, match=rf"no snapshot {digest[:12]} in .*re-run"):
        read_snapshot(digest, tmp_path)


def test_read_malformed_hash(tmp_path: Path) -> None:
    with pytest.raises(DataSourceError, match=r"'\.\./etc' is not a snapshot hash"):
        read_snapshot("../etc", tmp_path)


def test_read_corrupt_snapshot(tmp_path: Path) -> None:
    digest = "cd" * 32
    (tmp_path / f"{digest}.parquet").write_bytes(b"garbage")
    with pytest.raises(DataSourceError, match=rf"{digest}\.parquet cannot be read"):
        read_snapshot(digest, tmp_path)


def test_hash_of_an_empty_frame() -> None:
    assert content_hash(pd.DataFrame({"a": np.array([], dtype="float64")})) != content_hash(
        pd.DataFrame()
    )
