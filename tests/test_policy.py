"""Policy files: safe loading, schema errors with file, line and a suggestion, versions,
and reloads that never replace a good policy with a bad one."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from payer_rules import Engine, PolicyError
from payer_rules.policy import bundled_dir

from conftest import claim, units_of

BASE = textwrap.dedent("""\
    schema_version: 1
    payer: testpayer
    name: Test payer
    unit_method: cms_total_time
    codes:
      timed: {"97110": 15, "97140": 15}
      untimed: ["97161"]
    versions:
      - version: "1"
        effective_from: "2024-01-01"
    """)


def write(tmp_path: Path, text: str, name: str = "testpayer.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def problems(path: Path) -> list[str]:
    with pytest.raises(PolicyError) as exc:
        Engine(path)
    return [str(p) for p in exc.value.problems]


def test_bundled_policies_load(engine):
    assert [p["payer"] for p in engine.payers()] == ["generic-commercial", "medicare"]


def test_unit_method_typo_suggests(tmp_path):
    p = write(tmp_path, BASE.replace("cms_total_time", "cms_totl_time"))
    (msg,) = problems(p)
    assert msg.startswith(f"{p}:4:")
    assert "did you mean 'cms_total_time'?" in msg


def test_unknown_key_names_line_and_suggests(tmp_path):
    p = write(tmp_path, BASE.replace("codes:", "unknown_code: warning\ncodes:"))
    (msg,) = problems(p)
    assert msg.startswith(f"{p}:5:") and "unknown key 'unknown_code'" in msg
    assert "did you mean 'unknown_codes'?" in msg


def test_enum_typo_suggests(tmp_path):
    p = write(tmp_path, BASE + "unknown_codes: warnng\n")
    (msg,) = problems(p)
    assert "did you mean 'warning'?" in msg and ":11:" in msg


def test_unit_params_checked_against_method_schema(tmp_path):
    p = write(tmp_path, BASE + "unit_params:\n  discipline_groupin: combined\n")
    (msg,) = problems(p)
    assert "did you mean 'discipline_grouping'?" in msg and ":12:" in msg
    p = write(tmp_path, BASE + "unit_params:\n  discipline_grouping: per_discipline\n")
    (msg,) = problems(p)
    assert "'per_discipline' is not one of combined, by_discipline" in msg


def test_python_tag_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    p = write(tmp_path, BASE + f"description: !!python/object/apply:os.system ['touch {marker}']\n")
    (msg,) = problems(p)
    assert "tag not allowed" in msg and ":11:" in msg
    assert not marker.exists()


def test_duplicate_key_refused(tmp_path):
    (msg,) = problems(write(tmp_path, BASE + "name: Again\n"))
    assert "duplicate key 'name'" in msg


def test_yaml_syntax_error_has_line(tmp_path):
    (msg,) = problems(write(tmp_path, BASE + "codes: [unclosed\n"))
    assert "YAML syntax error" in msg and str(tmp_path) in msg


def test_code_in_both_sets(tmp_path):
    (msg,) = problems(write(tmp_path, BASE.replace('["97161"]', '["97161", "97110"]')))
    assert "both timed and untimed: 97110" in msg


def test_unquoted_codes_keep_their_text(tmp_path):
    p = write(tmp_path, BASE.replace('{"97110": 15, "97140": 15}', "{97110: 15, 97140: 15}")
              .replace('["97161"]', "[97161, 00100]"))
    engine = Engine(p)
    v = engine.policies.versions("testpayer")[0]
    assert "97110" in v.timed and "00100" in v.untimed


VERSIONS = BASE.replace(
    """  - version: "1"
    effective_from: "2024-01-01"
""", """  - version: "2023"
    effective_from: "2023-01-01"
    effective_to: "2023-12-31"
    overrides:
      unit_method: per_code_midpoint
  - version: "2024"
    effective_from: "2024-01-01"
""")
assert VERSIONS != BASE


def test_versions_chosen_by_date_of_service(tmp_path):
    engine = Engine(write(tmp_path, VERSIONS))
    lines = [{"code": "97110", "minutes": 10}, {"code": "97140", "minutes": 10}]
    old = engine.evaluate(claim("testpayer", *[dict(ln, date_of_service="2023-06-01") for ln in lines]))
    new = engine.evaluate(claim("testpayer", *[dict(ln, date_of_service="2024-06-01") for ln in lines]))
    assert old.policy == {"id": "testpayer", "version": "2023"} and sum(units_of(old).values()) == 2
    assert new.policy["version"] == "2024" and sum(units_of(new).values()) == 1


def test_claim_spanning_versions_per_line(tmp_path):
    engine = Engine(write(tmp_path, VERSIONS))
    r = engine.evaluate(claim("testpayer", {"code": "97110", "minutes": 10, "date_of_service": "2023-12-31"},
                              {"code": "97140", "minutes": 10, "date_of_service": "2024-01-01"}))
    assert [ln.policy_version for ln in r.lines] == ["2023", "2024"]
    assert r.policy["versions"] == ["2023", "2024"]


def test_no_version_covers_date(tmp_path):
    engine = Engine(write(tmp_path, VERSIONS))
    r = engine.evaluate(claim("testpayer", {"code": "97110", "minutes": 10, "date_of_service": "2022-06-01"}))
    # the result (and only the result: never logs or stderr) says which line's date is outside which windows
    assert r.status == "error" and r.error == ("line 1 (2022-06-01): outside every testpayer policy version "
                                               "(2023: 2023-01-01 to 2023-12-31; 2024: 2024-01-01 to open)")


def test_overlapping_versions_refused(tmp_path):
    text = VERSIONS.replace('effective_to: "2023-12-31"', 'effective_to: "2024-02-01"')
    (msg,) = problems(write(tmp_path, text))
    assert "overlaps version '2023'" in msg


def test_two_files_same_payer_refused(tmp_path):
    write(tmp_path, BASE, "a.yaml")
    write(tmp_path, BASE, "b.yaml")
    (msg,) = problems(tmp_path)
    assert "already defined" in msg


def test_all_problems_reported_together(tmp_path):
    write(tmp_path, BASE.replace("cms_total_time", "cms"), "a.yaml")
    write(tmp_path, BASE.replace("testpayer", "other").replace("name:", "nme:"), "b.yaml")
    msgs = problems(tmp_path)
    assert len(msgs) >= 2 and any("a.yaml" in m for m in msgs) and any("b.yaml" in m for m in msgs)


def test_reload_keeps_good_policy_when_new_one_is_bad(tmp_path):
    p = write(tmp_path, BASE)
    engine = Engine(p)
    before = engine.evaluate(claim("testpayer", {"code": "97110", "minutes": 23}))
    p.write_text(BASE.replace("cms_total_time", "no_such_method"))
    with pytest.raises(PolicyError):
        engine.reload()
    after = engine.evaluate(claim("testpayer", {"code": "97110", "minutes": 23}))
    assert units_of(before) == units_of(after) == {"97110": 2}
    p.write_text(BASE.replace("cms_total_time", "per_code_midpoint"))
    engine.reload()
    assert engine.policies.versions("testpayer")[0].unit_method == "per_code_midpoint"


def test_bundled_dir_is_inside_the_package():
    d = bundled_dir()
    assert (d / "medicare.yaml").exists() and (d / "generic-commercial.yaml").exists()
