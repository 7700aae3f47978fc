"""payer-rules: check outpatient therapy claims against each payer's billing policy.

The stable API::

    from payer_rules import Engine
    engine = Engine()                      # bundled policies; or Engine("my_policies/")
    result = engine.evaluate(claim_dict)   # a Result; result.to_dict() is the CLI's JSON
    for r in engine.evaluate_many(claims): ...

Plugins implement the hooks in :mod:`payer_rules.hookspecs` with ``@hookimpl``.
"""

from .claims import ClaimError, parse_claim
from .engine import Engine
from .hookspecs import hookimpl
from .models import Allocation, Claim, Edit, Line, LineResult, Result, TimedLine, UnitDecision
from .plugin_manager import PluginError
from .policy import PolicyError

__version__ = "0.1.0"

__all__ = [
    "Allocation", "Claim", "ClaimError", "Edit", "Engine", "Line", "LineResult", "PluginError",
    "PolicyError", "Result", "TimedLine", "UnitDecision", "hookimpl", "parse_claim", "__version__",
]
