"""The CLI end to end: formats, exit status, bad input, the calculator."""

from __future__ import annotations

import json
import subprocess
import sys

from payer_rules.cli import main

from conftest import ROOT

EXAMPLES = ROOT / "docs" / "examples"


def run(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "payer_rules.cli", *args], capture_output=True, text=True,
                          input=stdin)


def test_check_examples_json():
    out = run("check", str(EXAMPLES / "claims.jsonl"))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 5
    assert [json.loads(x)["claim_id"] for x in lines] == ["EX-001", "EX-002", "EX-003", "EX-004", "EX-006"]


def test_check_bad_claims_one_result_each_exit_1():
    src = (EXAMPLES / "bad_claims.jsonl").read_text().splitlines()
    out = run("check", str(EXAMPLES / "bad_claims.jsonl"))
    assert out.returncode == 1
    results = [json.loads(x) for x in out.stdout.splitlines()]
    assert len(results) == len(src)
    assert results[-1]["status"] == "warn"  # the last claim is fine but for an unknown code
    assert "Traceback" not in out.stderr
    msgs = " ".join(r.get("error", "") for r in results)
    assert "minutes" in msgs and "unknown payer" in msgs and "malformed JSON" in msgs
    assert "twenty" not in msgs + out.stderr


def test_check_text_format_and_stdin():
    data = (EXAMPLES / "claims.jsonl").read_text()
    out = run("check", "-", "--format", "text", stdin=data)
    assert out.returncode == 0
    assert "claim EX-002" in out.stdout and "units.over_billed [CO-151]" in out.stdout


def test_check_array_and_pretty_object(tmp_path):
    claims = [json.loads(x) for x in (EXAMPLES / "claims.jsonl").read_text().splitlines()]
    (tmp_path / "a.json").write_text(json.dumps(claims, indent=2))
    (tmp_path / "o.json").write_text(json.dumps(claims[0], indent=2))
    assert len(run("check", str(tmp_path / "a.json")).stdout.splitlines()) == len(claims)
    assert len(run("check", str(tmp_path / "o.json")).stdout.splitlines()) == 1


def test_payer_override_and_missing_file(tmp_path):
    out = run("check", str(tmp_path / "nope.json"))
    assert out.returncode == 2 and "cannot read" in out.stderr and "Traceback" not in out.stderr


def test_bad_policy_exit_2(tmp_path):
    (tmp_path / "x.yaml").write_text("schema_version: 1\npayer: x\n")
    out = run("payers", "--policies", str(tmp_path))
    assert out.returncode == 2 and "missing required key" in out.stderr and "Traceback" not in out.stderr


def test_units_calculator(capsys):
    assert main(["units", "--payer", "medicare", "--date", "2024-03-04", "97112=24", "97110=23"]) == 0
    text = capsys.readouterr().out
    assert "47 timed minutes" in text and "97112 x2, 97110 x1" in text and "total: 3 unit(s)" in text


def test_units_calculator_bad_pair(capsys):
    assert main(["units", "--payer", "medicare", "97110"]) == 2
    assert "CODE=MINUTES" in capsys.readouterr().err


def test_payers_and_schema(capsys):
    assert main(["payers", "--format", "json"]) == 0
    assert {p["payer"] for p in json.loads(capsys.readouterr().out)} == {"medicare", "generic-commercial"}
    assert main(["schema", "claim"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "payer-rules claim"


def test_schemas_page_is_current(capsys):
    assert main(["schema", "--markdown"]) == 0
    assert (ROOT / "docs" / "schemas.md").read_text() == capsys.readouterr().out, \
        "docs/schemas.md is stale: payer-rules schema --markdown > docs/schemas.md"
