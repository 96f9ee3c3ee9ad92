"""API tokens with roles: only a token's sha256 is stored; verified tokens are cached briefly."""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args

from sqlalchemy import exc as sa_exc
from sqlalchemy import select

from mlpilot.errors import AuthError, ConfigError, ForbiddenError
from mlpilot.governance._audit import AuditTrail, default_actor
from mlpilot.store import Store, TokenRow, utcnow

Role = Literal["predict", "operate", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
# Each role includes the ones before it: admin ⊇ operate ⊇ predict.
_RANK = {role: rank for rank, role in enumerate(ROLES)}
TOKEN_PREFIX = "mlp_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_MAX_CACHED = 10_000


@dataclass(frozen=True)
class TokenInfo:
    """Who a verified token belongs to and what it may do."""

    name: str
    role: Role

    def allows(self, role: Role) -> bool:
        """Whether this token's role includes ``role``."""
        return _RANK[self.role] >= _RANK[role]


def hash_token(token: str) -> str:
    """The sha256 (hex) under which a token is stored."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _check_role(role: str) -> Role:
    if role not in _RANK:
        raise ConfigError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}", key="role")
    return role  # type: ignore[return-value]


class TokenStore:
    """Create, verify, list and revoke API tokens (changes are audited, tokens never are).

    :meth:`verify` caches a verified token in memory for ``cache_ttl`` seconds, so a request
    with a token does not read the database each time; a revocation elsewhere takes effect
    within that time (at once in this process).
    """

    def __init__(
        self,
        store: Store,
        audit: AuditTrail,
        *,
        cache_ttl: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.audit = audit
        self.cache_ttl = cache_ttl
        self._clock = clock
        self._cache: dict[str, tuple[TokenInfo, float]] = {}
        self._lock = threading.Lock()

    def create(self, name: str, role: Role, *, actor: str | None = None) -> str:
        """A new token for ``name`` with ``role``; the plaintext is returned this once only."""
        if not _NAME.match(name):
            raise ConfigError(
                f"token name {name[:40]!r} is not valid: use 1-100 letters, digits, '.', '_' or "
                "'-', starting with a letter or digit",
                key="name",
            )
        checked = _check_role(role)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        who = actor or default_actor()
        try:
            with self.store.session() as s:
                existing = s.get(TokenRow, name)
                if existing is not None:
                    raise self._duplicate(name, existing)
                s.add(
                    TokenRow(
                        name=name,
                        token_hash=hash_token(token),
                        role=checked,
                        created_at=utcnow(),
                        created_by=who,
                        revoked_at=None,
                    )
                )
                s.flush()
                self.audit.record(
                    "token.created",
                    target=f"token:{name}",
                    actor=who,
                    details={"role": checked},
                    session=s,
                )
        except sa_exc.IntegrityError as exc:  # another process created the same name meanwhile
            raise ConfigError(
                f"a token named '{name}' already exists; choose another name", key="name"
            ) from exc
        return token

    @staticmethod
    def _duplicate(name: str, row: TokenRow) -> ConfigError:
        state = " (revoked; names are not reused)" if row.revoked_at is not None else ""
        return ConfigError(
            f"a token named '{name}' already exists{state}; choose another name", key="name"
        )

    def verify(self, token: str | None) -> TokenInfo:
        """Who ``token`` belongs to; :class:`AuthError` if it is missing, unknown or revoked."""
        if not token:
            raise AuthError("missing token: send 'Authorization: Bearer <token>'")
        digest = hash_token(token)
        now = self._clock()
        cached = self._cache.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
        with self.store.session() as s:
            row = s.execute(
                select(TokenRow.name, TokenRow.role).where(
                    TokenRow.token_hash == digest, TokenRow.revoked_at.is_(None)
                )
            ).one_or_none()
        if row is None:
            self._cache.pop(digest, None)
            raise AuthError(
                "unknown or revoked token; ask an admin for one ('mlpilot token create')"
            )
        info = TokenInfo(row.name, _check_role(row.role))
        with self._lock:
            if len(self._cache) >= _MAX_CACHED:
                self._cache = {k: v for k, v in self._cache.items() if v[1] > now}
                if len(self._cache) >= _MAX_CACHED:
                    self._cache.clear()
            self._cache[digest] = (info, now + self.cache_ttl)
        return info

    def require(self, token: str | None, role: Role) -> TokenInfo:
        """Like :meth:`verify`, and :class:`ForbiddenError` unless the token's role has ``role``."""
        info = self.verify(token)
        if not info.allows(role):
            raise ForbiddenError(
                f"token '{info.name}' has role '{info.role}', but this needs role '{role}' or "
                f"higher; use a token created with 'mlpilot token create NAME --role {role}'"
            )
        return info

    def list(self) -> list[dict[str, Any]]:
        """Every token (active and revoked) without its hash, oldest first."""
        with self.store.session() as s:
            rows = s.execute(select(TokenRow).order_by(TokenRow.created_at, TokenRow.name))
            return [
                {
                    "name": r.name,
                    "role": r.role,
                    "created_at": r.created_at.isoformat(),
                    "created_by": r.created_by,
                    "revoked_at": None if r.revoked_at is None else r.revoked_at.isoformat(),
                    "active": r.revoked_at is None,
                }
                for r in rows.scalars()
            ]

    def revoke(self, name: str, *, actor: str | None = None, reason: str | None = None) -> None:
        """Revoke the token ``name`` (audited); it stops working within ``cache_ttl``."""
        who = actor or default_actor()
        with self.store.session() as s:
            row = s.get(TokenRow, name, with_for_update=True)
            if row is None:
                raise ConfigError(
                    f"no token named '{name[:40]}'; see 'mlpilot token list'", key="name"
                )
            if row.revoked_at is not None:
                raise ConfigError(
                    f"token '{name}' was already revoked at {row.revoked_at:%Y-%m-%d %H:%M} UTC",
                    key="name",
                )
            row.revoked_at = utcnow()
            digest = row.token_hash
            self.audit.record(
                "token.revoked",
                target=f"token:{name}",
                actor=who,
                reason=reason,
                details={"role": row.role},
                session=s,
            )
        with self._lock:
            self._cache.pop(digest, None)
