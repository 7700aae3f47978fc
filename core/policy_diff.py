"""``payer-rules diff``: what changed between two versions of a payer's policy, and what
that change does to real claims before it goes live.

A side is a version id of a loaded payer (``2024.1``) or a policy file, optionally with a
version (``new/medicare.yaml:2024.2``; a file with one version needs none). With a claims
file, every claim is evaluated under both sides, whatever its dates of service, and the
differences are counted: claims and lines whose outcome changes, status transitions, edits
that appear or disappear, with examples.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .claims import ClaimError, parse_claim
from .models import thaw
from .policy import PolicyVersion
from .readers import ReadError, read_claims
from .tables import table_paths

EXAMPLES = 5


class DiffError(ValueError):
    pass


@dataclass
class Side:
    label: str
    engine: Any
    version: PolicyVersion


def resolve(engine, payer: str, spec: str) -> Side:
    """A version id of ``payer`` in ``engine``, or ``FILE[:VERSION]``."""
    from .engine import Engine
    path, _, vid = spec.partition(":") if not Path(spec).exists() else (spec, "", "")
    if Path(path).is_file():
        other = Engine(Path(path))
        versions = other.policies.versions(payer)
        if not versions:
            raise DiffError(f"{path} has no policy for payer '{payer}' (it has: {', '.join(other.policies.payers())})")
        if not vid:
            if len(versions) > 1:
                raise DiffError(f"{path} has several {payer} versions ({', '.join(v.version for v in versions)}): "
                                f"write {path}:VERSION")
            return Side(spec, other, versions[0])
        engine = other
    versions = engine.policies.versions(payer)
    if not versions:
        raise DiffError(f"unknown payer '{payer}' (known: {', '.join(engine.policies.payers())})")
    wanted = vid or spec
    for v in versions:
        if v.version == wanted:
            return Side(spec, engine, v)
    raise DiffError(f"payer '{payer}' has no version '{wanted}' (versions: {', '.join(v.version for v in versions)})")


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


def settings_changes(a: PolicyVersion, b: PolicyVersion) -> list[str]:
    skip = ("versions", "rules", "name", "description", "tables")
    fa = _flatten({k: v for k, v in thaw(a.settings).items() if k not in skip})
    fb = _flatten({k: v for k, v in thaw(b.settings).items() if k not in skip})
    out = []
    for key in sorted(set(fa) | set(fb)):
        x, y = fa.get(key), fb.get(key)
        if x == y:
            continue
        if isinstance(x, list) and isinstance(y, list) and all(not isinstance(i, (dict, list)) for i in x + y):
            added = [i for i in y if i not in x]
            removed = [i for i in x if i not in y]
            out.append(f"{key}: " + "; ".join(filter(None, [
                f"added {', '.join(map(str, added))}" if added else "",
                f"removed {', '.join(map(str, removed))}" if removed else ""])) or f"{key}: reordered")
        elif key not in fa:
            out.append(f"{key}: added ({y!r})")
        elif key not in fb:
            out.append(f"{key}: removed (was {x!r})")
        else:
            out.append(f"{key}: {x!r} -> {y!r}")
    return out


def rule_changes(a: PolicyVersion, b: PolicyVersion) -> list[str]:
    ra = {r["id"]: r for r in thaw(a.settings).get("rules", [])}
    rb = {r["id"]: r for r in thaw(b.settings).get("rules", [])}
    out = [f"added rule {i}: {rb[i]['description'].strip()}" for i in sorted(set(rb) - set(ra))]
    out += [f"removed rule {i}" for i in sorted(set(ra) - set(rb))]
    for i in sorted(set(ra) & set(rb)):
        if ra[i] != rb[i]:
            fields = sorted(k for k in set(ra[i]) | set(rb[i]) if ra[i].get(k) != rb[i].get(k))
            out.append(f"changed rule {i}: {', '.join(fields)}")
    return out


def table_changes(a: PolicyVersion, b: PolicyVersion, options_a: Any = None, options_b: Any = None) -> list[str]:
    """Rows added, removed and changed; ``options_*``: each side's engine options (table_roots)."""
    out = []
    for kind in ("ptp", "mue", "pfs"):
        pa, pb = table_paths(a, kind), table_paths(b, kind)
        if pa == pb:
            continue
        if pa is None or pb is None:
            out.append(f"tables.{kind}: {'added' if pa is None else 'removed'}")
            continue
        if pa[1] != pb[1]:
            out.append(f"tables.{kind}: version {pa[1]!r} -> {pb[1]!r}")
        ta, tb = _rows(a, kind, options_a), _rows(b, kind, options_b)
        added = sorted(set(tb) - set(ta))
        removed = sorted(set(ta) - set(tb))
        changed = sorted(k for k in set(ta) & set(tb) if ta[k] != tb[k])
        if added or removed or changed:
            out.append(f"tables.{kind}: {len(added):,} added, {len(removed):,} removed, {len(changed):,} changed")
            for label, keys, show in (("added", added, tb), ("removed", removed, ta), ("changed", changed, tb)):
                for k in keys[:EXAMPLES]:
                    before = f"{ta[k]} -> " if label == "changed" else ""
                    out.append(f"  {label} {'/'.join(k) if isinstance(k, tuple) else k}: {before}{show[k]}")
    return out


def _rows(v: PolicyVersion, kind: str, options: Any = None) -> dict:
    from .tables import policy_table
    table, _ = policy_table(v, kind, options)
    if kind == "ptp":
        out: dict = {}
        for r in table.iter_rows():
            out.setdefault((r.column1, r.column2), []).append((r.effective, r.deletion, r.modifier_indicator))
        return {k: tuple(sorted(x)) for k, x in out.items()}
    if kind == "mue":
        return {c: (m.value, m.mai) for c, m in table.items()}
    return {c: (s.status, s.mult_proc) for c, s in table.items()}


@dataclass
class Impact:
    claims: int = 0
    changed: int = 0
    lines_units_changed: int = 0
    unreadable: int = 0
    transitions: Counter = field(default_factory=Counter)
    edits_added: Counter = field(default_factory=Counter)
    edits_removed: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def example(self, key: str, claim_id: str) -> None:
        ex = self.examples.setdefault(key, [])
        if len(ex) < EXAMPLES:
            ex.append(claim_id)

    def to_dict(self) -> dict[str, Any]:
        return {"claims": self.claims, "claims_changed": self.changed, "lines_with_units_changed": self.lines_units_changed,
                "unreadable": self.unreadable,
                "status_transitions": dict(sorted(self.transitions.items())),
                "edits_added": dict(sorted(self.edits_added.items())),
                "edits_removed": dict(sorted(self.edits_removed.items())),
                "examples": dict(sorted(self.examples.items()))}


def impact(old: Side, new: Side, claims: Iterable[Any], payer: str) -> Impact:
    out = Impact()
    for raw in claims:
        if isinstance(raw, ReadError):
            out.unreadable += 1
            continue
        try:
            c = parse_claim(raw)
        except ClaimError:
            out.unreadable += 1
            continue
        out.claims += 1
        a = old.engine._run(c, payer, old.engine.runtime(old.version))
        b = new.engine._run(c, payer, new.engine.runtime(new.version))
        changed = False
        if a.status != b.status:
            key = f"{a.status} -> {b.status}"
            out.transitions[key] += 1
            out.example(key, c.claim_id)
            changed = True
        for la, lb in zip(a.lines, b.lines):
            if la.units != lb.units:
                out.lines_units_changed += 1
                out.example(f"units of {la.code}", c.claim_id)
                changed = True
        ea, eb = Counter(e.rule for e in a.edits), Counter(e.rule for e in b.edits)
        for rule in sorted(set(ea) | set(eb)):
            if eb[rule] > ea[rule]:
                out.edits_added[rule] += eb[rule] - ea[rule]
                out.example(f"+{rule}", c.claim_id)
                changed = True
            elif ea[rule] > eb[rule]:
                out.edits_removed[rule] += ea[rule] - eb[rule]
                out.example(f"-{rule}", c.claim_id)
                changed = True
        out.changed += changed
    return out


def diff(engine, payer: str, old_spec: str, new_spec: str, claims_file: str | None = None) -> dict[str, Any]:
    old, new = resolve(engine, payer, old_spec), resolve(engine, payer, new_spec)
    out: dict[str, Any] = {
        "payer": payer,
        "old": {"spec": old_spec, "version": old.version.version, "window": old.version.window(), "file": old.version.path},
        "new": {"spec": new_spec, "version": new.version.version, "window": new.version.window(), "file": new.version.path},
        "settings": settings_changes(old.version, new.version),
        "rules": rule_changes(old.version, new.version),
        "tables": table_changes(old.version, new.version, old.engine.options, new.engine.options),
        "patch": list(new.version.patch),
    }
    if claims_file:
        out["impact"] = impact(old, new, (raw for _, raw in read_claims(claims_file, readers=engine)), payer).to_dict()
    return out


def render(d: dict[str, Any]) -> str:
    lines = [f"{d['payer']}: {d['old']['version']} ({d['old']['window']}) -> {d['new']['version']} ({d['new']['window']})"]
    for section in ("settings", "rules", "tables"):
        lines.append(f"{section}:")
        lines.extend(f"  {x}" for x in d[section] or ["no change"])
    if d.get("patch"):
        lines.append(f"patch of {d['new']['version']} (as written in its patch:):")
        lines.extend(f"  {x}" for x in d["patch"])
    imp = d.get("impact")
    if imp:
        lines.append(f"impact on {imp['claims']:,} claims: {imp['claims_changed']:,} change outcome; "
                     f"{imp['lines_with_units_changed']:,} lines change units"
                     + (f"; {imp['unreadable']:,} could not be read" if imp["unreadable"] else ""))
        for k, n in imp["status_transitions"].items():
            lines.append(f"  status {k}: {n:,}")
        for k, n in imp["edits_added"].items():
            lines.append(f"  new edit {k}: {n:,}")
        for k, n in imp["edits_removed"].items():
            lines.append(f"  edit gone {k}: {n:,}")
        if imp["examples"]:
            lines.append("  examples:")
            lines.extend(f"    {k}: {', '.join(v)}" for k, v in imp["examples"].items())
    return "\n".join(lines)
