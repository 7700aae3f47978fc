"""CMS reference tables: NCCI procedure-to-procedure (PTP) edits, MUEs, fee-schedule status.

The PTP table is large (2.5 million rows per quarter), so it is read once into a compact
columnar index: codes become small integers, each column is an ``array`` sorted by
(column 1, column 2, effective date), and a column-1 code's rows are a contiguous slice.
The index is cached on disk, keyed by the SHA-256 of the source files' content, so a
later load is a few ``array.frombytes`` calls. Pair lookups materialise a small dict per
column-1 code on first use; therapy claims touch a few dozen codes, so those dicts stay
small and the per-claim lookup is two dict gets.

Readers accept the layouts users meet: the CMS practitioner TXT (a preamble, then tab
separated Column1, Column2, prior-to-1996 flag, effective date, deletion date, modifier
indicator, rationale), the CSV of ``../shared/data`` (no effective date), and the CSV that
``payer-rules tables import`` writes (with effective date). A malformed row is refused
with its file and line.

Deletion dates are read as the last day an edit is in force (CMS deletes edits at quarter
ends; most deletion dates are 1231, 0331, 0630 or 0930). A row without an effective date
(the shared CSV layout) is taken to be in force from the start.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import re
import threading
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .yaml_source import SourceError

CODE_RE = re.compile(r"^[A-Z0-9]{4,5}$")
DATE_RE = re.compile(r"^[0-9]{8}$")
NO_DELETION = 99991231
CACHE_ENV = "PAYER_RULES_CACHE"
CACHE_FORMAT = 1
CACHE_MAGIC = b"payer-rules ptp index\n"
MODIFIER_INDICATORS = {"0": 0, "1": 1, "9": 9}


class TableError(SourceError):
    """A table file that cannot be used, with file and line."""


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
    return f"{d // 10000:04d}-{d // 100 % 100:02d}-{d % 100:02d}"


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace", newline="")
    return open(path, encoding="utf-8", errors="replace", newline="")


def file_digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        h.update(b"\0")
    return h.hexdigest()


def cache_dir() -> Path | None:
    """Where table indexes are cached: $PAYER_RULES_CACHE, else the user's cache folder."""
    env = os.environ.get(CACHE_ENV)
    if env is not None:
        return Path(env) if env else None  # empty: caching off
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "payer-rules"


# -- PTP --------------------------------------------------------------------------------

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


def _date_field(value: str, path: str, line: int, what: str, star: int | None) -> int:
    value = value.strip()
    if value == "*" and star is not None:
        return star
    if not DATE_RE.match(value):
        raise TableError(path, line, f"{what}: expected a date YYYYMMDD{' or *' if star is not None else ''}")
    return int(value)


def iter_ptp_rows(path: Path) -> Iterator[tuple[int, str, str, int, int, int, str]]:
    """Rows of one PTP file in any supported layout: (line, col1, col2, eff, del, mod, rationale)."""
    name = str(path)
    with _open_text(path) as fh:
        first = fh.readline()
        lineno = 1
        if first.lower().startswith("column1,column2"):
            header = [h.strip().lower() for h in first.strip().split(",")]
            has_eff = "effective_date" in header
            want = 6 if has_eff else 5
            reader = csv.reader(fh)
            for row in reader:
                lineno += 1
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                if len(row) != want:
                    raise TableError(name, lineno, f"expected {want} columns ({', '.join(header)}), found {len(row)}")
                c1, c2 = row[0].strip().upper(), row[1].strip().upper()
                if not CODE_RE.match(c1) or not CODE_RE.match(c2):
                    raise TableError(name, lineno, "column1/column2: expected CPT/HCPCS codes")
                if has_eff:
                    eff = _date_field(row[2], name, lineno, "effective_date", None)
                    dele = _date_field(row[3], name, lineno, "deletion_date", NO_DELETION)
                    mod, rat = row[4].strip(), row[5].strip()
                else:
                    eff = 0
                    dele = _date_field(row[2], name, lineno, "deletion_date", NO_DELETION)
                    mod, rat = row[3].strip(), row[4].strip()
                if mod not in MODIFIER_INDICATORS:
                    raise TableError(name, lineno, "modifier_indicator: expected 0, 1 or 9")
                yield lineno, c1, c2, eff, dele, MODIFIER_INDICATORS[mod], rat
            return
        # CMS TXT: a preamble of text lines, then tab-separated rows
        line = first
        in_data = False
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
                eff = _date_field(fields[3], name, lineno, "effective date", None)
                dele = _date_field(fields[4], name, lineno, "deletion date", NO_DELETION)
                mod = fields[5].strip()
                if mod not in MODIFIER_INDICATORS:
                    raise TableError(name, lineno, "modifier indicator: expected 0, 1 or 9")
                yield lineno, c1, c2, eff, dele, MODIFIER_INDICATORS[mod], fields[6].strip()
            line = fh.readline()
            lineno += 1
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
    def build(cls, rows: Iterator[tuple[int, str, str, int, int, int, str]], source: str = "") -> "PtpTable":
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
    return f"ptp-{file_digest(paths)[:32]}.idx"


def load_ptp(paths: list[Path], use_cache: bool = True) -> PtpTable:
    """Read PTP files into one index, through the on-disk cache when it is usable."""
    for p in paths:
        if not p.is_file():
            raise TableError(str(p), None, "table file not found")
    cdir = cache_dir() if use_cache else None
    cfile = cdir / ptp_cache_name(paths) if cdir else None
    if cfile is not None and cfile.is_file():
        try:
            return PtpTable.load(cfile)
        except (OSError, ValueError, EOFError, KeyError):
            pass  # unreadable cache: rebuild it
    source = ", ".join(p.name for p in paths)
    table = PtpTable.build((row for p in paths for row in iter_ptp_rows(p)), source=source)
    if cfile is not None:
        try:
            cfile.parent.mkdir(parents=True, exist_ok=True)
            table.save(cfile)
        except OSError:
            pass  # a read-only home still works, just without the cache
    return table


# -- MUE ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Mue:
    code: str
    value: int
    mai: int  # 1 per line, 2 per date (policy), 3 per date (clinical)
    rationale: str


def read_mue(path: Path) -> dict[str, Mue]:
    """MUE rows from the CMS CSV (a multi-line header; the indicator cell is text such as
    '3 Date of Service Edit: Clinical') or the simple CSV with a one-line header."""
    name = str(path)
    out: dict[str, Mue] = {}
    if not path.is_file():
        raise TableError(name, None, "table file not found")
    with _open_text(path) as fh:
        reader = csv.reader(fh)
        in_data = False
        for lineno, row in enumerate(reader, start=1):
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
            if not value.isdigit():
                raise TableError(name, lineno, "MUE value: expected a whole number")
            mai_text = row[2].strip()
            if not mai_text[:1] in ("1", "2", "3"):
                raise TableError(name, lineno, "MUE adjudication indicator: expected text starting 1, 2 or 3")
            out[code] = Mue(code, int(value), int(mai_text[0]), row[3].strip() if len(row) > 3 else "")
    if not out:
        raise TableError(name, None, "no MUE rows found")
    return out


# -- Physician fee schedule status ---------------------------------------------------------

@dataclass(frozen=True, slots=True)
class FeeStatus:
    code: str
    status: str
    mult_proc: str


def read_pfs(path: Path) -> dict[str, FeeStatus]:
    """Status and multiple-procedure indicator per code (rows without a modifier)."""
    name = str(path)
    if not path.is_file():
        raise TableError(name, None, "table file not found")
    out: dict[str, FeeStatus] = {}
    with _open_text(path) as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if not header or [h.strip().lower() for h in header[:4]] != ["hcpcs", "modifier", "status", "mult_proc"]:
            raise TableError(name, 1, "expected the header hcpcs,modifier,status,mult_proc")
        for lineno, row in enumerate(reader, start=2):
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


# -- tables named by a policy -----------------------------------------------------------

_CACHE: dict[tuple, object] = {}
_CACHE_LOCK = threading.Lock()


def _key(kind: str, paths: list[Path]) -> tuple:
    out = [kind]
    for p in paths:
        st = p.stat()
        out.append((str(p.resolve()), st.st_mtime_ns, st.st_size))
    return tuple(out)


def shared(kind: str, paths: list[Path]):
    """A table loaded once per process for every policy that names the same files."""
    for p in paths:
        if not p.is_file():
            raise TableError(str(p), None, "table file not found")
    key = _key(kind, paths)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is None:
            if kind == "ptp":
                hit = load_ptp(paths)
            elif kind == "mue":
                hit = read_mue(paths[0])
            elif kind == "pfs":
                hit = read_pfs(paths[0])
            else:
                raise ValueError(kind)
            _CACHE[key] = hit
        return hit


def table_paths(policy, kind: str) -> tuple[list[Path], str] | None:
    """The files and version a policy names under ``tables.<kind>``, resolved against its folder."""
    spec = policy.settings.get("tables", {}).get(kind)
    if not spec:
        return None
    base = Path(policy.path).parent
    files = spec.get("files") or [spec["file"]]
    return [(base / f) for f in files], spec.get("version", "")


def policy_table(policy, kind: str):
    """(table, version) for ``tables.<kind>`` of a policy, or (None, None) if it names none."""
    found = table_paths(policy, kind)
    if found is None:
        return None, None
    paths, version = found
    try:
        return shared(kind, paths), version
    except TableError as exc:
        raise TableError(exc.path, exc.line, f"tables.{kind} of policy {policy.payer}: {exc.message}") from None


def required_table(policy, kind: str, section: str):
    """(table, version) of ``tables.<kind>`` for a plugin whose ``section`` needs it."""
    table, version = policy_table(policy, kind)
    if table is None:
        raise ValueError(f"{section}: needs tables.{kind} (the {TABLE_NAMES[kind]} file)")
    return table, version


TABLE_NAMES = {"ptp": "NCCI PTP table", "mue": "MUE table", "pfs": "fee-schedule indicator"}
