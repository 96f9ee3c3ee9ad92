"""build_profile, the profile models, and sample_records."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlpilot.config import DataSettings
from mlpilot.data import (
    FeatureProfile,
    ReferenceProfile,
    build_profile,
    load_source,
    sample_records,
)


@pytest.fixture(scope="module")
def cancer() -> pd.DataFrame:
    return load_source(DataSettings(source="sklearn:breast_cancer", target="target"), Path())


@pytest.fixture
def mixed() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 500
    x = rng.normal(50, 10, size=n)
    x[:20] = np.nan
    x[20] = np.inf
    x[21] = -np.inf
    return pd.DataFrame(
        {
            "x": x,
            "count": rng.integers(0, 10, size=n),
            "city": rng.choice(["paris", "lyon", "nice"], size=n, p=[0.6, 0.3, 0.1]),
            "member": rng.random(n) < 0.25,
            "seen": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 90, n), "D"),
            "empty": np.full(n, np.nan),
            "const": np.full(n, 3.0),
        }
    )


def test_numeric_feature_profile(cancer: pd.DataFrame) -> None:
    profile = build_profile(cancer.drop(columns="target"), cancer["target"], "classification")
    assert profile.rows == 569
    assert len(profile.features) == 30
    radius = profile.feature("mean radius")
    assert radius.kind == "numeric"
    assert radius.count == 569
    assert radius.null_rate == 0.0
    assert radius.quantiles is not None
    assert list(radius.quantiles) == ["p01", "p05", "p25", "p50", "p75", "p95", "p99"]
    expected = np.quantile(cancer["mean radius"], [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99])
    np.testing.assert_allclose(list(radius.quantiles.values()), expected)
    assert radius.mean == pytest.approx(cancer["mean radius"].mean())
    assert radius.std == pytest.approx(cancer["mean radius"].std())
    assert (radius.min, radius.max) == (cancer["mean radius"].min(), cancer["mean radius"].max())
    assert radius.bin_edges is not None
    assert radius.bin_counts is not None
    assert len(radius.bin_edges) == 11
    assert len(radius.bin_counts) == 10
    assert list(radius.bin_edges) == sorted(set(radius.bin_edges))
    for f in profile.features:
        assert f.bin_counts is not None
        assert sum(f.bin_counts) == f.count


def test_classification_target_is_profiled_as_class_frequencies(cancer: pd.DataFrame) -> None:
    profile = build_profile(cancer.drop(columns="target"), cancer["target"], "classification")
    assert profile.target.name == "target"
    assert profile.target.kind == "categorical"
    assert profile.target.frequencies is not None
    assert profile.target.frequencies["1"] == pytest.approx(357 / 569)
    assert profile.target.frequencies["__other__"] == 0.0
    assert profile.prediction is None


def test_mixed_features(mixed: pd.DataFrame) -> None:
    profile = build_profile(mixed, pd.Series(np.arange(500.0), name="y"), "regression")
    x = profile.feature("x")
    assert (x.count, x.null_rate) == (480, 0.04)
    assert x.bin_counts is not None
    assert sum(x.bin_counts) == 480
    assert x.bin_edges is not None
    assert all(math.isfinite(e) for e in x.bin_edges)
    count = profile.feature("count")
    assert count.kind == "integer"
    city = profile.feature("city")
    assert city.frequencies is not None
    assert list(city.frequencies)[:3] == ["paris", "lyon", "nice"]
    assert sum(city.frequencies.values()) == pytest.approx(1.0)
    member = profile.feature("member")
    assert member.kind == "boolean"
    assert member.frequencies is not None
    assert set(member.frequencies) == {
        "True",
        "False",
        "__other__",
    }
    assert profile.feature("seen").kind == "datetime"
    empty = profile.feature("empty")
    assert (empty.count, empty.null_rate, empty.quantiles, empty.bin_edges) == (0, 1.0, None, None)
    const = profile.feature("const")
    assert (const.bin_edges, const.bin_counts, const.std) == ((3.0, 3.0), (500,), 0.0)
    assert profile.target.quantiles is not None
    assert profile.target.quantiles["p50"] == pytest.approx(249.5)


def test_profile_json_round_trip(mixed: pd.DataFrame) -> None:
    y = pd.Series(np.where(mixed["x"] > 50, "high", "low"), name="label")
    proba = np.column_stack([np.linspace(0, 1, 500), np.linspace(1, 0, 500)])
    profile = build_profile(mixed, y, "classification", y.to_numpy(), proba)
    text = profile.to_json()
    json.loads(text)  # strict JSON: no NaN or Infinity tokens
    assert "NaN" not in text
    assert "Infinity" not in text
    assert ReferenceProfile.from_json(text) == profile


def test_many_categories_are_cut_at_100_plus_other() -> None:
    values = [f"c{i:03d}" for i in range(150) for _ in range(150 - i)]
    profile = build_profile(
        pd.DataFrame({"c": values}), pd.Series([0.0] * len(values)), "regression"
    )
    freqs = profile.feature("c").frequencies
    assert freqs is not None
    assert len(freqs) == 101
    assert next(iter(freqs)) == "c000"
    assert freqs["__other__"] == pytest.approx(sum(150 - i for i in range(100, 150)) / len(values))


def test_binary_probabilities_profile_the_positive_class(cancer: pd.DataFrame) -> None:
    X, y = cancer.drop(columns="target"), cancer["target"]
    proba = np.column_stack([1 - y * 0.8, y * 0.8])
    profile = build_profile(X, y, "classification", predictions=y.to_numpy(), probabilities=proba)
    pred = profile.prediction
    assert pred is not None
    assert (pred.task, pred.proba_of, pred.count) == ("classification", "positive_class", 569)
    assert pred.class_frequencies is not None
    assert pred.class_frequencies["0"] == pytest.approx(212 / 569)
    assert pred.proba_bin_counts is not None
    assert sum(pred.proba_bin_counts) == 569
    assert pred.proba_bin_edges == (0.0, 0.8)


def test_multiclass_probabilities_profile_the_largest(tmp_path: Path) -> None:
    iris = load_source(DataSettings(source="sklearn:iris", target="target"), tmp_path)
    rng = np.random.default_rng(0)
    proba = rng.dirichlet([1, 1, 1], size=len(iris))
    profile = build_profile(
        iris.drop(columns="target"), iris["target"], "classification", probabilities=proba
    )
    pred = profile.prediction
    assert pred is not None
    assert (pred.proba_of, pred.class_frequencies) == ("max_class", None)
    assert pred.proba_bin_edges is not None
    assert pred.proba_bin_edges[0] >= 1 / 3
    assert pred.proba_bin_counts is not None
    assert sum(pred.proba_bin_counts) == 150


def test_regression_predictions_get_numeric_stats(tmp_path: Path) -> None:
    diabetes = load_source(DataSettings(source="sklearn:diabetes", target="target"), tmp_path)
    X, y = diabetes.drop(columns="target"), diabetes["target"]
    profile = build_profile(X, y, "regression", predictions=y.to_numpy() * 0.9)
    pred = profile.prediction
    assert pred is not None
    assert pred.task == "regression"
    assert pred.mean == pytest.approx(y.mean() * 0.9)
    assert pred.bin_counts is not None
    assert sum(pred.bin_counts) == len(y)
    assert profile.target.kind == "numeric"


def test_bad_task_and_probabilities_for_regression(mixed: pd.DataFrame) -> None:
    y = pd.Series(np.arange(500.0))
    with pytest.raises(ValueError, match=r"task must be .*not 'auto'"):
        build_profile(mixed, y, "auto")
    with pytest.raises(ValueError, match=r"probabilities are only profiled for a classification"):
        build_profile(mixed, y, "regression", y.to_numpy(), np.zeros((500, 2)))


def test_histogram_of_new_values_uses_the_same_bins(mixed: pd.DataFrame) -> None:
    x = build_profile(mixed, mixed["count"], "regression").feature("x")
    assert x.bin_counts is not None
    assert x.bin_edges is not None
    assert tuple(x.histogram(mixed["x"])) == x.bin_counts
    counts = x.histogram([-1e9, 1e9, np.nan, x.bin_edges[0], x.bin_edges[-1]])
    assert counts[0] == 2
    assert counts[-1] == 2
    assert counts.sum() == 4


def test_category_counts_map_unknown_values_to_other(mixed: pd.DataFrame) -> None:
    city = build_profile(mixed, mixed["count"], "regression").feature("city")
    counts = city.category_counts(["paris", "paris", "rome", None])
    assert counts == {"paris": 2, "lyon": 0, "nice": 0, "__other__": 1}
    with pytest.raises(ValueError, match=r"'x' is numeric, it has no categories"):
        build_profile(mixed, mixed["count"], "regression").feature("x").category_counts([1])


def test_feature_lookup_names_the_features(mixed: pd.DataFrame) -> None:
    with pytest.raises(KeyError, match=r"no feature 'nope' in the profile.*'city'"):
        build_profile(mixed, mixed["count"], "regression").feature("nope")


def test_sample_records_are_plausible_json_ready_rows(mixed: pd.DataFrame) -> None:
    profile = build_profile(mixed, mixed["count"], "regression")
    rows = sample_records(profile, n=3)
    assert len(rows) == 3
    first = rows[0]
    assert list(first) == list(mixed.columns)
    x = profile.feature("x")
    assert x.quantiles is not None
    assert first["x"] == x.quantiles["p50"]
    assert rows[1]["x"] == x.quantiles["p25"]
    assert isinstance(first["count"], int)
    assert first["city"] == "paris"
    assert rows[1]["city"] == "lyon"
    assert first["member"] is False
    assert pd.Timestamp(first["seen"]) >= pd.Timestamp("2024-01-01")
    assert first["empty"] is None
    json.dumps(rows)
    pd.DataFrame(rows)  # they make a frame with the training columns


def test_sample_records_from_a_profile_read_back_from_json(cancer: pd.DataFrame) -> None:
    profile = build_profile(cancer.drop(columns="target"), cancer["target"], "classification")
    rows = sample_records(ReferenceProfile.from_json(profile.to_json()))
    assert len(rows) == 1
    assert len(rows[0]) == 30


def test_feature_profile_is_frozen(mixed: pd.DataFrame) -> None:
    f: FeatureProfile = build_profile(mixed, mixed["count"], "regression").features[0]
    with pytest.raises(ValueError, match=r"frozen"):
        f.count = 3


def test_profiling_200k_rows_by_30_columns_is_fast() -> None:
    rng = np.random.default_rng(0)
    n = 200_000
    df = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(24)})
    for i in range(3):
        df[f"n{i}"] = rng.integers(0, 50, size=n)
        df[f"c{i}"] = rng.choice([f"k{j}" for j in range(40)], size=n)
    y = pd.Series(rng.integers(0, 2, size=n))
    proba = rng.random((n, 2))
    start = time.perf_counter()
    profile = build_profile(df, y, "classification", y.to_numpy(), proba)
    elapsed = time.perf_counter() - start
    assert len(profile.features) == 30
    assert elapsed < 1.0
