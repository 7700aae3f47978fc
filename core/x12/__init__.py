"""Reading professional claims (X12 837P, 4010 and 5010) into the claim JSON the engine takes.

The package: the segment layer (``segments``: the file read a chunk at a time into
segments, for any transaction set), the 837P claim builder (here), its envelope checks
(``envelope``), the 837P writer (``writer``) and implementation-guide validation with
pyx12 (``validate``, an optional extra). Nothing holds the whole file: each claim is
yielded when its loop ends.

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

from ..readers import ReadError, ReadOptions, limit_message
from ..minutes_file import Companion, MinutesFileError, companion_path, load as load_minutes
from .envelope import TAGS as ENVELOPE_TAGS, Envelope
from .segments import TOO_LONG, SegmentReader, Separators, X12Error, separators

__all__ = ["parse_837", "X12Error", "SegmentReader", "Separators", "separators"]

COMPONENT_GUESSES = (">", ":", "^", "|", "\\")
DX_QUALIFIERS = {"BK", "BF", "ABK", "ABF", "BJ", "ABJ", "APR", "PR"}
PROVIDER_CODE = re.compile(r"^[A-Z0-9]{4,5}$")
#: a quantity or number in an element: ASCII digits, an optional sign and decimal part
#: (float() alone would take other scripts' digits, "inf" and 1e30)
NUMBER = re.compile(r"^[+-]?[0-9]{1,15}(\.[0-9]{1,6})?$")
#: a charge (CLM02, SV102): ASCII digits with at most two decimals
MONEY = re.compile(r"^[0-9]{1,10}(\.[0-9]{1,2})?$")
#: entries each per-file memo may hold before it is emptied (element text -> parsed value)
MEMO_ENTRIES = 50_000

# segment tag -> what the builder does with it; a tag not listed is passed over
SV1, LX, DTP, NM1, HL, CLM, HI, REF, SBR, DMG, ENV, LONG = range(1, 13)
TAG_KINDS = {"SV1": SV1, "LX": LX, "DTP": DTP, "NM1": NM1, "HL": HL, "CLM": CLM, "HI": HI, "REF": REF,
             "SBR": SBR, "DMG": DMG, TOO_LONG: LONG, **{t: ENV for t in ENVELOPE_TAGS}}


def kinds(elem: str) -> dict[str, int]:
    """What a segment's first three characters say it is, for one element separator: a
    two-letter tag with the separator after it (``LX*``) or alone (``LX``), or a three-letter
    tag (checked whole once the segment is split: ``SV1`` might begin ``SV10``)."""
    out = {}
    for tag, kind in TAG_KINDS.items():
        out[tag] = kind
        if len(tag) == 2:
            out[tag + elem] = kind
    return out


PAD = [""] * 10
_MISSING = object()


def _separators(text: str) -> tuple[str, str, str, int]:
    """(element, component, segment terminator, where the ISA starts): :func:`separators`
    as a tuple, for code that reads a whole text."""
    seps, start = separators(text)
    return seps.element, seps.component, seps.segment, start


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


def _service_line(raw: str, elem: str, comp: str) -> tuple | None:
    """An SV1 segment as (the line fields in the order they are set, modifiers, diagnosis
    pointers or None, the problems it shows without their segment number); None when the
    segment is not an SV1 after all (a longer tag)."""
    f = raw.split(elem)
    if f[0] != "SV1":
        return None
    if len(f) < 8:
        f += PAD[:8 - len(f)]
    fields: dict[str, Any] = {}
    problems = []
    charge = _money(f[2])
    if charge is not None:
        fields["charge"] = charge
    elif f[2]:
        problems.append("SV102: the charge is not an amount")
    if f[5]:
        fields["place_of_service"] = f[5].strip()
    parts = _split(f[1], comp)
    code = parts[1].strip().upper() if len(parts) > 1 else ""
    if not PROVIDER_CODE.match(code):
        problems.append("SV101: no procedure code")
    fields["code"] = code
    modifiers = tuple(m.strip().upper() for m in parts[2:6] if m.strip())
    fields["modifiers"] = None  # its place in the order; a fresh list per line
    qty = f[4]
    amount = float(qty) if qty and NUMBER.match(qty) else None
    if qty and amount is None:
        problems.append("SV104: the quantity is not a number of up to 15 digits")
    if amount is not None and amount.is_integer():
        fields["minutes" if f[3] == "MJ" else "units"] = int(amount)
    elif amount is not None:
        problems.append("SV104: a fractional quantity")
    pointers = None
    if f[7]:
        found = []
        for p in _split(f[7], comp):
            if NUMBER.match(p) and float(p).is_integer():
                found.append(int(float(p)))
            else:
                problems.append("SV107: a diagnosis pointer is not a whole number")
        pointers = tuple(found)
        fields["diagnosis_pointers"] = None
    return fields, modifiers, pointers, tuple(problems)


def _service_date(raw: str, elem: str) -> str | bool | None:
    """A DTP*472 segment's date (False: not CCYYMMDD); None for another DTP (or tag)."""
    f = raw.split(elem)
    if f[0] != "DTP" or len(f) < 2 or f[1] != "472":
        return None
    d = _date((f[3] if len(f) > 3 else "").split("-")[0])
    return False if d is None else d


def _line_number(raw: str, elem: str) -> tuple[int | None, bool]:
    """LX01 as (the number, or None), and whether it is there but not a number."""
    f = raw.split(elem)
    lx = f[1] if len(f) > 1 else ""
    ok = lx.isascii() and lx.isdigit() and len(lx) <= 6
    return (int(lx) if ok else None), bool(lx and not ok)


def _diagnoses(raw: str, elem: str, comp: str) -> tuple[str, ...]:
    """The diagnosis codes of an HI segment (qualifiers BK/BF/ABK/ABF/...), dots put back."""
    out = []
    for composite in raw.split(elem)[1:]:
        parts = _split(composite, comp)
        if len(parts) >= 2 and parts[0] in DX_QUALIFIERS:
            out.append(_dx(parts[1]))
    return tuple(out)


def parse_837(source: Any, payer_ids: dict[str, str] | None = None, name: str = "<x12>",
              minutes: "Companion | str | None" = "auto", options: ReadOptions | None = None) -> Iterator[Any]:
    """Yield one claim dict (or ReadError) per CLM, in file order, each as its claim ends;
    envelope problems are error records of their own where they are found.

    ``source``: the interchange as text, bytes, or a binary or text stream (read a chunk at
    a time: the file is never held whole). ``minutes``: the minutes companion file (a
    :class:`~payer_rules.minutes_file.Companion` or its path); ``"auto"`` looks for
    ``<name>.minutes.csv`` next to the file; None: none. ``options``: the bounds
    (``max_segment_length``, ``max_claim_segments``); default ReadOptions(). Raises
    X12Error when ``source`` has no ISA segment.
    """
    options = options or ReadOptions()
    reader = SegmentReader(source, options.max_segment_length)  # no ISA: X12Error before any record
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
    if companion is None:
        yield from build_837p(reader, payer_ids, name, options)
        return
    for record in build_837p(reader, payer_ids, name, options):
        if isinstance(record, dict):
            companion.apply(record, used)
        yield record
    if companion is not None and companion.unused(used):
        yield ReadError(f"{companion.path}: {companion.unused(used)} row(s) match no claim line of {name} "
                        f"(claim_id is CLM01, line is LX01)")


def _finish(claim: dict[str, Any], clm_seg: int, problems: list[str], segments: int, name: str,
            options: ReadOptions) -> Any:
    """The claim that ends here, or the error record in its place."""
    if segments > options.max_claim_segments:
        return ReadError(f"{name}: claim at segment {clm_seg}: " + limit_message(
            "max_claim_segments", options, f"{segments:,} segments"), claim.get("claim_id"))
    if problems:
        return ReadError(f"{name}: claim at segment {clm_seg}: " + "; ".join(problems), claim.get("claim_id"))
    lines = claim["lines"]
    if not lines:
        return ReadError(f"{name}: claim at segment {clm_seg}: no service lines (LX/SV1)", claim.get("claim_id"))
    if len(lines) > options.max_claim_lines:
        return ReadError(f"{name}: claim at segment {clm_seg}: " + limit_message(
            "max_claim_lines", options, f"{len(lines):,} service lines"), claim.get("claim_id"))
    return claim


def build_837p(reader: SegmentReader, payer_ids: dict[str, str] | None, name: str,
               options: ReadOptions) -> Iterator[Any]:
    """The 837P claims of an interchange's segments: one claim dict (or ReadError) per CLM,
    each yielded when the next HL, CLM, SE, GE or IEA (or the end) closes it.

    Why it is one long loop: it runs once per segment, so the dispatch is a dict lookup on
    the segment's first three characters and the loop's state is local variables. Service
    lines, dates, line numbers and diagnoses repeat across a file, so each distinct segment
    text is parsed once per file (memos, emptied every ``MEMO_ENTRIES``); only the segment
    number is put into a problem's words each time. A claim longer than
    ``max_claim_segments`` is noticed at the latest a chunk later and its lines dropped
    then, so memory stays bounded.
    """
    payer_ids = payer_ids or {}
    seps = reader.separators
    elem, comp = seps.element, seps.component
    max_segments = options.max_claim_segments
    kind_of = kinds(elem).get
    # the loop's context: the billing provider (2010AA), subscriber or patient and payer (2000B/C)
    billing_npi = payer_id = payer_name = patient_id = birth_date = None
    claim: dict[str, Any] | None = None
    lines: list[dict[str, Any]] = []
    line: dict[str, Any] | None = None
    in_other_payer = False
    problems: list[str] = []
    seg_no = clm_seg = claims = 0
    env, env_moved = Envelope(), True
    service_lines: dict[str, Any] = {}
    service_dates: dict[str, Any] = {}
    line_numbers: dict[str, tuple[int | None, bool]] = {}
    diagnosis_memo: dict[str, tuple[str, ...]] = {}
    amounts: dict[str, float | None] = {}
    memos = (service_lines, service_dates, line_numbers, diagnosis_memo, amounts)

    for batch in reader:
        if claim is not None and seg_no - clm_seg >= max_segments:
            del lines[:], claim["diagnoses"][:], problems[:]  # over the limit: hold nothing more
            line = None
        if sum(map(len, memos)) > MEMO_ENTRIES:
            for memo in memos:
                memo.clear()
        for seg_no, raw in enumerate(batch, seg_no + 1):
            kind = kind_of(raw[:3])
            if kind is None:
                continue
            if kind == SV1:
                if claim is None:
                    continue
                sv = service_lines.get(raw)
                if sv is None:
                    sv = service_lines[raw] = _service_line(raw, elem, comp) or ()
                if not sv:
                    continue
                if line is None:
                    line = {"line": len(lines) + 1}
                    lines.append(line)
                line.update(sv[0])
                line["modifiers"] = list(sv[1])
                if sv[2] is not None:
                    line["diagnosis_pointers"] = list(sv[2])
                if sv[3]:
                    problems.extend(f"segment {seg_no} {p}" for p in sv[3])
            elif kind == LX:
                if claim is None:
                    continue
                in_other_payer = False
                lx = line_numbers.get(raw)
                if lx is None:
                    lx = line_numbers[raw] = _line_number(raw, elem)
                if lx[1]:
                    problems.append(f"segment {seg_no} LX01: the line number is not a number of up to 6 digits")
                line = {"line": lx[0] if lx[0] is not None else len(lines) + 1}
                lines.append(line)
            elif kind == DTP:
                if claim is None:
                    continue
                d = service_dates.get(raw, _MISSING)
                if d is _MISSING:
                    d = service_dates[raw] = _service_date(raw, elem)
                if d is None:
                    continue
                if d is False:
                    problems.append(f"segment {seg_no} DTP*472: the date is not CCYYMMDD")
                elif line is not None:
                    line["date_of_service"] = d
                else:
                    claim["date_of_service"] = d
            elif kind == NM1:
                if in_other_payer:
                    continue
                f = raw.split(elem)
                if f[0] != "NM1":
                    continue
                if len(f) < 10:
                    f += PAD[:10 - len(f)]
                entity, qual, ident = f[1], f[8], f[9]
                if entity == "85" and qual == "XX":
                    billing_npi = ident
                elif entity == "82" and qual == "XX" and claim is not None:
                    if line is not None:  # 2420A: this line's rendering provider
                        line["rendering_npi"] = ident
                    else:
                        claim["provider"]["npi"] = ident
                elif entity == "DN" and qual == "XX" and claim is not None:
                    claim["referring_npi"] = ident  # 2310A referring provider
                elif entity == "PR":
                    payer_id, payer_name = ident, f[3]
                elif entity in ("IL", "QC") and ident:
                    patient_id = ident
            elif kind == HL:
                if claim is not None:
                    yield _finish(claim, clm_seg, problems, seg_no - clm_seg, name, options)
                claim, line, problems = None, None, []
                f = raw.split(elem)
                level = f[3] if len(f) > 3 else ""
                if level == "20":  # billing provider: a new context
                    billing_npi = payer_id = payer_name = patient_id = birth_date = None
                elif level == "22":  # subscriber: keep the billing provider only
                    payer_id = payer_name = patient_id = birth_date = None
                in_other_payer = False
            elif kind == CLM:
                f = raw.split(elem)
                if f[0] != "CLM":
                    continue
                if claim is not None:
                    yield _finish(claim, clm_seg, problems, seg_no - clm_seg, name, options)
                if len(f) < 6:
                    f += PAD[:6 - len(f)]
                problems = []
                line = None
                in_other_payer = False
                clm_seg = seg_no
                claims += 1
                if env_moved:
                    env.claim(seg_no)
                    env_moved = False
                patient = {}
                if patient_id:
                    patient["id"] = patient_id
                if birth_date:
                    patient["birth_date"] = birth_date
                lines = []
                claim = {
                    "claim_id": f[1],
                    "payer": payer_ids.get(payer_id or ""),
                    "x12": {"payer_id": payer_id or "", "payer_name": payer_name or ""},
                    "patient": patient,
                    "provider": {"npi": billing_npi} if billing_npi else {},
                    "diagnoses": [],
                    "lines": lines,
                }
                if f[5]:
                    pos = _split(f[5], comp)[0]
                    if pos:
                        claim["place_of_service"] = pos
                charge = amounts.get(f[2], _MISSING)
                if charge is _MISSING:
                    charge = amounts[f[2]] = _money(f[2])
                if charge is not None:
                    claim["charge"] = charge
                elif f[2]:
                    problems.append(f"segment {seg_no} CLM02: the charge is not an amount")
                if not f[1]:
                    problems.append("CLM01 (claim id) is empty")
            elif kind == HI:
                if claim is None or in_other_payer:
                    continue
                dx = diagnosis_memo.get(raw)
                if dx is None:
                    dx = diagnosis_memo[raw] = _diagnoses(raw, elem, comp)
                claim["diagnoses"].extend(dx)
            elif kind == REF:
                if claim is None or in_other_payer:
                    continue
                f = raw.split(elem)
                if f[0] != "REF" or len(f) < 3 or f[1] not in ("G1", "9F") or not f[2]:
                    continue
                key = "prior_authorization" if f[1] == "G1" else "referral_number"
                (line if line is not None else claim)[key] = f[2].strip()
            elif kind == SBR:
                if claim is not None and raw[3:4] in (elem, ""):
                    in_other_payer = True  # 2320: other subscriber information, not this claim's payer
            elif kind == DMG:
                f = raw.split(elem)
                if f[0] == "DMG" and len(f) > 1 and f[1] == "D8" and not in_other_payer:
                    birth_date = _date(f[2] if len(f) > 2 else "")
            elif kind == ENV:
                f = raw.split(elem)
                tag = f[0]
                if tag not in ENVELOPE_TAGS:
                    continue
                env_moved = True
                if tag in ("SE", "GE", "IEA"):
                    if claim is not None:
                        yield _finish(claim, clm_seg, problems, seg_no - clm_seg, name, options)
                    claim, line, problems = None, None, []
                for problem in env.segment(tag, f, seg_no, claims, clm_seg):
                    yield ReadError(f"{name}: {problem}")
            elif kind == LONG:
                problem = f"segment {seg_no}: " + limit_message("max_segment_length", options, "the segment")
                if claim is not None:
                    problems.append(problem)
                else:
                    yield ReadError(f"{name}: {problem}")
    if claim is not None:
        yield _finish(claim, clm_seg, problems, seg_no + 1 - clm_seg, name, options)
    for problem in env.end(seg_no, claims, clm_seg):
        yield ReadError(f"{name}: {problem}")
