"""Reading claim files: one JSON object, a JSON array, or JSON lines; ``-`` is standard input.

JSON lines are streamed, one claim at a time, so a file of any size runs in constant
memory. A record that cannot be read yields a :class:`ReadError` in its place, so the
caller can still write one result per input record.
"""

from __future__ import annotations

import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, TextIO


@dataclass(frozen=True)
class ReadError:
    """A record that is not a readable claim; ``message`` names the place, not the content."""

    message: str
    claim_id: str | None = None


def _describe(exc: json.JSONDecodeError) -> str:
    return f"malformed JSON ({exc.msg} at column {exc.colno})"


def open_input(path: str) -> TextIO:
    if path == "-":
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="strict")
    return open(Path(path), encoding="utf-8", errors="strict")


def read_claims(path: str) -> Iterator[tuple[int, Any]]:
    """Yield ``(record number, claim dict or ReadError)`` for every record in ``path``.

    Raises OSError only when the file itself cannot be opened.
    """
    name = "<stdin>" if path == "-" else path
    with open_input(path) as fh:
        yield from iter_records(fh, name)


def iter_records(fh: TextIO, name: str) -> Iterator[tuple[int, Any]]:
    try:
        first = fh.readline()
        lineno = 1
        while first and not first.strip():
            first = fh.readline()
            lineno += 1
    except UnicodeDecodeError:
        yield 1, ReadError(f"{name}: not UTF-8 text")
        return
    if not first:
        return
    try:
        value = json.loads(first)
        one_line = True
    except json.JSONDecodeError:
        one_line = False
    if not one_line:
        # a pretty-printed object or array: the file is one JSON document
        try:
            rest = fh.read()
        except UnicodeDecodeError:
            yield 1, ReadError(f"{name}: not UTF-8 text")
            return
        try:
            value = json.loads(first + rest)
        except json.JSONDecodeError as exc:
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
    n = 1
    yield n, value if isinstance(value, dict) else ReadError(f"{name}:{lineno}: a claim must be a JSON object")
    while True:
        try:
            raw = fh.readline()
        except UnicodeDecodeError:
            n += 1
            yield n, ReadError(f"{name}: line after {lineno}: not UTF-8 text; reading stopped")
            return
        if not raw:
            return
        lineno += 1
        if not raw.strip():
            continue
        n += 1
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            yield n, ReadError(f"{name}:{lineno}: {_describe(exc)}")
            continue
        yield n, value if isinstance(value, dict) else ReadError(f"{name}:{lineno}: a claim must be a JSON object")


def _document(value: Any, name: str) -> Iterator[tuple[int, Any]]:
    if isinstance(value, dict):
        yield 1, value
    elif isinstance(value, list):
        for i, item in enumerate(value, start=1):
            yield i, item if isinstance(item, dict) else ReadError(f"{name}: item {i} of the array: a claim must be a JSON object")
    else:
        yield 1, ReadError(f"{name}: expected a claim object, an array of claims, or JSON lines")
