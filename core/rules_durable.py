"""The durable-rules evaluator, kept importable under its former name: it lives in
:mod:`payer_rules.rules.durable`."""

from .rules.durable import (DEFAULT_MAX_RULESETS, DurableEvaluator, RulesetLimit, max_rulesets,  # noqa: F401
                            require_durable, ruleset_count)
