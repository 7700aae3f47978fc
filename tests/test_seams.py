"""The plugin seams: scope, isolation, the edit catalogue, the writer registry, and the
library surface (Mapping claims, schema version, logging)."""

from __future__ import annotations

import copy
import json
import logging
import subprocess
import sys
import time
from collections import OrderedDict
from types import MappingProxyType

import pytest

import payer_rules
from payer_rules import Allocation, Edit, Engine, UnitDecision, hookimpl
from payer_rules.cli import main
from payer_rules.cli.claims import catalogue_markdown
from payer_rules.policy import bundled_dir
from payer_rules.policy_tests import collect_cases

from conftest import ROOT, claim, rules_of, units_of

EXAMPLE = ROOT / "docs" / "examples"
ACME_POLICY = (EXAMPLE / "acme_policies" / "acme.yaml").read_text()


def _medicare_claims():
    """The bundled Medicare policy test cases' claims."""
    return [c for case in collect_cases([bundled_dir()]) if case.payer == "medicare" for c in case.claims]


def test_installed_payer_plugin_without_its_policy_runs_for_no_claim(acme_installed):
    baseline = [Engine().evaluate(c).to_json() for c in _medicare_claims()]
    # acme_units is installed now, but no loaded policy names it
    engine = Engine()
    assert "acme_units" in engine.plugins.names()
    assert engine.unused_plugins() == ["acme_units"]
    assert [engine.evaluate(c).to_json() for c in _medicare_claims()] == baseline
    r = engine.evaluate(claim("medicare", {"code": "97110", "minutes": 29, "modifiers": ["GP"]}))
    assert units_of(r) == {"97110": 2} and r.lines[0].source == "cms_total_time"


def test_unused_plugin_reported_by_payers_and_lint(acme_installed, capsys):
    assert main(["payers"]) == 0
    assert "plugin acme_units: installed, but no loaded policy names it" in capsys.readouterr().out
    assert main(["lint", str(bundled_dir())]) == 0
    assert "plugin 'acme_units' is installed but no loaded policy names it" in capsys.readouterr().out


def test_bundled_policy_tests_unchanged_with_a_payer_plugin_installed(acme_installed, capsys):
    assert main(["test", str(bundled_dir())]) == 0
    assert " 0 failed" in capsys.readouterr().out


class Overrider:
    """A host plugin that would override units for every claim if it ran."""

    @hookimpl
    def compute_units(self, claim, policy, lines):
        return Allocation("overrider", "overrider", {tl.line.line: UnitDecision(9, "nine") for tl in lines})


class GlobalOverrider(Overrider):
    PAYER_RULES_GLOBAL = True


def test_host_plugins_follow_the_same_scope(tmp_path):
    c = claim("medicare", {"code": "97110", "minutes": 29, "modifiers": ["GP"]})
    assert units_of(Engine(plugins=[("overrider", Overrider())]).evaluate(c)) == {"97110": 2}
    assert units_of(Engine(plugins=[("overrider", GlobalOverrider())]).evaluate(c)) == {"97110": 9}
    pol = tmp_path / "acme.yaml"
    pol.write_text(ACME_POLICY.replace("[acme_units]", "[overrider]"))
    e = Engine([bundled_dir(), pol], plugins=[("overrider", Overrider())])
    assert units_of(e.evaluate(claim("acme", {"code": "97110", "minutes": 29}))) == {"97110": 9}
    assert units_of(e.evaluate(c)) == {"97110": 2}


class Mutator:
    """Tries to change everything it is handed."""

    PAYER_RULES_GLOBAL = True

    def __init__(self, what):
        self.what = what

    @hookimpl
    def check_claim(self, claim, policy, allocation):
        self.what(claim, policy, allocation)
        return []


MUTATIONS = {
    "policy.timed": lambda c, p, a: p.timed.pop("97110"),
    "policy.settings": lambda c, p, a: p.settings["ncci"].clear(),
    "policy attribute": lambda c, p, a: setattr(p, "unit_method", "per_code_midpoint"),
    "claim.patient": lambda c, p, a: c.patient.clear(),
    "nested patient": lambda c, p, a: c.patient["therapy_ytd"].update(pt_slp=0),
    "claim.lines": lambda c, p, a: setattr(c, "lines", ()),
    "line code": lambda c, p, a: setattr(c.lines[0], "code", "97140"),
    "line extra": lambda c, p, a: c.lines[0].extra.update(x=1),
    "allocation": lambda c, p, a: a.decisions.clear(),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_a_plugin_cannot_change_other_claims_or_the_callers_input(name):
    claims = [claim("medicare", {"code": "97110", "minutes": 30 + i, "modifiers": ["GP"], "units": 2, "x": [1]},
                    {"code": "97140", "minutes": 8, "modifiers": ["GP"]}, claim_id=f"C{i}",
                    patient={"therapy_ytd": {"pt_slp": 3000 + i}}) for i in range(15)]
    expected = [Engine().evaluate(c).to_json() for c in claims]
    before = copy.deepcopy(claims)
    engine = Engine(plugins=[("mutator", Mutator(MUTATIONS[name]))])
    results = [engine.evaluate(c) for c in claims]
    assert claims == before  # the caller's dicts are untouched
    for r in results:  # each attempt fails on its own claim, naming the plugin
        assert r.status == "error" and r.error.startswith("plugin 'mutator' failed in check_claim: raised ")
    plain = Engine()
    assert [plain.evaluate(c).to_json() for c in claims] == expected


def _broken(hook: str, body):
    ns = {"PAYER_RULES_GLOBAL": True}
    if hook == "compute_units":
        ns[hook] = hookimpl(lambda self, claim, policy, lines: body())
    elif hook == "adjust_result":
        ns[hook] = hookimpl(lambda self, result, claim, policy: body(result))
    else:
        ns[hook] = hookimpl(lambda self, claim, policy, allocation: body())
    return type("Broken", (), ns)()


def _edit(**kw):
    base = dict(rule="units.over_billed", category="units", severity="error", lines=(1,), message="m", source="b")
    base.update(kw)
    return Edit(**base)


def _raise(exc):
    raise exc


FAULTS = {
    "raises ValueError": ("check_claim", lambda: _raise(ValueError("patient PATIENT-XYZ")), "raised ValueError"),
    "raises SystemExit": ("check_claim", lambda: _raise(SystemExit(3)), "raised SystemExit"),
    "returns a dict": ("check_claim", lambda: {"rule": "x"}, "returned dict, not a list"),
    "message an object": ("check_claim", lambda: [_edit(message=object())], "with a field of the wrong type"),
    "unknown rule": ("check_claim", lambda: [_edit(rule="made.up")], "not in the edit catalogue"),
    "other category": ("check_claim", lambda: [_edit(category="bundling")], "the catalogue says 'units'"),
    "huge units": ("compute_units", lambda: Allocation("b", "b", {1: UnitDecision(10 ** 30, "x")}),
                   "not a whole number from 0 to 9999"),
    "claim_id a set": ("adjust_result", lambda r: setattr(r, "claim_id", {"a"}), "left a claim_id or payer"),
    "edits not a list": ("adjust_result", lambda r: setattr(r, "edits", None), "not lists"),
}


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_a_faulty_plugin_costs_that_claim_and_names_plugin_and_hook(name, caplog):
    hook, body, what = FAULTS[name]
    engine = Engine(plugins=[("broken", _broken(hook, body))])
    c = claim("medicare", {"code": "97110", "minutes": 30, "modifiers": ["GP"]}, claim_id="C1",
              patient={"id": "PATIENT-XYZ"})
    with caplog.at_level(logging.DEBUG, logger="payer_rules"):
        r = engine.evaluate(c)
    assert r.status == "error" and r.claim_id == "C1"
    assert r.error.startswith(f"plugin 'broken' failed in {hook}: ") and what in r.error, r.error
    assert [e.rule for e in r.edits] == ["plugin.failed"] and r.edits[0].category == "internal"
    assert "PATIENT-XYZ" not in r.to_json().decode() and "PATIENT-XYZ" not in caplog.text
    assert "plugin 'broken' failed" in caplog.text


def test_keyboard_interrupt_still_stops():
    engine = Engine(plugins=[("broken", _broken("check_claim", lambda: _raise(KeyboardInterrupt())))])
    with pytest.raises(KeyboardInterrupt):
        engine.evaluate(claim("medicare", {"code": "97110", "minutes": 30}))


def test_time_budget_names_the_plugin_that_hangs():
    engine = Engine(plugins=[("slow", _broken("check_claim", lambda: time.sleep(5)))])
    c = claim("medicare", {"code": "97110", "minutes": 30, "modifiers": ["GP"]})
    started = time.monotonic()
    r = engine.evaluate(c, time_budget=0.2)
    assert time.monotonic() - started < 3
    assert r.status == "error" and r.error == ("plugin 'slow' failed in check_claim: the claim's time budget "
                                               "ran out while it ran; the claim was not evaluated")
    assert Engine().evaluate(c, time_budget=5).status != "error"  # the timer is cleared afterwards
    time.sleep(0.3)


def test_prepare_policy_failure_is_a_policy_error_naming_the_plugin():
    class Bad:
        PAYER_RULES_GLOBAL = True

        @hookimpl
        def prepare_policy(self, policy):
            raise TypeError("boom")

    with pytest.raises(payer_rules.PolicyError, match="plugin 'bad' failed in prepare_policy: TypeError"):
        Engine(plugins=[("bad", Bad())])


def test_every_edit_emitted_is_in_the_catalogue_with_its_category():
    engine = Engine()
    seen = {}
    for case in collect_cases([bundled_dir()]):
        for c in case.claims:
            r = engine.evaluate(c)
            for e in r.edits:
                seen[e.rule] = e.category
    for payer in engine.policies.payers():
        catalogue = {s.id: s.category for s in engine.edits(payer)}
        for rule, category in seen.items():
            if rule in catalogue:
                assert catalogue[rule] == category, rule
    everything = {s.id: s.category for p in engine.policies.payers() for s in engine.edits(p)}
    assert set(seen) <= set(everything), set(seen) - set(everything)
    assert len(seen) >= 15  # the bundled cases exercise the catalogue broadly


def test_catalogue_cli_and_docs_table(capsys):
    assert main(["edits", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    ids = [r["id"] for r in rows]
    assert ids == sorted(ids) and {"ncci.ptp", "mue.mai3", "units.over_billed", "plugin.failed"} <= set(ids)
    ncci = next(r for r in rows if r["id"] == "ncci.bypass_same_region")
    assert ncci["category"] == "bundling" and ncci["plugin"] == "ncci_ptp" and ncci["section"] == "ncci"
    assert main(["edits", "--payer", "medicare", "--format", "json"]) == 0
    assert "modifier.at_missing" in {r["id"] for r in json.loads(capsys.readouterr().out)}
    doc = (ROOT / "docs" / "edits.md").read_text()
    table = doc.split("<!-- catalogue -->")[1]
    assert table.strip() == catalogue_markdown(Engine().edits()).strip(), \
        "docs/edits.md is stale: payer-rules edits --format markdown, between the <!-- catalogue --> markers"


def test_policy_rule_id_may_not_take_a_plugins_edit_id(tmp_path):
    pol = tmp_path / "p.yaml"
    pol.write_text(ACME_POLICY.replace("plugins: [acme_units]\n", "") + """rules:
  - id: ncci.ptp
    description: clash
    when: {code: {in: ["97110"]}}
    edit: {category: bundling, severity: error, message: "x"}
""")
    with pytest.raises(payer_rules.PolicyError, match="rule id 'ncci.ptp' is already an edit of ncci_ptp"):
        Engine(pol)


def test_claims_as_any_mapping_and_numpy_scalars():
    engine = Engine()
    c = claim("medicare", {"code": "97110", "minutes": 33, "modifiers": ["GP"], "units": 2})
    want = engine.evaluate(c).to_json()
    od = OrderedDict(c)
    od["lines"] = [OrderedDict(ln) for ln in c["lines"]]
    assert engine.evaluate(od).to_json() == want
    assert engine.evaluate(MappingProxyType(c)).to_json() == want
    np = pytest.importorskip("numpy")
    n = copy.deepcopy(c)
    n["lines"][0]["minutes"] = np.int64(33)
    n["lines"][0]["units"] = np.float64(2.0)
    assert engine.evaluate(n).to_json() == want
    bad = engine.evaluate(["not", "a", "mapping"])
    assert bad.status == "error" and "a claim must be a JSON object" in bad.error


def test_result_schema_version_and_package_version():
    r = Engine().evaluate(claim("medicare", {"code": "97110", "minutes": 30}))
    assert r.to_dict()["schema_version"] == payer_rules.RESULT_SCHEMA_VERSION == 1
    assert next(iter(json.loads(r.to_json()))) == "schema_version"
    from importlib.metadata import version
    assert payer_rules.__version__ == version("payer-rules")
    for name in ("Policy", "ReadError", "SourceError", "run_batch", "EditSpec", "Engine"):
        assert name in payer_rules.__all__


def test_writers_are_plugins_chosen_by_format(tmp_path):
    engine = Engine()
    assert {"json", "text"} <= set(engine.plugins.writers)
    assert engine.plugins.writers["text"].plugin == "writers"
    f = tmp_path / "c.json"
    f.write_text(json.dumps(claim("medicare", {"code": "97110", "minutes": 33, "modifiers": ["GP"], "units": 3})))
    out = subprocess.run([sys.executable, "-m", "payer_rules.cli", "check", str(f), "--format", "text"],
                         capture_output=True, text=True)
    assert "fix: Bill 2 units on line 1." in out.stdout, out.stdout + out.stderr
    out = subprocess.run([sys.executable, "-m", "payer_rules.cli", "check", str(f), "--format", "yaml"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "no writer named 'yaml'" in out.stderr


def test_fix_text_reads_as_sentences():
    from payer_rules.writers import fix_text
    assert fix_text({"action": "set_units", "line": 2, "units": 1}) == "Bill 1 unit on line 2."
    assert fix_text({"action": "remove_line", "line": 3}) == "Remove line 3: it is not separately payable."
    assert fix_text({"action": "add_modifier", "line": 1, "choices": ["GP", "GO"]}) == \
        "Add one of GP, GO to line 1 (a person chooses which)."
    assert fix_text({"action": "merge_lines", "lines": [1, 4], "code": "97110"}).startswith("Merge lines 1 and 4")


def test_a_policy_may_lower_the_lines_per_claim(tmp_path):
    pol = tmp_path / "acme.yaml"
    pol.write_text(ACME_POLICY.replace("plugins: [acme_units]\n", "max_lines: 2\n"))
    e = Engine(pol)
    two = claim("acme", {"code": "97110", "minutes": 20}, {"code": "97140", "minutes": 20})
    assert e.evaluate(two).status != "error"
    three = claim("acme", *[{"code": "97110", "minutes": 20, "line": i} for i in (1, 2, 3)])
    r = e.evaluate(three)
    assert r.status == "error" and [x.rule for x in r.edits] == ["input.too_many_lines"]
    assert "more than the acme policy allows (2; setting max_lines in the policy)" in r.error
