"""Results as FHIR R4 ``ClaimResponse`` resources: the ``fhir`` and ``fhir-bundle`` writers.

One ClaimResponse per result, in input order: ``fhir`` writes NDJSON (one resource a
line, what FHIR bulk data exchanges), ``fhir-bundle`` one Bundle of type ``collection``.
The mapping is the table in docs/fhir.md. In short:

- ``outcome``: ``complete`` when every line's units were verified and no error edit was
  found; ``partial`` when the claim passed (or only warned) but some line's units could not
  be verified; ``error`` when the claim failed (an error edit) or could not be evaluated
  (then ``error`` names the edit and says why);
- one ``item`` per line (``itemSequence`` is the Claim's ``item.sequence``) with an
  adjudication ``submitted`` (value: the units billed) and ``eligible`` (value: the units the
  policy supports), and for every edit on the line that carries denial codes one more
  ``eligible`` adjudication whose ``reason`` codes the CARC and RARC; claim-level edits go
  to ``ClaimResponse.adjudication``;
- every edit is a ``processNote`` (its message, and its fix in words), referred to from
  the items it names by ``noteNumber``.

The same results always give the same bytes: nothing is dated or numbered from the clock.
Elements a result cannot supply and R4 requires (the patient, the insurer, the date
created, for a claim not read from FHIR) carry the data-absent-reason extension.
"""

from __future__ import annotations

from typing import Any, BinaryIO, Mapping

import orjson

from ..models import Edit, Result
from ..writers import fix_text
from . import ADJUDICATION, BASE, CARC, CLAIM_TYPE, DATA_ABSENT, EDIT_SYSTEM, PAYER_SYSTEM, RARC

#: extension on ClaimResponse: the payer-rules result status (pass, warn, fail, error)
STATUS_EXTENSION = f"{BASE}/StructureDefinition/result-status"
#: extension on ClaimResponse: the policy and version the claim was checked against
POLICY_EXTENSION = f"{BASE}/StructureDefinition/policy-version"


def _absent(reason: str = "unknown") -> dict[str, Any]:
    return {"extension": [{"url": DATA_ABSENT, "valueCode": reason}]}


def _category(code: str) -> dict[str, Any]:
    return {"coding": [{"system": ADJUDICATION, "code": code}]}


def outcome(result: Result) -> str:
    """complete, partial or error (the module docstring says when)."""
    if result.status in ("error", "fail"):
        return "error"
    if any(ln.units is None for ln in result.lines):
        return "partial"
    return "complete"


def _disposition(result: Result) -> str:
    if result.status == "error":
        return f"Not evaluated: {result.error or 'the claim could not be read'}"
    counts = {s: sum(1 for e in result.edits if e.severity == s) for s in ("error", "warning", "info")}
    found = ", ".join(f"{n} {s}{'s' if n != 1 else ''}" for s, n in counts.items() if n)
    policy = result.policy or {}
    under = f" under {policy.get('id')} {policy.get('version')}" if policy.get("id") else ""
    verdict = {"pass": "Passed", "warn": "Passed with warnings", "fail": "Failed"}.get(result.status, result.status)
    return f"{verdict}{under}" + (f": {found}." if found else ": no edits.")


def _reason(edit: Edit) -> dict[str, Any] | None:
    """The CARC and RARC of an edit as one reason CodeableConcept; None without denial codes."""
    coding = []
    if edit.carc:
        coding.append({"system": CARC, "code": str(edit.carc)})
    if edit.rarc:
        coding.append({"system": RARC, "code": str(edit.rarc)})
    if not coding:
        return None
    code = f"{edit.group}-{edit.carc}" if edit.group and edit.carc else str(edit.carc or "")
    words = " ".join(x for x in (code, str(edit.rarc or "")) if x)
    return {"coding": coding, "text": f"{words} ({edit.rule})"}


def _note(number: int, edit: Edit) -> dict[str, Any]:
    text = f"{edit.severity} {edit.rule}: {edit.message}"
    fix = fix_text(edit.fix)
    if fix:
        text += f" Fix: {fix}"
    return {"number": number, "type": "display", "text": text}


def claim_response(result: Result) -> dict[str, Any]:
    """The ClaimResponse for one result, as JSON data (no empty lists, no nulls: FHIR's rules)."""
    src = result.source or {}
    fhir: Mapping[str, Any] = (src.get("fhir") or {}) if src.get("format") == "fhir" else {}
    out: dict[str, Any] = {"resourceType": "ClaimResponse"}
    ext = [{"url": STATUS_EXTENSION, "valueCode": result.status}]
    if result.policy and result.policy.get("id"):
        versions = result.policy.get("versions") or [result.policy.get("version")]
        ext.append({"url": POLICY_EXTENSION, "valueString": f"{result.policy['id']} {', '.join(map(str, versions))}"})
    out["extension"] = ext
    out["status"] = "active"
    out["type"] = {"coding": [{"system": CLAIM_TYPE, "code": fhir.get("type", "professional")}]}
    out["use"] = "claim"
    out["patient"] = dict(fhir["patient"]) if fhir.get("patient") else _absent()
    if fhir.get("created"):
        out["created"] = fhir["created"]
    else:
        out["_created"] = _absent()
    if fhir.get("insurer"):
        out["insurer"] = dict(fhir["insurer"])
    elif src.get("payer_id"):
        out["insurer"] = {"identifier": {"value": src["payer_id"]}}
        if src.get("payer_name"):
            out["insurer"]["display"] = src["payer_name"]
    elif result.payer:
        out["insurer"] = {"identifier": {"system": PAYER_SYSTEM, "value": result.payer}}
    else:
        out["insurer"] = _absent()
    if fhir.get("request"):
        out["request"] = dict(fhir["request"])
    elif result.claim_id:
        out["request"] = {"identifier": {"value": result.claim_id}}
    out["outcome"] = outcome(result)
    out["disposition"] = _disposition(result)

    notes: list[dict[str, Any]] = []
    by_line: dict[int, list[int]] = {}
    reasons_by_line: dict[int, list[dict[str, Any]]] = {}
    header: list[dict[str, Any]] = []
    for number, edit in enumerate(result.edits, start=1):
        notes.append(_note(number, edit))
        reason = _reason(edit)
        for ln in edit.lines:
            by_line.setdefault(ln, []).append(number)
            if reason is not None:
                reasons_by_line.setdefault(ln, []).append(reason)
        if reason is not None and not edit.lines:
            header.append({"category": _category("eligible"), "reason": reason})
    items = []
    listed = set()
    for ln in result.lines:
        listed.add(ln.line)
        items.append(_item(ln.line, ln.billed_units, ln.units, by_line, reasons_by_line))
    for line_no in sorted(set(by_line) - listed):  # an edit on a line with no line result
        items.append(_item(line_no, None, None, by_line, reasons_by_line))
    if items:
        out["item"] = items
    if header:
        out["adjudication"] = header
    if notes:
        out["processNote"] = notes
    if result.status == "error":
        out["error"] = [{"code": {"coding": [{"system": EDIT_SYSTEM, "code": e.rule}], "text": e.message}}
                        for e in result.edits if e.severity == "error"] or \
            [{"code": {"text": result.error or "the claim could not be evaluated"}}]
    return out


def _item(line: int, billed: int | None, units: int | None, notes: dict[int, list[int]],
          reasons: dict[int, list[dict[str, Any]]]) -> dict[str, Any]:
    submitted: dict[str, Any] = {"category": _category("submitted")}
    if billed is not None:
        submitted["value"] = billed
    eligible: dict[str, Any] = {"category": _category("eligible")}
    if units is not None:
        eligible["value"] = units
    adjudication = [submitted, eligible]
    adjudication.extend({"category": _category("eligible"), "reason": r} for r in reasons.get(line, ()))
    item: dict[str, Any] = {"itemSequence": line}
    if notes.get(line):
        item["noteNumber"] = notes[line]
    item["adjudication"] = adjudication
    return item


class ClaimResponseWriter:
    """``--format fhir``: one ClaimResponse per line (NDJSON). ``check --fix``'s corrected
    claim is not part of a ClaimResponse and is not written (``--format json`` has it)."""

    def __init__(self, stream: BinaryIO, options: Mapping[str, Any]):
        self.stream = stream

    def write(self, result: Result, extra: Mapping[str, Any] | None = None) -> None:
        self.stream.write(orjson.dumps(claim_response(result)) + b"\n")

    def close(self) -> None:
        self.stream.flush()


class ClaimResponseBundleWriter:
    """``--format fhir-bundle``: one Bundle (type collection) holding every ClaimResponse,
    written as the results come (the Bundle is closed by ``close``)."""

    def __init__(self, stream: BinaryIO, options: Mapping[str, Any]):
        self.stream = stream
        self.count = 0
        stream.write(b'{"resourceType":"Bundle","type":"collection"')

    def write(self, result: Result, extra: Mapping[str, Any] | None = None) -> None:
        self.stream.write(b',"entry":[' if self.count == 0 else b",")
        self.stream.write(orjson.dumps({"resource": claim_response(result)}))
        self.count += 1

    def close(self) -> None:
        self.stream.write(b"]}\n" if self.count else b"}\n")  # FHIR JSON has no empty lists
        self.stream.flush()


__all__ = ["claim_response", "outcome", "ClaimResponseWriter", "ClaimResponseBundleWriter",
           "STATUS_EXTENSION", "POLICY_EXTENSION"]
