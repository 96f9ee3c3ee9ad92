"""The ``[[trigger]]`` conditions: which of them fire now.

Drift and performance triggers read the monitors' stored time series (scope ``deployment``):
they fire when the series' last ``consecutive`` evaluations since the trigger last fired (and
since the last release ended) all breached. ``new_data`` compares the data source's
fingerprint with the one seen last; ``schedule`` fires once per cron slot that passed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from mlpilot.autopilot._releases import ReleaseBook
from mlpilot.config import Settings, TriggerSettings
from mlpilot.data import source_fingerprint
from mlpilot.store import MonitorResultRow

__all__ = ["Firing", "check_triggers", "series_of"]


@dataclass(frozen=True)
class Firing:
    """A trigger condition that holds now."""

    kind: str
    name: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


def series_of(trigger: TriggerSettings, settings: Settings) -> str | None:
    """The monitor series a drift/performance trigger watches (``None``: any performance)."""
    if trigger.monitor is not None:
        return trigger.monitor
    if trigger.on == "drift":
        return "drift.share"
    metric = settings.monitor.performance.metric
    return None if metric is None else f"performance.{metric}"


def check_triggers(
    settings: Settings, book: ReleaseBook, *, now: datetime, since: datetime | None
) -> list[Firing]:
    """The configured triggers whose condition holds; their bookkeeping state is updated."""
    fired: list[Firing] = []
    for trigger in settings.trigger:
        found: Firing | None
        if trigger.on == "schedule":
            found = _schedule(trigger, book, now)
        elif trigger.on == "new_data":
            found = _new_data(settings, book)
        else:
            found = _monitor(trigger, settings, book, now, since)
        if found is not None:
            fired.append(found)
    return fired


def _schedule(trigger: TriggerSettings, book: ReleaseBook, now: datetime) -> Firing | None:
    from croniter import croniter

    key = f"trigger.{trigger.name}"
    cron = str(trigger.cron)
    latest = croniter(cron, now + timedelta(seconds=1)).get_prev(datetime)  # slot <= now
    state = book.state(key)
    if state is None:  # first look: the schedule starts from now, no catch-up
        book.set_state(key, {"slot": latest.isoformat()})
        return None
    last = datetime.fromisoformat(str(state["slot"]))
    if latest <= last:
        return None
    book.set_state(key, {"slot": latest.isoformat()})
    return Firing(
        "schedule",
        trigger.name,
        f"the schedule '{cron}' reached its slot {latest:%Y-%m-%d %H:%M} UTC",
        {"slot": latest.isoformat()},
    )


def _new_data(settings: Settings, book: ReleaseBook) -> Firing | None:
    fingerprint = source_fingerprint(settings.data, settings.project_dir)
    if fingerprint is None:
        return None
    state = book.state("trigger.new_data")
    book.set_state("trigger.new_data", {"fingerprint": fingerprint})
    if state is None or state.get("fingerprint") == fingerprint:
        return None
    return Firing(
        "new_data",
        "new_data",
        f"the data source '{settings.data.source}' changed",
        {"fingerprint": fingerprint, "previous": state.get("fingerprint")},
    )


def _monitor(
    trigger: TriggerSettings,
    settings: Settings,
    book: ReleaseBook,
    now: datetime,
    since: datetime | None,
) -> Firing | None:
    key = f"trigger.{trigger.name}"
    series = series_of(trigger, settings)
    state = book.state(key) or {}
    starts = [t for t in (since, _parse(state.get("fired_at"))) if t is not None]
    start = max(starts) if starts else None
    query = select(MonitorResultRow).where(
        MonitorResultRow.deployment == settings.project.name,
        MonitorResultRow.scope == "deployment",
        MonitorResultRow.breached.is_not(None),
    )
    if series is not None:
        query = query.where(MonitorResultRow.monitor == series)
    else:
        query = query.where(MonitorResultRow.monitor.startswith("performance."))
    if start is not None:
        query = query.where(MonitorResultRow.ts > start)
    n = trigger.consecutive
    with book.store.session() as s:
        rows = list(
            s.scalars(
                query.order_by(MonitorResultRow.ts.desc(), MonitorResultRow.id.desc()).limit(n)
            )
        )
        found = [(r.monitor, r.value, r.threshold, bool(r.breached), r.ts, r.rows) for r in rows]
    if len(found) < n or not all(f[3] for f in found):
        return None
    monitor, value, threshold, _b, ts, rows_seen = found[0]
    book.set_state(key, {"fired_at": _aware(ts).isoformat()})
    value_text = "?" if value is None else f"{value:.3g}"
    limit = "" if threshold is None else f" (threshold {threshold:.3g})"
    return Firing(
        trigger.on,
        trigger.name,
        f"{monitor} = {value_text}{limit} breached in {n} evaluation(s) in a row, "
        f"over {rows_seen} rows",
        {"monitor": monitor, "value": value, "threshold": threshold, "consecutive": n},
    )


def _parse(text: Any) -> datetime | None:
    return None if not text else _aware(datetime.fromisoformat(str(text)))


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)
