"""The condition table: every kind of condition a rule's ``when`` can hold, in one place.

Each :class:`Condition` entry names the YAML keys it handles and holds everything the
engine needs for them:

- ``compile``: the YAML value -> compiled nodes (:mod:`.tree`);
- for each kind of :class:`~.tree.Test` it compiles to, a :class:`TestKind`: ``check``
  (what it means, as a function both evaluators call), ``describe`` (the words
  explanations use) and ``durable`` (its translation into a durable-rules expression on
  the line fact, or None: then the durable evaluator computes ``check`` in Python and
  carries the result on the fact as a 0/1 field);
- for combinations and joins, a :class:`NodeKind` per node type, with the same three.

Adding a condition is adding one entry to :data:`CONDITIONS` (docs/rules.md has a worked
example); the compiler, both evaluators, explanations and near misses read it from here.
This module never imports durable-rules: a ``durable`` function gets the ``m`` (the
fact being matched) of ``durable.lang`` as its first argument.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping as _Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Mapping, Protocol

from ..models import Line
from ..yaml_source import code_text
from .tree import All, AnyOf, Check, LineQuantifier, Not, Other, Test
from .values import LINE_ATTRIBUTES, claim_getter, empty, int_date, line_number, line_value, patient_age

NUM_OPS = {"lt": "<", "lte": "<=", "gt": ">", "gte": ">=", "eq": "==", "ne": "!="}
COMPARE = {"lt": operator.lt, "lte": operator.le, "gt": operator.gt, "gte": operator.ge,
           "eq": operator.eq, "ne": operator.ne}
#: the comparison that holds exactly when ``op`` does not (for a negated durable-rules test)
OPPOSITE = {"lt": "gte", "lte": "gt", "gt": "lte", "gte": "lt", "eq": "ne", "ne": "eq"}


# -- the shapes of an entry ------------------------------------------------------------------

@dataclass(frozen=True)
class Place:
    """Where in a ``when`` a condition stands, which decides what may stand there."""

    lines: bool  #: line conditions may stand here (a line rule, a ``where``), not only claim ones
    joins: bool  #: ``other_line`` may stand here (a line rule's own conditions, not a ``where``)
    top: bool    #: the top of ``when`` (not inside ``any`` or ``not``)

    def inner(self) -> "Place":
        """The place inside an ``any`` or ``not`` standing here."""
        return replace(self, top=False)


#: a line rule's ``when``; a claim rule's ``when``; the ``where`` of other_line, any_line, no_line
RULE_TOP = Place(lines=True, joins=True, top=True)
CLAIM_TOP = Place(lines=False, joins=False, top=True)
WHERE = Place(lines=True, joins=False, top=False)


class Compiling(Protocol):
    """What a ``compile`` function may ask of the compiler (compile.Compiler)."""

    def fail(self, message: str) -> Any: ...
    def code_set(self, name: str) -> frozenset[str]: ...
    def compile(self, cond: dict, place: Place) -> list: ...


@dataclass(frozen=True)
class TestKind:
    """One kind of Test: what it means, how it reads, how durable-rules matches it."""

    #: args -> the test as a function (before ``negate``)
    check: Callable[[tuple], Check]
    #: (args, negate) -> the test in words
    describe: Callable[[tuple, bool], str]
    #: (m, args, negate) -> a durable-rules expression on the line fact; None: carried as a flag
    durable: Callable[[Any, tuple, bool], Any] | None = None
    #: args -> (name, function of a line) for each field ``durable`` reads beyond the line
    #: fact's own (code, dos, dos_i, minutes, units, region and their has_ fields)
    durable_fields: Callable[[tuple], Iterable[tuple[str, Callable[[Line], Any]]]] | None = None
    #: the test reads the date it is given (a claim rule passes the claim's first date)
    reads_date: bool = False


@dataclass(frozen=True)
class NodeKind:
    """A combination or join node. Each function gets the recursive form as its last
    argument (compile a part, describe a part, translate a part)."""

    describe: Callable[[Any, Callable[[Any], str]], str]
    #: (node, compile a part) -> Check; None: the evaluators join it themselves
    check: Callable[[Any, Callable[[Any], Check]], Check] | None = None
    #: (m, node, negate, translate a part) -> expression; None: the durable evaluator joins it
    durable: Callable[[Any, Any, bool, Callable[[Any, bool], Any]], Any] | None = None


@dataclass(frozen=True)
class Condition:
    """One entry of the table: the YAML keys it handles and their meaning."""

    keys: tuple[str, ...]
    #: "line": a condition on a line (not allowed in a claim rule's own ``when``);
    #: "claim": on the claim (allowed anywhere); "any": a combination (anywhere)
    on: str
    #: (compiler, key, value, place) -> compiled nodes
    compile: Callable[[Compiling, str, Any, Place], list]
    kinds: Mapping[str, TestKind] = field(default_factory=dict)
    nodes: Mapping[type, NodeKind] = field(default_factory=dict)
    doc: str = ""


# -- helpers the entries share -----------------------------------------------------------------

def _codes(values: Iterable[Any]) -> frozenset[str]:
    return frozenset(code_text(v).upper() for v in values)


def _number_tests(name: str, cond: dict, on: str, kind: str, missing: str) -> list[Test]:
    """``{gte: 8, lt: 23}`` or ``{missing: true}`` on a number called ``name``."""
    out = []
    for op, value in cond.items():
        if op == "missing":
            out.append(Test(missing, on, (name,), negate=not value))
        else:
            out.append(Test(kind, on, (name, op, float(value))))
    return out


def _field_tests(name: str, cond: dict, missing: str, kind_in: str, on: str) -> list[Test]:
    """``{missing: true}``, ``{in: [...]}`` or ``{not_in: [...]}`` on a text field."""
    out = []
    for op, value in cond.items():
        if op == "missing":
            out.append(Test(missing, on, (name,), negate=not value))
        elif op == "in":
            out.append(Test(kind_in, on, (name, frozenset(str(v).lower() for v in value))))
        elif op == "not_in":
            out.append(Test(kind_in, on, (name, frozenset(str(v).lower() for v in value)), negate=True))
    return out


def _no(negate: bool) -> str:
    return "not " if negate else ""


def _listed(values: Iterable[str]) -> str:
    return ", ".join(sorted(values))


def _durable_in(attr: Any, values: Iterable[str], negate: bool) -> Any:
    """durable-rules: ``attr`` is one of ``values`` (or, negated, none of them)."""
    values = sorted(values)
    out = (attr != values[0]) if negate else (attr == values[0])
    for v in values[1:]:
        out = (out & (attr != v)) if negate else (out | (attr == v))
    return out


def _durable_compare(m: Any, name: str, op: str, value: float, negate: bool) -> Any:
    """durable-rules: the number ``name`` is present and compares; negated, absent or not."""
    have, v = getattr(m, f"has_{name}"), getattr(m, name)
    if negate:
        return (have == 0) | COMPARE[OPPOSITE[op]](v, value)
    return (have == 1) & COMPARE[op](v, value)


def _missing_words(present: str, missing: str) -> Callable[[tuple, bool], str]:
    return lambda a, neg: f"{a[0]} {present if neg else missing}"


# -- code --------------------------------------------------------------------------------------

def _compile_code(comp: Compiling, key: str, value: dict, place: Place) -> list:
    out = []
    for op, arg in value.items():
        if op in ("in", "not_in"):
            out.append(Test("code_in", "line", (_codes(arg),), negate=op == "not_in"))
        elif op in ("in_set", "not_in_set"):
            out.append(Test("code_in", "line", (comp.code_set(arg),), negate=op == "not_in_set"))
        elif op == "prefix":
            out.append(Test("code_prefix", "line", (tuple(str(p).upper() for p in arg),)))
    return out


def _check_code_in(a: tuple) -> Check:
    codes = a[0]
    return lambda ln, c, d, w: ln.code in codes


def _check_code_prefix(a: tuple) -> Check:
    prefixes = a[0]
    return lambda ln, c, d, w: ln.code.startswith(prefixes)


CODE = Condition(
    keys=("code",), on="line", compile=_compile_code,
    doc="this line's code: in, not_in, prefix, in_set, not_in_set",
    kinds={
        "code_in": TestKind(
            check=_check_code_in,
            describe=lambda a, neg: f"code {_no(neg)}in {', '.join(sorted(a[0])[:6])}{' ...' if len(a[0]) > 6 else ''}",
            durable=lambda m, a, neg: _durable_in(m.code, a[0], neg)),
        "code_prefix": TestKind(
            check=_check_code_prefix,
            describe=lambda a, neg: f"code {_no(neg)}starting {', '.join(a[0])}"),
    })


# -- modifiers ---------------------------------------------------------------------------------

_MODIFIER_KINDS = {"any_of": "mods_any", "all_of": "mods_all", "none_of": "mods_none"}


def _compile_modifiers(comp: Compiling, key: str, value: dict, place: Place) -> list:
    out = []
    for op, arg in value.items():
        if op == "count_of":
            mods = frozenset(arg["modifiers"])
            for cmp, n in arg.items():
                if cmp != "modifiers":
                    out.append(Test("mods_count", "line", (mods, cmp, n)))
        else:
            out.append(Test(_MODIFIER_KINDS[op], "line", (frozenset(arg),)))
    return out


def _modifier_fields(a: tuple) -> list[tuple[str, Callable[[Line], int]]]:
    """durable-rules never matches an empty list, so each modifier is a 0/1 field."""
    return [(f"mod_{x}", lambda ln, x=x: int(x in ln.modifiers)) for x in sorted(a[0])]


def _durable_modifiers(kind: str) -> Callable[[Any, tuple, bool], Any]:
    def translate(m: Any, a: tuple, negate: bool) -> Any:
        want = 0 if kind == "mods_none" else 1
        val = want if not negate else 1 - want
        conj = (kind != "mods_any") != negate  # De Morgan
        flags = [getattr(m, f"mod_{x}") == val for x in sorted(a[0])]
        out = flags[0]
        for f in flags[1:]:
            out = (out & f) if conj else (out | f)
        return out
    return translate


def _check_mods_any(a: tuple) -> Check:
    mods = a[0]
    return lambda ln, c, d, w: not mods.isdisjoint(ln.modifiers)


def _check_mods_all(a: tuple) -> Check:
    mods = a[0]
    return lambda ln, c, d, w: mods.issubset(ln.modifiers)


def _check_mods_none(a: tuple) -> Check:
    mods = a[0]
    return lambda ln, c, d, w: mods.isdisjoint(ln.modifiers)


def _check_mods_count(a: tuple) -> Check:
    mods, cmp, n = a[0], COMPARE[a[1]], a[2]
    return lambda ln, c, d, w: cmp(len(mods.intersection(ln.modifiers)), n)


MODIFIERS = Condition(
    keys=("modifiers",), on="line", compile=_compile_modifiers,
    doc="this line's modifiers: any_of, all_of, none_of, count_of",
    kinds={
        "mods_any": TestKind(check=_check_mods_any,
                             describe=lambda a, neg: f"{_no(neg)}one of modifiers {_listed(a[0])}",
                             durable=_durable_modifiers("mods_any"), durable_fields=_modifier_fields),
        "mods_all": TestKind(check=_check_mods_all,
                             describe=lambda a, neg: f"{_no(neg)}all of modifiers {_listed(a[0])}",
                             durable=_durable_modifiers("mods_all"), durable_fields=_modifier_fields),
        "mods_none": TestKind(check=_check_mods_none,
                              describe=lambda a, neg: f"{_no(neg)}none of modifiers {_listed(a[0])}",
                              durable=_durable_modifiers("mods_none"), durable_fields=_modifier_fields),
        "mods_count": TestKind(check=_check_mods_count,
                               describe=lambda a, neg: f"{_no(neg)}count of {_listed(a[0])} {NUM_OPS[a[1]]} {a[2]}"),
    })


# -- minutes and units -------------------------------------------------------------------------

def _check_num(a: tuple) -> Check:
    name, cmp, value = a[0], COMPARE[a[1]], a[2]
    return lambda ln, c, d, w: (v := line_number(ln, name)) is not None and cmp(v, value)


def _check_num_missing(a: tuple) -> Check:
    if a[0] == "units":
        return lambda ln, c, d, w: ln.units is None
    return lambda ln, c, d, w: ln.minutes is None and ln.minutes_from_times is None


NUMBERS = Condition(
    keys=("minutes", "units"), on="line",
    compile=lambda comp, key, value, place: _number_tests(key, value, "line", "num", "num_missing"),
    doc="this line's minutes (reported, else from start/end times) or billed units",
    kinds={
        "num": TestKind(check=_check_num,
                        describe=lambda a, neg: f"{a[0]} {_no(neg)}{NUM_OPS[a[1]]} {a[2]:g}",
                        durable=lambda m, a, neg: _durable_compare(m, a[0], a[1], a[2], neg)),
        "num_missing": TestKind(check=_check_num_missing,
                                describe=_missing_words("present", "missing"),
                                durable=lambda m, a, neg: getattr(m, f"has_{a[0]}") == (1 if neg else 0)),
    })


# -- date of service ---------------------------------------------------------------------------

def _compile_dates(comp: Compiling, key: str, value: dict, place: Place) -> list:
    out = []
    if "from" in value:
        out.append(Test("dos_from", "line", (value["from"],)))
    if "to" in value:
        out.append(Test("dos_to", "line", (value["to"],)))
    return out


def _check_dos_from(a: tuple) -> Check:
    start = a[0]
    return lambda ln, c, d, w: ln.date_of_service >= start


def _check_dos_to(a: tuple) -> Check:
    end = a[0]
    return lambda ln, c, d, w: ln.date_of_service <= end


DATES = Condition(
    keys=("date_of_service",), on="line", compile=_compile_dates,
    doc="this line's date of service: from, to (inclusive)",
    kinds={
        "dos_from": TestKind(
            check=_check_dos_from,
            describe=lambda a, neg: f"date of service {'before' if neg else 'on or after'} {a[0]}",
            durable=lambda m, a, neg: (m.dos_i < int_date(a[0])) if neg else (m.dos_i >= int_date(a[0]))),
        "dos_to": TestKind(
            check=_check_dos_to,
            describe=lambda a, neg: f"date of service {'after' if neg else 'on or before'} {a[0]}",
            durable=lambda m, a, neg: (m.dos_i > int_date(a[0])) if neg else (m.dos_i <= int_date(a[0]))),
    })


# -- body region -------------------------------------------------------------------------------

def _check_region_in(a: tuple) -> Check:
    regions = a[1]
    return lambda ln, c, d, w: ln.body_region is not None and ln.body_region.strip().lower() in regions


BODY_REGION = Condition(
    keys=("body_region",), on="line",
    compile=lambda comp, key, value, place: _field_tests("body_region", value, "region_missing", "region_in", "line"),
    doc="this line's body region: missing, in, not_in (case and spaces ignored)",
    kinds={
        "region_missing": TestKind(
            check=lambda a: lambda ln, c, d, w: not ln.body_region,
            describe=lambda a, neg: f"body region {'recorded' if neg else 'missing'}",
            durable=lambda m, a, neg: (m.has_region == 1) if neg else (m.has_region == 0)),
        "region_in": TestKind(
            check=_check_region_in,
            describe=lambda a, neg: f"body region {_no(neg)}in {_listed(a[1])}",
            durable=lambda m, a, neg: _durable_in(m.region, a[1], neg)),
    })


# -- other line fields -------------------------------------------------------------------------

def _check_field_missing(a: tuple) -> Check:
    name = a[0]
    if name in LINE_ATTRIBUTES:  # None, a text or a tuple: empty is exactly falsy
        attr = operator.attrgetter(name)
        return lambda ln, c, d, w: not attr(ln)
    return lambda ln, c, d, w: empty(ln.extra.get(name))


def _check_field_in(a: tuple) -> Check:
    name, values = a

    def field_in(ln, c, d, w) -> bool:
        v = line_value(ln, name)
        return v is not None and not isinstance(v, (list, tuple, _Mapping)) and str(v).lower() in values
    return field_in


LINE_FIELDS = Condition(
    keys=("field",), on="line",
    compile=lambda comp, key, value, place: [
        t for name, cond in value.items() for t in _field_tests(name, cond, "field_missing", "field_in", "line")],
    doc="any field of this line, by name: missing, in, not_in",
    kinds={
        "field_missing": TestKind(check=_check_field_missing, describe=_missing_words("present", "missing")),
        "field_in": TestKind(check=_check_field_in, describe=lambda a, neg: f"{a[0]} {_no(neg)}in {_listed(a[1])}"),
    })


# -- diagnoses ---------------------------------------------------------------------------------

def _compile_diagnosis(comp: Compiling, key: str, value: dict, place: Place) -> list:
    out = []
    if "any_prefix" in value:
        out.append(Test("dx_prefix", "claim", (tuple(p.upper() for p in value["any_prefix"]),)))
    if "none_prefix" in value:
        out.append(Test("dx_prefix", "claim", (tuple(p.upper() for p in value["none_prefix"]),), negate=True))
    return out


def _check_dx_prefix(a: tuple) -> Check:
    prefixes = a[0]

    def dx_prefix(ln, c, d, w) -> bool:  # a loop, not any() over a generator: every claim meets it
        for x in c.diagnoses:
            if x.startswith(prefixes):
                return True
        return False
    return dx_prefix


DIAGNOSES = Condition(
    keys=("diagnosis",), on="claim", compile=_compile_diagnosis,
    doc="the claim's diagnoses: any_prefix, none_prefix",
    kinds={
        "dx_prefix": TestKind(check=_check_dx_prefix,
                              describe=lambda a, neg: f"{'no' if neg else 'a'} diagnosis starting {', '.join(a[0])}"),
    })


# -- claim fields: place of service, provider type, any by dotted path -----------------------

#: the claim field each named condition reads
CLAIM_PATHS = {"place_of_service": "place_of_service", "provider_type": "provider.type"}


def _compile_claim_fields(comp: Compiling, key: str, value: dict, place: Place) -> list:
    fields = value.items() if key == "claim_field" else [(CLAIM_PATHS[key], value)]
    return [t for path, cond in fields
            for t in _field_tests(path, cond, "claim_value_missing", "claim_value_in", "claim")]


def _check_claim_value_missing(a: tuple) -> Check:
    get = claim_getter(a[0])
    return lambda ln, c, d, w: empty(get(c))


def _check_claim_value_in(a: tuple) -> Check:
    get, values = claim_getter(a[0]), a[1]

    def value_in(ln, c, d, w) -> bool:
        v = get(c)
        return v is not None and str(v).lower() in values
    return value_in


CLAIM_FIELDS = Condition(
    keys=("place_of_service", "provider_type", "claim_field"), on="claim", compile=_compile_claim_fields,
    doc="a claim field: place_of_service, provider_type (provider.type), claim_field by dotted path",
    kinds={
        "claim_value_missing": TestKind(check=_check_claim_value_missing,
                                        describe=_missing_words("present", "missing")),
        "claim_value_in": TestKind(check=_check_claim_value_in,
                                   describe=lambda a, neg: f"{a[0]} {_no(neg)}in {_listed(a[1])}"),
    })


# -- patient age -------------------------------------------------------------------------------

def _check_age(a: tuple) -> Check:
    cmp, value = COMPARE[a[1]], a[2]
    return lambda ln, c, d, w: (age := patient_age(c, d)) is not None and cmp(age, value)


AGE = Condition(
    keys=("patient_age",), on="claim",
    compile=lambda comp, key, value, place: _number_tests("patient_age", value, "claim", "age", "age_missing"),
    doc="the patient's age in whole years at the date of service (a claim rule: the earliest)",
    kinds={
        "age": TestKind(check=_check_age,
                        describe=lambda a, neg: f"patient age {_no(neg)}{NUM_OPS[a[1]]} {a[2]:g}",
                        reads_date=True),
        "age_missing": TestKind(check=lambda a: lambda ln, c, d, w: patient_age(c, d) is None,
                                describe=lambda a, neg: f"patient age {'known' if neg else 'unknown'}",
                                reads_date=True),
    })


# -- combinations: the implicit ``and``, any, not ----------------------------------------------

def _compile_combination(comp: Compiling, key: str, value: Any, place: Place) -> list:
    if key == "any":
        return [AnyOf(tuple(All(tuple(comp.compile(c, place.inner()))) for c in value))]
    return [Not(All(tuple(comp.compile(value, place.inner()))))]


def _check_all(node: All, sub: Callable[[Any], Check]) -> Check:
    parts = tuple(sub(x) for x in node.items)
    if len(parts) == 1:
        return parts[0]

    def all_of(ln, c, d, w) -> bool:  # a loop, not all() over a generator: this runs per line and rule
        for p in parts:
            if not p(ln, c, d, w):
                return False
        return True
    return all_of


def _check_any(node: AnyOf, sub: Callable[[Any], Check]) -> Check:
    branches = tuple(sub(x) for x in node.items)
    return lambda ln, c, d, w: any(b(ln, c, d, w) for b in branches)


def _check_not(node: Not, sub: Callable[[Any], Check]) -> Check:
    inner = sub(node.item)
    return lambda ln, c, d, w: not inner(ln, c, d, w)


def _durable_join(m: Any, node: All | AnyOf, negate: bool, sub: Callable[[Any, bool], Any]) -> Any:
    conj = isinstance(node, All) != negate  # De Morgan
    parts = [sub(x, negate) for x in node.items]
    if not parts:
        return (m.t == "line") if conj else (m.t == "never")
    out = parts[0]
    for p in parts[1:]:
        out = (out & p) if conj else (out | p)
    return out


COMBINATIONS = Condition(
    keys=("any", "not"), on="any", compile=_compile_combination,
    doc="any: [{...}, {...}] (some branch holds); not: {...}; the conditions of a mapping all hold",
    nodes={
        All: NodeKind(check=_check_all, durable=_durable_join,
                      describe=lambda node, sub: " and ".join(sub(x) for x in node.items) or "always"),
        AnyOf: NodeKind(check=_check_any, durable=_durable_join,
                        describe=lambda node, sub: "(" + " or ".join(sub(x) for x in node.items) + ")"),
        Not: NodeKind(check=_check_not,
                      durable=lambda m, node, negate, sub: sub(node.item, not negate),
                      describe=lambda node, sub: f"not ({sub(node.item)})"),
    })


# -- other_line: a join with another line of the claim -----------------------------------------

def _compile_other(comp: Compiling, key: str, value: dict, place: Place) -> list:
    if not place.joins:
        comp.fail(f"'{key}' is not a condition here")
    if not place.top:
        comp.fail("other_line may only stand at the top of 'when' (not inside any or not)")
    where = All(tuple(comp.compile(value.get("where") or {}, WHERE)))
    return [Other(exists=value.get("exists", True), same_date=value.get("same_date", True),
                  same_region=value.get("same_body_region", False),
                  different_region=value.get("different_body_region", False), where=where)]


def _describe_other(node: Other, sub: Callable[[Any], str]) -> str:
    where = [] if not node.where.items else [sub(node.where)]
    where += ["the same date"] * node.same_date + ["the same body region"] * node.same_region
    where += ["a different body region"] * node.different_region
    return f"{'another' if node.exists else 'no other'} line with {' and '.join(where) or 'anything'}"


OTHER_LINE = Condition(
    keys=("other_line",), on="line", compile=_compile_other,
    doc="another line of the claim matching where (same_date, same/different_body_region, exists); "
        "joined by the evaluators (builtin: other_matches; durable: a two-fact pattern)",
    nodes={Other: NodeKind(describe=_describe_other)})


# -- any_line / no_line: a claim rule's quantifiers over its lines -----------------------------

def _compile_quantifier(comp: Compiling, key: str, value: dict, place: Place) -> list:
    if not place.top or place.lines:
        comp.fail(f"{key} may only stand at the top of 'when' (not inside any or not)")
    return [LineQuantifier(key == "any_line", All(tuple(comp.compile(value, WHERE))))]


def _check_quantifier(node: LineQuantifier, sub: Callable[[Any], Check]) -> Check:
    where, exists = sub(node.where), node.exists
    return lambda ln, c, d, w: any(where(x, c, x.date_of_service, w) for x in w) == exists


LINE_QUANTIFIERS = Condition(
    keys=("any_line", "no_line"), on="claim", compile=_compile_quantifier,
    doc="a claim rule: some line (any_line) or no line (no_line) of its window matches; "
        "the durable evaluator joins each with the claim fact",
    nodes={LineQuantifier: NodeKind(
        check=_check_quantifier,
        describe=lambda node, sub: f"{'some' if node.exists else 'no'} line with {sub(node.where)}")})


# -- the table ---------------------------------------------------------------------------------

CONDITIONS: tuple[Condition, ...] = (
    CODE, MODIFIERS, NUMBERS, DATES, BODY_REGION, LINE_FIELDS,
    DIAGNOSES, CLAIM_FIELDS, AGE,
    COMBINATIONS, OTHER_LINE, LINE_QUANTIFIERS,
)


def _index(entries: tuple[Condition, ...]) -> tuple[dict[str, Condition], dict[str, TestKind], dict[type, NodeKind]]:
    by_key: dict[str, Condition] = {}
    kinds: dict[str, TestKind] = {}
    nodes: dict[type, NodeKind] = {}
    for entry in entries:
        for name, table, items in (("key", by_key, {k: entry for k in entry.keys}), ("test kind", kinds, entry.kinds),
                                   ("node", nodes, entry.nodes)):
            for k, v in items.items():
                if k in table:
                    raise RuntimeError(f"condition table: {name} {k!r} is defined twice")
                table[k] = v  # type: ignore[index]
    return by_key, kinds, nodes


#: YAML key -> its entry; Test kind -> its meaning; node type -> its meaning
BY_KEY, KINDS, NODES = _index(CONDITIONS)
