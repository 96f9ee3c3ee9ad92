"""Moving aliases: promote, rollback, challenger; each change is audited with actor and reason."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mlpilot.errors import ModelNotFoundError, RegistryError
from mlpilot.governance import AuditTrail
from mlpilot.registry import ModelVersion, Registry


def _aliases(registry: Registry) -> dict[int, tuple[str, ...]]:
    return {v.version: v.aliases for v in registry.list_versions()}


def test_promote_unknown_version(registry: Registry, register: Callable[..., ModelVersion]) -> None:
    register()
    with pytest.raises(ModelNotFoundError, match=r"has no version 5; run 'mlpilot models'"):
        registry.promote(5, reason="try")


@pytest.mark.parametrize("reason", ["", "   "])
def test_promote_and_rollback_need_a_reason(
    registry: Registry, register: Callable[..., ModelVersion], reason: str
) -> None:
    register()
    with pytest.raises(RegistryError, match="a reason is required to promote"):
        registry.promote(1, reason=reason)
    with pytest.raises(RegistryError, match="a reason is required to roll back"):
        registry.rollback(reason=reason)


def test_promote_then_rollback(
    registry: Registry, register: Callable[..., ModelVersion], audit: AuditTrail
) -> None:
    register(alias="champion")
    register(alias="challenger")
    assert _aliases(registry) == {2: ("challenger",), 1: ("champion",)}

    promoted = registry.promote(2, reason="canary passed", actor="alice")
    assert promoted.aliases == ("champion",)
    assert _aliases(registry) == {2: ("champion",), 1: ()}
    assert registry.champion_history() == [1]
    (event,) = audit.events(action="model.promoted")
    assert event.target == f"model:{registry.name}/2"
    assert (event.actor, event.reason) == ("alice", "canary passed")
    assert event.details == {"from_version": 1, "to_version": 2, "challenger_removed": True}

    back = registry.rollback(reason="error rate up", actor="bob")
    assert back.version == 1
    assert back.aliases == ("champion",)
    assert _aliases(registry) == {2: (), 1: ("champion",)}
    assert registry.champion_history() == []
    (event,) = audit.events(action="model.rolled_back")
    assert event.target == f"model:{registry.name}/1"
    assert (event.actor, event.reason) == ("bob", "error rate up")
    assert event.details == {"from_version": 2, "to_version": 1}

    with pytest.raises(RegistryError, match=r"no earlier champion .* champion is version 1"):
        registry.rollback(reason="again")
    assert audit.verify().ok


def test_rollbacks_walk_back_through_the_history(
    registry: Registry, register: Callable[..., ModelVersion]
) -> None:
    for _ in range(3):
        register()
    for version in (1, 2, 3):
        registry.promote(version, reason=f"promote {version}")
    assert registry.champion_history() == [1, 2]
    assert registry.rollback(reason="r1").version == 2
    assert registry.rollback(reason="r2").version == 1
    with pytest.raises(RegistryError, match="no earlier champion"):
        registry.rollback(reason="r3")


def test_rollback_without_history(
    registry: Registry, register: Callable[..., ModelVersion]
) -> None:
    with pytest.raises(RegistryError, match="has no earlier champion to roll back to; promote"):
        registry.rollback(reason="nothing registered")
    register(alias="champion")
    with pytest.raises(RegistryError, match="no earlier champion"):
        registry.rollback(reason="only one champion ever")


def test_rollback_skips_deleted_versions(
    registry: Registry, register: Callable[..., ModelVersion]
) -> None:
    from mlflow import MlflowClient

    for _ in range(3):
        register()
    for version in (1, 2, 3):
        registry.promote(version, reason="step")
    MlflowClient(registry_uri=registry.settings.tracking_uri).delete_model_version(
        registry.name, "2"
    )
    assert registry.rollback(reason="bad release").version == 1


def test_promoting_the_champion_is_a_no_op(
    registry: Registry, register: Callable[..., ModelVersion], audit: AuditTrail
) -> None:
    register(alias="champion")
    assert registry.promote(1, reason="again").aliases == ("champion",)
    assert registry.champion_history() == []
    assert audit.events(action="model.promoted") == []


def test_challenger_alias(
    registry: Registry, register: Callable[..., ModelVersion], audit: AuditTrail
) -> None:
    register(alias="champion")
    register()
    v = registry.set_alias("challenger", 2, reason="release 7", actor="autopilot")
    assert v.aliases == ("challenger",)
    (event,) = audit.events(action="model.alias_set")
    assert event.details == {"alias": "challenger", "from_version": None, "to_version": 2}
    assert event.actor == "autopilot"

    with pytest.raises(RegistryError, match="is the champion; it cannot also be the challenger"):
        registry.set_alias("challenger", 1)
    with pytest.raises(RegistryError, match="champion moves only by promotion"):
        registry.set_alias("champion", 2)
    with pytest.raises(RegistryError, match="unknown alias 'staging'"):
        registry.set_alias("staging", 2)

    removed = registry.remove_alias("challenger", reason="release 7 rolled back")
    assert removed is not None
    assert removed.aliases == ()
    assert registry.by_alias("challenger") is None
    assert registry.remove_alias("challenger") is None
    assert [e.action for e in audit.events(action="model.alias_removed")] == ["model.alias_removed"]
