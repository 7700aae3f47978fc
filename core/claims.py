"""Turning claim JSON into :class:`~payer_rules.models.Claim`, with readable errors.

``schemas/claim.schema.json`` documents the same contract for other tools; this module
checks it by hand because it runs once per claim and a generic schema validator costs
more than the rest of the evaluation. ``tests/test_claims.py`` keeps the two in step.

Error messages name the field (``lines[2].minutes``) and never repeat its value:
claims carry patient data and error text ends up in logs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from .models import EMPTY, Claim, Line, freeze, new_claim, new_line

CODE_RE = re.compile(r"^[A-Z0-9]{4,5}$")
MODIFIER_RE = re.compile(r"^[A-Z0-9]{2}$")
TIME_RE = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
LINE_FIELDS = frozenset({
    "line", "code", "modifiers", "date_of_service", "minutes", "units", "diagnosis_pointers",
    "body_region", "start_time", "end_time",
})
CLAIM_FIELDS = frozenset({"claim_id", "payer", "lines", "patient", "provider", "diagnoses", "date_of_service"})
MAX_MINUTES = 24 * 60
#: the largest whole number a claim may carry (line numbers, units, pointers): far above
#: any real claim, far below what a 64-bit result field holds
MAX_WHOLE = 999_999_999


class ClaimError(ValueError):
    """A claim that cannot be evaluated; the message names fields, never values."""


def valid_date(text: str) -> bool:
    """YYYY-MM-DD in ASCII digits (int() would also take other scripts' digits)."""
    if len(text) != 10 or text[4] != "-" or text[7] != "-" or not text.isascii():
        return False
    try:
        date(int(text[0:4]), int(text[5:7]), int(text[8:10]))
    except ValueError:
        return False
    return True


def _whole(value: Any) -> int | None:
    """An int of at most MAX_WHOLE from an int or integral float; None for anything else
    (bools, 1e20, 2**64 included: such a number cannot be a count in a claim)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if -MAX_WHOLE <= value <= MAX_WHOLE else None
    if isinstance(value, float) and value.is_integer() and -MAX_WHOLE <= value <= MAX_WHOLE:
        return int(value)
    return None


def _minutes_between(start: str, end: str) -> int | None:
    a, b = TIME_RE.match(start), TIME_RE.match(end)
    if not a or not b:
        return None
    return (int(b[1]) * 60 + int(b[2])) - (int(a[1]) * 60 + int(a[2]))


_CODES: dict[str, str] = {}
_MODS: dict[tuple, tuple[str, ...]] = {}
_DATES: dict[str, bool] = {}
_DX: dict[tuple, tuple[str, ...]] = {}
_CACHE_MAX = 100_000


def _norm_code(code: Any) -> str | None:
    """The code upper-cased, or None if it is not a code. Cached: claims repeat codes."""
    if type(code) is str:
        hit = _CODES.get(code)
        if hit is not None:
            return hit
        norm = code.strip().upper()
        if not CODE_RE.match(norm) or not code.isascii():  # "ﬀ".upper() is "FF"
            return None
        if len(_CODES) < _CACHE_MAX:
            _CODES[code] = norm
        return norm
    if type(code) is int:
        return _norm_code(str(code))
    return None


def _norm_mods(mods_raw: list) -> tuple[str, ...] | None:
    """Modifiers upper-cased, or None if any is not a two-character modifier."""
    try:
        key = tuple(mods_raw)
        hit = _MODS.get(key)
    except TypeError:  # an unhashable item: not a modifier
        return None
    if hit is not None:
        return hit
    out = []
    for m in mods_raw:
        if type(m) is not str or not m.isascii() or not MODIFIER_RE.match(m.strip().upper()):
            return None
        out.append(m.strip().upper())
    norm = tuple(out)
    if len(_MODS) < _CACHE_MAX:
        _MODS[key] = norm
    return norm


_PTRS: dict[tuple, tuple[int, ...]] = {}


def _norm_pointers(raw: Any) -> tuple[int, ...] | None:
    """Diagnosis pointers as a tuple of 1-12, or None if they are not that."""
    if type(raw) is not list:
        return None
    try:
        key = tuple(raw)
        hit = _PTRS.get(key)
    except TypeError:
        return None
    if hit is not None:
        return hit
    out = []
    for p in raw:
        w = _whole(p)
        if w is None or not 1 <= w <= 12:
            return None
        out.append(w)
    norm = tuple(out)
    if len(_PTRS) < _CACHE_MAX:
        _PTRS[key] = norm
    return norm


def _date_ok(text: Any) -> bool:
    if type(text) is not str:
        return False
    hit = _DATES.get(text)
    if hit is None:
        hit = valid_date(text)
        if len(_DATES) < _CACHE_MAX:
            _DATES[text] = hit
    return hit


def parse_line(raw: Any, position: int, default_date: str | None, problems: list[str]) -> Line | None:
    if type(raw) is not dict:
        problems.append(f"lines[{position}]: must be an object")
        return None
    bad: list[str] = []  # field names; turned into messages only when something is wrong
    get = raw.get
    line_no = get("line", position)
    if type(line_no) is not int or not 1 <= line_no <= MAX_WHOLE:
        line_no = _whole(line_no)
        if line_no is None or line_no < 1:
            bad.append(f"line: must be a whole number from 1 to {MAX_WHOLE:,}")
            line_no = position
    raw_code = get("code")
    code = _CODES.get(raw_code) if type(raw_code) is str else None
    if code is None:
        code = _norm_code(raw_code)
    if code is None:
        bad.append("code: must be a CPT/HCPCS code of 4-5 letters or digits")
        code = ""
    mods_raw = get("modifiers")
    mods: tuple[str, ...] = ()
    if mods_raw:
        if type(mods_raw) is not list:
            bad.append("modifiers: must be a list of two-character modifiers")
        else:
            try:  # the cache, read here: most lines repeat a list of modifiers already seen
                norm = _MODS.get(tuple(mods_raw))
            except TypeError:
                norm = None
            if norm is None:
                norm = _norm_mods(mods_raw)
            if norm is None:
                for j, m in enumerate(mods_raw):
                    if type(m) is not str or not m.isascii() or not MODIFIER_RE.match(m.strip().upper()):
                        bad.append(f"modifiers[{j}]: must be a two-character modifier")
            else:
                mods = norm
    dos = get("date_of_service", default_date)
    if dos is None:
        bad.append("date_of_service: missing (YYYY-MM-DD)")
        dos = ""
    elif not (_DATES.get(dos) if type(dos) is str else False) and not _date_ok(dos):
        bad.append("date_of_service: must be a real date written YYYY-MM-DD")
        dos = ""
    minutes = get("minutes")
    if minutes is not None and (type(minutes) is not int or not 0 <= minutes <= MAX_MINUTES):
        minutes = _whole(minutes)
        if minutes is None or not 0 <= minutes <= MAX_MINUTES:
            bad.append(f"minutes: must be a whole number of minutes from 0 to {MAX_MINUTES}")
            minutes = None
    units = get("units")
    if units is not None and (type(units) is not int or not 0 <= units <= MAX_WHOLE):
        units = _whole(units)
        if units is None or units < 0:
            bad.append(f"units: must be a whole number from 0 to {MAX_WHOLE:,}")
            units = None
    pointers_raw = get("diagnosis_pointers")
    pointers: tuple[int, ...] = ()
    if pointers_raw:
        try:
            norm_ptrs = _PTRS.get(tuple(pointers_raw)) if type(pointers_raw) is list else None
        except TypeError:
            norm_ptrs = None
        if norm_ptrs is None:
            norm_ptrs = _norm_pointers(pointers_raw)
        if norm_ptrs is None:
            bad.append("diagnosis_pointers: must be a list of numbers from 1 to 12")
        else:
            pointers = norm_ptrs
    body_region = get("body_region")
    if body_region is not None and type(body_region) is not str:
        bad.append("body_region: must be text")
        body_region = None
    start, end = get("start_time"), get("end_time")
    span = None
    if start is not None or end is not None:
        for name, value in (("start_time", start), ("end_time", end)):
            if value is not None and (type(value) is not str or not TIME_RE.match(value)):
                bad.append(f"{name}: must be a time written HH:MM (24-hour)")
        if type(start) is str and type(end) is str:
            span = _minutes_between(start, end)
            if span is not None and span < 0:
                bad.append("end_time: is before start_time")
                span = None
        start = start if type(start) is str else None
        end = end if type(end) is str else None
    extra = EMPTY if LINE_FIELDS.issuperset(raw) else {k: v for k, v in raw.items() if k not in LINE_FIELDS}
    if extra:
        techniques = extra.get("techniques")
        if techniques is not None and (type(techniques) is not list or not all(type(t) is str for t in techniques)):
            bad.append("techniques: must be a list of text")
        am = extra.get("assistant_minutes")
        if am is not None and (_whole(am) is None or not 0 <= _whole(am) <= MAX_MINUTES):
            bad.append(f"assistant_minutes: must be a whole number of minutes from 0 to {MAX_MINUTES}")
        if "charge" in extra and not _amount_ok(extra["charge"]):
            bad.append(f"charge: must be an amount from 0 to {MAX_CHARGE:,}")
        if "time_blocks" in extra:
            block_minutes = check_time_blocks(extra["time_blocks"], bad)
            if span is None and start is None and block_minutes is not None:
                span = block_minutes
    if bad:
        problems.extend(f"lines[{position}].{b}" for b in bad)
    return new_line(line_no, code, mods, dos, minutes, units, pointers, body_region, start, end, span,
                    freeze(extra) if extra else EMPTY)


#: the largest charge a claim or line may carry (the 837's ten digits before the point)
MAX_CHARGE = 9_999_999_999


def _amount_ok(value: Any) -> bool:
    """A charge: a number (not a boolean) from 0 to MAX_CHARGE, so results carry only amounts."""
    return type(value) in (int, float) and 0 <= value <= MAX_CHARGE


# -- time blocks and who furnished them (h5: NCCI time separation, CQ/CO per unit) ---------

#: who may be named on a time block: the therapist alone, the assistant alone (independently
#: of the therapist), or both together (CMS counts minutes together as the therapist's)
BLOCK_BY = ("therapist", "assistant", "together")
MAX_BLOCKS = 24


def check_time_blocks(raw: Any, bad: list[str]) -> int | None:
    """Validate a line's ``time_blocks``: a list of ``{start: "HH:MM", end: "HH:MM",
    by: therapist|assistant|together}`` (``by`` optional), one per separate period in which
    the service was furnished, in order and not overlapping. Returns their total minutes
    (the line's minutes when it gives neither ``minutes`` nor start/end), or None."""
    if type(raw) is not list or not raw or len(raw) > MAX_BLOCKS:
        bad.append(f"time_blocks: must be a list of 1 to {MAX_BLOCKS} objects with start and end (HH:MM)")
        return None
    total, last_end = 0, -1
    for j, b in enumerate(raw):
        if type(b) is not dict or not set(b) <= {"start", "end", "by"}:
            bad.append(f"time_blocks[{j}]: must be an object with start, end and optional by")
            return None
        a, e = b.get("start"), b.get("end")
        if type(a) is not str or type(e) is not str or not TIME_RE.match(a) or not TIME_RE.match(e):
            bad.append(f"time_blocks[{j}]: start and end must be times written HH:MM (24-hour)")
            return None
        if b.get("by") is not None and b.get("by") not in BLOCK_BY:
            bad.append(f"time_blocks[{j}].by: must be one of {', '.join(BLOCK_BY)}")
            return None
        lo, hi = _clock(a), _clock(e)
        if hi <= lo or lo < last_end:
            bad.append(f"time_blocks[{j}]: must end after it starts and start after the previous block ends")
            return None
        total += hi - lo
        last_end = hi
    return total


def _clock(t: str) -> int:
    return int(t[:2]) * 60 + int(t[3:5])


def line_blocks(ln: Line) -> tuple[tuple[int, int], ...]:
    """The periods (minutes after midnight, start and end) in which a line's service was
    furnished: its ``time_blocks``, else its start and end time, else none."""
    raw = ln.extra.get("time_blocks") if ln.extra else None
    if raw:
        return tuple((_clock(b["start"]), _clock(b["end"])) for b in raw)
    if ln.start_time and ln.end_time:
        return ((_clock(ln.start_time), _clock(ln.end_time)),)
    return ()


# -- lines per claim (issue 12: bounded inputs) ----------------------------------------------

#: the most service lines one claim may have: the 837I's 999 (the 837P allows 50). A claim
#: beyond it is an input error naming the limit; ``set_max_lines`` changes it for a host.
MAX_LINES = 999


def set_max_lines(n: int) -> None:
    """Change the engine-wide limit on lines per claim (1 to 99,999)."""
    global MAX_LINES
    if type(n) is not int or not 1 <= n <= 99_999:
        raise ValueError("max_lines must be a whole number from 1 to 99999")
    MAX_LINES = n


def to_plain(value: Any, depth: int = 0) -> Any:
    """JSON-like data from what hosts pass: any Mapping becomes a dict, tuples lists, and
    numpy/pandas scalars their Python values (``.item()``). Only claims that are not plain
    JSON data already pay for this."""
    if depth > 64:
        raise ClaimError("a claim must not nest deeper than 64 levels")
    if isinstance(value, Mapping):
        return {k if type(k) is str else str(k): to_plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v, depth + 1) for v in value]
    if type(value) in (str, int, float, bool) or value is None:
        return value
    if type(value).__module__.split(".")[0] in ("numpy", "pandas") and hasattr(value, "item"):
        try:
            return to_plain(value.item() if getattr(value, "ndim", 0) == 0 else value.tolist(), depth + 1)
        except (TypeError, ValueError):
            return value
    if isinstance(value, str):
        return str(value)
    return value


def _is_plain(value: Any, depth: int = 0) -> bool:
    t = type(value)
    if t is dict:
        return depth < 64 and all(type(k) is str and _is_plain(v, depth + 1) for k, v in value.items())
    if t is list:
        return depth < 64 and all(_is_plain(v, depth + 1) for v in value)
    return t in (str, int, float, bool) or value is None


def parse_claim(raw: Any) -> Claim:
    """Validate and convert one claim (a JSON object: any Mapping); raise ClaimError
    listing every problem found. The claim keeps no reference to the caller's objects."""
    if type(raw) is not dict:
        if not isinstance(raw, Mapping):
            raise ClaimError("a claim must be a JSON object (a mapping of fields)")
        raw = to_plain(raw)
    try:
        return _parse_claim(raw)
    except ClaimError:
        if _is_plain(raw):
            raise
    return _parse_claim(to_plain(raw))  # numpy scalars, nested Mappings: only on this slow path


def _parse_claim(raw: dict) -> Claim:
    problems: list[str] = []
    get = raw.get
    claim_id = get("claim_id")
    if type(claim_id) is not str or not claim_id.strip():
        if type(claim_id) is int:
            claim_id = str(claim_id)
        else:
            problems.append("claim_id: missing or not text")
            claim_id = ""
    payer = get("payer")
    if payer is not None and type(payer) is not str:
        problems.append("payer: must be text")
        payer = None
    default_date = get("date_of_service")
    if default_date is not None and not _date_ok(default_date):
        problems.append("date_of_service: must be a real date written YYYY-MM-DD")
        default_date = None
    lines_raw = get("lines")
    lines: list[Line] = []
    if type(lines_raw) is not list or not lines_raw:
        problems.append("lines: must be a non-empty list of service lines")
    elif len(lines_raw) > MAX_LINES:
        raise ClaimError(f"lines: {len(lines_raw)} service lines, more than the limit of {MAX_LINES} per claim "
                         "(the 837I allows 999, the 837P 50; setting max_lines)")
    else:
        position = 0
        renumbered = False  # all lines numbered by position: no number can repeat
        for item in lines_raw:
            position += 1
            ln = parse_line(item, position, default_date, problems)
            if ln is not None:
                lines.append(ln)
                if ln.line != position:
                    renumbered = True
        if renumbered and len({ln.line for ln in lines}) != len(lines):
            seen: set[int] = set()
            for ln in lines:
                if ln.line in seen:
                    problems.append(f"lines: line number {ln.line} is used twice")
                seen.add(ln.line)
    patient, provider, plan = get("patient"), get("provider"), get("plan_of_care")
    for name, value in (("patient", patient), ("provider", provider), ("plan_of_care", plan)):
        if value is not None and type(value) is not dict:
            problems.append(f"{name}: must be an object")
    ytd = patient.get("therapy_ytd") if type(patient) is dict else None
    if ytd is not None and (type(ytd) is not dict or not all(
            type(v) in (int, float) and v >= 0 for v in ytd.values())):
        problems.append("patient.therapy_ytd: must map pt_slp/ot to amounts of 0 or more")
    diagnoses = get("diagnoses")
    dx: tuple[str, ...] = ()
    if diagnoses:
        try:  # claims repeat lists of diagnoses: the cache holds only valid ones
            hit = _DX.get(tuple(diagnoses)) if type(diagnoses) is list else None
        except TypeError:
            hit = None
        if hit is not None:
            dx = hit
        elif type(diagnoses) is not list or not all(type(d) is str for d in diagnoses):
            problems.append("diagnoses: must be a list of ICD-10 codes")
        else:
            dx = tuple(d.strip().upper() for d in diagnoses)
            if len(_DX) < _CACHE_MAX:
                _DX[tuple(diagnoses)] = dx
    if "charge" in raw and not _amount_ok(raw["charge"]):
        problems.append(f"charge: must be an amount from 0 to {MAX_CHARGE:,}")
    if problems:
        shown = problems[:10]
        more = f"; and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise ClaimError("; ".join(shown) + more)
    extra = EMPTY if CLAIM_FIELDS.issuperset(raw) else freeze(
        {k: v for k, v in raw.items() if k not in CLAIM_FIELDS})
    return new_claim(claim_id, payer, tuple(lines), freeze(patient) if type(patient) is dict else None,
                     freeze(provider) if type(provider) is dict else None, dx, extra)
