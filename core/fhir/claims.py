"""One FHIR R4 ``Claim`` resource into the claim model (the table in docs/fhir.md).

:func:`claim_from_resource` returns the claim dict, or the list of problems that keep the
resource from being one. Every problem names the element by its FHIRPath (``Claim.item[1].
quantity``, indexes from 0) and says what is wrong with it, never its value: a Claim holds
patient data. Three kinds of element are told apart, so nothing that could change a payer's
answer is dropped silently:

- *read*: mapped into the claim (``READ`` below);
- *accepted*: standard elements payer-rules has no use for (``Claim.status``,
  ``Claim.careTeam`` ...), passed over;
- *refused*: elements that carry billing content the checks cannot account for
  (``Claim.item.detail``, ``Claim.item.factor``, ``Claim.procedure``, any
  ``modifierExtension``): an error, as is any name that is not an R4 Claim element.

Extensions other than the project's minutes extension are passed over, as FHIR allows;
modifier extensions are refused, as FHIR requires.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping

from . import ICD10_SYSTEMS, MINUTES_EXTENSION, PAYER_SYSTEM, PROCEDURE_SYSTEMS

#: ``resolve(reference)``: the resource a literal reference points at (a Bundle entry, a
#: contained resource), or None
Resolver = Callable[[str], "dict | None"]

CLAIM_READ = frozenset({"resourceType", "id", "identifier", "insurer", "insurance", "patient", "diagnosis",
                        "item", "total", "type", "created"})
CLAIM_ACCEPTED = frozenset({"meta", "implicitRules", "language", "text", "contained", "extension", "status",
                            "subType", "use", "billablePeriod", "enterer", "provider", "priority", "fundsReserve",
                            "payee", "referral", "facility", "careTeam", "supportingInfo"})
CLAIM_REFUSED = frozenset({"related", "prescription", "originalPrescription", "procedure", "accident",
                           "modifierExtension"})
ITEM_READ = frozenset({"sequence", "productOrService", "modifier", "servicedDate", "servicedPeriod", "quantity",
                       "unitPrice", "net", "diagnosisSequence", "bodySite", "extension"})
ITEM_ACCEPTED = frozenset({"id", "careTeamSequence", "informationSequence", "category", "encounter",
                           "locationCodeableConcept", "locationAddress", "locationReference"})
ITEM_REFUSED = frozenset({"detail", "udi", "factor", "subSite", "programCode", "revenue", "procedureSequence",
                          "modifierExtension"})
DIAGNOSIS_KEYS = frozenset({"id", "extension", "sequence", "diagnosisCodeableConcept", "type", "onAdmission",
                            "packageCode"})
INSURANCE_KEYS = frozenset({"id", "extension", "sequence", "focal", "identifier", "coverage", "businessArrangement",
                            "preAuthRef", "claimResponse"})
WHY_REFUSED = {
    "detail": "sub-items are not checked; bill each service as its own item",
    "udi": "device lines are not checked",
    "factor": "a price factor is not read; give the line's charge in net",
    "subSite": "only bodySite is read (as the body region)",
    "programCode": "program codes are not read",
    "revenue": "revenue codes are not read from FHIR",
    "procedureSequence": "Claim.procedure is not read",
    "modifierExtension": "a modifier extension changes the meaning of its element and is not understood",
    "procedure": "procedures are not read; bill them as items",
    "accident": "accident claims are not checked",
    "related": "related claims are not read",
    "prescription": "prescriptions are not read",
    "originalPrescription": "prescriptions are not read",
}

DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
DATETIME_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:T([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d|60)(?:\.\d+)?)?"
                         r"(?:Z|[+-](?:0\d|1[0-4]):[0-5]\d))?$")
MAX_MINUTES = 24 * 60
MAX_WHOLE = 999_999_999
MAX_PROBLEMS = 12


class Problems(list):
    """The problems found in one Claim, each a sentence that starts with the element's path."""

    def add(self, path: str, what: str) -> None:
        self.append(f"{path}: {what}")


def _keys(obj: dict, path: str, read: frozenset, accepted: frozenset, refused: frozenset,
          problems: Problems, kind: str) -> None:
    for key in obj:
        if key in read or key in accepted:
            continue
        if key in refused:
            problems.add(f"{path}.{key}", f"not read by payer-rules ({WHY_REFUSED.get(key, 'not checked')})")
        elif key.startswith("_") and (key[1:] in read or key[1:] in accepted):
            continue  # a primitive's id and extensions: passed over like other extensions
        else:
            problems.add(f"{path}.{_safe_name(key)}", f"not an element of an R4 {kind}")


def _safe_name(key: Any) -> str:
    """An element name fit for a message: the name when it looks like one, else a stand-in
    (a stray key could be claim data)."""
    text = str(key)
    return text if re.fullmatch(r"_?[A-Za-z][A-Za-z0-9]{0,63}", text) else "<an unknown name>"


def _string(value: Any) -> str | None:
    return value if type(value) is str and value.strip() else None


def _whole(value: Any, low: int, high: int) -> int | None:
    """A whole number in [low, high] (FHIR integers are JSON numbers; 2.0 counts as 2)."""
    if type(value) is int and low <= value <= high:
        return value
    if type(value) is float and value.is_integer() and low <= value <= high:
        return int(value)
    return None


def _codes(concept: Any, systems: tuple[str, ...]) -> list[str] | None:
    """The distinct codes of a CodeableConcept's codings in ``systems`` (None: not a
    CodeableConcept)."""
    if type(concept) is not dict or ("coding" in concept and type(concept["coding"]) is not list):
        return None
    out: list[str] = []
    for coding in concept.get("coding") or ():
        if type(coding) is dict and coding.get("system") in systems and _string(coding.get("code")):
            code = coding["code"].strip()
            if code not in out:
                out.append(code)
    return out


def _reference(ref: Any) -> dict[str, Any] | None:
    """The parts of a Reference a ClaimResponse repeats (reference, type, identifier,
    display), as plain strings; None when there is none of them."""
    if type(ref) is not dict:
        return None
    out: dict[str, Any] = {}
    for key in ("reference", "type", "display"):
        if _string(ref.get(key)):
            out[key] = ref[key]
    ident = ref.get("identifier")
    if type(ident) is dict:
        part = {k: ident[k] for k in ("system", "value") if _string(ident.get(k))}
        if "value" in part:
            out["identifier"] = part
    return out or None


def _money(value: Any, path: str, problems: Problems) -> float | None:
    if value is None:
        return None
    if type(value) is not dict:
        problems.add(path, "must be a Money object (value, currency)")
        return None
    currency = value.get("currency")
    if currency is not None and currency != "USD":
        problems.add(f"{path}.currency", "only USD amounts are read")
    amount = value.get("value")
    if type(amount) not in (int, float) or type(amount) is bool or not 0 <= amount < 1e12:
        problems.add(f"{path}.value", "must be an amount of 0 or more")
        return None
    return round(float(amount), 2)


def _payer(ref: Any, resolve: Resolver | None, path: str, problems: Problems,
           depth: int = 0) -> tuple[str | None, str, str] | None:
    """(policy payer id when given as one, payer identifier, payer name) from a Reference to
    the insurer, following a literal reference into the Bundle once; None when it names none."""
    if ref is None:
        return None
    if type(ref) is not dict:
        problems.add(path, "must be a Reference")
        return None
    name = ref.get("display") if _string(ref.get("display")) else ""
    ident = ref.get("identifier")
    if ident is not None:
        if type(ident) is not dict or not _string(ident.get("value")):
            problems.add(f"{path}.identifier", "must be an Identifier with a value")
            return None
        value = ident["value"].strip()
        return (value if ident.get("system") == PAYER_SYSTEM else None), value, name
    target = resolve(ref["reference"]) if resolve and _string(ref.get("reference")) else None
    if type(target) is dict and target.get("resourceType") == "Organization":
        org_name = target.get("name") if _string(target.get("name")) else name
        idents = [i for i in target.get("identifier") or () if type(i) is dict and _string(i.get("value"))]
        ours = [i for i in idents if i.get("system") == PAYER_SYSTEM]
        if ours:
            return ours[0]["value"].strip(), ours[0]["value"].strip(), org_name
        if idents:
            return None, idents[0]["value"].strip(), org_name
        return None, "", org_name
    return None, "", name


def _coverage_payer(insurance: list, resolve: Resolver | None, problems: Problems) -> tuple[str | None, str, str] | None:
    """The payer of the focal insurance's Coverage (Coverage.payor[0]), when the Coverage is
    in the Bundle or contained."""
    focal = [ins for ins in insurance if type(ins) is dict and ins.get("focal") is True] or insurance[:1]
    for ins in focal:
        cov = ins.get("coverage") if type(ins) is dict else None
        target = resolve(cov["reference"]) if resolve and type(cov) is dict and _string(cov.get("reference")) else None
        if type(target) is dict and target.get("resourceType") == "Coverage":
            payors = target.get("payor")
            if type(payors) is list and payors:
                return _payer(payors[0], resolve, "Coverage.payor[0]", problems)
    return None


def _period(period: Any, path: str, problems: Problems) -> tuple[str | None, str | None, str | None]:
    """(date of service, start HH:MM, end HH:MM) of a servicedPeriod on one day."""
    if type(period) is not dict:
        problems.add(path, "must be a Period (start, end)")
        return None, None, None
    parts = {}
    for key in ("start", "end"):
        value = period.get(key)
        if value is None:
            continue
        m = DATETIME_RE.match(value) if type(value) is str else None
        if m is None or not _real_date(m.group(1)):
            problems.add(f"{path}.{key}", "must be a full date (YYYY-MM-DD) or a dateTime with a time zone")
            return None, None, None
        parts[key] = (m.group(1), f"{m.group(2)}:{m.group(3)}" if m.group(2) else None)
    if "start" not in parts:
        problems.add(f"{path}.start", "missing: the date of service is the period's start")
        return None, None, None
    day, start = parts["start"]
    end = None
    if "end" in parts:
        end_day, end = parts["end"]
        if end_day != day:
            problems.add(path, "spans more than one day; give one item per date of service")
            return None, None, None
        if (start is None) != (end is None):
            problems.add(path, "start and end must both give a time, or neither")
            return day, None, None
    return day, start, end


def _real_date(text: str) -> bool:
    m = DATE_RE.match(text)
    if m is None:
        return False
    y, mo, d = (int(g) for g in m.groups())
    if not 1 <= mo <= 12 or d < 1:
        return False
    days = [31, 29 if (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    return d <= days[mo - 1]


def _diagnoses(raw: Any, problems: Problems) -> tuple[list[str], dict[int, int]]:
    """The ICD-10 codes in Claim.diagnosis order of sequence, and sequence -> 1-based position."""
    if raw is None:
        return [], {}
    if type(raw) is not list:
        problems.add("Claim.diagnosis", "must be a list")
        return [], {}
    found: list[tuple[int, str]] = []
    for i, dx in enumerate(raw):
        path = f"Claim.diagnosis[{i}]"
        if type(dx) is not dict:
            problems.add(path, "must be an object")
            continue
        for key in dx:
            if key == "diagnosisReference":
                problems.add(f"{path}.diagnosisReference", "not read; give diagnosisCodeableConcept with an ICD-10-CM coding")
            elif key == "modifierExtension":
                problems.add(f"{path}.modifierExtension", "not read by payer-rules (" + WHY_REFUSED[key] + ")")
            elif key not in DIAGNOSIS_KEYS and not (key.startswith("_") and key[1:] in DIAGNOSIS_KEYS):
                problems.add(f"{path}.{_safe_name(key)}", "not an element of an R4 Claim.diagnosis")
        seq = _whole(dx.get("sequence"), 1, MAX_WHOLE)
        if seq is None:
            problems.add(f"{path}.sequence", "must be a whole number, 1 or more")
            continue
        if "diagnosisReference" in dx:
            continue
        codes = _codes(dx.get("diagnosisCodeableConcept"), ICD10_SYSTEMS)
        if codes is None or not codes:
            problems.add(f"{path}.diagnosisCodeableConcept",
                         f"needs a coding in ICD-10-CM ({ICD10_SYSTEMS[0]}) or ICD-10 ({ICD10_SYSTEMS[1]})")
        elif len(codes) > 1:
            problems.add(f"{path}.diagnosisCodeableConcept", "has more than one ICD-10 code")
        elif any(s == seq for s, _ in found):
            problems.add(f"{path}.sequence", "repeats another diagnosis's sequence")
        else:
            found.append((seq, codes[0].upper()))
    found.sort()
    return [code for _, code in found], {seq: pos for pos, (seq, _) in enumerate(found, start=1)}


def _minutes(extensions: Any, path: str, problems: Problems) -> int | None:
    if extensions is None:
        return None
    if type(extensions) is not list:
        problems.add(path, "must be a list of extensions")
        return None
    minutes = None
    for j, ext in enumerate(extensions):
        if type(ext) is not dict or not _string(ext.get("url")):
            problems.add(f"{path}[{j}]", "must be an extension with a url")
            continue
        if ext["url"] != MINUTES_EXTENSION:
            continue  # other extensions may be ignored (FHIR's rule); modifierExtension may not
        value = _whole(ext.get("valueInteger"), 0, MAX_MINUTES)
        if value is None or set(ext) - {"url", "valueInteger", "id"}:
            problems.add(f"{path}[{j}]", f"the minutes extension takes valueInteger, 0 to {MAX_MINUTES}")
        elif minutes is not None:
            problems.add(f"{path}[{j}]", "the minutes extension is given twice")
        else:
            minutes = value
    return minutes


def _item(item: Any, i: int, dx_positions: dict[int, int], problems: Problems) -> dict[str, Any] | None:
    path = f"Claim.item[{i}]"
    if type(item) is not dict:
        problems.add(path, "must be an object")
        return None
    _keys(item, path, ITEM_READ, ITEM_ACCEPTED, ITEM_REFUSED, problems, "Claim.item")
    line: dict[str, Any] = {}
    seq = _whole(item.get("sequence"), 1, MAX_WHOLE)
    if seq is None:
        problems.add(f"{path}.sequence", "must be a whole number, 1 or more (the line number)")
    else:
        line["line"] = seq
    codes = _codes(item.get("productOrService"), PROCEDURE_SYSTEMS)
    if codes is None:
        problems.add(f"{path}.productOrService", "must be a CodeableConcept (missing or malformed)")
    elif not codes:
        problems.add(f"{path}.productOrService",
                     f"needs a coding in CPT ({PROCEDURE_SYSTEMS[0]}) or HCPCS ({PROCEDURE_SYSTEMS[1]})")
    elif len(codes) > 1:
        problems.add(f"{path}.productOrService", "has more than one CPT/HCPCS code; one service per item")
    else:
        line["code"] = codes[0].upper()
    mods = item.get("modifier")
    if mods is not None:
        if type(mods) is not list:
            problems.add(f"{path}.modifier", "must be a list of CodeableConcepts")
        else:
            out = []
            for j, mod in enumerate(mods):
                mcodes = _codes(mod, PROCEDURE_SYSTEMS)
                if not mcodes or len(mcodes) > 1:
                    problems.add(f"{path}.modifier[{j}]", "needs one coding in CPT or HCPCS (the modifier)")
                else:
                    out.append(mcodes[0].upper())
            line["modifiers"] = out
    has_date, has_period = "servicedDate" in item, "servicedPeriod" in item
    if has_date and has_period:
        problems.add(path, "gives both servicedDate and servicedPeriod; give one")
    elif has_date:
        value = item["servicedDate"]
        if type(value) is not str or not _real_date(value):
            problems.add(f"{path}.servicedDate", "must be a full date written YYYY-MM-DD")
        else:
            line["date_of_service"] = value
    elif has_period:
        day, start, end = _period(item["servicedPeriod"], f"{path}.servicedPeriod", problems)
        if day:
            line["date_of_service"] = day
        if start and end:
            line["start_time"], line["end_time"] = start, end
    else:
        problems.add(path, "no servicedDate or servicedPeriod (the date of service)")
    qty = item.get("quantity")
    if qty is not None:
        unit = qty.get("code") or qty.get("unit") if type(qty) is dict else None
        if type(qty) is not dict:
            problems.add(f"{path}.quantity", "must be a Quantity")
        elif type(unit) is str and unit.strip().lower() in ("min", "mins", "minute", "minutes"):
            problems.add(f"{path}.quantity", "is in minutes, but Claim.item.quantity is the units billed; "
                                             f"give the minutes in the extension {MINUTES_EXTENSION}")
        else:
            units = _whole(qty.get("value"), 0, MAX_WHOLE)
            if units is None:
                problems.add(f"{path}.quantity.value", "must be a whole number of units, 0 or more")
            else:
                line["units"] = units
    net = _money(item.get("net"), f"{path}.net", problems)
    price = _money(item.get("unitPrice"), f"{path}.unitPrice", problems)
    if net is not None:
        line["charge"] = net
    elif price is not None:
        line["charge"] = round(price * line.get("units", 1), 2)
    ptrs = item.get("diagnosisSequence")
    if ptrs is not None:
        if type(ptrs) is not list:
            problems.add(f"{path}.diagnosisSequence", "must be a list of diagnosis sequence numbers")
        else:
            out_ptrs = []
            for j, p in enumerate(ptrs):
                pos = dx_positions.get(_whole(p, 1, MAX_WHOLE) or 0)
                if pos is None:
                    problems.add(f"{path}.diagnosisSequence[{j}]", "names no Claim.diagnosis with an ICD-10 code")
                else:
                    out_ptrs.append(pos)
            line["diagnosis_pointers"] = out_ptrs
    site = item.get("bodySite")
    if site is not None:
        if type(site) is not dict:
            problems.add(f"{path}.bodySite", "must be a CodeableConcept")
        else:
            codings = [c for c in site.get("coding") or () if type(c) is dict and _string(c.get("code"))]
            region = codings[0]["code"].strip() if codings else _string(site.get("text"))
            if region is None:
                problems.add(f"{path}.bodySite", "needs a coding with a code, or text")
            else:
                line["body_region"] = region.strip()
    minutes = _minutes(item.get("extension"), f"{path}.extension", problems)
    if minutes is not None:
        line["minutes"] = minutes
    return line


def claim_from_resource(res: dict[str, Any], payers: Mapping[str, str],
                        resolve: Resolver | None = None) -> dict[str, Any] | list[str]:
    """The claim dict for one R4 Claim, or the problems (sentences naming element paths)
    that keep it from being one.

    ``payers``: payer identifiers -> policy payer ids (the policies' ``x12_payer_ids`` and
    the installation's payer map): a payer identifier maps as an 837's payer id does; an
    identifier in :data:`PAYER_SYSTEM` is a policy payer id itself. ``resolve``: finds the
    Organization or Coverage a literal reference points at (in the Bundle or contained).
    """
    problems = Problems()
    _keys(res, "Claim", CLAIM_READ, CLAIM_ACCEPTED, CLAIM_REFUSED, problems, "Claim")
    claim: dict[str, Any] = {}
    fhir: dict[str, Any] = {}
    rid = _string(res.get("id"))
    idents = res.get("identifier")
    if idents is not None and type(idents) is not list:
        problems.add("Claim.identifier", "must be a list of Identifiers")
        idents = []
    business = next((i for i in idents or () if type(i) is dict and _string(i.get("value"))), None)
    if business is not None:
        claim["claim_id"] = business["value"].strip()
    elif rid:
        claim["claim_id"] = rid
    else:
        problems.add("Claim.identifier", "no identifier with a value and no Claim.id: the claim has no id")
    if rid:
        fhir["request"] = {"reference": f"Claim/{rid}"}
    elif business is not None:
        fhir["request"] = {"identifier": {k: business[k] for k in ("system", "value") if _string(business.get(k))}}
    ctype = res.get("type")
    type_code = next((c["code"] for c in (ctype.get("coding") or ()) if type(c) is dict and _string(c.get("code"))),
                     None) if type(ctype) is dict and type(ctype.get("coding")) is list else None
    if type_code in ("professional", "institutional", "oral", "pharmacy", "vision"):
        fhir["type"] = type_code
    created = res.get("created")
    if type(created) is str and DATETIME_RE.match(created):
        fhir["created"] = created
    patient = res.get("patient")
    if patient is not None:
        ref = _reference(patient)
        if ref is None:
            problems.add("Claim.patient", "must be a Reference with a reference or an identifier")
        else:
            fhir["patient"] = ref
            key = ref.get("reference") or ref.get("identifier", {}).get("value")
            if key:
                claim["patient"] = {"id": key}
    insurance = res.get("insurance")
    if insurance is not None and type(insurance) is not list:
        problems.add("Claim.insurance", "must be a list")
        insurance = None
    for i, ins in enumerate(insurance or ()):
        if type(ins) is not dict:
            problems.add(f"Claim.insurance[{i}]", "must be an object")
            continue
        for key in ins:
            if key == "modifierExtension":
                problems.add(f"Claim.insurance[{i}].modifierExtension", "not read by payer-rules ("
                             + WHY_REFUSED[key] + ")")
            elif key not in INSURANCE_KEYS and not (key.startswith("_") and key[1:] in INSURANCE_KEYS):
                problems.add(f"Claim.insurance[{i}].{_safe_name(key)}", "not an element of an R4 Claim.insurance")
    payer = _payer(res.get("insurer"), resolve, "Claim.insurer", problems)
    if payer is None and insurance:
        payer = _coverage_payer(insurance, resolve, problems)
    policy_payer, payer_id, payer_name = payer or (None, "", "")
    claim["payer"] = policy_payer or (payers.get(payer_id) if payer_id else None)
    fhir["payer_id"], fhir["payer_name"] = payer_id, payer_name
    insurer = _reference(res.get("insurer"))
    if insurer is not None:
        fhir["insurer"] = insurer
    focal = [ins for ins in insurance or () if type(ins) is dict and ins.get("focal") is True] or \
        [ins for ins in (insurance or ())[:1] if type(ins) is dict]
    if focal:
        auth = focal[0].get("preAuthRef")
        if auth is not None:
            if type(auth) is not list or not all(type(a) is str for a in auth):
                problems.add("Claim.insurance.preAuthRef", "must be a list of text")
            elif auth:
                claim["prior_authorization"] = auth[0].strip()
    diagnoses, positions = _diagnoses(res.get("diagnosis"), problems)
    if diagnoses:
        claim["diagnoses"] = diagnoses
    items = res.get("item")
    if type(items) is not list or not items:
        problems.add("Claim.item", "no items: a claim needs at least one service line")
        items = []
    lines = []
    for i, item in enumerate(items):
        line = _item(item, i, positions, problems)
        if line is not None:
            lines.append(line)
    seen = [ln["line"] for ln in lines if "line" in ln]
    if len(set(seen)) != len(seen):
        problems.add("Claim.item.sequence", "two items have the same sequence")
    total = _money(res.get("total"), "Claim.total", problems)
    if total is not None:
        claim["charge"] = total
    if problems:
        if len(problems) > MAX_PROBLEMS:
            rest = len(problems) - MAX_PROBLEMS
            return problems[:MAX_PROBLEMS] + [f"and {rest} more problem{'s' if rest != 1 else ''}"]
        return list(problems)
    claim["lines"] = lines
    claim["fhir"] = fhir
    return claim


def claim_id_of(res: dict[str, Any]) -> str | None:
    """The claim id a Claim gives (its first identifier's value, else its id), if any: what
    an error record for it is known by."""
    idents = res.get("identifier")
    for ident in idents if type(idents) is list else ():
        if type(ident) is dict and _string(ident.get("value")):
            return ident["value"].strip()
    return _string(res.get("id"))


__all__ = ["claim_from_resource", "claim_id_of", "Resolver"]
