"""Edits about codes the policy does not know.

A code that is neither timed nor untimed in the payer's policy is reported with the
severity the policy sets in ``unknown_codes`` (error, warning, info or off): it is
reported, never fatal, because the rest of the claim can still be checked.
"""

from __future__ import annotations

from payer_rules import Edit, hookimpl

SOURCE = "code_sets"
PAYER_RULES_GLOBAL = True


@hookimpl
def register_edits(register):
    register("code.unknown", category="coverage", severity="warning", section="unknown_codes",
             description="a code that is neither timed nor untimed in the payer's policy (not checked)")


@hookimpl
def check_claim(claim, policy, allocation):
    severity = policy.unknown_codes
    if severity == "off":
        return []
    timed, untimed = policy.timed, policy.untimed
    return [
        Edit(
            rule="code.unknown", category="coverage", severity=severity, lines=(ln.line,),
            message=(f"line {ln.line} {ln.code}: code is not in the {policy.payer} policy "
                     f"(version {policy.version}); its units and edits were not checked"),
            source=SOURCE,
        )
        for ln in claim.lines
        if ln.code not in timed and ln.code not in untimed
    ]
