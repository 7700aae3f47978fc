"""Commands about claims: check, batch, units, explain, payers, edits."""

from __future__ import annotations

import argparse
import gc
import json
import sys
from datetime import date
from pathlib import Path
from typing import Iterable

from ..fixes import fix_claim
from ..batch import DEFAULT_CLAIM_TIMEOUT
from ..readers import read_claims
from ..writers import WriterError, open_writer, write_result
from ..writers.text import _s, render_explain
from .common import EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, UsageError, engine_from, with_policies


def cmd_check(args: argparse.Namespace) -> int:
    if args.explain:
        return cmd_explain(args)
    engine = engine_from(args)
    try:
        writer = open_writer(engine.plugins, args.format, sys.stdout.buffer)
    except WriterError as exc:
        raise UsageError(str(exc)) from None
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
            write_result(writer, result, extra)
        writer.close()
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
    engine = engine_from(args)
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
    engine = engine_from(args)
    payers = engine.payers()
    unused = engine.unused_plugins()
    if args.format == "json":
        sys.stdout.write(json.dumps(payers, indent=2) + "\n")
        for name in unused:  # the listing stays a list of payers; the warning goes to stderr
            sys.stderr.write(f"payer-rules: plugin {name} is installed, but no loaded policy names it: "
                             "it runs for no claim\n")
        return EXIT_OK
    for p in payers:
        sys.stdout.write(f"{p['payer']}: {p['name']}\n")
        for v in p["versions"]:
            sys.stdout.write(f"  {v['version']:10} {v['effective_from']} to {v['effective_to'] or 'open':10} "
                             f"{v['unit_method']}  ({v['file']})\n")
    for name in unused:
        sys.stdout.write(f"plugin {name}: installed, but no loaded policy names it: it runs for no claim\n")
    return EXIT_OK


def cmd_edits(args: argparse.Namespace) -> int:
    """The edit catalogue: every edit the installed plugins can emit (with --payer, also
    the edits that payer's policy defines)."""
    engine = engine_from(args)
    if args.payer and args.payer not in engine.policies.payers():
        raise UsageError(f"unknown payer '{args.payer}' (known: {', '.join(engine.policies.payers())})")
    specs = engine.edits(args.payer)
    if args.format == "json":
        sys.stdout.write(json.dumps([s.to_dict() for s in specs], indent=2) + "\n")
        return EXIT_OK
    if args.format == "markdown":
        sys.stdout.write(catalogue_markdown(specs))
        return EXIT_OK
    rows = [("id", "category", "severity", "plugin", "section", "description")]
    rows += [(s.id, s.category, s.severity, s.plugin, s.section, s.description) for s in specs]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        sys.stdout.write("  ".join(c.ljust(w) for c, w in zip(r[:5], widths)) + "  " + r[5] + "\n")
    return EXIT_OK


def catalogue_markdown(specs: Iterable) -> str:
    """The catalogue as the Markdown table docs/edits.md carries (kept current by a test)."""
    out = ["| id | category | severity | plugin | section | default denial | description |",
           "|---|---|---|---|---|---|---|"]
    for s in specs:
        denial = "-".join(x for x in (s.denial or (None, None, None))[:2] if x) or "-"
        if s.denial and s.denial[2]:
            denial += f" {s.denial[2]}"
        out.append(f"| `{s.id}` | {s.category} | {s.severity} | {s.plugin} | `{s.section}` | {denial} | "
                   f"{s.description} |")
    return "\n".join(out) + "\n"


def cmd_batch(args: argparse.Namespace) -> int:
    from ..batch import run_batch
    if args.workers < 1:
        raise UsageError("--workers must be 1 or more")
    engine = engine_from(args)
    # The policies, tables and libraries loaded so far live as long as this process: moved
    # out of the collector's sight, its collections stop walking them (about 1% a claim).
    gc.freeze()
    try:
        summary = run_batch(args.input, args.output, engine=engine, payer=args.payer,
                            workers=args.workers, resume=args.resume,
                            progress=False if args.quiet else None, format=args.input_format,
                            claim_timeout=args.claim_timeout, writer=args.format)
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
    engine = engine_from(args)
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


def input_format(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input-format", metavar="READER",
                   help="the claim file's format: a reader plugin (jsonl, x12-837p, ...); default: recognised")


def add_parsers(sub: argparse._SubParsersAction, writers: list[str]) -> None:
    p = sub.add_parser("check", help="check claims; one JSON result per claim, in input order")
    p.add_argument("file", help="claims: one JSON object, a JSON array, JSON lines, an X12 837P file or FHIR R4 Claims; - for standard input")
    p.add_argument("--payer", help="evaluate every claim under this payer (default: each claim's payer)")
    p.add_argument("--format", default="json", metavar="WRITER",
                   help=f"how results are written: a writer plugin ({', '.join(writers)}); default json")
    p.add_argument("--explain", action="store_true",
                   help="explain each claim instead (as payer-rules explain; --format text or json)")
    p.add_argument("--fix", action="store_true",
                   help="add the corrected claim beside each result (fixed_claim, fixes_applied, fixes_left); "
                        "only fixes that need no clinical judgment are applied")
    input_format(p)
    with_policies(p)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("batch", help="stream JSON lines in, one result per claim out, in order; parallel, resumable")
    p.add_argument("input", help="claims (as for check: any reader's format)")
    p.add_argument("-o", "--output", required=True, help="the results (same order as the input)")
    p.add_argument("--format", default="json", metavar="WRITER",
                   help=f"how results are written: a writer plugin ({', '.join(writers)}); default json "
                        "(payer-rules report reads json)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (the output is identical for any number)")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted run: keep the complete lines already in the output")
    p.add_argument("--payer", help="evaluate every claim under this payer")
    p.add_argument("--summary", metavar="FILE", help="also write the summary as JSON")
    p.add_argument("--claim-timeout", type=float, default=DEFAULT_CLAIM_TIMEOUT, metavar="SECONDS",
                   help=f"a claim taking longer becomes an error record (default {DEFAULT_CLAIM_TIMEOUT:g}; 0: no limit)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no summary on standard error")
    input_format(p)
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
    input_format(p)
    with_policies(p)
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("edits", help="the edit catalogue: every edit the installed plugins can emit")
    p.add_argument("--payer", help="also the edits this payer's policy defines (its rules)")
    p.add_argument("--format", choices=["text", "json", "markdown"], default="text")
    with_policies(p)
    p.set_defaults(func=cmd_edits)
