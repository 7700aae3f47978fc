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
def prepare_policy(policy, base_dir):
    cfg = policy.settings.get("documentation")
    if not cfg:
        return
    tech = cfg.get("techniques") or {}
    poc = cfg.get("plan_of_care") or {}
    policy.data[SOURCE] = {
        "time": cfg.get("time"),
        "overlap": cfg.get("overlap"),
        "pointer": cfg.get("diagnosis_pointer"),
        "tech_codes": frozenset(tech.get("codes", [])),
        "tech_severity": tech.get("severity", "warning"),
        "tech_examples": ", ".join(tech.get("examples", [])[:3]),
        "poc_prefixes": tuple(p.upper() for p in poc.get("diagnosis_prefixes", [])),
        "poc_severity": poc.get("severity", "warning"),
    }


@hookimpl
def check_claim(claim, policy, allocation):
    cfg = policy.data.get(SOURCE)
    if cfg is None:
        return []
    edits = []
    timed_codes = policy.timed
    time_sev, pointer_sev, tech_codes = cfg["time"], cfg["pointer"], cfg["tech_codes"]
    n_dx = len(claim.diagnoses)
    blocks = []
    for ln in claim.lines:
        timed = ln.code in timed_codes
        if timed:
            if ln.start_time and ln.end_time:
                blocks.append((ln.date_of_service, _mins(ln.start_time), _mins(ln.end_time), ln.line, ln.code))
            elif time_sev and ln.minutes is None:
                edits.append(Edit(rule="doc.time_missing", category="documentation", severity=time_sev,
                                  lines=(ln.line,), source=SOURCE,
                                  message=f"line {ln.line} {ln.code}: timed service without minutes or start/end "
                                          "times; the time defends the units in an audit"))
        if pointer_sev:
            if not ln.diagnosis_pointers:
                edits.append(Edit(rule="doc.diagnosis_pointer", category="documentation", severity=pointer_sev,
                                  lines=(ln.line,), source=SOURCE,
                                  message=f"line {ln.line} {ln.code}: no diagnosis pointer links the service to "
                                          "a diagnosis"))
            elif max(ln.diagnosis_pointers) > n_dx:
                edits.append(Edit(rule="doc.diagnosis_pointer", category="documentation", severity=pointer_sev,
                                  lines=(ln.line,), source=SOURCE,
                                  message=f"line {ln.line} {ln.code}: a diagnosis pointer points past the "
                                          f"claim's {n_dx} diagnoses"))
        if ln.code in tech_codes:
            missing = []
            techniques = ln.extra.get("techniques")
            if not techniques:
                missing.append(f"the techniques used (e.g. {cfg['tech_examples']})")
            if not ln.body_region:
                missing.append("the body region treated")
            if missing:
                edits.append(Edit(rule="doc.techniques", category="documentation", severity=cfg["tech_severity"],
                                  lines=(ln.line,), source=SOURCE,
                                  message=f"line {ln.line} {ln.code}: document {' and '.join(missing)}"))
    if len(blocks) > 1 and cfg["overlap"]:
        blocks.sort()
        for i, a in enumerate(blocks):
            for b in blocks[i + 1:]:
                if b[0] != a[0] or b[1] >= a[2]:
                    break
                edits.append(Edit(rule="doc.time_overlap", category="documentation", severity=cfg["overlap"],
                                  lines=(a[3], b[3]), source=SOURCE,
                                  message=(f"lines {a[3]} {a[4]} and {b[3]} {b[4]}: time blocks overlap by "
                                           f"{min(a[2], b[2]) - b[1]} minutes; one-on-one minutes cannot be "
                                           "claimed twice")))
    prefixes = cfg["poc_prefixes"]
    if prefixes and any(d.startswith(prefixes) for d in claim.diagnoses):
        plan = claim.extra.get("plan_of_care")
        if not (isinstance(plan, dict) and plan.get("goals")):
            edits.append(Edit(rule="doc.plan_of_care", category="documentation", severity=cfg["poc_severity"],
                              lines=tuple(ln.line for ln in claim.lines), source=SOURCE,
                              message=("a diagnosis on this claim is one the payer watches (chronic pain): "
                                       "the plan of care needs measurable goals and progress (plan_of_care.goals)")))
    return edits
