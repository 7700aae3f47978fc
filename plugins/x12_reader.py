"""The built-in ``x12-837p`` reader: professional claims in an X12 837P interchange.

The interchange is streamed (a chunk at a time, never read whole) through
:func:`payer_rules.x12.parse_837`; each CLM becomes one record as its loop ends, a claim
the parser cannot read a ReadError in its place, and an envelope problem an error record
of its own where it is found.
"""

from payer_rules import hookimpl
from payer_rules.readers import ReadError

PAYER_RULES_GLOBAL = True
BOM = b"\xef\xbb\xbf"


def sniff(head: bytes) -> bool:
    """An interchange starts (after blanks or a byte order mark) with an ISA segment."""
    head = head[3:] if head.startswith(BOM) else head
    return head.lstrip()[:3] == b"ISA"


def read(stream, name, options):
    """``(record number, claim or ReadError)``; the parser applies every bound in ``options``
    (a claim over ``max_claim_lines`` is an error naming its CLM segment)."""
    from payer_rules.x12 import X12Error, parse_837
    try:
        yield from enumerate(parse_837(stream, dict(options.x12_payers), name, options=options), start=1)
    except X12Error as exc:  # raised before the first record: the file has no ISA segment
        yield 1, ReadError(f"{name}: {exc}")


@hookimpl
def register_readers(register):
    register("x12-837p", read, sniff=sniff, extensions=(".837", ".x12", ".edi"),
             media_types=("application/edi-x12",),
             description="professional claims (X12 837P, 4010 and 5010), one record per CLM")
