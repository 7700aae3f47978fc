"""Batch scrubbing: JSON lines in, JSON lines out, in order, in constant memory.

Records are read in chunks; each chunk is evaluated (in this process, or by one of N
worker processes) and written back in input order, so the output of N workers is byte
for byte the output of one. Memory is bounded by the chunks in flight (two per worker).

Every input record gets exactly one output line: a claim that cannot be read or
evaluated gets an error record in its place. That makes ``--resume`` simple and exact:
the number of complete lines already in the output is the number of records done. A
partial last line (the process was killed while writing it) is cut off, the first
records are skipped without being parsed, and writing continues, so the finished file
is identical to an uninterrupted run.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from operator import attrgetter
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator

import orjson

from .engine import Engine
from .readers import ReadError, is_x12, json_line, numbered_lines

CHUNK = 1000


@dataclass
class Summary:
    """What a batch did, for the closing report and ``--summary``."""

    claims: int = 0
    skipped: int = 0  # records already in the output when resuming
    lines: int = 0
    statuses: Counter = field(default_factory=Counter)
    edits_by_category: Counter = field(default_factory=Counter)
    edits_by_severity: Counter = field(default_factory=Counter)
    edits_by_rule: Counter = field(default_factory=Counter)
    by_payer: dict[str, Counter] = field(default_factory=dict)
    seconds: float = 0.0
    workers: int = 1

    def add(self, other: dict[str, Any]) -> None:
        self.claims += other["claims"]
        self.lines += other["lines"]
        self.statuses.update(other["statuses"])
        self.edits_by_category.update(other["categories"])
        self.edits_by_severity.update(other["severities"])
        self.edits_by_rule.update(other["rules"])
        for payer, counts in other["payers"].items():
            self.by_payer.setdefault(payer, Counter()).update(counts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "claims": self.claims,
            "skipped_as_done": self.skipped,
            "lines": self.lines,
            "status": dict(sorted(self.statuses.items())),
            "would_be_denied": self.statuses.get("fail", 0),
            "could_not_be_evaluated": self.statuses.get("error", 0),
            "edits_by_category": dict(sorted(self.edits_by_category.items())),
            "edits_by_severity": dict(sorted(self.edits_by_severity.items())),
            "edits_by_rule": dict(sorted(self.edits_by_rule.items())),
            "by_payer": {p: dict(sorted(c.items())) for p, c in sorted(self.by_payer.items())},
            "seconds": round(self.seconds, 3),
            "claims_per_second": round(self.claims / self.seconds) if self.seconds else None,
            "workers": self.workers,
        }

    def text(self) -> str:
        d = self.to_dict()
        out = [f"{d['claims']:,} claims ({d['lines']:,} lines) in {d['seconds']:.1f} s"
               + (f", {d['claims_per_second']:,}/s" if d["claims_per_second"] else "")
               + (f"; {d['skipped_as_done']:,} already done" if d["skipped_as_done"] else ""),
               "status: " + ", ".join(f"{k} {v:,}" for k, v in d["status"].items()),
               f"would be denied: {d['would_be_denied']:,}; could not be evaluated: {d['could_not_be_evaluated']:,}",
               "edits by category: " + (", ".join(f"{k} {v:,}" for k, v in d["edits_by_category"].items()) or "none"),
               "edits by severity: " + (", ".join(f"{k} {v:,}" for k, v in d["edits_by_severity"].items()) or "none")]
        for payer, counts in d["by_payer"].items():
            out.append(f"payer {payer}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
        return "\n".join(out)


# -- the work of one chunk (in a worker process or in this one) ------------------------------

_ENGINE: Engine | None = None
_PAYER: str | None = None
_EDIT_KEY = attrgetter("category", "severity", "rule")  # what the summary counts of each edit


def _init_worker(sources: list[str] | None, payer: str | None, evaluator: str) -> None:
    global _ENGINE, _PAYER
    if _ENGINE is None:  # with fork the parent's engine is already here
        _ENGINE = Engine(sources, rules_evaluator=evaluator)
    _PAYER = payer


def process_chunk(records: list[tuple[int, int, bytes]], name: str) -> tuple[bytes, dict[str, Any]]:
    """Evaluate ``(record number, file line, raw line)`` records; return output bytes and counts."""
    engine, payer = _ENGINE, _PAYER
    assert engine is not None
    # One growing buffer, not a list of lines: each result's bytes are copied and freed at
    # once, so the next claim reuses memory that is still in the CPU cache (holding a
    # chunk's results alive cost about 5 us a claim; docs/benchmarks.md).
    out = bytearray()
    lines = 0
    tally: list[tuple[str, str]] = []  # (payer, status) of each claim
    edit_keys: list[tuple[str, str, str]] = []  # (category, severity, rule) of each edit
    add_keys = edit_keys.extend
    for n, lineno, raw in records:
        # raw: a JSON line, or the ReadError an X12 file gave; evaluate turns errors into records
        result = engine.evaluate(raw if isinstance(raw, ReadError) else json_line(raw, name, lineno), payer)
        result.index = n
        out += result.to_json()
        out += b"\n"
        lines += len(result.lines)
        tally.append((result.payer or "(none)", result.status))
        add_keys(map(_EDIT_KEY, result.edits))  # map and attrgetter: a loop in C
    # counted once per chunk, in C (Counter), rather than three dict updates per edit
    statuses: Counter = Counter()
    payers: dict[str, Counter] = {}
    for (payer_id, status), k in Counter(tally).items():
        statuses[status] += k
        payers.setdefault(payer_id, Counter())[status] += k
    categories: Counter = Counter()
    severities: Counter = Counter()
    rules: Counter = Counter()
    for (category, severity, rule), k in Counter(edit_keys).items():
        categories[category] += k
        severities[severity] += k
        rules[rule] += k
    return bytes(out), {"claims": len(records), "lines": lines, "statuses": dict(statuses),
                        "categories": dict(categories), "severities": dict(severities), "rules": dict(rules),
                        "payers": {p: dict(c) for p, c in payers.items()}}


# -- reading, resuming, writing --------------------------------------------------------------

def x12_chunks(fh: BinaryIO, skip: int, name: str, payers: dict[str, str],
               size: int = CHUNK) -> Iterator[list[tuple[int, int, Any]]]:
    """Records of an X12 837P file in chunks: each claim as JSON bytes, or its ReadError."""
    from .x12 import X12Error, parse_837
    text = fh.read().decode("utf-8", errors="replace")
    batch: list[tuple[int, int, Any]] = []
    try:
        claims = list(parse_837(text, payers, name))
    except X12Error as exc:
        claims = [ReadError(f"{name}: {exc}")]
    for n, claim in enumerate(claims, start=1):
        if n <= skip:
            continue
        batch.append((n, 0, claim if isinstance(claim, ReadError) else orjson.dumps(claim)))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch

def chunks(fh: BinaryIO, skip: int, size: int = CHUNK) -> Iterator[list[tuple[int, int, bytes]]]:
    """Records of a JSON lines file in chunks; the first ``skip`` records are passed over."""
    batch: list[tuple[int, int, bytes]] = []
    for n, lineno, raw in numbered_lines(fh):
        if n <= skip:
            continue
        batch.append((n, lineno, raw))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def done_records(out: Path) -> int:
    """Complete lines already in ``out``; a partial last line is cut off."""
    if not out.exists():
        return 0
    count = 0
    last_end = 0
    with open(out, "rb") as fh:
        pos = 0
        for line in fh:
            pos += len(line)
            if line.endswith(b"\n"):
                count += 1
                last_end = pos
    if last_end != out.stat().st_size:
        with open(out, "r+b") as fh:
            fh.truncate(last_end)
    return count


class Progress:
    """A one-line progress display on a terminal: claims, rate, time left."""

    def __init__(self, stream: Any, total_bytes: int | None, enabled: bool):
        self.stream, self.total, self.enabled = stream, total_bytes, enabled
        self.start = self.last = time.monotonic()

    def update(self, claims: int, read_bytes: int | None, final: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not final and now - self.last < 0.25):
            return
        self.last = now
        elapsed = max(now - self.start, 1e-9)
        rate = claims / elapsed
        text = f"\r{claims:>12,} claims  {rate:>9,.0f}/s"
        if self.total and read_bytes is not None:
            frac = min(read_bytes / self.total, 1.0)
            left = elapsed * (1 - frac) / frac if frac > 0 else 0
            bar = "#" * int(frac * 20)
            text += f"  [{bar:<20}] {frac:4.0%}  {int(left) // 60}:{int(left) % 60:02d} left"
        self.stream.write(text + ("\n" if final else ""))
        self.stream.flush()


def run_batch(
    src: str,
    out: str,
    *,
    engine: Engine | None = None,
    policies: list[str] | None = None,
    payer: str | None = None,
    workers: int = 1,
    resume: bool = False,
    progress: bool | None = None,
    chunk_size: int = CHUNK,
    on_chunk: Callable[[int], None] | None = None,
) -> Summary:
    """Evaluate every claim of ``src`` (JSON lines) into ``out``; see the module docstring.

    ``progress``: None shows it only when standard error is a terminal.
    ``on_chunk(records_written)`` is called after each chunk is written (tests use it).
    """
    global _ENGINE, _PAYER
    in_path, out_path = Path(src), Path(out)
    if in_path.resolve() == out_path.resolve():
        raise ValueError("the output file must not be the input file")
    skip = done_records(out_path) if resume else 0
    summary = Summary(skipped=skip, workers=workers)
    engine = engine or Engine(policies)
    show = sys.stderr.isatty() if progress is None else progress
    size = in_path.stat().st_size if in_path.is_file() else None
    bar = Progress(sys.stderr, size, show)
    started = time.perf_counter()
    name = str(src)
    with open(in_path, "rb") as fin, open(out_path, "ab" if resume else "wb") as fout:
        if is_x12(fin):
            feed = x12_chunks(fin, skip, name, engine.x12_payers(), chunk_size)
        else:
            feed = chunks(fin, skip, chunk_size)
        if workers <= 1:
            _ENGINE, _PAYER = engine, payer
            results: Iterator[tuple[bytes, dict]] = (process_chunk(records, name) for records in feed)
            _write(results, fout, fin, summary, bar, on_chunk)
        else:
            method = "fork" if "fork" in _start_methods() else "spawn"
            _ENGINE = engine if method == "fork" else None
            sources = [str(p) for p in engine._sources]
            with ProcessPoolExecutor(workers, mp_context=get_context(method), initializer=_init_worker,
                                     initargs=(sources, payer, engine.rules_evaluator)) as pool:
                _write(_in_order(pool, feed, name, window=workers * 2), fout, fin, summary, bar, on_chunk)
            _ENGINE = None
    summary.seconds = time.perf_counter() - started
    bar.update(summary.claims, size, final=True)
    return summary


def _in_order(pool: ProcessPoolExecutor, feed: Iterator, name: str, window: int) -> Iterator[tuple[bytes, dict]]:
    """Chunk results from the pool in input order, with at most ``window`` chunks in flight."""
    pending: list = []
    for records in feed:
        pending.append(pool.submit(process_chunk, records, name))
        if len(pending) >= window:
            yield pending.pop(0).result()
    while pending:
        yield pending.pop(0).result()


def _write(results: Iterator[tuple[bytes, dict]], fout: BinaryIO, fin: BinaryIO, summary: Summary,
           bar: Progress, on_chunk: Callable[[int], None] | None) -> None:
    """Write each chunk's output as it comes (flushed, so --resume finds whole lines)."""
    for data, counts in results:
        fout.write(data)
        fout.flush()
        summary.add(counts)
        bar.update(summary.claims, fin.tell())
        if on_chunk:
            on_chunk(summary.claims)


def _start_methods() -> list[str]:
    from multiprocessing import get_all_start_methods
    return get_all_start_methods()


__all__ = ["run_batch", "Summary", "done_records", "process_chunk"]
