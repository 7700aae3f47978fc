"""Modifier requirements that need tables or arithmetic (docs/edits.md), every value from
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
    edit("modifier.kx_threshold_unknown", "modifier", "warning",
         "the policy has no KX threshold for the line's year: the KX test could not be made (a policy defect)")
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
            table, _ = required_table(policy, "pfs", "modifiers.discipline.fee_schedule_mult_proc", options)
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
        "kx_review": {str(k): v for k, v in (cfg["kx"].get("review_thresholds") or {}).items()}
        if cfg.get("kx") else {},
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
        edits.extend(_assistant(assistant, claim, data, allocation))
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


def review_threshold(kx, data, year: str):
    """The targeted medical review threshold for ``year``: ``review_thresholds`` by year
    first, then the single ``review_threshold``; None when the policy sets neither."""
    by_year = data["kx_review"]
    return by_year[year] if year in by_year else kx.get("review_threshold")


def _kx(kx, ytd: Mapping, claim, data):
    edits = []
    thresholds = data["kx_thresholds"]
    unknown: dict[str, list[int]] = {}  # year -> lines of a KX group in a year without threshold
    for group, mods in data["kx_groups"]:
        amount = ytd.get(group)
        if not isinstance(amount, (int, float)) or isinstance(amount, bool):
            continue
        for ln in claim.lines:
            if mods.isdisjoint(ln.modifiers):
                continue
            year = ln.date_of_service[:4]
            threshold = thresholds.get(year)
            if threshold is None:
                lines = unknown.setdefault(year, [])
                if ln.line not in lines:
                    lines.append(ln.line)
                continue
            if amount <= threshold:
                continue
            if "KX" not in ln.modifiers:
                edits.append(Edit(
                    rule="modifier.kx_missing", category="modifier", severity="error", lines=(ln.line,),
                    source=SOURCE,
                    message=(f"line {ln.line} {ln.code}: therapy amount this year is above the {year} threshold "
                             f"of ${threshold:,} ({group}); add KX if the documentation supports medical necessity"),
                ))
            review = review_threshold(kx, data, year)
            if review is not None and amount > review:
                edits.append(Edit(
                    rule="modifier.kx_review", category="documentation", severity="info", lines=(ln.line,),
                    source=SOURCE,
                    message=f"line {ln.line}: above the {year} review threshold of ${review:,} this year "
                            f"({group}): may be selected for targeted medical review"))
    for year, lines in sorted(unknown.items()):
        edits.append(Edit(
            rule="modifier.kx_threshold_unknown", category="modifier", severity="warning",
            lines=tuple(sorted(lines)), source=SOURCE,
            message=(f"line(s) {', '.join(map(str, sorted(lines)))}: the policy has no KX threshold for {year}, "
                     "so whether KX is needed was not checked; the policy must list that year's threshold")))
    return edits


def kx_year_gaps(kx, versions) -> list[str]:
    """Years inside the versions' windows that ``kx.thresholds`` does not cover. An open
    window (no ``effective_to``) is checked up to the last year with a threshold."""
    years = {str(y) for y in kx.get("thresholds", {})}
    last = max((int(y) for y in years), default=0)
    gaps: set[str] = set()
    for v in versions:
        lo = int(v.effective_from[:4])
        hi = int(v.effective_to[:4]) if v.effective_to else max(last, lo)
        gaps.update(str(y) for y in range(lo, hi + 1) if str(y) not in years)
    return sorted(gaps)


@hookimpl
def lint_policy(policy, versions, data):
    kx = data and data["kx"]
    if not kx:
        return []
    gaps = kx_year_gaps(kx, [policy])
    if not gaps:
        return []
    return [{"at": ("modifiers", "kx", "thresholds"), "severity": "error",
             "message": f"version '{policy.version}' is in force in {', '.join(gaps)} but modifiers.kx.thresholds "
                        "has no amount for those years: claims then get modifier.kx_threshold_unknown instead of a "
                        "KX test"}]


def _assistant(cfg, claim, data, allocation=None):
    if cfg.get("method", "whole_line") == "per_unit":
        return _assistant_per_unit(cfg, claim, data, allocation)
    return _assistant_whole_line(cfg, claim, data)


def _assistant_whole_line(cfg, claim, data):
    """The de minimis test on the whole line: assistant minutes against the share of the line's minutes."""
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


def assistant_split(ln) -> tuple[int, int] | None:
    """(assistant minutes, therapist minutes) of a line: from ``time_blocks`` that say ``by``
    (``together`` counts as the therapist's, CMS), else ``assistant_minutes`` (furnished
    independently) and the rest of the line's minutes; None when the line says neither."""
    blocks = ln.extra.get("time_blocks") if ln.extra else None
    if blocks and any(b.get("by") for b in blocks):
        a = sum(_mins(b["end"]) - _mins(b["start"]) for b in blocks if b.get("by") == "assistant")
        t = sum(_mins(b["end"]) - _mins(b["start"]) for b in blocks if b.get("by") != "assistant")
        return a, t
    am = ln.extra.get("assistant_minutes") if ln.extra else None
    minutes = ln.timed_minutes
    if not isinstance(am, int) or isinstance(am, bool) or minutes is None:
        return None
    return min(am, minutes), max(minutes - am, 0)


def _mins(t: str) -> int:
    return int(t[:2]) * 60 + int(t[3:5])


def final_unit_rule(cfg, dos: str) -> str:
    """The rule for units left after full 15-minute units, in force on ``dos``."""
    rule = "de_minimis"
    for step in cfg.get("final_unit", ()):
        if dos >= step["from"]:
            rule = step["rule"]
    return rule


def assistant_units(units: int, a: int, t: int, share: float, rule: str) -> tuple[int, str]:
    """How many of a service's ``units`` need CQ/CO, given the assistant's ``a`` and the
    therapist's ``t`` minutes of it, and why (CMS CY2020 and CY2022 PFS rules).

    Full 15-minute units go to whoever furnished them (assistant's with CQ/CO). Units left:
    two of them with each provider furnishing 9-14 remaining minutes: one each (CY2022);
    otherwise, under ``de_minimis`` (CY2020) they need CQ/CO when the assistant's remaining
    minutes are more than ``share`` % of the remaining minutes; under ``more_minutes``
    (CY2022) when the assistant furnished more of the remaining minutes than the therapist."""
    a_full, t_full = a // 15, t // 15
    a_full = min(a_full, units)
    t_full = min(t_full, units - a_full)
    left = units - a_full - t_full
    ra, rt = a - 15 * a_full, t - 15 * t_full
    why = f"{a_full} full unit(s) by the assistant, {t_full} by the therapist"
    if left <= 0:
        return a_full, why
    if left == 2 and 9 <= ra <= 14 and 9 <= rt <= 14:
        return a_full + 1, why + f"; the last 2 units split one each ({ra} and {rt} minutes left, CY2022 rule)"
    if rule == "more_minutes":
        need = ra > rt
        why += (f"; the remaining {left} unit(s): the assistant furnished {ra} of {ra + rt} remaining minutes, "
                f"{'more' if need else 'not more'} than the therapist ({rt}) (CY2022 rule)")
    else:
        need = ra * 100 > share * (ra + rt)
        why += (f"; the remaining {left} unit(s): the assistant furnished {ra} of {ra + rt} remaining minutes, "
                f"{'more than' if need else 'at most'} {share:g}% (de minimis, CY2020 rule)")
    return a_full + (left if need else 0), why


def _units(ln, allocation) -> int:
    """The line's billed units, else the units computed for it."""
    if ln.units is not None:
        return ln.units
    d = allocation.decisions.get(ln.line) if allocation is not None else None
    return d.units or 0 if d is not None else 0


def _assistant_per_unit(cfg, claim, data, allocation):
    """CQ/CO decided per 15-minute unit of each service (code, date, discipline)."""
    edits = []
    share = cfg.get("de_minimis_percent", 10)
    by_discipline = cfg.get("modifiers", {"GP": "CQ", "GO": "CO"})
    services: dict[tuple, list] = {}
    for ln in claim.lines:
        disc = _discipline(data, ln)
        needed = by_discipline.get(disc) if disc else None
        if needed is None:
            continue
        services.setdefault((ln.date_of_service, ln.code, needed), []).append(ln)
    for (dos, code, needed), lines in services.items():
        splits = [assistant_split(ln) for ln in lines]
        if all(sp is None for sp in splits):
            continue  # nothing says who furnished the minutes
        a = sum(sp[0] for sp in splits if sp)
        t = sum(sp[1] for sp in splits if sp)
        units = sum(_units(ln, allocation) for ln in lines)
        with_mod = sum(_units(ln, allocation) for ln in lines if needed in ln.modifiers)
        if not units:
            continue
        want, why = assistant_units(units, a, t, share, final_unit_rule(cfg, dos))
        nums = tuple(ln.line for ln in lines)
        where = f"line(s) {', '.join(map(str, nums))} {code} on {dos}"
        if with_mod == want:
            continue
        if with_mod < want:
            fix = ({"action": "add_modifier", "line": lines[0].line, "modifier": needed}
                   if len(lines) == 1 and want == units else None)
            split = "" if want == units else f"; bill {want} unit(s) with {needed} and {units - want} without (two lines)"
            edits.append(Edit(
                rule="modifier.assistant_missing", category="modifier", severity="error", lines=nums,
                source=SOURCE, fix=fix,
                message=(f"{where}: {want} of {units} unit(s) need {needed}, {with_mod} carry it ({why}){split}")))
        else:
            fix = ({"action": "remove_modifier", "line": lines[0].line, "modifier": needed}
                   if len(lines) == 1 and want == 0 else None)
            edits.append(Edit(
                rule="modifier.assistant_not_needed", category="modifier", severity="warning", lines=nums,
                source=SOURCE, fix=fix,
                message=(f"{where}: {with_mod} of {units} unit(s) carry {needed} but only {want} need it ({why}); "
                         "those are paid at the reduced rate needlessly")))
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
    thresholds = data["kx_thresholds"]
    out = []
    for y in years:
        if y not in thresholds:
            out.append(f"KX threshold {y}: not in the policy (the KX test was not made)")
            continue
        out.extend(f"KX threshold {y}: {group} ${ytd.get(group, 0):,} of ${thresholds[y]:,}"
                   for group in kx.get("groups", {"pt_slp": 0, "ot": 0}))
    return out
