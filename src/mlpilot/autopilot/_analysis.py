"""Online analysis of a release: the challenger against the champion on live traffic.

Everything comes from the prediction log, rows since the rollout, grouped by model version:
the challenger is its version (its shadow rows included), the champion is its version on the
rows users saw. Per variant: answered requests, server errors (5xx), p50/p99 latency, the
predicted-class (or mean prediction) distribution, and the per-row metric on labelled feedback.
The metric difference is judged with an anytime-valid confidence sequence (:mod:`._stats`), so
looking at it on every tick does not inflate the error rate; in shadow mode, where both variants
answer the same labelled rows, on the per-row differences (paired), which decides with far fewer
labels when the two models mostly agree.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import orjson

from mlpilot.autopilot._stats import Interval, difference_sequence, paired_sequence
from mlpilot.config import AnalysisSettings
from mlpilot.monitoring import canonical
from mlpilot.serving import PredictionLog, labelled_sql

__all__ = ["Analysis", "VariantStats", "analyse", "metric_for"]

Verdict = Literal["promote", "rollback", "continue"]
MIN_ROWS_FOR_INTERVAL = 10
"""Labelled rows per variant before the (asymptotic) confidence sequence is used at all."""
PAIRED_SHARE = 0.9
"""Share of the labelled rows both variants answered above which they are compared pairwise."""
MIN_ROWS_FOR_MEDIAN = 50
"""Answered requests of each variant before the median latency ratio guard acts."""
MIN_ROWS_FOR_P99 = 1000
"""Answered requests before a p99 guard acts: with fewer, the p99 is one or two stalled
requests (a GC pause, a cold cache) and rolls healthy models back."""


@dataclass(frozen=True)
class VariantStats:
    """One variant's figures since the rollout."""

    version: int
    requests: int = 0
    errors: int = 0
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None
    labelled: int = 0
    metric: float | None = None
    predictions: dict[str, float] = field(default_factory=dict)

    @property
    def error_rate(self) -> float | None:
        total = self.requests + self.errors
        return self.errors / total if total else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"error_rate": self.error_rate}


@dataclass(frozen=True)
class Analysis:
    """The comparison at one moment and what it implies."""

    metric: str
    higher_is_better: bool
    margin: float
    challenger: VariantStats
    champion: VariantStats
    gain: Interval | None  # challenger better by (in the metric's good direction), anytime-valid
    prediction_shift: float | None  # total variation distance of the predicted distributions
    minutes: float
    verdict: Verdict
    reason: str

    def to_dict(self) -> dict[str, Any]:
        gain = None
        if self.gain is not None:
            gain = {
                "estimate": _finite(self.gain.estimate),
                "low": _finite(self.gain.low),
                "high": _finite(self.gain.high),
                "n": self.gain.n,
            }
        return {
            "metric": self.metric,
            "higher_is_better": self.higher_is_better,
            "margin": self.margin,
            "challenger": self.challenger.to_dict(),
            "champion": self.champion.to_dict(),
            "gain": gain,
            "prediction_shift": self.prediction_shift,
            "minutes": round(self.minutes, 3),
            "verdict": self.verdict,
            "reason": self.reason,
        }


def metric_for(setting: str, version_metrics: dict[str, float]) -> str:
    """The per-row metric: the setting, or accuracy for classifiers and mae otherwise."""
    if setting != "auto":
        return setting
    return "accuracy" if "accuracy" in version_metrics else "mae"


def analyse(
    log: PredictionLog,
    *,
    challenger: int,
    champion: int,
    since: float,
    metric: str,
    settings: AnalysisSettings,
    now: float,
) -> Analysis:
    """Compare ``challenger`` with ``champion`` on the log's rows since ``since`` (unix s)."""
    first = dt.datetime.fromtimestamp(since, dt.UTC).date().isoformat()
    window = f"date >= DATE '{first}' AND ts >= to_timestamp({float(since)!r})"
    mine = (
        f"((model_version = {int(challenger)}) OR (model_version = {int(champion)} AND NOT shadow))"
    )
    ops = {
        int(v): (int(n), _num(p50), _num(p99))
        for v, n, p50, p99 in log.fetch(
            "SELECT model_version, count(*), quantile_cont(lat, 0.5), quantile_cont(lat, 0.99) "
            "FROM (SELECT request_id, model_version, any_value(latency_ms) AS lat "
            f"FROM predictions WHERE {window} AND {mine} "
            "GROUP BY request_id, variant, shadow, model_version) GROUP BY model_version"
        )
        if v is not None
    }
    errors = {
        int(v): int(n)
        for v, n in log.fetch(
            f"SELECT model_version, count(*) FROM errors WHERE {window} AND {mine} "
            "AND status >= 500 GROUP BY model_version"
        )
        if v is not None
    }
    labelled = log.fetch(
        'SELECT request_id, "row", model_version, prediction, label FROM ('
        + labelled_sql(
            f"(SELECT * FROM predictions WHERE {window} AND {mine})",
            f"(SELECT * FROM feedback WHERE {window})",
        )
        + ")"
    )
    by_row: dict[int, dict[tuple[str, int], float]] = {challenger: {}, champion: {}}
    for request_id, row, version, prediction, label in labelled:
        if version is None or int(version) not in by_row:
            continue
        value = _row_metric(metric, _loads(prediction), _loads(label))
        if value is not None:
            by_row[int(version)][(str(request_id), int(row or 0))] = value
    scores = {v: list(rows.values()) for v, rows in by_row.items()}
    predicted = _prediction_distribution(log, window, mine, metric)
    stats = {
        v: VariantStats(
            version=v,
            requests=ops.get(v, (0, None, None))[0],
            errors=errors.get(v, 0),
            latency_p50_ms=ops.get(v, (0, None, None))[1],
            latency_p99_ms=ops.get(v, (0, None, None))[2],
            labelled=len(scores[v]),
            metric=(math.fsum(scores[v]) / len(scores[v])) if scores[v] else None,
            predictions=predicted.get(v, {}),
        )
        for v in (challenger, champion)
    }
    higher = metric == "accuracy"
    pairs = [
        (value, by_row[champion][key])
        for key, value in by_row[challenger].items()
        if key in by_row[champion]
    ]
    gain = _gain(scores[challenger], scores[champion], pairs, higher=higher, settings=settings)
    shift = _total_variation(stats[challenger].predictions, stats[champion].predictions)
    minutes = max(0.0, now - since) / 60.0
    verdict, reason = decide(stats[challenger], stats[champion], gain, minutes, metric, settings)
    return Analysis(
        metric=metric,
        higher_is_better=higher,
        margin=settings.margin,
        challenger=stats[challenger],
        champion=stats[champion],
        gain=gain,
        prediction_shift=shift,
        minutes=minutes,
        verdict=verdict,
        reason=reason,
    )


def decide(
    chal: VariantStats,
    champ: VariantStats,
    gain: Interval | None,
    minutes: float,
    metric: str,
    settings: AnalysisSettings,
) -> tuple[Verdict, str]:
    """The verdict and its reason, from the figures (guards first, then the test)."""
    guard = _guard(chal, champ, settings)
    if guard is not None:
        return "rollback", guard
    margin = settings.margin
    if gain is not None and gain.high < -margin:
        return "rollback", (
            f"the challenger is significantly worse: {metric} lower by {-gain.estimate:.3g} "
            f"(confidence sequence of the gain [{gain.low:.3g}, {gain.high:.3g}] lies below "
            f"-{margin:g}) on {chal.labelled} vs {champ.labelled} labelled rows"
        )
    enough_requests = min(chal.requests, champ.requests) >= settings.min_requests
    if settings.min_labels == 0:
        if enough_requests:
            return "promote", (
                f"{chal.requests} challenger requests without breaking a guard (no labels required)"
            )
    elif (
        enough_requests
        and gain is not None
        and min(chal.labelled, champ.labelled) >= settings.min_labels
    ):
        floor = 0.0 if settings.require_better else -margin
        if gain.low > floor:
            what = "better" if settings.require_better else f"not worse by more than {margin:g}"
            return "promote", (
                f"the challenger is {what}: {metric} gain {gain.estimate:+.3g} (confidence "
                f"sequence [{gain.low:.3g}, {gain.high:.3g}]) on {chal.labelled} vs "
                f"{champ.labelled} labelled rows, {chal.requests} requests"
            )
    if minutes >= settings.max_minutes:
        return settings.on_timeout, (
            f"no decision after {settings.max_minutes:g} minutes ({chal.requests} challenger "
            f"requests, {chal.labelled} labelled); on_timeout = {settings.on_timeout}"
        )
    waiting = []
    if not enough_requests:
        waiting.append(f"requests {min(chal.requests, champ.requests)}/{settings.min_requests}")
    if settings.min_labels and min(chal.labelled, champ.labelled) < settings.min_labels:
        waiting.append(f"labels {min(chal.labelled, champ.labelled)}/{settings.min_labels}")
    if not waiting:
        waiting.append(
            "the confidence sequence still spans the margin"
            if gain is not None or settings.min_labels == 0
            else "labels of both variants for the test"
        )
    return "continue", "waiting: " + ", ".join(waiting)


def _guard(chal: VariantStats, champ: VariantStats, settings: AnalysisSettings) -> str | None:
    rate, base = chal.error_rate, champ.error_rate or 0.0
    if (
        chal.errors >= settings.min_errors
        and rate is not None
        and rate - base > settings.max_error_rate
    ):
        return (
            f"error guard: the challenger failed {chal.errors} requests ({rate:.1%}) against "
            f"the champion's {base:.1%}; allowed excess {settings.max_error_rate:.1%}"
        )
    ratio = settings.max_latency_ratio
    chal_p50, champ_p50 = chal.latency_p50_ms, champ.latency_p50_ms
    if (
        ratio is not None
        and chal_p50 is not None
        and champ_p50
        and min(chal.requests, champ.requests) >= MIN_ROWS_FOR_MEDIAN
        and chal_p50 > ratio * champ_p50
    ):
        return (
            f"latency guard: challenger median {chal_p50:.1f} ms is more than {ratio:g}x the "
            f"champion's {champ_p50:.1f} ms"
        )
    chal_p99, champ_p99 = chal.latency_p99_ms, champ.latency_p99_ms
    if chal.requests < MIN_ROWS_FOR_P99 or chal_p99 is None:
        return None
    if settings.max_p99_ms is not None and chal_p99 > settings.max_p99_ms:
        return f"latency guard: challenger p99 {chal_p99:.1f} ms > {settings.max_p99_ms:g} ms"
    if (
        ratio is not None
        and champ_p99
        and champ.requests >= MIN_ROWS_FOR_P99
        and chal_p99 > ratio * champ_p99
    ):
        return (
            f"latency guard: challenger p99 {chal_p99:.1f} ms is more than {ratio:g}x the "
            f"champion's {champ_p99:.1f} ms"
        )
    return None


def _gain(
    chal: Sequence[float],
    champ: Sequence[float],
    pairs: Sequence[tuple[float, float]],
    *,
    higher: bool,
    settings: AnalysisSettings,
) -> Interval | None:
    """The challenger's gain, anytime-valid: on per-request differences when both variants
    answered (nearly) the same labelled rows (shadow), else on the two streams apart."""
    horizon = max(settings.min_labels, 100)
    if (
        higher
        and len(pairs) >= MIN_ROWS_FOR_INTERVAL
        and len(pairs) >= PAIRED_SHARE * min(len(chal), len(champ))
    ):
        return paired_sequence([a - b for a, b in pairs], alpha=settings.alpha, horizon=horizon)
    if min(len(chal), len(champ)) < MIN_ROWS_FOR_INTERVAL:
        return None
    diff = difference_sequence(chal, champ, alpha=settings.alpha, horizon=horizon, bounded=higher)
    if higher:
        return diff
    return Interval(-diff.estimate, -diff.high, -diff.low, diff.n)


def _row_metric(metric: str, prediction: Any, label: Any) -> float | None:
    if metric == "accuracy":
        p, y = canonical(prediction), canonical(label)
        if p is None or y is None:
            return None
        return 1.0 if p == y else 0.0
    try:
        err = float(prediction) - float(label)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(err):
        return None
    return abs(err) if metric == "mae" else err * err


def _prediction_distribution(
    log: PredictionLog, window: str, mine: str, metric: str
) -> dict[int, dict[str, float]]:
    out: dict[int, dict[str, float]] = {}
    if metric == "accuracy":
        rows = log.fetch(
            f"SELECT model_version, prediction, count(*) FROM predictions WHERE {window} "
            f"AND {mine} GROUP BY ALL"
        )
        counts: dict[int, dict[str, int]] = {}
        for version, prediction, n in rows:
            if version is None:
                continue
            key = canonical(_loads(prediction)) or "null"
            bucket = counts.setdefault(int(version), {})
            bucket[key] = bucket.get(key, 0) + int(n)
        for version, bucket in counts.items():
            total = sum(bucket.values())
            out[version] = {k: n / total for k, n in sorted(bucket.items())}
        return out
    for version, mean in log.fetch(
        "SELECT model_version, avg(TRY_CAST(prediction AS DOUBLE)) FROM predictions "
        f"WHERE {window} AND {mine} GROUP BY ALL"
    ):
        if version is not None and mean is not None:
            out[int(version)] = {"mean": float(mean)}
    return out


def _total_variation(a: dict[str, float], b: dict[str, float]) -> float | None:
    if not a or not b or "mean" in a or "mean" in b:
        return None
    keys = set(a) | set(b)
    return 0.5 * sum(abs(a.get(k, 0.0) - b.get(k, 0.0)) for k in keys)


def _loads(text: Any) -> Any:
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
