from __future__ import annotations

import math
import uuid
from pathlib import Path

import pytest

from mlpilot.errors import ConfigError
from mlpilot.governance import AuditTrail
from mlpilot.serving._routing import Mode, Route, RouteStore, key_fraction
from mlpilot.store import Store


@pytest.fixture
def routes(tmp_path: Path) -> RouteStore:
    store = Store.open(f"sqlite:///{tmp_path / 'm.db'}")
    return RouteStore(store, AuditTrail(store))


def keys(n: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(n)]


def test_key_fraction_is_in_unit_interval_and_stable() -> None:
    for k in keys(1000):
        assert 0.0 <= key_fraction(k) < 1.0
    assert key_fraction("customer-42") == key_fraction("customer-42")
    assert key_fraction("customer-42") != key_fraction("customer-43")


def test_single_and_shadow_always_answer_with_the_champion() -> None:
    shadow = Route("shadow", {"champion": 1.0}, 3)
    for k in keys(200):
        assert Route.SINGLE.assign(k) == ("champion", False)
        assert shadow.assign(k) == ("champion", True)
    assert Route.SINGLE.revision == 0
    assert Route.SINGLE.mode == "single"


@pytest.mark.parametrize("share", [0.1, 0.5])
def test_split_is_within_a_binomial_confidence_interval(share: float) -> None:
    mode: Mode = "canary" if share < 0.5 else "ab"
    route = Route(mode, {"champion": 1 - share, "challenger": share}, 1)
    n = 20_000
    hits = sum(route.assign(k)[0] == "challenger" for k in keys(n))
    sd = math.sqrt(n * share * (1 - share))
    assert abs(hits - n * share) < 4.5 * sd  # fails by chance about once in 150 000 runs
    assert not any(route.assign(k)[1] for k in keys(100))


def test_same_key_same_variant_across_route_objects() -> None:
    a = Route("canary", {"champion": 0.7, "challenger": 0.3}, 1)
    b = Route("canary", {"champion": 0.7, "challenger": 0.3}, 9)
    sample = keys(2000)
    assert [a.assign(k) for k in sample] == [b.assign(k) for k in sample]
    assert {a.assign(k)[0] for k in sample} == {"champion", "challenger"}


def test_raising_the_canary_share_only_moves_keys_to_the_challenger() -> None:
    small = Route("canary", {"champion": 0.9, "challenger": 0.1}, 1)
    large = Route("canary", {"champion": 0.7, "challenger": 0.3}, 2)
    for k in keys(3000):
        if small.assign(k)[0] == "challenger":
            assert large.assign(k)[0] == "challenger"


def test_get_without_a_row_is_single(routes: RouteStore) -> None:
    assert routes.get("demo") == Route.SINGLE


def test_set_get_revision_and_audit(routes: RouteStore) -> None:
    r1 = routes.set("demo", "canary", weights={"challenger": 0.1}, actor="ann", reason="try v4")
    assert r1 == Route("canary", {"champion": 0.9, "challenger": 0.1}, 1)
    assert routes.get("demo") == r1
    r2 = routes.set("demo", "ab", weights={"champion": 0.5, "challenger": 0.5}, actor="bob")
    assert r2.revision == 2
    r3 = routes.set("demo", "shadow")
    assert (r3.mode, r3.weights, r3.revision) == ("shadow", {"champion": 1.0}, 3)
    assert routes.set("demo", "single").revision == 4
    assert routes.get("other") == Route.SINGLE  # routes are per project

    events = routes.audit.events(action="route.set")
    assert len(events) == 4
    first = events[-1]
    assert (first.actor, first.reason, first.target) == ("ann", "try v4", "route:demo")
    assert first.details["mode"] == "canary"
    assert first.details["weights"] == {"champion": 0.9, "challenger": 0.1}
    assert first.details["revision"] == 1
    assert first.details["previous"]["mode"] == "single"
    assert events[0].details["previous"]["mode"] == "shadow"
    assert routes.audit.verify().ok


def test_canary_accepts_the_full_map(routes: RouteStore) -> None:
    r = routes.set("demo", "canary", weights={"champion": 0.75, "challenger": 0.25})
    assert r.weights == {"champion": 0.75, "challenger": 0.25}


@pytest.mark.parametrize(
    ("mode", "weights", "match"),
    [
        ("canary", None, "canary routing needs weights"),
        ("canary", {"challenger": 0.0}, "strictly between 0 and 1"),
        ("canary", {"challenger": 1.0}, "strictly between 0 and 1"),
        ("canary", {"champion": 0.9}, "needs the challenger's share"),
        ("canary", {"champion": 0.5, "challenger": 0.1}, "must sum to 1"),
        ("canary", {"challenger": 1.5}, "between 0 and 1; found 1.5"),
        ("canary", {"challenger": "0.1"}, "must be a number"),
        ("canary", {"challenger": True}, "must be a number"),
        ("canary", {"challenger": math.nan}, "between 0 and 1"),
        ("ab", {"challenger": 0.5}, "needs both shares.*missing champion"),
        ("ab", {"champion": 0.6, "challenger": 0.5}, "must sum to 1"),
        ("ab", {"champion": 0.5, "challenger": 0.5, "other": 0.0}, "unknown variant.*'other'"),
        ("shadow", {"challenger": 0.1}, "shadow routing takes no weights"),
        ("single", {"champion": 1.0}, "single routing takes no weights"),
        ("blue-green", None, "unknown routing mode 'blue-green'"),
    ],
)
def test_bad_weights_are_config_errors(
    routes: RouteStore, mode: str, weights: dict[str, float] | None, match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        routes.set("demo", mode, weights=weights)  # type: ignore[arg-type]
    assert routes.get("demo") == Route.SINGLE
    assert routes.audit.events(action="route.set") == []


def test_ab_sum_tolerance(routes: RouteStore) -> None:
    r = routes.set("demo", "ab", weights={"champion": 0.7, "challenger": 0.3 + 1e-12})
    assert r.mode == "ab"
