"""What every table reader shares: the error type, code and date forms, and bounded reading.

A table file may come from someone else (a policy folder is often shipped by a payer or a
vendor), so reading one is bounded: each record (a line, or the lines of a quoted CSV
cell together) is at most ``max_row_length`` characters, a table has at most ``max_rows``
rows, and the text must be UTF-8. Each problem is a :class:`TableError` naming the file
and line (a bad byte at its own line), and one that exceeds a bound names the bound and
the setting that changes it.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

from ..yaml_source import SourceError, env_limit

CODE_RE = re.compile(r"^[A-Z0-9]{4,5}$")
DATE_RE = re.compile(r"^[0-9]{8}$")
NO_DELETION = 99991231
BLOCK = 1 << 20  # bytes read at a time

#: Default bounds. Real CMS rows are under 300 bytes and the largest table (NCCI PTP, all
#: four practitioner files of a quarter) has about 2.5 million rows.
MAX_ROW_LENGTH = 65_536
MAX_ROWS = 10_000_000
ROW_ENV = "PAYER_RULES_MAX_TABLE_ROW"
ROWS_ENV = "PAYER_RULES_MAX_TABLE_ROWS"


class TableError(SourceError):
    """A table file that cannot be used, with file and line."""


@dataclass(frozen=True, slots=True)
class TableLimits:
    """Bounds on reading one table. ``from_env()`` gives the defaults, changed by
    $PAYER_RULES_MAX_TABLE_ROW and $PAYER_RULES_MAX_TABLE_ROWS."""

    max_row_length: int = MAX_ROW_LENGTH
    max_rows: int = MAX_ROWS

    @classmethod
    def from_env(cls) -> "TableLimits":
        return cls(env_limit(ROW_ENV, MAX_ROW_LENGTH, TableError), env_limit(ROWS_ENV, MAX_ROWS, TableError))

    def too_many_rows(self, path: str, line: int | None) -> TableError:
        return TableError(path, line, f"more than {self.max_rows:,} rows in one table (the limit max_rows; "
                                      f"set ${ROWS_ENV} to change it)")


_DOS: dict[str, int] = {}


def dos_int(date_text: str) -> int:
    """'2024-03-04' -> 20240304, the form table dates are kept in (memoised: claims share dates)."""
    hit = _DOS.get(date_text)
    if hit is None:
        hit = int(date_text[0:4]) * 10000 + int(date_text[5:7]) * 100 + int(date_text[8:10])
        if len(_DOS) < 100_000:
            _DOS[date_text] = hit
    return hit


def int_date(d: int) -> str:
    """20240304 -> '2024-03-04'."""
    return f"{d // 10000:04d}-{d // 100 % 100:02d}-{d % 100:02d}"


def date_field(value: str, path: str, line: int, what: str, star: int | None) -> int:
    """A YYYYMMDD cell as an int; ``*`` means ``star`` where the layout allows it."""
    value = value.strip()
    if value == "*" and star is not None:
        return star
    if not DATE_RE.match(value):
        raise TableError(path, line, f"{what}: expected a date YYYYMMDD{' or *' if star is not None else ''}")
    return int(value)


def _open_binary(path: Path) -> BinaryIO:
    if path.suffix == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


class TextLines:
    """The lines of a table file (gzip when the name ends in .gz), decoded as UTF-8 a block
    at a time, each record at most ``limits.max_row_length`` characters (CSV
    consumers call ``record_done()`` after each record); ``lineno`` is the line last
    read. Iterate it (also as a ``csv.reader`` source) inside a ``with`` block."""

    def __init__(self, path: Path, limits: TableLimits | None = None):
        self.path = path
        self.name = str(path)
        self.limits = limits or TableLimits.from_env()
        self.lineno = 0
        #: characters read since the last ``record_done()``: a CSV record may span lines
        self.pending = 0
        self._fh: BinaryIO | None = None
        self._lines: Iterator[str] | None = None

    def __enter__(self) -> "TextLines":
        try:
            self._fh = _open_binary(self.path)
        except OSError as exc:
            raise TableError(self.name, None, f"cannot read file: {exc.__class__.__name__}") from None
        self._lines = self._read(self._fh)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fh is not None:
            self._fh.close()

    def record_done(self) -> None:
        self.pending = 0

    def __iter__(self) -> Iterator[str]:
        """The one iterator over the file's lines (iterating again goes on where it stopped)."""
        if self._lines is None:
            raise RuntimeError("use TextLines in a with block")
        return self._lines

    def _read(self, fh: BinaryIO) -> Iterator[str]:
        # Blocks are read and split into lines in C: a readline call per line doubled the
        # time of a cold PTP build. Lines end at \n, \r\n or \r, as csv expects.
        limit = self.limits.max_row_length
        carry = b""
        first = True
        while True:
            try:
                block = fh.read(BLOCK)
            except (OSError, EOFError, zlib.error) as exc:
                raise TableError(self.name, self.lineno + 1, f"cannot read file: {exc.__class__.__name__} "
                                 "(a damaged or truncated gzip file?)") from None
            if first:
                first = False
                if block.startswith(b"\xef\xbb\xbf"):
                    block = block[3:]  # a byte-order mark, as spreadsheet programs write
            if not block:  # the end: the last line may lack its newline
                if carry:
                    yield from self._lines_of(carry)
                return
            data = carry + block if carry else block
            cut = data.rfind(b"\n") + 1 or data.rfind(b"\r", 0, len(data) - 1) + 1
            if cut == 0:  # no line ends yet
                if len(data) > 4 * limit:  # at most 4 bytes a character in UTF-8
                    raise self._too_long(self.lineno + 1)
                carry = data
                continue
            carry = data[cut:]
            yield from self._lines_of(data[:cut])

    def _lines_of(self, chunk: bytes) -> Iterator[str]:
        try:
            text = chunk.decode("utf-8")
            bad = None
        except UnicodeDecodeError as exc:
            bad = exc.start
            line_start = chunk.rfind(b"\n", 0, bad) + 1
            text = chunk[:line_start].decode("utf-8")  # the good lines before it come first
        limit = self.limits.max_row_length
        lineno = self.lineno
        for line in io.StringIO(text, newline=""):
            lineno += 1
            self.lineno = lineno
            self.pending += len(line)
            if self.pending > limit:
                raise self._too_long(lineno)
            yield line
        if bad is not None:
            self.lineno += 1
            raise TableError(self.name, self.lineno, f"not UTF-8 text (byte {chunk[bad]:#04x} at byte "
                             f"{bad - line_start + 1} of the line); convert the file to UTF-8")

    def _too_long(self, line: int) -> TableError:
        return TableError(self.name, line, f"a row longer than {self.limits.max_row_length:,} characters (the "
                          f"limit max_row_length; set ${ROW_ENV} to change it)")


def csv_rows(lines: TextLines) -> Iterator[tuple[int, list[str]]]:
    """(line where the record starts, cells) for each CSV record of ``lines``."""
    reader = csv.reader(lines)
    start = lines.lineno + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            why = str(exc)
            if "field limit" in why:
                why = f"a field longer than {csv.field_size_limit():,} characters (Python's csv limit)"
            raise TableError(lines.name, start, f"not valid CSV: {why}") from None
        lines.record_done()
        yield start, row
        start = lines.lineno + 1
