"""The durable-rules evaluator: the same rules, run by a Rete engine.

durable-rules 2.0.28 has measured defects (../shared/durable-rules-notes.md); this adapter
makes each impossible to hit:

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
8. A ruleset name can be registered only once: each compiled policy gets a fresh name
   (payer, version, a process-wide counter), so a reload builds a new ruleset.
9. No import on Python 3.13+: the import is guarded; choosing this evaluator without it
   gives a clear error, and the built-in evaluator needs nothing from it.
10. Slower than plain Python by an order of magnitude: the built-in evaluator is the
   default; this one exists for comparison and for hosts that want a Rete engine.
11. (Found here by the differential test.) In a joined pattern, a join constraint that
   follows an OR is dropped for one branch of the OR: ``(code == A | code == B) &
   (region == c.a.region)`` matches lines of another region. Join constraints are always
   written first in a pattern, before any test that may contain an OR.

Negation (``other_line: {exists: false}``, ``no_line``) is computed from joins: the
adapter collects the candidate lines and the lines for which a blocking join fired, and
keeps the candidates nothing blocked. Tests that are not plain comparisons (diagnosis
prefixes, patient age, claim fields, code prefixes, other line fields, modifier counts)
are computed by the same functions the built-in evaluator uses and carried on the facts as
0/1 fields, so the Rete network does the matching and joining, not the arithmetic.
"""

from __future__ import annotations

import itertools
import re
import threading
from typing import Any

from .models import Claim, Edit
from .plugin_manager import PluginError
from .rules import All, AnyOf, LineQuantifier, Not, Other, Rule, Test, claim_test, line_test

_LOCK = threading.Lock()
_NAMES = itertools.count(1)
NATIVE = {"code_in", "mods_any", "mods_all", "mods_none", "num", "num_missing", "dos_from", "dos_to",
          "region_missing", "region_in"}


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


def _int_date(text: str) -> int:
    return int(text[0:4]) * 10000 + int(text[5:7]) * 100 + int(text[8:10])


class DurableEvaluator:
    """Runs compiled rules on durable-rules; see the module docstring for the guards."""

    name = "durable"

    def __init__(self, rules: list[Rule], name: str):
        require_durable()
        from durable import lang
        self.lang = lang
        self.rules = rules
        self.ruleset = re.sub(r"[^A-Za-z0-9_]", "_", f"payer_rules_{name}_{next(_NAMES)}")
        self.modifiers = sorted({m for r in rules for t in _tests(r) if t.kind.startswith("mods_") and
                                 t.kind != "mods_count" for m in t.args[0]})
        self.flags: dict[Test, str] = {}
        for r in rules:
            for t in _tests(r):
                if t.on == "claim" or t.kind not in NATIVE:
                    self.flags.setdefault(_positive(t), f"f{len(self.flags)}")
        self._hits: list[tuple] = []
        self._sids = itertools.count(1)
        with _LOCK:
            self._build()

    # -- translating the compiled tree into durable expressions ---------------------------
    def _expr(self, node: Any, negate: bool = False):
        m = self.lang.m
        if isinstance(node, Test):
            return self._test(node, negate != node.negate)
        if isinstance(node, All) or isinstance(node, AnyOf):
            conj = isinstance(node, All) != negate  # De Morgan
            parts = [self._expr(x, negate) for x in node.items]
            if not parts:
                return (m.t == "line") if conj else (m.t == "never")
            out = parts[0]
            for p in parts[1:]:
                out = (out & p) if conj else (out | p)
            return out
        if isinstance(node, Not):
            return self._expr(node.item, not negate)
        raise ValueError(f"{type(node).__name__} cannot be translated here")

    def _test(self, t: Test, negate: bool):
        m = self.lang.m
        pos = _positive(t)
        if pos in self.flags:
            return getattr(m, self.flags[pos]) == (0 if negate else 1)
        k, a = t.kind, t.args
        if k == "code_in":
            return self._set_test(m.code, sorted(a[0]), negate)
        if k == "region_in":
            return self._set_test(m.region, sorted(a[1]), negate)
        if k in ("mods_any", "mods_all", "mods_none"):
            want = 0 if k == "mods_none" else 1
            flags = [getattr(m, f"mod_{x}") for x in sorted(a[0])]
            conj = (k != "mods_any") != negate
            val = want if not negate else 1 - want
            out = flags[0] == val
            for f in flags[1:]:
                out = (out & (f == val)) if conj else (out | (f == val))
            return out
        if k == "num":
            field, op, value = a
            have = getattr(m, f"has_{field}")
            v = getattr(m, field)
            cmp = {"lt": v < value, "lte": v <= value, "gt": v > value, "gte": v >= value,
                   "eq": v == value, "ne": v != value}
            ncmp = {"lt": v >= value, "lte": v > value, "gt": v <= value, "gte": v < value,
                    "eq": v != value, "ne": v == value}
            return ((have == 0) | ncmp[op]) if negate else ((have == 1) & cmp[op])
        if k == "num_missing":
            return getattr(m, f"has_{a[0]}") == (1 if negate else 0)
        if k == "dos_from":
            d = _int_date(a[0])
            return (m.dos_i < d) if negate else (m.dos_i >= d)
        if k == "dos_to":
            d = _int_date(a[0])
            return (m.dos_i > d) if negate else (m.dos_i <= d)
        if k == "region_missing":
            return (m.has_region == 1) if negate else (m.has_region == 0)
        raise ValueError(k)

    def _set_test(self, attr, values: list[str], negate: bool):
        out = (attr != values[0]) if negate else (attr == values[0])
        for v in values[1:]:
            out = (out & (attr != v)) if negate else (out | (attr == v))
        return out

    def _window(self, rule: Rule):
        m = self.lang.m
        out = m.t == "line"
        if rule.effective_from:
            out = out & (m.dos_i >= _int_date(rule.effective_from))
        if rule.effective_to:
            out = out & (m.dos_i <= _int_date(rule.effective_to))
        return out

    def _build(self) -> None:
        lang = self.lang
        m, c = lang.m, lang.c
        hits = self._hits

        def record(*key, lines=lambda ctx: ()):
            def action(ctx):
                hits.append(key + lines(ctx))
            return action

        this_line = lambda ctx: (ctx.m.line,)  # noqa: E731
        pair_lines = lambda ctx: (ctx.a.line, ctx.b.line)  # noqa: E731
        quant_line = lambda ctx: (ctx.x.line,)  # noqa: E731

        with lang.ruleset(self.ruleset):
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
                    # an OR in the same pattern (found by the differential test; see docs/rules.md)
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
        first_dos = min(ln.date_of_service for ln in claim.lines)
        facts: list[dict] = [{"sid": sid, "t": "sentinel", "id": "sentinel"}]
        claim_fact = {"sid": sid, "t": "claim", "id": "claim"}
        for t, name in self.flags.items():
            if t.on == "claim":
                claim_fact[name] = int(claim_test(t, claim, first_dos))
        facts.append(claim_fact)
        for ln in claim.lines:
            minutes = ln.timed_minutes
            f = {"sid": sid, "t": "line", "id": f"line{ln.line}", "line": ln.line, "code": ln.code,
                 "dos": ln.date_of_service, "dos_i": _int_date(ln.date_of_service),
                 "minutes": minutes if minutes is not None else -1, "has_minutes": int(minutes is not None),
                 "units": ln.units if ln.units is not None else -1, "has_units": int(ln.units is not None),
                 "region": (ln.body_region or "").strip().lower(), "has_region": int(bool(ln.body_region))}
            mods = set(ln.modifiers)
            for mod in self.modifiers:
                f[f"mod_{mod}"] = int(mod in mods)
            for t, name in self.flags.items():
                f[name] = int(claim_test(t, claim, ln.date_of_service) if t.on == "claim" else line_test(t, ln))
            facts.append(f)
        return facts

    def evaluate(self, claim: Claim) -> list[Edit]:
        lang = self.lang
        with _LOCK:
            sid = f"s{next(self._sids)}"
            self._hits.clear()
            try:
                state = lang.assert_facts(self.ruleset, self._facts(claim, sid))
            finally:
                lang.delete_state(self.ruleset, sid)
            hits = list(self._hits)
            self._hits.clear()
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


def _positive(t: Test) -> Test:
    return Test(t.kind, t.on, t.args, False)


def _tests(rule: Rule) -> list[Test]:
    out: list[Test] = []

    def walk(node: Any) -> None:
        if isinstance(node, Test):
            out.append(node)
        elif isinstance(node, (All, AnyOf)):
            for x in node.items:
                walk(x)
        elif isinstance(node, Not):
            walk(node.item)
        elif isinstance(node, (Other, LineQuantifier)):
            walk(node.where)

    walk(rule.when)
    if rule.other:
        walk(rule.other)
    return out
