"""The built-in evaluator (pure Python) and near misses for explanations."""

from __future__ import annotations

from typing import Any

from ..models import Claim, Edit, Line
from .checks import compile_check
from .describe import describe
from .rule import Rule
from .values import different_region, same_region

#: at most this many remembered candidate lists (one per combination of rule bits)
MEMO_LIMIT = 10_000


def other_matches(rule: Rule, ln: Line, claim: Claim) -> list[Line]:
    """The other lines of the claim ``rule.other`` accepts for line ``ln``."""
    o = rule.other
    assert o is not None
    out = []
    for x in claim.lines:
        if x is ln:
            continue
        if o.same_date and x.date_of_service != ln.date_of_service:
            continue
        if o.same_region and not same_region(ln, x):
            continue
        if o.different_region and not different_region(ln, x):
            continue
        if rule.other_check(x, claim, x.date_of_service, ()):
            out.append(x)
    return out


def claim_lines(rule: Rule, claim: Claim, window: Any) -> tuple[int, ...]:
    """Lines a claim-scope edit lands on: those the any_line tests matched, else the window."""
    matched: set[int] = set()
    for q in rule.quantifiers:
        matched |= {x.line for x in window if q(x, claim, x.date_of_service, window)}
    return tuple(sorted(matched or {x.line for x in window}))


class BuiltinEvaluator:
    """Evaluates compiled rules in pure Python. Immutable after construction (but for a
    bounded memo); thread-safe.

    A claim is only tried against the rules that can apply to its codes (``candidates``):
    rule i is bit i; each code has the bits of the rules that need it, and a claim's
    candidates are its codes' bits OR'ed with those of the rules that need no code. That
    is one integer per claim, and claims share few distinct ones, so the list of rules for
    each integer is remembered.
    """

    name = "builtin"

    def __init__(self, rules: list[Rule]):
        self.rules = rules
        self.code_bits: dict[str, int] = {}
        self.unindexed_bits = 0
        for i, r in enumerate(rules):
            if r.index_codes is None:
                self.unindexed_bits |= 1 << i
            else:
                for c in r.index_codes:
                    self.code_bits[c] = self.code_bits.get(c, 0) | 1 << i
        self._by_bits: dict[int, list[Rule]] = {}

    def candidates(self, claim: Claim) -> list[Rule]:
        """The rules a claim can meet, in policy order."""
        bits = self.unindexed_bits
        for ln in claim.lines:
            bits |= self.code_bits.get(ln.code, 0)
        hit = self._by_bits.get(bits)
        if hit is None:
            hit = [r for i, r in enumerate(self.rules) if bits >> i & 1]
            if len(self._by_bits) < MEMO_LIMIT:
                self._by_bits[bits] = hit  # the same list whoever stores it: safe across threads
        return hit

    def evaluate(self, claim: Claim) -> list[Edit]:
        edits: list[Edit] = []
        for rule in self.candidates(claim):
            window = claim.lines
            if rule.windowed:
                window = [ln for ln in claim.lines if rule.in_window(ln.date_of_service)]
                if not window:
                    continue
            if rule.scope == "claim":
                # only age tests read the date: the claim's earliest
                dos = min(ln.date_of_service for ln in claim.lines) if rule.reads_date else ""
                if rule.check(None, claim, dos, window):
                    edits.append(rule.make_edit(None, claim_lines(rule, claim, window), None))
                continue
            # a line of another code cannot match; the others need no code test again
            index, check = rule.index_codes, rule.check if rule.index_codes is None else rule.indexed_check
            for ln in window:
                if index is not None and ln.code not in index:
                    continue
                if not check(ln, claim, ln.date_of_service, window):
                    continue
                other = None
                if rule.other is not None:
                    others = other_matches(rule, ln, claim)
                    if rule.other.exists:
                        if not others:
                            continue
                        other = min(others, key=lambda x: x.line)
                    elif others:
                        continue
                lines = (ln.line,) if other is None else (ln.line, other.line)
                edits.append(rule.make_edit(ln, lines, other))
        return edits


def _holds(node: Any, ln: Line | None, claim: Claim, dos: str, window: Any) -> bool:
    """Evaluate a condition tree once (explanations; the evaluator keeps compiled checks)."""
    return compile_check(node)(ln, claim, dos, window)


def near_misses(evaluator: BuiltinEvaluator, claim: Claim) -> list[str]:
    """The nearest rules that did not fire: those the claim could meet (by code) whose
    conditions all held but one, with that one."""
    out = []
    fired = {(e.rule, e.lines[0] if e.lines else None) for e in evaluator.evaluate(claim)}
    for rule in evaluator.candidates(claim):
        window = [ln for ln in claim.lines if rule.in_window(ln.date_of_service)]
        if not window:
            continue
        if rule.scope == "claim":
            if not any(r == rule.id for r, _ in fired):
                dos = min(ln.date_of_service for ln in claim.lines)
                failed = [x for x in rule.when.items if not _holds(x, None, claim, dos, window)]
                if len(failed) == 1:
                    out.append(f"rule {rule.id} (claim): did not fire: needs {describe(failed[0])}")
            continue
        for ln in window:
            if (rule.id, ln.line) in fired:
                continue
            if rule.index_codes is not None and ln.code not in rule.index_codes:
                continue
            failed = [x for x in rule.when.items if not _holds(x, ln, claim, ln.date_of_service, window)]
            if len(failed) == 1:
                out.append(f"rule {rule.id}, line {ln.line} {ln.code}: did not fire: needs {describe(failed[0])}")
            elif not failed and rule.other is not None:
                out.append(f"rule {rule.id}, line {ln.line} {ln.code}: did not fire: needs {describe(rule.other)}")
    return out
