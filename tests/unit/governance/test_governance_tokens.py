from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import select

from mlpilot.errors import AuthError, ConfigError, ForbiddenError
from mlpilot.governance import AuditTrail
from mlpilot.governance._tokens import Role, TokenInfo, TokenStore
from mlpilot.store import Store, TokenRow


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(f"sqlite:///{tmp_path / 'm.db'}")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tokens(store: Store, clock: Clock) -> TokenStore:
    return TokenStore(store, AuditTrail(store), cache_ttl=5.0, clock=clock)


def test_create_returns_the_token_once_and_stores_only_its_hash(
    tokens: TokenStore, store: Store
) -> None:
    token = tokens.create("ci", "predict", actor="ann")
    assert token.startswith("mlp_")
    assert len(token) > 40
    with store.session() as s:
        row = s.execute(select(TokenRow)).scalar_one()
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert token not in (row.name, row.role, row.created_by)
    assert tokens.create("ci2", "predict") != token
    listed = tokens.list()
    assert [t["name"] for t in listed] == ["ci", "ci2"]
    assert listed[0]["role"] == "predict"
    assert listed[0]["active"]
    assert listed[0]["created_by"] == "ann"
    assert all(token not in str(t) and "hash" not in str(t) for t in listed)


def test_creation_is_audited_without_the_token(tokens: TokenStore) -> None:
    token = tokens.create("ci", "operate", actor="ann")
    (event,) = tokens.audit.events(action="token.created")
    assert (event.target, event.actor, event.details) == ("token:ci", "ann", {"role": "operate"})
    assert token not in str(event.to_dict())
    assert hashlib.sha256(token.encode()).hexdigest() not in str(event.to_dict())


def test_verify(tokens: TokenStore) -> None:
    token = tokens.create("ci", "operate")
    assert tokens.verify(token) == TokenInfo("ci", "operate")
    with pytest.raises(AuthError, match="missing token: send 'Authorization: Bearer <token>'"):
        tokens.verify(None)
    with pytest.raises(AuthError, match="missing token"):
        tokens.verify("")
    with pytest.raises(AuthError, match="unknown or revoked token") as info:
        tokens.verify("mlp_nope")
    assert info.value.http_status == 401
    assert "mlp_nope" not in info.value.message


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("predict", {"predict"}),
        ("operate", {"predict", "operate"}),
        ("admin", {"predict", "operate", "admin"}),
    ],
)
def test_role_hierarchy(tokens: TokenStore, role: Role, allowed: set[str]) -> None:
    token = tokens.create("t", role)
    needs: tuple[Role, ...] = ("predict", "operate", "admin")
    for needed in needs:
        if needed in allowed:
            assert tokens.require(token, needed) == TokenInfo("t", role)
        else:
            with pytest.raises(
                ForbiddenError,
                match=f"token 't' has role '{role}', but this needs role '{needed}'",
            ) as info:
                tokens.require(token, needed)
            assert info.value.http_status == 403


def test_require_without_a_token_is_auth_error_not_forbidden(tokens: TokenStore) -> None:
    with pytest.raises(AuthError, match="missing token") as info:
        tokens.require(None, "predict")
    assert not isinstance(info.value, ForbiddenError)


def test_verified_tokens_are_cached_until_the_ttl(
    tokens: TokenStore, store: Store, clock: Clock
) -> None:
    token = tokens.create("ci", "predict")
    tokens.verify(token)
    store.engine.dispose()
    calls: list[str] = []
    from sqlalchemy import event

    event.listen(store.engine, "before_cursor_execute", lambda *a: calls.append(a[2]))
    for _ in range(50):
        tokens.verify(token)
    assert calls == []
    clock.now += 5.1
    tokens.verify(token)
    assert len(calls) == 1


def test_revocation_elsewhere_takes_effect_within_the_ttl(
    tokens: TokenStore, store: Store, clock: Clock
) -> None:
    token = tokens.create("ci", "predict")
    assert tokens.verify(token).name == "ci"
    other = TokenStore(store, AuditTrail(store))  # another process, e.g. the CLI
    other.revoke("ci", actor="bob", reason="leaked")
    clock.now += 4.0
    assert tokens.verify(token).name == "ci"  # still cached
    clock.now += 1.1
    with pytest.raises(AuthError, match="unknown or revoked token"):
        tokens.verify(token)
    (event,) = other.audit.events(action="token.revoked")
    assert (event.target, event.actor, event.reason) == ("token:ci", "bob", "leaked")
    assert tokens.list()[0]["active"] is False


def test_revocation_in_this_process_takes_effect_at_once(tokens: TokenStore) -> None:
    token = tokens.create("ci", "admin")
    tokens.verify(token)
    tokens.revoke("ci")
    with pytest.raises(AuthError, match="unknown or revoked token"):
        tokens.verify(token)


def test_errors(tokens: TokenStore) -> None:
    tokens.create("ci", "predict")
    with pytest.raises(ConfigError, match="a token named 'ci' already exists"):
        tokens.create("ci", "admin")
    with pytest.raises(ConfigError, match="unknown role 'root'; choose one of predict"):
        tokens.create("x", "root")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"token name .* is not valid"):
        tokens.create("has space", "predict")
    with pytest.raises(ConfigError, match="no token named 'ghost'"):
        tokens.revoke("ghost")
    tokens.revoke("ci")
    with pytest.raises(ConfigError, match="already revoked"):
        tokens.revoke("ci")
    with pytest.raises(ConfigError, match=r"already exists \(revoked"):
        tokens.create("ci", "predict")
    assert len(tokens.audit.events(action="token.created")) == 1
