"""``payer-rules new-payer``: a new payer's policy, test file and README from a bundled
policy; the test file passes as written, lint warns at every placeholder until it is
filled, nothing is overwritten, the name is checked."""

from __future__ import annotations

import datetime
import re
import subprocess
import sys
from pathlib import Path

import pytest

from payer_rules import Engine
from payer_rules.lint import lint
from payer_rules.scaffold import PLACEHOLDER, ScaffoldError, new_payer


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "payer_rules.cli", *args], capture_output=True, text=True, cwd=cwd)


@pytest.mark.parametrize("template", ["generic-commercial", "medicare"])
def test_generated_files_lint_and_test(tmp_path, template):
    d = tmp_path / "acme"
    r = cli("new-payer", "acme-health", "--from", template, "--dir", str(d))
    assert r.returncode == 0, r.stderr
    for name in ("acme-health.yaml", "acme-health.test.yaml", "README.md"):
        assert (d / name).is_file() and f"wrote {d / name}" in r.stdout
    assert (d / "tables" / "medicare_mue_2024-04-01_therapy.csv.provenance.json").is_file()
    policy = (d / "acme-health.yaml").read_text()
    assert re.search(r"^payer: acme-health$", policy, re.M) and f"payer: {template}" not in policy
    assert "x12_payer_ids: []" in policy  # never another payer's 837 ids
    # the test file passes as written, at full coverage of the scaffolded policy
    t = cli("test", str(d), "--min-coverage", "100")
    assert t.returncode == 0, t.stdout + t.stderr
    assert " 0 failed" in t.stdout and "rule coverage: 100%" in t.stdout
    # lint: each placeholder line is a warning (plain lint passes, --strict does not)
    lines = [i for i, ln in enumerate(policy.splitlines(), start=1) if PLACEHOLDER in ln]
    found = [p for p in lint([d]) if "placeholder left by payer-rules new-payer" in p.message]
    assert sorted(p.line for p in found) == lines and len(lines) >= 7
    assert all(p.severity == "warning" and p.path.endswith("acme-health.yaml") for p in found)
    assert cli("lint", str(d)).returncode == 0
    strict = cli("lint", "--strict", str(d))
    assert strict.returncode == 1 and f"acme-health.yaml:{lines[0]}:" in strict.stdout


def test_filled_in_policy_passes_lint_strict(tmp_path):
    d = tmp_path / "acme"
    new_payer("acme-health", directory=d)
    p = d / "acme-health.yaml"
    filled = []
    for ln in p.read_text().splitlines(keepends=True):
        if ln.lstrip().startswith("#") and PLACEHOLDER in ln:
            continue
        filled.append(ln.replace(f"{PLACEHOLDER}: ", "").split(f"# {PLACEHOLDER}")[0].rstrip() + "\n")
    p.write_text("".join(filled))
    r = cli("lint", "--strict", str(d))
    assert r.returncode == 0 and "0 error(s), 0 warning(s)" in r.stdout, r.stdout


def test_new_payer_loads_beside_the_bundled_payers(tmp_path):
    d = tmp_path / "acme"
    new_payer("acme-health", source="medicare", directory=d)
    e = Engine(["bundled", str(d)])
    assert {"medicare", "generic-commercial", "acme-health"} <= set(e.policies.payers())
    c = {"claim_id": "X", "payer": "acme-health", "diagnoses": ["M25.511"], "lines": [
        {"code": "97110", "modifiers": ["GP"], "date_of_service": "2024-04-04", "minutes": 35, "units": 3,
         "diagnosis_pointers": [1]}]}
    assert [x.rule for x in e.evaluate(c).edits] == ["units.over_billed"]


def test_api_returns_what_it_wrote_and_dates_the_scaffold(tmp_path):
    made = new_payer("acme", directory=tmp_path / "x", today=datetime.date(2031, 5, 6))
    assert made.policy.name == "acme.yaml" and made.tests.name == "acme.test.yaml" and made.readme.name == "README.md"
    text = made.policy.read_text()
    assert "scaffolded on 2031-05-06" in text and 'version: "2031.1"' in text
    assert "new-payer acme --from generic-commercial" in made.readme.read_text()
    assert made.tests.read_text().count("policy: acme\n") == 1


def test_nothing_is_overwritten(tmp_path):
    d = tmp_path / "x"
    d.mkdir()
    (d / "README.md").write_text("mine\n")
    r = cli("new-payer", "acme", "--dir", str(d))
    assert r.returncode == 2 and "README.md: already exists; new-payer never overwrites a file" in r.stderr
    assert sorted(p.name for p in d.iterdir()) == ["README.md"] and (d / "README.md").read_text() == "mine\n"
    # identical tables already there (a second payer in the same folder) are fine; other files are not
    new_payer("one", directory=tmp_path / "y")
    (tmp_path / "y" / "README.md").rename(tmp_path / "y" / "README.one.md")
    new_payer("two", directory=tmp_path / "y")
    assert (tmp_path / "y" / "two.yaml").is_file()
    (tmp_path / "y" / "tables" / "medicare_mue_2024-04-01_therapy.csv").write_text("hcpcs,mue_value\n")
    (tmp_path / "y" / "README.md").unlink()
    with pytest.raises(ScaffoldError, match="medicare_mue_2024-04-01_therapy.csv: already exists"):
        new_payer("three", directory=tmp_path / "y")


@pytest.mark.parametrize("name, why", [
    ("Acme", "use lowercase letters"), ("../acme", "use lowercase letters"), ("", "use lowercase letters"),
    ("a" * 65, "at most 64 characters"), ("medicare", "is a bundled payer's id"), ("bundled", "bundled payer"),
])
def test_the_name_is_checked(tmp_path, name, why):
    r = cli("new-payer", name, "--dir", str(tmp_path / "z"))
    assert r.returncode == 2 and why in r.stderr and not (tmp_path / "z").exists()


def test_unknown_template(tmp_path):
    r = cli("new-payer", "acme", "--from", "aetna", "--dir", str(tmp_path))
    assert r.returncode == 2 and "not a bundled policy (bundled: generic-commercial, medicare)" in r.stderr
