"""The ``payer-rules`` command: argument parsing and dispatch; one module per command family
(claims.py: check, batch, units, explain, payers, edits; maintain.py: diff, lint, test,
new-payer, tables, schema; x12.py: validate-x12).

Exit status: 0 every claim evaluated; 1 some claim could not be evaluated (it still has
an error record in its place); 2 bad usage, a missing file or a bad policy.
"""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..models import Result
from ..plugin_manager import PluginError
from ..policy import PolicyError
from . import claims, maintain, x12
from .common import EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, UsageError, writer_names

__all__ = ["main", "build_parser", "dump", "EXIT_OK", "EXIT_SOME_FAILED", "EXIT_USAGE", "UsageError"]


def dump(result: Result, extra: dict | None = None) -> str:
    """One result as one JSON line (text); the same input always gives the same bytes."""
    return result.to_json(extra).decode("utf-8")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="payer-rules",
        description="Check outpatient therapy claims against each payer's billing policy.",
    )
    parser.add_argument("--version", action="version", version=f"payer-rules {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    try:
        writers = writer_names()
    except PluginError:
        writers = ["json", "text"]
    claims.add_parsers(sub, writers)
    maintain.add_parsers(sub)
    x12.add_parsers(sub)
    from ..service.cli import add_parser as add_serve  # needs no web library to parse
    add_serve(sub)
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
