"""Loading plugins, what they register, and calling their hooks one plugin at a time.

Plugins come from the entry-point group ``payer_rules`` (built-ins included) and from
objects a host passes to :class:`~payer_rules.Engine`. The ``register_*`` hooks run once
here; their results (unit methods, policy sections, the edit catalogue, readers, writers)
live on :class:`Plugins`.

Per-claim hooks are called by :class:`BoundHook`, one implementation at a time, rather
than through pluggy's caller: that is what lets a failure name the plugin and the hook,
hand each plugin its own prepared ``data``, and check what each plugin returns. Set
``PAYER_RULES_TRACE=1`` to see every hook call on standard error (hook, plugin, time);
the trace names hooks and plugins only, never argument values, which hold patient data.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Callable, Iterable, Iterator, Mapping

import pluggy

from . import hookspecs
from .models import CATEGORIES, SEVERITY_RANK

GROUP = "payer_rules"
TRACE_ENV = "PAYER_RULES_TRACE"
#: the module attribute by which a plugin declares that it runs for every payer
GLOBAL_ATTR = "PAYER_RULES_GLOBAL"
log = logging.getLogger("payer_rules")


class PluginError(Exception):
    """A plugin could not be loaded, or broke the hook contract while loading."""


class PluginFailure(Exception):
    """A plugin raised, or returned the wrong thing, while a claim was evaluated.

    The message names the plugin, the hook and the kind of error, never the claim's data
    (an exception's own text may quote it, so it is not repeated)."""

    def __init__(self, plugin: str, hook: str, what: str):
        self.plugin, self.hook, self.what = plugin, hook, what
        super().__init__(f"plugin '{plugin}' failed in {hook}: {what}")


class ClaimTimeout(BaseException):
    """Raised inside a claim's evaluation when its time budget runs out (see engine).

    A BaseException, so that a plugin's ``except Exception`` cannot swallow it."""


@dataclass(frozen=True)
class UnitMethod:
    name: str
    compute: Callable[..., Any]
    params_schema: dict | None
    plugin: str


@dataclass(frozen=True)
class EditSpec:
    """One entry of the edit catalogue: an edit a plugin (or a policy's rules) can emit."""

    id: str
    category: str
    severity: str
    plugin: str
    section: str
    description: str
    denial: tuple[str | None, str | None, str | None] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "category": self.category, "severity": self.severity, "plugin": self.plugin,
                "section": self.section, "description": self.description,
                "denial": None if self.denial is None else dict(zip(("group", "carc", "rarc"), self.denial))}


@dataclass(frozen=True)
class ReaderSpec:
    name: str
    read: Callable[..., Any]
    sniff: Callable[[bytes], bool] | None
    extensions: tuple[str, ...]
    media_types: tuple[str, ...]
    description: str
    plugin: str


@dataclass(frozen=True)
class WriterSpec:
    name: str
    factory: Callable[..., Any]
    extension: str
    media_type: str
    description: str
    plugin: str


@dataclass
class Plugins:
    """The plugin manager plus what the ``register_*`` hooks registered."""

    pm: pluggy.PluginManager
    unit_methods: dict[str, UnitMethod] = field(default_factory=dict)
    #: settings sections plugins added to the policy schema: name -> (JSON Schema, plugin)
    policy_sections: dict[str, tuple[dict, str]] = field(default_factory=dict)
    edits: dict[str, EditSpec] = field(default_factory=dict)
    readers: dict[str, ReaderSpec] = field(default_factory=dict)
    writers: dict[str, WriterSpec] = field(default_factory=dict)
    #: plugins that run for every payer (module attribute PAYER_RULES_GLOBAL)
    global_names: frozenset[str] = frozenset()
    traced: bool = False

    def names(self) -> list[str]:
        return sorted(name for name, _ in self.pm.list_name_plugin() if name)

    def plugin(self, name: str) -> Any:
        return self.pm.get_plugin(name)

    def impls(self, hook: str, names: Iterable[str]) -> list[Any]:
        """The implementations of ``hook`` by the plugins ``names``, in pluggy's call order."""
        wanted = set(names)
        return [i for i in reversed(getattr(self.pm.hook, hook).get_hookimpls()) if i.plugin_name in wanted]

    def bind(self, hook: str, names: Iterable[str], data: Mapping[str, Any]) -> "BoundHook":
        """Hook ``hook`` restricted to the plugins ``names``, each with its own ``data``."""
        return BoundHook(hook, self.impls(hook, names), data, self.traced)


class BoundHook:
    """One per-claim hook resolved for one policy version when the policy loads.

    Implementations are called in pluggy's order (tryfirst, trylast, newest first) with
    pluggy's semantics (None results skipped; the first result wins for ``compute_units``),
    each with only the arguments it names. Whatever one raises (KeyboardInterrupt aside)
    becomes a :class:`PluginFailure` naming it.
    """

    __slots__ = ("hook", "calls", "plugins", "traced")

    def __init__(self, hook: str, impls: list[Any], data: Mapping[str, Any], traced: bool):
        spec_args = [a for a in getattr(hookspecs, hook).__code__.co_varnames
                     [:getattr(hookspecs, hook).__code__.co_argcount] if a != "data"]
        calls = []
        for impl in impls:
            if impl.hookwrapper or impl.wrapper:
                raise PluginError(f"plugin '{impl.plugin_name}': hook wrappers are not supported for {hook}")
            idx = tuple(len(spec_args) if n == "data" else spec_args.index(n) for n in impl.argnames)
            # (how chain() calls it: 0 all the hook's arguments in order, 1 those and data, 2 by idx)
            mode = 0 if idx == tuple(range(len(spec_args))) else 1 if idx == tuple(range(len(spec_args) + 1)) else 2
            calls.append((impl.plugin_name, impl.function, idx, data.get(impl.plugin_name), mode))
        self.hook = hook
        self.calls = tuple(calls)  # empty: no plugin implements the hook for this version
        self.plugins = tuple(c[0] for c in calls)
        self.traced = traced

    def _one(self, plugin: str, fn: Callable, args: tuple) -> Any:
        if self.traced:
            start = time.perf_counter()
            sys.stderr.write(f"payer_rules trace: {self.hook} -> {plugin}\n")
        try:
            res = fn(*args)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # SystemExit included: a plugin must not end the run
            raise self._failure(plugin, exc) from None
        if self.traced:
            sys.stderr.write(f"payer_rules trace: {self.hook} <- {plugin} in "
                             f"{(time.perf_counter() - start) * 1e6:.0f} us\n")
        return res

    def chain(self, *args: Any) -> list[tuple[str, list]]:
        """For hooks that return lists (``check_claim``, ``explain_claim``): each
        implementation's non-empty list with its plugin's name, in call order; the hook's
        arguments by position (data excluded). The per-claim path: the call is made here,
        not through ``_one``, unless tracing."""
        out: list = []
        for plugin, fn, idx, data, mode in self.calls:
            if self.traced:
                full = args + (data,)
                res = self._one(plugin, fn, tuple(full[i] for i in idx))
            else:
                try:
                    if mode == 1:
                        res = fn(*args, data)
                    elif mode == 0:
                        res = fn(*args)
                    else:
                        full = args + (data,)
                        res = fn(*[full[i] for i in idx])
                except KeyboardInterrupt:
                    raise
                except BaseException as exc:
                    raise self._failure(plugin, exc) from None
            if res:
                if type(res) is not list:
                    raise PluginFailure(plugin, self.hook, f"returned {type(res).__name__}, not a list")
                out.append((plugin, res))
        return out

    def _failure(self, plugin: str, exc: BaseException) -> PluginFailure:
        if isinstance(exc, PluginFailure):
            return exc
        if isinstance(exc, ClaimTimeout):
            return PluginFailure(plugin, self.hook, "the claim's time budget ran out while it ran")
        return PluginFailure(plugin, self.hook, f"raised {exc.__class__.__name__}")

    def results(self, *args: Any) -> Iterator[tuple[str, Any]]:
        """(plugin, result) of each implementation in turn, called as it is asked for
        (so a caller can check each result, or stop at the first that decides)."""
        for plugin, fn, idx, data, _ in self.calls:
            full = args + (data,)
            yield plugin, self._one(plugin, fn, tuple(full[i] for i in idx))

    def first(self, *args: Any) -> tuple[str, Any] | None:
        """For ``compute_units``: (plugin, result) of the first implementation that returns
        something other than None."""
        for plugin, res in self.results(*args):
            if res is not None:
                return plugin, res
        return None


def _trace_writer(write: Callable[[str], Any]) -> tuple[Callable, Callable]:
    """pluggy monitoring for the hooks called through pluggy (the register_* hooks)."""

    def before(hook_name: str, impls: list, kwargs: dict) -> None:
        names = ", ".join(impl.plugin_name for impl in reversed(impls)) or "(no plugin)"
        write(f"payer_rules trace: {hook_name} -> {names}\n")

    def after(outcome: Any, hook_name: str, impls: list, kwargs: dict) -> None:
        failed = " (raised)" if outcome.exception is not None else ""
        write(f"payer_rules trace: {hook_name} done{failed}\n")

    return before, after


def call_register(pm: pluggy.PluginManager, hook: str, make: Callable[[str], Callable]) -> None:
    """Call each plugin's ``hook`` on its own, with a ``register`` that knows the plugin."""
    for impl in reversed(getattr(pm.hook, hook).get_hookimpls()):
        try:
            impl.function(register=make(impl.plugin_name))
        except PluginError:
            raise
        except Exception as exc:
            raise PluginError(f"plugin '{impl.plugin_name}' failed in {hook}: "
                              f"{exc.__class__.__name__}: {exc}") from None


def load_plugins(extra: list[tuple[str, Any]] | None = None, entry_point_group: str = GROUP) -> Plugins:
    """Build the plugin manager: hookspecs, entry points (sorted by name), then ``extra``,
    and collect what the ``register_*`` hooks register."""
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
    plugins = Plugins(pm, traced=traced, global_names=frozenset(
        name for name, p in pm.list_name_plugin() if name and getattr(p, GLOBAL_ATTR, False) is True))

    def unit_method(plugin: str) -> Callable:
        def register(name: str, compute: Callable, params_schema: dict | None = None) -> None:
            if name in plugins.unit_methods:
                raise PluginError(f"unit method '{name}' is registered twice "
                                  f"(by {plugins.unit_methods[name].plugin} and {plugin})")
            plugins.unit_methods[name] = UnitMethod(name, compute, params_schema, plugin)
        return register

    from .policy import load_schema
    core_sections = set(load_schema("policy")["properties"])

    def section(plugin: str) -> Callable:
        def register(name: str, schema: dict) -> None:
            if name in core_sections or name in plugins.policy_sections:
                owner = "payer-rules" if name in core_sections else plugins.policy_sections[name][1]
                raise PluginError(f"plugin '{plugin}' registers policy section '{name}', which {owner} already has")
            if not isinstance(schema, dict):
                raise PluginError(f"plugin '{plugin}': the schema of policy section '{name}' must be a JSON Schema object")
            plugins.policy_sections[name] = (schema, plugin)
        return register

    def edit(plugin: str) -> Callable:
        def register(id: str, *, category: str, severity: str, section: str, description: str,
                     denial: Mapping[str, Any] | None = None) -> None:
            plugins.edits[id] = edit_spec(plugin, id, category, severity, section, description, denial,
                                          plugins.edits)
        return register

    def reader(plugin: str) -> Callable:
        def register(name: str, read: Callable, *, sniff: Callable | None = None, extensions: Iterable[str] = (),
                     media_types: Iterable[str] = (), description: str = "") -> None:
            if name in plugins.readers:
                raise PluginError(f"reader '{name}' is registered twice "
                                  f"(by {plugins.readers[name].plugin} and {plugin})")
            plugins.readers[name] = ReaderSpec(name, read, sniff, tuple(extensions), tuple(media_types),
                                               description, plugin)
        return register

    def writer(plugin: str) -> Callable:
        def register(name: str, factory: Callable, *, extension: str = "", media_type: str = "",
                     description: str = "") -> None:
            if name in plugins.writers:
                raise PluginError(f"writer '{name}' is registered twice "
                                  f"(by {plugins.writers[name].plugin} and {plugin})")
            plugins.writers[name] = WriterSpec(name, factory, extension, media_type, description, plugin)
        return register

    call_register(pm, "register_unit_methods", unit_method)
    call_register(pm, "register_policy_sections", section)
    call_register(pm, "register_edits", edit)
    call_register(pm, "register_readers", reader)
    call_register(pm, "register_writers", writer)
    return plugins


def edit_spec(plugin: str, id: Any, category: Any, severity: Any, section: Any, description: Any,
              denial: Mapping[str, Any] | None, known: Mapping[str, EditSpec]) -> EditSpec:
    """A checked catalogue entry; PluginError when it is malformed or clashes."""
    if not isinstance(id, str) or not id:
        raise PluginError(f"plugin '{plugin}' registers an edit without a text id")
    if category not in CATEGORIES:
        raise PluginError(f"plugin '{plugin}': edit '{id}' has category {category!r}, "
                          f"not one of {', '.join(CATEGORIES)}")
    if severity not in SEVERITY_RANK:
        raise PluginError(f"plugin '{plugin}': edit '{id}' has severity {severity!r}, not error, warning or info")
    if id in known and known[id].plugin != plugin:
        raise PluginError(f"edit '{id}' is registered twice (by {known[id].plugin} and {plugin})")
    codes = None
    if denial is not None:
        codes = (denial.get("group"), None if denial.get("carc") is None else str(denial.get("carc")),
                 denial.get("rarc"))
    return EditSpec(id, category, severity, plugin, str(section), str(description), codes)


def _register(pm: pluggy.PluginManager, plugin: Any, name: str) -> None:
    if pm.get_plugin(name) is not None:
        raise PluginError(f"two plugins are named '{name}'")
    try:
        pm.register(plugin, name=name)
    except (ValueError, pluggy.PluginValidationError) as exc:
        raise PluginError(f"plugin '{name}' cannot be registered: {exc}") from None
