"""Documentation checks (domain.md s. 6): warnings by default, severities per payer.

Settings (``documentation``), each optional:
- ``time``: a timed line with neither minutes nor start/end times;
- ``overlap``: two timed lines of one date whose start-end blocks overlap (the same
  minutes claimed twice);
- ``diagnosis_pointer``: a line that points at no diagnosis;
- ``techniques``: codes (97124) whose lines must name the techniques and the body region
  (line fields ``techniques`` and ``body_region``);
- ``plan_of_care``: diagnoses (prefixes) that need a plan of care with measurable goals
  (claim field ``plan_of_care.goals``), e.g. chronic pain.
"""

from __future__ import annotations

from payer_rules import Edit, hookimpl

SOURCE = "documentation"


def _mins(t: str) -> int:
    return int(t[:2]) * 60 + int(t[3:5])


@hookimpl
def check_claim(claim, policy, allocation):
    cfg = policy.settings.get("documentation")
    if not cfg:
        return []
    edits = []
    timed = [ln for ln in claim.lines if ln.code in policy.timed]
    if "time" in cfg:
        for ln in timed:
            if ln.minutes is None and ln.minutes_from_times is None:
                edits.append(Edit(rule="doc.time_missing", category="documentation", severity=cfg["time"],
                                  lines=(ln.line,), source=SOURCE,
                                  message=f"line {ln.line} {ln.code}: timed service without minutes or start/end "
                                          "times; the time defends the units in an audit"))
    if "overlap" in cfg:
        blocks = sorted(
            ((ln.date_of_service, _mins(ln.start_time), _mins(ln.end_time), ln.line, ln.code)
             for ln in timed if ln.start_time and ln.end_time), key=lambda b: b[:4])
        for i, a in enumerate(blocks):
            for b in blocks[i + 1:]:
                if b[0] != a[0] or b[1] >= a[2]:
                    break
                edits.append(Edit(rule="doc.time_overlap", category="documentation", severity=cfg["overlap"],
                                  lines=(a[3], b[3]), source=SOURCE,
                                  message=(f"lines {a[3]} {a[4]} and {b[3]} {b[4]}: time blocks overlap by "
                                           f"{min(a[2], b[2]) - b[1]} minutes; one-on-one minutes cannot be "
                                           "claimed twice")))
    if "diagnosis_pointer" in cfg:
        for ln in claim.lines:
            if not ln.diagnosis_pointers:
                edits.append(Edit(rule="doc.diagnosis_pointer", category="documentation",
                                  severity=cfg["diagnosis_pointer"], lines=(ln.line,), source=SOURCE,
                                  message=f"line {ln.line} {ln.code}: no diagnosis pointer links the service to "
                                          "a diagnosis"))
            elif any(p > len(claim.diagnoses) for p in ln.diagnosis_pointers):
                edits.append(Edit(rule="doc.diagnosis_pointer", category="documentation",
                                  severity=cfg["diagnosis_pointer"], lines=(ln.line,), source=SOURCE,
                                  message=f"line {ln.line} {ln.code}: a diagnosis pointer points past the "
                                          f"claim's {len(claim.diagnoses)} diagnoses"))
    tech = cfg.get("techniques")
    if tech:
        codes = set(tech["codes"])
        for ln in claim.lines:
            if ln.code not in codes:
                continue
            missing = []
            techniques = ln.extra.get("techniques")
            if not techniques or not isinstance(techniques, list):
                missing.append(f"the techniques used (e.g. {', '.join(tech.get('examples', [])[:3])})")
            if not ln.body_region:
                missing.append("the body region treated")
            if missing:
                edits.append(Edit(rule="doc.techniques", category="documentation", severity=tech.get("severity", "warning"),
                                  lines=(ln.line,), source=SOURCE,
                                  message=f"line {ln.line} {ln.code}: document {' and '.join(missing)}"))
    poc = cfg.get("plan_of_care")
    if poc:
        prefixes = tuple(p.upper() for p in poc["diagnosis_prefixes"])
        hit = [d for d in claim.diagnoses if d.startswith(prefixes)]
        plan = claim.extra.get("plan_of_care")
        goals = plan.get("goals") if isinstance(plan, dict) else None
        if hit and not goals:
            edits.append(Edit(rule="doc.plan_of_care", category="documentation", severity=poc.get("severity", "warning"),
                              lines=tuple(ln.line for ln in claim.lines), source=SOURCE,
                              message=("a diagnosis on this claim is one the payer watches (chronic pain): "
                                       "the plan of care needs measurable goals and progress (plan_of_care.goals)")))
    return edits
