"""NCCI procedure-to-procedure (PTP) edits: readers of the layouts users meet and a compact index.

The PTP table is large (2.5 million rows per quarter), so it is read once into a compact
columnar index: codes become small integers, each column is an ``array`` sorted by
(column 1, column 2, effective date), and a column-1 code's rows are a contiguous slice.
The index is cached on disk (:mod:`.cache`), so a later load is a few ``array.frombytes``
calls. Pair lookups materialise a small dict per column-1 code on first use; therapy
claims touch a few dozen codes, so those dicts stay small and the per-claim lookup is two
dict gets.

Readers accept the CMS practitioner TXT (a preamble, then tab separated Column1, Column2,
prior-to-1996 flag, effective date, deletion date, modifier indicator, rationale), the CSV
of a republished CMS table without effective dates, and the CSV that ``payer-rules tables import``
writes (with effective date). A malformed row is refused with its file and line.

Deletion dates are read as the last day an edit is in force (CMS deletes edits at quarter
ends; most deletion dates are 1231, 0331, 0630 or 0930). A row without an effective date
(the shared CSV layout) is taken to be in force from the start.
"""

from __future__ import annotations

import json
import os
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .cache import cache_name, cached_index
from .source import (CODE_RE, NO_DELETION, TableError, TableLimits, TextLines, csv_rows, date_field)

CACHE_FORMAT = 1
CACHE_MAGIC = b"payer-rules ptp index\n"
CACHE_PREFIX = "ptp"
MODIFIER_INDICATORS = {"0": 0, "1": 1, "9": 9}

#: One row as the readers yield it: (line, column 1, column 2, effective, deletion,
#: modifier indicator, rationale); dates as YYYYMMDD ints.
RawRow = tuple[int, str, str, int, int, int, str]


@dataclass(frozen=True, slots=True)
class PtpRow:
    column1: str
    column2: str
    effective: int
    deletion: int
    modifier_indicator: int
    rationale: str

    def covers(self, dos: int) -> bool:
        return self.effective <= dos <= self.deletion


def iter_ptp_rows(path: Path, limits: TableLimits | None = None) -> Iterator[RawRow]:
    """Rows of one PTP file in any supported layout (see the module's docstring)."""
    with TextLines(path, limits) as lines:
        it = iter(lines)
        first = next(it, "")
        lines.record_done()
        if first.lower().startswith("column1,column2"):
            yield from _csv_layout(lines, first)
        else:
            yield from _cms_txt_layout(lines, it, first)


def _csv_layout(lines: TextLines, first: str) -> Iterator[RawRow]:
    name = lines.name
    header = [h.strip().lower() for h in first.strip().split(",")]
    has_eff = "effective_date" in header
    want = 6 if has_eff else 5
    for lineno, row in csv_rows(lines):
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) != want:
            raise TableError(name, lineno, f"expected {want} columns ({', '.join(header)}), found {len(row)}")
        c1, c2 = row[0].strip().upper(), row[1].strip().upper()
        if not CODE_RE.match(c1) or not CODE_RE.match(c2):
            raise TableError(name, lineno, "column1/column2: expected CPT/HCPCS codes")
        if has_eff:
            eff = date_field(row[2], name, lineno, "effective_date", None)
            dele = date_field(row[3], name, lineno, "deletion_date", NO_DELETION)
            mod, rat = row[4].strip(), row[5].strip()
        else:
            eff = 0
            dele = date_field(row[2], name, lineno, "deletion_date", NO_DELETION)
            mod, rat = row[3].strip(), row[4].strip()
        if mod not in MODIFIER_INDICATORS:
            raise TableError(name, lineno, "modifier_indicator: expected 0, 1 or 9")
        yield lineno, c1, c2, eff, dele, MODIFIER_INDICATORS[mod], rat


def _cms_txt_layout(lines: TextLines, it: Iterator[str], first: str) -> Iterator[RawRow]:
    """The CMS TXT: a preamble of text lines, then tab-separated rows."""
    name = lines.name
    in_data = False
    line, lineno = first, 1
    while line:
        fields = line.rstrip("\r\n").split("\t")
        looks_like_data = len(fields) >= 2 and CODE_RE.match(fields[0].strip().upper() or "-") is not None
        if not in_data:
            if looks_like_data:
                in_data = True
            elif lineno > 12:
                raise TableError(name, lineno, "not a PTP file: no data rows after the preamble "
                                 "(expected CMS TXT, or CSV starting column1,column2)")
        if in_data and line.strip():
            if len(fields) < 7:
                raise TableError(name, lineno, f"expected 7 tab-separated columns, found {len(fields)} "
                                 "(truncated row?)")
            c1, c2 = fields[0].strip().upper(), fields[1].strip().upper()
            if not CODE_RE.match(c1) or not CODE_RE.match(c2):
                raise TableError(name, lineno, "column 1/column 2: expected CPT/HCPCS codes")
            eff = date_field(fields[3], name, lineno, "effective date", None)
            dele = date_field(fields[4], name, lineno, "deletion date", NO_DELETION)
            mod = fields[5].strip()
            if mod not in MODIFIER_INDICATORS:
                raise TableError(name, lineno, "modifier indicator: expected 0, 1 or 9")
            yield lineno, c1, c2, eff, dele, MODIFIER_INDICATORS[mod], fields[6].strip()
        line = next(it, "")
        lines.record_done()
        lineno = lines.lineno
    if not in_data:
        raise TableError(name, None, "no PTP rows found")

class PtpTable:
    """NCCI PTP edits as a compact index. Immutable after construction; safe across threads."""

    def __init__(self, codes: list[str], rationales: list[str], starts: array, col2: array,
                 eff: array, dele: array, mod: array, rat: array, source: str = ""):
        self.codes = codes
        self.code_id = {c: i for i, c in enumerate(codes)}
        self.rationales = rationales
        self.starts, self.col2, self.eff, self.dele, self.mod, self.rat = starts, col2, eff, dele, mod, rat
        self.source = source
        #: per column-1 code id (filled on first use): column-2 code id -> that pair's
        #: rows as (effective, deletion, position), latest first
        self._hot: dict[int, dict[int, tuple[tuple[int, int, int], ...]]] = {}
        self._made: dict[int, PtpRow] = {}  # rows already made, by position (rows are frozen)

    def __len__(self) -> int:
        return len(self.col2)

    @classmethod
    def build(cls, rows: Iterator[RawRow], source: str = "") -> "PtpTable":
        code_id: dict[str, int] = {}
        rat_id: dict[str, int] = {}
        c1s, c2s = array("I"), array("I")
        eff, dele, mod, rat = array("I"), array("I"), array("B"), array("B")
        for _, c1, c2, e, d, m, r in rows:
            c1s.append(code_id.setdefault(c1, len(code_id)))
            c2s.append(code_id.setdefault(c2, len(code_id)))
            eff.append(e)
            dele.append(d)
            mod.append(m)
            rat.append(rat_id.setdefault(r, len(rat_id)) if len(rat_id) < 255 or r in rat_id else 255)
        n_codes = len(code_id)
        # order rows by (column 1, column 2, effective date)
        order = sorted(range(len(c1s)), key=lambda i: (c1s[i] * n_codes + c2s[i]) * 100000000 + eff[i])
        starts = array("I", [0] * (n_codes + 1))
        for i in order:
            starts[c1s[i] + 1] += 1
        for k in range(n_codes):
            starts[k + 1] += starts[k]
        typecode = "H" if n_codes < 65536 else "I"
        table = cls(
            codes=sorted(code_id, key=code_id.__getitem__),
            rationales=sorted(rat_id, key=rat_id.__getitem__),
            starts=starts,
            col2=array(typecode, (c2s[i] for i in order)),
            eff=array("I", (eff[i] for i in order)),
            dele=array("I", (dele[i] for i in order)),
            mod=array("B", (mod[i] for i in order)),
            rat=array("B", (rat[i] for i in order)),
            source=source,
        )
        return table

    def _rows_of(self, c1: int) -> dict[int, tuple[tuple[int, int, int], ...]]:
        hot = self._hot.get(c1)
        if hot is None:
            by_col2: dict[int, list[tuple[int, int, int]]] = {}
            eff, dele = self.eff, self.dele
            for k in range(self.starts[c1], self.starts[c1 + 1]):
                by_col2.setdefault(self.col2[k], []).append((eff[k], dele[k], k))
            hot = {j: tuple(reversed(ws)) for j, ws in by_col2.items()}
            self._hot[c1] = hot  # a race only builds the same dict twice
        return hot

    def lookup(self, column1: str, column2: str, dos: int) -> PtpRow | None:
        """The row for (column1, column2) whose window covers ``dos`` (YYYYMMDD int), or None."""
        i = self.code_id.get(column1)
        j = self.code_id.get(column2)
        if i is None or j is None:
            return None
        return self.lookup_ids(i, j, dos)

    def lookup_ids(self, i: int, j: int, dos: int) -> PtpRow | None:
        """:meth:`lookup` for codes already turned into ids (``code_id``)."""
        windows = self.column2_rows(i).get(j)
        return self.row_in_force(i, windows, dos) if windows else None

    def column2_rows(self, i: int) -> dict[int, tuple[tuple[int, int, int], ...]]:
        """For column-1 code id ``i``: each column-2 code id's rows as (effective, deletion,
        position), latest first (built on first use)."""
        hot = self._hot.get(i)
        return hot if hot is not None else self._rows_of(i)

    def row_in_force(self, i: int, windows: tuple[tuple[int, int, int], ...], dos: int) -> PtpRow | None:
        """Of one pair's rows (``column2_rows``), the one whose window covers ``dos`` (latest first)."""
        for eff, dele, k in windows:
            if eff <= dos <= dele:
                row = self._made.get(k)
                return row if row is not None else self._row(i, k)
        return None

    def rows_for(self, column1: str, column2: str) -> list[PtpRow]:
        i, j = self.code_id.get(column1), self.code_id.get(column2)
        if i is None or j is None:
            return []
        return [self._row(i, k) for _, _, k in reversed(self._rows_of(i).get(j, ()))]

    def _row(self, i: int, k: int) -> PtpRow:
        rat = self.rat[k]
        row = PtpRow(self.codes[i], self.codes[self.col2[k]], self.eff[k], self.dele[k], self.mod[k],
                     self.rationales[rat] if rat < len(self.rationales) else "")
        if len(self._made) < 100_000:
            self._made[k] = row  # the same row whoever stores it: safe across threads
        return row

    def iter_rows(self) -> Iterator[PtpRow]:
        for i in range(len(self.codes)):
            for k in range(self.starts[i], self.starts[i + 1]):
                yield self._row(i, k)

    # -- cache ------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        head = json.dumps({
            "format": CACHE_FORMAT, "codes": self.codes, "rationales": self.rationales,
            "col2_type": self.col2.typecode, "rows": len(self.col2), "n_starts": len(self.starts),
            "source": self.source,
        }).encode()
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        with open(tmp, "wb") as fh:
            fh.write(CACHE_MAGIC)
            fh.write(len(head).to_bytes(8, "little"))
            fh.write(head)
            for arr in (self.starts, self.col2, self.eff, self.dele, self.mod, self.rat):
                arr.tofile(fh)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> "PtpTable":
        total = path.stat().st_size
        with open(path, "rb") as fh:
            if fh.read(len(CACHE_MAGIC)) != CACHE_MAGIC:
                raise ValueError("not a payer-rules PTP cache")
            size = int.from_bytes(fh.read(8), "little")
            if size > total:
                raise ValueError("truncated cache")
            head = json.loads(fh.read(size))
            if head.get("format") != CACHE_FORMAT:
                raise ValueError("old cache format")
            n = head["rows"]
            arrays = []
            for typecode, count in (("I", head["n_starts"]), (head["col2_type"], n), ("I", n), ("I", n),
                                    ("B", n), ("B", n)):
                a = array(typecode)
                a.fromfile(fh, count)
                arrays.append(a)
        return cls(head["codes"], head["rationales"], *arrays, source=head.get("source", ""))


def ptp_cache_name(paths: list[Path]) -> str:
    """The cache file name of the PTP index of ``paths``: keyed by their content, so a copy
    of the files elsewhere (a policy bundle on a cluster node) finds the same index."""
    return cache_name(CACHE_PREFIX, paths)


def _bounded_rows(paths: list[Path], limits: TableLimits) -> Iterator[RawRow]:
    """Every file's rows in order, at most ``limits.max_rows`` in all."""
    n = 0
    for p in paths:
        for row in iter_ptp_rows(p, limits):
            n += 1
            if n > limits.max_rows:
                raise limits.too_many_rows(str(p), row[0])
            yield row


def load_ptp(paths: list[Path], use_cache: bool = True, limits: TableLimits | None = None) -> PtpTable:
    """Read PTP files into one index, through the on-disk cache when it is usable."""
    for p in paths:
        if not p.is_file():
            raise TableError(str(p), None, "table file not found")
    limits = limits or TableLimits.from_env()
    source = ", ".join(p.name for p in paths)
    return cached_index(CACHE_PREFIX, paths, lambda: PtpTable.build(_bounded_rows(paths, limits), source=source),
                        PtpTable.load, use_cache)


HEADER = ["column1", "column2", "effective_date", "deletion_date", "modifier_indicator", "rationale"]


def import_rows(sources: list[Path], keep) -> Iterator[list[object]]:
    """Rows of the normalised CSV (``HEADER``) for ``payer-rules tables import ptp``: every
    source's rows in order, where both codes match ``keep``."""
    for src in sources:
        for _, c1, c2, eff, dele, mod, rat in iter_ptp_rows(src):
            if keep(c1) and keep(c2):
                yield [c1, c2, f"{eff:08d}", "*" if dele == NO_DELETION else dele, mod, rat]


def warm_cache(path: Path) -> None:
    """Build and cache the index of an imported file, so its first policy load is fast."""
    load_ptp([path])
