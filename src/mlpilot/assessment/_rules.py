"""Evidence rules: small boolean expressions over fact ids, decided in three-valued logic.

A rule reads like the sentence it encodes: ``ci.deploy and registry.models``,
``live.rollbacks or release.rollback``, ``answer.teams_integrated``. Names are fact ids (see
:data:`~mlpilot.assessment._facts.FACTS`) or ``answer.<question id>``; the operators are
``and``, ``or``, ``not`` and parentheses. Unknown facts make the result unknown unless the other
operands decide it (Kleene logic: ``False and unknown`` is ``False``, ``True or unknown`` is
``True``), so an unanswered question never counts as met or as failed.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Rule", "RuleSyntaxError"]


class RuleSyntaxError(ValueError):
    """A rule is not a boolean expression over fact names."""


@dataclass(frozen=True)
class Rule:
    """A parsed rule: its text and the names it reads."""

    text: str
    tree: ast.expr
    names: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Rule:
        try:
            tree = ast.parse(text.strip(), mode="eval").body
        except SyntaxError as exc:
            raise RuleSyntaxError(f"{text!r} is not an expression: {exc.msg}") from exc
        names: list[str] = []
        _check(tree, text, names)
        return cls(text=text, tree=tree, names=tuple(dict.fromkeys(names)))

    def decide(self, value: Callable[[str], bool | None]) -> bool | None:
        """The rule's value, given each name's value (``None`` for unknown)."""
        return _decide(self.tree, value)


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _name(node.value)
        return None if head is None else f"{head}.{node.attr}"
    return None


def _check(node: ast.expr, text: str, names: list[str]) -> None:
    if isinstance(node, ast.BoolOp):
        for operand in node.values:
            _check(operand, text, names)
        return
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        _check(node.operand, text, names)
        return
    name = _name(node)
    if name is None:
        raise RuleSyntaxError(
            f"{text!r}: only fact names, 'and', 'or', 'not' and parentheses are allowed, "
            f"not {ast.unparse(node)!r}"
        )
    names.append(name)


def _decide(node: ast.expr, value: Callable[[str], bool | None]) -> bool | None:
    if isinstance(node, ast.BoolOp):
        results = [_decide(operand, value) for operand in node.values]
        if isinstance(node.op, ast.And):
            if False in results:
                return False
            return None if None in results else True
        if True in results:
            return True
        return None if None in results else False
    if isinstance(node, ast.UnaryOp):
        inner = _decide(node.operand, value)
        return None if inner is None else not inner
    name = _name(node)
    assert name is not None  # checked at parse time
    return value(name)
