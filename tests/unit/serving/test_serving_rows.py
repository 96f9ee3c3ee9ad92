import datetime as dt
from typing import Any

import pyarrow as pa

from mlpilot.serving._rows import _columns_by_key, error_row, input_columns

INPUTS: list[Any] = [
    {"n": 1, "f": 1, "b": True, "s": "x", "null": None, "list": [1], "obj": {"k": 1}},
    {"n": None, "f": 2.5, "b": None, "s": None, "late": "y"},
    None,
    {"n": 3, "f": None, "b": False, "s": "z", "list": []},
]


def described(columns: list[tuple[str, pa.Array]]) -> list[tuple[str, str, list[Any]]]:
    return [(name, str(column.type), column.to_pylist()) for name, column in columns]


def test_the_bulk_and_the_key_by_key_inference_agree() -> None:
    bulk = described(input_columns(INPUTS))
    assert bulk == [
        ("inputs.n", "int64", [1, None, None, 3]),
        ("inputs.f", "double", [1.0, 2.5, None, None]),
        ("inputs.b", "bool", [True, None, None, False]),
        ("inputs.s", "string", ["x", None, None, "z"]),
        ("inputs.late", "string", [None, "y", None, None]),
    ]
    # The key-by-key path (taken when some key mixes kinds) gives the same columns.
    assert described(_columns_by_key(INPUTS)) == bulk


def test_inputs_without_objects_have_no_columns() -> None:
    assert input_columns([]) == []
    assert input_columns([None, None]) == []
    assert input_columns([[1, 2], [3]]) == []
    assert described(input_columns([{"x": 1}, [1, 2]])) == [("inputs.x", "int64", [1, None])]


def test_error_row_is_a_parquet_row_with_its_date() -> None:
    row = error_row(
        {
            "kind": "error",
            "request_id": "e",
            "ts": 1_700_000_000.5,
            "status": "422",
            "error": 7,
            "field": None,
            "message": "m",
            "model_version": "3",
        }
    )
    assert row == {
        "request_id": "e",
        "ts": 1_700_000_000_500_000,
        "deployment": None,
        "variant": None,
        "model_version": 3,
        "shadow": False,
        "status": 422,
        "error": "7",
        "field": None,
        "message": "m",
        "date": dt.date(2023, 11, 14),
    }
