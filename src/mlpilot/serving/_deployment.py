"""The models a worker serves: load beside, verify, warm, swap; poll for alias and route changes."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from mlpilot.config import Settings
from mlpilot.errors import MlpilotError, NotReadyError
from mlpilot.governance import AuditTrail
from mlpilot.serving._metrics import ServiceMetrics
from mlpilot.serving._routing import Route, RouteStore
from mlpilot.serving._validation import InputSpec
from mlpilot.store import SchemaRow, Store

if TYPE_CHECKING:
    from mlpilot.registry import Registry

_log = logging.getLogger("mlpilot.serving")
VARIANTS = ("champion", "challenger")
_RECENT = 3


@dataclass(frozen=True)
class Served:
    """One verified, warmed model version ready to answer."""

    variant: str
    version: int
    model: Any
    spec: InputSpec
    has_proba: bool
    classes: tuple[Any, ...] | None


class Deployment:
    """The champion (and a challenger during a release) of one project, swapped atomically.

    Requests read :attr:`champion` / :attr:`challenger` once and keep that object, so a swap
    never changes the model under a request in flight.
    """

    def __init__(
        self,
        settings: Settings,
        store: Store,
        audit: AuditTrail,
        registry: Registry,
        metrics: ServiceMetrics,
    ) -> None:
        self.settings = settings
        self.name = settings.project.name
        self.store = store
        self.audit = audit
        self.registry = registry
        self.metrics = metrics
        self.routes = RouteStore(store, audit)
        self.route: Route = Route.SINGLE
        self.served: dict[str, Served] = {}
        self._wanted: dict[str, int | None] = {}
        self._failed: set[tuple[str, int]] = set()
        # The last few versions served, kept loaded: a rollback swaps back at once.
        self._recent: OrderedDict[int, Served] = OrderedDict()
        self._lock = threading.Lock()
        # Set to make the poller refresh at once (admin calls), instead of at its next tick.
        self.wake = threading.Event()

    def get(self, variant: str) -> Served:
        served = self.served.get(variant)
        if served is None:
            served = self.served.get("champion")
        if served is None:
            raise NotReadyError(
                f"deployment '{self.name}' has no verified champion loaded yet; register one "
                "with 'mlpilot run' (the service picks it up within seconds)"
            )
        return served

    @property
    def ready(self) -> bool:
        return "champion" in self.served

    def reload(self) -> None:
        """Retry versions that failed to load before, at the next refresh (woken now)."""
        self._failed.clear()
        self.wake.set()

    def refresh(self) -> None:
        """Look at aliases and the route once; load, verify, warm and swap what changed."""
        with self._lock:
            try:
                self.route = self.routes.get(self.name)
            except Exception:  # keep serving the last route if the store hiccups
                _log.warning("could not read the route of %s", self.name, exc_info=True)
            for variant in VARIANTS:
                try:
                    mv = self.registry.by_alias(variant)
                except Exception:
                    _log.warning("could not read alias %s of %s", variant, self.name, exc_info=True)
                    continue
                current = self.served.get(variant)
                if mv is None:
                    if current is not None and variant == "challenger":
                        del self.served[variant]
                        self.metrics.loaded.labels(self.name, variant).set(0)
                    continue
                if current is not None and current.version == mv.version:
                    continue
                if (variant, mv.version) in self._failed:
                    continue
                self._swap_in(variant, mv.version)

    def _swap_in(self, variant: str, version: int) -> None:
        try:
            recent = self._recent.get(version)
            if recent is not None:  # verified and warmed before; versions never change
                self._recent.move_to_end(version)
                served = replace(recent, variant=variant)
            else:
                served = self._load(variant, version)
                self._recent[version] = served
                while len(self._recent) > _RECENT:
                    self._recent.popitem(last=False)
        except Exception as exc:
            self._failed.add((variant, version))
            self.metrics.swaps.labels(self.name, variant, "failed").inc()
            message = exc.message if isinstance(exc, MlpilotError) else repr(exc)
            _log.error("version %s of %s was not swapped in: %s", version, self.name, message)
            try:
                self.audit.record(
                    "serving.swap_failed",
                    target=f"model:{self.name}/{version}",
                    actor="mlpilot-serve",
                    reason=message,
                    details={"variant": variant},
                )
            except Exception:
                _log.warning("could not audit the failed swap", exc_info=True)
            return
        self.served[variant] = served  # one reference assignment: atomic for readers
        self.metrics.swaps.labels(self.name, variant, "swapped").inc()
        self.metrics.loaded.labels(self.name, variant).set(version)
        _log.info("serving %s version %s as %s", self.name, version, variant)

    def _load(self, variant: str, version: int) -> Served:
        from mlpilot.data import DataSchema, ReferenceProfile, sample_records

        loaded = self.registry.load(version, actor="mlpilot-serve")
        profile = ReferenceProfile.from_json(json.dumps(loaded.profile()))
        schema_version = loaded.version.lineage.get("mlpilot.schema_version")
        with self.store.session() as s:
            body = s.execute(
                select(SchemaRow.body)
                .where(SchemaRow.project == self.name, SchemaRow.version == schema_version)
                .limit(1)
            ).scalar_one_or_none()
        if body is None:
            raise NotReadyError(
                f"version {version} of {self.name} names schema {schema_version}, which the "
                "metadata store does not hold; serve it from the project that trained it"
            )
        spec = InputSpec.from_schema(DataSchema.from_json(json.dumps(body)), profile.target.name)
        model = loaded.model
        has_proba = callable(getattr(model, "predict_proba", None))
        # Warm up on rows built from the reference profile: a model that cannot answer them
        # is never swapped in.
        warm = spec.parse(sample_records(profile, 3), max_rows=3)
        model.predict(warm)
        if has_proba:
            model.predict_proba(warm)
        classes = getattr(model, "classes_", None)
        return Served(
            variant,
            version,
            model,
            spec,
            has_proba,
            tuple(classes.tolist()) if classes is not None else None,
        )


def poll_forever(deployment: Deployment, stop: threading.Event, every: float) -> None:
    """Refresh the deployment every ``every`` seconds (or at once when woken) until ``stop``."""
    while True:
        deployment.wake.wait(every)
        deployment.wake.clear()
        if stop.is_set():
            return
        t0 = time.perf_counter()
        try:
            deployment.refresh()
        except Exception:
            _log.exception("refreshing deployment %s failed", deployment.name)
        _log.debug("refresh took %.3fs", time.perf_counter() - t0)
