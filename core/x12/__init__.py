"""Reading professional claims (X12 837P, 4010 and 5010) into the claim JSON the engine takes.

The package: the parser (here), its envelope checks (``envelope``), the 837P writer
(``writer``).

What is read, per claim (CLM): the claim id (CLM01), place of service (CLM05-1),
diagnoses (HI; qualifiers BK/BF/ABK/ABF, a dot put back after the third character), the
payer (NM1*PR: id and name), the patient (the subscriber's or patient's member id and
DMG birth date), the rendering or billing provider's NPI, and per service line (LX/SV1):
the code and up to four modifiers (SV101), units (SV103 ``UN``) or minutes (SV103 ``MJ``),
diagnosis pointers (SV107) and the date of service (DTP*472, line or claim level).
Other-payer loops (a second SBR inside a claim) do not overwrite the claim's own data.

Real files are not always well formed, and the reader says so rather than guessing
silently: the separators come from the ISA segment; a file whose SV101 uses another
component separator than ISA16 declares (seen in public samples) is read with the one it
uses; a claim without service lines, or a line without a code, becomes an error record in
its place. The payer becomes a policy's id through the merged payer map
(:mod:`payer_rules.payer_map`); a payer id no map knows is left empty, and the engine
makes that claim an ``input.unmapped_payer`` error naming the id and name. Also read:
charges (CLM02, SV102), a line's place of service (SV105), rendering (2420A) and
referring (NM1*DN) providers, REF*G1 prior authorization and REF*9F referral numbers;
the envelope is checked as the segments go by (:mod:`.envelope`), and a minutes
companion file next to the 837 is applied (:mod:`payer_rules.minutes_file`).

Messages name segments and positions, never values: claims carry patient data.
"""

from __future__ import annotations

import re
from typing import Any, Iterator

from ..readers import ReadError
from ..minutes_file import Companion, MinutesFileError, companion_path, load as load_minutes
from .envelope import TAGS as ENVELOPE_TAGS, Envelope

COMPONENT_GUESSES = (">", ":", "^", "|", "\\")
DX_QUALIFIERS = {"BK", "BF", "ABK", "ABF", "BJ", "ABJ", "APR", "PR"}
PROVIDER_CODE = re.compile(r"^[A-Z0-9]{4,5}$")
#: a quantity or number in an element: ASCII digits, an optional sign and decimal part
#: (float() alone would take other scripts' digits, "inf" and 1e30)
NUMBER = re.compile(r"^[+-]?[0-9]{1,15}(\.[0-9]{1,6})?$")
#: a charge (CLM02, SV102): ASCII digits with at most two decimals
MONEY = re.compile(r"^[0-9]{1,10}(\.[0-9]{1,2})?$")


class X12Error(ValueError):
    pass


def _separators(text: str) -> tuple[str, str, str, int]:
    """(element, component, segment terminator, where the ISA starts) from the ISA segment."""
    start = text.find("ISA")
    if start < 0 or len(text) < start + 106:
        raise X12Error("not an X12 interchange: no complete ISA segment")
    elem = text[start + 3]
    fields = text[start:].split(elem, 16)
    if len(fields) < 17 or len(fields[16]) < 2:
        raise X12Error("ISA segment: expected 16 elements")
    component = fields[16][0]
    terminator = fields[16][1]
    if terminator in "\r\n":
        terminator = "\n"
    return elem, component, terminator, start


def _date(d8: str) -> str | None:
    d8 = d8.strip()
    if len(d8) != 8 or not d8.isascii() or not d8.isdigit():
        return None
    return f"{d8[0:4]}-{d8[4:6]}-{d8[6:8]}"


def _split(value: str, declared: str) -> list[str]:
    """Components of a composite element: by the declared separator, or by the one the
    element plainly uses when it is another (files that contradict their ISA16)."""
    if declared in value:
        return value.split(declared)
    for c in COMPONENT_GUESSES:
        if c in value:
            return value.split(c)
    return [value]


def _money(value: str) -> float | None:
    value = value.strip()
    return round(float(value), 2) if value and MONEY.match(value) else None


def _dx(code: str) -> str:
    code = code.strip().upper()
    return code if "." in code or len(code) <= 3 else f"{code[:3]}.{code[3:]}"


def parse_837(text: str, payer_ids: dict[str, str] | None = None, name: str = "<x12>",
              minutes: "Companion | str | None" = "auto") -> Iterator[Any]:
    """Yield one claim dict (or ReadError) per CLM, in file order.

    ``minutes``: the minutes companion file (a :class:`~payer_rules.minutes_file.Companion`
    or its path); ``"auto"`` looks for ``<name>.minutes.csv`` next to the file; None: none.
    """
    companion, used = None, set()
    if minutes is not None:
        try:
            if minutes == "auto":
                found = companion_path(name)
                companion = load_minutes(found) if found else None
            else:
                companion = minutes if isinstance(minutes, Companion) else load_minutes(minutes)
        except MinutesFileError as exc:
            yield ReadError(f"{exc}; the claims are read without its minutes")
    for record in _parse_837(text, payer_ids, name):
        if companion is not None and isinstance(record, dict):
            companion.apply(record, used)
        yield record
    if companion is not None and companion.unused(used):
        yield ReadError(f"{companion.path}: {companion.unused(used)} row(s) match no claim line of {name} "
                        f"(claim_id is CLM01, line is LX01)")


def _parse_837(text: str, payer_ids: dict[str, str] | None, name: str) -> Iterator[Any]:
    payer_ids = payer_ids or {}
    elem, comp, term, start = _separators(text)
    segments = [s.strip("\r\n ") for s in text[start:].split(term)]
    ctx: dict[str, Any] = {}
    claim: dict[str, Any] | None = None
    line: dict[str, Any] | None = None
    in_other_payer = False
    problems: list[str] = []
    seg_no = 0
    env = Envelope()

    def finish() -> Any:
        if claim is None:
            return None
        if problems:
            return ReadError(f"{name}: claim at segment {claim['_seg']}: " + "; ".join(problems), claim.get("claim_id"))
        if not claim["lines"]:
            return ReadError(f"{name}: claim at segment {claim['_seg']}: no service lines (LX/SV1)", claim.get("claim_id"))
        claim.pop("_seg")
        return claim

    for raw in segments:
        if not raw:
            continue
        seg_no += 1
        f = raw.split(elem)
        tag = f[0]
        get = (lambda i: f[i] if len(f) > i else "")
        if tag in ENVELOPE_TAGS:
            if tag in ("SE", "GE", "IEA"):
                done = finish()
                if done is not None:
                    yield done
                claim, line, problems = None, None, []
            for problem in env.segment(tag, f, seg_no):
                yield ReadError(f"{name}: {problem}")
        else:
            env.count()
        if tag == "HL":
            done = finish()
            if done is not None:
                yield done
            claim, line, problems = None, None, []
            level = get(3)
            if level == "20":  # billing provider: a new context
                ctx = {}
            elif level == "22":  # subscriber: keep the billing provider only
                ctx = {k: v for k, v in ctx.items() if k == "billing_npi"}
            in_other_payer = False
        elif tag == "SBR" and claim is not None:
            in_other_payer = True  # 2320: other subscriber information, not this claim's payer
        elif tag == "NM1" and not in_other_payer:
            entity, qual, ident = get(1), get(8), get(9)
            if entity == "85" and qual == "XX":
                ctx["billing_npi"] = ident
            elif entity == "82" and qual == "XX" and claim is not None:
                if line is not None:  # 2420A: this line's rendering provider
                    line["rendering_npi"] = ident
                else:
                    claim["provider"]["npi"] = ident
            elif entity == "DN" and qual == "XX" and claim is not None:
                claim["referring_npi"] = ident  # 2310A referring provider
            elif entity == "PR":
                ctx["payer_id"], ctx["payer_name"] = ident, get(3)
            elif entity in ("IL", "QC") and ident:
                ctx["patient_id"] = ident
        elif tag == "DMG" and get(1) == "D8" and not in_other_payer:
            ctx["birth_date"] = _date(get(2))
        elif tag == "CLM":
            done = finish()
            if done is not None:
                yield done
            problems = []
            line = None
            in_other_payer = False
            pos = _split(get(5), comp)[0] if get(5) else ""
            payer_x12 = ctx.get("payer_id", "")
            claim = {
                "_seg": seg_no,
                "claim_id": get(1),
                "payer": payer_ids.get(payer_x12),
                "x12": {"payer_id": payer_x12, "payer_name": ctx.get("payer_name", "")},
                "patient": {k: v for k, v in (("id", ctx.get("patient_id")), ("birth_date", ctx.get("birth_date"))) if v},
                "provider": {"npi": ctx["billing_npi"]} if ctx.get("billing_npi") else {},
                "diagnoses": [],
                "lines": [],
            }
            if pos:
                claim["place_of_service"] = pos
            charge = _money(get(2))
            if charge is not None:
                claim["charge"] = charge
            elif get(2):
                problems.append(f"segment {seg_no} CLM02: the charge is not an amount")
            if not get(1):
                problems.append("CLM01 (claim id) is empty")
        elif claim is None:
            continue
        elif tag == "HI" and not in_other_payer:
            for composite in f[1:]:
                parts = _split(composite, comp)
                if len(parts) >= 2 and parts[0] in DX_QUALIFIERS:
                    claim["diagnoses"].append(_dx(parts[1]))
        elif tag == "REF" and get(1) in ("G1", "9F") and get(2) and not in_other_payer:
            key = "prior_authorization" if get(1) == "G1" else "referral_number"
            (line if line is not None else claim)[key] = get(2).strip()
        elif tag == "DTP" and get(1) == "472":
            d = _date(get(3).split("-")[0])
            if d is None:
                problems.append(f"segment {seg_no} DTP*472: the date is not CCYYMMDD")
            elif line is not None:
                line["date_of_service"] = d
            else:
                claim["date_of_service"] = d
        elif tag == "LX":
            in_other_payer = False
            lx = get(1)
            ok = lx.isascii() and lx.isdigit() and len(lx) <= 6
            if lx and not ok:
                problems.append(f"segment {seg_no} LX01: the line number is not a number of up to 6 digits")
            line = {"line": int(lx) if ok else len(claim["lines"]) + 1}
            claim["lines"].append(line)
        elif tag == "SV1":
            if line is None:
                line = {"line": len(claim["lines"]) + 1}
                claim["lines"].append(line)
            charge = _money(get(2))
            if charge is not None:
                line["charge"] = charge
            elif get(2):
                problems.append(f"segment {seg_no} SV102: the charge is not an amount")
            if get(5):
                line["place_of_service"] = get(5).strip()
            parts = _split(get(1), comp)
            code = parts[1].strip().upper() if len(parts) > 1 else ""
            if not PROVIDER_CODE.match(code):
                problems.append(f"segment {seg_no} SV101: no procedure code")
            line["code"] = code
            line["modifiers"] = [m.strip().upper() for m in parts[2:6] if m.strip()]
            qty = get(4)
            amount = float(qty) if qty and NUMBER.match(qty) else None
            if qty and amount is None:
                problems.append(f"segment {seg_no} SV104: the quantity is not a number of up to 15 digits")
            if amount is not None and amount.is_integer():
                if get(3) == "MJ":
                    line["minutes"] = int(amount)
                else:
                    line["units"] = int(amount)
            elif amount is not None:
                problems.append(f"segment {seg_no} SV104: a fractional quantity")
            ptrs = get(7)
            if ptrs:
                pointers = []
                for p in _split(ptrs, comp):
                    if NUMBER.match(p) and float(p).is_integer():
                        pointers.append(int(float(p)))
                    else:
                        problems.append(f"segment {seg_no} SV107: a diagnosis pointer is not a whole number")
                line["diagnosis_pointers"] = pointers
        elif tag in ("SE", "GE", "IEA"):
            done = finish()
            if done is not None:
                yield done
            claim, line, problems = None, None, []
    done = finish()
    if done is not None:
        yield done
    for problem in env.end(seg_no):
        yield ReadError(f"{name}: {problem}")
