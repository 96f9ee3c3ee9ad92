"""load_source (every source form and error path) and check_target."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from mlpilot.config import DataSettings
from mlpilot.data import SKLEARN_DATASETS, check_target, load_source
from mlpilot.errors import (
    ConfigError,
    DataSourceError,
    EmptyDataError,
    TargetError,
    UserCodeError,
)


def settings(source: str, **kw: object) -> DataSettings:
    return DataSettings(source=source, target="target", **kw)  # type: ignore[arg-type]


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {"x": [1.0, 2.0, 3.0], "city": ["a", "b", "c"], "target": [0, 1, 0]},
    )


# -- scikit-learn ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", SKLEARN_DATASETS)
def test_sklearn_datasets_load_offline_with_a_target_column(name: str, tmp_path: Path) -> None:
    df = load_source(settings(f"sklearn:{name}"), tmp_path)
    assert "target" in df.columns
    assert len(df) > 100
    assert isinstance(df.index, pd.RangeIndex)


def test_sklearn_features_keep_their_sklearn_names(tmp_path: Path) -> None:
    df = load_source(settings("sklearn:breast_cancer"), tmp_path)
    assert df.shape == (569, 31)
    assert "mean radius" in df.columns
    assert set(df["target"].unique()) == {0, 1}


def test_unknown_sklearn_dataset_names_it_and_the_choices(tmp_path: Path) -> None:
    with pytest.raises(DataSourceError, match=r"'sklearn:titanic'.*'sklearn:iris'"):
        load_source(settings("sklearn:titanic"), tmp_path)


# -- files -----------------------------------------------------------------------------------


def test_csv_relative_to_the_project(tmp_path: Path, frame: pd.DataFrame) -> None:
    (tmp_path / "data").mkdir()
    frame.to_csv(tmp_path / "data" / "train.csv", index=False)
    df = load_source(settings("data/train.csv"), tmp_path)
    pd.testing.assert_frame_equal(df, frame, check_dtype=False)


def test_parquet_absolute_path(tmp_path: Path, frame: pd.DataFrame) -> None:
    path = tmp_path / "train.parquet"
    frame.to_parquet(path, index=False)
    df = load_source(settings(str(path)), Path("/nonexistent"))
    pd.testing.assert_frame_equal(df, frame)


def test_fsspec_file_url(tmp_path: Path, frame: pd.DataFrame) -> None:
    path = tmp_path / "train.parquet"
    frame.to_parquet(path, index=False)
    df = load_source(settings(path.as_uri()), tmp_path)
    pd.testing.assert_frame_equal(df, frame)


def test_fsspec_url_glob_and_missing(tmp_path: Path, frame: pd.DataFrame) -> None:
    frame.to_parquet(tmp_path / "b.parquet", index=False)
    frame.head(1).to_parquet(tmp_path / "a.parquet", index=False)
    df = load_source(settings(f"{tmp_path.as_uri()}/*.parquet"), tmp_path)
    assert len(df) == 4
    with pytest.raises(DataSourceError, match=r"nope\.parquet.*does not exist"):
        load_source(settings(f"{tmp_path.as_uri()}/nope.parquet"), tmp_path)
    with pytest.raises(DataSourceError, match=r"zz\*\.parquet.*matches no files"):
        load_source(settings(f"{tmp_path.as_uri()}/zz*.parquet"), tmp_path)


def test_glob_concatenates_files_in_sorted_order(tmp_path: Path, frame: pd.DataFrame) -> None:
    (tmp_path / "data").mkdir()
    frame.iloc[2:].to_parquet(tmp_path / "data" / "part-2.parquet", index=False)
    frame.iloc[:2].to_parquet(tmp_path / "data" / "part-1.parquet", index=False)
    df = load_source(settings("data/part-*.parquet"), tmp_path)
    pd.testing.assert_frame_equal(df, frame)


def test_glob_of_csv_files_with_different_columns_is_refused(
    tmp_path: Path, frame: pd.DataFrame
) -> None:
    frame.to_csv(tmp_path / "a.csv", index=False)
    frame.drop(columns="city").to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(DataSourceError, match=r"b\.csv differs from .*a\.csv.*missing 'city'"):
        load_source(settings("*.csv"), tmp_path)


def test_missing_file_names_the_source_and_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(DataSourceError, match=r"'data/nope\.csv' does not exist .*looked for"):
        load_source(settings("data/nope.csv"), tmp_path)


def test_glob_matching_nothing(tmp_path: Path) -> None:
    with pytest.raises(DataSourceError, match=r"'data/\*\.parquet' matches no files"):
        load_source(settings("data/*.parquet"), tmp_path)


def test_unreadable_parquet_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "broken.parquet").write_bytes(b"this is not parquet")
    with pytest.raises(DataSourceError, match=r"cannot read .*broken\.parquet.* as PARQUET"):
        load_source(settings("broken.parquet"), tmp_path)


def test_csv_with_only_a_header_is_empty(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("x,target\n")
    with pytest.raises(EmptyDataError, match=r"'empty\.csv' gave no rows"):
        load_source(settings("empty.csv"), tmp_path)


def test_zero_byte_csv_is_empty(tmp_path: Path) -> None:
    (tmp_path / "blank.csv").write_text("")
    with pytest.raises(EmptyDataError, match=r"blank\.csv .*is empty"):
        load_source(settings("blank.csv"), tmp_path)


@pytest.mark.parametrize("source", ["data.json", "just words", "https://example.com/data.json"])
def test_unknown_form_names_the_source_and_the_forms(tmp_path: Path, source: str) -> None:
    with pytest.raises(DataSourceError, match=rf"{source!r} has an unknown form; use 'sklearn:"):
        load_source(settings(source), tmp_path)


def test_a_query_with_a_file_source_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataSourceError, match=r"query is set but the source 'a\.csv'"):
        load_source(settings("a.csv", query="SELECT 1"), tmp_path)


def test_drop_removes_columns(tmp_path: Path, frame: pd.DataFrame) -> None:
    frame.to_csv(tmp_path / "d.csv", index=False)
    df = load_source(settings("d.csv", drop=("city",)), tmp_path)
    assert list(df.columns) == ["x", "target"]


def test_drop_of_an_absent_column_names_it(tmp_path: Path, frame: pd.DataFrame) -> None:
    frame.to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(ConfigError, match=r"drop lists 'cty', not in the data") as info:
        load_source(settings("d.csv", drop=("cty",)), tmp_path)
    assert info.value.key == "data.drop"


# -- SQL -------------------------------------------------------------------------------------


@pytest.fixture
def sqlite_db(tmp_path: Path, frame: pd.DataFrame) -> Path:
    path = tmp_path / "data.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        frame.to_sql("train", conn, index=False)
    engine.dispose()
    return path


def test_sqlite_relative_to_the_project_with_query(
    tmp_path: Path, sqlite_db: Path, frame: pd.DataFrame
) -> None:
    df = load_source(settings("sqlite:///data.db", query="SELECT * FROM train"), tmp_path)
    pd.testing.assert_frame_equal(df, frame)


def test_sql_query_as_url_parameter(tmp_path: Path, sqlite_db: Path) -> None:
    source = (
        f"sqlite:///{sqlite_db}?query=SELECT%20x%2C%20target%20FROM%20train%20WHERE%20x%20%3E%201"
    )
    df = load_source(settings(source), tmp_path)
    assert list(df.columns) == ["x", "target"]
    assert df["x"].tolist() == [2.0, 3.0]


def test_sql_without_a_query(tmp_path: Path, sqlite_db: Path) -> None:
    with pytest.raises(DataSourceError, match=r"sqlite:///data\.db needs a query"):
        load_source(settings("sqlite:///data.db"), tmp_path)


def test_sql_query_failing_names_the_database_and_the_error(
    tmp_path: Path, sqlite_db: Path
) -> None:
    with pytest.raises(DataSourceError, match=r"data\.db .*no such table: nope") as info:
        load_source(settings("sqlite:///data.db", query="SELECT * FROM nope"), tmp_path)
    assert isinstance(info.value.__cause__, sa.exc.SQLAlchemyError)


def test_sqlite_file_missing(tmp_path: Path) -> None:
    with pytest.raises(DataSourceError, match=r"SQLite database .*missing\.db.* does not exist"):
        load_source(settings("sqlite:///missing.db", query="SELECT 1"), tmp_path)
    assert not (tmp_path / "missing.db").exists()


def test_sql_query_with_no_rows_is_empty(tmp_path: Path, sqlite_db: Path) -> None:
    with pytest.raises(EmptyDataError, match=r"gave no rows"):
        load_source(settings("sqlite:///data.db", query="SELECT * FROM train WHERE 0"), tmp_path)


def test_sql_error_messages_hide_the_password(tmp_path: Path) -> None:
    source = "postgresql://alice:s3cret@127.0.0.1:1/db"
    with pytest.raises(DataSourceError, match=r"alice:\*\*\*@") as info:
        load_source(settings(source, query="SELECT 1"), tmp_path)
    assert "s3cret" not in str(info.value)


@pytest.mark.postgres
def test_postgresql_source(tmp_path: Path, frame: pd.DataFrame) -> None:
    url = os.environ.get("MLPILOT_TEST_POSTGRES_URL")
    if not url:
        pytest.skip(
            "MLPILOT_TEST_POSTGRES_URL is not set: point it at a PostgreSQL database, e.g. "
            "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        )
    table = f"mlpilot_data_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            frame.to_sql(table, conn, index=False)
        query = f"SELECT x, city, target FROM {table} WHERE city LIKE '%%' ORDER BY x"
        df = load_source(settings(url, query=query), tmp_path)
        pd.testing.assert_frame_equal(df, frame)
        # A bare postgresql:// URL runs with psycopg 3.
        bare = "postgresql://" + url.split("://", 1)[1]
        df = load_source(settings(bare, query=f"SELECT * FROM {table}"), tmp_path)
        assert len(df) == 3
        with pytest.raises(DataSourceError, match=rf"{table}_nope"):
            load_source(settings(url, query=f"SELECT * FROM {table}_nope"), tmp_path)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        engine.dispose()


# -- Python callables ------------------------------------------------------------------------

LOADER = """
import pandas as pd

def load():
    return pd.DataFrame({"x": [1.0, 2.0], "target": [0, 1]})

def broken():
    raise ValueError("the warehouse is closed")

def not_a_frame():
    return [1, 2, 3]

def indexed():
    return pd.DataFrame({"x": [1.0, 2.0], "target": [0, 1]}, index=pd.Index([7, 9], name="id"))

NOT_CALLABLE = 3
"""


@pytest.fixture
def module_name(tmp_path: Path) -> Iterator[str]:
    name = f"mlpilot_test_loader_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(LOADER)
    yield name
    sys.modules.pop(name, None)


def test_file_callable(tmp_path: Path) -> None:
    (tmp_path / "loaders.py").write_text(LOADER)
    df = load_source(settings("loaders.py:load"), tmp_path)
    assert df["x"].tolist() == [1.0, 2.0]


def test_module_callable_from_the_project_dir(tmp_path: Path, module_name: str) -> None:
    df = load_source(settings(f"{module_name}:load"), tmp_path)
    assert len(df) == 2
    assert str(tmp_path) not in sys.path


def test_callable_with_a_named_index_keeps_it_as_a_column(tmp_path: Path) -> None:
    (tmp_path / "loaders.py").write_text(LOADER)
    df = load_source(settings("loaders.py:indexed"), tmp_path)
    assert list(df.columns) == ["id", "x", "target"]
    assert isinstance(df.index, pd.RangeIndex)


def test_callable_raising_keeps_the_users_traceback(tmp_path: Path) -> None:
    (tmp_path / "loaders.py").write_text(LOADER)
    with pytest.raises(UserCodeError, match=r"'loaders\.py:broken' raised ValueError") as info:
        load_source(settings("loaders.py:broken"), tmp_path)
    tb = info.value.user_traceback
    assert "loaders.py" in tb
    assert "in broken" in tb
    assert "ValueError: the warehouse is closed" in tb
    assert "_sources.py" not in tb
    assert isinstance(info.value.__cause__, ValueError)


def test_callable_not_returning_a_frame(tmp_path: Path, module_name: str) -> None:
    with pytest.raises(DataSourceError, match=rf"'{module_name}:not_a_frame' returned a list"):
        load_source(settings(f"{module_name}:not_a_frame"), tmp_path)


def test_callable_missing_function(tmp_path: Path, module_name: str) -> None:
    with pytest.raises(DataSourceError, match=r"has no function 'nope'"):
        load_source(settings(f"{module_name}:nope"), tmp_path)


def test_callable_that_is_not_a_function(tmp_path: Path, module_name: str) -> None:
    with pytest.raises(DataSourceError, match=r"NOT_CALLABLE is a int, not a function"):
        load_source(settings(f"{module_name}:NOT_CALLABLE"), tmp_path)


def test_callable_file_missing(tmp_path: Path) -> None:
    with pytest.raises(DataSourceError, match=r"'nope\.py:load'.*nope\.py does not exist"):
        load_source(settings("nope.py:load"), tmp_path)


def test_callable_module_missing(tmp_path: Path) -> None:
    with pytest.raises(DataSourceError, match=r"no module named 'mlpilot_no_such_mod'"):
        load_source(settings("mlpilot_no_such_mod:load"), tmp_path)


def test_callable_file_that_fails_to_import(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text("import pandas\n1 / 0\n")
    with pytest.raises(UserCodeError, match=r"importing .*bad\.py .*ZeroDivisionError") as info:
        load_source(settings("bad.py:load"), tmp_path)
    assert "bad.py" in info.value.user_traceback


def test_callable_module_importing_a_missing_dependency(tmp_path: Path) -> None:
    name = f"mlpilot_test_dep_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text("import mlpilot_missing_dependency\n")
    with pytest.raises(UserCodeError, match=r"mlpilot_missing_dependency"):
        load_source(settings(f"{name}:load"), tmp_path)


# -- check_target ----------------------------------------------------------------------------


def test_missing_target_lists_the_columns_truncated() -> None:
    df = pd.DataFrame({f"col{i}": [1] for i in range(30)})
    with pytest.raises(TargetError, match=r"'label' is not in the data.*'col0'.*and 10 more"):
        check_target(df, "label", "auto")


def test_all_null_target() -> None:
    df = pd.DataFrame({"y": [None, None], "x": [1, 2]})
    with pytest.raises(TargetError, match=r"'y' holds only nulls"):
        check_target(df, "y", "auto")


def test_single_class_is_named() -> None:
    df = pd.DataFrame({"y": ["spam", "spam", None]})
    with pytest.raises(TargetError, match=r"'y' has a single class 'spam'"):
        check_target(df, "y", "classification")


def test_regression_needs_numbers() -> None:
    df = pd.DataFrame({"y": ["a", "b"]})
    with pytest.raises(TargetError, match=r"'y' has dtype .*regression"):
        check_target(df, "y", "regression")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["a", "b", "a"], "classification"),
        ([True, False, True], "classification"),
        ([0, 1, 2, 1], "classification"),
        ([0.0, 1.0, np.nan, 1.0], "classification"),
        ([0.5, 1.5, 2.5], "regression"),
        (list(range(21)), "regression"),
    ],
)
def test_auto_task(values: list[object], expected: str) -> None:
    assert check_target(pd.DataFrame({"y": values}), "y", "auto") == expected


def test_explicit_task_is_kept() -> None:
    df = pd.DataFrame({"y": [0, 1, 0, 1]})
    assert check_target(df, "y", "regression") == "regression"
    assert check_target(df, "y", "classification") == "classification"


def test_a_query_with_a_bundled_dataset_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataSourceError, match=r"query is set but the source 'sklearn:iris'"):
        load_source(settings("sklearn:iris", query="SELECT 1"), tmp_path)


def test_an_edited_module_is_reloaded(tmp_path: Path, module_name: str) -> None:
    assert len(load_source(settings(f"{module_name}:load"), tmp_path)) == 2
    (tmp_path / f"{module_name}.py").write_text(
        LOADER.replace(
            '[1.0, 2.0], "target": [0, 1]})\n\ndef broken', '[1.0], "target": [0]})\n\ndef broken'
        )
    )
    assert len(load_source(settings(f"{module_name}:load"), tmp_path)) == 1
