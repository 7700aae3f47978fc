"""Declarative payer rules: the language (compiled once when a policy loads) and the
built-in evaluator.

A rule in a policy's ``rules:`` list says *when* (conditions on a line, its claim and the
other lines of the claim) and *what* (the edit: category, severity, message, denial
codes, fix). Rules are data: the schema validates them, and compiling turns each
condition into a small tree of tests (:class:`Test`, :class:`Other`, :class:`All`,
:class:`AnyOf`, :class:`Not`). No text from a policy is ever executed; message templates
may only name the fields listed in :data:`TEMPLATE_FIELDS`.

Two evaluators run these trees with one behaviour: :class:`BuiltinEvaluator` here (pure
Python, indexed by code so a claim meets only the rules that can apply to its codes,
shared freely between threads) and the durable-rules adapter in ``rules_durable``.
:func:`claim_test` and :func:`line_test` are shared by both, so the tests that are not
simple comparisons (diagnosis prefixes, patient age, claim fields) are computed by the
same code whichever evaluator joins the facts.

Semantics, for both evaluators:
- scope ``line`` (default): the rule is tried on every line whose date of service lies in
  the rule's window; an edit lands on that line, and on the other line when the rule
  joins one (``other_line``), the lowest-numbered matching other line;
- scope ``claim``: tried once when some line lies in the window; ``any_line`` and
  ``no_line`` (only at the top of ``when``) look at those lines only; the edit lands on the
  lines ``any_line`` matched, else on every line in the window; claim tests such as
  ``patient_age`` use the claim's earliest date of service;
- ``other_line`` may appear once per rule, at the top of ``when`` (not inside ``any`` or
  ``not``); ``same_date`` defaults to true; ``exists: false`` means no other line matches.
"""

from __future__ import annotations

from collections.abc import Mapping

import string
from functools import lru_cache
from operator import attrgetter
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Callable, Iterable

from .models import Claim, Edit, Line
from .yaml_source import code_text, plain

SOURCE = "policy_rules"
TEMPLATE_FIELDS = frozenset({"line", "code", "other_line", "other_code", "rule"})
NUM_OPS = {"lt": "<", "lte": "<=", "gt": ">", "gte": ">=", "eq": "==", "ne": "!="}
LINE_NUMERIC = ("minutes", "units")


# -- the compiled tree ---------------------------------------------------------------------

@dataclass(frozen=True)
class Test:
    """One test on a line (``on='line'``) or on its claim (``on='claim'``).

    kind: code_in, code_prefix, mods_any, mods_all, mods_none, mods_count, num, num_missing,
    dos_from, dos_to, region_missing, region_in, field_missing, field_in, dx_prefix,
    claim_value_in, claim_value_missing, age, age_missing.
    """

    kind: str
    on: str
    args: tuple
    negate: bool = False


@dataclass(frozen=True)
class All:
    items: tuple


@dataclass(frozen=True)
class AnyOf:
    items: tuple


@dataclass(frozen=True)
class Not:
    item: Any


@dataclass(frozen=True)
class Other:
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


@dataclass
class Rule:
    id: str
    description: str
    citation: str | None
    scope: str
    effective_from: str | None
    effective_to: str | None
    when: All
    other: Other | None
    category: str
    severity: str
    message: str
    group: str | None
    carc: str | None
    rarc: str | None
    fix: dict | None
    #: codes that must be on a line for the rule to apply; None: any code
    index_codes: frozenset[str] | None
    position: int = 0
    path: str = ""
    line: int | None = None
    claim_tests: tuple = field(default_factory=tuple)  # every claim-level Test in the rule
    #: ``when`` and ``other_line.where`` as compiled functions (set by compile_rules)
    check: Any = field(default=None, repr=False, compare=False)
    other_check: Any = field(default=None, repr=False, compare=False)
    #: ``check`` without the top-level code tests, for lines already found in ``index_codes``
    #: (every such test holds for them: the index is the intersection of their codes)
    indexed_check: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.windowed = self.effective_from is not None or self.effective_to is not None
        #: whether a claim test reads the date of service (the patient's age on that date)
        self.reads_date = any(t.kind in ("age", "age_missing") for t in self.claim_tests)
        self.templated = "{" in self.message
        #: claim scope: the ``where`` of each top-level any_line, compiled (where edits land)
        self.quantifiers = tuple(compile_check(q.where) for q in self.when.items
                                 if isinstance(q, LineQuantifier) and q.exists)

    def in_window(self, dos: str) -> bool:
        return (self.effective_from is None or self.effective_from <= dos) and \
            (self.effective_to is None or dos <= self.effective_to)

    def make_edit(self, line: Line | None, lines: tuple[int, ...], other: Line | None) -> Edit:
        message = self.message
        if self.templated:
            message = message.format_map({
                "line": line.line if line else "", "code": line.code if line else "",
                "other_line": other.line if other else "", "other_code": other.code if other else "",
                "rule": self.id})
        fix = dict(self.fix, line=line.line) if self.fix and line is not None else None
        return Edit(self.id, self.category, self.severity, lines, message, source=SOURCE,
                    group=self.group, carc=self.carc, rarc=self.rarc, fix=fix)


# -- compiling ---------------------------------------------------------------------------------

class RuleProblem(ValueError):
    """A rule the schema accepts but that cannot be compiled; ``position`` in ``rules``."""

    def __init__(self, position: int, message: str):
        self.position = position
        super().__init__(message)


def _codes(values: Iterable[Any]) -> frozenset[str]:
    return frozenset(code_text(v).upper() for v in values)


def _num_tests(name: str, cond: dict, on: str = "line") -> list[Test]:
    out = []
    for op, value in cond.items():
        if op == "missing":
            out.append(Test("num_missing" if on == "line" else "age_missing", on, (name,), negate=not value))
        else:
            out.append(Test("num" if on == "line" else "age", on, (name, op, float(value))))
    return out


def _field_tests(name: str, cond: dict, kind_missing: str, kind_in: str, on: str) -> list[Test]:
    out = []
    for op, value in cond.items():
        if op == "missing":
            out.append(Test(kind_missing, on, (name,), negate=not value))
        elif op == "in":
            out.append(Test(kind_in, on, (name, frozenset(str(v).lower() for v in value))))
        elif op == "not_in":
            out.append(Test(kind_in, on, (name, frozenset(str(v).lower() for v in value)), negate=True))
    return out


class _Compiler:
    def __init__(self, code_sets: dict[str, frozenset[str]], rule_id: str, position: int):
        self.code_sets = code_sets
        self.rule_id = rule_id
        self.position = position

    def fail(self, message: str) -> None:
        raise RuleProblem(self.position, f"rule '{self.rule_id}': {message}")

    def code_set(self, name: str) -> frozenset[str]:
        if name not in self.code_sets:
            from .policy import suggest
            self.fail(f"unknown code set '{name}'{suggest(name, self.code_sets)} "
                      f"(known: {', '.join(sorted(self.code_sets))})")
        return self.code_sets[name]

    def line_tests(self, cond: dict) -> list[Any]:
        out: list[Any] = []
        for key, value in cond.items():
            if key == "code":
                for op, arg in value.items():
                    if op == "in":
                        out.append(Test("code_in", "line", (_codes(arg),)))
                    elif op == "not_in":
                        out.append(Test("code_in", "line", (_codes(arg),), negate=True))
                    elif op == "prefix":
                        out.append(Test("code_prefix", "line", (tuple(str(p).upper() for p in arg),)))
                    elif op == "in_set":
                        out.append(Test("code_in", "line", (self.code_set(arg),)))
                    elif op == "not_in_set":
                        out.append(Test("code_in", "line", (self.code_set(arg),), negate=True))
            elif key == "modifiers":
                for op, arg in value.items():
                    if op == "count_of":
                        mods = frozenset(arg["modifiers"])
                        for cmp, n in arg.items():
                            if cmp != "modifiers":
                                out.append(Test("mods_count", "line", (mods, cmp, n)))
                    else:
                        out.append(Test({"any_of": "mods_any", "all_of": "mods_all", "none_of": "mods_none"}[op],
                                        "line", (frozenset(arg),)))
            elif key in LINE_NUMERIC:
                out.extend(_num_tests(key, value))
            elif key == "date_of_service":
                if "from" in value:
                    out.append(Test("dos_from", "line", (value["from"],)))
                if "to" in value:
                    out.append(Test("dos_to", "line", (value["to"],)))
            elif key == "body_region":
                out.extend(_field_tests("body_region", value, "region_missing", "region_in", "line"))
            elif key == "field":
                for name, cond2 in value.items():
                    out.extend(_field_tests(name, cond2, "field_missing", "field_in", "line"))
            elif key == "any":
                out.append(AnyOf(tuple(All(tuple(self.line_tests(c))) for c in value)))
            elif key == "not":
                out.append(Not(All(tuple(self.line_tests(value)))))
            else:
                out.extend(self.claim_tests({key: value}, top=False))
        return out

    def claim_tests(self, cond: dict, top: bool = True) -> list[Any]:
        out: list[Any] = []
        for key, value in cond.items():
            if key == "diagnosis":
                if "any_prefix" in value:
                    out.append(Test("dx_prefix", "claim", (tuple(p.upper() for p in value["any_prefix"]),)))
                if "none_prefix" in value:
                    out.append(Test("dx_prefix", "claim", (tuple(p.upper() for p in value["none_prefix"]),),
                                    negate=True))
            elif key == "place_of_service":
                out.extend(_field_tests("place_of_service", value, "claim_value_missing", "claim_value_in", "claim"))
            elif key == "provider_type":
                out.extend(_field_tests("provider.type", value, "claim_value_missing", "claim_value_in", "claim"))
            elif key == "patient_age":
                out.extend(_num_tests("patient_age", value, on="claim"))
            elif key == "claim_field":
                for path, cond2 in value.items():
                    out.extend(_field_tests(path, cond2, "claim_value_missing", "claim_value_in", "claim"))
            elif key == "any":
                out.append(AnyOf(tuple(All(tuple(self.claim_tests(c, top=False))) for c in value)))
            elif key == "not":
                out.append(Not(All(tuple(self.claim_tests(value, top=False)))))
            elif key in ("any_line", "no_line"):
                if not top:
                    self.fail(f"{key} may only stand at the top of 'when' (not inside any or not)")
                out.append(LineQuantifier(key == "any_line", All(tuple(self.line_tests(value)))))
            else:
                self.fail(f"'{key}' is not a condition here")
        return out

    def rule_when(self, cond: dict, top: bool) -> tuple[All, Other | None]:
        other = None
        items: list[Any] = []
        for key, value in cond.items():
            if key == "other_line":
                if not top:
                    self.fail("other_line may only stand at the top of 'when' (not inside any or not)")
                where = All(tuple(self.line_tests(value.get("where", {})))) if value.get("where") else All(())
                other = Other(exists=value.get("exists", True), same_date=value.get("same_date", True),
                              same_region=value.get("same_body_region", False),
                              different_region=value.get("different_body_region", False), where=where)
            elif key == "any":
                branches = []
                for c in value:
                    sub, _ = self.rule_when(c, top=False)
                    branches.append(sub)
                items.append(AnyOf(tuple(branches)))
            elif key == "not":
                sub, _ = self.rule_when(value, top=False)
                items.append(Not(sub))
            else:
                items.extend(self.line_tests({key: value}))
        return All(tuple(items)), other


def _is_code_test(t: Any) -> bool:
    """A top-level test that a line's code is in a set: what the code index is made of."""
    return isinstance(t, Test) and t.kind == "code_in" and not t.negate


def _index_codes(tree: All) -> frozenset[str] | None:
    """Codes a line must have for the tree to hold (from top-level code tests), or None."""
    found: frozenset[str] | None = None
    for t in tree.items:
        if _is_code_test(t):
            found = t.args[0] if found is None else found & t.args[0]
    return found


def _collect_claim_tests(node: Any, out: list[Test]) -> None:
    if isinstance(node, Test):
        if node.on == "claim":
            out.append(node)
    elif isinstance(node, (All, AnyOf)):
        for x in node.items:
            _collect_claim_tests(x, out)
    elif isinstance(node, Not):
        _collect_claim_tests(node.item, out)
    elif isinstance(node, (Other, LineQuantifier)):
        _collect_claim_tests(node.where, out)


def check_template(message: str) -> str | None:
    """Why a message template is not allowed, or None."""
    try:
        parts = list(string.Formatter().parse(message))
    except ValueError as exc:
        return f"message template: {exc}"
    for _, name, spec, conv in parts:
        if name is None:
            continue
        if name not in TEMPLATE_FIELDS or spec or conv:
            return (f"message template: '{{{name}}}' is not allowed; use only "
                    + ", ".join("{" + f + "}" for f in sorted(TEMPLATE_FIELDS)))
    return None


def compile_rules(raw_rules: list[dict], code_sets: dict[str, frozenset[str]], path: str = "") -> list[Rule]:
    """Compile a policy's rules; raise RuleProblem naming the rule for problems the schema
    cannot see (a duplicate id, an unknown code set, a misplaced other_line, a bad
    message template)."""
    out = []
    seen: set[str] = set()
    for position, raw in enumerate(raw_rules):
        raw = plain(raw)
        rid = raw["id"]
        if rid in seen:
            raise RuleProblem(position, f"rule id '{rid}' is used twice")
        seen.add(rid)
        comp = _Compiler(code_sets, rid, position)
        scope = raw.get("scope", "line")
        if scope == "claim":
            when = All(tuple(comp.claim_tests(raw["when"])))
            other = None
        else:
            when, other = comp.rule_when(raw["when"], top=True)
        problem = check_template(raw["edit"]["message"])
        if problem:
            comp.fail(problem)
        e = raw["edit"]
        claim_tests: list[Test] = []
        _collect_claim_tests(when, claim_tests)
        if other:
            _collect_claim_tests(other, claim_tests)
        if scope == "claim":
            index = None
            for t in when.items:
                if isinstance(t, LineQuantifier) and t.exists:
                    codes = _index_codes(t.where)
                    if codes is not None:
                        index = codes if index is None else index & codes
        else:
            index = _index_codes(when)
        out.append(Rule(
            id=rid, description=raw["description"], citation=raw.get("citation"), scope=scope,
            effective_from=raw.get("effective_from"), effective_to=raw.get("effective_to"),
            when=when, other=other, category=e["category"], severity=e["severity"], message=e["message"],
            group=e.get("group"), carc=None if e.get("carc") is None else str(e["carc"]), rarc=e.get("rarc"),
            fix=e.get("fix"), index_codes=index, position=position, path=path,
            claim_tests=tuple(dict.fromkeys(claim_tests)),
            check=compile_check(when), other_check=compile_check(other.where) if other else None,
            indexed_check=compile_check(All(tuple(t for t in when.items if not _is_code_test(t)))),
        ))
    return out


# -- values both evaluators read ---------------------------------------------------------------

def _empty(value: Any) -> bool:
    """Absent, null, or an empty text, list or mapping (0 and false are values)."""
    return value is None or (isinstance(value, (str, list, tuple, Mapping)) and len(value) == 0)


def claim_value(claim: Claim, path: str) -> Any:
    """A claim field by dotted path: top-level fields, patient.*, provider.*, or any other."""
    return claim_getter(path)(claim)


@lru_cache(maxsize=4096)
def claim_getter(path: str) -> Callable[[Claim], Any]:
    """:func:`claim_value` for one path, with the path taken apart once."""
    head, _, rest = path.partition(".")
    parts = tuple(rest.split(".")) if rest else ()

    def get(claim: Claim) -> Any:
        if head == "patient":
            value: Any = claim.patient
        elif head == "provider":
            value = claim.provider
        elif head == "diagnoses":
            value = list(claim.diagnoses)
        else:
            value = claim.extra.get(head)
        for part in parts:
            value = value.get(part) if isinstance(value, Mapping) else None
        return value
    return get


def patient_age(claim: Claim, dos: str) -> int | None:
    """Whole years between patient.birth_date and ``dos``, or None when unknown."""
    birth = (claim.patient or {}).get("birth_date")
    if not isinstance(birth, str) or len(birth) != 10:
        return None
    try:
        b = date.fromisoformat(birth)
        d = date.fromisoformat(dos)
    except ValueError:
        return None
    return d.year - b.year - ((d.month, d.day) < (b.month, b.day))


LINE_ATTRIBUTES = frozenset({"start_time", "end_time", "body_region", "diagnosis_pointers"})


def line_value(line: Line, name: str) -> Any:
    if name in LINE_ATTRIBUTES:
        return getattr(line, name)
    return line.extra.get(name)


Check = Callable[[Any, Claim, str, Any], bool]  # (line or None, claim, date of service, window)


def _ops(op: str, value: float) -> Callable[[float], bool]:
    return {"lt": lambda v: v < value, "lte": lambda v: v <= value, "gt": lambda v: v > value,
            "gte": lambda v: v >= value, "eq": lambda v: v == value, "ne": lambda v: v != value}[op]


def _line_check(t: Test) -> Check:
    """What a line test means (before ``negate``), as a function with its arguments bound."""
    k, a = t.kind, t.args
    if k == "code_in":
        codes = a[0]
        return lambda ln, c, d, w: ln.code in codes
    if k == "code_prefix":
        prefixes = a[0]
        return lambda ln, c, d, w: ln.code.startswith(prefixes)
    if k == "mods_any":
        mods = a[0]
        return lambda ln, c, d, w: not mods.isdisjoint(ln.modifiers)
    if k == "mods_all":
        mods = a[0]
        return lambda ln, c, d, w: mods.issubset(ln.modifiers)
    if k == "mods_none":
        mods = a[0]
        return lambda ln, c, d, w: mods.isdisjoint(ln.modifiers)
    if k == "mods_count":
        mods, cmp = a[0], _ops(a[1], a[2])
        return lambda ln, c, d, w: cmp(len(mods.intersection(ln.modifiers)))
    if k == "num":
        name, cmp = a[0], _ops(a[1], a[2])
        return lambda ln, c, d, w: (v := _num(ln, name)) is not None and cmp(v)
    if k == "num_missing":
        name = a[0]
        if name == "units":
            return lambda ln, c, d, w: ln.units is None
        return lambda ln, c, d, w: ln.minutes is None and ln.minutes_from_times is None
    if k == "dos_from":
        start = a[0]
        return lambda ln, c, d, w: ln.date_of_service >= start
    if k == "dos_to":
        end = a[0]
        return lambda ln, c, d, w: ln.date_of_service <= end
    if k == "region_missing":
        return lambda ln, c, d, w: not ln.body_region
    if k == "region_in":
        regions = a[1]
        return lambda ln, c, d, w: ln.body_region is not None and ln.body_region.strip().lower() in regions
    if k == "field_missing":
        name = a[0]
        if name in LINE_ATTRIBUTES:  # None, text or a tuple: empty is exactly falsy
            attr = attrgetter(name)
            return lambda ln, c, d, w: not attr(ln)
        return lambda ln, c, d, w: _empty(ln.extra.get(name))
    if k == "field_in":
        name, values = a
        def field_in(ln, c, d, w):
            v = line_value(ln, name)
            return v is not None and not isinstance(v, (list, tuple, Mapping)) and str(v).lower() in values
        return field_in
    raise ValueError(k)  # pragma: no cover - compile never builds another kind


def _claim_check(t: Test) -> Check:
    """What a claim test means (before ``negate``), as a function with its arguments bound."""
    k, a = t.kind, t.args
    if k == "dx_prefix":
        prefixes = a[0]
        def dx_prefix(ln, c, d, w):
            for x in c.diagnoses:
                if x.startswith(prefixes):
                    return True
            return False
        return dx_prefix
    if k == "claim_value_missing":
        get = claim_getter(a[0])
        return lambda ln, c, d, w: _empty(get(c))
    if k == "claim_value_in":
        get, values = claim_getter(a[0]), a[1]
        def value_in(ln, c, d, w):
            v = get(c)
            return v is not None and str(v).lower() in values
        return value_in
    if k == "age":
        cmp = _ops(a[1], a[2])
        return lambda ln, c, d, w: (age := patient_age(c, d)) is not None and cmp(age)
    if k == "age_missing":
        return lambda ln, c, d, w: patient_age(c, d) is None
    raise ValueError(k)  # pragma: no cover


@lru_cache(maxsize=4096)
def test_check(t: Test) -> Check:
    """A test as a function, negation applied: the one definition both evaluators use."""
    fn = _line_check(t) if t.on == "line" else _claim_check(t)
    if t.negate:
        return lambda ln, c, d, w: not fn(ln, c, d, w)
    return fn


def claim_test(t: Test, claim: Claim, dos: str) -> bool:
    """A claim-level test, negation applied."""
    return test_check(t)(None, claim, dos, ())


def line_test(t: Test, ln: Line) -> bool:
    """A line test, negation applied."""
    return test_check(t)(ln, None, ln.date_of_service, ())


def _num(ln: Line, field_name: str) -> int | None:
    if field_name == "units":
        return ln.units
    return ln.minutes if ln.minutes is not None else ln.minutes_from_times


def same_region(a: Line, b: Line) -> bool:
    return bool(a.body_region) and bool(b.body_region) and \
        a.body_region.strip().lower() == b.body_region.strip().lower()


def different_region(a: Line, b: Line) -> bool:
    return bool(a.body_region) and bool(b.body_region) and not same_region(a, b)


# -- the built-in evaluator ----------------------------------------------------------------------

def compile_check(node: Any) -> Check:
    """A condition tree as one Python function, built once when the policy loads."""
    if type(node) is Test:
        return test_check(node)
    if type(node) is All:
        parts = tuple(compile_check(x) for x in node.items)
        if not parts:
            return lambda ln, c, d, w: True
        if len(parts) == 1:
            return parts[0]
        if len(parts) == 2:
            p0, p1 = parts
            return lambda ln, c, d, w: p0(ln, c, d, w) and p1(ln, c, d, w)

        def all_of(ln, c, d, w):
            for p in parts:
                if not p(ln, c, d, w):
                    return False
            return True
        return all_of
    if type(node) is AnyOf:
        branches = tuple(compile_check(x) for x in node.items)
        return lambda ln, c, d, w: any(b(ln, c, d, w) for b in branches)
    if type(node) is Not:
        inner = compile_check(node.item)
        return lambda ln, c, d, w: not inner(ln, c, d, w)
    if type(node) is LineQuantifier:
        where = compile_check(node.where)
        exists = node.exists
        return lambda ln, c, d, w: any(where(x, c, x.date_of_service, w) for x in w) == exists
    raise ValueError(type(node).__name__)  # pragma: no cover


def _holds(node: Any, ln: Line | None, claim: Claim, dos: str, window: list[Line]) -> bool:
    """Evaluate a condition tree once (explanations; the evaluator keeps compiled checks)."""
    return compile_check(node)(ln, claim, dos, window)


def _other_matches(rule: Rule, ln: Line, claim: Claim) -> list[Line]:
    o = rule.other
    assert o is not None
    where = rule.other_check
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
        if where(x, claim, x.date_of_service, ()):
            out.append(x)
    return out


class BuiltinEvaluator:
    """Evaluates compiled rules in pure Python. Immutable after construction (but for a
    bounded memo); thread-safe.

    Rules whose conditions require certain codes are indexed by those codes, so a claim
    is only tried against the rules that can apply to its codes (``candidates``). Each
    rule's conditions were compiled into one function when the policy loaded.
    """

    name = "builtin"

    def __init__(self, rules: list[Rule]):
        self.rules = rules
        # Rule i is bit i. A claim's candidates are the bits of its codes OR'ed with the
        # unindexed rules: one integer per claim, and claims share few distinct ones.
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
        code_bits = self.code_bits
        bits = self.unindexed_bits
        for ln in claim.lines:
            b = code_bits.get(ln.code)
            if b is not None:
                bits |= b
        hit = self._by_bits.get(bits)
        if hit is None:
            hit = []
            rest = bits
            while rest:
                low = rest & -rest
                hit.append(self.rules[low.bit_length() - 1])
                rest ^= low
            if len(self._by_bits) < 10_000:
                self._by_bits[bits] = hit  # the same list whoever stores it: safe across threads
        return hit

    def evaluate(self, claim: Claim) -> list[Edit]:
        edits: list[Edit] = []
        if not self.rules:
            return edits
        all_lines = claim.lines
        first_dos = None
        for rule in self.candidates(claim):
            if rule.windowed:
                window = [ln for ln in all_lines if rule.in_window(ln.date_of_service)]
                if not window:
                    continue
            else:
                window = all_lines
            check = rule.check
            if rule.scope == "claim":
                dos = ""
                if rule.reads_date:  # the claim's first date: only age tests read it
                    if first_dos is None:
                        first_dos = min([ln.date_of_service for ln in all_lines])
                    dos = first_dos
                if check(None, claim, dos, window):
                    edits.append(rule.make_edit(None, _claim_lines(rule, claim, window), None))
                continue
            index = rule.index_codes
            if index is not None:
                check = rule.indexed_check
            for ln in window:
                if index is not None and ln.code not in index:
                    continue
                if not check(ln, claim, ln.date_of_service, window):
                    continue
                other = None
                if rule.other is not None:
                    others = _other_matches(rule, ln, claim)
                    if rule.other.exists:
                        if not others:
                            continue
                        other = min(others, key=lambda x: x.line)
                    elif others:
                        continue
                lines = (ln.line,) if other is None else (ln.line, other.line)
                edits.append(rule.make_edit(ln, lines, other))
        return edits


def _claim_lines(rule: Rule, claim: Claim, window: Any) -> tuple[int, ...]:
    """Lines a claim-scope edit lands on: those the any_line tests matched, else the window."""
    matched: set[int] = set()
    for q in rule.quantifiers:
        matched |= {x.line for x in window if q(x, claim, x.date_of_service, window)}
    return tuple(sorted(matched or {x.line for x in window}))


# -- explaining --------------------------------------------------------------------------------

def describe(node: Any) -> str:
    """A condition in words, for explanations."""
    if isinstance(node, Test):
        k, a = node.kind, node.args
        no = "not " if node.negate else ""
        words = {
            "code_in": lambda: f"code {no}in {', '.join(sorted(a[0])[:6])}{' ...' if len(a[0]) > 6 else ''}",
            "code_prefix": lambda: f"code {no}starting {', '.join(a[0])}",
            "mods_any": lambda: f"{no}one of modifiers {', '.join(sorted(a[0]))}",
            "mods_all": lambda: f"{no}all of modifiers {', '.join(sorted(a[0]))}",
            "mods_none": lambda: f"{no}none of modifiers {', '.join(sorted(a[0]))}",
            "mods_count": lambda: f"{no}count of {', '.join(sorted(a[0]))} {NUM_OPS[a[1]]} {a[2]}",
            "num": lambda: f"{a[0]} {no}{NUM_OPS[a[1]]} {a[2]:g}",
            "num_missing": lambda: f"{a[0]} {'present' if node.negate else 'missing'}",
            "dos_from": lambda: f"date of service {'before' if node.negate else 'on or after'} {a[0]}",
            "dos_to": lambda: f"date of service {'after' if node.negate else 'on or before'} {a[0]}",
            "region_missing": lambda: f"body region {'recorded' if node.negate else 'missing'}",
            "region_in": lambda: f"body region {no}in {', '.join(sorted(a[1]))}",
            "field_missing": lambda: f"{a[0]} {'present' if node.negate else 'missing'}",
            "field_in": lambda: f"{a[0]} {no}in {', '.join(sorted(a[1]))}",
            "dx_prefix": lambda: f"{'no' if node.negate else 'a'} diagnosis starting {', '.join(a[0])}",
            "claim_value_missing": lambda: f"{a[0]} {'present' if node.negate else 'missing'}",
            "claim_value_in": lambda: f"{a[0]} {no}in {', '.join(sorted(a[1]))}",
            "age": lambda: f"patient age {no}{NUM_OPS[a[1]]} {a[2]:g}",
            "age_missing": lambda: f"patient age {'known' if node.negate else 'unknown'}",
        }
        return words[k]()
    if isinstance(node, All):
        return " and ".join(describe(x) for x in node.items) or "always"
    if isinstance(node, AnyOf):
        return "(" + " or ".join(describe(x) for x in node.items) + ")"
    if isinstance(node, Not):
        return f"not ({describe(node.item)})"
    if isinstance(node, LineQuantifier):
        return f"{'some' if node.exists else 'no'} line with {describe(node.where)}"
    if isinstance(node, Other):
        where = [] if not node.where.items else [describe(node.where)]
        where += ["the same date"] * node.same_date + ["the same body region"] * node.same_region
        where += ["a different body region"] * node.different_region
        return f"{'another' if node.exists else 'no other'} line with {' and '.join(where) or 'anything'}"
    return type(node).__name__


def near_misses(evaluator: "BuiltinEvaluator", claim: Claim) -> list[str]:
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
