"""Physician Fee Schedule indicators: each code's status (B bundled, I not valid for
Medicare, N non-covered, ...) and its multiple-procedure indicator (5 marks the "always
therapy" codes). Only rows without a modifier are kept: professional and technical
component rows do not apply to therapy lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .source import CODE_RE, TableError, TableLimits, TextLines, csv_rows

HEADER = ["hcpcs", "modifier", "status", "mult_proc"]


@dataclass(frozen=True, slots=True)
class FeeStatus:
    code: str
    status: str
    mult_proc: str


def read_pfs(path: Path, limits: TableLimits | None = None) -> dict[str, FeeStatus]:
    """Status and multiple-procedure indicator per code (rows without a modifier)."""
    name = str(path)
    if not path.is_file():
        raise TableError(name, None, "table file not found")
    out: dict[str, FeeStatus] = {}
    with TextLines(path, limits) as lines:
        rows = csv_rows(lines)
        _, header = next(rows, (1, None))
        if not header or [h.strip().lower() for h in header[:4]] != HEADER:
            raise TableError(name, 1, f"expected the header {','.join(HEADER)}")
        for n, (lineno, row) in enumerate(rows, start=1):
            if n > lines.limits.max_rows:
                raise lines.limits.too_many_rows(name, lineno)
            if not row:
                continue
            if len(row) < 4:
                raise TableError(name, lineno, f"expected 4 columns, found {len(row)}")
            code = row[0].strip().upper()
            if not CODE_RE.match(code):
                raise TableError(name, lineno, "hcpcs: expected a code")
            if row[1].strip():
                continue  # professional/technical component rows do not apply to therapy lines
            status = row[2].strip().upper()
            if len(status) != 1:
                raise TableError(name, lineno, "status: expected one letter")
            out[code] = FeeStatus(code, status, row[3].strip())
    return out


def load_pfs(paths: list[Path]) -> dict[str, FeeStatus]:
    """The fee-schedule indicator table a policy names (one file)."""
    return read_pfs(paths[0])


def import_rows(sources: list[Path], keep) -> Iterator[list[object]]:
    """Rows of the normalised CSV (``HEADER``) for ``payer-rules tables import pfs``."""
    merged: dict[str, FeeStatus] = {}
    for src in sources:
        merged.update(read_pfs(src))
    for code in sorted(merged):
        if keep(code):
            s = merged[code]
            yield [s.code, "", s.status, s.mult_proc]


__all__ = ["FeeStatus", "read_pfs", "load_pfs", "import_rows", "HEADER"]
