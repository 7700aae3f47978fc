"""The engine as a host uses it: bad input never raises, results are deterministic,
one Engine is shared between threads, and results match the shipped result schema."""

from __future__ import annotations

import json
import random
import threading

import jsonschema
import pytest

from payer_rules import Engine
from payer_rules.cli import dump
from payer_rules.policy import load_schema

from conftest import ROOT, claim, rules_of


def example_claims():
    return [json.loads(line) for line in (ROOT / "docs/examples/claims.jsonl").read_text().splitlines()]


def test_results_match_result_schema(engine):
    validator = jsonschema.Draft202012Validator(load_schema("result"))
    bad = [json.loads(x) for x in (ROOT / "docs/examples/bad_claims.jsonl").read_text().splitlines()
           if x.strip().endswith("}")]
    for r in engine.evaluate_many(example_claims() + bad + [{"nonsense": True}, 5]):
        validator.validate(json.loads(dump(r)))


def test_unknown_payer_lists_known(engine):
    r = engine.evaluate(claim("medicar", {"code": "97110", "minutes": 10}))
    assert r.status == "error"
    assert "did you mean 'medicare'?" in r.error and "generic-commercial, medicare" in r.error


def test_missing_payer(engine):
    r = engine.evaluate({"claim_id": "x", "lines": [{"code": "97110", "date_of_service": "2024-01-01"}]})
    assert r.status == "error" and "payer" in r.error
    r = engine.evaluate({"claim_id": "x", "lines": [{"code": "97110", "date_of_service": "2024-01-01"}]},
                        payer="medicare")
    assert r.status != "error"


def test_unknown_code_reported_not_fatal(engine):
    r = engine.evaluate(claim("medicare", {"code": "99999", "units": 1}, {"code": "97110", "minutes": 23,
                                                                         "modifiers": ["GP"]}))
    assert r.status == "warn"
    e = next(e for e in r.edits if e.rule == "code.unknown")
    assert e.lines == (1,) and (e.group, e.carc, e.rarc) == ("CO", "16", "M51")
    assert r.lines[1].units == 2


def test_not_a_dict_is_an_error_record(engine):
    for raw in (None, 5, "x", [], {"claim_id": "a"}):
        assert engine.evaluate(raw).status == "error"


def test_evaluate_many_keeps_count_and_order(engine):
    claims = example_claims() + [{"bad": 1}] + example_claims()
    results = list(engine.evaluate_many(claims))
    assert len(results) == len(claims)
    assert [r.index for r in results] == list(range(1, len(claims) + 1))
    assert [r.claim_id for r in results] == [c.get("claim_id") for c in claims]


def test_to_json_is_to_dict_written_as_json(engine):
    """to_json (the batch and CLI writer) and to_dict (the API's plain data) say the same."""
    import orjson
    bad = [json.loads(x) for x in (ROOT / "docs/examples/bad_claims.jsonl").read_text().splitlines()
           if x.strip().endswith("}")]
    results = list(engine.evaluate_many(example_claims() + bad + [{"nonsense": True}, 5]))
    results.append(engine.evaluate(example_claims()[0], explain=True))
    assert any(r.edits for r in results) and any(r.status == "error" for r in results)
    for r in results:
        assert r.to_json() == orjson.dumps(r.to_dict())
        assert r.to_json({"fixed": True}) == orjson.dumps({**r.to_dict(), "fixed": True})


def test_edit_source_and_denial_are_keywords():
    """Edit's fields are in output order; those after the message can only be named, so an
    old positional call fails loudly instead of filling the wrong field."""
    from payer_rules import Edit
    with pytest.raises(TypeError):
        Edit("r", "units", "error", (1,), "m", "plugin")
    e = Edit("r", "units", "error", (1,), "m", source="plugin")
    assert list(e.to_dict()) == ["rule", "category", "severity", "lines", "message", "group", "carc", "rarc",
                                 "source", "fix"]


def test_deterministic_bytes(engine):
    a = [dump(r) for r in engine.evaluate_many(example_claims())]
    b = [dump(r) for r in Engine().evaluate_many(example_claims())]
    assert a == b


def test_shared_between_threads(engine):
    rnd = random.Random(7)
    codes = ["97110", "97112", "97140", "97530", "97116", "97161", "97010"]
    claims = [claim("medicare" if i % 2 else "generic-commercial",
                    *[{"code": rnd.choice(codes), "minutes": rnd.randint(0, 60), "units": rnd.randint(0, 4),
                       "modifiers": ["GP"]} for _ in range(rnd.randint(1, 5))], claim_id=f"C{i}")
              for i in range(400)]
    expected = [dump(engine.evaluate(c)) for c in claims]
    got: dict[int, list[str]] = {}

    def work(k):
        got[k] = [dump(engine.evaluate(c)) for c in claims]

    def reload_loop():
        for _ in range(5):
            engine.reload()

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)] + [threading.Thread(target=reload_loop)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(got[k] == expected for k in range(4))


def test_edit_sources_and_denials_filled(engine):
    r = engine.evaluate(claim("medicare", {"code": "97110", "minutes": 33, "units": 3, "modifiers": ["GP"]}))
    assert all(e.source for e in r.edits)
    assert all(ln.source for ln in r.lines)
    assert "units.over_billed" in rules_of(r) and len(set(rules_of(r))) == len(rules_of(r))


from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)
line_like = st.dictionaries(
    st.sampled_from(["code", "modifiers", "date_of_service", "minutes", "units", "line", "diagnosis_pointers",
                     "body_region", "start_time", "end_time", "techniques", "assistant_minutes"]),
    json_values | st.sampled_from(["97110", "2024-03-04", "09:00", 15, ["GP"], [1]]), max_size=8)
claim_like = st.dictionaries(
    st.sampled_from(["claim_id", "payer", "lines", "patient", "provider", "diagnoses", "date_of_service",
                     "plan_of_care", "place_of_service"]),
    json_values | st.sampled_from(["medicare", "generic-commercial", "C1"]) | st.lists(line_like, max_size=4),
    max_size=9)


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(claim_like, json_values))
def test_any_input_gives_a_result_never_an_exception(engine, raw):
    r = engine.evaluate(raw)
    assert r.status in ("pass", "warn", "fail", "error")
    if r.status == "error":
        assert r.error and "internal error" not in r.error, r.error
