"""Version patches: a version adds, replaces or removes single rules (and table rows,
codes) by id instead of repeating whole lists; lint, explain and diff show the result."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from payer_rules import Engine, PolicyError
from payer_rules.policy import bundled_dir, describe_version, rules_in_force
from payer_rules.policy_diff import diff, render

BASE = (bundled_dir() / "generic-commercial.yaml").read_text("utf-8").split("\nversions:")[0]

PATCH = '''
versions:
  - version: "2024.1"
    effective_from: "2017-01-01"
    effective_to: "2024-12-31"
  - version: "2025.1"
    effective_from: "2025-01-01"
    patch:
      rules:
        remove: [doc.techniques]
        replace:
          - id: doc.time_missing
            description: A timed service needs its minutes.
            when:
              code: {in_set: timed}
              minutes: {missing: true}
            edit:
              category: documentation
              severity: error
              message: "line {line} {code}: minutes missing"
        add:
          - id: doc.group_therapy
            description: Group therapy is noted.
            when: {code: {in: ["97150"]}}
            edit: {category: documentation, severity: info, message: "line {line}: group therapy"}
      ncci.overrides:
        remove: [{column1: "97140", column2: "97124"}]
      codes.untimed:
        remove: ["97014"]
'''


def write(tmp_path: Path, versions: str) -> Path:
    shutil.copytree(bundled_dir() / "tables", tmp_path / "tables")
    f = tmp_path / "gc.yaml"
    f.write_text(BASE + versions, "utf-8")
    return f


def claim(dos: str, *lines: dict) -> dict:
    return {"claim_id": "c1", "payer": "generic-commercial", "date_of_service": dos, "lines": list(lines)}


def test_patch_changes_only_the_named_items(tmp_path):
    e = Engine(write(tmp_path, PATCH))
    old, new = e.policies.versions("generic-commercial")
    assert "doc.techniques" in rules_in_force(old) and "doc.techniques" not in rules_in_force(new)
    assert rules_in_force(new)[-1] == "doc.group_therapy"
    assert len(rules_in_force(new)) == len(rules_in_force(old))
    assert "97014" in old.untimed and "97014" not in new.untimed
    assert len(new.settings["ncci"]["overrides"]) == len(old.settings["ncci"]["overrides"]) - 1
    assert new.patch == ("codes.untimed: removed 97014", "ncci.overrides: removed 97140/97124",
                         "rules: removed doc.techniques", "rules: replaced doc.time_missing",
                         "rules: added doc.group_therapy")
    # the replaced rule is in force in 2025 only, and its line is the patch's
    line = {"code": "97110", "units": 1}
    r24 = e.evaluate(claim("2024-06-03", line))
    r25 = e.evaluate(claim("2025-06-03", line))
    sev = {x.rule: x.severity for x in r25.edits}
    assert sev["doc.time_missing"] == "error"
    assert {x.rule: x.severity for x in r24.edits}["doc.time_missing"] == "warning"
    rules = {r.id: r for r in e.runtime(new).data["policy_rules"].rules}
    text = (tmp_path / "gc.yaml").read_text("utf-8").splitlines()
    assert "id: doc.time_missing" in text[rules["doc.time_missing"].line - 1]
    assert text[rules["doc.time_missing"].line - 1].startswith("          - ")   # in the patch
    assert "id: doc.group_therapy" in text[rules["doc.group_therapy"].line - 1]


@pytest.mark.parametrize("patch, message", [
    ("rules: {remove: [doc.nope]}", "patch.rules.remove: 'doc.nope' is not in rules"),
    ("rules: {add: [{id: doc.techniques, description: x, when: {code: {in: ['97124']}}, "
     "edit: {category: documentation, severity: info, message: m}}]}",
     "patch.rules.add: 'doc.techniques' is already in rules; use replace"),
    ("rules: {replace: [{id: doc.techniques, when: {}}]}", "missing required key 'description'"),
    ("rulez: {remove: [doc.techniques]}", "'rulez' is not a list a patch can edit"),
    ("codes.untimed: {remove: ['99999']}", "'99999' is not in codes.untimed"),
])
def test_patch_mistakes_name_the_line(tmp_path, patch, message):
    f = write(tmp_path, f'''
versions:
  - version: "2025.1"
    effective_from: "2025-01-01"
    patch:
      {patch}
''')
    with pytest.raises(PolicyError) as exc:
        Engine(f)
    text = str(exc.value)
    assert message in text
    assert exc.value.problems[0].line is not None and exc.value.problems[0].line >= BASE.count("\n") + 5


def test_two_mistakes_in_one_patch_are_both_reported(tmp_path):
    f = write(tmp_path, '''
versions:
  - version: "2025.1"
    effective_from: "2025-01-01"
    patch:
      rules: {remove: [doc.nope, doc.also_nope]}
''')
    with pytest.raises(PolicyError) as exc:
        Engine(f)
    assert len(exc.value.problems) == 2


def test_diff_lint_and_explain_show_the_patch(tmp_path):
    f = write(tmp_path, PATCH)
    e = Engine(f)
    d = diff(e, "generic-commercial", "2024.1", "2025.1")
    assert "rules: added doc.group_therapy" in d["patch"]
    assert "patch of 2025.1" in render(d)
    new = e.policies.versions("generic-commercial")[1]
    assert "doc.group_therapy" in describe_version(new) and "patch: " in describe_version(new)
    info = e.explain(claim("2025-06-03", {"code": "97150", "units": 1}))
    assert info["versions"][0]["rules"] == rules_in_force(new)
    assert info["versions"][0]["patch"] == list(new.patch)
    out = subprocess.run([sys.executable, "-m", "payer_rules.cli", "lint", "--rules", str(f)],
                         capture_output=True, text=True)
    assert "generic-commercial 2025.1 (2025-01-01 to open): 7 rule(s) in force" in out.stdout
    assert "rules: added doc.group_therapy" in out.stdout
    out = subprocess.run([sys.executable, "-m", "payer_rules.cli", "explain", "--policies", str(f), "-"],
                         input=json.dumps(claim("2025-06-03", {"code": "97150", "units": 1})),
                         capture_output=True, text=True)
    assert "rules in force: doc.time_missing" in out.stdout and "patch: codes.untimed" in out.stdout
