"""Governance: the hash-chained, tamper-evident audit trail of who did what, when and why.

Every event links to the one before it by hash; :meth:`AuditTrail.verify` recomputes the chain
and names the first event that was altered, removed or inserted. API tokens (only their
hashes are stored) carry a role: ``predict`` < ``operate`` < ``admin``.
"""

from mlpilot.governance._audit import AuditEvent, AuditTrail, ChainReport, default_actor
from mlpilot.governance._tokens import Role, TokenInfo, TokenStore

__all__ = [
    "AuditEvent",
    "AuditTrail",
    "ChainReport",
    "Role",
    "TokenInfo",
    "TokenStore",
    "default_actor",
]
