"""Test cases beside policies: the runner, its messages, coverage, and the pytest plugin."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap

import pytest

from payer_rules import PolicyError
from payer_rules.policy import bundled_dir
from payer_rules.policy_tests import collect_cases


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "payer_rules.cli", *args], capture_output=True, text=True, cwd=cwd)


@pytest.fixture
def policy_dir(tmp_path):
    d = tmp_path / "pol"
    shutil.copytree(bundled_dir(), d, ignore=shutil.ignore_patterns("*.test.yaml", "__*"))
    return d


CASES = textwrap.dedent("""\
    policy: medicare
    cases:
      - name: good
        claim:
          diagnoses: [M25.511]
          lines:
            - {code: "97110", modifiers: [GP], date_of_service: "2024-04-04", minutes: 23, units: 2, diagnosis_pointers: [1]}
        expect: {status: pass, units: {1: 2}}
      - name: wrong on purpose
        claim:
          diagnoses: [M25.511]
          lines:
            - {code: "97110", modifiers: [GP], date_of_service: "2024-04-04", minutes: 23, units: 3, diagnosis_pointers: [1]}
        expect: {status: pass, units: {1: 3}, edits: [ncci.ptp], no_edits: [units.over_billed]}
    """)


def test_bundled_suites_pass_with_full_coverage():
    r = cli("test", "--min-coverage", "100")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "rule coverage: 100%" in r.stdout and " 0 failed" in r.stdout


def test_failing_case_reports_a_readable_diff(policy_dir):
    (policy_dir / "medicare.test.yaml").write_text(CASES)
    r = cli("test", str(policy_dir))
    assert r.returncode == 1
    out = r.stdout
    assert "PASS" in out and "FAIL" in out and "medicare.test.yaml:9  wrong on purpose" in out
    assert "status expected pass, got fail" in out
    assert "line 1 97110 units expected 3, got 2" in out
    assert "expected edit ncci.ptp, got: units.over_billed" in out
    assert "edit units.over_billed should not be there" in out
    assert "1 passed, 1 failed" in out


def test_coverage_lists_what_no_case_exercises(policy_dir):
    (policy_dir / "medicare.test.yaml").write_text(CASES.split("  - name: wrong")[0])
    r = cli("test", str(policy_dir), "--min-coverage", "90")
    assert r.returncode == 1 and "below --min-coverage 90" in r.stderr
    assert "medicare: no case exercises" in r.stdout and "modifier.at_missing" in r.stdout
    assert "ncci.ptp" in r.stdout and "pfs.bundled" in r.stdout


def test_malformed_test_file_names_file_and_line(policy_dir):
    (policy_dir / "medicare.test.yaml").write_text(CASES.replace("no_edits:", "no_edit:"))
    with pytest.raises(PolicyError) as exc:
        collect_cases([policy_dir])
    msg = str(exc.value)
    assert "medicare.test.yaml:14:" in msg and "did you mean 'no_edits'?" in msg


def test_pytest_collects_policy_cases_only_when_asked(policy_dir):
    (policy_dir / "medicare.test.yaml").write_text(CASES)
    # an unrelated project's run: installing payer-rules changes nothing
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(policy_dir)],
                       capture_output=True, text=True, cwd=policy_dir)
    assert r.returncode == 5 and "no tests ran" in r.stdout, r.stdout
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--policy-tests",
                        str(policy_dir)], capture_output=True, text=True, cwd=policy_dir)
    assert "1 failed, 1 passed" in r.stdout, r.stdout
    (policy_dir / "pytest.ini").write_text("[pytest]\npolicy_tests = true\n")
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(policy_dir)],
                       capture_output=True, text=True, cwd=policy_dir)
    assert "1 failed, 1 passed" in r.stdout, r.stdout
    assert "wrong on purpose" in r.stdout and "status expected pass, got fail" in r.stdout


def test_malformed_cases_are_all_reported_in_words(policy_dir):
    (policy_dir / "cases").mkdir()
    (policy_dir / "cases" / "bad.jsonl").write_text('{"lines": []}\nnot json\n')
    (policy_dir / "medicare.test.yaml").write_text(textwrap.dedent("""\
        policy: medicare
        cases:
          - name: a
            claim: {lines: []}
            expect: {status: passed}
          - name: b
            expect: {edits: [ncci.ptp]}
          - name: c
            claim: {lines: []}
            claims: [{lines: []}]
            expect: {}
          - name: d
            claims_file: ../../../../../../etc/passwd
            expect: {}
          - name: e
            claims_file: cases/bad.jsonl
            expect: {}
        """))
    r = cli("test", str(policy_dir))
    assert r.returncode == 2
    err = r.stderr
    assert "medicare.test.yaml:5:22: cases[0].expect.status: 'passed' is not one of pass, warn, fail, error " \
           "(did you mean 'pass'?)" in err
    assert "medicare.test.yaml:6:5: cases[1]: give one of claim, claims, claims_file" in err
    assert "medicare.test.yaml:8:5: cases[2]: give only one of claim, claims, claims_file (found claim, claims)" in err
    # the file's schema errors come first; once they are fixed, the claims files are checked
    text = (policy_dir / "medicare.test.yaml").read_text().replace("status: passed", "status: pass")
    text = text.replace("  - name: b\n    expect: {edits: [ncci.ptp]}\n", "")
    text = text.replace("    claims: [{lines: []}]\n", "")
    (policy_dir / "medicare.test.yaml").write_text(text)
    r = cli("test", str(policy_dir))
    assert r.returncode == 2
    assert "cases[2].claims_file: '../../../../../../etc/passwd' lies outside the test file's folder" in r.stderr
    assert "cases[3].claims_file: 'cases/bad.jsonl' line 2: not valid JSON" in r.stderr


def test_the_schema_describes_every_field():
    from payer_rules.policy import load_schema
    s = load_schema("policy_test")
    case = s["properties"]["cases"]["items"]
    fields = [s["properties"]["policy"], s["properties"]["cases"], *case["properties"].values(),
              *case["properties"]["expect"]["properties"].values()]
    assert all(f.get("description") for f in fields)
    assert set(case["properties"]["expect"]["properties"]) == {"status", "units", "edits", "no_edits", "edits_exact"}
