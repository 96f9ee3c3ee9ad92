"""The monitor: evaluate a window of the prediction log, store the results, raise alerts.

:meth:`Monitor.evaluate` reads one window and returns a :class:`MonitorReport`;
:meth:`Monitor.record` stores it (one evaluation row, one time-series row per monitor and scope)
and emits its alerts; :meth:`Monitor.watch` does both on a schedule until stopped.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from mlpilot.config import Settings, parse_duration
from mlpilot.data import ReferenceProfile
from mlpilot.errors import MlpilotError
from mlpilot.monitoring._drift import (
    Column,
    DriftPlan,
    dataset_drift,
    judge,
    prediction_columns,
    quality,
)
from mlpilot.monitoring._log import LogWindow, ScopeFilter, WindowReader, feature_refs
from mlpilot.monitoring._performance import LOWER_IS_BETTER, performance
from mlpilot.monitoring._report import (
    Alert,
    FeatureDrift,
    FeatureQuality,
    HistoryPoint,
    MonitorReport,
    OperationalResult,
    QualityResult,
    Scope,
    ScopeReport,
    Window,
)
from mlpilot.store import MonitorEvaluationRow, MonitorResultRow, Store

if TYPE_CHECKING:
    from mlpilot.registry import Registry
    from mlpilot.serving import PredictionLog

__all__ = ["Monitor", "parse_duration"]

_log = logging.getLogger("mlpilot.monitoring")


class Monitor:
    """Evaluates a project's deployment; stores and alerts through the given store."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        registry: Registry,
        log: PredictionLog,
        *,
        dispatcher: Any | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.registry = registry
        self.log = log
        self.reader = WindowReader(log)
        self.deployment = settings.project.name
        self.dispatcher = dispatcher
        self._profiles: dict[int, ReferenceProfile | str] = {}

    # -- evaluating ------------------------------------------------------------------------------

    def evaluate(
        self,
        *,
        rows: int | None = None,
        seconds: float | None = None,
        now: float | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> MonitorReport:
        """Evaluate every monitor over a window (default: the last ``drift.window`` rows)."""
        cfg = self.settings.monitor
        now = time.time() if now is None else now
        if rows is None and seconds is None:
            rows = cfg.drift.window
        step = progress or (lambda _msg: None)
        step("finding the window")
        window = self.reader.window(rows=rows, seconds=seconds, now=now)
        report_id = uuid.uuid4().hex
        info = Window(
            start=window.start,
            end=window.end,
            rows=window.rows,
            asked_rows=window.asked_rows,
            asked_seconds=window.asked_seconds,
        )
        if window.rows == 0:
            what = f"the last {_span(seconds)}" if seconds is not None else "the log"
            return MonitorReport(
                id=report_id,
                deployment=self.deployment,
                generated_at=now,
                window=info,
                scopes=(),
                messages=(
                    f"no predictions in {what}; nothing to monitor yet (serve the model with "
                    "'mlpilot serve' and send requests to /predict)",
                ),
            )
        groups = self.reader.scopes(window)
        messages: list[str] = []
        scopes: list[ScopeReport] = []
        served = [(v, mv, n) for v, mv, sh, n in groups if not sh]
        main_version = max(served, key=lambda g: g[2])[1] if served else None
        step("deployment")
        scopes.append(
            self._scope(
                Scope(kind="deployment", profile_version=main_version),
                ScopeFilter(),
                window,
                main_version,
                messages,
            )
        )
        for variant, version, shadow, _n in groups:
            scope = Scope(
                kind="version",
                variant=variant,
                model_version=version,
                shadow=shadow,
                profile_version=version,
            )
            if len(groups) == 1 and not shadow:  # the deployment's rows exactly: no second pass
                scopes.append(scopes[0].model_copy(update={"scope": scope}))
                continue
            step(f"v{version} {variant}")
            scopes.append(
                self._scope(
                    scope,
                    ScopeFilter(
                        model_version=version, variant=variant, shadow=shadow, deployment=False
                    ),
                    window,
                    version,
                    messages,
                )
            )
        alerts = self._alerts(scopes, now, several=len(groups) > 1)
        return MonitorReport(
            id=report_id,
            deployment=self.deployment,
            generated_at=now,
            window=info,
            scopes=tuple(scopes),
            alerts=tuple(alerts),
            messages=tuple(dict.fromkeys(messages)),
        )

    def _profile(self, version: int | None) -> ReferenceProfile | str:
        """The reference profile of ``version`` (digest-checked), or why there is none."""
        if version is None:
            return "the rows carry no model version"
        cached = self._profiles.get(version)
        if cached is not None:
            return cached
        found: ReferenceProfile | str
        try:
            found = ReferenceProfile.model_validate(self.registry.profile(version))
        except MlpilotError as exc:
            found = f"model version {version} has no usable reference profile: {exc.message}"
        except ValueError as exc:
            found = f"the reference profile of model version {version} does not parse: {exc}"
        else:
            self._profiles[version] = found  # failures are tried again at the next evaluation
        return found

    def _scope(
        self,
        scope: Scope,
        rows_of: ScopeFilter,
        window: LogWindow,
        version: int | None,
        messages: list[str],
    ) -> ScopeReport:
        cfg = self.settings.monitor
        profile = self._profile(version)
        notes: list[str] = []
        if isinstance(profile, str):
            notes.append(profile + "; drift and data quality are not computed")
            messages.append(profile)
        where = f"{window.where()} AND {rows_of.where()}"
        prof = profile if isinstance(profile, ReferenceProfile) else None
        features: list[Column] = []
        outputs: list[Column] = []
        if prof is not None:
            features = [
                Column(f, ref, f.kind)
                for f, ref in zip(prof.features, feature_refs(prof), strict=True)
            ]
            outputs = prediction_columns(prof.prediction)
        plan = DriftPlan([*features, *outputs])
        rows, counted = plan.run(self.reader.fetch, self.reader.source(prof, window), where)
        drift = None
        quality_features: list[FeatureQuality] = []
        prediction_drift: tuple[FeatureDrift, ...] = ()
        if prof is not None:
            input_counts = counted[: len(features)]
            drift = dataset_drift(
                [judge(c, n, cfg.drift) for c, n in zip(features, input_counts, strict=True)],
                cfg.drift,
            )
            quality_features = [
                quality(c, n, cfg.quality) for c, n in zip(features, input_counts, strict=True)
            ]
            prediction_drift = tuple(
                judge(c, n, cfg.drift)
                for c, n in zip(outputs, counted[len(features) :], strict=True)
            )
            if prof.prediction is None:
                notes.append("the profile has no prediction distribution; no prediction drift")
        operational, requests, errors = self._operational(window, rows_of, rows)
        return ScopeReport(
            scope=scope,
            rows=rows,
            drift=drift,
            prediction_drift=prediction_drift,
            quality=self._quality(quality_features, requests, errors),
            performance=self._performance(window, rows_of, rows, prof),
            operational=operational,
            messages=tuple(notes),
        )

    def _operational(
        self, window: LogWindow, rows_of: ScopeFilter, rows: int
    ) -> tuple[OperationalResult, int, list[tuple[Any, ...]]]:
        cfg = self.settings.monitor.operational
        where = f"{window.where()} AND {rows_of.where()}"
        requests, p50, p99 = self.reader.fetch(
            "SELECT count(*), quantile_cont(lat, 0.5), quantile_cont(lat, 0.99) FROM ("
            "SELECT request_id, any_value(latency_ms) AS lat FROM predictions "
            f"WHERE {where} GROUP BY request_id, variant, shadow)"
        )[0]
        errors = self.reader.fetch(
            f"SELECT status, field, count(*) FROM errors WHERE {where} GROUP BY ALL"
        )
        n_errors = sum(int(n) for _s, _f, n in errors)
        total = int(requests) + n_errors
        error_rate = n_errors / total if total else None
        span = (window.end or 0.0) - (window.start or 0.0)
        rate = int(requests) / span if span > 0 else None
        breached = bool(error_rate is not None and error_rate > cfg.max_error_rate) or bool(
            cfg.max_p99_ms is not None and p99 is not None and p99 > cfg.max_p99_ms
        )
        result = OperationalResult(
            requests=int(requests),
            rows=rows,
            errors=n_errors,
            error_rate=error_rate,
            request_rate_per_second=rate,
            latency_p50_ms=None if p50 is None else float(p50),
            latency_p99_ms=None if p99 is None else float(p99),
            max_error_rate=cfg.max_error_rate,
            max_p99_ms=cfg.max_p99_ms,
            breached=breached,
        )
        return result, int(requests), errors

    def _quality(
        self, features: Sequence[Any], requests: int, errors: Sequence[tuple[Any, ...]]
    ) -> QualityResult:
        cfg = self.settings.monitor.quality
        by_field: dict[str, int] = {}
        rejected = 0
        for status, field, n in errors:
            if int(status) != 422:
                continue
            rejected += int(n)
            name = _feature_of(field)
            by_field[name] = by_field.get(name, 0) + int(n)
        total = requests + rejected
        share = rejected / total if total else None
        breached_rejected = share is not None and share > cfg.max_rejected
        message = None
        if breached_rejected:
            top = ", ".join(
                f"{k} ({v})" for k, v in sorted(by_field.items(), key=lambda i: -i[1])[:5]
            )
            message = (
                f"{share:.1%} of prediction requests were rejected for invalid input "
                f"(training-serving skew); most often: {top}"
            )
        return QualityResult(
            features=tuple(features),
            requests=total,
            rejected=rejected,
            rejected_share=share,
            rejected_by_field=by_field,
            breached=breached_rejected or any(f.breached for f in features),
            message=message,
        )

    def _performance(
        self,
        window: LogWindow,
        rows_of: ScopeFilter,
        rows: int,
        profile: ReferenceProfile | None,
    ) -> Any:
        labelled = self.reader.fetch(
            "SELECT prediction, probabilities, label, epoch(ts), epoch(label_ts) FROM "
            f"({self.reader.labelled(window)}) WHERE {rows_of.where()}"
        )
        return performance(
            labelled, predictions=rows, profile=profile, settings=self.settings.monitor.performance
        )

    # -- alerts ------------------------------------------------------------------------------------

    def _alerts(self, scopes: Sequence[ScopeReport], now: float, *, several: bool) -> list[Alert]:
        out: list[Alert] = []
        for report in scopes:
            if report.scope.kind == "version" and not several:
                continue  # one version in the window: its alerts are the deployment's
            for monitor, value, threshold, message in _breaches(report):
                out.append(
                    Alert(
                        id=uuid.uuid4().hex,
                        ts=now,
                        deployment=self.deployment,
                        monitor=monitor,
                        scope=report.scope.kind,
                        variant=report.scope.variant,
                        model_version=report.scope.model_version,
                        value=value,
                        threshold=threshold,
                        message=f"{self.deployment} {report.scope.label}: {message}",
                    )
                )
        return out

    # -- storing -----------------------------------------------------------------------------------

    def record(self, report: MonitorReport) -> None:
        """Store the evaluation and its time series in one transaction, then emit its alerts."""
        ts = datetime.fromtimestamp(report.generated_at, UTC)
        with self.store.session() as session:
            session.add(
                MonitorEvaluationRow(
                    id=report.id,
                    deployment=report.deployment,
                    ts=ts,
                    window_start=_dt(report.window.start),
                    window_end=_dt(report.window.end),
                    rows=report.window.rows,
                    alerts=len(report.alerts),
                    report=report.model_dump(mode="json"),
                )
            )
            session.flush()
            for scope in report.scopes:
                for monitor, value, threshold, breached in _series(scope):
                    session.add(
                        MonitorResultRow(
                            evaluation_id=report.id,
                            deployment=report.deployment,
                            ts=ts,
                            monitor=monitor,
                            scope=scope.scope.kind,
                            variant=scope.scope.variant,
                            model_version=scope.scope.model_version,
                            shadow=scope.scope.shadow,
                            value=value,
                            threshold=threshold,
                            breached=breached,
                            rows=scope.rows,
                        )
                    )
        for alert in report.alerts:
            _log.warning("alert %s: %s", alert.monitor, alert.message)
        if self.dispatcher is not None and report.alerts:
            self.dispatcher.emit(report.alerts, report.id)

    def history(self, *, since: float | None = None, limit: int = 5000) -> list[HistoryPoint]:
        """Stored monitor values of this deployment, oldest first (the newest ``limit``)."""
        query = select(MonitorResultRow).where(MonitorResultRow.deployment == self.deployment)
        if since is not None:
            query = query.where(MonitorResultRow.ts >= datetime.fromtimestamp(since, UTC))
        query = query.order_by(MonitorResultRow.ts.desc(), MonitorResultRow.id.desc()).limit(limit)
        with self.store.session() as session:
            found = list(session.scalars(query))
            points = [
                HistoryPoint(
                    ts=r.ts.timestamp(),
                    monitor=r.monitor,
                    scope=r.scope,  # type: ignore[arg-type]
                    variant=r.variant,
                    model_version=r.model_version,
                    value=r.value,
                    threshold=r.threshold,
                    breached=r.breached,
                )
                for r in found
            ]
        return points[::-1]

    def watch(
        self,
        stop: threading.Event,
        *,
        every: float | None = None,
        rows: int | None = None,
        seconds: float | None = None,
        record: bool = True,
        on_report: Callable[[MonitorReport], None] | None = None,
    ) -> None:
        """Evaluate (and record) every ``every`` seconds until ``stop`` is set.

        An evaluation that fails is logged and retried at the next tick; the loop goes on.
        """
        interval = every or self.settings.monitor.every_seconds
        while not stop.is_set():
            started = time.monotonic()
            try:
                report = self.evaluate(rows=rows, seconds=seconds)
                if record:
                    self.record(report)
                if on_report is not None:
                    on_report(report)
            except MlpilotError as exc:
                _log.error("monitoring failed: %s; retrying in %.0f s", exc.message, interval)
            except Exception:  # a store or log outage must not end the schedule
                _log.exception("monitoring failed; retrying in %.0f s", interval)
            stop.wait(max(0.0, interval - (time.monotonic() - started)))


def _feature_of(field: Any) -> str:
    """``records[3].mean radius`` -> ``mean radius``; other fields as they are."""
    text = str(field or "(body)")
    if text.startswith("records[") and "]." in text:
        return text.split("].", 1)[1]
    return text


def _span(seconds: float | None) -> str:
    if seconds is None:
        return "window"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def _breaches(report: ScopeReport) -> Iterator[tuple[str, float | None, float | None, str]]:
    """(monitor, value, threshold, message) of every monitor over its threshold in a scope."""
    drift = report.drift
    if drift is not None and drift.drifted:
        names = ", ".join(f.name for f in drift.features if f.drifted)
        yield (
            "drift.share",
            drift.share,
            drift.share_threshold,
            f"input drift in {drift.drifted_count} of {drift.evaluated} features ({names})",
        )
    for f in report.prediction_drift:
        if f.drifted:
            yield (
                f"prediction_drift.{f.name}",
                f.score,
                f.threshold,
                f"the {f.name} distribution drifted ({f.method} {f.score:.3g}, threshold "
                f"{f.threshold:g})",
            )
    q = report.quality
    if q is not None and q.breached:
        bad = [f for f in q.features if f.breached]
        if bad:
            yield (
                "quality.features",
                float(len(bad)),
                0.0,
                "data quality: " + "; ".join(f"{f.name}: {f.message}" for f in bad[:5]),
            )
        if q.message:
            yield ("quality.rejected_share", q.rejected_share, None, q.message)
    perf = report.performance
    if perf is not None and perf.breached:
        limit = (
            perf.min
            if perf.min is not None and perf.value is not None and perf.value < perf.min
            else perf.max
        )
        yield (
            f"performance.{perf.metric}",
            perf.value,
            limit,
            f"{perf.metric} {perf.value:.4g} on {perf.labelled} labelled rows is beyond its "
            f"limit {limit:g}",
        )
    op = report.operational
    if op is not None and op.breached:
        if op.error_rate is not None and op.error_rate > op.max_error_rate:
            yield (
                "operational.error_rate",
                op.error_rate,
                op.max_error_rate,
                f"error rate {op.error_rate:.2%} ({op.errors} failed requests) above "
                f"{op.max_error_rate:.2%}",
            )
        if (
            op.max_p99_ms is not None
            and op.latency_p99_ms is not None
            and op.latency_p99_ms > op.max_p99_ms
        ):
            yield (
                "operational.latency_p99_ms",
                op.latency_p99_ms,
                op.max_p99_ms,
                f"p99 latency {op.latency_p99_ms:.1f} ms above {op.max_p99_ms:g} ms",
            )


def _series(
    report: ScopeReport,
) -> Iterator[tuple[str, float | None, float | None, bool | None]]:
    """(monitor, value, threshold, breached) of every stored time series of a scope."""
    drift = report.drift
    if drift is not None:
        yield "drift.share", drift.share, drift.share_threshold, drift.drifted
        for f in drift.features:
            yield f"drift.feature.{f.name}", f.score, f.threshold, f.drifted
    for f in report.prediction_drift:
        yield f"prediction_drift.{f.name}", f.score, f.threshold, f.drifted
    q = report.quality
    if q is not None:
        yield "quality.rejected_share", q.rejected_share, None, q.message is not None
        yield (
            "quality.features_breached",
            float(sum(1 for f in q.features if f.breached)),
            0.0,
            any(f.breached for f in q.features),
        )
    perf = report.performance
    if perf is not None:
        for name, value in perf.metrics.items():
            mine = name == perf.metric
            limit = (perf.max if name in LOWER_IS_BETTER else perf.min) if mine else None
            if mine and limit is None:
                limit = perf.min if perf.min is not None else perf.max
            yield f"performance.{name}", value, limit, perf.breached if mine else None
        yield "performance.coverage", perf.coverage, None, None
        yield "performance.labelled", float(perf.labelled), None, None
    op = report.operational
    if op is not None:
        yield (
            "operational.error_rate",
            op.error_rate,
            op.max_error_rate,
            (op.error_rate is not None and op.error_rate > op.max_error_rate),
        )
        yield "operational.latency_p50_ms", op.latency_p50_ms, None, None
        yield (
            "operational.latency_p99_ms",
            op.latency_p99_ms,
            op.max_p99_ms,
            (
                None
                if op.max_p99_ms is None or op.latency_p99_ms is None
                else op.latency_p99_ms > op.max_p99_ms
            ),
        )
        yield "operational.request_rate", op.request_rate_per_second, None, None
