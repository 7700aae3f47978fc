"""The minutes companion file: treatment minutes and time blocks for 837 service lines.

An 837P line carries units (``SV103`` ``UN``), not the minutes behind them, so every timed
check on an 837 would otherwise be "unverified". Practice-management systems can export
the minutes they hold; this file brings them along, one row per service line, keyed by the
patient control number (``CLM01``, the claim id) and the line number (``LX01``)::

    claim_id,line,minutes,start_time,end_time
    PT-1001,1,38,,
    PT-1001,2,,09:40,09:52

``minutes``, or ``start_time`` and ``end_time`` (HH:MM), or both; the claim model takes
minutes from the times when minutes are empty. The file is found next to the 837 by name
(``claims.837`` -> ``claims.837.minutes.csv``) or given to :func:`load` directly.

A problem in the file never drops a claim: the reader reports it as an error record of its
own (naming file, line and field, never the value) and reads the claims without minutes.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

SUFFIX = ".minutes.csv"
HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
COLUMNS = ("claim_id", "line", "minutes", "start_time", "end_time")


class MinutesFileError(ValueError):
    """A companion file that cannot be used; the message names file, line and field."""


@dataclass(frozen=True)
class Companion:
    """Rows by (claim id, line number): the fields to put on that line."""

    path: str
    rows: Mapping[tuple[str, int], Mapping[str, Any]]

    def apply(self, claim: dict[str, Any], used: set[tuple[str, int]]) -> None:
        """Put a claim's minutes and times on its lines (the 837's own minutes, SV103 MJ, stay)."""
        cid = claim.get("claim_id")
        for line in claim.get("lines", ()):
            key = (cid, line.get("line"))
            row = self.rows.get(key)
            if row is None:
                continue
            used.add(key)
            for field, value in row.items():
                line.setdefault(field, value)

    def unused(self, used: set[tuple[str, int]]) -> int:
        return sum(1 for k in self.rows if k not in used)


def companion_path(name: str) -> Path | None:
    """The companion file of an 837 named ``name``, if it exists."""
    if not name or name.startswith("<"):
        return None
    p = Path(name + SUFFIX)
    return p if p.is_file() else None


def load(path: str | Path) -> Companion:
    p = Path(path)
    try:
        fh = open(p, newline="", encoding="utf-8")
    except OSError as exc:
        raise MinutesFileError(f"{p}: cannot read ({exc.strerror or exc.__class__.__name__})") from None
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    with fh:
        try:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            missing = [c for c in ("claim_id", "line") if c not in header]
            if missing or not ({"minutes", "start_time"} & set(header)):
                raise MinutesFileError(f"{p}:1: the header must name claim_id, line and minutes "
                                       f"and/or start_time,end_time")
            unknown = [c for c in header if c not in COLUMNS]
            if unknown:
                raise MinutesFileError(f"{p}:1: unknown column(s) {', '.join(unknown)} (known: {', '.join(COLUMNS)})")
            for row in reader:
                at = reader.line_num
                cid = (row.get("claim_id") or "").strip()
                if not cid:
                    raise MinutesFileError(f"{p}:{at}: claim_id is empty")
                ln = (row.get("line") or "").strip()
                if not (ln.isascii() and ln.isdigit() and len(ln) <= 6):
                    raise MinutesFileError(f"{p}:{at}: line must be the 837's LX01 line number")
                out: dict[str, Any] = {}
                m = (row.get("minutes") or "").strip()
                if m:
                    if not (m.isascii() and m.isdigit() and int(m) <= 1440):
                        raise MinutesFileError(f"{p}:{at}: minutes must be a whole number from 0 to 1440")
                    out["minutes"] = int(m)
                start, end = (row.get("start_time") or "").strip(), (row.get("end_time") or "").strip()
                if start or end:
                    for field, value in (("start_time", start), ("end_time", end)):
                        if not HHMM.match(value):
                            raise MinutesFileError(f"{p}:{at}: {field} must be HH:MM (both times, or neither)")
                    out["start_time"], out["end_time"] = start, end
                if not out:
                    raise MinutesFileError(f"{p}:{at}: give minutes or start_time and end_time")
                key = (cid, int(ln))
                if key in rows:
                    raise MinutesFileError(f"{p}:{at}: a second row for the same claim and line")
                rows[key] = out
        except csv.Error:
            raise MinutesFileError(f"{p}:{reader.line_num}: not valid CSV") from None
        except UnicodeDecodeError:
            raise MinutesFileError(f"{p}: not UTF-8 text") from None
    return Companion(str(p), rows)
