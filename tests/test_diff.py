"""diff: settings, rules and table rows that changed between two versions, and the impact
of the change on a claims file."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from payer_rules import Engine
from payer_rules.policy import bundled_dir
from payer_rules.policy_diff import DiffError, diff, render

from test_policy import VERSIONS, write


@pytest.fixture
def new_medicare(tmp_path):
    d = tmp_path / "new"
    shutil.copytree(bundled_dir(), d, ignore=shutil.ignore_patterns("*.test.yaml", "__*", "generic-*"))
    text = (d / "medicare.yaml").read_text()
    text = text.replace("2026: 2480}", "2026: 2480, 2027: 2550}")
    text = text.replace("version: MUE practitioner 2024-04-01", "version: MUE practitioner 2024-07-01")
    text = text.replace("  - id: modifier.at_with_ga", """  - id: modifier.gy_with_kx
    description: GY and KX contradict each other.
    when: {modifiers: {all_of: [GY, KX]}}
    edit: {category: modifier, severity: error, message: "line {line}: GY with KX"}
  - id: modifier.at_with_ga""")
    (d / "medicare.yaml").write_text(text)
    mue = d / "tables" / "medicare_mue_2024-04-01_therapy.csv"
    mue.write_text(mue.read_text().replace("97112,4,3", "97112,3,3"))
    return d / "medicare.yaml"


def test_diff_settings_rules_tables(engine, new_medicare):
    d = diff(engine, "medicare", "2024.1", str(new_medicare))
    assert "modifiers.kx.thresholds.2027: added (2550)" in d["settings"]
    assert d["rules"] == ["added rule modifier.gy_with_kx: GY and KX contradict each other."]
    assert "tables.mue: version 'MUE practitioner 2024-04-01' -> 'MUE practitioner 2024-07-01'" in d["tables"]
    assert "tables.mue: 0 added, 0 removed, 1 changed" in d["tables"]
    assert "  changed 97112: (4, 3) -> (3, 3)" in d["tables"]


def test_diff_impact_on_claims(engine, new_medicare, tmp_path):
    claims = tmp_path / "c.jsonl"
    rows = [
        {"claim_id": "A", "payer": "medicare", "diagnoses": ["M25.511"], "lines": [
            {"code": "97112", "modifiers": ["GP"], "date_of_service": "2024-04-04", "minutes": 60, "units": 4,
             "diagnosis_pointers": [1]}]},
        {"claim_id": "B", "payer": "medicare", "diagnoses": ["M25.511"], "lines": [
            {"code": "97110", "modifiers": ["GP", "GY", "KX"], "date_of_service": "2024-04-04", "minutes": 23,
             "units": 2, "diagnosis_pointers": [1]}]},
        {"claim_id": "C", "payer": "medicare", "diagnoses": ["M25.511"], "lines": [
            {"code": "97110", "modifiers": ["GP"], "date_of_service": "2024-04-04", "minutes": 23, "units": 2,
             "diagnosis_pointers": [1]}]},
    ]
    claims.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n")
    d = diff(engine, "medicare", "2024.1", str(new_medicare), str(claims))
    imp = d["impact"]
    assert imp["claims"] == 3 and imp["claims_changed"] == 2 and imp["unreadable"] == 1
    assert imp["status_transitions"] == {"pass -> fail": 2}
    assert imp["edits_added"] == {"modifier.gy_with_kx": 1, "mue.mai3": 1}
    assert imp["examples"]["+mue.mai3"] == ["A"]
    text = render(d)
    assert "impact on 3 claims: 2 change outcome" in text and "new edit mue.mai3: 1" in text


def test_diff_versions_of_one_file(tmp_path):
    e = Engine(write(tmp_path, VERSIONS))
    d = diff(e, "testpayer", "2023", "2024")
    assert d["settings"] == ["unit_method: 'per_code_midpoint' -> 'cms_total_time'"]
    with pytest.raises(DiffError, match="has no version '2025'"):
        diff(e, "testpayer", "2023", "2025")


def test_diff_cli(new_medicare):
    r = subprocess.run([sys.executable, "-m", "payer_rules.cli", "diff", "--payer", "medicare", "2024.1",
                        str(new_medicare), "--format", "json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["rules"]
    r = subprocess.run([sys.executable, "-m", "payer_rules.cli", "diff", "--payer", "medicare", "2024.1", "9.9"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "has no version '9.9'" in r.stderr
