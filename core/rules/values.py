"""The values conditions read from a line or a claim, defined once for both evaluators."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from functools import lru_cache
from typing import Any, Callable

from ..models import Claim, Line

#: line fields that are attributes of :class:`Line` (the others are in ``Line.extra``)
LINE_ATTRIBUTES = frozenset({"start_time", "end_time", "body_region", "diagnosis_pointers"})


def empty(value: Any) -> bool:
    """Absent, null, or an empty text, list or mapping (0 and false are values)."""
    return value is None or (isinstance(value, (str, list, tuple, Mapping)) and len(value) == 0)


def line_value(line: Line, name: str) -> Any:
    """A line field by name: an attribute of the line, else one of its extra fields."""
    if name in LINE_ATTRIBUTES:
        return getattr(line, name)
    return line.extra.get(name)


def line_number(line: Line, name: str) -> int | None:
    """``units`` as billed, or ``minutes`` as reported (else from start/end times)."""
    if name == "units":
        return line.units
    return line.minutes if line.minutes is not None else line.minutes_from_times


def claim_value(claim: Claim, path: str) -> Any:
    """A claim field by dotted path: top-level fields, patient.*, provider.*, or any other."""
    return claim_getter(path)(claim)


@lru_cache(maxsize=4096)
def claim_getter(path: str) -> Callable[[Claim], Any]:
    """:func:`claim_value` for one path, with the path taken apart once."""
    head, _, rest = path.partition(".")
    parts = tuple(rest.split(".")) if rest else ()

    def get(claim: Claim) -> Any:
        if head == "patient":
            value: Any = claim.patient
        elif head == "provider":
            value = claim.provider
        elif head == "diagnoses":
            value = list(claim.diagnoses)
        else:
            value = claim.extra.get(head)
        for part in parts:
            value = value.get(part) if isinstance(value, Mapping) else None
        return value
    return get


def patient_age(claim: Claim, dos: str) -> int | None:
    """Whole years between patient.birth_date and ``dos``, or None when unknown."""
    birth = (claim.patient or {}).get("birth_date")
    if not isinstance(birth, str) or len(birth) != 10:
        return None
    try:
        b = date.fromisoformat(birth)
        d = date.fromisoformat(dos)
    except ValueError:
        return None
    return d.year - b.year - ((d.month, d.day) < (b.month, b.day))


def same_region(a: Line, b: Line) -> bool:
    """Both lines record a body region, and it is the same (case and spaces ignored)."""
    return bool(a.body_region) and bool(b.body_region) and \
        a.body_region.strip().lower() == b.body_region.strip().lower()


def different_region(a: Line, b: Line) -> bool:
    """Both lines record a body region, and they differ."""
    return bool(a.body_region) and bool(b.body_region) and not same_region(a, b)


def int_date(text: str) -> int:
    """An ISO date as YYYYMMDD (what durable-rules compares dates as)."""
    return int(text[0:4]) * 10000 + int(text[5:7]) * 100 + int(text[8:10])
