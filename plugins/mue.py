"""Medically Unlikely Edits (CMS NCCI; docs/edits.md).

MAI 1: per claim line; lines that carry a distinct-service or anatomic modifier
(policy ``mue.separate_line_modifiers``) each count on their own, the other lines of the
same code and date count together. MAI 2 (policy) and 3 (clinical): per date of service;
when all units of the code on that date exceed the value, all of them are denied.

Units are the billed units of a line, or the computed units when none are billed.

A line whose date lies outside the table's dates (``tables.mue`` valid_from/valid_to, or
its provenance file's) is not judged by it: the claim gets ``mue.table_out_of_range``
naming the table, the lines and the dates instead.
"""

from __future__ import annotations

from payer_rules import Edit, hookimpl
from payer_rules.plugins import section_schema
from payer_rules.tables import out_of_range_message, required_table, table_validity

SOURCE = "mue"
PAYER_RULES_GLOBAL = True
MAI_TEXT = {1: "per line", 2: "per date of service (policy)", 3: "per date of service (clinical, appealable)"}


@hookimpl
def register_policy_sections(register):
    register("mue", section_schema("mue"))


@hookimpl
def register_edits(register):
    for mai in (1, 2, 3):
        register(f"mue.mai{mai}", category="mue", severity="error", section="mue",
                 description=f"units of a code exceed its Medically Unlikely Edit value ({MAI_TEXT[mai]})",
                 denial={"group": "CO", "carc": "96", "rarc": "N362"})
    register("mue.table_out_of_range", category="mue", severity="warning", section="mue",
             description="lines dated outside the MUE table's valid dates: not checked against it (the policy "
                         "needs the release in force on those dates)",
             denial={"group": None, "carc": None, "rarc": None})


@hookimpl
def policy_edits(policy, data):
    """The MUE edits this version's table can produce: one per indicator it holds."""
    if data is None:
        return []
    return sorted({f"mue.mai{m.mai}" for m in data[0].values()}) + (["mue.table_out_of_range"] if data[3] else [])


@hookimpl
def prepare_policy(policy, base_dir, options):
    cfg = policy.settings.get("mue")
    if cfg is None:
        return None
    table, version = required_table(policy, "mue", "mue", options)
    validity = table_validity(policy, "mue")
    return table, version, frozenset(cfg.get("separate_line_modifiers", [])), validity if validity.bounded else None


def _outside(claim, validity) -> list:
    """Lines dated outside the table's dates (none when the table declares no dates)."""
    if validity is None:
        return []
    return [ln for ln in claim.lines if not validity.covers(ln.date_of_service)]


def _groups(claim, allocation, table, separate, skip=()) -> dict[tuple, list]:
    """Lines with units, by what an MUE counts together: (date, code, line or None).

    Units are the billed units, else the computed ones. Under MAI 1 a line with one of
    ``separate`` counts on its own (its line number in the key).
    """
    groups: dict[tuple, list] = {}
    for ln in claim.lines:
        mue = table.get(ln.code)
        if mue is None or ln.line in skip:
            continue
        units = ln.units if ln.units is not None else allocation.decisions[ln.line].units
        if not units:
            continue
        own = mue.mai == 1 and not separate.isdisjoint(ln.modifiers)
        groups.setdefault((ln.date_of_service, ln.code, ln.line if own else None), []).append((ln, units))
    return groups


@hookimpl
def check_claim(claim, policy, allocation, data):
    if data is None:
        return []
    table, version, separate, validity = data
    outside = _outside(claim, validity)
    edits = []
    if outside:
        edits.append(Edit(rule="mue.table_out_of_range", category="mue", severity="warning",
                          lines=tuple(ln.line for ln in outside), source=SOURCE,
                          message=out_of_range_message(validity, [(ln.line, ln.date_of_service) for ln in outside])))
    skip = {ln.line for ln in outside}
    # First, cheaply: can any code exceed its MUE at all? A group never holds more units
    # than its code on the whole claim, so when no code's claim total exceeds, nothing does.
    totals: dict[str, int] = {}
    decisions = allocation.decisions
    over = False
    for ln in claim.lines:
        mue = table.get(ln.code)
        if mue is None or (skip and ln.line in skip):
            continue
        units = ln.units if ln.units is not None else decisions[ln.line].units
        if units:
            total = totals[ln.code] = totals.get(ln.code, 0) + units
            if total > mue.value:
                over = True
    if not over:
        return edits
    groups = _groups(claim, allocation, table, separate, skip)
    for (_, code, _), members in groups.items():
        mue = table[code]
        total = sum(u for _, u in members)
        if total <= mue.value:
            continue
        lines = tuple(ln.line for ln, _ in members)
        what = "line" if len(lines) == 1 else "lines"
        if mue.value == 0:
            msg = f"{what} {', '.join(map(str, lines))} {code}: MUE is 0 ({version}): never payable to practitioners"
        else:
            msg = (f"{what} {', '.join(map(str, lines))} {code}: {total} units exceed the MUE of {mue.value} "
                   f"({MAI_TEXT[mue.mai]}, {version})"
                   + ("; all units of the code on that date are denied" if mue.mai in (2, 3) else ""))
        fix = None
        if mue.mai in (1, 2) and len(members) == 1:
            fix = {"action": "set_units", "line": lines[0], "units": mue.value} if mue.value else \
                {"action": "remove_line", "line": lines[0]}
        edits.append(Edit(rule=f"mue.mai{mue.mai}", category="mue", severity="error", lines=lines, message=msg,
                          source=SOURCE, fix=fix))
    return edits


@hookimpl
def explain_claim(claim, policy, allocation, data):
    """Each code's units against its MUE when not exceeded."""
    if data is None:
        return []
    table, version, separate, validity = data
    out = []
    outside = _outside(claim, validity)
    if outside:
        out.append(out_of_range_message(validity, [(ln.line, ln.date_of_service) for ln in outside]))
    for (dos, code, _), members in sorted(_groups(claim, allocation, table, separate, {ln.line for ln in outside}).items(), key=str):
        total = sum(u for _, u in members)
        if total <= table[code].value:
            out.append(f"MUE {code} on {dos}: {total} unit(s) of {table[code].value} allowed "
                       f"({MAI_TEXT[table[code].mai]})")
    return out
