"""Edits from the bundled policies: NCCI pairs, MUEs, fee-schedule status, modifiers and
documentation, each with its denial code and fix."""

from __future__ import annotations

import shutil

import pytest

from conftest import claim, rules_of


def edit(result, rule):
    found = [e for e in result.edits if e.rule == rule]
    assert found, f"{rule} not in {rules_of(result)}"
    return found[0]


def L(code, minutes=None, mods=("GP",), **kw):
    d = {"code": code, "modifiers": list(mods), "diagnosis_pointers": [1], **kw}
    if minutes is not None:
        d["minutes"] = minutes
    return d


def C(payer, *lines, **kw):
    kw.setdefault("diagnoses", ["M25.511"])
    return claim(payer, *lines, **kw)


# -- NCCI PTP --------------------------------------------------------------------------

def test_massage_with_manual_therapy_never_under_medicare(engine):
    r = engine.evaluate(C("medicare", L("97140", 15, body_region="neck"),
                          L("97124", 15, mods=("GP", "59"), body_region="lumbar", techniques=["effleurage"])))
    e = edit(r, "ncci.ptp")
    assert e.lines == (2,) and "modifier indicator 0" in e.message and "v30.1" in e.message
    assert (e.group, e.carc) == ("CO", "236")
    assert e.fix == {"action": "remove_line", "line": 2}
    assert r.status == "fail"


def test_massage_with_manual_therapy_commercial_59_distinct_regions(engine):
    # generic-commercial turns the NCCI row off and says it in rules (commercial.massage_*)
    ok = engine.evaluate(C("generic-commercial", L("97140", 15, body_region="neck"),
                           L("97124", 15, mods=("59",), body_region="lumbar", techniques=["petrissage"])))
    assert ok.status == "pass", [e.rule for e in ok.edits]
    same = engine.evaluate(C("generic-commercial", L("97140", 15, body_region="lumbar"),
                             L("97124", 15, mods=("XS",), body_region="Lumbar", techniques=["petrissage"])))
    e = edit(same, "commercial.massage_manual_same_region")
    assert e.lines == (2, 1) and e.fix == {"action": "remove_line", "line": 2} and e.source == "policy_rules"
    none = engine.evaluate(C("generic-commercial", L("97140", 15, body_region="neck"),
                             L("97124", 15, mods=(), body_region="lumbar", techniques=["petrissage"])))
    e = edit(none, "commercial.massage_with_manual_therapy")
    assert e.category == "bundling" and "line 1" in e.message and (e.group, e.carc) == ("CO", "97")
    assert "ncci.ptp" not in rules_of(none)
    unknown_region = engine.evaluate(C("generic-commercial", L("97140", 15),
                                       L("97124", 15, mods=("59",), techniques=["petrissage"])))
    assert "commercial.massage_manual_region_missing" in rules_of(unknown_region)


def test_modifier_on_either_line_from_2019_07(engine):
    # v30.1: 97140 (column 1) / 97530 (column 2), indicator 1, deleted after 2019-12-31.
    # Before 2019-07-01 only a modifier on the column-2 line bypasses; from then 59/X on either line.
    def pair(dos, mods_140):
        return engine.evaluate(C("medicare", L("97530", 15, date_of_service=dos),
                                 L("97140", 15, mods=mods_140, date_of_service=dos)))
    assert edit(pair("2019-03-01", ("GP", "XE")), "ncci.ptp").lines == (1,)  # lands on the column-2 line
    assert "ncci.ptp" not in rules_of(pair("2019-08-01", ("GP", "XE")))
    assert "ncci.ptp" in rules_of(pair("2019-08-01", ("GP",)))
    assert "ncci.ptp" not in rules_of(pair("2020-03-01", ("GP",)))  # deleted


def test_pairs_only_on_the_same_date(engine):
    r = engine.evaluate(C("medicare", L("97140", 15, date_of_service="2024-03-04"),
                          L("97124", 15, date_of_service="2024-03-05", body_region="neck", techniques=["stroking"])))
    assert "ncci.ptp" not in rules_of(r)


# -- MUE ----------------------------------------------------------------------------------

def test_mue_date_of_service_all_units_denied(engine):
    r = engine.evaluate(C("medicare", L("97110", 60, units=4), L("97110", 45, units=3)))
    e = edit(r, "mue.mai3")
    assert e.lines == (1, 2) and "7 units exceed the MUE of 6" in e.message and "all units" in e.message
    assert (e.carc, e.rarc) == ("96", "N362") and e.fix is None  # MAI 3 is clinical: appeal or correct


def test_mue_policy_indicator_fixable(engine):
    r = engine.evaluate(C("medicare", L("98940", mods=("AT",), units=2)))
    e = edit(r, "mue.mai2")
    assert e.fix == {"action": "set_units", "line": 1, "units": 1}


def test_mue_uses_computed_units_when_none_billed(engine):
    r = engine.evaluate(C("medicare", L("97112", 70)))  # 70 min: 5 units > MUE 4
    assert "mue.mai3" in rules_of(r)


# -- fee schedule status -------------------------------------------------------------------

def test_status_b_bundled(engine):
    r = engine.evaluate(C("medicare", L("97010", mods=()), L("97110", 20)))
    e = edit(r, "pfs.bundled")
    assert (e.group, e.carc, e.rarc) == ("CO", "97", "M15") and e.fix == {"action": "remove_line", "line": 1}
    assert e.category == "bundling"


def test_status_i_replacement(engine):
    r = engine.evaluate(C("medicare", L("97014", mods=())))
    assert edit(r, "pfs.not_valid").fix == {"action": "replace_code", "line": 1, "code": "G0283"}


def test_status_n(engine):
    r = engine.evaluate(C("medicare", L("98943", mods=())))
    assert "pfs.non_covered" in rules_of(r)


# -- modifiers ----------------------------------------------------------------------------

def test_discipline_modifier_required_and_fix_from_other_lines(engine):
    r = engine.evaluate(C("medicare", L("97110", 20), L("97140", 10, mods=())))
    e = edit(r, "modifier.discipline_missing")
    assert e.lines == (2,) and e.fix == {"action": "add_modifier", "line": 2, "modifier": "GP"}
    assert (e.group, e.carc) == ("CO", "4")
    alone = engine.evaluate(C("medicare", L("97140", 10, mods=())))
    assert edit(alone, "modifier.discipline_missing").fix is None  # which discipline needs judgment
    both = engine.evaluate(C("medicare", L("97140", 10, mods=("GP", "GO"))))
    assert "modifier.discipline_conflict" in rules_of(both)


def test_kx_above_threshold(engine):
    lines = [L("97110", 30)]
    below = engine.evaluate(C("medicare", *lines, patient={"therapy_ytd": {"pt_slp": 2300}}))
    assert "modifier.kx_missing" not in rules_of(below)
    above = engine.evaluate(C("medicare", *lines, patient={"therapy_ytd": {"pt_slp": 2400}}))
    e = edit(above, "modifier.kx_missing")
    assert (e.group, e.carc) == ("PR", "119") and "$2,330" in e.message and e.fix is None
    with_kx = engine.evaluate(C("medicare", L("97110", 30, mods=("GP", "KX")), patient={"therapy_ytd": {"pt_slp": 2400}}))
    assert "modifier.kx_missing" not in rules_of(with_kx)
    ot_only = engine.evaluate(C("medicare", L("97530", 30, mods=("GO",)), patient={"therapy_ytd": {"pt_slp": 9000, "ot": 10}}))
    assert "modifier.kx_missing" not in rules_of(ot_only)
    review = engine.evaluate(C("medicare", L("97110", 30, mods=("GP", "KX")), patient={"therapy_ytd": {"pt_slp": 3100}}))
    assert "modifier.kx_review" in rules_of(review)


def test_assistant_de_minimis(engine):
    r = engine.evaluate(C("medicare", L("97110", 30, assistant_minutes=4)))
    assert edit(r, "modifier.assistant_missing").fix == {"action": "add_modifier", "line": 1, "modifier": "CQ"}
    r = engine.evaluate(C("medicare", L("97110", 30, assistant_minutes=3)))  # exactly 10%: de minimis
    assert "modifier.assistant_missing" not in rules_of(r)
    r = engine.evaluate(C("medicare", L("97530", 30, mods=("GO", "CQ"), assistant_minutes=0)))
    assert "modifier.assistant_not_needed" not in rules_of(r)  # CQ is not OT's modifier
    r = engine.evaluate(C("medicare", L("97530", 30, mods=("GO", "CO"), assistant_minutes=0)))
    assert "modifier.assistant_not_needed" in rules_of(r)


def test_chiropractic_at(engine):
    r = engine.evaluate(C("medicare", L("98940", mods=())))
    assert "modifier.at_missing" in rules_of(r) and edit(r, "modifier.at_missing").source == "policy_rules"
    r = engine.evaluate(C("medicare", L("98940", mods=("AT", "GA"))))
    assert "modifier.at_with_ga" in rules_of(r) and "modifier.at_missing" not in rules_of(r)


def test_unknown_modifier_reported_not_fatal(engine):
    r = engine.evaluate(C("medicare", L("97110", 23, mods=("GP", "ZZ"))))
    assert r.status == "warn" and edit(r, "modifier.unknown").severity == "warning"


# -- documentation ------------------------------------------------------------------------

def test_documentation_warnings(engine):
    r = engine.evaluate(C("medicare",
                          L("97110", start_time="09:00", end_time="09:30"),
                          L("97112", start_time="09:20", end_time="09:40"),
                          {"code": "97530", "modifiers": ["GP"]}))
    assert edit(r, "doc.time_overlap").lines == (1, 2) and "10 minutes" in edit(r, "doc.time_overlap").message
    assert edit(r, "doc.time_missing").lines == (3,)
    assert edit(r, "doc.diagnosis_pointer").lines == (3,)
    past = engine.evaluate(C("medicare", L("97110", 23, diagnosis_pointers=[2])))  # one diagnosis only
    assert "doc.diagnosis_pointer_range" in rules_of(past)
    assert all(e.severity == "warning" for e in r.edits if e.category == "documentation")


def test_massage_needs_techniques_and_region(engine):
    r = engine.evaluate(C("medicare", L("97124", 20)))
    msg = edit(r, "doc.techniques").message
    assert "techniques" in msg and "body region" in msg
    ok = engine.evaluate(C("medicare", L("97124", 20, techniques=["effleurage"], body_region="upper back")))
    assert "doc.techniques" not in rules_of(ok)


@pytest.mark.parametrize("dx,plan,fires", [
    (["G89.29"], None, True), (["G89.29"], {"goals": ["walk 500 ft"]}, False), (["M25.511"], None, False)])
def test_plan_of_care_for_chronic_pain(engine, dx, plan, fires):
    extra = {"plan_of_care": plan} if plan else {}
    r = engine.evaluate(C("medicare", L("97110", 23), diagnoses=dx, **extra))
    assert ("doc.plan_of_care" in rules_of(r)) == fires
    if fires:
        assert "G89" not in edit(r, "doc.plan_of_care").message  # diagnoses are patient data


def test_bad_table_refused_with_line(tmp_path):
    from payer_rules import Engine, PolicyError
    from payer_rules.policy import bundled_dir
    (tmp_path / "tables").mkdir()
    (tmp_path / "tables" / "ptp.csv").write_text(
        "column1,column2,deletion_date,modifier_indicator,rationale\n97140,97124,*,0,x\n97140,97530,2019123,1,x\n")
    text = (bundled_dir() / "generic-commercial.yaml").read_text()
    text = text.replace("tables/medicare_ptp_v301r0_therapy.csv", "tables/ptp.csv")
    shutil.copy(bundled_dir() / "tables" / "medicare_mue_2024-04-01_therapy.csv", tmp_path / "tables")
    (tmp_path / "gc.yaml").write_text(text)
    with pytest.raises(PolicyError) as exc:
        Engine(tmp_path)
    msg = str(exc.value)
    assert "ptp.csv:3" in msg and "deletion_date" in msg
