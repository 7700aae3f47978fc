"""The per-code midpoint rule used by many commercial payers (AMA/CPT "substantial portion").

"A unit of time is attained when the midpoint is passed": each timed code is counted on
its own, whatever else was done that day. A 15-minute code earns its first unit at 8
minutes, a 30-minute code at 16; then one more unit per full unit length. The same code
on several lines of one date is counted once, on its summed minutes.
"""

from __future__ import annotations

from payer_rules import hookimpl
from payer_rules.units import COMMON_PARAMS_SCHEMA, allocate_days, midpoint, units_for_minutes

PAYER_RULES_GLOBAL = True
NAME = "per_code_midpoint"


def _day_units(services, explain):
    total = sum(units_for_minutes(s.minutes, s.unit_minutes) for s in services)
    if not explain:
        return total, ""
    parts = [f"{s.code} {s.minutes} min -> {units_for_minutes(s.minutes, s.unit_minutes)} "
             f"(midpoint {midpoint(s.unit_minutes)} of {s.unit_minutes})" for s in services]
    return total, "each code on its own: " + "; ".join(parts)


def compute(lines, params):
    return allocate_days(
        lines, params, method=NAME, source=NAME, day_units=_day_units,
        partial_from=midpoint, needs_whole_day=False,
    )


@hookimpl
def register_unit_methods(register):
    register(NAME, compute, COMMON_PARAMS_SCHEMA)
