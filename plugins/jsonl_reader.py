"""The built-in ``jsonl`` reader: one JSON object, a JSON array of claims, or JSON lines.

Registered like any third-party reader; the reading itself is
:mod:`payer_rules.readers.jsonl`, which ``batch`` also uses to parse raw lines in its
workers (so a batch and a check read every file into the same records).
"""

from payer_rules import hookimpl
from payer_rules.readers import jsonl

PAYER_RULES_GLOBAL = True


@hookimpl
def register_readers(register):
    register("jsonl", jsonl.read, sniff=jsonl.sniff, extensions=(".json", ".jsonl", ".ndjson"),
             media_types=("application/json", "application/x-ndjson", "application/jsonl"),
             description="claims as one JSON object, a JSON array, or JSON lines (one claim a line)")
