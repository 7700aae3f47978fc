"""The built-in and durable-rules evaluators must agree exactly: the bundled policies on
their test cases, the example claims and generated claims, and a policy that uses every
kind of condition on thousands of generated claims. Also the adapter's guards against
durable-rules' measured defects (../shared/durable-rules-notes.md).

Skipped where durable-rules cannot be imported (the ``rete`` extra; Python 3.13+). CI
installs the extra, so there it runs.
"""

from __future__ import annotations

import json
import threading
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

pytest.importorskip("durable.lang", reason="durable-rules (extra 'rete') is not installed")

from payer_rules import Engine  # noqa: E402
from payer_rules.cli import dump  # noqa: E402

from conftest import ROOT  # noqa: E402
from test_rules import HEAD, rule  # noqa: E402

ALL_KINDS = "".join([
    rule("k.code", "code: {in: ['97110', '97124']}\nminutes: {gte: 10}\n"),
    rule("k.prefix", "code: {prefix: ['975']}\nmodifiers: {none_of: [GP]}\n"),
    rule("k.set", "code: {in_set: manual}\nbody_region: {missing: true}\n"),
    rule("k.count", "modifiers: {count_of: {modifiers: [GP, GO, '59'], gte: 2}}\n"),
    rule("k.units", "units: {gt: 2}\nnot: {minutes: {gte: 38}}\n"),
    rule("k.any", "any:\n  - modifiers: {all_of: [AT, GA]}\n  - field: {techniques: {missing: false}}\n"),
    rule("k.dates", "date_of_service: {from: '2024-03-05'}\ncode: {not_in: ['97110']}\n"),
    rule("k.claim", "diagnosis: {any_prefix: [G89]}\nclaim_field: {plan_of_care.goals: {missing: true}}\n"),
    rule("k.age", "patient_age: {gte: 65}\ncode: {in: ['97530']}\n"),
    rule("k.pos", "place_of_service: {in: ['12']}\n"),
    rule("k.pair", "code: {in: ['97124']}\nmodifiers: {none_of: ['59']}\nother_line: {where: {code: {in: ['97140']}}}\n"),
    rule("k.same", "code: {in: ['97124']}\nother_line: {same_body_region: true, where: {code: {in_set: manual}}}\n"),
    rule("k.diff", "code: {in: ['97140']}\nother_line: {different_body_region: true, same_date: false}\n"),
    rule("k.none", "code: {in: ['98940']}\nother_line: {exists: false, where: {modifiers: {any_of: [AT]}}}\n"),
    rule("k.c1", "any_line: {code: {in: ['98940']}}\nno_line: {modifiers: {any_of: [GA]}}\n", scope="claim"),
    rule("k.c2", "not: {diagnosis: {any_prefix: [M54]}}\nany_line: {minutes: {missing: true}}\n", scope="claim"),
    rule("k.win", "code: {in: ['97140']}\n", extra="  effective_from: '2024-03-05'\n  effective_to: '2024-03-05'\n"),
])


@pytest.fixture(scope="module")
def kinds_policy(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("kinds") / "rp.yaml"
    p.write_text(HEAD + textwrap.indent(ALL_KINDS, "  "))
    return p


@pytest.fixture(scope="module")
def engines(kinds_policy):
    from payer_rules.policy import bundled_dir
    sources = [bundled_dir(), kinds_policy]
    return Engine(sources), Engine(sources, rules_evaluator="durable")


def same(engines, claim) -> None:
    builtin, durable = engines
    a, b = dump(builtin.evaluate(claim)), dump(durable.evaluate(claim))
    assert a == b, f"\nbuiltin: {a}\ndurable: {b}"


CODES = ["97110", "97140", "97124", "97530", "97161", "98940", "97010", "99999", "97112"]
line_st = st.fixed_dictionaries(
    {"code": st.sampled_from(CODES),
     "date_of_service": st.sampled_from(["2024-03-04", "2024-03-05", "2024-03-06"]),
     "modifiers": st.lists(st.sampled_from(["GP", "GO", "59", "XS", "AT", "GA", "KX"]), unique=True, max_size=3)},
    optional={"minutes": st.integers(0, 60), "units": st.integers(0, 6),
              "body_region": st.sampled_from(["neck", "Neck", "lumbar", ""]),
              "techniques": st.lists(st.sampled_from(["effleurage", "stroking"]), max_size=2),
              "diagnosis_pointers": st.just([1])})
claim_st = st.fixed_dictionaries(
    {"claim_id": st.just("H"), "payer": st.sampled_from(["rp", "medicare", "generic-commercial"]),
     "lines": st.lists(line_st, min_size=1, max_size=6)},
    optional={"diagnoses": st.lists(st.sampled_from(["G89.29", "M54.50", "M79.7"]), max_size=2),
              "patient": st.fixed_dictionaries({}, optional={"birth_date": st.sampled_from(["1950-01-01", "2010-06-30"])}),
              "plan_of_care": st.fixed_dictionaries({"goals": st.lists(st.just("walk"), max_size=1)}),
              "place_of_service": st.sampled_from(["11", "12"])})


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(claim_st)
def test_generated_claims_agree(engines, claim):
    same(engines, claim)


def test_example_and_workload_claims_agree(engines, tmp_path):
    import importlib.util
    spec = importlib.util.spec_from_file_location("workload", ROOT / "bench" / "workload.py")
    workload = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(workload)
    path = tmp_path / "w.jsonl"
    workload.write(2000, str(path), seed=3)
    claims = [json.loads(x) for x in path.read_text().splitlines()]
    claims += [json.loads(x) for x in (ROOT / "docs/examples/claims.jsonl").read_text().splitlines()]
    for c in claims:
        same(engines, c)


def test_policy_test_cases_agree(engines):
    from payer_rules.policy_tests import collect_cases
    from payer_rules.policy import bundled_dir
    cases = collect_cases([bundled_dir()])
    assert cases, "the bundled policies have test cases"
    for case in cases:
        for c in case.claims:
            same(engines, c)


# -- the guards ----------------------------------------------------------------------------

def test_more_claims_than_live_states(engines):
    _, durable = engines
    for i in range(1500):  # durable-rules allows 1,024 live states per ruleset
        r = durable.evaluate({"claim_id": f"C{i}", "payer": "rp", "lines": [{"code": "97140", "date_of_service": "2024-03-05"}]})
        assert r.status != "error"


def test_colliding_session_ids_do_not_mix(engines):
    # two claim ids whose durable session ids would collide (notes, defect 1)
    builtin, durable = engines
    a = {"claim_id": "CLM0479599", "payer": "rp", "lines": [{"code": "97124", "date_of_service": "2024-03-04"}]}
    b = {"claim_id": "CLM0662382", "payer": "rp", "lines": [{"code": "97140", "date_of_service": "2024-03-04"}]}
    for c in (a, b, a):
        assert dump(durable.evaluate(c)) == dump(builtin.evaluate(c))


def test_claim_where_no_rule_fires(engines):
    # deleting a state in which no rule fired can crash durable-rules (defect 2)
    _, durable = engines
    for _ in range(50):
        r = durable.evaluate({"claim_id": "Q", "payer": "rp", "diagnoses": ["M54.50"],
                              "lines": [{"code": "97110", "minutes": 5, "date_of_service": "2020-01-02"}]})
        assert r.status == "pass" and not [e for e in r.edits if e.source == "policy_rules"]


def test_threads_share_a_durable_engine(engines):
    builtin, durable = engines
    claims = [{"claim_id": f"T{i}", "payer": "rp", "lines": [
        {"code": CODES[i % len(CODES)], "date_of_service": "2024-03-05", "modifiers": ["59"] if i % 3 else []},
        {"code": "97140", "date_of_service": "2024-03-05", "body_region": "neck"}]} for i in range(300)]
    expected = [dump(builtin.evaluate(c)) for c in claims]
    errors = []

    def work():
        got = [dump(durable.evaluate(c)) for c in claims]
        if got != expected:
            errors.append("mismatch")

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


# -- reloads: durable-rules cannot delete a ruleset, so rulesets are reused and capped -------

RELOAD_RULE = rule("r.only", "code: {in: ['97999']}\nmodifiers: {none_of: [GP]}\n")


def _durable_of(engine):
    return engine.plugin_data(engine.policies.versions("rp")[0], "policy_rules")


def test_reloads_of_unchanged_rules_reuse_one_ruleset(tmp_path):
    from payer_rules.rules.durable import ruleset_count
    p = tmp_path / "rp.yaml"
    p.write_text(HEAD + textwrap.indent(RELOAD_RULE, "  "))
    before = ruleset_count()
    e = Engine(p, rules_evaluator="durable")
    first = _durable_of(e).ruleset
    assert ruleset_count() == before + 1
    for _ in range(100):
        e.reload()
    assert ruleset_count() == before + 1  # not 101: the same compiled rules, the same ruleset
    assert _durable_of(e).ruleset == first
    r = e.evaluate({"claim_id": "R", "payer": "rp", "lines": [{"code": "97999", "date_of_service": "2024-03-05"}]})
    assert [x.rule for x in r.edits if x.source == "policy_rules"] == ["r.only"]


def test_reload_with_changed_rules_builds_a_new_ruleset(tmp_path):
    from payer_rules.rules.durable import ruleset_count
    p = tmp_path / "rp.yaml"
    p.write_text(HEAD + textwrap.indent(RELOAD_RULE, "  "))
    e = Engine(p, rules_evaluator="durable")
    first, before = _durable_of(e).ruleset, ruleset_count()
    p.write_text(HEAD + textwrap.indent(RELOAD_RULE.replace("none_of: [GP]", "none_of: [GO]"), "  "))
    e.reload()
    assert _durable_of(e).ruleset != first and ruleset_count() == before + 1
    line = {"code": "97999", "date_of_service": "2024-03-05", "modifiers": ["GP"]}
    r = e.evaluate({"claim_id": "R", "payer": "rp", "lines": [line]})
    assert [x.rule for x in r.edits if x.source == "policy_rules"] == ["r.only"]  # the new rule: GP is fine now
    # a message, denial or id changed alone needs no new ruleset: edits come from the evaluator's own rules
    p.write_text(HEAD + textwrap.indent(RELOAD_RULE.replace("none_of: [GP]", "none_of: [GO]")
                                        .replace("r.only", "r.renamed"), "  "))
    e.reload()
    assert ruleset_count() == before + 1
    r = e.evaluate({"claim_id": "R", "payer": "rp", "lines": [line]})
    assert [x.rule for x in r.edits if x.source == "policy_rules"] == ["r.renamed"]


def test_ruleset_limit_is_a_clear_policy_error_and_keeps_the_policies(tmp_path, monkeypatch):
    from payer_rules import PolicyError
    from payer_rules.rules.durable import MAX_RULESETS_ENV, ruleset_count
    p = tmp_path / "rp.yaml"
    p.write_text(HEAD + textwrap.indent(RELOAD_RULE.replace("97999", "97998"), "  "))
    e = Engine(p, rules_evaluator="durable")
    monkeypatch.setenv(MAX_RULESETS_ENV, str(ruleset_count()))
    e.reload()  # unchanged: reused, the limit does not matter
    p.write_text(HEAD + textwrap.indent(RELOAD_RULE.replace("97999", "97997"), "  "))
    with pytest.raises(PolicyError) as exc:
        e.reload()
    msg = str(exc.value)
    assert "rp.yaml" in msg and MAX_RULESETS_ENV in msg and "cannot delete a ruleset" in msg
    r = e.evaluate({"claim_id": "R", "payer": "rp", "lines": [{"code": "97998", "date_of_service": "2024-03-05"}]})
    assert [x.rule for x in r.edits if x.source == "policy_rules"] == ["r.only"]  # the old policy stays
    monkeypatch.setenv(MAX_RULESETS_ENV, "many")
    with pytest.raises(PolicyError, match=f"{MAX_RULESETS_ENV} must be a whole number"):
        e.reload()


def test_ruleset_limit_from_the_cli(tmp_path):
    import os
    import subprocess
    import sys
    from payer_rules.rules.durable import MAX_RULESETS_ENV
    env = dict(os.environ, **{MAX_RULESETS_ENV: "1"})  # the bundled policies need more than one
    out = subprocess.run([sys.executable, "-m", "payer_rules.cli", "check", "--rules-evaluator", "durable",
                          str(ROOT / "docs/examples/claims.jsonl")], capture_output=True, text=True, env=env)
    assert out.returncode == 2 and MAX_RULESETS_ENV in out.stderr and "Traceback" not in out.stderr
