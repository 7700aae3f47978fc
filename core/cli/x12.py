"""``payer-rules validate-x12 FILE``: implementation-guide validation with pyx12 (the
``x12-validate`` extra), apart from ``check`` so the claim reader's path stays fast.

Exit status: 0 the file passes its implementation guide; 1 pyx12 found problems (each
printed with its segment number); 2 the extra is not installed, or the file is missing or
not X12.
"""

from __future__ import annotations

import argparse
import json
import sys

from .common import EXIT_OK, EXIT_SOME_FAILED, UsageError


def cmd_validate_x12(args: argparse.Namespace) -> int:
    from ..x12.validate import ValidatorMissing, validate_x12
    try:
        valid, findings = validate_x12(args.file)
    except ValidatorMissing as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror or exc.__class__.__name__}") from None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.format == "json":
        sys.stdout.write(json.dumps({"file": args.file, "valid": valid,
                                     "findings": [f.to_dict() for f in findings]}, indent=2) + "\n")
    else:
        for f in findings:
            sys.stdout.write(f"{args.file}: {f.words()}\n")
        sys.stdout.write(f"{args.file}: {'valid' if valid else 'not valid'} against its implementation guide "
                         f"({len(findings)} finding(s), pyx12)\n")
    return EXIT_OK if valid else EXIT_SOME_FAILED


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate-x12", help="validate an X12 file against its implementation guide "
                                            "(pyx12; extra 'x12-validate')")
    p.add_argument("file", help="the X12 file (837P, 837I, or any transaction set pyx12 has a map for)")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(func=cmd_validate_x12)
