"""Modifier requirements that need tables or arithmetic (domain.md s. 4), every value from
the policy's ``modifiers``. Simple ones (AT on 98940-98942, AT with GA) are declarative
rules in the policy's ``rules:``.

- ``discipline``: exactly one of GP/GO/GN on "always therapy" codes (the fee schedule's
  multiple-procedure indicator 5, plus any codes listed);
- ``kx``: above the yearly therapy threshold (PT and SLP together, OT apart) the lines of
  that discipline need KX; the claim carries ``patient.therapy_ytd`` {pt_slp, ot}, the
  amounts incurred this calendar year including this claim;
- ``assistant``: CQ (PT assistant) or CO (OT assistant) when an assistant furnished more
  than the de minimis share of a line's minutes (line field ``assistant_minutes``);
- ``known``: modifiers the payer recognises; any other is reported, never fatal.
"""

from __future__ import annotations

from collections.abc import Mapping

from payer_rules import Edit, hookimpl
from payer_rules.plugins import section_schema
from payer_rules.tables import required_table

SOURCE = "modifier_rules"
PAYER_RULES_GLOBAL = True


@hookimpl
def register_policy_sections(register):
    register("modifiers", section_schema("modifiers"))


@hookimpl
def register_edits(register):
    edit = lambda rule, category, severity, what, denial=None: register(  # noqa: E731
        rule, category=category, severity=severity, section="modifiers", description=what, denial=denial)
    edit("modifier.unknown", "modifier", "warning", "a modifier the payer's policy does not recognise")
    edit("modifier.discipline_conflict", "modifier", "error", "more than one of GP/GO/GN on one line",
         {"group": "CO", "carc": "4", "rarc": None})
    edit("modifier.discipline_missing", "modifier", "error",
         "an always-therapy code without its discipline modifier (GP, GO or GN)", {"group": "CO", "carc": "4", "rarc": None})
    edit("modifier.kx_missing", "modifier", "error",
         "therapy amount this year above the threshold and no KX on the line", {"group": "PR", "carc": "119", "rarc": None})
    edit("modifier.kx_review", "documentation", "info",
         "therapy amount this year above the targeted medical review threshold")
    edit("modifier.assistant_missing", "modifier", "error",
         "an assistant furnished more than the de minimis share and the line has no CQ/CO",
         {"group": "CO", "carc": "4", "rarc": None})
    edit("modifier.assistant_not_needed", "modifier", "warning",
         "CQ/CO on a line whose assistant share is de minimis (paid at the reduced rate needlessly)")


@hookimpl
def prepare_policy(policy, base_dir, options):
    cfg = policy.settings.get("modifiers")
    if cfg is None:
        return None
    disc = cfg.get("discipline")
    therapy_codes: frozenset[str] = frozenset()
    if disc:
        codes = set(disc.get("codes", []))
        mult = disc.get("fee_schedule_mult_proc")
        if mult is not None:
            table, _ = required_table(policy, "pfs", "modifiers.discipline.fee_schedule_mult_proc")
            codes |= {c for c, fs in table.items() if fs.mult_proc == str(mult)}
        therapy_codes = frozenset(codes)
    return {
        "therapy_codes": therapy_codes,
        "one_of": tuple(disc.get("one_of", ["GP", "GO", "GN"])) if disc else (),
        "one_of_set": frozenset(disc.get("one_of", ["GP", "GO", "GN"])) if disc else frozenset(),
        "kx": cfg.get("kx"),
        # per-claim work kept small: the KX groups as modifier sets, thresholds by year text
        "kx_groups": tuple((group, frozenset(mods)) for group, mods in
                           cfg["kx"].get("groups", {"pt_slp": ["GP", "GN"], "ot": ["GO"]}).items())
        if cfg.get("kx") else (),
        "kx_thresholds": {str(k): v for k, v in cfg["kx"]["thresholds"].items()} if cfg.get("kx") else {},
        "assistant": cfg.get("assistant"),
        "known": frozenset(cfg.get("known", [])),
        "seen": {},  # modifiers -> _verdict
    }


def _discipline(data, ln) -> str | None:
    found = [m for m in data["one_of"] if m in ln.modifiers]
    return found[0] if len(found) == 1 else None


@hookimpl
def check_claim(claim, policy, allocation, data):
    if data is None:
        return []
    edits: list[Edit] = []
    one_of = data["one_of"]
    therapy_codes = data["therapy_codes"]
    seen = data["seen"]
    any_extra = False
    for ln in claim.lines:
        mods = ln.modifiers
        verdict = seen.get(mods)
        if verdict is None:
            verdict = _verdict(data, mods)
        one_discipline, unknown = verdict
        if not one_discipline and ln.code in therapy_codes:
            edits.append(_discipline_edit(ln, one_of, claim))
        if unknown:
            edits.append(Edit(rule="modifier.unknown", category="modifier", severity="warning",
                              lines=(ln.line,), source=SOURCE,
                              message=f"line {ln.line} {ln.code}: modifier(s) {', '.join(unknown)} are not "
                                      "recognised by this payer's policy"))
        if ln.extra:
            any_extra = True
    kx = data["kx"]
    if kx:
        ytd = claim.patient.get("therapy_ytd") if claim.patient else None
        if isinstance(ytd, Mapping):
            edits.extend(_kx(kx, ytd, claim, data))
    assistant = data["assistant"]
    if assistant and any_extra:  # assistant minutes are a line field outside the model
        edits.extend(_assistant(assistant, claim, data))
    return edits


def _verdict(data, mods: tuple[str, ...]) -> tuple[bool, tuple[str, ...]]:
    """(exactly one discipline modifier, the modifiers the payer does not know) for a
    line's modifiers; remembered per policy, since claims repeat a few combinations."""
    known = data["known"]
    verdict = (len(data["one_of_set"].intersection(mods)) == 1,
               tuple(m for m in mods if m not in known) if known else ())
    if len(data["seen"]) < 10_000:
        data["seen"][mods] = verdict  # the same value whoever stores it: safe across threads
    return verdict


def _discipline_edit(ln, one_of: tuple[str, ...], claim) -> Edit:
    """An always-therapy line without exactly one of GP/GO/GN."""
    found = [m for m in one_of if m in ln.modifiers]
    if found:
        return Edit(rule="modifier.discipline_conflict", category="modifier", severity="error",
                    lines=(ln.line,), source=SOURCE,
                    message=f"line {ln.line} {ln.code}: {', '.join(found)} together; exactly one "
                            "discipline modifier per line")
    used = {m for other in claim.lines for m in other.modifiers if m in one_of}
    fix = {"action": "add_modifier", "line": ln.line, "modifier": next(iter(used))} if len(used) == 1 else None
    msg = (f"line {ln.line} {ln.code}: an always-therapy code needs one of {', '.join(one_of)} "
           "(the plan of care's discipline)")
    if fix:
        msg += f"; the other lines of the claim use {fix['modifier']}"
    return Edit(rule="modifier.discipline_missing", category="modifier", severity="error",
                lines=(ln.line,), message=msg, source=SOURCE, fix=fix)


def _kx(kx, ytd: dict, claim, data):
    edits = []
    thresholds = data["kx_thresholds"]
    for group, mods in data["kx_groups"]:
        amount = ytd.get(group)
        if not isinstance(amount, (int, float)) or isinstance(amount, bool):
            continue
        for ln in claim.lines:
            if mods.isdisjoint(ln.modifiers):
                continue
            year = ln.date_of_service[:4]
            threshold = thresholds.get(year)
            if threshold is None or amount <= threshold:
                continue
            if "KX" not in ln.modifiers:
                edits.append(Edit(
                    rule="modifier.kx_missing", category="modifier", severity="error", lines=(ln.line,),
                    source=SOURCE,
                    message=(f"line {ln.line} {ln.code}: therapy amount this year is above the {year} threshold "
                             f"of ${threshold:,} ({group}); add KX if the documentation supports medical necessity"),
                ))
            review = kx.get("review_threshold")
            if review is not None and amount > review:
                edits.append(Edit(
                    rule="modifier.kx_review", category="documentation", severity="info", lines=(ln.line,),
                    source=SOURCE,
                    message=f"line {ln.line}: above ${review:,} this year ({group}): may be selected for "
                            "targeted medical review"))
    return edits


def _assistant(cfg, claim, data):
    edits = []
    share = cfg.get("de_minimis_percent", 10)
    by_discipline = cfg.get("modifiers", {"GP": "CQ", "GO": "CO"})
    for ln in claim.lines:
        if not ln.extra:
            continue
        am = ln.extra.get("assistant_minutes")
        minutes = ln.timed_minutes
        if not isinstance(am, int) or isinstance(am, bool) or not minutes:
            continue
        disc = _discipline(data, ln)
        needed = by_discipline.get(disc) if disc else None
        if needed is None:
            continue
        if am * 100 > share * minutes and needed not in ln.modifiers:
            edits.append(Edit(
                rule="modifier.assistant_missing", category="modifier", severity="error", lines=(ln.line,),
                source=SOURCE,
                message=(f"line {ln.line} {ln.code}: an assistant furnished {am} of {minutes} minutes, more than "
                         f"{share}%: add {needed}"),
                fix={"action": "add_modifier", "line": ln.line, "modifier": needed}))
        elif am * 100 <= share * minutes and needed in ln.modifiers:
            edits.append(Edit(
                rule="modifier.assistant_not_needed", category="modifier", severity="warning", lines=(ln.line,),
                source=SOURCE,
                message=(f"line {ln.line} {ln.code}: {needed} but the assistant's share is {share}% or less "
                         "(de minimis); the line is paid at the reduced rate needlessly"),
                fix={"action": "remove_modifier", "line": ln.line, "modifier": needed}))
    return edits


@hookimpl
def explain_claim(claim, policy, allocation, data):
    """Where the claim stands against the KX threshold."""
    kx = data and data["kx"]
    ytd = (claim.patient or {}).get("therapy_ytd")
    if not kx:
        return []
    if not isinstance(ytd, Mapping):
        return ["KX threshold: not checked (the claim has no patient.therapy_ytd)"]
    years = sorted({ln.date_of_service[:4] for ln in claim.lines})
    thresholds = {str(k): v for k, v in kx["thresholds"].items()}
    return [f"KX threshold {y}: {group} ${ytd.get(group, 0):,} of ${thresholds[y]:,}"
            for y in years if y in thresholds for group in kx.get("groups", {"pt_slp": 0, "ot": 0})]
