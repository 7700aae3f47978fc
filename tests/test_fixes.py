"""--fix: the corrected claim, applied only where no clinical judgment is needed."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import claim


def L(code, **kw):
    return {"code": code, "diagnosis_pointers": [1], **kw}


def test_fixes_interact_and_converge(engine):
    raw = claim("medicare",
                L("97110", modifiers=["GP"], minutes=33, units=3),
                L("97140", minutes=7, units=1),
                L("97010", units=1),
                L("97014", units=1), diagnoses=["M25.511"])
    after, fixed, applied, left = engine.fix(raw)
    assert after.status == "pass"
    assert [(ln["code"], ln["units"]) for ln in fixed["lines"]] == [("97110", 2), ("97140", 1), ("G0283", 1)]
    assert fixed["lines"][1]["modifiers"] == ["GP"]
    assert {f["action"] for f in applied} == {"add_modifier", "replace_code", "remove_line", "set_units"}
    assert raw["lines"][0]["units"] == 3  # the input is not changed


def test_judgment_fixes_left_alone(engine):
    raw = claim("medicare", L("97140", minutes=10, units=1), diagnoses=["M25.511"])  # which discipline?
    after, fixed, applied, left = engine.fix(raw)
    assert applied == [] and fixed == raw and after.status == "fail"
    kx = claim("medicare", L("97110", modifiers=["GP"], minutes=30, units=2), diagnoses=["M25.511"],
               patient={"therapy_ytd": {"pt_slp": 5000}})
    after, fixed, applied, _ = engine.fix(kx)
    assert "KX" not in fixed["lines"][0]["modifiers"]  # attesting medical necessity is a person's call


def test_cli_fix_output():
    raw = claim("medicare", L("97110", modifiers=["GP"], minutes=33, units=3), diagnoses=["M25.511"])
    out = subprocess.run([sys.executable, "-m", "payer_rules.cli", "check", "-", "--fix"],
                         input=json.dumps(raw), capture_output=True, text=True)
    d = json.loads(out.stdout)
    assert d["status"] == "fail" and d["fixed_status"] == "pass"
    assert d["fixed_claim"]["lines"][0]["units"] == 2 and d["fixes_applied"][0]["rule"] == "units.over_billed"
