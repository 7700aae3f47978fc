"""837P 5010 in depth: charges, line place of service, rendering and referring providers,
prior authorization and referral numbers, and envelope checks that name the segment."""

from __future__ import annotations

import pytest

from payer_rules import Engine
from payer_rules.readers import ReadError
from payer_rules.x12 import parse_837

from test_x12 import THERAPY

DEEP = THERAPY.replace(
    "NM1*82*1*SMITH*ANN****XX*1497758544~",
    "NM1*DN*1*JONES*BOB****XX*1245319599~\nREF*G1*AUTH778~\nREF*9F*REF55~\nNM1*82*1*SMITH*ANN****XX*1497758544~",
).replace(
    "SV1*HC:97140:GP*60*UN*1***1~\n    DTP*472*D8*20240304~".replace("    ", ""),
    "SV1*HC:97140:GP*60*UN*1*22**1~\nDTP*472*D8*20240304~\nREF*G1*LINEAUTH9~\nNM1*82*1*LEE*KIM****XX*1679576722~",
).replace("SE*29*0001~", "SE*34*0001~")


def test_depth_fields():
    a = list(parse_837(DEEP, {}, "d.837"))[0]
    assert a["charge"] == 250.0 and a["referring_npi"] == "1245319599"
    assert a["prior_authorization"] == "AUTH778" and a["referral_number"] == "REF55"
    assert a["provider"] == {"npi": "1497758544"}
    l2 = a["lines"][1]
    assert l2["charge"] == 60.0 and l2["place_of_service"] == "22"
    assert l2["prior_authorization"] == "LINEAUTH9" and l2["rendering_npi"] == "1679576722"
    assert "rendering_npi" not in a["lines"][0]


def test_depth_fields_reach_the_claim_model():
    c = list(parse_837(DEEP, {"04412": "medicare"}, "d.837"))[0]
    r = Engine().evaluate(c)
    assert r.status != "error"
    from payer_rules.claims import parse_claim
    claim = parse_claim(c)
    assert claim.extra["charge"] == 250.0 and claim.lines[1].extra["charge"] == 60.0


@pytest.mark.parametrize("change,expect", [
    (("SE*29*0001~", "SE*28*0001~"), "segment 31 SE: SE01 says 28 segments, the transaction set from ST at segment 3 has 29"),
    (("SE*29*0001~", "SE*29*0002~"), "segment 31 SE: SE02 does not match ST02 (segment 3)"),
    (("GE*1*1~", "GE*2*1~"), "segment 32 GE: GE01 says 2 transaction sets, the group from GS at segment 2 has 1"),
    (("GE*1*1~", "GE*1*9~"), "segment 32 GE: GE02 does not match GS06 (segment 2)"),
    (("IEA*1*000000001~", "IEA*1*000000002~"), "segment 33 IEA: IEA02 does not match ISA13 (segment 1)"),
    (("IEA*1*000000001~", ""), "the interchange from ISA at segment 1 has no IEA"),
    (("CLM*PT-1001*250*", "CLM*PT-1001*2x0*"), "segment 12 CLM02: the charge is not an amount"),
])
def test_envelope_and_charge_errors(change, expect):
    records = list(parse_837(THERAPY.replace(*change), {}, "e.837"))
    messages = [r.message for r in records if isinstance(r, ReadError)]
    assert any(expect in m for m in messages), messages
    # the claims themselves are still there (a batch never drops a claim)
    assert sum(1 for r in records if isinstance(r, dict) or "claim at segment" in r.message) == 3
