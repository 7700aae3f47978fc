"""The engine: policies plus plugins, applied to one claim at a time.

An Engine is built once (policies read, validated and compiled; plugins loaded) and
then shared: ``evaluate`` reads only immutable state, and ``reload`` swaps the whole
policy set in one assignment, so threads may evaluate while another reloads. A claim
in flight finishes on the policy set it started with.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterable, Iterator, Mapping

from . import payer_map
from .claims import ClaimError, parse_claim
from .models import (
    SEVERITY_RANK, Allocation, Claim, Edit, FrozenDict, LineResult, Result, TimedLine, UnitDecision,
    status_for,
)
from .plugin_manager import (
    BoundHook, ClaimTimeout, EditSpec, PluginError, PluginFailure, Plugins, edit_spec, load_plugins,
)
from .units import EXPLAIN
from .policy import (Policy, PolicyError, PolicySet, bundled_dir, read_policies_and_problems, rules_in_force,
                     suggest)
from .readers import ReadError
from .yaml_source import SourceError

CORE = "payer_rules.core"
DEBUG_ENV = "PAYER_RULES_DEBUG"
log = logging.getLogger("payer_rules")
UNTIMED = UnitDecision(1, "untimed code: 1 unit per line whatever the time; its minutes never count toward timed units")
UNKNOWN = UnitDecision(None, "code is neither timed nor untimed in this policy: units not computed")
#: lines a claim may have when its policy sets no max_lines (the claim parser's own ceiling
#: is higher: payer_rules.claims.MAX_LINES)
MAX_CLAIM_LINES = 999
#: the most units one line may carry in a plugin's answer (a bound, not a payer rule)
MAX_UNITS = 9_999
#: edits the engine itself makes, in the catalogue like any plugin's
CORE_EDITS = (
    ("input.invalid", "input", "a claim that is not a valid claim (the message names the fields)"),
    ("input.unreadable", "input", "a record a reader could not read (the message names the file and line)"),
    ("input.unknown_payer", "input", "the claim's payer has no loaded policy"),
    ("input.unmapped_payer", "input", "an 837's payer id is mapped to no policy (x12_payer_ids or the payer map)"),
    ("input.too_many_lines", "input", "more service lines than the payer's policy allows (its max_lines)"),
    ("input.no_policy_version", "input", "no version of the payer's policy covers a line's date of service"),
    ("internal.error", "internal", "the engine failed on the claim (a bug: set PAYER_RULES_DEBUG=1 for the traceback)"),
    ("plugin.failed", "internal", "a plugin raised, returned the wrong type or ran out of time on this claim"),
    ("claim.time_budget", "internal", "the claim's evaluation took longer than the time budget"),
)


@dataclass(frozen=True)
class Runtime:
    """What the engine keeps for one policy version: the hooks bound to the plugins in
    scope, each plugin's prepared data, the catalogue in force and the outcome memo."""

    policy: Policy
    data: Mapping[str, Any]
    compute_units_payer: BoundHook
    compute_units_global: BoundHook
    check_claim: BoundHook
    adjust_result: BoundHook
    explain_claim: BoundHook
    #: rule id -> catalogue entry: the plugins' edits plus the policy's own rules
    catalogue: Mapping[str, EditSpec]
    #: the edits the version's own data can produce (policy_edits), for policy-test coverage
    possible: tuple[str, ...] = ()
    #: the most lines a claim may have under this version (its max_lines, else MAX_CLAIM_LINES)
    max_lines: int = 999
    #: (rule, category) -> (severity override or None, denial codes or None)
    outcomes: dict = field(default_factory=dict, repr=False, compare=False)

    def outcome(self, rule: str, category: str) -> tuple[str | None, tuple[Any, Any, Any] | None]:
        """Severity override and denial codes for an edit: the policy's, else the
        catalogue's default codes; memoised per rule."""
        key = (rule, category)
        hit = self.outcomes.get(key)
        if hit is None:
            v = self.policy
            d = v.denial(rule, category)
            spec = self.catalogue.get(rule)
            codes = (d["group"], d["carc"], d["rarc"]) if d is not None else (spec.denial if spec else None)
            hit = (v.severity.get(rule) or v.severity.get(category), codes)
            self.outcomes[key] = hit  # depends only on the policy: a race stores the same value
        return hit


@dataclass(frozen=True)
class _State:
    """Everything one claim is evaluated with, swapped in one assignment on reload."""

    policies: PolicySet
    runtimes: Mapping[Policy, Runtime]
    unused_plugins: tuple[str, ...]


def _paths(policies: str | Path | Iterable[str | Path]) -> list[Path]:
    return [Path(policies)] if isinstance(policies, (str, Path)) else [Path(p) for p in policies]


def error_result(raw: Any, payer: str | None, message: str, rule: str = "input.invalid",
                 category: str = "input") -> Result:
    """The record that stands in place of a claim that could not be evaluated."""
    claim_id = None
    if isinstance(raw, Claim):
        claim_id = raw.claim_id
    elif isinstance(raw, Mapping):
        cid = raw.get("claim_id")
        claim_id = str(cid) if isinstance(cid, (str, int)) and not isinstance(cid, bool) else None
        if payer is None and isinstance(raw.get("payer"), str):
            payer = raw["payer"]
    if claim_id is not None and len(claim_id) > 200:
        claim_id = claim_id[:200]
    edit = Edit(rule=rule, category=category, severity="error", lines=(), message=message, source=CORE)
    result = Result(claim_id=claim_id, payer=payer, policy=None, status="error", edits=[edit], error=message)
    if isinstance(raw, Claim) and raw.extra:  # a parsed claim: its total charge, for the worklists
        result.charge = raw.extra.get("charge")
    return result


class Engine:
    """Checks claims against payer policies.

    ``policies``: a folder or file of YAML policies, or a list of them; default the
    policies bundled with the package. ``plugins``: extra ``(name, plugin)`` pairs
    registered after the entry-point plugins; like any installed plugin, one runs only for
    the payers whose policies name it in ``plugins:``, unless it declares itself global
    (``PAYER_RULES_GLOBAL = True``). ``rules_evaluator``: what runs the policies'
    ``rules:``, ``builtin`` (default) or ``durable`` (durable-rules; needs the ``rete``
    extra). ``table_roots``: folders besides each policy's own from which its tables may
    be read.
    """

    def __init__(
        self,
        policies: str | Path | Iterable[str | Path] | None = None,
        *,
        plugins: Iterable[tuple[str, Any]] | None = None,
        rules_evaluator: str = "builtin",
        table_roots: Iterable[str | Path] = (),
    ):
        if rules_evaluator not in ("builtin", "durable"):
            raise ValueError(f"rules_evaluator must be builtin or durable, not {rules_evaluator!r}")
        if rules_evaluator == "durable":
            from .rules_durable import require_durable
            require_durable()
        self.rules_evaluator = rules_evaluator
        self.table_roots = tuple(Path(p) for p in table_roots)
        self.options: Mapping[str, Any] = MappingProxyType(
            {"rules_evaluator": rules_evaluator, "table_roots": self.table_roots})
        self._plugin_args = list(plugins or [])
        self.plugins: Plugins = load_plugins(self._plugin_args)
        self._catalogue = self._core_catalogue()
        sources = [bundled_dir()] if policies is None else _paths(policies)
        self._sources = sources
        self._reload_lock = threading.Lock()
        self._state = self._build(sources)

    # -- policies -------------------------------------------------------------------
    def _core_catalogue(self) -> dict[str, EditSpec]:
        out = {rule: EditSpec(rule, cat, "error", CORE, "(engine)", what) for rule, cat, what in CORE_EDITS}
        for rule, spec in self.plugins.edits.items():
            if rule in out:
                raise PluginError(f"plugin '{spec.plugin}' registers edit '{rule}', which payer-rules already has")
            out[rule] = spec
        return out

    def _build(self, sources: list[Path]) -> _State:
        plugins = self.plugins
        # every file that reads is prepared even when another does not: one run reports all
        # problems of all files (docs/policies.md, Validation errors)
        versions, problems = read_policies_and_problems(sources, plugins.unit_methods, plugins.names(),
                                                        plugins.policy_sections)
        named = {name for v in versions for name in v.plugins}
        runtimes: dict[Policy, Runtime] = {}
        for v in versions:
            own = list(v.plugins)
            in_scope = sorted(plugins.global_names | set(own))
            data: dict[str, Any] = {}
            failed = False
            for impl in plugins.impls("prepare_policy", in_scope):  # each plugin, even after one fails
                kwargs = {"policy": v, "base_dir": Path(v.path).parent, "options": self.options}
                try:
                    got = impl.function(**{k: kwargs[k] for k in impl.argnames})
                except PolicyError as exc:
                    problems.extend(exc.problems)
                    failed = True
                    continue
                except SourceError as exc:  # a table file named by the policy
                    problems.append(exc)
                    failed = True
                    continue
                except (ValueError, OSError) as exc:
                    problems.append(SourceError(v.path, None, f"version '{v.version}': {exc}"))
                    failed = True
                    continue
                except Exception as exc:
                    problems.append(SourceError(v.path, None, f"version '{v.version}': plugin '{impl.plugin_name}' "
                                                              f"failed in prepare_policy: {exc.__class__.__name__}: {exc}"))
                    failed = True
                    continue
                if got is not None:
                    data[impl.plugin_name] = got
            if failed:
                continue
            globals_ = sorted(plugins.global_names - set(own))
            try:
                catalogue, possible = self._version_catalogue(v, in_scope, data)
                runtimes[v] = Runtime(
                    policy=v, data=MappingProxyType(data),
                    compute_units_payer=plugins.bind("compute_units", own, data),
                    compute_units_global=plugins.bind("compute_units", globals_, data),
                    check_claim=plugins.bind("check_claim", in_scope, data),
                    adjust_result=plugins.bind("adjust_result", in_scope, data),
                    explain_claim=plugins.bind("explain_claim", in_scope, data),
                    catalogue=MappingProxyType(catalogue),
                    possible=possible,
                    max_lines=v.settings.get("max_lines") or MAX_CLAIM_LINES,
                )
            except PolicyError as exc:
                problems.extend(exc.problems)
            except (PluginError, PluginFailure) as exc:
                problems.append(SourceError(v.path, None, f"version '{v.version}': {exc}"))
        if problems:
            seen: set[tuple] = set()  # a table several versions name fails once per version: say it once
            unique = []
            for p in problems:
                key = (p.path, p.line, p.column, p.message)
                if key not in seen:
                    seen.add(key)
                    unique.append(p)
            raise PolicyError(unique)
        unused = tuple(n for n in plugins.names() if n not in plugins.global_names and n not in named)
        if unused:
            log.warning("installed plugins that no loaded policy names (they run for no claim): %s",
                        ", ".join(unused))
        return _State(PolicySet(versions), MappingProxyType(runtimes), unused)

    def _version_catalogue(self, v: Policy, in_scope: list[str], data: Mapping[str, Any]
                           ) -> tuple[dict[str, EditSpec], tuple[str, ...]]:
        """The catalogue plus the edits the version defines itself (its rules), and the ids
        its own data can produce (``policy_edits``)."""
        out = dict(self._catalogue)
        possible: list[str] = []
        hook = self.plugins.bind("policy_edits", in_scope, data)
        for plugin, entries in hook.results(v):
            for entry in entries or []:
                if isinstance(entry, str):
                    if entry not in out:
                        raise PolicyError([SourceError(v.path, None, f"version '{v.version}': plugin '{plugin}' "
                                                                     f"names edit '{entry}', not in the catalogue")])
                    if entry not in possible:
                        possible.append(entry)
                    continue
                try:
                    spec = edit_spec(plugin, entry.get("id"), entry.get("category"), entry.get("severity"),
                                     entry.get("section", "rules"), entry.get("description", ""), None, {})
                except PluginError as exc:
                    raise PolicyError([SourceError(v.path, None, str(exc))]) from None
                if spec.id in self._catalogue:
                    raise PolicyError([SourceError(
                        v.path, None, f"version '{v.version}': rule id '{spec.id}' is already an edit of "
                                      f"{self._catalogue[spec.id].plugin}; choose another id")])
                out[spec.id] = spec
                if spec.id not in possible:
                    possible.append(spec.id)
        return out, tuple(possible)

    def reload(self, policies: str | Path | Iterable[str | Path] | None = None) -> None:
        """Read the policies again (or new ones) and swap them in atomically.

        If anything fails to load, PolicyError is raised and the policies in force stay.
        """
        with self._reload_lock:
            sources = self._sources if policies is None else _paths(policies)
            new = self._build(sources)
            self._state, self._sources = new, sources

    @property
    def policies(self) -> PolicySet:
        return self._state.policies

    def runtime(self, policy: Policy) -> Runtime:
        """What the engine keeps for a loaded policy version (bound hooks, plugin data)."""
        return self._state.runtimes[policy]

    def plugin_data(self, policy: Policy, plugin: str) -> Any:
        """What ``plugin``'s prepare_policy returned for ``policy`` (None if nothing)."""
        return self._state.runtimes[policy].data.get(plugin)

    def unused_plugins(self) -> list[str]:
        """Installed plugins that are not global and that no loaded policy names."""
        return list(self._state.unused_plugins)

    def edits(self, payer: str | None = None) -> list[EditSpec]:
        """The edit catalogue, sorted by id: every edit the installed plugins can emit, and
        with ``payer`` also the edits that payer's policy versions declare (its rules)."""
        found = dict(self._catalogue)
        if payer is not None:
            for v in self._state.policies.versions(payer):
                found.update(self._state.runtimes[v].catalogue)
        return sorted(found.values(), key=lambda e: e.id)

    def x12_payers(self) -> dict[str, str]:
        """X12 payer ids (NM1*PR09) to payer ids, from the policies' ``x12_payer_ids``."""
        out: dict[str, str] = {}
        for v in self._state.policies.all():
            for pid in v.settings.get("x12_payer_ids", ()):
                out.setdefault(str(pid), v.payer)
        return payer_map.merged(out, self._state.policies.payers())  # with $PAYER_RULES_PAYER_MAP

    def payers(self) -> list[dict[str, Any]]:
        """Each payer with its versions and windows, for listings."""
        out = []
        ps = self._state.policies
        for payer in ps.payers():
            vs = ps.versions(payer)
            out.append({
                "payer": payer,
                "name": vs[-1].name,
                "versions": [
                    {"version": v.version, "effective_from": v.effective_from, "effective_to": v.effective_to,
                     "unit_method": v.unit_method, "file": v.path}
                    for v in vs
                ],
            })
        return out

    # -- claims ---------------------------------------------------------------------
    def evaluate(self, claim: Claim | Mapping[str, Any], payer: str | None = None, *, explain: bool = False,
                 time_budget: float | None = None) -> Result:
        """Evaluate one claim (a Claim or its JSON mapping). Never raises for bad input,
        nor for a failing plugin: such a claim gets a Result with status ``error``.

        ``explain=True`` also fills ``result.steps`` with the unit allocation step by step
        (unit methods read it from :data:`payer_rules.units.EXPLAIN`).
        ``time_budget``: seconds this claim may take, enforced with a timer signal, so only
        in the main thread (batch uses it); elsewhere it is ignored.
        A :class:`~payer_rules.readers.ReadError` (a record a reader could not read) gets its
        error record too, so callers can pass every record of a file straight through.
        """
        if explain:
            token = EXPLAIN.set(True)
            try:
                return self.evaluate(claim, payer, time_budget=time_budget)
            finally:
                EXPLAIN.reset(token)
        if time_budget and threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGALRM, _out_of_time)
            signal.setitimer(signal.ITIMER_REAL, time_budget)
            try:
                return self._evaluate(claim, payer, time_budget)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)
        return self._evaluate(claim, payer, None)

    def _evaluate(self, claim: Any, payer: str | None, budget: float | None) -> Result:
        if isinstance(claim, ReadError):  # a record a reader could not turn into a claim
            return error_result(None, payer, claim.message, rule="input.unreadable")
        state = self._state  # one read: a concurrent reload does not affect this claim
        policies = state.policies
        c = None
        try:
            c = claim if isinstance(claim, Claim) else parse_claim(claim)
            payer_id = payer or c.payer
            if not payer_id:
                src = payer_map.x12_source(c.extra)
                if src is not None:
                    return payer_map.sourced(error_result(c, None, payer_map.unmapped_message(*src),
                                                           rule="input.unmapped_payer"), c)
                return error_result(c, None, "payer: missing; give it in the claim or choose one (--payer)")
            select = policies.select
            lines = c.lines
            first_dos = lines[0].date_of_service
            first = select(payer_id, first_dos)
            one_version = first is not None
            if one_version:  # the usual case: every line under the first line's version
                for ln in lines:
                    if ln.date_of_service != first_dos and select(payer_id, ln.date_of_service) is not first:
                        one_version = False
                        break
            if not one_version:
                versions = policies.versions(payer_id)
                if not versions:
                    known = policies.payers()
                    return error_result(
                        c, payer_id,
                        f"payer: unknown payer{suggest(payer_id, known)}; known payers: {', '.join(known) or 'none'}",
                        rule="input.unknown_payer")
                per_line = [select(payer_id, ln.date_of_service) for ln in lines]
                uncovered = [(ln.line, ln.date_of_service) for ln, v in zip(lines, per_line) if v is None]
                if uncovered:
                    return payer_map.sourced(error_result(c, payer_id, payer_map.uncovered_message(
                        payer_id, uncovered, [(v.version, v.window()) for v in versions]),
                        rule="input.no_policy_version"), c)
            runtimes = state.runtimes
            limit = runtimes[first].max_lines if one_version else min(runtimes[v].max_lines for v in set(per_line))
            if len(lines) > limit:
                return error_result(
                    c, payer_id, f"lines: {len(lines)} service lines, more than the {payer_id} policy allows "
                                 f"({limit}; setting max_lines in the policy)", rule="input.too_many_lines")
            if one_version:
                return payer_map.sourced(self._run(c, payer_id, runtimes[first]), c)
            return payer_map.sourced(_merge([self._run(part, payer_id, runtimes[v]) for v, part in _parts(c, per_line)]), c)
        except ClaimError as exc:
            return error_result(claim, payer, str(exc))
        except PluginFailure as exc:
            log.error("%s", exc)  # names the plugin and hook only
            return error_result(c or claim, payer or (c.payer if c else None), f"{exc}; the claim was not evaluated",
                                rule="plugin.failed", category="internal")
        except ClaimTimeout:
            return error_result(c or claim, payer or (c.payer if c else None),
                                f"the claim took longer than its time budget of {budget:g} s; not evaluated",
                                rule="claim.time_budget", category="internal")
        except Exception as exc:  # an engine bug must not kill a batch, nor leak claim data
            if os.environ.get(DEBUG_ENV):
                raise
            log.error("internal error while evaluating a claim (%s)", exc.__class__.__name__)
            return error_result(
                c or claim, payer,
                f"internal error while evaluating ({exc.__class__.__name__}); "
                f"set {DEBUG_ENV}=1 to see the traceback", rule="internal.error", category="internal")

    def evaluate_many(self, claims: Iterable[Claim | Mapping[str, Any]], payer: str | None = None) -> Iterator[Result]:
        """Evaluate claims lazily, one result per claim, in input order."""
        for i, claim in enumerate(claims, start=1):
            r = self.evaluate(claim, payer)
            r.index = i
            yield r

    def explain(self, claim: Claim | Mapping[str, Any], payer: str | None = None) -> dict[str, Any]:
        """Everything behind a result, for people: the policy version chosen for each date
        and why, the unit allocation step by step, each edit with the plugin or rule that
        made it, the nearest edits that did not happen and why, and the plugins consulted."""
        result = self.evaluate(claim, payer, explain=True)
        out: dict[str, Any] = {"claim_id": result.claim_id, "payer": result.payer, "status": result.status,
                               "result": result.to_dict()}
        if result.status == "error":
            out["why"] = result.error
            return out
        c = claim if isinstance(claim, Claim) else parse_claim(claim)
        state = self._state
        policies = state.policies
        payer_id = result.payer
        versions = policies.versions(payer_id)
        parts = _parts(c, [policies.select(payer_id, ln.date_of_service) for ln in c.lines])
        choice = []
        for v, part in parts:
            others = [f"{o.version} ({o.window()})" for o in versions if o is not v]
            for dos in sorted({ln.date_of_service for ln in part.lines}):
                choice.append({"date_of_service": dos, "version": v.version, "window": v.window(),
                               "why": f"{dos} lies in {v.version}'s window {v.window()}"
                                      + (f"; not {', '.join(others)}" if others else ""), "file": v.path,
                               "rules": rules_in_force(v), "patch": list(v.patch)})
        out["versions"] = choice
        out["units"] = {"steps": result.steps, "lines": [
            {"line": ln.line, "code": ln.code, "units": ln.units, "decided_by": ln.source, "why": ln.explanation}
            for ln in result.lines]}
        out["edits"] = [{"rule": e.rule, "by": e.source, "severity": e.severity, "lines": list(e.lines),
                         "message": e.message, "denial": "-".join(x for x in (e.group, e.carc) if x) or None,
                         "rarc": e.rarc, "fix": e.fix} for e in result.edits]
        misses: list[str] = []
        plugins: dict[str, list[str]] = {}
        decisions = {ln.line: UnitDecision(ln.units, ln.explanation) for ln in result.lines}
        for v, part in parts:
            rt = state.runtimes[v]
            alloc = Allocation(CORE, v.unit_method,
                               FrozenDict({ln.line: decisions[ln.line] for ln in part.lines}))
            try:
                for plugin, said in rt.explain_claim.chain(part, v, alloc):
                    misses.extend(str(x) for x in said)
            except PluginFailure as exc:
                misses.append(f"({exc})")
            plugins = {"unit method": [v.unit_method],
                       "compute_units (overrides)": list(rt.compute_units_payer.plugins
                                                         + rt.compute_units_global.plugins),
                       "check_claim": list(rt.check_claim.plugins),
                       "adjust_result": list(rt.adjust_result.plugins)}
        out["near_misses"] = misses
        out["plugins"] = plugins
        return out

    def fix(self, claim: Mapping[str, Any], payer: str | None = None):
        """Apply every fix that needs no clinical judgment, evaluating again between kinds.

        Returns (result for the fixed claim, fixed claim dict, fixes applied, fixes left
        for a person). The input mapping is not changed.
        """
        from .fixes import fix_claim
        return fix_claim(self, claim, payer)

    def _run(self, claim: Claim, payer: str, rt: Runtime) -> Result:
        v = rt.policy
        decisions: dict[int, UnitDecision] = {}
        timed: list[TimedLine] = []
        timed_codes, untimed = v.timed, v.untimed
        for ln in claim.lines:
            unit_len = timed_codes.get(ln.code)
            if unit_len is not None:
                timed.append(TimedLine(ln, ln.minutes if ln.minutes is not None else ln.minutes_from_times, unit_len))
            else:
                decisions[ln.line] = UNTIMED if ln.code in untimed else UNKNOWN
        steps: tuple | list = ()
        ties: tuple | list = ()
        method = v.unit_method
        source = CORE
        if timed:
            found = None
            lines_view = tuple(timed)
            if rt.compute_units_payer.calls:  # calls: empty when no plugin implements the hook
                found = rt.compute_units_payer.first(claim, v, lines_view)
            if found is None and rt.compute_units_global.calls:
                found = rt.compute_units_global.first(claim, v, lines_view)
            if found is None:
                alloc = self.plugins.unit_methods[method].compute(timed, v.unit_params)
                _check_allocation(alloc, self.plugins.unit_methods[method].plugin, "unit method " + method, timed)
            else:
                alloc = found[1]
                _check_allocation(alloc, found[0], "compute_units", timed)
            method, source, steps, ties = alloc.method, alloc.source, alloc.steps, alloc.ties
            got = alloc.decisions
            for tl in timed:
                n = tl.line.line
                decisions[n] = got.get(n) or UnitDecision(None, f"{source} gave no units for this line")
        allocation = Allocation(source, method, FrozenDict(decisions), tuple(steps), tuple(ties))
        edits: list[Edit] = []
        catalogue = rt.catalogue
        for plugin, got_edits in rt.check_claim.chain(claim, v, allocation):
            _check_edits(got_edits, plugin, "check_claim", catalogue)
            edits.extend(got_edits)
        version = v.version
        lines = []
        for ln in claim.lines:
            d = decisions[ln.line]
            lr = LineResult(ln.line, ln.code, ln.minutes if ln.minutes is not None else ln.minutes_from_times,
                            ln.units, d.units, d.explanation, source if ln.code in timed_codes else CORE, version)
            if ln.extra and ln.extra.get("charge") is not None:  # set only when given: see LineResult
                lr.charge = ln.extra["charge"]
            lines.append(lr)
        result = Result(claim.claim_id, payer, {"id": v.payer, "version": version}, "pass", lines,
                        finish_edits(edits, rt), list(ties), steps=list(steps))
        if claim.extra:
            result.charge = claim.extra.get("charge")
        if rt.adjust_result.calls:
            for plugin, _ in rt.adjust_result.results(result, claim, v):
                _check_result(result, plugin, catalogue)
        if len(result.edits) > 1:
            result.edits.sort(key=_edit_key)
        result.status = status_for(result.edits)
        return result


def _out_of_time(signum: int, frame: Any) -> None:
    raise ClaimTimeout()


def _short_text(value: Any, limit: int = 10_000) -> bool:
    return type(value) is str and len(value) <= limit


def _check_allocation(alloc: Any, plugin: str, hook: str, timed: list[TimedLine]) -> None:
    """An Allocation with a source and, for each line, units that are None or 0..MAX_UNITS
    and an explanation in words. Runs for every claim: type tests, no isinstance."""
    if type(alloc) is not Allocation or type(alloc.source) is not str or not alloc.source:
        raise PluginFailure(plugin, hook, "returned something other than an Allocation with a source")
    decisions = alloc.decisions
    if type(alloc.method) is not str or (type(decisions) is not dict and not isinstance(decisions, Mapping)):
        raise PluginFailure(plugin, hook, "returned an Allocation whose method or decisions are malformed")
    for tl in timed:
        d = decisions.get(tl.line.line)
        if d is None:
            continue
        units = d.units if type(d) is UnitDecision else -1
        if units is not None and (type(units) is not int or not 0 <= units <= MAX_UNITS) \
                or type(d.explanation) is not str:
            raise PluginFailure(plugin, hook, f"returned units that are not a whole number from 0 to {MAX_UNITS}")
    for seq in (alloc.steps, alloc.ties):
        if (type(seq) is not list and type(seq) is not tuple) or any(type(x) is not str for x in seq):
            raise PluginFailure(plugin, hook, "returned steps or ties that are not lists of text")


def _check_edits(edits: list, plugin: str, hook: str, catalogue: Mapping[str, EditSpec]) -> None:
    """Each edit an Edit whose fields have their types (what the writers rely on), its rule
    in the catalogue with the catalogue's category. Runs for every edit: type tests only."""
    for e in edits:
        if type(e) is not Edit:
            raise PluginFailure(plugin, hook, f"returned {type(e).__name__} in its list, not Edit")
        spec = catalogue.get(e.rule) if type(e.rule) is str else None
        if spec is None:
            raise PluginFailure(plugin, hook, "returned an edit whose rule is not in the edit catalogue "
                                              "(declare it with register_edits)")
        if e.category != spec.category:
            raise PluginFailure(plugin, hook, f"returned edit '{e.rule}' with category {e.category!r}; "
                                              f"the catalogue says {spec.category!r}")
        lines, fix = e.lines, e.fix
        if (type(e.message) is not str or type(e.source) is not str or e.severity not in SEVERITY_RANK
                or type(lines) is not tuple or (fix is not None and type(fix) is not dict)
                or (e.carc is not None and type(e.carc) is not str)
                or (e.group is not None and type(e.group) is not str)
                or (e.rarc is not None and type(e.rarc) is not str)):
            raise PluginFailure(plugin, hook, f"returned edit '{e.rule}' with a field of the wrong type")
        for n in lines:
            if type(n) is not int:
                raise PluginFailure(plugin, hook, f"returned edit '{e.rule}' with a field of the wrong type")


def _check_result(result: Any, plugin: str, catalogue: Mapping[str, EditSpec]) -> None:
    """What ``adjust_result`` may leave: the result's fields of their types."""
    if type(result.edits) is not list or type(result.lines) is not list or type(result.ties) is not list:
        raise PluginFailure(plugin, "adjust_result", "left edits, lines or ties that are not lists")
    if not (result.claim_id is None or _short_text(result.claim_id, 200)) or not (
            result.payer is None or _short_text(result.payer, 200)):
        raise PluginFailure(plugin, "adjust_result", "left a claim_id or payer that is not text")
    if not all(_short_text(t) for t in result.ties):
        raise PluginFailure(plugin, "adjust_result", "left ties that are not text")
    for ln in result.lines:
        if type(ln) is not LineResult or not all(
                x is None or (type(x) is int and 0 <= x <= MAX_UNITS * 100)
                for x in (ln.minutes, ln.billed_units, ln.units)) or type(ln.line) is not int:
            raise PluginFailure(plugin, "adjust_result", "left a line result with a field of the wrong type")
    _check_edits(result.edits, plugin, "adjust_result", catalogue)


def _edit_key(e: Edit) -> tuple:
    return (min(e.lines) if e.lines else 0, SEVERITY_RANK.get(e.severity, 9), e.rule, e.lines, e.message)


def finish_edits(edits: list[Edit], rt: Runtime) -> list[Edit]:
    """Apply the policy's severity overrides and denial codes; drop edits set to off."""
    out = []
    known = rt.outcomes  # the memo, read directly: this runs for every edit
    for e in edits:
        sev, denial = known.get((e.rule, e.category)) or rt.outcome(e.rule, e.category)
        if sev is not None:
            if sev == "off":
                continue
            e.severity = sev
        if denial is not None and e.carc is None:
            e.group, e.carc, e.rarc = denial
        out.append(e)
    return out


def _parts(c: Claim, per_line: list[Policy]) -> list[tuple[Policy, Claim]]:
    """The claim split by the policy version of each line (``per_line``), oldest version first."""
    lines: dict[int, list] = {}
    chosen: dict[int, Policy] = {}
    for ln, v in zip(c.lines, per_line):
        chosen[id(v)] = v
        lines.setdefault(id(v), []).append(ln)
    return [(v, Claim(c.claim_id, c.payer, tuple(lines[k]), c.patient, c.provider, c.diagnoses, c.extra))
            for k, v in sorted(chosen.items(), key=lambda kv: kv[1].effective_from)]


def _merge(parts: list[Result]) -> Result:
    """One result from the parts of a claim whose lines fall under different versions."""
    first = parts[0]
    lines = sorted((ln for p in parts for ln in p.lines), key=lambda ln: ln.line)
    edits = sorted((e for p in parts for e in p.edits), key=_edit_key)
    policy = dict(first.policy or {})
    policy["versions"] = [p.policy["version"] for p in parts if p.policy]
    return Result(
        claim_id=first.claim_id, payer=first.payer, policy=policy, status=status_for(edits),
        lines=lines, edits=edits, ties=[t for p in parts for t in p.ties],
        steps=[s for p in parts for s in p.steps], charge=first.charge,
    )
