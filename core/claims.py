"""Turning claim JSON into :class:`~payer_rules.models.Claim`, with readable errors.

``schemas/claim.schema.json`` documents the same contract for other tools; this module
checks it by hand because it runs once per claim and a generic schema validator costs
more than the rest of the evaluation. ``tests/test_claims.py`` keeps the two in step.

Error messages name the field (``lines[2].minutes``) and never repeat its value:
claims carry patient data and error text ends up in logs.
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache
from typing import Any

from .models import Claim, Line

CODE_RE = re.compile(r"^[A-Z0-9]{4,5}$")
MODIFIER_RE = re.compile(r"^[A-Z0-9]{2}$")
TIME_RE = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
LINE_FIELDS = frozenset({
    "line", "code", "modifiers", "date_of_service", "minutes", "units", "diagnosis_pointers",
    "body_region", "start_time", "end_time",
})
CLAIM_FIELDS = frozenset({"claim_id", "payer", "lines", "patient", "provider", "diagnoses", "date_of_service"})
MAX_MINUTES = 24 * 60


class ClaimError(ValueError):
    """A claim that cannot be evaluated; the message names fields, never values."""


@lru_cache(maxsize=4096)
def valid_date(text: str) -> bool:
    if len(text) != 10 or text[4] != "-" or text[7] != "-":
        return False
    try:
        date(int(text[0:4]), int(text[5:7]), int(text[8:10]))
    except ValueError:
        return False
    return True


def _whole(value: Any) -> int | None:
    """An int from an int or integral float; None for anything else (bools included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _minutes_between(start: str, end: str) -> int | None:
    a, b = TIME_RE.match(start), TIME_RE.match(end)
    if not a or not b:
        return None
    return (int(b[1]) * 60 + int(b[2])) - (int(a[1]) * 60 + int(a[2]))


def parse_line(raw: Any, position: int, default_date: str | None, problems: list[str]) -> Line | None:
    where = f"lines[{position}]"
    if not isinstance(raw, dict):
        problems.append(f"{where}: must be an object")
        return None
    n = raw.get("line", position)
    line_no = _whole(n)
    if line_no is None or line_no < 1:
        problems.append(f"{where}.line: must be a whole number, 1 or more")
        line_no = position
    code = raw.get("code")
    if isinstance(code, int) and not isinstance(code, bool):
        code = str(code)
    if not isinstance(code, str) or not CODE_RE.match(code.strip().upper()):
        problems.append(f"{where}.code: must be a CPT/HCPCS code of 4-5 letters or digits")
        code = ""
    else:
        code = code.strip().upper()
    mods_raw = raw.get("modifiers", [])
    if mods_raw is None:
        mods_raw = []
    if not isinstance(mods_raw, list):
        problems.append(f"{where}.modifiers: must be a list of two-character modifiers")
        mods: tuple[str, ...] = ()
    else:
        out = []
        for j, m in enumerate(mods_raw):
            if not isinstance(m, str) or not MODIFIER_RE.match(m.strip().upper()):
                problems.append(f"{where}.modifiers[{j}]: must be a two-character modifier")
            else:
                out.append(m.strip().upper())
        mods = tuple(out)
    dos = raw.get("date_of_service", default_date)
    if dos is None:
        problems.append(f"{where}.date_of_service: missing (YYYY-MM-DD)")
        dos = ""
    elif not isinstance(dos, str) or not valid_date(dos):
        problems.append(f"{where}.date_of_service: must be a real date written YYYY-MM-DD")
        dos = ""
    minutes = raw.get("minutes")
    if minutes is not None:
        minutes = _whole(minutes)
        if minutes is None or minutes < 0 or minutes > MAX_MINUTES:
            problems.append(f"{where}.minutes: must be a whole number of minutes from 0 to {MAX_MINUTES}")
            minutes = None
    units = raw.get("units")
    if units is not None:
        units = _whole(units)
        if units is None or units < 0:
            problems.append(f"{where}.units: must be a whole number, 0 or more")
            units = None
    pointers_raw = raw.get("diagnosis_pointers", [])
    pointers: tuple[int, ...] = ()
    if pointers_raw:
        if not isinstance(pointers_raw, list) or any(_whole(p) is None or not 1 <= _whole(p) <= 12 for p in pointers_raw):
            problems.append(f"{where}.diagnosis_pointers: must be a list of numbers from 1 to 12")
        else:
            pointers = tuple(_whole(p) for p in pointers_raw)
    body_region = raw.get("body_region")
    if body_region is not None and not isinstance(body_region, str):
        problems.append(f"{where}.body_region: must be text")
        body_region = None
    start, end = raw.get("start_time"), raw.get("end_time")
    span = None
    for name, value in (("start_time", start), ("end_time", end)):
        if value is not None and (not isinstance(value, str) or not TIME_RE.match(value)):
            problems.append(f"{where}.{name}: must be a time written HH:MM (24-hour)")
    if isinstance(start, str) and isinstance(end, str):
        span = _minutes_between(start, end)
        if span is not None and span < 0:
            problems.append(f"{where}.end_time: is before start_time")
            span = None
    extra = {k: v for k, v in raw.items() if k not in LINE_FIELDS}
    if extra:
        techniques = extra.get("techniques")
        if techniques is not None and (not isinstance(techniques, list) or not all(isinstance(t, str) for t in techniques)):
            problems.append(f"{where}.techniques: must be a list of text")
        am = extra.get("assistant_minutes")
        if am is not None and (_whole(am) is None or not 0 <= _whole(am) <= MAX_MINUTES):
            problems.append(f"{where}.assistant_minutes: must be a whole number of minutes from 0 to {MAX_MINUTES}")
    return Line(
        line=line_no, code=code, modifiers=mods, date_of_service=dos, minutes=minutes, units=units,
        diagnosis_pointers=pointers, body_region=body_region,
        start_time=start if isinstance(start, str) else None,
        end_time=end if isinstance(end, str) else None,
        minutes_from_times=span, extra=extra,
    )


def parse_claim(raw: Any) -> Claim:
    """Validate and convert one claim; raise ClaimError listing every problem found."""
    if not isinstance(raw, dict):
        raise ClaimError("a claim must be a JSON object")
    problems: list[str] = []
    claim_id = raw.get("claim_id")
    if isinstance(claim_id, int) and not isinstance(claim_id, bool):
        claim_id = str(claim_id)
    if not isinstance(claim_id, str) or not claim_id.strip():
        problems.append("claim_id: missing or not text")
        claim_id = ""
    payer = raw.get("payer")
    if payer is not None and not isinstance(payer, str):
        problems.append("payer: must be text")
        payer = None
    default_date = raw.get("date_of_service")
    if default_date is not None and (not isinstance(default_date, str) or not valid_date(default_date)):
        problems.append("date_of_service: must be a real date written YYYY-MM-DD")
        default_date = None
    lines_raw = raw.get("lines")
    lines: list[Line] = []
    if not isinstance(lines_raw, list) or not lines_raw:
        problems.append("lines: must be a non-empty list of service lines")
    else:
        for i, item in enumerate(lines_raw, start=1):
            ln = parse_line(item, i, default_date, problems)
            if ln is not None:
                lines.append(ln)
        seen: set[int] = set()
        for ln in lines:
            if ln.line in seen:
                problems.append(f"lines: line number {ln.line} is used twice")
            seen.add(ln.line)
    for name in ("patient", "provider", "plan_of_care"):
        if raw.get(name) is not None and not isinstance(raw.get(name), dict):
            problems.append(f"{name}: must be an object")
    ytd = raw.get("patient", {}).get("therapy_ytd") if isinstance(raw.get("patient"), dict) else None
    if ytd is not None and (not isinstance(ytd, dict) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in ytd.values())):
        problems.append("patient.therapy_ytd: must map pt_slp/ot to amounts of 0 or more")
    diagnoses = raw.get("diagnoses", [])
    if diagnoses is None:
        diagnoses = []
    if not isinstance(diagnoses, list) or not all(isinstance(d, str) for d in diagnoses):
        problems.append("diagnoses: must be a list of ICD-10 codes")
        diagnoses = []
    if problems:
        shown = problems[:10]
        more = f"; and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise ClaimError("; ".join(shown) + more)
    extra = {k: v for k, v in raw.items() if k not in CLAIM_FIELDS}
    return Claim(
        claim_id=claim_id,
        payer=payer,
        lines=tuple(lines),
        patient=raw.get("patient") if isinstance(raw.get("patient"), dict) else None,
        provider=raw.get("provider") if isinstance(raw.get("provider"), dict) else None,
        diagnoses=tuple(d.strip().upper() for d in diagnoses),
        extra=extra,
    )
