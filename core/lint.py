"""``payer-rules lint``: problems in policy files, found without running claims.

Errors: anything that stops the policy loading (schema, YAML, unknown names, overlapping
windows, codes both timed and untimed, duplicate rule ids, bad templates, missing table
files), and table files outside the policy's folder. Warnings: gaps between version
windows, rules that can never fire, rules another rule always shadows, edits without a
denial-code mapping, NCCI overrides of pairs the table had already deleted before the
policy's window, dates of a version's window its tables are not valid for. Notes (``info``,
which ``--strict`` does not count): dates a table's ``uncovered`` explains, and table dates
a policy sets wider than the table's provenance file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from .policy import PolicyError, policy_files
from .rules import All, Rule, Test
from .tables import KINDS, NO_DELETION, TableError, int_date, read_provenance, table_path_problems, table_paths, table_validity


@dataclass(frozen=True)
class Problem:
    path: str
    line: int | None
    column: int | None
    severity: str  # error, warning, info (a note: --strict does not count it)
    message: str

    def text(self) -> str:
        return f"{self.path}:{self.line or 1}:{self.column or 1}: {self.severity}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.path, "line": self.line, "column": self.column, "severity": self.severity,
                "message": self.message}


def lint(paths: Iterable[str | Path]) -> list[Problem]:
    """Every problem in the policy files under ``paths``, in file and line order."""
    from .engine import Engine
    problems: list[Problem] = []
    for f in [f for p in paths for f in policy_files(p)]:
        if not f.exists():
            problems.append(Problem(str(f), None, None, "error", "no such file or folder"))
            continue
        problems.extend(_placeholders(f))
        problems.extend(_placeholders(f.with_name(f.name[: -len(f.suffix)] + ".test" + f.suffix)))
        try:
            engine = Engine(f)
        except PolicyError as exc:
            problems.extend(Problem(p.path, p.line, p.column, "error", p.message) for p in exc.problems)
            continue
        for versions in engine.policies.by_payer.values():
            problems.extend(_check_policy(f, engine, versions))
        for plugin in engine.unused_plugins():
            problems.append(Problem(str(f), None, None, "warning",
                                    f"plugin '{plugin}' is installed but no loaded policy names it in plugins: "
                                    "it runs for no claim"))
    return sorted(set(problems), key=lambda p: (p.path, p.line or 0, p.column or 0, p.message))


def _placeholders(path: Path) -> list[Problem]:
    """A warning at every line that still carries ``payer-rules new-payer``'s FILL-IN marker."""
    from .scaffold import PLACEHOLDER, placeholder_lines
    if not path.is_file():
        return []
    return [Problem(str(path), n, text.find(PLACEHOLDER) + 1 or None, "warning",
                    f"placeholder left by payer-rules new-payer: fill it in and remove {PLACEHOLDER} ({text.strip()[:120]})")
            for n, text in placeholder_lines(path)]


def _check_policy(path: Path, engine, versions: list) -> list[Problem]:
    out: list[Problem] = []
    name = str(path)
    first = versions[0]
    lines = first.lines

    def at(*keys: Any) -> tuple[int | None, int | None]:
        return lines.find(keys) if lines else (None, None)

    # windows: gaps between consecutive versions
    for a, b in zip(versions, versions[1:]):
        if a.effective_to is not None and _next_day(a.effective_to) < b.effective_from:
            line, col = at("versions")
            out.append(Problem(name, line, col, "warning",
                               f"gap between version '{a.version}' (to {a.effective_to}) and '{b.version}' "
                               f"(from {b.effective_from}): claims in between get no policy"))
    for v in versions:
        out.extend(_check_tables(path, v, at))
        out.extend(_check_plugins(name, engine, v, at, versions))
        out.extend(_check_denials(name, engine, v, at))
    return out


def _next_day(d: str) -> str:
    from datetime import date, timedelta
    return (date.fromisoformat(d) + timedelta(days=1)).isoformat()


def _check_tables(path: Path, v, at) -> list[Problem]:
    # the engine's own check (payer_rules.tables): outside the policy's folder, after symlinks
    out = [Problem(e.path, e.line, e.column, "error", e.message) for e in table_path_problems(v)]
    if not out:
        out.extend(validity_problems(v))
    return out


#: the edit a claim gets on a date a table of this kind does not cover
OUT_OF_RANGE_EDIT = {"ptp": "ncci.table_out_of_range", "mue": "mue.table_out_of_range",
                     "pfs": "pfs.table_out_of_range"}


def _span(a: str, b: str | None) -> str:
    return f"from {a}" if b is None else (a if a == b else f"{a} to {b}")


def validity_problems(v) -> list[Problem]:
    """Each part of version ``v``'s window that a table it names is not valid for (a
    warning, or a note when the table's ``uncovered`` says why), and table dates the
    policy sets wider than the table's provenance file (a note)."""
    out: list[Problem] = []
    lines = v.lines
    for kind in KINDS:
        found = table_paths(v, kind)
        if found is None:
            continue
        line, col = lines.find(("tables", kind)) if lines else (None, None)
        try:
            val = table_validity(v, kind)
        except TableError as exc:
            out.append(Problem(exc.path, exc.line, exc.column, "error", exc.message))
            continue
        if val is None:
            continue
        gaps = val.gaps(v.effective_from, v.effective_to)
        if gaps:
            spans = " and ".join(_span(a, b) for a, b in gaps)
            msg = (f"version '{v.version}' is in force {spans}, but tables.{kind} (the {val.table}) is valid "
                   f"{val.dates()}: claims on those dates get {OUT_OF_RANGE_EDIT[kind]} and are not checked "
                   "against it")
            if val.uncovered:
                out.append(Problem(v.path, line, col, "info", f"{msg} ({val.uncovered})"))
            else:
                out.append(Problem(v.path, line, col, "warning",
                                   f"{msg}; name the release valid for those dates (one version per release) or "
                                   f"say why there is none in tables.{kind}.uncovered"))
        spec = v.settings["tables"][kind]
        for p in found[0]:
            try:
                prov = read_provenance(p) or {}
            except TableError:
                continue  # reported above through table_validity
            for key, wider in (("valid_from", lambda pol, pro: pol is None or pol < pro),
                               ("valid_to", lambda pol, pro: pol is None or pol > pro)):
                if key in spec and prov.get(key) and wider(spec[key], prov[key]):
                    out.append(Problem(v.path, line, col, "info",
                                       f"tables.{kind}.{key} ({spec[key] or 'open'}) is wider than the "
                                       f"{key} of {p.name}'s provenance ({prov[key]}): the policy uses the table "
                                       "beyond the release's own dates"))
    return out


def _codes_of(node: Any) -> list[Test]:
    """The tests that must all hold (top-level conjunction; any/not are not looked into)."""
    if isinstance(node, Test):
        return [node]
    if isinstance(node, All):
        return [t for x in node.items for t in _codes_of(x)]
    return []


def _never_fires(rule: Rule, known: set[str]) -> str | None:
    """Why a rule can never fire, from contradictions among its top-level tests, or None."""
    tests = _codes_of(rule.when)
    allowed: frozenset[str] | None = None
    banned: set[str] = set()
    for t in tests:
        if t.kind == "code_in":
            if t.negate:
                banned |= t.args[0]
            else:
                allowed = t.args[0] if allowed is None else allowed & t.args[0]
    if allowed is not None and not (allowed - banned):
        return "its code conditions exclude every code"
    must, must_not = set(), set()
    for t in tests:
        if t.kind == "mods_all" and not t.negate:
            must |= t.args[0]
        if t.kind == "mods_any" and not t.negate and len(t.args[0]) == 1:
            must |= t.args[0]
        if t.kind == "mods_none" and not t.negate:
            must_not |= t.args[0]
    if must & must_not:
        return f"it requires and forbids modifier(s) {', '.join(sorted(must & must_not))}"
    for fld in ("minutes", "units"):
        lo, hi = float("-inf"), float("inf")
        for t in tests:
            if t.kind == "num" and not t.negate and t.args[0] == fld:
                op, val = t.args[1], t.args[2]
                if op in ("gt", "gte"):
                    lo = max(lo, val + (0.5 if op == "gt" else 0))
                elif op in ("lt", "lte"):
                    hi = min(hi, val - (0.5 if op == "lt" else 0))
                elif op == "eq":
                    lo, hi = max(lo, val), min(hi, val)
        if lo > hi:
            return f"no value of {fld} meets its conditions"
    if rule.effective_from and rule.effective_to and rule.effective_from > rule.effective_to:
        return "its effective_from is after its effective_to"
    return None


def _same_when(a: Rule, b: Rule) -> bool:
    return a.scope == b.scope and a.when == b.when and a.other == b.other and \
        a.effective_from == b.effective_from and a.effective_to == b.effective_to


def rule_problems(rules: list[Rule], v, versions) -> list[dict[str, Any]]:
    """Rules that can never fire or that another rule shadows (the policy_rules plugin
    reports these through ``lint_policy``)."""
    out: list[dict[str, Any]] = []
    known = set(v.timed) | set(v.untimed)

    def warn(rule: Rule, message: str) -> None:
        out.append({"at": ("rules", rule.position), "severity": "warning", "message": message})

    for r in rules:
        why = _never_fires(r, known)
        if why:
            warn(r, f"rule '{r.id}' can never fire: {why}")
        if r.effective_from or r.effective_to:
            lo, hi = r.effective_from or "0000-00-00", r.effective_to or "9999-12-31"
            if not any(lo <= (x.effective_to or "9999-12-31") and x.effective_from <= hi for x in versions):
                warn(r, f"rule '{r.id}' can never fire: its window lies outside every version's window")
        if r.index_codes is not None and not (r.index_codes & known):
            warn(r, f"rule '{r.id}' applies only to codes this policy lists neither timed nor untimed "
                    f"({', '.join(sorted(r.index_codes)[:5])})")
    for i, a in enumerate(rules):
        for b in rules[i + 1:]:
            if _same_when(a, b):
                warn(b, f"rule '{b.id}' is shadowed by rule '{a.id}': same conditions, so both always "
                        "fire together; merge them or make one narrower")
    return out


def _check_plugins(name: str, engine, v, at, versions) -> list[Problem]:
    """What each plugin in scope says about its part of the version (``lint_policy``)."""
    rt = engine.runtime(v)
    hook = engine.plugins.bind("lint_policy", sorted(engine.plugins.global_names | set(v.plugins)), rt.data)
    out = []
    for plugin, found in hook.results(v, versions):
        for p in found or []:
            line, col = at(*p.get("at", ()))
            out.append(Problem(name, line, col, p.get("severity", "warning"), str(p["message"])))
    return out


def _check_denials(name: str, engine, v, at) -> list[Problem]:
    """Edits this version can produce that would go out without denial codes: none on the
    edit (a rule's own), none in the policy's ``denials`` by id or category, none in the
    catalogue. One warning per category, at the policy's ``denials``."""
    rt = engine.runtime(v)
    enabled = [spec for spec in rt.catalogue.values()
               if spec.id in rt.possible or (spec.section in v.settings and spec.plugin != "payer_rules.core")]
    rules = {r.id: r for r in getattr(rt.data.get("policy_rules"), "rules", ())}
    missing: dict[str, list[str]] = {}
    for spec in enabled:
        r = rules.get(spec.id)
        if r is not None and (r.carc is not None or r.group is not None):
            continue
        if spec.denial is not None or v.denial(spec.id, spec.category) is not None:
            continue
        missing.setdefault(spec.category, []).append(spec.id)
    out = []
    for cat, ids in sorted(missing.items()):
        line, col = at("denials")
        out.append(Problem(name, line, col, "warning",
                           f"no denial codes for {', '.join(sorted(ids)[:6])}{' ...' if len(ids) > 6 else ''} "
                           f"(category '{cat}'): set denials['{cat}'] or per edit id"))
    return out


def override_problems(s, v) -> list[dict[str, Any]]:
    """NCCI overrides of pairs the table deleted before the version starts (the ncci_ptp
    plugin reports these through ``lint_policy``)."""
    out = []
    start = int(v.effective_from.replace("-", ""))
    for i, (c1, c2) in enumerate(s.overrides):
        rows = s.table.rows_for(c1, c2)
        if rows and all(r.deletion != NO_DELETION and r.deletion < start for r in rows):
            last = max(r.deletion for r in rows)
            out.append({"at": ("ncci", "overrides", i), "severity": "warning",
                        "message": f"override of {c1}/{c2}: the table deleted that edit on {int_date(last)}, before "
                                   f"version '{v.version}' starts ({v.effective_from}); the override changes nothing"})
    return out
