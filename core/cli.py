"""The ``payer-rules`` command.

Exit status: 0 every claim evaluated; 1 some claim could not be evaluated (it still has
an error record in its place); 2 bad usage, a missing file or a bad policy.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any, Iterable, TextIO


from . import __version__
from .engine import Engine
from .fixes import fix_claim
from .models import Result
from .plugin_manager import PluginError
from .policy import PolicyError, bundled_dir, load_schema
from .batch import DEFAULT_CLAIM_TIMEOUT
from .readers import read_claims

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    pass


def dump(result: Result, extra: dict | None = None) -> str:
    """One result as one JSON line (text); the same input always gives the same bytes."""
    return dump_bytes(result, extra).decode("utf-8")


def dump_bytes(result: Result, extra: dict | None = None) -> bytes:
    """One result as compact UTF-8 JSON, without the newline."""
    return result.to_json(extra)


def _engine(args: argparse.Namespace) -> Engine:
    return Engine(args.policies or None, rules_evaluator=getattr(args, "rules_evaluator", None) or "builtin")


def render_text(result: Result, out: TextIO) -> None:
    """A readable block per claim: lines with units and reasons, then edits with fixes."""
    pol = result.policy or {}
    head = f"claim {result.claim_id or '?'}  payer {result.payer or '?'}"
    if pol:
        head += f"  policy {pol.get('id')} {pol.get('version')}"
    out.write(f"{head}  {result.status.upper()}\n")
    if result.lines:
        rows = [("line", "code", "min", "billed", "units", "by", "why")]
        for ln in result.lines:
            rows.append((str(ln.line), ln.code, _s(ln.minutes), _s(ln.billed_units), _s(ln.units), ln.source,
                         ln.explanation))
        widths = [max(len(r[i]) for r in rows) for i in range(6)]
        for r in rows:
            out.write("  " + "  ".join(c.ljust(w) for c, w in zip(r[:6], widths)) + "  " + r[6] + "\n")
    for e in result.edits:
        code = "-".join(x for x in (e.group, e.carc) if x) + (f" {e.rarc}" if e.rarc else "")
        out.write(f"  {e.severity.upper():7} {e.rule} [{code or 'no denial code'}] {e.message} ({e.source})\n")
        if e.fix:
            out.write(f"          fix: {json.dumps(e.fix, sort_keys=True)}\n")
    out.write("\n")


def _s(v: Any) -> str:
    return "-" if v is None else str(v)


def cmd_check(args: argparse.Namespace) -> int:
    if args.explain:
        return cmd_explain(args)
    engine = _engine(args)
    out = sys.stdout
    bout = sys.stdout.buffer
    failed = total = 0
    try:
        records = read_claims(args.file, readers=engine, format=args.input_format)
        for n, raw in records:
            total += 1
            result = engine.evaluate(raw, args.payer)
            result.index = n
            if result.status == "error":
                failed += 1
            extra = None
            if args.fix and isinstance(raw, dict) and result.status != "error":
                after, fixed, applied, left = fix_claim(engine, raw, args.payer)
                extra = {"fixed_claim": fixed, "fixes_applied": applied, "fixes_left": left,
                         "fixed_status": after.status}
            if args.format == "text":
                render_text(result, out)
                if extra:
                    out.write(f"  fixed claim ({len(extra['fixes_applied'])} fix(es) applied, "
                              f"{len(extra['fixes_left'])} left for a person):\n"
                              f"  {json.dumps(extra['fixed_claim'], ensure_ascii=False)}\n\n")
            else:
                bout.write(dump_bytes(result, extra) + b"\n")
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror or exc.__class__.__name__}") from None
    if failed:
        sys.stderr.write(f"payer-rules: {failed} of {total} claim(s) could not be evaluated (status error)\n")
        return EXIT_SOME_FAILED
    return EXIT_OK


def parse_pairs(pairs: Iterable[str]) -> list[tuple[str, int]]:
    out = []
    for p in pairs:
        code, sep, minutes = p.partition("=")
        if not sep or not code or not minutes.strip().isdigit():
            raise UsageError(f"'{p}': write each service as CODE=MINUTES, e.g. 97110=23")
        out.append((code.strip().upper(), int(minutes)))
    return out


def cmd_units(args: argparse.Namespace) -> int:
    engine = _engine(args)
    services = parse_pairs(args.services)
    claim = {
        "claim_id": "units-calculator",
        "payer": args.payer,
        "lines": [
            {"code": code, "minutes": m, "date_of_service": args.date, "modifiers": list(args.modifier)}
            for code, m in services
        ],
    }
    result = engine.evaluate(claim, explain=True)
    if result.status == "error":
        sys.stderr.write(f"payer-rules: {result.error}\n")
        return EXIT_USAGE
    if args.format == "json":
        payload = result.to_dict()
        payload["steps"] = result.steps
        sys.stdout.write(json.dumps(payload, separators=(",", ":")) + "\n")
        return EXIT_OK
    pol = result.policy or {}
    w = sys.stdout.write
    w(f"{args.payer} {pol.get('version')} on {args.date}\n")
    for i, step in enumerate(result.steps, start=1):
        w(f"  {i}. {step}\n")
    total = 0
    for ln in result.lines:
        w(f"  {ln.code:6} {ln.minutes if ln.minutes is not None else '-':>4} min -> {_s(ln.units):>2} unit(s)  "
          f"[{ln.source}] {ln.explanation}\n")
        total += ln.units or 0
    w(f"  total: {total} unit(s)\n")
    for t in result.ties:
        w(f"  tie: {t}\n")
    return EXIT_OK


def cmd_payers(args: argparse.Namespace) -> int:
    engine = _engine(args)
    payers = engine.payers()
    if args.format == "json":
        sys.stdout.write(json.dumps(payers, indent=2) + "\n")
        return EXIT_OK
    for p in payers:
        sys.stdout.write(f"{p['payer']}: {p['name']}\n")
        for v in p["versions"]:
            sys.stdout.write(f"  {v['version']:10} {v['effective_from']} to {v['effective_to'] or 'open':10} "
                             f"{v['unit_method']}  ({v['file']})\n")
    return EXIT_OK


def cmd_batch(args: argparse.Namespace) -> int:
    from .batch import run_batch
    if args.workers < 1:
        raise UsageError("--workers must be 1 or more")
    engine = _engine(args)
    # The policies, tables and libraries loaded so far live as long as this process: moved
    # out of the collector's sight, its collections stop walking them (about 1% a claim).
    gc.freeze()
    try:
        summary = run_batch(args.input, args.output, engine=engine, payer=args.payer,
                            workers=args.workers, resume=args.resume,
                            progress=False if args.quiet else None, format=args.input_format,
                            claim_timeout=args.claim_timeout)
    except FileNotFoundError as exc:
        raise UsageError(f"cannot read {exc.filename}: no such file") from None
    except (OSError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    if not args.quiet:
        sys.stderr.write(summary.text() + "\n")
    if args.summary:
        Path(args.summary).write_text(json.dumps(summary.to_dict(), indent=2) + "\n")
    if summary.any_errors():  # the whole output, a resumed part included
        return EXIT_SOME_FAILED
    return EXIT_OK


def cmd_explain(args: argparse.Namespace) -> int:
    engine = _engine(args)
    failed = 0
    try:
        for n, raw in read_claims(args.file, readers=engine, format=args.input_format):
            info = engine.explain(raw, args.payer)
            failed += info["status"] == "error"
            if args.format == "json":
                sys.stdout.write(json.dumps(info, ensure_ascii=False) + "\n")
            else:
                render_explain(info, sys.stdout)
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror or exc.__class__.__name__}") from None
    return EXIT_SOME_FAILED if failed else EXIT_OK


def render_explain(info: dict, out: TextIO) -> None:
    w = out.write
    w(f"claim {info.get('claim_id')}  payer {info.get('payer')}  {info['status'].upper()}\n")
    if info["status"] == "error":
        w(f"  could not be evaluated: {info['why']}\n\n")
        return
    w("policy version\n")
    for v in info["versions"]:
        w(f"  {v['why']}  ({v['file']})\n")
    w("units\n")
    for i, step in enumerate(info["units"]["steps"], start=1):
        w(f"  {i}. {step}\n")
    for ln in info["units"]["lines"]:
        w(f"  line {ln['line']} {ln['code']}: {_s(ln['units'])} unit(s), decided by {ln['decided_by']}: {ln['why']}\n")
    w("edits\n")
    for e in info["edits"] or []:
        w(f"  {e['severity'].upper():7} {e['rule']} by {e['by']} [{e['denial'] or 'no denial code'}"
          f"{' ' + e['rarc'] if e['rarc'] else ''}] {e['message']}\n")
        if e["fix"]:
            w(f"          fix: {json.dumps(e['fix'], sort_keys=True)}\n")
    if not info["edits"]:
        w("  none\n")
    w("did not fire\n")
    for m in info["near_misses"] or ["(nothing close)"]:
        w(f"  {m}\n")
    w("plugins\n")
    for hook, names in info["plugins"].items():
        w(f"  {hook}: {', '.join(names) or '-'}\n")
    w("\n")


def cmd_diff(args: argparse.Namespace) -> int:
    from .policy_diff import DiffError, diff, render
    engine = _engine(args)
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
    from .lint import lint
    problems = lint(args.paths or [str(bundled_dir())])
    if args.format == "json":
        sys.stdout.write(json.dumps([p.to_dict() for p in problems], indent=2) + "\n")
    else:
        for p in problems:
            sys.stdout.write(p.text() + "\n")
        errors = sum(p.severity == "error" for p in problems)
        sys.stdout.write(f"{errors} error(s), {len(problems) - errors} warning(s)\n")
    if any(p.severity == "error" for p in problems) or (args.strict and problems):
        return EXIT_SOME_FAILED
    return EXIT_OK


def cmd_test(args: argparse.Namespace) -> int:
    from .policy_tests import collect_cases, coverage, run_cases
    paths = args.paths or [str(bundled_dir())]
    cases = collect_cases(paths)
    if not cases:
        raise UsageError(f"no test files (*.test.yaml) under {', '.join(paths)}")
    engine = Engine(args.policies or _policy_dirs(paths))
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


def _policy_dirs(paths: list[str]) -> list[Path]:
    """The folders of the given test paths: where their policies live."""
    out: list[Path] = []
    for p in map(Path, paths):
        d = p if p.is_dir() else p.parent
        if d not in out:
            out.append(d)
    return out


def cmd_tables_import(args: argparse.Namespace) -> int:
    from .table_import import import_table
    from .tables import TableError
    try:
        prov = import_table(args.kind, [Path(s) for s in args.sources], Path(args.out), args.version, args.codes)
    except TableError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"{exc.filename or args.out}: {exc.strerror or exc.__class__.__name__}") from None
    sys.stdout.write(f"wrote {args.out}: {prov['rows']:,} rows ({args.version}); provenance in "
                     f"{args.out}.provenance.json\nin the policy:\n  tables:\n    {args.kind}:\n"
                     f"      file: {args.out}\n      version: {args.version}\n")
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
        from .plugin_manager import load_plugins
        from .policy import policy_schema
        return policy_schema(load_plugins().policy_sections)
    return load_schema(name)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="payer-rules",
        description="Check outpatient therapy claims against each payer's billing policy.",
    )
    parser.add_argument("--version", action="version", version=f"payer-rules {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_policies(p: argparse.ArgumentParser) -> None:
        p.add_argument("--policies", action="append", metavar="PATH",
                       help="policy folder or file (repeatable); default: the bundled policies")
        p.add_argument("--rules-evaluator", choices=["builtin", "durable"], default="builtin",
                       help="what runs the policies' rules: builtin (default) or durable (durable-rules, extra 'rete')")
        p.add_argument("--input-format", metavar="READER",
                       help="the claim file's format, a reader's name (jsonl, x12-837p, ...); default: recognised")

    p = sub.add_parser("check", help="check claims; one JSON result per claim, in input order")
    p.add_argument("file", help="claims: one JSON object, a JSON array, JSON lines or an X12 837P file; - for standard input")
    p.add_argument("--payer", help="evaluate every claim under this payer (default: each claim's payer)")
    p.add_argument("--format", choices=["json", "text"], default="json")
    p.add_argument("--explain", action="store_true",
                   help="explain each claim instead (as payer-rules explain; --format text or json)")
    p.add_argument("--fix", action="store_true",
                   help="add the corrected claim beside each result (fixed_claim, fixes_applied, fixes_left); "
                        "only fixes that need no clinical judgment are applied")
    with_policies(p)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("batch", help="stream JSON lines in, one result per claim out, in order; parallel, resumable")
    p.add_argument("input", help="claims as JSON lines")
    p.add_argument("-o", "--output", required=True, help="results as JSON lines (same order as the input)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (the output is identical for any number)")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted run: keep the complete lines already in the output")
    p.add_argument("--payer", help="evaluate every claim under this payer")
    p.add_argument("--summary", metavar="FILE", help="also write the summary as JSON")
    p.add_argument("--claim-timeout", type=float, default=DEFAULT_CLAIM_TIMEOUT, metavar="SECONDS",
                   help=f"a claim taking longer becomes an error record (default {DEFAULT_CLAIM_TIMEOUT:g}; 0: no limit)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no summary on standard error")
    with_policies(p)
    p.set_defaults(func=cmd_batch)

    p = sub.add_parser("units", help="the 8-minute calculator: units for CODE=MINUTES, step by step")
    p.add_argument("services", nargs="+", metavar="CODE=MINUTES")
    p.add_argument("--payer", required=True)
    p.add_argument("--date", default=date.today().isoformat(), help="date of service (default today)")
    p.add_argument("--modifier", action="append", default=[], help="modifier on every line, e.g. GP")
    p.add_argument("--format", choices=["text", "json"], default="text")
    with_policies(p)
    p.set_defaults(func=cmd_units)

    p = sub.add_parser("payers", help="list payers and policy versions")
    p.add_argument("--format", choices=["text", "json"], default="text")
    with_policies(p)
    p.set_defaults(func=cmd_payers)

    p = sub.add_parser("explain", help="everything behind each claim's result: versions, units, edits, near misses")
    p.add_argument("file", help="claims (as for check)")
    p.add_argument("--payer")
    p.add_argument("--format", choices=["text", "json"], default="text")
    with_policies(p)
    p.set_defaults(func=cmd_explain)

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
    p.add_argument("--strict", action="store_true", help="exit 1 on warnings too")
    p.set_defaults(func=cmd_lint)

    p = sub.add_parser("test", help="run the test cases kept beside policies (*.test.yaml), with rule coverage")
    p.add_argument("paths", nargs="*", help="test files or folders (default: the bundled policies)")
    p.add_argument("--min-coverage", type=float, metavar="PERCENT",
                   help="fail when the cases exercise less than this share of the policies' rules and table edits")
    with_policies(p)
    p.set_defaults(func=cmd_test)

    p = sub.add_parser("tables", help="reference tables (NCCI PTP, MUE, fee schedule)")
    tsub = p.add_subparsers(dest="tables_command", required=True, metavar="ACTION")
    t = tsub.add_parser("import", help="import a CMS release into a table file a policy can name")
    t.add_argument("kind", choices=["ptp", "mue", "pfs"])
    t.add_argument("sources", nargs="+", help="CMS files (PTP: the TXT f1-f4 or CSV; MUE and PFS: CSV); .gz is read too")
    t.add_argument("--out", required=True, help="output CSV (.csv or .csv.gz), normally beside the policy")
    t.add_argument("--version", required=True, help="the release, e.g. 'NCCI PTP v30.4 (2025-01-01)'")
    t.add_argument("--codes", help="keep only codes matching this regular expression (both columns for PTP)")
    t.set_defaults(func=cmd_tables_import)

    p = sub.add_parser("schema", help="print a JSON Schema shipped with the package")
    p.add_argument("name", nargs="?", choices=["claim", "result", "policy", "policy_test"])
    p.add_argument("--markdown", action="store_true", help="all schemas as the Markdown page docs/schemas.md")
    p.set_defaults(func=cmd_schema)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except PolicyError as exc:
        for problem in exc.problems:
            sys.stderr.write(f"payer-rules: {problem}\n")
        return EXIT_USAGE
    except (UsageError, PluginError) as exc:
        sys.stderr.write(f"payer-rules: {exc}\n")
        return EXIT_USAGE
    except BrokenPipeError:
        return EXIT_OK
    except KeyboardInterrupt:
        sys.stderr.write("payer-rules: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
