"""Deterministic traffic routing between the champion and a challenger.

A request key (the caller's ``X-Request-Key``, or the request id) is hashed to a number in
[0, 1); the same key always gets the same variant for the same weights, in every worker and
replica, with no shared state. Raising a canary share only moves keys from the champion to the
challenger, never back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from hashlib import blake2b
from typing import Any, ClassVar, Literal, get_args

from mlpilot.errors import ConfigError
from mlpilot.governance import AuditTrail, default_actor
from mlpilot.store import RouteRow, Store, utcnow

__all__ = ["Mode", "Route", "RouteStore", "key_fraction"]

Mode = Literal["single", "canary", "ab", "shadow"]
MODES: tuple[str, ...] = get_args(Mode)
VARIANTS = ("champion", "challenger")
_TOLERANCE = 1e-9
_SCALE = float(2**64)


def key_fraction(key: str) -> float:
    """``key`` mapped uniformly to [0, 1): the first 8 bytes of its blake2b as uint64 / 2**64."""
    digest = blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


@dataclass(frozen=True)
class Route:
    """How a deployment splits traffic: a mode, the share per variant and a revision number.

    ``weights`` maps ``"champion"``/``"challenger"`` to their share of answered traffic; in
    shadow mode the champion answers everything and the challenger gets a copy of each request.
    """

    mode: Mode
    weights: dict[str, float] = field(hash=False)
    revision: int

    SINGLE: ClassVar[Route]

    def assign(self, key: str) -> tuple[str, bool]:
        """The variant that answers the request with ``key``, and whether to shadow it.

        Deterministic: the same key gets the same variant for the same weights.
        """
        mode = self.mode
        if mode == "single":
            return "champion", False
        if mode == "shadow":
            return "champion", True
        if key_fraction(key) < self.weights.get("challenger", 0.0):
            return "challenger", False
        return "champion", False

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "weights": dict(self.weights), "revision": self.revision}


Route.SINGLE = Route("single", {"champion": 1.0}, 0)


def _share(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"the {what} share must be a number; found {value!r}")
    share = float(value)
    if not math.isfinite(share) or not 0.0 <= share <= 1.0:
        raise ConfigError(f"the {what} share must be between 0 and 1; found {value!r}")
    return share


def validate_weights(mode: str, weights: Mapping[str, float] | None) -> dict[str, float]:
    """The full weights map for ``mode``; :class:`ConfigError` saying what is wrong."""
    if mode not in MODES:
        raise ConfigError(
            f"unknown routing mode {mode!r}; choose one of {', '.join(MODES)}", key="mode"
        )
    if mode in ("single", "shadow"):
        if weights:
            raise ConfigError(
                f"{mode} routing takes no weights (the champion answers every request); "
                f"found {dict(weights)!r}",
                key="weights",
            )
        return {"champion": 1.0}
    if not weights:
        example = "{'challenger': 0.1}" if mode == "canary" else "champion=0.5,challenger=0.5"
        raise ConfigError(f"{mode} routing needs weights, e.g. {example}", key="weights")
    unknown = sorted(set(weights) - set(VARIANTS))
    if unknown:
        raise ConfigError(
            f"unknown variant(s) {', '.join(map(repr, unknown))} in the weights; the variants "
            "are 'champion' and 'challenger'",
            key="weights",
        )
    shares = {name: _share(value, name) for name, value in weights.items()}
    if mode == "canary":
        if "challenger" not in shares:
            raise ConfigError(
                "canary routing needs the challenger's share, e.g. {'challenger': 0.1}",
                key="weights",
            )
        challenger = shares["challenger"]
        if not 0.0 < challenger < 1.0:
            raise ConfigError(
                "the canary's challenger share must be strictly between 0 and 1 "
                f"(e.g. 0.1); found {challenger}",
                key="weights",
            )
        champion = shares.get("champion", 1.0 - challenger)
    else:
        missing = [v for v in VARIANTS if v not in shares]
        if missing:
            raise ConfigError(
                f"A/B routing needs both shares, e.g. champion=0.5,challenger=0.5; "
                f"missing {', '.join(missing)}",
                key="weights",
            )
        champion, challenger = shares["champion"], shares["challenger"]
    if abs(champion + challenger - 1.0) > _TOLERANCE:
        raise ConfigError(
            f"the shares must sum to 1; champion {champion} + challenger {challenger} = "
            f"{champion + challenger}",
            key="weights",
        )
    return {"champion": 1.0 - challenger, "challenger": challenger}


def _route(row: RouteRow) -> Route:
    mode = row.mode if row.mode in MODES else "single"
    weights = {str(k): float(v) for k, v in row.weights.items()}
    return Route(mode, weights, row.revision)  # type: ignore[arg-type]


class RouteStore:
    """Read and change a project's route in the metadata store (changes are audited)."""

    def __init__(self, store: Store, audit: AuditTrail) -> None:
        self.store = store
        self.audit = audit

    def get(self, project: str) -> Route:
        """The project's current route (one primary-key read); :attr:`Route.SINGLE` if unset."""
        with self.store.session() as s:
            row = s.get(RouteRow, project)
            return Route.SINGLE if row is None else _route(row)

    def set(
        self,
        project: str,
        mode: Mode,
        *,
        weights: Mapping[str, float] | None = None,
        actor: str | None = None,
        reason: str | None = None,
    ) -> Route:
        """Change the route; checks the weights, bumps the revision, records ``route.set``.

        Canary takes the challenger's share in (0, 1), as ``{"challenger": 0.1}`` or the full
        map; A/B takes both shares, summing to 1; single and shadow take no weights.
        """
        full = validate_weights(mode, weights)
        who = actor or default_actor()
        with self.store.session() as s:
            row = s.get(RouteRow, project, with_for_update=True)
            previous = Route.SINGLE if row is None else _route(row)
            revision = previous.revision + 1
            if row is None:
                row = RouteRow(project=project)
                s.add(row)
            row.mode = mode
            row.weights = full
            row.revision = revision
            row.updated_at = utcnow()
            row.updated_by = who
            s.flush()
            self.audit.record(
                "route.set",
                target=f"route:{project}",
                actor=who,
                reason=reason,
                details={
                    "mode": mode,
                    "weights": full,
                    "revision": revision,
                    "previous": previous.to_dict(),
                },
                session=s,
            )
        return Route(mode, full, revision)
