"""What every command shares: exit statuses, the usage error, the engine from the options."""

from __future__ import annotations

import argparse
from typing import Any

from ..engine import Engine

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A mistake in how the command was called: printed without a traceback, exit 2."""


def with_policies(p: argparse.ArgumentParser) -> None:
    p.add_argument("--policies", action="append", metavar="PATH",
                   help="policy folder or file (repeatable); default: the bundled policies")
    p.add_argument("--rules-evaluator", choices=["builtin", "durable"], default="builtin",
                   help="what runs the policies' rules: builtin (default) or durable (durable-rules, extra 'rete')")
    p.add_argument("--table-root", action="append", default=[], metavar="DIR",
                   help="a folder besides each policy's own from which its tables may be read (repeatable)")


def engine_from(args: argparse.Namespace) -> Engine:
    return Engine(args.policies or None, rules_evaluator=getattr(args, "rules_evaluator", None) or "builtin",
                  table_roots=getattr(args, "table_root", None) or ())


def writer_names(engine_or_plugins: Any = None) -> list[str]:
    from ..plugin_manager import load_plugins
    plugins = getattr(engine_or_plugins, "plugins", engine_or_plugins) or load_plugins()
    return sorted(plugins.writers)
