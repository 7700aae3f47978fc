"""explain: versions and why, units step by step, edits with who made them, near misses."""

from __future__ import annotations

import json
import subprocess
import sys

from payer_rules import Engine

from conftest import claim


def explain(engine, c):
    return engine.explain(c)


def test_explain_structure(engine):
    c = claim("generic-commercial",
              {"code": "97140", "minutes": 15, "units": 1, "diagnosis_pointers": [1], "body_region": "neck"},
              {"code": "97124", "modifiers": ["59"], "minutes": 15, "units": 1, "diagnosis_pointers": [1],
               "body_region": "neck", "techniques": ["stroking"]},
              diagnoses=["M54.2"])
    info = engine.explain(c)
    assert info["status"] == "fail"
    (v,) = info["versions"]
    assert v["version"] == "2024.1" and "lies in 2024.1's window 2017-01-01 to open" in v["why"]
    assert info["units"]["steps"] and info["units"]["lines"][0]["decided_by"] == "per_code_midpoint"
    (e,) = [x for x in info["edits"] if x["rule"] == "commercial.massage_manual_same_region"]
    assert e["by"] == "policy_rules" and e["denial"] == "CO-4"
    misses = "\n".join(info["near_misses"])
    assert "switched off by the generic-commercial policy" in misses
    assert "rule commercial.massage_with_manual_therapy, line 2 97124: did not fire: needs none of modifiers 59, XS" in misses
    assert "MUE 97140 on 2024-04-04: 1 unit(s) of 6 allowed" in misses
    assert "policy_rules" in info["plugins"]["check_claim"]


def test_explain_ncci_bypass_and_window(engine):
    info = engine.explain(claim("medicare",
                                {"code": "97530", "minutes": 15, "modifiers": ["GP"], "date_of_service": "2019-08-01"},
                                {"code": "97140", "minutes": 15, "modifiers": ["GP", "XE"], "date_of_service": "2019-08-01"}))
    assert any("NCCI 97140/97530 (lines 2/1): bypassed by XE (indicator 1)" in m for m in info["near_misses"])
    info = engine.explain(claim("medicare", {"code": "97530", "minutes": 15, "modifiers": ["GP"]},
                                {"code": "97140", "minutes": 15, "modifiers": ["GP"]}))
    assert any("no edit in force on 2024-04-04 (the table has it start to 2019-12-31)" in m for m in info["near_misses"])


def test_explain_versions_per_date(tmp_path):
    from test_policy import VERSIONS, write
    e = Engine(write(tmp_path, VERSIONS))
    info = e.explain(claim("testpayer", {"code": "97110", "minutes": 10, "date_of_service": "2023-12-31"},
                           {"code": "97140", "minutes": 10, "date_of_service": "2024-01-01"}))
    assert [v["version"] for v in info["versions"]] == ["2023", "2024"]
    assert "not 2024 (2024-01-01 to open)" in info["versions"][0]["why"]


def test_explain_error_claim(engine):
    info = engine.explain({"claim_id": "E", "payer": "medicare", "lines": [{"code": "97110", "minutes": -1,
                                                                          "date_of_service": "2024-01-01"}]})
    assert info["status"] == "error" and "minutes" in info["why"]


def test_explain_cli(tmp_path):
    f = tmp_path / "c.json"
    f.write_text(json.dumps(claim("medicare", {"code": "98940", "modifiers": ["AT", "GA"], "units": 1})))
    r = subprocess.run([sys.executable, "-m", "payer_rules.cli", "explain", str(f)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    for heading in ("policy version", "units", "edits", "did not fire", "plugins"):
        assert f"\n{heading}\n" in r.stdout
    assert "modifier.at_with_ga by policy_rules [CO-4]" in r.stdout
    r = subprocess.run([sys.executable, "-m", "payer_rules.cli", "explain", str(f), "--format", "json"],
                       capture_output=True, text=True)
    assert json.loads(r.stdout)["edits"]


def test_check_explain_flag(tmp_path):
    f = tmp_path / "c.json"
    f.write_text(json.dumps(claim("medicare", {"code": "97110", "minutes": 23, "modifiers": ["GP"]})))
    r = subprocess.run([sys.executable, "-m", "payer_rules.cli", "check", str(f), "--explain", "--format", "text"],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "\npolicy version\n" in r.stdout and "did not fire" in r.stdout
