"""Medically Unlikely Edits (MUE): the most units of a code a provider would report for one
patient on one line (MAI 1) or one date (MAI 2 policy, MAI 3 clinical).

Reads the CMS CSV (several header lines; the indicator cell is text such as
``3 Date of Service Edit: Clinical``) and the simple CSV ``payer-rules tables import``
writes (one header line). A malformed row is refused with its file and line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .source import CODE_RE, TableError, TableLimits, TextLines, csv_rows


@dataclass(frozen=True, slots=True)
class Mue:
    code: str
    value: int
    mai: int  # 1 per line, 2 per date (policy), 3 per date (clinical)
    rationale: str


def read_mue(path: Path, limits: TableLimits | None = None) -> dict[str, Mue]:
    """The MUE of each code in one file (a later row of a code replaces an earlier one)."""
    name = str(path)
    out: dict[str, Mue] = {}
    if not path.is_file():
        raise TableError(name, None, "table file not found")
    with TextLines(path, limits) as lines:
        in_data = False
        for n, (lineno, row) in enumerate(csv_rows(lines), start=1):
            if n > lines.limits.max_rows:
                raise lines.limits.too_many_rows(name, lineno)
            if not row or not any(c.strip() for c in row):
                continue
            code = row[0].strip().upper()
            if not in_data:
                # header lines (the CMS file has several): skip until a row starts with a code
                if CODE_RE.match(code) and len(row) >= 3 and row[1].strip().isdigit():
                    in_data = True
                elif lineno > 20:
                    raise TableError(name, lineno, "not an MUE file: no rows of code, value, indicator")
                else:
                    continue
            if len(row) < 3:
                raise TableError(name, lineno, f"expected at least 3 columns (code, MUE value, MAI), found {len(row)}")
            if not CODE_RE.match(code):
                raise TableError(name, lineno, "HCPCS/CPT code: expected a code")
            value = row[1].strip()
            if not (value.isascii() and value.isdigit()):
                raise TableError(name, lineno, "MUE value: expected a whole number")
            mai_text = row[2].strip()
            if mai_text[:1] not in ("1", "2", "3"):
                raise TableError(name, lineno, "MUE adjudication indicator: expected text starting 1, 2 or 3")
            out[code] = Mue(code, int(value), int(mai_text[0]), row[3].strip() if len(row) > 3 else "")
    if not out:
        raise TableError(name, None, "no MUE rows found")
    return out


def load_mue(paths: list[Path]) -> dict[str, Mue]:
    """The MUE table a policy names (one file)."""
    return read_mue(paths[0])


HEADER = ["hcpcs", "mue_value", "mue_adjudication_indicator", "mue_rationale"]


def import_rows(sources: list[Path], keep) -> Iterator[list[object]]:
    """Rows of the normalised CSV (``HEADER``) for ``payer-rules tables import mue``: the
    sources merged (a later file's code replaces an earlier one's), by code."""
    merged: dict[str, Mue] = {}
    for src in sources:
        merged.update(read_mue(src))
    for code in sorted(merged):
        if keep(code):
            m = merged[code]
            yield [m.code, m.value, m.mai, m.rationale]


__all__ = ["Mue", "read_mue", "load_mue", "import_rows", "HEADER"]
