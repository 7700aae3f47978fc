"""``payer-rules tables import``: turn a CMS release into a table file a policy can name.

The output is one normalised CSV (gzip when the name ends in .gz) plus a provenance file
beside it (``<out>.provenance.json``: kind, version, source files and their SHA-256, row
count, code filter). For PTP the compact index is built and cached at the same time, so
the first policy load after an import is already fast. The bundled Medicare tables were
made with this command from ``../shared/data`` (see payer_configs/tables/README.md).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from pathlib import Path

from .tables import NO_DELETION, file_digest, iter_ptp_rows, load_ptp, read_mue, read_pfs

KINDS = ("ptp", "mue", "pfs")


def _open_out(path: Path):
    if path.suffix == ".gz":
        # mtime=0 keeps the file byte-identical for the same input
        return io.TextIOWrapper(gzip.GzipFile(filename="", mode="wb", fileobj=open(path, "wb"), mtime=0),
                                encoding="utf-8", newline="")
    return open(path, "w", encoding="utf-8", newline="")


def import_table(kind: str, sources: list[Path], out: Path, version: str, codes: str | None = None) -> dict:
    """Read ``sources`` (any supported layout), keep rows whose codes match ``codes``
    (a regular expression; both columns for PTP), write ``out`` and its provenance."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    keep = re.compile(codes).fullmatch if codes else (lambda c: True)
    rows = 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with _open_out(out) as fh:
        w = csv.writer(fh, lineterminator="\n")
        if kind == "ptp":
            w.writerow(["column1", "column2", "effective_date", "deletion_date", "modifier_indicator", "rationale"])
            for src in sources:
                for _, c1, c2, eff, dele, mod, rat in iter_ptp_rows(src):
                    if keep(c1) and keep(c2):
                        w.writerow([c1, c2, f"{eff:08d}", "*" if dele == NO_DELETION else dele, mod, rat])
                        rows += 1
        elif kind == "mue":
            w.writerow(["hcpcs", "mue_value", "mue_adjudication_indicator", "mue_rationale"])
            merged = {}
            for src in sources:
                merged.update(read_mue(src))
            for code in sorted(merged):
                if keep(code):
                    m = merged[code]
                    w.writerow([m.code, m.value, m.mai, m.rationale])
                    rows += 1
        else:
            w.writerow(["hcpcs", "modifier", "status", "mult_proc"])
            merged = {}
            for src in sources:
                merged.update(read_pfs(src))
            for code in sorted(merged):
                if keep(code):
                    s = merged[code]
                    w.writerow([s.code, "", s.status, s.mult_proc])
                    rows += 1
    provenance = {
        "kind": kind,
        "version": version,
        "rows": rows,
        "code_filter": codes,
        "sources": [{"file": s.name, "sha256": file_digest([s])} for s in sources],
        "file_sha256": file_digest([out]),
    }
    Path(str(out) + ".provenance.json").write_text(json.dumps(provenance, indent=2) + "\n")
    if kind == "ptp":
        load_ptp([out])  # builds and caches the index now
    return provenance


__all__ = ["import_table", "KINDS"]
