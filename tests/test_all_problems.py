"""All problems of all files in one run (docs/policies.md, Validation errors): a folder of
three broken policy files, one with schema errors, one with semantic errors, one with bad
tables and a bad rule, gives every problem of every file, each with file:line and the field,
from `payer-rules lint`, from loading the folder (`Engine`, `check`) and from `payer-rules test`."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from payer_rules import Engine, PolicyError
from payer_rules.lint import lint

A = """\
schema_version: 1
payer: a
name: A
unit_method: cms_total_time
unknown_code: warning
codes:
  timed: {"97110": fifteen}
versions:
  - version: "1"
    effective_from: "2024-01-01"
"""
B = """\
schema_version: 1
payer: b
name: B
unit_method: cms_total_time
codes:
  timed: {"97110": 15}
  untimed: ["97110"]
plugins: [acme_unit]
versions:
  - version: "1"
    effective_from: "2024-01-01"
  - version: "2"
    effective_from: "2024-06-01"
    overrides:
      unit_method: cms_totl_time
  - version: "3"
    effective_from: "2024-03-01"
"""
C = """\
schema_version: 1
payer: c
name: C
unit_method: cms_total_time
codes:
  timed: {"97110": 15, "97140": 15}
tables:
  ptp: {file: ../../../../../../etc/passwd, version: x}
  mue: {file: tables/mue.csv, version: x}
  pfs: {file: tables/pfs.csv, version: x}
ncci: {associated_modifiers: ["59"]}
mue: {}
fee_schedule: {statuses: {B: {meaning: bundled}}}
rules:
  - id: c.bad
    description: a template with a typo
    when: {code: {in: ["97110"]}}
    edit: {category: coverage, severity: error, message: "line {lin} bad"}
versions:
  - version: "1"
    effective_from: "2024-01-01"
"""

#: (file, line, what the message says): every problem of the three files
EXPECTED = [
    ("a.yaml", 5, "unknown key 'unknown_code' in (top level) (did you mean 'unknown_codes'?)"),
    ("a.yaml", 7, "codes.timed.97110: expected integer, found str"),
    ("b.yaml", 7, "codes listed both timed and untimed: 97110"),
    ("b.yaml", 8, "plugin 'acme_unit' is not installed"),
    ("b.yaml", 15, "unit_method: 'cms_totl_time' is not a registered unit method"),
    ("b.yaml", 17, "version '3' (2024-03-01 to open) overlaps version '1'"),
    ("c.yaml", 8, "tables.ptp: '../../../../../../etc/passwd' lies outside the policy's folder"),
    ("c.yaml", 15, "rule 'c.bad': message template: '{lin}' is not allowed"),
    ("mue.csv", 3, "tables.mue of policy c: MUE value: expected a whole number"),
    ("pfs.csv", 1, "tables.pfs of policy c: expected the header hcpcs,modifier,status,mult_proc"),
]


@pytest.fixture
def broken(tmp_path) -> Path:
    d = tmp_path / "broken"
    (d / "tables").mkdir(parents=True)
    (d / "a.yaml").write_text(A)
    (d / "b.yaml").write_text(B)
    (d / "c.yaml").write_text(C)
    (d / "tables" / "mue.csv").write_text("hcpcs,mue_value,mue_adjudication_indicator,mue_rationale\n"
                                          "97110,6,3,x\n97140,six,3,x\n")
    (d / "tables" / "pfs.csv").write_text("code,status\n97110,A\n")
    return d


def found(problems) -> list[tuple[str, int, str]]:
    return sorted((Path(p.path).name, p.line, p.message) for p in problems)


def matches(got: list[tuple[str, int, str]]) -> None:
    for name, line, text in EXPECTED:
        assert any(g[0] == name and g[1] == line and text in g[2] for g in got), (name, line, text, got)
    assert len(got) == len(EXPECTED), got


def test_lint_reports_every_problem_of_every_file(broken):
    problems = lint([broken])
    assert all(p.severity == "error" for p in problems)
    matches(found(problems))


def test_loading_the_folder_reports_every_problem_of_every_file(broken):
    with pytest.raises(PolicyError) as exc:
        Engine(broken)
    matches(found(exc.value.problems))


def cli(*args, stdin=""):
    return subprocess.run([sys.executable, "-m", "payer_rules.cli", *args], input=stdin, capture_output=True,
                          text=True)


def test_the_cli_prints_them_all_with_file_and_line(broken):
    r = cli("check", "-", "--policies", str(broken), stdin='{"claim_id": "x", "payer": "a", "lines": []}\n')
    assert r.returncode == 2
    for name, line, text in EXPECTED:
        assert any(f"{name}:{line}:" in ln and text in ln for ln in r.stderr.splitlines()), (name, line, r.stderr)
    r = cli("lint", str(broken))
    assert r.returncode == 1 and f"{len(EXPECTED)} error(s), 0 warning(s)" in r.stdout


def test_payer_rules_test_reports_test_file_and_policy_problems_together(broken):
    (broken / "c.test.yaml").write_text(textwrap.dedent("""\
        policy: c
        cases:
          - name: typo
            claim: {lines: []}
            expect: {stauts: pass}
        """))
    r = cli("test", str(broken))
    assert r.returncode == 2
    assert "c.test.yaml:5:14: unknown key 'stauts' in cases[0].expect (did you mean 'status'?)" in r.stderr
    for name, line, text in EXPECTED:
        assert any(f"{name}:{line}:" in ln and text in ln for ln in r.stderr.splitlines()), (name, line)


def test_one_version_with_several_bad_tables_reports_each_table(broken):
    # the plugins that load the tables each run, even after one has failed
    for f in ("a.yaml", "b.yaml"):
        (broken / f).unlink()
    with pytest.raises(PolicyError) as exc:
        Engine(broken)
    names = {Path(p.path).name for p in exc.value.problems}
    assert names == {"c.yaml", "mue.csv", "pfs.csv"}
