"""Implementation-guide validation of an X12 file with pyx12 (the optional ``x12-validate``
extra), off the default reading path.

Why separate: the claim reader checks what the engine needs (the envelope, the fields it
reads) and is built for speed; pyx12 walks the whole implementation guide (loops, required
segments, element lengths, code values) and is far slower, so it is a command of its own
(``payer-rules validate-x12 FILE``) and a function (:func:`validate_x12`) for a person
preparing a file for a clearinghouse, not a step of ``check``.

Each finding names the segment number counted from ``ISA`` as 1 (the numbering the claim
reader's messages use) and the segment's position in its transaction set (``ST`` as 1, as
a 999 acknowledgement counts). pyx12 quotes element values in some messages (a too-long
member id, an invalid date): they are replaced by ``…`` here, so no claim data reaches
the output.
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

#: the extra and its install command, for the message when pyx12 is missing
EXTRA = "x12-validate"
INSTALL = "pip install 'payer-rules[x12-validate]'"


class ValidatorMissing(RuntimeError):
    """pyx12 is not installed."""


@dataclass(frozen=True)
class Finding:
    """One problem pyx12 reports.

    ``level``: interchange, group, transaction, segment or element. ``segment``: the
    segment number from ISA (None for a problem of a whole envelope level it did not tie to
    a segment); ``position``: the segment's number within its transaction set.
    ``segment_id`` and ``element`` (e.g. ``NM109``) say where; ``code`` is pyx12's error
    code (the 999's IK3/IK4 codes for segments and elements)."""

    level: str
    segment: int | None
    position: int | None
    segment_id: str | None
    element: str | None
    code: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def words(self) -> str:
        where = f"segment {self.segment}" if self.segment is not None else self.level
        if self.segment_id:
            where += f" {self.segment_id}"
        if self.position is not None:
            where += f" ({self.position} in its transaction set)"
        if self.element:
            where += f" {self.element}"
        return f"{where}: {self.message} [pyx12 {self.code}]"


def available() -> bool:
    try:
        import pyx12  # noqa: F401
    except ImportError:
        return False
    return True


def _redact(message: str, value: Any) -> str:
    if isinstance(value, str) and value:
        message = message.replace(value, "…")
    return message


def validate_x12(path: str | Path) -> tuple[bool, list[Finding]]:
    """(valid, findings) for the X12 file at ``path`` against its implementation guide
    (chosen by pyx12 from GS08, e.g. 005010X222A1 for the 837P). Raises
    :class:`ValidatorMissing` without pyx12, OSError when the file cannot be read and
    ValueError when it is not an X12 file."""
    try:
        import pyx12.params
        import pyx12.x12n_document
    except ImportError:
        raise ValidatorMissing(f"implementation-guide validation needs pyx12: install the "
                               f"'{EXTRA}' extra ({INSTALL})") from None
    logger = logging.getLogger("pyx12")  # it logs segment contents: keep them off stderr
    level, propagate = logger.level, logger.propagate
    logger.setLevel(logging.CRITICAL + 1)
    logger.propagate = False
    try:
        with open(path, encoding="utf-8", errors="replace", newline="") as fh:
            text = fh.read()
        if not text.lstrip("\ufeff \r\n").startswith("ISA"):
            raise ValueError(f"{path}: not an X12 interchange (it does not start with ISA)")
        report = io.StringIO()
        valid = pyx12.x12n_document.x12n_document(pyx12.params.params(), io.StringIO(text), None, None,
                                                  None, report)
    finally:
        logger.setLevel(level)
        logger.propagate = propagate
    doc = json.loads(report.getvalue() or "{}")
    findings: list[Finding] = []

    def add(level: str, node: dict, errors: list, segment: dict | None = None, element: str | None = None) -> None:
        seg = segment or {}
        for e in errors:
            findings.append(Finding(
                level=level, segment=seg.get("cur_line") if segment else node.get("cur_line"),
                position=seg.get("seg_count"), segment_id=seg.get("seg_id"), element=element,
                code=str(e.get("err_cde", "")), message=_redact(str(e.get("err_str", "")), e.get("err_val"))))

    for isa in doc.get("interchanges", []):
        add("interchange", isa, isa.get("errors", []))
        for gs in isa.get("groups", []):
            add("group", gs, gs.get("errors", []))
            for st in gs.get("transactions", []):
                add("transaction", st, st.get("errors", []))
                for seg in st.get("segments", []):
                    add("segment", seg, seg.get("errors", []), seg)
                    for ele in seg.get("elements", []):
                        ref = f"{seg.get('seg_id') or ''}{int(ele['ele_pos']):02d}" if ele.get("ele_pos") else None
                        if ref and ele.get("subele_pos"):
                            ref += f"-{ele['subele_pos']}"
                        add("element", ele, ele.get("errors", []), seg, ref)
    return bool(valid) and not findings, findings
