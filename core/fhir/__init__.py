"""FHIR R4: ``Claim`` resources in, ``ClaimResponse`` resources out (docs/fhir.md).

The reader (:mod:`payer_rules.fhir.reader`, registered as ``fhir`` by
``payer_rules.plugins.fhir_reader``) maps each R4 ``Claim`` of a Bundle or of NDJSON into the
claim model (:mod:`payer_rules.fhir.claims` does one resource); the writers
(:mod:`payer_rules.fhir.response`, ``--format fhir`` and ``--format fhir-bundle``) turn each
result into a ``ClaimResponse``. Only the standard library and orjson are used: FHIR support
needs no extra. The code systems and the project's own extension are named here once, so the
reader, the writers and docs/fhir.md say the same.
"""

from __future__ import annotations

#: the FHIR version read and written
FHIR_VERSION = "4.0.1"

CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
#: the code systems a line's code and modifiers are read from
PROCEDURE_SYSTEMS = (CPT, HCPCS)
ICD10_SYSTEMS = ("http://hl7.org/fhir/sid/icd-10-cm", "http://hl7.org/fhir/sid/icd-10")
CARC = "https://x12.org/codes/claim-adjustment-reason-codes"
RARC = "https://x12.org/codes/remittance-advice-remark-codes"
ADJUDICATION = "http://terminology.hl7.org/CodeSystem/adjudication"
CLAIM_TYPE = "http://terminology.hl7.org/CodeSystem/claim-type"
DATA_ABSENT = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"

#: the project's own canonical base (the same reserved domain as its JSON Schemas' $id)
BASE = "https://payer-rules.invalid/fhir"
#: extension on Claim.item: the timed minutes of the service (valueInteger, 0 to 1440)
MINUTES_EXTENSION = f"{BASE}/StructureDefinition/treatment-minutes"
#: identifier system whose values are payer-rules policy payer ids (``medicare``), taken as is
PAYER_SYSTEM = f"{BASE}/payer"
#: code system of payer-rules edit ids (``mue.mai3``) in ClaimResponse.error and reasons
EDIT_SYSTEM = f"{BASE}/CodeSystem/edit"

__all__ = ["FHIR_VERSION", "CPT", "HCPCS", "PROCEDURE_SYSTEMS", "ICD10_SYSTEMS", "CARC", "RARC", "ADJUDICATION",
           "CLAIM_TYPE", "DATA_ABSENT", "BASE", "MINUTES_EXTENSION", "PAYER_SYSTEM", "EDIT_SYSTEM"]
