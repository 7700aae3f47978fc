"""Compiling a policy's ``rules:`` (already validated by the schema) into :class:`Rule`s,
by the condition table. No text from a policy is ever executed; message templates may
only name the fields listed in :data:`TEMPLATE_FIELDS`."""

from __future__ import annotations

import string
from typing import Any, NoReturn

from ..yaml_source import plain
from .conditions import BY_KEY, CLAIM_TOP, RULE_TOP, Place
from .rule import TEMPLATE_FIELDS, Rule, is_code_test
from .tree import All, LineQuantifier, Other


class RuleProblem(ValueError):
    """A rule the schema accepts but that cannot be compiled; ``position`` in ``rules``."""

    def __init__(self, position: int, message: str):
        self.position = position
        super().__init__(message)


class Compiler:
    """Compiles the conditions of one rule; what the table's ``compile`` functions call."""

    def __init__(self, code_sets: dict[str, frozenset[str]], rule_id: str, position: int):
        self.code_sets = code_sets
        self.rule_id = rule_id
        self.position = position

    def fail(self, message: str) -> NoReturn:
        raise RuleProblem(self.position, f"rule '{self.rule_id}': {message}")

    def code_set(self, name: str) -> frozenset[str]:
        if name not in self.code_sets:
            from ..policy import suggest
            self.fail(f"unknown code set '{name}'{suggest(name, self.code_sets)} "
                      f"(known: {', '.join(sorted(self.code_sets))})")
        return self.code_sets[name]

    def compile(self, cond: dict, place: Place) -> list[Any]:
        """The conditions of a mapping, in order, each by its entry in the table."""
        out: list[Any] = []
        for key, value in cond.items():
            entry = BY_KEY.get(key)
            if entry is None or (entry.on == "line" and not place.lines):
                self.fail(f"'{key}' is not a condition here")
            out.extend(entry.compile(self, key, value, place))
        return out


def index_codes(tree: All) -> frozenset[str] | None:
    """Codes a line must have for the tree to hold (from top-level code tests), or None."""
    found: frozenset[str] | None = None
    for t in tree.items:
        if is_code_test(t):
            found = t.args[0] if found is None else found & t.args[0]
    return found


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
        comp = Compiler(code_sets, rid, position)
        scope = raw.get("scope", "line")
        items = comp.compile(raw["when"], CLAIM_TOP if scope == "claim" else RULE_TOP)
        other = next((x for x in items if isinstance(x, Other)), None)
        when = All(tuple(x for x in items if not isinstance(x, Other)))
        problem = check_template(raw["edit"]["message"])
        if problem:
            comp.fail(problem)
        if scope == "claim":  # the codes every any_line needs
            index = None
            for q in when.items:
                if isinstance(q, LineQuantifier) and q.exists:
                    codes = index_codes(q.where)
                    if codes is not None:
                        index = codes if index is None else index & codes
        else:
            index = index_codes(when)
        e = raw["edit"]
        out.append(Rule(
            id=rid, description=raw["description"], citation=raw.get("citation"), scope=scope,
            effective_from=raw.get("effective_from"), effective_to=raw.get("effective_to"),
            when=when, other=other, category=e["category"], severity=e["severity"], message=e["message"],
            group=e.get("group"), carc=None if e.get("carc") is None else str(e["carc"]), rarc=e.get("rarc"),
            fix=e.get("fix"), index_codes=index, position=position, path=path,
        ))
    return out
