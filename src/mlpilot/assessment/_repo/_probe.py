"""What counts as evidence: probes over a file's text, rules over a file's path.

Each concept module (:mod:`._ci`, :mod:`._tests`, :mod:`._code`, :mod:`._infra`) lists its
probes as tables built here; :mod:`._scan` applies them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from mlpilot.assessment._repo._text import At, Rx, rx
from mlpilot.assessment._repo._walk import CODE, File

__all__ = [
    "API_MANIFEST",
    "LOADS_MODEL",
    "MLPILOT_SCHEMA",
    "Hints",
    "PathRule",
    "Probe",
    "Row",
    "modules",
    "patterns",
]

Hints = str | tuple[str, ...]
Row = tuple[str, str, Hints]
"""A pattern probe's detail, regex and hints."""

API_MANIFEST = r"^apiVersion:[ \t]*\S"
LOADS_MODEL = (
    r"(?:\.predict|\.predict_proba|\.fit|load_model|joblib\.load|pickle\.load|torch\.load|"
    r"from_pretrained|InferenceSession)\("
)
MLPILOT_SCHEMA = tuple(
    f"mlpilot.data.{name}" for name in ("DataSchema", "infer_schema", "validate_batch")
)


@dataclass(frozen=True)
class Probe:
    """What, found in a file, is evidence of ``fact``.

    A *module* probe (``modules``) matches an import of one of the modules (or of a submodule or
    name in it: ``ray.serve`` matches ``from ray import serve``). A *pattern* probe matches its
    regex; ``hints`` are lower-case literals one of which every match contains (a fast
    pre-check). Either kind may ask that the file import one of ``needs``, match every regex of
    ``requires``, be a CI file of one of ``kinds``, or have a path that ``path`` matches. A
    probe's position in the probe table is its rank: the first listed is the strongest evidence.
    """

    fact: str
    detail: str
    scopes: frozenset[str]
    pattern: Rx | None = None
    hints: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()
    requires: tuple[Rx, ...] = ()
    kinds: frozenset[str] | None = None
    path: re.Pattern[str] | None = None


def patterns(
    fact: str,
    scopes: Iterable[str],
    *rows: Row,
    at: At = "any",
    needs: tuple[str, ...] = (),
    requires: Iterable[str | tuple[str, At]] = (),
    kinds: Iterable[str] | None = None,
    path: str | None = None,
    flags: int = 0,
) -> tuple[Probe, ...]:
    """A pattern probe of ``fact`` for each row, in order, all with the same scopes and options
    (``^``/``$`` match at lines; ``at`` as in :class:`~._text.Rx`)."""
    shared = Probe(
        fact=fact,
        detail="",
        scopes=frozenset(scopes),
        needs=needs,
        requires=tuple(rx(r) for r in requires),
        kinds=None if kinds is None else frozenset(kinds),
        path=None if path is None else re.compile(path),
    )
    return tuple(
        replace(
            shared,
            detail=detail,
            pattern=rx((regex, at), flags),
            hints=(hints,) if isinstance(hints, str) else hints,
        )
        for detail, regex, hints in rows
    )


def modules(
    fact: str, *rows: tuple[str, Hints], scopes: Iterable[str] = (CODE,)
) -> tuple[Probe, ...]:
    """A module probe of ``fact`` for each row (detail, modules): the file imports one of them."""
    return tuple(
        Probe(
            fact=fact,
            detail=detail,
            scopes=frozenset(scopes),
            modules=(names,) if isinstance(names, str) else names,
        )
        for detail, names in rows
    )


@dataclass(frozen=True)
class PathRule:
    """A file whose path alone is evidence of ``fact``: its name is one of ``names``, its
    (lower-case) suffix one of ``suffixes``, or ``when`` holds; with ``top``, only at the root.
    ``{name}`` in ``detail`` is the file's name."""

    fact: str
    detail: str
    names: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ()
    when: Callable[[File], bool] | None = None
    top: bool = False

    def matches(self, file: File) -> bool:
        if self.top and "/" in file.rel:
            return False
        return (
            file.name in self.names
            or file.suffix in self.suffixes
            or (self.when is not None and self.when(file))
        )
