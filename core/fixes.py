"""Applying the machine-readable fixes of a result to the claim that produced it.

Only fixes that need no clinical judgment carry an ``action`` this module applies:
``set_units``, ``add_modifier``, ``remove_modifier``, ``replace_code``, ``remove_line``.
Anything else (``merge_lines``, ``add_minutes``, a modifier with several ``choices``) is
left for a person and listed as not applied. The claim is copied, never changed in place;
fields this module does not touch (including unknown ones) are kept as they were.

When two fixes set units on the same line (over-billing and an MUE, say), the smaller
value wins; a removed line takes no other fix.

Fixes interact: adding GP to a line moves it into the PT group, which changes the day's
units. :func:`fix_claim` therefore applies one kind at a time and evaluates again in
between: modifiers and codes first, then removed lines, then units, until nothing is
left to apply.
"""

from __future__ import annotations

import copy
from typing import Any

from .models import Result

APPLIED = ("set_units", "add_modifier", "remove_modifier", "replace_code", "remove_line")


ROUNDS = (("add_modifier", "remove_modifier", "replace_code"), ("remove_line",), ("set_units",))


def fix_claim(engine, raw: dict[str, Any], payer: str | None = None, max_passes: int = 8):
    """Evaluate, fix, evaluate again. Returns (result of the fixed claim, fixed claim,
    fixes applied, fixes left for a person)."""
    result = engine.evaluate(raw, payer)
    applied_all: list[dict] = []
    current = raw
    for _ in range(max_passes):
        if result.status == "error":
            break
        for kinds in ROUNDS:
            fixed, applied, _ = apply_fixes(current, result, kinds)
            if applied:
                break
        else:
            break
        applied_all.extend(applied)
        current = fixed
        result = engine.evaluate(current, payer)
    _, _, left = apply_fixes(current, result, ())
    return result, current, applied_all, left


def apply_fixes(raw: dict[str, Any], result: Result, kinds: tuple[str, ...] = APPLIED
                ) -> tuple[dict[str, Any], list[dict], list[dict]]:
    """Apply the fixes of ``kinds`` once. Return (fixed claim, fixes applied, fixes not applied)."""
    fixed = copy.deepcopy(raw)
    lines = fixed.get("lines") or []
    by_no = {}
    for pos, ln in enumerate(lines, start=1):
        if isinstance(ln, dict):
            by_no[ln.get("line", pos)] = ln
    wanted: list[dict] = []
    left: list[dict] = []
    for e in result.edits:
        if not e.fix:
            continue
        fix = dict(e.fix, rule=e.rule)
        if fix.get("action") in kinds and fix.get("line") in by_no and ("choices" not in fix):
            wanted.append(fix)
        elif fix.get("action") not in APPLIED or "choices" in fix:
            left.append(fix)
    removed = {f["line"] for f in wanted if f["action"] == "remove_line"}
    units: dict[int, int] = {}
    applied: list[dict] = []
    for f in wanted:
        n, action = f["line"], f["action"]
        if action == "remove_line":
            continue
        if n in removed:
            left.append(dict(f, reason="line removed by another fix"))
            continue
        ln = by_no[n]
        if action == "set_units":
            units[n] = min(units.get(n, f["units"]), f["units"])
            continue
        mods = list(ln.get("modifiers") or [])
        if action == "add_modifier" and f["modifier"] not in mods:
            ln["modifiers"] = mods + [f["modifier"]]
        elif action == "remove_modifier":
            ln["modifiers"] = [m for m in mods if str(m).upper() != f["modifier"]]
        elif action == "replace_code":
            ln["code"] = f["code"]
        applied.append(f)
    for n, u in sorted(units.items()):
        by_no[n]["units"] = u
        applied.append({"action": "set_units", "line": n, "units": u,
                        "rule": ",".join(f["rule"] for f in wanted if f["action"] == "set_units" and f["line"] == n)})
    if removed:
        fixed["lines"] = [ln for pos, ln in enumerate(lines, start=1)
                          if not (isinstance(ln, dict) and ln.get("line", pos) in removed)]
        # keep the original line numbers, so the fixed claim still matches the result
        for pos, ln in enumerate(lines, start=1):
            if isinstance(ln, dict) and "line" not in ln and ln in fixed["lines"]:
                ln["line"] = pos
        applied.extend(f for f in wanted if f["action"] == "remove_line")
    return fixed, applied, left
