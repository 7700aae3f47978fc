"""``payer-rules new-payer NAME``: a new payer's policy, its test file and a README, from a
bundled policy.

The new policy is the chosen bundled policy's text (its comments are the documentation a
maintainer needs), with the payer id renamed and every setting that belongs to the payer
and not to the template replaced by a placeholder marked ``FILL-IN``: the name, the
description, the published source with its date, the X12 payer ids, the version id and the
first date of service. The placeholders keep the policy loadable, so its test file passes
as written; ``payer-rules lint`` warns at each line that still carries the marker, so
``lint --strict`` fails until the maintainer has filled them all. The tables the template
names are copied beside the new policy (a policy's tables must lie in its own folder), with
their provenance files. Nothing is overwritten: an existing file is refused.
"""

from __future__ import annotations

import datetime as _dt
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from .policy import bundled_dir, policy_files
from .tables.validity import PROVENANCE_SUFFIX
from .yaml_source import load_yaml

#: the marker of a value the maintainer must fill; lint warns at every line carrying it
PLACEHOLDER = "FILL-IN"
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
TOP_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*):")


class ScaffoldError(ValueError):
    """A new payer that cannot be written (bad name, unknown template, a file in the way)."""


@dataclass(frozen=True)
class Scaffold:
    """What :func:`new_payer` wrote."""

    policy: Path
    tests: Path
    readme: Path
    tables: tuple[Path, ...]

    def files(self) -> list[Path]:
        return [self.policy, self.tests, self.readme, *self.tables]


def check_name(name: str) -> None:
    """A payer id claims can use and a file can be named after: lowercase letters, digits,
    ``_ . -``, starting with a letter or digit, at most 64 characters, not a bundled payer."""
    if not NAME_RE.match(name or ""):
        raise ScaffoldError(f"payer name '{name}': use lowercase letters, digits, '_', '.' or '-', starting with "
                            "a letter or digit, at most 64 characters (it is the id claims use and the file name)")
    if name in templates() or name == "bundled":
        raise ScaffoldError(f"payer name '{name}' is a bundled payer's id; a new payer needs its own id "
                            "(two sources may not define one payer)")


def templates() -> dict[str, Path]:
    """Bundled payer id -> its policy file: the templates ``--from`` may name."""
    out = {}
    for f in policy_files(bundled_dir()):
        raw, _ = load_yaml(f)
        if isinstance(raw, dict) and isinstance(raw.get("payer"), str):
            out[raw["payer"]] = f
    return out


def _blocks(text: str) -> list[tuple[str | None, list[str]]]:
    """The file's lines grouped by top-level key (comment lines go with the key they
    precede); ``None`` is the header before the first key."""
    lines = text.splitlines(keepends=True)
    blocks: list[tuple[str | None, list[str]]] = [(None, [])]
    pending: list[str] = []
    for ln in lines:
        m = TOP_KEY.match(ln)
        if m:
            blocks.append((m.group(1), pending + [ln]))
            pending = []
        elif ln.startswith("#") or not ln.strip():
            pending.append(ln)
        else:
            blocks[-1][1].extend(pending + [ln])
            pending = []
    blocks[-1][1].extend(pending)
    return blocks


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def policy_text(template_text: str, template_id: str, name: str, today: _dt.date, first_from: str) -> str:
    """The new payer's policy: the template's text with the payer's own settings replaced
    by placeholders (and the template's header comment by the new payer's)."""
    replace = {
        "payer": f"payer: {name}\n",
        "name": f"name: {_quote(f'{name} ({PLACEHOLDER}: the payer name as its provider manual gives it)')}\n",
        "description": f"description: {_quote(f'{PLACEHOLDER}: what this policy covers (plans, disciplines)')}\n",
        "source": (f"# {PLACEHOLDER}: the payer's published policy this file follows: title, section, date\n"
                   f"source: {_quote(f'{PLACEHOLDER}: provider manual, section, date (scaffolded {today.isoformat()} from {template_id})')}\n"),
        "x12_payer_ids": (f"# {PLACEHOLDER}: the NM1*PR payer ids of this payer's 837 files (its payer id at your "
                          "clearinghouse)\nx12_payer_ids: []\n"),
        "versions": (
            "\nversions:\n"
            f"  - version: \"{today.year}.1\"   # {PLACEHOLDER}: this version's id\n"
            f"    # {PLACEHOLDER}: the first date of service this version applies to (kept from {template_id},\n"
            "    # so the test file runs as written; move the test claims' dates with it)\n"
            f"    effective_from: \"{first_from}\"\n"
            "    effective_to: null\n"
            f"    notes: {_quote(f'{PLACEHOLDER}: what this version follows (manual edition, bulletin)')}\n"),
    }
    out = [f"# Policy for payer '{name}', scaffolded on {today.isoformat()} by `payer-rules new-payer` from the\n"
           f"# bundled '{template_id}' policy. Fill every placeholder (payer-rules lint warns at each one),\n"
           "# then change the codes, rules and denial codes to what the payer's manual says.\n"]
    blocks = [b for b in _blocks(template_text) if b[0] is not None]
    missing = [k for k in ("description", "source", "x12_payer_ids") if k not in {b[0] for b in blocks}]
    for i, (key, lines) in enumerate(blocks):
        if i == 0:  # the template's header comment describes the template payer
            while lines and (lines[0].startswith("#") or not lines[0].strip()):
                lines = lines[1:]
        if key in replace:
            out.append(replace[key])
        else:
            out.extend(lines)
        if key == ("source" if "source" not in missing else "payer"):
            out.extend(replace[k] for k in missing)  # the template has none: the payer needs one all the same
    return "".join(out)


def tests_text(template_tests: str, template_id: str, name: str, today: _dt.date) -> str:
    """The template's test cases, for the new payer: they pass as written, and are the
    place to add the payer's own cases."""
    body = re.sub(rf"^policy:\s*{re.escape(template_id)}\s*$", f"policy: {name}", template_tests, count=1,
                  flags=re.M)
    head = (f"# Test cases for {name}.yaml, scaffolded on {today.isoformat()} from {template_id}.test.yaml:\n"
            "# they pass as written against the scaffolded policy. Change them with the policy, and add a\n"
            "# case for every rule you add (payer-rules test --min-coverage 100; docs/policy-tests.md).\n")
    lines = body.splitlines(keepends=True)
    if lines and lines[0].startswith("# Test cases for"):
        lines = lines[1:]  # the template's own header
    return head + "".join(lines)


def readme_text(name: str, template_id: str, today: _dt.date, tables: list[Path]) -> str:
    table_lines = "".join(f"- `tables/{t.name}`\n" for t in tables if not t.name.endswith(PROVENANCE_SUFFIX))
    return f"""# Payer `{name}`

Scaffolded on {today.isoformat()} by `payer-rules new-payer {name} --from {template_id}`.

| file | what |
| --- | --- |
| `{name}.yaml` | the policy ([docs/policies.md](https://payer-rules.invalid/docs/policies.md)) |
| `{name}.test.yaml` | its test cases ([docs/policy-tests.md](https://payer-rules.invalid/docs/policy-tests.md)) |
| `tables/` | the reference tables the policy names, copied from the bundled policies, with provenance ([docs/tables.md](https://payer-rules.invalid/docs/tables.md)) |

## To do before use

1. Fill every `{PLACEHOLDER}` in `{name}.yaml`: the payer's name, description, the published
   policy it follows (title, section, date), its X12 payer ids, the version id and the first
   date of service. `payer-rules lint .` lists each one; `payer-rules lint --strict .` passes
   only when none is left.
2. Change the codes, `rules:`, `ncci` overrides and `denials` to what the payer's manual says,
   citing it in each rule's `citation`.
3. Check the tables' dates: they are valid only for the dates their provenance files give
   (`payer-rules lint .` reports the version dates they do not cover). Import the releases
   your dates need (`payer-rules tables import ... --valid-from ... --valid-to ...`).
4. Keep the test cases in step: `payer-rules test . --min-coverage 100`.

## Run

```
payer-rules lint .
payer-rules test .
payer-rules check claims.jsonl --policies bundled --policies .
```

Tables copied:
{table_lines}"""


def new_payer(name: str, source: str = "generic-commercial", directory: str | Path = ".",
              today: _dt.date | None = None) -> Scaffold:
    """Write ``NAME.yaml``, ``NAME.test.yaml``, ``README.md`` and the template's tables into
    ``directory`` (created if missing). ScaffoldError when the name is not valid, the
    template is not a bundled payer, or any file to write already exists (nothing is
    written then)."""
    check_name(name)
    found = templates()
    if source not in found:
        raise ScaffoldError(f"--from '{source}': not a bundled policy (bundled: {', '.join(sorted(found))})")
    today = today or _dt.date.today()
    template = found[source]
    out_dir = Path(directory)
    raw, _ = load_yaml(template)
    first_from = sorted(str(v["effective_from"]) for v in raw["versions"])[0]
    text = policy_text(template.read_text(encoding="utf-8"), source, name, today, first_from)
    test_src = template.with_name(f"{source}.test.yaml")
    tests = tests_text(test_src.read_text(encoding="utf-8") if test_src.is_file() else
                       f"policy: {source}\ncases: []\n", source, name, today)
    copies: list[tuple[Path, Path]] = []
    for kind, spec in (raw.get("tables") or {}).items():
        for rel in spec.get("files") or [spec["file"]]:
            src = template.parent / rel
            copies.append((src, out_dir / rel))
            prov = Path(str(src) + PROVENANCE_SUFFIX)
            if prov.is_file():
                copies.append((prov, out_dir / (rel + PROVENANCE_SUFFIX)))
    policy_path, tests_path, readme_path = out_dir / f"{name}.yaml", out_dir / f"{name}.test.yaml", out_dir / "README.md"
    in_the_way = [p for p in (policy_path, tests_path, readme_path) if p.exists()]
    in_the_way += [dst for src, dst in copies if dst.exists() and dst.read_bytes() != src.read_bytes()]
    if in_the_way:
        raise ScaffoldError(f"{', '.join(map(str, in_the_way))}: already exist{'s' if len(in_the_way) == 1 else ''}; "
                            "new-payer never overwrites a file (choose another --dir or name)")
    out_dir.mkdir(parents=True, exist_ok=True)
    for src, dst in copies:
        if not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
    policy_path.write_text(text, encoding="utf-8")
    tests_path.write_text(tests, encoding="utf-8")
    readme_path.write_text(readme_text(name, source, today, [d for _, d in copies]), encoding="utf-8")
    return Scaffold(policy_path, tests_path, readme_path, tuple(d for _, d in copies))


def placeholder_lines(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every line of a file that still carries the :data:`PLACEHOLDER`."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    return [(i, ln) for i, ln in enumerate(text.splitlines(), start=1) if PLACEHOLDER in ln]


__all__ = ["new_payer", "Scaffold", "ScaffoldError", "PLACEHOLDER", "check_name", "templates", "placeholder_lines"]
