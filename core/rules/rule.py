"""A compiled rule: its conditions (a tree, and the same tree as functions) and its edit."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..models import Edit, Line
from .checks import compile_check
from .conditions import KINDS
from .tree import All, LineQuantifier, Other, Test, tests_in

SOURCE = "policy_rules"
TEMPLATE_FIELDS = frozenset({"line", "code", "other_line", "other_code", "rule"})


def is_code_test(t: Any) -> bool:
    """A top-level test that a line's code is in a set: what the code index is made of."""
    return isinstance(t, Test) and t.kind == "code_in" and not t.negate


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
    #: ``when`` and ``other_line.where`` as functions (built from the trees)
    check: Any = field(init=False, repr=False, compare=False)
    other_check: Any = field(init=False, repr=False, compare=False)
    #: ``check`` without the top-level code tests, for lines whose code is in ``index_codes``
    #: (every such test holds for them: the index is the intersection of their codes)
    indexed_check: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.check = compile_check(self.when)
        self.indexed_check = compile_check(All(tuple(t for t in self.when.items if not is_code_test(t))))
        self.other_check = compile_check(self.other.where) if self.other else None
        self.windowed = self.effective_from is not None or self.effective_to is not None
        #: whether a test reads the date it is given (a claim rule gives the claim's first date)
        self.reads_date = any(KINDS[t.kind].reads_date for node in (self.when, self.other) if node
                              for t in tests_in(node))
        #: claim scope: the ``where`` of each top-level any_line, as functions (where edits land)
        self.quantifiers = tuple(compile_check(q.where) for q in self.when.items
                                 if isinstance(q, LineQuantifier) and q.exists)

    def in_window(self, dos: str) -> bool:
        return (self.effective_from is None or self.effective_from <= dos) and \
            (self.effective_to is None or dos <= self.effective_to)

    def make_edit(self, line: Line | None, lines: tuple[int, ...], other: Line | None) -> Edit:
        message = self.message.format_map({
            "line": line.line if line else "", "code": line.code if line else "",
            "other_line": other.line if other else "", "other_code": other.code if other else "",
            "rule": self.id})
        fix = dict(self.fix, line=line.line) if self.fix and line is not None else None
        return Edit(self.id, self.category, self.severity, lines, message, source=SOURCE,
                    group=self.group, carc=self.carc, rarc=self.rarc, fix=fix)
