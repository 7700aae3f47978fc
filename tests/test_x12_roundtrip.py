"""Writer and reader held together: claim -> 837 -> claim gives the claim back (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from payer_rules.readers import ReadError
from payer_rules.x12 import parse_837
from payer_rules.x12.writer import write_837p

CODES = st.sampled_from(["97110", "97140", "97112", "97530", "97161", "97010", "G0283", "98941"])
MODS = st.lists(st.sampled_from(["GP", "GO", "GN", "59", "KX", "XS"]), max_size=4, unique=True)
DATES = st.dates(min_value=__import__("datetime").date(2017, 1, 1),
                 max_value=__import__("datetime").date(2026, 12, 31)).map(lambda d: d.isoformat())
CHARGES = st.integers(min_value=0, max_value=99_999_99).map(lambda c: c / 100)


@st.composite
def claims(draw):
    n = draw(st.integers(1, 6))
    dx = draw(st.lists(st.sampled_from(["M54.50", "M25.511", "G89.29", "M62.81"]), min_size=1, max_size=4, unique=True))
    lines = []
    for i in range(1, n + 1):
        ln = {"line": i, "code": draw(CODES), "modifiers": draw(MODS), "charge": draw(CHARGES),
              "date_of_service": draw(DATES), "diagnosis_pointers": [1]}
        if draw(st.booleans()):
            ln["units"] = draw(st.integers(1, 12))
        else:
            ln["minutes"] = draw(st.integers(0, 120))
        lines.append(ln)
    return {"claim_id": draw(st.from_regex(r"[A-Z0-9]{1,12}", fullmatch=True)), "diagnoses": dx,
            "place_of_service": "11", "charge": round(sum(ln["charge"] for ln in lines), 2),
            "patient": {"id": "1EG4TE5MK73", "birth_date": "1950-01-01"}, "provider": {"npi": "1497758544"},
            "lines": lines}


@settings(max_examples=60, deadline=None)
@given(st.lists(claims(), min_size=1, max_size=4))
def test_claim_837_claim(cs):
    back = list(parse_837(write_837p(cs), {"04412": "medicare"}, "rt.837", minutes=None))
    assert not [b for b in back if isinstance(b, ReadError)], back
    for orig, got in zip(cs, back, strict=True):
        assert got["payer"] == "medicare" and got["x12"] == {"payer_id": "04412", "payer_name": "MEDICARE"}
        for k in ("claim_id", "diagnoses", "place_of_service", "charge", "patient", "provider"):
            assert got[k] == orig[k], k
        assert got["lines"] == orig["lines"]
