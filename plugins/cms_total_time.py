"""The CMS 8-minute rule (Medicare Claims Processing Manual, Pub 100-04, ch. 5, s. 20.2).

Per date of service, the total timed minutes decide how many units may be billed
(8-22 = 1, 23-37 = 2, ...); those units go first as full 15-minute units to each code,
then to the codes with the most remaining minutes. Two services of 7 minutes or less
that together reach 8 minutes earn one unit for the service with the most minutes:
that falls out of the same rule. Untimed codes never reach this method.

A timed code whose unit is not 15 minutes is not covered by s. 20.2's chart; it is
counted on its own by the midpoint rule and the explanation says so.
"""

from __future__ import annotations

from payer_rules import hookimpl
from payer_rules.units import COMMON_PARAMS_SCHEMA, allocate_days, chart_range, units_for_minutes

PAYER_RULES_GLOBAL = True
NAME = "cms_total_time"


def _day_units(services, explain):
    total_minutes = 0
    other = []
    for s in services:
        if s.unit_minutes == 15:
            total_minutes += s.minutes
        else:
            other.append(s)
    units = units_for_minutes(total_minutes, 15)
    why = f"{total_minutes} min earn {units} unit(s) (chart: {chart_range(units)} min = {units})" if explain else ""
    for s in other:
        u = units_for_minutes(s.minutes, s.unit_minutes)
        units += u
        if explain:
            why += f"; {s.code} ({s.unit_minutes}-minute unit) counted on its own by the midpoint rule: {u}"
    return units, why


def compute(lines, params):
    return allocate_days(
        lines, params, method=NAME, source=NAME, day_units=_day_units,
        partial_from=lambda unit: 1 if unit == 15 else unit // 2 + 1,
        needs_whole_day=True,
    )


@hookimpl
def register_unit_methods(register):
    register(NAME, compute, COMMON_PARAMS_SCHEMA)
