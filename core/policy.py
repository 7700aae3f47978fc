"""Payer policies: read YAML safely, validate against the shipped schema, compile once.

A policy file holds one payer. Its top-level settings are the base; each entry of
``versions`` names an effective window and may override settings for that window.
Everything a claim needs at evaluation time (code sets, unit method, denial codes,
plugin data) is computed here, when the policy loads, so the per-claim path only
looks things up.
"""

from __future__ import annotations

import bisect
import difflib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping

import jsonschema

from .models import freeze
from .yaml_source import LineMap, SourceError, code_text, load_yaml, plain

POLICY_SUFFIXES = (".yaml", ".yml")
TEST_SUFFIXES = (".test.yaml", ".test.yml", ".tests.yaml", ".tests.yml")


class PolicyError(Exception):
    """One or more problems in policy files; ``problems`` are SourceErrors."""

    def __init__(self, problems: list[SourceError]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@lru_cache(maxsize=None)
def load_schema(name: str) -> dict:
    """A JSON Schema shipped in the package (``policy``, ``claim`` or ``result``)."""
    text = resources.files("payer_rules").joinpath("schemas", f"{name}.schema.json").read_text("utf-8")
    return json.loads(text)


@lru_cache(maxsize=64)
def _validator_for(schema_text: str) -> jsonschema.protocols.Validator:
    schema = json.loads(schema_text)
    return jsonschema.validators.validator_for(schema)(schema)


def policy_schema(sections: dict[str, tuple[dict, str]] | None = None) -> dict:
    """The policy schema, with the settings sections plugins registered."""
    schema = load_schema("policy")
    if not sections:
        return schema
    schema = json.loads(json.dumps(schema))
    for name, (sub, _) in sorted(sections.items()):
        schema["$defs"]["settings"]["properties"][name] = sub
        schema["properties"][name] = {"$ref": f"#/$defs/settings/properties/{name}"}
    return schema


def suggest(word: Any, choices: Iterable[str]) -> str:
    """' (did you mean X?)' for the nearest choice, or ''."""
    match = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


def dotted(path: Iterable[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _subschema_properties(schema: dict, root: dict) -> list[str]:
    while "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target[part]
        schema = target
    return list(schema.get("properties", {}))


def _choice_keys(alternatives: Any) -> list[str]:
    """The keys of a ``oneOf`` whose alternatives each only require one key (``file`` or
    ``files``; ``claim``, ``claims`` or ``claims_file``), else []: such a choice is said in words."""
    keys = []
    for alt in alternatives if isinstance(alternatives, list) else ():
        if not (isinstance(alt, dict) and set(alt) == {"required"} and len(alt["required"]) == 1):
            return []
        keys.append(alt["required"][0])
    return keys


def schema_problems(
    data: Any, lines: LineMap, path: str, schema_name: str = "policy", base: tuple = (),
    schema: dict | None = None,
) -> list[SourceError]:
    """Every schema violation in ``data`` as a SourceError with line and a suggestion."""
    root = schema if schema is not None else load_schema(schema_name)
    validator = _validator_for(json.dumps(root, sort_keys=True))
    problems = []
    for err in sorted(validator.iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.message)):
        where = base + tuple(err.absolute_path)
        name = dotted(where)
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            allowed = _subschema_properties(err.schema, root)
            extra = [k for k in err.instance if k not in allowed]
            for key in extra:
                line, col = lines.find(where + (key,), key=True)
                problems.append(SourceError(path, line, f"unknown key '{key}' in {name}{suggest(key, allowed)}", col))
            if extra:
                continue
        line, col = lines.find(where)
        if err.validator == "enum":
            msg = f"{name}: '{err.instance}' is not one of {', '.join(map(str, err.validator_value))}"
            msg += suggest(err.instance, map(str, err.validator_value))
        elif err.validator == "required":
            missing = err.message.split("'")[1] if "'" in err.message else err.message
            msg = f"{name}: missing required key '{missing}'"
        elif err.validator == "pattern":
            msg = f"{name}: '{err.instance}' does not have the expected form ({err.validator_value})"
        elif err.validator == "type":
            msg = f"{name}: expected {err.validator_value}, found {type(err.instance).__name__}"
        elif err.validator == "const":
            msg = f"{name}: must be {err.validator_value!r}"
        elif err.validator == "oneOf" and isinstance(err.instance, dict) and _choice_keys(err.validator_value):
            keys = _choice_keys(err.validator_value)
            given = [k for k in keys if k in err.instance]
            msg = (f"{name}: give one of {', '.join(keys)}" if not given else
                   f"{name}: give only one of {', '.join(keys)} (found {', '.join(given)})")
        else:
            msg = f"{name}: {err.message}"
        problems.append(SourceError(path, line, msg, col))
    return problems


def merge(base: dict, override: dict) -> dict:
    """Mappings merge key by key (recursively); any other value replaces."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


#: Lists a version's ``patch:`` may edit item by item, and what identifies an item of
#: each (None: the item is its own identity, e.g. a code). A list not named here can only
#: be replaced whole, in ``overrides``.
PATCHABLE: dict[str, tuple[str, ...] | None] = {
    "rules": ("id",),
    "ncci.overrides": ("column1", "column2"),
    "codes.untimed": None,
    "plugins": None,
    "x12_payer_ids": None,
}


def _identity(item: Any, keys: tuple[str, ...] | None) -> Any:
    """What names a list item for a patch: its key fields, or the value itself."""
    if keys is None:
        return code_text(item) if not isinstance(item, (dict, list)) else None
    if len(keys) == 1 and not isinstance(item, dict):
        return code_text(item)  # remove: [rule.id] names the item by its single key
    if not isinstance(item, dict):
        return None
    return tuple(code_text(item.get(k)) for k in keys) if len(keys) > 1 else code_text(item.get(keys[0]))


def _show(ident: Any) -> str:
    return "/".join(ident) if isinstance(ident, tuple) else str(ident)


def _items_schema(root: dict, dotted_path: str) -> dict | None:
    """The schema of one item of the settings list at ``dotted_path``, or None."""
    node: Any = root["$defs"]["settings"]
    for part in dotted_path.split("."):
        while "$ref" in node:
            target: Any = root
            for p in node["$ref"].lstrip("#/").split("/"):
                target = target[p]
            node = target
        node = node.get("properties", {}).get(part)
        if node is None:
            return None
    while "$ref" in node:
        target = root
        for p in node["$ref"].lstrip("#/").split("/"):
            target = target[p]
        node = target
    items = node.get("items")
    return {"$defs": root["$defs"], **items} if isinstance(items, dict) else None


@dataclass
class Patched:
    """A version's settings after its patch, where each list item came from, and what
    the patch did (for ``lint``, ``explain`` and ``diff``)."""

    settings: dict
    remap: dict[tuple, tuple]
    changes: list[str]
    problems: list[SourceError]


def apply_patch(settings: dict, patch: Mapping[str, Any], where: tuple, lines: LineMap, name: str,
                source_of: dict[tuple, tuple], schema: dict) -> Patched:
    """Apply a version's ``patch:`` (add / replace / remove single list items by their id)
    to its merged settings. Operations apply in that order; adding an id that is there,
    or replacing or removing one that is not, is a problem naming the line."""
    out = json.loads(json.dumps(plain(settings)))
    remap: dict[tuple, tuple] = {}
    changes: list[str] = []
    problems: list[SourceError] = []
    for key in sorted(patch):
        ops = patch[key]
        at = where + ("patch", key)
        if key not in PATCHABLE:
            line, col = lines.find(at, key=True)
            problems.append(SourceError(name, line, f"patch: '{key}' is not a list a patch can edit (patchable: "
                                        f"{', '.join(sorted(PATCHABLE))}){suggest(key, PATCHABLE)}", col))
            continue
        keys = PATCHABLE[key]
        parts = key.split(".")
        parent: Any = out
        for p in parts[:-1]:
            parent = parent.setdefault(p, {})
        current = list(parent.get(parts[-1], []))
        origin = [_resolve(source_of, (*parts, i)) for i in range(len(current))]
        item_schema = _items_schema(schema, key)
        for op in ("remove", "replace", "add"):
            for j, item in enumerate(ops.get(op, [])):
                here = at + (op, j)
                line, col = lines.find(here)
                ident = _identity(item, keys)
                if ident is None:
                    problems.append(SourceError(name, line, f"patch.{key}.{op}[{j}]: cannot tell which item this is "
                                                f"(give {' and '.join(keys or ('the value',))})", col))
                    continue
                if op != "remove" and item_schema is not None and isinstance(item, dict):
                    bad = schema_problems(plain(item), lines, name, schema=item_schema, base=here)
                    if bad:
                        problems.extend(bad)
                        continue
                found = [i for i, x in enumerate(current) if _identity(x, keys) == ident]
                if op == "add":
                    if found:
                        problems.append(SourceError(name, line, f"patch.{key}.add: '{_show(ident)}' is already in "
                                                    f"{key}; use replace to change it", col))
                        continue
                    current.append(plain(item))
                    origin.append(here)
                    changes.append(f"{key}: added {_show(ident)}")
                elif not found:
                    known = [_show(_identity(x, keys)) for x in current]
                    problems.append(SourceError(name, line, f"patch.{key}.{op}: '{_show(ident)}' is not in {key}"
                                                f"{suggest(_show(ident), known)}", col))
                elif op == "replace":
                    current[found[0]] = plain(item)
                    origin[found[0]] = here
                    changes.append(f"{key}: replaced {_show(ident)}")
                else:
                    del current[found[0]]
                    del origin[found[0]]
                    changes.append(f"{key}: removed {_show(ident)}")
        parent[parts[-1]] = current
        for i, src in enumerate(origin):
            remap[(*parts, i)] = src
    return Patched(out, remap, changes, problems)


def _resolve(remap: Mapping[tuple, tuple], path: tuple) -> tuple:
    """Where ``path`` of a version's settings stands in the file, by the longest remapped prefix."""
    for n in range(len(path), 0, -1):
        target = remap.get(path[:n])
        if target is not None:
            return target + path[n:]
    return path


def _override_origins(overrides: Mapping[str, Any], where: tuple, prefix: tuple = ()) -> dict[tuple, tuple]:
    """Settings a version's ``overrides`` replace, mapped to where the override stands."""
    out: dict[tuple, tuple] = {}
    for key, value in overrides.items():
        path = prefix + (key,)
        if isinstance(value, dict):
            out.update(_override_origins(value, where, path))
        else:
            out[path] = where + ("overrides",) + path
    return out


class VersionLines(LineMap):
    """A version's view of its file's lines: a setting the version overrides or patches
    is found where the version writes it, so ``lines.find(("rules", 3))`` names the line
    of the rule in force, whichever part of the file it came from."""

    def __init__(self, lines: LineMap, remap: Mapping[tuple, tuple]):
        self._lines = lines
        self._remap = dict(remap)

    def find(self, path: tuple, key: bool = False) -> tuple[int | None, int | None]:
        return self._lines.find(_resolve(self._remap, tuple(path)), key=key)


@dataclass(frozen=True, eq=False)
class Policy:
    """One payer policy in force for one effective window: what plugins see.

    Frozen, and its settings are read-only mappings and tuples (``payer_rules.models.freeze``):
    a plugin cannot change the policy for the claims after it. What the engine keeps for a
    version at run time (bound hooks, plugin data, memos) lives in the engine, not here.
    Part of the stable API (docs/api.md).
    """

    payer: str
    name: str
    version: str
    effective_from: str
    effective_to: str | None
    path: str
    settings: Mapping[str, Any]
    unit_method: str
    unit_params: Mapping[str, Any]
    timed: Mapping[str, int]
    untimed: frozenset[str]
    unknown_codes: str
    plugins: tuple[str, ...]
    denials: Mapping[str, Mapping[str, Any]]
    severity: Mapping[str, str]
    lines: LineMap | None = field(default=None, repr=False)
    #: what the version's ``patch:`` did, one line per item ("rules: added x.y")
    patch: tuple[str, ...] = ()

    def covers(self, date: str) -> bool:
        return self.effective_from <= date and (self.effective_to is None or date <= self.effective_to)

    def window(self) -> str:
        return f"{self.effective_from} to {self.effective_to or 'open'}"

    def denial(self, rule: str, category: str) -> Mapping[str, Any] | None:
        """The policy's own denial codes for an edit (by rule id, else by category)."""
        return self.denials.get(rule) or self.denials.get(category)


def rules_in_force(policy: Policy) -> list[str]:
    """The ids of the ``rules:`` in force in one version, after its overrides and patch."""
    return [str(r.get("id")) for r in policy.settings.get("rules", ())]


def describe_version(policy: Policy) -> str:
    """One line for people: the version, its window, its rules in force and its patch."""
    ids = rules_in_force(policy)
    text = f"{policy.payer} {policy.version} ({policy.window()}): {len(ids)} rule(s) in force"
    text += (": " + ", ".join(ids)) if ids else ""
    return text + (f"; patch: {'; '.join(policy.patch)}" if policy.patch else "")


#: The name the engine's internals used before the view was public.
PolicyVersion = Policy


class PolicySet:
    """Every loaded policy version, by payer, ready for date lookups. Immutable once built."""

    def __init__(self, versions: list[PolicyVersion]):
        by_payer: dict[str, list[PolicyVersion]] = {}
        for v in versions:
            by_payer.setdefault(v.payer, []).append(v)
        for vs in by_payer.values():
            vs.sort(key=lambda v: v.effective_from)
        self.by_payer = by_payer
        self._starts = {p: [v.effective_from for v in vs] for p, vs in by_payer.items()}
        self._chosen: dict[tuple[str, str], PolicyVersion | None] = {}

    def payers(self) -> list[str]:
        return sorted(self.by_payer)

    def versions(self, payer: str) -> list[PolicyVersion]:
        return self.by_payer.get(payer, [])

    def select(self, payer: str, date: str) -> PolicyVersion | None:
        """The version of ``payer`` whose window covers ``date`` (windows never overlap)."""
        key = (payer, date)
        try:
            return self._chosen[key]
        except KeyError:
            pass
        found = self._select(payer, date)
        if len(self._chosen) < 100_000:
            self._chosen[key] = found  # same answer every time: a race only stores it twice
        return found

    def _select(self, payer: str, date: str) -> PolicyVersion | None:
        starts = self._starts.get(payer)
        if not starts:
            return None
        i = bisect.bisect_right(starts, date) - 1
        if i < 0:
            return None
        v = self.by_payer[payer][i]
        return v if v.covers(date) else None

    def all(self) -> list[PolicyVersion]:
        return [v for p in self.payers() for v in self.by_payer[p]]


def is_policy_file(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith(POLICY_SUFFIXES) and not name.endswith(TEST_SUFFIXES)


#: The source name that means the policies shipped with the package (when no file or
#: folder of that name exists): ``Engine(["bundled", "my_policies/"])``,
#: ``--policies bundled --policies my_policies/``.
BUNDLED = "bundled"


def policy_files(where: str | Path) -> list[Path]:
    p = Path(where)
    if str(where) == BUNDLED and not p.exists():
        p = bundled_dir()
    if p.is_dir():
        return sorted(f for f in p.iterdir() if f.is_file() and is_policy_file(f))
    return [p]


def bundled_dir() -> Path:
    """The folder of policies shipped inside the installed package."""
    return Path(str(resources.files("payer_rules.payer_configs")))


def _place(lines: LineMap, where: tuple, ver: dict, key_path: tuple) -> tuple:
    """Line of a setting: in the version's overrides when it sets it, else at the top level."""
    return lines.find(_resolve(_override_origins(ver.get("overrides", {}), where), tuple(key_path)))


def read_policy_file(path: Path, unit_methods: dict, plugin_names: Iterable[str],
                     sections: dict[str, tuple[dict, str]] | None = None) -> list[PolicyVersion]:
    """Read, validate and compile one policy file into its versions; raise PolicyError."""
    name = str(path)
    try:
        raw, lines = load_yaml(path)
    except SourceError as exc:
        raise PolicyError([exc]) from None
    if not isinstance(raw, dict):
        raise PolicyError([SourceError(name, 1, "a policy file must be a mapping of settings")])
    full_schema = policy_schema(sections)
    problems = schema_problems(raw, lines, name, schema=full_schema)
    if problems:
        raise PolicyError(problems)
    base = {k: v for k, v in raw.items() if k != "versions"}
    out: list[PolicyVersion] = []
    seen_versions: dict[str, int] = {}
    plugin_names = set(plugin_names)
    for i, ver in enumerate(raw["versions"]):
        where = ("versions", i)
        settings = merge(base, ver.get("overrides", {}))
        remap = _override_origins(ver.get("overrides", {}), where)
        patch: Patched | None = None
        if ver.get("patch"):
            patch = apply_patch(settings, ver["patch"], where, lines, name, remap, full_schema)
            problems.extend(patch.problems)
            settings = patch.settings
            remap.update(patch.remap)
        vid = ver["version"]
        if vid in seen_versions:
            line, col = lines.find(where + ("version",))
            problems.append(SourceError(name, line, f"version '{vid}' is defined twice", col))
        seen_versions[vid] = i
        frm, to = ver["effective_from"], ver.get("effective_to")
        if to is not None and to < frm:
            line, col = lines.find(where + ("effective_to",))
            problems.append(SourceError(name, line, f"version '{vid}': effective_to is before effective_from", col))
        method = settings["unit_method"]
        if method not in unit_methods:
            line, col = _place(lines, where, ver, ("unit_method",))
            problems.append(SourceError(
                name, line,
                f"unit_method: '{method}' is not a registered unit method "
                f"(known: {', '.join(sorted(unit_methods))}){suggest(method, unit_methods)}", col))
            continue
        params = plain(settings.get("unit_params", {}))
        schema = unit_methods[method].params_schema
        if schema:
            for err in jsonschema.validators.validator_for(schema)(schema).iter_errors(params):
                key_path = ("unit_params",) + tuple(err.absolute_path)
                line, col = _place(lines, where, ver, key_path)
                if err.validator == "additionalProperties":
                    allowed = list(schema.get("properties", {}))
                    extra = [k for k in err.instance if k not in allowed]
                    msg = "; ".join(f"unknown unit_params key '{k}' for {method}{suggest(k, allowed)}" for k in extra)
                elif err.validator == "enum":
                    msg = (f"{dotted(key_path)}: '{err.instance}' is not one of "
                           f"{', '.join(map(str, err.validator_value))}{suggest(err.instance, map(str, err.validator_value))}")
                else:
                    msg = f"{dotted(key_path)}: {err.message}"
                problems.append(SourceError(name, line, msg, col))
        codes = settings.get("codes", {})
        timed = {code_text(k): int(v) for k, v in codes.get("timed", {}).items()}
        untimed = frozenset(code_text(c) for c in codes.get("untimed", []))
        both = sorted(set(timed) & untimed)
        if both:
            line, col = _place(lines, where, ver, ("codes", "untimed"))
            problems.append(SourceError(name, line, f"codes listed both timed and untimed: {', '.join(both)}", col))
        for pname in settings.get("plugins", []):
            if pname not in plugin_names:
                line, col = _place(lines, where, ver, ("plugins",))
                problems.append(SourceError(
                    name, line, f"plugin '{pname}' is not installed{suggest(pname, plugin_names)}", col))
        out.append(Policy(
            payer=raw["payer"],
            name=settings["name"],
            version=vid,
            effective_from=frm,
            effective_to=to,
            path=name,
            settings=freeze(plain(settings)),
            unit_method=method,
            unit_params=freeze(params),
            timed=freeze(timed),
            untimed=untimed,
            unknown_codes=settings.get("unknown_codes", "warning"),
            plugins=tuple(settings.get("plugins", [])),
            denials=freeze({k: {"group": d.get("group"), "carc": None if d.get("carc") is None else str(d.get("carc")),
                                "rarc": d.get("rarc")} for k, d in settings.get("denials", {}).items()}),
            severity=freeze(dict(settings.get("severity", {}))),
            lines=VersionLines(lines, remap) if remap else lines,
            patch=tuple(patch.changes) if patch else (),
        ))
    ordered = sorted(out, key=lambda v: v.effective_from)
    for a, b in zip(ordered, ordered[1:]):
        if a.effective_to is None or a.effective_to >= b.effective_from:
            i = seen_versions[b.version]
            line, col = lines.find(("versions", i, "effective_from"))
            problems.append(SourceError(
                name, line,
                f"version '{b.version}' ({b.window()}) overlaps version '{a.version}' ({a.window()}); "
                "windows must not overlap", col))
    if problems:
        raise PolicyError(problems)
    return out


def read_policies(sources: list[str | Path], unit_methods: dict, plugin_names: Iterable[str],
                  sections: dict[str, tuple[dict, str]] | None = None) -> list[PolicyVersion]:
    """Read every policy file under ``sources``; all problems of all files in one PolicyError."""
    versions, problems = read_policies_and_problems(sources, unit_methods, plugin_names, sections)
    if problems:
        raise PolicyError(problems)
    return versions


def read_policies_and_problems(sources: list[str | Path], unit_methods: dict, plugin_names: Iterable[str],
                               sections: dict[str, tuple[dict, str]] | None = None
                               ) -> tuple[list[PolicyVersion], list[SourceError]]:
    """The versions of every file that reads without problems, and the problems of all the
    others: the engine goes on to prepare the good files, so one run reports everything."""
    problems: list[SourceError] = []
    versions: list[PolicyVersion] = []
    owner: dict[str, str] = {}
    plugin_names = list(plugin_names)
    for src in sources:
        files = policy_files(src)
        if not files:
            problems.append(SourceError(str(src), None, "no policy files (*.yaml) found"))
        for f in files:
            if not f.exists():
                problems.append(SourceError(str(f), None, "no such file or folder"))
                continue
            try:
                got = read_policy_file(f, unit_methods, plugin_names, sections)
            except PolicyError as exc:
                problems.extend(exc.problems)
                continue
            payer = got[0].payer if got else None
            if payer in owner and owner[payer] != str(f):
                problems.append(SourceError(
                    str(f), 1, f"payer '{payer}' is already defined in {owner[payer]}: two sources may not "
                               "define one payer (nothing is merged); remove one file or give this payer another id"))
                continue
            if payer:
                owner[payer] = str(f)
            versions.extend(got)
    return versions, problems
