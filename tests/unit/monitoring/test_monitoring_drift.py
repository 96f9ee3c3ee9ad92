"""Drift statistics and verdicts: known shifts found, equal distributions left alone."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from mlpilot.config import DriftSettings, FeatureDriftRule, QualitySettings
from mlpilot.data import build_profile
from mlpilot.monitoring import drift_frame
from mlpilot.monitoring._drift import Column, DriftPlan, quality, value_expr
from mlpilot.monitoring._stats import chi_square, jensen_shannon, psi

N = 20_000


def _frame(rng: np.random.Generator, n: int = N, *, shift: bool = False) -> pd.DataFrame:
    x = rng.normal(size=n)
    scale = rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], size=n, p=[0.5, 0.3, 0.2])
    stable = rng.normal(10.0, 2.0, size=n)
    count = rng.poisson(3.0, size=n)
    if shift:
        x = x + 0.5
        scale = scale * 2.0
        colour = rng.choice(["red", "green", "blue"], size=n, p=[0.2, 0.3, 0.5])
    return pd.DataFrame(
        {"x": x, "scale": scale, "colour": colour, "stable": stable, "count": count}
    )


def _profile(seed: int = 0, n: int = N):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    frame = _frame(rng, n)
    return build_profile(frame, pd.Series(rng.integers(0, 2, n), name="y"), "classification")


def test_known_shifts_are_found_and_unshifted_features_are_not() -> None:
    profile = _profile()
    current = _frame(np.random.default_rng(1), shift=True)
    result = drift_frame(profile, current)
    verdicts = {f.name: f.drifted for f in result.features}
    assert verdicts == {
        "x": True,
        "scale": True,
        "colour": True,
        "stable": False,
        "count": False,
    }
    assert result.drifted_count == 3
    assert result.evaluated == 5
    assert result.share == pytest.approx(0.6)
    assert result.drifted is True  # 3 of 5 >= 0.5
    # Drifted features come first in the report.
    assert [f.drifted for f in result.features[:3]] == [True, True, True]


def test_equal_distributions_do_not_drift() -> None:
    profile = _profile()
    result = drift_frame(profile, _frame(np.random.default_rng(2)))
    assert result.drifted_count == 0
    assert result.drifted is False
    for f in result.features:
        psi_value = next(s.value for s in f.statistics if s.method == "psi")
        assert psi_value is not None, f.name
        assert psi_value < 0.02, f.name


@pytest.mark.parametrize("method", ["ks", "chisquare"])
def test_false_alarm_rate_of_the_tests_stays_near_alpha(method: str) -> None:
    """Over repeated draws from the training distribution, a test at 0.05 alarms rarely."""
    profile = _profile(n=5000)
    rules = {"x": FeatureDriftRule(method="ks"), "colour": FeatureDriftRule(method="chisquare")}
    settings = DriftSettings(features=rules)
    feature = "x" if method == "ks" else "colour"
    rng = np.random.default_rng(42)
    draws = 200
    alarms = 0
    for _ in range(draws):
        result = drift_frame(profile, _frame(rng, 1000), settings)
        alarms += bool(next(f for f in result.features if f.name == feature).drifted)
    assert alarms / draws <= 0.08


@pytest.mark.parametrize("method", ["wasserstein", "psi", "ks"])
def test_heavy_tailed_features_do_not_raise_false_alarms(method: str) -> None:
    """Outliers of a t(3) or log-normal feature must not decide a verdict on equal data."""
    rng = np.random.default_rng(11)

    def draw(n: int) -> pd.DataFrame:
        return pd.DataFrame(
            {"t3": rng.standard_t(3, size=n), "lognormal": rng.lognormal(0.0, 1.5, size=n)}
        )

    ref = draw(20_000)
    profile = build_profile(ref, pd.Series(np.zeros(len(ref)), name="y"), "regression")
    settings = DriftSettings(method=method)  # type: ignore[arg-type]
    alarms = 0
    for _ in range(20):
        result = drift_frame(profile, draw(2000), settings)
        alarms += result.drifted_count
    assert alarms <= 2  # 40 verdicts
    shifted = draw(2000)
    shifted["t3"] = shifted["t3"] + 1.0
    shifted["lognormal"] = shifted["lognormal"] * 3.0
    result = drift_frame(profile, shifted, settings)
    assert result.drifted_count == 2


def test_the_tests_detect_a_small_real_shift() -> None:
    profile = _profile(n=5000)
    rules = {"x": FeatureDriftRule(method="ks"), "colour": FeatureDriftRule(method="chisquare")}
    rng = np.random.default_rng(7)
    current = _frame(rng, 2000)
    current["x"] = current["x"] + 0.25
    current["colour"] = rng.choice(["red", "green", "blue"], size=2000, p=[0.4, 0.35, 0.25])
    result = drift_frame(profile, current, DriftSettings(features=rules))
    by_name = {f.name: f for f in result.features}
    assert by_name["x"].drifted
    assert by_name["x"].method == "ks"
    assert by_name["x"].score is not None
    assert by_name["x"].score < 0.05
    assert by_name["colour"].drifted
    assert by_name["colour"].method == "chisquare"


def test_binned_statistics_agree_with_scipy_on_raw_data() -> None:
    rng = np.random.default_rng(3)
    ref = _frame(rng, 50_000)
    cur = _frame(rng, 50_000, shift=True)
    profile = build_profile(ref, pd.Series(np.zeros(len(ref)), name="y"), "regression")
    result = drift_frame(profile, cur)
    x = next(f for f in result.features if f.name == "x")
    by_method = {s.method: s for s in x.statistics}
    exact_w = sps.wasserstein_distance(ref["x"], cur["x"]) / ref["x"].std()
    assert by_method["wasserstein"].value == pytest.approx(exact_w, rel=0.15)
    exact_ks = sps.ks_2samp(ref["x"], cur["x"]).statistic
    assert by_method["ks"].value is not None
    assert by_method["ks"].value <= exact_ks + 1e-9  # binned KS is a lower bound
    assert by_method["ks"].value == pytest.approx(exact_ks, rel=0.1)


def test_psi_chi_square_and_jensen_shannon_match_their_definitions() -> None:
    ref = np.array([50.0, 30.0, 20.0])
    cur = np.array([20.0, 30.0, 50.0])
    r, c = ref / ref.sum(), cur / cur.sum()
    assert psi(ref, cur) == pytest.approx(float(np.sum((c - r) * np.log(c / r))))
    assert psi(ref, ref) == 0.0
    stat, p = chi_square(ref, cur)
    expected = sps.chi2_contingency(np.vstack([ref, cur]), correction=False)
    assert stat == pytest.approx(expected.statistic)
    assert p == pytest.approx(expected.pvalue)
    from scipy.spatial.distance import jensenshannon

    assert jensen_shannon(ref, cur) == pytest.approx(jensenshannon(r, c))
    # An empty bin on one side does not make PSI infinite.
    assert np.isfinite(psi([10, 0], [5, 5]))


def test_a_feature_missing_from_the_data_is_reported_not_silent() -> None:
    profile = _profile()
    current = _frame(np.random.default_rng(4)).drop(columns=["colour"])
    result = drift_frame(profile, current)
    colour = next(f for f in result.features if f.name == "colour")
    assert colour.drifted is None
    assert colour.message is not None
    assert "missing" in colour.message
    assert result.evaluated == 4


def test_all_null_window_and_too_few_rows_give_no_verdict_with_a_reason() -> None:
    profile = _profile()
    current = _frame(np.random.default_rng(5), 500)
    current["x"] = np.nan
    result = drift_frame(profile, current, DriftSettings(min_rows=1000))
    x = next(f for f in result.features if f.name == "x")
    assert x.drifted is None
    assert x.message is not None
    assert "null" in x.message
    stable = next(f for f in result.features if f.name == "stable")
    assert stable.drifted is None
    assert stable.message is not None
    assert "at least 1000" in stable.message
    assert result.drifted is None
    assert result.message is not None


def test_a_single_valued_training_feature_still_detects_change() -> None:
    rng = np.random.default_rng(6)
    ref = pd.DataFrame({"const": np.full(2000, 3.0), "x": rng.normal(size=2000)})
    profile = build_profile(ref, pd.Series(np.zeros(2000), name="y"), "regression")
    same = drift_frame(
        profile, pd.DataFrame({"const": np.full(500, 3.0), "x": rng.normal(size=500)})
    )
    changed = drift_frame(
        profile, pd.DataFrame({"const": rng.normal(3.0, 1.0, 500), "x": rng.normal(size=500)})
    )
    assert next(f for f in same.features if f.name == "const").drifted is False
    const = next(f for f in changed.features if f.name == "const")
    assert const.drifted is True
    assert const.message is not None
    assert "every training value was 3" in const.message


def test_quality_counts_nulls_out_of_range_values_and_unseen_categories() -> None:
    import duckdb

    profile = _profile()
    frame = pd.DataFrame(
        {
            "x": [0.0, 1.0, None, 100.0, -100.0, 0.5, None, None, 0.1, 0.2],
            "colour": ["red", "purple", "purple", None, "blue", "red", "red", "red", "red", "red"],
        }
    )
    columns = [
        Column(profile.feature(n), value_expr(f'"{n}"', profile.feature(n).kind), "x")
        for n in ("x", "colour")
    ]
    con = duckdb.connect()
    con.register("_f", frame)
    _rows, counted = DriftPlan(columns).run(lambda sql: con.execute(sql).fetchall(), "_f")
    x = quality(columns[0], counted[0], QualitySettings())
    colour = quality(columns[1], counted[1], QualitySettings())
    assert x.null_rate == pytest.approx(0.3)
    assert x.out_of_range == pytest.approx(2 / 7)
    assert x.breached
    assert x.message is not None
    assert "outside the training range" in x.message
    assert colour.unseen == pytest.approx(2 / 9)
    assert colour.unseen_examples == ("purple",)
    assert colour.breached
