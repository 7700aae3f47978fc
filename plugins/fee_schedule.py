"""Physician Fee Schedule status (docs/edits.md): status B is bundled, never separately
payable (97010); I is not valid for Medicare (97014: bill G0283); N is non-covered (98943).

What each status means for a payer, its rule id, category and severity, and the code to
bill instead, are policy settings (``fee_schedule``).

A line dated outside the table's dates (``tables.pfs`` valid_from/valid_to, or its
provenance file's) is not judged by it: ``pfs.table_out_of_range`` names the table, the
lines and the dates instead.
"""

from __future__ import annotations

from payer_rules import Edit, hookimpl
from payer_rules.plugins import section_schema
from payer_rules.tables import out_of_range_message, required_table, table_validity

SOURCE = "fee_schedule"
PAYER_RULES_GLOBAL = True
#: status -> rule id; what each status means for a payer is the policy's (``fee_schedule.statuses``)
RULES = {"B": "pfs.bundled", "I": "pfs.not_valid", "N": "pfs.non_covered"}
CATEGORY = {"pfs.bundled": "bundling", "pfs.not_valid": "coverage", "pfs.non_covered": "coverage"}


@hookimpl
def register_policy_sections(register):
    register("fee_schedule", section_schema("fee_schedule"))


@hookimpl
def policy_edits(policy, data):
    """The statuses this payer gives a meaning to."""
    if data is None:
        return []
    return [RULES[s] for s in sorted(data[2])] + (["pfs.table_out_of_range"] if data[4] else [])


@hookimpl
def register_edits(register):
    register("pfs.bundled", category=CATEGORY["pfs.bundled"], severity="error", section="fee_schedule",
             description="fee-schedule status B: bundled, never separately payable (97010)",
             denial={"group": "CO", "carc": "97", "rarc": "M15"})
    register("pfs.not_valid", category="coverage", severity="error", section="fee_schedule",
             description="fee-schedule status I: not valid for the payer; bill the replacement code (97014 -> G0283)")
    register("pfs.non_covered", category="coverage", severity="error", section="fee_schedule",
             description="fee-schedule status N: a non-covered service (98943)")
    register("pfs.table_out_of_range", category="coverage", severity="warning", section="fee_schedule",
             description="lines dated outside the fee-schedule table's valid dates: their status was not checked "
                         "(the policy needs the file in force on those dates)",
             denial={"group": None, "carc": None, "rarc": None})


@hookimpl
def prepare_policy(policy, base_dir, options):
    cfg = policy.settings.get("fee_schedule")
    if cfg is None:
        return None
    table, version = required_table(policy, "pfs", "fee_schedule", options)
    validity = table_validity(policy, "pfs")
    return table, version, cfg.get("statuses", {}), cfg.get("replacements", {}), validity if validity.bounded else None


@hookimpl
def check_claim(claim, policy, allocation, data):
    if data is None:
        return []
    table, version, statuses, replacements, validity = data
    edits = []
    outside = [] if validity is None else [ln for ln in claim.lines if not validity.covers(ln.date_of_service)]
    if outside:
        edits.append(Edit(rule="pfs.table_out_of_range", category="coverage", severity="warning",
                          lines=tuple(ln.line for ln in outside), source=SOURCE,
                          message=out_of_range_message(validity, [(ln.line, ln.date_of_service) for ln in outside])))
    skip = {ln.line for ln in outside}
    for ln in claim.lines:
        if skip and ln.line in skip:
            continue
        fs = table.get(ln.code)
        if fs is None or fs.status not in statuses:
            continue
        st = statuses[fs.status]
        fix = None
        msg = f"line {ln.line} {ln.code}: fee-schedule status {fs.status} ({version}): {st['meaning']}"
        if ln.code in replacements:
            fix = {"action": "replace_code", "line": ln.line, "code": replacements[ln.code]}
            msg += f"; bill {replacements[ln.code]} instead"
        elif st.get("remove_line"):
            fix = {"action": "remove_line", "line": ln.line}
        rule = RULES[fs.status]
        edits.append(Edit(rule=rule, category=CATEGORY[rule],
                          severity=st.get("severity", "error"), lines=(ln.line,), message=msg,
                          source=SOURCE, fix=fix))
    return edits
