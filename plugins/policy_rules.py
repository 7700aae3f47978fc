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


@hookimpl
def prepare_policy(policy, base_dir):
    raw = policy.settings.get("rules")
    if not raw:
        return
    try:
        rules = compile_rules(raw, code_sets_of(policy), policy.path)
    except RuleProblem as exc:
        line, col = policy.lines.find(("rules", exc.position)) if policy.lines else (None, None)
        raise PolicyError([SourceError(policy.path, line, str(exc), col)]) from None
    for r in rules:
        line, _ = policy.lines.find(("rules", r.position)) if policy.lines else (None, None)
        r.line = line
    if policy.rules_evaluator == "durable":
        from payer_rules.rules_durable import DurableEvaluator
        policy.data[SOURCE] = DurableEvaluator(rules, name=f"{policy.payer}-{policy.version}")
    else:
        policy.data[SOURCE] = BuiltinEvaluator(rules)


@hookimpl
def check_claim(claim, policy, allocation):
    evaluator = policy.data.get(SOURCE)
    if evaluator is None:
        return []
    return evaluator.evaluate(claim)


@hookimpl
def explain_claim(claim, policy, allocation):
    evaluator = policy.data.get(SOURCE)
    if evaluator is None:
        return []
    return near_misses(BuiltinEvaluator(evaluator.rules), claim)
