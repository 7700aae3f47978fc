"""lint: errors and warnings with file:line:column, text and JSON, exit status."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path


from payer_rules.lint import lint
from payer_rules.policy import bundled_dir


def cli(*args):
    return subprocess.run([sys.executable, "-m", "payer_rules.cli", *args], capture_output=True, text=True)


BASE = textwrap.dedent("""\
    schema_version: 1
    payer: lp
    name: Lint payer
    unit_method: cms_total_time
    codes:
      timed: {"97110": 15, "97140": 15, "97124": 15}
      untimed: ["97161"]
    denials:
      units: {group: CO, carc: "151"}
      coverage: {group: CO, carc: "96"}
      documentation: {group: CO, carc: "16"}
    versions:
      - version: "1"
        effective_from: "2024-01-01"
        effective_to: "2024-03-31"
      - version: "2"
        effective_from: "2024-04-01"
    """)


def write(tmp_path, text, name="lp.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def messages(path):
    return [(p.severity, p.line, p.message) for p in lint([path])]


def test_bundled_policies_are_clean():
    # no errors or warnings; the notes are the dates the bundled tables do not cover, each
    # explained by the table's `uncovered` (docs/tables.md)
    problems = lint([bundled_dir()])
    assert [p for p in problems if p.severity != "info"] == []
    assert sorted((Path(p.path).name, p.message.split("tables.")[1].split(" ")[0]) for p in problems) == [
        ("generic-commercial.yaml", "mue"), ("generic-commercial.yaml", "ptp"),
        ("medicare.yaml", "mue"), ("medicare.yaml", "pfs"), ("medicare.yaml", "ptp")]
    r = cli("lint", "--strict")
    assert r.returncode == 0 and "0 error(s), 0 warning(s), 5 note(s)" in r.stdout


def test_schema_error_is_an_error_with_line(tmp_path):
    p = write(tmp_path, BASE.replace("unit_method: cms_total_time", "unit_method: cms_totl_time"))
    ((sev, line, msg),) = messages(p)
    assert sev == "error" and line == 4 and "did you mean 'cms_total_time'?" in msg
    r = cli("lint", str(p))
    assert r.returncode == 1 and f"{p}:4:14: error: unit_method" in r.stdout


def test_gap_between_versions(tmp_path):
    p = write(tmp_path, BASE.replace('effective_from: "2024-04-01"', 'effective_from: "2024-05-01"'))
    ((sev, line, msg),) = messages(p)
    assert sev == "warning" and "gap between version '1' (to 2024-03-31) and '2'" in msg


RULES = """\
rules:
  - id: r.never
    description: contradictory codes
    when: {code: {in: ["97110"], not_in: ["97110"]}}
    edit: {category: documentation, severity: warning, message: "x"}
  - id: r.mods
    description: contradictory modifiers
    when: {modifiers: {all_of: [GP], none_of: [GP]}}
    edit: {category: documentation, severity: warning, message: "x"}
  - id: r.minutes
    description: contradictory minutes
    when: {minutes: {gt: 30, lt: 20}}
    edit: {category: documentation, severity: warning, message: "x"}
  - id: r.window
    description: outside every version
    effective_from: "2020-01-01"
    effective_to: "2020-12-31"
    when: {code: {in: ["97110"]}}
    edit: {category: documentation, severity: warning, message: "x"}
  - id: r.a
    description: first
    when: {code: {in: ["97124"]}, body_region: {missing: true}}
    edit: {category: documentation, severity: warning, message: "x"}
  - id: r.b
    description: same as r.a
    when: {code: {in: ["97124"]}, body_region: {missing: true}}
    edit: {category: modifier, severity: error, message: "y"}
  - id: r.unknown
    description: a code the policy does not list
    when: {code: {in: ["98940"]}}
    edit: {category: documentation, severity: warning, message: "x"}
"""


def test_rule_warnings(tmp_path):
    p = write(tmp_path, BASE + RULES)
    got = messages(p)
    text = "\n".join(m for _, _, m in got)
    assert "rule 'r.never' can never fire: its code conditions exclude every code" in text
    assert "rule 'r.mods' can never fire: it requires and forbids modifier(s) GP" in text
    assert "rule 'r.minutes' can never fire: no value of minutes meets its conditions" in text
    assert "rule 'r.window' can never fire: its window lies outside every version's window" in text
    assert "rule 'r.b' is shadowed by rule 'r.a'" in text
    assert "rule 'r.unknown' applies only to codes this policy lists neither timed nor untimed" in text
    assert "no denial codes for r.b (category 'modifier')" in text  # category modifier has no mapping
    assert all(sev == "warning" for sev, _, _ in got)
    lines = {m.split("'")[1]: line for _, line, m in got if m.startswith("rule")}
    assert lines["r.never"] == 19 and lines["r.b"] == 41


def test_duplicate_rule_id_is_an_error(tmp_path):
    p = write(tmp_path, BASE + RULES.replace("id: r.b", "id: r.a"))
    (sev, line, msg), = messages(p)
    assert sev == "error" and "rule id 'r.a' is used twice" in msg and line == 41


def test_tables_outside_folder(tmp_path):
    pol = tmp_path / "pol"
    pol.mkdir()
    text = (bundled_dir() / "generic-commercial.yaml").read_text()
    tables = bundled_dir() / "tables"
    text = text.replace("file: tables/medicare_mue", f"file: {tables}/medicare_mue")
    (pol / "tables").mkdir()
    shutil.copy(tables / "medicare_ptp_v301r0_therapy.csv", pol / "tables")
    p = write(pol, text, "gc.yaml")
    got = messages(p)
    line = text.splitlines().index(f"    file: {tables}/medicare_mue_2024-04-01_therapy.csv") + 1
    assert ("error", line) in {(sev, ln) for sev, ln, m in got if "tables.mue" in m and "outside the policy's folder" in m}
    r = cli("lint", str(p))
    assert r.returncode == 1 and f"{p}:{line}:" in r.stdout and "Traceback" not in r.stderr


def test_stale_ptp_override(tmp_path):
    text = (bundled_dir() / "generic-commercial.yaml").read_text()
    shutil.copytree(bundled_dir() / "tables", tmp_path / "tables")
    # 97140/97530 was deleted 2019-12-31; an override of it in a 2024 policy changes nothing
    text = text.replace('''    - {column1: "97140", column2: "97124"''', '''    - {column1: "97140", column2: "97530", modifier_indicator: 9}
    - {column1: "97140", column2: "97124"''')
    text = text.replace('effective_from: "2017-01-01"', 'effective_from: "2024-01-01"')
    p = write(tmp_path, text, "gc.yaml")
    text_out = "\n".join(m for _, _, m in messages(p))
    assert "override of 97140/97530: the table deleted that edit on 2019-12-31" in text_out


def test_json_format_and_strict(tmp_path):
    p = write(tmp_path, BASE.replace('effective_from: "2024-04-01"', 'effective_from: "2024-05-01"'))
    r = cli("lint", str(p), "--format", "json")
    assert r.returncode == 0
    (item,) = json.loads(r.stdout)
    assert item["severity"] == "warning" and item["file"] == str(p) and item["line"]
    assert cli("lint", str(p), "--strict").returncode == 1


def test_code_shapes_checked_at_load_and_in_lint(tmp_path):
    # "9711O" (letter O) and "971610" would never match a claim: refused with a did-you-mean
    text = BASE.replace('timed: {"97110": 15, "97140": 15, "97124": 15}', 'timed: {"9711O": 15, "97140": 15}')
    text = text.replace('untimed: ["97161"]', 'untimed: ["97161", "G0283", "0001F", "0042T"]\ncode_sets:\n  evals: ["9716I", "A123"]')
    p = write(tmp_path, text)
    got = [(sev, m) for sev, _, m in messages(p)]
    joined = "\n".join(m for _, m in got)
    assert any(sev == "error" for sev, _ in got)
    assert "'9711O' is not a CPT/HCPCS code" in joined and "did you mean '97110'" in joined
    assert "code_sets.evals: '9716I'" in joined and "did you mean '97161'" in joined
    assert "'A123' is not a CPT/HCPCS code" in joined  # four characters: no HCPCS shape
    assert "G0283" not in joined and "0001F" not in joined and "0042T" not in joined
    from payer_rules import Engine
    from payer_rules.policy import PolicyError
    import pytest
    with pytest.raises(PolicyError, match="did you mean .97110."):
        Engine(tmp_path)


def test_coverage_rules_with_their_own_denial_codes_do_not_warn(tmp_path):
    """Issue 17: every coverage rule carries its own denial code and the policy has no
    denials['coverage']: lint must not warn about category 'coverage' (--strict passed)."""
    from payer_rules.policy import bundled_dir
    base = (bundled_dir() / "generic-commercial.yaml").read_text("utf-8")
    head, _, tail = base.partition("\nrules:\n")
    tail = tail.replace('  coverage: {group: CO, carc: "96", rarc: null}\n', "")
    assert "coverage:" not in tail.split("denials:")[1].split("\n\n")[0]
    own = '''rules:
  - id: cov.auth_missing
    description: Prior authorization number required.
    scope: claim
    when:
      claim_field: {prior_authorization: {missing: true}}
    edit: {category: coverage, severity: error, message: "no prior authorization", group: CO, carc: "197"}
  - id: cov.no_dry_needling
    description: Dry needling is not covered.
    when:
      code: {in: ["20560"]}
    edit: {category: coverage, severity: error, message: "line {line}: not covered", group: CO, carc: "96", rarc: N130}
'''
    import shutil
    shutil.copytree(bundled_dir() / "tables", tmp_path / "tables")
    f = tmp_path / "gc.yaml"
    f.write_text(head + "\n" + own + tail, "utf-8")
    problems = lint([f])
    assert not [p for p in problems if "coverage" in p.message], [p.text() for p in problems]
    # and the same rules without their codes do warn, naming them
    f.write_text(head + "\n" + own.replace(', group: CO, carc: "197"', "").replace(
        ', group: CO, carc: "96", rarc: N130', "") + tail, "utf-8")
    text = "\n".join(p.text() for p in lint([f]))
    assert "no denial codes for cov.auth_missing, cov.no_dry_needling (category 'coverage')" in text
