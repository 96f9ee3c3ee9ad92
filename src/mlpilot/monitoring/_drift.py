"""Input and prediction drift, and per-feature data quality, of a window against a profile.

The current side is counted by DuckDB in one pass over the window: for each numeric feature the
non-null count, how many values fall below each of the reference's bin edges, the range and the
values outside the training range; for each categorical feature a histogram of its values. The
statistics (:mod:`._stats`) then work on those counts and on the stored reference profile, so a
window of ten million rows costs one scan, and the training data is never needed.

The same code serves the prediction log (:mod:`._log`) and any DataFrame or Parquet file
(:func:`drift_frame`), so what the benchmark measures is what the monitor runs.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mlpilot.config import DEFAULT_THRESHOLDS, DriftSettings, QualitySettings
from mlpilot.data import QUANTILES, FeatureProfile, PredictionProfile, ReferenceProfile
from mlpilot.monitoring import _stats
from mlpilot.monitoring._report import (
    Distribution,
    DriftResult,
    FeatureDrift,
    FeatureQuality,
    Statistic,
)

if TYPE_CHECKING:
    import duckdb

__all__ = ["Column", "Counted", "DriftPlan", "drift_frame", "feature_columns", "prediction_columns"]

OTHER = "__other__"
_NUMERIC_KINDS = frozenset({"numeric", "integer", "datetime"})
_MAX_PLOTTED_CATEGORIES = 20
_MAX_EXAMPLES = 5

Fetch = Callable[[str], Sequence[Any]]


def quote(name: str) -> str:
    """A SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def value_expr(src: str, kind: str) -> str:
    """SQL turning a raw value ``src`` into what the profile counts: DOUBLE or VARCHAR."""
    if kind in ("numeric", "integer"):
        return f"TRY_CAST({src} AS DOUBLE)"
    if kind == "datetime":
        return f"epoch(TRY_CAST({src} AS TIMESTAMP))"
    if kind == "boolean":
        text = f"lower(CAST({src} AS VARCHAR))"
        return (
            f"CASE WHEN {text} IN ('true', '1', '1.0') THEN 'True' "
            f"WHEN {text} IN ('false', '0', '0.0') THEN 'False' ELSE CAST({src} AS VARCHAR) END"
        )
    return f"CAST({src} AS VARCHAR)"


@dataclass(frozen=True)
class Column:
    """One compared column: its reference profile and the SQL expression of its value."""

    profile: FeatureProfile
    expr: str
    label: str  # the kind shown in reports (numeric, categorical, probability, ...)

    @property
    def numeric(self) -> bool:
        return self.profile.frequencies is None


def feature_columns(profile: ReferenceProfile, source: Callable[[str], str]) -> list[Column]:
    """A column per profiled feature; ``source(name)`` is the SQL of its raw value."""
    return [Column(f, value_expr(source(f.name), f.kind), f.kind) for f in profile.features]


def prediction_columns(prediction: PredictionProfile | None) -> list[Column]:
    """Columns for the model's outputs in the log (JSON ``prediction`` and ``probabilities``)."""
    if prediction is None:
        return []
    out: list[Column] = []
    if prediction.task == "regression":
        fp = FeatureProfile(
            name="prediction",
            kind="numeric",
            count=prediction.count,
            null_rate=0.0,
            **prediction.model_dump(
                include={"quantiles", "mean", "std", "min", "max", "bin_edges", "bin_counts"}
            ),
        )
        out.append(
            Column(fp, "TRY_CAST(json_extract_string(prediction, '$') AS DOUBLE)", "prediction")
        )
        return out
    if prediction.class_frequencies is not None:
        fp = FeatureProfile(
            name="prediction",
            kind="categorical",
            count=prediction.count,
            null_rate=0.0,
            frequencies=prediction.class_frequencies,
        )
        out.append(Column(fp, "json_extract_string(prediction, '$')", "prediction"))
    edges, counts = prediction.proba_bin_edges, prediction.proba_bin_counts
    if edges is not None and counts is not None:
        fp = FeatureProfile(
            name="probability",
            kind="numeric",
            count=int(sum(counts)),
            null_rate=0.0,
            min=edges[0],
            max=edges[-1],
            bin_edges=edges,
            bin_counts=counts,
        )
        if prediction.proba_of == "positive_class":
            expr = "TRY_CAST(json_extract_string(probabilities, '$[1]') AS DOUBLE)"
        else:
            expr = "list_max(TRY_CAST(probabilities AS DOUBLE[]))"
        out.append(Column(fp, expr, "probability"))
    return out


@dataclass(frozen=True)
class Counted:
    """What DuckDB counted of one column in the window."""

    rows: int
    nonnull: int
    below: tuple[int, ...] = ()  # numeric: values below each knot (see knots())
    equal: int = 0  # numeric with a single reference value: values equal to it
    out_of_range: int = 0
    minimum: float | None = None
    maximum: float | None = None
    categories: Mapping[str, int] | None = None


class DriftPlan:
    """The one aggregate query for a set of columns, and the statistics from its result."""

    def __init__(self, columns: Sequence[Column]) -> None:
        self.columns = list(columns)
        self._slots: list[tuple[str, int]] = []  # (what, column index) per selected value

    def select_list(self) -> str:
        parts = ["count(*)"]
        self._slots = [("rows", -1)]
        for i, col in enumerate(self.columns):
            fp, x = col.profile, col.expr
            if not col.numeric:
                parts += [f"count({x})", f"histogram({x})"]
                self._slots += [("nonnull", i), ("histogram", i)]
                continue
            parts.append(f"count_if({x} IS NOT NULL AND NOT isnan({x}))")
            self._slots.append(("nonnull", i))
            for e in knots(fp)[0]:
                parts.append(f"count_if({x} < {_num(e)})")
                self._slots.append(("below", i))
            if fp.min is not None and fp.max is not None:
                parts.append(f"count_if({x} < {_num(fp.min)} OR {x} > {_num(fp.max)})")
                self._slots.append(("out_of_range", i))
                if fp.min == fp.max:
                    parts.append(f"count_if({x} = {_num(fp.min)})")
                    self._slots.append(("equal", i))
            finite = f"{x}) FILTER (WHERE isfinite({x})"
            parts += [f"min({finite})", f"max({finite})"]
            self._slots += [("min", i), ("max", i)]
        return ", ".join(parts)

    def parse(self, row: Sequence[Any]) -> tuple[int, list[Counted]]:
        rows = int(row[0] or 0)
        acc: list[dict[str, Any]] = [{"rows": rows, "below": []} for _ in self.columns]
        for (what, i), value in zip(self._slots[1:], row[1:], strict=True):
            slot = acc[i]
            if what == "below":
                slot["below"].append(int(value or 0))
            elif what == "histogram":
                slot["categories"] = {str(k): int(v) for k, v in (value or {}).items()}
            elif what in ("min", "max"):
                slot["minimum" if what == "min" else "maximum"] = (
                    None if value is None else float(value)
                )
            else:
                slot[what] = int(value or 0)
        return rows, [Counted(**{**a, "below": tuple(a["below"])}) for a in acc]

    def run(self, fetch: Fetch, source: str, where: str = "TRUE") -> tuple[int, list[Counted]]:
        """Rows of ``SELECT ... FROM source WHERE where``, and the columns counted over them."""
        rows = fetch(f"SELECT {self.select_list()} FROM {source} WHERE {where}")
        return self.parse(rows[0])


def knots(fp: FeatureProfile) -> tuple[tuple[float, ...], tuple[float, ...], tuple[bool, ...]]:
    """Points where the reference CDF is known: (points, share below each, is a bin edge).

    The inner bin edges, exactly; for continuous (``numeric``) features also the stored
    quantiles, which place the tails far better than the outer bins alone. Quantiles of integer
    or datetime features are left out: with ties, the share below a quantile is not its level.
    """
    edges = fp.bin_edges or ()
    counts = fp.bin_counts or ()
    if len(edges) <= 2 or not counts:
        return (), (), ()
    total = float(sum(counts))
    cum = np.cumsum(counts)[:-1] / total
    found: dict[float, tuple[float, bool]] = {
        float(e): (float(c), True) for e, c in zip(edges[1:-1], cum, strict=True)
    }
    if fp.kind == "numeric" and fp.quantiles:
        for name, level in QUANTILES.items():
            q = fp.quantiles.get(name)
            if q is not None and edges[0] < q < edges[-1] and float(q) not in found:
                found[float(q)] = (level, False)
    points = sorted(found)
    return (
        tuple(points),
        tuple(found[p][0] for p in points),
        tuple(found[p][1] for p in points),
    )


def _num(value: float) -> str:
    if math.isinf(value):
        return "'inf'::DOUBLE" if value > 0 else "'-inf'::DOUBLE"
    return repr(float(value))


# -- statistics -------------------------------------------------------------------------------


def judge(
    column: Column,
    counted: Counted,
    settings: DriftSettings,
    *,
    method: str | None = None,
    threshold: float | None = None,
) -> FeatureDrift:
    """The drift of one column: every applicable statistic, and the deciding one's verdict."""
    fp = column.profile
    categorical = not column.numeric
    rule_method, rule_threshold = settings.rule(fp.name, categorical=categorical)
    method = method or rule_method
    threshold = threshold if threshold is not None else rule_threshold
    base: dict[str, Any] = {
        "name": fp.name,
        "kind": column.label,
        "rows": counted.nonnull,
        "method": method,
        "threshold": threshold,
    }
    if fp.count == 0 or (column.numeric and not fp.bin_edges):
        return FeatureDrift(
            **base,
            score=None,
            drifted=None,
            message="the training data had no non-null value of this feature; only its null "
            "rate is compared",
        )
    if counted.nonnull == 0:
        return FeatureDrift(
            **base,
            score=None,
            drifted=None,
            message=f"all {counted.rows} values in the window are null (or missing from the "
            "log); no drift verdict — see data quality",
        )
    if categorical:
        stats, distribution, note = _categorical(fp, counted, method, threshold)
    elif fp.min == fp.max:
        stats, distribution, note = _single_value(fp, counted, method, threshold)
    elif not knots(fp)[0]:
        return FeatureDrift(
            **base,
            score=None,
            drifted=None,
            message="the training values of this feature fill a single histogram bin (too few "
            "distinct values); declare it categorical to monitor its drift",
        )
    else:
        stats, distribution, note = _numeric(fp, counted, method, threshold)
    deciding = next((s for s in stats if s.decides), None)
    if deciding is None or deciding.drifted is None:
        # The configured method does not apply (e.g. ks on a single-valued feature): PSI decides.
        stats = tuple(s.model_copy(update={"decides": s.method == "psi"}) for s in stats)
        deciding = next(s for s in stats if s.method == "psi")
        base.update(method="psi", threshold=deciding.threshold)
    drifted = deciding.drifted
    messages = [m for m in (note,) if m]
    if counted.nonnull < settings.min_rows:
        drifted = None
        messages.append(
            f"only {counted.nonnull} non-null values in the window; at least "
            f"{settings.min_rows} are needed for a verdict ([monitor] drift.min_rows)"
        )
    score = deciding.p_value if deciding.method in _stats.TESTS else deciding.value
    return FeatureDrift(
        **base,
        score=score,
        drifted=drifted,
        statistics=stats,
        distribution=distribution,
        message="; ".join(messages) or None,
    )


def _stat(
    name: str,
    value: float | None,
    p_value: float | None,
    method: str,
    threshold: float,
) -> Statistic:
    limit = threshold if name == method else DEFAULT_THRESHOLDS[name]
    return Statistic(
        method=name,  # type: ignore[arg-type]
        value=None if value is None or math.isnan(value) else value,
        p_value=p_value,
        threshold=limit,
        drifted=_stats.verdict(name, value, p_value, limit),
        decides=name == method,
    )


def _numeric(
    fp: FeatureProfile, counted: Counted, method: str, threshold: float
) -> tuple[tuple[Statistic, ...], Distribution, str | None]:
    edges = np.asarray(fp.bin_edges, dtype=np.float64)
    ref_counts = np.asarray(fp.bin_counts, dtype=np.float64)
    n_ref = float(ref_counts.sum())
    n_cur = counted.nonnull
    points_t, ref_t, is_edge_t = knots(fp)
    points = np.asarray(points_t, dtype=np.float64)
    is_edge = np.asarray(is_edge_t, dtype=bool)
    below = np.asarray(counted.below, dtype=np.float64)
    cur_counts = np.diff(np.concatenate(([0.0], below[is_edge], [float(n_cur)])))
    # Shares below each knot: exact on the current side, exact (edges) or nearly so (quantiles
    # of a continuous feature) on the reference side.
    ref_cdf = _stats.monotone(np.asarray(ref_t, dtype=np.float64))
    cur_cdf = below / n_cur
    d, p = _stats.ks(ref_cdf, cur_cdf, int(n_ref), n_cur)
    # Wasserstein between the outermost known points only (the 1st and 99th percentiles of a
    # continuous feature): beyond them the CDFs would be drawn to each side's extreme value, and
    # one outlier of a heavy-tailed feature (or of the training data) would decide the verdict.
    spread = _spread(fp)
    w = _stats.wasserstein(points, ref_cdf, points, _stats.monotone(cur_cdf))
    normed = w / spread if spread > 0 else (0.0 if w == 0 else math.inf)
    stats = (
        _stat("psi", _stats.psi(ref_counts, cur_counts), None, method, threshold),
        _stat("ks", d, p, method, threshold),
        _stat("wasserstein", normed, None, method, threshold),
    )
    labels = tuple(f"[{_short(a)}, {_short(b)})" for a, b in itertools.pairwise(edges))
    distribution = Distribution(
        labels=labels,
        reference=tuple(float(x) for x in _stats.shares(ref_counts)),
        current=tuple(float(x) for x in _stats.shares(cur_counts)),
    )
    return stats, distribution, None


def _spread(fp: FeatureProfile) -> float:
    """The reference standard deviation (estimated from the bins when not stored)."""
    if fp.std is not None and fp.std > 0:
        return fp.std
    if not fp.bin_edges or not fp.bin_counts:
        return 0.0
    edges = np.asarray(fp.bin_edges, dtype=np.float64)
    mids = (edges[:-1] + edges[1:]) / 2
    weights = _stats.shares(fp.bin_counts)
    mean = float(np.sum(mids * weights))
    return float(math.sqrt(np.sum(weights * (mids - mean) ** 2)))


def _single_value(
    fp: FeatureProfile, counted: Counted, method: str, threshold: float
) -> tuple[tuple[Statistic, ...], Distribution, str | None]:
    value = float(fp.min or 0.0)
    ref = np.array([fp.count, 0.0])
    cur = np.array([counted.equal, counted.nonnull - counted.equal], dtype=np.float64)
    stat, p = _stats.chi_square(ref, cur)
    away = (counted.nonnull - counted.equal) / counted.nonnull
    ks_p = _stats.ks(np.array([0.0]), np.array([away]), fp.count, counted.nonnull)[1]
    stats = (
        _stat("psi", _stats.psi(ref, cur), None, method, threshold),
        _stat("ks", away, ks_p, method, threshold),
        _stat("chisquare", stat, p, method, threshold),
    )
    label = _short(value)
    distribution = Distribution(
        labels=(f"= {label}", f"≠ {label}"),
        reference=(1.0, 0.0),
        current=tuple(float(x) for x in _stats.shares(cur)),
    )
    note = f"every training value was {label}; compared as the share of values equal to it"
    return stats, distribution, note


def _categorical(
    fp: FeatureProfile, counted: Counted, method: str, threshold: float
) -> tuple[tuple[Statistic, ...], Distribution, str | None]:
    assert fp.frequencies is not None
    keys = list(fp.frequencies)
    index = {k: i for i, k in enumerate(keys)}
    other = index[OTHER]
    ref = np.array([fp.frequencies[k] * fp.count for k in keys], dtype=np.float64)
    cur = np.zeros(len(keys), dtype=np.float64)
    for key, n in (counted.categories or {}).items():
        cur[index.get(key, other) if key != OTHER else other] += n
    stat, p = _stats.chi_square(ref, cur)
    stats = (
        _stat("psi", _stats.psi(ref, cur), None, method, threshold),
        _stat("chisquare", stat, p, method, threshold),
        _stat("jensenshannon", _stats.jensen_shannon(ref, cur), None, method, threshold),
    )
    order = sorted(range(len(keys)), key=lambda i: -max(ref[i], cur[i]))
    shown = [i for i in order if i != other][:_MAX_PLOTTED_CATEGORIES]
    rest = [i for i in range(len(keys)) if i not in shown]
    ref_share, cur_share = _stats.shares(ref), _stats.shares(cur)
    labels = [keys[i] for i in shown] + ["(other)"]
    distribution = Distribution(
        labels=tuple(labels),
        reference=(*tuple(float(ref_share[i]) for i in shown), float(ref_share[rest].sum())),
        current=(*tuple(float(cur_share[i]) for i in shown), float(cur_share[rest].sum())),
    )
    return stats, distribution, None


def _short(value: float) -> str:
    return f"{value:.4g}"


def dataset_drift(features: Sequence[FeatureDrift], settings: DriftSettings) -> DriftResult:
    """The dataset verdict: drifted when the share of drifted features reaches the setting."""
    judged = [f for f in features if f.drifted is not None]
    drifted = sum(1 for f in judged if f.drifted)
    ordered = sorted(features, key=lambda f: (not f.drifted, f.drifted is None, f.name))
    if not judged:
        return DriftResult(
            features=tuple(ordered),
            evaluated=0,
            drifted_count=0,
            share=None,
            share_threshold=settings.share,
            drifted=None,
            message="no feature could be judged (see each feature's message)",
        )
    share = drifted / len(judged)
    return DriftResult(
        features=tuple(ordered),
        evaluated=len(judged),
        drifted_count=drifted,
        share=share,
        share_threshold=settings.share,
        drifted=share >= settings.share,
    )


def quality(column: Column, counted: Counted, settings: QualitySettings) -> FeatureQuality:
    """Null rate, values outside the training range and unseen categories of one feature."""
    fp = column.profile
    rows = counted.rows
    null_rate = (rows - counted.nonnull) / rows if rows else None
    out_of_range = unseen = None
    examples: tuple[str, ...] = ()
    if counted.nonnull:
        if column.numeric and fp.min is not None:
            out_of_range = counted.out_of_range / counted.nonnull
        elif fp.frequencies is not None:
            new = {k: n for k, n in (counted.categories or {}).items() if k not in fp.frequencies}
            unseen = sum(new.values()) / counted.nonnull
            examples = tuple(sorted(new, key=lambda k: -new[k])[:_MAX_EXAMPLES])
    problems = []
    if null_rate is not None and null_rate - fp.null_rate > settings.max_null_rate_increase:
        problems.append(
            f"null rate {null_rate:.1%} vs {fp.null_rate:.1%} in training "
            f"(allowed increase {settings.max_null_rate_increase:.0%})"
        )
    if out_of_range is not None and out_of_range > settings.max_out_of_range:
        problems.append(
            f"{out_of_range:.1%} of values outside the training range "
            f"[{_short(fp.min or 0)}, {_short(fp.max or 0)}]"
        )
    if unseen is not None and unseen > settings.max_unseen:
        problems.append(f"{unseen:.1%} of values are categories not seen in training")
    message = "; ".join(problems) or None
    if rows and counted.nonnull == 0:
        message = "; ".join(p for p in (message, "every value in the window is null") if p)
    return FeatureQuality(
        name=fp.name,
        rows=rows,
        null_rate=null_rate,
        reference_null_rate=fp.null_rate,
        out_of_range=out_of_range,
        unseen=unseen,
        unseen_examples=examples,
        breached=bool(problems),
        message=message,
    )


def drift_frame(
    profile: ReferenceProfile,
    frame: Any,
    settings: DriftSettings | None = None,
) -> DriftResult:
    """Input drift of ``frame`` (a pandas DataFrame or pyarrow Table) against ``profile``.

    Features of the profile missing from ``frame`` are reported as such, not as "no drift".
    """
    settings = settings or DriftSettings()
    con = _connection()
    name = f"_frame_{threading.get_ident()}"
    con.register(name, frame)
    try:
        described = con.execute(f"SELECT * FROM {name} LIMIT 0").description or ()
        present = {str(d[0]) for d in described}
        missing = [f for f in profile.features if f.name not in present]
        columns = [
            Column(f, value_expr(quote(f.name), f.kind), f.kind)
            for f in profile.features
            if f.name in present
        ]
        plan = DriftPlan(columns)
        _rows, counted = plan.run(lambda sql: con.execute(sql).fetchall(), name)
    finally:
        con.unregister(name)
    features = [judge(c, n, settings) for c, n in zip(columns, counted, strict=True)]
    features += [missing_feature(f, settings) for f in missing]
    return dataset_drift(features, settings)


_LOCAL = threading.local()


def _connection() -> duckdb.DuckDBPyConnection:
    """This thread's in-memory DuckDB connection (opening one costs tens of milliseconds)."""
    con: duckdb.DuckDBPyConnection | None = getattr(_LOCAL, "con", None)
    if con is None:
        import duckdb

        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        _LOCAL.con = con
    return con


def missing_feature(fp: FeatureProfile, settings: DriftSettings) -> FeatureDrift:
    method, threshold = settings.rule(fp.name, categorical=fp.frequencies is not None)
    return FeatureDrift(
        name=fp.name,
        kind=fp.kind,
        rows=0,
        method=method,
        threshold=threshold,
        score=None,
        drifted=None,
        message="this feature of the model is missing from the data; no drift verdict",
    )
