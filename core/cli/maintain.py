"""Commands for policy maintainers: diff, lint, test, new-payer, tables import, schema."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..engine import Engine
from ..policy import bundled_dir, load_schema
from .common import EXIT_OK, EXIT_SOME_FAILED, UsageError, engine_from, with_policies


def cmd_diff(args: argparse.Namespace) -> int:
    from ..policy_diff import DiffError, diff, render
    engine = engine_from(args)
    try:
        d = diff(engine, args.payer, args.old, args.new, args.claims)
    except DiffError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot read {exc.filename}: {exc.strerror or exc.__class__.__name__}") from None
    if args.format == "json":
        sys.stdout.write(json.dumps(d, indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(render(d) + "\n")
    return EXIT_OK


def cmd_lint(args: argparse.Namespace) -> int:
    from ..lint import lint
    problems = lint(args.paths or [str(bundled_dir())])
    if args.format == "json":
        sys.stdout.write(json.dumps([p.to_dict() for p in problems], indent=2) + "\n")
    else:
        for p in problems:
            sys.stdout.write(p.text() + "\n")
        if args.rules and not any(p.severity == "error" for p in problems):
            from ..policy import describe_version
            for v in Engine(args.paths or [bundled_dir()]).policies.all():
                sys.stdout.write(describe_version(v) + "\n")
        errors = sum(p.severity == "error" for p in problems)
        warnings = sum(p.severity == "warning" for p in problems)
        notes = len(problems) - errors - warnings
        sys.stdout.write(f"{errors} error(s), {warnings} warning(s)" + (f", {notes} note(s)" if notes else "") + "\n")
    if any(p.severity == "error" for p in problems) or (args.strict and any(p.severity == "warning" for p in problems)):
        return EXIT_SOME_FAILED
    return EXIT_OK


def cmd_test(args: argparse.Namespace) -> int:
    from ..policy_tests import collect_cases, coverage, run_cases
    from ..policy import PolicyError
    paths = args.paths or [str(bundled_dir())]
    problems = []  # the test files' and the policies' problems together, in one run
    try:
        cases = collect_cases(paths)
    except PolicyError as exc:
        problems.extend(exc.problems)
        cases = []
    try:
        engine = Engine(args.policies or _policy_dirs(paths))
    except PolicyError as exc:
        problems.extend(exc.problems)
    if problems:
        raise PolicyError(problems)
    if not cases:
        raise UsageError(f"no test files (*.test.yaml) under {', '.join(paths)}")
    outcomes = run_cases(engine, cases)
    failed = [o for o in outcomes if not o.passed]
    w = sys.stdout.write
    for o in outcomes:
        w(f"{'PASS' if o.passed else 'FAIL'}  {o.case.path}:{o.case.line}  {o.case.name}\n")
        for p in o.problems:
            w(f"        {p}\n")
    cov = coverage(engine, outcomes, payers={c.payer for c in cases})
    w(f"\n{len(outcomes) - len(failed)} passed, {len(failed)} failed\n")
    w(f"rule coverage: {cov.percent():.0f}%\n")
    for payer, missing in sorted(cov.missing().items()):
        if missing:
            w(f"  {payer}: no case exercises {', '.join(missing)}\n")
    if failed:
        return EXIT_SOME_FAILED
    if args.min_coverage is not None and cov.percent() < args.min_coverage:
        sys.stderr.write(f"payer-rules: rule coverage {cov.percent():.0f}% is below --min-coverage {args.min_coverage}\n")
        return EXIT_SOME_FAILED
    return EXIT_OK


def cmd_new_payer(args: argparse.Namespace) -> int:
    from ..scaffold import ScaffoldError, new_payer
    try:
        made = new_payer(args.name, args.source, args.dir)
    except ScaffoldError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"{exc.filename or args.dir}: {exc.strerror or exc.__class__.__name__}") from None
    w = sys.stdout.write
    for f in made.files():
        w(f"wrote {f}\n")
    w(f"next: fill every FILL-IN in {made.policy} (payer-rules lint {args.dir} lists them), then "
      f"payer-rules test {args.dir}\n")
    return EXIT_OK


def _policy_dirs(paths: list[str]) -> list[Path]:
    """The folders of the given test paths: where their policies live."""
    out: list[Path] = []
    for p in map(Path, paths):
        d = p if p.is_dir() else p.parent
        if d not in out:
            out.append(d)
    return out


def cmd_tables_import(args: argparse.Namespace) -> int:
    from ..tables.importer import import_table
    from ..tables import TableError
    try:
        prov = import_table(args.kind, [Path(s) for s in args.sources], Path(args.out), args.version, args.codes,
                            args.valid_from, args.valid_to)
    except TableError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"{exc.filename or args.out}: {exc.strerror or exc.__class__.__name__}") from None
    sys.stdout.write(f"wrote {args.out}: {prov['rows']:,} rows ({args.version}); provenance in "
                     f"{args.out}.provenance.json\nin the policy:\n  tables:\n    {args.kind}:\n"
                     f"      file: {args.out}\n      version: {args.version}\n"
                     + ("" if args.valid_from or args.valid_to else
                        "no --valid-from/--valid-to: the table is valid for every date; say which dates the release "
                        "is for (docs/tables.md)\n"))
    return EXIT_OK


SCHEMA_DOC = """# JSON Schemas

The schemas that ship in the package, as `payer-rules schema NAME` prints them. This page is
generated: `payer-rules schema --markdown > docs/schemas.md` (a test keeps it current).
"""


def schemas_markdown() -> str:
    parts = [SCHEMA_DOC]
    for name, what in (("claim", "A claim, as `check`, `batch` and the API take it."),
                       ("result", "A result, one per claim, as `check` and `batch` write it."),
                       ("policy", "A payer policy file (YAML)."),
                       ("policy_test", "A policy test file (`<payer>.test.yaml`).")):
        schema = full_schema(name)
        parts.append(f"## {name}\n\n{what} {schema.get('description', '')}\n\n```json\n"
                     f"{json.dumps(schema, indent=2)}\n```\n")
    return "\n".join(parts)


def cmd_schema(args: argparse.Namespace) -> int:
    if args.markdown:
        sys.stdout.write(schemas_markdown())
        return EXIT_OK
    if not args.name:
        raise UsageError("name a schema (claim, result, policy, policy_test) or use --markdown")
    sys.stdout.write(json.dumps(full_schema(args.name), indent=2) + "\n")
    return EXIT_OK


def full_schema(name: str) -> dict:
    """A shipped schema; the policy schema with the sections the installed plugins register."""
    if name == "policy":
        from ..plugin_manager import load_plugins
        from ..policy import policy_schema
        return policy_schema(load_plugins().policy_sections)
    return load_schema(name)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("diff", help="what changed between two policy versions, and its impact on claims")
    p.add_argument("old", help="a version id of --payer, or a policy file (FILE or FILE:VERSION)")
    p.add_argument("new", help="the same, for the new side")
    p.add_argument("--payer", required=True)
    p.add_argument("--claims", metavar="FILE", help="evaluate these claims under both sides and count what changes")
    p.add_argument("--format", choices=["text", "json"], default="text")
    with_policies(p)
    p.set_defaults(func=cmd_diff)

    p = sub.add_parser("lint", help="check policy files without running claims")
    p.add_argument("paths", nargs="*", help="policy files or folders (default: the bundled policies)")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument("--strict", action="store_true", help="exit 1 on warnings too (notes do not count)")
    p.add_argument("--rules", action="store_true",
                   help="also list each version's rules in force and its patch (text format)")
    p.set_defaults(func=cmd_lint)

    p = sub.add_parser("test", help="run the test cases kept beside policies (*.test.yaml), with rule coverage")
    p.add_argument("paths", nargs="*", help="test files or folders (default: the bundled policies)")
    p.add_argument("--min-coverage", type=float, metavar="PERCENT",
                   help="fail when the cases exercise less than this share of the policies' rules and table edits")
    with_policies(p)
    p.set_defaults(func=cmd_test)

    p = sub.add_parser("new-payer", help="write a new payer's policy, its test file and a README from a bundled policy")
    p.add_argument("name", help="the payer id (lowercase letters, digits, _ . -): the file is NAME.yaml")
    p.add_argument("--from", dest="source", default="generic-commercial", metavar="PAYER",
                   help="the bundled policy to start from (default: generic-commercial)")
    p.add_argument("--dir", default=".", help="the folder to write into (created if missing; default: .)")
    p.set_defaults(func=cmd_new_payer)

    p = sub.add_parser("tables", help="reference tables (NCCI PTP, MUE, fee schedule)")
    tsub = p.add_subparsers(dest="tables_command", required=True, metavar="ACTION")
    t = tsub.add_parser("import", help="import a CMS release into a table file a policy can name")
    t.add_argument("kind", choices=["ptp", "mue", "pfs"])
    t.add_argument("sources", nargs="+", help="CMS files (PTP: the TXT f1-f4 or CSV; MUE and PFS: CSV); .gz is read too")
    t.add_argument("--out", required=True, help="output CSV (.csv or .csv.gz), normally beside the policy")
    t.add_argument("--version", required=True, help="the release, e.g. 'NCCI PTP v30.4 (2025-01-01)'")
    t.add_argument("--codes", help="keep only codes matching this regular expression (both columns for PTP)")
    t.add_argument("--valid-from", metavar="YYYY-MM-DD",
                   help="first date of service the release is for (an MUE or PTP quarter's first day)")
    t.add_argument("--valid-to", metavar="YYYY-MM-DD",
                   help="last date of service the release is for (the day before the next release)")
    t.set_defaults(func=cmd_tables_import)

    p = sub.add_parser("schema", help="print a JSON Schema shipped with the package")
    p.add_argument("name", nargs="?", choices=["claim", "result", "policy", "policy_test"])
    p.add_argument("--markdown", action="store_true", help="all schemas as the Markdown page docs/schemas.md")
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser("bundle", help="write a policy bundle for a cluster: policies, tables, PTP index, plugins")
    p.add_argument("output", help="the bundle file to write (.zip); docs/scale.md says how to ship it")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE", help="plugin module to include (repeatable)")
    with_policies(p)
    p.set_defaults(func=lambda args: __import__("payer_rules.bundle").bundle.cmd_bundle(args))
