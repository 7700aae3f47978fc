"""The built-in ``fhir`` reader: FHIR R4 ``Claim`` resources (a Bundle, one Claim, or NDJSON).

Registered like any third-party reader; the reading is :mod:`payer_rules.fhir.reader` and
the mapping :mod:`payer_rules.fhir.claims` (docs/fhir.md).
"""

from payer_rules import hookimpl
from payer_rules.fhir import reader

PAYER_RULES_GLOBAL = True


@hookimpl
def register_readers(register):
    register("fhir", reader.read, sniff=reader.sniff, extensions=(".fhir.json", ".fhir.ndjson"),
             media_types=("application/fhir+json", "application/fhir+ndjson"),
             description="FHIR R4 Claim resources: a Bundle, one Claim, or NDJSON (one resource a line)")
