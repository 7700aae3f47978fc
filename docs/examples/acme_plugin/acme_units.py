"""Example plugin: ACME Health pays timed therapy codes in whole 15-minute units only.

ACME (a made-up payer for this example) counts each timed code on its own and pays a unit
only for each full 15 minutes: 14 minutes earn nothing, 29 minutes earn 1. No built-in
method does that, so this plugin overrides unit calculation for ACME's claims.

Install it like any plugin, with an entry point in the ``payer_rules`` group::

    [project.entry-points.payer_rules]
    acme_units = "acme_units"

and name it in ACME's policy (``plugins: [acme_units]``): it runs for ACME's claims only.
It does not set ``PAYER_RULES_GLOBAL``, so installed but named by no policy it runs for
no claim at all (``payer-rules lint`` and ``payer-rules payers`` say so).
"""

from payer_rules import Allocation, Edit, UnitDecision, hookimpl

NAME = "acme_units"


@hookimpl
def register_edits(register):
    """Every edit the plugin can emit, for the catalogue (``payer-rules edits``)."""
    register("acme.discipline_modifier", category="modifier", severity="error", section="plugins",
             description="ACME wants GP, GO or GN on every timed line",
             denial={"group": "CO", "carc": "4", "rarc": None})


@hookimpl
def compute_units(claim, policy, lines):
    """Decide units for every timed line: whole 15-minute units of that line's minutes."""
    decisions = {}
    for tl in lines:
        if tl.minutes is None:
            decisions[tl.line.line] = UnitDecision(None, "no minutes: ACME needs the time of each service")
            continue
        units = tl.minutes // tl.unit_minutes
        decisions[tl.line.line] = UnitDecision(
            units, f"{tl.line.code}: {tl.minutes} min = {units} whole {tl.unit_minutes}-minute unit(s) (ACME rule)"
        )
    return Allocation(source=NAME, method="acme_whole_units", decisions=decisions,
                      steps=[f"ACME: whole units only, {len(lines)} timed line(s)"])


@hookimpl
def check_claim(claim, policy, allocation):
    """ACME also wants a GP, GO or GN modifier on every timed line."""
    return [
        Edit(rule="acme.discipline_modifier", category="modifier", severity="error", lines=(ln.line,),
             message=f"line {ln.line}: ACME requires GP, GO or GN on timed codes", source=NAME,
             fix={"action": "add_modifier", "line": ln.line, "choices": ["GP", "GO", "GN"]})
        for ln in claim.lines
        if ln.code in policy.timed and not {"GP", "GO", "GN"} & set(ln.modifiers)
    ]
