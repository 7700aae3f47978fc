"""Conditions in words (explanations and near misses), read from the condition table."""

from __future__ import annotations

from typing import Any

from .conditions import KINDS, NODES
from .tree import Test


def describe(node: Any) -> str:
    """A condition in words, for explanations."""
    if isinstance(node, Test):
        return KINDS[node.kind].describe(node.args, node.negate)
    kind = NODES.get(type(node))
    if kind is None:
        return type(node).__name__
    return kind.describe(node, describe)
