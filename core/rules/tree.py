"""The compiled form of a rule's conditions: a small tree of frozen nodes.

Compiling turns each condition of a ``when`` into nodes: a :class:`Test` (one comparison
on a line or on its claim, named by its ``kind`` in the condition table) or a
combination (:class:`All`, :class:`AnyOf`, :class:`Not`), a join with another line
(:class:`Other`) or a claim rule's quantifier over lines (:class:`LineQuantifier`).
Nodes are hashable and compare by value, so two compilations of the same policy give
equal trees (the durable-rules evaluator reuses a ruleset by that equality).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator

from ..models import Claim

#: A compiled condition: (line or None, claim, date of service, the rule's window of lines) -> holds
Check = Callable[[Any, Claim, str, Any], bool]


@dataclass(frozen=True)
class Test:
    """One test on a line (``on='line'``) or on its claim (``on='claim'``); ``kind`` is a
    key of :data:`payer_rules.rules.conditions.KINDS`, ``args`` what it compares with."""

    kind: str
    on: str
    args: tuple
    negate: bool = False


@dataclass(frozen=True)
class All:
    """Every item holds (a ``when``, a ``where``, a branch of ``any``)."""

    items: tuple


@dataclass(frozen=True)
class AnyOf:
    """Some item holds."""

    items: tuple


@dataclass(frozen=True)
class Not:
    """The item does not hold."""

    item: Any


@dataclass(frozen=True)
class Other:
    """``other_line``: another line of the claim (or, not ``exists``, none) matching ``where``."""

    exists: bool
    same_date: bool
    same_region: bool
    different_region: bool
    where: All


@dataclass(frozen=True)
class LineQuantifier:
    """Claim scope: some line (``exists``) or no line (not ``exists``) matches ``where``."""

    exists: bool
    where: All


def tests_in(node: Any) -> Iterator[Test]:
    """Every Test in a tree, in order, looking into combinations, joins and quantifiers."""
    if isinstance(node, Test):
        yield node
    elif isinstance(node, (All, AnyOf)):
        for x in node.items:
            yield from tests_in(x)
    elif isinstance(node, Not):
        yield from tests_in(node.item)
    elif isinstance(node, (Other, LineQuantifier)):
        yield from tests_in(node.where)
