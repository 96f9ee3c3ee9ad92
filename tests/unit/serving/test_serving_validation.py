from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlpilot.data import infer_schema
from mlpilot.errors import RequestValidationError
from mlpilot.serving._validation import InputSpec


@pytest.fixture
def numeric() -> InputSpec:
    df = pd.DataFrame(
        {
            "mean radius": [1.0, 2.5, 3.0],
            "count": [1, 2, 3],
            "flag": [True, False, True],
            "maybe": [1.0, None, 2.0],
            "target": [0, 1, 0],
        }
    )
    return InputSpec.from_schema(infer_schema(df), "target")


@pytest.fixture
def mixed() -> InputSpec:
    df = pd.DataFrame(
        {
            "city": ["paris", "rome", "oslo"],
            "size": [1.0, 2.0, 3.0],
            "when": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"]),
            "note": ["a", None, "b"],
            "target": [0, 1, 0],
        }
    )
    return InputSpec.from_schema(infer_schema(df), "target")


def rec(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"mean radius": 1.5, "count": 2, "flag": True, "maybe": 0.5}
    base.update(kw)
    return base


def test_features_are_schema_minus_target_in_order(numeric: InputSpec) -> None:
    assert numeric.features == ("mean radius", "count", "flag", "maybe")
    assert numeric.returns_array


def test_numeric_records_become_a_float64_array(numeric: InputSpec) -> None:
    out = numeric.parse([rec(), rec(count=7, flag=False, maybe=None)], max_rows=10)
    assert isinstance(out, np.ndarray)
    assert out.dtype == np.float64
    assert out.shape == (2, 4)
    np.testing.assert_array_equal(out[0], [1.5, 2.0, 1.0, 0.5])
    assert out[1, 1] == 7.0
    assert out[1, 2] == 0.0
    assert math.isnan(out[1, 3])


def test_key_order_in_a_record_does_not_matter(numeric: InputSpec) -> None:
    r = dict(reversed(list(rec().items())))
    np.testing.assert_array_equal(
        numeric.parse([r], max_rows=1), numeric.parse([rec()], max_rows=1)
    )


def test_boolean_feature_accepts_zero_and_one(numeric: InputSpec) -> None:
    out = numeric.parse([rec(flag=1), rec(flag=0)], max_rows=2)
    assert isinstance(out, np.ndarray)
    assert list(out[:, 2]) == [1.0, 0.0]


def test_single_feature_model() -> None:
    spec = InputSpec.from_schema(infer_schema(pd.DataFrame({"x": [1.0], "y": [0]})), "y")
    out = spec.parse([{"x": 2.0}, {"x": 3}], max_rows=5)
    assert isinstance(out, np.ndarray)
    assert out.tolist() == [[2.0], [3.0]]


@pytest.mark.parametrize(
    ("records", "field", "match"),
    [
        ({"mean radius": 1}, "records", "must be a list of objects, one per row; found an object"),
        ("x" * 100, "records", "must be a list"),
        ([], "records", "is empty"),
        ([rec()] * 4, "records", "has 4 rows; at most 3"),
        ([rec(), 5], "records[1]", "must be an object .*found int 5"),
        ([rec(), [1, 2]], "records[1]", "found a list of 2 items"),
    ],
)
def test_bad_records_container(numeric: InputSpec, records: Any, field: str, match: str) -> None:
    with pytest.raises(RequestValidationError, match=match) as info:
        numeric.parse(records, max_rows=3)
    assert info.value.field == field
    assert info.value.http_status == 422


def test_missing_feature(numeric: InputSpec) -> None:
    r = rec()
    del r["count"]
    with pytest.raises(RequestValidationError, match=r"has no feature 'count'.*integer") as info:
        numeric.parse([rec(), rec(), r], max_rows=10)
    assert info.value.field == "records[2].count"


def test_extra_feature(numeric: InputSpec) -> None:
    with pytest.raises(RequestValidationError, match="unknown feature 'colour'") as info:
        numeric.parse([rec(colour=1.0)], max_rows=10)
    assert info.value.field == "records[0].colour"


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("1.5", "expects a number; found string '1.5'"),
        (None, "must not be null"),
        ([1.0], "expects a number; found a list of 1 items"),
        (True, "expects a number; found true"),
        ({"a": 1}, "found an object with 1 keys"),
        (float("nan"), "must not be null or NaN"),
        (float("inf"), "must be a finite number"),
    ],
)
def test_wrong_value_for_a_numeric_feature(numeric: InputSpec, value: Any, match: str) -> None:
    with pytest.raises(RequestValidationError, match=match) as info:
        numeric.parse([rec(), rec(**{"mean radius": value})], max_rows=10)
    assert info.value.field == "records[1].mean radius"


def test_wrong_value_for_a_boolean_feature(numeric: InputSpec) -> None:
    with pytest.raises(RequestValidationError, match="expects true or false; found int 5") as info:
        numeric.parse([rec(flag=5)], max_rows=10)
    assert info.value.field == "records[0].flag"


def test_long_values_are_truncated_in_messages(numeric: InputSpec) -> None:
    with pytest.raises(RequestValidationError) as info:
        numeric.parse([rec(count="z" * 5000)], max_rows=10)
    assert len(info.value.message) < 200
    assert "…" in info.value.message


def test_categorical_records_become_a_dataframe_in_training_order(mixed: InputSpec) -> None:
    assert not mixed.returns_array
    records = [
        {"note": None, "when": "2024-05-01T10:00:00", "size": 2, "city": "lima"},
        {"city": "rome", "size": 1.5, "when": "2024-05-02", "note": "x"},
    ]
    out = mixed.parse(records, max_rows=10)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == ["city", "size", "when", "note"]
    assert out["size"].dtype == np.float64
    assert pd.api.types.is_datetime64_any_dtype(out["when"])
    assert out["when"].iloc[0] == pd.Timestamp("2024-05-01T10:00:00")
    # an unseen category ('lima') is allowed; monitoring reports it
    assert out["city"].tolist() == ["lima", "rome"]
    assert out["note"].isna().iloc[0]


@pytest.mark.parametrize(
    ("feature", "value", "match"),
    [
        ("city", 3, r"\(categorical\) expects a string \(a category\); found int 3"),
        ("city", None, "must not be null"),
        ("when", "yesterday", "ISO 8601"),
        ("when", 17, "ISO 8601"),
        ("size", "big", "expects a number"),
        ("size", False, "expects a number; found false"),
    ],
)
def test_wrong_value_in_a_dataframe_model(
    mixed: InputSpec, feature: str, value: Any, match: str
) -> None:
    good = {"city": "rome", "size": 1.0, "when": "2024-05-02", "note": "x"}
    with pytest.raises(RequestValidationError, match=match) as info:
        mixed.parse([good, {**good, feature: value}], max_rows=10)
    assert info.value.field == f"records[1].{feature}"


def test_missing_and_extra_features_in_a_dataframe_model(mixed: InputSpec) -> None:
    with pytest.raises(RequestValidationError, match="has no feature 'note'") as info:
        mixed.parse([{"city": "rome", "size": 1.0, "when": "2024-05-02"}], max_rows=10)
    assert info.value.field == "records[0].note"
