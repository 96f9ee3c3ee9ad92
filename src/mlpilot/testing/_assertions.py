"""Behavioural tests of a model: invariance, directional expectation, minimum functionality on
a slice, and no regression against the champion.

Each helper raises :class:`AssertionError` with a message that names the model, the rows and
the figures, so that pytest (and ``mlpilot ci``'s summary) shows why a test failed. A test on
no rows fails: an empty selection never passes silently.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from mlpilot.testing._model import ModelUnderTest

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    #: A change of some rows: a function of a copy of the rows that returns the changed rows
    #: (same index), or ``{column: value, or function of the column}``.
    Change = Callable[[pd.DataFrame], pd.DataFrame] | Mapping[str, Any]
    #: Which rows: a pandas query string (backquote names with spaces), a boolean mask, or a
    #: function of the frame that returns one; ``None`` for all rows.
    Slice = str | Callable[[pd.DataFrame], Any] | pd.Series | np.ndarray[Any, Any] | None

_TOLERANCE = 1e-12


def assert_invariant(
    model: ModelUnderTest,
    rows: pd.DataFrame,
    change: Change,
    *,
    tolerance: float = 0.0,
    proba_tolerance: float | None = None,
    describe: str | None = None,
    show: int = 5,
) -> None:
    """``change`` must not change the model's prediction of any of ``rows``.

    Classification: the predicted class must stay (and, with ``proba_tolerance``, no class
    probability may move by more than it). Regression: the prediction may move by at most
    ``tolerance``.
    """
    _need_rows(model, rows, "invariance")
    changed, what = _apply(rows, change, describe)
    before, after = model.predict(rows), model.predict(changed)
    if model.task == "regression":
        moved = (after.astype(float) - before.astype(float)).abs() > tolerance + _TOLERANCE
    else:
        moved = after != before
        if proba_tolerance is not None and model.has_proba:
            shift = (model.predict_proba(changed) - model.predict_proba(rows)).abs().max(axis=1)
            moved = moved | (shift > proba_tolerance + _TOLERANCE)
    if not moved.any():
        return
    lines = []
    for idx in list(moved[moved].index)[:show]:
        line = f"row {idx!r}: {_fmt(before[idx])} -> {_fmt(after[idx])}"
        if model.task != "regression" and model.has_proba:
            p0, p1 = model.score(rows.loc[[idx]]), model.score(changed.loc[[idx]])
            line += f" (p({model.positive_class!r}) {p0.iloc[0]:.3f} -> {p1.iloc[0]:.3f})"
        lines.append(line)
    raise AssertionError(
        f"{model.label}: {int(moved.sum())} of {len(rows)} rows changed their prediction under "
        f"{what}, which must not change it:\n" + _listed(lines, int(moved.sum()))
    )


def assert_directional(
    model: ModelUnderTest,
    rows: pd.DataFrame,
    change: Change,
    direction: Literal["increase", "decrease"],
    *,
    of: Any = None,
    tolerance: float = 0.0,
    describe: str | None = None,
    show: int = 5,
) -> None:
    """``change`` must move the model's score of ``rows`` the way ``direction`` says.

    The score is the prediction (regression) or the probability of class ``of`` (default: the
    last class). No row may move the other way by more than ``tolerance``, and at least one row
    must move the expected way.
    """
    if direction not in ("increase", "decrease"):
        raise ValueError(f"direction must be 'increase' or 'decrease', not {direction!r}")
    _need_rows(model, rows, "directional expectation")
    changed, what = _apply(rows, change, describe)
    before, after = model.score(rows, of), model.score(changed, of)
    delta = after - before
    up = direction == "increase"
    wrong = delta < -tolerance - _TOLERANCE if up else delta > tolerance + _TOLERANCE
    scored = _scored(model, of)
    verb, opposite = ("raise", "lowered") if up else ("lower", "raised")
    if wrong.any():
        lines = [
            f"row {idx!r}: {before[idx]:.4g} -> {after[idx]:.4g}"
            for idx in list(delta[wrong].abs().sort_values(ascending=False).index)[:show]
        ]
        raise AssertionError(
            f"{model.label}: {what} must {verb} {scored}, but it {opposite} it for "
            f"{int(wrong.sum())} of {len(rows)} rows (tolerance {tolerance:g}):\n"
            + _listed(lines, int(wrong.sum()))
        )
    if not ((delta > 0) if up else (delta < 0)).any():
        raise AssertionError(
            f"{model.label}: {what} must {verb} {scored}, but it did not move it for any of "
            f"the {len(rows)} rows (largest change {float(delta.abs().max()):.3g})"
        )


def assert_min_performance(
    model: ModelUnderTest,
    frame: pd.DataFrame,
    metric: str,
    minimum: float,
    *,
    slice: Slice = None,
    min_rows: int = 1,
) -> float:
    """The model's ``metric`` on ``frame`` (features and target), or on the rows of ``slice``,
    must reach ``minimum``; returns the metric.

    For a metric where lower is better (``rmse``, ``mae``, ``log_loss``) ``minimum`` is the worst
    value accepted: the metric must not exceed it. Metric names are those of the gate.
    """
    from mlpilot.evaluation import METRIC_DIRECTION

    rows, where = _select(frame, slice)
    if len(rows) < max(min_rows, 1):
        raise AssertionError(
            f"{model.label}: {where} has {len(rows)} rows, fewer than the {max(min_rows, 1)} "
            f"needed to judge {metric}"
        )
    value = _metric(model, rows, metric, where)
    higher = METRIC_DIRECTION[metric] == "higher"
    if higher and value < minimum - _TOLERANCE:
        raise AssertionError(
            f"{model.label}: {metric} on {where} ({len(rows)} rows) is {value:.4f}, below the "
            f"minimum {minimum:g}"
        )
    if not higher and value > minimum + _TOLERANCE:
        raise AssertionError(
            f"{model.label}: {metric} on {where} ({len(rows)} rows) is {value:.4f}, above the "
            f"worst accepted {minimum:g} (lower is better)"
        )
    return value


def assert_no_regression(
    candidate: ModelUnderTest,
    champion: ModelUnderTest | None,
    holdout: pd.DataFrame,
    metric: str,
    margin: float = 0.0,
) -> tuple[float, float]:
    """The candidate's ``metric`` on ``holdout`` must not be worse than the champion's by more
    than ``margin``; returns ``(candidate's, champion's)``. Skips when there is no champion."""
    import pytest

    from mlpilot.evaluation import METRIC_DIRECTION

    if champion is None:
        pytest.skip("no champion yet: nothing to compare the candidate with")
    where = "the holdout"
    _need_rows(candidate, holdout, "no-regression")
    mine = _metric(candidate, holdout, metric, where)
    theirs = _metric(champion, holdout, metric, where)
    higher = METRIC_DIRECTION[metric] == "higher"
    worse_by = theirs - mine if higher else mine - theirs
    if worse_by > margin + _TOLERANCE:
        better = "higher" if higher else "lower"
        raise AssertionError(
            f"{candidate.label} regresses against {champion.label} on {metric} ({better} is "
            f"better): {mine:.4f} vs {theirs:.4f} on the {len(holdout)} rows of {where}, worse "
            f"by {worse_by:.4f}, more than the margin {margin:g}"
        )
    return mine, theirs


# ------------------------------------------------------------------------------ helpers


def _need_rows(model: ModelUnderTest, rows: pd.DataFrame, test: str) -> None:
    if len(rows) == 0:
        raise AssertionError(
            f"{model.label}: the {test} test got no rows, so it would prove nothing; check the "
            "selection of rows"
        )


def _apply(rows: pd.DataFrame, change: Change, describe: str | None) -> tuple[pd.DataFrame, str]:
    import pandas as pd

    copy = rows.copy()
    if isinstance(change, Mapping):
        for column, value in change.items():
            if column not in copy.columns:
                raise ValueError(f"the change names the column {column!r}, which the rows lack")
            copy[column] = value(copy[column]) if callable(value) else value
        changed = copy
        what = describe or "changing " + ", ".join(str(c) for c in change)
    else:
        changed = change(copy)
        name = getattr(change, "__name__", "")
        what = describe or (f"the change {name}" if name and name != "<lambda>" else "the change")
    if not isinstance(changed, pd.DataFrame):
        raise TypeError(f"{what} returned a {type(changed).__name__}, not a DataFrame")
    if len(changed) != len(rows) or not changed.index.isin(rows.index).all():
        raise ValueError(
            f"{what} must return the same rows (same index), changed; it returned "
            f"{len(changed)} rows for {len(rows)}"
        )
    return changed.loc[rows.index], what


def _select(frame: pd.DataFrame, where: Slice) -> tuple[pd.DataFrame, str]:
    import numpy as np

    if where is None:
        return frame, "all rows"
    if isinstance(where, str):
        try:
            return frame.query(where), f"the slice `{where}`"
        except Exception as exc:
            raise ValueError(
                f"the slice {where!r} is not a valid pandas query over the columns "
                f"({type(exc).__name__}: {exc}); backquote names with spaces: `mean radius` > 15"
            ) from exc
    mask = where(frame) if callable(where) else where
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != (len(frame),):
        raise ValueError(f"the slice mask has shape {mask.shape}, not ({len(frame)},)")
    return frame[mask], "the given slice"


def _metric(model: ModelUnderTest, frame: pd.DataFrame, metric: str, where: str) -> float:
    from mlpilot.evaluation import evaluate, metrics_for_task

    known = metrics_for_task(model.task)
    if metric not in known:
        raise ValueError(
            f"{metric!r} is not a metric of a {model.task} model; use one of {', '.join(known)}"
        )
    if model.target not in frame.columns:
        raise ValueError(
            f"the rows have no target column {model.target!r}; pass rows with the target, such "
            "as the holdout fixture"
        )
    result = evaluate(model.model, model.inputs(frame), frame[model.target], model.task)  # type: ignore[arg-type]
    value = result.metrics.get(metric)
    if value is None:
        raise AssertionError(
            f"{model.label}: {metric} cannot be computed on {where} ({len(frame)} rows); "
            "roc_auc and log_loss need predict_proba and both classes among the rows"
        )
    return float(value)


def _scored(model: ModelUnderTest, of: Any) -> str:
    if model.task == "regression":
        return "the prediction"
    return f"the probability of class {model.positive_class if of is None else of!r}"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return repr(value.item() if hasattr(value, "item") else value)


def _listed(lines: list[str], total: int) -> str:
    more = f"\n  ... and {total - len(lines)} more" if total > len(lines) else ""
    return "\n".join(f"  {line}" for line in lines) + more
