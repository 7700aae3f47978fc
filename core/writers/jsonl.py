"""The ``json`` writer: one compact JSON result per line, the contract other tools read
(``schemas/result.schema.json``); the same input always gives the same bytes."""

from __future__ import annotations

from typing import Any, BinaryIO, Mapping

from ..models import Result


class JsonLinesWriter:
    def __init__(self, stream: BinaryIO, options: Mapping[str, Any]):
        self.stream = stream

    def write(self, result: Result, extra: Mapping[str, Any] | None = None) -> None:
        self.stream.write(result.to_json(dict(extra) if extra else None) + b"\n")

    def close(self) -> None:
        self.stream.flush()
