"""Declarative payer rules: the language (compiled once when a policy loads) and its two
evaluators.

A rule in a policy's ``rules:`` list says *when* (conditions on a line, its claim and the
other lines of the claim) and *what* (the edit: category, severity, message, denial
codes, fix). Rules are data: the schema validates them, and compiling turns each
condition into a small tree of nodes (:mod:`.tree`).

The package, by module:

- :mod:`.conditions`: the condition table, one entry per kind of condition with its
  compile, check, describe and durable-rules translation (adding a condition is one entry);
- :mod:`.tree`: the compiled nodes; :mod:`.values`: the line and claim values tests read;
- :mod:`.compile`: ``rules:`` -> :class:`Rule` (:mod:`.rule`), by the table;
- :mod:`.checks`, :mod:`.describe`: a tree as a function, and in words, by the table;
- :mod:`.builtin`: :class:`BuiltinEvaluator` (pure Python, candidate rules by bit masks of
  codes, shared freely between threads) and :func:`near_misses`;
- :mod:`.durable`: :class:`DurableEvaluator` on durable-rules (extra ``rete``) and the
  guards against its defects. Imported only when chosen.

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

from .builtin import BuiltinEvaluator, near_misses
from .checks import claim_test, compile_check, line_test, test_check
from .compile import RuleProblem, check_template, compile_rules
from .conditions import CONDITIONS, NUM_OPS, Condition, NodeKind, TestKind
from .describe import describe
from .rule import SOURCE, TEMPLATE_FIELDS, Rule
from .tree import All, AnyOf, LineQuantifier, Not, Other, Test
from .values import claim_value, patient_age

__all__ = [
    "SOURCE", "TEMPLATE_FIELDS", "NUM_OPS", "BuiltinEvaluator", "near_misses", "RuleProblem", "compile_rules",
    "check_template", "Rule", "All", "AnyOf", "LineQuantifier", "Not", "Other", "Test", "CONDITIONS", "Condition",
    "TestKind", "NodeKind", "claim_test", "line_test", "test_check", "compile_check", "describe", "claim_value",
    "patient_age",
]
