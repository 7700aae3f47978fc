"""The ``rules:`` of a policy: compiled once when the policy loads, evaluated per claim.

Which evaluator runs them is chosen when the Engine is built (``rules_evaluator``):
``builtin`` (default, pure Python, indexed by code) or ``durable`` (durable-rules, extra
``rete``). Both give the same edits; docs/rules.md describes the language.
"""

from __future__ import annotations

from payer_rules import PolicyError, hookimpl
from payer_rules.rules import SOURCE, BuiltinEvaluator, RuleProblem, compile_rules, near_misses
from payer_rules.yaml_source import SourceError, code_text


def code_sets_of(policy) -> dict[str, frozenset[str]]:
    sets = {name: frozenset(code_text(c).upper() for c in codes)
            for name, codes in policy.settings.get("code_sets", {}).items()}
    sets.setdefault("timed", frozenset(policy.timed))
    sets.setdefault("untimed", frozenset(policy.untimed))
    return sets


PAYER_RULES_GLOBAL = True


@hookimpl
def prepare_policy(policy, base_dir, options):
    raw = policy.settings.get("rules")
    if not raw:
        return None
    try:
        rules = compile_rules(raw, code_sets_of(policy), policy.path)
    except RuleProblem as exc:
        line, col = policy.lines.find(("rules", exc.position)) if policy.lines else (None, None)
        raise PolicyError([SourceError(policy.path, line, str(exc), col)]) from None
    for r in rules:
        line, _ = policy.lines.find(("rules", r.position)) if policy.lines else (None, None)
        r.line = line
    if options.get("rules_evaluator") == "durable":
        from payer_rules.rules_durable import DurableEvaluator
        return DurableEvaluator(rules, name=f"{policy.payer}-{policy.version}")
    return BuiltinEvaluator(rules)


@hookimpl
def check_claim(claim, policy, allocation, data):
    evaluator = data
    if evaluator is None:
        return []
    return evaluator.evaluate(claim)


@hookimpl
def explain_claim(claim, policy, allocation, data):
    if data is None:
        return []
    return near_misses(BuiltinEvaluator(data.rules), claim)


@hookimpl
def lint_policy(policy, data, versions):
    from payer_rules.lint import rule_problems
    return [] if data is None else rule_problems(data.rules, policy, versions)


@hookimpl
def policy_edits(policy, data):
    """The policy's rules, for its catalogue: each rule id is an edit of this payer."""
    if data is None:
        return []
    return [{"id": r.id, "category": r.category, "severity": r.severity, "section": "rules",
             "description": r.description or r.message} for r in data.rules]
