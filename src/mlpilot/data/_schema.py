"""Schemas: what each column of the training data looked like, and checks of new batches."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from mlpilot.config import ValidateSettings
from mlpilot.errors import Anomaly

if TYPE_CHECKING:
    from pandera.api.checks import Check

Kind = Literal["numeric", "integer", "boolean", "categorical", "datetime"]

#: A categorical column with more distinct values than this keeps no category list.
MAX_CATEGORIES = 1000
_MAX_EXAMPLES = 3

_PANDAS_KIND: dict[str, Kind] = {
    "boolean": "boolean",
    "integer": "integer",
    "floating": "numeric",
    "mixed-integer-float": "numeric",
    "decimal": "numeric",
    "datetime64": "datetime",
    "datetime": "datetime",
}


class ColumnSchema(BaseModel):
    """One column: its kind, dtype, null rate, and range (numbers) or categories (labels).

    ``min``/``max`` are finite; for datetimes they are POSIX seconds. ``categories`` (sorted
    strings) is kept for categorical columns with at most 1000 distinct values.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    kind: Kind
    dtype: str
    nullable: bool
    null_rate: float
    min: float | None = None
    max: float | None = None
    categories: tuple[str, ...] | None = None


class DataSchema(BaseModel):
    """The columns of a data set, in order; serialises to JSON and has a content digest."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    columns: tuple[ColumnSchema, ...]

    def digest(self) -> str:
        """The sha256 (hex) of the schema's canonical JSON."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    @property
    def version(self) -> str:
        """The first 12 hex characters of :meth:`digest`; enough to tell schemas apart."""
        return self.digest()[:12]

    @property
    def names(self) -> tuple[str, ...]:
        """The column names, in order."""
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> ColumnSchema:
        """The column called ``name``; ``KeyError`` naming the known columns if there is none."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"no column {name!r} in the schema; its columns are {list(self.names)}")

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    @classmethod
    def from_json(cls, text: str | bytes) -> DataSchema:
        return cls.model_validate_json(text)


def column_kind(s: pd.Series) -> Kind:
    """The kind of a column, from its dtype (and, for ``object`` columns, its values)."""
    dtype = s.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pd.api.types.is_object_dtype(dtype):
        return _PANDAS_KIND.get(pd.api.types.infer_dtype(s, skipna=True), "categorical")
    return "categorical"


def as_float(s: pd.Series) -> np.ndarray[Any, np.dtype[np.float64]]:
    """A column as float64 with NaN for nulls and for values that are not numbers."""
    dtype = s.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        if isinstance(dtype, pd.DatetimeTZDtype):
            s = s.dt.tz_convert("UTC").dt.tz_localize(None)
        stamps = s.to_numpy().astype("datetime64[ns]")
        out = stamps.astype("int64").astype("float64") / 1e9
        out[np.isnat(stamps)] = np.nan
        return out
    if pd.api.types.is_numeric_dtype(dtype):
        return s.to_numpy(dtype="float64", na_value=np.nan)
    if pd.api.types.is_object_dtype(dtype):
        if pd.api.types.infer_dtype(s, skipna=True) in ("datetime64", "datetime"):
            return as_float(pd.to_datetime(s, errors="coerce", utc=True))
        return pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    return np.full(len(s), np.nan)


def as_str(s: pd.Series) -> pd.Series:
    """A column's non-null values as strings (nulls stay null)."""
    if pd.api.types.is_string_dtype(s.dtype) and not pd.api.types.is_object_dtype(s.dtype):
        return s
    return s.astype("str")


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def infer_schema(df: pd.DataFrame) -> DataSchema:
    """The schema of ``df``: per column its kind, dtype, null rate, range or categories."""
    return DataSchema(columns=tuple(_infer_column(str(name), df[name]) for name in df.columns))


def _infer_column(name: str, s: pd.Series) -> ColumnSchema:
    kind = column_kind(s)
    rows = len(s)
    nulls = int(s.isna().sum())
    null_rate = nulls / rows if rows else 0.0
    lo = hi = None
    categories: tuple[str, ...] | None = None
    if kind in ("numeric", "integer", "datetime"):
        values = as_float(s)
        finite = values[np.isfinite(values)]
        if finite.size:
            lo, hi = _finite(finite.min()), _finite(finite.max())
    elif kind == "categorical":
        distinct = pd.unique(as_str(s.dropna()))
        if len(distinct) <= MAX_CATEGORIES:
            categories = tuple(sorted(str(v) for v in distinct))
    return ColumnSchema(
        name=name,
        kind=kind,
        dtype=str(s.dtype),
        nullable=nulls > 0,
        null_rate=null_rate,
        min=lo,
        max=hi,
        categories=categories,
    )


# -- validation ------------------------------------------------------------------------------


def validate_batch(
    df: pd.DataFrame,
    schema: DataSchema,
    settings: ValidateSettings,
    previous: DataSchema | None = None,
) -> list[Anomaly]:
    """Every way ``df`` differs from ``schema``; an empty list means the batch is clean.

    Kinds: ``empty`` (no rows), ``missing_column``, ``extra_column``, ``type_change`` (values
    that are not of the column's kind), ``out_of_range`` (beyond the training range widened by
    ``settings.range_tolerance`` times its width on each side), ``unseen_category`` (unless
    ``settings.allow_unseen_categories``) and ``null_jump`` (the null rate rose by more than
    ``settings.max_null_rate_increase`` over the schema's, and over ``previous``'s if given).
    Datetime columns get no range check: new data is expected to be newer.
    """
    anomalies: list[Anomaly] = []
    if len(df) == 0:
        anomalies.append(Anomaly("*", "empty", expected="at least 1 row", found="0 rows"))
    present = {str(c) for c in df.columns}
    known = set(schema.names)
    for col in schema.columns:
        if col.name not in present:
            anomalies.append(
                Anomaly(
                    col.name,
                    "missing_column",
                    expected=f"a {col.kind} column ({col.dtype})",
                    found="no such column",
                )
            )
    data = df.set_axis([str(c) for c in df.columns], axis="columns")
    duplicated = data.columns.duplicated()
    for name, dtype, again in zip(data.columns, data.dtypes, duplicated, strict=True):
        if name not in known or again:
            anomalies.append(
                Anomaly(
                    name,
                    "extra_column",
                    expected="only the schema's columns, each once",
                    found=f"{'a second' if again else 'an extra'} {dtype} column",
                )
            )
    if len(df) == 0:
        return anomalies
    data = data.loc[:, ~duplicated]
    columns = [c for c in schema.columns if c.name in present]
    per_column = _check_values(data, columns, settings)
    before = {c.name: c for c in previous.columns} if previous is not None else {}
    for col in columns:
        anomalies.extend(per_column.get(col.name, ()))
        jump = _null_jump(data[col.name], col, before.get(col.name), settings)
        if jump is not None:
            anomalies.append(jump)
    return anomalies


def _null_jump(
    s: pd.Series, col: ColumnSchema, before: ColumnSchema | None, settings: ValidateSettings
) -> Anomaly | None:
    rate = float(s.isna().mean())
    baseline = max(col.null_rate, before.null_rate if before is not None else 0.0)
    if rate - baseline <= settings.max_null_rate_increase + 1e-12:
        return None
    was = "no nulls" if not col.nullable else f"null rate {baseline:.1%}"
    return Anomaly(
        col.name,
        "null_jump",
        expected=f"{was}, up to {settings.max_null_rate_increase:.1%} more",
        found=f"null rate {rate:.1%} ({int(s.isna().sum())} of {len(s)} rows)",
    )


def _check_values(
    df: pd.DataFrame, columns: list[ColumnSchema], settings: ValidateSettings
) -> dict[str, list[Anomaly]]:
    """Type, range and category checks, run by pandera over all columns at once (lazily)."""
    import pandera.pandas as pa
    from pandera.errors import SchemaErrors

    specs: dict[str, pa.Column] = {}
    described: dict[tuple[str, str], tuple[str, str]] = {}
    for col in columns:
        checks: list[Check] = []
        for kind, fn, expected, noun in _checks_for(df[col.name], col, settings):
            checks.append(pa.Check(fn, name=kind))
            described[(col.name, kind)] = (expected, noun)
        if checks:
            specs[col.name] = pa.Column(checks=checks, nullable=True, name=col.name)
    if not specs:
        return {}
    try:
        pa.DataFrameSchema(specs, strict=False).validate(df, lazy=True, inplace=True)
    except SchemaErrors as exc:
        failures = exc.failure_cases
    else:
        return {}
    out: dict[str, list[Anomaly]] = {}
    for (column, kind), group in failures.groupby(["column", "check"], sort=False):
        expected, noun = described.get((str(column), str(kind)), ("", "value(s)"))
        values = group["failure_case"]
        examples = tuple(_scalar(v) for v in pd.unique(values)[:_MAX_EXAMPLES])
        out.setdefault(str(column), []).append(
            Anomaly(
                str(column),
                str(kind),
                expected=expected,
                found=f"{len(group)} {noun} in a {df[column].dtype} column",
                examples=examples,
            )
        )
    for anomalies in out.values():
        anomalies.sort(key=lambda a: _ORDER.get(a.kind, len(_ORDER)))
    return out


_ORDER = {"type_change": 0, "out_of_range": 1, "unseen_category": 2}
_CheckSpec = tuple[str, Callable[[pd.Series], pd.Series], str, str]


def _checks_for(s: pd.Series, col: ColumnSchema, settings: ValidateSettings) -> list[_CheckSpec]:
    """The (kind, vectorised check, expected, what-fails) checks for one column of a batch."""
    dtype = s.dtype
    specs: list[_CheckSpec] = []
    numeric_dtype = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
    if col.kind == "numeric" and not numeric_dtype:
        specs.append(
            (
                "type_change",
                _is_number,
                f"numbers (trained on {col.dtype})",
                "value(s) that are not numbers",
            )
        )
    if col.kind == "integer" and not pd.api.types.is_integer_dtype(dtype):
        specs.append(
            (
                "type_change",
                _is_whole if numeric_dtype else _is_whole_number,
                f"whole numbers (trained on {col.dtype})",
                "value(s) that are not whole numbers",
            )
        )
    if col.kind in ("numeric", "integer"):
        if col.min is not None and col.max is not None:
            width = col.max - col.min
            lo = col.min - settings.range_tolerance * width
            hi = col.max + settings.range_tolerance * width
            specs.append(
                (
                    "out_of_range",
                    _in_range(lo, hi),
                    f"values in [{lo:.6g}, {hi:.6g}] (training range [{col.min:.6g}, "
                    f"{col.max:.6g}] widened by {settings.range_tolerance:g} x its width)",
                    "value(s) out of range",
                )
            )
    elif col.kind == "boolean":
        if not pd.api.types.is_bool_dtype(dtype):
            specs.append(
                (
                    "type_change",
                    _is_bool,
                    f"true/false values (trained on {col.dtype})",
                    "non-boolean value(s)",
                )
            )
    elif col.kind == "datetime":
        if not pd.api.types.is_datetime64_any_dtype(dtype):
            specs.append(
                (
                    "type_change",
                    _is_datetime,
                    f"date-times (trained on {col.dtype})",
                    "value(s) that are not date-times",
                )
            )
    elif col.categories is not None and not settings.allow_unseen_categories:
        specs.append(
            (
                "unseen_category",
                _in_categories(col.categories),
                f"one of the {len(col.categories)} categories seen in training",
                "value(s) never seen in training",
            )
        )
    return specs


def _is_number(s: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(s.dtype):
        return pd.Series(False, index=s.index)
    if pd.api.types.is_object_dtype(s.dtype):
        # Python bools would pass as 0/1: a numeric column that now holds True is a type change.
        is_bool = s.map(type).isin((bool, np.bool_))
        return pd.to_numeric(s, errors="coerce").notna() & ~is_bool
    if pd.api.types.is_string_dtype(s.dtype):
        return pd.to_numeric(s, errors="coerce").notna()
    return pd.Series(False, index=s.index)


def _is_whole(s: pd.Series) -> pd.Series:
    values = as_float(s)
    ok = ~np.isfinite(values) | (values == np.floor(values))
    return pd.Series(ok, index=s.index)


def _is_whole_number(s: pd.Series) -> pd.Series:
    return _is_number(s) & _is_whole(s)


def _in_range(lo: float, hi: float) -> Callable[[pd.Series], pd.Series]:
    def check(s: pd.Series) -> pd.Series:
        values = as_float(s)
        # Values that are not numbers at all are a type change, reported once, not here.
        ok = np.isnan(values) | ((values >= lo) & (values <= hi))
        return pd.Series(ok, index=s.index)

    return check


def _is_bool(s: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(s.dtype):
        return s.isin((0, 1))
    return s.map(type).isin((bool, np.bool_))


def _is_datetime(s: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(s.dtype):
        return pd.Series(False, index=s.index)
    if pd.api.types.is_object_dtype(s.dtype):
        inferred = pd.api.types.infer_dtype(s, skipna=True)
        if inferred in ("datetime64", "datetime", "date"):
            return pd.Series(True, index=s.index)
    parsed = pd.to_datetime(as_str(s), errors="coerce", format="ISO8601", utc=True)
    return pd.Series(parsed.notna().to_numpy(), index=s.index)


def _in_categories(categories: tuple[str, ...]) -> Callable[[pd.Series], pd.Series]:
    allowed = pd.Index(categories)

    def check(s: pd.Series) -> pd.Series:
        return as_str(s).isin(allowed)

    return check


def _scalar(value: Any) -> Any:
    item = getattr(value, "item", None)
    if callable(item) and not isinstance(value, str | bytes):
        return item()
    return value
