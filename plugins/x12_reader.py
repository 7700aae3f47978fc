"""The built-in ``x12-837p`` reader: professional claims in an X12 837P interchange.

The interchange is streamed (a chunk at a time, never read whole) through
:func:`payer_rules.x12.parse_837`; each CLM becomes one record as its loop ends, a claim
the parser cannot read a ReadError in its place, and an envelope problem an error record
of its own where it is found.
"""

from payer_rules import hookimpl
from payer_rules.readers import ReadError, limit_message

PAYER_RULES_GLOBAL = True
BOM = b"\xef\xbb\xbf"


def sniff(head: bytes) -> bool:
    """An interchange starts (after blanks or a byte order mark) with an ISA segment."""
    head = head[3:] if head.startswith(BOM) else head
    return head.lstrip()[:3] == b"ISA"


def read(stream, name, options):
    from payer_rules.x12 import X12Error, parse_837
    n = 0
    try:
        for claim in parse_837(stream, dict(options.x12_payers), name, options=options):
            n += 1
            lines = claim.get("lines") if isinstance(claim, dict) else None
            if lines is not None and len(lines) > options.max_claim_lines:
                claim = ReadError(f"{name}: claim {n}: " + limit_message(
                    "max_claim_lines", options, f"{len(lines):,} service lines"), claim.get("claim_id"))
            yield n, claim
    except X12Error as exc:
        yield n + 1, ReadError(f"{name}: {exc}")


@hookimpl
def register_readers(register):
    register("x12-837p", read, sniff=sniff, extensions=(".837", ".x12", ".edi"),
             media_types=("application/edi-x12",),
             description="professional claims (X12 837P, 4010 and 5010), one record per CLM")
