"""Loading plugins and tracing hook calls.

Plugins come from the entry-point group ``payer_rules`` (built-ins included) and from
objects a host passes to :class:`~payer_rules.Engine`. Set ``PAYER_RULES_TRACE=1`` to see
every hook call on standard error: the hook, the plugins it reaches and how long it
took. The trace names hooks and plugins only, never argument values, because those
hold claim (patient) data.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Callable

import pluggy

from . import hookspecs

GROUP = "payer_rules"
TRACE_ENV = "PAYER_RULES_TRACE"


class PluginError(Exception):
    """A plugin could not be loaded or broke the hook contract."""


@dataclass(frozen=True)
class UnitMethod:
    name: str
    compute: Callable[..., Any]
    params_schema: dict | None
    plugin: str


@dataclass
class Plugins:
    """The plugin manager plus what the ``register_*`` hooks registered."""

    pm: pluggy.PluginManager
    unit_methods: dict[str, UnitMethod] = field(default_factory=dict)
    #: settings sections plugins added to the policy schema: name -> (JSON Schema, plugin)
    policy_sections: dict[str, tuple[dict, str]] = field(default_factory=dict)
    traced: bool = False

    def bind(self, name: str, remove: list[Any]) -> "BoundHook":
        """Hook ``name`` restricted to the plugins not in ``remove``, resolved once."""
        caller = self.pm.subset_hook_caller(name, remove)
        return BoundHook(caller, direct=not self.traced)

    def names(self) -> list[str]:
        return sorted(name for name, _ in self.pm.list_name_plugin() if name)

    def plugin(self, name: str) -> Any:
        return self.pm.get_plugin(name)


class BoundHook:
    """One hook resolved for one policy version when the policy loads.

    pluggy resolves a hook's implementations, their order (tryfirst, trylast, newest
    first) and their argument names on every call. Those do not change once an Engine
    is built, so the per-claim path calls the implementations directly, in pluggy's
    order and with pluggy's semantics (None results skipped; the first result wins for
    ``firstresult`` hooks). With ``PAYER_RULES_TRACE`` set, or when a plugin wraps the
    hook, calls go through pluggy's own caller so its monitoring sees every one.
    """

    __slots__ = ("caller", "calls", "direct", "firstresult", "plugins", "argnames", "positional")

    def __init__(self, caller: Any, direct: bool):
        impls = caller.get_hookimpls()
        self.caller = caller
        self.firstresult = bool(caller.spec and caller.spec.opts.get("firstresult"))
        self.direct = direct and not any(i.hookwrapper or i.wrapper for i in impls)
        self.calls = tuple((i.function, tuple(i.argnames)) for i in reversed(impls))  # empty: skip the hook
        self.plugins = tuple(i.plugin_name for i in reversed(impls))
        # for chain(): each implementation's arguments as positions in the spec's argument list
        self.argnames = tuple(caller.spec.argnames) if caller.spec else ()
        self.positional = tuple(
            (fn, None if names == self.argnames else tuple(self.argnames.index(n) for n in names))
            for fn, names in self.calls)

    def chain(self, *args: Any) -> list:
        """A hook whose implementations return lists (``check_claim``), with its arguments
        by position in the hookspec's order: the lists joined in call order. The per-claim
        path: no keyword dict for every implementation, no list of lists."""
        out: list = []
        if not self.direct:
            for res in self.caller(**dict(zip(self.argnames, args))):
                out.extend(res)
            return out
        for fn, idx in self.positional:
            res = fn(*args) if idx is None else fn(*[args[i] for i in idx])
            if res:
                out.extend(res)
        return out

    def __call__(self, **kwargs: Any) -> Any:
        if not self.direct:
            return self.caller(**kwargs)
        if self.firstresult:
            for fn, names in self.calls:
                res = fn(*[kwargs[n] for n in names])
                if res is not None:
                    return res
            return None
        out = []
        for fn, names in self.calls:
            res = fn(*[kwargs[n] for n in names])
            if res is not None:
                out.append(res)
        return out



def _trace_writer(write: Callable[[str], Any]) -> tuple[Callable, Callable]:
    starts: list[float] = []

    def before(hook_name: str, impls: list, kwargs: dict) -> None:
        names = ", ".join(impl.plugin_name for impl in reversed(impls)) or "(no plugin)"
        write(f"payer_rules trace: {hook_name} -> {names}\n")
        starts.append(time.perf_counter())

    def after(outcome: Any, hook_name: str, impls: list, kwargs: dict) -> None:
        took = (time.perf_counter() - starts.pop()) * 1e6 if starts else 0.0
        failed = " (raised)" if outcome.exception is not None else ""
        write(f"payer_rules trace: {hook_name} done in {took:.0f} us{failed}\n")

    return before, after


def load_plugins(extra: list[tuple[str, Any]] | None = None, entry_point_group: str = GROUP) -> Plugins:
    """Build the plugin manager: hookspecs, entry points (sorted by name), then ``extra``."""
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    for ep in sorted(entry_points(group=entry_point_group), key=lambda e: e.name):
        if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
            continue
        try:
            plugin = ep.load()
        except Exception as exc:  # a broken third-party plugin must not look like our crash
            raise PluginError(
                f"plugin '{ep.name}' ({ep.value}) from entry-point group '{entry_point_group}' "
                f"failed to load: {exc.__class__.__name__}: {exc}"
            ) from None
        _register(pm, plugin, ep.name)
    for name, plugin in extra or []:
        _register(pm, plugin, name)
    traced = os.environ.get(TRACE_ENV, "").strip() not in ("", "0")
    if traced:
        before, after = _trace_writer(sys.stderr.write)
        pm.add_hookcall_monitoring(before, after)
    plugins = Plugins(pm, traced=traced)

    def register(name: str, compute: Callable, params_schema: dict | None = None, *, _plugin: str = "") -> None:
        if name in plugins.unit_methods:
            raise PluginError(
                f"unit method '{name}' is registered twice "
                f"(by {plugins.unit_methods[name].plugin} and {_plugin or 'another plugin'})"
            )
        plugins.unit_methods[name] = UnitMethod(name, compute, params_schema, _plugin)

    # Call each plugin's register_unit_methods on its own so we know who registered what.
    for impl in pm.hook.register_unit_methods.get_hookimpls():
        plugin_name = impl.plugin_name
        impl.function(register=lambda n, c, s=None, _p=plugin_name: register(n, c, s, _plugin=_p))
    from .policy import load_schema
    builtin = set(load_schema("policy")["properties"])

    def section(name: str, schema: dict, *, _plugin: str) -> None:
        if name in builtin or name in plugins.policy_sections:
            owner = "payer-rules" if name in builtin else plugins.policy_sections[name][1]
            raise PluginError(f"plugin '{_plugin}' registers policy section '{name}', which {owner} already has")
        if not isinstance(schema, dict):
            raise PluginError(f"plugin '{_plugin}': the schema of policy section '{name}' must be a JSON Schema object")
        plugins.policy_sections[name] = (schema, _plugin)

    for impl in pm.hook.register_policy_sections.get_hookimpls():
        plugin_name = impl.plugin_name
        impl.function(register=lambda n, sc, _p=plugin_name: section(n, sc, _plugin=_p))
    return plugins


def _register(pm: pluggy.PluginManager, plugin: Any, name: str) -> None:
    if pm.get_plugin(name) is not None:
        raise PluginError(f"two plugins are named '{name}'")
    try:
        pm.register(plugin, name=name)
    except (ValueError, pluggy.PluginValidationError) as exc:
        raise PluginError(f"plugin '{name}' cannot be registered: {exc}") from None
