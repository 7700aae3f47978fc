"""The claim and result models.

Claims are immutable once parsed so that one Claim can be handed to any number of
plugins (and threads) without copying. Results are built by the engine and may be
adjusted by plugins through the ``adjust_result`` hook before they are returned.

Field names here are the public contract: they are what ``to_dict`` emits and what
``schemas/result.schema.json`` describes.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field, fields
from typing import Any, Mapping

import orjson

CATEGORIES = ("units", "bundling", "mue", "modifier", "documentation", "coverage", "input", "internal")
SEVERITY_RANK = {"error": 0, "warning": 1, "info": 2}
#: The version of the result format (``schema_version`` in every result); raised when a
#: field changes meaning or goes away, not when one is added.
RESULT_SCHEMA_VERSION = 1


class FrozenDict(dict):
    """A dict that refuses to change: what plugins get for a claim's and a policy's
    mappings. A dict subclass rather than ``types.MappingProxyType`` because lookups stay
    the dict's own C code (a proxy's ``get`` is a Python-level method call on every line),
    and because JSON writers and ``isinstance(x, dict)`` take it as it is."""

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("this mapping is read-only: plugins get read-only views of claims and policies")

    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _refuse  # type: ignore

    def __reduce__(self) -> Any:
        return (FrozenDict, (dict(self),))


EMPTY: Mapping[str, Any] = FrozenDict()
_SCALARS = frozenset({str, int, float, bool, type(None)})


def freeze(value: Any) -> Any:
    """A read-only copy of JSON-like data: mappings become read-only mappings, lists tuples.

    Claims and policies are handed to plugins this way, so that nothing a plugin does can
    change another claim's result or the caller's own objects. A :class:`FrozenDict` is
    kept as it is."""
    t = type(value)
    if t is str or t is int or t is float or t is bool or value is None or t is FrozenDict:
        return value
    if t is dict:
        for v in value.values():  # the usual claim mapping is flat: one C-level copy
            if type(v) not in _SCALARS:
                break
        else:
            return FrozenDict(value)
    if t is dict or isinstance(value, Mapping):
        return FrozenDict({k: v if type(v) in _SCALARS else freeze(v) for k, v in value.items()})
    if t is list or t is tuple:
        return tuple([v if type(v) in _SCALARS else freeze(v) for v in value])
    return value


def _fast_new(cls: type) -> Any:
    """A positional constructor for a frozen slots dataclass, for the claim parser's hot
    path: a twin class with the same slots but a plain ``__init__`` builds the object, which
    then becomes a ``cls`` (frozen from then on) by one class assignment. The frozen
    ``__init__`` calls ``object.__setattr__`` by name for every field, about three times
    the cost; everyone else uses ``cls(...)``."""
    twin = dataclass(slots=True, repr=False, eq=False)(
        type(f"_{cls.__name__}Builder", (), {"__annotations__": {f.name: f.type for f in fields(cls)}}))

    def new(*args: Any) -> Any:
        obj = twin(*args)
        obj.__class__ = cls
        return obj
    return new


def thaw(value: Any) -> Any:
    """Plain dicts and lists again, for JSON output and comparisons."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class Line:
    """One service line of a claim, as submitted. Frozen: plugins and threads share it."""

    line: int
    code: str
    modifiers: tuple[str, ...]
    date_of_service: str
    minutes: int | None = None
    units: int | None = None
    diagnosis_pointers: tuple[int, ...] = ()
    body_region: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    #: Minutes derived from start_time/end_time; used only when ``minutes`` is absent.
    minutes_from_times: int | None = None
    #: Fields this version does not model, kept (read-only) so plugins can read them.
    extra: Mapping[str, Any] = field(default_factory=lambda: EMPTY, compare=False)

    @property
    def timed_minutes(self) -> int | None:
        """Minutes that count toward timed units: reported minutes, else the time span."""
        return self.minutes if self.minutes is not None else self.minutes_from_times


@dataclass(frozen=True, slots=True)
class Claim:
    """A claim for therapy services. Frozen like Line; its mappings are read-only."""

    claim_id: str
    payer: str | None
    lines: tuple[Line, ...]
    patient: Mapping[str, Any] | None = None
    provider: Mapping[str, Any] | None = None
    diagnoses: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=lambda: EMPTY, compare=False)


new_line = _fast_new(Line)
new_claim = _fast_new(Claim)


@dataclass(frozen=True, slots=True)
class TimedLine:
    """A timed line as a unit method sees it: minutes resolved, unit length from the policy."""

    line: Line
    minutes: int | None
    unit_minutes: int


@dataclass(frozen=True, slots=True)
class UnitDecision:
    """Units computed for one line, with the reason in words."""

    units: int | None
    explanation: str


@dataclass(frozen=True, slots=True)
class Allocation:
    """What a unit method returns for a claim's timed lines.

    ``source`` names the plugin that decided, so every unit in a result can be traced.
    ``steps`` is the allocation in the order it was done, for ``units`` and ``explain``.
    ``ties`` describes each tie that was broken by the deterministic rule.
    """

    source: str
    method: str
    decisions: Mapping[int, UnitDecision]
    steps: tuple[str, ...] | list[str] = ()
    ties: tuple[str, ...] | list[str] = ()


@dataclass
class Edit:
    """One problem found on a claim: what, where, why, who says so, and how to fix it.

    The fields are in the order the JSON output gives them; the ones after ``message``
    are keyword-only. Not slotted, unlike the claim models: orjson writes a dataclass
    with a ``__dict__`` straight from it, about twice as fast as building a dict first
    (docs/benchmarks.md), and results are written for every claim of a batch. So set
    only the fields: any other attribute put on an edit would be written out too.
    """

    rule: str
    category: str
    severity: str
    lines: tuple[int, ...]
    message: str
    _: KW_ONLY
    group: str | None = None
    carc: str | None = None
    rarc: str | None = None
    source: str
    fix: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["lines"] = list(self.lines)
        return out


@dataclass
class LineResult:
    """The outcome for one line. Not slotted, for the reason given on :class:`Edit`.

    ``charge`` (the line's charge, 837P ``SV102`` or a JSON line's ``charge``) is a class
    default rather than a field: the engine sets it on the instance only when the claim
    gives one, so a line without a charge writes no ``charge`` key (orjson and ``to_dict``
    write the instance's ``__dict__``) and results of claims without charges keep their bytes.
    """

    line: int
    code: str
    minutes: int | None
    billed_units: int | None
    units: int | None
    explanation: str
    source: str
    policy_version: str
    charge = None  # float | int | None; see the docstring

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(slots=True)
class Result:
    """The outcome for one claim. ``status`` is error when the claim could not be evaluated."""

    claim_id: str | None
    payer: str | None
    policy: dict[str, Any] | None
    status: str
    lines: list[LineResult] = field(default_factory=list)
    edits: list[Edit] = field(default_factory=list)
    ties: list[str] = field(default_factory=list)
    error: str | None = None
    #: Position of the claim in its input (1-based), set by batch readers.
    index: int | None = None
    #: Step-by-step unit allocation; emitted only by explain.
    steps: list[str] = field(default_factory=list)
    #: Where the claim came from when a reader says so (an 837's payer id and name).
    source: dict[str, Any] | None = None
    #: The claim's total charge (837P ``CLM02``, a JSON claim's ``charge``), when it gives one.
    charge: float | int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The result as plain JSON data (what ``to_json`` writes)."""
        out = self._shallow()
        out["lines"] = [ln.to_dict() for ln in self.lines]
        out["edits"] = [e.to_dict() for e in self.edits]
        out["ties"] = list(self.ties)
        return out

    def to_json(self, extra: dict[str, Any] | None = None) -> bytes:
        """The result as compact UTF-8 JSON (``extra``: more top-level keys): the bytes of
        ``orjson.dumps(self.to_dict())``, written without building a dict for every line
        and edit (orjson reads the dataclasses themselves)."""
        out = self._shallow()
        if extra:
            out.update(extra)
        return orjson.dumps(out)

    def _shallow(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema_version": RESULT_SCHEMA_VERSION,
            "claim_id": self.claim_id,
            "payer": self.payer,
            "policy": self.policy,
            "status": self.status,
            "lines": self.lines,
            "edits": self.edits,
            "ties": self.ties,
        }
        if self.error is not None:
            out["error"] = self.error
        if self.index is not None:
            out["index"] = self.index
        if self.source is not None:
            out["source"] = self.source
        if self.charge is not None:
            out["charge"] = self.charge
        return out


def status_for(edits: list[Edit]) -> str:
    """pass: no edits above info; warn: warnings only; fail: at least one error edit."""
    worst = "info"
    for e in edits:
        if e.severity == "error":
            return "fail"
        if e.severity == "warning":
            worst = "warning"
    return "warn" if worst == "warning" else "pass"
