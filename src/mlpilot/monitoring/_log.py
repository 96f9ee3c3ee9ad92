"""The window of the prediction log that one evaluation reads, and the SQL over it.

A window is a time interval ``[start, end]``: either the last ``N`` non-shadow prediction rows
(``--window N``) or the last ``S`` seconds (``--since``). Queries filter on the ``date``
partition as well as on ``ts``, so DuckDB opens only the window's Parquet partitions (and, per
model version, only that version's partition), and read only the columns they use.

Feature values come from the typed ``inputs.<name>`` Parquet columns the compactor writes, and
from the ``inputs`` JSON for the journal's not-yet-compacted rows (and for a feature no part file
of the window has a typed column for).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mlpilot.data import ReferenceProfile
from mlpilot.monitoring._drift import literal, quote, value_expr
from mlpilot.serving import INPUT_PREFIX, PredictionLog, labelled_sql

__all__ = ["LogWindow", "ScopeFilter", "WindowReader"]

_BASE_COLUMNS = (
    "request_id",
    '"row"',
    "ts",
    "date",
    "variant",
    "model_version",
    "shadow",
    "latency_ms",
    "prediction",
    "probabilities",
)


@dataclass(frozen=True)
class LogWindow:
    """The interval evaluated; ``start``/``end`` are unix seconds, ``None`` for an empty log."""

    start: float | None
    end: float | None
    rows: int
    asked_rows: int | None
    asked_seconds: float | None

    @property
    def first_date(self) -> dt.date | None:
        if self.start is None:
            return None
        return dt.datetime.fromtimestamp(self.start, dt.UTC).date()

    def where(self, ts: str = "ts", date: str = "date") -> str:
        """SQL restricting rows to the window (partition column first, for pruning)."""
        if self.start is None or self.end is None:
            return "FALSE"
        first = self.first_date
        return (
            f"{date} >= DATE {literal(str(first))} AND {ts} >= to_timestamp({self.start!r}) "
            f"AND {ts} <= to_timestamp({self.end!r})"
        )


@dataclass(frozen=True)
class ScopeFilter:
    """Which rows of the window belong to a scope."""

    model_version: int | None = None
    variant: str | None = None
    shadow: bool = False
    deployment: bool = True

    def where(self) -> str:
        if self.deployment:
            return "NOT shadow"
        parts = [f"shadow = {'TRUE' if self.shadow else 'FALSE'}"]
        parts.append(
            "model_version IS NULL"
            if self.model_version is None
            else f"model_version = {int(self.model_version)}"
        )
        parts.append(
            "variant IS NULL" if self.variant is None else f"variant = {literal(self.variant)}"
        )
        return " AND ".join(parts)


class WindowReader:
    """Resolves windows and builds the per-profile row source over one :class:`PredictionLog`."""

    def __init__(self, log: PredictionLog) -> None:
        self.log = log

    def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        return self.log.fetch(sql)

    # -- windows -------------------------------------------------------------------------------

    def window(self, *, rows: int | None, seconds: float | None, now: float) -> LogWindow:
        """The window of the last ``rows`` non-shadow rows, or of the last ``seconds``."""
        if seconds is not None:
            start = now - seconds
            first = dt.datetime.fromtimestamp(start, dt.UTC).date()
            found = self.fetch(
                "SELECT count(*) FROM predictions WHERE NOT shadow AND date >= "
                f"DATE {literal(str(first))} AND ts >= to_timestamp({start!r}) "
                f"AND ts <= to_timestamp({now!r})"
            )
            return LogWindow(start, now, int(found[0][0]), None, seconds)
        wanted = max(int(rows or 1), 1)
        dates = self.log.dates("predictions")
        seen = 0
        oldest: dt.date | None = None
        for day in dates:  # newest first: stop once the window's rows are covered
            oldest = day
            seen += int(
                self.fetch(
                    "SELECT count(*) FROM predictions WHERE NOT shadow AND date = "
                    f"DATE {literal(str(day))}"
                )[0][0]
            )
            if seen >= wanted:
                break
        if oldest is None or seen == 0:
            return LogWindow(None, None, 0, wanted, None)
        bounds = self.fetch(
            "SELECT epoch(min(ts)), epoch(max(ts)), count(*) FROM (SELECT ts FROM predictions "
            f"WHERE NOT shadow AND date >= DATE {literal(str(oldest))} ORDER BY ts DESC "
            f"LIMIT {wanted})"
        )[0]
        return LogWindow(float(bounds[0]), float(bounds[1]), int(bounds[2]), wanted, None)

    def scopes(self, window: LogWindow) -> list[tuple[str | None, int | None, bool, int]]:
        """(variant, model_version, shadow, rows) of every group in the window."""
        found = self.fetch(
            "SELECT variant, model_version, shadow, count(*) FROM predictions "
            f"WHERE {window.where()} GROUP BY ALL ORDER BY shadow, model_version, variant"
        )
        return [(v, None if mv is None else int(mv), bool(sh), int(n)) for v, mv, sh, n in found]

    # -- row sources ----------------------------------------------------------------------------

    def source(self, profile: ReferenceProfile | None, window: LogWindow) -> str:
        """A subquery with the base columns and, per feature of ``profile``, ``f0``, ``f1``, ...

        Only the Parquet partitions from the window's first day on are opened.
        """
        since = window.first_date
        features = profile.features if profile is not None else ()
        parts: list[str] = []
        parquet = self.log.parquet_source("predictions", since)
        typed = self.log.parquet_columns("predictions", since) if parquet else frozenset()
        if parquet is not None:
            cols = [
                _feature(f.name, f.kind, i, typed=f"{INPUT_PREFIX}{f.name}" in typed)
                for i, f in enumerate(features)
            ]
            parts.append(f"SELECT {', '.join((*_BASE_COLUMNS, *cols))} FROM {parquet}")
        cols = [_feature(f.name, f.kind, i, typed=False) for i, f in enumerate(features)]
        journal = self.log.journal_table("predictions")
        parts.append(f"SELECT {', '.join((*_BASE_COLUMNS, *cols))} FROM {journal}")
        return "(" + " UNION ALL ".join(parts) + ") AS w"

    def labelled(self, window: LogWindow) -> str:
        """Prediction rows of the window joined to their latest label (see ``labelled_sql``).

        Labels arrive after their predictions, so feedback is read from the window's start on.
        """
        if window.start is None:
            return labelled_sql("(SELECT * FROM predictions WHERE FALSE)", "feedback")
        since = (
            f"date >= DATE {literal(str(window.first_date))} "
            f"AND ts >= to_timestamp({window.start!r})"
        )
        return labelled_sql(
            f"(SELECT * FROM predictions WHERE {window.where()})",
            f"(SELECT * FROM feedback WHERE {since})",
        )


def _json_pointer(name: str) -> str:
    return "/" + name.replace("~", "~0").replace("/", "~1")


def _feature(name: str, kind: str, index: int, *, typed: bool) -> str:
    """The feature's value: its typed column when the part files have one, else the JSON.

    The compactor gives every key with a scalar value in a part file a typed column there; a
    part without the column had no such value (null, missing, or a list or object, which no
    feature accepts), so the typed column alone is exact and DuckDB never reads the JSON.
    """
    if typed:
        expr = value_expr(quote(INPUT_PREFIX + name), kind)
    else:
        expr = value_expr(f"json_extract_string(inputs, {literal(_json_pointer(name))})", kind)
    return f"{expr} AS f{index}"


def feature_refs(profile: ReferenceProfile) -> Sequence[str]:
    """The column names :meth:`WindowReader.source` gives the profile's features, in order."""
    return [f"f{i}" for i in range(len(profile.features))]
