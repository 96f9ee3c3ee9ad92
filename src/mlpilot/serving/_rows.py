"""The Parquet shape of journal records: columns, rows, schemas and part paths.

The compactor (``_journal``) writes these rows, and the prediction log (``_predictions``) reads
the journal's backlog as the same rows, so that both sides of its views agree. A predictions
part has the fixed :data:`PREDICTION_COLUMNS`, then the typed ``inputs.<key>`` columns of
:func:`input_columns`; feedback and error parts have :data:`FEEDBACK_COLUMNS` and
:data:`ERROR_COLUMNS`.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    import pyarrow as pa
    from fsspec import AbstractFileSystem

__all__ = [
    "ERROR_COLUMNS",
    "FEEDBACK_COLUMNS",
    "INPUT_PREFIX",
    "PREDICTION_COLUMNS",
    "new_request_id",
    "request_time",
]


def new_request_id(now: float | None = None) -> str:
    """A new request id: a UUIDv7 (RFC 9562) as 32 hex digits, its first 48 bits the time in
    milliseconds. Unique like a UUIDv4, and it tells :meth:`PredictionLog.find` which day's
    partition holds the prediction, so a label arriving days later reads one day, not all."""
    millis = int((time.time() if now is None else now) * 1000) & ((1 << 48) - 1)
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis << 80) | (0x7 << 76) | ((rand >> 68) & 0xFFF) << 64
    value |= (0b10 << 62) | (rand & ((1 << 62) - 1))
    return f"{value:032x}"


def request_time(request_id: str) -> float | None:
    """The time (s) in a :func:`new_request_id`, or ``None`` for any other id."""
    if len(request_id) != 32 or request_id[12] != "7" or request_id[16] not in "89ab":
        return None
    try:
        return int(request_id[:12], 16) / 1000
    except ValueError:
        return None


def json_default(value: Any) -> Any:
    """orjson fallback for values it does not know (numpy scalars without the option, Decimal)."""
    item = getattr(value, "item", None)
    if callable(item):
        return item()
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return tolist()
    return str(value)


PREDICTION_COLUMNS = (
    "request_id",
    "row",
    "ts",
    "deployment",
    "variant",
    "model_version",
    "shadow",
    "latency_ms",
    "inputs",
    "prediction",
    "probabilities",
)
FEEDBACK_COLUMNS = ("request_id", "row", "ts", "label")
ERROR_COLUMNS = (
    "request_id",
    "ts",
    "deployment",
    "variant",
    "model_version",
    "shadow",
    "status",
    "error",
    "field",
    "message",
)
INPUT_PREFIX = "inputs."
"""The prefix of a predictions part's typed input columns: ``inputs.<key>`` for each key."""


def _json(value: Any) -> str:
    return orjson.dumps(value, default=json_default, option=orjson.OPT_SERIALIZE_NUMPY).decode()


def _micros(ts: Any) -> int:
    return round(float(ts) * 1_000_000)


_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
_DAY_MICROS = 86_400_000_000


def _date(micros: int) -> dt.date:
    """The UTC date of ``micros`` since the epoch."""
    return dt.date.fromordinal(_EPOCH_ORDINAL + micros // _DAY_MICROS)


def prediction_rows(record: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Explode one prediction record into one row per input row: the Parquet columns, plus
    ``date`` and ``_input`` (the row's input object, for :func:`input_columns`)."""
    inputs = record.get("inputs") or []
    predictions = record.get("predictions") or []
    probabilities = record.get("probabilities")
    micros = _micros(record.get("ts", 0.0))
    day = _date(micros)
    mv = record.get("model_version")
    latency = record.get("latency_ms")
    # The same for every row of the request.
    request_id = str(record.get("request_id", ""))
    deployment, variant = record.get("deployment"), record.get("variant")
    model_version = int(mv) if mv is not None else None
    shadow = bool(record.get("shadow", False))
    latency_ms = float(latency) if latency is not None else None
    n = max(len(inputs), len(predictions))
    for i in range(n):
        proba = probabilities[i] if probabilities is not None and i < len(probabilities) else None
        given = inputs[i] if i < len(inputs) else None
        yield {
            "request_id": request_id,
            "row": i,
            "ts": micros,
            "deployment": deployment,
            "variant": variant,
            "model_version": model_version,
            "shadow": shadow,
            "latency_ms": latency_ms,
            "inputs": _json(given) if i < len(inputs) else None,
            "prediction": _json(predictions[i]) if i < len(predictions) else None,
            "probabilities": _json(proba) if proba is not None else None,
            "date": day,
            "_input": given,
        }


def feedback_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """One feedback record as a Parquet row (plus date)."""
    micros = _micros(record.get("ts", 0.0))
    row = record.get("row")
    return {
        "request_id": str(record.get("request_id", "")),
        "row": int(row) if row is not None else None,
        "ts": micros,
        "label": _json(record.get("label")),
        "date": _date(micros),
    }


def _text(value: Any) -> str | None:
    return value if value is None or isinstance(value, str) else str(value)


def error_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """One error record (a failed prediction request) as a Parquet row (plus date)."""
    micros = _micros(record.get("ts", 0.0))
    mv = record.get("model_version")
    status = record.get("status")
    return {
        "request_id": str(record.get("request_id", "")),
        "ts": micros,
        "deployment": _text(record.get("deployment")),
        "variant": _text(record.get("variant")),
        "model_version": int(mv) if mv is not None else None,
        "shadow": bool(record.get("shadow", False)),
        "status": int(status) if status is not None else None,
        "error": _text(record.get("error")),
        "field": _text(record.get("field")),
        "message": _text(record.get("message")),
        "date": _date(micros),
    }


def prediction_schema(*, with_date: bool = False) -> pa.Schema:
    import pyarrow as pa

    fields = [
        pa.field("request_id", pa.string()),
        pa.field("row", pa.int32()),
        pa.field("ts", pa.timestamp("us", tz="UTC")),
        pa.field("deployment", pa.string()),
        pa.field("variant", pa.string()),
        pa.field("model_version", pa.int64()),
        pa.field("shadow", pa.bool_()),
        pa.field("latency_ms", pa.float64()),
        pa.field("inputs", pa.string()),
        pa.field("prediction", pa.string()),
        pa.field("probabilities", pa.string()),
    ]
    if with_date:
        fields.append(pa.field("date", pa.date32()))
    return pa.schema(fields)


def feedback_schema(*, with_date: bool = False) -> pa.Schema:
    import pyarrow as pa

    fields = [
        pa.field("request_id", pa.string()),
        pa.field("row", pa.int32()),
        pa.field("ts", pa.timestamp("us", tz="UTC")),
        pa.field("label", pa.string()),
    ]
    if with_date:
        fields.append(pa.field("date", pa.date32()))
    return pa.schema(fields)


def error_schema(*, with_date: bool = False) -> pa.Schema:
    import pyarrow as pa

    fields = [
        pa.field("request_id", pa.string()),
        pa.field("ts", pa.timestamp("us", tz="UTC")),
        pa.field("deployment", pa.string()),
        pa.field("variant", pa.string()),
        pa.field("model_version", pa.int64()),
        pa.field("shadow", pa.bool_()),
        pa.field("status", pa.int32()),
        pa.field("error", pa.string()),
        pa.field("field", pa.string()),
        pa.field("message", pa.string()),
    ]
    if with_date:
        fields.append(pa.field("date", pa.date32()))
    return pa.schema(fields)


def rows_table(rows: Sequence[Mapping[str, Any]], schema: pa.Schema) -> pa.Table:
    """A pyarrow table of ``rows`` with exactly the columns of ``schema``."""
    import pyarrow as pa

    columns = {name: [r.get(name) for r in rows] for name in schema.names}
    return pa.table({f.name: pa.array(columns[f.name], type=f.type) for f in schema}, schema=schema)


def input_columns(inputs: Sequence[Any]) -> list[tuple[str, pa.Array]]:
    """The typed columns of one part file: ``(INPUT_PREFIX + key, array)`` per top-level key.

    ``inputs`` holds each row's input object (``None`` or a non-object counts as a row without
    keys). A key's type is inferred from its values in these rows, nulls aside: only numbers
    give ``float64`` (``int64`` when all are integers that fit), only booleans ``bool``, only
    strings ``string``. A key whose values mix these kinds (``"a"`` and ``1``, ``true`` and
    ``1``) becomes a ``string`` column: strings as they are, other values as their JSON text
    (``"1"``, ``"1.5"``, ``"true"``). A key with any list or object value, and a key that is
    null in every row, get no column (their values stay in the ``inputs`` JSON). Columns come in
    the order the keys first appear.
    """
    import pyarrow as pa

    try:
        # The common case, in bulk: Arrow infers one struct column from the objects.
        struct = pa.array(inputs)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return _columns_by_key(inputs)  # some key mixes kinds: decide key by key
    if not pa.types.is_struct(struct.type):
        return []
    out: list[tuple[str, pa.Array]] = []
    for item, column in zip(struct.type, struct.flatten(), strict=True):
        if _typed(column.type):
            out.append((INPUT_PREFIX + item.name, column))
    return out


def _typed(kind: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(
        pa.types.is_int64(kind)
        or pa.types.is_float64(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_string(kind)
    )


def _columns_by_key(inputs: Sequence[Any]) -> list[tuple[str, pa.Array]]:
    keys: dict[str, None] = {}
    for obj in inputs:
        if isinstance(obj, dict):
            keys.update(dict.fromkeys(obj))
    out: list[tuple[str, pa.Array]] = []
    for key in keys:
        values = [obj.get(key) if isinstance(obj, dict) else None for obj in inputs]
        column = _typed_column(values)
        if column is not None:
            out.append((INPUT_PREFIX + str(key), column))
    return out


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "nested"


def _typed_column(values: list[Any]) -> pa.Array | None:
    """One key's column under the rules of :func:`input_columns`; ``None`` when it has none."""
    import pyarrow as pa

    try:
        column = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        pass  # mixed kinds, or integers beyond int64 (or beyond a float64's exact range)
    else:
        return column if _typed(column.type) else None
    kinds = {_kind(v) for v in values if v is not None}
    if not kinds or "nested" in kinds:
        return None
    if kinds == {"number"}:
        return pa.array([None if v is None else float(v) for v in values], pa.float64())
    return pa.array(
        [v if v is None or isinstance(v, str) else _json(v) for v in values], pa.string()
    )


def prediction_part(root: str, day: dt.date, model_version: int | None, stem: str) -> str:
    mv = "__HIVE_DEFAULT_PARTITION__" if model_version is None else str(model_version)
    return f"{root}/predictions/date={day.isoformat()}/model_version={mv}/part-{stem}.parquet"


def feedback_part(root: str, day: dt.date, stem: str) -> str:
    return f"{root}/feedback/date={day.isoformat()}/part-{stem}.parquet"


def error_part(root: str, day: dt.date, stem: str) -> str:
    return f"{root}/errors/date={day.isoformat()}/part-{stem}.parquet"


def open_url(url: str) -> tuple[AbstractFileSystem, str]:
    """The fsspec filesystem and root path of a predictions URL (a local path or any fsspec URL)."""
    from fsspec.core import url_to_fs

    fs, root = url_to_fs(url)
    return fs, str(root).rstrip("/")


def is_local(fs: AbstractFileSystem) -> bool:
    protocol = fs.protocol
    protocols = (protocol,) if isinstance(protocol, str) else tuple(protocol)
    return "file" in protocols or "local" in protocols
