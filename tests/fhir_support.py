"""Test helpers for FHIR: a claims-JSON -> FHIR R4 Claim converter (the reader's mapping run
backwards, for round trips) and validators built from the vendored FHIR R4 JSON Schema
(tests/fhir/PROVENANCE.md says where it comes from)."""

from __future__ import annotations

import gzip
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema

from payer_rules.fhir import CPT, HCPCS, ICD10_SYSTEMS, MINUTES_EXTENSION, PAYER_SYSTEM

HERE = Path(__file__).resolve().parent / "fhir"
ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
#: the claim fields the converter (and the reader) carry; a claim with others does not round-trip
CLAIM_KEYS = {"claim_id", "payer", "patient", "diagnoses", "lines", "date_of_service", "charge"}
LINE_KEYS = {"line", "code", "modifiers", "date_of_service", "minutes", "units", "diagnosis_pointers",
             "body_region", "start_time", "end_time", "charge"}


@lru_cache(maxsize=1)
def fhir_schema() -> dict[str, Any]:
    return json.loads(gzip.decompress((HERE / "fhir.schema.json.gz").read_bytes()))


@lru_cache(maxsize=None)
def validator(resource_type: str) -> jsonschema.Draft6Validator:
    """A validator for one resource type: the whole R4 schema, entered at its definition."""
    schema = {k: v for k, v in fhir_schema().items() if k not in ("oneOf", "discriminator")}
    schema["$ref"] = f"#/definitions/{resource_type}"
    return jsonschema.Draft6Validator(schema)


def schema_errors(resource: dict[str, Any]) -> list[str]:
    """What the FHIR R4 JSON Schema says is wrong with ``resource`` (nothing: valid), plus the
    JSON rules of FHIR the schema cannot say: no empty lists or objects, no nulls."""
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in validator(resource["resourceType"]).iter_errors(resource)]
    stack: list[tuple[str, Any]] = [("", resource)]
    while stack:
        path, value = stack.pop()
        if value is None:
            errors.append(f"{path}: null (FHIR JSON has no nulls)")
        elif isinstance(value, (list, dict)) and not value:
            errors.append(f"{path}: empty (FHIR JSON has no empty lists or objects)")
        elif isinstance(value, dict):
            stack.extend((f"{path}/{k}", v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((f"{path}/{i}", v) for i, v in enumerate(value))
    return errors


def round_trips(claim: dict[str, Any]) -> bool:
    """Whether every field of ``claim`` is one the FHIR mapping carries."""
    if set(claim) - CLAIM_KEYS or set(claim.get("patient") or {}) - {"id"}:
        return False
    for ln in claim.get("lines") or ():
        if not isinstance(ln, dict) or set(ln) - LINE_KEYS:
            return False
        if ("start_time" in ln) != ("end_time" in ln):
            return False
    return True


def _code_system(code: str) -> str:
    return CPT if code[:1].isdigit() else HCPCS


def to_fhir(claim: dict[str, Any]) -> dict[str, Any]:
    """The FHIR R4 Claim for a claims-JSON claim: the reader's mapping (docs/fhir.md) backwards."""
    cid = str(claim["claim_id"])
    res: dict[str, Any] = {"resourceType": "Claim"}
    if ID_RE.match(cid):
        res["id"] = cid
    res["identifier"] = [{"system": "urn:example:patient-control-number", "value": cid}]
    res["status"] = "active"
    res["type"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}]}
    res["use"] = "claim"
    pid = (claim.get("patient") or {}).get("id")
    res["patient"] = {"identifier": {"value": str(pid)}} if pid else {"display": "not given"}
    first = claim.get("date_of_service") or next((ln.get("date_of_service") for ln in claim["lines"]
                                                  if ln.get("date_of_service")), None)
    if first:
        res["created"] = first
    if claim.get("payer"):
        res["insurer"] = {"identifier": {"system": PAYER_SYSTEM, "value": claim["payer"]}}
    res["provider"] = {"display": "the billing provider"}
    res["priority"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/processpriority",
                                   "code": "normal"}]}
    if claim.get("diagnoses"):
        res["diagnosis"] = [{"sequence": i, "diagnosisCodeableConcept": {"coding": [
            {"system": ICD10_SYSTEMS[0], "code": dx}]}} for i, dx in enumerate(claim["diagnoses"], start=1)]
    res["insurance"] = [{"sequence": 1, "focal": True, "coverage": {"display": "the patient's coverage"}}]
    items = []
    for pos, ln in enumerate(claim["lines"], start=1):
        item: dict[str, Any] = {}
        if ln.get("minutes") is not None:
            item["extension"] = [{"url": MINUTES_EXTENSION, "valueInteger": ln["minutes"]}]
        item["sequence"] = ln.get("line", pos)
        if ln.get("diagnosis_pointers"):
            item["diagnosisSequence"] = list(ln["diagnosis_pointers"])
        code = str(ln["code"])
        item["productOrService"] = {"coding": [{"system": _code_system(code), "code": code}]}
        if ln.get("modifiers"):
            item["modifier"] = [{"coding": [{"system": _code_system(m), "code": m}]} for m in ln["modifiers"]]
        day = ln.get("date_of_service") or claim.get("date_of_service")
        if ln.get("start_time"):
            item["servicedPeriod"] = {"start": f"{day}T{ln['start_time']}:00+00:00",
                                      "end": f"{day}T{ln['end_time']}:00+00:00"}
        elif day:
            item["servicedDate"] = day
        if ln.get("units") is not None:
            item["quantity"] = {"value": ln["units"]}
        if ln.get("charge") is not None:
            item["net"] = {"value": ln["charge"], "currency": "USD"}
        if ln.get("body_region"):
            item["bodySite"] = {"text": ln["body_region"]}
        items.append(item)
    res["item"] = items
    if claim.get("charge") is not None:
        res["total"] = {"value": claim["charge"], "currency": "USD"}
    return res


def bundle(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
