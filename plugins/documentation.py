"""Documentation checks that need arithmetic the rule language does not have.

Most documentation requirements are declarative rules in the policy (``doc.time_missing``,
``doc.diagnosis_pointer``, ``doc.techniques``, ``doc.plan_of_care``: see the policy's
``rules:``). This plugin keeps the two that compare values across lines or against the
claim; each setting of ``documentation:`` is the edit's severity:

- ``overlap``: two timed lines of one date whose start-end blocks overlap (the same
  minutes claimed twice);
- ``diagnosis_pointer``: a pointer past the number of diagnoses on the claim.
"""

from __future__ import annotations

from payer_rules import Edit, hookimpl
from payer_rules.plugins import section_schema

SOURCE = "documentation"
PAYER_RULES_GLOBAL = True


@hookimpl
def register_policy_sections(register):
    register("documentation", section_schema("documentation"))


@hookimpl
def register_edits(register):
    register("doc.diagnosis_pointer_range", category="documentation", severity="warning", section="documentation",
             description="a line's diagnosis pointer points past the claim's diagnoses")
    register("doc.time_overlap", category="documentation", severity="warning", section="documentation",
             description="two timed lines of one date whose start-end blocks overlap (minutes claimed twice)")


def _mins(t: str) -> int:
    return int(t[:2]) * 60 + int(t[3:5])


@hookimpl
def prepare_policy(policy, base_dir, options):
    cfg = policy.settings.get("documentation")
    return (cfg.get("overlap"), cfg.get("diagnosis_pointer")) if cfg else None


@hookimpl
def check_claim(claim, policy, allocation, data):
    settings = data
    if settings is None:
        return []
    edits = []
    overlap, pointer = settings
    if pointer:
        n_dx = len(claim.diagnoses)
        for ln in claim.lines:
            if ln.diagnosis_pointers and max(ln.diagnosis_pointers) > n_dx:
                edits.append(Edit(rule="doc.diagnosis_pointer_range", category="documentation", severity=pointer,
                                  lines=(ln.line,), source=SOURCE,
                                  message=f"line {ln.line} {ln.code}: a diagnosis pointer points past the "
                                          f"claim's {n_dx} diagnoses"))
    if overlap and any(ln.start_time for ln in claim.lines):
        timed = policy.timed
        blocks = sorted((ln.date_of_service, _mins(ln.start_time), _mins(ln.end_time), ln.line, ln.code)
                        for ln in claim.lines if ln.start_time and ln.end_time and ln.code in timed)
        for i, a in enumerate(blocks):
            for b in blocks[i + 1:]:
                if b[0] != a[0] or b[1] >= a[2]:
                    break
                edits.append(Edit(rule="doc.time_overlap", category="documentation", severity=overlap,
                                  lines=(a[3], b[3]), source=SOURCE,
                                  message=(f"lines {a[3]} {a[4]} and {b[3]} {b[4]}: time blocks overlap by "
                                           f"{min(a[2], b[2]) - b[1]} minutes; one-on-one minutes cannot be "
                                           "claimed twice")))
    return edits
