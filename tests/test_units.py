"""Unit arithmetic and both built-in methods: the chart, the manual's worked examples,
and properties derived from the rule text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from payer_rules.units import Service, allocate, allocate_pool, chart_range, midpoint, units_for_minutes

from conftest import claim, rules_of, units_of

CHART = [  # Pub 100-04 ch. 5 s. 20.2, the unit chart
    (range(0, 8), 0), (range(8, 23), 1), (range(23, 38), 2), (range(38, 53), 3), (range(53, 68), 4),
    (range(68, 83), 5), (range(83, 98), 6), (range(98, 113), 7), (range(113, 128), 8),
]


@pytest.mark.parametrize("minutes,units", [(m, u) for r, u in CHART for m in r])
def test_chart(minutes, units):
    assert units_for_minutes(minutes) == units


def test_chart_pattern_continues():
    assert units_for_minutes(128) == 9 and units_for_minutes(142) == 9 and units_for_minutes(143) == 10
    assert chart_range(3) == "38-52" and chart_range(1) == "8-22" and chart_range(0) == "0-7"


def test_thirty_minute_codes_midpoint_16():
    assert midpoint(30) == 16
    assert [units_for_minutes(m, 30) for m in (15, 16, 45, 46, 75, 76)] == [0, 1, 1, 2, 2, 3]


def cms(engine, *services, modifiers=("GP",)):
    lines = [{"code": c, "minutes": m, "modifiers": list(modifiers)} for c, m in services]
    return engine.evaluate(claim("medicare", *lines))


def commercial(engine, *services):
    return engine.evaluate(claim("generic-commercial", *[{"code": c, "minutes": m} for c, m in services]))


# -- the manual's worked examples (domain.md s. 1) ----------------------------------

def test_manual_24_neuro_23_exercise(engine):
    r = cms(engine, ("97112", 24), ("97110", 23))
    assert units_of(r) == {"97112": 2, "97110": 1}
    assert not r.ties


def test_manual_33_exercise_7_manual(engine):
    r = cms(engine, ("97110", 33), ("97140", 7))
    assert units_of(r) == {"97110": 2, "97140": 1}


def test_manual_7_7_7_one_unit_tie_reported(engine):
    r = cms(engine, ("97112", 7), ("97110", 7), ("97140", 7))
    assert sum(u for u in units_of(r).values()) == 1
    assert units_of(r)["97110"] == 1  # lowest code wins the tie, by the documented rule
    assert r.ties and "units.tie_broken" in rules_of(r)


def test_manual_18_13_10_8(engine):
    r = cms(engine, ("97110", 18), ("97140", 13), ("97116", 10), ("97035", 8))
    assert units_of(r) == {"97110": 1, "97140": 1, "97116": 1, "97035": 0}


def test_manual_20_20_tie(engine):
    r = cms(engine, ("97112", 20), ("97110", 20))
    assert sorted(units_of(r).values()) == [1, 2]
    assert r.ties


def test_two_short_services_reach_8(engine):
    # two services of 7 minutes or less that together reach 8: one unit, for the longer
    r = cms(engine, ("97110", 5), ("97140", 3))
    assert units_of(r) == {"97110": 1, "97140": 0}


def test_under_8_minutes_no_units(engine):
    assert units_of(cms(engine, ("97110", 7))) == {"97110": 0}


def test_untimed_minutes_never_count(engine):
    r = cms(engine, ("97161", 45), ("97110", 7))
    assert units_of(r) == {"97161": 1, "97110": 0}


# -- the per-code method and how the two differ (domain.md s. 2) --------------------

def test_methods_disagree_10_10(engine):
    assert sum(units_of(cms(engine, ("97110", 10), ("97116", 10))).values()) == 1
    assert sum(units_of(commercial(engine, ("97110", 10), ("97116", 10))).values()) == 2


def test_methods_disagree_33_7(engine):
    assert sum(units_of(cms(engine, ("97110", 33), ("97140", 7))).values()) == 3
    assert units_of(commercial(engine, ("97110", 33), ("97140", 7))) == {"97110": 2, "97140": 0}


def test_per_code_hour_code(engine):
    # 97546 is a 60-minute code in the commercial template: first unit past 30 minutes
    assert units_of(commercial(engine, ("97546", 30))) == {"97546": 0}
    assert units_of(commercial(engine, ("97546", 31))) == {"97546": 1}


# -- disciplines, dates, repeated codes, missing minutes ----------------------------

def test_disciplines_counted_separately_under_by_discipline(engine):
    # PT 10 min and OT 10 min on one day: by_discipline gives 1 + 1; combined would give 1
    r = engine.evaluate(claim("medicare", {"code": "97110", "minutes": 10, "modifiers": ["GP"]},
                              {"code": "97530", "minutes": 10, "modifiers": ["GO"]}))
    assert units_of(r) == {"97110": 1, "97530": 1}


def test_dates_counted_separately(engine):
    r = engine.evaluate(claim("medicare", {"code": "97110", "minutes": 10, "modifiers": ["GP"]},
                              {"code": "97140", "minutes": 10, "modifiers": ["GP"], "date_of_service": "2024-03-05"}))
    assert units_of(r) == {"97110": 1, "97140": 1}


def test_same_code_two_lines_summed(engine):
    r = engine.evaluate(claim("medicare", {"code": "97110", "minutes": 10, "modifiers": ["GP"]},
                              {"code": "97110", "minutes": 10, "modifiers": ["GP"]}))
    assert [ln.units for ln in r.lines] == [1, 0]
    assert "units.timed_code_repeated" in rules_of(r)


def test_missing_minutes_not_guessed(engine):
    r = engine.evaluate(claim("medicare", {"code": "97110", "modifiers": ["GP"], "units": 2},
                              {"code": "97140", "minutes": 20, "modifiers": ["GP"], "units": 1}))
    assert [ln.units for ln in r.lines] == [None, None]
    assert rules_of(r).count("units.unverified") == 2
    assert "units.over_billed" not in rules_of(r)


def test_missing_minutes_per_code_only_that_line(engine):
    r = engine.evaluate(claim("generic-commercial", {"code": "97110"}, {"code": "97140", "minutes": 20}))
    assert [ln.units for ln in r.lines] == [None, 1]


def test_minutes_from_start_end(engine):
    r = engine.evaluate(claim("medicare", {"code": "97110", "start_time": "09:00", "end_time": "09:23",
                                           "modifiers": ["GP"]}))
    assert r.lines[0].minutes == 23 and r.lines[0].units == 2


def test_over_and_under_billed(engine):
    r = cms(engine, ("97110", 33), ("97140", 7))
    r = engine.evaluate(claim("medicare", {"code": "97110", "minutes": 33, "units": 3, "modifiers": ["GP"]},
                              {"code": "97140", "minutes": 7, "units": 0, "modifiers": ["GP"]}))
    over = next(e for e in r.edits if e.rule == "units.over_billed")
    under = next(e for e in r.edits if e.rule == "units.under_billed")
    assert over.severity == "error" and over.fix == {"action": "set_units", "line": 1, "units": 2}
    assert (over.group, over.carc) == ("CO", "151")
    assert under.severity == "warning" and under.fix["units"] == 1
    assert r.status == "fail"


# -- initial and add-on families (CPT descriptors; unit_params.families) ---------------

def billed(engine, payer, *lines, mods=("GO",)):
    return engine.evaluate(claim(payer, *[{"code": c, "minutes": m, "units": u, "modifiers": list(mods),
                                           "diagnosis_pointers": [1]} for c, m, u in lines],
                                 diagnoses=["R41.844"]))


@pytest.mark.parametrize("payer", ["medicare", "generic-commercial"])
@pytest.mark.parametrize("split", [(20, 25), (40, 5), (8, 37), (15, 30)])
def test_cognitive_family_is_one_service_whatever_the_split(engine, payer, split):
    # 45 minutes of cognitive function intervention: 3 units under either method (one
    # service), 97129 "initial 15 minutes" once, 97130 "each additional 15 minutes" twice
    r = billed(engine, payer, ("97129", split[0], 1), ("97130", split[1], 2))
    assert units_of(r) == {"97129": 1, "97130": 2}
    assert not [e for e in r.edits if e.category in ("units", "mue")], rules_of(r)
    assert "one service" in r.lines[1].explanation


def test_initial_code_alone_gets_one_unit_not_an_mue_trap(engine):
    r = billed(engine, "medicare", ("97129", 40, 2))
    assert units_of(r) == {"97129": 1}  # before: 3 units, then the engine's own MUE (1, MAI 2) denied them
    e = next(e for e in r.edits if e.rule == "units.over_billed")
    assert e.fix == {"action": "set_units", "line": 1, "units": 1}
    assert "belong on an add-on code (97130)" in r.lines[0].explanation


def test_add_on_without_primary(engine):
    r = billed(engine, "medicare", ("97130", 30, 1))
    e = next(e for e in r.edits if e.rule == "units.add_on_without_primary")
    assert e.lines == (1,) and "97129" in e.message and e.severity == "error" and e.fix is None
    assert units_of(r) == {"97130": 1}  # the first of 2 units belongs to the missing initial code
    ok = billed(engine, "medicare", ("97129", 15, 1), ("97130", 15, 1))
    assert "units.add_on_without_primary" not in rules_of(ok)


def test_acupuncture_one_initial_a_day_add_ons_mix(engine):
    # 97810 (without e-stim) and 97813 (with) are both "initial 15 minutes": one a day across
    # both; 97811/97814 "each additional 15 minutes ... with re-insertion of needles" may mix
    r = billed(engine, "medicare", ("97810", 15, 1), ("97811", 15, 1), ("97814", 15, 1), mods=())
    assert units_of(r) == {"97810": 1, "97811": 1, "97814": 1}
    assert not [e for e in r.edits if e.category == "units"], rules_of(r)
    two = billed(engine, "medicare", ("97810", 20, 1), ("97813", 10, 1), mods=())
    assert units_of(two) == {"97810": 1, "97813": 0}  # 30 min = 2 units, but one initial only
    assert "units.over_billed" in rules_of(two)


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 120), st.integers(0, 120), st.sampled_from(["medicare", "generic-commercial"]))
def test_property_family_units_do_not_depend_on_the_split(engine, total, first, payer):
    first = min(first, total)
    r = billed(engine, payer, ("97129", first, 1), ("97130", total - first, 1))
    u = units_of(r)
    assert u["97129"] + u["97130"] == units_for_minutes(total) and u["97129"] <= 1


# -- allocate() directly, and properties --------------------------------------------

def svc(code, minutes, unit=15, partial=1, order=1):
    return Service(code, minutes, unit, partial, code, order)


def test_allocate_cap_drops_weakest():
    units, _ = allocate([svc("97110", 40), svc("97140", 20, order=2)], 3)
    assert units == [2, 1]
    units, _ = allocate([svc("97110", 40), svc("97140", 20, order=2)], 2)
    assert units == [2, 0]


timed_codes = st.sampled_from(["97110", "97112", "97116", "97140", "97530", "97535", "97035"])
services = st.lists(st.tuples(timed_codes, st.integers(0, 120)), min_size=1, max_size=6, unique_by=lambda t: t[0])


@settings(max_examples=300, deadline=None)
@given(services)
def test_property_cms_totals_follow_chart(engine, svcs):
    r = cms(engine, *svcs)
    units = units_of(r)
    total = sum(m for _, m in svcs)
    assert sum(units.values()) == units_for_minutes(total)
    for code, m in svcs:
        assert units[code] >= m // 15  # each code at least its full 15-minute units


@settings(max_examples=200, deadline=None)
@given(services, st.randoms(use_true_random=False))
def test_property_line_order_irrelevant_cms(engine, svcs, rnd):
    a = units_of(cms(engine, *svcs))
    shuffled = list(svcs)
    rnd.shuffle(shuffled)
    assert units_of(cms(engine, *shuffled)) == a  # ties are broken by code, never by position


@settings(max_examples=200, deadline=None)
@given(services)
def test_property_per_code_independent(engine, svcs):
    together = units_of(commercial(engine, *svcs))
    for code, m in svcs:
        assert together[code] == units_for_minutes(m)
        assert units_of(commercial(engine, (code, m)))[code] == together[code]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 90), st.sampled_from([15, 30])), min_size=1, max_size=5),
       st.integers(0, 12))
def test_property_allocate_respects_total_and_full_units(items, total):
    ss = [svc(f"C{i:03d}", m, unit, 1, i) for i, (m, unit) in enumerate(items)]
    units, _ = allocate(ss, total)
    pool = sum(m // u + (1 if m % u else 0) for m, u in items)
    assert sum(units) == min(total, pool)
    if total >= sum(m // u for m, u in items):
        for (m, u), got in zip(items, units):
            assert got >= m // u


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 90), st.sampled_from([15, 30]), st.sampled_from([1, 8, 16])),
                min_size=1, max_size=6), st.integers(0, 14))
def test_property_fast_allocate_equals_pool(items, total):
    ss = [Service(f"C{i % 3}{i}", m, unit, partial, f"C{i % 3}", i) for i, (m, unit, partial) in enumerate(items)]
    assert allocate(ss, total) == allocate_pool(ss, total)
