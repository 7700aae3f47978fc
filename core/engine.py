"""The engine: policies plus plugins, applied to one claim at a time.

An Engine is built once (policies read, validated and compiled; plugins loaded) and
then shared: ``evaluate`` reads only immutable state, and ``reload`` swaps the whole
policy set in one assignment, so threads may evaluate while another reloads. A claim
in flight finishes on the policy set it started with.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from .claims import ClaimError, parse_claim
from .models import (
    Allocation, Claim, Edit, LineResult, Result, SEVERITY_RANK, TimedLine, UnitDecision, status_for,
)
from .plugin_manager import PluginError, Plugins, load_plugins
from .units import EXPLAIN
from .policy import PolicyError, PolicySet, PolicyVersion, bundled_dir, read_policies, suggest
from .readers import ReadError
from .yaml_source import SourceError

CORE = "payer_rules.core"
DEBUG_ENV = "PAYER_RULES_DEBUG"
UNTIMED = UnitDecision(1, "untimed code: 1 unit per line whatever the time; its minutes never count toward timed units")
UNKNOWN = UnitDecision(None, "code is neither timed nor untimed in this policy: units not computed")


@dataclass(frozen=True)
class _Hooks:
    """Hook callers restricted to the plugins that apply to one policy version."""

    compute_units_payer: Any
    compute_units_global: Any
    check_claim: Any
    adjust_result: Any
    explain_claim: Any


def _paths(policies: str | Path | Iterable[str | Path]) -> list[Path]:
    return [Path(policies)] if isinstance(policies, (str, Path)) else [Path(p) for p in policies]


def error_result(raw: Any, payer: str | None, message: str, rule: str = "input.invalid") -> Result:
    """The record that stands in place of a claim that could not be evaluated."""
    claim_id = None
    if isinstance(raw, Claim):
        claim_id = raw.claim_id
    elif isinstance(raw, dict):
        cid = raw.get("claim_id")
        claim_id = str(cid) if isinstance(cid, (str, int)) and not isinstance(cid, bool) else None
        if payer is None and isinstance(raw.get("payer"), str):
            payer = raw["payer"]
    edit = Edit(rule=rule, category="input", severity="error", lines=(), message=message, source=CORE)
    return Result(claim_id=claim_id, payer=payer, policy=None, status="error", edits=[edit], error=message)


class Engine:
    """Checks claims against payer policies.

    ``policies``: a folder or file of YAML policies, or a list of them; default the
    policies bundled with the package. ``plugins``: extra ``(name, plugin)`` pairs
    registered after the entry-point plugins (hosts and tests use this; a policy can
    name them in ``plugins:`` like any installed plugin). ``rules_evaluator``: what runs
    the policies' ``rules:``, ``builtin`` (default) or ``durable`` (durable-rules; needs
    the ``rete`` extra).
    """

    def __init__(
        self,
        policies: str | Path | Iterable[str | Path] | None = None,
        *,
        plugins: Iterable[tuple[str, Any]] | None = None,
        rules_evaluator: str = "builtin",
    ):
        if rules_evaluator not in ("builtin", "durable"):
            raise ValueError(f"rules_evaluator must be builtin or durable, not {rules_evaluator!r}")
        if rules_evaluator == "durable":
            from .rules_durable import require_durable
            require_durable()
        self.rules_evaluator = rules_evaluator
        self.plugins: Plugins = load_plugins(list(plugins or []))
        sources = [bundled_dir()] if policies is None else _paths(policies)
        self._sources = sources
        self._reload_lock = threading.Lock()
        self._policies = self._build(sources)

    # -- policies -------------------------------------------------------------------
    def _build(self, sources: list[Path]) -> PolicySet:
        pm = self.plugins.pm
        versions = read_policies(sources, self.plugins.unit_methods, self.plugins.names(),
                                 self.plugins.policy_sections)
        scoped = {name for v in versions for name in v.plugins}
        problems: list[SourceError] = []
        for v in versions:
            v.rules_evaluator = self.rules_evaluator
            foreign = [pm.get_plugin(n) for n in sorted(scoped) if n not in v.plugins]
            own = set(v.plugins)
            not_own = [p for n, p in pm.list_name_plugin() if n not in own]
            bind = self.plugins.bind
            v.hooks = _Hooks(
                compute_units_payer=bind("compute_units", not_own),
                compute_units_global=bind("compute_units", [pm.get_plugin(n) for n in sorted(scoped)]),
                check_claim=bind("check_claim", foreign),
                adjust_result=bind("adjust_result", foreign),
                explain_claim=bind("explain_claim", foreign),
            )
            try:
                bind("prepare_policy", foreign)(policy=v, base_dir=Path(v.path).parent)
            except PolicyError as exc:
                problems.extend(exc.problems)
            except SourceError as exc:  # a table file named by the policy
                problems.append(exc)
            except (ValueError, OSError) as exc:
                problems.append(SourceError(v.path, None, f"version '{v.version}': {exc}"))
        if problems:
            raise PolicyError(problems)
        return PolicySet(versions)

    def reload(self, policies: str | Path | Iterable[str | Path] | None = None) -> None:
        """Read the policies again (or new ones) and swap them in atomically.

        If anything fails to load, PolicyError is raised and the policies in force stay.
        """
        with self._reload_lock:
            sources = self._sources if policies is None else _paths(policies)
            new = self._build(sources)
            self._policies, self._sources = new, sources

    @property
    def policies(self) -> PolicySet:
        return self._policies

    def x12_payers(self) -> dict[str, str]:
        """X12 payer ids (NM1*PR09) to payer ids, from the policies' ``x12_payer_ids``."""
        out: dict[str, str] = {}
        for v in self._policies.all():
            for pid in v.settings.get("x12_payer_ids", []):
                out.setdefault(str(pid), v.payer)
        return out

    def payers(self) -> list[dict[str, Any]]:
        """Each payer with its versions and windows, for listings."""
        out = []
        ps = self._policies
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
    def evaluate(self, claim: Claim | dict[str, Any], payer: str | None = None, *, explain: bool = False) -> Result:
        """Evaluate one claim (a Claim or its JSON dict). Never raises for bad input:
        a claim that cannot be evaluated gets a Result with status ``error``.

        ``explain=True`` also fills ``result.steps`` with the unit allocation step by step.
        A :class:`~payer_rules.readers.ReadError` (a record a reader could not read) gets its
        error record too, so callers can pass every record of a file straight through.
        """
        if isinstance(claim, ReadError):  # a record a reader could not turn into a claim
            return error_result(None, payer, claim.message, rule="input.unreadable")
        if explain:
            token = EXPLAIN.set(True)
            try:
                return self.evaluate(claim, payer)
            finally:
                EXPLAIN.reset(token)
        policies = self._policies  # one read: a concurrent reload does not affect this claim
        try:
            c = claim if isinstance(claim, Claim) else parse_claim(claim)
        except ClaimError as exc:
            return error_result(claim, payer, str(exc))
        payer_id = payer or c.payer
        if not payer_id:
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
            uncovered = [ln.line for ln, v in zip(lines, per_line) if v is None]
            if uncovered:
                windows = "; ".join(f"{v.version}: {v.window()}" for v in versions)
                return error_result(
                    c, payer_id,
                    f"line(s) {', '.join(map(str, uncovered))}: no {payer_id} policy version covers the date of "
                    f"service (versions: {windows})", rule="input.no_policy_version")
        try:
            if one_version:
                return self._run(c, payer_id, first)
            return _merge([self._run(part, payer_id, v) for v, part in _parts(c, per_line)])
        except Exception as exc:  # a plugin or engine bug must not kill a batch, nor leak claim data
            if os.environ.get(DEBUG_ENV):
                raise
            return error_result(
                c, payer_id,
                f"internal error while evaluating ({exc.__class__.__name__}); "
                f"set {DEBUG_ENV}=1 to see the traceback", rule="internal.error")

    def evaluate_many(self, claims: Iterable[Claim | dict[str, Any]], payer: str | None = None) -> Iterator[Result]:
        """Evaluate claims lazily, one result per claim, in input order."""
        for i, claim in enumerate(claims, start=1):
            r = self.evaluate(claim, payer)
            r.index = i
            yield r

    def explain(self, claim: Claim | dict[str, Any], payer: str | None = None) -> dict[str, Any]:
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
        policies = self._policies
        payer_id = result.payer
        versions = policies.versions(payer_id)
        parts = _parts(c, [policies.select(payer_id, ln.date_of_service) for ln in c.lines])
        choice = []
        for v, part in parts:
            others = [f"{o.version} ({o.window()})" for o in versions if o is not v]
            for dos in sorted({ln.date_of_service for ln in part.lines}):
                choice.append({"date_of_service": dos, "version": v.version, "window": v.window(),
                               "why": f"{dos} lies in {v.version}'s window {v.window()}"
                                      + (f"; not {', '.join(others)}" if others else ""), "file": v.path})
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
            alloc = Allocation(CORE, v.unit_method, {ln.line: decisions[ln.line] for ln in part.lines})
            for said in v.hooks.explain_claim(claim=part, policy=v, allocation=alloc):
                misses.extend(said)
            plugins = {"unit method": [v.unit_method],
                       "compute_units (overrides)": list(v.hooks.compute_units_payer.plugins
                                                         + v.hooks.compute_units_global.plugins),
                       "check_claim": list(v.hooks.check_claim.plugins),
                       "adjust_result": list(v.hooks.adjust_result.plugins)}
        out["near_misses"] = misses
        out["plugins"] = plugins
        return out

    def fix(self, claim: dict[str, Any], payer: str | None = None):
        """Apply every fix that needs no clinical judgment, evaluating again between kinds.

        Returns (result for the fixed claim, fixed claim dict, fixes applied, fixes left
        for a person). The input dict is not changed.
        """
        from .fixes import fix_claim
        return fix_claim(self, claim, payer)

    def _run(self, claim: Claim, payer: str, v: PolicyVersion) -> Result:
        hooks: _Hooks = v.hooks
        decisions: dict[int, UnitDecision] = {}
        timed: list[TimedLine] = []
        timed_codes, untimed = v.timed, v.untimed
        for ln in claim.lines:
            unit_len = timed_codes.get(ln.code)
            if unit_len is not None:
                timed.append(TimedLine(ln, ln.minutes if ln.minutes is not None else ln.minutes_from_times, unit_len))
            else:
                decisions[ln.line] = UNTIMED if ln.code in untimed else UNKNOWN
        steps: list[str] = []
        ties: list[str] = []
        method = v.unit_method
        source = CORE
        if timed:
            alloc = None
            if hooks.compute_units_payer.calls:  # calls: empty when no plugin implements the hook
                alloc = hooks.compute_units_payer(claim=claim, policy=v, lines=timed)
            if alloc is None and hooks.compute_units_global.calls:
                alloc = hooks.compute_units_global(claim=claim, policy=v, lines=timed)
            if alloc is None:
                alloc = self.plugins.unit_methods[method].compute(timed, v.unit_params)
            if type(alloc) is not Allocation or not alloc.source:
                raise PluginError("a compute_units hook returned something other than an Allocation with a source")
            method, source, steps, ties = alloc.method, alloc.source, alloc.steps, alloc.ties
            got = alloc.decisions
            for tl in timed:
                n = tl.line.line
                decisions[n] = got.get(n) or UnitDecision(None, f"{source} gave no units for this line")
        allocation = Allocation(source, method, decisions, steps, ties)
        edits: list[Edit] = hooks.check_claim.chain(claim, v, allocation)
        version = v.version
        lines = []
        for ln in claim.lines:
            d = decisions[ln.line]
            lines.append(LineResult(ln.line, ln.code, ln.minutes if ln.minutes is not None else ln.minutes_from_times,
                                    ln.units, d.units, d.explanation, source if ln.code in timed_codes else CORE,
                                    version))
        result = Result(claim.claim_id, payer, {"id": v.payer, "version": version}, "pass", lines,
                        finish_edits(edits, v), list(ties), steps=list(steps))
        if hooks.adjust_result.calls:
            hooks.adjust_result(result=result, claim=claim, policy=v)
        if len(result.edits) > 1:
            result.edits.sort(key=_edit_key)
        result.status = status_for(result.edits)
        return result


def _edit_key(e: Edit) -> tuple:
    return (min(e.lines) if e.lines else 0, SEVERITY_RANK.get(e.severity, 9), e.rule, e.lines, e.message)


def finish_edits(edits: list[Edit], v: PolicyVersion) -> list[Edit]:
    """Apply the policy's severity overrides and denial codes; drop edits set to off."""
    out = []
    known = v.outcomes  # edit_outcome's memo, read directly: this runs for every edit
    for e in edits:
        if type(e) is not Edit:
            raise PluginError("a check_claim hook returned something other than a list of Edit")
        sev, denial = known.get((e.rule, e.category)) or v.edit_outcome(e.rule, e.category)
        if sev is not None:
            if sev == "off":
                continue
            e.severity = sev
        if denial is not None and e.carc is None:
            e.group, e.carc, e.rarc = denial
        out.append(e)
    return out


def _parts(c: Claim, per_line: list[PolicyVersion]) -> list[tuple[PolicyVersion, Claim]]:
    """The claim split by the policy version of each line (``per_line``), oldest version first."""
    lines: dict[int, list] = {}
    chosen: dict[int, PolicyVersion] = {}
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
        steps=[s for p in parts for s in p.steps],
    )
