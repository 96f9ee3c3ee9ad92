"""The controller: evaluates monitors, fires triggers and moves the one release in flight.

One controller per project acts at a time: it holds the lease ``autopilot:<project>`` in the
metadata store and renews it from a background thread; a second controller stays passive
until the lease is free or its holder died. On taking the lease it reconciles what a crashed
predecessor left: a release interrupted in training adopts the version that run registered (or
trains again, up to ``max_attempts``), a recorded decision is applied again (every effect is
idempotent), a challenger no release owns is released or removed, and a route that splits
traffic with no release in flight goes back to the champion alone.

Monitors are evaluated in a background thread (one evaluation at a time, started when
``monitor_seconds`` have passed): an evaluation over a large prediction log takes seconds to
minutes, and neither a release decision nor a stop request waits for it. Its outcome is
reported by the first tick after it ends; triggers read the stored series it recorded.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from mlpilot.autopilot._analysis import analyse, metric_for
from mlpilot.autopilot._releases import (
    ACTOR,
    ROLLOUT_STATES,
    TERMINAL,
    Release,
    ReleaseBook,
    crash_point,
)
from mlpilot.autopilot._triggers import check_triggers
from mlpilot.config import Settings
from mlpilot.errors import LockedError, MlpilotError, ReleaseError
from mlpilot.governance import AuditTrail, default_actor
from mlpilot.registry import CHALLENGER, Registry
from mlpilot.serving import PredictionLog, RouteStore
from mlpilot.store import PipelineRunRow, Store, utcnow

if TYPE_CHECKING:
    from mlpilot.monitoring import Monitor

__all__ = ["Autopilot", "TickReport"]

_log = logging.getLogger(__name__)


@dataclass
class TickReport:
    """What one tick did (for the CLI's live display and tests)."""

    active: bool
    holder: str | None = None
    evaluated: bool = False
    fired: tuple[str, ...] = ()
    release: Release | None = None
    messages: tuple[str, ...] = ()


class Autopilot:
    """The project's controller. Build it with :meth:`mlpilot.project.Project.autopilot`."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        registry: Registry,
        *,
        log: PredictionLog,
        monitor: Monitor | None = None,
        tag: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store
        self.registry = registry
        self.log = log
        self.monitor = monitor
        self.audit = AuditTrail(store)
        self.routes = RouteStore(store, self.audit)
        self.project = settings.project.name
        self.book = ReleaseBook(store, self.audit, self.project)
        self.lease_name = f"autopilot:{self.project}"
        self.tag = tag
        self.clock = clock
        self._holder: str | None = None
        self._lost = threading.Event()
        self._renewer: threading.Thread | None = None
        self._stop_renewing = threading.Event()
        self._last_evaluation = 0.0
        self._evaluation: threading.Thread | None = None
        # finished evaluations, from the background thread: None, or why it failed
        self._evaluated: queue.SimpleQueue[str | None] = queue.SimpleQueue()

    # -- the public verbs (any process may call these) ----------------------------------------

    def retrain(self, *, reason: str, actor: str | None = None) -> int:
        """Ask for a retrain now (a manual trigger; the controller takes it on its next tick).

        A manual trigger ignores the cooldown; while a release runs it is coalesced into it.
        """
        text = reason.strip()
        if not text:
            raise ReleaseError("a reason is required: pass --reason 'why retrain now'")
        return self.book.fire("manual", "manual", reason=text, actor=actor or default_actor())

    def release_version(self, version: int, *, reason: str, actor: str | None = None) -> Release:
        """Release an already registered ``version`` through the configured strategy."""
        text = reason.strip()
        if not text:
            raise ReleaseError("a reason is required: pass --reason 'why release it'")
        target = self.registry.get(version)
        if target.is_champion:
            raise ReleaseError(
                f"version {version} of '{self.project}' already is the champion; release "
                "another version"
            )
        champion = self.registry.by_alias("champion")
        return self.book.start_new(
            "manual",
            f"release:v{version}",
            reason=text,
            actor=actor or default_actor(),
            details={"version": version},
            strategy=self.settings.release.strategy,
            model_version=version,
            champion_version=champion.version if champion else None,
            note=f"version {version} released by hand: {text}",
        )

    def releases(self, limit: int = 50) -> list[Release]:
        return self.book.recent(limit)

    def release(self, release_id: str) -> Release:
        return self.book.get(release_id)

    # -- running ------------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        """Whether this controller holds the lease."""
        return self._holder is not None and not self._lost.is_set()

    def run(
        self, stop: threading.Event, *, on_tick: Callable[[TickReport], None] | None = None
    ) -> None:
        """Tick every ``tick_seconds`` until ``stop`` is set; gives the lease back at the end."""
        try:
            while not stop.is_set():
                try:
                    report = self.step()
                except Exception as exc:  # one bad tick must not stop the autopilot
                    _log.exception("autopilot tick failed")
                    what = exc.message if isinstance(exc, MlpilotError) else repr(exc)
                    report = TickReport(
                        active=self.active, holder=self._holder, messages=(f"tick failed: {what}",)
                    )
                if on_tick is not None:
                    on_tick(report)
                stop.wait(self.settings.autopilot.tick_seconds)
        finally:
            self.close()

    def step(self) -> TickReport:
        """Take the lease if free (reconciling first), then tick; passive otherwise."""
        if self._lost.is_set():
            self._drop_lease()
        if self._holder is None and not self._take_lease():
            return TickReport(active=False, holder=self.store.holder(self.lease_name))
        messages = self.reconcile() if self._reconcile_due else []
        self._reconcile_due = False
        report = self.tick()
        report.messages = tuple(messages) + report.messages
        return report

    _reconcile_due = False

    def close(self, *, wait_for_evaluation: float = 10.0) -> None:
        """Give the lease back and close the prediction log(s); a monitor evaluation still
        running gets ``wait_for_evaluation`` seconds to end (its results are then recorded)."""
        self._drop_lease()
        evaluation = self._evaluation
        if evaluation is not None:
            evaluation.join(timeout=wait_for_evaluation)
        self.log.close()
        if self.monitor is not None and (evaluation is None or not evaluation.is_alive()):
            self.monitor.log.close()

    def _take_lease(self) -> bool:
        ttl = timedelta(seconds=self.settings.autopilot.lease_seconds)
        holder = self.store.acquire(self.lease_name, ttl=ttl, tag=self.tag)
        if holder is None:
            return False
        self._holder = holder
        self._lost.clear()
        self._stop_renewing.clear()
        self._reconcile_due = True
        self._renewer = threading.Thread(
            target=self._renew, name="mlpilot-autopilot-lease", daemon=True
        )
        self._renewer.start()
        self.audit.record(
            "autopilot.lease_taken",
            target=f"autopilot:{self.project}",
            actor=ACTOR,
            details={"holder": holder},
        )
        return True

    def _renew(self) -> None:
        seconds = self.settings.autopilot.lease_seconds
        ttl = timedelta(seconds=seconds)
        holder = self._holder
        while not self._stop_renewing.wait(seconds / 3.0):
            if holder is None:
                return
            try:
                kept = self.store.renew(self.lease_name, holder, ttl=ttl)
            except Exception:  # a store hiccup: try again; the lease outlives a few misses
                _log.warning("could not renew the autopilot lease", exc_info=True)
                continue
            if not kept:
                _log.warning("the autopilot lease was taken over; going passive")
                self._lost.set()
                return

    def _drop_lease(self) -> None:
        self._stop_renewing.set()
        if self._renewer is not None:
            self._renewer.join(timeout=5)
            self._renewer = None
        if self._holder is not None:
            try:
                self.store.release(self.lease_name, self._holder)
            except Exception:
                _log.warning("could not give back the autopilot lease", exc_info=True)
            self._holder = None

    # -- reconciliation ---------------------------------------------------------------------

    def reconcile(self) -> list[str]:
        """Repair what an interrupted controller left; returns what was done."""
        done: list[str] = []
        active = self.book.active()
        if active is not None and active.state == "training":
            done.append(self._recover_training(active))
            active = self.book.active()
        route = self.routes.get(self.project)
        rolling = active is not None and active.state in ROLLOUT_STATES
        if route.mode != "single" and not rolling:
            self.routes.set(
                self.project,
                "single",
                actor=ACTOR,
                reason="reconcile: no release in flight, all traffic to the champion",
            )
            done.append(f"route {route.mode} reset to single: no release in flight")
        holder = self.registry.by_alias(CHALLENGER)
        owned = active is not None and active.model_version == (holder.version if holder else None)
        if holder is not None and not owned and holder.version in self.book.released_versions():
            self.registry.remove_alias(
                CHALLENGER,
                actor=ACTOR,
                reason=f"reconcile: version {holder.version} was already judged by a release",
            )
            done.append(f"orphan challenger version {holder.version} removed")
        return done

    def _recover_training(self, release: Release) -> str:
        trigger = f"release:{release.id}"
        with self.store.session() as s:
            runs = list(
                s.scalars(
                    select(PipelineRunRow.id).where(
                        PipelineRunRow.project == self.project, PipelineRunRow.trigger == trigger
                    )
                )
            )
            s.execute(
                update(PipelineRunRow)
                .where(PipelineRunRow.trigger == trigger, PipelineRunRow.status == "running")
                .values(
                    status="failed",
                    finished_at=utcnow(),
                    message="interrupted: the autopilot stopped during this run",
                )
            )
        found = [
            v
            for v in self.registry.list_versions()
            if v.lineage.get("mlpilot.pipeline_run_id") in set(runs)
        ]
        if found:
            version = max(found, key=lambda v: v.version)
            champion = self.registry.by_alias("champion")
            self.book.move(
                release.id,
                "gated",
                expect={"training"},
                note=f"adopted version {version.version}, registered by the interrupted run",
                model_version=version.version,
                pipeline_run_id=version.lineage.get("mlpilot.pipeline_run_id"),
                champion_version=champion.version if champion else None,
            )
            return f"release {release.id[:8]}: adopted version {version.version}"
        if release.attempts >= self.settings.autopilot.max_attempts:
            self.book.move(
                release.id,
                "failed",
                expect={"training"},
                note=f"training was interrupted {release.attempts} time(s); giving up",
            )
            return f"release {release.id[:8]}: failed after {release.attempts} attempts"
        self.book.move(
            release.id,
            "triggered",
            expect={"training"},
            note="training was interrupted; it runs again",
        )
        return f"release {release.id[:8]}: training interrupted, retried"

    # -- one tick -----------------------------------------------------------------------------

    def tick(self) -> TickReport:
        """Triggers, the release in flight (as far as it can go), then the monitors (when due)."""
        report = TickReport(active=True, holder=self._holder)
        messages: list[str] = []
        report.fired = tuple(self._fire_triggers())
        self._take_pending(messages)
        self._adopt_handed_over_challenger(messages)
        active = self.book.active()
        for _ in range(8):
            if active is None or active.done or self._lost.is_set():
                break
            moved = self._advance(active, messages)
            if moved is None:
                break
            active = moved
        report.release = active
        # in the background: an evaluation over a large log must not delay a release decision
        report.evaluated = self._evaluate_monitors(messages)
        report.messages = tuple(messages)
        return report

    def _evaluate_monitors(self, messages: list[str]) -> bool:
        """Report the evaluations that ended since the last tick (True when one was recorded),
        and start the next one in the background when it is due and none is running."""
        finished = []
        while not self._evaluated.empty():
            finished.append(self._evaluated.get_nowait())
        messages.extend(why for why in finished if why is not None)
        running = self._evaluation is not None and self._evaluation.is_alive()
        now = self.clock()
        if (
            self.monitor is not None
            and not running
            and now - self._last_evaluation >= self.settings.autopilot.monitor_seconds
        ):
            self._last_evaluation = now
            self._evaluation = threading.Thread(
                target=self._evaluate_once, name="mlpilot-monitors", daemon=True
            )
            self._evaluation.start()
        return any(why is None for why in finished)

    def _evaluate_once(self) -> None:
        """One evaluation of the monitors, recorded; never raises (the next tick reports it)."""
        assert self.monitor is not None
        try:
            evaluation = self.monitor.evaluate(rows=self.settings.autopilot.monitor_window)
            if evaluation.scopes:
                self.monitor.record(evaluation)
                self._evaluated.put(None)
        except MlpilotError as exc:
            self._evaluated.put(f"monitor evaluation failed: {exc.message}")
        except Exception as exc:  # a bug or a full disk must not end the thread unseen
            _log.exception("monitor evaluation failed")
            self._evaluated.put(f"monitor evaluation failed: {exc!r}")

    def _fire_triggers(self) -> list[str]:
        last = self.book.last_finished()
        since = last.finished_at if last else None
        fired = []
        for firing in check_triggers(
            self.settings, self.book, now=datetime.fromtimestamp(self.clock(), UTC), since=since
        ):
            self.book.fire(firing.kind, firing.name, reason=firing.reason, details=firing.details)
            fired.append(firing.name)
        return fired

    def _take_pending(self, messages: list[str]) -> None:
        cooldown = timedelta(minutes=self.settings.autopilot.cooldown_minutes)
        for event in self.book.triggers(100, status="pending"):
            active = self.book.active()
            if active is not None:
                self.book.settle(
                    event.id,
                    "coalesced",
                    release_id=active.id,
                    note=f"release {active.id[:8]} is in flight ({active.state})",
                )
                continue
            last = self.book.last_finished()
            if (
                event.kind != "manual"
                and last is not None
                and last.finished_at is not None
                and utcnow() - last.finished_at < cooldown
            ):
                self.book.settle(
                    event.id,
                    "cooldown",
                    release_id=None,
                    note=f"cooldown: release {last.id[:8]} ended at "
                    f"{last.finished_at:%H:%M:%S} UTC, less than "
                    f"{self.settings.autopilot.cooldown_minutes:g} minutes ago",
                )
                continue
            try:
                release = self.book.start(
                    event.id,
                    strategy=self.settings.release.strategy,
                    note=f"{event.kind} trigger '{event.name}': {event.reason or ''}".strip(),
                )
            except ReleaseError:  # another process opened a release meanwhile: next tick
                continue
            messages.append(f"release {release.id[:8]} triggered by {event.name}")

    def _adopt_handed_over_challenger(self, messages: list[str]) -> None:
        """A challenger registered outside a release (``mlpilot ci --release``) is released."""
        if self.book.active() is not None:
            return
        holder = self.registry.by_alias(CHALLENGER)
        if holder is None:
            return
        if holder.version in self.book.released_versions():
            self.registry.remove_alias(
                CHALLENGER,
                actor=ACTOR,
                reason=f"version {holder.version} was already judged by a release",
            )
            return
        champion = self.registry.by_alias("champion")
        self.book.start_new(
            "registered",
            f"challenger:v{holder.version}",
            reason=f"version {holder.version} was registered as challenger",
            actor=ACTOR,
            details={"version": holder.version},
            strategy=self.settings.release.strategy,
            model_version=holder.version,
            champion_version=champion.version if champion else None,
            note=f"version {holder.version} registered as challenger outside a release",
        )
        messages.append(f"challenger version {holder.version} taken into a release")

    # -- the state machine --------------------------------------------------------------------

    def _advance(self, release: Release, messages: list[str]) -> Release | None:
        """One transition of ``release``; ``None`` when it waits."""
        try:
            if release.state == "triggered":
                moved = self.book.move(
                    release.id,
                    "training",
                    expect={"triggered"},
                    note=f"training attempt {release.attempts + 1}",
                    attempts=release.attempts + 1,
                )
                return self._train(moved)
            if release.state == "training":
                return self._train(release)
            if release.state == "gated":
                return self._roll_out(release)
            if release.state in ("canary", "shadow", "ab"):
                return self.book.move(
                    release.id,
                    "analysing",
                    expect={release.state},
                    note="comparing the challenger with the champion on live traffic",
                )
            if release.state == "analysing":
                return self._analyse(release, messages)
        except LockedError as exc:
            messages.append(f"release {release.id[:8]} waits: {exc.message}")
            return None
        except MlpilotError as exc:
            return self._fail(release, exc.message)
        return None

    def _train(self, release: Release) -> Release:
        from mlpilot.pipeline import run_project

        try:
            summary = run_project(
                self.settings,
                self.store,
                alias="challenger",
                actor=ACTOR,
                trigger=f"release:{release.id}",
            )
        except LockedError:
            raise
        except MlpilotError as exc:
            return self._fail(release, f"training failed: {exc.message}")
        crash_point("after:trained")
        champion = self.registry.by_alias("champion")
        fields: dict[str, Any] = {
            "pipeline_run_id": summary.run_id,
            "champion_version": champion.version if champion else None,
        }
        if summary.status == "rejected":
            return self.book.move(
                release.id,
                "rejected",
                expect={"training"},
                note=f"the gate rejected the retrained model: {summary.message or ''}".strip(),
                details={"gate": list(summary.gate), "metrics": summary.metrics},
                **fields,
            )
        version = summary.model_version
        if (
            summary.status == "unchanged"
            or version is None
            or (champion is not None and version == champion.version)
        ):
            return self.book.move(
                release.id,
                "rejected",
                expect={"training"},
                note="nothing new: same data, code and settings as an existing version"
                + (f" (version {version})" if version is not None else ""),
                model_version=version,
                **{k: v for k, v in fields.items() if k != "model_version"},
            )
        return self.book.move(
            release.id,
            "gated",
            expect={"training"},
            note=f"version {version} passed the gate and is the challenger",
            details={"gate": list(summary.gate), "metrics": summary.metrics},
            model_version=version,
            **fields,
        )

    def _roll_out(self, release: Release) -> Release:
        version = int(release.model_version or 0)
        champion = self.registry.by_alias("champion")
        strategy = release.strategy
        if champion is None or champion.version == version or strategy == "direct":
            why = (
                "strategy direct"
                if strategy == "direct"
                else "no champion to compare with"
                if champion is None
                else "already the champion"
            )
            moved = self.book.move(
                release.id, "analysing", expect={"gated"}, note=f"no live comparison: {why}"
            )
            decided = self.book.decide(
                moved.id, "promote", reason=f"promoted without a comparison: {why}", analysis={}
            )
            return self._apply(decided)
        self.registry.set_alias(
            CHALLENGER, version, actor=ACTOR, reason=f"release {release.id[:8]}"
        )
        crash_point("after:challenger_alias")
        cfg = self.settings.release
        weights: dict[str, float] | None = None
        mode = strategy
        if strategy == "canary":
            weights = {"challenger": cfg.canary_traffic}
        elif strategy == "ab":
            weights = {"champion": 1.0 - cfg.ab_traffic, "challenger": cfg.ab_traffic}
        self.routes.set(
            self.project,
            mode,  # type: ignore[arg-type]
            weights=weights,
            actor=ACTOR,
            reason=f"release {release.id[:8]}: {strategy} of version {version}",
        )
        crash_point("after:route")
        share = "" if weights is None else f" ({weights['challenger']:.0%} of traffic)"
        return self.book.move(
            release.id,
            strategy,
            expect={"gated"},
            note=f"{strategy} of version {version} against champion {champion.version}{share}",
            rollout_at=utcnow(),
            champion_version=champion.version,
        )

    def _analyse(self, release: Release, messages: list[str]) -> Release | None:
        if release.decision is not None:
            return self._apply(release)
        version = int(release.model_version or 0)
        champion = self.registry.by_alias("champion")
        if champion is None or champion.version != release.champion_version:
            now_is = "none" if champion is None else f"version {champion.version}"
            return self._fail(
                release,
                f"the champion changed during the release (was {release.champion_version}, "
                f"now {now_is}); the challenger is withdrawn",
            )
        cfg = self.settings.release.analysis
        started = (release.rollout_at or release.created_at).timestamp()
        analysis = analyse(
            self.log,
            challenger=version,
            champion=champion.version,
            since=started,
            metric=metric_for(cfg.metric, champion.metrics),
            settings=cfg,
            now=self.clock(),
        )
        figures = analysis.to_dict()
        if analysis.verdict == "continue":
            self.book.note_analysis(release.id, figures)
            return None
        messages.append(f"release {release.id[:8]}: {analysis.verdict} ({analysis.reason})")
        decided = self.book.decide(
            release.id, analysis.verdict, reason=analysis.reason, analysis=figures
        )
        return self._apply(decided)

    def _apply(self, release: Release) -> Release:
        """Carry out a recorded decision; each effect is a no-op when already done."""
        version = int(release.model_version or 0)
        reason = f"release {release.id[:8]}: {release.decision_reason or release.decision}"
        if release.decision == "promote":
            self.registry.promote(version, reason=reason, actor=ACTOR)
            crash_point("after:promote_alias")
            self._single(reason)
            return self.book.move(
                release.id,
                "promoted",
                expect={"analysing"},
                note=f"version {version} is the champion",
            )
        self._single(reason)
        crash_point("after:rollback_route")
        self._withdraw(version, reason)
        return self.book.move(
            release.id,
            "rolled_back",
            expect={"analysing"},
            note=f"all traffic back to champion {release.champion_version}; version {version} "
            "withdrawn",
        )

    def _fail(self, release: Release, why: str) -> Release:
        """End ``release`` as failed, leaving the champion alone with all traffic."""
        try:
            if release.state in ROLLOUT_STATES:
                self._single(f"release {release.id[:8]} failed")
            if release.model_version is not None:
                self._withdraw(release.model_version, f"release {release.id[:8]} failed")
        except MlpilotError as exc:
            why += f" (cleaning up also failed: {exc.message}; the next tick retries)"
            _log.warning("release %s: %s", release.id, why)
        current = self.book.get(release.id)
        if current.state in TERMINAL:
            return current
        return self.book.move(release.id, "failed", expect={current.state}, note=why)

    def _single(self, reason: str) -> None:
        if self.routes.get(self.project).mode != "single":
            self.routes.set(self.project, "single", actor=ACTOR, reason=reason)

    def _withdraw(self, version: int, reason: str) -> None:
        holder = self.registry.by_alias(CHALLENGER)
        if holder is not None and holder.version == version:
            self.registry.remove_alias(CHALLENGER, actor=ACTOR, reason=reason)
