"""The dates a table is valid for, and what a claim or a policy version falls outside them.

A CMS table is a release for a period: an MUE or NCCI file is one quarter's, a fee-schedule
file one year's (and its quarterly updates). A policy in force for years must not judge a
2019 claim by a 2024 release without saying so, so each table declares its dates:

- in its provenance file (``<table>.provenance.json``: ``valid_from``, ``valid_to``), what
  the release is for, written by ``payer-rules tables import --valid-from/--valid-to``;
- in the policy's ``tables.<kind>`` entry (``valid_from``, ``valid_to``), which wins, field
  by field: the maintainer decides how a table is used (a release checked to be unchanged
  for the next quarter may be used for it) and says so where the policy is reviewed.

A missing or null date is open on that side; a table with neither is valid for every date.
With several files (``files:``), the provenance dates are those all of them cover (the
latest start, the earliest end). ``uncovered`` in the policy's entry is the maintainer's
statement of why some version dates have no table: lint then reports those dates as a
note instead of a warning; claims on them get the table's ``*.table_out_of_range``
warning either way.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from .source import TableError

ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
#: a provenance file is a few hundred bytes; anything far larger is not one
MAX_PROVENANCE_BYTES = 1 << 20
PROVENANCE_SUFFIX = ".provenance.json"


@dataclass(frozen=True, slots=True)
class Validity:
    """The dates one table of a policy version is valid for."""

    kind: str
    #: what messages call the table: its display name and version ("MUE table 'MUE practitioner 2024-04-01'")
    table: str
    valid_from: str | None = None
    valid_to: str | None = None
    #: where each date came from: "policy", "provenance" or "" (open)
    from_source: str = ""
    to_source: str = ""
    #: the maintainer's reason some version dates have no table (``uncovered``), or ""
    uncovered: str = ""

    @property
    def bounded(self) -> bool:
        return self.valid_from is not None or self.valid_to is not None

    def covers(self, dos: str) -> bool:
        """Whether a date of service (YYYY-MM-DD) lies in the table's dates."""
        return (self.valid_from is None or self.valid_from <= dos) and (self.valid_to is None or dos <= self.valid_to)

    def dates(self) -> str:
        """The dates in words: '2024-04-01 to 2024-06-30', 'from 2024-01-01', 'to 2024-06-30'."""
        if self.valid_from and self.valid_to:
            return f"{self.valid_from} to {self.valid_to}"
        if self.valid_from:
            return f"from {self.valid_from}"
        if self.valid_to:
            return f"to {self.valid_to}"
        return "every date"

    def gaps(self, start: str, end: str | None) -> list[tuple[str, str | None]]:
        """The parts of the window ``start`` .. ``end`` (None: open) the table does not
        cover, oldest first; ``(day, None)`` is open-ended."""
        out: list[tuple[str, str | None]] = []
        if self.valid_from is not None and start < self.valid_from:
            before = _day_before(self.valid_from)
            out.append((start, before if end is None or end > before else end))
        if self.valid_to is not None and (end is None or end > self.valid_to):
            after = _day_after(self.valid_to)
            out.append((max(after, start), end))
        return [(a, b) for a, b in out if b is None or a <= b]


def _day_before(d: str) -> str:
    return (date.fromisoformat(d) - timedelta(days=1)).isoformat()


def _day_after(d: str) -> str:
    return (date.fromisoformat(d) + timedelta(days=1)).isoformat()


def read_provenance(table_file: Path) -> dict[str, Any] | None:
    """The provenance file beside ``table_file`` as a mapping, or None when there is none;
    TableError (its file) when it is not a small JSON object with valid dates."""
    p = Path(str(table_file) + PROVENANCE_SUFFIX)
    if not p.is_file():
        return None
    name = str(p)
    try:
        if p.stat().st_size > MAX_PROVENANCE_BYTES:
            raise TableError(name, None, f"larger than {MAX_PROVENANCE_BYTES:,} bytes: not a provenance file")
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise TableError(name, None, f"cannot read file: {exc.__class__.__name__}") from None
    except ValueError as exc:
        line = getattr(exc, "lineno", None)
        raise TableError(name, line, f"not valid JSON: {getattr(exc, 'msg', 'malformed')}") from None
    if not isinstance(data, dict):
        raise TableError(name, 1, "a provenance file is a JSON object")
    for key in ("valid_from", "valid_to"):
        value = data.get(key)
        if value is not None and not (isinstance(value, str) and is_iso_date(value)):
            raise TableError(name, None, f"{key}: expected a date YYYY-MM-DD or null")
    if data.get("valid_from") and data.get("valid_to") and data["valid_to"] < data["valid_from"]:
        raise TableError(name, None, "valid_to is before valid_from")
    return data


def is_iso_date(text: str) -> bool:
    if not ISO_DATE.match(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def validity_of(kind: str, display: str, spec: Any, files: list[Path]) -> Validity:
    """The dates of one table: the policy entry ``spec`` (its ``valid_from``/``valid_to``)
    over the provenance files of ``files``."""
    version = spec.get("version") or ", ".join(f.name for f in files)
    p_from: str | None = None
    p_to: str | None = None
    for f in files:
        prov = read_provenance(f)
        if not prov:
            continue
        if prov.get("valid_from") and (p_from is None or prov["valid_from"] > p_from):
            p_from = prov["valid_from"]
        if prov.get("valid_to") and (p_to is None or prov["valid_to"] < p_to):
            p_to = prov["valid_to"]
    v_from, f_src = (spec["valid_from"], "policy") if "valid_from" in spec else (p_from, "provenance" if p_from else "")
    v_to, t_src = (spec["valid_to"], "policy") if "valid_to" in spec else (p_to, "provenance" if p_to else "")
    if v_from is None:
        f_src = ""
    if v_to is None:
        t_src = ""
    what = display if display.endswith("table") else f"{display} table"
    return Validity(kind, f"{what} '{version}'", v_from, v_to, f_src, t_src, str(spec.get("uncovered") or ""))




def out_of_range_message(v: Validity, lines: list[tuple[int, str]]) -> str:
    """The warning for claim lines (line number, date of service) outside a table's dates:
    which lines, which table, its dates, and that they were not judged by it."""
    nums = ", ".join(str(n) for n, _ in lines)
    dates = ", ".join(sorted({d for _, d in lines}))
    what = "line" if len(lines) == 1 else "lines"
    msg = (f"{what} {nums} ({dates}): the {v.table} is valid {v.dates()}, so {'it was' if len(lines) == 1 else 'they were'} "
           f"not checked against it")
    return msg + (f"; {v.uncovered}" if v.uncovered else "; the policy needs the table in force on that date")


__all__ = ["Validity", "read_provenance", "validity_of", "out_of_range_message", "PROVENANCE_SUFFIX"]
