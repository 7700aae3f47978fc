"""``payer-rules tables import``: turn a CMS release into a table file a policy can name.

The output is one normalised CSV (gzip when the name ends in .gz) plus a provenance file
beside it (``<out>.provenance.json``: kind, version, source files and their SHA-256, row
count, code filter, and the dates the release is valid for, ``valid_from``/``valid_to``,
which :mod:`.validity` reads). For PTP the compact index is built and cached at the same time, so
the first policy load after an import is already fast. The bundled Medicare tables were
made with this command from public CMS releases (see payer_configs/tables/README.md).
What each kind writes is its module's ``HEADER`` and ``import_rows`` (:data:`.KINDS`).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from pathlib import Path

from .cache import file_digest
from .registry import KINDS as _REGISTRY
from .source import TableError
from .validity import is_iso_date

KINDS = tuple(_REGISTRY)


def _open_out(path: Path):
    if path.suffix == ".gz":
        # mtime=0 keeps the file byte-identical for the same input
        return io.TextIOWrapper(gzip.GzipFile(filename="", mode="wb", fileobj=open(path, "wb"), mtime=0),
                                encoding="utf-8", newline="")
    return open(path, "w", encoding="utf-8", newline="")


def import_table(kind: str, sources: list[Path], out: Path, version: str, codes: str | None = None,
                 valid_from: str | None = None, valid_to: str | None = None) -> dict:
    """Read ``sources`` (any supported layout), keep rows whose codes match ``codes``
    (a regular expression; both columns for PTP), write ``out`` and its provenance, with
    the dates the release is valid for (YYYY-MM-DD; None: open)."""
    if kind not in _REGISTRY:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    for what, d in (("valid_from", valid_from), ("valid_to", valid_to)):
        if d is not None and not is_iso_date(d):
            raise TableError(str(out), None, f"{what}: expected a date YYYY-MM-DD, got {d!r}")
    if valid_from and valid_to and valid_to < valid_from:
        raise TableError(str(out), None, "valid_to is before valid_from")
    spec = _REGISTRY[kind]
    keep = re.compile(codes).fullmatch if codes else (lambda c: True)
    rows = 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with _open_out(out) as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(spec.header)
        for row in spec.import_rows(sources, keep):
            w.writerow(row)
            rows += 1
    provenance = {
        "kind": kind,
        "version": version,
        "rows": rows,
        "code_filter": codes,
        "sources": [{"file": s.name, "sha256": file_digest([s])} for s in sources],
        "file_sha256": file_digest([out]),
        "valid_from": valid_from,
        "valid_to": valid_to,
    }
    Path(str(out) + ".provenance.json").write_text(json.dumps(provenance, indent=2) + "\n")
    if spec.after_import is not None:
        spec.after_import(out)
    return provenance


__all__ = ["import_table", "KINDS"]
