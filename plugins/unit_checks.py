"""Edits about units: billed units that differ from computed units, lines whose units
cannot be verified, ties the fixed rule broke, and a timed code repeated on one date.

Over-billing is an error (the payer reduces or denies); under-billing is a warning
(money left on the table, not a denial). The computed value is always the fix.
"""

from __future__ import annotations

from payer_rules import Edit, hookimpl

SOURCE = "unit_checks"
PAYER_RULES_GLOBAL = True


@hookimpl
def register_edits(register):
    edit = lambda rule, severity, what, denial=None: register(  # noqa: E731
        rule, category="units", severity=severity, section="codes", description=what, denial=denial)
    edit("units.over_billed", "error", "more units billed than the minutes support")
    edit("units.under_billed", "warning", "fewer units billed than the minutes support (money left unbilled)")
    edit("units.unverified", "warning", "a timed line without minutes or start and end times: units cannot be checked")
    edit("units.timed_code_repeated", "warning", "a timed code on more than one line for the same date")
    edit("units.tie_broken", "info", "minutes tied and the engine chose deterministically which code gets the unit")


@hookimpl
def check_claim(claim, policy, allocation):
    edits = []
    decisions = allocation.decisions
    timed = policy.timed
    seen: dict[tuple[str, str], int] = {}
    for ln in claim.lines:
        is_timed = ln.code in timed
        if is_timed:
            key = (ln.date_of_service, ln.code)
            first = seen.get(key)
            if first is None:
                seen[key] = ln.line
            else:
                edits.append(Edit(
                    rule="units.timed_code_repeated", category="units", severity="warning",
                    lines=(first, ln.line),
                    message=(f"lines {first} and {ln.line}: timed code {ln.code} appears on more than one "
                             "line for the same date of service; some contractors reject this"),
                    source=SOURCE,
                    fix={"action": "merge_lines", "lines": [first, ln.line], "code": ln.code},
                ))
        d = decisions.get(ln.line)
        if d is None:
            continue
        if d.units is None:
            if is_timed:
                edits.append(Edit(
                    rule="units.unverified", category="units", severity="warning", lines=(ln.line,),
                    message=f"line {ln.line} {ln.code}: {d.explanation}",
                    source=SOURCE,
                    fix={"action": "add_minutes", "line": ln.line,
                         "note": "record the timed minutes (or start and end times) of this service"},
                ))
            continue
        if ln.units is None or ln.units == d.units:
            continue
        over = ln.units > d.units
        edits.append(Edit(
            rule="units.over_billed" if over else "units.under_billed",
            category="units",
            severity="error" if over else "warning",
            lines=(ln.line,),
            message=(f"line {ln.line} {ln.code}: {ln.units} unit(s) billed, {d.units} supported "
                     f"({allocation.method if is_timed else 'untimed code'})"),
            source=SOURCE,
            fix={"action": "set_units", "line": ln.line, "units": d.units} if d.units else
                {"action": "remove_line", "line": ln.line},
        ))
    for tie in allocation.ties:
        edits.append(Edit(
            rule="units.tie_broken", category="units", severity="info",
            lines=tuple(ln.line for ln in claim.lines if ln.code in timed),
            message=f"a tie was broken deterministically: {tie}", source=SOURCE,
        ))
    return edits
