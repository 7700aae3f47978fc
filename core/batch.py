"""Batch scrubbing: claims in, JSON lines out, in order, in constant memory.

Records come from the one reader dispatch (:func:`payer_rules.readers.open_records`: any
installed format, chosen by name or by sniffing). JSON lines take a fast path that is the
JSON-lines reader's own: the raw lines go to the workers and are parsed there by
:func:`payer_rules.readers.jsonl.json_line`, so a batch writes exactly what ``check``
writes. Records are evaluated in chunks (in this process, or by one of N worker
processes) and written back in input order, so the output of N workers is byte for byte
the output of one. Memory is bounded by the chunks in flight (two per worker).

Every input record gets exactly one output line: a claim that cannot be read or
evaluated (a malformed record, a plugin that raises or hangs past the per-claim time
budget) gets an error record in its place. Beside the output, ``<output>.resume``
records after each chunk what was consumed: the records written, the output's length,
the input's size and a SHA-256 of the input's consumed prefix, and the statuses so far.
``--resume`` cuts the output back to that point (a partial last chunk is dropped),
refuses to go on when the input's consumed prefix has changed, skips the records already
done without evaluating them, and continues; the finished file is identical to an
uninterrupted run, and the summary's ``any_errors`` covers the whole output.

Workers exit by themselves when the parent dies (``PR_SET_PDEATHSIG`` on Linux, and a
watchdog thread that notices the parent is gone everywhere).
"""

from __future__ import annotations

import hashlib
import io
import os
import signal
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from operator import attrgetter
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator

import orjson

from .engine import Engine
from .readers import ReadOptions, open_records
from .readers import jsonl
from .writers import open_writer

CHUNK = 1000
#: seconds one claim may take in a batch before it becomes a ``claim.time_budget`` error
DEFAULT_CLAIM_TIMEOUT = 10.0
#: the sidecar beside the output that makes --resume safe
RESUME_SUFFIX = ".resume"


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
    #: statuses of the records already in the output when resuming (from the sidecar)
    prior_statuses: Counter = field(default_factory=Counter)

    def any_errors(self) -> bool:
        """Whether any record of the whole output (resumed part included) is an error."""
        return bool(self.statuses.get("error") or self.prior_statuses.get("error"))

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
_OPTIONS: ReadOptions = ReadOptions()
_BUDGET: float | None = None
#: the writer of the results (a registered writer's name); json takes the fast path
_WRITER: str = "json"
_EDIT_KEY = attrgetter("category", "severity", "rule")  # what the summary counts of each edit


def _init_worker(sources: list[str] | None, payer: str | None, evaluator: str, options: ReadOptions,
                 budget: float | None, parent: int, writer: str = "json") -> None:
    global _ENGINE, _PAYER, _OPTIONS, _BUDGET, _WRITER
    # Ctrl-C goes to the whole process group: the parent stops the run, workers are left
    # to die with it rather than break the pool half way through a chunk
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent)
    if _ENGINE is None:  # with fork the parent's engine is already here
        _ENGINE = Engine(sources, rules_evaluator=evaluator)
    _PAYER, _OPTIONS, _BUDGET, _WRITER = payer, options, budget, writer


def _die_with_parent(parent: int) -> None:
    """Make this worker exit when the batch process dies (kill -9 included), instead of
    living on reparented to init: the kernel's parent-death signal on Linux, and a thread
    that checks the parent every second on every platform."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="payer-rules-parent-watch", daemon=True).start()


def process_chunk(records: list[tuple[int, int, Any]], name: str) -> tuple[bytes, dict[str, Any]]:
    """Evaluate ``(record number, file line, record)`` records, where a record is a raw JSON
    line, a claim dict or a ReadError (:func:`payer_rules.readers.jsonl.raw_records`);
    return output bytes and counts."""
    engine, payer, options, budget = _ENGINE, _PAYER, _OPTIONS, _BUDGET
    json_line = jsonl.json_line
    assert engine is not None
    # One growing buffer, not a list of lines: each result's bytes are copied and freed at
    # once, so the next claim reuses memory that is still in the CPU cache (holding a
    # chunk's results alive cost about 5 us a claim; docs/benchmarks.md).
    out = bytearray()
    lines = 0
    tally: list[tuple[str, str]] = []  # (payer, status) of each claim
    edit_keys: list[tuple[str, str, str]] = []  # (category, severity, rule) of each edit
    add_keys = edit_keys.extend
    # another writer than json: one per chunk, without its header (run_batch writes it once)
    buf = io.BytesIO() if _WRITER != "json" else None
    writer = None if buf is None else open_writer(engine.plugins, _WRITER, buf, {"header": False})
    for n, lineno, raw in records:
        # raw: a JSON line, or a claim or ReadError another reader gave; evaluate turns errors into records
        claim = json_line(raw, name, lineno, options) if type(raw) is bytes else raw
        result = engine.evaluate(claim, payer, time_budget=budget)
        result.index = n
        if writer is None:
            out += result.to_json()
            out += b"\n"
        else:
            writer.write(result)
        lines += len(result.lines)
        tally.append((result.payer or "(none)", result.status))
        add_keys(map(_EDIT_KEY, result.edits))  # map and attrgetter: a loop in C
    if writer is not None:
        writer.close()
        out = bytearray(buf.getvalue())
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

def chunks(records: Iterator[tuple[int, int, Any]], skip: int, size: int = CHUNK,
           tell: Callable[[], int] = lambda: 0) -> Iterator[tuple[list[tuple[int, int, Any]], int]]:
    """Records in chunks, each with ``tell()`` after its last record was read (where the
    input's consumed prefix ends); the first ``skip`` records are passed over."""
    batch: list[tuple[int, int, Any]] = []
    for rec in records:
        if rec[0] <= skip:
            continue
        batch.append(rec)
        if len(batch) >= size:
            yield batch, tell()
            batch = []
    if batch:
        yield batch, tell()


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


class WorkerDied(ValueError):
    """A worker process was killed under the batch; what was written before it stands."""


class ResumeError(ValueError):
    """``--resume`` cannot continue this output safely; the message says why and what to do."""


@dataclass
class Checkpoint:
    """What the output holds so far and what of the input it came from (the sidecar).

    ``consumed`` bytes of the input hash to ``digest``; a resume refuses an input whose
    prefix differs. ``output_bytes`` is where the output is cut back to when resuming.
    """

    records: int = 0
    output_bytes: int = 0
    consumed: int = 0
    digest: str = hashlib.sha256().hexdigest()
    input_size: int | None = None
    format: str = ""
    statuses: dict[str, int] = field(default_factory=dict)
    #: the writer of the output (json, csv, ...): a resume goes on only with the same one
    writer: str = "json"

    def to_json(self) -> bytes:
        return orjson.dumps({"version": 1, "records": self.records, "output_bytes": self.output_bytes,
                             "input_consumed_bytes": self.consumed, "input_consumed_sha256": self.digest,
                             "input_size": self.input_size, "format": self.format, "writer": self.writer,
                             "statuses": dict(sorted(self.statuses.items()))}, option=orjson.OPT_INDENT_2)

    @classmethod
    def load(cls, path: Path) -> "Checkpoint":
        try:
            d = orjson.loads(path.read_bytes())
            return cls(int(d["records"]), int(d["output_bytes"]), int(d["input_consumed_bytes"]),
                       str(d["input_consumed_sha256"]), d.get("input_size"), str(d.get("format", "")),
                       {str(k): int(v) for k, v in d.get("statuses", {}).items()}, str(d.get("writer", "json")))
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            raise ResumeError(f"cannot resume: {path} is not a resume record payer-rules wrote; "
                              "run again without --resume to start over") from None


def _prefix_digest(path: Path, length: int) -> tuple[Any, int]:
    """A sha256 object over the first ``length`` bytes of ``path``, and how many there were."""
    h = hashlib.sha256()
    got = 0
    with open(path, "rb") as fh:
        while got < length:
            block = fh.read(min(1 << 20, length - got))
            if not block:
                break
            h.update(block)
            got += len(block)
    return h, got


def _start_resume(in_path: Path, out_path: Path, side: Path) -> tuple[Checkpoint, Any]:
    """Check the sidecar against the input and the output; cut the output back to it."""
    if not out_path.exists():
        return Checkpoint(), hashlib.sha256()
    if not side.exists():
        if out_path.stat().st_size == 0:
            return Checkpoint(), hashlib.sha256()
        raise ResumeError(f"cannot resume: {out_path} has no record of the input it came from ({side} is "
                          "missing); run again without --resume to start over")
    cp = Checkpoint.load(side)
    h, got = _prefix_digest(in_path, cp.consumed)
    if got < cp.consumed:
        raise ResumeError(f"cannot resume: {in_path} is shorter ({got:,} bytes) than the {cp.consumed:,} bytes "
                          "already consumed: the input changed; run again without --resume to start over")
    if h.hexdigest() != cp.digest:
        raise ResumeError(f"cannot resume: the first {cp.consumed:,} bytes of {in_path} are not the ones the "
                          f"{cp.records:,} results in {out_path} came from: the input changed; "
                          "run again without --resume to start over")
    size = out_path.stat().st_size
    if size < cp.output_bytes:
        raise ResumeError(f"cannot resume: {out_path} is shorter than the {cp.records:,} results recorded "
                          f"in {side}; run again without --resume to start over")
    if size > cp.output_bytes:  # results written after the last checkpoint: done again
        with open(out_path, "r+b") as fh:
            fh.truncate(cp.output_bytes)
    return cp, h


class _Recorder:
    """Keeps the sidecar current after each chunk is written: the input prefix consumed
    (hashed incrementally, read a second time through its own handle), records, statuses."""

    def __init__(self, side: Path, in_path: Path | None, cp: Checkpoint, digest: Any):
        self.side, self.cp, self.digest = side, cp, digest
        self.fh = open(in_path, "rb") if in_path is not None else None
        if self.fh is not None:
            self.fh.seek(cp.consumed)

    def chunk_written(self, consumed: int, records: int, output_bytes: int, statuses: dict[str, int]) -> None:
        cp = self.cp
        if self.fh is not None:
            while cp.consumed < consumed:
                block = self.fh.read(min(1 << 20, consumed - cp.consumed))
                if not block:
                    break
                self.digest.update(block)
                cp.consumed += len(block)
            cp.digest = self.digest.hexdigest()
        cp.records, cp.output_bytes = records, output_bytes
        for k, v in statuses.items():
            cp.statuses[k] = cp.statuses.get(k, 0) + v
        self.save()

    def save(self) -> None:
        tmp = self.side.with_name(self.side.name + ".tmp")
        tmp.write_bytes(self.cp.to_json())
        os.replace(tmp, self.side)

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()


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
    format: str | None = None,
    options: ReadOptions | None = None,
    claim_timeout: float | None = DEFAULT_CLAIM_TIMEOUT,
    writer: str = "json",
) -> Summary:
    """Evaluate every claim of ``src`` into ``out`` (JSON lines); see the module docstring.

    ``format``: a reader's name (default: sniffed). ``options``: the readers' bounds
    (default: :meth:`ReadOptions.from_env` with the engine's X12 payer map).
    ``claim_timeout``: seconds a claim may take (0 or None: no budget); enforced with a
    timer signal, so only when the claims run in a main thread (workers always do).
    ``progress``: None shows it only when standard error is a terminal.
    ``on_chunk(records_written)`` is called after each chunk is written (tests use it).
    ``writer``: the registered writer of the output (default json, the result schema's
    JSON lines; csv and text too): opened once per chunk without its header, which is
    written once at the start of the output.
    Raises ResumeError (a ValueError) when ``resume`` cannot continue safely.
    """
    global _ENGINE, _PAYER, _OPTIONS, _BUDGET, _WRITER
    if claim_timeout is not None and (claim_timeout < 0 or claim_timeout != claim_timeout):
        raise ValueError("the claim time budget must be 0 (off) or a number of seconds")
    budget = claim_timeout or None
    in_path, out_path = (None if src == "-" else Path(src)), Path(out)
    if in_path is not None and in_path.resolve() == out_path.resolve():
        raise ValueError("the output file must not be the input file")
    side = out_path.with_name(out_path.name + RESUME_SUFFIX)
    engine = engine or Engine(policies)
    if writer not in engine.plugins.writers:
        open_writer(engine.plugins, writer, io.BytesIO())  # raises WriterError (a ValueError) naming the known ones
    if options is None:
        options = ReadOptions.from_env(x12_payers=engine.x12_payers())
    if resume:
        if in_path is None:
            raise ResumeError("cannot resume from standard input (nothing tells whether it is the same input)")
        cp, digest = _start_resume(in_path, out_path, side)
        if cp.records and cp.writer != writer:
            raise ResumeError(f"cannot resume: {out_path} was written with --format {cp.writer}, not {writer}; "
                              f"resume with --format {cp.writer}, or run again without --resume to start over")
    else:
        cp, digest = Checkpoint(), hashlib.sha256()
    summary = Summary(skipped=cp.records, workers=workers, prior_statuses=Counter(cp.statuses))
    show = sys.stderr.isatty() if progress is None else progress
    size = in_path.stat().st_size if in_path is not None and in_path.is_file() else None
    bar = Progress(sys.stderr, size, show)
    started = time.perf_counter()
    with open_records(src, readers=engine, format=format, options=options) as records:
        name, fin = records.name, records.stream
        cp.input_size, cp.format, cp.writer = size, records.reader.name, writer
        if records.reader.read is jsonl.read:  # the JSON-lines reader's own fast path: raw lines
            raw: Iterator[tuple[int, int, Any]] = jsonl.raw_records(fin, name, options)
        else:
            raw = ((n, 0, rec) for n, rec in records)
        def tell() -> int:
            """Where the consumed prefix ends; a reader that closed the stream read it all."""
            if in_path is None:
                return 0
            try:
                return fin.tell()
            except ValueError:
                return size or 0
        feed = chunks(raw, cp.records, chunk_size, tell)
        recorder = _Recorder(side, in_path, cp, digest)
        recorder.save()  # a run that starts over replaces any earlier record at once
        try:
            with open(out_path, "ab" if resume else "wb") as fout:
                if writer != "json" and fout.tell() == 0:  # the writer's header, once (nothing else)
                    open_writer(engine.plugins, writer, fout).close()
                    fout.flush()
                if workers <= 1:
                    _ENGINE, _PAYER, _OPTIONS, _BUDGET, _WRITER = engine, payer, options, budget, writer
                    try:
                        results = ((process_chunk(recs, name), end) for recs, end in feed)
                        _write(results, fout, summary, bar, on_chunk, recorder)
                    finally:
                        _ENGINE, _BUDGET, _WRITER = None, None, "json"
                else:
                    method = "fork" if "fork" in _start_methods() else "spawn"
                    _ENGINE = engine if method == "fork" else None
                    sources = [str(p) for p in engine._sources]
                    pool = ProcessPoolExecutor(workers, mp_context=get_context(method), initializer=_init_worker,
                                               initargs=(sources, payer, engine.rules_evaluator, options, budget,
                                                         os.getpid(), writer))
                    try:
                        _write(_in_order(pool, feed, name, window=workers * 2), fout, summary, bar, on_chunk,
                               recorder)
                    except BrokenProcessPool:
                        _stop(pool)
                        raise WorkerDied("a worker process died abruptly (killed, or out of memory); the output "
                                         "holds the records before it: run again with --resume") from None
                    except BaseException:  # Ctrl-C: stop now, not after the chunks in flight
                        _stop(pool)
                        raise
                    else:
                        pool.shutdown(wait=True)
                    finally:
                        _ENGINE = None
        finally:
            recorder.close()
    summary.seconds = time.perf_counter() - started
    bar.update(summary.claims, size, final=True)
    return summary


def _in_order(pool: ProcessPoolExecutor, feed: Iterator, name: str,
              window: int) -> Iterator[tuple[tuple[bytes, dict], int]]:
    """Chunk results from the pool in input order, with at most ``window`` chunks in flight."""
    pending: list = []
    for records, end in feed:
        pending.append((pool.submit(process_chunk, records, name), end))
        if len(pending) >= window:
            future, at = pending.pop(0)
            yield future.result(), at
    while pending:
        future, at = pending.pop(0)
        yield future.result(), at


def _write(results: Iterator[tuple[tuple[bytes, dict], int]], fout: BinaryIO, summary: Summary,
           bar: Progress, on_chunk: Callable[[int], None] | None, recorder: _Recorder) -> None:
    """Write each chunk's output as it comes (flushed), then the checkpoint that covers it."""
    for (data, counts), consumed in results:
        fout.write(data)
        fout.flush()
        summary.add(counts)
        recorder.chunk_written(consumed, summary.skipped + summary.claims, fout.tell(), counts["statuses"])
        bar.update(summary.claims, consumed or None)
        if on_chunk:
            on_chunk(summary.claims)


def _stop(pool: ProcessPoolExecutor) -> None:
    """End the workers at once (their chunks are not written; --resume redoes them)."""
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        proc.terminate()
    pool.shutdown(wait=False, cancel_futures=True)


def _start_methods() -> list[str]:
    from multiprocessing import get_all_start_methods
    return get_all_start_methods()


__all__ = ["run_batch", "Summary", "ResumeError", "done_records", "process_chunk", "DEFAULT_CLAIM_TIMEOUT"]
