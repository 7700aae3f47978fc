"""Conditions as Python functions, read from the condition table: the one meaning both
evaluators use (the built-in one calls these functions, the durable-rules one computes
with them what it carries on its facts)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from ..models import Claim, Line
from .conditions import KINDS, NODES
from .tree import Check, Test


@lru_cache(maxsize=4096)
def test_check(t: Test) -> Check:
    """A test as a function, negation applied (the same test is bound once)."""
    fn = KINDS[t.kind].check(t.args)
    if t.negate:
        return lambda ln, c, d, w: not fn(ln, c, d, w)
    return fn


def compile_check(node: Any) -> Check:
    """A condition tree as one Python function, built once when the policy loads."""
    if isinstance(node, Test):
        return test_check(node)
    kind = NODES[type(node)]
    if kind.check is None:
        raise ValueError(f"{type(node).__name__} is joined by the evaluator, not checked on its own")
    return kind.check(node, compile_check)


def claim_test(t: Test, claim: Claim, dos: str) -> bool:
    """A claim-level test, negation applied."""
    return test_check(t)(None, claim, dos, ())


def line_test(t: Test, ln: Line) -> bool:
    """A line test, negation applied."""
    return test_check(t)(ln, None, ln.date_of_service, ())
