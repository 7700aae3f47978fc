"""The ``csv`` writer: a worklist a biller can sort and filter, one row per edit.

Every claim appears: a claim without edits gets one row whose edit columns are empty.
Rows follow the input order, and a claim's edits their order in the result, so the same
results always give the same bytes. RFC 4180: a header row, fields quoted only when they
hold a comma, a quote or a line break, quotes doubled, CRLF line ends, UTF-8.

Claim data is untrusted and spreadsheets run formulas: a cell that starts with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return is written with a ``'`` in front, so
Excel, LibreOffice and Google Sheets show it as text (``=HYPERLINK(...)`` in a claim id
arrives as ``'=HYPERLINK(...)``). Amounts this writer computes are never negative, so no
number is changed by it.
"""

from __future__ import annotations

import csv
import io
from typing import Any, BinaryIO, Iterable, Iterator, Mapping

from ..models import Edit, Result
from . import fix_text

COLUMNS = ("record", "claim_id", "payer", "status", "line", "code", "edit", "category", "severity",
           "denial_code", "remark_code", "message", "fix", "charge_at_risk")
#: what a spreadsheet would read as the start of a formula
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> str:
    """``value`` as a cell a spreadsheet shows as text (see the module docstring)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def amount(value: float | int | None) -> str:
    """A charge as the report and the CSV write it: two decimals, no thousands separator."""
    return "" if value is None else f"{value:.2f}"


def line_charges(result: Result) -> dict[int, float | int]:
    """The known charges of a result's lines, by line number."""
    return {ln.line: ln.charge for ln in result.lines if ln.charge is not None}


def edit_at_risk(result: Result, edit: Edit, charges: Mapping[int, float | int]) -> float | None:
    """The charge an error edit puts at risk: the charges of the lines it names, or the
    claim's whole charge (its total, else the sum of its line charges) when it names none.
    None for warnings and info, and when no charge is known."""
    if edit.severity != "error":
        return None
    if edit.lines:
        known = [charges[n] for n in edit.lines if n in charges]
        return round(sum(known), 2) if known else None
    if result.charge is not None:
        return result.charge
    return round(sum(charges.values()), 2) if charges else None


def denial(edit: Edit) -> str:
    """The adjustment group and reason code as a remittance shows them (``CO-151``)."""
    return "-".join(x for x in (edit.group, edit.carc) if x)


def rows(result: Result) -> Iterator[list[str]]:
    """The CSV rows of one result (cells already made safe)."""
    codes = {ln.line: ln.code for ln in result.lines}
    head = [str(result.index) if result.index is not None else "", safe_cell(result.claim_id),
            safe_cell(result.payer), result.status]
    if not result.edits:
        yield head + [""] * (len(COLUMNS) - len(head))
        return
    charges = line_charges(result)
    for e in result.edits:
        yield head + [
            " ".join(str(n) for n in e.lines),
            safe_cell(" ".join(codes[n] for n in e.lines if n in codes)),
            safe_cell(e.rule), e.category, e.severity, safe_cell(denial(e)), safe_cell(e.rarc or ""),
            safe_cell(e.message), safe_cell(fix_text(e.fix)), amount(edit_at_risk(result, e, charges)),
        ]


class CsvWriter:
    """Writes :func:`rows` for each result. Option ``header`` (default True): write the
    header row first; ``batch`` opens one writer per chunk with ``header=False`` and writes
    the header once itself."""

    def __init__(self, stream: BinaryIO, options: Mapping[str, Any]):
        self.stream = stream
        self.buf = io.StringIO()
        self.csv = csv.writer(self.buf, lineterminator="\r\n")
        if options.get("header", True):
            self._emit([list(COLUMNS)])

    def _emit(self, data: Iterable[list[str]]) -> None:
        self.csv.writerows(data)
        self.stream.write(self.buf.getvalue().encode("utf-8"))
        self.buf.seek(0)
        self.buf.truncate()

    def write(self, result: Result, extra: Mapping[str, Any] | None = None) -> None:
        self._emit(rows(result))

    def close(self) -> None:
        self.stream.flush()
