"""NCCI procedure-to-procedure edits (CMS NCCI; docs/edits.md).

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

Two lines dated outside the table's dates (``tables.ptp`` valid_from/valid_to, or its
provenance file's) are not judged by it, nor by the overrides of its rows: the claim
gets ``ncci.table_out_of_range`` naming the table, the lines and the dates instead.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field

from payer_rules import Edit, hookimpl
from payer_rules.plugins import section_schema
from payer_rules.claims import line_blocks
from payer_rules.tables import PtpRow, Validity, dos_int, int_date, out_of_range_message, required_table, table_validity

SOURCE = "ncci_ptp"
PAYER_RULES_GLOBAL = True


@hookimpl
def register_policy_sections(register):
    register("ncci", section_schema("ncci"))


@hookimpl
def policy_edits(policy, data):
    if data is None:
        return []
    return ["ncci.ptp"] + (["ncci.table_out_of_range"] if data.validity is not None else [])


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
             description="a 59/XS modifier claims distinct services but both lines treat the same body region "
                         "(and, for 59 on timed codes, their times do not show separate periods)",
             denial={"group": "CO", "carc": "236", "rarc": None})
    register("ncci.table_out_of_range", category="bundling", severity="warning", section="ncci",
             description="two or more codes on a date outside the NCCI PTP table's valid dates: the pairs were not "
                         "checked (the policy needs the release in force on that date)",
             denial={"group": None, "carc": None, "rarc": None})


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
    #: modifiers that may claim separate time periods for two timed codes (CMS: 59)
    time_modifiers: frozenset[str] = frozenset()
    #: (column 1, column 2) -> citation: pairs that need a different anatomic region whatever
    #: the modifier (NCCI manual ch. XI: 97140 with 98940-98942)
    region_required: dict[tuple[str, str], str] = field(default_factory=dict)
    #: the dates the table is valid for, when it declares any
    validity: Validity | None = None


@hookimpl
def prepare_policy(policy, base_dir, options):
    cfg = policy.settings.get("ncci")
    if not cfg:
        return None
    table, version = required_table(policy, "ptp", "ncci", options)
    overrides = {}
    for o in cfg.get("overrides", []):
        c1, c2 = str(o["column1"]), str(o["column2"])
        overrides[(c1, c2)] = PtpRow(c1, c2, 0, 99991231, int(o["modifier_indicator"]),
                                     o.get("note", f"{policy.payer} policy override"))
    region_required = {}
    for r in cfg.get("region_required", []):
        for c1 in r["column1"]:
            for c2 in r["column2"]:
                region_required[(str(c1), str(c2))] = r.get("citation", f"{policy.payer} policy")
    validity = table_validity(policy, "ptp")
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
        time_modifiers=frozenset(cfg.get("time_separation_modifiers", [])),
        region_required=region_required,
        validity=validity if validity.bounded else None,
    )


def _bypass(s: Settings, col1_line, col2_line) -> set[str]:
    used = s.bypass.intersection(col2_line.modifiers)
    if s.either_from is not None and col2_line.date_of_service >= s.either_from:
        used |= s.either_modifiers.intersection(col1_line.modifiers)
    return used


def _region(ln) -> str | None:
    r = ln.body_region
    return r.strip().lower() or None if r else None


@dataclass
class _Col1:
    """The column-1 lines of one code on one date that carry the same 59/X modifiers (for
    the either-line rule): what the tests need of them, gathered once, so each column-2
    line is judged against the group instead of line by line."""

    key: frozenset[str]
    first: object
    regions: dict[str, object] = field(default_factory=dict)  # region -> first line with it
    no_region: object = None  # first line without a region
    blocks: list[tuple[int, int, int]] = field(default_factory=list)  # (start, end, line)
    untimed_line: object = None  # first line without time blocks

    def add(self, ln) -> None:
        r = _region(ln)
        if r is None:
            if self.no_region is None:
                self.no_region = ln
        elif r not in self.regions:
            self.regions[r] = ln
        bl = line_blocks(ln)
        if not bl and self.untimed_line is None:
            self.untimed_line = ln
        self.blocks.extend((a, b, ln.line) for a, b in bl)

    def overlap(self, blocks) -> int | None:
        """The first column-1 line whose time overlaps ``blocks``, or None."""
        if not hasattr(self, "_starts"):
            self.blocks.sort()
            self._starts = [b[0] for b in self.blocks]
            run, self._reach = (-1, 0), []  # the furthest end (and its line) up to each block
            for a, b, n in self.blocks:
                if b > run[0]:
                    run = (b, n)
                self._reach.append(run)
        for lo, hi in blocks:
            i = bisect_left(self._starts, hi) - 1  # blocks starting before hi
            if i >= 0 and self._reach[i][0] > lo:
                return self._reach[i][1]
        return None


@hookimpl
def check_claim(claim, policy, allocation, data):
    """Each pair of distinct codes on a date is looked up once; each column-2 line then
    gets at most one edit per column-1 code (the one a payer would deny it for), so the
    output grows with lines, not with pairs of lines."""
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
    validity = s.validity
    outside: list = []
    for group in groups:
        if len(group) < 2:
            continue
        by_code: dict[str, list] = {}
        for ln in group:
            by_code.setdefault(ln.code, []).append(ln)
        if len(by_code) < 2:
            continue
        if validity is not None and not validity.covers(group[0].date_of_service):
            outside.extend(group)
            continue
        d = dos_int(group[0].date_of_service)
        for c1, col1 in by_code.items():
            ia = code_id.get(c1)
            pairs = table.column2_rows(ia) if ia is not None else None
            if not pairs and not overrides:
                continue  # no row has this code in column 1
            partitions = None
            for c2, col2 in by_code.items():
                if c2 == c1:
                    continue
                row = overrides.get((c1, c2)) if overrides else None
                if row is None:
                    windows = pairs.get(code_id.get(c2)) if pairs else None
                    if windows is None:
                        continue
                    row = table.row_in_force(ia, windows, d)
                    if row is None:
                        continue
                if row.modifier_indicator == 9:
                    continue
                if partitions is None:
                    partitions = _partitions(s, col1)
                for b in col2:
                    _edit_for(s, policy, partitions, b, row, edits)
    if outside:
        outside.sort(key=lambda ln: ln.line)
        edits.append(Edit(rule="ncci.table_out_of_range", category="bundling", severity="warning",
                          lines=tuple(ln.line for ln in outside), source=SOURCE,
                          message=out_of_range_message(validity, [(ln.line, ln.date_of_service) for ln in outside])))
    return edits


def _partitions(s: Settings, col1: list) -> list[_Col1]:
    either = s.either_modifiers if s.either_from is not None and col1[0].date_of_service >= s.either_from \
        else frozenset()
    parts: dict[frozenset[str], _Col1] = {}
    for ln in col1:
        key = either.intersection(ln.modifiers) if either else frozenset()
        p = parts.get(key)
        if p is None:
            p = parts[key] = _Col1(key, ln)
        p.add(ln)
    return list(parts.values())


_RANK = {"ptp": 3, "same": 2, "missing": 1}


def _edit_for(s: Settings, policy, partitions: list[_Col1], b, row: PtpRow, edits: list) -> None:
    """The edit (or none) for column-2 line ``b`` against the column-1 lines of one code."""
    worst = None  # (rank, kind, column-1 line, modifiers used, test said in words)
    for p in partitions:
        verdict = _judge(s, policy, p, b, row)
        if verdict is not None and (worst is None or _RANK[verdict[0]] > _RANK[worst[0]]):
            worst = verdict
            if verdict[0] == "ptp":
                break
    if worst is None:
        return
    kind, a, used, test = worst
    where = (f"line {b.line} {b.code} is column 2 of {a.code} (line {a.line}) in "
             f"{'the ' + policy.payer + ' policy' if (a.code, b.code) in s.overrides else s.version}")
    window = "" if row.effective == 0 and row.deletion == 99991231 else (
        f"; edit in force {int_date(row.effective) if row.effective else 'from the start'} to "
        f"{int_date(row.deletion) if row.deletion != 99991231 else 'now'}")
    if kind == "ptp" and row.modifier_indicator == 0:
        edits.append(Edit(
            rule="ncci.ptp", category="bundling", severity="error", lines=(b.line,),
            message=(f"{where} ({row.rationale}{window}): modifier indicator 0, never separately "
                     "payable on the same date; no modifier bypasses it"),
            source=SOURCE, fix={"action": "remove_line", "line": b.line}))
    elif kind == "ptp":
        edits.append(Edit(
            rule="ncci.ptp", category="bundling", severity="error", lines=(b.line,),
            message=(f"{where} ({row.rationale}{window}): not separately payable unless the services "
                     f"were distinct and line {b.line} carries an NCCI-associated modifier "
                     f"({s.bypass_hint} ...)"),
            source=SOURCE, fix=None))
    elif kind == "missing":
        edits.append(Edit(
            rule="ncci.bypass_region_missing", category="documentation", severity="warning",
            lines=(a.line, b.line),
            message=(f"lines {a.line} and {b.line}: {', '.join(sorted(used))} bypasses the "
                     f"{a.code}/{b.code} edit, but the body regions are not recorded on both "
                     f"lines; {test}: the distinct region must be documented"),
            source=SOURCE))
    else:
        edits.append(Edit(
            rule="ncci.bypass_same_region", category="bundling", severity="error", lines=(b.line,),
            message=(f"{where}: {', '.join(sorted(used))} claims a distinct service but both "
                     f"lines treat the same body region ({test}); the edit applies"),
            source=SOURCE, fix={"action": "remove_line", "line": b.line}))


def _judge(s: Settings, policy, p: _Col1, b, row: PtpRow):
    """What the column-2 line ``b`` gets against column-1 lines ``p``: None (payable) or
    (kind, column-1 line, modifiers used, the test applied in words)."""
    if row.modifier_indicator == 0:
        return ("ptp", p.first, frozenset(), "")
    used = s.bypass.intersection(b.modifiers) | p.key
    if not used:
        return ("ptp", p.first, frozenset(), "")
    required = s.region_required.get((p.first.code, b.code))
    if required is not None:
        test = f"a different anatomic region is required for this pair ({required})"
    elif not used <= s.region_modifiers:
        return None  # XE, XP, XU, anatomic modifiers: no region test (docs/edits.md)
    else:
        time_mods = used & s.time_modifiers
        why_not = _time_separated(policy, p, b) if time_mods else "XS names a separate structure"
        if why_not is None:
            return None  # 59 on timed services in separate, non-overlapping time periods
        test = f"body-region test: {why_not}"
    rb = _region(b)
    if rb is None or p.no_region is not None:
        return ("missing", p.no_region or p.first, used, test)
    a = p.regions.get(rb)
    return ("same", a, used, test) if a is not None else None


def _time_separated(policy, p: _Col1, b) -> str | None:
    """None when ``b`` and every line of ``p`` are timed codes whose time blocks do not
    overlap (CMS modifier 59 article); otherwise why time does not separate them."""
    timed = policy.timed
    if b.code not in timed or p.first.code not in timed:
        return "time does not separate untimed services"
    bb = line_blocks(b)
    if not bb or p.untimed_line is not None:
        n = b.line if not bb else p.untimed_line.line
        return f"line {n} has no start and end times or time blocks, so time separation is not shown"
    hit = p.overlap(bb)
    if hit is not None:
        return f"the time blocks of lines {hit} and {b.line} overlap"
    return None


@hookimpl
def explain_claim(claim, policy, allocation, data):
    """Pairs the table knows that did not become edits, and why."""
    s: Settings | None = data
    if s is None:
        return []
    out = []
    firsts: dict[tuple[str, str], object] = {}  # (date, code) -> its first line: one pair of codes, once
    for ln in claim.lines:
        if s.validity is not None and not s.validity.covers(ln.date_of_service):
            continue  # not judged by the table: check_claim's ncci.table_out_of_range says so
        firsts.setdefault((ln.date_of_service, ln.code), ln)
    for a in firsts.values():
        for b in firsts.values():
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
                    how = ""
                    if used <= s.region_modifiers and used & s.time_modifiers and \
                            (a.code, b.code) not in s.region_required:
                        p = _Col1(frozenset(), a)
                        p.add(a)
                        why_not = _time_separated(policy, p, b)
                        how = ("; separate, non-overlapping time periods (time test)" if why_not is None
                               else f"; {why_not}, so the body-region test applies")
                    out.append(f"NCCI {a.code}/{b.code} (lines {a.line}/{b.line}): bypassed by "
                               f"{', '.join(sorted(used))} (indicator 1){how}")
    return out
