"""Unit arithmetic shared by every unit method.

Both the CMS total-time method and the per-code midpoint method reduce to one idea:
each service offers *candidate units*: every full unit of its length weighs the full
length, and the leftover minutes offer one more unit weighing what is left (under the
CMS method any leftover may compete; under the per-code method only a leftover past the
midpoint). A method decides how many units a day earns; :func:`allocate` hands them
to the heaviest candidates. Keeping that in one place means a daily cap, a tie and an
explanation mean the same thing under every method.

Ties are broken by a fixed rule so the same claim always gives the same answer:
more remaining minutes first, then more total minutes for the service, then the
lower code (text order), then the earlier line. Whenever that rule, rather than the
minutes, decides who gets a unit, the tie is reported.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Callable

from .models import Allocation, TimedLine, UnitDecision

TIE_RULE = (
    "more remaining minutes first, then more total minutes, then the lower code, "
    "then the earlier line"
)

#: JSON Schema for the parameters every built-in unit method shares.
COMMON_PARAMS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "discipline_grouping": {
            "enum": ["combined", "by_discipline"],
            "description": "combined: all timed lines of a date share one total; by_discipline: "
            "lines are totalled per discipline modifier (GP, GO, GN) separately.",
        },
        "discipline_modifiers": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "Modifier -> discipline name used by by_discipline (default GP=PT, GO=OT, GN=SLP).",
        },
        "max_units_per_day": {
            "type": ["integer", "null"], "minimum": 0,
            "description": "Cap on timed units per date (per discipline under by_discipline); null: no cap.",
        },
        "families": {
            "type": "array",
            "description": "Initial/add-on code families (CPT descriptors 'initial 15 minutes' / 'each "
            "additional 15 minutes'): a family's lines on a date are one service; its initial codes "
            "share initial_units_per_day units and the add-on codes carry the rest.",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "initial", "add_on"],
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "initial": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                    "add_on": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                    "initial_units_per_day": {"type": "integer", "minimum": 1},
                    "citation": {"type": "string"},
                },
            },
        },
    },
}
DEFAULT_DISCIPLINES = {"GP": "PT", "GO": "OT", "GN": "SLP"}

#: True while the engine evaluates with ``explain=True``: methods then also write the
#: step-by-step ``Allocation.steps``. Off for batch work, where nobody reads them.
EXPLAIN: ContextVar[bool] = ContextVar("payer_rules_explain", default=False)


def midpoint(unit_minutes: int) -> int:
    """Minutes needed to attain the first unit: just past half the unit length.

    15-minute codes: 8; 30-minute codes: 16 (AMA: "a unit of time is attained when the
    midpoint is passed").
    """
    return unit_minutes // 2 + 1


def units_for_minutes(minutes: int, unit_minutes: int = 15) -> int:
    """Units earned by ``minutes`` under the midpoint rule (the CMS chart for 15 minutes).

    8-22 = 1, 23-37 = 2, 38-52 = 3 ...: floor((m + 7) / 15) for m >= 8, 0 below.
    """
    mid = midpoint(unit_minutes)
    if minutes < mid:
        return 0
    return (minutes - mid) // unit_minutes + 1


def chart_range(units: int, unit_minutes: int = 15) -> str:
    """The minutes that earn exactly ``units`` (``"38-52"`` for 3 units of 15)."""
    if units <= 0:
        return f"0-{midpoint(unit_minutes) - 1}"
    low = midpoint(unit_minutes) + (units - 1) * unit_minutes
    return f"{low}-{low + unit_minutes - 1}"


@dataclass(slots=True)
class Service:
    """One service competing for units: a code (or a line of it) and its minutes."""

    label: str  # a code, or "line N"
    minutes: int
    unit_minutes: int
    partial_from: int  # the smallest leftover that may earn a unit
    code: str
    order: int  # earliest line number: the last tie-break


def _rank(weight: int, s: Service) -> tuple:
    # full units before any leftover, as the manual orders them; then heavier first
    return (weight < s.unit_minutes, -weight, -s.minutes, s.code, s.order)


def allocate(services: list[Service], total_units: int) -> tuple[list[int], list[str]]:
    """Give ``total_units`` to the heaviest candidate units of ``services``.

    Returns the units of each service (in input order) and a description of each tie
    the fixed rule broke. Full units outrank every leftover, so when the total covers
    them (always, but under a daily cap) only the leftovers need ranking; otherwise the
    whole pool of candidates is ranked (:func:`allocate_pool`, the definition; a test
    holds the two equal).
    """
    if len(services) == 1:  # one service: nothing to rank, no tie possible
        s = services[0]
        full, rest = divmod(s.minutes, s.unit_minutes)
        return [min(total_units, full + (1 if rest and rest >= s.partial_from else 0))], []
    units = []  # full units first
    leftovers = []  # (minutes left, service index) of the leftovers that may earn a unit
    left = total_units
    for i, s in enumerate(services):
        full = s.minutes // s.unit_minutes
        units.append(full)
        left -= full
        rest = s.minutes - full * s.unit_minutes
        if rest and rest >= s.partial_from:
            leftovers.append((rest, i))
    if left < 0:
        return allocate_pool(services, total_units)
    if left == 0:
        return units, []
    if left >= len(leftovers):  # every leftover gets its unit: nothing to rank
        for _, i in leftovers:
            units[i] += 1
        return units, []
    ranked = [(_rank(rest, services[i]), rest, i) for rest, i in leftovers]
    ranked.sort()
    for _, _, i in ranked[:left]:
        units[i] += 1
    return units, _ties(services, ranked, left)


def allocate_pool(services: list[Service], total_units: int) -> tuple[list[int], list[str]]:
    """:func:`allocate` by ranking every candidate unit (full and leftover) in one pool."""
    pool: list[tuple[tuple, int, int]] = []  # (rank, weight, service index)
    for i, s in enumerate(services):
        full, rest = divmod(s.minutes, s.unit_minutes)
        for _ in range(full):
            pool.append((_rank(s.unit_minutes, s), s.unit_minutes, i))
        if rest and rest >= s.partial_from:
            pool.append((_rank(rest, s), rest, i))
    pool.sort()
    units = [0] * len(services)
    for _, _, i in pool[:total_units]:
        units[i] += 1
    return units, _ties(services, pool, total_units)


def _ties(services: list[Service], ranked: list[tuple[tuple, int, int]], taken: int) -> list[str]:
    """The tie the fixed rule broke at the cut between ``taken`` and the rest, if any."""
    if not 0 < taken < len(ranked):
        return []
    last, next_ = ranked[taken - 1][0], ranked[taken][0]
    if last[0] != next_[0] or last[1] != next_[1]:  # the rank's first two places: the minutes
        return []
    key, weight = ranked[taken][0][:2], ranked[taken][1]
    won = sorted({services[i].label for r, _, i in ranked[:taken] if r[:2] == key})
    lost = sorted({services[i].label for r, _, i in ranked[taken:] if r[:2] == key} - set(won))
    if not lost:
        return []
    return [f"{_few(won + lost)} tie with {weight} minute(s) toward the last unit; "
            f"it goes to {_few(won)} by the fixed rule ({TIE_RULE})"]


def _few(labels: list[str], shown: int = 6) -> str:
    """Labels in words, the first few and a count of the rest: a tie among hundreds of
    lines of one code must not make a message that grows with the claim."""
    if len(labels) <= shown:
        return ", ".join(labels)
    return f"{', '.join(labels[:shown])} and {len(labels) - shown} more"


@dataclass(frozen=True, slots=True)
class Family:
    """Initial and add-on codes that are one service (97129 + 97130; 97810/97813 +
    97811/97814): minutes count together, the initial codes together get at most
    ``initial_units`` a day, the add-ons the rest."""

    name: str
    initial: frozenset[str]
    add_on: frozenset[str]
    initial_units: int
    citation: str = ""


_FAMILIES: dict[int, tuple[object, dict[str, Family]]] = {}


def families_of(params) -> dict[str, Family]:
    """Code -> its family, from ``unit_params.families`` (remembered per policy's params)."""
    hit = _FAMILIES.get(id(params))
    if hit is not None and hit[0] is params:
        return hit[1]
    out: dict[str, Family] = {}
    for f in params.get("families") or ():
        fam = Family(str(f["name"]), frozenset(map(str, f["initial"])), frozenset(map(str, f["add_on"])),
                     int(f.get("initial_units_per_day", 1)), str(f.get("citation", "")))
        for c in fam.initial | fam.add_on:
            out[c] = fam
    if len(_FAMILIES) < 1000:
        _FAMILIES[id(params)] = (params, out)  # keeps params alive, so the id stays its own
    return out


def _share(units: int, tls: list[TimedLine], unit_minutes: int) -> tuple[list[int], list[str]]:
    """``units`` of one service shared among its lines by the same ranking rule; a family's
    units are the service's, not each line's, so what the lines' own minutes cannot place
    goes to the line with the most minutes."""
    if not tls:
        return [], []
    if len(tls) == 1:
        return [units], []
    code = tls[0].line.code
    got, ties = allocate([Service(f"line {t.line.line}", t.minutes, unit_minutes, 1, code, t.line.line)
                          for t in tls], units)
    short = units - sum(got)
    if short > 0:
        most = min(range(len(tls)), key=lambda i: (-tls[i].minutes, tls[i].line.line))
        got[most] += short
    return got, ties


def _family_split(fam: Family, u: int, tls: list[TimedLine], unit_minutes: int, why: str,
                  decisions: dict, ties: list[str], head: str) -> None:
    """Decisions for the lines of one family: initial codes first, add-ons the rest."""
    initial = [t for t in tls if t.line.code in fam.initial]
    add_on = [t for t in tls if t.line.code not in fam.initial]
    first = min(fam.initial_units, u)
    init_units, t1 = _share(first, initial, unit_minutes)
    add_units, t2 = _share(u - first, add_on, unit_minutes)
    ties.extend(f"{head}: {t}" for t in t1 + t2)
    for t, lu in zip(initial, init_units):
        note = (f"; {fam.name} is one service: its initial code(s) {'/'.join(sorted(fam.initial))} get at most "
                f"{fam.initial_units} a day, this line {lu}")
        if not add_on and u > first:
            note += f", and the other {u - first} belong on an add-on code ({'/'.join(sorted(fam.add_on))})"
        decisions[t.line.line] = UnitDecision(lu, why + note)
    for t, lu in zip(add_on, add_units):
        note = f"; {fam.name} is one service: the add-on code(s) carry the units after the initial one, this line {lu}"
        if not initial:
            note += f" (the first unit belongs to an initial code, {'/'.join(sorted(fam.initial))}, not billed)"
        decisions[t.line.line] = UnitDecision(lu, why + note)


def allocate_days(
    lines: list[TimedLine],
    params: dict,
    *,
    method: str,
    source: str,
    day_units: Callable[[list[Service], bool], tuple[int, str]],
    partial_from: Callable[[int], int],
    needs_whole_day: bool,
) -> Allocation:
    """Allocate units per date of service and discipline group.

    ``day_units(services, explain)`` returns the units the group earns and, when
    ``explain``, a sentence saying why;
    ``partial_from(unit_minutes)`` is the smallest leftover that may earn a unit.
    ``needs_whole_day``: one line without minutes makes the whole group unverifiable
    (true for methods whose units depend on the day's total).
    """
    decisions: dict[int, UnitDecision] = {}
    steps: list[str] = []
    ties: list[str] = []
    explain = EXPLAIN.get()
    groups: dict[tuple[str, str], list[TimedLine]] = {}
    short: set[tuple[str, str]] = set()  # groups with a line that has no minutes
    disciplines = (params.get("discipline_modifiers") or DEFAULT_DISCIPLINES) \
        if params.get("discipline_grouping", "combined") == "by_discipline" else None
    for tl in lines:
        ln = tl.line
        if disciplines is None:
            key = (ln.date_of_service, "")
        else:  # the group of the first discipline modifier on the line
            label = "no discipline modifier"
            for m in ln.modifiers:
                d = disciplines.get(m)
                if d is not None:
                    label = d
                    break
            key = (ln.date_of_service, label)
        group = groups.get(key)
        if group is None:
            groups[key] = [tl]
        else:
            group.append(tl)
        if tl.minutes is None:
            short.add(key)
    cap = params.get("max_units_per_day")
    family_of = families_of(params) if params.get("families") else None
    partials: dict[int, int] = {}
    for key, members in (sorted(groups.items()) if len(groups) > 1 else groups.items()):
        dos, label = key
        head = f"{dos} {label}" if label else dos
        if key in short:
            missing = [tl.line.line for tl in members if tl.minutes is None]
            for tl in members:
                if tl.minutes is None:
                    why = "no minutes and no start/end time: units cannot be verified"
                elif needs_whole_day:
                    why = (f"units cannot be verified: line(s) {', '.join(map(str, missing))} of the same "
                           f"day{' and discipline' if label else ''} have no minutes, and {method} needs the day's total")
                else:
                    continue
                decisions[tl.line.line] = UnitDecision(None, why)
            if explain:
                steps.append(f"{head}: line(s) {', '.join(map(str, missing))} have no minutes; "
                             + ("the group cannot be verified" if needs_whole_day else "those lines cannot be verified"))
            members = [tl for tl in members if tl.minutes is not None]
            if needs_whole_day or not members:
                continue
        # one service per code: minutes of the same code on the same day add up
        services: list[Service] = []
        lines_of: list[list[TimedLine]] = []  # each service's lines
        index: dict[str, int] = {}  # code (or family name) -> its service
        day_minutes = 0
        for tl in members:
            n = tl.line.line
            code = tl.line.code
            day_minutes += tl.minutes
            fam = family_of.get(code) if family_of else None
            key = code if fam is None else fam.name
            i = index.get(key)
            if i is None:
                index[key] = len(services)
                unit = tl.unit_minutes
                pf = partials.get(unit)
                if pf is None:
                    pf = partials[unit] = partial_from(unit)
                services.append(Service(code, tl.minutes, unit, pf, code, n))
                lines_of.append([tl])
            else:
                s = services[i]
                s.minutes += tl.minutes
                if n < s.order:
                    s.order = n
                lines_of[i].append(tl)
        total, why_total = day_units(services, explain)
        if explain:
            sum_line = " + ".join(f"{s.code} {s.minutes} min" for s in services)
            steps.append(f"{head}: {sum_line} = {day_minutes} timed minutes; {why_total}")
        if cap is not None and total > cap:
            if explain:
                steps.append(f"{head}: capped at {cap} units per day by the policy (was {total})")
            total = cap
        units, group_ties = allocate(services, total)
        if group_ties:
            ties.extend(f"{head}: {t}" for t in group_ties)
        if explain:
            full_parts, extra_parts = [], []
            for s, u in zip(services, units):
                full = min(u, s.minutes // s.unit_minutes)
                if full:
                    full_parts.append(f"{s.code} {full}")
                if u > full:
                    extra_parts.append(f"{s.code} ({s.minutes - full * s.unit_minutes} min left)")
            steps.append(f"{head}: full units first: {', '.join(full_parts) or 'none'}; "
                         f"then by most remaining minutes: {', '.join(extra_parts) or 'none'}")
            steps.append(f"{head}: result: " + ", ".join(f"{s.code} x{u}" for s, u in zip(services, units)))
        for s, u, tls in zip(services, units, lines_of):
            full = s.minutes // s.unit_minutes
            why = (f"{s.code}: {s.minutes} of {day_minutes} timed minutes on {head} "
                   f"-> {u} {'unit' if u == 1 else 'units'} ({method})")
            if u > full:
                why += f": {full} full, +1 for {s.minutes - full * s.unit_minutes} remaining minutes"
            fam = family_of.get(s.code) if family_of else None
            if fam is not None:
                codes = sorted({t.line.code for t in tls})
                if len(codes) > 1:
                    why = why.replace(f"{s.code}: ", f"{'+'.join(codes)}: ", 1)
                _family_split(fam, u, tls, s.unit_minutes, why, decisions, ties, head)
                continue
            if len(tls) == 1:
                decisions[tls[0].line.line] = UnitDecision(u, why)
                continue
            # the same code on several lines: share its units by the same rule, line by line
            line_services = [
                Service(f"line {t.line.line}", t.minutes, s.unit_minutes, 1, s.code, t.line.line) for t in tls
            ]
            line_units, line_ties = allocate(line_services, u)
            ties.extend(f"{head}: {t}" for t in line_ties)
            for t, lu in zip(tls, line_units):
                decisions[t.line.line] = UnitDecision(
                    lu, f"{why}; {s.code} is on {len(tls)} lines, this line ({t.minutes} min) gets {lu}")
    return Allocation(source, method, decisions, steps, ties)
