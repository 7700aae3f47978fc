"""The durable-rules evaluator: the same rules, run by a Rete engine.

durable-rules 2.0.28 has measured defects (docs/rules.md lists them); this adapter makes
each impossible to hit:

1. Session ids hash to 32 bits and two ids can collide, mixing two claims' facts:
   only one state is ever alive. Claims are evaluated one at a time under a process-wide
   lock and each state is deleted before the lock is released, so no two states coexist.
2. ``delete_state`` on a state in which no rule fired can crash: every claim asserts a
   sentinel fact that a sentinel rule always matches, so a rule has fired before delete.
3. At most 1,024 live states per ruleset: there is one at a time.
4. Not thread-safe, and the C code holds the GIL anyway: the process-wide lock
   serialises every call into durable-rules, whatever thread calls.
5. One fact that matches no rule loses the actions of the others: a catch-all rule
   matches every fact.
6. Two identical facts raise: every fact carries its kind and line number.
7. ``allItems()`` never matches an empty list: lists are never used; each modifier a
   rule names becomes a 0/1 field of the line fact.
8. A ruleset name can be registered only once, and a ruleset can never be deleted (so
   each one holds its memory until the process ends): rulesets are kept in a process-wide
   registry keyed by the compiled conditions they match. A reload that brings the same
   conditions reuses its ruleset; new conditions get a new ruleset under a fresh name, up
   to :func:`max_rulesets` per process, past which building one is a clear error.
9. No import on Python 3.13+: the import is guarded; choosing this evaluator without it
   gives a clear error, and the built-in evaluator needs nothing from it.
10. Slower than plain Python by an order of magnitude: the built-in evaluator is the
   default; this one exists for comparison and for hosts that want a Rete engine.
11. (Found by the differential test.) In a joined pattern, a join constraint that follows
   an OR is dropped for one branch of the OR: ``(code == A | code == B) & (region ==
   c.a.region)`` matches lines of another region. Join constraints are always written
   first in a pattern, before any test that may contain an OR.

Negation (``other_line: {exists: false}``, ``no_line``) is computed from joins: the
adapter collects the candidate lines and the lines for which a blocking join fired, and
keeps the candidates nothing blocked. Tests without a durable-rules translation in the
condition table (diagnosis prefixes, patient age, claim fields, code prefixes, other line
fields, modifier counts) are computed by the same functions the built-in evaluator uses
and carried on the facts as 0/1 fields, so the Rete network does the matching and
joining, not the arithmetic.
"""

from __future__ import annotations

import itertools
import os
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from ..models import Claim, Edit, Line
from ..plugin_manager import PluginError
from .checks import claim_test, line_test
from .conditions import KINDS, NODES
from .rule import Rule
from .tree import All, LineQuantifier, Other, Test, tests_in
from .values import int_date

_LOCK = threading.Lock()  # every call into durable-rules, and the registry below
_NAMES = itertools.count(1)

#: how many distinct rulesets one process may build (durable-rules cannot delete one)
DEFAULT_MAX_RULESETS = 256
MAX_RULESETS_ENV = "PAYER_RULES_DURABLE_MAX_RULESETS"


class RulesetLimit(ValueError):
    """Building one more ruleset would pass :func:`max_rulesets` (a policy problem for the
    engine: a reload that hits it fails and the policies in force stay)."""


def require_durable() -> None:
    """Raise PluginError with a clear message when durable-rules cannot be imported."""
    try:
        import durable.lang  # noqa: F401
    except Exception as exc:  # ImportError, or the C extension failing on Python 3.13+
        raise PluginError(
            "rules_evaluator 'durable' needs durable-rules: pip install 'payer-rules[rete]' "
            f"(it builds on Python 3.11-3.12 only); it could not be imported ({exc.__class__.__name__}). "
            "The built-in evaluator needs nothing extra."
        ) from None


def max_rulesets() -> int:
    """The most distinct rulesets this process may build: ``PAYER_RULES_DURABLE_MAX_RULESETS``
    when set (a whole number of at least 1), else :data:`DEFAULT_MAX_RULESETS`."""
    text = os.environ.get(MAX_RULESETS_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_RULESETS
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise RulesetLimit(f"{MAX_RULESETS_ENV} must be a whole number of at least 1")
    return int(text)


@dataclass
class _Ruleset:
    """One durable-rules ruleset and what its facts carry. Shared by every evaluator whose
    rules compile to the same conditions; used only under the lock."""

    name: str
    #: a Test (without negation) computed in Python -> the 0/1 fact field that carries it
    flags: dict[Test, str]
    #: extra line-fact fields the translations read (one per modifier a rule names)
    line_fields: dict[str, Callable[[Line], Any]]
    hits: list[tuple] = field(default_factory=list)
    sids: Any = field(default_factory=lambda: itertools.count(1))


#: the rulesets built in this process, by the conditions they match (see conditions_key)
_RULESETS: dict[tuple, _Ruleset] = {}


def conditions_key(rules: list[Rule]) -> tuple:
    """What a ruleset is built from: per rule its scope, window and condition trees (the
    trees are frozen and compare by value). Messages, denials and fixes are not in it:
    edits are made from each evaluator's own rules."""
    return tuple((r.scope, r.effective_from, r.effective_to, r.when, r.other) for r in rules)


def ruleset_count() -> int:
    """How many rulesets this process has built (each stays until the process ends)."""
    with _LOCK:
        return len(_RULESETS)


def _positive(t: Test) -> Test:
    return Test(t.kind, t.on, t.args, False)


def _all_tests(rules: list[Rule]) -> list[Test]:
    return [t for r in rules for node in (r.when, r.other) if node for t in tests_in(node)]


class DurableEvaluator:
    """Runs compiled rules on durable-rules; see the module docstring for the guards."""

    name = "durable"

    def __init__(self, rules: list[Rule], name: str):
        require_durable()
        from durable import lang
        self.lang = lang
        self.rules = rules
        key = conditions_key(rules)
        with _LOCK:
            rs = _RULESETS.get(key)
            if rs is None:
                limit = max_rulesets()
                if len(_RULESETS) >= limit:
                    raise RulesetLimit(
                        f"rules_evaluator 'durable': this process has built {len(_RULESETS)} rulesets, "
                        f"the most allowed ({MAX_RULESETS_ENV}, default {DEFAULT_MAX_RULESETS}). durable-rules "
                        "cannot delete a ruleset, so every load of rules not seen before adds one: restart "
                        "the process, raise the limit, or use the built-in evaluator")
                self._rs = self._new_ruleset(name)
                self._build()
                _RULESETS[key] = self._rs
            else:
                self._rs = rs
        self.ruleset = self._rs.name

    def _new_ruleset(self, name: str) -> _Ruleset:
        flags: dict[Test, str] = {}
        line_fields: dict[str, Callable[[Line], Any]] = {}
        for t in _all_tests(self.rules):
            kind = KINDS[t.kind]
            if kind.durable is None:
                flags.setdefault(_positive(t), f"f{len(flags)}")
            elif kind.durable_fields is not None:
                line_fields.update(kind.durable_fields(t.args))
        return _Ruleset(re.sub(r"[^A-Za-z0-9_]", "_", f"payer_rules_{name}_{next(_NAMES)}"), flags, line_fields)

    # -- translating the compiled tree into durable expressions ---------------------------
    def _expr(self, node: Any, negate: bool = False) -> Any:
        m = self.lang.m
        if isinstance(node, Test):
            neg = negate != node.negate
            flag = self._rs.flags.get(_positive(node))
            if flag is not None:
                return getattr(m, flag) == (0 if neg else 1)
            return KINDS[node.kind].durable(m, node.args, neg)
        kind = NODES.get(type(node))
        if kind is None or kind.durable is None:
            raise ValueError(f"{type(node).__name__} cannot be translated here")
        return kind.durable(m, node, negate, self._expr)

    def _window(self, rule: Rule) -> Any:
        m = self.lang.m
        out = m.t == "line"
        if rule.effective_from:
            out = out & (m.dos_i >= int_date(rule.effective_from))
        if rule.effective_to:
            out = out & (m.dos_i <= int_date(rule.effective_to))
        return out

    def _build(self) -> None:
        lang, rs = self.lang, self._rs
        m, c = lang.m, lang.c
        hits = rs.hits

        def record(*key, lines=lambda ctx: ()):
            def action(ctx):
                hits.append(key + lines(ctx))
            return action

        this_line = lambda ctx: (ctx.m.line,)  # noqa: E731
        pair_lines = lambda ctx: (ctx.a.line, ctx.b.line)  # noqa: E731
        quant_line = lambda ctx: (ctx.x.line,)  # noqa: E731

        with lang.ruleset(rs.name):
            for idx, rule in enumerate(self.rules):
                if rule.scope == "claim":
                    claim_part = All(tuple(x for x in rule.when.items if not isinstance(x, LineQuantifier)))
                    base = (m.t == "claim") & self._expr(claim_part) if claim_part.items else (m.t == "claim")
                    lang.when_all(base)(record(idx, "claim"))
                    for qi, q in enumerate(x for x in rule.when.items if isinstance(x, LineQuantifier)):
                        line_expr = self._window(rule) & self._expr(q.where)
                        lang.when_all(c.k << base, c.x << line_expr)(record(idx, "q", qi, lines=quant_line))
                    continue
                this = self._window(rule) & self._expr(rule.when)
                lang.when_all(this)(record(idx, "line", lines=this_line))
                if rule.other is not None:
                    o: Other = rule.other
                    # a fresh expression: durable's << names the expression object it is given
                    a_expr = self._window(rule) & self._expr(rule.when)
                    # join constraints first: durable-rules drops a join constraint that follows
                    # an OR in the same pattern (defect 11)
                    b_expr = (m.t == "line") & (m.line != c.a.line)
                    if o.same_date:
                        b_expr = b_expr & (m.dos == c.a.dos)
                    if o.same_region or o.different_region:
                        a_expr = a_expr & (m.has_region == 1)
                        b_expr = b_expr & ((m.region == c.a.region) if o.same_region else (m.region != c.a.region))
                        b_expr = b_expr & (m.has_region == 1)
                    b_expr = b_expr & self._expr(o.where)
                    lang.when_all(c.a << a_expr, c.b << b_expr)(record(idx, "other", lines=pair_lines))
            lang.when_all(m.t == "sentinel")(record(-1, "sentinel"))
            lang.when_all(+m.t)(lambda ctx: None)  # every fact is handled (defect 5)

    # -- facts --------------------------------------------------------------------------
    def _facts(self, claim: Claim, sid: str) -> list[dict]:
        flags = self._rs.flags
        first_dos = min(ln.date_of_service for ln in claim.lines)
        facts: list[dict] = [{"sid": sid, "t": "sentinel", "id": "sentinel"}]
        claim_fact = {"sid": sid, "t": "claim", "id": "claim"}
        for t, name in flags.items():
            if t.on == "claim":
                claim_fact[name] = int(claim_test(t, claim, first_dos))
        facts.append(claim_fact)
        for ln in claim.lines:
            minutes = ln.timed_minutes
            f = {"sid": sid, "t": "line", "id": f"line{ln.line}", "line": ln.line, "code": ln.code,
                 "dos": ln.date_of_service, "dos_i": int_date(ln.date_of_service),
                 "minutes": minutes if minutes is not None else -1, "has_minutes": int(minutes is not None),
                 "units": ln.units if ln.units is not None else -1, "has_units": int(ln.units is not None),
                 "region": (ln.body_region or "").strip().lower(), "has_region": int(bool(ln.body_region))}
            for name, value in self._rs.line_fields.items():
                f[name] = value(ln)
            for t, name in flags.items():
                f[name] = int(claim_test(t, claim, ln.date_of_service) if t.on == "claim" else line_test(t, ln))
            facts.append(f)
        return facts

    def evaluate(self, claim: Claim) -> list[Edit]:
        lang, rs = self.lang, self._rs
        with _LOCK:
            sid = f"s{next(rs.sids)}"
            rs.hits.clear()
            try:
                state = lang.assert_facts(rs.name, self._facts(claim, sid))
            finally:
                lang.delete_state(rs.name, sid)
            hits = list(rs.hits)
            rs.hits.clear()
        if isinstance(state, dict) and state.get("exception"):
            # durable-rules catches exceptions in actions and only records them in the state
            raise RuntimeError("a durable-rules action failed")
        return self._edits(claim, hits)

    # -- from matches to edits (the same order and choices as the built-in evaluator) -------
    def _edits(self, claim: Claim, hits: list[tuple]) -> list[Edit]:
        by_line = {ln.line: ln for ln in claim.lines}
        single: dict[int, set[int]] = {}
        pairs: dict[int, dict[int, set[int]]] = {}
        claims: set[int] = set()
        quant: dict[tuple[int, int], set[int]] = {}
        for h in hits:
            idx, kind = h[0], h[1]
            if kind == "line":
                single.setdefault(idx, set()).add(h[2])
            elif kind == "other":
                pairs.setdefault(idx, {}).setdefault(h[2], set()).add(h[3])
            elif kind == "claim":
                claims.add(idx)
            elif kind == "q":
                quant.setdefault((idx, h[2]), set()).add(h[3])
        edits: list[Edit] = []
        for idx, rule in enumerate(self.rules):
            if rule.scope == "claim":
                if idx not in claims or not any(rule.in_window(ln.date_of_service) for ln in claim.lines):
                    continue
                quants = [x for x in rule.when.items if isinstance(x, LineQuantifier)]
                matched: set[int] = set()
                ok = True
                for qi, q in enumerate(quants):
                    found = quant.get((idx, qi), set())
                    if q.exists != bool(found):
                        ok = False
                        break
                    if q.exists:
                        matched |= found
                if ok:
                    lines = matched or {ln.line for ln in claim.lines if rule.in_window(ln.date_of_service)}
                    edits.append(rule.make_edit(None, tuple(sorted(lines)), None))
                continue
            for ln in claim.lines:
                if ln.line not in single.get(idx, ()):
                    continue
                other = None
                if rule.other is not None:
                    others = pairs.get(idx, {}).get(ln.line, set())
                    if rule.other.exists:
                        if not others:
                            continue
                        other = by_line[min(others)]
                    elif others:
                        continue
                lines = (ln.line,) if other is None else (ln.line, other.line)
                edits.append(rule.make_edit(ln, lines, other))
        return edits
