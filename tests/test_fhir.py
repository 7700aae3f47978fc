"""FHIR R4: the Claim reader, the ClaimResponse writers, validated against the real FHIR R4
JSON Schema (vendored in tests/fhir, see PROVENANCE.md), and round trips with claims JSON."""

from __future__ import annotations

import copy
import io
import json
import os
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhir_support import HERE, bundle, round_trips, schema_errors, to_fhir
from payer_rules import Engine
from payer_rules.fhir import CARC, MINUTES_EXTENSION, PAYER_SYSTEM, RARC
from payer_rules.fhir.reader import sniff
from payer_rules.fhir.response import ClaimResponseBundleWriter, ClaimResponseWriter, claim_response
from payer_rules.readers import ReadError, ReadOptions, open_records, readers_table

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "docs" / "examples" / "claims.jsonl"
CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"


def cli(*args: str, input: bytes | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    full = dict(os.environ)
    full.pop("PAYER_RULES_PAYER_MAP", None)
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "payer_rules.cli", *args], input=input, capture_output=True,
                          env=full, cwd=ROOT)


def therapy_claim(**over) -> dict:
    """A professional therapy Claim whose insurer is an Organization in the Bundle, known by
    a Medicare MAC's payer id (as an 837's NM1*PR09 would be)."""
    claim = {
        "resourceType": "Claim", "id": "c-1",
        "identifier": [{"system": "urn:example:pcn", "value": "PCN-77"}],
        "status": "active",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}]},
        "use": "claim", "patient": {"reference": "Patient/pat-9"}, "created": "2024-03-05",
        "insurer": {"reference": "Organization/mac"}, "provider": {"reference": "Organization/clinic"},
        "priority": {"coding": [{"code": "normal"}]},
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"reference": "Coverage/cov"},
                       "preAuthRef": ["AUTH-5"]}],
        "diagnosis": [{"sequence": 2, "diagnosisCodeableConcept": {"coding": [
                          {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M25.511"}]}},
                      {"sequence": 1, "diagnosisCodeableConcept": {"coding": [
                          {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M54.50"}]}}],
        "item": [
            {"sequence": 1, "productOrService": {"coding": [{"system": CPT, "code": "97110"}]},
             "modifier": [{"coding": [{"system": HCPCS, "code": "GP"}]}],
             "servicedPeriod": {"start": "2024-03-04T09:00:00-05:00", "end": "2024-03-04T09:38:00-05:00"},
             "quantity": {"value": 4}, "unitPrice": {"value": 30, "currency": "USD"}, "diagnosisSequence": [2, 1],
             "bodySite": {"coding": [{"system": "http://snomed.info/sct", "code": "122496007"}], "text": "lumbar spine"},
             "extension": [{"url": MINUTES_EXTENSION, "valueInteger": 38}]},
            {"sequence": 2, "productOrService": {"coding": [{"system": CPT, "code": "97140"}]},
             "modifier": [{"coding": [{"system": HCPCS, "code": "GP"}]}, {"coding": [{"system": CPT, "code": "59"}]}],
             "servicedDate": "2024-03-04", "quantity": {"value": 1}, "net": {"value": 45.5, "currency": "USD"},
             "bodySite": {"text": "cervical spine"}},
        ],
        "total": {"value": 165.5, "currency": "USD"},
    }
    claim.update(over)
    return claim


def org_entries() -> list[dict]:
    return [{"fullUrl": "https://example.org/fhir/Organization/mac",
             "resource": {"resourceType": "Organization", "id": "mac",
                          "identifier": [{"system": "urn:example:payer-id", "value": "12302"}],
                          "name": "MEDICARE PART B MARYLAND"}},
            {"resource": {"resourceType": "Patient", "id": "pat-9", "name": [{"family": "Doe"}],
                          "birthDate": "1950-01-01"}}]


def read_all(data: bytes, **opts) -> list:
    engine = Engine()
    options = ReadOptions.from_env(x12_payers=engine.x12_payers(), **opts)
    with open_records(io.BytesIO(data), readers=engine, name="claims.fhir", options=options) as records:
        assert records.reader.name == "fhir"
        return [rec for _, rec in records]


def errors_of(res: dict) -> str:
    (rec,) = read_all(orjson.dumps(res))
    assert isinstance(rec, ReadError), rec
    return rec.message


# -- the reader ---------------------------------------------------------------------------

def test_a_claim_in_a_bundle_maps_into_the_claim_model():
    doc = {"resourceType": "Bundle", "type": "collection",
           "entry": org_entries() + [{"fullUrl": "urn:uuid:1", "resource": therapy_claim()}]}
    (claim,) = read_all(json.dumps(doc, indent=2).encode())
    assert claim["claim_id"] == "PCN-77"                    # the business identifier, not the server id
    assert claim["payer"] == "medicare"                     # 12302 maps like an 837's payer id
    assert claim["patient"] == {"id": "Patient/pat-9"}     # the reference only: nothing of the Patient
    assert claim["diagnoses"] == ["M54.50", "M25.511"]      # in order of sequence
    assert claim["prior_authorization"] == "AUTH-5"
    assert claim["charge"] == 165.5
    one, two = claim["lines"]
    assert one == {"line": 1, "code": "97110", "modifiers": ["GP"], "date_of_service": "2024-03-04",
                   "start_time": "09:00", "end_time": "09:38", "units": 4, "charge": 120.0,
                   "diagnosis_pointers": [2, 1], "body_region": "122496007", "minutes": 38}
    assert two == {"line": 2, "code": "97140", "modifiers": ["GP", "59"], "date_of_service": "2024-03-04",
                   "units": 1, "charge": 45.5, "body_region": "cervical spine"}
    assert claim["fhir"] == {"request": {"reference": "Claim/c-1"}, "type": "professional", "created": "2024-03-05",
                             "patient": {"reference": "Patient/pat-9"}, "payer_id": "12302",
                             "payer_name": "MEDICARE PART B MARYLAND", "insurer": {"reference": "Organization/mac"}}
    assert "Doe" not in json.dumps(claim) and "1950" not in json.dumps(claim)


def test_ndjson_gives_one_record_per_line_and_errors_in_place():
    lines = [orjson.dumps(therapy_claim(insurer={"identifier": {"system": PAYER_SYSTEM, "value": "medicare"}})),
             b'{"resourceType": "Patient", "id": "p"}',
             b'{"resourceType": "Claim", "id": ',
             orjson.dumps(therapy_claim(id="c-3", identifier=None)).replace(b',"identifier":null', b""),
             orjson.dumps(bundle([therapy_claim(id="b-1", identifier=[]), therapy_claim(id="b-2", identifier=[])]))]
    recs = read_all(b"\n".join(lines) + b"\n")
    assert len(recs) == 6
    assert recs[0]["payer"] == "medicare" and recs[0]["claim_id"] == "PCN-77"
    assert isinstance(recs[1], ReadError) and recs[1].message == "claims.fhir:2: a Patient resource, not a Claim"
    assert isinstance(recs[2], ReadError) and recs[2].message.startswith("claims.fhir:3: malformed JSON")
    assert recs[3]["claim_id"] == "c-3"                     # no identifier: the id is the claim id
    assert [recs[4]["claim_id"], recs[5]["claim_id"]] == ["b-1", "b-2"]


def test_sniffing_tells_fhir_from_claims_json():
    assert sniff(b'{"resourceType": "Bundle", "entry": [')
    assert sniff(b'\xef\xbb\xbf  {"id": "x", "meta": {"resourceType": "no"}, "resourceType" : "Claim"')
    assert not sniff(b'{"claim_id": "A", "payer": "medicare", "lines": []}')
    assert not sniff(b'{"claim_id": "A", "extra": {"resourceType": "Claim"}}')   # nested: not the record's own
    assert not sniff(b'{"resourceType": "Patient"}')
    assert not sniff(b'[{"resourceType": "Claim"}]')
    names = {r["name"]: r for r in readers_table()}
    assert "application/fhir+json" in names["fhir"]["media_types"]


@pytest.mark.parametrize("change, expected", [
    (lambda c: c["item"][1].update(detail=[{"sequence": 1}]), "Claim.item[1].detail: not read by payer-rules"),
    (lambda c: c["item"][0].update(factor=0.5), "Claim.item[0].factor: not read by payer-rules"),
    (lambda c: c.update(procedure=[{}]), "Claim.procedure: not read by payer-rules"),
    (lambda c: c["item"][0].update(modifierExtension=[{"url": "x"}]), "Claim.item[0].modifierExtension: not read"),
    (lambda c: c.update(secretField="M54.50"), "Claim.secretField: not an element of an R4 Claim"),
    (lambda c: c.update({"weird key 97110": 1}), "Claim.<an unknown name>: not an element of an R4 Claim"),
    (lambda c: c["item"][0].update(quantity={"value": 38, "unit": "min"}),
     f"Claim.item[0].quantity: is in minutes, but Claim.item.quantity is the units billed; give the minutes "
     f"in the extension {MINUTES_EXTENSION}"),
    (lambda c: c["item"][0].update(quantity={"value": 1.5}), "Claim.item[0].quantity.value: must be a whole number"),
    (lambda c: c["item"][0]["servicedPeriod"].update(end="2024-03-05T09:38:00-05:00"),
     "Claim.item[0].servicedPeriod: spans more than one day"),
    (lambda c: c["item"][1].update(servicedDate="2024-02-30"), "Claim.item[1].servicedDate: must be a full date"),
    (lambda c: c["item"][1].update(servicedDate="2024-03"), "Claim.item[1].servicedDate: must be a full date"),
    (lambda c: c["item"][1].pop("servicedDate"), "Claim.item[1]: no servicedDate or servicedPeriod"),
    (lambda c: c["item"][0].update(productOrService={"coding": [{"system": "urn:local", "code": "97110"}]}),
     "Claim.item[0].productOrService: needs a coding in CPT (http://www.ama-assn.org/go/cpt) or HCPCS"),
    (lambda c: c["item"][0]["productOrService"]["coding"].append({"system": HCPCS, "code": "G0283"}),
     "Claim.item[0].productOrService: has more than one CPT/HCPCS code"),
    (lambda c: c["item"][1]["modifier"].append({"text": "GP"}), "Claim.item[1].modifier[2]: needs one coding"),
    (lambda c: c["item"][0].update(diagnosisSequence=[7]), "Claim.item[0].diagnosisSequence[0]: names no Claim.diagnosis"),
    (lambda c: c["diagnosis"].append({"sequence": 3, "diagnosisReference": {"reference": "Condition/1"}}),
     "Claim.diagnosis[2].diagnosisReference: not read"),
    (lambda c: c["item"][1].update(sequence=0), "Claim.item[1].sequence: must be a whole number, 1 or more"),
    (lambda c: c["item"][1].update(sequence=1), "Claim.item.sequence: two items have the same sequence"),
    (lambda c: c["item"][1]["net"].update(currency="EUR"), "Claim.item[1].net.currency: only USD amounts are read"),
    (lambda c: c["item"][0]["extension"][0].update(valueInteger=2000),
     "Claim.item[0].extension[0]: the minutes extension takes valueInteger, 0 to 1440"),
    (lambda c: c.update(item=[]), "Claim.item: no items"),
    (lambda c: c.update(identifier=[], id=None), "Claim.identifier: no identifier with a value and no Claim.id"),
])
def test_each_unmapped_or_malformed_element_is_named_by_its_path(change, expected):
    res = therapy_claim()
    change(res)
    res = {k: v for k, v in res.items() if v is not None}
    message = errors_of(res)
    assert message.startswith("claims.fhir:1: ") and expected in message
    for datum in ("PCN-77", "pat-9", "M54.50", "2024-03-04", "AUTH-5", "38"):  # claim data stays out
        if datum not in expected:
            assert datum not in message


def test_every_problem_of_a_claim_is_listed_at_once():
    res = therapy_claim()
    res["item"][0].update(factor=2, udi=[{}])
    res["item"][1]["servicedDate"] = "yesterday"
    message = errors_of(res)
    assert message.count("Claim.item[") == 3


def test_claims_are_bounded_like_json_claims():
    res = therapy_claim()
    res["item"] = [dict(res["item"][1], sequence=i) for i in range(1, 6)]
    (rec,) = read_all(orjson.dumps(res), max_claim_lines=4)
    assert isinstance(rec, ReadError) and "5 Claim items exceeds the limit of 4" in rec.message
    deep = therapy_claim()
    deep["item"][0]["extension"].append({"url": "urn:x", "valueString": "x", "extension": [{"url": "urn:y"}]})
    node = deep["item"][0]["extension"][1]
    for _ in range(80):
        node["extension"] = [{"url": "urn:y"}]
        node = node["extension"][0]
    (rec,) = read_all(orjson.dumps(deep))
    assert isinstance(rec, ReadError) and "max_depth" in rec.message
    recs = read_all(orjson.dumps(bundle([therapy_claim()])) + b"\n" + orjson.dumps(therapy_claim()),
                    max_record_bytes=64)
    assert len(recs) == 2 and all(isinstance(r, ReadError) and "max_record_bytes" in r.message for r in recs)


def test_a_bundle_without_claims_and_an_empty_entry_are_errors():
    (rec,) = read_all(orjson.dumps(bundle([{"resourceType": "Patient", "id": "p"}])))
    assert rec.message == "claims.fhir:1: the Bundle holds no Claim resource"
    recs = read_all(orjson.dumps({"resourceType": "Bundle", "type": "batch",
                                  "entry": [{"fullUrl": "x"}, {"resource": therapy_claim()}]}))
    assert recs[0].message == "claims.fhir:1: Bundle.entry[0]: no resource (each entry must carry one)"
    assert recs[1]["claim_id"] == "PCN-77"


def test_the_payer_comes_from_coverage_and_contained_resources():
    res = therapy_claim(insurer=None, insurance=[{"sequence": 1, "focal": True, "coverage": {"reference": "#cov"}}],
                        contained=[{"resourceType": "Coverage", "id": "cov", "status": "active",
                                    "beneficiary": {"reference": "Patient/pat-9"},
                                    "payor": [{"reference": "#org"}]},
                                   {"resourceType": "Organization", "id": "org",
                                    "identifier": [{"value": "04412"}], "name": "NOVITAS"}])
    (claim,) = read_all(orjson.dumps({k: v for k, v in res.items() if v is not None}))
    assert claim["payer"] == "medicare" and claim["fhir"]["payer_id"] == "04412"


def test_an_unmapped_insurer_is_a_per_claim_error_naming_it_and_payer_overrides(tmp_path):
    path = tmp_path / "c.json"
    path.write_bytes(orjson.dumps(therapy_claim(insurer={"identifier": {"value": "99999"}, "display": "ACME HEALTH"})))
    out = cli("check", str(path))
    result = json.loads(out.stdout)
    assert result["edits"][0]["rule"] == "input.unmapped_payer"
    assert result["error"].startswith("payer: the FHIR Claim names payer identifier '99999' (ACME HEALTH)")
    assert result["source"]["format"] == "fhir" and result["source"]["payer_id"] == "99999"
    assert b"Traceback" not in out.stderr
    out = cli("check", str(path), "--payer", "medicare")
    overridden = json.loads(out.stdout)
    assert overridden["payer"] == "medicare" and overridden["status"] != "error"
    mapping = tmp_path / "payers.yaml"
    mapping.write_text('payers:\n  "99999": generic-commercial\n')
    out = cli("check", str(path), env={"PAYER_RULES_PAYER_MAP": str(mapping)})
    assert json.loads(out.stdout)["payer"] == "generic-commercial"


def test_official_hl7_examples(tmp_path):
    """HL7's own R4 examples (hl7.fhir.r4.examples 4.0.1): a CPT-coded Claim is read (its
    insurer mapped through the installation's payer map), a Claim with example code systems
    gets errors naming the elements."""
    mapping = tmp_path / "payers.yaml"
    mapping.write_text('payers:\n  "123456": generic-commercial\n')
    out = cli("check", str(HERE / "Claim-MED-00050.json"), env={"PAYER_RULES_PAYER_MAP": str(mapping)})
    result = json.loads(out.stdout)
    assert result["claim_id"] == "MED-00050" and result["payer"] == "generic-commercial"
    assert result["edits"][0]["rule"] == "input.no_policy_version"   # 2015: no bundled version covers it
    assert "Ashcraft" not in out.stdout.decode() and "Ashcraft" not in out.stderr.decode()
    (claim,) = read_all((HERE / "Claim-MED-00050.json").read_bytes())
    assert [(ln["code"], ln["date_of_service"], ln["charge"], ln["diagnosis_pointers"]) for ln in claim["lines"]] == \
        [("62264", "2015-10-13", 12500.0, [2, 4])]
    assert claim["patient"] == {"id": "#patient-1"} and "Ashcraft" not in json.dumps(claim)
    out = cli("check", str(HERE / "Claim-860150.json"))
    error = json.loads(out.stdout)["error"]
    assert "Claim.item[0].productOrService: needs a coding in CPT" in error
    assert "Claim.diagnosis[0].diagnosisCodeableConcept: needs a coding in ICD-10-CM" in error
    assert "exam" not in error and "654456" not in error


# -- the writers, validated against the FHIR R4 JSON Schema -------------------------------

def test_the_vendored_schema_is_the_one_described():
    import gzip
    import hashlib
    provenance = (HERE / "PROVENANCE.md").read_text()
    packed = (HERE / "fhir.schema.json.gz").read_bytes()
    assert hashlib.sha256(packed).hexdigest() in provenance
    assert hashlib.sha256(gzip.decompress(packed)).hexdigest() in provenance
    for name in ("Claim-MED-00050.json", "Claim-860150.json", "ClaimResponse-R3500.json"):
        assert hashlib.sha256((HERE / name).read_bytes()).hexdigest() in provenance


def test_the_schema_is_real_and_strict():
    official = json.loads((HERE / "ClaimResponse-R3500.json").read_text())
    assert schema_errors(official) == []                 # HL7's own example passes
    broken = copy.deepcopy(official)
    del broken["item"][0]["adjudication"][0]["category"]
    broken["outcome2"] = "complete"
    del broken["insurer"]
    errors = schema_errors(broken)
    assert any("outcome2" in e for e in errors) and any("insurer" in e for e in errors)
    assert any("category" in e for e in errors)
    for name in ("Claim-MED-00050.json", "Claim-860150.json"):
        assert schema_errors(json.loads((HERE / name).read_text())) == []


def results_of(path: Path, *args: str) -> list[dict]:
    out = cli("check", str(path), *args)
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_claim_responses_are_valid_r4_with_carc_and_rarc_reasons(tmp_path):
    out = cli("check", str(EXAMPLES), "--format", "fhir")
    responses = [json.loads(line) for line in out.stdout.splitlines()]
    results = results_of(EXAMPLES)
    assert len(responses) == len(results) == 5
    for resp, res in zip(responses, results):
        assert schema_errors(resp) == [], schema_errors(resp)
        assert resp["request"] == {"identifier": {"value": res["claim_id"]}}
        assert [it["itemSequence"] for it in resp.get("item", [])] == [ln["line"] for ln in res["lines"]]
        for it, ln in zip(resp.get("item", []), res["lines"]):
            cats = {a["category"]["coding"][0]["code"]: a.get("value") for a in it["adjudication"] if "reason" not in a}
            assert cats == {"submitted": ln["billed_units"], "eligible": ln["units"]}
        denial = [e for e in res["edits"] if e["carc"]]
        reasons = [a["reason"] for it in resp.get("item", []) for a in it["adjudication"] if "reason" in a] + \
                  [a["reason"] for a in resp.get("adjudication", [])]
        assert len(reasons) == sum(max(len(e["lines"]), 1) for e in denial)
        for e in denial:
            want = [{"system": CARC, "code": e["carc"]}] + ([{"system": RARC, "code": e["rarc"]}] if e["rarc"] else [])
            assert any(r["coding"] == want and e["rule"] in r["text"] for r in reasons)
        assert [n["number"] for n in resp.get("processNote", [])] == list(range(1, len(res["edits"]) + 1))
        want_outcome = "error" if res["status"] in ("fail", "error") else \
            ("partial" if any(ln["units"] is None for ln in res["lines"]) else "complete")
        assert resp["outcome"] == want_outcome
    over = next(r for r in responses if "Fix: Bill" in json.dumps(r))   # a fix in words in the note
    assert any("Fix: Bill" in n["text"] for n in over["processNote"])
    assert {r["outcome"] for r in responses} >= {"complete", "error"}


def test_responses_of_fhir_claims_repeat_their_references(tmp_path):
    path = tmp_path / "b.json"
    res = therapy_claim()
    res["item"][1]["extension"] = [{"url": MINUTES_EXTENSION, "valueInteger": 15}]   # 38 + 15 = 4 units, 4 + 1 billed
    path.write_bytes(orjson.dumps({"resourceType": "Bundle", "type": "collection",
                                   "entry": org_entries() + [{"resource": res}]}))
    (resp,) = [json.loads(x) for x in cli("check", str(path), "--format", "fhir").stdout.splitlines()]
    assert schema_errors(resp) == []
    assert resp["request"] == {"reference": "Claim/c-1"}
    assert resp["patient"] == {"reference": "Patient/pat-9"}
    assert resp["insurer"] == {"reference": "Organization/mac"}
    assert resp["created"] == "2024-03-05"
    assert resp["extension"][1]["valueString"].startswith("medicare ")
    reasons = [a["reason"] for a in resp["item"][0]["adjudication"] if "reason" in a]
    assert {"coding": [{"system": CARC, "code": "151"}], "text": "CO-151 (units.over_billed)"} in reasons


def test_error_results_are_valid_claim_responses_too(tmp_path):
    path = tmp_path / "bad.ndjson"
    path.write_bytes(b'{"resourceType": "Claim", "id": "x", "item": []}\n{"resourceType": "Patient"}\n{oops\n')
    out = cli("check", str(path), "--format", "fhir")
    responses = [json.loads(x) for x in out.stdout.splitlines()]
    assert len(responses) == 3
    for resp in responses:
        assert schema_errors(resp) == []
        assert resp["outcome"] == "error" and resp["error"][0]["code"]["coding"][0]["code"] == "input.unreadable"
        assert "_created" in resp and "extension" in resp["patient"]   # data-absent-reason, not invented


def test_the_bundle_writer_and_determinism():
    out1 = cli("check", str(EXAMPLES), "--format", "fhir-bundle").stdout
    out2 = cli("check", str(EXAMPLES), "--format", "fhir-bundle").stdout
    assert out1 == out2
    doc = json.loads(out1)
    assert doc["resourceType"] == "Bundle" and len(doc["entry"]) == 5
    assert schema_errors(doc) == []
    ndjson = cli("check", str(EXAMPLES), "--format", "fhir").stdout
    assert [e["resource"] for e in doc["entry"]] == [json.loads(x) for x in ndjson.splitlines()]
    empty = io.BytesIO()
    w = ClaimResponseBundleWriter(empty, {})
    w.close()
    assert json.loads(empty.getvalue()) == {"resourceType": "Bundle", "type": "collection"}


def test_writers_from_the_api():
    engine = Engine()
    result = engine.evaluate(json.loads(EXAMPLES.read_text().splitlines()[0]))
    buf = io.BytesIO()
    w = ClaimResponseWriter(buf, {})
    w.write(result)
    w.close()
    assert json.loads(buf.getvalue()) == claim_response(result)
    assert {"fhir", "fhir-bundle"} <= set(engine.plugins.writers)


# -- round trips: claims JSON -> FHIR Claim -> reader -> the same results -----------------

def _compare(claims: list[dict], tmp_path: Path) -> None:
    engine = Engine()
    fhir = [to_fhir(c) for c in claims]
    for res in fhir:
        assert schema_errors(res) == [], schema_errors(res)
    want = [engine.evaluate(c).to_dict() for c in claims]
    for data in (b"\n".join(orjson.dumps(r) for r in fhir) + b"\n", json.dumps(bundle(fhir), indent=1).encode()):
        got = [engine.evaluate(rec).to_dict() for rec in read_all(data)]
        for g in got:
            assert g.pop("source")["format"] == "fhir"
        assert got == want


def test_round_trip_of_the_example_claims(tmp_path):
    claims = [json.loads(line) for line in EXAMPLES.read_text().splitlines()]
    assert all(round_trips(c) for c in claims)
    _compare(claims, tmp_path)


def test_round_trip_from_the_cli_and_batch(tmp_path):
    claims = [json.loads(line) for line in EXAMPLES.read_text().splitlines()]
    src = tmp_path / "claims.fhir.ndjson"
    src.write_bytes(b"\n".join(orjson.dumps(to_fhir(c)) for c in claims) + b"\n")
    want = [json.loads(x) for x in cli("check", str(EXAMPLES)).stdout.splitlines()]
    got = [json.loads(x) for x in cli("check", str(src)).stdout.splitlines()]
    assert [{k: v for k, v in g.items() if k != "source"} for g in got] == want
    out = tmp_path / "out.jsonl"
    run = cli("batch", str(src), "-o", str(out), "--workers", "2", "-q")
    assert run.returncode in (0, 1), run.stderr
    assert [json.loads(x) for x in out.read_text().splitlines()] == got


CODES = ["97110", "97112", "97140", "97530", "97116", "97161", "97124", "97010", "G0283", "98940"]
line_st = st.fixed_dictionaries(
    {"code": st.sampled_from(CODES), "date_of_service": st.sampled_from(["2024-03-04", "2024-03-05", "2023-06-01"])},
    optional={"modifiers": st.lists(st.sampled_from(["GP", "GO", "59", "KX", "XS", "CQ"]), max_size=3, unique=True),
              "minutes": st.integers(0, 90), "units": st.integers(0, 8), "charge": st.sampled_from([0, 12.5, 99.99]),
              "diagnosis_pointers": st.lists(st.integers(1, 2), min_size=1, max_size=2, unique=True),
              "body_region": st.sampled_from(["lumbar", "cervical"]),
              "start_time": st.sampled_from(["09:00", "10:15"])})


@st.composite
def claims_st(draw):
    lines = draw(st.lists(line_st, min_size=1, max_size=5))
    for ln in lines:
        if "start_time" in ln:
            ln["end_time"] = "09:40" if ln["start_time"] == "09:00" else "11:02"
    claim = {"claim_id": draw(st.sampled_from(["H-1", "claim 2/β", "77"])),
             "payer": draw(st.sampled_from(["medicare", "generic-commercial"])),
             "diagnoses": ["M54.50", "M25.511"], "lines": lines}
    if draw(st.booleans()):
        claim["patient"] = {"id": "P-1"}
    return claim


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(claims=st.lists(claims_st(), min_size=1, max_size=3))
def test_round_trip_property(claims, tmp_path):
    _compare(claims, tmp_path)


NAMES = ["resourceType", "id", "identifier", "value", "system", "code", "coding", "item", "sequence",
         "productOrService", "modifier", "servicedDate", "servicedPeriod", "start", "end", "quantity", "net",
         "unitPrice", "currency", "diagnosis", "diagnosisSequence", "diagnosisCodeableConcept", "insurer",
         "insurance", "coverage", "focal", "reference", "contained", "payor", "bodySite", "text", "extension",
         "url", "valueInteger", "patient", "total", "entry", "resource", "fullUrl", "preAuthRef", "detail"]
json_st = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 2000) | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["Claim", "Bundle", "Organization", "Coverage", CPT, HCPCS, MINUTES_EXTENSION, "97110",
                       "2024-03-04", "2024-03-04T09:00:00Z", "#c", "Organization/o", "min", "USD", ""]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(NAMES), inner, max_size=6),
    max_leaves=40)


@lru_cache(maxsize=1)
def _engine() -> Engine:
    return Engine()


@settings(max_examples=300, deadline=None)
@given(value=json_st, as_claim=st.booleans())
def test_any_json_gives_records_and_never_a_traceback(value, as_claim):
    if as_claim and isinstance(value, dict):
        value = dict(value, resourceType="Claim")
    engine = _engine()
    options = ReadOptions.from_env(x12_payers=engine.x12_payers())
    data = orjson.dumps(value)
    with open_records(io.BytesIO(data), readers=engine, format="fhir", name="f", options=options) as records:
        recs = [rec for _, rec in records]
    assert (recs or value == []) and all(isinstance(r, (dict, ReadError)) for r in recs)
    for rec in recs:
        if isinstance(rec, ReadError):
            assert "failed after record" not in rec.message    # the reader itself never raised
        result = engine.evaluate(rec)
        assert not any(e.rule == "internal.error" for e in result.edits)
        assert schema_errors(claim_response(result)) == []


def test_the_docs_example_is_what_the_cli_writes():
    page = (ROOT / "docs" / "fhir.md").read_text()
    block = page.split("## Example", 1)[1].split("```json\n", 1)[1].split("```", 1)[0]
    out = cli("check", "docs/examples/claims.fhir.json", "--format", "fhir")
    assert json.loads(block) == json.loads(out.stdout)
    assert schema_errors(json.loads(out.stdout)) == []
    source = page.split('"source": ', 1)[1].split("```", 1)[0]
    assert json.loads(source) == json.loads(cli("check", "docs/examples/claims.fhir.json").stdout)["source"]


tricky_st = st.recursive(st.text(alphabet='[]{}"\\ a/', max_size=8) | st.integers(-5, 5),
                         lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                             st.text(alphabet='[]{}"\\a', max_size=4), inner, max_size=3), max_leaves=30)


@settings(max_examples=500, deadline=None)
@given(value=tricky_st, limit=st.integers(1, 6))
def test_the_bracket_count_depth_check_agrees_with_the_walk(value, limit):
    from payer_rules.fhir.reader import too_deep
    from payer_rules.readers.jsonl import _depth
    assert too_deep(orjson.dumps(value), limit) == _depth(value, limit)


def test_the_fhir_benchmark_runs():
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_fhir.py"), "60", "--rounds", "1"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "reader alone:" in r.stdout and "end to end:" in r.stdout
