"""Request bodies as claim records, through the project's reader dispatch.

The content type names the reader (``application/edi-x12`` -> the X12 837P reader, JSON
types -> the JSON reader); any other type is sniffed, as ``payer-rules check`` sniffs a
file. Records are exactly what ``check`` reads from a file with the same bytes, so the
results are byte-identical (a record that cannot be read names the place as ``request``).
"""

from __future__ import annotations

import io
from typing import Any, Iterator

#: media types -> reader name (others are sniffed)
MEDIA_TYPES = {
    "application/edi-x12": "x12-837p", "application/x12": "x12-837p", "text/x12": "x12-837p",
    "application/json": "jsonl", "application/x-ndjson": "jsonl", "application/jsonl": "jsonl",
    "application/jsonlines": "jsonl",
}


def reader_for(content_type: str | None) -> str | None:
    media = (content_type or "").split(";")[0].strip().lower()
    return MEDIA_TYPES.get(media)


def read_body(engine: Any, data: bytes, fmt: str | None, name: str = "request") -> Iterator[tuple[int, Any]]:
    """``(record number, claim dict or ReadError)`` for each record of ``data``."""
    stream = io.BufferedReader(io.BytesIO(data))
    try:
        from ..readers import open_records  # the reader dispatch (reader plugins)
    except ImportError:
        yield from _read_builtin(engine, stream, fmt, name)
        return
    yield from open_records(stream, readers=engine, format=fmt, name=name)


def _read_builtin(engine: Any, stream: io.BufferedReader, fmt: str | None, name: str) -> Iterator[tuple[int, Any]]:
    """The same choice ``readers.read_claims`` makes for a file, for a stream."""
    from ..readers import ReadError, is_x12, iter_records
    if fmt == "x12-837p" or (fmt is None and is_x12(stream)):
        from ..x12 import X12Error, parse_837
        text = stream.read().decode("utf-8", errors="replace")
        try:
            yield from enumerate(parse_837(text, engine.x12_payers(), name), start=1)
        except X12Error as exc:
            yield 1, ReadError(f"{name}: {exc}")
        return
    yield from iter_records(stream, name)
