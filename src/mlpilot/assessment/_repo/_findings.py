"""What the collector found so far: evidence per fact with its rank, unknowns, notes."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlpilot.assessment._facts import Evidence

__all__ = ["Findings"]

_MAX_EVIDENCE = 5
_KEPT_PER_FACT = 200  # evidence kept while collecting, before the strongest five are chosen


@dataclass
class Findings:
    """Evidence per fact with its rank (lower is stronger), unknowns, sharper notes, notes."""

    found: dict[str, list[tuple[int, Evidence]]] = field(default_factory=dict)
    unknown: dict[str, str] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)  # a sharper not-met note
    notes: list[str] = field(default_factory=list)

    def add(
        self,
        fact: str,
        detail: str,
        path: str | None = None,
        line: int | None = None,
        *,
        rank: int = 0,
    ) -> None:
        items = self.found.setdefault(fact, [])
        if len(items) < _KEPT_PER_FACT:
            items.append((rank, Evidence(source="repo", detail=detail, path=path, line=line)))

    def met(self, fact: str) -> bool:
        return bool(self.found.get(fact))

    def evidence(self, fact: str) -> tuple[Evidence, ...]:
        """The strongest pieces of evidence, in the order found within a rank."""
        items = sorted(self.found.get(fact, ()), key=lambda item: item[0])
        return tuple(evidence for _, evidence in items[:_MAX_EVIDENCE])
