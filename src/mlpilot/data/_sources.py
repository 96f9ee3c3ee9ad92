"""Loading a project's data from its ``[data] source`` and checking its target column."""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import json
import re
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any, Literal

import numpy as np
import pandas as pd

from mlpilot.config import DataSettings
from mlpilot.errors import (
    ConfigError,
    DataSourceError,
    EmptyDataError,
    TargetError,
    UserCodeError,
)

Task = Literal["classification", "regression"]

#: The scikit-learn data sets that ship with the library (no network needed).
SKLEARN_DATASETS: tuple[str, ...] = ("breast_cancer", "diabetes", "digits", "iris", "wine")

_FORMS = (
    "'sklearn:<name>' (one of " + ", ".join(SKLEARN_DATASETS) + "), "
    "a path or glob ending in .csv or .parquet ('data/*.parquet', 's3://bucket/data.csv'), "
    "a database URL with [data] query ('postgresql://user@host/db'), "
    "or a Python callable ('module:function' or 'file.py:function')"
)
# SQLAlchemy dialects recognised without a '+driver' part; anything with one is SQL too.
_SQL_DIALECTS = frozenset(
    {
        "postgresql",
        "postgres",
        "sqlite",
        "mysql",
        "mariadb",
        "mssql",
        "oracle",
        "duckdb",
        "snowflake",
        "bigquery",
        "redshift",
        "trino",
        "clickhouse",
    }
)
_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9]*)(?P<driver>\+[A-Za-z0-9_]+)?://")
_CALLABLE = re.compile(
    r"^(?P<target>[^:]+\.py|[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)"
    r":(?P<function>[A-Za-z_][A-Za-z0-9_]*)$"
)
_GLOB_CHARS = frozenset("*?[")
_CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.zip", ".csv.xz", ".csv.zst")
_PARQUET_SUFFIXES = (".parquet", ".pq")
_MAX_LISTED_COLUMNS = 20
# A target that is integer-valued with at most this many distinct values is a class label.
_MAX_AUTO_CLASSES = 20


def load_source(data: DataSettings, project_dir: Path) -> pd.DataFrame:
    """Load the data named by ``data.source``, drop ``data.drop`` columns, and check it has rows.

    ``data.source`` is one of: ``"sklearn:<name>"`` (a data set bundled with scikit-learn, the
    label in a ``target`` column); a path or glob ending in ``.csv`` or ``.parquet``, relative to
    ``project_dir`` or absolute or any fsspec URL (a glob's files are concatenated in sorted
    order); a SQLAlchemy URL run with ``data.query`` (or a ``?query=`` URL parameter; a bare
    ``postgresql://`` uses psycopg 3, a relative ``sqlite:///`` path is under ``project_dir``);
    or a callable ``"module:function"`` / ``"file.py:function"`` that takes no arguments and
    returns a DataFrame.

    The result has string column names and a fresh ``RangeIndex`` (a named index becomes a
    column).

    Raises:
        DataSourceError: the source does not exist, cannot be read, or has an unknown form.
        UserCodeError: a callable source raised; its traceback is in ``user_traceback``.
        ConfigError: a column listed in ``data.drop`` is not in the data.
        EmptyDataError: the source gave no rows.
    """
    source = data.source.strip()
    if not source:
        raise DataSourceError(f"[data] source is empty; set it to {_FORMS}")
    df = _dispatch(source, data.query, project_dir)
    df = _normalise(df, source)
    if data.drop:
        missing = [c for c in data.drop if c not in df.columns]
        if missing:
            raise ConfigError(
                f"[data] drop lists {_names(missing)}, not in the data from {_display(source)}; "
                f"its columns are {_names(list(df.columns))}; remove them from drop",
                key="data.drop",
            )
        df = df.drop(columns=list(data.drop))
    if len(df) == 0:
        raise EmptyDataError(
            f"the data source {_display(source)} gave no rows; check that it holds data "
            "(and, for SQL, that the query selects rows)"
        )
    return df


def source_fingerprint(data: DataSettings, project_dir: Path) -> str | None:
    """A cheap fingerprint of what :func:`load_source` would read, or None if there is none.

    Bundled scikit-learn data sets are fingerprinted by name and scikit-learn version (no
    import), local files by their bytes; SQL queries, callables and remote URLs have none
    (they are always read). Equal fingerprints mean equal data, so a caller may reuse the
    snapshot it stored for one instead of loading the source again.
    """
    source = data.source.strip()
    h = hashlib.sha256(json.dumps([source, data.query, list(data.drop)]).encode())
    if source.startswith("sklearn:") and data.query is None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            h.update(version("scikit-learn").encode())
        except PackageNotFoundError:
            return None
        return h.hexdigest()
    if _URL.match(source) or _file_kind(source) is None or data.query is not None:
        return None
    path = Path(source).expanduser()
    if not path.is_absolute():
        path = project_dir / path
    paths = _glob(path) if any(ch in _GLOB_CHARS for ch in source) else [str(path)]
    if not paths:
        return None
    for p in paths:
        try:
            with Path(p).open("rb") as fh:
                h.update(p.encode())
                h.update(hashlib.file_digest(fh, "sha256").digest())
        except OSError:
            return None
    return h.hexdigest()


def check_target(
    df: pd.DataFrame, target: str, task: Literal["auto", "classification", "regression"]
) -> Task:
    """Check that ``target`` can be learned from and resolve ``task="auto"``.

    ``auto`` means classification for a non-numeric or boolean target, or an integer-valued
    one (integer dtype, or floats that are all whole numbers, as a CSV with gaps gives) with at
    most 20 distinct values; regression otherwise.

    Raises:
        TargetError: the column is missing or all null, a classification target has fewer
            than two classes, or a regression target is not numeric.
    """
    if target not in df.columns:
        raise TargetError(
            f"the target column {target!r} is not in the data; its columns are "
            f"{_names(list(df.columns))}; set [data] target to one of them"
        )
    if list(df.columns).count(target) > 1:
        raise TargetError(f"the data has more than one column named {target!r}; rename them")
    y = df[target]
    values = y.dropna()
    if values.empty:
        raise TargetError(
            f"the target column {target!r} holds only nulls ({len(y)} rows); "
            "check the source or choose another target"
        )
    resolved: Task = _auto_task(values) if task == "auto" else task
    if resolved == "classification":
        classes = values.unique()
        if len(classes) < 2:
            raise TargetError(
                f"the target column {target!r} has a single class {classes[0]!r} in "
                f"{len(values)} rows; a classifier needs at least two classes; check the "
                "source or its query"
            )
    elif not _is_numeric(y):
        raise TargetError(
            f"the target column {target!r} has dtype {y.dtype}, which a regression cannot "
            "predict; convert it to numbers or set [train] task = 'classification'"
        )
    return resolved


def _auto_task(values: pd.Series) -> Task:
    if not _is_numeric(values):
        return "classification"
    if pd.api.types.is_integer_dtype(values.dtype):
        integral = True
    else:
        arr = values.to_numpy(dtype="float64")
        integral = bool(np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)))
    if integral and values.nunique() <= _MAX_AUTO_CLASSES:
        return "classification"
    return "regression"


def _is_numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype)


# -- dispatch --------------------------------------------------------------------------------


def _dispatch(source: str, query: str | None, project_dir: Path) -> pd.DataFrame:
    url = _URL.match(source)
    if url and (url["driver"] or url["scheme"].lower() in _SQL_DIALECTS):
        return _load_sql(source, query, project_dir)
    if query is not None:
        raise DataSourceError(
            f"[data] query is set but the source {source!r} is not a database URL; remove "
            "the query or set source to a URL such as 'postgresql://user@host/db'"
        )
    if source.startswith("sklearn:"):
        return _load_sklearn(source.removeprefix("sklearn:").strip())
    if _file_kind(source) is not None:
        return _load_files(source, project_dir)
    match = _CALLABLE.match(source)
    if match:
        return _load_callable(source, match["target"], match["function"], project_dir)
    raise DataSourceError(f"the data source {source!r} has an unknown form; use {_FORMS}")


def _normalise(df: pd.DataFrame, source: str) -> pd.DataFrame:
    if not all(isinstance(c, str) for c in df.columns):
        df = df.set_axis([str(c) for c in df.columns], axis="columns")
    duplicated = df.columns[df.columns.duplicated()].unique().tolist()
    if duplicated:
        raise DataSourceError(
            f"the data from {_display(source)} has duplicated column names "
            f"{_names(duplicated)}; give every column a unique name"
        )
    if not isinstance(df.index, pd.RangeIndex) or df.index.start != 0 or df.index.step != 1:
        named = any(name is not None for name in df.index.names)
        df = df.reset_index(drop=not named)
    return df


# -- scikit-learn data sets ------------------------------------------------------------------


def _load_sklearn(name: str) -> pd.DataFrame:
    if name not in SKLEARN_DATASETS:
        raise DataSourceError(
            f"'sklearn:{name}' is not a bundled scikit-learn data set; use one of "
            + ", ".join(f"'sklearn:{n}'" for n in SKLEARN_DATASETS)
        )
    from sklearn import datasets

    loader: Callable[..., Any] = getattr(datasets, f"load_{name}")
    bunch = loader(as_frame=True)
    frame: pd.DataFrame = bunch.frame.copy()
    return frame


# -- files -----------------------------------------------------------------------------------


def _file_kind(source: str) -> Literal["csv", "parquet"] | None:
    lowered = source.lower().rstrip("/")
    if lowered.endswith(_CSV_SUFFIXES):
        return "csv"
    if lowered.endswith(_PARQUET_SUFFIXES):
        return "parquet"
    return None


def _load_files(source: str, project_dir: Path) -> pd.DataFrame:
    kind = _file_kind(source)
    assert kind is not None
    is_glob = any(ch in _GLOB_CHARS for ch in source)
    paths: list[str]
    if _URL.match(source):
        paths = _expand_url(source, is_glob)
    else:
        path = Path(source).expanduser()
        if not path.is_absolute():
            path = project_dir / path
        if is_glob:
            paths = _glob(path)
            if not paths:
                raise DataSourceError(
                    f"the data source {source!r} matches no files (looked for {path}); "
                    "check the pattern or add the data files"
                )
        else:
            if not path.exists():
                raise DataSourceError(
                    f"the data source {source!r} does not exist (looked for {path}); "
                    "check the path, which is relative to the project directory"
                )
            paths = [str(path)]
    frames = [_read_file(p, kind, source) for p in paths]
    if len(frames) == 1:
        return frames[0]
    first = list(frames[0].columns)
    for p, frame in zip(paths[1:], frames[1:], strict=True):
        if list(frame.columns) != first:
            extra = [c for c in frame.columns if c not in first]
            lacking = [c for c in first if c not in frame.columns]
            raise DataSourceError(
                f"the files of {source!r} do not share columns: {p} differs from {paths[0]} "
                f"(extra {_names(extra)}, missing {_names(lacking)}, or another order); "
                "give every file the same columns"
            )
    return pd.concat(frames, ignore_index=True)


def _glob(pattern: Path) -> list[str]:
    parts = pattern.parts
    first = next(i for i, part in enumerate(parts) if any(ch in _GLOB_CHARS for ch in part))
    base = Path(*parts[:first])
    return sorted(str(p) for p in base.glob(str(Path(*parts[first:]))) if p.is_file())


def _expand_url(source: str, is_glob: bool) -> list[str]:
    try:
        import fsspec

        fs, path = fsspec.core.url_to_fs(source)
        if is_glob:
            found = sorted(fs.glob(path))
            if not found:
                raise DataSourceError(
                    f"the data source {source!r} matches no files; check the pattern, the "
                    "bucket and your credentials"
                )
        else:
            if not fs.exists(path):
                raise DataSourceError(
                    f"the data source {source!r} does not exist; check the URL, the bucket "
                    "and your credentials"
                )
            found = [path]
        return [str(fs.unstrip_protocol(p)) for p in found]
    except DataSourceError:
        raise
    except ImportError as exc:
        raise DataSourceError(
            f"cannot open {source!r}: {exc}; install the fsspec driver for this protocol "
            "(e.g. 's3fs' for s3://, 'gcsfs' for gs://)"
        ) from exc
    except Exception as exc:
        raise DataSourceError(
            f"cannot list the data source {source!r}: {type(exc).__name__}: {exc}; check the "
            "URL and your credentials"
        ) from exc


def _read_file(path: str, kind: Literal["csv", "parquet"], source: str) -> pd.DataFrame:
    try:
        if kind == "csv":
            return pd.read_csv(path)
        return pd.read_parquet(path)
    except pd.errors.EmptyDataError as exc:
        raise EmptyDataError(
            f"the file {path} of the data source {source!r} is empty (not even a header); "
            "check the file"
        ) from exc
    except FileNotFoundError as exc:
        raise DataSourceError(
            f"the file {path} of the data source {source!r} does not exist; check the path"
        ) from exc
    except Exception as exc:
        raise DataSourceError(
            f"cannot read {path} (from the data source {source!r}) as {kind.upper()}: "
            f"{type(exc).__name__}: {exc}; check that the file is valid {kind.upper()}"
        ) from exc


# -- SQL -------------------------------------------------------------------------------------


def _load_sql(source: str, query: str | None, project_dir: Path) -> pd.DataFrame:
    import sqlalchemy as sa
    from sqlalchemy.engine import URL, make_url

    try:
        url: URL = make_url(source)
    except Exception as exc:
        raise DataSourceError(
            f"the data source {_display(source)} is not a valid database URL: {exc}; "
            "write it as 'dialect+driver://user@host:port/database'"
        ) from exc
    shown = url.render_as_string(hide_password=True)
    in_url = url.query.get("query")
    if in_url is not None:
        url = url.difference_update_query(["query"])
        url_query = in_url if isinstance(in_url, str) else in_url[0]
        if query is not None and query.strip() != url_query.strip():
            raise DataSourceError(
                f"the data source {shown} has a ?query= parameter and [data] query is also "
                "set, to a different query; keep only one of them"
            )
        query = url_query
    if query is None or not query.strip():
        raise DataSourceError(
            f"the database source {shown} needs a query; set [data] query = "
            "'SELECT ... FROM ...' (or add ?query=... to the URL)"
        )
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        database = Path(url.database or "").expanduser()
        if not database.is_absolute() and not str(database).startswith("file:"):
            database = project_dir / database
        if not database.exists():
            raise DataSourceError(
                f"the SQLite database {database} of the data source {shown} does not exist; "
                "check the path, which is relative to the project directory"
            )
        url = url.set(database=str(database))
    try:
        engine = sa.create_engine(url)
    except Exception as exc:
        raise DataSourceError(
            f"cannot use the database URL {shown}: {type(exc).__name__}: {exc}; check the "
            "dialect and install its driver (psycopg 3 for PostgreSQL)"
        ) from exc
    try:
        conn = engine.connect()
    except Exception as exc:
        engine.dispose()
        raise DataSourceError(
            f"cannot connect to the database {shown}: {_sql_reason(exc)}; check that the "
            "server is up and the URL's host, port, database and credentials"
        ) from exc
    try:
        with conn:
            return pd.read_sql_query(sa.text(query), conn)
    except Exception as exc:
        # pandas wraps the driver's error in its own DatabaseError: report the driver's.
        cause = exc.__cause__ if isinstance(exc, pd.errors.DatabaseError) else None
        error = cause if isinstance(cause, Exception) else exc
        raise DataSourceError(
            f"the query on {shown} failed: {_sql_reason(error)}; check [data] query"
        ) from error
    finally:
        engine.dispose()


def _sql_reason(exc: Exception) -> str:
    orig = getattr(exc, "orig", None)
    reason = str(orig if orig is not None else exc).strip().splitlines()
    return f"{type(orig or exc).__name__}: {reason[0] if reason else ''}"


# -- Python callables ------------------------------------------------------------------------


def _load_callable(source: str, target: str, function: str, project_dir: Path) -> pd.DataFrame:
    if target.endswith(".py"):
        path = Path(target).expanduser()
        if not path.is_absolute():
            path = project_dir / path
        module = _import_file(source, path)
    else:
        module = _import_module(source, target, project_dir)
    fn = getattr(module, function, None)
    if fn is None:
        raise DataSourceError(
            f"the data source {source!r}: {target} has no function {function!r}; "
            "define it or fix the name"
        )
    if not callable(fn):
        raise DataSourceError(
            f"the data source {source!r}: {target}.{function} is a {type(fn).__name__}, "
            "not a function; point the source at a function that returns a DataFrame"
        )
    try:
        result = fn()
    except Exception as exc:
        raise UserCodeError(
            f"the data source {source!r} raised {type(exc).__name__}: {exc}; fix the "
            "function (its traceback follows)",
            user_traceback=_user_traceback(exc),
        ) from exc
    if not isinstance(result, pd.DataFrame):
        raise DataSourceError(
            f"the data source {source!r} returned a {type(result).__name__}, not a "
            "pandas DataFrame; make the function return a DataFrame"
        )
    return result


def _import_file(source: str, path: Path) -> ModuleType:
    if not path.is_file():
        raise DataSourceError(
            f"the data source {source!r}: the file {path} does not exist; check the path, "
            "which is relative to the project directory"
        )
    name = "_mlpilot_source_" + re.sub(r"\W", "_", path.stem)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise DataSourceError(f"the data source {source!r}: cannot import {path} as Python")
    module = importlib.util.module_from_spec(spec)
    with _on_sys_path(path.parent):
        previous = sys.modules.get(name)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous
            raise UserCodeError(
                f"importing {path} for the data source {source!r} raised "
                f"{type(exc).__name__}: {exc}; fix the file (its traceback follows)",
                user_traceback=_user_traceback(exc),
            ) from exc
    return module


def _import_module(source: str, name: str, project_dir: Path) -> ModuleType:
    with _on_sys_path(project_dir):
        try:
            module = sys.modules.get(name)
            if module is not None and _is_under(getattr(module, "__file__", None), project_dir):
                # A long-running process (the autopilot) must see edits to the project's code.
                return importlib.reload(module)
            return importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and (name == exc.name or name.startswith(f"{exc.name}.")):
                raise DataSourceError(
                    f"the data source {source!r}: no module named {exc.name!r} in "
                    f"{project_dir} or on sys.path; check the module name or install it"
                ) from exc
            raise UserCodeError(
                f"importing {name} for the data source {source!r} raised "
                f"ModuleNotFoundError: {exc}; install the missing module",
                user_traceback=_user_traceback(exc),
            ) from exc
        except Exception as exc:
            raise UserCodeError(
                f"importing {name} for the data source {source!r} raised "
                f"{type(exc).__name__}: {exc}; fix the module (its traceback follows)",
                user_traceback=_user_traceback(exc),
            ) from exc


def _is_under(file: str | None, directory: Path) -> bool:
    return file is not None and Path(file).resolve().is_relative_to(directory.resolve())


@contextlib.contextmanager
def _on_sys_path(directory: Path) -> Iterator[None]:
    entry = str(directory)
    added = entry not in sys.path
    if added:
        sys.path.insert(0, entry)
    try:
        yield
    finally:
        if added:
            with contextlib.suppress(ValueError):
                sys.path.remove(entry)


def _user_traceback(exc: BaseException) -> str:
    """The traceback from the first frame that is the user's (not mlpilot's, not importlib's)."""
    tb: TracebackType | None = exc.__traceback__
    while tb is not None and _is_internal(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def _is_internal(filename: str) -> bool:
    return filename == __file__ or filename.startswith("<frozen importlib")


# -- messages --------------------------------------------------------------------------------


def _names(names: Sequence[object]) -> str:
    shown = ", ".join(repr(n) for n in names[:_MAX_LISTED_COLUMNS])
    more = len(names) - _MAX_LISTED_COLUMNS
    return f"{shown} (and {more} more)" if more > 0 else shown or "(none)"


def _display(source: str) -> str:
    """The source as it may be shown: a database URL without its password."""
    if _URL.match(source) and "@" in source:
        try:
            from sqlalchemy.engine import make_url

            return repr(make_url(source).render_as_string(hide_password=True))
        except Exception:
            return repr(re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", source))
    return repr(source)
