"""The rule language: each kind of condition, cross-line conditions, windows, errors with
file and line, and the code index."""

from __future__ import annotations

import textwrap

import pytest

from payer_rules import Engine, PolicyError
from payer_rules.rules import BuiltinEvaluator

from conftest import claim

HEAD = textwrap.dedent("""\
    schema_version: 1
    payer: rp
    name: Rule payer
    unit_method: per_code_midpoint
    codes:
      timed: {"97110": 15, "97140": 15, "97124": 15, "97530": 15}
      untimed: ["97161", "98940"]
    unknown_codes: "off"
    code_sets:
      manual: ["97140", "97124"]
    versions:
      - version: "1"
        effective_from: "2020-01-01"
    rules:
    """)


def engine_with(tmp_path, rules_yaml: str, evaluator: str = "builtin") -> Engine:
    p = tmp_path / "rp.yaml"
    p.write_text(HEAD + textwrap.indent(textwrap.dedent(rules_yaml), "  "))
    return Engine(p, rules_evaluator=evaluator)


def rule(rid: str, when: str, scope: str = "line", extra: str = "") -> str:
    return (f"- id: {rid}\n  description: test rule\n  scope: {scope}\n{extra}  when:\n"
            + textwrap.indent(textwrap.dedent(when), "    ")
            + "  edit: {category: coverage, severity: error, message: 'rule {rule} line {line} {code} other {other_line}'}\n")


def fired(engine, *lines, **kw) -> list[tuple]:
    r = engine.evaluate(claim("rp", *lines, **kw))
    assert r.status != "error", r.error
    return sorted((e.rule, e.lines) for e in r.edits if e.source == "policy_rules")


CASES = [
    # (when, lines, expected edit lines)
    ("code: {in: ['97110']}\n", [{"code": "97110"}, {"code": "97140"}], [(1,)]),
    ("code: {not_in: ['97110']}\n", [{"code": "97110"}, {"code": "97140"}], [(2,)]),
    ("code: {prefix: ['971']}\n", [{"code": "97110"}, {"code": "97530"}], [(1,)]),
    ("code: {in_set: manual}\n", [{"code": "97124"}, {"code": "97110"}], [(1,)]),
    ("code: {in_set: untimed}\n", [{"code": "98940"}, {"code": "97110"}], [(1,)]),
    ("modifiers: {any_of: ['59', XS]}\n", [{"code": "97110", "modifiers": ["XS"]}, {"code": "97140"}], [(1,)]),
    ("modifiers: {all_of: [GP, KX]}\n", [{"code": "97110", "modifiers": ["GP", "KX"]}, {"code": "97140", "modifiers": ["GP"]}], [(1,)]),
    ("modifiers: {none_of: [GP]}\n", [{"code": "97110", "modifiers": ["GP"]}, {"code": "97140"}], [(2,)]),
    ("modifiers: {count_of: {modifiers: [GP, GO, GN], gt: 1}}\n", [{"code": "97110", "modifiers": ["GP", "GO"]}, {"code": "97140", "modifiers": ["GP"]}], [(1,)]),
    ("minutes: {gte: 30}\n", [{"code": "97110", "minutes": 30}, {"code": "97140", "minutes": 29}], [(1,)]),
    ("minutes: {missing: true}\n", [{"code": "97110"}, {"code": "97140", "minutes": 10}], [(1,)]),
    ("units: {gt: 4}\n", [{"code": "97110", "units": 5}, {"code": "97140", "units": 4}, {"code": "97530"}], [(1,)]),
    ("date_of_service: {from: '2024-06-01', to: '2024-06-30'}\n",
     [{"code": "97110", "date_of_service": "2024-06-15"}, {"code": "97140", "date_of_service": "2024-07-01"}], [(1,)]),
    ("body_region: {missing: true}\n", [{"code": "97110", "body_region": "neck"}, {"code": "97140"}], [(2,)]),
    ("body_region: {in: [Neck]}\n", [{"code": "97110", "body_region": "neck "}, {"code": "97140", "body_region": "back"}], [(1,)]),
    ("field: {techniques: {missing: false}}\n", [{"code": "97124", "techniques": ["stroking"]}, {"code": "97124", "line": 2}], [(1,)]),
    ("field: {assistant_minutes: {in: [0]}}\n", [{"code": "97110", "assistant_minutes": 0}, {"code": "97140", "assistant_minutes": 5}], [(1,)]),
    ("any:\n  - code: {in: ['97110']}\n  - modifiers: {any_of: [KX]}\n", [{"code": "97110"}, {"code": "97140", "modifiers": ["KX"]}, {"code": "97530"}], [(1,), (2,)]),
    ("not:\n  code: {in: ['97110']}\n", [{"code": "97110"}, {"code": "97140"}], [(2,)]),
]


@pytest.mark.parametrize("when,lines,expected", CASES)
def test_line_conditions(tmp_path, when, lines, expected):
    e = engine_with(tmp_path, rule("t.rule", when))
    assert [x[1] for x in fired(e, *lines)] == expected


CLAIM_CASES = [
    ("diagnosis: {any_prefix: [G89.2]}\n", {"diagnoses": ["G89.29"]}, True),
    ("diagnosis: {any_prefix: [G89.2]}\n", {"diagnoses": ["M54.5"]}, False),
    ("diagnosis: {none_prefix: [M54]}\n", {"diagnoses": ["G89.29"]}, True),
    ("place_of_service: {in: ['11']}\n", {"place_of_service": "11"}, True),
    ("place_of_service: {in: ['11']}\n", {"place_of_service": "22"}, False),
    ("provider_type: {in: [chiropractor]}\n", {"provider": {"type": "Chiropractor"}}, True),
    ("patient_age: {lt: 18}\n", {"patient": {"birth_date": "2010-03-05"}}, True),
    ("patient_age: {lt: 18}\n", {"patient": {"birth_date": "2000-03-05"}}, False),
    ("patient_age: {missing: true}\n", {}, True),
    ("claim_field: {plan_of_care.goals: {missing: true}}\n", {"plan_of_care": {"goals": []}}, True),
    ("claim_field: {plan_of_care.goals: {missing: true}}\n", {"plan_of_care": {"goals": ["walk"]}}, False),
]


@pytest.mark.parametrize("when,extra,fires", CLAIM_CASES)
def test_claim_conditions_in_line_and_claim_scope(tmp_path, when, extra, fires):
    e = engine_with(tmp_path, rule("t.line", "code: {in: ['97110']}\n" + when)
                    + rule("t.claim", when, scope="claim"))
    got = fired(e, {"code": "97110"}, {"code": "97140"}, **extra)
    assert got == ([("t.claim", (1, 2)), ("t.line", (1,))] if fires else [])


def test_age_at_date_of_service(tmp_path):
    e = engine_with(tmp_path, rule("t.minor", "patient_age: {lt: 18}\n"))
    # 18th birthday on 2024-03-05: a minor on the 4th, not on the 5th
    assert fired(e, {"code": "97110", "date_of_service": "2024-03-04"}, patient={"birth_date": "2006-03-05"})
    assert not fired(e, {"code": "97110", "date_of_service": "2024-03-05"}, patient={"birth_date": "2006-03-05"})


def test_other_line_same_date_and_lowest_line(tmp_path):
    e = engine_with(tmp_path, rule("t.pair", "code: {in: ['97124']}\nother_line: {where: {code: {in_set: manual}}}\n"))
    got = fired(e, {"code": "97124", "line": 5}, {"code": "97140", "line": 9}, {"code": "97124", "line": 3},
                {"code": "97140", "line": 7, "date_of_service": "2024-03-09"})
    assert got == [("t.pair", (3, 5)), ("t.pair", (5, 3))]  # the lowest other line on the same date


def test_other_line_absent(tmp_path):
    e = engine_with(tmp_path, rule("t.alone", "code: {in: ['97124']}\nother_line: {exists: false, where: {code: {in: ['97140']}}}\n"))
    assert fired(e, {"code": "97124"}, {"code": "97110"}) == [("t.alone", (1,))]
    assert fired(e, {"code": "97124"}, {"code": "97140"}) == []
    assert fired(e, {"code": "97124"}, {"code": "97140", "date_of_service": "2024-04-01"}) == [("t.alone", (1,))]


def test_other_line_body_regions(tmp_path):
    e = engine_with(tmp_path, rule("t.same", "code: {in: ['97124']}\nother_line: {same_body_region: true}\n")
                    + rule("t.diff", "code: {in: ['97124']}\nother_line: {different_body_region: true}\n"))
    assert fired(e, {"code": "97124", "body_region": "Neck"}, {"code": "97140", "body_region": "neck"}) == [("t.same", (1, 2))]
    assert fired(e, {"code": "97124", "body_region": "neck"}, {"code": "97140", "body_region": "back"}) == [("t.diff", (1, 2))]
    assert fired(e, {"code": "97124"}, {"code": "97140", "body_region": "back"}) == []  # unknown is neither


def test_other_line_any_date(tmp_path):
    e = engine_with(tmp_path, rule("t.any", "code: {in: ['97124']}\nother_line: {same_date: false, where: {code: {in: ['97140']}}}\n"))
    assert fired(e, {"code": "97124"}, {"code": "97140", "date_of_service": "2024-05-01"}) == [("t.any", (1, 2))]


def test_claim_scope_any_line_and_no_line(tmp_path):
    e = engine_with(tmp_path, rule("t.c", "any_line: {code: {in: ['98940']}}\nno_line: {modifiers: {any_of: [AT]}}\n",
                                   scope="claim"))
    assert fired(e, {"code": "97110"}, {"code": "98940"}, {"code": "98940"}) == [("t.c", (2, 3))]
    assert fired(e, {"code": "98940"}, {"code": "97110", "modifiers": ["AT"]}) == []
    assert fired(e, {"code": "97110"}) == []


def test_effective_window(tmp_path):
    e = engine_with(tmp_path, rule("t.w", "code: {in: ['97110']}\n",
                                   extra="  effective_from: '2024-04-01'\n  effective_to: '2024-06-30'\n"))
    assert fired(e, {"code": "97110", "date_of_service": "2024-03-31"}) == []
    assert fired(e, {"code": "97110", "date_of_service": "2024-04-01"}) == [("t.w", (1,))]
    assert fired(e, {"code": "97110", "date_of_service": "2024-07-01"}) == []


def test_message_fix_and_denial(tmp_path):
    e = engine_with(tmp_path, """\
        - id: t.fix
          description: add GP
          citation: "manual s. 1"
          when: {code: {in: ['97110']}, modifiers: {none_of: [GP]}}
          edit: {category: modifier, severity: warning, message: "line {line}: {code} needs GP", group: CO, carc: 4, fix: {action: add_modifier, modifier: GP}}
        """)
    r = e.evaluate(claim("rp", {"code": "97110"}))
    (ed,) = [x for x in r.edits if x.rule == "t.fix"]
    assert ed.message == "line 1: 97110 needs GP" and (ed.group, ed.carc) == ("CO", "4")
    assert ed.fix == {"action": "add_modifier", "modifier": "GP", "line": 1} and ed.severity == "warning"
    after, fixed, applied, _ = e.fix(claim("rp", {"code": "97110", "minutes": 20}))
    assert fixed["lines"][0]["modifiers"] == ["GP"] and after.status == "pass"


@pytest.mark.parametrize("text,expect", [
    (rule("t.x", "code: {in_set: manul}\n"), "unknown code set 'manul' (did you mean 'manual'?)"),
    (rule("t.x", "any:\n  - other_line: {where: {code: {in: ['97110']}}}\n"), "other_line may only stand at the top"),
    (rule("t.x", "code: {in: ['97110']}\n") + rule("t.x", "code: {in: ['97140']}\n"), "rule id 't.x' is used twice"),
    (rule("t.x", "code: {in: ['97110']}\n").replace("{rule}", "{0.__class__}"), "is not allowed"),
    (rule("t.x", "modifers: {any_of: [GP]}\n"), "unknown key 'modifers'"),
    (rule("t.x", "minutes: {gte: 8}\n").replace("scope: line", "scope: lines"), "'lines' is not one of line, claim"),
])
def test_rule_errors_name_file_line_and_suggest(tmp_path, text, expect):
    with pytest.raises(PolicyError) as exc:
        engine_with(tmp_path, text)
    msg = str(exc.value)
    assert expect in msg and "rp.yaml:" in msg
    assert any(p.line and p.line >= 15 for p in exc.value.problems)  # points into the rules, not the top


def test_suggestion_for_misspelled_condition(tmp_path):
    with pytest.raises(PolicyError) as exc:
        engine_with(tmp_path, rule("t.x", "modifers: {any_of: [GP]}\n"))
    assert "did you mean 'modifiers'?" in str(exc.value)


def test_index_only_rules_that_can_apply(tmp_path):
    many = "".join(rule(f"t.r{i}", f"code: {{in: ['{90000 + i}']}}\n") for i in range(400))
    many += rule("t.any", "modifiers: {any_of: [KX]}\n")
    e = engine_with(tmp_path, many)
    ev: BuiltinEvaluator = e.plugin_data(e.policies.versions("rp")[0], "policy_rules")
    from payer_rules import parse_claim
    c = parse_claim(claim("rp", {"code": "90123"}, {"code": "90007"}, {"code": "97110"}))
    assert [r.id for r in ev.candidates(c)] == ["t.r7", "t.r123", "t.any"]  # policy order, not the claim's
    again = parse_claim(claim("rp", {"code": "90007"}, {"code": "97110"}, {"code": "90123"}))
    assert [r.id for r in ev.candidates(again)] == ["t.r7", "t.r123", "t.any"]  # the same codes: remembered
    assert [r.id for r in ev.candidates(parse_claim(claim("rp", {"code": "97110"})))] == ["t.any"]
    assert len(ev.rules) == 401
    assert fired(e, {"code": "90007"}, {"code": "97110", "modifiers": ["KX"]}) == [("t.any", (2,)), ("t.r7", (1,))]


def test_rules_are_data_not_code(tmp_path):
    with pytest.raises(PolicyError):
        engine_with(tmp_path, rule("t.x", "code: {in: ['97110']}\n").replace(
            "message: 'rule", "message: !!python/name:os.system 'rule"))


def test_condition_table_and_policy_schema_name_the_same_conditions():
    # a condition is one entry in payer_rules.rules.conditions; the schema must accept its key
    from payer_rules.policy import load_schema
    from payer_rules.rules.conditions import BY_KEY
    defs = load_schema("policy")["$defs"]
    in_schema = {k for d in ("line_cond", "rule_when", "claim_when") for k in defs[d]["properties"]}
    assert in_schema == set(BY_KEY)
    line_keys = {k for k, e in BY_KEY.items() if e.on == "line"}
    assert not line_keys & set(defs["claim_when"]["properties"])  # a claim rule's own when has no line test
