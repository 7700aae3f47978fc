"""Request bodies as claim records, through the project's reader dispatch.

The content type names the reader (``application/edi-x12`` -> the X12 837P reader, JSON
types -> the JSON reader); any other type is sniffed, as ``payer-rules check`` sniffs a
file. Records are exactly what ``check`` reads from a file with the same bytes, so the
results are byte-identical (a record that cannot be read names the place as ``request``).
"""

from __future__ import annotations

import io
from typing import Any, Iterable

#: media types -> reader name (others are sniffed)
MEDIA_TYPES = {
    "application/edi-x12": "x12-837p", "application/x12": "x12-837p", "text/x12": "x12-837p",
    "application/json": "jsonl", "application/x-ndjson": "jsonl", "application/jsonl": "jsonl",
    "application/jsonlines": "jsonl",
}


def reader_for(content_type: str | None) -> str | None:
    media = (content_type or "").split(";")[0].strip().lower()
    return MEDIA_TYPES.get(media)


def read_body(engine: Any, data: bytes, fmt: str | None, options: Any = None,
              name: str = "request") -> Iterable[tuple[int, Any]]:
    """``(record number, claim dict or ReadError)`` for each record of ``data``, through the
    reader dispatch every command uses (``options``: the ReadOptions, else the environment's)."""
    from ..readers import open_records
    return open_records(io.BufferedReader(io.BytesIO(data)), readers=engine, format=fmt, options=options, name=name)
