"""Anytime-valid comparison of two variants: asymptotic confidence sequences.

A confidence sequence holds at every sample size at once, so the controller may look after
every request (peeking) without inflating its error rate. We use the normal-mixture boundary of
Waudby-Smith, Arnold, Wu, Howard and Ramdas, "Time-uniform central limit theory and asymptotic
confidence sequences" (Annals of Statistics, 2024), Theorem 2.2, for the mean of each variant,
and combine the two with a union bound (each gets half of ``alpha``): conservative, and valid
for two independent streams of different lengths (canary traffic is split unevenly).

When both variants answered the same requests (shadow mode: the challenger gets a copy of each
request the champion answers), :func:`paired_sequence` uses the per-request differences
instead: two models that mostly agree differ on few rows, so the differences vary far less
than either variant's outcomes, and the sequence decides with many fewer labels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Interval", "difference_sequence", "mean_sequence", "paired_sequence"]


@dataclass(frozen=True)
class Interval:
    """A two-sided interval ``[low, high]`` around ``estimate`` from ``n`` observations."""

    estimate: float
    low: float
    high: float
    n: int


def _rho_squared(alpha: float, horizon: int) -> float:
    """The mixture's tuning that makes the boundary tightest near ``horizon`` samples."""
    a = -2.0 * math.log(alpha)
    return (a + math.log(a + 1.0)) / max(horizon, 1)


def _radius(var: float, n: int, *, alpha: float, horizon: int) -> float:
    """The boundary's half-width after ``n`` observations of variance ``var`` (Theorem 2.2)."""
    rho2 = _rho_squared(alpha, horizon)
    t = float(n)
    return math.sqrt(var) * math.sqrt(
        2.0 * (t * rho2 + 1.0) / (t * t * rho2) * math.log(math.sqrt(t * rho2 + 1.0) / alpha)
    )


def mean_sequence(
    values: Sequence[float], *, alpha: float, horizon: int, bounded: bool = False
) -> Interval:
    """The (1 - alpha) two-sided confidence sequence for the mean of ``values`` at its length.

    ``bounded`` values lie in [0, 1] (a success indicator): their variance is estimated with
    half a success and half a failure added, so a run of identical outcomes does not give a
    zero-width interval.
    """
    n = len(values)
    if n == 0:
        return Interval(math.nan, -math.inf, math.inf, 0)
    mean = math.fsum(values) / n
    if bounded:
        p = (math.fsum(values) + 0.5) / (n + 1.0)
        var = p * (1.0 - p)
    elif n > 1:
        var = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    else:
        return Interval(mean, -math.inf, math.inf, n)
    radius = _radius(var, n, alpha=alpha, horizon=horizon)
    if bounded:
        return Interval(mean, max(0.0, mean - radius), min(1.0, mean + radius), n)
    return Interval(mean, mean - radius, mean + radius, n)


def difference_sequence(
    challenger: Sequence[float],
    champion: Sequence[float],
    *,
    alpha: float,
    horizon: int,
    bounded: bool = False,
) -> Interval:
    """A confidence sequence for mean(challenger) - mean(champion), level 1 - alpha."""
    a = mean_sequence(challenger, alpha=alpha / 2.0, horizon=horizon, bounded=bounded)
    b = mean_sequence(champion, alpha=alpha / 2.0, horizon=horizon, bounded=bounded)
    return Interval(a.estimate - b.estimate, a.low - b.high, a.high - b.low, min(a.n, b.n))


def paired_sequence(differences: Sequence[float], *, alpha: float, horizon: int) -> Interval:
    """A (1 - alpha) confidence sequence for the mean of per-request ``differences`` in
    [-1, 1] (challenger minus champion, each a success indicator on the same row).

    Their variance is estimated with one disagreement's worth added (a pseudo-observation at
    distance 1 from the mean), so that two variants that agreed on every row so far do not get
    a zero-width interval.
    """
    n = len(differences)
    if n == 0:
        return Interval(math.nan, -math.inf, math.inf, 0)
    mean = math.fsum(differences) / n
    var = (math.fsum((d - mean) ** 2 for d in differences) + 1.0) / n
    radius = _radius(var, n, alpha=alpha, horizon=horizon)
    return Interval(mean, max(-1.0, mean - radius), min(1.0, mean + radius), n)
