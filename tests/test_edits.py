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


# -- modifier 59 and time (NCCI Policy Manual ch. I; CMS modifier 59 article) -----------
# v30.1: 97113 (aquatic therapy, column 1) / 97110 (column 2), indicator 1, in force in 2024.

def T(code, blocks, mods=("GP",), region="lumbar", **kw):
    return L(code, mods=mods, body_region=region,
             time_blocks=[{"start": a, "end": b} for a, b in blocks], **kw)


def test_59_timed_services_in_separate_time_blocks_same_region_pass(engine):
    # "the separate and distinct time blocks ... may be sequential to one another or split"
    seq = engine.evaluate(C("medicare", T("97113", [("10:00", "10:20")]),
                            T("97110", [("10:20", "10:40")], mods=("GP", "59"))))
    assert not [e for e in seq.edits if e.rule.startswith("ncci.")], rules_of(seq)
    split = engine.evaluate(C("medicare", T("97113", [("10:00", "10:10"), ("10:20", "10:30")]),
                              T("97110", [("10:10", "10:20"), ("10:30", "10:40")], mods=("GP", "59"))))
    assert not [e for e in split.edits if e.rule.startswith("ncci.")], rules_of(split)
    assert [ln.minutes for ln in split.lines] == [20, 20]  # minutes come from the blocks
    exp = engine.explain(C("medicare", T("97113", [("10:00", "10:20")]),
                           T("97110", [("10:20", "10:40")], mods=("GP", "59"))))
    assert "time test" in str(exp)


def test_59_overlapping_or_missing_times_falls_back_to_region(engine):
    over = engine.evaluate(C("medicare", T("97113", [("10:00", "10:20")]),
                             T("97110", [("10:10", "10:30")], mods=("GP", "59"))))
    e = edit(over, "ncci.bypass_same_region")
    assert e.lines == (2,) and "time blocks of lines 1 and 2 overlap" in e.message and "body-region test" in e.message
    other_region = engine.evaluate(C("medicare", T("97113", [("10:00", "10:20")], region="neck"),
                                     T("97110", [("10:10", "10:30")], mods=("GP", "59"))))
    assert not [x for x in other_region.edits if x.rule.startswith("ncci.")]
    no_times = engine.evaluate(C("medicare", L("97113", 20, body_region="lumbar"),
                                 L("97110", 20, mods=("GP", "59"), body_region="lumbar")))
    assert "no start and end times" in edit(no_times, "ncci.bypass_same_region").message


def test_xs_needs_a_region_whatever_the_times(engine):
    r = engine.evaluate(C("medicare", T("97113", [("10:00", "10:20")]),
                          T("97110", [("10:20", "10:40")], mods=("GP", "XS"))))
    assert "XS names a separate structure" in edit(r, "ncci.bypass_same_region").message
    xu = engine.evaluate(C("medicare", T("97113", [("10:00", "10:20")]),
                           T("97110", [("10:10", "10:30")], mods=("GP", "XU"))))
    assert not [x for x in xu.edits if x.rule.startswith("ncci.")]  # XU: not a time or region test


def test_manual_therapy_with_cmt_needs_a_different_region(engine):
    # NCCI: 97140 with 98940-98942 only for a different anatomic region, whatever the modifier
    def run(mods, region, blocks=(("10:20", "10:40"),)):
        return engine.evaluate(C("medicare", L("98940", mods=("AT",), body_region="lumbar"),
                                 T("97140", list(blocks), mods=mods, region=region)))
    for mods in (("GP", "59"), ("GP", "XE"), ("GP", "XU")):
        e = edit(run(mods, "lumbar"), "ncci.bypass_same_region")
        assert "a different anatomic region is required" in e.message and e.lines == (2,)
    assert not [x for x in run(("GP", "59"), "cervical").edits if x.rule.startswith("ncci.")]
    assert "ncci.bypass_region_missing" in rules_of(run(("GP", "59"), None))


def test_ncci_one_edit_per_column2_line_not_per_pair_of_lines(engine):
    # 600 lines alternating 97113/97110 with no modifier: each 97110 line is denied once
    lines = [L("97113" if i % 2 == 0 else "97110", 8) for i in range(600)]
    r = engine.evaluate(C("medicare", *lines))
    ptp = [e for e in r.edits if e.rule == "ncci.ptp"]
    assert len(ptp) == 300 and sorted(e.lines[0] for e in ptp) == list(range(2, 601, 2))
    assert all("(line 1)" in e.message for e in ptp)  # named after the first 97113 line


def test_claim_over_the_line_limit_is_an_input_error(engine):
    r = engine.evaluate(C("medicare", *[L("97110", 8)] * 1000))
    assert r.status == "error" and "limit of 999" in str(r.to_dict())
    assert engine.evaluate(C("medicare", *[L("97110", 8)] * 999)).status != "error"


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


@pytest.mark.parametrize("year,threshold", [
    # CMS CRs / MAC pages (docs/edits.md "KX thresholds by year")
    ("2017", 1980), ("2018", 2010), ("2019", 2040), ("2020", 2080), ("2021", 2110),
    ("2022", 2150), ("2023", 2230), ("2024", 2330), ("2025", 2410), ("2026", 2480)])
def test_kx_threshold_every_year_in_force(engine, year, threshold):
    def run(amount, group="pt_slp", mods=("GP",)):
        return engine.evaluate(C("medicare", L("97110", 30, mods=mods, date_of_service=f"{year}-06-03"),
                                 patient={"therapy_ytd": {group: amount}}))
    assert "modifier.kx_missing" not in rules_of(run(threshold))  # at the threshold: not above it
    e = edit(run(threshold + 1), "modifier.kx_missing")
    assert f"${threshold:,}" in e.message and f"{year} threshold" in e.message
    assert "modifier.kx_missing" in rules_of(run(threshold + 1, "ot", ("GO",)))  # OT has its own amount
    assert "modifier.kx_threshold_unknown" not in rules_of(run(threshold + 1))


def test_kx_review_threshold_by_year(engine):
    def review(year, amount):
        r = engine.evaluate(C("medicare", L("97110", 30, mods=("GP", "KX"), date_of_service=f"{year}-06-03"),
                              patient={"therapy_ytd": {"pt_slp": amount}}))
        return [e for e in r.edits if e.rule == "modifier.kx_review"]
    assert review("2017", 3500) == []            # 2017: manual review from $3,700
    assert "$3,700" in review("2017", 3701)[0].message
    assert "$3,000" in review("2018", 3001)[0].message  # BBA 2018: $3,000 from 2018


def test_kx_year_without_threshold_is_a_warning_not_a_pass(engine, tmp_path):
    import yaml
    from payer_rules import Engine
    from payer_rules.policy import bundled_dir
    text = (bundled_dir() / "medicare.yaml").read_text()
    text = text.replace("thresholds: {2017: 1980, 2018: 2010, ", "thresholds: {")
    (tmp_path / "medicare.yaml").write_text(text)
    shutil.copytree(bundled_dir() / "tables", tmp_path / "tables")
    eng = Engine(tmp_path)
    r = eng.evaluate(C("medicare", L("97110", 30, date_of_service="2018-05-01"),
                       patient={"therapy_ytd": {"pt_slp": 5000}}))
    e = edit(r, "modifier.kx_threshold_unknown")
    assert e.severity == "warning" and "2018" in e.message and e.lines == (1,)
    assert "modifier.kx_missing" not in rules_of(r)
    from payer_rules.lint import lint
    got = [p for p in lint([tmp_path / "medicare.yaml"]) if "kx.thresholds" in p.message]
    assert got and got[0].severity == "error" and "2017, 2018" in got[0].message
    assert yaml.safe_load(text)["modifiers"]["kx"]["thresholds"].get(2019) == 2040


def test_assistant_whole_line_option(engine):
    # the whole-line test (a payer that uses it): assistant minutes against 10% of the line
    from payer_rules.plugins.modifier_rules import _assistant_whole_line  # noqa: F401 (kept as an option)
    r = engine.evaluate(C("medicare", L("97530", 30, mods=("GO", "CQ"), assistant_minutes=0)))
    assert "modifier.assistant_not_needed" not in rules_of(r)  # CQ is not OT's modifier
    r = engine.evaluate(C("medicare", L("97530", 30, units=2, mods=("GO", "CO"), assistant_minutes=0)))
    assert "modifier.assistant_not_needed" in rules_of(r)


def cq(engine, *lines, dos="2024-03-04"):
    r = engine.evaluate(C("medicare", *[L(c, m, mods=mods, units=u, assistant_minutes=a, date_of_service=dos)
                                        for c, m, u, mods, a in lines]))
    return r, [e for e in r.edits if e.rule.startswith("modifier.assistant") or e.rule == "units.timed_code_repeated"]


def test_cq_example_a_assistant_most_of_one_unit(engine):
    # CMS example: PTA 10 min + PT 5 min of 97110 = 15 min, 1 unit: bill it with CQ
    assert cq(engine, ("97110", 15, 1, ("GP", "CQ"), 10))[1] == []
    _, e = cq(engine, ("97110", 15, 1, ("GP",), 10))
    assert e[0].rule == "modifier.assistant_missing" and e[0].fix == {"action": "add_modifier", "line": 1, "modifier": "CQ"}


def test_cq_scenario_1_split_across_two_lines(engine):
    # CMS scenario: PTA 23 min 97110, PT 13 min 97110, PT 30 min 97140: 66 min, 4 units.
    # 97110 (36 min) has 2: the PTA's full 15 minutes are 1 unit with CQ; of the last unit the
    # PT furnished 13 of 21 minutes (CY2022: more than the PTA), so it goes without CQ.
    r, e = cq(engine, ("97110", 23, 1, ("GP", "CQ"), 23), ("97110", 13, 1, ("GP",), 0), ("97140", 30, 2, ("GP",), 0))
    assert e == [], [x.message for x in e]  # and no repeated-code warning or merge fix on the split
    assert not [x for x in r.edits if x.category == "units"], rules_of(r)
    both_cq = cq(engine, ("97110", 36, 2, ("GP", "CQ"), 23), ("97140", 30, 2, ("GP",), 0))[1]
    assert both_cq[0].rule == "modifier.assistant_not_needed" and "only 1 need it" in both_cq[0].message


def test_cq_cy2022_two_units_each_9_to_14_minutes(engine):
    # CY2022: two units left, PT and PTA each 9-14 minutes of them: one with CQ, one without
    _, e = cq(engine, ("97110", 24, 2, ("GP",), 12))
    assert "1 of 2 unit(s) need CQ" in e[0].message and "two lines" in e[0].message and e[0].fix is None
    assert cq(engine, ("97110", 12, 1, ("GP", "CQ"), 12), ("97110", 12, 1, ("GP",), 0))[1] == []


def test_cq_final_unit_rule_by_year(engine):
    # PT 26 + PTA 4 min of 97110 = 2 units; the PT's full unit goes without CQ. The last unit
    # (PT 11, PTA 4): CY2020 de minimis per unit: 4 > 10% of 15 needs CQ; from 2022 the PT
    # furnished more of it: no CQ.
    assert cq(engine, ("97110", 30, 2, ("GP",), 4))[1] == []
    _, e = cq(engine, ("97110", 30, 2, ("GP",), 4), dos="2021-03-04")
    assert "1 of 2 unit(s) need CQ" in e[0].message and "de minimis, CY2020" in e[0].message
    # the assistant's share of the last unit at most 10%: de minimis, no CQ even in 2021
    assert cq(engine, ("97110", 30, 2, ("GP",), 1), dos="2021-03-04")[1] == []


def test_cq_from_time_blocks_by_who(engine):
    blocks = [{"start": "10:00", "end": "10:15", "by": "assistant"}, {"start": "10:15", "end": "10:23", "by": "together"}]
    r = engine.evaluate(C("medicare", L("97110", mods=("GP", "CQ"), units=1, time_blocks=blocks[:1]),
                          L("97110", mods=("GP",), units=1, time_blocks=blocks[1:])))
    assert not [e for e in r.edits if e.rule.startswith("modifier.assistant") or e.rule.startswith("units.")], rules_of(r)


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


def test_codes_and_modifiers_that_did_not_exist_on_the_date(engine):
    # 97129/97130 are CPT 2020 codes; CQ/CO are required from 2020-01-01 (policy code_dates)
    r = engine.evaluate(C("medicare", L("97129", 15, mods=("GO",), date_of_service="2019-06-03")))
    e = edit(r, "code.not_in_effect")
    assert e.severity == "error" and "begins 2020-01-01" in e.message and (e.group, e.carc) == ("CO", "181")
    ok = engine.evaluate(C("medicare", L("97129", 15, mods=("GO",), date_of_service="2020-01-02")))
    assert "code.not_in_effect" not in rules_of(ok)
    m = engine.evaluate(C("medicare", L("97110", 15, mods=("GP", "CQ"), date_of_service="2019-06-03")))
    assert "modifier CQ on 2019-06-03" in edit(m, "modifier.not_in_effect").message
