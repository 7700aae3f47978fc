"""The hooks a plugin may implement. docs/plugins.md has an example of each.

A plugin is a module (or object) with functions marked ``@payer_rules.hookimpl`` and
registered under the entry-point group ``payer_rules``. The built-in unit methods, checks,
readers and writers are plugins of exactly this kind.

Scope: a plugin runs for a claim only when the claim's policy names it in ``plugins:``,
or when the plugin declares itself global with a module attribute
``PAYER_RULES_GLOBAL = True`` (every built-in does). The ``register_*`` hooks are
called once, when an Engine is built, for every installed plugin.

Per-claim hooks receive frozen, read-only views: the :class:`~payer_rules.Policy` version
and the :class:`~payer_rules.Claim`. What a plugin's ``prepare_policy`` returned comes back
to it, and only to it, as ``data``. An implementation may take any subset of a hook's
arguments, as pluggy allows. A plugin that raises or returns the wrong type costs the one
claim it was called for: that claim's result becomes an error naming the plugin and the hook.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import pluggy

hookspec = pluggy.HookspecMarker("payer_rules")
hookimpl = pluggy.HookimplMarker("payer_rules")


@hookspec
def register_unit_methods(register: Callable[..., None]) -> None:
    """Register unit methods a policy can name in ``unit_method``.

    Call ``register(name, compute, params_schema=None)``. ``compute(lines, params)``
    receives the claim's timed lines (:class:`~payer_rules.models.TimedLine`) and the
    policy's ``unit_params`` and returns an :class:`~payer_rules.models.Allocation`.
    ``params_schema`` is a JSON Schema for ``unit_params``; policies are checked
    against it when they load.
    """


@hookspec
def register_policy_sections(register: Callable[..., None]) -> None:
    """Register settings sections a policy may have for your plugin.

    Call ``register(name, schema)``: ``name`` becomes a top-level key of policy files (and of
    a version's ``overrides``), validated against the JSON Schema ``schema`` with the same
    file:line messages as the core settings. Read it in ``prepare_policy`` from
    ``policy.settings[name]``.
    """


@hookspec
def register_edits(register: Callable[..., None]) -> None:
    """Declare every edit your plugin can emit: the edit catalogue.

    Call ``register(id, *, category, severity, section, description, denial=None)`` once
    per edit: ``category`` one of :data:`payer_rules.models.CATEGORIES`, ``severity`` the
    default (error, warning, info), ``section`` the policy section that enables it,
    ``denial`` the default codes ``{"group": "CO", "carc": "236", "rarc": None}`` a policy's
    ``denials`` may override. An edit whose ``rule`` is not in the catalogue, or whose
    category differs from it, is a broken plugin: the claim becomes an error.
    ``payer-rules edits`` lists the catalogue.
    """


@hookspec
def register_readers(register: Callable[..., None]) -> None:
    """Register claim-file formats.

    Call ``register(name, read, *, sniff=None, extensions=(), media_types=(),
    description="")``. ``read(stream, name, options)`` gets a binary stream, the file's
    display name and a :class:`~payer_rules.readers.ReadOptions`, and yields
    ``(record number, claim dict or ReadError)`` for every record, so that a batch writes
    one result per record. ``sniff(head)`` gets the first bytes and says whether they are
    this format; ``--format NAME`` chooses a reader by name.
    """


@hookspec
def register_writers(register: Callable[..., None]) -> None:
    """Register result formats.

    Call ``register(name, factory, *, extension="", media_type="", description="")``.
    ``factory(stream, options)`` gets a binary stream and a mapping of options and returns
    an object with ``write(result)`` and ``close()``; ``--format NAME`` chooses it.
    """


@hookspec
def prepare_policy(policy: Any, base_dir: Any, options: Mapping[str, Any]) -> Any:
    """Prepare what a plugin needs from one policy version, once, when it loads.

    Read the settings section your plugin owns from ``policy.settings`` (read-only), build
    indexes or load tables (paths relative to ``base_dir``, the policy's folder; the
    engine's ``options`` say which other folders a host allows), and return them: the
    engine keeps the value for this version and hands it back as ``data``. Return None
    when the policy does not use your plugin. Raise :class:`payer_rules.PolicyError` (or
    ValueError with a message) for bad settings: the policy then fails to load and a
    policy already loaded stays in force.
    """


@hookspec(firstresult=True)
def compute_units(claim: Any, policy: Any, lines: Any, data: Any) -> Any:
    """Compute units for a claim's timed lines, overriding the policy's unit method.

    Return an :class:`~payer_rules.models.Allocation` (with ``source`` naming your
    plugin) to decide, or None to let the next plugin or the policy's method decide.
    The first non-None result wins; payer-scoped plugins are asked before global ones.
    ``lines`` are :class:`~payer_rules.models.TimedLine` for every timed line.
    """


@hookspec
def check_claim(claim: Any, policy: Any, allocation: Any, data: Any) -> Any:
    """Contribute edits for a claim: return a list of :class:`~payer_rules.models.Edit`.

    Every plugin's edits are collected. ``allocation`` is the unit allocation already
    decided for the claim's timed lines (read-only). Denial codes left empty on an edit
    are filled from the policy's ``denials`` mapping, else the catalogue's defaults.
    """


@hookspec
def adjust_result(result: Any, claim: Any, policy: Any, data: Any) -> None:
    """Adjust the finished :class:`~payer_rules.models.Result` in place before it is returned.

    Runs after every edit is collected and denial codes are filled; the result is then
    checked (types, the catalogue) and its status recomputed from the edits.
    """


@hookspec
def explain_claim(claim: Any, policy: Any, allocation: Any, data: Any) -> Any:
    """Say what *almost* happened, for ``payer-rules explain``: return a list of sentences.

    Edits that fired are already in the result; this hook names the nearest ones that
    did not and why (an NCCI pair a modifier bypassed, units just under an MUE, a rule
    whose conditions failed on one test). Called only when explaining, never per batch
    claim.
    """


@hookspec
def policy_edits(policy: Any, data: Any) -> Any:
    """The edits this policy version's own data can produce (its rules, the indicators in
    its tables): a list of edit ids already in the catalogue, or of dicts with the keys
    ``register_edits`` takes (``id``, ``category``, ``severity``, ``description``) for edits
    the policy itself defines, such as its ``rules:``. These join the catalogue for that
    payer, and policy tests measure their coverage over them."""


@hookspec
def lint_policy(policy: Any, versions: Any, data: Any) -> Any:
    """Problems ``payer-rules lint`` should report about your plugin's part of a policy
    version, found without running claims: a list of dicts ``{"at": ("ncci", "overrides",
    0), "severity": "warning", "message": "..."}``, where ``at`` is the path of the setting
    in the policy file (lint turns it into file:line). ``versions`` are all the payer's
    versions, oldest first."""
