"""Reading claim files: one JSON object, a JSON array, or JSON lines; ``-`` is standard input.

JSON lines are streamed, one claim at a time, so a file of any size runs in constant
memory. A record that cannot be read yields a :class:`ReadError` in its place, so the
caller can still write one result per input record. Files are read as bytes and parsed
with orjson (invalid UTF-8 is a malformed record, like any other).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterator

import orjson


@dataclass(frozen=True)
class ReadError:
    """A record that is not a readable claim; ``message`` names the place, not the content."""

    message: str
    claim_id: str | None = None


def _describe(exc: orjson.JSONDecodeError) -> str:
    # orjson's message can quote the document; keep only the kind of error and the column
    kind = str(exc.msg).split(":")[0]
    return f"malformed JSON ({kind} at column {exc.colno})"


def open_input(path: str) -> BinaryIO:
    if path == "-":
        return sys.stdin.buffer
    return open(Path(path), "rb")


def read_claims(path: str, x12_payers: dict[str, str] | None = None) -> Iterator[tuple[int, Any]]:
    """Yield ``(record number, claim dict or ReadError)`` for every record in ``path``:
    JSON (object, array or lines) or an X12 837P interchange, told apart by content.

    ``x12_payers`` maps X12 payer ids to policy payer ids (the policies' x12_payer_ids).
    Raises OSError only when the file itself cannot be opened.
    """
    name = "<stdin>" if path == "-" else path
    fh = open_input(path)
    try:
        if is_x12(fh):
            from .x12 import X12Error, parse_837
            data = fh.read()
            text = data.decode("utf-8", errors="replace")
            try:
                yield from enumerate(parse_837(text, x12_payers, name), start=1)
            except X12Error as exc:
                yield 1, ReadError(f"{name}: {exc}")
            return
        yield from iter_records(fh, name)
    finally:
        if fh is not sys.stdin.buffer:
            fh.close()


def is_x12(fh: BinaryIO) -> bool:
    """True when a buffered binary stream starts (after blanks) with an ISA segment."""
    head = fh.peek(512)[:512] if hasattr(fh, "peek") else b""
    return head.lstrip()[:3] == b"ISA"


def _claim_or_error(value: Any, where: str) -> Any:
    return value if isinstance(value, dict) else ReadError(f"{where}: a claim must be a JSON object")


def json_line(raw: bytes, name: str, lineno: int) -> Any:
    """One JSON-lines record: the claim dict, or a ReadError that says where (file name
    and line) and why. The place is put into words only for a bad record."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return ReadError(f"{name}:{lineno}: {_describe(exc)}")
    return value if type(value) is dict else ReadError(f"{name}:{lineno}: a claim must be a JSON object")


def numbered_lines(fh: BinaryIO, lineno: int = 0, n: int = 0) -> Iterator[tuple[int, int, bytes]]:
    """``(record number, file line, raw line)`` for each non-blank line: the numbering
    every reader (and batch --resume) relies on."""
    for raw in fh:
        lineno += 1
        if raw.strip():
            n += 1
            yield n, lineno, raw


def iter_records(fh: BinaryIO, name: str) -> Iterator[tuple[int, Any]]:
    """Records of an open binary file: one JSON document, or JSON lines."""
    first = fh.readline()
    lineno = 1
    while first and not first.strip():
        first = fh.readline()
        lineno += 1
    if not first:
        return
    try:
        value = orjson.loads(first)
        one_line = True
    except orjson.JSONDecodeError:
        one_line = False
    if not one_line:
        # a pretty-printed object or array: the file is one JSON document
        try:
            value = orjson.loads(first + fh.read())
        except orjson.JSONDecodeError as exc:
            yield 1, ReadError(f"{name}:{exc.lineno + lineno - 1}: {_describe(exc)}")
            return
        yield from _document(value, name)
        return
    if isinstance(value, list):
        yield from _document(value, name)
        for extra in fh:
            if extra.strip():
                yield len(value) + 1, ReadError(f"{name}: more text after the JSON array (not read)")
                break
        return
    # JSON lines: the first line was a complete record
    yield 1, _claim_or_error(value, f"{name}:{lineno}")
    for n, at, raw in numbered_lines(fh, lineno, 1):
        yield n, json_line(raw, name, at)


def _document(value: Any, name: str) -> Iterator[tuple[int, Any]]:
    if isinstance(value, dict):
        yield 1, value
    elif isinstance(value, list):
        for i, item in enumerate(value, start=1):
            yield i, _claim_or_error(item, f"{name}: item {i} of the array")
    else:
        yield 1, ReadError(f"{name}: expected a claim object, an array of claims, or JSON lines")
