"""A third-party reader: claims as CSV, one service line a row (docs/readers.md).

Rows with the same claim_id, one after another, are one claim. Columns: claim_id,
payer, code, minutes, modifiers (space-separated), date_of_service.
"""

import csv
import io

from payer_rules import hookimpl
from payer_rules.readers import ReadError

PAYER_RULES_GLOBAL = True
HEADER = ["claim_id", "payer", "code", "minutes", "modifiers", "date_of_service"]


def sniff(head: bytes) -> bool:
    return head.lstrip(b"\xef\xbb\xbf").startswith(b"claim_id,payer,code")


def read(stream, name, options):
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    rows = csv.reader(text)
    if next(rows, None) != HEADER:
        yield 1, ReadError(f"{name}:1: expected the header {','.join(HEADER)}")
        return
    n, claim = 0, None
    for lineno, row in enumerate(rows, start=2):
        if len(row) != len(HEADER):
            if claim is not None:
                n += 1
                yield n, claim
                claim = None
            n += 1
            yield n, ReadError(f"{name}:{lineno}: expected {len(HEADER)} columns")
            continue
        cid, payer, code, minutes, mods, dos = row
        if claim is not None and claim["claim_id"] != cid:
            n += 1
            yield n, claim
            claim = None
        if claim is None:
            claim = {"claim_id": cid, "payer": payer, "lines": []}
        if len(claim["lines"]) >= options.max_claim_lines:
            continue  # the claim becomes an error below: over the limit
        claim["lines"].append({"code": code, "minutes": int(minutes) if minutes.isascii() and minutes.isdigit()
                               else minutes, "modifiers": mods.split(), "date_of_service": dos})
    if claim is not None:
        n += 1
        yield n, claim


@hookimpl
def register_readers(register):
    register("acme-csv", read, sniff=sniff, extensions=(".csv",), media_types=("text/csv",),
             description="claims as CSV, one service line a row")
