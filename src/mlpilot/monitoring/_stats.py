"""Drift statistics over binned data: the reference side is a profile, never the raw rows.

Every function takes counts (or cumulative distribution values at shared points), so its cost
does not depend on how many rows were counted. Conventions follow the usual definitions:

- PSI: ``sum((c - r) * ln(c / r))`` over bin shares, empty shares replaced by ``1e-4``
  (the common practice, also Evidently's), so one empty bin cannot make it infinite.
- KS: the largest gap between the two cumulative distributions, evaluated at the points where
  both are known (the reference's bin edges and quantiles); with binned data this is a lower
  bound of the exact statistic, so its p-value errs on the side of "no drift". The p-value is the
  two-sample asymptotic one SciPy's ``ks_2samp`` uses: ``kstwo.sf(D, round(n*m/(n+m)))``.
- Wasserstein (earth mover's) distance: the area between the two piecewise-linear cumulative
  distributions, divided by the reference standard deviation (as Evidently's "normed" variant),
  so one threshold fits features of any scale. The area is taken between the reference's
  outermost known points (its 1st and 99th percentiles for a continuous feature): a trimmed
  distance, so an extreme value on either side cannot decide it. Mass that moves beyond those
  points still counts, through the CDF gap it leaves inside them.
- Chi-square: the test of homogeneity on the 2 x k table of reference and current counts
  (categories empty on both sides dropped), no continuity correction.
- Jensen-Shannon: SciPy's distance (square root of the divergence, natural logarithm).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

FloatArray = np.ndarray[Any, np.dtype[np.float64]]

EMPTY_SHARE = 1e-4
TESTS = frozenset({"ks", "chisquare"})


def shares(counts: Any) -> FloatArray:
    arr = np.asarray(counts, dtype=np.float64)
    total = arr.sum()
    out: FloatArray = arr / total if total > 0 else np.zeros_like(arr)
    return out


def psi(reference: Any, current: Any) -> float:
    """Population stability index of two count (or share) vectors over the same bins."""
    r = np.maximum(shares(reference), EMPTY_SHARE)
    c = np.maximum(shares(current), EMPTY_SHARE)
    return float(np.sum((c - r) * np.log(c / r)))


def jensen_shannon(reference: Any, current: Any) -> float:
    from scipy.spatial.distance import jensenshannon

    value = float(jensenshannon(shares(reference), shares(current)))
    return 0.0 if math.isnan(value) else value


def chi_square(reference: Any, current: Any) -> tuple[float, float]:
    """Statistic and p-value of the homogeneity test of two count vectors."""
    from scipy.stats import chi2_contingency

    table = np.vstack([np.asarray(reference, float), np.asarray(current, float)])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 0.0, 1.0
    result = chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue)


def ks(
    reference_cdf: FloatArray, current_cdf: FloatArray, n_ref: int, n_cur: int
) -> tuple[float, float]:
    """Statistic and p-value from two CDFs evaluated at the same points."""
    from scipy.stats import kstwo

    if n_ref <= 0 or n_cur <= 0 or reference_cdf.size == 0:
        return 0.0, 1.0
    d = float(np.max(np.abs(reference_cdf - current_cdf)))
    en = round(n_ref * n_cur / (n_ref + n_cur))
    p = float(kstwo.sf(d, max(en, 1)))
    return d, min(max(p, 0.0), 1.0)


def wasserstein(
    ref_points: FloatArray,
    ref_cdf: FloatArray,
    cur_points: FloatArray,
    cur_cdf: FloatArray,
) -> float:
    """Area between two piecewise-linear CDFs given by knots (points ascending, values 0..1)."""
    grid = np.unique(np.concatenate([ref_points, cur_points]))
    if grid.size < 2:
        return 0.0
    f = np.interp(grid, ref_points, ref_cdf, left=0.0, right=1.0)
    g = np.interp(grid, cur_points, cur_cdf, left=0.0, right=1.0)
    gap = np.abs(f - g)
    return float(np.sum(np.diff(grid) * (gap[:-1] + gap[1:]) / 2.0))


def monotone(values: FloatArray) -> FloatArray:
    """Clip to [0, 1] and make non-decreasing (a CDF estimated from rounded knots)."""
    out: FloatArray = np.maximum.accumulate(np.clip(values, 0.0, 1.0))
    return out


def verdict(
    method: str, value: float | None, p_value: float | None, threshold: float
) -> bool | None:
    """Tests drift when the p-value is below the threshold; distances when at or above it."""
    if method in TESTS:
        return None if p_value is None else p_value < threshold
    return None if value is None else value >= threshold
