"""The built-in FHIR writers: results as R4 ``ClaimResponse`` resources (docs/fhir.md).

``fhir`` writes NDJSON, one ClaimResponse a line; ``fhir-bundle`` one Bundle of type
collection. The mapping is :mod:`payer_rules.fhir.response`.
"""

from payer_rules import hookimpl
from payer_rules.fhir.response import ClaimResponseBundleWriter, ClaimResponseWriter

PAYER_RULES_GLOBAL = True


@hookimpl
def register_writers(register):
    register("fhir", ClaimResponseWriter, extension=".ndjson", media_type="application/fhir+ndjson",
             description="one FHIR R4 ClaimResponse per result (NDJSON), with CARC/RARC reason codings")
    register("fhir-bundle", ClaimResponseBundleWriter, extension=".json", media_type="application/fhir+json",
             description="one FHIR R4 Bundle (collection) of ClaimResponses, one per result")
