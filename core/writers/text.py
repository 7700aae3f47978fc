"""The ``text`` writer: a readable block per claim, and the text form of ``explain``."""

from __future__ import annotations

import io
import json
from typing import Any, BinaryIO, Mapping, TextIO

from ..models import Result
from . import fix_text


def _s(v: Any) -> str:
    return "-" if v is None else str(v)


def render_text(result: Result, out: TextIO) -> None:
    """A readable block per claim: lines with units and reasons, then edits with fixes."""
    pol = result.policy or {}
    head = f"claim {result.claim_id or '?'}  payer {result.payer or '?'}"
    if pol:
        head += f"  policy {pol.get('id')} {pol.get('version')}"
    out.write(f"{head}  {result.status.upper()}\n")
    if result.lines:
        rows = [("line", "code", "min", "billed", "units", "by", "why")]
        for ln in result.lines:
            rows.append((str(ln.line), ln.code, _s(ln.minutes), _s(ln.billed_units), _s(ln.units), ln.source,
                         ln.explanation))
        widths = [max(len(r[i]) for r in rows) for i in range(6)]
        for r in rows:
            out.write("  " + "  ".join(c.ljust(w) for c, w in zip(r[:6], widths)) + "  " + r[6] + "\n")
    for e in result.edits:
        code = "-".join(x for x in (e.group, e.carc) if x) + (f" {e.rarc}" if e.rarc else "")
        out.write(f"  {e.severity.upper():7} {e.rule} [{code or 'no denial code'}] {e.message} ({e.source})\n")
        if e.fix:
            out.write(f"          fix: {fix_text(e.fix)}\n")
    out.write("\n")


def render_explain(info: Mapping[str, Any], out: TextIO) -> None:
    w = out.write
    w(f"claim {info.get('claim_id')}  payer {info.get('payer')}  {info['status'].upper()}\n")
    if info["status"] == "error":
        w(f"  could not be evaluated: {info['why']}\n\n")
        return
    w("policy version\n")
    for v in info["versions"]:
        w(f"  {v['why']}  ({v['file']})\n")
        w(f"    rules in force: {', '.join(v.get('rules') or ['none'])}\n")
        if v.get("patch"):
            w(f"    patch: {'; '.join(v['patch'])}\n")
    w("units\n")
    for i, step in enumerate(info["units"]["steps"], start=1):
        w(f"  {i}. {step}\n")
    for ln in info["units"]["lines"]:
        w(f"  line {ln['line']} {ln['code']}: {_s(ln['units'])} unit(s), decided by {ln['decided_by']}: {ln['why']}\n")
    w("edits\n")
    for e in info["edits"] or []:
        w(f"  {e['severity'].upper():7} {e['rule']} by {e['by']} [{e['denial'] or 'no denial code'}"
          f"{' ' + e['rarc'] if e['rarc'] else ''}] {e['message']}\n")
        if e["fix"]:
            w(f"          fix: {fix_text(e['fix'])}\n")
    if not info["edits"]:
        w("  none\n")
    w("did not fire\n")
    for m in info["near_misses"] or ["(nothing close)"]:
        w(f"  {m}\n")
    w("plugins\n")
    for hook, names in info["plugins"].items():
        w(f"  {hook}: {', '.join(names) or '-'}\n")
    w("\n")


class TextWriter:
    """Writes :func:`render_text` blocks as UTF-8; with ``check --fix``, the fixed claim."""

    def __init__(self, stream: BinaryIO, options: Mapping[str, Any]):
        self.stream = stream

    def write(self, result: Result, extra: Mapping[str, Any] | None = None) -> None:
        buf = io.StringIO()
        render_text(result, buf)
        if extra:
            buf.write(f"  fixed claim ({len(extra['fixes_applied'])} fix(es) applied, "
                      f"{len(extra['fixes_left'])} left for a person):\n"
                      f"  {json.dumps(extra['fixed_claim'], ensure_ascii=False)}\n\n")
        self.stream.write(buf.getvalue().encode("utf-8"))

    def close(self) -> None:
        self.stream.flush()
