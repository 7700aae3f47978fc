"""payer-rules: check outpatient therapy claims against each payer's billing policy.

The stable API (docs/api.md states the promise): everything named in ``__all__``::

    from payer_rules import Engine
    engine = Engine()                      # bundled policies; or Engine("my_policies/")
    result = engine.evaluate(claim_dict)   # a Result; result.to_dict() is the CLI's JSON
    for r in engine.evaluate_many(claims): ...
    run_batch("claims.jsonl", "results.jsonl", engine=engine, workers=2)

Plugins implement the hooks in :mod:`payer_rules.hookspecs` with ``@hookimpl``. Log records
go to the ``payer_rules`` logger (never with claim data); it has no handler of its own.
"""

from __future__ import annotations

import logging
from importlib.metadata import PackageNotFoundError, version as _version
from typing import Any

from .claims import ClaimError, parse_claim
from .engine import Engine
from .hookspecs import hookimpl
from .models import (
    RESULT_SCHEMA_VERSION, Allocation, Claim, Edit, Line, LineResult, Result, TimedLine, UnitDecision,
)
from .plugin_manager import EditSpec, PluginError, PluginFailure
from .policy import Policy, PolicyError
from .readers import ReadError
from .yaml_source import SourceError

try:
    __version__ = _version("payer-rules")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

logging.getLogger("payer_rules").addHandler(logging.NullHandler())


def run_batch(*args: Any, **kwargs: Any) -> Any:
    """:func:`payer_rules.batch.run_batch` (imported on first use: it brings multiprocessing)."""
    from .batch import run_batch as _run_batch
    return _run_batch(*args, **kwargs)


__all__ = [
    "Allocation", "Claim", "ClaimError", "Edit", "EditSpec", "Engine", "Line", "LineResult", "Policy",
    "PluginError", "PluginFailure", "PolicyError", "RESULT_SCHEMA_VERSION", "ReadError", "Result", "SourceError",
    "TimedLine", "UnitDecision", "hookimpl", "parse_claim", "run_batch", "__version__",
]
