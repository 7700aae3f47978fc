"""X12 837P input: a synthetic 5010 therapy claim file end to end, malformed files, and the
real public sample files in ../shared/data/x12 (skipped without them)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from payer_rules.readers import ReadError, read_claims
from payer_rules.x12 import parse_837

from conftest import SHARED

ISA = "ISA*00*          *00*          *ZZ*SUBMITTER      *ZZ*RECEIVER       *240305*1200*^*00501*000000001*0*P*:~"


def interchange(body: str) -> str:
    return ISA + "\n" + textwrap.dedent(body).strip().replace("\n", "\n") + "\n"


THERAPY = interchange("""\
    GS*HC*SUB*REC*20240305*1200*1*X*005010X222A1~
    ST*837*0001*005010X222A1~
    BHT*0019*00*1*20240305*1200*CH~
    HL*1**20*1~
    NM1*85*2*GOOD PT CLINIC*****XX*1234567893~
    HL*2*1*22*0~
    SBR*P*18*******MB~
    NM1*IL*1*DOE*JANE****MI*1EG4TE5MK73~
    DMG*D8*19500101*F~
    NM1*PR*2*MEDICARE*****PI*04412~
    CLM*PT-1001*250***11:B:1*Y*A*Y*Y~
    HI*ABK:M5450*ABF:G8929~
    NM1*82*1*SMITH*ANN****XX*1497758544~
    LX*1~
    SV1*HC:97110:GP*80*UN*3***1:2~
    DTP*472*D8*20240304~
    LX*2~
    SV1*HC:97140:GP*60*UN*1***1~
    DTP*472*D8*20240304~
    LX*3~
    SV1*HC:97112:GP*40*MJ*24***1~
    DTP*472*D8*20240304~
    CLM*PT-1002*50***11:B:1*Y*A*Y*Y~
    HI*ABK:M25511~
    LX*1~
    SV1*HC:97010*20*UN*1***1~
    DTP*472*D8*20240305~
    CLM*PT-1003*10***11:B:1*Y*A*Y*Y~
    HI*ABK:M25511~
    SE*29*0001~
    GE*1*1~
    IEA*1*000000001~
    """)


def test_synthetic_837_fields():
    claims = list(parse_837(THERAPY, {"04412": "medicare"}, "t.837"))
    assert len(claims) == 3
    a = claims[0]
    assert a["claim_id"] == "PT-1001" and a["payer"] == "medicare" and a["x12"]["payer_id"] == "04412"
    assert a["diagnoses"] == ["M54.50", "G89.29"] and a["place_of_service"] == "11"
    assert a["patient"] == {"id": "1EG4TE5MK73", "birth_date": "1950-01-01"}
    assert a["provider"] == {"npi": "1497758544"}
    assert a["lines"][0] == {"line": 1, "code": "97110", "modifiers": ["GP"], "units": 3, "charge": 80.0,
                             "diagnosis_pointers": [1, 2], "date_of_service": "2024-03-04"}
    assert a["charge"] == 250.0
    assert a["lines"][2]["minutes"] == 24 and "units" not in a["lines"][2]  # MJ: minutes
    assert claims[1]["lines"][0]["code"] == "97010"
    assert isinstance(claims[2], ReadError) and "no service lines" in claims[2].message


def test_check_reads_837_by_content(tmp_path):
    f = tmp_path / "claims.837"
    f.write_text(THERAPY)
    pol = tmp_path / "pol"
    pol.mkdir()
    from payer_rules.policy import bundled_dir
    import shutil
    shutil.copytree(bundled_dir() / "tables", pol / "tables")
    text = (bundled_dir() / "medicare.yaml").read_text().replace("x12_payer_ids: []", 'x12_payer_ids: ["04412"]')
    (pol / "medicare.yaml").write_text(text)
    r = subprocess.run([sys.executable, "-m", "payer_rules.cli", "check", str(f), "--policies", str(pol)],
                       capture_output=True, text=True)
    assert r.returncode == 1  # the third claim has no lines
    results = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["claim_id"] for x in results] == ["PT-1001", "PT-1002", None]
    assert results[0]["payer"] == "medicare" and results[0]["lines"][2]["minutes"] == 24
    # 97110 and 97140 came with units but no minutes: the day's units cannot be verified
    assert [ln["units"] for ln in results[0]["lines"]] == [None, None, None]
    assert "units.unverified" in {e["rule"] for e in results[0]["edits"]}
    assert "pfs.bundled" in {e["rule"] for e in results[1]["edits"]}
    assert results[2]["status"] == "error" and "no service lines" in results[2]["error"]
    # batch reads it too, with the same results
    out = tmp_path / "out.jsonl"
    r = subprocess.run([sys.executable, "-m", "payer_rules.cli", "batch", str(f), "-o", str(out), "-q",
                        "--policies", str(pol)], capture_output=True, text=True)
    assert r.returncode == 1
    assert [json.loads(x) for x in out.read_text().splitlines()] == results


@pytest.mark.parametrize("text,expect", [
    ("ISA*00*short~", "no complete ISA segment"),
    (THERAPY.replace("SV1*HC:97140:GP*60*UN*1", "SV1*HC*60*UN*1"), "SV101: no procedure code"),
    (THERAPY.replace("SV1*HC:97140:GP*60*UN*1", "SV1*HC:97140:GP*60*UN*x"), "SV104: the quantity is not a number"),
    (THERAPY.replace("DTP*472*D8*20240304~\nLX*2", "DTP*472*D8*2024034~\nLX*2"), "DTP*472: the date is not CCYYMMDD"),
])
def test_malformed_837(tmp_path, text, expect):
    f = tmp_path / "bad.837"
    f.write_text(text)
    records = [r for _, r in read_claims(str(f))]
    errors = [r.message for r in records if isinstance(r, ReadError)]
    assert any(expect in m for m in errors), errors
    assert all("DOE" not in m and "1EG4TE5MK73" not in m for m in errors)


REAL = SHARED / "data" / "x12"
needs_real = pytest.mark.skipif(not REAL.exists(), reason="../shared/data is not present")


@needs_real
@pytest.mark.parametrize("name,claims,first_code", [
    ("linuxforhealth/dependent-commercial-insurance-01.837", 1, "99204"),
    ("linuxforhealth/demo.example1.837", 1, "99213"),
    ("linuxforhealth/demo.example6.837", 1, "98940"),
    ("linuxforhealth/demo.example9.837", 1, "00142"),
    ("pyx12/simple_837p.txt", 2, "H2015"),
])
def test_real_sample_files(name, claims, first_code):
    records = [r for _, r in read_claims(str(REAL / name))]
    assert len(records) == claims and all(isinstance(r, dict) for r in records)
    assert records[0]["lines"][0]["code"] == first_code


@needs_real
def test_real_files_with_wrong_component_separator():
    # demo.example6 declares ':' in ISA16 but writes SV101 as HC>98940
    (c,) = [r for _, r in read_claims(str(REAL / "linuxforhealth/demo.example6.837"))]
    assert c["lines"][0]["code"] == "98940" and c["place_of_service"] == "11"
    (c,) = [r for _, r in read_claims(str(REAL / "linuxforhealth/demo.example9.837"))]
    assert c["lines"][0]["minutes"] == 61 and c["lines"][0]["modifiers"] == ["QK", "QS", "P1"]


@needs_real
def test_chiropractic_sample_through_the_engine(engine):
    (c,) = [r for _, r in read_claims(str(REAL / "linuxforhealth/dependent-commercial-insurance-01.837"))]
    codes = [ln["code"] for ln in c["lines"]]
    assert codes == ["99204", "72100", "97010", "97014", "97124", "97035"]
    for ln in c["lines"]:
        ln["date_of_service"] = "2024-03-18"  # the 1997 sample predates the bundled policy
    r = engine.evaluate(c, payer="medicare")
    rules = {e.rule for e in r.edits}
    assert {"pfs.bundled", "pfs.not_valid"} <= rules
