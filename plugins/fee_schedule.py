"""Physician Fee Schedule status (domain.md s. 3): status B is bundled, never separately
payable (97010); I is not valid for Medicare (97014: bill G0283); N is non-covered (98943).

What each status means for a payer, its rule id, category and severity, and the code to
bill instead, are policy settings (``fee_schedule``).
"""

from __future__ import annotations

from payer_rules import Edit, hookimpl
from payer_rules.tables import required_table

SOURCE = "fee_schedule"


@hookimpl
def prepare_policy(policy, base_dir):
    cfg = policy.settings.get("fee_schedule")
    if cfg is None:
        return
    table, version = required_table(policy, "pfs", "fee_schedule")
    policy.data[SOURCE] = (table, version, cfg.get("statuses", {}), cfg.get("replacements", {}))


@hookimpl
def check_claim(claim, policy, allocation):
    data = policy.data.get(SOURCE)
    if data is None:
        return []
    table, version, statuses, replacements = data
    edits = []
    for ln in claim.lines:
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
        edits.append(Edit(rule=st["rule"], category=st.get("category", "coverage"),
                          severity=st.get("severity", "error"), lines=(ln.line,), message=msg,
                          source=SOURCE, fix=fix))
    return edits
