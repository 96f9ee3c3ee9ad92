"""Reference profiles: the training data summarised for drift monitoring without the data.

Numeric features keep quantiles, moments and a 10-bin quantile histogram; categorical and
boolean ones keep category frequencies. Bins are ``[e_i, e_i+1)`` with the last bin closed;
the outer edges are the finite minimum and maximum, and values beyond them (infinities, or
new data outside the training range) are counted in the first or last bin, so the bins of a
live window line up with the reference bins. :meth:`FeatureProfile.histogram` and
:meth:`FeatureProfile.category_counts` apply exactly these rules to new data.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from mlpilot.data._schema import Kind, as_float, as_str, column_kind

OTHER = "__other__"
#: Categories kept by name; the rest are summed under ``"__other__"``.
MAX_FREQUENCIES = 100
BINS = 10
QUANTILES: dict[str, float] = {
    "p01": 0.01,
    "p05": 0.05,
    "p25": 0.25,
    "p50": 0.50,
    "p75": 0.75,
    "p95": 0.95,
    "p99": 0.99,
}
_SAMPLE_ORDER = ("p50", "p25", "p75", "p05", "p95", "p01", "p99")

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
IntArray = np.ndarray[Any, np.dtype[np.int64]]
Values = pd.Series | np.ndarray[Any, Any] | Sequence[Any]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _NumericStats(_Model):
    """Quantiles, moments, range and the quantile histogram of a numeric variable.

    All ``None`` when there is no finite value. Datetimes are in POSIX seconds.
    """

    quantiles: dict[str, float] | None = None
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None
    bin_edges: tuple[float, ...] | None = None
    bin_counts: tuple[int, ...] | None = None

    def histogram(self, values: Values) -> IntArray:
        """Counts of ``values`` in :attr:`bin_edges` (nulls dropped, outliers in the tails)."""
        if self.bin_edges is None:
            raise ValueError("this profile has no bins: its training values were all null")
        arr = as_float(pd.Series(values))
        return _count_in_bins(np.sort(arr[~np.isnan(arr)]), np.asarray(self.bin_edges))


class FeatureProfile(_NumericStats):
    """One feature (or the target): count of non-null values, null rate, and its distribution.

    Numeric, integer and datetime features have the numeric fields; categorical and boolean
    ones have ``frequencies`` (shares of the non-null values, the top 100 categories by name
    and the rest under ``"__other__"``, always present).
    """

    name: str
    kind: Kind
    count: int
    null_rate: float
    frequencies: dict[str, float] | None = None

    def category_counts(self, values: Values) -> dict[str, int]:
        """Counts of ``values`` per key of :attr:`frequencies`; unknown values go to other."""
        if self.frequencies is None:
            raise ValueError(f"the feature {self.name!r} is {self.kind}, it has no categories")
        counts = as_str(pd.Series(values).dropna()).value_counts()
        out = dict.fromkeys(self.frequencies, 0)
        for key, n in counts.items():
            name = str(key)
            out[name if name in out and name != OTHER else OTHER] += int(n)
        return out


class PredictionProfile(_NumericStats):
    """The model's predictions on the reference data.

    Classification: ``class_frequencies`` of the predicted labels and, when probabilities were
    given, a histogram of the positive-class probability (binary) or of the largest class
    probability (``proba_of`` says which). Regression: the numeric fields.
    """

    task: Literal["classification", "regression"]
    count: int
    class_frequencies: dict[str, float] | None = None
    proba_of: Literal["positive_class", "max_class"] | None = None
    proba_bin_edges: tuple[float, ...] | None = None
    proba_bin_counts: tuple[int, ...] | None = None


class ReferenceProfile(_Model):
    """The reference profile stored with a model version; JSON-serialisable."""

    features: tuple[FeatureProfile, ...]
    target: FeatureProfile
    prediction: PredictionProfile | None
    rows: int
    created_at: str
    profile_format: int = 1

    def feature(self, name: str) -> FeatureProfile:
        """The profile of the feature ``name``; ``KeyError`` naming the known ones if none."""
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(
            f"no feature {name!r} in the profile; its features are "
            f"{[f.name for f in self.features]}"
        )

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str | bytes) -> ReferenceProfile:
        return cls.model_validate_json(text)


def build_profile(
    features: pd.DataFrame,
    target: pd.Series,
    task: str,
    predictions: np.ndarray[Any, Any] | None = None,
    probabilities: np.ndarray[Any, Any] | None = None,
) -> ReferenceProfile:
    """Profile the training ``features`` and ``target``, and optionally the model's outputs.

    ``task`` is ``"classification"`` or ``"regression"``. ``probabilities`` (classification
    only) is ``predict_proba`` output: one column per class, or a 1-D array of the positive
    class's probability.
    """
    if task not in ("classification", "regression"):
        raise ValueError(f"task must be 'classification' or 'regression', not {task!r}")
    if probabilities is not None and task != "classification":
        raise ValueError("probabilities are only profiled for a classification task")
    feature_profiles = tuple(
        _profile_series(str(name), features[name]) for name in features.columns
    )
    target_profile = _profile_series(
        str(target.name) if target.name is not None else "target",
        target,
        kind="categorical" if task == "classification" else None,
    )
    prediction = None
    if predictions is not None or probabilities is not None:
        prediction = _profile_predictions(task, predictions, probabilities)
    return ReferenceProfile(
        features=feature_profiles,
        target=target_profile,
        prediction=prediction,
        rows=len(features),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def sample_records(profile: ReferenceProfile, n: int = 1) -> list[dict[str, Any]]:
    """``n`` plausible input rows built from the profile (medians, most frequent categories).

    Row ``i`` takes, per feature, the median then other quantiles in turn (p25, p75, ...) and
    the most frequent category then the next ones. Values are JSON-ready; datetimes are ISO
    strings; a feature with no non-null value gives ``None``.
    """
    return [{f.name: _sample_value(f, i) for f in profile.features} for i in range(n)]


def _sample_value(f: FeatureProfile, i: int) -> Any:
    if f.frequencies is not None:
        ranked = [k for k, share in f.frequencies.items() if k != OTHER and share > 0]
        if not ranked:
            return None
        key = ranked[i % len(ranked)]
        return key == "True" if f.kind == "boolean" else key
    if f.quantiles is None:
        return None
    value = f.quantiles[_SAMPLE_ORDER[i % len(_SAMPLE_ORDER)]]
    if f.kind == "integer":
        return round(value)
    if f.kind == "datetime":
        return pd.Timestamp(round(value * 1e6), unit="us").isoformat()
    return value


# -- computing -------------------------------------------------------------------------------


def _profile_series(name: str, s: pd.Series, kind: Kind | None = None) -> FeatureProfile:
    kind = kind or column_kind(s)
    rows = len(s)
    nulls = int(s.isna().sum())
    count = rows - nulls
    null_rate = nulls / rows if rows else 0.0
    if kind in ("categorical", "boolean"):
        return FeatureProfile(
            name=name,
            kind=kind,
            count=count,
            null_rate=null_rate,
            frequencies=_frequencies(s),
        )
    values = as_float(s)
    stats = _numeric_stats(values[~np.isnan(values)])
    # Values that are not numbers at all (a mixed object column) count as nulls.
    count = int((~np.isnan(values)).sum())
    null_rate = (rows - count) / rows if rows else 0.0
    return FeatureProfile(name=name, kind=kind, count=count, null_rate=null_rate, **stats)


def _frequencies(s: pd.Series) -> dict[str, float]:
    values = as_str(s.dropna())
    total = len(values)
    counts = values.value_counts(sort=False)
    # Most frequent first; ties by name, so the same data gives the same profile.
    counts = counts.sort_index(kind="stable").sort_values(ascending=False, kind="stable")
    top = counts.iloc[:MAX_FREQUENCIES]
    out = {str(k): int(v) / total for k, v in top.items()} if total else {}
    rest = int(counts.iloc[MAX_FREQUENCIES:].sum())
    out[OTHER] = out.get(OTHER, 0.0) + (rest / total if total else 0.0)
    return out


def _numeric_stats(nonnull: FloatArray) -> dict[str, Any]:
    """Stats of the non-null values; infinities go to the outer bins but not the moments."""
    finite = np.sort(nonnull[np.isfinite(nonnull)])
    if finite.size == 0:
        return {}
    n = finite.size
    probs = np.array(list(QUANTILES.values()))
    q = _sorted_quantiles(finite, probs)
    edges = np.unique(_sorted_quantiles(finite, np.linspace(0.0, 1.0, BINS + 1)))
    if edges.size == 1:
        edges = np.repeat(edges, 2)
    counts = _count_in_bins(finite, edges)
    counts[0] += int(np.count_nonzero(nonnull == -np.inf))
    counts[-1] += int(np.count_nonzero(nonnull == np.inf))
    mean = float(finite.mean())
    std = float(finite.std(ddof=1)) if n > 1 else 0.0
    return {
        "quantiles": {k: float(v) for k, v in zip(QUANTILES, q, strict=True)},
        "mean": mean if np.isfinite(mean) else None,
        "std": std if np.isfinite(std) else None,
        "min": float(finite[0]),
        "max": float(finite[-1]),
        "bin_edges": tuple(float(e) for e in edges),
        "bin_counts": tuple(int(c) for c in counts),
    }


def _sorted_quantiles(srt: FloatArray, probs: FloatArray) -> FloatArray:
    """``np.quantile(srt, probs)`` (linear interpolation) for an already sorted array."""
    pos = probs * (srt.size - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, srt.size - 1)
    frac = pos - lo
    out: FloatArray = srt[lo] + (srt[hi] - srt[lo]) * frac
    return out


def _count_in_bins(srt: FloatArray, edges: FloatArray) -> IntArray:
    """Counts of sorted values per bin; values outside the edges fall in the outer bins."""
    inner = np.searchsorted(srt, edges[1:-1], side="left")
    bounds = np.concatenate(([0], inner, [srt.size]))
    counts: IntArray = np.diff(bounds).astype(np.int64)
    return counts


def _profile_predictions(
    task: str,
    predictions: np.ndarray[Any, Any] | None,
    probabilities: np.ndarray[Any, Any] | None,
) -> PredictionProfile:
    if task == "regression":
        assert predictions is not None
        values = as_float(pd.Series(np.asarray(predictions).ravel()))
        nonnull = values[~np.isnan(values)]
        return PredictionProfile(
            task="regression", count=int(nonnull.size), **_numeric_stats(nonnull)
        )
    class_frequencies = None
    count = 0
    if predictions is not None:
        labels = pd.Series(np.asarray(predictions).ravel())
        class_frequencies = _frequencies(labels)
        count = int(labels.notna().sum())
    proba_of: Literal["positive_class", "max_class"] | None = None
    edges = counts = None
    if probabilities is not None:
        proba = np.asarray(probabilities, dtype="float64")
        if proba.ndim == 1:
            score, proba_of = proba, "positive_class"
        elif proba.ndim == 2 and proba.shape[1] == 2:
            score, proba_of = proba[:, 1], "positive_class"
        elif proba.ndim == 2 and proba.shape[1] > 2:
            score, proba_of = proba.max(axis=1), "max_class"
        else:
            raise ValueError(
                f"probabilities must be 1-D or (rows, classes) with 2+ classes, not {proba.shape}"
            )
        stats = _numeric_stats(score[~np.isnan(score)])
        edges, counts = stats.get("bin_edges"), stats.get("bin_counts")
        count = count or int(np.count_nonzero(~np.isnan(score)))
    return PredictionProfile(
        task="classification",
        count=count,
        class_frequencies=class_frequencies,
        proba_of=proba_of,
        proba_bin_edges=edges,
        proba_bin_counts=counts,
    )
