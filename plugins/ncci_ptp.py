"""NCCI procedure-to-procedure edits (domain.md s. 3).

For every two lines of a claim on the same date of service, the table row for
(column 1 = one code, column 2 = the other) whose window covers the date decides:
modifier indicator 0, the column-2 line is never separately payable; 1, it is payable
when an NCCI-associated modifier shows the services were distinct; 9, no edit. The edit
lands on the column-2 line.

Policy settings (``ncci``): which modifiers bypass an indicator-1 edit; which line must
carry it (``column2``, or ``either`` from a date for the 59/X modifiers); which bypass
modifiers also need different body regions on the two lines; and ``overrides``, rows a
payer applies differently from the table (a commercial payer that pays 97124 with 97140
given 59 and distinct regions, where Medicare's table says never).
"""

from __future__ import annotations

from dataclasses import dataclass

from payer_rules import Edit, hookimpl
from payer_rules.plugins import section_schema
from payer_rules.tables import PtpRow, dos_int, int_date, required_table

SOURCE = "ncci_ptp"
PAYER_RULES_GLOBAL = True


@hookimpl
def register_policy_sections(register):
    register("ncci", section_schema("ncci"))


@hookimpl
def policy_edits(policy, data):
    return [] if data is None else ["ncci.ptp"]


@hookimpl
def lint_policy(policy, data, versions):
    from payer_rules.lint import override_problems
    return [] if data is None else override_problems(data, policy)


@hookimpl
def register_edits(register):
    register("ncci.ptp", category="bundling", severity="error", section="ncci",
             description="the Column 2 code of an NCCI procedure-to-procedure pair billed with its Column 1 "
                         "code on one date, with no modifier that bypasses the edit",
             denial={"group": "CO", "carc": "236", "rarc": None})
    register("ncci.bypass_region_missing", category="documentation", severity="warning", section="ncci",
             description="a 59/X modifier bypasses an NCCI pair but the body regions are not on both lines")
    register("ncci.bypass_same_region", category="bundling", severity="error", section="ncci",
             description="a 59/XS modifier claims distinct services but both lines treat the same body region",
             denial={"group": "CO", "carc": "236", "rarc": None})


@dataclass(frozen=True)
class Settings:
    table: object
    version: str
    bypass: frozenset[str]
    either_from: str | None
    either_modifiers: frozenset[str]
    region_modifiers: frozenset[str]
    overrides: dict[tuple[str, str], PtpRow]
    #: the bypass modifiers named in messages, put into words once
    bypass_hint: str = ""


@hookimpl
def prepare_policy(policy, base_dir, options):
    cfg = policy.settings.get("ncci")
    if not cfg:
        return None
    table, version = required_table(policy, "ptp", "ncci")
    overrides = {}
    for o in cfg.get("overrides", []):
        c1, c2 = str(o["column1"]), str(o["column2"])
        overrides[(c1, c2)] = PtpRow(c1, c2, 0, 99991231, int(o["modifier_indicator"]),
                                     o.get("note", f"{policy.payer} policy override"))
    bypass = frozenset(cfg.get("associated_modifiers", []))
    either = frozenset(cfg.get("either_line_modifiers", []))
    return Settings(
        table=table,
        version=version,
        bypass=bypass,
        either_from=cfg.get("modifier_on_either_line_from"),
        either_modifiers=either,
        region_modifiers=frozenset(cfg.get("body_region_modifiers", [])),
        overrides=overrides,
        bypass_hint=", ".join(sorted(either or bypass)[:5]),
    )


def _bypass(s: Settings, col1_line, col2_line) -> set[str]:
    used = s.bypass.intersection(col2_line.modifiers)
    if s.either_from is not None and col2_line.date_of_service >= s.either_from:
        used |= s.either_modifiers.intersection(col1_line.modifiers)
    return used


@hookimpl
def check_claim(claim, policy, allocation, data):
    s: Settings | None = data
    lines = claim.lines
    if s is None or len(lines) < 2:
        return []
    dates = {ln.date_of_service for ln in lines}
    groups = [lines] if len(dates) == 1 else [[ln for ln in lines if ln.date_of_service == d] for d in sorted(dates)]
    edits = []
    code_id = s.table.code_id
    overrides = s.overrides
    table = s.table
    for group in groups:
        if len(group) < 2:
            continue
        d = dos_int(group[0].date_of_service)
        ids = [(ln, code_id.get(ln.code)) for ln in group]
        for a, ia in ids:
            # the column-2 codes that have rows with this column-1 code (built once per code)
            pairs = table.column2_rows(ia) if ia is not None else None
            if not pairs and not overrides:
                continue  # no row has this code in column 1
            for b, ib in ids:
                row = overrides.get((a.code, b.code)) if overrides else None
                if row is None:
                    windows = pairs.get(ib) if pairs else None
                    if windows is None:  # most pairs of lines: no row, so tested first
                        continue
                    row = table.row_in_force(ia, windows, d)
                    if row is None:
                        continue
                if a.code != b.code and row.modifier_indicator != 9:
                    _edit_for(s, policy, a, b, row, edits)
    return edits


def _edit_for(s: Settings, policy, a, b, row: PtpRow, edits: list) -> None:
    """The edit (or none) for column-1 line ``a`` and column-2 line ``b`` under ``row``."""
    where = (f"line {b.line} {b.code} is column 2 of {a.code} (line {a.line}) in "
             f"{'the ' + policy.payer + ' policy' if (a.code, b.code) in s.overrides else s.version}")
    window = "" if row.effective == 0 and row.deletion == 99991231 else (
        f"; edit in force {int_date(row.effective) if row.effective else 'from the start'} to "
        f"{int_date(row.deletion) if row.deletion != 99991231 else 'now'}")
    if row.modifier_indicator == 0:
        edits.append(Edit(
            rule="ncci.ptp", category="bundling", severity="error", lines=(b.line,),
            message=(f"{where} ({row.rationale}{window}): modifier indicator 0, never separately "
                     "payable on the same date; no modifier bypasses it"),
            source=SOURCE, fix={"action": "remove_line", "line": b.line}))
        return
    used = _bypass(s, a, b)
    if not used:
        edits.append(Edit(
            rule="ncci.ptp", category="bundling", severity="error", lines=(b.line,),
            message=(f"{where} ({row.rationale}{window}): not separately payable unless the services "
                     f"were distinct and line {b.line} carries an NCCI-associated modifier "
                     f"({s.bypass_hint} ...)"),
            source=SOURCE, fix=None))
        return
    if not used <= s.region_modifiers:
        return  # XE, XP, XU: distinct encounter, practitioner or service; no region needed
    if not a.body_region or not b.body_region:
        edits.append(Edit(
            rule="ncci.bypass_region_missing", category="documentation", severity="warning",
            lines=(a.line, b.line),
            message=(f"lines {a.line} and {b.line}: {', '.join(sorted(used))} bypasses the "
                     f"{a.code}/{b.code} edit, but the body regions are not recorded on both "
                     "lines; the distinct region must be documented"),
            source=SOURCE))
    elif a.body_region.strip().lower() == b.body_region.strip().lower():
        edits.append(Edit(
            rule="ncci.bypass_same_region", category="bundling", severity="error", lines=(b.line,),
            message=(f"{where}: {', '.join(sorted(used))} claims a distinct service but both "
                     "lines treat the same body region; the edit applies"),
            source=SOURCE, fix={"action": "remove_line", "line": b.line}))


@hookimpl
def explain_claim(claim, policy, allocation, data):
    """Pairs the table knows that did not become edits, and why."""
    s: Settings | None = data
    if s is None:
        return []
    out = []
    for a in claim.lines:
        for b in claim.lines:
            if a is b or a.code == b.code or a.date_of_service != b.date_of_service:
                continue
            d = dos_int(a.date_of_service)
            if (a.code, b.code) in s.overrides:
                row = s.overrides[(a.code, b.code)]
                if row.modifier_indicator == 9:
                    out.append(f"NCCI {a.code}/{b.code} (lines {a.line}/{b.line}): switched off by the "
                               f"{policy.payer} policy ({row.rationale})")
                continue
            rows = s.table.rows_for(a.code, b.code)
            if not rows:
                continue
            row = s.table.lookup(a.code, b.code, d)
            if row is None:
                spans = "; ".join(f"{int_date(r.effective) if r.effective else 'start'} to "
                                  f"{int_date(r.deletion) if r.deletion != 99991231 else 'now'}" for r in rows)
                out.append(f"NCCI {a.code}/{b.code} (lines {a.line}/{b.line}): no edit in force on "
                           f"{a.date_of_service} (the table has it {spans})")
            elif row.modifier_indicator == 9:
                out.append(f"NCCI {a.code}/{b.code} (lines {a.line}/{b.line}): modifier indicator 9, no edit")
            elif row.modifier_indicator == 1:
                used = _bypass(s, a, b)
                if used:
                    out.append(f"NCCI {a.code}/{b.code} (lines {a.line}/{b.line}): bypassed by "
                               f"{', '.join(sorted(used))} (indicator 1)")
    return out
