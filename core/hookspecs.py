"""The hooks a plugin may implement. docs/plugins.md has an example of each.

A plugin is a module (or object) with functions marked ``@payer_rules.hookimpl`` and
registered under the entry-point group ``payer_rules``. The built-in unit methods and
checks are plugins of exactly this kind.

A plugin named in a policy's ``plugins:`` list is *payer-scoped*: its hooks run only for
claims of the payers that list it. Every other plugin is global and decides from the
policy it is given whether it has anything to say.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("payer_rules")
hookimpl = pluggy.HookimplMarker("payer_rules")


@hookspec
def register_unit_methods(register):
    """Register unit methods a policy can name in ``unit_method``.

    Call ``register(name, compute, params_schema=None)``. ``compute(lines, params)``
    receives the claim's timed lines (:class:`~payer_rules.models.TimedLine`) and the
    policy's ``unit_params`` and returns an :class:`~payer_rules.models.Allocation`.
    ``params_schema`` is a JSON Schema for ``unit_params``; policies are checked
    against it when they load.
    """


@hookspec
def register_policy_sections(register):
    """Register settings sections a policy may have for your plugin.

    Call ``register(name, schema)``: ``name`` becomes a top-level key of policy files (and of
    a version's ``overrides``), validated against the JSON Schema ``schema`` with the same
    file:line messages as the built-in settings. Read it in ``prepare_policy`` from
    ``policy.settings[name]``.
    """


@hookspec(firstresult=True)
def compute_units(claim, policy, lines):
    """Compute units for a claim's timed lines, overriding the policy's unit method.

    Return an :class:`~payer_rules.models.Allocation` (with ``source`` naming your
    plugin) to decide, or None to let the next plugin or the policy's method decide.
    The first non-None result wins; payer-scoped plugins are asked before global ones.
    ``lines`` are :class:`~payer_rules.models.TimedLine` for every timed line.
    """


@hookspec
def check_claim(claim, policy, allocation):
    """Contribute edits for a claim: return a list of :class:`~payer_rules.models.Edit`.

    Every plugin's edits are collected. ``allocation`` is the unit allocation already
    decided for the claim's timed lines. Denial codes left empty on an edit are filled
    from the policy's ``denials`` mapping.
    """


@hookspec
def adjust_result(result, claim, policy):
    """Adjust the finished :class:`~payer_rules.models.Result` in place before it is returned.

    Runs after every edit is collected and denial codes are filled; status is
    recomputed afterwards from the edits.
    """


@hookspec
def prepare_policy(policy, base_dir):
    """Prepare what a plugin needs from one policy version, once, when it loads.

    Read the settings section your plugin owns from ``policy.settings``, build indexes
    or load tables (paths relative to ``base_dir``, the policy's folder), and keep them
    in ``policy.data[<your plugin name>]`` so ``check_claim`` only looks things up.
    Raise :class:`payer_rules.PolicyError` (or ValueError with a message) for bad
    settings: the policy then fails to load and a policy already loaded stays in force.
    """


@hookspec
def explain_claim(claim, policy, allocation):
    """Say what *almost* happened, for ``payer-rules explain``: return a list of sentences.

    Edits that fired are already in the result; this hook names the nearest ones that
    did not and why (an NCCI pair a modifier bypassed, units just under an MUE, a rule
    whose conditions failed on one test). Called only when explaining, never per batch
    claim.
    """
