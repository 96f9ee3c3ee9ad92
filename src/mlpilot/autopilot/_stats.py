"""Anytime-valid comparison of two variants: asymptotic confidence sequences.

A confidence sequence holds at every sample size at once, so the controller may look after
every request (peeking) without inflating its error rate. We use the normal-mixture boundary of
Waudby-Smith, Arnold, Wu, Howard and Ramdas, "Time-uniform central limit theory and asymptotic
confidence sequences" (Annals of Statistics, 2024), Theorem 2.2, for the mean of each variant,
and combine the two with a union bound (each gets half of ``alpha``): conservative, and valid
for two independent streams of different lengths (canary traffic is split unevenly).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Interval", "difference_sequence", "mean_sequence"]


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
    rho2 = _rho_squared(alpha, horizon)
    t = float(n)
    radius = math.sqrt(var) * math.sqrt(
        2.0 * (t * rho2 + 1.0) / (t * t * rho2) * math.log(math.sqrt(t * rho2 + 1.0) / alpha)
    )
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
