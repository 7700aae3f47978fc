"""Which policy an 837's payer means: X12 payer ids (NM1*PR09) to policy payer ids.

Two sources, merged: each policy's ``x12_payer_ids`` (the bundled Medicare policy lists
the Part B MAC contract numbers), and an installation's own mapping file, named by the
``PAYER_RULES_PAYER_MAP`` environment variable, for the ids a clearinghouse assigns. The
installation file wins where both name an id: it is the one that knows its clearinghouse.
Nothing bundled has to be edited.

The mapping file is YAML (safe loading), one entry per X12 payer id::

    payers:
      "SMPL1": medicare            # clearinghouse id for Medicare Part B
      "60054": generic-commercial

Also here: the words for the two per-claim errors a mapping problem causes (an unmapped
payer id, a line outside every policy version), so the engine and the docs say the same.
Payer ids and names are not patient data and are named in those messages; dates of
service are named only in results, never in logs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from .models import thaw
from .policy import PolicyError

ENV = "PAYER_RULES_PAYER_MAP"


class PayerMapError(PolicyError):
    """A mapping file that cannot be used; the message names the file and the entry. A
    PolicyError, so every command reports it as it reports a bad policy."""

    def __init__(self, message: str):
        super().__init__([message])  # type: ignore[list-item]  # a sentence, printed as is


def load(path: str | Path, known: Iterable[str] | None = None) -> dict[str, str]:
    """The X12 payer id -> policy payer id entries of one mapping file.

    ``known``: the loaded policies' payer ids; an entry naming another payer is an error
    (a typo would otherwise leave every claim of that payer unmapped, silently).
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise PayerMapError(f"{p}: cannot read the payer map ({exc.strerror or exc.__class__.__name__})") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise PayerMapError(f"{p}: not valid YAML{where}") from None
    if not isinstance(doc, Mapping) or not isinstance(doc.get("payers"), Mapping):
        raise PayerMapError(f"{p}: expected a mapping with a 'payers' mapping (X12 payer id: policy payer id)")
    known_set = set(known) if known is not None else None
    out: dict[str, str] = {}
    for x12_id, payer in doc["payers"].items():
        if not isinstance(x12_id, (str, int)) or isinstance(x12_id, bool) or not str(x12_id).strip():
            raise PayerMapError(f"{p}: payers: an X12 payer id must be text")
        key = str(x12_id).strip()
        if not isinstance(payer, str) or not payer.strip():
            raise PayerMapError(f"{p}: payers.{key}: the policy payer id must be text")
        if known_set is not None and payer not in known_set:
            raise PayerMapError(f"{p}: payers.{key}: no loaded policy has payer id '{payer}' "
                                f"(known: {', '.join(sorted(known_set)) or 'none'})")
        out[key] = payer
    for extra in doc:
        if extra != "payers":
            raise PayerMapError(f"{p}: unknown key '{extra}' (only 'payers')")
    return out


def merged(policy_ids: Mapping[str, str], known: Iterable[str],
           path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The policies' map with the installation's file (``path``, else ``$PAYER_RULES_PAYER_MAP``)
    laid over it."""
    if path is None:
        path = (os.environ if environ is None else environ).get(ENV) or None
    out = dict(policy_ids)
    if path:
        out.update(load(path, known))
    return out


def x12_source(extra: Mapping[str, Any]) -> tuple[str, ...] | None:
    """(payer id, payer name) an 837 reader kept in a claim's ``x12`` field, if any; for a
    claim the FHIR reader kept a ``fhir`` field in, (payer identifier, payer name, "fhir")."""
    src = extra.get("x12") if extra else None
    fmt = None
    if not isinstance(src, Mapping):
        src = extra.get("fhir") if extra else None
        if not isinstance(src, Mapping):
            return None
        fmt = "fhir"
    pid = src.get("payer_id")
    name = src.get("payer_name")
    ids = (pid if isinstance(pid, str) else "", name if isinstance(name, str) else "")
    return ids if fmt is None else ids + (fmt,)


def unmapped_message(payer_id: str, payer_name: str, fmt: str = "x12") -> str:
    """The per-claim error for an 837 (or FHIR Claim) payer no policy and no mapping file claims."""
    if fmt == "fhir":
        who = f"payer identifier '{payer_id}'" if payer_id else \
            "no payer identifier (Claim.insurer, or the focal Claim.insurance's Coverage.payor)"
        doc = "the FHIR Claim"
    else:
        who = f"payer id '{payer_id}'" if payer_id else "no payer id (NM1*PR09 empty)"
        doc = "the 837"
    named = f" ({payer_name})" if payer_name else ""
    return (f"payer: {doc} names {who}{named}, which no policy maps; add it to a policy's "
            f"x12_payer_ids or to the installation's payer map (${ENV}), or choose a payer with --payer")


def uncovered_message(payer: str, uncovered: list[tuple[int, str | None]], windows: list[tuple[str, str]]) -> str:
    """The per-claim error for lines whose date no version of the payer's policy covers:
    each line with its date, and every version's window. For the result only."""
    lines = ", ".join(f"line {n} ({d or 'no date'})" for n, d in uncovered)
    spans = "; ".join(f"{v}: {w}" for v, w in windows)
    return f"{lines}: outside every {payer} policy version ({spans})"


def sourced(result: Any, claim: Any) -> Any:
    """``result`` with ``source`` set from the claim's ``x12`` field (payer id and name as
    the 837 gave them), so a biller sees what was read; JSON claims are left as they are."""
    src = x12_source(claim.extra) if claim.extra else None
    if src is not None:
        if len(src) > 2:  # a FHIR Claim: also what its ClaimResponse repeats (references, type, created)
            fhir = claim.extra["fhir"]
            result.source = {"format": "fhir", "payer_id": src[0], "payer_name": src[1],
                             "fhir": {k: thaw(fhir[k]) for k in FHIR_SOURCE if k in fhir}}
        else:
            result.source = {"format": "x12", "payer_id": src[0], "payer_name": src[1]}
    return result


#: what a FHIR Claim's result keeps in ``source.fhir`` for its ClaimResponse
FHIR_SOURCE = ("request", "patient", "insurer", "type", "created")
