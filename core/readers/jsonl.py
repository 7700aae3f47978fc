"""The built-in ``jsonl`` reader: one JSON object, a JSON array of objects, or JSON lines.

How a file is read is decided from its first lines only, so JSON lines stream in constant
memory whatever their number, and ``check`` and ``batch`` (which ships the raw lines to
its workers and parses them there with :func:`json_line`) read every file into the same
records:

- a UTF-8 byte order mark at the start is skipped;
- the first non-blank line is a JSON value by itself: the file is JSON lines, one record
  per non-blank line (an array alone on the only line is an array of claims);
- otherwise, when the second non-blank line is a JSON object by itself (and the first is
  not a lone ``[``, which opens a pretty-printed array), the file is JSON lines whose
  first record is broken (``{"claim_id": "A",`` then good claims): the first
  record is an error and the rest are read;
- otherwise the file is one JSON document (pretty-printed), read whole up to
  ``max_file_bytes``: an object is one record, an array one record per item.

Bounds (``ReadOptions``): a line over ``max_record_bytes`` is not parsed; a record nested
deeper than ``max_depth`` or with more than ``max_claim_lines`` service lines is an
error naming the limit and its setting. Messages name the file and line, never content.
"""

from __future__ import annotations

from typing import Any, BinaryIO, Iterator

import orjson

from . import ReadError, ReadOptions, limit_message

BOM = b"\xef\xbb\xbf"


def sniff(head: bytes) -> bool:
    """JSON: the first non-blank byte (after a byte order mark) opens an object or array."""
    head = head[3:] if head.startswith(BOM) else head
    return head.lstrip()[:1] in (b"{", b"[")


def describe(exc: orjson.JSONDecodeError) -> str:
    """orjson's message can quote the document: keep only the kind of error and the column."""
    kind = str(exc.msg).split(":")[0]
    if kind.startswith("depth limit"):
        return "malformed JSON (nested too deeply to parse)"
    return f"malformed JSON ({kind} at column {exc.colno})"


def _depth(value: Any, limit: int) -> bool:
    """True when ``value`` nests deeper than ``limit`` containers."""
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if d > limit:
            return True
        if type(v) is dict:
            stack.extend((x, d + 1) for x in v.values() if type(x) in (dict, list))
        elif type(v) is list:
            stack.extend((x, d + 1) for x in v if type(x) in (dict, list))
    return False


def check_claim(value: Any, where: str, options: ReadOptions, raw_len: int = 0) -> Any:
    """The claim dict when ``value`` is one within the bounds, else a ReadError saying why."""
    if type(value) is not dict:
        return ReadError(f"{where}: a claim must be a JSON object")
    lines = value.get("lines")
    if type(lines) is list and len(lines) > options.max_claim_lines:
        return ReadError(f"{where}: " + limit_message("max_claim_lines", options, f"{len(lines):,} service lines"),
                         _claim_id(value))
    # only a record with more brackets than the limit can nest deeper: count them in C first
    if raw_len > options.max_depth and _depth(value, options.max_depth):
        return ReadError(f"{where}: " + limit_message("max_depth", options, "the claim nests"), _claim_id(value))
    return value


def _claim_id(value: dict) -> str | None:
    cid = value.get("claim_id")
    return cid if type(cid) is str else None


def json_line(raw: bytes, name: str, lineno: int, options: ReadOptions) -> Any:
    """One JSON-lines record: the claim dict, or a ReadError that says where (file name
    and line) and why. The place is put into words only for a bad record."""
    if len(raw) > options.max_record_bytes:
        return ReadError(f"{name}:{lineno}: " + limit_message("max_record_bytes", options, f"the record's {len(raw):,} bytes"))
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return ReadError(f"{name}:{lineno}: {describe(exc)}")
    if type(value) is dict:
        brackets = raw.count(b"{") + raw.count(b"[")
        if brackets <= options.max_depth and (type(value.get("lines")) is not list
                                              or len(value["lines"]) <= options.max_claim_lines):
            return value  # the usual case, decided without a walk
        return check_claim(value, f"{name}:{lineno}", options, brackets)
    return check_claim(value, f"{name}:{lineno}", options)


def raw_records(fh: BinaryIO, name: str, options: ReadOptions) -> Iterator[tuple[int, int, Any]]:
    """``(record number, file line, record)`` for every record of ``fh``, where a record is
    the raw bytes of a JSON line (parse it with :func:`json_line`), a claim dict (from a
    JSON document) or a ReadError. ``batch`` ships the raw lines to its workers; ``read``
    parses them here. The line is 0 for items of a document."""
    # the first line may be a whole one-line array of claims: bounded as a document is
    first = _readline(fh, options.max_file_bytes)
    lineno = 1
    if first.startswith(BOM):
        first = first[3:]
    while first and not first.strip():
        first = _readline(fh, options.max_file_bytes)
        lineno += 1
    if not first:
        return
    try:
        value = orjson.loads(first)
        whole = True
    except orjson.JSONDecodeError:
        whole = False
    if whole:
        if type(value) is list:
            second, at = _next_nonblank(fh, lineno, options)
            if second is None:  # an array alone on the only line: an array of claims
                yield from _items(value, name, options)
                return
            yield 1, lineno, first
            yield 2, at, second
            yield from _lines(fh, at, 2, options.max_record_bytes)
            return
        yield 1, lineno, first
        yield from _lines(fh, lineno, 1, options.max_record_bytes)
        return
    second, at = _next_nonblank(fh, lineno, options)
    if second is not None and first.strip() != b"[" and _is_object(second):
        yield 1, lineno, first  # a broken first record; json_line words the error
        yield 2, at, second
        yield from _lines(fh, at, 2, options.max_record_bytes)
        return
    # one pretty-printed document, read whole (bounded)
    rest = fh.read(max(options.max_file_bytes - len(first) - len(second or b""), 0) + 1)
    doc = first + (b"\n" * (at - lineno - 1) if second is not None else b"") + (second or b"") + rest
    if len(doc) > options.max_file_bytes:
        yield 1, lineno, ReadError(f"{name}: " + limit_message(
            "max_file_bytes", options, "a JSON document (not JSON lines) this large"))
        return
    try:
        value = orjson.loads(doc)
    except orjson.JSONDecodeError as exc:
        yield 1, lineno, ReadError(f"{name}:{exc.lineno + lineno - 1}: {describe(exc)}")
        return
    if type(value) is list:
        yield from _items(value, name, options)
    elif type(value) is dict:
        yield 1, lineno, check_claim(value, f"{name}:{lineno}", options, len(doc))
    else:
        yield 1, lineno, ReadError(f"{name}: expected a claim object, an array of claims, or JSON lines")


def _is_object(raw: bytes) -> bool:
    try:
        return type(orjson.loads(raw)) is dict
    except orjson.JSONDecodeError:
        return False


def _skip_line(fh: BinaryIO) -> None:
    while True:
        part = fh.readline(1 << 20)
        if not part or part.endswith(b"\n"):
            return


def _readline(fh: BinaryIO, limit: int) -> bytes:
    """The next line, or its first ``limit + 1`` bytes when it is longer (the rest of it is
    passed over): a line too long to be a record is never held whole in memory."""
    raw = fh.readline(limit + 1)
    if len(raw) > limit and not raw.endswith(b"\n"):
        _skip_line(fh)
    return raw


def _next_nonblank(fh: BinaryIO, lineno: int, options: ReadOptions) -> tuple[bytes | None, int]:
    while raw := _readline(fh, options.max_record_bytes):
        lineno += 1
        if raw.strip():
            return raw, lineno
    return None, lineno


def _items(value: list, name: str, options: ReadOptions) -> Iterator[tuple[int, int, Any]]:
    for i, item in enumerate(value, start=1):
        yield i, 0, check_claim(item, f"{name}: item {i} of the array", options, options.max_depth + 1)


def _lines(fh: BinaryIO, lineno: int, n: int, limit: int) -> Iterator[tuple[int, int, bytes]]:
    """``(record number, file line, raw line)`` for each further non-blank line: the
    numbering every reader (and batch --resume) relies on."""
    while raw := _readline(fh, limit):
        lineno += 1
        if raw.strip():
            n += 1
            yield n, lineno, raw


def read(fh: BinaryIO, name: str, options: ReadOptions) -> Iterator[tuple[int, Any]]:
    """The reader (``register_readers``): ``(record number, claim dict or ReadError)``."""
    for n, lineno, rec in raw_records(fh, name, options):
        yield n, (json_line(rec, name, lineno, options) if type(rec) is bytes else rec)
