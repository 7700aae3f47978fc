"""The ``fhir`` reader: R4 ``Claim`` resources from a Bundle, a single Claim, or NDJSON.

The file is split into JSON values exactly as the ``jsonl`` reader splits it
(:func:`payer_rules.readers.jsonl.raw_records`: NDJSON streams one line at a time in
constant memory; a pretty-printed document is read whole up to ``max_file_bytes``), and each
value is then taken as a FHIR resource:

- a ``Claim`` is one record;
- a ``Bundle`` gives one record per entry whose resource is a Claim, in entry order; its
  other entries (Organization, Coverage, Patient ...) are only context: an insurer or
  coverage reference is resolved against them (by ``fullUrl`` or ``Type/id``), and a
  Claim's ``contained`` resources by ``#id``. A Bundle without a Claim is one error record;
- anything else (another resource type on an NDJSON line, malformed JSON) is an error
  record in its place, so N claims in give N results out.

Each record is bounded like a JSON claim (``max_depth`` levels, ``max_claim_lines`` items a Claim)
and mapped by :func:`payer_rules.fhir.claims.claim_from_resource`; a Claim it cannot map is a
ReadError whose message names the file, the line or Bundle entry, and the elements' paths.
"""

from __future__ import annotations

import re
from typing import Any, BinaryIO, Iterator

import orjson

from ..readers import ReadError, ReadOptions, limit_message
from ..readers.jsonl import BOM, describe, raw_records
from .claims import claim_from_resource, claim_id_of

RESOURCE_TYPES = (b"Bundle", b"Claim")
_TYPE_NAME = re.compile(r"[A-Z][A-Za-z]{1,63}")


def sniff(head: bytes) -> bool:
    """A JSON object whose own ``resourceType`` (not a nested one's) is Bundle or Claim,
    within the first bytes: a FHIR Bundle, a Claim, or NDJSON of Claims."""
    head = head[3:] if head.startswith(BOM) else head
    head = head.lstrip()
    if head[:1] != b"{":
        return False
    return _top_level_type(head) in RESOURCE_TYPES


def _top_level_type(text: bytes) -> bytes | None:
    """The value of the first object's top-level ``resourceType`` key, read with a small
    scanner that tracks strings and nesting (the head may be cut anywhere)."""
    depth, i, n = 0, 0, len(text)
    expect_value = False
    while i < n:
        c = text[i]
        if c == 0x22:  # a string
            j = i + 1
            while j < n and text[j] != 0x22:
                j += 2 if text[j] == 0x5C else 1
            if j >= n:
                return None
            token = text[i + 1:j]
            if expect_value:
                return token
            k = j + 1
            while k < n and text[k] in b" \t\r\n":
                k += 1
            if depth == 1 and token == b"resourceType" and k < n and text[k] == 0x3A:
                expect_value = True
                i = k + 1
                continue
            i = j + 1
            continue
        if expect_value and c not in b" \t\r\n":
            return None  # resourceType is not a string
        if c in b"{[":
            depth += 1
        elif c in b"}]":
            depth -= 1
            if depth == 0:
                return None
        i += 1
    return None


def _context(resources: list[Any]) -> dict[str, dict]:
    """Bundle entries by fullUrl and by ``Type/id``, for resolving references."""
    out: dict[str, dict] = {}
    for entry in resources:
        if type(entry) is not dict or type(entry.get("resource")) is not dict:
            continue
        res = entry["resource"]
        if type(entry.get("fullUrl")) is str:
            out.setdefault(entry["fullUrl"], res)
        rt, rid = res.get("resourceType"), res.get("id")
        if type(rt) is str and type(rid) is str:
            out.setdefault(f"{rt}/{rid}", res)
    return out


def _resolver(claim: dict, bundle: dict[str, dict]):
    contained = {f"#{r['id']}": r for r in claim.get("contained") or ()
                 if type(r) is dict and type(r.get("id")) is str} if type(claim.get("contained")) is list else {}

    def resolve(reference: str) -> dict | None:
        if reference.startswith("#"):
            return contained.get(reference)
        found = bundle.get(reference)
        if found is None and "/" in reference:  # an absolute URL ending in Type/id
            tail = "/".join(reference.rstrip("/").split("/")[-2:])
            found = bundle.get(tail)
        return found
    return resolve


_STRINGS = re.compile(rb'"[^"]*"')
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'{}[]"')


def too_deep(raw: bytes, limit: int) -> bool:
    """Whether the JSON text ``raw`` (already parsed, so valid) nests deeper than ``limit``
    objects and arrays: counted on its brackets outside strings, found with C-level
    replace, translate and one regular expression, so a record is bounded at a fraction of
    the cost of walking the parsed value. Escaped backslashes go first, then escaped
    quotes, which leaves every remaining quote a string's own."""
    if raw.count(b"{") + raw.count(b"[") <= limit:
        return False
    text = raw.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_STRUCTURE)
    depth = 0
    for c in _STRINGS.sub(b"", text):
        if c == 0x7B or c == 0x5B:
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def _claim(res: dict, where: str, options: ReadOptions, bundle: dict[str, dict]) -> Any:
    """One Claim resource: the claim dict, or a ReadError naming the place and the paths.
    Its depth was bounded with the record it came in (:func:`too_deep`, or the document
    check of :func:`~payer_rules.readers.jsonl.raw_records`)."""
    items = res.get("item")
    if type(items) is list and len(items) > options.max_claim_lines:
        return ReadError(f"{where}: " + limit_message("max_claim_lines", options, f"{len(items):,} Claim items"))
    mapped = claim_from_resource(res, options.x12_payers, _resolver(res, bundle))
    if type(mapped) is list:
        return ReadError(f"{where}: " + "; ".join(mapped), claim_id_of(res))
    return mapped


def _kind(value: Any) -> str:
    rt = value.get("resourceType") if type(value) is dict else None
    if type(rt) is str and _TYPE_NAME.fullmatch(rt):
        return f"a {rt} resource"
    return "not a FHIR resource (no resourceType)" if type(value) is dict else "not a JSON object"


def resources(value: Any, where: str, options: ReadOptions) -> Iterator[Any]:
    """The records one JSON value holds: a claim dict or ReadError per Claim."""
    rt = value.get("resourceType") if type(value) is dict else None
    if rt == "Claim":
        yield _claim(value, where, options, {})
        return
    if rt != "Bundle":
        kind = _kind(value)
        yield ReadError(f"{where}: {kind}, not a Claim" if kind.startswith("a ") else f"{where}: {kind}")
        return
    entries = value.get("entry")
    if entries is None:
        entries = []
    if type(entries) is not list:
        yield ReadError(f"{where}: Bundle.entry must be a list")
        return
    bundle = _context(entries)
    found = 0
    for k, entry in enumerate(entries):
        res = entry.get("resource") if type(entry) is dict else None
        if type(res) is not dict:
            found += 1
            yield ReadError(f"{where}: Bundle.entry[{k}]: no resource (each entry must carry one)")
            continue
        if res.get("resourceType") == "Claim":
            found += 1
            yield _claim(res, f"{where}: Bundle.entry[{k}]", options, bundle)
    if not found:
        yield ReadError(f"{where}: the Bundle holds no Claim resource")


def read(fh: BinaryIO, name: str, options: ReadOptions) -> Iterator[tuple[int, Any]]:
    """The reader (``register_readers``): ``(record number, claim dict or ReadError)``."""
    n = 0
    for _, lineno, rec in raw_records(fh, name, options):
        where = f"{name}:{lineno}" if lineno else name
        if type(rec) is bytes:
            if len(rec) > options.max_record_bytes:
                n += 1
                yield n, ReadError(f"{where}: " + limit_message("max_record_bytes", options,
                                                                 f"the line's {len(rec):,} bytes"))
                continue
            try:
                value = orjson.loads(rec)
            except orjson.JSONDecodeError as exc:
                n += 1
                yield n, ReadError(f"{where}: {describe(exc)}")
                continue
            if too_deep(rec, options.max_depth):
                n += 1
                yield n, ReadError(f"{where}: " + limit_message("max_depth", options, "the record nests"))
                continue
            rec = value
        elif type(rec) is ReadError:
            n += 1
            yield n, rec
            continue
        for record in resources(rec, where, options):
            n += 1
            yield n, record


__all__ = ["sniff", "read", "resources"]
