"""Turning the records of a prediction request into model input, quickly and strictly.

This is on the hot path of ``/predict``: for all-numeric models the records become one float64
array without pandas; only models with categorical or datetime features get a DataFrame.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from mlpilot.data import ColumnSchema, DataSchema
from mlpilot.errors import RequestValidationError

__all__ = ["InputSpec"]

_NUMBER_TYPES = frozenset({int, float})
_MAX_SHOWN = 40
_MAX_NAMES = 8
_ARRAY_KINDS = frozenset({"numeric", "integer", "boolean"})


def _show(value: Any) -> str:
    """A short description of a value for an error message (never the whole payload)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return f"an object with {len(value)} keys"
    if isinstance(value, list | tuple):
        return f"a list of {len(value)} items"
    text = repr(value)
    if len(text) > _MAX_SHOWN:
        text = text[: _MAX_SHOWN - 1] + "…"
    kind = "string" if isinstance(value, str) else type(value).__name__
    return f"{kind} {text}"


def _names(names: tuple[str, ...]) -> str:
    shown = ", ".join(repr(n) for n in names[:_MAX_NAMES])
    more = f" and {len(names) - _MAX_NAMES} more" if len(names) > _MAX_NAMES else ""
    return f"{shown}{more}"


def _is_number(value: Any) -> bool:
    return type(value) in _NUMBER_TYPES or (
        isinstance(value, int | float) and not isinstance(value, bool)
    )


class InputSpec:
    """The features a model expects, in training order, and how to check request records.

    Build with :meth:`from_schema`. :meth:`parse` rejects records that do not fit with a
    :class:`~mlpilot.errors.RequestValidationError` whose ``field`` names the record and the
    feature, e.g. ``records[2].mean radius``.
    """

    def __init__(self, columns: tuple[ColumnSchema, ...]) -> None:
        self.columns = columns
        self.features: tuple[str, ...] = tuple(c.name for c in columns)
        self._by_name = {c.name: c for c in columns}
        self._feature_set = frozenset(self.features)
        self._n = len(self.features)
        self._getter = itemgetter(*self.features) if self.features else None
        self._as_array = all(c.kind in _ARRAY_KINDS for c in columns)
        self._bool_idx = tuple(i for i, c in enumerate(columns) if c.kind == "boolean")
        self._not_null = np.array([c.null_rate == 0 for c in columns], dtype=bool)

    @classmethod
    def from_schema(cls, schema: DataSchema, target: str) -> InputSpec:
        """The spec of a model trained on ``schema``: its columns minus ``target``, in order."""
        return cls(tuple(c for c in schema.columns if c.name != target))

    @property
    def returns_array(self) -> bool:
        """Whether :meth:`parse` returns a float64 array (all features numeric/integer/boolean)."""
        return self._as_array

    def parse(self, records: Any, *, max_rows: int) -> NDArray[np.float64] | pd.DataFrame:
        """Check ``records`` (a JSON list of objects, one per row) and build the model input.

        When every feature is numeric, integer or boolean the result is a float64 array of shape
        (rows, features) in training order; otherwise a DataFrame with the training column order.

        Rules: ``records`` is a non-empty list of at most ``max_rows`` objects; each object has
        exactly the model's features. Numeric and integer features take JSON numbers (not
        booleans, strings or lists); boolean features take ``true``/``false`` (or 0/1);
        categorical features take strings; datetime features take ISO 8601 strings. ``null`` (or
        NaN) is accepted only for features that had nulls in the training data; infinities
        never. A category not seen in training is accepted: it is the model's job to cope and
        monitoring reports it.
        """
        if not isinstance(records, list):
            raise RequestValidationError(
                f"'records' must be a list of objects, one per row; found {_show(records)}",
                field="records",
            )
        rows = len(records)
        if rows == 0:
            raise RequestValidationError(
                "'records' is empty; send at least one object, one per row", field="records"
            )
        if rows > max_rows:
            raise RequestValidationError(
                f"'records' has {rows} rows; at most {max_rows} are accepted per request "
                "(split the batch, or raise [serve] max_batch_rows)",
                field="records",
            )
        if self._as_array:
            return self._parse_array(records)
        return self._parse_frame(records)

    # -- all-numeric: a float64 array without pandas -----------------------------------------

    def _parse_array(self, records: list[Any]) -> NDArray[np.float64]:
        getter = self._getter
        keys = self._feature_set
        flat: list[Any] = []
        if getter is not None:
            single = self._n == 1
            for i, rec in enumerate(records):
                if type(rec) is not dict or rec.keys() != keys:
                    self._check_keys(i, rec)
                values = getter(rec)
                if single:
                    values = (values,)
                if not set(map(type, values)) <= _NUMBER_TYPES:
                    values = self._coerce_row(i, values)
                elif self._bool_idx:
                    self._check_bools(i, values)
                flat.extend(values)
        else:
            for i, rec in enumerate(records):
                if type(rec) is not dict or rec:
                    self._check_keys(i, rec)
        try:
            out = np.array(flat, dtype=np.float64).reshape(len(records), self._n)
        except OverflowError as exc:
            raise RequestValidationError(
                "a number in 'records' is too large for a float64", field="records"
            ) from exc
        if not np.isfinite(out).all():
            self._check_finite(out)
        return out

    def _coerce_row(self, i: int, values: tuple[Any, ...]) -> list[Any]:
        row: list[Any] = []
        for col, value in zip(self.columns, values, strict=True):
            if value is None:
                self._check_null(i, col)
                row.append(math.nan)
            elif col.kind == "boolean":
                row.append(self._bool(i, col, value))
            elif _is_number(value):
                row.append(value)
            else:
                raise self._wrong_type(i, col, "a number", value)
        return row

    def _check_bools(self, i: int, values: tuple[Any, ...]) -> None:
        for j in self._bool_idx:
            self._bool(i, self.columns[j], values[j])

    def _bool(self, i: int, col: ColumnSchema, value: Any) -> float:
        if isinstance(value, bool):
            return float(value)
        if _is_number(value) and value in (0, 1):
            return float(value)
        raise self._wrong_type(i, col, "true or false", value)

    def _check_finite(self, out: NDArray[np.float64]) -> None:
        bad_nan = np.isnan(out) & self._not_null
        bad_inf = np.isinf(out)
        for i, j in zip(*np.nonzero(bad_nan | bad_inf), strict=True):
            col = self.columns[int(j)]
            if bad_inf[i, j]:
                raise RequestValidationError(
                    f"feature '{col.name}' must be a finite number; found {out[i, j]}",
                    field=f"records[{int(i)}].{col.name}",
                )
            self._check_null(int(i), col)

    # -- with categorical or datetime features: a DataFrame ----------------------------------

    def _parse_frame(self, records: list[Any]) -> pd.DataFrame:
        keys = self._feature_set
        for i, rec in enumerate(records):
            if type(rec) is not dict or rec.keys() != keys:
                self._check_keys(i, rec)
        data: dict[str, Any] = {}
        for col in self.columns:
            name = col.name
            values = [rec[name] for rec in records]
            data[name] = self._column(col, values)
        return pd.DataFrame(data, columns=list(self.features))

    def _column(self, col: ColumnSchema, values: list[Any]) -> Any:
        kind = col.kind
        if kind == "categorical":
            for i, value in enumerate(values):
                if value is None:
                    self._check_null(i, col)
                elif type(value) is not str:
                    raise self._wrong_type(i, col, "a string (a category)", value)
            return pd.Series(values, dtype=object)
        if kind == "datetime":
            return self._datetimes(col, values)
        out = np.empty(len(values), dtype=np.float64)
        for i, value in enumerate(values):
            if value is None:
                self._check_null(i, col)
                out[i] = math.nan
            elif kind == "boolean":
                out[i] = self._bool(i, col, value)
            elif _is_number(value):
                try:
                    out[i] = value
                except OverflowError as exc:
                    raise self._wrong_type(i, col, "a float64 number", value) from exc
                if math.isnan(out[i]):
                    self._check_null(i, col)
                elif math.isinf(out[i]):
                    raise self._wrong_type(i, col, "a finite number", value)
            else:
                raise self._wrong_type(i, col, "a number", value)
        if kind == "boolean" and not np.isnan(out).any():
            return out.astype(bool)
        return out

    def _datetimes(self, col: ColumnSchema, values: list[Any]) -> pd.Series:
        aware = "," in col.dtype or "UTC" in col.dtype
        stamps: list[datetime | None] = []
        for i, value in enumerate(values):
            if value is None:
                self._check_null(i, col)
                stamps.append(None)
                continue
            if type(value) is not str:
                raise self._wrong_type(i, col, "an ISO 8601 date-time string", value)
            try:
                stamp = datetime.fromisoformat(value)
            except ValueError:
                raise self._wrong_type(i, col, "an ISO 8601 date-time string", value) from None
            if stamp.tzinfo is not None:
                stamp = stamp.astimezone(UTC)
                if not aware:
                    stamp = stamp.replace(tzinfo=None)
            elif aware:
                stamp = stamp.replace(tzinfo=UTC)
            stamps.append(stamp)
        return pd.to_datetime(pd.Series(stamps, dtype=object), utc=aware)

    # -- the slow, precise checks that name the field ----------------------------------------

    def _check_keys(self, i: int, rec: Any) -> None:
        if not isinstance(rec, dict):
            raise RequestValidationError(
                f"records[{i}] must be an object mapping feature names to values; "
                f"found {_show(rec)}",
                field=f"records[{i}]",
            )
        for name in self.features:
            if name not in rec:
                col = self._by_name[name]
                raise RequestValidationError(
                    f"records[{i}] has no feature '{name}'; the model expects a {col.kind} "
                    f"value for each of its {self._n} features",
                    field=f"records[{i}].{name}",
                )
        for key in rec:
            if key not in self._feature_set:
                shown = str(key)
                if len(shown) > _MAX_SHOWN:
                    shown = shown[: _MAX_SHOWN - 1] + "…"
                raise RequestValidationError(
                    f"records[{i}] has an unknown feature '{shown}'; the model expects exactly "
                    f"{_names(self.features)}",
                    field=f"records[{i}].{shown}",
                )

    def _check_null(self, i: int, col: ColumnSchema) -> None:
        if col.null_rate == 0:
            raise RequestValidationError(
                f"feature '{col.name}' must not be null or NaN: the training data had no "
                f"missing values there; send a {col.kind} value",
                field=f"records[{i}].{col.name}",
            )

    @staticmethod
    def _wrong_type(i: int, col: ColumnSchema, expected: str, value: Any) -> RequestValidationError:
        return RequestValidationError(
            f"feature '{col.name}' ({col.kind}) expects {expected}; found {_show(value)}",
            field=f"records[{i}].{col.name}",
        )
