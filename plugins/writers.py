"""The built-in result formats, registered like any third-party writer."""

from __future__ import annotations

from payer_rules import hookimpl
from payer_rules.writers.csvfile import CsvWriter
from payer_rules.writers.jsonl import JsonLinesWriter
from payer_rules.writers.text import TextWriter

PAYER_RULES_GLOBAL = True


@hookimpl
def register_writers(register):
    register("json", JsonLinesWriter, extension=".jsonl", media_type="application/x-ndjson",
             description="one JSON result per line (the result schema), in input order")
    register("text", TextWriter, extension=".txt", media_type="text/plain",
             description="a readable block per claim: lines, units and why, edits with fixes in words")
    register("csv", CsvWriter, extension=".csv", media_type="text/csv",
             description="a worklist: one row per edit (every claim at least one row), fixes in words, "
                         "charge at risk; RFC 4180, formula-safe cells")
