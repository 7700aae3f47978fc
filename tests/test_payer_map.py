"""Payer mapping for 837s: the bundled Medicare MAC ids, an installation's mapping file,
the per-claim error for an unmapped id, --payer overriding, and the result that says which
line's date falls outside which policy windows (in the result only, never in logs)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import jsonschema
import pytest

from payer_rules import Engine
from payer_rules.policy import load_schema
from payer_rules.payer_map import ENV, PayerMapError, load
from payer_rules.x12 import parse_837

from conftest import SHARED
from test_x12 import THERAPY


def claims_for(text: str, engine: Engine) -> list:
    return list(parse_837(text, engine.x12_payers(), "t.837"))


def test_bundled_medicare_lists_mac_part_b_ids(engine):
    payers = engine.x12_payers()
    for mac_id in ("04412", "12302", "12502", "01182", "15202", "09102"):
        assert payers[mac_id] == "medicare"


def test_result_shows_payer_id_and_name(engine):
    r = engine.evaluate(claims_for(THERAPY, engine)[0])
    assert r.payer == "medicare" and r.status != "error"
    assert r.to_dict()["source"] == {"format": "x12", "payer_id": "04412", "payer_name": "MEDICARE"}
    jsonschema.Draft202012Validator(load_schema("result")).validate(json.loads(r.to_json()))
    assert "source" not in engine.evaluate({"claim_id": "j", "payer": "medicare", "lines": [
        {"code": "97110", "minutes": 30, "date_of_service": "2024-03-04", "modifiers": ["GP"]}]}).to_dict()


def test_unmapped_payer_is_a_per_claim_error_naming_id_and_name(engine):
    text = THERAPY.replace("NM1*PR*2*MEDICARE*****PI*04412", "NM1*PR*2*ACME HEALTH PLAN*****PI*ZZ999")
    c = claims_for(text, engine)[0]
    r = engine.evaluate(c)
    assert r.status == "error" and r.edits[0].rule == "input.unmapped_payer"
    assert "'ZZ999'" in r.error and "ACME HEALTH PLAN" in r.error and "--payer" in r.error
    assert r.to_dict()["source"]["payer_id"] == "ZZ999"
    # --payer still overrides
    assert engine.evaluate(c, "medicare").status != "error"


def test_installation_map_file(tmp_path, monkeypatch, engine):
    m = tmp_path / "payers.yaml"
    m.write_text('payers:\n  "ZZ999": generic-commercial\n  "04412": generic-commercial\n')
    monkeypatch.setenv(ENV, str(m))
    payers = engine.x12_payers()
    assert payers["ZZ999"] == "generic-commercial"
    assert payers["04412"] == "generic-commercial"  # the installation wins over a policy
    assert payers["12302"] == "medicare"


@pytest.mark.parametrize("text,expect", [
    ("payers:\n  X1: nobody\n", "payers.X1: no loaded policy has payer id 'nobody'"),
    ("payer:\n  X1: medicare\n", "expected a mapping with a 'payers' mapping"),
    ("payers:\n  X1: [medicare]\n", "payers.X1: the policy payer id must be text"),
    ("payers: {X1: medicare}\nextra: 1\n", "unknown key 'extra'"),
    ("payers: [\n", "not valid YAML at line"),
])
def test_bad_map_files(tmp_path, text, expect):
    m = tmp_path / "payers.yaml"
    m.write_text(text)
    with pytest.raises(PayerMapError) as exc:
        load(m, ["medicare", "generic-commercial"])
    assert expect in str(exc.value) and str(m) in str(exc.value)


def test_cli_uses_map_file_and_reports_a_bad_one(tmp_path):
    f = tmp_path / "c.837"
    f.write_text(THERAPY.replace("PI*04412", "PI*CH001"))
    m = tmp_path / "payers.yaml"
    m.write_text("payers:\n  CH001: medicare\n")
    env = {ENV: str(m), "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "-m", "payer_rules.cli", "check", str(f)], capture_output=True, text=True, env=env)
    first = json.loads(r.stdout.splitlines()[0])
    assert first["payer"] == "medicare" and first["source"]["payer_id"] == "CH001"
    m.write_text("payers:\n  CH001: medicar\n")
    r = subprocess.run([sys.executable, "-m", "payer_rules.cli", "check", str(f)], capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "no loaded policy has payer id 'medicar'" in r.stderr and "Traceback" not in r.stderr


def test_outside_every_version_names_line_date_and_windows_in_the_result_only(engine, caplog):
    text = THERAPY.replace("DTP*472*D8*20240304~\nLX*2", "DTP*472*D8*20050215~\nLX*2")
    with caplog.at_level(logging.DEBUG, logger="payer_rules"):
        r = engine.evaluate(claims_for(text, engine)[0])
    assert r.edits[0].rule == "input.no_policy_version"
    assert r.error.startswith("line 1 (2005-02-15): outside every medicare policy version (")
    assert "2017-01-01" in r.error  # the windows
    assert "2005" not in caplog.text


@pytest.mark.skipif(not (SHARED / "data" / "x12").is_dir(), reason="needs ../shared/data/x12")
def test_public_sample_names_its_payer():
    e = Engine()
    path = SHARED / "data" / "x12" / "linuxforhealth" / "demo.example6.837"
    c = list(parse_837(path.read_text(), e.x12_payers(), path.name))[0]
    r = e.evaluate(c)
    assert r.edits[0].rule == "input.unmapped_payer" and "C12345" in r.error and "MEDICARE PART B MARYLAND" in r.error
    r = e.evaluate(c, "medicare")  # an old sample: its date is outside the bundled windows
    assert r.edits[0].rule == "input.no_policy_version" and "line 1 (" in r.error
