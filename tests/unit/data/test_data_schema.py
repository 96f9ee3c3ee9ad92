"""infer_schema, DataSchema and validate_batch (each anomaly kind)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlpilot.config import DataSettings, ValidateSettings
from mlpilot.data import DataSchema, infer_schema, load_source, validate_batch
from mlpilot.errors import Anomaly, SchemaViolationError

DEFAULT = ValidateSettings()
NULLS_OK = ValidateSettings(max_null_rate_increase=1.0)


@pytest.fixture
def train() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "price": [10.0, 20.0, 30.0, np.nan],
            "rooms": [1, 2, 3, 4],
            "garden": [True, False, True, False],
            "city": ["paris", "lyon", "paris", "nice"],
            "built": pd.to_datetime(["2000-01-01", "2010-06-01", "2020-01-01", "1990-01-01"]),
        }
    )


def kinds(anomalies: list[Anomaly]) -> list[tuple[str, str]]:
    return [(a.column, a.kind) for a in anomalies]


# -- inference -------------------------------------------------------------------------------


def test_infer_kinds_ranges_nulls_and_categories(train: pd.DataFrame) -> None:
    schema = infer_schema(train)
    assert schema.names == ("price", "rooms", "garden", "city", "built")
    price = schema.column("price")
    assert (price.kind, price.dtype, price.nullable, price.null_rate) == (
        "numeric",
        "float64",
        True,
        0.25,
    )
    assert (price.min, price.max) == (10.0, 30.0)
    rooms = schema.column("rooms")
    assert (rooms.kind, rooms.nullable, rooms.min, rooms.max) == ("integer", False, 1.0, 4.0)
    assert schema.column("garden").kind == "boolean"
    city = schema.column("city")
    assert (city.kind, city.categories, city.min) == (
        "categorical",
        ("lyon", "nice", "paris"),
        None,
    )
    built = schema.column("built")
    assert built.kind == "datetime"
    assert built.min == pd.Timestamp("1990-01-01").timestamp()


def test_infer_object_columns_by_their_values() -> None:
    df = pd.DataFrame(
        {
            "flag": pd.Series([True, None, False], dtype=object),
            "n": pd.Series([1, None, 3], dtype=object),
            "mixed": pd.Series([1, "a", None], dtype=object),
            "cat": pd.Categorical(["b", "a", "b"]),
        }
    )
    schema = infer_schema(df)
    assert [c.kind for c in schema.columns] == ["boolean", "integer", "categorical", "categorical"]
    assert schema.column("mixed").categories == ("1", "a")
    assert schema.column("cat").categories == ("a", "b")


def test_high_cardinality_keeps_no_categories() -> None:
    df = pd.DataFrame({"id": [f"user{i}" for i in range(1001)]})
    assert infer_schema(df).column("id").categories is None


def test_infinite_values_stay_out_of_the_range() -> None:
    schema = infer_schema(pd.DataFrame({"x": [1.0, np.inf, -np.inf, 2.0], "y": [np.nan] * 4}))
    assert (schema.column("x").min, schema.column("x").max) == (1.0, 2.0)
    assert (schema.column("y").min, schema.column("y").max) == (None, None)


def test_schema_json_round_trip_and_digest(train: pd.DataFrame) -> None:
    schema = infer_schema(train)
    text = schema.to_json()
    back = DataSchema.from_json(text)
    assert back == schema
    assert back.digest() == schema.digest()
    assert len(schema.digest()) == 64
    assert schema.version == schema.digest()[:12]
    changed = infer_schema(train.assign(rooms=train["rooms"] * 2))
    assert changed.version != schema.version


def test_column_lookup_names_the_columns(train: pd.DataFrame) -> None:
    with pytest.raises(KeyError, match=r"no column 'nope' in the schema.*'price'"):
        infer_schema(train).column("nope")


# -- validation ------------------------------------------------------------------------------


def test_the_training_data_itself_is_clean(train: pd.DataFrame) -> None:
    assert validate_batch(train, infer_schema(train), DEFAULT) == []


def test_a_fresh_sample_of_a_real_data_set_is_clean(tmp_path: Path) -> None:
    df = load_source(DataSettings(source="sklearn:wine", target="target"), tmp_path)
    schema = infer_schema(df.iloc[::2])
    assert validate_batch(df.iloc[1::2], schema, DEFAULT) == []


def test_empty_batch(train: pd.DataFrame) -> None:
    anomalies = validate_batch(train.iloc[:0], infer_schema(train), DEFAULT)
    assert kinds(anomalies) == [("*", "empty")]


def test_missing_and_extra_columns(train: pd.DataFrame) -> None:
    batch = train.drop(columns="city").assign(colour="red")
    anomalies = validate_batch(batch, infer_schema(train), DEFAULT)
    assert kinds(anomalies) == [("city", "missing_column"), ("colour", "extra_column")]
    assert "categorical" in anomalies[0].expected


def test_type_change_numeric_now_holds_strings(train: pd.DataFrame) -> None:
    batch = train.assign(price=pd.Series([12.0, "n/a", "unknown", None], dtype=object))
    anomalies = validate_batch(batch, infer_schema(train), DEFAULT)
    assert kinds(anomalies) == [("price", "type_change")]
    assert anomalies[0].examples == ("n/a", "unknown")
    assert anomalies[0].found.startswith("2 value(s) that are not numbers")


def test_numbers_sent_as_strings_are_numbers(train: pd.DataFrame) -> None:
    batch = train.assign(price=pd.Series(["12", "15.5", None, "20"]))
    assert validate_batch(batch, infer_schema(train), DEFAULT) == []


def test_type_change_integer_gets_fractions(train: pd.DataFrame) -> None:
    batch = train.assign(rooms=[1.0, 2.5, np.nan, 3.0])
    anomalies = validate_batch(batch, infer_schema(train), NULLS_OK)
    assert kinds(anomalies) == [("rooms", "type_change")]
    assert anomalies[0].examples == (2.5,)


def test_type_change_boolean_and_datetime(train: pd.DataFrame) -> None:
    batch = train.assign(
        garden=["yes", "no", "yes", "no"], built=pd.Series(["2001-01-01", "soon", None, "x"])
    )
    anomalies = validate_batch(batch, infer_schema(train), NULLS_OK)
    assert kinds(anomalies) == [("garden", "type_change"), ("built", "type_change")]
    assert anomalies[0].examples == ("yes", "no")
    assert anomalies[1].examples == ("soon", "x")


def test_boolean_as_zero_and_one_is_fine(train: pd.DataFrame) -> None:
    batch = train.assign(garden=[1, 0, 0, 1])
    assert validate_batch(batch, infer_schema(train), DEFAULT) == []


def test_out_of_range_with_examples(train: pd.DataFrame) -> None:
    # price range [10, 30], tolerance 0.5 x 20 = 10 -> allowed [0, 40]
    batch = pd.concat([train] * 2, ignore_index=True)
    batch["price"] = [0.0, 40.0, -1.0, 41.0, 500.0, -7.5, np.inf, np.nan]
    anomalies = validate_batch(batch, infer_schema(train), DEFAULT)
    assert kinds(anomalies) == [("price", "out_of_range")]
    a = anomalies[0]
    assert a.examples == (-1.0, 41.0, 500.0)
    assert a.found.startswith("5 value(s) out of range")
    assert "[0, 40]" in a.expected


def test_range_tolerance_setting(train: pd.DataFrame) -> None:
    batch = train.assign(price=[10.0, 31.0, 20.0, 20.0])
    schema = infer_schema(train)
    assert validate_batch(batch, schema, DEFAULT) == []
    strict = ValidateSettings(range_tolerance=0.0)
    assert kinds(validate_batch(batch, schema, strict)) == [("price", "out_of_range")]


def test_unseen_category(train: pd.DataFrame) -> None:
    batch = train.assign(city=["paris", "berlin", "rome", "berlin"])
    anomalies = validate_batch(batch, infer_schema(train), DEFAULT)
    assert kinds(anomalies) == [("city", "unseen_category")]
    assert anomalies[0].examples == ("berlin", "rome")
    assert anomalies[0].found.startswith("3 value(s) never seen")
    allowed = ValidateSettings(allow_unseen_categories=True)
    assert validate_batch(batch, infer_schema(train), allowed) == []


def test_null_jump_beyond_the_margin(train: pd.DataFrame) -> None:
    schema = infer_schema(train)  # rooms: no nulls, price: 25% nulls
    batch = train.assign(rooms=[1.0, np.nan, np.nan, 2.0], price=[np.nan, np.nan, 1e1, 20.0])
    anomalies = validate_batch(batch, schema, DEFAULT)
    assert kinds(anomalies) == [("price", "null_jump"), ("rooms", "null_jump")]
    assert anomalies[1].expected.startswith("no nulls")
    assert anomalies[1].found.startswith("null rate 50.0%")
    lenient = ValidateSettings(max_null_rate_increase=0.5)
    assert validate_batch(batch, schema, lenient) == []


def test_null_jump_is_measured_against_the_previous_batch_too(train: pd.DataFrame) -> None:
    schema = infer_schema(train)
    batch = train.assign(rooms=[1.0, np.nan, np.nan, 2.0])
    previous = infer_schema(train.assign(rooms=[1.0, np.nan, 3.0, np.nan]))
    assert validate_batch(batch, schema, DEFAULT, previous=previous) == []
    assert kinds(validate_batch(batch, schema, DEFAULT)) == [("rooms", "null_jump")]


def test_anomalies_feed_a_schema_violation_error(train: pd.DataFrame) -> None:
    batch = train.assign(city=["berlin"] * 4)
    anomalies = validate_batch(batch, infer_schema(train), DEFAULT)
    error = SchemaViolationError("the batch does not match", anomalies)
    assert "city: unseen_category" in str(error)
    assert error.to_dict()["anomalies"][0]["examples"] == ["berlin"]


def test_validating_200k_rows_by_30_columns_is_fast() -> None:
    rng = np.random.default_rng(0)
    n = 200_000
    df = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(24)})
    for i in range(3):
        df[f"n{i}"] = rng.integers(0, 50, size=n)
        df[f"c{i}"] = rng.choice(["a", "b", "c", "d"], size=n)
    schema = infer_schema(df)
    validate_batch(df.head(10), schema, DEFAULT)  # import pandera outside the measurement
    batch = df.sample(frac=1.0, random_state=1, ignore_index=True)
    batch.loc[:99, "x0"] = 100.0
    start = time.perf_counter()
    anomalies = validate_batch(batch, schema, DEFAULT)
    elapsed = time.perf_counter() - start
    assert kinds(anomalies) == [("x0", "out_of_range")]
    assert elapsed < 1.0


def test_datetimes_sent_as_iso_strings_are_fine(train: pd.DataFrame) -> None:
    batch = train.assign(built=["2001-01-01", "2030-05-01T10:00:00", "2001-01-01", "1999-12-31"])
    assert validate_batch(batch, infer_schema(train), DEFAULT) == []


def test_booleans_in_a_numeric_column_are_a_type_change(train: pd.DataFrame) -> None:
    batch = train.assign(price=[True, False, True, False])
    anomalies = validate_batch(batch, infer_schema(train), DEFAULT)
    assert kinds(anomalies) == [("price", "type_change")]
    assert anomalies[0].examples == (True, False)


def test_timezone_aware_datetimes() -> None:
    df = pd.DataFrame({"t": pd.date_range("2024-01-01", periods=3, freq="D", tz="Europe/Paris")})
    schema = infer_schema(df)
    assert schema.column("t").min == pd.Timestamp("2024-01-01", tz="Europe/Paris").timestamp()
    assert validate_batch(df, schema, DEFAULT) == []


def test_a_duplicated_column_is_an_extra_column(train: pd.DataFrame) -> None:
    batch = pd.concat([train, train[["city"]]], axis=1)
    anomalies = validate_batch(batch, infer_schema(train), DEFAULT)
    assert kinds(anomalies) == [("city", "extra_column")]
    assert anomalies[0].found == "a second str column"
